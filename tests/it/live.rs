//! The timeline page, observations, corrections and the live stream, against real servers.

use std::time::Duration;

use gameday::app::serve;
use gameday::config::Config;
use gameday::state::AppState;
use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::gamedays::Day;
use crate::helpers::location;

/// One Server-Sent Event as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sse {
    pub(crate) id: Option<i64>,
    pub(crate) event: Option<String>,
    pub(crate) data: String,
}

/// A streaming SSE reader over a reqwest response.
pub(crate) struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub(crate) async fn open(client: &Client, url: &str, last_event_id: Option<i64>) -> Stream {
        Stream::request(client.get(url), last_event_id).await
    }

    /// Opens the stream `request` asks for (a bearer token's, say).
    pub(crate) async fn request(request: reqwest::RequestBuilder, last_event_id: Option<i64>) -> Stream {
        let (url, mut request) = {
            let built = request.try_clone().unwrap().build().unwrap();
            (built.url().to_string(), request)
        };
        request = request.header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "stream {url}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Stream { response, buffer: String::new() }
    }

    /// A header of the stream's answer (empty when it has none).
    pub(crate) fn header(&self, name: &str) -> String {
        self.response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    /// The next event (keep-alive comments skipped), or None after `wait` without one.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut sse = Sse { id: None, event: None, data: String::new() };
                let mut data_lines = Vec::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        sse.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        sse.event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data_lines.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if data_lines.is_empty() && sse.id.is_none() && sse.event.is_none() {
                    continue; // a keep-alive comment
                }
                sse.data = data_lines.join("\n");
                return Some(sse);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Whether the server ends the stream within `wait` (whatever is still buffered is skipped).
    pub(crate) async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Ok(Ok(Some(_))) => continue,
            }
        }
    }

    /// Timeline events (with ids) until `count` arrived or `wait` passed.
    pub(crate) async fn events(&mut self, count: usize, wait: Duration) -> Vec<i64> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut ids = Vec::new();
        while ids.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Sse { id: Some(id), .. }) => ids.push(id),
                Some(_) => {}
                None => break,
            }
        }
        ids
    }
}

async fn running_day(db: PgPool) -> (Day, String) {
    running_day_with(db, |_| {}).await
}

/// A running game day on a server whose safety-net check is an hour apart: whatever such a
/// test sees live came through NOTIFY (or the catch-up after a reconnect), not the check.
async fn running_day_notify_only(db: PgPool) -> (Day, String) {
    running_day_with(db, |c| c.live_check_ms = 3_600_000).await
}

pub(crate) async fn running_day_with(db: PgPool, adjust: impl FnOnce(&mut gameday::config::Config)) -> (Day, String) {
    let day = Day::with(db, adjust).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    (day, scenario)
}

pub(crate) async fn observe(day: &Day, client: &Client, body: &str) -> reqwest::Response {
    day.app.post_as(client, &format!("{}/observations", day.url), &[("body", body)]).await
}

