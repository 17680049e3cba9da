-- 0019 records whether a batch was created without the accepted-domain check; batches
-- created before it do not say. `batch new` refuses users of domains that are not
-- accepted and verified unless the check is skipped, so an existing batch with such a
-- user was created with it skipped: it is marked so, and `batch start`'s preflight treats
-- its domains as it did when the batch was made.
UPDATE batches SET domain_check_skipped = 1
WHERE EXISTS (
    SELECT 1 FROM users u
    WHERE u.batch = batches.name
      AND NOT EXISTS (
          SELECT 1 FROM accepted_domains d
          WHERE d.name = lower(substr(u.email, instr(u.email, '@') + 1))
            AND d.verified_at IS NOT NULL
      )
);
