-- Records a batch of observations on a game day in one call: one round trip, and when called on
-- its own its own transaction, the commit included.
--
-- Two statements, each with its own snapshot (a volatile function takes a fresh one for each
-- statement it runs): the first locks the game day's row (the lock orders events in commit
-- order, as every change to a game day does) and reads its status under the lock; the second,
-- only if that status is one of `open_statuses`, numbers in order each observation whose author is on
-- the game day and in its team. Because the second statement's snapshot is taken after the lock,
-- a removal that committed while the batch waited for the lock counts. One NOTIFY on `notify_channel`
-- carries the last number (the live hub reads every event after what it has sent).
--
-- Returns the status found under the lock and, for each observation recorded, its place in the
-- arrays (from 1) and its number; when none is recorded, one row with the status alone; when
-- there is no such game day, no row.
create function record_observations(
    gameday uuid,
    open_statuses gameday_status[],
    notify_channel text,
    actors uuid[],
    scenario_ids uuid[],
    bodies text[],
    body_htmls text[],
    datas jsonb[],
    observed timestamptz[]
) returns table (status_found gameday_status, place bigint, seq_given bigint)
language plpgsql volatile
as $$
declare
    locked gameday_status;
begin
    select g.status into locked from gamedays g where g.id = gameday for update;
    if not found then
        return;
    end if;
    if locked = any(open_statuses) then
        return query
        with input as (
            select * from unnest(actors, scenario_ids, bodies, body_htmls, datas, observed)
                with ordinality as i (actor, scenario_id, body, body_html, data, observed_at, pos)
        ),
        allowed as (
            select i.*, row_number() over (order by i.pos) as n
            from input i
            where exists (select 1 from gameday_participants p
                          join gamedays g on g.id = p.gameday_id
                          join team_members m on m.team_id = g.team_id and m.user_id = p.user_id
                          where p.gameday_id = gameday and p.user_id = i.actor)
        ),
        bumped as (
            update gamedays g set last_event_seq = g.last_event_seq + (select count(*) from allowed)
            where g.id = gameday and exists (select 1 from allowed)
            returning g.last_event_seq - (select count(*) from allowed) as base
        ),
        inserted as (
            insert into timeline_events as e
                (gameday_id, seq, actor, kind, scenario_id, body, body_html, data, observed_at)
            select gameday, b.base + a.n, a.actor, 'observation', a.scenario_id, a.body, a.body_html, a.data,
                   a.observed_at
            from allowed a cross join bumped b
            returning e.seq
        )
        select locked, a.pos, b.base + a.n
        from allowed a cross join bumped b
        order by a.pos;
        if found then
            perform pg_notify(notify_channel,
                              gameday::text || ':' || (select g.last_event_seq from gamedays g where g.id = gameday));
            return;
        end if;
    end if;
    return query select locked, null::bigint, null::bigint;
end
$$;
