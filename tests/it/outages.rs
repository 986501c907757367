//! A database that cannot serve (no free connection, a statement stuck behind a lock, a server
//! gone) is answered 503 with `Retry-After` within the pool's and the statement's timeouts, never
//! 500 and never a queue without bound; `/readyz` says not ready meanwhile.

use gameday::config::Config;
use reqwest::{Response, StatusCode};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::helpers::{TestApp, spawn_app_with};

/// The app over its own pool of the test's database, built as the configuration says: its size,
/// its acquire timeout and every connection's statement timeout.
pub async fn app_with_pool(db: &PgPool, adjust: impl FnOnce(&mut Config)) -> (TestApp, PgPool) {
    let mut config = Config::for_bind("127.0.0.1:0".parse().unwrap());
    adjust(&mut config);
    let options = gameday::db::with_timeouts(db.connect_options().as_ref().clone(), &config);
    let pool = gameday::db::pool_options(&config).connect_lazy_with(options);
    let app = spawn_app_with(pool.clone(), |c| {
        c.db_max_connections = config.db_max_connections;
        c.db_acquire_timeout_ms = config.db_acquire_timeout_ms;
        c.db_statement_timeout_ms = config.db_statement_timeout_ms;
        c.db_lock_timeout_ms = config.db_lock_timeout_ms;
    })
    .await;
    (app, pool)
}

/// A connection of the test's own, outside the app's pool.
async fn other_connection(db: &PgPool) -> PgConnection {
    PgConnection::connect_with(db.connect_options().as_ref()).await.unwrap()
}

fn assert_unavailable(response: &Response, what: &str) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5"),
        "{what}: a 503 says when to try again"
    );
}

#[sqlx::test]
async fn the_configured_pool_sets_every_connections_statement_and_lock_timeouts(db: PgPool) {
    let (app, pool) = app_with_pool(&db, |c| {
        c.db_statement_timeout_ms = 1234;
        c.db_lock_timeout_ms = 567;
    })
    .await;
    let statement: String = sqlx::query_scalar("show statement_timeout").fetch_one(&pool).await.unwrap();
    let lock: String = sqlx::query_scalar("show lock_timeout").fetch_one(&pool).await.unwrap();
    assert_eq!((statement.as_str(), lock.as_str()), ("1234ms", "567ms"));
    app.stop().await;
}

#[sqlx::test]
async fn a_statement_stuck_behind_a_lock_answers_503_with_retry_after(db: PgPool) {
    let (app, _pool) = app_with_pool(&db, |c| c.db_statement_timeout_ms = 300).await;
    let lead = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&lead, "Payments").await;
    let mut holder = other_connection(&db).await;
    sqlx::query("begin").execute(&mut holder).await.unwrap();
    sqlx::query("lock table teams in access exclusive mode").execute(&mut holder).await.unwrap();

    let page = app.get_as(&lead, &format!("/teams/{slug}")).await;

    assert_unavailable(&page, "a page whose query the statement timeout cancelled");
    assert!(page.text().await.unwrap().contains("Temporarily unavailable"));
    sqlx::query("rollback").execute(&mut holder).await.unwrap();
}

#[sqlx::test]
async fn the_sign_in_layer_stuck_behind_a_lock_answers_503_not_500(db: PgPool) {
    let (app, _pool) = app_with_pool(&db, |c| c.db_statement_timeout_ms = 300).await;
    let ana = app.user("ana@example.com", "Ana").await;
    let mut holder = other_connection(&db).await;
    sqlx::query("begin").execute(&mut holder).await.unwrap();
    // The sign-in layer reads the user behind the session before any handler runs.
    sqlx::query("lock table users in access exclusive mode").execute(&mut holder).await.unwrap();

    let page = app.get_as(&ana, "/").await;

    assert_unavailable(&page, "the sign-in layer's query cancelled by the statement timeout");
    sqlx::query("rollback").execute(&mut holder).await.unwrap();
}

