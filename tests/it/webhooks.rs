//! Webhooks delivered to a real HTTP receiver on loopback, signed, retried, never lost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::gamedays::Day;
use crate::helpers::spawn_app_with;

/// (timestamp header, signature header, body) of one request.
type Request = (String, String, Vec<u8>);

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Request>>>,
    /// How many requests to fail (500) before accepting.
    fail_first: Arc<Mutex<usize>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    r.seen.lock().unwrap().push((header("x-gameday-timestamp"), header("x-gameday-signature"), body.to_vec()));
    let mut fail = r.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        AxumStatus::INTERNAL_SERVER_ERROR
    } else {
        AxumStatus::NO_CONTENT
    }
}

async fn start_receiver(fail_first: usize) -> (String, Receiver) {
    let receiver = Receiver { fail_first: Arc::new(Mutex::new(fail_first)), ..Default::default() };
    let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), receiver)
}

async fn add_webhook(day: &Day, url: &str, kinds: &[&str]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("url", url)];
    form.extend(kinds.iter().map(|k| ("kinds", *k)));
    day.app.post_as(&day.ana, &format!("/teams/{}/webhooks", day.slug), &form).await
}

async fn secret(db: &PgPool) -> String {
    sqlx::query_scalar("select secret from webhooks").fetch_one(db).await.unwrap()
}

