-- The admin's explicit folder map on a batch (`batch new --folder-map 'Source=Target'`):
-- a JSON array of {"source": ..., "target": ...} display names, '/' between levels.
ALTER TABLE batches ADD COLUMN folder_map TEXT NOT NULL DEFAULT '[]';
