-- Health checks that guard the fault.

-- A team's library of health checks. The definition (`spec`: method, URL, headers, timeout and
-- success criteria) is what scenarios copy; the values of secret headers are kept apart, never
-- shown again, and only ever replaced.
create table health_checks (
    id uuid primary key,
    team_id uuid not null references teams (id) on delete cascade,
    name text not null,
    spec jsonb not null,
    secrets jsonb not null default '{}'::jsonb,
    created_by uuid not null references users (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (team_id, name)
);

-- The checks a revision is agreed with: a copy of each definition, whether it halts the fault on
-- its own and how often it runs while injected. Part of the fingerprint people sign.
alter table scenario_revisions add column health_checks jsonb not null default '[]'::jsonb;

create or replace view current_scenarios as
select s.id, s.gameday_id, g.team_id, s.position, s.state, s.outcome, s.conclusion_note,
       s.current_revision as revision, r.fingerprint, r.title, r.hypothesis, r.fault, r.target_system,
       r.blast_radius, r.expected_impact, r.abort_criteria, r.abort_owner, u.display_name as abort_owner_name,
       r.rollback_plan, r.experiment_digest, r.health_checks
from scenarios s
join gamedays g on g.id = s.gameday_id
join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
left join users u on u.id = r.abort_owner;

-- Every result of a scenario's checks: before the announce and the inject, while injected, after
-- the roll back. The gate reads the latest per check (a pass younger than a few seconds); the
-- scenario page draws the response times.
create table health_check_results (
    id bigint generated always as identity primary key,
    scenario_id uuid not null references scenarios (id) on delete cascade,
    revision integer not null,
    check_name text not null,
    phase text not null check (phase in ('before', 'during', 'after')),
    at timestamptz not null default now(),
    passed boolean not null,
    status integer,
    elapsed_ms integer,
    judged text not null default '',
    summary text not null
);
create index health_check_results_latest on health_check_results (scenario_id, check_name, at desc);

-- After a fault leaves flight (rolled back or halted), its checks run until they all pass again
-- or the time runs out: when the steady state came back is the measured time to recover.
create table scenario_recoveries (
    scenario_id uuid primary key references scenarios (id) on delete cascade,
    revision integer not null,
    since timestamptz not null default now(),
    injected_at timestamptz,
    ends_at timestamptz not null,
    recovered_at timestamptz,
    gave_up_at timestamptz
);
create index scenario_recoveries_open on scenario_recoveries (since) where recovered_at is null and gave_up_at is null;

-- Work that one instance does at a time (the health-check poller): whoever holds an unexpired
-- lease does it, and renews it; another instance takes over once it has run out.
create table worker_leases (
    name text primary key,
    holder uuid not null,
    until timestamptz not null
);

-- The checks' results that the run card shows are key events (timeline::store::key_events).
drop index timeline_events_key;
create index timeline_events_key on timeline_events (gameday_id, seq)
    where kind in ('scenario_announced', 'scenario_injected', 'scenario_halted', 'scenario_rolled_back',
                   'scenario_concluded', 'journal_imported', 'health_checked', 'health_check_changed',
                   'steady_state_back', 'steady_state_not_back')
       or (kind = 'observation' and data ? 'marker');
