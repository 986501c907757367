-- The fault-calendar feed is personal: one secret URL per member per team, so a member who
-- leaves (or is removed) ends only their own feed, and a member who makes a new one ends only
-- their old one. Only the SHA-256 hash of the secret is stored; the URL is shown once, when made.
-- A feed row goes with its membership (the cascade), so a former member's URL stops working.
create table calendar_feeds (
    team_id uuid not null,
    user_id uuid not null,
    token_hash bytea not null check (length(token_hash) = 32),
    created_at timestamptz not null default now(),
    primary key (team_id, user_id),
    foreign key (team_id, user_id) references team_members (team_id, user_id) on delete cascade
);
create unique index calendar_feeds_token_hash_key on calendar_feeds (token_hash);

-- The old per-team secret goes: every team feed URL made before this migration stops working,
-- and each member makes their own from the team page.
drop index teams_calendar_token_key;
alter table teams drop column calendar_token;
