//! Importing Chaos Toolkit experiments, in the pages and through the API: what people read and
//! sign, what is kept and listed, what is never stored (credentials), what a bad file is told, and
//! who may import.

use reqwest::multipart::Form;
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::{json, make_token, problem};
use crate::chaostoolkit::{complete, upload};
use crate::gamedays::Day;
use crate::helpers::location;

const ALL_JSON: &str = include_str!("../fixtures/chaostoolkit/experiment-all.json");
const ALL_YAML: &str = include_str!("../fixtures/chaostoolkit/experiment-all.yaml");
/// The credential values written into the fixtures: none may be stored or shown.
const LITERALS: [&str; 5] = [
    "hunter2-staging-db",
    "fixture-kube-token-2c91",
    "fixture-x-api-key-123",
    "fixture-url-pass",
    "fixture-bearer-token-7f3a",
];

/// Everything the database holds that a person or a webhook could read, as text.
async fn everything(db: &PgPool) -> String {
    let tables = ["scenario_revisions", "timeline_events", "team_audit", "webhook_deliveries", "health_checks"];
    let mut all = String::new();
    for table in tables {
        let exists: bool =
            sqlx::query_scalar("select to_regclass($1) is not null").bind(table).fetch_one(db).await.unwrap();
        if exists {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("select t::text from {table} t")).fetch_all(db).await.unwrap();
            all.push_str(&rows.join("\n"));
        }
    }
    all
}

fn id_of(url: &str) -> Uuid {
    Uuid::parse_str(url.rsplit('/').next().unwrap()).unwrap()
}

#[sqlx::test]
async fn an_uploaded_experiment_becomes_a_scenario_nobody_signs_until_its_facilitator_sets_the_rest(db: PgPool) {
    let day = Day::new(db).await;
    let page = day.app.get_as(&day.ana, &day.url).await.text().await.unwrap();
    assert!(page.contains("Import a Chaos Toolkit experiment"), "the game day offers the import");
    let form = day.app.get_as(&day.ana, &format!("{}/scenarios/import", day.url)).await;
    assert_eq!(form.status(), StatusCode::OK);

    let response = upload(&day, &day.ana, &format!("{}/scenarios/import", day.url), "payments.json", ALL_JSON).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let url = location(&response);
    let sid = id_of(&url);
    let page = day.app.get_as(&day.li, &url).await.text().await.unwrap();
    assert!(page.contains("Payments stay up when one API pod dies"));
    assert!(page.contains("payments.json"), "where it came from");
    assert!(page.contains("not set yet"), "the blast radius is left to set");
    assert!(page.contains("Not ready to approve"), "and nobody can approve before it is");
    assert!(page.contains("x-team-channel"), "what Gameday does not understand is listed");
    assert!(page.contains("Credentials replaced"), "and what was replaced");
    assert!(page.contains("kubernetes"), "tags kept");
    assert!(page.contains("reliability: high"), "contributions kept");
    for literal in LITERALS {
        assert!(!page.contains(literal), "{literal} is shown");
    }
    let all = everything(&day.app.db).await;
    for literal in LITERALS {
        assert!(!all.contains(literal), "{literal} is stored");
    }
    // The document is kept as imported otherwise, unknown keys included.
    let stored: Value = sqlx::query_scalar("select experiment from scenario_revisions where scenario_id = $1")
        .bind(sid)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(stored["x-team-channel"], "#payments-oncall");
    assert_eq!(stored["secrets"]["pagerduty"]["api-key"]["key"], "PAGERDUTY_API_KEY", "a reference stays");

    // Its HTTP probes that only look, with a status or a simple JSON path as tolerance, guard it as
    // health checks of the team's library (a credential header is a secret to set there).
    let checks: Vec<(String, Value)> =
        sqlx::query_as("select name, spec from health_checks order by name").fetch_all(&day.app.db).await.unwrap();
    let names: Vec<&str> = checks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["api-health", "checkout-page", "payments-status"]);
    assert_eq!(checks[0].1["url"], "https://payments.staging.example.com/health");
    assert_eq!(checks[0].1["headers"][1], serde_json::json!({"name": "X-Api-Key"}), "a secret header, no value");
    assert_eq!(checks[2].1["json"]["pointer"], "/status");
    let carried: Value = sqlx::query_scalar("select health_checks from current_scenarios where id = $1")
        .bind(sid)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert_eq!(carried.as_array().unwrap().len(), 3, "the scenario carries them");
    assert!(page.contains("GET https://payments.staging.example.com/health"), "shown on its page");
    let (body,): (String,) = sqlx::query_as("select body from timeline_events where kind = 'scenario_added'")
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    assert!(body.contains("health checks: api-health, checkout-page, payments-status"), "{body}");
    assert!(body.contains("checkout-banner: its tolerance is not"), "and why the others are not: {body}");

    // Approving is refused until the facilitator has set what the experiment does not say.
    let refused = day.sign(&day.li, &url, "approve", "").await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let text = refused.text().await.unwrap();
    assert!(text.contains("blast radius") && text.contains("abort owner"), "says what is missing");

    // Setting them makes revision 2, which still carries the experiment: the fingerprint covers it.
    let before: String = sqlx::query_scalar("select experiment_digest from scenario_revisions where scenario_id = $1")
        .bind(sid)
        .fetch_one(&day.app.db)
        .await
        .unwrap();
    complete(&day, &url).await;
    let (revision, digest): (i32, Option<String>) = sqlx::query_as(
        "select r.revision, r.experiment_digest from scenarios s join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision where s.id = $1",
    )
    .bind(sid)
    .fetch_one(&day.app.db)
    .await
    .unwrap();
    assert_eq!((revision, digest.as_deref()), (2, Some(before.as_str())));
    day.all_approve(&url).await;
    let page = day.app.get_as(&day.ana, &url).await.text().await.unwrap();
    assert!(page.contains("Export revision 2 as an experiment"), "agreed: the export is offered");
}

