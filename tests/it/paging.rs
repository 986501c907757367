//! The lists that grow with use come in pages (or, on the dashboard, capped), over real HTTP:
//! the first page holds the page size, its link leads to the rest with no gap and nothing twice,
//! and the page's filters survive the link.

use std::collections::HashSet;

use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::calendar::my_feed;
use crate::gamedays::Day;

const PAGE: usize = 50;

/// Adds `count` game days to the Day's team, each with Ana facilitating, starting `days` apart
/// from `first_day` days from now (negative: in the past), in `status`.
async fn seed_gamedays(day: &Day, count: i64, first_day: i64, step: i64, status: &str) {
    sqlx::query(
        "with g as (
            insert into gamedays (id, team_id, title, objective, environment, systems, starts_at, status, created_by)
            select gen_random_uuid(), t.id, 'Seeded drill ' || n, '', 'staging', '',
                   now() + make_interval(days => ($3 + ($4 * n))::int), $5::gameday_status, u.id
            from teams t, users u, generate_series(0, $2 - 1) n
            where t.slug = $1 and u.email = 'ana@example.com'
            returning id, created_by)
         insert into gameday_participants (gameday_id, user_id, role) select id, created_by, 'facilitator' from g",
    )
    .bind(&day.slug)
    .bind(count)
    .bind(first_day)
    .bind(step)
    .bind(status)
    .execute(&day.app.db)
    .await
    .unwrap();
}

