-- Retrospectives, learnings and action items: what a game day leaves behind.

create type retro_status as enum ('draft', 'in_review', 'published');

create table retrospectives (
    gameday_id uuid primary key references gamedays (id),
    status retro_status not null default 'draft',
    summary text not null default '',
    went_well text not null default '',
    surprised_us text not null default '',
    published_at timestamptz,
    published_by uuid references users (id),
    updated_at timestamptz not null default now(),
    check ((status = 'published') = (published_at is not null))
);

-- What each scenario actually did, set against what was expected.
create table retro_observed_impacts (
    scenario_id uuid primary key references scenarios (id),
    observed_impact text not null
);

-- Comments while in review and after publication; addenda are dated additions after publication.
create type retro_note_kind as enum ('comment', 'addendum');
create table retro_notes (
    id bigint generated always as identity primary key,
    gameday_id uuid not null references retrospectives (gameday_id),
    kind retro_note_kind not null,
    author uuid not null references users (id),
    body text not null check (length(body) between 1 and 4000),
    created_at timestamptz not null default now()
);
create index retro_notes_gameday_idx on retro_notes (gameday_id, id);

create table retro_reads (
    gameday_id uuid not null references retrospectives (gameday_id),
    user_id uuid not null references users (id) on delete cascade,
    read_at timestamptz not null default now(),
    primary key (gameday_id, user_id)
);

create table learnings (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    gameday_id uuid references gamedays (id),
    scenario_id uuid references scenarios (id),
    statement text not null check (length(statement) between 1 and 2000),
    tags text[] not null default '{}',
    -- Kept by the insert: the statement and its tags, for ranked full-text search.
    search tsvector not null,
    author uuid not null references users (id),
    created_at timestamptz not null default now()
);
create index learnings_search_idx on learnings using gin (search);
create index learnings_tags_idx on learnings using gin (tags);
create index learnings_team_idx on learnings (team_id, created_at desc);

create type action_status as enum ('open', 'done', 'wont_do');

create table action_items (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    gameday_id uuid references gamedays (id),
    title text not null check (length(title) between 1 and 200),
    owner uuid not null references users (id),
    due_on date,
    status action_status not null default 'open',
    link text check (link ~ '^https?://'),
    retest_gameday_id uuid references gamedays (id),
    created_by uuid not null references users (id),
    created_at timestamptz not null default now()
);
create index action_items_team_idx on action_items (team_id, status, due_on);
create index action_items_owner_idx on action_items (owner, status);
