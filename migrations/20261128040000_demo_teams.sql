-- A demo team, made for one person through the app's own actions, reads as a day that really
-- happened: its changes carry the times the demo gives them. The one way to say "it is now this
-- time" is the session setting `gameday.now`, which only the demo builder sets, on a database
-- connection of its own that it closes afterwards; everywhere else it is unset and these
-- functions are the database's clock. Every column that said `default now()` now asks
-- `gameday_now()` (the transaction's time), and the two append-only logs, which said
-- `clock_timestamp()`, ask `gameday_clock()`.
create function gameday_now() returns timestamptz
language sql stable parallel safe
as $$
    select coalesce(nullif(current_setting('gameday.now', true), '')::timestamptz, now())
$$;

create function gameday_clock() returns timestamptz
language sql volatile parallel safe
as $$
    select coalesce(nullif(current_setting('gameday.now', true), '')::timestamptz, clock_timestamp())
$$;

do $$
declare
    c record;
begin
    for c in
        select table_name, column_name from information_schema.columns
        where table_schema = current_schema() and column_default = 'now()' and table_name <> '_sqlx_migrations'
    loop
        execute format('alter table %I alter column %I set default gameday_now()', c.table_name, c.column_name);
    end loop;
end
$$;

alter table timeline_events alter column at set default gameday_clock();
alter table team_audit alter column at set default gameday_clock();

-- A team made by "Explore a demo team": marked on its pages, archived and hidden in one click.
alter table teams add column demo boolean not null default false;

-- `member_context` says whether the team is a demo, as `teams::store::membership` does.
drop function member_context(text, uuid, uuid);
create function member_context(team_slug text, person uuid, gameday uuid)
returns table (
    team_id uuid, team_name text, slug text, team_role team_role, require_two_factor boolean,
    archived_at timestamptz, demo boolean,
    id uuid, title text, objective text, environment text, systems text, starts_at timestamptz,
    ends_at timestamptz, call_link text, status gameday_status, cancel_reason text, ics_sequence integer,
    last_event_seq bigint,
    role gameday_role
)
language sql stable
as $$
    select t.id, t.name, t.slug, m.role, t.require_two_factor, t.archived_at, t.demo,
           g.id, g.title, g.objective, g.environment, g.systems, g.starts_at, g.ends_at, g.call_link,
           g.status, g.cancel_reason, g.ics_sequence, g.last_event_seq,
           p.role
    from teams t
    join team_members m on m.team_id = t.id and m.user_id = person
    left join gamedays g on g.id = gameday and g.team_id = t.id
    left join gameday_participants p on p.gameday_id = g.id and p.user_id = person
    where t.slug = team_slug
$$;
