-- The database keeps its own rules: a game day keeps at least one facilitator
-- (gamedays::check_participant_change in the app). Checked at commit, so a transaction may make
-- someone else a facilitator before or after the last one steps down, and a new game day gets
-- its first facilitator after its row is written.

-- A game day that (against the app's rules) has none makes its creator one, when they are still
-- on it and a member of the team who may sign.
update gameday_participants p
set role = 'facilitator'
from gamedays g
join team_members m on m.team_id = g.team_id and m.user_id = g.created_by and m.role <> 'viewer'
where p.gameday_id = g.id and p.user_id = g.created_by
  and not exists (select 1 from gameday_participants f where f.gameday_id = g.id and f.role = 'facilitator');

create function gameday_keeps_a_facilitator() returns trigger language plpgsql as $$
declare
    gameday uuid;
begin
    if tg_table_name = 'gamedays' then
        gameday := new.id;
    elsif old.role = 'facilitator' then
        gameday := old.gameday_id;
    else
        return null;
    end if;
    -- The game day's row is locked (as every change to it in the app locks it first), so two
    -- transactions that each demote one of two facilitators cannot both pass.
    perform 1 from gamedays where id = gameday for update;
    if found
       and not exists (select 1 from gameday_participants where gameday_id = gameday and role = 'facilitator') then
        raise exception 'game day % would be left without a facilitator', gameday
            using errcode = 'check_violation', constraint = 'gameday_keeps_a_facilitator';
    end if;
    return null;
end
$$;

create constraint trigger gameday_keeps_a_facilitator
    after update or delete on gameday_participants
    deferrable initially deferred
    for each row execute function gameday_keeps_a_facilitator();

create constraint trigger gameday_starts_with_a_facilitator
    after insert on gamedays
    deferrable initially deferred
    for each row execute function gameday_keeps_a_facilitator();
