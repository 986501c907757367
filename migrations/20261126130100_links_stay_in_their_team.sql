-- The database keeps its own rules: a row that points at another row of a team points at one
-- of the same team (and, under a game day, of the same game day). Each link is a composite
-- foreign key over (id, team_id) or (id, gameday_id), replacing the plain key on the id alone,
-- so a scenario, a timeline event, a learning, an action, a weakness or a webhook delivery can
-- never be tied to another team's or another game day's rows, whatever the app does.

-- The keys the links point at.
alter table gamedays add constraint gamedays_id_team_key unique (id, team_id);
alter table weaknesses add constraint weaknesses_id_team_key unique (id, team_id);
alter table incidents add constraint incidents_id_team_key unique (id, team_id);
alter table webhooks add constraint webhooks_id_team_key unique (id, team_id);

-- A row whose team is its parent's takes it from there when the insert does not say it.
create function takes_team_of_parent() returns trigger language plpgsql as $$
begin
    if new.team_id is null then
        if tg_table_name = 'scenarios' then
            select team_id into new.team_id from gamedays where id = new.gameday_id;
        elsif tg_table_name = 'webhook_deliveries' then
            select team_id into new.team_id from webhooks where id = new.webhook_id;
        end if;
    end if;
    return new;
end
$$;

-- Scenarios: of their game day's team; linked only to that team's weaknesses and incidents.
alter table scenarios add column team_id uuid;
update scenarios s set team_id = g.team_id from gamedays g where g.id = s.gameday_id;
alter table scenarios alter column team_id set not null;
create trigger scenarios_take_their_team
    before insert on scenarios
    for each row execute function takes_team_of_parent();
alter table scenarios
    add constraint scenarios_id_team_key unique (id, team_id),
    add constraint scenarios_id_gameday_key unique (id, gameday_id),
    drop constraint scenarios_gameday_id_fkey,
    add constraint scenarios_gameday_in_team
        foreign key (gameday_id, team_id) references gamedays (id, team_id) on delete cascade,
    drop constraint scenarios_weakness_id_fkey,
    add constraint scenarios_weakness_in_team
        foreign key (weakness_id, team_id) references weaknesses (id, team_id),
    drop constraint scenarios_incident_id_fkey,
    add constraint scenarios_incident_in_team
        foreign key (incident_id, team_id) references incidents (id, team_id);

-- Timeline events: about a scenario of their own game day.
alter table timeline_events
    drop constraint timeline_events_scenario_id_fkey,
    add constraint timeline_events_scenario_in_gameday
        foreign key (scenario_id, gameday_id) references scenarios (id, gameday_id);

-- Learnings: of a game day of their team, and of a scenario of that game day.
alter table learnings
    add constraint learnings_scenario_has_its_gameday check (scenario_id is null or gameday_id is not null),
    drop constraint learnings_gameday_id_fkey,
    add constraint learnings_gameday_in_team
        foreign key (gameday_id, team_id) references gamedays (id, team_id),
    drop constraint learnings_scenario_id_fkey,
    add constraint learnings_scenario_in_gameday
        foreign key (scenario_id, gameday_id) references scenarios (id, gameday_id);

-- Follow-up actions: following, and re-tested in, game days of their team.
alter table action_items
    drop constraint action_items_gameday_id_fkey,
    add constraint action_items_gameday_in_team
        foreign key (gameday_id, team_id) references gamedays (id, team_id),
    drop constraint action_items_retest_gameday_id_fkey,
    add constraint action_items_retest_gameday_in_team
        foreign key (retest_gameday_id, team_id) references gamedays (id, team_id);

-- Weaknesses: found by a scenario of their team.
alter table weaknesses
    drop constraint weaknesses_found_in_scenario_fkey,
    add constraint weaknesses_found_in_scenario_in_team
        foreign key (found_in_scenario, team_id) references scenarios (id, team_id);

-- Webhook deliveries: to a webhook of the team whose game day's event they report, and of an
-- event that exists.
alter table webhook_deliveries add column team_id uuid;
update webhook_deliveries d set team_id = w.team_id from webhooks w where w.id = d.webhook_id;
alter table webhook_deliveries alter column team_id set not null;
create trigger webhook_deliveries_take_their_team
    before insert on webhook_deliveries
    for each row execute function takes_team_of_parent();
alter table webhook_deliveries
    drop constraint webhook_deliveries_webhook_id_fkey,
    add constraint webhook_deliveries_webhook_in_team
        foreign key (webhook_id, team_id) references webhooks (id, team_id) on delete cascade,
    drop constraint webhook_deliveries_gameday_id_fkey,
    add constraint webhook_deliveries_gameday_in_team
        foreign key (gameday_id, team_id) references gamedays (id, team_id),
    add constraint webhook_deliveries_event_exists
        foreign key (gameday_id, seq) references timeline_events (gameday_id, seq);
