-- Per user and source folder: whether the source subscribed it at the last pass, so that
-- a pass applies to the target only the subscription changes the source made (as with
-- flags). A table of its own, not a column of `folders`: a folder's row there is written
-- once its messages are done, after the pass subscribed its new target folder, and
-- \Noselect parents, which can be subscribed too, never get one.
CREATE TABLE subscriptions (
    email          TEXT NOT NULL REFERENCES users(email) ON DELETE CASCADE,
    src_name       BLOB NOT NULL,
    src_subscribed INTEGER NOT NULL,
    PRIMARY KEY (email, src_name)
) WITHOUT ROWID;
