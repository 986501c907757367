-- Sign-ups per client address, for throttling account creation (ASVS 5.0, 2.4: anti-automation).
create table signup_attempts (
    id bigint generated always as identity primary key,
    client_addr text not null,
    at timestamptz not null default now()
);
create index signup_attempts_addr_idx on signup_attempts (client_addr, at);
