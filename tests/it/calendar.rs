//! Calendar output read back by a real iCalendar parser.

use icalendar::{Calendar, CalendarComponent, Component, EventLike};
use reqwest::StatusCode;
use sqlx::PgPool;

use crate::gamedays::{Day, scenario_form};
use crate::helpers::{location, new_client};

fn parse(text: &str) -> Calendar {
    text.parse::<Calendar>().unwrap_or_else(|e| panic!("not valid iCalendar: {e}\n{text}"))
}

fn events(calendar: &Calendar) -> Vec<&icalendar::Event> {
    calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// `client` makes their own feed URL for the Day's team; returns its path, read from the team page
/// where it is shown once.
pub async fn my_feed(day: &Day, client: &reqwest::Client) -> String {
    let response = day.app.post_as(client, &format!("/teams/{}/calendar/regenerate", day.slug), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).ends_with("#calendar"));
    let page = day.page(client, &format!("/teams/{}", day.slug)).await;
    let start = page.find(&format!("{}/calendar/", day.app.base)).expect("the team page shows the new feed URL");
    page[start..].split('"').next().unwrap().trim_start_matches(&day.app.base).to_owned()
}

#[sqlx::test]
async fn the_ics_survives_commas_semicolons_newlines_and_non_ascii(db: PgPool) {
    let day = Day::new(db).await;
    let tricky = [
        ("title", "Failover; primary, then réplica — 東京"),
        ("objective", "Learn: does checkout, payments; and search\nsurvive? Ünïcödé ✓"),
        ("environment", "staging"),
        ("systems", "checkout,payments"),
        ("starts_at", "2026-12-01T10:00"),
        ("ends_at", "2026-12-01T12:00"),
        ("call_link", "https://meet.example/a;b,c"),
    ];
    let response = day.app.post_as(&day.ana, &format!("{}/edit", day.url), &tricky).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let owner = day.id_of("ana@example.com").await;
    day.app.post_as(&day.ana, &format!("{}/scenarios", day.url), &scenario_form("Kill pod, wait; see", &owner)).await;

    let response = day.app.get_as(&day.li, &format!("{}/calendar.ics", day.url)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let text = response.text().await.unwrap();
    assert!(text.lines().all(|l| l.len() <= 75), "lines are folded at 75 octets");
    let calendar = parse(&text);
    let events = events(&calendar);
    assert_eq!(events.len(), 1);
    let event = events[0];
    assert_eq!(event.get_summary(), Some("Game day: Failover; primary, then réplica — 東京"));
    let description = event.get_description().unwrap();
    assert!(description.contains("Learn: does checkout, payments; and search\nsurvive? Ünïcödé ✓"), "{description}");
    assert!(description.contains("- Kill pod, wait; see (blast radius tiny, target postgres)"), "{description}");
    assert!(description.contains("Call: https://meet.example/a;b,c"), "{description}");
    assert_eq!(event.get_location(), Some("https://meet.example/a;b,c"));
    assert_eq!(event.property_value("DTSTART"), Some("20261201T100000Z"));
    assert_eq!(event.property_value("DTEND"), Some("20261201T120000Z"));
    assert_eq!(
        event.get_uid(),
        Some(format!("gameday-{}@{}", day.id, day.app.base.trim_start_matches("http://")).as_str())
    );
}

#[sqlx::test]
async fn rescheduling_raises_the_sequence_and_cancelling_marks_the_event_cancelled(db: PgPool) {
    let day = Day::new(db).await;
    let ics = |day: &Day| {
        let url = format!("{}/calendar.ics", day.url);
        let client = day.li.clone();
        let app_url = day.app.url(&url);
        async move { client.get(app_url).send().await.unwrap().text().await.unwrap() }
    };
    let first = parse(&ics(&day).await);
    let first = events(&first)[0].clone();
    let before = first.get_sequence().unwrap_or(0);

    let mut moved = crate::gamedays::GAMEDAY_FORM.to_vec();
    moved.retain(|(k, _)| *k != "starts_at" && *k != "ends_at");
    moved.extend([("starts_at", "2026-12-02T10:00"), ("ends_at", "2026-12-02T12:00")]);
    assert_eq!(day.app.post_as(&day.ana, &format!("{}/edit", day.url), &moved).await.status(), StatusCode::SEE_OTHER);
    let second = parse(&ics(&day).await);
    let second = events(&second)[0].clone();
    assert_eq!(second.get_uid(), first.get_uid(), "the UID is stable");
    assert!(second.get_sequence().unwrap() > before, "SEQUENCE rises on reschedule");
    assert_eq!(second.property_value("DTSTART"), Some("20261202T100000Z"));

    let response = day.app.post_as(&day.ana, &format!("{}/cancel", day.url), &[("reason", "Freeze week")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let third = parse(&ics(&day).await);
    let third = events(&third)[0].clone();
    assert_eq!(third.property_value("STATUS"), Some("CANCELLED"));
    assert!(third.get_sequence().unwrap() > second.get_sequence().unwrap());
}

#[sqlx::test]
async fn the_team_feed_lists_scheduled_game_days_behind_a_secret_that_can_be_regenerated(db: PgPool) {
    let day = Day::new(db).await;
    let feed = my_feed(&day, &day.li).await;

    // A draft is not on the fault calendar.
    let anonymous = new_client();
    let text = day.app.get_as(&anonymous, &feed).await.text().await.unwrap();
    assert!(events(&parse(&text)).is_empty());
    day.scenario("Stop the primary").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    let text = day.app.get_as(&anonymous, &feed).await.text().await.unwrap();
    let calendar = parse(&text);
    assert_eq!(events(&calendar).len(), 1, "the calendar app needs no sign-in, only the secret URL");
    assert_eq!(events(&calendar)[0].get_summary(), Some("Game day: Database failover drill"));

    assert_eq!(day.app.get_as(&anonymous, "/calendar/not-the-token.ics").await.status(), StatusCode::NOT_FOUND);
    // Li makes a new secret; her old URL stops working.
    let new_feed = my_feed(&day, &day.li).await;
    assert_ne!(new_feed, feed);
    assert_eq!(day.app.get_as(&anonymous, &feed).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.app.get_as(&anonymous, &new_feed).await.status(), StatusCode::OK);
}

#[sqlx::test]
async fn each_member_has_their_own_feed_and_a_new_one_ends_only_their_old_one(db: PgPool) {
    let day = Day::new(db).await;
    let anonymous = new_client();
    let li_feed = my_feed(&day, &day.li).await;
    let bo_feed = my_feed(&day, &day.bo).await;
    assert_ne!(li_feed, bo_feed);

    let li_new = my_feed(&day, &day.li).await;

    assert_eq!(day.app.get_as(&anonymous, &li_feed).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.app.get_as(&anonymous, &li_new).await.status(), StatusCode::OK);
    assert_eq!(day.app.get_as(&anonymous, &bo_feed).await.status(), StatusCode::OK, "Bo's feed is untouched");
    let page = day.page(&day.li, &format!("/teams/{}", day.slug)).await;
    assert!(!page.contains(&li_new), "the URL is shown once");
    assert!(page.contains("Make a new address (your old one stops working)"));
}

#[sqlx::test]
async fn only_a_hash_of_the_feed_secret_is_stored(db: PgPool) {
    let day = Day::new(db).await;

    let feed = my_feed(&day, &day.li).await;

    let secret = feed.trim_start_matches("/calendar/").trim_end_matches(".ics");
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select token_hash from calendar_feeds").fetch_all(&day.app.db).await.unwrap();
    use sha2::Digest;
    assert_eq!(stored, vec![sha2::Sha256::digest(secret.as_bytes()).to_vec()]);
    let dump: String = sqlx::query_scalar("select string_agg(t::text, ' ') from calendar_feeds t")
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert!(!dump.contains(secret), "the secret itself is nowhere in the table");
}

#[sqlx::test]
async fn a_feed_stops_working_when_its_member_leaves_or_is_removed(db: PgPool) {
    let day = Day::new(db).await;
    let anonymous = new_client();
    let li_feed = my_feed(&day, &day.li).await;
    let bo_feed = my_feed(&day, &day.bo).await;
    let ana_feed = my_feed(&day, &day.ana).await;
    let bo_id = day.id_of("bo@example.com").await;

    let left = day.app.post_as(&day.li, &format!("/teams/{}/leave", day.slug), &[]).await;
    let removed = day.app.post_as(&day.ana, &format!("/teams/{}/members/{bo_id}/remove", day.slug), &[]).await;

    assert_eq!((left.status(), removed.status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    assert_eq!(day.app.get_as(&anonymous, &li_feed).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.app.get_as(&anonymous, &bo_feed).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.app.get_as(&anonymous, &ana_feed).await.status(), StatusCode::OK);
}

/// The DTSTAMP of the one event in `text`.
fn stamp(text: &str) -> String {
    let calendar = parse(text);
    events(&calendar)[0].property_value("DTSTAMP").expect("a DTSTAMP").to_owned()
}

#[sqlx::test]
async fn the_ics_keeps_its_bytes_until_the_game_day_changes(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Stop the primary").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    let feed = my_feed(&day, &day.li).await;
    let ics = format!("{}/calendar.ics", day.url);
    let download = |path: String| {
        let client = day.li.clone();
        let url = day.app.url(&path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };

    // Downloaded twice, a second apart: the same bytes, stamped with the game day's last change.
    let (first, first_feed) = (download(ics.clone()).await, download(feed.clone()).await);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(download(ics.clone()).await, first, "the same game day gives the same .ics");
    assert_eq!(download(feed.clone()).await, first_feed, "and the same feed");
    let scheduled_at: time::OffsetDateTime =
        sqlx::query_scalar("select at from timeline_events where gameday_id = $1 and kind = 'gameday_scheduled'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    assert_eq!(stamp(&first), scheduled_at.format(&format).unwrap(), "DTSTAMP is when it last changed");

    // A change moves the stamp on.
    let mut moved = crate::gamedays::GAMEDAY_FORM.to_vec();
    moved.retain(|(k, _)| *k != "starts_at");
    moved.push(("starts_at", "2026-12-01T11:00"));
    assert_eq!(day.app.post_as(&day.ana, &format!("{}/edit", day.url), &moved).await.status(), StatusCode::SEE_OTHER);
    let after = download(ics).await;
    assert!(stamp(&after) > stamp(&first), "{} then {}", stamp(&first), stamp(&after));
    assert_eq!(stamp(&download(feed).await), stamp(&after), "the feed's entry moved on too");
}

#[sqlx::test]
async fn calendar_files_name_gameday_as_their_product(db: PgPool) {
    let day = Day::new(db).await;
    let text = day.app.get_as(&day.li, &format!("{}/calendar.ics", day.url)).await.text().await.unwrap();
    let calendar = parse(&text);
    // RFC 5545 3.7.3: a globally unique "-//Owner//Product//Language" identifier.
    assert_eq!(calendar.property_value("PRODID"), Some("-//Gameday//Gameday//EN"));
    assert_eq!(text.matches("PRODID:").count(), 1, "one PRODID");
    assert_eq!(calendar.property_value("VERSION"), Some("2.0"));
}
