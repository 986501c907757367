-- What every page's frame shows a person, as rows of one view: their teams for the navigation
-- (part 0, sorted by name) and the faults in flight in the teams whose pages they may open
-- (part 1, with when each was announced or injected). The session load reads it in the same
-- statement as the session and the person, so a page's frame costs no round trip of its own.
create view person_frame as
select m.user_id, 0 as part, t.name, t.slug, m.role::text as role, t.archived_at is not null as archived,
       null::uuid as scenario_id, null::uuid as gameday_id, null::text as gameday_title,
       null::timestamptz as since, lower(t.name) as sort
from team_members m
join teams t on t.id = m.team_id
union all
select m.user_id, 1, t.name, t.slug, null, null, s.id, g.id, g.title,
       (select max(e.at) from timeline_events e
        where e.gameday_id = g.id and e.scenario_id = s.id
          and e.kind in ('scenario_announced', 'scenario_injected')),
       null
from team_access m
join teams t on t.id = m.team_id
join gamedays g on g.team_id = t.id
join scenarios s on s.gameday_id = g.id and is_in_flight(s.state);
