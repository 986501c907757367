//! The rules that SQL needs too are defined once in a migration as SQL functions; each must say
//! exactly what its Rust twin says, for every value it can be given.

use gameday::gamedays::{GamedayRole, GamedayStatus};
use gameday::learnings::{ActionStatus, is_overdue};
use gameday::scenarios::gate::ScenarioState;
use sqlx::PgPool;
use time::macros::date;

async fn sql<T>(db: &PgPool, statement: &'static str, value: T) -> bool
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + 'static,
{
    sqlx::query_scalar::<_, bool>(statement).bind(value).fetch_one(db).await.expect(statement)
}

#[sqlx::test]
async fn required_signers_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    for role in GamedayRole::ALL {
        assert_eq!(sql(&db, "select is_required_signer($1)", role).await, role.is_required_signer(), "{role:?}");
    }
}

#[sqlx::test]
async fn faults_in_flight_and_open_sign_off_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    for state in ScenarioState::ALL {
        assert_eq!(sql(&db, "select is_in_flight($1)", state).await, state.in_flight(), "{state:?}");
        assert_eq!(sql(&db, "select takes_signoffs($1)", state).await, state.takes_signoffs(), "{state:?}");
    }
}

#[sqlx::test]
async fn open_game_days_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    for status in GamedayStatus::ALL {
        assert_eq!(sql(&db, "select plan_is_open($1)", status).await, status.plan_is_open(), "{status:?}");
    }
}

#[sqlx::test]
async fn overdue_actions_are_the_same_in_sql_and_rust(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    let today = date!(2026 - 11 - 26);
    for status in ActionStatus::ALL {
        for due_on in [None, Some(date!(2026 - 11 - 25)), Some(today), Some(date!(2026 - 11 - 27))] {
            let in_sql: bool = sqlx::query_scalar("select is_overdue($1, $2, $3)")
                .bind(status)
                .bind(due_on)
                .bind(today)
                .fetch_one(&db)
                .await
                .unwrap();
            assert_eq!(in_sql, is_overdue(status, due_on, today), "{status:?} due {due_on:?}");
        }
    }
}

/// The database itself refuses a participant from outside the team, and a team viewer as more
/// than an observer, whatever the app does.
#[sqlx::test]
async fn the_database_refuses_participants_from_outside_the_team_and_viewers_who_sign(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let id = |email: &'static str| {
        let db = day.app.db.clone();
        async move { crate::helpers::user_id(&db, email).await }
    };
    let insert = |user: uuid::Uuid, role: &'static str| {
        let db = day.app.db.clone();
        let gameday = day.id;
        async move {
            sqlx::query(
                "insert into gameday_participants (gameday_id, user_id, role) values ($1, $2, $3::gameday_role)",
            )
            .bind(gameday)
            .bind(user)
            .bind(role)
            .execute(&db)
            .await
        }
    };
    let refused = |result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| match result {
        Err(sqlx::Error::Database(e)) => e.constraint().map(str::to_owned),
        other => panic!("expected the database to refuse, got {other:?}"),
    };
    // Eve is in no team of this game day.
    assert_eq!(
        refused(insert(id("eve@example.com").await, "observer").await).as_deref(),
        Some("participant_is_a_member")
    );
    // Vi is a team viewer: an observer at most.
    assert_eq!(
        refused(insert(id("vi@example.com").await, "participant").await).as_deref(),
        Some("viewer_only_observes")
    );
    insert(id("vi@example.com").await, "observer").await.expect("a viewer may observe");
    let promote = sqlx::query("update gameday_participants set role = 'facilitator' where user_id = $1")
        .bind(id("vi@example.com").await)
        .execute(&day.app.db)
        .await;
    assert_eq!(refused(promote).as_deref(), Some("viewer_only_observes"));
}

/// Runs one statement of raw SQL, as a bug in the app could.
async fn execute(db: &PgPool, statement: &str) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    sqlx::query(statement).execute(db).await
}

