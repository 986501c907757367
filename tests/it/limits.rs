//! This instance's limits on live streams, over real HTTP: a person's newest page closes their
//! oldest stream beyond the per-person limit, and past the instance's limit a new stream is
//! refused with 503, `Retry-After` and an SSE `retry:`.

use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::live::{Stream, observe, running_day_with};

const WAIT: Duration = Duration::from_secs(10);

#[sqlx::test]
async fn a_persons_newest_stream_closes_their_oldest_past_the_default_limit(db: PgPool) {
    // The default limit (8) is the one under test: no configuration here.
    let (day, _) = running_day_with(db, |_| {}).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let mut streams = Vec::new();
    for _ in 0..8 {
        streams.push(Stream::open(&day.bo, &live, None).await);
    }

    let mut newest = Stream::open(&day.bo, &live, None).await;

    let oldest = &mut streams[0];
    let mut told = false;
    while let Some(message) = oldest.next(WAIT).await {
        if message.event.as_deref() == Some("superseded") {
            told = true;
            break;
        }
    }
    assert!(told, "the oldest stream is told why it ends (so the page does not reconnect)");
    assert!(oldest.ends_within(WAIT).await, "the oldest stream ends");
    let before = sqlx::query_scalar::<_, i64>("select last_event_seq from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(observe(&day, &day.li, "p99 climbing").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(newest.events(1, WAIT).await, vec![before + 1], "the newest stream works");
    assert_eq!(streams[1].events(1, WAIT).await, vec![before + 1], "the second oldest is still open");
}

#[sqlx::test]
async fn past_the_instances_limit_a_stream_is_refused_with_retry_after(db: PgPool) {
    let (day, _) = running_day_with(db, |c| c.live_streams_max = 2).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let _bo = Stream::open(&day.bo, &live, None).await;
    let _li = Stream::open(&day.li, &live, None).await;

    for (client, url) in [(&day.ana, live.clone()), (&day.ana, day.app.url("/live"))] {
        let response = client.get(&url).header("accept", "text/event-stream").send().await.unwrap();

        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{url}");
        assert_eq!(response.headers()["retry-after"], "10");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let body = response.text().await.unwrap();
        assert!(body.contains("retry: 10000"), "the stream's own retry delay: {body}");
    }
}

#[sqlx::test]
async fn the_limits_are_the_configured_ones(db: PgPool) {
    let (day, _) = running_day_with(db, |c| c.live_streams_per_person = 1).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let mut first = Stream::open(&day.bo, &live, None).await;

    let _second = Stream::open(&day.bo, &day.app.url("/live"), None).await;

    assert!(first.ends_within(WAIT).await, "one stream per person: the page stream closed the game day's");
}

const TOKEN: &str = "scrape-the-steps";

/// Writes `count` observations to the game day in one transaction, as the app records events
/// (numbered from the game day's row, one NOTIFY each), and returns the last sequence number.
async fn write_events(db: &PgPool, gameday: uuid::Uuid, count: i64) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let last: i64 = sqlx::query_scalar(
        "update gamedays set last_event_seq = last_event_seq + $2 where id = $1 returning last_event_seq",
    )
    .bind(gameday)
    .bind(count)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "insert into timeline_events (gameday_id, seq, kind, body)
         select $1, $2 - $3 + n, 'observation', 'note ' || n from generate_series(1, $3) n",
    )
    .bind(gameday)
    .bind(last)
    .bind(count)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("select pg_notify('gameday_timeline', $1 || ':' || s) from generate_series($2 - $3 + 1, $2) s")
        .bind(gameday.to_string())
        .bind(last)
        .bind(count)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    last
}

/// The catch-up histogram's cumulative counts: (upper bound, observations at or below it).
async fn catch_up_buckets(app: &crate::helpers::TestApp) -> Vec<(f64, f64)> {
    let text = reqwest::Client::new()
        .get(app.url("/metrics"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("gameday_live_catch_up_events_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.parse().unwrap_or(f64::INFINITY), count.trim().parse().ok()?))
        })
        .collect()
}

#[sqlx::test]
async fn a_watcher_who_does_not_read_is_caught_up_in_bounded_steps_without_a_gap(db: PgPool) {
    let (day, _) = running_day_with(db, |c| c.metrics_token = Some(TOKEN.into())).await;
    let live = day.app.url(&format!("{}/live", day.url));
    let first: i64 = sqlx::query_scalar("select last_event_seq from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    let mut unread = Stream::open(&day.bo, &live, None).await;

    // More events at once than the hub's channel holds (1,024): the stream nobody reads falls
    // behind it, and a page that comes back with an old Last-Event-ID is far behind too.
    let last = write_events(&day.app.db, day.id, 1_500).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut returning = Stream::open(&day.li, &live, Some(first)).await;

    let expected: Vec<i64> = (first + 1..=last).collect();
    assert_eq!(unread.events(expected.len(), Duration::from_secs(60)).await, expected, "no gap, nothing twice");
    assert_eq!(returning.events(expected.len(), Duration::from_secs(60)).await, expected);
    let buckets = catch_up_buckets(&day.app).await;
    let at_most = |bound: f64| buckets.iter().find(|(le, _)| *le == bound).map(|(_, n)| *n).unwrap_or(0.0);
    let all = at_most(f64::INFINITY);
    assert!(all >= 30.0, "1,500 events were read in steps: {buckets:?}");
    assert_eq!(at_most(100.0), all, "no stream read more than a step of 100 at once: {buckets:?}");
}
