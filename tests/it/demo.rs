//! "Explore a demo team": a new person's empty dashboard offers it; it makes a team they lead
//! with a completed game day spread over hours a week ago and the next one waiting for them.

use reqwest::StatusCode;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{TestApp, location, spawn_app, user_id};

/// Signs up Ana, presses "Explore a demo team", and returns the app, the demo team's slug and Ana's id.
async fn explored(db: PgPool) -> (TestApp, String, Uuid) {
    let app = spawn_app(db).await;
    app.signup_as(&app.client, "ana@example.com", "Ana").await;
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("Explore a demo team"), "an empty dashboard offers the demo");
    let response = app.post("/demo", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let slug = location(&response).trim_start_matches("/teams/").to_owned();
    assert!(slug.starts_with("demo-"), "{slug}");
    let ana = user_id(&app.db, "ana@example.com").await;
    (app, slug, ana)
}

async fn gameday_of(db: &PgPool, slug: &str, status: &str) -> Uuid {
    sqlx::query_scalar(
        "select g.id from gamedays g join teams t on t.id = g.team_id where t.slug = $1 and g.status::text = $2",
    )
    .bind(slug)
    .bind(status)
    .fetch_one(db)
    .await
    .unwrap()
}

#[sqlx::test]
async fn the_demo_is_a_completed_day_a_week_ago_and_the_next_one_waiting_for_me(db: PgPool) {
    let (app, slug, ana) = explored(db).await;

    // A team Ana leads, marked as a demo, with three made-up people who cannot sign in.
    let (role, demo): (String, bool) = sqlx::query_as(
        "select m.role::text, t.demo from teams t join team_members m on m.team_id = t.id where t.slug = $1 and m.user_id = $2",
    )
    .bind(&slug)
    .bind(ana)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((role.as_str(), demo), ("lead", true));
    let team = app.get(&format!("/teams/{slug}")).await.text().await.unwrap();
    assert!(team.contains("This is a demo team, made for you."));
    assert!(team.contains("Checkout resilience game day") && team.contains("Payments and database re-test"));

    // The completed day: one held, one refuted, one halted (then concluded), spread over hours.
    let past = gameday_of(&app.db, &slug, "completed").await;
    let outcomes: Vec<(String, Option<String>)> = sqlx::query_as(
        "select s.title, s.outcome::text from current_scenarios s where s.gameday_id = $1 order by s.position",
    )
    .bind(past)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let outcomes: Vec<_> = outcomes.iter().map(|(_, o)| o.as_deref()).collect();
    assert_eq!(outcomes, [Some("held"), Some("refuted"), Some("inconclusive")]);
    let kinds: Vec<String> = sqlx::query_scalar("select kind from timeline_events where gameday_id = $1 order by seq")
        .bind(past)
        .fetch_all(&app.db)
        .await
        .unwrap();
    for kind in [
        "scenario_announced",
        "scenario_injected",
        "scenario_halted",
        "observation",
        "correction",
        "retrospective_published",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "the timeline has a {kind}: {kinds:?}");
    }
    let times: Vec<OffsetDateTime> =
        sqlx::query_scalar("select at from timeline_events where gameday_id = $1 order by seq")
            .bind(past)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "events are numbered in the order of their times");
    let (started, ended): (OffsetDateTime, OffsetDateTime) = sqlx::query_as(
        "select min(at) filter (where kind = 'gameday_started'), min(at) filter (where kind = 'gameday_completed') from timeline_events where gameday_id = $1",
    )
    .bind(past)
    .fetch_one(&app.db)
    .await
    .unwrap();
    let ago = OffsetDateTime::now_utc() - started;
    assert!(ago > time::Duration::days(6) && ago < time::Duration::days(8), "started a week ago: {ago}");
    assert!(ended - started > time::Duration::hours(4), "the day took hours: {}", ended - started);

    // The game day page shows the timings derived from the markers; the retrospective is published.
    let page = app.get(&format!("/teams/{slug}/gamedays/{past}")).await.text().await.unwrap();
    assert!(page.contains(">demo</span>"), "the game day page says it is a demo's");
    assert!(page.contains("detected in 1m 00s"), "the held scenario was detected a minute after its injection");
    let retro = app.get(&format!("/teams/{slug}/gamedays/{past}/retrospective")).await.text().await.unwrap();
    assert!(retro.contains("Published") && retro.contains("Immediate retries turn a slow dependency"));

    // A known weakness, learnings and actions, one of them Ana's.
    let (weaknesses, learnings, mine): (i64, i64, i64) = sqlx::query_as(
        r#"select (select count(*) from weaknesses w join teams t on t.id = w.team_id where t.slug = $1 and w.status = 'open'),
                  (select count(*) from learnings where gameday_id = $2),
                  (select count(*) from action_items where gameday_id = $2 and owner = $3)"#,
    )
    .bind(&slug)
    .bind(past)
    .bind(ana)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((weaknesses, learnings, mine), (1, 3, 1));

    // The next day is scheduled ahead, replays the incident, and waits for Ana's sign-off only.
    let next = gameday_of(&app.db, &slug, "scheduled").await;
    let (starts_at, replayed): (OffsetDateTime, i64) = sqlx::query_as(
        "select g.starts_at, (select count(*) from scenarios s where s.gameday_id = g.id and s.incident_id is not null) from gamedays g where g.id = $1",
    )
    .bind(next)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(starts_at > OffsetDateTime::now_utc() + time::Duration::days(6));
    assert_eq!(replayed, 1);
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("Payments and database re-test"));
    assert!(
        home.contains("Replay: orders-db connection pool exhausted"),
        "waiting for Ana's sign-off on the dashboard"
    );
    assert!(!home.contains("Explore a demo team"), "no offer once Ana is in a team");
}