async fn last_seq(day: &Day) -> i64 {
    sqlx::query_scalar("select last_event_seq from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn observations_are_logged_checked_and_sanitised(db: PgPool) {
    let (day, scenario) = running_day(db).await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    // A detection counts only once the fault is in (see the test below for one that is not).
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    let form = [
        ("body", "p99 at **900 ms** <script>alert(1)</script> [x](javascript:alert(2))"),
        ("scenario", sid.as_str()),
        ("marker", "detection"),
        ("observed_at", ""),
        ("link", "https://grafana.example/d/checkout"),
    ];
    let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).contains("/timeline?logged="));
    let page = day.page(&day.bo, &format!("{}/timeline", day.url)).await;
    assert!(page.contains("<strong>900 ms</strong>"));
    assert!(!page.contains("<script>alert(1)"), "no script reaches the page");
    assert!(!page.contains("href=\"javascript"), "no unsafe link reaches the page");
    assert!(page.contains(r#"<span class="marker marker-detection">Detection</span>"#));
    assert!(page.contains(r#"href="https://grafana.example/d/checkout""#));

    let long = "x".repeat(5000);
    let bad: Vec<(&str, &str, &str)> = vec![
        ("body", "   ", "The observation is required."),
        ("body", &long, "at most 4000 characters"),
        ("observed_at", "2099-01-01T00:00", "in the future"),
        ("marker", "panic", "Choose a marker"),
        ("link", "javascript:alert(1)", "https://"),
    ];
    for (field, value, message) in bad {
        let mut form = vec![("body", "checkout is slow")];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let page = response.text().await.unwrap();
        let at = page.find(&format!(r#"id="{field}-error">"#)).unwrap_or_else(|| panic!("no error beside {field}"));
        assert!(page[at..].split("</p>").next().unwrap().contains(message), "{field}: {message}");
        if field != "body" {
            assert!(page.contains(r#"value="checkout is slow""#), "the text is kept");
        }
    }
    let observations: i64 = sqlx::query_scalar("select count(*) from timeline_events where kind = 'observation'")
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(observations, 1);
}

#[sqlx::test]
async fn only_people_on_the_game_day_log_and_non_members_see_nothing(db: PgPool) {
    let (day, _) = running_day(db).await;
    // Vi, a team viewer not on the game day, reads the timeline but does not log.
    let page = day.page(&day.vi, &format!("{}/timeline", day.url)).await;
    assert!(page.contains("you read the timeline but do not log to it"));
    assert_eq!(observe(&day, &day.vi, "I see smoke").await.status(), StatusCode::FORBIDDEN);
    // Vi as an observer logs.
    assert_eq!(day.add("vi@example.com", "observer").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(observe(&day, &day.vi, "I see smoke").await.status(), StatusCode::SEE_OTHER);
    // Eve, outside the team: 404 for the page, the form and the stream.
    for path in [format!("{}/timeline", day.url), format!("{}/live", day.url)] {
        assert_eq!(day.app.get_as(&day.eve, &path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(observe(&day, &day.eve, "hi").await.status(), StatusCode::NOT_FOUND);
    let seq = last_seq(&day).await.to_string();
    let correct = format!("{}/events/{seq}/correct", day.url);
    assert_eq!(day.app.post_as(&day.eve, &correct, &[("body", "no")]).await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn a_correction_is_a_new_event_shown_beside_the_original(db: PgPool) {
    let (day, _) = running_day(db).await;
    observe(&day, &day.li, "Alert fired at 10:02").await;
    let original = last_seq(&day).await;
    let correct = format!("{}/events/{original}/correct", day.url);
    assert_eq!(day.app.post_as(&day.bo, &correct, &[("body", "not mine")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(day.app.post_as(&day.li, &correct, &[("body", "")]).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        day.app.post_as(&day.li, &correct, &[("body", "Alert fired at 10:04")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let correction = last_seq(&day).await;
    assert_eq!(correction, original + 1);
    let body: String = sqlx::query_scalar("select body from timeline_events where gameday_id = $1 and seq = $2")
        .bind(day.id)
        .bind(original)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(body, "Alert fired at 10:02", "the original is never changed");
    let page = day.page(&day.ana, &format!("{}/timeline", day.url)).await;
    let original_item = page.split(&format!(r#"id="event-{original}""#)).nth(1).unwrap().split("</li>").next().unwrap();
    assert!(
        original_item.contains(&format!("Corrected in #{correction}"))
            && original_item.contains("Alert fired at 10:04")
    );
    // A facilitator may correct anyone's observation; Gameday's own events cannot be corrected.
    let correct_again = format!("{}/events/{correction}/correct", day.url);
    assert_eq!(
        day.app.post_as(&day.ana, &correct_again, &[("body", "10:03 actually")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let system = format!("{}/events/1/correct", day.url);
    assert_eq!(day.app.post_as(&day.ana, &system, &[("body", "rewrite history")]).await.status(), StatusCode::CONFLICT);
}

#[sqlx::test]
async fn the_timeline_filters_by_scenario_and_kind(db: PgPool) {
    let (day, scenario) = running_day(db).await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    day.app
        .post_as(&day.li, &format!("{}/observations", day.url), &[("body", "about the scenario"), ("scenario", &sid)])
        .await;
    day.app.post_as(&day.li, &format!("{}/observations", day.url), &[("body", "about coffee"), ("scenario", "")]).await;
    let page = day.page(&day.ana, &format!("{}/timeline?scenario={sid}", day.url)).await;
    assert!(page.contains("about the scenario") && !page.contains("about coffee"));
    let page = day.page(&day.ana, &format!("{}/timeline?kind=observations", day.url)).await;
    assert!(page.contains("about coffee") && !page.contains("Approved"), "only observations");
    let page = day.page(&day.ana, &format!("{}/timeline?kind=signoffs", day.url)).await;
    assert!(page.contains("approved revision 1") && !page.contains("about coffee"));
}

#[sqlx::test]
async fn two_subscribers_get_every_event_once_in_order_across_a_reconnect(db: PgPool) {
    let (day, _) = running_day(db).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let start = last_seq(&day).await;
    let mut steady = Stream::open(&day.bo, &live, None).await;
    let mut flaky = Stream::open(&day.ana, &live, None).await;

    let burst = 30;
    let poster = {
        let (app_url, client) = (day.app.url(&format!("{}/observations", day.url)), day.li.clone());
        tokio::spawn(async move {
            for i in 0..burst {
                let response =
                    client.post(&app_url).form(&[("body", format!("observation {i}"))]).send().await.unwrap();
                assert_eq!(response.status(), StatusCode::SEE_OTHER);
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        })
    };
    // The flaky one drops after ten events and comes back with Last-Event-ID.
    let first = flaky.events(10, Duration::from_secs(10)).await;
    let last_seen = *first.last().expect("events before the drop");
    drop(flaky);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut flaky = Stream::open(&day.ana, &live, Some(last_seen)).await;
    poster.await.unwrap();
    let end = last_seq(&day).await;
    let expected: Vec<i64> = (start + 1..=end).collect();
    assert_eq!(expected.len(), burst);

    let rest = flaky.events(expected.len() - first.len(), Duration::from_secs(10)).await;
    let flaky_all: Vec<i64> = first.into_iter().chain(rest).collect();
    assert_eq!(flaky_all, expected, "the reconnected stream has every event exactly once, in order");
    assert_eq!(steady.events(expected.len(), Duration::from_secs(10)).await, expected);
    assert!(flaky.next(Duration::from_millis(300)).await.is_none(), "nothing twice");
}

#[sqlx::test]
async fn the_stream_sends_the_same_partial_the_page_renders(db: PgPool) {
    let (day, _) = running_day(db).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let mut stream = Stream::open(&day.bo, &live, None).await;
    assert_eq!(stream.header("x-accel-buffering"), "no", "a proxy passes each message on at once");
    let first = stream.next(Duration::from_secs(5)).await.expect("the stream opens with the current banners");
    assert_eq!(first.event.as_deref(), Some("banners"));
    let parts = stream.next(Duration::from_secs(5)).await.expect("then the page parts as they stand now");
    assert_eq!(parts.event.as_deref(), Some("parts"));
    observe(&day, &day.li, "Checkout **p99** is 900 ms").await;
    let sse = stream.next(Duration::from_secs(5)).await.expect("the observation arrives");
    let seq = sse.id.unwrap();
    assert!(sse.data.starts_with(&format!(r#"<li class="event event-observation" id="event-{seq}""#)), "{}", sse.data);
    assert!(sse.data.contains("<strong>p99</strong>"));
    let page = day.page(&day.bo, &format!("{}/timeline", day.url)).await;
    assert!(page.contains(&format!(r#"<li class="event event-observation" id="event-{seq}""#)));
}

#[sqlx::test]
async fn an_announcement_pushes_the_fault_banner_to_open_pages(db: PgPool) {
    let (day, scenario) = running_day(db).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let mut stream = Stream::open(&day.bo, &live, None).await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let mut banner = None;
    while let Some(sse) = stream.next(Duration::from_secs(5)).await {
        if sse.event.as_deref() == Some("banners") && sse.data.contains("Announced:") {
            banner = Some(sse.data);
            break;
        }
    }
    let banner = banner.expect("a banners message");
    assert!(banner.contains("Announced:") && banner.contains("postgres") && banner.contains("tiny"), "{banner}");
}

/// A second instance of the app on the same database.
async fn second_instance(db: PgPool) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = Config { live_check_ms: 3_600_000, ..Config::for_bind(addr) };
    tokio::spawn(serve(listener, AppState::new(db, config), async {
        let _ = rx.await;
    }));
    (format!("http://{addr}"), tx)
}

#[sqlx::test]
async fn two_instances_on_one_database_show_the_same_stream(db: PgPool) {
    let (day, _) = running_day_notify_only(db.clone()).await;
    let (other, _stop) = second_instance(db).await;
    // Bo's session cookie is valid on both instances (sessions live in PostgreSQL), but the
    // cookie jar is per host: sign in again on the second one.
    let bo = crate::helpers::new_client();
    let response = bo
        .post(format!("{other}/signin"))
        .form(&[("email", "bo@example.com"), ("password", "correct horse battery")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mut on_b = Stream::open(&bo, &format!("{other}{}/live", day.url), None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _banners = on_b.next(Duration::from_secs(5)).await.expect("the stream opens");
    let _parts = on_b.next(Duration::from_secs(5)).await.expect("with the page parts");
    let posted = std::time::Instant::now();
    observe(&day, &day.li, "posted to instance A").await;
    let sse = on_b.next(Duration::from_secs(5)).await.expect("instance B streams what A wrote");
    assert!(sse.data.contains("posted to instance A"));
    assert!(posted.elapsed() < Duration::from_secs(1), "within moments: {:?}", posted.elapsed());
}

#[sqlx::test]
async fn streams_recover_when_the_listener_connection_is_killed(db: PgPool) {
    let (day, _) = running_day_notify_only(db).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let start = last_seq(&day).await;
    let mut stream = Stream::open(&day.bo, &live, None).await;
    let mut killed = 0;
    for i in 0..12 {
        if i % 4 == 1 {
            let n: i64 = sqlx::query_scalar(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity
                 where datname = current_database() and query ilike 'listen%'",
            )
            .fetch_one(&day.app.db)
            .await
            .unwrap();
            killed += n;
        }
        assert_eq!(observe(&day, &day.li, &format!("during the outage {i}")).await.status(), StatusCode::SEE_OTHER);
    }
    assert!(killed >= 1, "the listener's connection was found and terminated");
    let end = last_seq(&day).await;
    let expected: Vec<i64> = (start + 1..=end).collect();
    assert_eq!(stream.events(expected.len(), Duration::from_secs(15)).await, expected, "nothing missed, nothing twice");
}

#[sqlx::test]
async fn shutdown_closes_open_streams_and_does_not_hang(db: PgPool) {
    let (day, _) = running_day(db).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let mut stream = Stream::open(&day.bo, &live, None).await;
    let app = day.app;
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("the server stops with a stream open");
    assert!(stream.ends_within(Duration::from_secs(2)).await, "the stream ended");
}

#[sqlx::test]
async fn timings_and_the_picture_are_derived_from_the_timeline(db: PgPool) {
    let (day, scenario) = running_day(db).await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    // Li says the alert came 90 s after the injection (an "observed at" time, within the
    // two minutes of clock skew allowed ahead of now).
    let injected: time::OffsetDateTime =
        sqlx::query_scalar("select at from timeline_events where gameday_id = $1 and kind = 'scenario_injected'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    let seen = gameday::tz::format_utc(&(injected + time::Duration::seconds(90))).trim_end_matches('Z').to_owned();
    let form = [
        ("body", "error rate alert"),
        ("scenario", sid.as_str()),
        ("marker", "detection"),
        ("observed_at", seen.as_str()),
    ];
    let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "rollback", &[]).await.status(), StatusCode::SEE_OTHER);

    let page = day.page(&day.bo, &scenario).await;
    // 90 s, less the fraction of a second that the whole-second input drops.
    let detect = ["1m 29s", "1m 30s"];
    assert!(detect.iter().any(|d| page.contains(&format!("Time to detect</dt><dd>{d}"))), "derived, not typed in");
    let overview = day.page(&day.bo, &day.url).await;
    assert!(detect.iter().any(|d| overview.contains(&format!("detected in {d}"))));
    assert!(overview.contains("<svg") && overview.contains("class=\"mark-inject\""));
    assert!(overview.contains("injected at"), "marks have titles for people and screen readers");
}

#[sqlx::test]
async fn correct_is_offered_only_to_the_author_and_facilitators(db: PgPool) {
    let (day, _) = running_day(db).await;
    assert_eq!(day.add("vi@example.com", "observer").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(observe(&day, &day.li, "Checkout is slow").await.status(), StatusCode::SEE_OTHER);
    let seq = last_seq(&day).await;
    let correct = format!("{}/events/{seq}/correct", day.url);
    let timeline = format!("{}/timeline", day.url);

    let for_observer = day.page(&day.vi, &timeline).await;
    let for_other_participant = day.page(&day.bo, &day.url).await;
    let for_author = day.page(&day.li, &timeline).await;
    let for_facilitator = day.page(&day.ana, &timeline).await;

    assert!(!for_observer.contains(&correct), "an observer is not offered Correct on someone else's observation");
    assert!(!for_other_participant.contains(&correct), "nor is another participant");
    assert!(for_author.contains(&correct), "the author is");
    assert!(for_facilitator.contains(&correct), "a facilitator is");
    assert!(for_observer.contains(r#"data-may-correct="own""#), "the page script gets the same rule");
    assert_eq!(
        day.app.post_as(&day.vi, &correct, &[("body", "no")]).await.status(),
        StatusCode::FORBIDDEN,
        "and the server still refuses"
    );
}

#[sqlx::test]
async fn a_detection_dated_before_the_injection_is_refused_with_the_reason(db: PgPool) {
    let (day, scenario) = running_day(db).await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    let injected: time::OffsetDateTime =
        sqlx::query_scalar("select at from timeline_events where gameday_id = $1 and kind = 'scenario_injected'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    let before = gameday::tz::format_utc(&(injected - time::Duration::minutes(5))).trim_end_matches('Z').to_owned();
    let form = [
        ("body", "the alert fired"),
        ("scenario", sid.as_str()),
        ("marker", "detection"),
        ("observed_at", before.as_str()),
    ];

    let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    let at = page.find(r#"id="observed_at-error">"#).expect("the reason stands beside the time");
    assert!(page[at..].split("</p>").next().unwrap().contains("before that does not count"));
    assert!(page.contains("the alert fired"), "what was typed is kept");
}

#[sqlx::test]
async fn a_detection_on_a_scenario_not_injected_yet_is_refused_beside_the_marker(db: PgPool) {
    let (day, scenario) = running_day(db).await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let form = [("body", "the alert fired"), ("scenario", sid.as_str()), ("marker", "detection"), ("observed_at", "")];

    let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    let at = page.find(r#"id="marker-error">"#).expect("the reason stands beside the marker");
    let reason = page[at..].split("</p>").next().unwrap();
    assert!(
        reason.contains("“Stop the primary” has not been injected yet: a detection can only come after the injection"),
        "{reason}"
    );
    assert!(page.contains("the alert fired"), "what was typed is kept");
    assert!(page.contains(r#"<option value="detection" selected>"#), "the marker chosen is kept");
    let observations: i64 = sqlx::query_scalar("select count(*) from timeline_events where kind = 'observation'")
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(observations, 0, "nothing was logged");
}

#[sqlx::test]
async fn a_backdated_detection_is_refused_with_the_injection_time_in_my_zone(db: PgPool) {
    let (day, scenario) = running_day(db).await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let zone = [("display_name", "Li"), ("time_zone", "Asia/Tokyo")];
    assert_eq!(day.app.post_as(&day.li, "/account", &zone).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    let injected: time::OffsetDateTime =
        sqlx::query_scalar("select at from timeline_events where gameday_id = $1 and kind = 'scenario_injected'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    let before = gameday::tz::format_input(&(injected - time::Duration::minutes(5)), "Asia/Tokyo");
    let form =
        [("body", "the alert fired"), ("scenario", sid.as_str()), ("marker", "detection"), ("observed_at", &before)];

    let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    let at = page.find(r#"id="observed_at-error">"#).expect("the reason stands beside the time");
    let reason = page[at..].split("</p>").next().unwrap();
    let tokyo = gameday::tz::format_clock_named(&injected, "Asia/Tokyo");
    assert!(reason.contains(&format!("injected at {tokyo};")), "{reason}");
    assert!(!reason.contains("UTC"), "{reason}");
}

/// The next page parts a stream is sent (other messages skipped).
async fn next_parts(stream: &mut Stream) -> String {
    while let Some(sse) = stream.next(Duration::from_secs(5)).await {
        if sse.event.as_deref() == Some("parts") {
            return sse.data;
        }
    }
    panic!("no page parts arrived");
}

#[sqlx::test]
async fn state_parts_are_pushed_for_each_kind_of_viewer_when_the_day_moves_on(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    assert_eq!(day.add("vi@example.com", "observer").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    let live = day.app.url(&format!("{}/live", day.url));
    let mut facilitator = Stream::open(&day.ana, &live, None).await;
    let mut observer = Stream::open(&day.vi, &live, None).await;
    // What each is sent on connecting: the parts as they stand.
    for stream in [&mut facilitator, &mut observer] {
        assert_eq!(stream.next(Duration::from_secs(5)).await.unwrap().event.as_deref(), Some("banners"));
        let parts = stream.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(parts.event.as_deref(), Some("parts"));
        assert!(parts.data.contains(r#"id="gameday-status">Scheduled</span>"#), "{}", parts.data);
    }

    assert_eq!(day.step(&day.ana, "start").await.status(), StatusCode::SEE_OTHER);

    let for_facilitator = next_parts(&mut facilitator).await;
    let for_observer = next_parts(&mut observer).await;
    for parts in [&for_facilitator, &for_observer] {
        assert!(parts.contains(r#"id="gameday-status">Running</span>"#), "the status badge moves on for everyone");
        assert!(parts.contains("3 of 3 approved") || parts.contains("all 3 approved"), "the scenario line comes too");
    }
    assert!(for_facilitator.contains("End game day") && for_facilitator.contains("Announce fault"));
    assert!(
        !for_observer.contains("End game day") && !for_observer.contains("Announce fault"),
        "no buttons they cannot use"
    );
}

/// The next message of a kind whose data contains `needle`, or None within five seconds.
/// The next messages of each `(kind, needle)` wanted, in whatever order they come (a part read
/// again by the periodic check may come before or after a notification), or None for any not seen
/// within 5 s of the last message.
async fn next_each(stream: &mut Stream, wanted: &[(&str, &str)]) -> Vec<Option<String>> {
    let mut found: Vec<Option<String>> = vec![None; wanted.len()];
    while found.iter().any(Option::is_none) {
        let Some(sse) = stream.next(Duration::from_secs(5)).await else { break };
        for ((kind, needle), slot) in wanted.iter().zip(found.iter_mut()) {
            if slot.is_none() && sse.event.as_deref() == Some(*kind) && sse.data.contains(needle) {
                *slot = Some(sse.data.clone());
            }
        }
    }
    found
}

async fn next_with(stream: &mut Stream, kind: &str, needle: &str) -> Option<String> {
    while let Some(sse) = stream.next(Duration::from_secs(5)).await {
        if sse.event.as_deref() == Some(kind) && sse.data.contains(needle) {
            return Some(sse.data);
        }
    }
    None
}

#[sqlx::test]
async fn a_personal_stream_follows_my_teams_faults_and_sign_off_requests_and_no_one_elses(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    let live = day.app.url("/live");
    let mut bo = Stream::open(&day.bo, &live, None).await;
    let mut eve = Stream::open(&day.eve, &live, None).await;
    // On connecting: the parts as they stand.
    let requests = next_with(&mut bo, "parts", r#"id="signoff-requests""#).await.expect("bo's sign-off requests");
    assert!(requests.contains("1 scenario waits for your sign-off") && requests.contains(&scenario), "{requests}");
    let nothing = next_with(&mut eve, "parts", r#"id="signoff-requests""#).await.expect("eve's sign-off requests");
    assert!(nothing.contains("Nothing to sign"), "{nothing}");

    // A second scenario: bo hears of it (a notification and the list), live.
    let second = day.scenario("Fill the disk").await;
    let mut got = next_each(&mut bo, &[("parts", "2 scenarios wait"), ("notify", "Waiting for your sign-off")]).await;
    let requests = got[0].take().expect("the list grows live");
    assert!(requests.contains(&second));
    let notice = got[1].take().expect("a sign-off notification");
    assert!(notice.contains("Fill the disk") && notice.contains(&second), "{notice}");

    day.all_approve(&scenario).await;
    day.all_approve(&second).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let mut got = next_each(&mut bo, &[("notify", "Announced: Stop the primary"), ("parts", "Abort when:")]).await;
    let notice = got[0].take().expect("an announce notification");
    assert!(notice.contains("Platform") && notice.contains(&scenario), "{notice}");
    let banners = got[1].take().expect("the banner, live");
    assert!(banners.contains(r#"id="elsewhere-banners""#), "{banners}");
    assert!(banners.contains("Stop the primary") && banners.contains(&format!(r#"href="{scenario}""#)), "{banners}");
    assert!(banners.contains("Abort when:") && !banners.contains("Halt</button>"), "{banners}");

    // Someone outside the team hears nothing of it.
    while let Some(sse) = eve.next(Duration::from_secs(2)).await {
        assert!(!sse.data.contains("Stop the primary"), "a non-member was told: {sse:?}");
    }
    // And cannot ask for the team's sign-off requests.
    let response = day.app.get_as(&day.eve, &format!("/live?team={}", day.slug)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A reload shows what was pushed: the banner on the dashboard, not twice on the game day.
    let dashboard = day.page(&day.bo, "/").await;
    assert!(dashboard.contains(r#"id="elsewhere-banners""#) && dashboard.contains("Stop the primary"));
    let page = day.page(&day.bo, &day.url).await;
    let elsewhere = page.split(r#"id="elsewhere-banners""#).nth(1).unwrap().split("</div>").next().unwrap();
    assert!(!elsewhere.contains("Stop the primary"), "the game day's own banner shows in its own place");
    assert!(!day.page(&day.eve, "/").await.contains("Stop the primary"));
}

#[sqlx::test]
async fn a_game_day_page_stream_carries_faults_of_my_other_game_days(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    let response =
        day.app.post_as(&day.ana, &format!("/teams/{}/gamedays", day.slug), &crate::gamedays::GAMEDAY_FORM).await;
    let other = location(&response);
    let bo_id = crate::helpers::user_id(&day.app.db, "bo@example.com").await.to_string();
    let added = day
        .app
        .post_as(&day.ana, &format!("{other}/participants"), &[("user_id", &bo_id), ("role", "participant")])
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let mut stream = Stream::open(&day.bo, &day.app.url(&format!("{other}/live")), None).await;
    assert!(next_with(&mut stream, "parts", r#"id="elsewhere-banners""#).await.is_some(), "sent on connecting");

    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let banners = next_with(&mut stream, "parts", "Stop the primary").await.expect("the other game day's banner");
    assert!(banners.contains(r#"id="elsewhere-banners""#) && banners.contains("Platform · Database failover drill"));
    assert_eq!(day.run(&day.ana, &scenario, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(next_with(&mut stream, "notify", "Injected: Stop the primary").await.is_some());
}

#[sqlx::test]
async fn sign_offs_and_the_day_at_a_glance_are_pushed_as_they_change(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let live = day.app.url(&format!("{}/live", day.url));
    let mut stream = Stream::open(&day.bo, &live, None).await;
    let first = next_parts(&mut stream).await;
    assert!(first.contains(&format!(r#"id="signers-{sid}""#)) && first.contains("Bo</strong> has not signed yet"));
    assert!(first.contains(r#"id="day-picture""#) && first.contains("Nothing to draw yet"), "{first}");

    let signed =
        day.app.post_as(&day.li, &format!("{scenario}/signoff"), &[("revision", "1"), ("decision", "approve")]).await;
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let parts = next_parts(&mut stream).await;
    assert!(parts.contains("Li</strong> approved"), "Li's approval is pushed: {parts}");

    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let mut picture = String::new();
    for _ in 0..20 {
        picture = next_parts(&mut stream).await;
        if picture.contains("mark-announce") {
            break;
        }
    }
    let lane = picture.split(r#"id="day-picture""#).nth(1).expect("the picture is a part");
    assert!(lane.contains("1. Stop the primary") && lane.contains(r#"class="mark-announce""#), "{lane}");
    assert!(lane.contains("data-at="), "its clocks carry their times for the viewer's zone");
}

/// A running game day whose streams tick every 200 ms: the membership check every 400 ms.
async fn quickly_checked_day(db: PgPool) -> (Day, String) {
    running_day_with(db, |c| c.live_keep_alive_ms = 200).await
}

#[sqlx::test]
async fn a_stream_ends_at_its_next_check_once_its_viewer_is_off_the_team_or_signed_out(db: PgPool) {
    let (day, _) = quickly_checked_day(db).await;
    let on_the_day = day.app.url(&format!("{}/live", day.url));
    let mine = day.app.url("/live");
    let mut bo_day = Stream::open(&day.bo, &on_the_day, None).await;
    let mut bo_mine = Stream::open(&day.bo, &mine, None).await;
    let mut li_day = Stream::open(&day.li, &on_the_day, None).await;
    let mut li_mine = Stream::open(&day.li, &mine, None).await;
    // While they stand, the checks let the streams go on (several pass in this time).
    assert!(!bo_day.ends_within(Duration::from_millis(1500)).await, "a member's stream stays open");
    assert!(!li_mine.ends_within(Duration::from_millis(100)).await);

    // Bo is removed from the team: the game day's stream ends; his own goes on (still signed in).
    let bo_id = day.id_of("bo@example.com").await;
    let removed = day.app.post_as(&day.ana, &format!("/teams/{}/members/{bo_id}/remove", day.slug), &[]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(bo_day.ends_within(Duration::from_secs(3)).await, "the stream of a game day of a team he left ends");
    assert!(!bo_mine.ends_within(Duration::from_secs(1)).await, "his own stream goes on");

    // Li signs out everywhere: both her streams end, though she is still in the team.
    let ended = day.app.post_as(&day.li, "/account/sessions/end-all", &[]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert!(li_day.ends_within(Duration::from_secs(3)).await, "a signed-out session's game-day stream ends");
    assert!(li_mine.ends_within(Duration::from_secs(3)).await, "a signed-out session's own stream ends");
}

#[sqlx::test]
async fn someone_who_joins_a_team_is_sent_its_faults_in_flight_at_the_next_check(db: PgPool) {
    let (day, scenario) = quickly_checked_day(db).await;
    let mut eve = Stream::open(&day.eve, &day.app.url("/live"), None).await;
    // Announced while Eve is in no team: her stream ignores it.
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    while let Some(sse) = eve.next(Duration::from_millis(800)).await {
        assert!(!sse.data.contains("Stop the primary"), "told before she joined: {sse:?}");
    }
    // She joins. No event follows, yet her stream's next check finds a new team and reads her
    // parts again (well before the check that reads them whatever happened, 4 s away).
    let invite = day.app.invite(&day.ana, &day.slug, "member").await;
    assert_eq!(day.app.post_as(&day.eve, &format!("{invite}/accept"), &[]).await.status(), StatusCode::SEE_OTHER);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut banner = None;
    while let Some(sse) = eve.next(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
        if sse.event.as_deref() == Some("parts") && sse.data.contains("Stop the primary") {
            banner = Some(sse.data);
            break;
        }
    }
    let banner = banner.expect("the new team's fault in flight, at the next check");
    assert!(banner.contains(r#"id="elsewhere-banners""#), "{banner}");
}
