-- A TOTP second factor with single-use recovery codes (ASVS 5.0, 6.5 and 6.6), and teams whose
-- leads require it of every member.
alter table users
    add column totp_secret bytea check (octet_length(totp_secret) = 20),
    -- The last time step whose code was accepted: a code works once (RFC 6238, 5.2).
    add column totp_last_step bigint;

-- SHA-256 of each recovery code (never the code); a used one keeps its row with used_at set.
create table recovery_codes (
    user_id uuid not null references users (id) on delete cascade,
    code_hash bytea not null check (octet_length(code_hash) = 32),
    used_at timestamptz,
    primary key (user_id, code_hash)
);

alter table teams add column require_two_factor boolean not null default false;

-- The memberships that open their team's pages now: all of them, but a team that requires
-- two-factor sign-in is closed to a member who has not set it up (they see why on its pages).
-- The dashboard and the live streams across teams read memberships through this.
create view team_access as
select m.team_id, m.user_id, m.role
from team_members m
join teams t on t.id = m.team_id
join users u on u.id = m.user_id
where not t.require_two_factor or u.totp_secret is not null;
