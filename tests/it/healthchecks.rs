//! Health checks that guard the fault, against a real HTTP service on loopback whose answer the
//! test switches (200 → 503, fast → slow, a JSON field changing): the announce refused while a
//! check fails, an injected fault halted by a failing check, the recovery measured after the roll
//! back, and each check run once per interval with two instances up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::gamedays::Day;
use crate::helpers::spawn_app_with;
use crate::live::Stream;

/// What the service answers now.
#[derive(Clone)]
struct Answer {
    status: u16,
    delay_ms: u64,
    body: String,
}

#[derive(Clone)]
pub(crate) struct Service {
    pub(crate) url: String,
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
    /// The `authorization` header of each request.
    authorizations: Arc<Mutex<Vec<String>>>,
}

async fn health(State(s): State<Service>, headers: HeaderMap) -> (AxumStatus, String) {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    s.authorizations.lock().unwrap().push(auth);
    let answer = s.answer.lock().unwrap().clone();
    tokio::time::sleep(Duration::from_millis(answer.delay_ms)).await;
    (AxumStatus::from_u16(answer.status).unwrap(), answer.body)
}

impl Service {
    pub(crate) async fn start() -> Service {
        let service = Service {
            url: String::new(),
            answer: Arc::new(Mutex::new(Answer { status: 200, delay_ms: 0, body: r#"{"status":"ok"}"#.into() })),
            hits: Arc::default(),
            authorizations: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/health", axum::routing::get(health)).with_state(service.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Service { url, ..service }
    }

    pub(crate) fn set(&self, status: u16, delay_ms: u64, body: &str) {
        *self.answer.lock().unwrap() = Answer { status, delay_ms, body: body.into() };
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Checks may reach loopback (where the service runs), and the worker looks often.
pub(crate) fn loopback(config: &mut gameday::config::Config) {
    config.health_check_allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.health_check_poll_ms = 50;
}

async fn add_check(day: &Day, fields: &[(&str, &str)]) -> reqwest::Response {
    day.app.post_as(&day.ana, &format!("/teams/{}/health-checks", day.slug), fields).await
}

async fn check_id(db: &PgPool, name: &str) -> Uuid {
    sqlx::query_scalar("select id from health_checks where name = $1").bind(name).fetch_one(db).await.unwrap()
}

/// Ana adds a check of the service's /health (200 within `max_ms`) and attaches it to the scenario.
async fn guard(day: &Day, service: &Service, scenario: &str, (name, interval, auto_halt): (&str, &str, bool)) {
    let response =
        add_check(day, &[("name", name), ("url", &service.url), ("statuses", "200"), ("max_ms", "500")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "check added");
    let id = check_id(&day.app.db, name).await.to_string();
    let mut form = vec![("check", id.as_str()), ("interval_secs", interval)];
    if auto_halt {
        form.push(("auto_halt", "yes"));
    }
    let response = day.run(&day.ana, scenario, "health-checks", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "check attached");
}

/// The game day's events as (kind, body, data), in order.
async fn events(db: &PgPool, gameday: Uuid) -> Vec<(String, String, Value)> {
    sqlx::query_as("select kind, body, data from timeline_events where gameday_id = $1 order by seq")
        .bind(gameday)
        .fetch_all(db)
        .await
        .unwrap()
}

/// A page's text with the quotes askama escapes written plainly.
fn plain(page: &str) -> String {
    page.replace("&#34;", "\"").replace("&quot;", "\"").replace("&#39;", "'")
}

async fn wait_for_state(day: &Day, scenario: &str, state: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if day.state(scenario).await == state {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn wait_for_kind(day: &Day, kind: &str, within: Duration) -> Option<(String, Value)> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if let Some((_, body, data)) = events(&day.app.db, day.id).await.into_iter().rev().find(|(k, _, _)| k == kind) {
            return Some((body, data));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[sqlx::test]
async fn a_library_check_runs_now_and_its_secret_header_is_sent_but_never_shown(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    let library = format!("/teams/{}/health-checks", day.slug);
    assert!(day.page(&day.ana, &library).await.contains("No checks yet"), "the empty library says what to do");

    let response = add_check(
        &day,
        &[
            ("name", "checkout answers"),
            ("url", &service.url),
            ("headers", "Accept: application/json"),
            ("secret_headers", "Authorization: Bearer s3cr3t-token"),
            ("statuses", "200"),
            ("max_ms", "500"),
            ("json_pointer", "/status"),
            ("json_expect", "ok"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id = check_id(&day.app.db, "checkout answers").await;
    let ran = day.app.post_as(&day.ana, &format!("{library}/{id}/run"), &[]).await;
    assert_eq!(ran.status(), StatusCode::OK);
    let page = plain(&ran.text().await.unwrap());
    assert!(page.contains("Passes: 200 in"), "{page}");
    assert!(page.contains("Judged: <code>\"ok\"</code>"), "the judged value is shown");
    assert_eq!(service.authorizations.lock().unwrap().last().unwrap(), "Bearer s3cr3t-token", "the secret was sent");
    for path in [library.clone(), format!("{library}/{id}")] {
        let page = day.page(&day.ana, &path).await;
        assert!(!page.contains("s3cr3t"), "{path} never shows the secret");
        assert!(page.contains("Authorization"), "{path} names the secret header");
    }

    // The service breaks: Run now says what it saw and what was expected.
    service.set(503, 0, r#"{"status":"down"}"#);
    let page = plain(&day.app.post_as(&day.ana, &format!("{library}/{id}/run"), &[]).await.text().await.unwrap());
    assert!(page.contains("Fails: got 503 in"), "{page}");
    assert!(page.contains("(expected 200 in under 500 ms with /status = \"ok\")"), "{page}");

    // Bad input: 422, the message beside the field, what was typed kept (but never a secret).
    let response = add_check(
        &day,
        &[
            ("name", "typed name"),
            ("url", "ftp://x"),
            ("headers", "Authorization: Bearer leak"),
            ("secret_headers", "X-Key: kept-out"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("starts with http:// or https://"), "{page}");
    assert!(page.contains("put it in the secret headers"), "{page}");
    assert!(page.contains("value=\"typed name\""), "the name is kept");
    assert!(!page.contains("kept-out"), "a secret typed is not sent back");

    // A viewer reads but cannot change; someone outside the team sees nothing.
    assert!(day.page(&day.vi, &library).await.contains("checkout answers"));
    assert_eq!(day.app.post_as(&day.vi, &format!("{library}/{id}/run"), &[]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(day.app.get_as(&day.eve, &library).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.app.post_as(&day.eve, &format!("{library}/{id}/run"), &[]).await.status(), StatusCode::NOT_FOUND);
    // Moving the check to another host does not take the stored secret along.
    let other_host = service.url.replace("127.0.0.1", "127.0.0.2");
    let moved = day
        .app
        .post_as(&day.ana, &format!("{library}/{id}"), &[("name", "checkout answers"), ("url", &other_host)])
        .await;
    assert_eq!(moved.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(moved.text().await.unwrap().contains("type the secret headers again"));
    let forgotten = [("name", "checkout answers"), ("url", other_host.as_str()), ("clear_secrets", "yes")];
    assert_eq!(day.app.post_as(&day.ana, &format!("{library}/{id}"), &forgotten).await.status(), StatusCode::SEE_OTHER);
    let secrets: Value = sqlx::query_scalar("select secrets from health_checks where id = $1")
        .bind(id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(secrets, serde_json::json!({}), "forgotten when asked");
    // The team's leads read who did what to the library, never a secret or a path.
    let log = plain(&day.page(&day.ana, &format!("/teams/{}/audit", day.slug)).await);
    assert!(log.contains("Ana added the health check \"checkout answers\" (GET 127.0.0.1)."), "{log}");
    assert!(log.contains("Ana changed the health check \"checkout answers\" (GET 127.0.0.2); its secret header values were forgotten."), "{log}");
    assert!(!log.contains("s3cr3t") && !log.contains("/health"), "no secret, no path");
}

#[sqlx::test]
async fn checks_cannot_reach_loopback_unless_its_network_is_allowed(db: PgPool) {
    let service = Service::start().await;
    let day = Day::new(db).await;
    let response = add_check(&day, &[("name", "local"), ("url", &service.url)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("is a loopback address; health checks reach public addresses only"), "{page}");
    for url in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/health", "http://[::1]/"] {
        let response = add_check(&day, &[("name", "inside"), ("url", url)]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
    assert_eq!(service.hits(), 0, "nothing was requested");
}

#[sqlx::test]
async fn attaching_a_check_is_an_edit_that_everyone_signs_again(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    guard(&day, &service, &scenario, ("checkout answers", "10", true)).await;
    assert_eq!(day.revision(&scenario).await, 2);
    let page = day.page(&day.li, &scenario).await;
    assert!(page.contains("halts automatically"), "the page shows how it guards");
    assert!(page.contains("changed the health checks"), "the change is named: {page}");
    let signoffs: i64 =
        sqlx::query_scalar("select count(*) from signoffs where revision = 2").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(signoffs, 0, "nobody has signed revision 2 yet");
    let kinds = day.event_kinds().await;
    assert_eq!(kinds.last().unwrap(), "scenario_revised");
    let (_, body, data) = events(&day.app.db, day.id).await.pop().unwrap();
    assert!(body.contains("changed health checks"), "{body}");
    assert_eq!(data["changed"], serde_json::json!(["Health checks"]));

    // Only a facilitator attaches; a bad interval is refused beside the form, nothing changed.
    let id = check_id(&day.app.db, "checkout answers").await.to_string();
    let response = day.run(&day.li, &scenario, "health-checks", &[("check", &id), ("interval_secs", "10")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = day.run(&day.ana, &scenario, "health-checks/remove", &[("name", "checkout answers")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = day.run(&day.ana, &scenario, "health-checks", &[("check", &id), ("interval_secs", "1")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("Run it every 2 to 300 seconds."));
    assert_eq!(day.revision(&scenario).await, 3, "attach, remove; the refused attach made none");
}

#[sqlx::test]
async fn the_announce_waits_while_a_check_fails_and_the_timeline_says_what_it_saw(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    let scenario = day.scenario("Stop the primary").await;
    guard(&day, &service, &scenario, ("checkout answers", "10", true)).await;
    day.all_approve(&scenario).await;
    // A move refused anyway (the game day is not running yet) runs no check and records nothing.
    let before = service.hits();
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::CONFLICT);
    assert_eq!(service.hits(), before, "no check ran");
    assert!(!day.event_kinds().await.iter().any(|k| k == "health_checked"));
    day.start().await;

    service.set(503, 0, "");
    let response = day.run(&day.ana, &scenario, "announce", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "refused");
    let page = plain(&response.text().await.unwrap());
    assert!(page.contains("the health check \"checkout answers\" fails: got 503 in"), "{page}");
    assert_eq!(day.state(&scenario).await, "proposed");
    let (kind, body, data) = events(&day.app.db, day.id).await.pop().unwrap();
    assert_eq!(kind, "health_checked", "the result is on the timeline either way");
    assert!(
        body.contains("checkout answers FAILS: got 503 in") && body.contains("(expected 200 in under 500 ms)"),
        "{body}"
    );
    assert_eq!(data["passed"], false);

    // Slow is a failure too.
    service.set(200, 700, "");
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::CONFLICT);
    let (_, body, _) = events(&day.app.db, day.id).await.pop().unwrap();
    assert!(body.contains("got 200 in 7") && body.contains("under 500 ms"), "{body}");

    // Healthy: the announce goes ahead, and so does the inject after its own check.
    service.set(200, 0, "");
    let before = service.hits();
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.state(&scenario).await, "injected");
    assert!(service.hits() >= before + 2, "checked before each move");
    let kinds = day.event_kinds().await;
    let tail: Vec<&str> = kinds.iter().rev().take(4).rev().map(String::as_str).collect();
    assert_eq!(tail, ["health_checked", "scenario_announced", "health_checked", "scenario_injected"]);

    // The gate itself reads the results under its lock: a pass older than a few seconds does not
    // open it, a fresh one does (here written straight into the table, no network involved).
    let second = day.scenario("Stop the replica").await;
    let check = check_id(&day.app.db, "checkout answers").await.to_string();
    let form = [("check", check.as_str()), ("interval_secs", "10"), ("auto_halt", "yes")];
    assert_eq!(day.run(&day.ana, &second, "health-checks", &form).await.status(), StatusCode::SEE_OTHER);
    day.all_approve(&second).await;
    let id = Uuid::parse_str(second.rsplit('/').next().unwrap()).unwrap();
    let pass = |age: &'static str| {
        format!(
            "insert into health_check_results (scenario_id, revision, check_name, phase, passed, summary, at) \
             values ($1, 2, 'checkout answers', 'before', true, '200 in 3 ms', now() - interval '{age}')"
        )
    };
    sqlx::query(&pass("1 minute")).bind(id).execute(&day.app.db).await.unwrap();
    let ana = crate::helpers::user_id(&day.app.db, "ana@example.com").await;
    let ana = gameday::accounts::store::user_by_id(&day.app.db, ana).await.unwrap().unwrap();
    let stale = gameday::scenarios::actions::announce(&day.app.db, (day.id, id, None), &ana, false).await;
    let message = stale.unwrap_err().to_string();
    assert!(message.contains("\"checkout answers\" has no result from the last 10 seconds"), "{message}");
    sqlx::query(&pass("1 second")).bind(id).execute(&day.app.db).await.unwrap();
    gameday::scenarios::actions::announce(&day.app.db, (day.id, id, None), &ana, false)
        .await
        .expect("a fresh pass opens it");
}

#[sqlx::test]
async fn a_failing_check_halts_the_injected_fault_live_and_the_recovery_is_measured(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, |c| {
        loopback(c);
        c.webhook_allow_private = true;
    })
    .await;
    // The team's chat hears of halts (the receiver is the service itself; what it answers does
    // not matter here: the delivery is written with the halt).
    let hook = [("url", service.url.as_str()), ("kinds", "scenario_halted")];
    let added = day.app.post_as(&day.ana, &format!("/teams/{}/webhooks", day.slug), &hook).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.add("vi@example.com", "observer").await.status(), StatusCode::SEE_OTHER);
    let scenario = day.scenario("Stop the primary").await;
    guard(&day, &service, &scenario, ("checkout answers", "2", true)).await;
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);

    // Vi, an observer, has the game day open.
    let mut vi = Stream::open(&day.vi, &day.app.url(&format!("{}/live", day.url)), None).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(day.state(&scenario).await, "injected", "healthy: the fault stays in");

    service.set(503, 0, "");
    assert!(wait_for_state(&day, &scenario, "halted", Duration::from_secs(8)).await, "halted within a few intervals");
    let (body, data) = wait_for_kind(&day, "scenario_halted", Duration::from_secs(1)).await.unwrap();
    assert!(body.starts_with("Halted by health check checkout answers: got 503 in"), "{body}");
    assert!(body.ends_with("(expected 200 in under 500 ms)"), "{body}");
    assert_eq!(data["check"], "checkout answers");
    let deliveries: Vec<Value> =
        sqlx::query_scalar("select payload from webhook_deliveries where kind = 'scenario_halted'")
            .fetch_all(&day.app.db)
            .await
            .unwrap();
    assert_eq!(deliveries.len(), 1, "the halt goes to the webhook as a person's would");
    assert!(deliveries[0]["text"].as_str().unwrap().contains("Halted by health check checkout answers"));
    let change = wait_for_kind(&day, "health_check_changed", Duration::from_secs(1)).await.unwrap().0;
    assert!(change.starts_with("Health check checkout answers fails: got 503"), "{change}");

    let mut seen_live = false;
    while let Some(sse) = vi.next(Duration::from_secs(3)).await {
        if sse.data.contains("Halted by health check checkout answers") {
            seen_live = true;
            break;
        }
    }
    assert!(seen_live, "the observer's open page received the halt and why");

    // After the halt the checks go on until the steady state is back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(wait_for_kind(&day, "steady_state_back", Duration::from_millis(10)).await.is_none(), "still failing");
    service.set(200, 0, "");
    let (body, data) =
        wait_for_kind(&day, "steady_state_back", Duration::from_secs(8)).await.expect("recovery recorded");
    assert!(body.starts_with("Steady state back: every health check passes,"), "{body}");
    let recovery_ms = data["recovery_ms"].as_i64().unwrap();
    assert!(recovery_ms >= 1500, "measured from the halt: {recovery_ms} ms");
    assert!(data["since_injection_ms"].as_i64().unwrap() > recovery_ms);
    let page = day.page(&day.vi, &scenario).await;
    assert!(page.contains("Steady state back"), "the run card says so");
    assert!(page.contains("<polyline"), "the response times are drawn");
}

#[sqlx::test]
async fn a_check_that_only_reports_leaves_the_fault_in_and_a_json_field_is_judged(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    let scenario = day.scenario("Stop the primary").await;
    let response = add_check(
        &day,
        &[("name", "status field"), ("url", &service.url), ("json_pointer", "/status"), ("json_expect", "ok")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id = check_id(&day.app.db, "status field").await.to_string();
    let response = day.run(&day.ana, &scenario, "health-checks", &[("check", &id), ("interval_secs", "2")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);

    service.set(200, 0, r#"{"status":"degraded"}"#);
    let (body, _) =
        wait_for_kind(&day, "health_check_changed", Duration::from_secs(8)).await.expect("the change is recorded");
    assert!(body.contains("got 200 in") && body.contains("with /status = \"degraded\""), "{body}");
    assert_eq!(day.state(&scenario).await, "injected", "a reporting check leaves halting to people");
    service.set(200, 0, r#"{"status":"ok"}"#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut back = false;
    while tokio::time::Instant::now() < deadline && !back {
        back = events(&day.app.db, day.id)
            .await
            .iter()
            .any(|(k, b, _)| k == "health_check_changed" && b.contains("passes again"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "passing again is on the timeline too");
    let page = day.page(&day.li, &scenario).await;
    assert!(page.contains("health-pass"), "the run card shows it passing");

    // Rolled back: the steady state is confirmed by the checks and the recovery time recorded.
    assert_eq!(day.run(&day.ana, &scenario, "rollback", &[]).await.status(), StatusCode::SEE_OTHER);
    let (body, data) = wait_for_kind(&day, "steady_state_back", Duration::from_secs(8)).await.expect("recovered");
    assert!(body.contains("after the fault left flight"), "{body}");
    assert!(data["recovery_ms"].as_i64().unwrap() >= 0);
}

#[sqlx::test]
async fn with_two_instances_each_check_runs_once_per_interval(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db.clone(), loopback).await;
    let second = spawn_app_with(db, loopback).await;
    let scenario = day.scenario("Stop the primary").await;
    guard(&day, &service, &scenario, ("checkout answers", "2", true)).await;
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    let start = service.hits();
    tokio::time::sleep(Duration::from_millis(9_000)).await;
    let runs = service.hits() - start;
    // Every 2 s (plus the run's own time) over 9 s: 4 runs, never the 8 two workers would make.
    assert!((3..=5).contains(&runs), "{runs} runs in 9 s with two instances");
    let stored: i64 = sqlx::query_scalar("select count(*) from health_check_results where phase = 'during'")
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    // Each run stored once (one may be in flight as the count is taken).
    assert!((stored - runs as i64).abs() <= 1, "{stored} stored, {runs} runs");
    second.stop().await;
}

#[sqlx::test]
async fn editing_a_library_check_offers_to_update_the_scenarios_that_carry_it(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    let scenario = day.scenario("Stop the primary").await;
    guard(&day, &service, &scenario, ("checkout answers", "10", true)).await;
    day.all_approve(&scenario).await;
    let id = check_id(&day.app.db, "checkout answers").await;
    let edit = format!("/teams/{}/health-checks/{id}", day.slug);
    let response = day
        .app
        .post_as(
            &day.ana,
            &edit,
            &[("name", "checkout answers"), ("url", &service.url), ("statuses", "200-204"), ("timeout_ms", "1500")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = day.page(&day.ana, &edit).await;
    assert!(page.contains("Scenarios with an older copy") && page.contains("Stop the primary"), "{page}");
    assert_eq!(day.revision(&scenario).await, 2, "saving the library changes no scenario");
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let response = day.app.post_as(&day.ana, &format!("{edit}/scenarios"), &[("scenario", &sid)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.revision(&scenario).await, 3, "updated as a new revision");
    let page = day.page(&day.ana, &scenario).await;
    assert!(page.contains("expects 200–204"), "the new definition is what the scenario carries");
    assert!(!day.page(&day.ana, &edit).await.contains("Scenarios with an older copy"));
}

#[sqlx::test]
async fn the_api_writes_the_library_attaches_checks_and_reads_their_results(db: PgPool) {
    use crate::api::{api, json, make_token, problem, send};
    use reqwest::Method;
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    let scenario = day.scenario("Stop the primary").await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let plan = make_token(&day, &day.ana, "Planner", &day.slug, &["plan", "run"]).await;
    let read = make_token(&day, &day.ana, "Reader", &day.slug, &[]).await;
    let library = format!("/teams/{}/health-checks", day.slug);

    let body = serde_json::json!({"name": "checkout answers", "url": service.url, "max_ms": 500,
                                  "secret_headers": {"Authorization": "Bearer api-s3cr3t"}});
    problem(send(&day, &read, Method::POST, &library, &body).await, StatusCode::FORBIDDEN, "forbidden").await;
    let bad = serde_json::json!({"name": "x", "url": "ftp://nowhere"});
    let refused =
        problem(send(&day, &plan, Method::POST, &library, &bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            .await;
    assert!(refused.to_string().contains("http:// or https://"), "{refused}");
    let added = send(&day, &plan, Method::POST, &library, &body).await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let added = json(added).await;
    assert_eq!(added["headers"][0], serde_json::json!({"name": "Authorization", "value": null, "secret": true}));
    assert_eq!(added["expected"], "200–299 in under 500 ms");
    let listed = json(api(&day, &read, &library).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("api-s3cr3t"), "a secret is never shown");
    let check = added["id"].as_str().unwrap().to_owned();
    let ran =
        json(send(&day, &plan, Method::POST, &format!("{library}/{check}/run"), &serde_json::json!({})).await).await;
    assert_eq!(ran["passed"], true, "{ran}");
    assert_eq!(service.authorizations.lock().unwrap().last().unwrap(), "Bearer api-s3cr3t");

    // Attached through the API: a new revision; the results come back with the scenario's checks.
    let checks = format!("/teams/{}/gamedays/{}/scenarios/{sid}/health-checks", day.slug, day.id);
    let attach = serde_json::json!({"check": check, "interval_secs": 1});
    problem(send(&day, &plan, Method::POST, &checks, &attach).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    let attach = serde_json::json!({"check": check});
    let attached = json(send(&day, &plan, Method::POST, &checks, &attach).await).await;
    assert_eq!(attached["revision"], 2);
    assert_eq!(attached["checks"][0]["auto_halt"], true);
    assert_eq!(attached["checks"][0]["interval_secs"], 10);
    day.all_approve(&scenario).await;
    day.start().await;
    service.set(503, 0, "");
    let announce = format!("/teams/{}/gamedays/{}/scenarios/{sid}/announce", day.slug, day.id);
    let refused = problem(
        send(&day, &plan, Method::POST, &announce, &serde_json::json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("\"checkout answers\" fails: got 503"), "{refused}");
    let read_back = json(api(&day, &read, &checks).await).await;
    let results = read_back["checks"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["phase"], "before");
    assert_eq!(results[0]["passed"], false);
    assert_eq!(results[0]["status"], 503);

    // Another team's token finds nothing; removing makes a new revision; the library keeps the check.
    let eve_slug = day.app.team(&day.eve, "Elsewhere").await;
    let eves = make_token(&day, &day.eve, "Eve's", &eve_slug, &["plan"]).await;
    problem(api(&day, &eves, &checks).await, StatusCode::NOT_FOUND, "not_found").await;
    problem(
        send(&day, &eves, Method::POST, &format!("{library}/{check}/run"), &serde_json::json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let removed = send(&day, &plan, Method::DELETE, &format!("{checks}/{check}"), &serde_json::json!({})).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(json(removed).await["revision"], 3);
    let gone = send(&day, &plan, Method::DELETE, &format!("{library}/{check}"), &serde_json::json!({})).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert!(json(api(&day, &read, &library).await).await.as_array().unwrap().is_empty());
}

#[sqlx::test]
async fn when_the_steady_state_does_not_come_back_in_time_the_timeline_says_what_still_fails(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    let scenario = day.scenario("Stop the primary").await;
    guard(&day, &service, &scenario, ("checkout answers", "2", false)).await;
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    service.set(503, 0, "");
    assert_eq!(day.run(&day.ana, &scenario, "rollback", &[]).await.status(), StatusCode::SEE_OTHER);
    // Ten minutes pass (the recovery's end moved to now).
    sqlx::query("update scenario_recoveries set ends_at = now()").execute(&day.app.db).await.unwrap();
    let (body, data) = wait_for_kind(&day, "steady_state_not_back", Duration::from_secs(8)).await.expect("given up");
    assert!(body.starts_with("Steady state not back within"), "{body}");
    assert!(body.contains("checkout answers: got 503 in"), "says what still fails: {body}");
    assert_eq!(data["failing"].as_array().unwrap().len(), 1);
    let hits = service.hits();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(service.hits(), hits, "the checks stop once it has given up");
    assert!(wait_for_kind(&day, "steady_state_back", Duration::from_millis(10)).await.is_none());
}

#[sqlx::test]
async fn a_team_holds_at_most_25_checks_and_a_scenario_5(db: PgPool) {
    let service = Service::start().await;
    let day = Day::with(db, loopback).await;
    for i in 1..=25 {
        let name = format!("check {i}");
        let response = add_check(&day, &[("name", &name), ("url", &service.url)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
        if i == 1 {
            let same_name = add_check(&day, &[("name", "CHECK 1"), ("url", &service.url)]).await;
            assert_eq!(same_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
            let page = plain(&same_name.text().await.unwrap());
            assert!(page.contains("already has a check named \"CHECK 1\""), "names are the team's, whatever the case");
        }
    }
    let response = add_check(&day, &[("name", "one more"), ("url", &service.url)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("A team can have 25 health checks"));

    let scenario = day.scenario("Stop the primary").await;
    for i in 1..=5 {
        let id = check_id(&day.app.db, &format!("check {i}")).await.to_string();
        let response = day.run(&day.ana, &scenario, "health-checks", &[("check", &id)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let id = check_id(&day.app.db, "check 6").await.to_string();
    let response = day.run(&day.ana, &scenario, "health-checks", &[("check", &id)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("at most 5 health checks"));
    let again = check_id(&day.app.db, "check 1").await.to_string();
    let removed = day.run(&day.ana, &scenario, "health-checks/remove", &[("name", "check 5")]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    let twice = day.run(&day.ana, &scenario, "health-checks", &[("check", &again)]).await;
    assert_eq!(twice.status(), StatusCode::UNPROCESSABLE_ENTITY, "the same check once");
}
