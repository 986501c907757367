//! Reading through the JSON API what the pages show: a game day's retrospective, the learnings
//! library, the known-weakness register and past incidents, each a page at a time where it is a
//! list, and only in the token's own team.

use reqwest::{StatusCode, header};
use serde_json::Value;
use sqlx::PgPool;

use crate::api::{api, json, make_token, problem};
use crate::gamedays::{Day, GAMEDAY_FORM};
use crate::retros::completed;

/// Follows `Link: <…>; rel="next"` from `first` (a path under /api/v1) to the end; returns each
/// page's items and the links followed.
async fn all_pages(day: &Day, token: &str, first: &str) -> (Vec<Vec<Value>>, Vec<String>) {
    let (mut pages, mut links) = (Vec::new(), Vec::new());
    let mut next = Some(format!("/api/v1{first}"));
    while let Some(url) = next.take() {
        let response = day.app.client.get(day.app.url(&url)).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        next = response.headers().get(header::LINK).map(|v| {
            let v = v.to_str().unwrap();
            assert!(v.starts_with('<') && v.ends_with(">; rel=\"next\""), "{v}");
            v[1..v.find('>').unwrap()].to_owned()
        });
        links.extend(next.clone());
        pages.push(json(response).await.as_array().expect("a list").clone());
        assert!(pages.len() <= 10, "the pages end");
    }
    (pages, links)
}

/// The `field` of every item of every page, in order.
fn each<'a>(pages: &'a [Vec<Value>], field: &str) -> Vec<&'a str> {
    pages.iter().flatten().map(|item| item[field].as_str().unwrap()).collect()
}

/// Whether `texts` appear in `page` in this order.
fn in_order(page: &str, texts: &[&str]) -> bool {
    let at: Vec<usize> = texts.iter().map(|t| page.find(t).unwrap_or_else(|| panic!("{t} not on the page"))).collect();
    at.windows(2).all(|w| w[0] < w[1])
}