async fn wait_for(receiver: &Receiver, count: usize) -> Vec<Request> {
    for _ in 0..200 {
        let seen = receiver.seen.lock().unwrap().clone();
        if seen.len() >= count {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.seen.lock().unwrap().clone()
}

/// Quick retries, and receivers on loopback allowed (they are refused by default).
fn fast(config: &mut gameday::config::Config) {
    config.webhook_poll_ms = 20;
    config.webhook_retry_ms = 50;
    config.webhook_allow_private = true;
}

#[sqlx::test]
async fn an_announcement_is_delivered_signed_to_the_receiver(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    let day = Day::with(db, fast).await;
    assert_eq!(add_webhook(&day, &url, &["scenario_announced"]).await.status(), StatusCode::SEE_OTHER);
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);

    let seen = wait_for(&receiver, 1).await;
    assert_eq!(seen.len(), 1, "only the subscribed kind (not the start) was sent");
    let (timestamp, sig, body) = &seen[0];
    let expected = gameday::webhooks::signature(&secret(&day.app.db).await, timestamp.parse().unwrap(), body);
    assert_eq!(sig, &expected, "a valid HMAC-SHA256 signature");
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let text = json["text"].as_str().unwrap();
    assert!(text.contains("Ana announced \"Stop the primary\" on postgres"), "{text}");
    assert_eq!(json["event"]["kind"], "scenario_announced");
    assert!(json["gameday"]["url"].as_str().unwrap().ends_with(&day.url));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.seen.lock().unwrap().len(), 1, "delivered once");

    let mut delivered = false;
    for _ in 0..100 {
        let log = day.page(&day.ana, &format!("/teams/{}/webhooks", day.slug)).await;
        if log.contains("delivery-delivered") {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered, "the delivery log shows it delivered");
}

#[sqlx::test]
async fn a_receiver_that_fails_twice_gets_the_event_once_it_recovers(db: PgPool) {
    let (url, receiver) = start_receiver(2).await;
    let day = Day::with(db, fast).await;
    add_webhook(&day, &url, &["gameday_started"]).await;
    day.scenario("Stop the primary").await;
    day.start().await;
    let seen = wait_for(&receiver, 3).await;
    assert_eq!(seen.len(), 3, "two failures, then success");
    assert_eq!(seen[0].2, seen[2].2, "the same event each time");
    // The receiver has answered; the worker records that a moment later.
    let mut row: (String, i32, Option<i32>) = (String::new(), 0, None);
    for _ in 0..100 {
        row = sqlx::query_as("select status::text, attempts, last_status from webhook_deliveries")
            .fetch_one(&day.app.db)
            .await
            .unwrap();
        if row.0 != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((row.0.as_str(), row.1, row.2), ("delivered", 3, Some(204)));
}

#[sqlx::test]
async fn nothing_is_lost_across_a_restart_of_the_server(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    // The first server never gets round to delivering (its worker polls once an hour).
    let day = Day::with(db.clone(), |c| {
        c.webhook_poll_ms = 3_600_000;
        c.webhook_allow_private = true;
    })
    .await;
    add_webhook(&day, &url, &["gameday_started", "gameday_completed"]).await;
    day.scenario("Stop the primary").await;
    day.start().await;
    let early = [("reason", "out of time")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{}/complete", day.url), &early).await.status(),
        StatusCode::SEE_OTHER
    );
    let pending: i64 = sqlx::query_scalar("select count(*) from webhook_deliveries where status = 'pending'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(pending, 2, "written to the outbox with the events");
    let Day { app, .. } = day;
    app.stop().await;
    assert!(receiver.seen.lock().unwrap().is_empty());

    // A new server on the same database delivers what the old one left.
    let _second = spawn_app_with(db.clone(), fast).await;
    let seen = wait_for(&receiver, 2).await;
    let kinds: Vec<String> = seen
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_slice::<serde_json::Value>(body).unwrap()["event"]["kind"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(kinds, vec!["gameday_started", "gameday_completed"]);
}

#[sqlx::test]
async fn webhook_settings_are_for_leads_and_urls_must_be_http(db: PgPool) {
    let day = Day::new(db).await;
    let path = format!("/teams/{}/webhooks", day.slug);
    for bad in ["ftp://example.com/hook", "javascript:alert(1)", "file:///etc/passwd", ""] {
        let response = add_webhook(&day, bad, &["scenario_injected"]).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(response.text().await.unwrap().contains(r#"id="url-error""#));
    }
    let response = add_webhook(&day, "https://hooks.example.com/x", &[]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("Choose at least one kind"));
    let form = [("url", "https://hooks.example.com/x"), ("kinds", "scenario_injected")];
    assert_eq!(day.app.post_as(&day.li, &path, &form).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(day.app.get_as(&day.li, &path).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(day.app.get_as(&day.eve, &path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.app.post_as(&day.eve, &path, &form).await.status(), StatusCode::NOT_FOUND);
    let count: i64 = sqlx::query_scalar("select count(*) from webhooks").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test]
async fn webhooks_cannot_reach_loopback_or_private_addresses_by_default(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    let day = Day::with(db, |c| {
        c.webhook_poll_ms = 20;
        c.webhook_retry_ms = 50;
    })
    .await;
    // An address literal is refused at once, beside the field.
    let response = add_webhook(&day, &url, &["gameday_started"]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("cannot point at loopback or private addresses"));
    // A name that resolves to loopback is refused when delivering, and the log says why.
    let by_name = url.replace("127.0.0.1", "localhost");
    assert_eq!(add_webhook(&day, &by_name, &["gameday_started"]).await.status(), StatusCode::SEE_OTHER);
    day.scenario("Stop the primary").await;
    day.start().await;
    let mut status = String::new();
    for _ in 0..100 {
        status =
            sqlx::query_scalar("select status::text from webhook_deliveries").fetch_one(&day.app.db).await.unwrap();
        if status != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "failed");
    assert!(receiver.seen.lock().unwrap().is_empty(), "nothing reached the internal address");
    let log = day.page(&day.ana, &format!("/teams/{}/webhooks", day.slug)).await;
    assert!(log.contains("refused: localhost is a loopback or private address"));
}

#[sqlx::test]
async fn chat_markup_in_event_text_is_escaped(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    let day = Day::with(db, fast).await;
    add_webhook(&day, &url, &["scenario_halted"]).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    day.run(&day.ana, &scenario, "announce", &[]).await;
    day.run(&day.li, &scenario, "halt", &[("reason", "<!channel> see <https://evil.example|the fix> & co")]).await;
    let seen = wait_for(&receiver, 1).await;
    let json: serde_json::Value = serde_json::from_slice(&seen[0].2).unwrap();
    let text = json["text"].as_str().unwrap();
    assert!(text.contains("&lt;!channel&gt; see &lt;https://evil.example|the fix&gt; &amp; co"), "{text}");
    assert!(!text.contains("<!channel>"));
}