#[sqlx::test]
async fn readyz_says_not_ready_after_requests_found_the_database_overloaded(db: PgPool) {
    let (app, _pool) = app_with_pool(&db, |c| c.db_statement_timeout_ms = 300).await;
    let lead = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&lead, "Payments").await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let mut holder = other_connection(&db).await;
    sqlx::query("begin").execute(&mut holder).await.unwrap();
    sqlx::query("lock table teams in access exclusive mode").execute(&mut holder).await.unwrap();
    assert_unavailable(&app.get_as(&lead, &format!("/teams/{slug}")).await, "the page behind the lock");

    // A ping still answers, but the instance is not serving pages: it says so.
    assert_unavailable(&app.get("/readyz").await, "readyz after a statement timeout");
    sqlx::query("rollback").execute(&mut holder).await.unwrap();
}

#[sqlx::test]
async fn readyz_hears_of_an_observation_stuck_behind_a_lock_in_the_writers_task(db: PgPool) {
    // Observations are recorded by a writer task of their game day (group commit), not by the
    // request: the overload it meets is the request's too.
    let (app, _pool) = app_with_pool(&db, |c| c.db_lock_timeout_ms = 300).await;
    let day = crate::gamedays::Day::with_app(app).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    assert_eq!(day.app.get("/readyz").await.status(), StatusCode::OK);
    let mut holder = other_connection(&db).await;
    sqlx::query("begin").execute(&mut holder).await.unwrap();
    sqlx::query("lock table timeline_events in exclusive mode").execute(&mut holder).await.unwrap();

    let posted = day.app.post_as(&day.li, &format!("{}/observations", day.url), &[("body", "Alert fired")]).await;

    assert_unavailable(&posted, "an observation whose batch the lock timeout cancelled");
    assert_unavailable(&day.app.get("/readyz").await, "readyz after an observation met the lock timeout");
    sqlx::query("rollback").execute(&mut holder).await.unwrap();
}

#[sqlx::test]
async fn an_exhausted_pool_answers_503_with_retry_after_and_readyz_not_ready(db: PgPool) {
    let (app, pool) = app_with_pool(&db, |c| {
        c.db_max_connections = 3;
        c.db_acquire_timeout_ms = 300;
    })
    .await;
    let ana = app.user("ana@example.com", "Ana").await;
    // Every connection of the app's pool is taken (as by slow requests) and kept: the live
    // listener keeps one, the test the two others. The webhook worker holds one now and then, so
    // each is waited for a few times.
    let mut held = Vec::new();
    for _ in 0..50 {
        if let Ok(conn) = pool.acquire().await {
            held.push(conn);
        }
        if held.len() == 2 {
            break;
        }
    }
    assert_eq!(held.len(), 2, "the test holds the whole pool");

    let page = app.get_as(&ana, "/").await;
    let ready = app.get("/readyz").await;

    assert_unavailable(&page, "a signed-in page with no connection to be had");
    assert_unavailable(&ready, "readyz with no connection to be had");
    drop(held);
    assert_eq!(app.get_as(&ana, "/").await.status(), StatusCode::OK, "served again once connections are free");
}

#[tokio::test]
async fn a_database_that_refuses_connections_answers_503_with_retry_after() {
    // Nothing listens on port 1: a pool that can never connect.
    let db = PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(300))
        .connect_lazy("postgres://gameday:gameday@127.0.0.1:1/gameday")
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = gameday::state::AppState::new(db, Config::for_bind(addr));
    tokio::spawn(gameday::app::serve(listener, state, std::future::pending()));
    let client = reqwest::Client::new();

    let form = [("email", "ana@example.com"), ("password", "correct horse battery")];
    let signin = client.post(format!("http://{addr}/signin")).form(&form).send().await.unwrap();
    let ready = client.get(format!("http://{addr}/readyz")).send().await.unwrap();

    assert_unavailable(&signin, "signing in with the database refusing connections");
    assert_unavailable(&ready, "readyz with the database refusing connections");
}
