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
    assert!(response.text().await.unwrap().contains("127.0.0.1 is a loopback address"));
    // A name that resolved to a public address when it was saved, and to loopback now, is refused
    // when delivering, and the log says why.
    let by_name = url.replace("127.0.0.1", "localhost");
    sqlx::query(
        "insert into webhooks (id, team_id, url, secret, kinds, created_by)
         select gen_random_uuid(), t.id, $1, 'secret', '{gameday_started}', u.id
         from teams t, users u where t.slug = $2 and u.email = 'ana@example.com'",
    )
    .bind(&by_name)
    .bind(&day.slug)
    .execute(&day.app.db)
    .await
    .unwrap();
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
    assert!(log.contains("refused: localhost resolves to "), "{log}");
}

#[sqlx::test]
async fn a_name_that_resolves_to_loopback_is_refused_when_saved_saying_why(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    let day = Day::with(db, |c| c.webhook_poll_ms = 20).await;
    let by_name = url.replace("127.0.0.1", "localhost");

    let response = add_webhook(&day, &by_name, &["gameday_started"]).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    let error = &page[page.find(r#"id="url-error""#).expect("the message stands beside the URL field")..];
    let error = &error[..error.find("</p>").unwrap()];
    // localhost may answer 127.0.0.1 or ::1 first; either way the page names the address and why.
    assert!(error.contains("localhost resolves to "), "{error}");
    assert!(error.contains(", a loopback address; webhooks may only go to public addresses."), "{error}");
    assert!(page.contains(&format!(r#"value="{by_name}""#)), "what was typed is kept");
    let count: i64 = sqlx::query_scalar("select count(*) from webhooks").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(count, 0, "nothing saved that every delivery would refuse");

    // A host that has no address is refused too, with its own reason.
    let response = add_webhook(&day, "http://no-such-host.invalid/hook", &["gameday_started"]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("no-such-host.invalid cannot be resolved"));
    assert!(receiver.seen.lock().unwrap().is_empty());
}

/// A receiver that answers every request with `status` and `body`, and keeps what it was sent.
async fn start_answering_receiver(status: u16, body: String) -> (String, Receiver) {
    let receiver = Receiver::default();
    let seen = receiver.clone();
    let answer = move |headers: HeaderMap, request: Bytes| async move {
        receive(State(seen), headers, request).await;
        (AxumStatus::from_u16(status).unwrap(), body)
    };
    let app = Router::new().route("/hook", post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), receiver)
}

async fn webhook_id(db: &PgPool) -> uuid::Uuid {
    sqlx::query_scalar("select id from webhooks").fetch_one(db).await.unwrap()
}

#[sqlx::test]
async fn a_test_delivery_is_signed_and_shows_the_receivers_answer(db: PgPool) {
    let answer = format!("<script>alert(1)</script> received{}", "z".repeat(1000));
    let (url, receiver) = start_answering_receiver(202, answer).await;
    // The worker would take an outbox row at once; a test delivery never goes through it.
    let day = Day::with(db, fast).await;
    add_webhook(&day, &url, &["gameday_started"]).await;
    let path = format!("/teams/{}/webhooks/{}/test", day.slug, webhook_id(&day.app.db).await);

    let response = day.app.post_as(&day.ana, &path, &[]).await;

    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains("The receiver answered 202 Accepted"), "{page}");
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62; received"), "the answer is shown escaped");
    assert!(!page.contains("<script>alert(1)"));
    assert!(!page.contains(&"z".repeat(500)) && page.contains(&format!("{}…", "z".repeat(50))), "only its start");
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "sent once, at once");
    let (timestamp, sig, body) = &seen[0];
    let expected = gameday::webhooks::signature(&secret(&day.app.db).await, timestamp.parse().unwrap(), body);
    assert_eq!(sig, &expected, "signed like every delivery");
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["event"]["kind"], "test");
    assert!(json["text"].as_str().unwrap().contains("Test delivery from Gameday, sent by Ana."));
    let row: (String, String, Option<i32>) =
        sqlx::query_as("select kind, status::text, last_status from webhook_deliveries")
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    assert_eq!(row, ("test".into(), "delivered".into(), Some(202)), "recorded in the delivery log");
    let log = day.page(&day.ana, &format!("/teams/{}/webhooks", day.slug)).await;
    assert!(log.contains("Test delivery") && log.contains("delivery-delivered"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.seen.lock().unwrap().len(), 1, "the worker does not send it again");
}

#[sqlx::test]
async fn a_test_delivery_to_a_closed_port_says_connection_refused(db: PgPool) {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let day = Day::with(db, fast).await;
    add_webhook(&day, &url, &["gameday_started"]).await;
    let path = format!("/teams/{}/webhooks/{}/test", day.slug, webhook_id(&day.app.db).await);

    let page = day.app.post_as(&day.ana, &path, &[]).await.text().await.unwrap();

    assert!(page.contains("Not delivered: connection refused"), "{page}");
    let row: (String, String, Option<String>) =
        sqlx::query_as("select kind, status::text, last_error from webhook_deliveries")
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    assert_eq!(row, ("test".into(), "failed".into(), Some("connection refused".into())));
}

#[sqlx::test]
async fn only_a_lead_of_the_team_can_send_a_test_delivery(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    let day = Day::with(db, fast).await;
    add_webhook(&day, &url, &["gameday_started"]).await;
    let path = format!("/teams/{}/webhooks/{}/test", day.slug, webhook_id(&day.app.db).await);

    assert_eq!(day.app.post_as(&day.li, &path, &[]).await.status(), StatusCode::FORBIDDEN, "a member");
    assert_eq!(day.app.post_as(&day.eve, &path, &[]).await.status(), StatusCode::NOT_FOUND, "not in the team");
    let eves_team = day.app.team(&day.eve, "Eve's").await;
    let elsewhere = format!("/teams/{eves_team}/webhooks/{}/test", webhook_id(&day.app.db).await);
    assert_eq!(day.app.post_as(&day.eve, &elsewhere, &[]).await.status(), StatusCode::NOT_FOUND, "another team's");
    let from_evil = day.ana.post(day.app.url(&path)).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(from_evil.status(), StatusCode::FORBIDDEN, "cross-origin");

    assert!(receiver.seen.lock().unwrap().is_empty(), "none of them sent anything");
    let logged: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(logged, 0);
}

#[sqlx::test]
async fn the_settings_page_names_event_kinds_as_the_timeline_does(db: PgPool) {
    let (url, _receiver) = start_receiver(0).await;
    let day = Day::with(db, fast).await;
    add_webhook(&day, &url, &["gameday_started", "scenario_rolled_back"]).await;

    let page = day.page(&day.ana, &format!("/teams/{}/webhooks", day.slug)).await;

    assert!(page.contains("Sends: Started, Rolled back"), "{page}");
    assert!(!page.contains("Sends: gameday_started"));
}

#[sqlx::test]
async fn the_delivery_log_shows_times_in_the_viewers_zone(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    let day = Day::with(db, fast).await;
    let zone = [("display_name", "Ana"), ("time_zone", "Asia/Kolkata")];
    assert_eq!(day.app.post_as(&day.ana, "/account", &zone).await.status(), StatusCode::SEE_OTHER);
    add_webhook(&day, &url, &["gameday_started"]).await;
    day.scenario("Stop the primary").await;
    day.start().await;
    wait_for(&receiver, 1).await;

    let page = day.page(&day.ana, &format!("/teams/{}/webhooks", day.slug)).await;

    let at: time::OffsetDateTime =
        sqlx::query_scalar("select created_at from webhook_deliveries").fetch_one(&day.app.db).await.unwrap();
    let local = gameday::tz::format_local(&at, "Asia/Kolkata");
    assert!(local.ends_with("IST"), "{local}");
    assert!(page.contains(&local), "{local} in {page}");
    assert!(page.contains(&format!(r#"datetime="{}""#, gameday::tz::format_utc(&at))));
    assert!(page.contains(" Started</td>"), "the log names the event too");
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

#[sqlx::test]
async fn a_signing_secret_is_shown_once_and_can_be_replaced_by_a_lead(db: PgPool) {
    let (url, receiver) = start_receiver(0).await;
    let day = Day::with(db, fast).await;
    let settings = format!("/teams/{}/webhooks", day.slug);
    assert_eq!(add_webhook(&day, &url, &["gameday_started"]).await.status(), StatusCode::SEE_OTHER);
    let first = secret(&day.app.db).await;
    let page = day.page(&day.ana, &settings).await;
    assert!(page.contains(&first) && page.contains("shown only this once"), "shown right after it was made");
    let again = day.page(&day.ana, &settings).await;
    assert!(!again.contains(&first), "and never again");
    assert!(again.contains("Signing secret: hidden"));

    let id: uuid::Uuid = sqlx::query_scalar("select id from webhooks").fetch_one(&day.app.db).await.unwrap();
    let rotate = format!("{settings}/{id}/secret");
    assert_eq!(day.app.post_as(&day.li, &rotate, &[]).await.status(), StatusCode::FORBIDDEN, "leads only");
    assert_eq!(day.app.post_as(&day.eve, &rotate, &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(secret(&day.app.db).await, first);
    assert_eq!(day.app.post_as(&day.ana, &rotate, &[]).await.status(), StatusCode::SEE_OTHER);
    let second = secret(&day.app.db).await;
    assert_ne!(second, first);
    let page = day.page(&day.ana, &settings).await;
    assert!(page.contains(&second) && !page.contains(&first));
    assert!(!day.page(&day.ana, &settings).await.contains(&second));
    let audit = day.page(&day.ana, &format!("/teams/{}/audit", day.slug)).await;
    assert!(audit.contains("Ana gave the webhook to 127.0.0.1 a new signing secret."), "{audit}");

    // Deliveries are signed with the new secret.
    day.scenario("Stop the primary").await;
    day.start().await;
    let seen = wait_for(&receiver, 1).await;
    let (timestamp, sig, body) = &seen[0];
    assert_eq!(sig, &gameday::webhooks::signature(&second, timestamp.parse().unwrap(), body));
}

#[sqlx::test]
async fn a_team_has_at_most_ten_webhooks(db: PgPool) {
    let day = Day::with(db, fast).await;
    for n in 0..gameday::webhooks::MAX_PER_TEAM {
        let url = format!("http://127.0.0.1:9/hook{n}");
        assert_eq!(add_webhook(&day, &url, &["gameday_started"]).await.status(), StatusCode::SEE_OTHER, "{n}");
    }
    let refused = add_webhook(&day, "http://127.0.0.1:9/one-too-many", &["gameday_started"]).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = refused.text().await.unwrap();
    assert!(page.contains("A team can have 10 webhooks") && page.contains("one-too-many"), "beside the URL, kept");
    let count: i64 = sqlx::query_scalar("select count(*) from webhooks").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(count, gameday::webhooks::MAX_PER_TEAM);
}

/// A receiver that holds every request open until released, counting how many it holds at once.
#[derive(Clone, Default)]
struct Hanging {
    now: Arc<std::sync::atomic::AtomicUsize>,
    most: Arc<std::sync::atomic::AtomicUsize>,
    started: Arc<std::sync::atomic::AtomicUsize>,
    released: Arc<std::sync::atomic::AtomicBool>,
}

/// Counts a request as open until dropped (answered, or given up by the sender).
struct Open(Hanging);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn hang(State(h): State<Hanging>) -> AxumStatus {
    use std::sync::atomic::Ordering::SeqCst;
    h.started.fetch_add(1, SeqCst);
    let open = h.now.fetch_add(1, SeqCst) + 1;
    h.most.fetch_max(open, SeqCst);
    let _open = Open(h.clone());
    while !h.released.load(SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    AxumStatus::NO_CONTENT
}

async fn start_hanging_receiver() -> (String, Hanging) {
    let hanging = Hanging::default();
    let app = Router::new().route("/hook", post(hang)).with_state(hanging.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), hanging)
}

/// Puts `count` deliveries of the webhook at `url` straight into the outbox, as events would (all
/// of the game day's first event: a delivery must point at an event that exists).
async fn enqueue(db: &PgPool, url: &str, gameday: uuid::Uuid, count: i64) {
    sqlx::query(
        "insert into webhook_deliveries (webhook_id, gameday_id, seq, kind, payload)
         select w.id, $2, 1, 'scenario_announced', '{\"text\": \"Announced\"}'::jsonb
         from webhooks w, generate_series(1, $3) n where w.url = $1",
    )
    .bind(url)
    .bind(gameday)
    .bind(count)
    .execute(db)
    .await
    .unwrap();
}

#[sqlx::test]
async fn a_team_whose_receiver_hangs_holds_up_only_its_own_deliveries_and_at_most_four(db: PgPool) {
    use std::sync::atomic::Ordering::SeqCst;
    let (slow_url, slow) = start_hanging_receiver().await;
    let (quick_url, quick) = start_receiver(0).await;
    let day = Day::with(db, fast).await;
    assert_eq!(add_webhook(&day, &slow_url, &["scenario_announced"]).await.status(), StatusCode::SEE_OTHER);
    let zed = day.app.user("zed@example.com", "Zed").await;
    let other = day.app.team(&zed, "Other").await;
    let response = day.app.post_as(&zed, &format!("/teams/{other}/gamedays"), &crate::gamedays::GAMEDAY_FORM).await;
    let other_day = uuid::Uuid::parse_str(crate::helpers::location(&response).rsplit('/').next().unwrap()).unwrap();
    let form = [("url", quick_url.as_str()), ("kinds", "scenario_announced")];
    assert_eq!(day.app.post_as(&zed, &format!("/teams/{other}/webhooks"), &form).await.status(), StatusCode::SEE_OTHER);

    // Ten of the slow team's deliveries are due first, then one of the other team's.
    enqueue(&day.app.db, &slow_url, day.id, 10).await;
    enqueue(&day.app.db, &quick_url, other_day, 1).await;

    let seen = wait_for(&quick, 1).await;
    let slow_open_then = slow.now.load(SeqCst);
    for _ in 0..100 {
        if slow.most.load(SeqCst) >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Many more polls of the worker (every 20 ms) while the four still hang.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (most, started, open) = (slow.most.load(SeqCst), slow.started.load(SeqCst), slow.now.load(SeqCst));
    slow.released.store(true, SeqCst);

    assert_eq!(seen.len(), 1, "the other team's delivery arrived");
    assert!(slow_open_then >= 1, "while the slow team's receiver was still hanging");
    assert_eq!(most, 4, "at most four of one team's deliveries are in flight at once");
    assert_eq!((started, open), (4, 4), "the other six wait for a free place");
}
