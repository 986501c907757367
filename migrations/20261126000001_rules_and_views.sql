-- The rules that SQL needs too, each defined once here and named as in Rust. Each is a plain
-- SQL function the planner inlines, so a query reads as the rule and plans as the condition.
-- tests/it/rules.rs checks each against its Rust twin on every value.

-- GamedayRole::is_required_signer: facilitators and participants sign every scenario.
create function is_required_signer(role gameday_role) returns boolean
    language sql immutable parallel safe
    return role in ('facilitator', 'participant');

-- ScenarioState::in_flight: a fault announced or injected, that people must know about.
create function is_in_flight(state scenario_state) returns boolean
    language sql immutable parallel safe
    return state in ('announced', 'injected');

-- ScenarioState::takes_signoffs: sign-off is open until the scenario has run.
create function takes_signoffs(state scenario_state) returns boolean
    language sql immutable parallel safe
    return state in ('proposed', 'announced');

-- GamedayStatus::plan_is_open: a game day not over yet (its plan may still change).
create function plan_is_open(status gameday_status) returns boolean
    language sql immutable parallel safe
    return status in ('draft', 'scheduled', 'running');

-- learnings::is_overdue: an open action past its due date.
create function is_overdue(status action_status, due_on date, today date) returns boolean
    language sql immutable parallel safe
    return status = 'open' and due_on is not null and due_on < today;

-- A scenario with its current revision's words and its abort owner's name: what every page that
-- lists or shows scenarios reads (one select list instead of one per query).
create view current_scenarios as
select s.id, s.gameday_id, g.team_id, s.position, s.state, s.outcome, s.conclusion_note,
       s.current_revision as revision, r.fingerprint, r.title, r.hypothesis, r.fault, r.target_system,
       r.blast_radius, r.expected_impact, r.abort_criteria, r.abort_owner, u.display_name as abort_owner_name,
       r.rollback_plan
from scenarios s
join gamedays g on g.id = s.gameday_id
join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
left join users u on u.id = r.abort_owner;

-- An action item as the pages list it: its owner's name, its team's slug, the titles of the game
-- day it follows and of the one it is re-tested in.
create view action_item_rows as
select a.id, a.team_id, a.title, a.owner, u.display_name as owner_name, a.due_on, a.status, a.link,
       a.gameday_id, g.title as gameday_title, t.slug as team_slug, a.retest_gameday_id,
       rg.title as retest_title, a.created_at
from action_items a
join users u on u.id = a.owner
join teams t on t.id = a.team_id
left join gamedays g on g.id = a.gameday_id
left join gamedays rg on rg.id = a.retest_gameday_id;

-- A learning as the pages list it: its author's name and the titles of its game day and scenario.
create view learning_rows as
select l.id, l.team_id, l.gameday_id, l.statement, l.tags, l.search, g.title as gameday_title,
       r.title as scenario_title, u.display_name as author, l.created_at
from learnings l
join users u on u.id = l.author
left join gamedays g on g.id = l.gameday_id
left join scenarios s on s.id = l.scenario_id
left join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision;
