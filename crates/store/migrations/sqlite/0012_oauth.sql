-- OAuth 2.0 sign-in of a connection: the application's settings as JSON (provider,
-- tenant, client id, which credential, token endpoint, scope), NULL for a password
-- login. The credential itself (client secret, certificate with its key, service
-- account key) is sealed in password_sealed, like a password.
ALTER TABLE endpoints ADD COLUMN oauth TEXT;
ALTER TABLE target ADD COLUMN oauth TEXT;
