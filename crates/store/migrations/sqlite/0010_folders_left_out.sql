-- Source folders the last pass left out because they belong to other users' or shared
-- namespaces (a JSON list of display names), for the user's statistics.
ALTER TABLE users ADD COLUMN folders_left_out TEXT;
