-- A game day as one of its team's members reaches it: the team behind `team_slug` if `person`
-- is in it, with their role there; the game day `gameday` if it is that team's; and their role
-- on it. No row when they are not in a team with that slug. Written once, read two ways: on its
-- own (`gamedays::store::member_context`), and by the session load of a request whose path names
-- a game day, as JSON (`member_context_json`), so such a request spends no round trip of its own
-- on it. (A plain SQL function: inlined where it is read on its own, planned as if written there.)
create function member_context(team_slug text, person uuid, gameday uuid)
returns table (
    team_id uuid, team_name text, slug text, team_role team_role, require_two_factor boolean,
    archived_at timestamptz,
    id uuid, title text, objective text, environment text, systems text, starts_at timestamptz,
    ends_at timestamptz, call_link text, status gameday_status, cancel_reason text, ics_sequence integer,
    last_event_seq bigint,
    role gameday_role
)
language sql stable
as $$
    select t.id, t.name, t.slug, m.role, t.require_two_factor, t.archived_at,
           g.id, g.title, g.objective, g.environment, g.systems, g.starts_at, g.ends_at, g.call_link,
           g.status, g.cancel_reason, g.ics_sequence, g.last_event_seq,
           p.role
    from teams t
    join team_members m on m.team_id = t.id and m.user_id = person
    left join gamedays g on g.id = gameday and g.team_id = t.id
    left join gameday_participants p on p.gameday_id = g.id and p.user_id = person
    where t.slug = team_slug
$$;

-- The same as one JSON object (null when there is no row). PL/pgSQL, like `frame_json`, so that
-- the session load's plan does not depend on whether it asks, and this statement's plan is
-- cached with the connection.
create function member_context_json(team_slug text, person uuid, gameday uuid) returns json
language plpgsql stable
as $$
begin
    return (select row_to_json(c) from member_context(team_slug, person, gameday) c);
end
$$;
