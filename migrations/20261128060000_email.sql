-- E-mail: an outbox written in the same transaction as the change it tells of (as webhook
-- deliveries are), sent by a worker with retries; what each person chose to receive; password
-- resets by e-mail.

create table email_outbox (
    id bigserial primary key,
    -- Null once the person's account is erased (the row is then never sent).
    user_id uuid references users (id) on delete set null,
    to_address text not null,
    kind text not null,
    subject text not null,
    body_text text not null,
    body_html text not null,
    -- The secret of this message's unsubscribe link (null for messages nobody can unsubscribe
    -- from, such as a password reset). It is kept as it is, since the body holds it anyway: it
    -- can only turn this one kind of e-mail off for this one person.
    unsubscribe_token text unique,
    -- pending: to send; sent; failed: given up after the last attempt; kept: no SMTP server is set,
    -- so it stays here for the local outbox page; dropped: not sent (the person opted out, or the
    -- account was erased, before it went).
    status text not null default 'pending' check (status in ('pending', 'sent', 'failed', 'kept', 'dropped')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default gameday_now(),
    claimed_until timestamptz,
    last_error text,
    created_at timestamptz not null default gameday_now(),
    sent_at timestamptz
);

create index email_outbox_due on email_outbox (next_attempt_at) where status = 'pending';
create index email_outbox_recent on email_outbox (id desc);

-- The kinds of e-mail a person turned off (no row: they get it).
create table email_opt_outs (
    user_id uuid not null references users (id) on delete cascade,
    kind text not null,
    at timestamptz not null default gameday_now(),
    primary key (user_id, kind)
);

-- A password reset link: only the SHA-256 of its secret is kept; it works once, for 30 minutes.
create table password_resets (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default gameday_now(),
    expires_at timestamptz not null,
    used_at timestamptz
);

create index password_resets_user on password_resets (user_id);
