-- Chaos Toolkit in and out.

-- A scenario imported from an experiment leaves its blast radius for the facilitator to set: a
-- revision may have none yet, and nobody can approve it until it has (checked with the other
-- placeholders, scenarios::gate::check_complete).
alter table scenario_revisions alter column blast_radius drop not null;

-- The experiment a revision carries, as imported (credentials already replaced by their names),
-- its digest (SHA-256 of its canonical JSON, part of the fingerprint people sign), and notes on
-- its import: the format, what was replaced and what Gameday did not understand (kept, listed).
alter table scenario_revisions
    add column experiment jsonb,
    add column experiment_digest text,
    add column experiment_notes jsonb,
    add constraint experiment_and_digest check ((experiment is null) = (experiment_digest is null));

create or replace view current_scenarios as
select s.id, s.gameday_id, g.team_id, s.position, s.state, s.outcome, s.conclusion_note,
       s.current_revision as revision, r.fingerprint, r.title, r.hypothesis, r.fault, r.target_system,
       r.blast_radius, r.expected_impact, r.abort_criteria, r.abort_owner, u.display_name as abort_owner_name,
       r.rollback_plan, r.experiment_digest
from scenarios s
join gamedays g on g.id = s.gameday_id
join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
left join users u on u.id = r.abort_owner;

-- Each Chaos Toolkit journal brought onto a scenario's timeline, once: a second import of the
-- same file (same SHA-256) does nothing. What it proposes as the outcome waits for the
-- facilitator, who confirms it when concluding.
create table imported_journals (
    scenario_id uuid not null references scenarios (id) on delete cascade,
    digest text not null,
    gameday_id uuid not null references gamedays (id),
    experiment_title text not null,
    status text not null,
    deviated boolean not null,
    proposal scenario_outcome not null,
    proposal_reason text not null,
    started_at timestamptz not null,
    entries integer not null,
    imported_by uuid not null references users (id),
    imported_at timestamptz not null default now(),
    primary key (scenario_id, digest)
);

-- A new revision of a scenario that carries an experiment (an edit, a copy, a variant) takes the
-- document from a revision with the same digest.
create index scenario_revisions_by_experiment on scenario_revisions (experiment_digest)
    where experiment_digest is not null;

-- A journal's import proposes an outcome that the run card offers when concluding: it is one of
-- the key events a page reads beside its window (timeline::store::key_events).
drop index timeline_events_key;
create index timeline_events_key on timeline_events (gameday_id, seq)
    where kind in ('scenario_announced', 'scenario_injected', 'scenario_halted', 'scenario_rolled_back',
                   'scenario_concluded', 'journal_imported')
       or (kind = 'observation' and data ? 'marker');
