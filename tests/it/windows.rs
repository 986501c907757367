//! The game-day and timeline pages show a window of recent events, the timeline pages back with
//! keyset pagination (no gap, no duplicate, filters kept), and what people wrote is rendered
//! once, when recorded, and reused.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::gamedays::Day;

/// The sequence numbers of the events a page lists, in order.
fn listed(page: &str) -> Vec<i64> {
    page.split("<li class=\"event ")
        .skip(1)
        .filter_map(|li| li.split("data-seq=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect()
}

/// The address of the "Earlier events" link, if the page has one.
fn earlier(page: &str) -> Option<String> {
    let before = page.split("\" rel=\"prev\">Earlier events").next()?;
    (before.len() < page.len())
        .then(|| before.rsplit("href=\"").next().unwrap().replace("&amp;", "&").replace("&#38;", "&"))
}

async fn observe(day: &Day, body: &str) -> StatusCode {
    day.app.post_as(&day.li, &format!("{}/observations", day.url), &[("body", body)]).await.status()
}

#[sqlx::test]
async fn the_timeline_shows_the_latest_events_and_pages_back_without_gap_or_duplicate(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    for i in 0..130 {
        assert_eq!(observe(&day, &format!("reading {i}")).await, StatusCode::SEE_OTHER);
    }
    let last: i64 = sqlx::query_scalar("select last_event_seq from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert!(last > 130);

    let first = day.page(&day.bo, &format!("{}/timeline", day.url)).await;
    let shown = listed(&first);
    assert_eq!(shown.len(), 100, "one window of events");
    assert_eq!(*shown.last().unwrap(), last, "ending with the latest");
    assert!(first.contains(&format!("<span id=\"event-total\">{last}</span> events")), "the count is of every event");
    assert!(first.contains("data-filtered=\"false\""), "the latest events follow the live stream");

    // Page back to the first event: every event once, in order.
    let mut seen: Vec<i64> = shown;
    let mut next = earlier(&first);
    let mut pages = 1;
    while let Some(url) = next {
        let page = day.page(&day.bo, &url).await;
        assert!(page.contains("data-filtered=\"true\""), "an earlier page does not append live events");
        assert!(page.contains("Back to the latest"));
        let mut older = listed(&page);
        assert!(!older.is_empty() && older.len() <= 100);
        older.extend(seen);
        seen = older;
        next = earlier(&page);
        pages += 1;
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(seen, (1..=last).collect::<Vec<_>>(), "no gap, no duplicate");
    assert_eq!(pages, 2);

    // The game-day page shows the latest few and sends to the timeline for the rest.
    let gameday = day.page(&day.bo, &day.url).await;
    let latest = listed(&gameday);
    assert_eq!(latest, ((last - 19)..=last).collect::<Vec<_>>());
    assert!(gameday.contains(&format!("id=\"event-total\">{last}</span>")));
    assert!(gameday.contains(&format!("<a href=\"{}/timeline\">Earlier events</a>", day.url)));
}

#[sqlx::test]
async fn an_earlier_page_keeps_the_filters_and_shows_corrections_made_later(db: PgPool) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Kill the primary").await;
    let scenario_id = scenario.rsplit('/').next().unwrap().to_owned();
    day.start().await;
    for i in 0..105 {
        let form = [("body", format!("about the primary {i}")), ("scenario", scenario_id.clone())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(observe(&day, &format!("about nothing {i}")).await, StatusCode::SEE_OTHER);
    }
    let first_observation: i64 = sqlx::query_scalar(
        "select min(seq) from timeline_events where gameday_id = $1 and kind = 'observation' and scenario_id is not null",
    )
    .bind(day.id)
    .fetch_one(&day.app.db)
    .await
    .unwrap();
    let response = day
        .app
        .post_as(
            &day.li,
            &format!("{}/events/{first_observation}/correct", day.url),
            &[("body", "**was** the replica")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let query = format!("{}/timeline?scenario={scenario_id}&kind=observations", day.url);
    let first = day.page(&day.bo, &query).await;
    assert_eq!(listed(&first).len(), 100);
    let url = earlier(&first).expect("more than a window of matching events");
    assert!(url.contains(&format!("scenario={scenario_id}")) && url.contains("kind=observations"), "{url}");
    let page = day.page(&day.bo, &url).await;
    let older = listed(&page);
    let all: BTreeSet<i64> = older.iter().chain(listed(&first).iter()).copied().collect();
    assert_eq!(all.len(), older.len() + 100, "no duplicate across pages");
    // 105 about the scenario, and the correction (an observation-kind event of the same scenario).
    assert_eq!(all.len(), 106);
    assert!(!page.contains("about nothing"), "the filters are kept on the earlier page");
    assert!(older.contains(&first_observation));
    // The correction came last, yet the original on the earlier page shows it.
    let original = page.split(&format!("id=\"event-{first_observation}\"")).nth(1).unwrap();
    let original = original.split("</li>").next().unwrap();
    assert!(original.contains("<strong>was</strong> the replica"), "{original}");
}

#[sqlx::test]
async fn what_people_write_is_rendered_once_when_recorded_and_reused(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Kill the primary").await;
    day.start().await;
    assert_eq!(observe(&day, "p99 at **900 ms** <script>alert(1)</script>").await, StatusCode::SEE_OTHER);
    let (seq, html): (i64, Option<String>) =
        sqlx::query_as("select seq, body_html from timeline_events where gameday_id = $1 and kind = 'observation'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    let html = html.expect("kept when recorded");
    assert!(html.contains("<strong>900 ms</strong>") && !html.contains("<script"), "{html}");
    let system: Option<String> =
        sqlx::query_scalar("select body_html from timeline_events where gameday_id = $1 and kind = 'gameday_started'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    assert_eq!(system, None, "Gameday's own sentences are escaped when shown");

    // The pages show what was kept, not a new rendering: an event recorded with kept HTML that
    // differs from its text shows the kept HTML. (Events are never updated, so it is inserted.)
    sqlx::query(
        "with g as (update gamedays set last_event_seq = last_event_seq + 1 where id = $1 returning last_event_seq)
         insert into timeline_events (gameday_id, seq, kind, body, body_html, data)
         select $1, last_event_seq, 'observation', 'plain words', '<p>kept <em>rendering</em></p>', '{}' from g",
    )
    .bind(day.id)
    .execute(&day.app.db)
    .await
    .unwrap();
    for path in [format!("{}/timeline", day.url), day.url.clone()] {
        let page = day.page(&day.bo, &path).await;
        assert!(page.contains("<p>kept <em>rendering</em></p>"), "{path} shows the kept HTML");
        assert!(!page.contains("plain words"));
        assert!(page.contains("<strong>900 ms</strong>"));
        assert!(page.contains(&format!("id=\"event-{seq}\"")));
    }
    // An event recorded before events kept their HTML is rendered when read.
    sqlx::query(
        "with g as (update gamedays set last_event_seq = last_event_seq + 1 where id = $1 returning last_event_seq)
         insert into timeline_events (gameday_id, seq, kind, body, data)
         select $1, last_event_seq, 'observation', 'an _old_ one', '{}' from g",
    )
    .bind(day.id)
    .execute(&day.app.db)
    .await
    .unwrap();
    let page = day.page(&day.bo, &format!("{}/timeline", day.url)).await;
    assert!(page.contains("an <em>old</em> one"));
}
