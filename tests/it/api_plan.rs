//! Planning game days through the JSON API with a `plan` token: create and replace one, move it
//! through its lifecycle, choose who is on it; each change as the pages make it (the same rules,
//! the same messages), and refused as the pages refuse it.

use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::api::{api, json, make_token, problem, send};
use crate::gamedays::{Day, GAMEDAY_FORM};

/// The body the pages' `GAMEDAY_FORM` is, for the API (its times given in UTC, as Ana's zone is).
fn body() -> Value {
    json!({
        "title": "Database failover drill",
        "objective": "Learn whether checkout survives losing the primary.",
        "environment": "staging",
        "systems": "checkout, postgres",
        "starts_at": "2026-12-01T10:00:00Z",
        "ends_at": "2026-12-01T12:00:00Z",
        "call_link": "https://meet.example/gameday",
    })
}

/// `body()` with `field` set to `value`.
fn with(field: &str, value: Value) -> Value {
    let mut body = body();
    body[field] = value;
    body
}

/// The message a problem carries beside `field`.
fn beside<'a>(problem: &'a Value, field: &str) -> &'a str {
    let errors = problem["errors"].as_array().unwrap_or_else(|| panic!("no errors: {problem}"));
    let error =
        errors.iter().find(|e| e["field"] == field).unwrap_or_else(|| panic!("nothing beside {field}: {problem}"));
    error["message"].as_str().unwrap()
}

