-- Sign-ups waiting for their address to be confirmed: the account is made only when the link
-- e-mailed to the address is followed, so the sign-up form answers the same for every address
-- and never tells a stranger which ones have accounts. The link's secret is kept only as its
-- SHA-256; the row is deleted when the account is made (with every other open sign-up of the
-- address), and an expired row is cleared by the next sign-up.
create table signup_confirmations (
    token_hash bytea primary key,
    email text not null,
    display_name text not null,
    password_hash text not null,
    time_zone text not null,
    -- Where to go once the account is made (a path on this site, checked when the form was sent).
    next_path text,
    created_at timestamptz not null default gameday_now(),
    expires_at timestamptz not null
);

create index signup_confirmations_email on signup_confirmations (email);
create index signup_confirmations_expires on signup_confirmations (expires_at);
