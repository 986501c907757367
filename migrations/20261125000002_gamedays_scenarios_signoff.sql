-- Game days, participants, scenarios with revisions, revision-bound sign-off and the
-- append-only timeline. Every state change writes its timeline event in the same transaction.

alter table users add column time_zone text not null default 'UTC';

-- The secret in a team's fault-calendar feed URL (122 random bits from PostgreSQL's strong
-- random source); regenerating it breaks old subscriptions.
alter table teams add column calendar_token text not null default replace(gen_random_uuid()::text, '-', '');
create unique index teams_calendar_token_key on teams (calendar_token);

create type gameday_status as enum ('draft', 'scheduled', 'running', 'completed', 'cancelled');

create table gamedays (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    title text not null check (length(title) between 1 and 120),
    objective text not null check (length(objective) <= 4000),
    environment text not null check (length(environment) <= 80),
    systems text not null check (length(systems) <= 1000),
    starts_at timestamptz,
    ends_at timestamptz,
    call_link text check (length(call_link) <= 500),
    status gameday_status not null default 'draft',
    cancel_reason text,
    -- RFC 5545 SEQUENCE: raised whenever the schedule or status changes.
    ics_sequence integer not null default 0,
    -- The last timeline sequence number used; events take the next one under this row's lock.
    last_event_seq bigint not null default 0,
    created_by uuid not null references users (id),
    created_at timestamptz not null default now(),
    check (ends_at is null or starts_at is null or ends_at > starts_at),
    check ((status = 'cancelled') = (cancel_reason is not null)),
    check (status = 'draft' or status = 'cancelled' or starts_at is not null)
);
create index gamedays_team_idx on gamedays (team_id, starts_at);

create type gameday_role as enum ('facilitator', 'participant', 'observer');

create table gameday_participants (
    gameday_id uuid not null references gamedays (id) on delete cascade,
    user_id uuid not null references users (id) on delete cascade,
    role gameday_role not null,
    added_at timestamptz not null default now(),
    primary key (gameday_id, user_id)
);
create index gameday_participants_user_idx on gameday_participants (user_id);

create type blast_radius as enum ('tiny', 'small', 'medium', 'large');
create type scenario_state as enum ('proposed', 'announced', 'injected', 'rolled_back', 'halted', 'concluded');
create type scenario_outcome as enum ('held', 'refuted', 'inconclusive');

create table scenarios (
    id uuid primary key,
    gameday_id uuid not null references gamedays (id) on delete cascade,
    position integer not null,
    current_revision integer not null default 1,
    state scenario_state not null default 'proposed',
    outcome scenario_outcome,
    conclusion_note text,
    created_at timestamptz not null default now(),
    check ((state = 'concluded') = (outcome is not null))
);
create index scenarios_gameday_idx on scenarios (gameday_id, position);

-- Every saved edit of a scenario is a revision; revisions are never changed.
create table scenario_revisions (
    scenario_id uuid not null references scenarios (id) on delete cascade,
    revision integer not null check (revision >= 1),
    title text not null,
    hypothesis text not null,
    fault text not null,
    target_system text not null,
    blast_radius blast_radius not null,
    expected_impact text not null,
    abort_criteria text not null,
    abort_owner uuid references users (id),
    rollback_plan text not null,
    fingerprint text not null,
    author uuid not null references users (id),
    created_at timestamptz not null default now(),
    primary key (scenario_id, revision)
);

create type signoff_decision as enum ('approve', 'object');

-- A signer's standing decision on one revision of a scenario (the latest replaces the earlier one;
-- the timeline keeps every decision).
create table signoffs (
    scenario_id uuid not null,
    revision integer not null,
    user_id uuid not null references users (id) on delete cascade,
    decision signoff_decision not null,
    reason text,
    signed_at timestamptz not null default now(),
    primary key (scenario_id, revision, user_id),
    foreign key (scenario_id, revision) references scenario_revisions (scenario_id, revision) on delete cascade,
    check (decision = 'approve' or length(trim(reason)) > 0)
);

create table timeline_events (
    gameday_id uuid not null references gamedays (id),
    seq bigint not null,
    at timestamptz not null default clock_timestamp(),
    observed_at timestamptz,
    actor uuid references users (id),
    kind text not null,
    scenario_id uuid references scenarios (id),
    body text not null default '',
    data jsonb not null default '{}',
    primary key (gameday_id, seq)
);

-- Invariant 5: the timeline is append-only; the database itself refuses changes.
create function timeline_events_are_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'timeline events are append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger timeline_events_no_update_or_delete
    before update or delete on timeline_events
    for each row execute function timeline_events_are_append_only();
create trigger timeline_events_no_truncate
    before truncate on timeline_events
    for each statement execute function timeline_events_are_append_only();