#[sqlx::test]
async fn exploring_again_finds_the_same_demo_and_archiving_hides_it(db: PgPool) {
    let (app, slug, _) = explored(db).await;
    let again = app.post("/demo", &[]).await;
    assert_eq!(location(&again), format!("/teams/{slug}"), "a second press leads to the same team");
    let teams: i64 = sqlx::query_scalar("select count(*) from teams where demo").fetch_one(&app.db).await.unwrap();
    assert_eq!(teams, 1);
    // Two presses at once (a double click) make one team too.
    let bo = app.user("bo@example.com", "Bo").await;
    let (one, two) = tokio::join!(app.post_as(&bo, "/demo", &[]), app.post_as(&bo, "/demo", &[]));
    assert_eq!(location(&one), location(&two));
    let teams: i64 = sqlx::query_scalar("select count(*) from teams where demo").fetch_one(&app.db).await.unwrap();
    assert_eq!(teams, 2);

    let response = app.post(&format!("/teams/{slug}/demo/archive"), &[]).await;
    assert_eq!((response.status(), location(&response)), (StatusCode::SEE_OTHER, "/".to_owned()));
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("is archived and hidden"));
    assert!(home.contains("Explore a demo team"), "the offer is back: no active team left");
    let team = app.get(&format!("/teams/{slug}")).await.text().await.unwrap();
    assert!(!team.contains("Archive and hide this demo"));
}

#[sqlx::test]
async fn only_a_demo_is_archived_that_way_and_only_by_its_lead(db: PgPool) {
    let (app, slug, _) = explored(db).await;
    let real = app.team(&app.client, "Payments").await;
    assert_eq!(app.post(&format!("/teams/{real}/demo/archive"), &[]).await.status(), StatusCode::NOT_FOUND);
    let outsider = app.user("bo@example.com", "Bo").await;
    assert_eq!(
        app.post_as(&outsider, &format!("/teams/{slug}/demo/archive"), &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get_as(&outsider, &format!("/teams/{slug}")).await.status(), StatusCode::NOT_FOUND);
    let archived: bool = sqlx::query_scalar("select archived_at is not null from teams where slug = $1")
        .bind(&slug)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!archived);
    // Signed out, the button leads to sign-in.
    let response = crate::helpers::new_client().post(app.url("/demo")).send().await.unwrap();
    assert!(location(&response).starts_with("/signin"), "{}", location(&response));
}