#[sqlx::test]
async fn a_retrospective_reads_as_its_page_shows_it_from_draft_to_published(db: PgPool) {
    let (day, scenario) = completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let observed = format!("observed_{sid}");
    let text = [
        ("summary", "Failover worked but took 40 s."),
        ("went_well", "Everyone knew the plan."),
        ("surprised_us", "No alert fired."),
        (observed.as_str(), "Writes failed for 40 s."),
    ];
    assert_eq!(day.app.post_as(&day.ana, &retro, &text).await.status(), StatusCode::SEE_OTHER);
    let learning = [("statement", "Replica promotion takes 40 seconds."), ("tags", "database, failover")];
    let learning = [learning[0], learning[1], ("scenario", sid.as_str())];
    assert_eq!(
        day.app.post_as(&day.li, &format!("{}/learnings", day.url), &learning).await.status(),
        StatusCode::SEE_OTHER
    );
    let li = day.id_of("li@example.com").await;
    let action = [("title", "Route the replica lag alert"), ("owner", li.as_str()), ("due_on", "2020-01-31")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{}/actions", day.url), &action).await.status(),
        StatusCode::SEE_OTHER
    );
    // Vi, a team viewer not on the game day, reads the draft on the page: so through the API.
    let vi = make_token(&day, &day.vi, "Vi's reader", &day.slug, &[]).await;
    let path = format!("/teams/{}/gamedays/{}/retrospective", day.slug, day.id);
    assert!(day.page(&day.vi, &retro).await.contains("Failover worked but took 40 s."));

    let draft = json(api(&day, &vi, &path).await).await;

    assert_eq!(draft["gameday_id"], day.id.to_string());
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["summary"], "Failover worked but took 40 s.");
    assert_eq!(draft["went_well"], "Everyone knew the plan.");
    assert_eq!(draft["surprised_us"], "No alert fired.");
    assert_eq!(draft["published_at"], Value::Null);
    let story = &draft["scenarios"][0];
    assert_eq!(draft["scenarios"].as_array().unwrap().len(), 1);
    assert_eq!(story["id"], sid.as_str());
    assert_eq!(story["title"], "Stop the primary");
    assert_eq!(story["outcome"], "refuted");
    assert_eq!(story["expected_impact"], "A few seconds of failed writes.");
    assert_eq!(story["observed_impact"], "Writes failed for 40 s.");
    assert!(story["seconds_total"].as_i64().is_some_and(|s| s >= 0), "{story}");
    assert_eq!(draft["learnings"][0]["statement"], "Replica promotion takes 40 seconds.");
    assert_eq!(draft["learnings"][0]["tags"], serde_json::json!(["database", "failover"]));
    assert_eq!(draft["learnings"][0]["scenario_title"], "Stop the primary");
    assert_eq!(draft["learnings"][0]["author"], "Li");
    let action = &draft["actions"][0];
    assert_eq!(
        (action["title"].as_str(), action["owner_name"].as_str()),
        (Some("Route the replica lag alert"), Some("Li"))
    );
    assert_eq!((action["due_on"].as_str(), action["status"].as_str()), (Some("2020-01-31"), Some("open")));
    assert_eq!(action["overdue"], true);
    assert_eq!(draft["notes"], serde_json::json!([]));
    assert_eq!(draft["read_by"], serde_json::json!([]));

    // In review, commented, published, addended, read: each shows.
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/submit"), &[]).await.status(), StatusCode::SEE_OTHER);
    let comment = [("kind", "comment"), ("body", "Can we add the alert?")];
    assert_eq!(day.app.post_as(&day.li, &format!("{retro}/notes"), &comment).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(json(api(&day, &vi, &path).await).await["status"], "in_review");
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await.status(), StatusCode::SEE_OTHER);
    let addendum = [("kind", "addendum"), ("body", "The alert was added on 3 Dec.")];
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/notes"), &addendum).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.post_as(&day.vi, &format!("{retro}/read"), &[]).await.status(), StatusCode::SEE_OTHER);

    let published = json(api(&day, &vi, &path).await).await;

    assert_eq!(published["status"], "published");
    assert!(published["published_at"].is_string(), "{published}");
    let notes: Vec<(&str, &str, &str)> = published["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["kind"].as_str().unwrap(), n["author"].as_str().unwrap(), n["body"].as_str().unwrap()))
        .collect();
    assert_eq!(
        notes,
        [("comment", "Li", "Can we add the alert?"), ("addendum", "Ana", "The alert was added on 3 Dec.")]
    );
    assert_eq!(published["read_by"][0]["name"], "Vi");
    assert_eq!(published["read_by"][0]["user_id"], day.id_of("vi@example.com").await.as_str());
}

