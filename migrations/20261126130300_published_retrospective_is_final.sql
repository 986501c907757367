-- The database keeps its own rules: a published retrospective is read-only (retros::edit in the
-- app): its text, its status and who published it when stay as they are, and so do the observed
-- impacts of its game day's scenarios. Later words are dated addenda (retro_notes). The app has
-- no way back from published, so neither has the database.
create function published_retrospective_is_final() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        raise exception 'the published retrospective of game day % cannot be deleted', old.gameday_id
            using errcode = 'check_violation', constraint = 'published_retrospective_is_final';
    end if;
    if (new.gameday_id, new.status, new.summary, new.went_well, new.surprised_us, new.published_at, new.published_by)
       is distinct from
       (old.gameday_id, old.status, old.summary, old.went_well, old.surprised_us, old.published_at, old.published_by) then
        raise exception 'the retrospective of game day % is published and read-only', old.gameday_id
            using errcode = 'check_violation', constraint = 'published_retrospective_is_final';
    end if;
    return new;
end
$$;

create trigger published_retrospective_is_final
    before update or delete on retrospectives
    for each row when (old.status = 'published')
    execute function published_retrospective_is_final();

create function published_impacts_are_final() returns trigger language plpgsql as $$
declare
    touched uuid[] := '{}';
begin
    if tg_op <> 'INSERT' then
        touched := touched || old.scenario_id;
    end if;
    if tg_op <> 'DELETE' then
        touched := touched || new.scenario_id;
    end if;
    if exists (
        select 1 from scenarios s join retrospectives r on r.gameday_id = s.gameday_id
        where s.id = any(touched) and r.status = 'published'
    ) then
        raise exception 'the retrospective is published: its observed impacts are read-only'
            using errcode = 'check_violation', constraint = 'published_retrospective_is_final';
    end if;
    if tg_op = 'DELETE' then
        return old;
    end if;
    return new;
end
$$;

create trigger published_impacts_are_final
    before insert or update or delete on retro_observed_impacts
    for each row execute function published_impacts_are_final();
