//! Retrospectives, learnings and actions after a completed game day.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::gamedays::Day;

/// A completed game day whose one scenario was injected, rolled back and concluded as refuted.
pub async fn completed(db: PgPool) -> (Day, String) {
    let day = Day::new(db).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;
    for what in ["announce", "inject", "rollback"] {
        assert_eq!(day.run(&day.ana, &scenario, what, &[]).await.status(), StatusCode::SEE_OTHER, "{what}");
    }
    day.run(&day.ana, &scenario, "conclude", &[("outcome", "refuted"), ("note", "")]).await;
    assert_eq!(day.step(&day.ana, "complete").await.status(), StatusCode::SEE_OTHER);
    (day, scenario)
}

#[sqlx::test]
async fn no_retrospective_before_the_game_day_is_completed(db: PgPool) {
    let day = Day::new(db).await;
    assert_eq!(day.app.get_as(&day.ana, &format!("{}/retrospective", day.url)).await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn a_retrospective_goes_from_draft_through_review_to_published_and_stays_read_only(db: PgPool) {
    let (day, scenario) = completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let observed_key = format!("observed_{sid}");
    let text = [
        ("summary", "Failover worked but took 40 s."),
        ("went_well", "Everyone knew the plan."),
        ("surprised_us", "No alert fired."),
        (observed_key.as_str(), "Writes failed for 40 s."),
    ];
    assert_eq!(
        day.app.post_as(&day.li, &retro, &text).await.status(),
        StatusCode::CONFLICT,
        "participants do not write it"
    );
    assert_eq!(day.app.post_as(&day.ana, &retro, &text).await.status(), StatusCode::SEE_OTHER);
    let page = day.page(&day.li, &retro).await;
    assert!(page.contains("Failover worked but took 40 s.") && page.contains("Writes failed for 40 s."));
    assert!(page.contains("A few seconds of failed writes."), "expected impact beside the observed one");
    assert!(page.contains("refuted"), "the outcome");
    let notes = format!("{retro}/notes");
    let comment = [("kind", "comment"), ("body", "Can we add the alert?")];
    assert_eq!(
        day.app.post_as(&day.li, &notes, &comment).await.status(),
        StatusCode::CONFLICT,
        "no comments on a draft"
    );
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await.status(),
        StatusCode::CONFLICT,
        "review first"
    );

    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/submit"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        day.app.post_as(&day.li, &notes, &comment).await.status(),
        StatusCode::SEE_OTHER,
        "participants comment in review"
    );
    assert_eq!(
        day.app.post_as(&day.vi, &notes, &comment).await.status(),
        StatusCode::CONFLICT,
        "reviewers wait for publication"
    );
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await.status(), StatusCode::SEE_OTHER);

    // Published: read-only; later additions are dated addenda; reviewers comment and mark it read.
    let rewrite = [("summary", "Rewritten history"), ("went_well", ""), ("surprised_us", "")];
    assert_eq!(day.app.post_as(&day.ana, &retro, &rewrite).await.status(), StatusCode::CONFLICT);
    assert!(!day.page(&day.ana, &retro).await.contains("Rewritten history"));
    let learning = [("statement", "Added after publication"), ("tags", "")];
    let response = day.app.post_as(&day.ana, &format!("{}/learnings", day.url), &learning).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "published: no new learnings in it");
    let addendum = [("kind", "addendum"), ("body", "The alert was added on 3 Dec.")];
    assert_eq!(
        day.app.post_as(&day.li, &notes, &addendum).await.status(),
        StatusCode::CONFLICT,
        "facilitators add addenda"
    );
    assert_eq!(day.app.post_as(&day.ana, &notes, &addendum).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        day.app.post_as(&day.vi, &notes, &[("kind", "comment"), ("body", "Great read")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(day.app.post_as(&day.vi, &format!("{retro}/read"), &[]).await.status(), StatusCode::SEE_OTHER);
    let page = day.page(&day.bo, &retro).await;
    assert!(page.contains("Read by <span class=\"count\">1</span>") && page.contains("Vi <span class=\"hint\">"));
    assert!(page.contains("The alert was added on 3 Dec.") && page.contains("Addendum"));
    let kinds = day.event_kinds().await;
    assert!(
        kinds.ends_with(&["retrospective_in_review".to_owned(), "retrospective_published".to_owned()]),
        "{kinds:?}"
    );
    assert_eq!(day.app.get_as(&day.eve, &retro).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(day.app.post_as(&day.eve, &format!("{retro}/read"), &[]).await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn learnings_are_found_again_by_text_and_tag_best_first(db: PgPool) {
    let (day, _) = completed(db).await;
    let add = format!("{}/learnings", day.url);
    // The best match goes in first, so that newest-first ordering alone would put it last.
    let learnings = [
        ("Failover runbooks must name the failover command and the failover owner.", "failover, runbook"),
        ("Nobody was paged: the replica lag alert had no route.", "alerting"),
        ("Replica promotion takes 40 seconds; checkout retries must cover it.", "database, failover"),
    ];
    for (statement, tags) in learnings {
        let response =
            day.app.post_as(&day.li, &add, &[("statement", statement), ("tags", tags), ("scenario", "")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let response = day.app.post_as(&day.li, &add, &[("statement", " "), ("tags", "kept-tag")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="statement-error">The learning is required."#) && page.contains(r#"value="kept-tag""#));
    assert_eq!(
        day.app.post_as(&day.vi, &add, &[("statement", "x"), ("tags", "")]).await.status(),
        StatusCode::FORBIDDEN
    );

    let library = format!("/teams/{}/learnings", day.slug);
    let page = day.page(&day.vi, &format!("{library}?q=failover")).await;
    let first = page.find("Failover runbooks").expect("found");
    let second = page.find("Replica promotion").expect("found");
    assert!(first < second, "the learning that says failover most ranks first");
    assert!(!page.contains("Nobody was paged"));
    let page = day.page(&day.vi, &format!("{library}?tag=alerting")).await;
    assert!(page.contains("Nobody was paged") && !page.contains("Replica promotion"));
    let page = day.page(&day.vi, &format!("{library}?q=%27%3B%20drop%20table%20learnings%3B%20--")).await;
    assert!(page.contains("Nothing matches"), "odd input is just a query");
    assert_eq!(day.app.get_as(&day.eve, &library).await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn actions_have_owners_due_dates_and_stand_out_when_overdue(db: PgPool) {
    let (day, _) = completed(db).await;
    let add = format!("{}/actions", day.url);
    let li = day.id_of("li@example.com").await;
    let eve = day.id_of("eve@example.com").await;
    let action = |owner: &str, due: &str| {
        vec![
            ("title".to_owned(), "Route the replica lag alert".to_owned()),
            ("owner".to_owned(), owner.to_owned()),
            ("due_on".to_owned(), due.to_owned()),
            ("link".to_owned(), String::new()),
        ]
    };
    assert_eq!(
        day.app.post_as(&day.li, &add, &[("title", "x"), ("owner", li.as_str())]).await.status(),
        StatusCode::FORBIDDEN
    );
    let form = action(&eve, "2020-01-31");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        day.app.post_as(&day.ana, &add, &form).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "owners are team members"
    );
    let form = action(&li, "2020-01-31");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(day.app.post_as(&day.ana, &add, &form).await.status(), StatusCode::SEE_OTHER);

    let home = day.page(&day.li, "/").await;
    assert!(home.contains("Your actions") && home.contains("Route the replica lag alert") && home.contains("overdue"));
    let actions = format!("/teams/{}/actions", day.slug);
    let page = day.page(&day.vi, &actions).await;
    assert!(page.contains(r#"<tr class="overdue">"#));
    let id: uuid::Uuid = sqlx::query_scalar("select id from action_items").fetch_one(&day.app.db).await.unwrap();
    let status = format!("{actions}/{id}/status");
    assert_eq!(day.app.post_as(&day.bo, &status, &[("status", "done")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        day.app.post_as(&day.li, &status, &[("status", "finished")]).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(day.app.post_as(&day.li, &status, &[("status", "done")]).await.status(), StatusCode::SEE_OTHER);
    assert!(day.page(&day.vi, &actions).await.contains("No open actions."));

    // A follow-up action can name a later game day to re-test in (one still to come).
    let mut later = crate::gamedays::GAMEDAY_FORM.to_vec();
    later.retain(|(k, _)| *k != "title");
    later.push(("title", "Failover re-test"));
    let response = day.app.post_as(&day.ana, &format!("/teams/{}/gamedays", day.slug), &later).await;
    let later_id = crate::helpers::location(&response).rsplit('/').next().unwrap().to_owned();
    let form = [("title", "Re-test the failover"), ("owner", li.as_str()), ("retest", later_id.as_str())];
    assert_eq!(day.app.post_as(&day.ana, &add, &form).await.status(), StatusCode::SEE_OTHER);
    let finished = day.id.to_string();
    let form = [("title", "Re-test in the past"), ("owner", li.as_str()), ("retest", finished.as_str())];
    assert_eq!(
        day.app.post_as(&day.ana, &add, &form).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a completed game day is no re-test"
    );
    assert!(day.page(&day.vi, &actions).await.contains("re-test in <a"));
    assert_eq!(day.app.post_as(&day.eve, &status, &[("status", "open")]).await.status(), StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn a_re_test_game_day_names_the_action_that_asked_for_it(db: PgPool) {
    let (day, _) = completed(db).await;
    let mut later = crate::gamedays::GAMEDAY_FORM.to_vec();
    later.retain(|(k, _)| *k != "title");
    later.push(("title", "Failover re-test"));
    let response = day.app.post_as(&day.ana, &format!("/teams/{}/gamedays", day.slug), &later).await;
    let later_url = crate::helpers::location(&response);
    let later_id = later_url.rsplit('/').next().unwrap().to_owned();
    let li = day.id_of("li@example.com").await;
    let form = [("title", "Re-test the failover"), ("owner", li.as_str()), ("retest", later_id.as_str())];
    assert_eq!(day.app.post_as(&day.ana, &format!("{}/actions", day.url), &form).await.status(), StatusCode::SEE_OTHER);

    let page = day.page(&day.vi, &later_url).await;

    assert!(
        page.contains(&format!(
            r#"Re-tests action “<a href="/teams/{}/actions">Re-test the failover</a>” (Li, open)"#,
            day.slug
        )),
        "the re-test names the action and links to it"
    );
    assert!(page.contains(&format!(r#"<a href="{}/retrospective">"#, day.url)), "and where it came from");
    assert!(!day.page(&day.vi, &day.url).await.contains("Re-tests action"), "only on the re-test");
}

#[sqlx::test]
async fn the_actions_page_links_to_each_actions_tracker_entry(db: PgPool) {
    let (day, _) = completed(db).await;
    let li = day.id_of("li@example.com").await;
    let add = format!("{}/actions", day.url);
    let form = [("title", "Alert on replica lag"), ("owner", li.as_str()), ("link", "https://tracker.example/OPS-12")];
    assert_eq!(day.app.post_as(&day.ana, &add, &form).await.status(), StatusCode::SEE_OTHER);
    let form = [("title", "Write the runbook"), ("owner", li.as_str()), ("link", "javascript:alert(1)")];
    assert_eq!(day.app.post_as(&day.ana, &add, &form).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Only web addresses are stored (the form refuses others; a check constraint backs it).
    let stored = sqlx::query("update action_items set link = 'javascript:alert(1)'").execute(&day.app.db).await;
    assert!(stored.is_err(), "the database refuses a link that is not http or https");

    let page = day.page(&day.vi, &format!("/teams/{}/actions", day.slug)).await;

    assert!(page.contains(
        r#"<a href="https://tracker.example/OPS-12" rel="noopener noreferrer" target="_blank">tracker<span class="visually-hidden"> link for Alert on replica lag</span></a>"#
    ));
}

#[sqlx::test]
async fn the_markdown_export_contains_every_part(db: PgPool) {
    let (day, scenario) = completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let observed_key = format!("observed_{sid}");
    let text = [
        ("summary", "Failover took 40 s."),
        ("went_well", "Calm | clear"),
        ("surprised_us", "No alert."),
        (observed_key.as_str(), "Writes failed for 40 s."),
    ];
    day.app.post_as(&day.ana, &retro, &text).await;
    day.app
        .post_as(
            &day.li,
            &format!("{}/learnings", day.url),
            &[("statement", "Promotion takes 40 s"), ("tags", "failover")],
        )
        .await;
    let li = day.id_of("li@example.com").await;
    day.app
        .post_as(
            &day.ana,
            &format!("{}/actions", day.url),
            &[("title", "Add the lag alert"), ("owner", li.as_str()), ("due_on", "2026-12-31")],
        )
        .await;
    day.app.post_as(&day.ana, &format!("{retro}/submit"), &[]).await;
    day.app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await;
    day.app.post_as(&day.ana, &format!("{retro}/notes"), &[("kind", "addendum"), ("body", "Alert shipped.")]).await;

    let response = day.app.get_as(&day.bo, &format!("{}/retrospective.md", day.url)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/markdown"));
    let md = response.text().await.unwrap();
    for part in [
        "# Retrospective: Database failover drill",
        "## Objective",
        "## Summary\n\nFailover took 40 s.",
        "## What went well",
        "### Stop the primary (refuted)",
        "| Hypothesis | Checkout p99 stays under 300 ms. |",
        "| Observed impact | Writes failed for 40 s. |",
        "Signed off: revision 1",
        "approved by Ana, Bo, Li",
        "## Timeline",
        "**Injected**",
        "## Learnings\n\n- Promotion takes 40 s _(failover)_",
        "| Add the lag alert | Li | 2026-12-31 | Open |",
        "## Addenda",
        "Alert shipped.",
    ] {
        assert!(md.contains(part), "the export lacks {part:?}:\n{md}");
    }
    assert_eq!(
        day.app.get_as(&day.eve, &format!("{}/retrospective.md", day.url)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test]
async fn the_markdown_export_names_authors_markers_and_corrections_and_escapes_html(db: PgPool) {
    let (day, scenario) = completed(db).await;
    let sid = scenario.rsplit('/').next().unwrap().to_owned();
    let typed = "Alert <script>alert(1)</script> & [x](javascript:alert(2)) at **10:42**";
    let form = [("body", typed), ("scenario", sid.as_str()), ("marker", "detection")];
    assert_eq!(
        day.app.post_as(&day.li, &format!("{}/observations", day.url), &form).await.status(),
        StatusCode::SEE_OTHER
    );
    let (original, at): (i64, time::OffsetDateTime) = sqlx::query_as(
        "select seq, at from timeline_events where gameday_id = $1 and kind = 'observation' order by seq desc limit 1",
    )
    .bind(day.id)
    .fetch_one(&day.app.db)
    .await
    .unwrap();
    let correct = format!("{}/events/{original}/correct", day.url);
    assert_eq!(
        day.app.post_as(&day.ana, &correct, &[("body", "It was <b>10:44</b>")]).await.status(),
        StatusCode::SEE_OTHER
    );
    let zone = [("display_name", "Bo"), ("time_zone", "America/New_York")];
    assert_eq!(day.app.post_as(&day.bo, "/account", &zone).await.status(), StatusCode::SEE_OTHER);

    let md = day.app.get_as(&day.bo, &format!("{}/retrospective.md", day.url)).await.text().await.unwrap();

    let clock = gameday::tz::format_clock_named(&at, "America/New_York");
    let observation = format!(
        "- `#{original}` {clock} **Observation** (Detection) by Li, on Stop the primary: \
         Alert \\<script\\>alert(1)\\</script\\> \\& \\[x\\](javascript:alert(2)) at **10:42** \
         (corrected in `#{}`)",
        original + 1
    );
    assert!(md.contains(&observation), "the observation names its author and marker:\n{observation}\n{md}");
    let correction =
        format!("**Correction** of Li's observation `#{original}` at {clock}, by Ana: It was \\<b\\>10:44\\</b\\>");
    assert!(md.contains(&correction), "the correction says what it corrects:\n{correction}\n{md}");
    let raw_html = md.match_indices('<').find(|(at, _)| !md[..*at].ends_with('\\'));
    assert_eq!(raw_html, None, "every < people typed is escaped:\n{md}");
    assert!(md.contains("- Scheduled: Tue 1 Dec 2026, 05:00 EST"), "times in the reader's zone:\n{md}");
    assert!(md.contains("Times are in America/New_York"), "the zone is named:\n{md}");
}

#[sqlx::test]
async fn the_team_overview_counts_outcomes_and_charts_timings(db: PgPool) {
    let (day, _) = completed(db).await;
    let page = day.page(&day.vi, &format!("/teams/{}/overview", day.slug)).await;
    assert!(page.contains(r#"<span class="big">1</span> game days held"#));
    assert!(page.contains(r#"<span class="big bad">1</span> refuted"#));
    // The roll-back counts as the repair: the chart has a point for it, with a title.
    assert!(page.contains("<svg") && page.contains("repaired after"));
    assert_eq!(
        day.app.get_as(&day.eve, &format!("/teams/{}/overview", day.slug)).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// The tick labels of the overview's chart: (anchored at the end: the y axis; in the middle: the x axis).
fn chart_labels(page: &str) -> (Vec<String>, Vec<String>) {
    let svg = page.split("<svg").nth(1).and_then(|s| s.split("</svg>").next()).expect("a chart");
    let (mut y, mut x) = (Vec::new(), Vec::new());
    for text in svg.split(r#"<text class="tick-label""#).skip(1) {
        let (attributes, rest) = text.split_once('>').unwrap();
        let label = rest.split("</text>").next().unwrap().to_owned();
        if attributes.contains(r#"text-anchor="end""#) { y.push(label) } else { x.push(label) }
    }
    (y, x)
}

#[sqlx::test]
async fn the_team_overview_chart_labels_both_axes_with_distinct_ticks(db: PgPool) {
    let (day, _) = completed(db).await;
    let injected: time::OffsetDateTime =
        sqlx::query_scalar("select at from timeline_events where gameday_id = $1 and kind = 'scenario_injected'")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();

    let page = day.page(&day.vi, &format!("/teams/{}/overview", day.slug)).await;

    let (y, x) = chart_labels(&page);
    assert!(y.len() >= 3, "a few y ticks: {y:?}");
    let distinct: std::collections::HashSet<&String> = y.iter().collect();
    assert_eq!(distinct.len(), y.len(), "every y label differs: {y:?}");
    assert!(page.contains(">Seconds after injection</text>"), "the y axis says what it counts");
    assert_eq!(x, vec![gameday::tz::format_date(&injected, "UTC")], "the one scenario's day labels the x axis");
    assert!(page.contains(">Injected scenarios, oldest first, by the day of injection</text>"), "the x axis is titled");
}

#[sqlx::test]
async fn sending_to_review_saves_what_the_form_holds(db: PgPool) {
    let (day, scenario) = completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let observed_key = format!("observed_{}", scenario.rsplit('/').next().unwrap());
    let text = [
        ("summary", "Typed, never saved, then sent."),
        ("went_well", "Calm."),
        ("surprised_us", ""),
        (observed_key.as_str(), "Writes failed for 40 s."),
    ];

    let response = day.app.post_as(&day.ana, &format!("{retro}/submit"), &text).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, summary): (String, String) =
        sqlx::query_as("select status::text, summary from retrospectives where gameday_id = $1")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), summary.as_str()), ("in_review", "Typed, never saved, then sent."));
    assert!(day.page(&day.li, &retro).await.contains("Writes failed for 40 s."), "the observed impact too");
}

#[sqlx::test]
async fn an_empty_retrospective_is_not_published_and_says_why(db: PgPool) {
    let (day, _) = completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/submit"), &[]).await.status(), StatusCode::SEE_OTHER);

    let response = day.app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Write a summary before publishing"));
    let status: String = sqlx::query_scalar("select status::text from retrospectives where gameday_id = $1")
        .bind(day.id)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(status, "in_review");
}

#[sqlx::test]
async fn a_published_retrospective_offers_no_learning_or_action_form_and_keeps_a_refused_one(db: PgPool) {
    let (day, _) = completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let summary = [("summary", "Failover took 40 s."), ("went_well", ""), ("surprised_us", "")];
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/submit"), &summary).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/publish"), &[]).await.status(), StatusCode::SEE_OTHER);

    let page = day.page(&day.ana, &retro).await;
    assert!(!page.contains("Add learning") && !page.contains("Add action"), "no form nobody can use");

    let learning = [("statement", "Typed into a stale page"), ("tags", "")];
    let response = day.app.post_as(&day.ana, &format!("{}/learnings", day.url), &learning).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("add a dated addendum instead"), "the page says why");
    assert!(page.contains("<h1>Retrospective</h1>"), "the retrospective page again, not a bare error page");
}

#[sqlx::test]
async fn a_facilitator_made_a_team_viewer_no_longer_writes_the_retrospective_or_its_actions(db: PgPool) {
    let (day, _) = completed(db).await;
    let retro = format!("{}/retrospective", day.url);
    let summary = [("summary", "Failover took 40 s."), ("went_well", ""), ("surprised_us", "")];
    assert_eq!(day.app.post_as(&day.ana, &format!("{retro}/submit"), &summary).await.status(), StatusCode::SEE_OTHER);
    // Li becomes a lead, and Ana, the game day's facilitator, steps down to team viewer.
    let (li, ana) = (day.id_of("li@example.com").await, day.id_of("ana@example.com").await);
    let members = format!("/teams/{}/members", day.slug);
    let response = day.app.post_as(&day.ana, &format!("{members}/{li}/role"), &[("role", "lead")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = day.app.post_as(&day.li, &format!("{members}/{ana}/role"), &[("role", "viewer")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let page = day.page(&day.ana, &retro).await;
    assert!(!page.contains(">Save</button>"), "no retrospective form for a viewer");
    assert!(!page.contains("/retrospective/publish\""), "no publish button for a viewer");
    assert!(!page.contains("Add learning") && !page.contains("Add action"), "no learning or action form");
    let rewrite = [("summary", "Rewritten by a viewer"), ("went_well", ""), ("surprised_us", "")];
    assert_eq!(day.app.post_as(&day.ana, &retro, &rewrite).await.status(), StatusCode::FORBIDDEN, "save");
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{retro}/publish"), &rewrite).await.status(),
        StatusCode::FORBIDDEN,
        "publish"
    );
    let action = [("title", "Route the alert"), ("owner", li.as_str()), ("due_on", ""), ("link", "")];
    let response = day.app.post_as(&day.ana, &format!("{}/actions", day.url), &action).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "add an action");
    let learning = [("statement", "Viewers read"), ("tags", "")];
    let response = day.app.post_as(&day.ana, &format!("{}/learnings", day.url), &learning).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "add a learning");
    let (status, text): (String, String) =
        sqlx::query_as("select status::text, summary from retrospectives where gameday_id = $1")
            .bind(day.id)
            .fetch_one(&day.app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), text.as_str()), ("in_review", "Failover took 40 s."));
    let counts: (i64, i64) = sqlx::query_as(
        "select (select count(*) from action_items where gameday_id = $1), (select count(*) from learnings where gameday_id = $1)",
    )
    .bind(day.id)
    .fetch_one(&day.app.db)
    .await
    .unwrap();
    assert_eq!(counts, (0, 0));
}
