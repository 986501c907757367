-- The rows that a page's one statement and a single-purpose query both read: each select list is
-- written once, here, and the page statement aggregates the same rows (as JSON arrays) that the
-- single-purpose query returns one by one.

-- Someone on a game day, with their name.
create view participant_rows as
select p.gameday_id, p.user_id, u.display_name as name, p.role
from gameday_participants p
join users u on u.id = p.user_id;

-- Where each required signer of a game day stands on each scenario's current revision.
create view signer_rows as
select s.gameday_id, s.id as scenario_id, s.position, s.current_revision as revision, p.user_id,
       u.display_name as name, o.decision, o.reason
from scenarios s
join gameday_participants p on p.gameday_id = s.gameday_id and is_required_signer(p.role)
join users u on u.id = p.user_id
left join signoffs o on o.scenario_id = s.id and o.revision = s.current_revision and o.user_id = p.user_id;

-- A scenario waiting for someone's sign-off (`user_id`): proposed or announced, of an open game
-- day of a team they can reach, where they are a required signer and have not signed the current
-- revision.
create view awaiting_signoff_rows as
select p.user_id, s.id as scenario_id, r.title, s.current_revision as revision, g.id as gameday_id,
       g.title as gameday_title, t.id as team_id, t.slug as team_slug, g.starts_at, s.position
from gameday_participants p
join gamedays g on g.id = p.gameday_id and plan_is_open(g.status)
join teams t on t.id = g.team_id
join team_access m on m.team_id = t.id and m.user_id = p.user_id
join scenarios s on s.gameday_id = g.id and takes_signoffs(s.state)
join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
where is_required_signer(p.role)
  and not exists (select 1 from signoffs o
                  where o.scenario_id = s.id and o.revision = s.current_revision and o.user_id = p.user_id);

-- A member as the team page lists them.
create view member_rows as
select m.team_id, u.id as user_id, u.display_name, u.email, m.role, m.joined_at
from team_members m
join users u on u.id = m.user_id;

-- Start tiny (invariant 4): a smaller scenario on the same target ($3), in the same environment
-- ($5), in any of the team's ($1) game days, that was injected and held: its title, or null.
-- $2 is the scenario asking (not itself), $4 its blast radius.
create function smaller_that_held(uuid, uuid, text, blast_radius, text) returns text
    language sql stable
    return (
        select r.title
        from scenarios s
        join gamedays g on g.id = s.gameday_id
        join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
        where g.team_id = $1 and s.id <> $2 and s.outcome = 'held'
          and lower(r.target_system) = lower($3) and r.blast_radius < $4
          and lower(g.environment) = lower($5)
          -- It held under the fault: it was injected, not halted before injection.
          and exists (select 1 from timeline_events e where e.scenario_id = s.id and e.kind = 'scenario_injected')
        order by r.blast_radius desc
        limit 1
    );