#[sqlx::test]
async fn the_demos_people_cannot_sign_in_and_its_clock_stays_its_own(db: PgPool) {
    let (app, _, _) = explored(db).await;
    let emails: Vec<String> = sqlx::query_scalar("select email from users where email like '%@demo.gameday.invalid'")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(emails.len(), 3);
    for password in ["!", "", "correct horse battery"] {
        let response = crate::helpers::new_client()
            .post(app.url("/signin"))
            .form(&[("email", emails[0].as_str()), ("password", password)])
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status.is_client_error() || status == StatusCode::OK,
            "a demo person cannot sign in with {password:?}: {status}"
        );
    }
    // Whatever the app does next is recorded at the real time: the story's clock left with its connection.
    let real = app.team(&app.client, "Payments").await;
    let created: OffsetDateTime = sqlx::query_scalar("select created_at from teams where slug = $1")
        .bind(&real)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!((OffsetDateTime::now_utc() - created).abs() < time::Duration::minutes(1), "{created}");
    // Every connection the app's pool can hand out (all held at once, so each is a different one).
    // At the pool's size limit one may stay held elsewhere (a background task's; the story's own
    // connection is not the pool's, checked below): stop when none comes within 2 s.
    let mut held = Vec::new();
    for _ in 0..app.db.size().max(1) {
        let Ok(conn) = tokio::time::timeout(std::time::Duration::from_secs(2), app.db.acquire()).await else {
            break;
        };
        let mut conn = conn.unwrap_or_else(|err| panic!("a connection of the app's pool: {err}"));
        let clock: String = sqlx::query_scalar("select coalesce(current_setting('gameday.now', true), '')")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(clock, "", "no connection of the app's pool has the story's clock");
        held.push(conn);
    }
    assert!(!held.is_empty(), "at least one connection of the app's pool was checked");
    drop(held);
    // The builder closed its connection; PostgreSQL ends the backend a moment after the client left.
    let mut open: i64 = -1;
    for _ in 0..50 {
        open = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and application_name = 'gameday-demo'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0, "the builder's connection is closed");
}

#[sqlx::test]
async fn every_recorded_time_reads_the_one_clock(db: PgPool) {
    gameday::db::migrate(&db).await.unwrap();
    let own_clocks: Vec<String> = sqlx::query_scalar(
        r#"select table_name || '.' || column_name || ' = ' || column_default from information_schema.columns
           where table_schema = current_schema() and table_name <> '_sqlx_migrations'
             and lower(column_default) in ('now()', 'clock_timestamp()', 'current_timestamp', 'statement_timestamp()',
                                           'transaction_timestamp()', 'localtimestamp')"#,
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(own_clocks.is_empty(), "these columns take their time from elsewhere than gameday_now(): {own_clocks:?}");
    let kept: Vec<String> = sqlx::query_scalar(
        "select table_name from information_schema.columns where column_default = 'gameday_clock()' order by 1",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(kept, ["team_audit", "timeline_events"]);
}

#[sqlx::test]
async fn a_person_with_a_demo_team_can_still_delete_their_account(db: PgPool) {
    let (app, slug, ana) = explored(db).await;
    let response = app.post("/account/delete", &[("password", "correct horse battery")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the demo's made-up people do not hold the account");
    let (erased, still_lead): (bool, bool) = sqlx::query_as(
        r#"select u.erased_at is not null,
                  exists (select 1 from team_members m join teams t on t.id = m.team_id where t.slug = $2 and m.user_id = u.id and m.role = 'lead')
           from users u where u.id = $1"#,
    )
    .bind(ana)
    .bind(&slug)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((erased, still_lead), (true, true), "the demo team stays, a record, with its former lead");
}

#[sqlx::test]
async fn a_demo_with_a_running_day_is_not_archived_and_nothing_is_cancelled(db: PgPool) {
    let (app, slug, _) = explored(db).await;
    let next = gameday_of(&app.db, &slug, "scheduled").await;
    let started = app.post(&format!("/teams/{slug}/gamedays/{next}/start"), &[]).await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let response = app.post(&format!("/teams/{slug}/demo/archive"), &[]).await;
    assert_eq!(location(&response), format!("/teams/{slug}"), "back to the team page with the reason");
    let page = app.get(&format!("/teams/{slug}")).await.text().await.unwrap();
    assert!(page.contains("cannot be archived while a game day is scheduled or running"), "{page}");
    let (archived, status): (bool, String) = sqlx::query_as(
        "select t.archived_at is not null, g.status::text from teams t join gamedays g on g.team_id = t.id where g.id = $1",
    )
    .bind(next)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((archived, status.as_str()), (false, "running"));
}
