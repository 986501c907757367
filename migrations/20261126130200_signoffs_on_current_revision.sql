-- The database keeps its own rules: a sign-off (an approval or an objection) is recorded only
-- for the scenario's current revision (scenarios::actions::sign in the app). Sign-offs of
-- earlier revisions stay as they were; nobody signs one after it was replaced. The scenario's
-- row is read for share, so a revision cannot be made between the check and the commit.
create function signoff_on_current_revision() returns trigger language plpgsql as $$
declare
    current integer;
begin
    select current_revision into current from scenarios where id = new.scenario_id for share;
    if current is distinct from new.revision then
        raise exception 'revision % of scenario % is not its current revision (%)', new.revision, new.scenario_id, current
            using errcode = 'check_violation', constraint = 'signoff_on_current_revision';
    end if;
    return new;
end
$$;

create trigger signoff_on_current_revision
    before insert or update on signoffs
    for each row execute function signoff_on_current_revision();