#[sqlx::test]
async fn json_and_yaml_read_the_same_and_the_api_imports_either(db: PgPool) {
    let day = Day::new(db).await;
    let plan = make_token(&day, &day.ana, "Planner", &day.slug, &["plan"]).await;
    let path = format!("/api/v1/teams/{}/gamedays/{}/scenarios/import", day.slug, day.id);
    let mut imported = Vec::new();
    for (body, kind) in [(ALL_JSON, "application/json"), (ALL_YAML, "application/yaml")] {
        let response = day
            .app
            .client
            .post(day.app.url(&path))
            .bearer_auth(&plan)
            .header(header::CONTENT_TYPE, kind)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{kind}");
        assert!(response.headers().contains_key(header::LOCATION));
        let view = json(response).await;
        let to_set: Vec<&str> = view["to_set"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(to_set.contains(&"Blast radius") && to_set.contains(&"Abort owner"), "{view}");
        assert!(view["redacted"].as_array().unwrap().len() >= 4, "{view}");
        assert!(view["not_understood"].as_array().unwrap().iter().any(|k| k == "x-team-channel"), "{view}");
        imported.push(view);
    }
    let documents: Vec<Value> = sqlx::query_scalar(
        "select experiment from scenario_revisions where experiment is not null order by created_at",
    )
    .fetch_all(&day.app.db)
    .await
    .unwrap();
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0], documents[1], "the same experiment in JSON and in YAML");
    assert_eq!(imported[0]["fingerprint"], imported[1]["fingerprint"]);
    // The scenario as the API shows it: blast radius not set yet.
    let sid = imported[0]["scenario"].as_str().unwrap();
    let one = day
        .app
        .client
        .get(day.app.url(&format!("/api/v1/teams/{}/gamedays/{}/scenarios/{sid}", day.slug, day.id)))
        .bearer_auth(&plan)
        .send()
        .await
        .unwrap();
    assert_eq!(json(one).await["blast_radius"], Value::Null);

    // A read token does not import; a bad document is refused naming where.
    let read = make_token(&day, &day.ana, "Reader", &day.slug, &[]).await;
    let send = |token: String, body: &'static str| {
        day.app
            .client
            .post(day.app.url(&path))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(body)
            .send()
    };
    problem(send(read, "title: x").await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let bad =
        problem(send(plan.clone(), "title: [unclosed\n").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            .await;
    assert!(bad.to_string().to_lowercase().contains("line"), "names the line: {bad}");
    let bad = problem(
        send(plan.clone(), "description: no title\nmethod: []\n").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    assert!(bad.to_string().contains("title"), "names the key: {bad}");
}

#[sqlx::test]
async fn a_bad_file_is_refused_beside_the_field_with_what_was_pasted_kept(db: PgPool) {
    let day = Day::new(db).await;
    let path = format!("{}/scenarios/import", day.url);
    let paste = |text: &str| Form::new().text("experiment", text.to_owned());
    let broken = "{\n  \"title\": \"Half an experiment\",\n  \"description\": \"x\"\n  \"method\": []\n}";
    let response = day.ana.post(day.app.url(&path)).multipart(paste(broken)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("field-error") && page.contains("line 4"), "the line is named beside the field");
    assert!(page.contains("Half an experiment"), "what was pasted is kept");

    let wrong = r#"{"title": "T", "description": "D", "method": [{"type": "action", "name": "a", "provider": {"type": "shell", "path": "x"}}]}"#;
    let page = day.ana.post(day.app.url(&path)).multipart(paste(wrong)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("method[0].provider.type"), "the key is named");

    let empty = day.ana.post(day.app.url(&path)).multipart(paste("  ")).send().await.unwrap();
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.text().await.unwrap().contains("Choose the experiment file, or paste it."));

    let scenarios: i64 = sqlx::query_scalar("select count(*) from scenarios").fetch_one(&day.app.db).await.unwrap();
    assert_eq!(scenarios, 0, "nothing was added");
}

#[sqlx::test]
async fn only_a_facilitator_imports_and_another_team_finds_nothing(db: PgPool) {
    let day = Day::new(db).await;
    let path = format!("{}/scenarios/import", day.url);
    let li = upload(&day, &day.li, &path, "e.json", ALL_JSON).await;
    assert_eq!(li.status(), StatusCode::FORBIDDEN, "a participant does not add scenarios");
    let eve = upload(&day, &day.eve, &path, "e.json", ALL_JSON).await;
    assert_eq!(eve.status(), StatusCode::NOT_FOUND, "another team's game day is not found");
    assert_eq!(day.app.get_as(&day.eve, &path).await.status(), StatusCode::NOT_FOUND);
    // A scenario's export and journal are as private as the scenario.
    let url = location(&upload(&day, &day.ana, &path, "e.json", ALL_JSON).await);
    assert_eq!(day.app.get_as(&day.eve, &format!("{url}/experiment.json")).await.status(), StatusCode::NOT_FOUND);
    let journal = include_str!("../fixtures/chaostoolkit/journal-completed.json");
    assert_eq!(
        upload(&day, &day.eve, &format!("{url}/journal"), "j.json", journal).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        upload(&day, &day.li, &format!("{url}/journal"), "j.json", journal).await.status(),
        StatusCode::FORBIDDEN
    );
    let eve_token_team = day.app.team(&day.eve, "Elsewhere").await;
    let token = make_token(&day, &day.eve, "Eve's", &eve_token_team, &["plan", "run"]).await;
    let api_path = format!("/api/v1/teams/{}/gamedays/{}/scenarios/import", day.slug, day.id);
    let response = day
        .app
        .client
        .request(Method::POST, day.app.url(&api_path))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(ALL_JSON)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test]
async fn journals_of_real_runs_come_onto_the_timeline_once_with_their_exceptions(db: PgPool) {
    let day = Day::new(db).await;
    let url = day.scenario("Payments stay up").await;
    let sid = id_of(&url);
    let run = make_token(&day, &day.ana, "Pipeline", &day.slug, &["run"]).await;
    let path = format!("/api/v1/teams/{}/gamedays/{}/scenarios/{sid}/journal", day.slug, day.id);
    let post = |body: &'static str| {
        day.app
            .client
            .post(day.app.url(&path))
            .bearer_auth(run.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
    };
    let failed = include_str!("../fixtures/chaostoolkit/journal-failed.json");
    let response = post(failed).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let view = json(response).await;
    assert_eq!(view["imported"], true);
    assert_eq!(view["proposal"], "refuted", "deviated: the steady state did not hold after the method: {view}");
    let entries = view["entries"].as_u64().unwrap();
    assert!(entries >= 2, "{view}");
    let again = post(failed).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json(again).await["imported"], false, "the same journal twice adds nothing");
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "select body, data from timeline_events where scenario_id = $1 and kind = 'experiment_ran' order by seq",
    )
    .bind(sid)
    .fetch_all(&day.app.db)
    .await
    .unwrap();
    assert_eq!(rows.len() as u64, entries);
    assert!(
        rows.iter().any(|(_, d)| d["exception"].as_str().is_some_and(|e| !e.is_empty())),
        "exceptions are kept: {rows:?}"
    );
    assert!(rows.iter().all(|(_, d)| d["via"]["token_name"] == "Pipeline"), "and the token that brought them");

    let completed = include_str!("../fixtures/chaostoolkit/journal-completed.json");
    let view = json(post(completed).await.unwrap()).await;
    assert_eq!(view["proposal"], "held", "{view}");
    let refused = include_str!("../fixtures/chaostoolkit/journal-before-failed.json");
    let view = json(post(refused).await.unwrap()).await;
    assert_eq!(view["proposal"], "inconclusive", "nothing was injected: {view}");
    let aborted = include_str!("../fixtures/chaostoolkit/journal-aborted.json");
    let view = json(post(aborted).await.unwrap()).await;
    assert_eq!(view["proposal"], "inconclusive", "{view}");
    // Not JSON: refused naming the line.
    let bad = problem(post("{\n\"status\": \n").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert!(
        bad["detail"].as_str().unwrap_or_default().to_lowercase().contains("line") || bad.to_string().contains("line"),
        "{bad}"
    );
}