/// The part of `page` from `start` to the end of its section.
fn section<'a>(page: &'a str, start: &str) -> &'a str {
    let from = page.find(start).unwrap_or_else(|| panic!("{start} on the page"));
    let rest = &page[from..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// Every id that follows `prefix` in `html`, in order.
fn ids_after(html: &str, prefix: &str) -> Vec<String> {
    html.match_indices(prefix).map(|(at, _)| html[at + prefix.len()..at + prefix.len() + 36].to_owned()).collect()
}

/// The `href` of the link whose text is `text`, unescaped.
fn link(html: &str, text: &str) -> Option<String> {
    let end = html.find(&format!(">{text}</a>"))?;
    let start = html[..end].rfind("href=\"")? + 6;
    let href = html[start..end].trim_end_matches('"');
    Some(href.replace("&amp;", "&").replace("&#38;", "&").replace("&#x2f;", "/"))
}

async fn page(day: &Day, client: &Client, path: &str) -> String {
    let response = day.app.get_as(client, path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.unwrap()
}

fn no_gap_nothing_twice(first: &[String], second: &[String], expected: usize) {
    let all: HashSet<&String> = first.iter().chain(second).collect();
    assert_eq!(all.len(), first.len() + second.len(), "nothing on both pages");
    assert_eq!(all.len(), expected, "every row on one of the pages");
}

#[sqlx::test]
async fn the_team_page_shows_its_game_days_a_page_at_a_time(db: PgPool) {
    let day = Day::new(db).await;
    seed_gamedays(&day, 60, -1, -3, "completed").await;
    let prefix = format!("<a href=\"/teams/{}/gamedays/", day.slug);

    let first = page(&day, &day.li, &format!("/teams/{}", day.slug)).await;
    let first_ids = ids_after(section(&first, "id=\"gamedays-heading\""), &prefix);
    let next = link(&first, "Earlier game days").expect("a link to the earlier game days");
    let second = page(&day, &day.li, &next).await;
    let second_ids = ids_after(section(&second, "id=\"gamedays-heading\""), &prefix);

    assert_eq!(first_ids.len(), PAGE);
    assert!(first.contains(&day.id.to_string()), "the coming game day is on the first page");
    no_gap_nothing_twice(&first_ids, &second_ids, 61);
    assert!(link(&second, "Earlier game days").is_none(), "the last page links no further");
    assert!(link(&second, "Latest game days").is_some());
    assert_eq!(
        day.app.get_as(&day.li, &format!("/teams/{}?before=nope", day.slug)).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Adds learnings to the Day's team: `count` about failover (tagged `failover`, every third one
/// saying it twice, so ranks differ), and 5 about caches (tagged `cache`).
async fn seed_learnings(day: &Day, count: i64) {
    sqlx::query(
        "insert into learnings (id, team_id, statement, tags, search, author)
         select gen_random_uuid(), t.id, s.statement, s.tags,
                setweight(to_tsvector('english', s.statement), 'A')
                  || setweight(to_tsvector('english', array_to_string(s.tags, ' ')), 'B'),
                u.id
         from teams t, users u,
              lateral (select case when n % 3 = 0 then 'Failover failover drill ' else 'Failover drill ' end || n as statement,
                              array['failover'] as tags
                       from generate_series(1, $2) n
                       union all
                       select 'Cache warmed slowly ' || n, array['cache'] from generate_series(1, 5) n) s
         where t.slug = $1 and u.email = 'ana@example.com'",
    )
    .bind(&day.slug)
    .bind(count)
    .execute(&day.app.db)
    .await
    .unwrap();
}

#[sqlx::test]
async fn the_learnings_come_a_page_at_a_time_with_their_search_and_tag_kept(db: PgPool) {
    let day = Day::new(db).await;
    seed_learnings(&day, 60).await;
    let learnings = format!("/teams/{}/learnings", day.slug);

    for filters in ["?tag=failover", "?q=failover", "?q=failover&tag=failover"] {
        let first = page(&day, &day.li, &format!("{learnings}{filters}")).await;
        let next = link(&first, "More learnings").unwrap_or_else(|| panic!("a link to more learnings for {filters}"));
        let second = page(&day, &day.li, &next).await;

        let statements = |html: &str| -> Vec<String> {
            html.match_indices("<p class=\"prose learning\">")
                .map(|(at, tag)| html[at + tag.len()..].split('<').next().unwrap().to_owned())
                .collect()
        };
        let (first_rows, second_rows) = (statements(&first), statements(&second));
        assert_eq!(first_rows.len(), PAGE, "{filters}");
        no_gap_nothing_twice(&first_rows, &second_rows, 60);
        assert!(first_rows.iter().chain(&second_rows).all(|s| s.starts_with("Failover")), "{filters}: only matches");
        for kept in filters.trim_start_matches('?').split('&') {
            assert!(next.contains(kept), "{next} keeps {kept}");
        }
        assert!(link(&second, "More learnings").is_none(), "{filters}");
    }
    let all = page(&day, &day.li, &learnings).await;
    assert!(link(&all, "More learnings").is_some(), "65 learnings unfiltered: more than a page");
}

/// Adds `count` open actions owned by Ana to the Day's team, due on various days or not at all,
/// and 3 that are done.
async fn seed_actions(day: &Day, count: i64) {
    sqlx::query(
        "insert into action_items (id, team_id, title, owner, due_on, status, created_by)
         select gen_random_uuid(), t.id, 'Action ' || n, u.id,
                case when n % 4 = 0 then null else current_date + (n % 7)::int end,
                case when n > $2 then 'done'::action_status else 'open' end, u.id
         from teams t, users u, generate_series(1, $2 + 3) n
         where t.slug = $1 and u.email = 'ana@example.com'",
    )
    .bind(&day.slug)
    .bind(count)
    .execute(&day.app.db)
    .await
    .unwrap();
}

#[sqlx::test]
async fn the_open_actions_come_a_page_at_a_time(db: PgPool) {
    let day = Day::new(db).await;
    seed_actions(&day, 60).await;
    let titles = |html: &str| -> Vec<String> {
        html.match_indices("<td><strong>")
            .map(|(at, tag)| html[at + tag.len()..].split('<').next().unwrap().to_owned())
            .collect()
    };

    let first = page(&day, &day.li, &format!("/teams/{}/actions", day.slug)).await;
    let next = link(&first, "More actions").expect("a link to more actions");
    let second = page(&day, &day.li, &next).await;

    assert_eq!(titles(&first).len(), PAGE);
    no_gap_nothing_twice(&titles(&first), &titles(&second), 60);
    assert!(link(&second, "More actions").is_none());
}

#[sqlx::test]
async fn the_dashboard_shows_the_first_of_each_list_and_says_where_the_rest_are(db: PgPool) {
    let day = Day::new(db).await;
    seed_actions(&day, 55).await;
    seed_gamedays(&day, 55, 30, 1, "scheduled").await;

    let home = page(&day, &day.ana, "/").await;

    let actions = section(&home, "id=\"actions-heading\"");
    assert_eq!(actions.matches("/actions\">Action ").count(), PAGE);
    assert!(actions.contains("Each team's actions page lists the rest."));
    let upcoming = section(&home, "id=\"upcoming-heading\"");
    assert_eq!(upcoming.matches(&format!("<a href=\"/teams/{}/gamedays/", day.slug)).count(), PAGE);
    assert!(upcoming.contains("Each team's page lists the rest."));
    assert!(upcoming.contains(&day.id.to_string()), "the soonest (in five days) is shown");
}

#[sqlx::test]
async fn the_fault_calendar_holds_the_last_90_days_and_what_is_coming(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Stop the primary").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    seed_gamedays(&day, 1, -100, 0, "completed").await;
    seed_gamedays(&day, 1, -10, 0, "completed").await;
    let feed = my_feed(&day, &day.li).await;

    let text = page(&day, &day.li, &feed).await;

    assert_eq!(text.matches("BEGIN:VEVENT").count(), 2, "the scheduled one and the one ten days ago:\n{text}");
    assert!(text.contains(&day.id.to_string()));
}

#[sqlx::test]
async fn the_fault_calendar_holds_at_most_500_entries_the_soonest(db: PgPool) {
    let day = Day::new(db).await;
    seed_gamedays(&day, 505, 1, 1, "scheduled").await;
    let feed = my_feed(&day, &day.li).await;

    let text = page(&day, &day.li, &feed).await;

    assert_eq!(text.matches("BEGIN:VEVENT").count(), 500);
    assert!(text.contains("Seeded drill 0") && !text.contains("Seeded drill 504"), "the soonest are kept");
}
