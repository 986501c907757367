-- Known weaknesses and past incidents, and the links from scenarios to them.

create type weakness_status as enum ('open', 'mitigated');

create table weaknesses (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    title text not null check (length(title) between 1 and 200),
    description text not null default '',
    status weakness_status not null default 'open',
    found_in_scenario uuid references scenarios (id),
    created_by uuid not null references users (id),
    created_at timestamptz not null default now(),
    mitigated_at timestamptz,
    check ((status = 'mitigated') = (mitigated_at is not null))
);
create index weaknesses_team_idx on weaknesses (team_id, status);

create table incidents (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    title text not null check (length(title) between 1 and 200),
    happened_on date not null,
    summary text not null default '',
    link text check (link ~ '^https?://'),
    created_by uuid not null references users (id),
    created_at timestamptz not null default now()
);
create index incidents_team_idx on incidents (team_id, happened_on desc);

alter table scenarios add column weakness_id uuid references weaknesses (id);
alter table scenarios add column incident_id uuid references incidents (id);
