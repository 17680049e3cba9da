-- A server refused the user's pass for load (throttling): the pass tries again at this
-- time; NULL when it does not wait.
ALTER TABLE users ADD COLUMN throttled_until TEXT;
