-- The digest of the source's listing (folders, attributes, subscriptions) and the batch's
-- folder rules at the end of the user's last complete pass: the next pass ends at a glance
-- at the source when they, and every folder's STATUS, are as they were.
ALTER TABLE users ADD COLUMN source_listing TEXT;