/// The name of the constraint (or trigger) with which the database refused a statement.
fn refused_by(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> String {
    match result {
        Err(sqlx::Error::Database(e)) => e.constraint().map(str::to_owned).unwrap_or_else(|| e.message().to_owned()),
        other => panic!("expected the database to refuse, got {other:?}"),
    }
}

async fn scalar(db: &PgPool, query: &str) -> uuid::Uuid {
    sqlx::query_scalar(query).fetch_one(db).await.expect(query)
}

/// The database itself keeps a facilitator on every game day: removing or demoting the last one
/// is refused at commit, and so is a game day made without one; replacing one with another in a
/// transaction is not.
#[sqlx::test]
async fn the_database_keeps_a_facilitator_on_every_game_day(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let db = &day.app.db;
    let (gameday, ana, li) = (day.id, day.id_of("ana@example.com").await, day.id_of("li@example.com").await);

    let remove = format!("delete from gameday_participants where gameday_id = '{gameday}' and user_id = '{ana}'");
    assert_eq!(refused_by(execute(db, &remove).await), "gameday_keeps_a_facilitator");
    let demote = format!("update gameday_participants set role = 'participant' where user_id = '{ana}'");
    assert_eq!(refused_by(execute(db, &demote).await), "gameday_keeps_a_facilitator");
    let team = scalar(db, "select id from teams").await;
    let without = format!(
        "insert into gamedays (id, team_id, title, objective, environment, systems, created_by)
         values (gen_random_uuid(), '{team}', 'Nobody runs it', '', '', '', '{ana}')"
    );
    assert_eq!(refused_by(execute(db, &without).await), "gameday_keeps_a_facilitator");
    let removed_bo =
        format!("delete from gameday_participants where user_id = '{}'", day.id_of("bo@example.com").await);
    execute(db, &removed_bo).await.expect("a participant who is not the last facilitator may go");

    // Li takes over from Ana inside one transaction: the rule is checked at commit.
    let mut tx = db.begin().await.unwrap();
    sqlx::query(&demote).execute(&mut *tx).await.expect("checked at commit, not here");
    let promote = format!("update gameday_participants set role = 'facilitator' where user_id = '{li}'");
    sqlx::query(&promote).execute(&mut *tx).await.unwrap();
    tx.commit().await.expect("the game day still has a facilitator");
    let facilitators: Vec<uuid::Uuid> =
        sqlx::query_scalar("select user_id from gameday_participants where role = 'facilitator'")
            .fetch_all(db)
            .await
            .unwrap();
    assert_eq!(facilitators, [li.parse::<uuid::Uuid>().unwrap()]);
}

/// A second team (Eve's) with a game day, a scenario, a weakness, an incident and a webhook:
/// rows that nothing of the first team may point at.
struct OtherTeam {
    team: uuid::Uuid,
    gameday: uuid::Uuid,
    scenario: uuid::Uuid,
    weakness: uuid::Uuid,
    incident: uuid::Uuid,
}

async fn other_team(day: &crate::gamedays::Day) -> OtherTeam {
    use reqwest::StatusCode;
    let (app, eve) = (&day.app, &day.eve);
    let slug = app.team(eve, "Other").await;
    let response = app.post_as(eve, &format!("/teams/{slug}/gamedays"), &crate::gamedays::GAMEDAY_FORM).await;
    let gameday_url = crate::helpers::location(&response);
    let owner = day.id_of("eve@example.com").await;
    let form = crate::gamedays::scenario_form("Their scenario", &owner);
    assert_eq!(app.post_as(eve, &format!("{gameday_url}/scenarios"), &form).await.status(), StatusCode::SEE_OTHER);
    let weakness = [("title", "Their weakness"), ("description", "")];
    assert_eq!(app.post_as(eve, &format!("/teams/{slug}/weaknesses"), &weakness).await.status(), StatusCode::SEE_OTHER);
    let incident = [("title", "Their incident"), ("happened_on", "2026-03-14"), ("summary", ""), ("link", "")];
    assert_eq!(app.post_as(eve, &format!("/teams/{slug}/incidents"), &incident).await.status(), StatusCode::SEE_OTHER);
    let team = sqlx::query_scalar("select id from teams where slug = $1").bind(&slug).fetch_one(&app.db).await.unwrap();
    let of_team = |table: &str| format!("select id from {table} where team_id = '{team}'");
    let scenario =
        format!("select s.id from scenarios s join gamedays g on g.id = s.gameday_id where g.team_id = '{team}'");
    OtherTeam {
        team,
        gameday: scalar(&app.db, &of_team("gamedays")).await,
        scenario: scalar(&app.db, &scenario).await,
        weakness: scalar(&app.db, &of_team("weaknesses")).await,
        incident: scalar(&app.db, &of_team("incidents")).await,
    }
}

/// The database itself keeps every link inside its team (and game day): a scenario, a timeline
/// event, a learning, an action, a weakness or a webhook delivery of one team cannot point at
/// another team's rows, nor a game day's event or learning at another game day's scenario.
#[sqlx::test]
async fn the_database_keeps_links_inside_their_team_and_game_day(db: PgPool) {
    let day = crate::gamedays::Day::new(db).await;
    let scenario_url = day.scenario("Our scenario").await;
    let theirs = other_team(&day).await;
    let db = &day.app.db;
    let gameday = day.id;
    let team = scalar(db, &format!("select team_id from gamedays where id = '{gameday}'")).await;
    assert_ne!(team, theirs.team);
    let ours: uuid::Uuid = scenario_url.rsplit('/').next().unwrap().parse().unwrap();
    let ana = day.id_of("ana@example.com").await;
    let OtherTeam { team: their_team, gameday: their_day, scenario: their_scenario, weakness, incident } = theirs;

    let cases = [
        (
            format!(
                "insert into scenarios (id, gameday_id, team_id, position) values (gen_random_uuid(), '{gameday}', '{their_team}', 9)"
            ),
            "scenarios_gameday_in_team",
        ),
        (format!("update scenarios set weakness_id = '{weakness}' where id = '{ours}'"), "scenarios_weakness_in_team"),
        (format!("update scenarios set incident_id = '{incident}' where id = '{ours}'"), "scenarios_incident_in_team"),
        (
            format!(
                "insert into timeline_events (gameday_id, seq, kind, scenario_id) values ('{gameday}', 1000, 'observation', '{their_scenario}')"
            ),
            "timeline_events_scenario_in_gameday",
        ),
        (
            format!(
                "insert into learnings (id, team_id, gameday_id, statement, search, author) values (gen_random_uuid(), '{team}', '{their_day}', 'x', '', '{ana}')"
            ),
            "learnings_gameday_in_team",
        ),
        (
            format!(
                "insert into learnings (id, team_id, gameday_id, scenario_id, statement, search, author) values (gen_random_uuid(), '{team}', '{gameday}', '{their_scenario}', 'x', '', '{ana}')"
            ),
            "learnings_scenario_in_gameday",
        ),
        (
            format!(
                "insert into learnings (id, team_id, scenario_id, statement, search, author) values (gen_random_uuid(), '{team}', '{their_scenario}', 'x', '', '{ana}')"
            ),
            "learnings_scenario_has_its_gameday",
        ),
        (
            format!(
                "insert into action_items (id, team_id, gameday_id, title, owner, created_by) values (gen_random_uuid(), '{team}', '{their_day}', 'x', '{ana}', '{ana}')"
            ),
            "action_items_gameday_in_team",
        ),
        (
            format!(
                "insert into action_items (id, team_id, gameday_id, retest_gameday_id, title, owner, created_by) values (gen_random_uuid(), '{team}', '{gameday}', '{their_day}', 'x', '{ana}', '{ana}')"
            ),
            "action_items_retest_gameday_in_team",
        ),
        (
            format!(
                "insert into weaknesses (id, team_id, title, found_in_scenario, created_by) values (gen_random_uuid(), '{team}', 'x', '{their_scenario}', '{ana}')"
            ),
            "weaknesses_found_in_scenario_in_team",
        ),
    ];
    let mut accepted = Vec::new();
    for (statement, constraint) in &cases {
        let refusal = match execute(db, statement).await {
            Ok(_) => "nothing".to_owned(),
            err => refused_by(err),
        };
        if refusal != *constraint {
            accepted.push(format!("{statement}\n  refused by {refusal}, not {constraint}"));
        }
    }
    assert!(accepted.is_empty(), "{}", accepted.join("\n"));

    // A webhook of this team is not sent the other team's events.
    let webhook = format!(
        "insert into webhooks (id, team_id, url, secret, kinds, created_by)
         values (gen_random_uuid(), '{team}', 'https://hooks.example/x', 's', '{{scenario_announced}}', '{ana}')"
    );
    execute(db, &webhook).await.unwrap();
    let deliver = |gameday: uuid::Uuid| {
        format!(
            "insert into webhook_deliveries (webhook_id, gameday_id, seq, kind, payload)
             select id, '{gameday}', 1, 'scenario_announced', '{{}}' from webhooks where team_id = '{team}'"
        )
    };
    assert_eq!(refused_by(execute(db, &deliver(their_day)).await), "webhook_deliveries_gameday_in_team");
    execute(db, &deliver(gameday)).await.expect("its own game day's event is delivered");
    let no_event = format!(
        "insert into webhook_deliveries (webhook_id, gameday_id, seq, kind, payload)
         select id, '{gameday}', 1000, 'scenario_announced', '{{}}' from webhooks where team_id = '{team}'"
    );
    assert_eq!(refused_by(execute(db, &no_event).await), "webhook_deliveries_event_exists");

    // Within the team and the game day, the same links are made.
    let our_weakness = format!(
        "insert into weaknesses (id, team_id, title, found_in_scenario, created_by) values (gen_random_uuid(), '{team}', 'x', '{ours}', '{ana}')"
    );
    execute(db, &our_weakness).await.expect("a weakness found by one of the team's scenarios");
    let link = format!(
        "update scenarios set weakness_id = (select id from weaknesses where team_id = '{team}') where id = '{ours}'"
    );
    execute(db, &link).await.expect("a scenario linked to its team's weakness");
}

/// The database itself records a sign-off only on the scenario's current revision: once a
/// scenario is revised, nobody approves or objects to the revision it replaced.
#[sqlx::test]
async fn the_database_takes_sign_offs_only_on_the_current_revision(db: PgPool) {
    use reqwest::StatusCode;
    let day = crate::gamedays::Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    assert_eq!(day.sign(&day.li, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    let owner = day.id_of("ana@example.com").await;
    let mut form = crate::gamedays::scenario_form("Stop the primary", &owner);
    form.retain(|(k, _)| *k != "fault");
    form.push(("fault", "Stop the primary database container for five minutes."));
    assert_eq!(day.app.post_as(&day.ana, &format!("{scenario}/edit"), &form).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.revision(&scenario).await, 2);
    let db = &day.app.db;
    let bo = day.id_of("bo@example.com").await;
    let sid = scenario.rsplit('/').next().unwrap();

    let late = format!(
        "insert into signoffs (scenario_id, revision, user_id, decision) values ('{sid}', 1, '{bo}', 'approve')"
    );
    assert_eq!(refused_by(execute(db, &late).await), "signoff_on_current_revision");
    let changed = "update signoffs set decision = 'object', reason = 'changed my mind' where revision = 1";
    assert_eq!(refused_by(execute(db, changed).await), "signoff_on_current_revision");

    assert_eq!(day.sign(&day.bo, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
    let current = format!("select count(*) from signoffs where revision = 2 and user_id = '{bo}'");
    assert_eq!(sqlx::query_scalar::<_, i64>(&current).fetch_one(db).await.unwrap(), 1, "the current one is signed");
}

/// The database itself keeps a published retrospective as it was published: its text, status and
/// its scenarios' observed impacts; addenda are still added.
#[sqlx::test]
async fn the_database_keeps_a_published_retrospective_as_it_was(db: PgPool) {
    use reqwest::StatusCode;
    let (day, scenario) = crate::retros::completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let observed = format!("observed_{sid}");
    let text = [("summary", "Failover took 40 s."), ("went_well", ""), ("surprised_us", ""), (&observed, "40 s")];
    assert_eq!(day.app.post_as(&day.ana, &retro, &text).await.status(), StatusCode::SEE_OTHER);
    let db = &day.app.db;
    execute(db, "update retrospectives set went_well = 'The runbook.'").await.expect("a draft is still written");
    for step in ["submit", "publish"] {
        assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/{step}"), &[]).await.status(), StatusCode::SEE_OTHER);
    }

    for statement in [
        "update retrospectives set summary = 'Rewritten history'",
        "update retrospectives set went_well = ''",
        "update retrospectives set surprised_us = 'Nothing'",
        "update retrospectives set status = 'in_review', published_at = null",
        "update retrospectives set published_at = now() - interval '1 day'",
        "delete from retrospectives",
        "update retro_observed_impacts set observed_impact = 'none'",
        "delete from retro_observed_impacts",
    ] {
        assert_eq!(refused_by(execute(db, statement).await), "published_retrospective_is_final", "{statement}");
    }
    let addendum = [("kind", "addendum"), ("body", "The alert is in place now.")];
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/notes"), &addendum).await.status(), StatusCode::SEE_OTHER);
    let summary: String = sqlx::query_scalar("select summary from retrospectives").fetch_one(db).await.unwrap();
    assert_eq!(summary, "Failover took 40 s.");
}

/// The database itself refuses text longer than the field's form accepts, with a constraint
/// named for the column; text of exactly that length is stored.
#[sqlx::test]
async fn the_database_refuses_text_longer_than_its_form_allows(db: PgPool) {
    use reqwest::StatusCode;
    let (day, scenario) = crate::retros::completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let observed = format!("observed_{sid}");
    let text = [("summary", "s"), ("went_well", ""), ("surprised_us", ""), (&observed, "o")];
    assert_eq!(day.app.post_as(&day.ana, &retro, &text).await.status(), StatusCode::SEE_OTHER);
    let learning = [("statement", "Alerts lag."), ("tags", "alerting")];
    let learnings = format!("{}/learnings", day.url);
    assert_eq!(day.app.post_as(&day.li, &learnings, &learning).await.status(), StatusCode::SEE_OTHER);
    let owner = day.id_of("li@example.com").await;
    let action =
        [("title", "Add the alert"), ("owner", &owner), ("due_on", ""), ("link", "https://x.example"), ("retest", "")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{}/actions", day.url), &action).await.status(),
        StatusCode::SEE_OTHER
    );
    let slug = &day.slug;
    let weakness = [("title", "Replica lag"), ("description", "d")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("/teams/{slug}/weaknesses"), &weakness).await.status(),
        StatusCode::SEE_OTHER
    );
    let incident =
        [("title", "Disk full"), ("happened_on", "2026-03-14"), ("summary", "s"), ("link", "https://x.example")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("/teams/{slug}/incidents"), &incident).await.status(),
        StatusCode::SEE_OTHER
    );
    let db = &day.app.db;
    let reason = "update signoffs set decision = 'object', reason = $1";
    let cancelled = "update gamedays set status = 'cancelled', cancel_reason = $1";

    let fields = [
        (cancelled, 500, "gamedays_cancel_reason_length"),
        ("update scenarios set conclusion_note = $1", 4000, "scenarios_conclusion_note_length"),
        ("update scenario_revisions set title = $1", 120, "scenario_revisions_title_length"),
        ("update scenario_revisions set hypothesis = $1", 4000, "scenario_revisions_hypothesis_length"),
        ("update scenario_revisions set fault = $1", 4000, "scenario_revisions_fault_length"),
        ("update scenario_revisions set target_system = $1", 120, "scenario_revisions_target_system_length"),
        ("update scenario_revisions set expected_impact = $1", 4000, "scenario_revisions_expected_impact_length"),
        ("update scenario_revisions set abort_criteria = $1", 4000, "scenario_revisions_abort_criteria_length"),
        ("update scenario_revisions set rollback_plan = $1", 4000, "scenario_revisions_rollback_plan_length"),
        (reason, 2000, "signoffs_reason_length"),
        ("update retrospectives set summary = $1", 8000, "retrospectives_summary_length"),
        ("update retrospectives set went_well = $1", 8000, "retrospectives_went_well_length"),
        ("update retrospectives set surprised_us = $1", 8000, "retrospectives_surprised_us_length"),
        (
            "update retro_observed_impacts set observed_impact = $1",
            4000,
            "retro_observed_impacts_observed_impact_length",
        ),
        ("update weaknesses set description = $1", 4000, "weaknesses_description_length"),
        ("update incidents set summary = $1", 4000, "incidents_summary_length"),
        ("update incidents set link = 'https://' || $1", 500 - 8, "incidents_link_length"),
        ("update action_items set link = 'https://' || $1", 500 - 8, "action_items_link_length"),
    ];
    let mut accepted = Vec::new();
    for (statement, limit, constraint) in fields {
        let fits = "é".repeat(limit);
        sqlx::query(statement)
            .bind(&fits)
            .execute(db)
            .await
            .unwrap_or_else(|e| panic!("{limit} fit: {statement}: {e}"));
        let refusal = match sqlx::query(statement).bind(format!("{fits}x")).execute(db).await {
            Ok(_) => "nothing".to_owned(),
            err => refused_by(err),
        };
        if refusal != constraint {
            accepted.push(format!("{statement} with {} characters: refused by {refusal}", limit + 1));
        }
    }
    assert!(accepted.is_empty(), "{}", accepted.join("\n"));

    let tags =
        |count: usize, length: usize| (0..count).map(|i| format!("{i}{}", "t".repeat(length - 1))).collect::<Vec<_>>();
    let set_tags = "update learnings set tags = $1";
    sqlx::query(set_tags).bind(tags(10, 30)).execute(db).await.expect("ten tags of 30 characters fit");
    for too_many_or_long in [tags(11, 5), tags(1, 31)] {
        let over = sqlx::query(set_tags).bind(too_many_or_long).execute(db).await;
        assert_eq!(refused_by(over), "learnings_tags_length");
    }
}
