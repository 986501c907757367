-- The session store's own table. A session's data is jsonb (it was MessagePack in
-- tower_sessions.session) so that one statement can load a session together with its signed-in
-- user and its account_sessions row. Sessions of the old store are dropped with it: whoever was
-- signed in signs in once more.
drop schema if exists tower_sessions cascade;

create table web_sessions (
    id text primary key,
    data jsonb not null,
    expiry_date timestamptz not null
);

create index web_sessions_expiry_date on web_sessions (expiry_date);
