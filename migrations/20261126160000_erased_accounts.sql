-- Deleted accounts: the person's row stays (the timeline and the audit log point at it and are
-- append-only), with their name and address erased and no way to sign in.
alter table users add column erased_at timestamptz;
