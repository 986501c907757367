-- Each signed-in session of a person (ASVS 5.0, 7.4/7.5): listed on the account page, ended one
-- by one or all at once, and refused after an absolute lifetime whatever the activity. The
-- session store keeps the session itself; a session whose row here is gone is signed out.
create table account_sessions (
    id uuid primary key,
    user_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    user_agent text not null default '' check (char_length(user_agent) <= 200),
    client_addr text not null default '' check (char_length(client_addr) <= 64)
);
create index account_sessions_user_idx on account_sessions (user_id, last_seen_at desc);
