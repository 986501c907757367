//! Known weaknesses (invariant 3), start tiny (invariant 4) and replaying incidents.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::gamedays::{Day, scenario_form};
use crate::helpers::location;

/// Ana adds a scenario with this blast radius; returns its URL.
async fn scenario_with(day: &Day, title: &str, radius: &str) -> String {
    let owner = day.id_of("ana@example.com").await;
    let mut form = scenario_form(title, &owner);
    form.retain(|(k, _)| *k != "blast_radius");
    form.push(("blast_radius", radius));
    let response = day.app.post_as(&day.ana, &format!("{}/scenarios", day.url), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

async fn last_body(day: &Day, kind: &str) -> String {
    sqlx::query_scalar("select body from timeline_events where gameday_id = $1 and kind = $2 order by seq desc limit 1")
        .bind(day.id)
        .bind(kind)
        .fetch_one(&day.app.db)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_larger_blast_radius_needs_a_smaller_success_or_an_acknowledgement(db: PgPool) {
    let day = Day::new(db).await;
    let tiny = scenario_with(&day, "Kill one pod", "tiny").await;
    let small = scenario_with(&day, "Kill a node", "small").await;
    let medium = scenario_with(&day, "Kill a zone", "medium").await;
    for s in [&tiny, &small, &medium] {
        day.all_approve(s).await;
    }
    day.start().await;
    let page = day.page(&day.ana, &medium).await;
    assert!(page.contains("No smaller scenario on postgres has held yet."));

    let response = day.run(&day.ana, &medium, "announce", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("Start tiny: no smaller scenario on this target has held yet."));
    assert_eq!(day.run(&day.ana, &medium, "announce", &[("acknowledge", "yes")]).await.status(), StatusCode::SEE_OTHER);
    assert!(last_body(&day, "scenario_announced").await.contains(
        "escalated to a medium blast radius without a smaller scenario that held on this target (acknowledged)"
    ));

    // A tiny one announced, halted before injection and concluded "held" proves nothing.
    let halted = scenario_with(&day, "Kill one pod, halted", "tiny").await;
    day.all_approve(&halted).await;
    day.run(&day.ana, &halted, "announce", &[]).await;
    day.run(&day.ana, &halted, "halt", &[("reason", "wrong pod")]).await;
    day.run(&day.ana, &halted, "conclude", &[("outcome", "held"), ("note", "")]).await;
    assert_eq!(day.run(&day.ana, &small, "announce", &[]).await.status(), StatusCode::CONFLICT);

    // Once the tiny one held on the same target, the small one needs no acknowledgement.
    for what in ["announce", "inject", "rollback"] {
        assert_eq!(day.run(&day.ana, &tiny, what, &[]).await.status(), StatusCode::SEE_OTHER, "{what}");
    }
    day.run(&day.ana, &tiny, "conclude", &[("outcome", "held"), ("note", "")]).await;
    assert!(
        day.page(&day.ana, &small)
            .await
            .contains("“Kill one pod”, a smaller scenario on postgres, held before this one.")
    );
    assert_eq!(day.run(&day.ana, &small, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn an_acknowledged_escalation_says_so_on_the_scenario_page(db: PgPool) {
    let day = Day::new(db).await;
    let medium = scenario_with(&day, "Kill a zone", "medium").await;
    day.all_approve(&medium).await;
    day.start().await;
    assert!(day.page(&day.ana, &medium).await.contains("Announcing it needs an explicit acknowledgement"));

    assert_eq!(day.run(&day.ana, &medium, "announce", &[("acknowledge", "yes")]).await.status(), StatusCode::SEE_OTHER);

    let seq: i64 = sqlx::query_scalar("select seq from timeline_events where kind = 'scenario_announced'")
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    let page = day.page(&day.bo, &medium).await;
    assert!(!page.contains("needs an explicit acknowledgement"), "it no longer asks for what it has");
    assert!(page.contains(&format!(
        "No smaller scenario on postgres had held: Ana acknowledged the escalation when announcing it \
         (<a href=\"{}/timeline#event-{seq}\">#{seq}</a> on the timeline).",
        day.url
    )));
}

#[sqlx::test]
async fn the_weakness_reason_placeholder_reads_as_an_example(db: PgPool) {
    let day = Day::new(db).await;
    let weaknesses = format!("/teams/{}/weaknesses", day.slug);
    let form = [("title", "Replica lag is not alerted"), ("description", "")];
    assert_eq!(day.app.post_as(&day.ana, &weaknesses, &form).await.status(), StatusCode::SEE_OTHER);
    let weakness: uuid::Uuid = sqlx::query_scalar("select id from weaknesses").fetch_one(&day.app.db).await.unwrap();
    let scenario = scenario_with(&day, "Stop the primary", "tiny").await;
    let weakness = weakness.to_string();
    let linked = [("weakness", weakness.as_str())];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{scenario}/weakness"), &linked).await.status(),
        StatusCode::SEE_OTHER
    );
    day.all_approve(&scenario).await;
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);

    let page = day.page(&day.ana, &scenario).await;

    assert!(page.contains(r#"name="weakness_reason""#), "the form asks why");
    assert!(page.contains(r#"placeholder="e.g. verifying the fix""#), "an example, not a pre-filled answer");
}

#[sqlx::test]
async fn injecting_into_an_open_weakness_needs_a_recorded_reason(db: PgPool) {
    let day = Day::new(db).await;
    let weaknesses = format!("/teams/{}/weaknesses", day.slug);
    let form = [("title", "Replica lag is not alerted"), ("description", "")];
    assert_eq!(day.app.post_as(&day.ana, &weaknesses, &form).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.post_as(&day.vi, &weaknesses, &form).await.status(), StatusCode::FORBIDDEN, "viewers read it");
    assert_eq!(day.app.post_as(&day.eve, &weaknesses, &form).await.status(), StatusCode::NOT_FOUND);
    let weakness: uuid::Uuid = sqlx::query_scalar("select id from weaknesses").fetch_one(&day.app.db).await.unwrap();

    let scenario = scenario_with(&day, "Stop the primary", "tiny").await;
    let link = format!("{scenario}/weakness");
    assert_eq!(
        day.app.post_as(&day.li, &link, &[("weakness", weakness.to_string().as_str())]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        day.app.post_as(&day.ana, &link, &[("weakness", weakness.to_string().as_str())]).await.status(),
        StatusCode::SEE_OTHER
    );
    day.all_approve(&scenario).await;
    // Once signed, the link cannot be quietly removed.
    let response = day.app.post_as(&day.ana, &link, &[("weakness", "")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    day.start().await;
    assert_eq!(day.run(&day.ana, &scenario, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    // Nor can the weakness be marked mitigated while the fault is in flight.
    let status = format!("{weaknesses}/{weakness}/status");
    let response = day.app.post_as(&day.ana, &status, &[("status", "mitigated"), ("reason", "fixed, honest")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("A scenario linked to this weakness is announced or injected"));

    let response = day.run(&day.ana, &scenario, "inject", &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("targets an open known weakness"));
    assert_eq!(day.state(&scenario).await, "announced");
    let response = day.run(&day.ana, &scenario, "inject", &[("weakness_reason", "verifying the fix")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        last_body(&day, "scenario_injected")
            .await
            .contains("open weakness \"Replica lag is not alerted\"; injected anyway because: verifying the fix")
    );

    // Refuted: the scenario records a new weakness, pointing back at it.
    day.run(&day.ana, &scenario, "rollback", &[]).await;
    day.run(&day.ana, &scenario, "conclude", &[("outcome", "refuted"), ("note", "lag reached 30 s unnoticed")]).await;
    let before = day.page(&day.li, &scenario).await;
    assert!(before.contains("Record as a known weakness") && !before.contains("Found here"));
    assert_eq!(
        day.app.post_as(&day.li, &format!("{scenario}/weakness/new"), &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let page = day.page(&day.vi, &weaknesses).await;
    assert!(page.contains("Stop the primary: hypothesis refuted") && page.contains("lag reached 30 s unnoticed"));
    // The scenario page names what it found, apart from the weakness it re-tests.
    let after = day.page(&day.li, &scenario).await;
    let found = &after[after.find("<dt>Found here</dt>").expect("a row for what the scenario found")..];
    assert!(found[..found.find("</dd>").unwrap()].contains("Stop the primary: hypothesis refuted</a> (open)"));
    assert!(after.contains("Record another weakness it found") && !after.contains("Record as a known weakness"));
    // Mitigated, a weakness no longer asks for a reason.
    let mitigated = [("status", "mitigated"), ("reason", "lag alert added")];
    assert_eq!(day.app.post_as(&day.li, &status, &mitigated).await.status(), StatusCode::SEE_OTHER);
    let second = scenario_with(&day, "Stop the primary again", "tiny").await;
    let linked =
        day.app.post_as(&day.ana, &format!("{second}/weakness"), &[("weakness", weakness.to_string().as_str())]).await;
    assert_eq!(linked.status(), StatusCode::SEE_OTHER);
    day.all_approve(&second).await;
    assert_eq!(day.run(&day.ana, &second, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.run(&day.ana, &second, "inject", &[]).await.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test]
async fn marking_a_linked_weakness_mitigated_needs_a_reason_and_goes_on_the_timeline(db: PgPool) {
    let day = Day::new(db).await;
    let weaknesses = format!("/teams/{}/weaknesses", day.slug);
    let form = [("title", "Replica lag is not alerted"), ("description", "")];
    assert_eq!(day.app.post_as(&day.ana, &weaknesses, &form).await.status(), StatusCode::SEE_OTHER);
    let weakness: uuid::Uuid = sqlx::query_scalar("select id from weaknesses").fetch_one(&day.app.db).await.unwrap();
    let scenario = scenario_with(&day, "Stop the primary", "tiny").await;
    let linked = [("weakness", weakness.to_string())];
    let linked = [("weakness", linked[0].1.as_str())];
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{scenario}/weakness"), &linked).await.status(),
        StatusCode::SEE_OTHER
    );
    let status = format!("{weaknesses}/{weakness}/status");

    // Without a reason: refused beside the reason field, nothing changed.
    let response = day.app.post_as(&day.li, &status, &[("status", "mitigated"), ("reason", "  ")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!(r#"id="reason-{weakness}-error""#)), "the message sits beside the reason field");
    let still: String = sqlx::query_scalar("select status::text from weaknesses").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(still, "open");

    // With one: changed, and the game day's timeline says who and why.
    let response = day.app.post_as(&day.li, &status, &[("status", "mitigated"), ("reason", "lag alert added")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let body = last_body(&day, "scenario_revised").await;
    assert!(
        body.contains("Li marked the weakness \"Replica lag is not alerted\" mitigated because: lag alert added."),
        "{body}"
    );
    let (actor, reason): (String, String) = sqlx::query_as(
        "select u.display_name, e.data->>'reason' from timeline_events e join users u on u.id = e.actor
         where e.gameday_id = $1 order by e.seq desc limit 1",
    )
    .bind(day.id)
    .fetch_one(&day.app.db)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), reason.as_str()), ("Li", "lag alert added"));
}

#[sqlx::test]
async fn a_reason_typed_for_a_refused_status_change_is_kept(db: PgPool) {
    let day = Day::new(db).await;
    let weaknesses = format!("/teams/{}/weaknesses", day.slug);
    let form = [("title", "Replica lag is not alerted"), ("description", "")];
    assert_eq!(day.app.post_as(&day.ana, &weaknesses, &form).await.status(), StatusCode::SEE_OTHER);
    let weakness: uuid::Uuid = sqlx::query_scalar("select id from weaknesses").fetch_one(&day.app.db).await.unwrap();
    let long = "x".repeat(501);

    let response = day
        .app
        .post_as(
            &day.li,
            &format!("{weaknesses}/{weakness}/status"),
            &[("status", "mitigated"), ("reason", long.as_str())],
        )
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains(&format!(r#"value="{long}""#)), "input kept");
}

#[sqlx::test]
async fn an_incident_is_replayed_as_a_scenario_draft_that_keeps_the_link(db: PgPool) {
    let day = Day::new(db).await;
    let incidents = format!("/teams/{}/incidents", day.slug);
    let form = [
        ("title", "Checkout outage of 14 March"),
        ("happened_on", "2026-03-14"),
        ("summary", "The primary ran out of disk; failover took 9 minutes."),
        ("link", "https://postmortems.example/42"),
    ];
    let bad_date = [("title", "x"), ("happened_on", "14/03/2026"), ("summary", ""), ("link", "")];
    let response = day.app.post_as(&day.ana, &incidents, &bad_date).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"id="happened_on-error">Enter the date like 2026-03-14."#) && page.contains(r#"value="x""#),
        "kept"
    );
    assert_eq!(day.app.post_as(&day.ana, &incidents, &form).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.app.get_as(&day.eve, &incidents).await.status(), StatusCode::NOT_FOUND);
    let incident: uuid::Uuid = sqlx::query_scalar("select id from incidents").fetch_one(&day.app.db).await.unwrap();
    let replay = format!("{incidents}/{incident}/replay");
    let gameday = day.id.to_string();
    assert_eq!(
        day.app.post_as(&day.li, &replay, &[("gameday", gameday.as_str())]).await.status(),
        StatusCode::FORBIDDEN,
        "facilitators plan"
    );
    let response = day.app.post_as(&day.ana, &replay, &[("gameday", gameday.as_str())]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).ends_with("/edit"), "straight to the draft to finish it");
    let scenario = location(&response).trim_end_matches("/edit").to_owned();
    let page = day.page(&day.li, &scenario).await;
    assert!(page.contains("Replay: Checkout outage of 14 March"));
    assert!(page.contains("Replays</dt><dd>Checkout outage of 14 March"));
    assert!(page.contains("https://postmortems.example/42"));
}

#[sqlx::test]
async fn a_replayed_incident_is_approved_only_once_its_placeholders_are_written(db: PgPool) {
    let day = Day::new(db).await;
    let incidents = format!("/teams/{}/incidents", day.slug);
    let form = [("title", "Disk full"), ("happened_on", "2026-03-14"), ("summary", ""), ("link", "")];
    assert_eq!(day.app.post_as(&day.ana, &incidents, &form).await.status(), StatusCode::SEE_OTHER);
    let incident: uuid::Uuid = sqlx::query_scalar("select id from incidents").fetch_one(&day.app.db).await.unwrap();
    let gameday = day.id.to_string();
    let response =
        day.app.post_as(&day.ana, &format!("{incidents}/{incident}/replay"), &[("gameday", gameday.as_str())]).await;
    let scenario = location(&response).trim_end_matches("/edit").to_owned();

    let response = day.sign(&day.li, &scenario, "approve", "").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("Not ready to approve: write the target system, expected impact"), "says which fields");
    let page = day.page(&day.li, &scenario).await;
    assert!(!page.contains("Approve revision 1"), "no Approve button on a draft with placeholders");
    assert_eq!(day.sign(&day.li, &scenario, "object", "not written yet").await.status(), StatusCode::SEE_OTHER);

    // Written out, it is approved as any scenario.
    let owner = day.id_of("ana@example.com").await;
    let written = crate::gamedays::scenario_form("Replay: Disk full", &owner);
    assert_eq!(day.app.post_as(&day.ana, &format!("{scenario}/edit"), &written).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(day.sign(&day.li, &scenario, "approve", "").await.status(), StatusCode::SEE_OTHER);
}

/// An incident's summary may take all of its 4000 characters; its replay's fault ("Reproduce: "
/// and the summary) still fits the scenario form's 4000, as the database requires.
#[sqlx::test]
async fn an_incident_with_the_longest_summary_replays_within_the_scenarios_limits(db: PgPool) {
    let day = Day::new(db).await;
    let incidents = format!("/teams/{}/incidents", day.slug);
    let summary = "s".repeat(4000);
    let form = [("title", "Disk full"), ("happened_on", "2026-03-14"), ("summary", summary.as_str()), ("link", "")];
    assert_eq!(day.app.post_as(&day.ana, &incidents, &form).await.status(), StatusCode::SEE_OTHER);
    let incident: uuid::Uuid = sqlx::query_scalar("select id from incidents").fetch_one(&day.app.db).await.unwrap();
    let gameday = day.id.to_string();

    let response =
        day.app.post_as(&day.ana, &format!("{incidents}/{incident}/replay"), &[("gameday", gameday.as_str())]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let fault: String =
        sqlx::query_scalar("select fault from scenario_revisions").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(fault.chars().count(), 4000, "cut to the limit the scenario form keeps");
    assert!(fault.starts_with("Reproduce: sss"));
}

/// A refuted scenario whose hypothesis and note are as long as their forms allow records its
/// weakness with a description within the register's 4000 characters.
#[sqlx::test]
async fn a_weakness_found_by_a_long_scenario_fits_the_register(db: PgPool) {
    let day = Day::new(db).await;
    let owner = day.id_of("ana@example.com").await;
    let hypothesis = "h".repeat(4000);
    let mut form = scenario_form("Stop the primary", &owner);
    form.retain(|(k, _)| *k != "hypothesis");
    form.push(("hypothesis", hypothesis.as_str()));
    let response = day.app.post_as(&day.ana, &format!("{}/scenarios", day.url), &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let scenario = location(&response);
    day.all_approve(&scenario).await;
    day.start().await;
    for what in ["announce", "inject", "rollback"] {
        assert_eq!(day.run(&day.ana, &scenario, what, &[]).await.status(), StatusCode::SEE_OTHER, "{what}");
    }
    let note = "n".repeat(4000);
    let concluded = day.run(&day.ana, &scenario, "conclude", &[("outcome", "refuted"), ("note", &note)]).await;
    assert_eq!(concluded.status(), StatusCode::SEE_OTHER);

    let response = day.app.post_as(&day.li, &format!("{scenario}/weakness/new"), &[]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let description: String =
        sqlx::query_scalar("select description from weaknesses").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(description.chars().count(), 4000, "cut to the limit the register's form keeps");
    assert!(description.starts_with("Hypothesis: hhh"));
}
