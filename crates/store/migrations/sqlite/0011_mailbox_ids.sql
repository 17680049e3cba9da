-- The source folder's RFC 8474 MAILBOXID, when the source has OBJECTID (Cyrus): an
-- identity that survives RENAME, so a renamed folder is followed even where the server
-- gives it a new UIDVALIDITY. NULL: the server has none (Dovecot 2.3), or not seen yet.
ALTER TABLE folders ADD COLUMN mailbox_id TEXT;
