-- Source folders the last pass left out because they belong to other users' or shared
-- namespaces (a JSON list of display names), for the user's statistics.
ALTER TABLE users ADD COLUMN folders_left_out TEXT;
-- Whether the target compares folder names without regard to case: set by
-- `target set --folder-case`, or found by the first pass's probe and remembered; NULL:
-- not known yet (the next pass probes).
ALTER TABLE target ADD COLUMN folds_case INTEGER;
