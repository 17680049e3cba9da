-- What each migration user is in the source organization (issue 13): Exchange's
-- RecipientType (UserMailbox, MailUser, MailContact, MailUniversalDistributionGroup,
-- MailUniversalSecurityGroup). Users from a users CSV are mailboxes.
ALTER TABLE users ADD COLUMN recipient_type TEXT NOT NULL DEFAULT 'UserMailbox';
-- The batch was created with --skip-domain-check: preflight reports domains that are
-- not accepted and verified as warnings.
ALTER TABLE batches ADD COLUMN domain_check_skipped INTEGER NOT NULL DEFAULT 0;
