-- The database keeps its own rules: a game day's participant is a member of its team, and a
-- team viewer takes part only as an observer (gamedays::check_role_for in the app).
create function participant_is_a_member() returns trigger language plpgsql as $$
declare
    member_role team_role;
begin
    select m.role into member_role
    from gamedays g join team_members m on m.team_id = g.team_id and m.user_id = new.user_id
    where g.id = new.gameday_id;
    if member_role is null then
        raise exception 'a game day participant must be a member of its team'
            using errcode = 'check_violation', constraint = 'participant_is_a_member';
    end if;
    if member_role = 'viewer' and new.role <> 'observer' then
        raise exception 'a team viewer takes part in a game day only as an observer'
            using errcode = 'check_violation', constraint = 'viewer_only_observes';
    end if;
    return new;
end
$$;

create trigger participant_is_a_member
    before insert or update of role, user_id, gameday_id on gameday_participants
    for each row execute function participant_is_a_member();
