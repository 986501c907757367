//! `/metrics`: the Prometheus text format, only with the configured bearer token, labelled by
//! route templates (never raw paths), and accepted by `promtool check metrics`.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::gamedays::GAMEDAY_FORM;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const TOKEN: &str = "scrape-me-7f3a9c";

async fn app_with_token(db: PgPool) -> TestApp {
    spawn_app_with(db, |c| c.metrics_token = Some(TOKEN.into())).await
}

async fn scrape(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let request = reqwest::Client::new().get(app.url("/metrics"));
    let request = match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    };
    request.send().await.unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[sqlx::test]
async fn metrics_are_not_found_when_no_token_is_configured(db: PgPool) {
    let app = spawn_app(db).await;

    let response = scrape(&app, Some("Bearer anything")).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn metrics_are_not_found_without_the_right_bearer_token(db: PgPool) {
    let app = app_with_token(db).await;

    for authorization in [None, Some("Bearer wrong"), Some(TOKEN), Some(&*format!("Basic {TOKEN}"))] {
        let response = scrape(&app, authorization).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{authorization:?}");
        assert!(!response.text().await.unwrap().contains("gameday_"), "{authorization:?}");
    }
}

#[sqlx::test]
async fn metrics_count_requests_by_route_template_never_by_raw_path(db: PgPool) {
    let app = app_with_token(db).await;
    let secret_path_part = "a1b2c3-invite-token-in-the-path";
    assert_eq!(app.get(&format!("/invites/{secret_path_part}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    let text = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await.text().await.unwrap();

    assert!(sample(&text, r#"gameday_http_requests_total{route="/invites/{token}",status="404"}"#).unwrap() >= 1.0);
    assert!(sample(&text, r#"gameday_http_requests_total{route="/readyz",status="200"}"#).unwrap() >= 1.0);
    assert!(text.contains(r#"gameday_http_request_duration_seconds_bucket{route="/readyz",le="0.1"}"#), "{text}");
    assert!(!text.contains(secret_path_part), "no raw path reaches the metrics");
}

#[sqlx::test]
async fn metrics_show_open_streams_the_pool_webhook_backlog_and_events_written(db: PgPool) {
    let app = app_with_token(db).await;
    let lead = app.user("ana@example.com", "Ana").await;
    let slug = app.team(&lead, "Payments").await;
    let created = app.post_as(&lead, &format!("/teams/{slug}/gamedays"), &GAMEDAY_FORM).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER, "a game day is created (an event is recorded)");
    let stream = lead.get(app.url("/live")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);

    let text = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await.text().await.unwrap();

    assert!(sample(&text, "gameday_live_streams_open").unwrap() >= 1.0, "{text}");
    assert!(sample(&text, r#"gameday_db_pool_connections{state="max"}"#).unwrap() >= 1.0, "{text}");
    assert!(sample(&text, r#"gameday_db_pool_connections{state="idle"}"#).is_some(), "{text}");
    assert!(sample(&text, r#"gameday_db_pool_connections{state="in_use"}"#).is_some(), "{text}");
    assert!(sample(&text, "gameday_webhook_deliveries_pending").is_some(), "{text}");
    assert!(sample(&text, "gameday_events_written_total").unwrap() >= 1.0, "{text}");
    drop(stream);
}

#[sqlx::test]
async fn promtool_accepts_the_metrics(db: PgPool) {
    let app = app_with_token(db).await;
    app.user("ana@example.com", "Ana").await;
    app.get("/readyz").await;
    let text = scrape(&app, Some(&format!("Bearer {TOKEN}"))).await.text().await.unwrap();

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus; scripts/test-deps.sh installs it)");
    promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = promtool.wait_with_output().unwrap();

    assert!(
        output.status.success(),
        "promtool check metrics refused the output:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
