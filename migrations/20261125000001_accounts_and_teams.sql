-- Accounts, sign-in throttling, teams, memberships and invites.

create table users (
    id uuid primary key,
    email text not null check (email = lower(email) and length(email) between 3 and 254),
    display_name text not null check (length(display_name) between 1 and 80),
    password_hash text not null,
    is_admin boolean not null default false,
    created_at timestamptz not null default now()
);
create unique index users_email_key on users (email);

-- Failed sign-ins, counted per account and per client address over a sliding window.
create table signin_failures (
    id bigint generated always as identity primary key,
    email text not null,
    client_addr text not null,
    failed_at timestamptz not null default now()
);
create index signin_failures_email_idx on signin_failures (email, failed_at);
create index signin_failures_addr_idx on signin_failures (client_addr, failed_at);

create type team_role as enum ('lead', 'member', 'viewer');

create table teams (
    id uuid primary key,
    name text not null check (length(name) between 1 and 80),
    slug text not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(slug) between 2 and 40),
    created_by uuid not null references users (id),
    created_at timestamptz not null default now()
);
create unique index teams_slug_key on teams (slug);

create table team_members (
    team_id uuid not null references teams (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    role team_role not null,
    joined_at timestamptz not null default now(),
    primary key (team_id, user_id)
);
create index team_members_user_idx on team_members (user_id);

-- A team always keeps at least one lead: checked at commit, after every change to memberships.
create function team_keeps_a_lead() returns trigger language plpgsql as $$
begin
    if exists (select 1 from teams where id = old.team_id)
       and not exists (select 1 from team_members where team_id = old.team_id and role = 'lead') then
        raise exception 'team % would be left without a lead', old.team_id
            using errcode = 'check_violation', constraint = 'team_keeps_a_lead';
    end if;
    return null;
end;
$$;
create constraint trigger team_keeps_a_lead
    after update or delete on team_members
    deferrable initially deferred
    for each row execute function team_keeps_a_lead();

-- Invite links: only a hash of the token is stored; single use, with an expiry.
create table team_invites (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    token_hash bytea not null,
    role team_role not null,
    created_by uuid not null references users (id),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    used_by uuid references users (id),
    revoked_at timestamptz,
    check ((used_at is null) = (used_by is null))
);
create unique index team_invites_token_key on team_invites (token_hash);
create index team_invites_team_idx on team_invites (team_id);