/// The message a page shows beside `field`.
fn on_page<'a>(page: &'a str, field: &str) -> &'a str {
    let at = page.find(&format!(r#"id="{field}-error">"#)).unwrap_or_else(|| panic!("no error beside {field}"));
    let rest = &page[at..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..].split("</p>").next().unwrap().trim()
}

async fn post(day: &Day, token: &str, path: &str, body: &Value) -> Response {
    send(day, token, Method::POST, path, body).await
}

#[sqlx::test]
async fn a_plan_token_creates_and_replaces_a_game_day_as_the_pages_show_it(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Planner", &day.slug, &["plan"]).await;
    let gamedays = format!("/teams/{}/gamedays", day.slug);

    let created = post(&day, &token, &gamedays, &with("starts_at", json!("2026-12-01T11:00:00+01:00"))).await;

    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers().get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
    let created = json(created).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1{gamedays}/{id}"));
    assert_eq!(created["status"], "draft");
    assert_eq!(created["starts_at"], "2026-12-01T10:00:00Z", "the instant, in UTC");
    assert_eq!(created["your_role"], "facilitator");
    assert_eq!(
        created["participants"],
        json!([{"user_id": day.id_of("ana@example.com").await, "name": "Ana", "role": "facilitator"}])
    );
    assert_eq!(
        json(day.app.client.get(day.app.url(&location)).bearer_auth(&token).send().await.unwrap()).await,
        created
    );
    let page = day.page(&day.ana, &format!("{gamedays}/{id}")).await;
    assert!(page.contains("<h1>Database failover drill</h1>"));
    assert!(page.contains(r#"title="2026-12-01T10:00:00Z""#), "the page shows the same instant");
    assert!(page.contains(r#"id="gameday-status">Draft</span>"#));

    // A PUT is the whole set of details: what is left out is cleared.
    let mut changed = body();
    changed["title"] = json!("Failover drill, moved");
    changed["starts_at"] = json!("2026-12-02T09:30:00-05:00");
    changed.as_object_mut().unwrap().remove("ends_at");
    changed.as_object_mut().unwrap().remove("call_link");

    let replaced = send(&day, &token, Method::PUT, &format!("{gamedays}/{id}"), &changed).await;

    assert_eq!(replaced.status(), StatusCode::OK);
    let replaced = json(replaced).await;
    assert_eq!(replaced["title"], "Failover drill, moved");
    assert_eq!(replaced["starts_at"], "2026-12-02T14:30:00Z");
    assert_eq!(replaced["ends_at"], Value::Null);
    assert_eq!(replaced["call_link"], Value::Null);
    let page = day.page(&day.ana, &format!("{gamedays}/{id}")).await;
    assert!(page.contains("<h1>Failover drill, moved</h1>"));
    assert!(page.contains(r#"title="2026-12-02T14:30:00Z""#));
    assert!(!page.contains("https://meet.example/gameday"), "the call link is gone");
    let timeline = day.page(&day.ana, &format!("{gamedays}/{id}/timeline")).await;
    assert!(timeline.contains("Ana updated the plan and changed the schedule."), "the same event as the pages'");
}

#[sqlx::test]
async fn a_plan_token_takes_a_game_day_from_draft_to_completed_and_cancels_another(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Planner", &day.slug, &["plan"]).await;
    let path = format!("/teams/{}/gamedays/{}", day.slug, day.id);
    day.scenario("Primary fails over").await;

    let scheduled = post(&day, &token, &format!("{path}/schedule"), &Value::Null).await;
    assert_eq!(scheduled.status(), StatusCode::OK);
    assert_eq!(json(scheduled).await["status"], "scheduled");
    assert!(day.page(&day.ana, &day.url).await.contains(r#"id="gameday-status">Scheduled</span>"#));

    let started = post(&day, &token, &format!("{path}/start"), &Value::Null).await;
    assert_eq!(started.status(), StatusCode::OK);
    assert_eq!(json(started).await["status"], "running");
    assert!(day.page(&day.ana, &day.url).await.contains(r#"id="gameday-status">Running</span>"#));

    // Its scenario has not run: ending now is ending early, which needs a reason (as on the page).
    let no_reason = post(&day, &token, &format!("{path}/complete"), &json!({})).await;
    let no_reason = problem(no_reason, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(beside(&no_reason, "reason"), "1 scenario has not run yet: say why the day ends early.");
    let page = day.app.post_as(&day.ana, &format!("{}/complete", day.url), &[("reason", "")]).await;
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.text().await.unwrap().contains(beside(&no_reason, "reason")), "the page's message");

    let reason = json!({"reason": "A real incident needs everyone."});
    let completed = post(&day, &token, &format!("{path}/complete"), &reason).await;

    assert_eq!(completed.status(), StatusCode::OK);
    assert_eq!(json(completed).await["status"], "completed");
    let page = day.page(&day.ana, &day.url).await;
    assert!(page.contains(r#"id="gameday-status">Completed</span>"#));
    assert!(page.contains("Ana ended the game day early: A real incident needs everyone."));
    let kinds = day.event_kinds().await;
    assert!(
        kinds.ends_with(&["gameday_scheduled".into(), "gameday_started".into(), "gameday_completed".into()]),
        "{kinds:?}"
    );

    // Another game day, cancelled with a reason.
    let other = json(post(&day, &token, &format!("/teams/{}/gamedays", day.slug), &body()).await).await;
    let other = format!("/teams/{}/gamedays/{}", day.slug, other["id"].as_str().unwrap());
    let blank = post(&day, &token, &format!("{other}/cancel"), &json!({"reason": "  "})).await;
    let blank = problem(blank, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(beside(&blank, "reason"), "The reason for cancelling is required.");

    let cancelled =
        post(&day, &token, &format!("{other}/cancel"), &json!({"reason": "Staging is rebuilt that week."})).await;

    assert_eq!(cancelled.status(), StatusCode::OK);
    let cancelled = json(cancelled).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "Staging is rebuilt that week.");
    let page = day.page(&day.ana, &other).await;
    assert!(page.contains("Cancelled: Staging is rebuilt that week."));
}

#[sqlx::test]
async fn participants_are_added_changed_and_removed_by_the_pages_rules(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Planner", &day.slug, &["plan"]).await;
    let people = format!("/teams/{}/gamedays/{}/participants", day.slug, day.id);
    let (ana, li, vi, eve) = (
        day.id_of("ana@example.com").await,
        day.id_of("li@example.com").await,
        day.id_of("vi@example.com").await,
        day.id_of("eve@example.com").await,
    );
    let listed = json(api(&day, &token, &people).await).await;
    let roles: Vec<(&str, &str)> =
        listed.as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap(), p["role"].as_str().unwrap())).collect();
    assert_eq!(roles.len(), 3);
    assert!(roles.contains(&("Ana", "facilitator")) && roles.contains(&("Li", "participant")), "{roles:?}");

    // Vi is a team viewer: an observer only, as the pages say.
    let refused = send(&day, &token, Method::PUT, &format!("{people}/{vi}"), &json!({"role": "participant"})).await;
    let refused = problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(beside(&refused, "role"), "Team viewers can join a game day as observers only.");
    let added = send(&day, &token, Method::PUT, &format!("{people}/{vi}"), &json!({"role": "observer"})).await;
    assert_eq!(added.status(), StatusCode::CREATED);
    assert_eq!(json(added).await, json!({"user_id": vi, "name": "Vi", "role": "observer"}));
    assert!(day.page(&day.ana, &day.url).await.contains(&format!(r#"id="prole-{vi}""#)), "on the page");

    // Someone outside the team, and a role that is none.
    let outsider = send(&day, &token, Method::PUT, &format!("{people}/{eve}"), &json!({"role": "observer"})).await;
    let outsider = problem(outsider, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(beside(&outsider, "user_id"), "Participants are chosen among the team's members.");
    let boss = send(&day, &token, Method::PUT, &format!("{people}/{li}"), &json!({"role": "boss"})).await;
    let boss = problem(boss, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(beside(&boss, "role"), "Choose a role: facilitator, participant or observer.");

    // The game day keeps a facilitator.
    let alone = send(&day, &token, Method::DELETE, &format!("{people}/{ana}"), &Value::Null).await;
    let alone = problem(alone, StatusCode::CONFLICT, "conflict").await;
    assert!(alone["detail"].as_str().unwrap().starts_with("A game day keeps at least one facilitator."), "{alone}");

    let promoted = send(&day, &token, Method::PUT, &format!("{people}/{li}"), &json!({"role": "facilitator"})).await;

    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(json(promoted).await["role"], "facilitator");
    let page = day.page(&day.ana, &day.url).await;
    let select = page.split(&format!(r#"id="prole-{li}""#)).nth(1).unwrap().split("</select>").next().unwrap();
    assert!(select.contains(r#"value="facilitator" selected"#), "the page shows Li's new role");

    let removed = send(&day, &token, Method::DELETE, &format!("{people}/{vi}"), &Value::Null).await;

    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let listed = json(api(&day, &token, &people).await).await;
    assert!(listed.as_array().unwrap().iter().all(|p| p["user_id"] != vi.as_str()), "{listed}");
    assert!(!day.page(&day.ana, &day.url).await.contains(&format!(r#"id="prole-{vi}""#)));
    let again = send(&day, &token, Method::DELETE, &format!("{people}/{vi}"), &Value::Null).await;
    problem(again, StatusCode::NOT_FOUND, "not_found").await;
    let kinds = day.event_kinds().await;
    assert!(
        kinds.ends_with(&["participant_added".into(), "participant_role_changed".into(), "participant_removed".into()]),
        "{kinds:?}"
    );
}

/// Every write of the API on the fixture's game day, with a body each takes.
fn writes(day: &Day, li: &str) -> Vec<(Method, String, Value)> {
    let gamedays = format!("/teams/{}/gamedays", day.slug);
    let one = format!("{gamedays}/{}", day.id);
    vec![
        (Method::POST, gamedays, body()),
        (Method::PUT, one.clone(), body()),
        (Method::POST, format!("{one}/schedule"), Value::Null),
        (Method::POST, format!("{one}/start"), Value::Null),
        (Method::POST, format!("{one}/complete"), json!({"reason": "Done."})),
        (Method::POST, format!("{one}/cancel"), json!({"reason": "Not this week."})),
        (Method::PUT, format!("{one}/participants/{li}"), json!({"role": "observer"})),
        (Method::DELETE, format!("{one}/participants/{li}"), Value::Null),
    ]
}

#[sqlx::test]
async fn a_read_token_is_refused_every_write_and_changes_nothing(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Primary fails over").await;
    let token = make_token(&day, &day.ana, "Reader", &day.slug, &["observe", "run"]).await;
    let events = day.event_kinds().await.len();
    let li = day.id_of("li@example.com").await;

    for (method, path, body) in writes(&day, &li) {
        let response = send(&day, &token, method.clone(), &path, &body).await;

        let refused = problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains("planning a game day needs a token with the plan scope"), "{method} {path}: {detail}");
    }
    assert_eq!(day.event_kinds().await.len(), events, "nothing happened");
    let count: i64 = sqlx::query_scalar("select count(*) from gamedays").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test]
async fn a_token_of_another_team_finds_nothing_to_change(db: PgPool) {
    let day = Day::new(db).await;
    let eves = day.app.team(&day.eve, "Payments").await;
    let eve = make_token(&day, &day.eve, "Payments planner", &eves, &["plan"]).await;
    let ana = make_token(&day, &day.ana, "Platform planner", &day.slug, &["plan"]).await;
    let eves_day = json(post(&day, &eve, &format!("/teams/{eves}/gamedays"), &body()).await).await;
    let eves_day = eves_day["id"].as_str().unwrap().to_owned();
    let events = day.event_kinds().await.len();
    let li = day.id_of("li@example.com").await;

    for (method, path, body) in writes(&day, &li) {
        let response = send(&day, &eve, method.clone(), &path, &body).await;
        problem(response, StatusCode::NOT_FOUND, "not_found").await;
        // Eve's game day under Ana's team: not Ana's team's, so not found either.
        let path = path.replace(&day.id.to_string(), &eves_day);
        if path.contains(&eves_day) {
            let response = send(&day, &ana, method.clone(), &path, &body).await;
            problem(response, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    assert_eq!(day.event_kinds().await.len(), events, "nothing happened");
    let status: String = sqlx::query_scalar("select status::text from gamedays where id::text = $1")
        .bind(&eves_day)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(status, "draft");
}

#[sqlx::test]
async fn bad_input_is_refused_beside_its_field_with_the_pages_message(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Planner", &day.slug, &["plan"]).await;
    let gamedays = format!("/teams/{}/gamedays", day.slug);
    // (field, the API's value, the pages' value)
    let long = "x".repeat(121);
    let cases = [
        ("title", json!("   "), "   "),
        ("title", json!(long), long.as_str()),
        ("objective", json!(""), ""),
        ("call_link", json!("javascript:alert(1)"), "javascript:alert(1)"),
        ("ends_at", json!("2026-12-01T09:00:00Z"), "2026-12-01T09:00"),
        ("starts_at", json!("1999-12-31T23:00:00Z"), "1999-12-31T23:00"),
    ];
    for (field, value, typed) in cases {
        let response = post(&day, &token, &gamedays, &with(field, value)).await;

        let refused = problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
        let form: Vec<(&str, &str)> =
            GAMEDAY_FORM.iter().map(|(k, v)| if *k == field { (*k, typed) } else { (*k, *v) }).collect();
        let page = day.app.post_as(&day.ana, &gamedays, &form).await;
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let page = page.text().await.unwrap();
        assert_eq!(beside(&refused, field), on_page(&page, field), "{field}: the pages' message");
    }

    // Several fields at once, each beside its own.
    let mut several = with("title", json!(""));
    several["starts_at"] = json!("next tuesday");
    let refused =
        problem(post(&day, &token, &gamedays, &several).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(beside(&refused, "title"), "Title is required.");
    assert!(beside(&refused, "starts_at").contains("RFC 3339"), "{refused}");
    // A local time without its offset is not an instant.
    let local = post(&day, &token, &gamedays, &with("starts_at", json!("2026-12-01T10:00"))).await;
    let local = problem(local, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert!(beside(&local, "starts_at").contains("RFC 3339"), "{local}");

    // A body that is not the shape asked for, or not JSON at all.
    for bad in [with("colour", json!("red")), json!({"title": "Only a title"}), json!([1, 2])] {
        let refused =
            problem(post(&day, &token, &gamedays, &bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
        assert!(!refused["errors"].as_array().unwrap().is_empty(), "{refused}");
    }
    let not_json = day
        .app
        .client
        .post(day.app.url(&format!("/api/v1{gamedays}")))
        .bearer_auth(&token)
        .body("title=x")
        .send()
        .await
        .unwrap();
    problem(not_json, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;

    // Once scheduled, a game day keeps its start time.
    day.scenario("Primary fails over").await;
    assert_eq!(day.step(&day.ana, "schedule").await.status(), StatusCode::SEE_OTHER);
    let mut undated = body();
    undated.as_object_mut().unwrap().remove("starts_at");
    undated.as_object_mut().unwrap().remove("ends_at");
    let refused = send(&day, &token, Method::PUT, &format!("{gamedays}/{}", day.id), &undated).await;
    let refused = problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(beside(&refused, "starts_at"), "A scheduled game day needs a start time.");
    let count: i64 = sqlx::query_scalar("select count(*) from gamedays").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(count, 1, "nothing was created");
}

#[sqlx::test]
async fn a_step_the_lifecycle_does_not_allow_is_a_conflict_with_the_pages_message(db: PgPool) {
    let day = Day::new(db).await;
    let token = make_token(&day, &day.ana, "Planner", &day.slug, &["plan"]).await;
    let path = format!("/teams/{}/gamedays/{}", day.slug, day.id);

    let refused =
        problem(post(&day, &token, &format!("{path}/start"), &Value::Null).await, StatusCode::CONFLICT, "conflict")
            .await;
    assert_eq!(refused["detail"], "Schedule the game day before starting it.");
    let page = day.step(&day.ana, "start").await;
    assert_eq!(page.status(), StatusCode::CONFLICT);
    assert!(page.text().await.unwrap().contains("Schedule the game day before starting it."), "the pages say the same");

    let refused =
        problem(post(&day, &token, &format!("{path}/schedule"), &Value::Null).await, StatusCode::CONFLICT, "conflict")
            .await;
    assert_eq!(refused["detail"], "Add at least one scenario before scheduling.");
    let refused =
        problem(post(&day, &token, &format!("{path}/complete"), &json!({})).await, StatusCode::CONFLICT, "conflict")
            .await;
    assert_eq!(refused["detail"], "Only a running game day can be ended; this one is draft.");

    day.scenario("Primary fails over").await;
    day.start().await;
    let refused = post(&day, &token, &format!("{path}/cancel"), &json!({"reason": "Too late."})).await;
    let refused = problem(refused, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(refused["detail"], "A running game day cannot be cancelled.");
    assert_eq!(json(api(&day, &token, &path).await).await["status"], "running", "still running");

    // An archived team takes no change, as its pages take none.
    sqlx::query("update teams set archived_at = now() where slug = $1")
        .bind(&day.slug)
        .execute(&day.app.db)
        .await
        .unwrap();
    let refused = post(&day, &token, &format!("/teams/{}/gamedays", day.slug), &body()).await;
    let refused = problem(refused, StatusCode::CONFLICT, "conflict").await;
    assert!(refused["detail"].as_str().unwrap().starts_with("This team is archived"), "{refused}");
}

#[sqlx::test]
async fn a_plan_token_of_someone_who_does_not_facilitate_is_refused_as_the_pages_refuse_them(db: PgPool) {
    let day = Day::new(db).await;
    day.scenario("Primary fails over").await;
    // Li takes part but does not facilitate; Vi is a team viewer.
    let li = make_token(&day, &day.li, "Li's planner", &day.slug, &["plan"]).await;
    let vi = make_token(&day, &day.vi, "Vi's planner", &day.slug, &["plan"]).await;
    let bo = day.id_of("bo@example.com").await;
    let events = day.event_kinds().await.len();

    for (method, path, body) in writes(&day, &bo).into_iter().skip(1) {
        for token in [&li, &vi] {
            let response = send(&day, token, method.clone(), &path, &body).await;
            let refused = problem(response, StatusCode::FORBIDDEN, "forbidden").await;
            assert_eq!(refused["detail"], "Only a facilitator of this game day can do that.", "{method} {path}");
        }
    }
    let page = day.app.post_as(&day.li, &format!("{}/participants/{bo}/role", day.url), &[("role", "observer")]).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN, "the pages refuse Li too");

    // Viewers read game days; they do not create them.
    let created = post(&day, &vi, &format!("/teams/{}/gamedays", day.slug), &body()).await;
    let refused = problem(created, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(refused["detail"], "Viewers read game days; a lead or member creates them.");
    assert_eq!(day.event_kinds().await.len(), events, "nothing happened");
    // Li, a member, may create one (and facilitates it).
    let created = post(&day, &li, &format!("/teams/{}/gamedays", day.slug), &body()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(json(created).await["your_role"], "facilitator");
}
