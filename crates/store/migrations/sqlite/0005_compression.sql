-- COMPRESS=DEFLATE per connection: auto (on unless loopback), on, off.
ALTER TABLE endpoints ADD COLUMN compression TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE target ADD COLUMN compression TEXT NOT NULL DEFAULT 'auto';