#[sqlx::test]
async fn a_game_day_has_no_retrospective_to_read_before_it_is_completed(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Reader", &day.slug, &[]).await;

    let response = api(&day, &token, &format!("/teams/{}/gamedays/{}/retrospective", day.slug, day.id)).await;

    problem(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(day.app.get_as(&day.ana, &format!("{}/retrospective", day.url)).await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn learnings_are_searched_as_the_library_searches_them_a_page_at_a_time(db: PgPool) {
    let (day, _) = completed(db).await;
    let add = format!("{}/learnings", day.url);
    // The best match goes in first, so that newest-first ordering alone would put it last.
    let learnings = [
        ("Failover runbooks must name the failover command and the failover owner.", "failover, runbook"),
        ("Nobody was paged: the replica lag alert had no route.", "alerting"),
        ("Replica promotion takes 40 seconds; checkout retries must cover it.", "database, failover"),
    ];
    for (statement, tags) in learnings {
        let response = day.app.post_as(&day.li, &add, &[("statement", statement), ("tags", tags)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let token = make_token(&day, &day.vi, "Library", &day.slug, &[]).await;
    let path = format!("/teams/{}/learnings", day.slug);

    // A search, one learning a page: best match first, each page's link keeps the search.
    let (pages, links) = all_pages(&day, &token, &format!("{path}?q=failover&limit=1")).await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 0], "two matches, then an empty page");
    let found = each(&pages, "statement");
    assert_eq!(found, [learnings[0].0, learnings[2].0], "the learning that says failover most ranks first");
    assert!(links.iter().all(|l| l.contains("q=failover") && l.contains("limit=1")), "{links:?}");
    let library = day.page(&day.vi, &format!("/teams/{}/learnings?q=failover", day.slug)).await;
    assert!(in_order(&library, &found), "in the library page's order");
    let first = &pages[0][0];
    assert_eq!(first["tags"], serde_json::json!(["failover", "runbook"]));
    assert_eq!(
        (first["author"].as_str(), first["gameday_id"].as_str()),
        (Some("Li"), Some(day.id.to_string().as_str()))
    );
    assert_eq!(first["gameday_title"], GAMEDAY_FORM[0].1);

    // A tag (read lowercase, as the page reads it); no search at all: every one, newest first.
    let tagged = json(api(&day, &token, &format!("{path}?tag=%20Alerting")).await).await;
    assert_eq!(each(&[tagged.as_array().unwrap().clone()], "statement"), [learnings[1].0]);
    let (pages, _) = all_pages(&day, &token, &format!("{path}?limit=2")).await;
    assert_eq!(each(&pages, "statement"), [learnings[2].0, learnings[1].0, learnings[0].0]);
    let odd = json(api(&day, &token, &format!("{path}?q=%27%3B%20drop%20table%20learnings%3B%20--")).await).await;
    assert_eq!(odd, serde_json::json!([]), "odd input is just a query");
    let response = api(&day, &token, &format!("{path}?limit=0")).await;
    problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
}

#[sqlx::test]
async fn the_weakness_register_lists_open_ones_first_a_page_at_a_time_and_reads_one(db: PgPool) {
    let day = Day::new(db).await;
    let register = format!("/teams/{}/weaknesses", day.slug);
    let titles = ["Replica lag is not alerted", "Checkout keeps stale connections", "DNS TTL too long"];
    for title in titles {
        let form = [("title", title), ("description", "Found in a game day.")];
        assert_eq!(day.app.post_as(&day.ana, &register, &form).await.status(), StatusCode::SEE_OTHER);
    }
    let first: uuid::Uuid = sqlx::query_scalar("select id from weaknesses where title = $1")
        .bind(titles[0])
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    let mitigate = [("status", "mitigated"), ("reason", "Replica lag alert added")];
    let response = day.app.post_as(&day.ana, &format!("{register}/{first}/status"), &mitigate).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let token = make_token(&day, &day.vi, "Register", &day.slug, &[]).await;

    let (pages, links) = all_pages(&day, &token, &format!("{register}?limit=2")).await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(links.len(), 1);
    let listed = each(&pages, "title");
    assert_eq!(listed, [titles[2], titles[1], titles[0]], "open ones newest first, then the mitigated one");
    assert_eq!(each(&pages, "status"), ["open", "open", "mitigated"]);
    assert!(in_order(&day.page(&day.vi, &register).await, &listed), "in the register page's order");

    let one = api(&day, &token, &format!("{register}/{first}")).await;
    assert_eq!(one.status(), StatusCode::OK);
    let one = json(one).await;
    assert_eq!(one["id"], first.to_string());
    assert_eq!((one["title"].as_str(), one["status"].as_str()), (Some(titles[0]), Some("mitigated")));
    assert_eq!(one["description"], "Found in a game day.");
    assert_eq!(one["found_in_scenario"], Value::Null);
    assert!(one["created_at"].is_string());
    let unknown = api(&day, &token, &format!("{register}/{}", uuid::Uuid::now_v7())).await;
    problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test]
async fn past_incidents_list_latest_first_a_page_at_a_time_and_read_one(db: PgPool) {
    let day = Day::new(db).await;
    let incidents = format!("/teams/{}/incidents", day.slug);
    let recorded = [
        ("Checkout down after a failover", "2026-03-14", "https://postmortems.example/2026-03-14"),
        ("Certificate expired", "2025-11-02", ""),
        ("Queue backlog", "2026-06-30", ""),
    ];
    for (title, date, link) in recorded {
        let form = [("title", title), ("happened_on", date), ("summary", "What happened."), ("link", link)];
        assert_eq!(day.app.post_as(&day.ana, &incidents, &form).await.status(), StatusCode::SEE_OTHER);
    }
    let token = make_token(&day, &day.bo, "Incidents", &day.slug, &[]).await;

    let (pages, links) = all_pages(&day, &token, &format!("{incidents}?limit=2")).await;

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(links.len(), 1);
    let listed = each(&pages, "title");
    assert_eq!(listed, ["Queue backlog", "Checkout down after a failover", "Certificate expired"], "latest first");
    assert_eq!(each(&pages, "happened_on"), ["2026-06-30", "2026-03-14", "2025-11-02"]);
    assert!(in_order(&day.page(&day.bo, &incidents).await, &listed), "in the incidents page's order");

    let id = pages[0][1]["id"].as_str().unwrap();
    let one = json(api(&day, &token, &format!("{incidents}/{id}")).await).await;
    assert_eq!(one["title"], "Checkout down after a failover");
    assert_eq!(one["happened_on"], "2026-03-14");
    assert_eq!(one["summary"], "What happened.");
    assert_eq!(one["link"], "https://postmortems.example/2026-03-14");
    assert_eq!(pages[1][0]["link"], Value::Null, "no postmortem");
    for bad in ["limit=101", "before=nope"] {
        problem(api(&day, &token, &format!("{incidents}?{bad}")).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            .await;
    }
}

#[sqlx::test]
async fn a_token_of_another_team_reads_none_of_it(db: PgPool) {
    let (day, _) = completed(db).await;
    let (slug, gameday) = (&day.slug, day.id);
    let add = format!("{}/learnings", day.url);
    assert_eq!(
        day.app.post_as(&day.li, &add, &[("statement", "Secret lesson"), ("tags", "")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let form = [("title", "Secret weakness"), ("description", "")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("/teams/{slug}/weaknesses"), &form).await.status(),
        StatusCode::SEE_OTHER
    );
    let form = [("title", "Secret incident"), ("happened_on", "2026-03-14"), ("summary", ""), ("link", "")];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("/teams/{slug}/incidents"), &form).await.status(),
        StatusCode::SEE_OTHER
    );
    let weakness: uuid::Uuid = sqlx::query_scalar("select id from weaknesses").fetch_one(&day.app.db).await.unwrap();
    let incident: uuid::Uuid = sqlx::query_scalar("select id from incidents").fetch_one(&day.app.db).await.unwrap();
    // Eve leads a team of her own, with a token for it; Ana has one for Platform.
    let eves = day.app.team(&day.eve, "Payments").await;
    let eve = make_token(&day, &day.eve, "Payments script", &eves, &[]).await;
    let ana = make_token(&day, &day.ana, "Platform script", slug, &[]).await;
    let ours = [
        format!("/teams/{slug}/gamedays/{gameday}/retrospective"),
        format!("/teams/{slug}/learnings"),
        format!("/teams/{slug}/learnings?q=secret"),
        format!("/teams/{slug}/weaknesses"),
        format!("/teams/{slug}/weaknesses/{weakness}"),
        format!("/teams/{slug}/incidents"),
        format!("/teams/{slug}/incidents/{incident}"),
    ];
    for path in &ours {
        assert_eq!(api(&day, &ana, path).await.status(), StatusCode::OK, "{path}: its own team reads it");
    }

    for path in &ours {
        let body = problem(api(&day, &eve, path).await, StatusCode::NOT_FOUND, "not_found").await;
        assert!(!body.to_string().contains("Secret"), "{path}: {body}");
    }
    // Platform's things under Eve's own slug are not hers either, nor are malformed ids anything.
    for path in [
        format!("/teams/{eves}/gamedays/{gameday}/retrospective"),
        format!("/teams/{eves}/weaknesses/{weakness}"),
        format!("/teams/{eves}/incidents/{incident}"),
        format!("/teams/{eves}/weaknesses/not-an-id"),
        format!("/teams/{eves}/incidents/not-an-id"),
        format!("/teams/{eves}/gamedays/not-an-id/retrospective"),
    ] {
        problem(api(&day, &eve, &path).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    for path in [
        format!("/teams/{eves}/learnings?q=secret"),
        format!("/teams/{eves}/weaknesses"),
        format!("/teams/{eves}/incidents"),
    ] {
        assert_eq!(json(api(&day, &eve, &path).await).await, serde_json::json!([]), "{path}: none of Platform's");
    }
}
