//! A game day driven through the API: planned with a `plan` token, signed by people in the pages,
//! run with a `run` token through the same gate as the buttons, followed live, and every change
//! on the timeline saying which token made it. Then the gate's races, repeated through the API.

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::api::{api, json, make_token, problem, send};
use crate::gamedays::Day;
use crate::live::Stream;

fn codes(gate: &Value) -> Vec<String> {
    gate["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

fn scenario_body(title: &str, owner: &str) -> Value {
    json!({
        "title": title,
        "hypothesis": "Checkout p99 stays under 300 ms.",
        "fault": "Stop the primary database container.",
        "target_system": "postgres",
        "blast_radius": "tiny",
        "expected_impact": "A few seconds of failed writes.",
        "abort_criteria": "Checkout errors above 1% for one minute.",
        "abort_owner": owner,
        "rollback_plan": "Start the container again.",
    })
}

async fn post(day: &Day, token: &str, path: &str, body: Value) -> reqwest::Response {
    send(day, token, Method::POST, path, &body).await
}

#[sqlx::test]
async fn a_whole_game_day_is_planned_and_run_through_the_api_and_signed_by_people_in_the_pages(db: PgPool) {
    let day = Day::new(db).await;
    let slug = day.slug.clone();
    let plan = make_token(&day, &day.ana, "Planner", &slug, &["plan"]).await;
    let run = make_token(&day, &day.ana, "Pipeline", &slug, &["observe", "run"]).await;
    let read = make_token(&day, &day.ana, "Dashboard", &slug, &[]).await;

    // Plan: a game day, its people and a scenario, with the plan token.
    let created = post(
        &day,
        &plan,
        &format!("/teams/{slug}/gamedays"),
        json!({"title": "Failover drill", "objective": "Learn whether checkout survives losing the primary.",
               "environment": "staging", "systems": "checkout, postgres",
               "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z"}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let gameday = json(created).await;
    let gid = gameday["id"].as_str().unwrap().to_owned();
    let base = format!("/teams/{slug}/gamedays/{gid}");
    for email in ["li@example.com", "bo@example.com"] {
        let id = day.id_of(email).await;
        let added =
            send(&day, &plan, Method::PUT, &format!("{base}/participants/{id}"), &json!({"role": "participant"})).await;
        assert!(added.status().is_success(), "{email} added: {}", added.status());
    }
    let ana_id = day.id_of("ana@example.com").await;
    let added = post(&day, &plan, &format!("{base}/scenarios"), scenario_body("Stop the primary", &ana_id)).await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let location = added.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let scenario = json(added).await;
    let sid = scenario["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1{base}/scenarios/{sid}"));
    assert_eq!((scenario["revision"].as_i64(), scenario["state"].as_str()), (Some(1), Some("proposed")));
    assert_eq!(scenario["signoff"]["agreed"], false);
    assert_eq!(scenario["signoff"]["signers"].as_array().unwrap().len(), 3, "Ana, Li and Bo sign it");
    for step in ["schedule", "start"] {
        let moved = post(&day, &plan, &format!("{base}/{step}"), json!({})).await;
        assert_eq!(moved.status(), StatusCode::OK, "{step}");
    }
    // The plan token runs nothing; the run token plans nothing.
    let scenario_path = format!("{base}/scenarios/{sid}");
    problem(
        post(&day, &plan, &format!("{scenario_path}/announce"), json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    problem(
        post(&day, &run, &format!("{base}/scenarios"), scenario_body("Another", &ana_id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Nobody signed: the gate says who, and announcing is refused with the pages' words.
    let gate = json(api(&day, &read, &format!("{scenario_path}/gate?revision=1")).await).await;
    assert_eq!(gate["open"], false);
    assert_eq!(codes(&gate), ["not_announced", "unsigned"]);
    let refused = problem(
        post(&day, &run, &format!("{scenario_path}/announce"), json!({"revision": 1})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().starts_with("Not agreed yet. 3 of 3 signers"), "{refused}");

    // People sign in the pages; until the last has, announcing stays refused.
    let page = format!("{base}/scenarios/{sid}");
    for client in [&day.ana, &day.li] {
        assert_eq!(day.sign(client, &page, "approve", "").await.status(), StatusCode::SEE_OTHER);
    }
    let gate = json(api(&day, &read, &format!("{scenario_path}/gate")).await).await;
    let unsigned = &gate["reasons"].as_array().unwrap()[1];
    assert_eq!((unsigned["code"].as_str(), unsigned["people"][0]["name"].as_str()), (Some("unsigned"), Some("Bo")));
    let refused = problem(
        post(&day, &run, &format!("{scenario_path}/announce"), json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("Bo"), "{refused}");
    // Sign-off is a person's act: the API has no way to sign.
    let signed =
        post(&day, &run, &format!("{scenario_path}/signoff"), json!({"decision": "approve", "revision": 1})).await;
    assert!(matches!(signed.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED), "{}", signed.status());
    assert_eq!(day.sign(&day.bo, &page, "approve", "").await.status(), StatusCode::SEE_OTHER);
    let signoffs = json(api(&day, &read, &format!("{scenario_path}/signoffs?revision=1")).await).await;
    assert_eq!(signoffs["agreed"], true);

    // Announce, then the gate is open for revision 1 (and closed for any other).
    let announced = post(&day, &run, &format!("{scenario_path}/announce"), json!({"revision": 1})).await;
    assert_eq!(announced.status(), StatusCode::OK);
    assert_eq!(json(announced).await["state"], "announced");
    let gate = json(api(&day, &read, &format!("{scenario_path}/gate?revision=1")).await).await;
    assert_eq!((gate["open"].as_bool(), gate["fingerprint"].as_str()), (Some(true), scenario["fingerprint"].as_str()));
    assert!(gate["reasons"].as_array().unwrap().is_empty());
    let other = json(api(&day, &read, &format!("{scenario_path}/gate?revision=2")).await).await;
    assert_eq!(codes(&other), ["revision_changed"]);

    // A read token cannot inject; a run token for another revision is refused; then it injects.
    problem(post(&day, &read, &format!("{scenario_path}/inject"), json!({})).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    let stale = problem(
        post(&day, &run, &format!("{scenario_path}/inject"), json!({"revision": 2})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(stale["detail"].as_str().unwrap().contains("revision 1"), "{stale}");
    let injected = post(&day, &run, &format!("{scenario_path}/inject"), json!({"revision": 1})).await;
    assert_eq!(json(injected).await["state"], "injected");

    // Observations with the run token's observe scope; a bad one gets the pages' message.
    let bad = problem(
        post(
            &day,
            &run,
            &format!("{base}/observations"),
            json!({"body": " ", "marker": "panic", "observed_at": "yesterday"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    let fields: Vec<&str> = bad["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"body") && fields.contains(&"marker") && fields.contains(&"observed_at"), "{bad}");
    let logged = post(
        &day,
        &run,
        &format!("{base}/observations"),
        json!({"body": "The **alert** fired.", "scenario": sid, "marker": "detection"}),
    )
    .await;
    assert_eq!(logged.status(), StatusCode::CREATED);
    let seq = json(logged).await["seq"].as_i64().unwrap();
    let corrected =
        post(&day, &run, &format!("{base}/timeline/{seq}/corrections"), json!({"body": "The alert fired after 40 s."}))
            .await;
    assert_eq!(corrected.status(), StatusCode::CREATED);
    problem(
        post(&day, &plan, &format!("{base}/observations"), json!({"body": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Halt, then conclude.
    let halted = post(&day, &run, &format!("{scenario_path}/halt"), json!({"reason": "Errors above 1%."})).await;
    assert_eq!(json(halted).await["state"], "halted");
    let gate = json(api(&day, &read, &format!("{scenario_path}/gate?revision=1")).await).await;
    assert_eq!(codes(&gate), ["halted"]);
    let concluded = post(
        &day,
        &run,
        &format!("{scenario_path}/conclude"),
        json!({"outcome": "refuted", "note": "Failover took 90 s."}),
    )
    .await;
    let concluded = json(concluded).await;
    assert_eq!((concluded["state"].as_str(), concluded["outcome"].as_str()), (Some("concluded"), Some("refuted")));

    // The timeline: every change through the API says so, and which token; people's do not.
    let events = json(api(&day, &read, &format!("{base}/timeline")).await).await;
    let via: Vec<(String, Option<String>)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["via_token"].as_str().map(str::to_owned)))
        .collect();
    let by = |kind: &str| via.iter().filter(|(k, _)| k == kind).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    assert_eq!(by("scenario_added"), [Some("Planner".to_owned())]);
    assert_eq!(by("signoff_approved"), [None, None, None], "signed by people in the pages");
    for (kind, token) in [
        ("scenario_announced", "Pipeline"),
        ("scenario_injected", "Pipeline"),
        ("observation", "Pipeline"),
        ("correction", "Pipeline"),
        ("scenario_halted", "Pipeline"),
        ("scenario_concluded", "Pipeline"),
    ] {
        assert_eq!(by(kind), [Some(token.to_owned())], "{kind}");
    }
    // The pages show it too.
    let page = day.page(&day.li, &format!("{base}/timeline")).await;
    assert!(
        page.contains("via API · Pipeline") && page.contains("via API · Planner"),
        "the timeline page says which token"
    );
    // A page of the timeline leads to the next.
    let first = api(&day, &read, &format!("{base}/timeline?limit=2")).await;
    let link = first.headers()[header::LINK].to_str().unwrap().to_owned();
    assert_eq!(link, format!("</api/v1{base}/timeline?after=2&limit=2>; rel=\"next\""));
    let next = json(api(&day, &read, &format!("{base}/timeline?after=2&limit=2")).await).await;
    assert_eq!(next[0]["seq"], 3);
    problem(api(&day, &read, &format!("{base}/timeline?limit=0")).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid")
        .await;
}

#[sqlx::test]
async fn the_api_stream_sends_events_as_json_with_the_pages_ids_and_resumes_after_last_event_id(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Watcher", &day.slug, &["observe"]).await;
    day.scenario("Stop the primary").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    let path = format!("/teams/{}/gamedays/{}", day.slug, day.id);
    let url = day.app.url(&format!("/api/v1{path}/events"));
    let mut stream = Stream::request(day.app.client.get(&url).bearer_auth(&token), None).await;
    let mut seqs = Vec::new();
    for n in 0..3 {
        let logged = post(&day, &token, &format!("{path}/observations"), json!({"body": format!("note {n}")})).await;
        seqs.push(json(logged).await["seq"].as_i64().unwrap());
    }
    for (n, seq) in seqs.iter().enumerate() {
        let message = stream.next(Duration::from_secs(10)).await.expect("an event arrives live");
        assert_eq!(message.id, Some(*seq), "the same ids as the pages' stream");
        let event: Value = serde_json::from_str(&message.data).unwrap();
        assert_eq!((event["seq"].as_i64(), event["body"].as_str()), (Some(*seq), Some(format!("note {n}").as_str())));
        assert_eq!((event["kind"].as_str(), event["via_token"].as_str()), (Some("observation"), Some("Watcher")));
    }
    // A client that reconnects after the first is sent exactly the two it missed.
    let mut again = Stream::request(day.app.client.get(&url).bearer_auth(&token), Some(seqs[0])).await;
    assert_eq!(again.events(2, Duration::from_secs(10)).await, seqs[1..]);
    assert!(again.next(Duration::from_millis(300)).await.is_none(), "nothing twice");
    // The pages' stream numbers them the same.
    let mut page = Stream::open(&day.ana, &day.app.url(&format!("{path}/live")), Some(seqs[0])).await;
    assert_eq!(page.events(2, Duration::from_secs(10)).await, seqs[1..]);
    // A cookie alone does not open it.
    let cookie_only = day.app.get_as(&day.ana, &format!("/api/v1{path}/events")).await;
    assert_eq!(cookie_only.status(), StatusCode::UNAUTHORIZED);
}

#[sqlx::test]
async fn a_revoked_token_stream_ends(db: PgPool) {
    let day = Day::with(db, |c| c.live_keep_alive_ms = 100).await;
    let token = make_token(&day, &day.ana, "Watcher", &day.slug, &[]).await;
    let url = day.app.url(&format!("/api/v1/teams/{}/gamedays/{}/events", day.slug, day.id));
    let mut stream = Stream::request(day.app.client.get(&url).bearer_auth(&token), None).await;
    let id: uuid::Uuid =
        sqlx::query_scalar("select id from api_tokens where name = 'Watcher'").fetch_one(&day.app.db).await.unwrap();
    let revoked = day.app.post_as(&day.ana, &format!("/account/tokens/{id}/revoke"), &[]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert!(stream.ends_within(Duration::from_secs(5)).await, "a revoked token's stream ends at the next check");
}

#[sqlx::test]
async fn a_token_making_too_many_requests_is_told_when_to_come_back_and_others_are_not_slowed(db: PgPool) {
    let day = Day::with(db, |c| c.api_rate_per_minute = 3).await;
    let busy = make_token(&day, &day.ana, "Busy", &day.slug, &[]).await;
    let other = make_token(&day, &day.ana, "Other", &day.slug, &[]).await;
    for left in [2, 1, 0] {
        let answer = api(&day, &busy, "/me").await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()["ratelimit-policy"], "\"token\";q=3;w=60");
        let remaining = answer.headers()["ratelimit"].to_str().unwrap().to_owned();
        assert!(remaining.starts_with(&format!("\"token\";r={left};t=")), "{remaining}");
        assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
    }
    let refused = api(&day, &busy, "/me").await;
    let retry: u64 = refused.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "one request comes back every 20 s: {retry}");
    let body = problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(body["detail"].as_str().unwrap().contains("3 requests in a minute"), "{body}");
    assert_eq!(api(&day, &other, "/me").await.status(), StatusCode::OK, "another token has its own count");
}

/// A scenario everyone approved; its page's path (the API's, without `/api/v1`).
async fn agreed(day: &Day, title: &str) -> String {
    let page = day.scenario(title).await;
    day.all_approve(&page).await;
    page
}

#[sqlx::test]
async fn an_objection_in_the_pages_racing_an_announcement_through_the_api_never_both_succeed(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Pipeline", &day.slug, &["run"]).await;
    day.scenario("Warm-up").await;
    day.start().await;
    let (mut announced, mut objected) = (0, 0);
    for n in 0..40 {
        let page = agreed(&day, &format!("race {n}")).await;
        let revision = day.revision(&page).await.to_string();
        let (signoff, announce_path) = (format!("{page}/signoff"), format!("{page}/announce"));
        let form = [("revision", revision.as_str()), ("decision", "object"), ("reason", "wait")];
        let object = day.app.post_as(&day.li, &signoff, &form);
        let announce = post(&day, &token, &announce_path, json!({}));
        let (object, announce) = tokio::join!(object, announce);
        let (object_won, announce_won) =
            (object.status() == StatusCode::SEE_OTHER, announce.status() == StatusCode::OK);
        assert!(object_won != announce_won, "race {n}: exactly one wins ({}, {})", object.status(), announce.status());
        if announce_won {
            announced += 1;
            assert_eq!(day.state(&page).await, "announced");
            let objections: i64 = sqlx::query_scalar(
                "select count(*) from signoffs s join scenarios c on c.id = s.scenario_id where c.id = $1::uuid and s.decision = 'object'",
            )
            .bind(page.rsplit('/').next().unwrap())
            .fetch_one(&day.app.db)
            .await
            .unwrap();
            assert_eq!(objections, 0, "race {n}: announced with a standing objection");
        } else {
            objected += 1;
            assert_eq!(announce.status(), StatusCode::CONFLICT, "race {n}: the announcement is refused with a reason");
            assert_eq!(day.state(&page).await, "proposed");
        }
    }
    println!("objection (pages) vs announce (API): {announced} announced first, {objected} objected first");
    assert!(announced > 0 && objected > 0, "both orders must occur for the race to test anything");
}

#[sqlx::test]
async fn a_participant_added_in_the_pages_racing_an_injection_through_the_api_is_never_skipped(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Pipeline", &day.slug, &["run"]).await;
    day.scenario("Warm-up").await;
    day.start().await;
    // Bo steps off the game day; each race adds him back while the API injects.
    let bo = day.id_of("bo@example.com").await;
    assert_eq!(
        day.app.post_as(&day.ana, &format!("{}/participants/{bo}/remove", day.url), &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let (mut injected, mut added_first) = (0, 0);
    for n in 0..60 {
        let page = day.scenario(&format!("race {n}")).await;
        for client in [&day.ana, &day.li] {
            assert_eq!(day.sign(client, &page, "approve", "").await.status(), StatusCode::SEE_OTHER);
        }
        let announced = post(&day, &token, &format!("{page}/announce"), json!({})).await;
        assert_eq!(announced.status(), StatusCode::OK, "race {n}: announced");
        // Bo joins as a participant (who must approve before any injection) while the API injects.
        let (participants, inject_path) = (format!("{}/participants", day.url), format!("{page}/inject"));
        let form = [("user_id", bo.as_str()), ("role", "participant")];
        let add = day.app.post_as(&day.ana, &participants, &form);
        let inject = post(&day, &token, &inject_path, json!({}));
        let (add, inject) = tokio::join!(add, inject);
        assert_eq!(add.status(), StatusCode::SEE_OTHER, "race {n}: adding a participant is always allowed");
        let state = day.state(&page).await;
        // The timeline's commit order says who came first.
        let order: Vec<String> = sqlx::query_scalar(
            "select kind from timeline_events where gameday_id = $1 and kind in ('scenario_injected', 'participant_added')
             and seq > (select max(seq) from timeline_events where gameday_id = $1 and kind = 'scenario_announced') order by seq",
        )
        .bind(day.id)
        .fetch_all(&day.app.db)
        .await
        .unwrap();
        if inject.status() == StatusCode::OK {
            injected += 1;
            assert_eq!(order, ["scenario_injected", "participant_added"], "race {n}: injected only before Bo joined");
            assert_eq!(state, "injected");
        } else {
            added_first += 1;
            assert_eq!(inject.status(), StatusCode::CONFLICT, "race {n}");
            assert_eq!(order, ["participant_added"], "race {n}");
            assert_eq!(state, "announced");
        }
        // Back to the start: Bo leaves, the fault is halted.
        let removed = day.app.post_as(&day.ana, &format!("{}/participants/{bo}/remove", day.url), &[]).await;
        assert_eq!(removed.status(), StatusCode::SEE_OTHER, "race {n}");
        let halted = post(&day, &token, &format!("{page}/halt"), json!({"reason": "next race"})).await;
        assert_eq!(halted.status(), StatusCode::OK, "race {n}");
    }
    println!("participant added (pages) vs inject (API): {injected} injected first, {added_first} added first");
    assert!(injected > 0 && added_first > 0, "both orders must occur for the race to test anything");
}

#[sqlx::test]
async fn an_archived_team_takes_no_change_through_the_api_but_is_still_read(db: PgPool) {
    let day = Day::new(db).await;
    let plan = make_token(&day, &day.ana, "Planner", &day.slug, &["plan", "observe", "run"]).await;
    let page = day.scenario("Stop the primary").await;
    let ana = day.id_of("ana@example.com").await;
    // A draft and a completed game day are all an archived team can hold; neither takes a change.
    sqlx::query("update teams set archived_at = now() where slug = $1")
        .bind(&day.slug)
        .execute(&day.app.db)
        .await
        .unwrap();
    let events = day.event_kinds().await.len();
    for (path, body) in [
        (format!("{}/scenarios", day.url), scenario_body("Another", &ana)),
        (format!("{}/observations", day.url), json!({"body": "seen"})),
        (format!("{page}/halt"), json!({"reason": "stop"})),
    ] {
        let refused = problem(post(&day, &plan, &path, body).await, StatusCode::CONFLICT, "conflict").await;
        assert!(refused["detail"].as_str().unwrap().starts_with("This team is archived"), "{path}: {refused}");
    }
    let edit = send(&day, &plan, Method::PUT, &page, &scenario_body("Renamed", &ana)).await;
    problem(edit, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(day.event_kinds().await.len(), events, "nothing recorded");
    assert_eq!(api(&day, &plan, &page).await.status(), StatusCode::OK, "still read");
}

#[sqlx::test]
async fn a_halt_in_the_pages_racing_an_injection_through_the_api_never_lets_the_fault_in_after_it(db: PgPool) {
    // (An objection cannot race an injection: sign-off closes at the announcement, and after it
    // the way to stop a fault is to halt it. So the halt is what races the API's injection.)
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Pipeline", &day.slug, &["run"]).await;
    day.scenario("Warm-up").await;
    day.start().await;
    let (mut injected_first, mut halted_first) = (0, 0);
    for n in 0..40 {
        let page = agreed(&day, &format!("race {n}")).await;
        assert_eq!(post(&day, &token, &format!("{page}/announce"), json!({})).await.status(), StatusCode::OK);
        let (halt_path, inject_path) = (format!("{page}/halt"), format!("{page}/inject"));
        let form = [("reason", "The error rate is already high.")];
        let halt = day.app.post_as(&day.li, &halt_path, &form);
        let inject = post(&day, &token, &inject_path, json!({}));
        let (halt, inject) = tokio::join!(halt, inject);
        assert_eq!(halt.status(), StatusCode::SEE_OTHER, "race {n}: a halt always stops the fault");
        assert_eq!(day.state(&page).await, "halted", "race {n}");
        let sid = page.rsplit('/').next().unwrap();
        let order: Vec<String> = sqlx::query_scalar(
            "select kind from timeline_events where scenario_id = $1::uuid and kind in ('scenario_injected', 'scenario_halted') order by seq",
        )
        .bind(sid)
        .fetch_all(&day.app.db)
        .await
        .unwrap();
        if inject.status() == StatusCode::OK {
            injected_first += 1;
            assert_eq!(order, ["scenario_injected", "scenario_halted"], "race {n}");
        } else {
            halted_first += 1;
            assert_eq!(inject.status(), StatusCode::CONFLICT, "race {n}: refused with a reason");
            assert_eq!(order, ["scenario_halted"], "race {n}: never injected after the halt");
        }
    }
    println!("halt (pages) vs inject (API): {injected_first} injected first, {halted_first} halted first");
    assert!(injected_first > 0 && halted_first > 0, "both orders must occur for the race to test anything");
}
