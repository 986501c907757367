//! Chaos Toolkit in and out, with the real `chaos` (from PyPI, installed into `.venv/` by
//! `make test`'s setup): an experiment imported as a scenario, agreed by people, exported, checked
//! by `chaos validate`, and run by `chaos run` against a local HTTP target — refused by Gameday's
//! gate until the scenario is announced, then run, its injection and roll back on the timeline —
//! and its journal brought back onto the timeline, once. A halt pressed in Gameday stops a run
//! that watches the gate continuously.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::{api, json, make_token};
use crate::gamedays::Day;
use crate::helpers::location;

pub(crate) const CHAOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/chaos");

/// A system to break, on loopback: `/health` answers 200, `/fault` and `/restore` count the
/// fault's injections and roll backs.
pub(crate) struct Target {
    pub url: String,
    pub faults: Arc<AtomicUsize>,
    pub restores: Arc<AtomicUsize>,
}

impl Target {
    pub(crate) async fn start() -> Target {
        let (faults, restores) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (f, r) = (faults.clone(), restores.clone());
        let app = axum::Router::new()
            .route("/health", axum::routing::get(|| async { "ok" }))
            .route(
                "/fault",
                axum::routing::post(move || async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    "injected"
                }),
            )
            .route(
                "/restore",
                axum::routing::post(move || async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    "restored"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Target { url, faults, restores }
    }
}

/// An experiment against `target`, as a team would write it for Chaos Toolkit: the health probe
/// as its steady state, one HTTP call as the fault (then `extra` actions), one as the roll back.
pub(crate) fn experiment(title: &str, target: &str, extra: &[Value]) -> Value {
    let mut method = vec![json!({
        "type": "action", "name": "break-checkout",
        "provider": {"type": "http", "url": format!("{target}/fault"), "method": "POST", "timeout": 5}
    })];
    method.extend(extra.iter().cloned());
    json!({
        "version": "1.0.0",
        "title": title,
        "description": "Checkout keeps answering while its dependency is broken.",
        "tags": ["checkout", "http"],
        "contributions": {"availability": "high"},
        "steady-state-hypothesis": {
            "title": "Checkout answers",
            "probes": [{"type": "probe", "name": "checkout-health", "tolerance": 200,
                        "provider": {"type": "http", "url": format!("{target}/health"), "timeout": 5}}]
        },
        "method": method,
        "rollbacks": [{"type": "action", "name": "restore-checkout",
                       "provider": {"type": "http", "url": format!("{target}/restore"), "method": "POST", "timeout": 5}}]
    })
}

/// Uploads `text` as a file named `name` to a page form (`field`: the file field is `file`).
pub(crate) async fn upload(day: &Day, client: &Client, path: &str, name: &str, text: &str) -> reqwest::Response {
    let part = Part::bytes(text.as_bytes().to_vec()).file_name(name.to_owned());
    let form = Form::new().part("file", part);
    client.post(day.app.url(path)).multipart(form).send().await.unwrap()
}

/// Imports `doc` in the pages as Ana; returns the scenario's URL.
pub(crate) async fn import(day: &Day, doc: &Value) -> String {
    let response =
        upload(day, &day.ana, &format!("{}/scenarios/import", day.url), "experiment.json", &doc.to_string()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "imported");
    location(&response)
}

/// Ana sets what an experiment does not say (as its facilitator does in the form), making
/// revision 2.
pub(crate) async fn complete(day: &Day, url: &str) {
    let page = day.app.get_as(&day.ana, &format!("{url}/edit")).await.text().await.unwrap();
    let field = |name: &str| -> String {
        let start = page.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("{name} in the form"));
        let after = &page[start..];
        let text = &after[after.find('>').unwrap() + 1..];
        html_unescape(&text[..text.find("</textarea>").unwrap()])
    };
    let (title, hypothesis, fault, rollback) =
        (field_value(&page, "title"), field("hypothesis"), field("fault"), field("rollback_plan"));
    let owner = day.id_of("ana@example.com").await;
    let form = [
        ("title", title.as_str()),
        ("hypothesis", hypothesis.as_str()),
        ("fault", fault.as_str()),
        ("target_system", "checkout"),
        ("blast_radius", "tiny"),
        ("expected_impact", "Checkout retries for a second."),
        ("abort_criteria", "Checkout errors above 1% for a minute."),
        ("abort_owner", owner.as_str()),
        ("rollback_plan", rollback.as_str()),
    ];
    let saved = day.app.post_as(&day.ana, &format!("{url}/edit"), &form).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER, "revision 2 saved");
}

fn field_value(page: &str, name: &str) -> String {
    let start = page.find(&format!("name=\"{name}\"")).unwrap();
    let after = &page[start..];
    let value = &after[after.find("value=\"").unwrap() + 7..];
    html_unescape(&value[..value.find('"').unwrap()])
}

fn html_unescape(text: &str) -> String {
    text.replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A scratch directory under `target/` for one test's files.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/chaostoolkit").join(format!("{name}-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `chaos` with `args` in `dir` (its log there too), the token in the environment, off the
/// test's runtime (which serves the app it calls).
pub(crate) async fn chaos(dir: &Path, token: &str, args: &[&str]) -> std::process::Output {
    assert!(Path::new(CHAOS).exists(), "{CHAOS} is missing: `make test` installs it (scripts/test-deps.sh)");
    let mut command = Command::new(CHAOS);
    command
        .args(["--no-version-check", "--log-file", "chaostoolkit.log", "--settings", "settings.yaml"])
        .args(args)
        .current_dir(dir)
        .env("GAMEDAY_TOKEN", token)
        .env_remove("GAMEDAY_API_URL");
    tokio::task::spawn_blocking(move || command.output().expect("run chaos")).await.unwrap()
}

fn show(output: &std::process::Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn events(db: &PgPool, scenario: Uuid) -> Vec<(String, String, Value)> {
    sqlx::query_as::<_, (String, String, Value)>(
        "select kind, body, data from timeline_events where scenario_id = $1 order by seq",
    )
    .bind(scenario)
    .fetch_all(db)
    .await
    .unwrap()
}

fn id_of(url: &str) -> Uuid {
    Uuid::parse_str(url.rsplit('/').next().unwrap()).unwrap()
}

#[sqlx::test]
async fn an_exported_scenario_runs_only_once_agreed_and_announced_and_its_journal_comes_back(db: PgPool) {
    let day = Day::new(db).await;
    let target = Target::start().await;
    let url = import(&day, &experiment("Checkout survives a broken dependency", &target.url, &[])).await;
    let sid = id_of(&url);

    // Not agreed: nothing to export yet, in the pages or through the API.
    let early = day.app.get_as(&day.ana, &format!("{url}/experiment.json")).await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    let reader = make_token(&day, &day.ana, "Reader", &day.slug, &[]).await;
    let api_path = format!("/teams/{}/gamedays/{}/scenarios/{sid}", day.slug, day.id);
    let early = api(&day, &reader, &format!("{api_path}/experiment")).await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    assert!(json(early).await["detail"].as_str().unwrap().contains("not agreed"), "says why");

    complete(&day, &url).await;
    day.all_approve(&url).await;
    for step in ["schedule", "start"] {
        assert_eq!(day.step(&day.ana, step).await.status(), StatusCode::SEE_OTHER, "{step}");
    }

    // Exported: the real `chaos validate` accepts it, and no token is in it.
    let dir = scratch("run");
    let exported = day.app.get_as(&day.li, &format!("{url}/experiment.json")).await;
    assert_eq!(exported.status(), StatusCode::OK, "anyone on the team may export an agreed scenario");
    let disposition = exported.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().to_owned();
    assert_eq!(disposition, "attachment; filename=\"checkout-survives-a-broken-dependency-r2.json\"");
    let text = exported.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["extensions"].as_array().unwrap().last().unwrap()["revision"], 2);
    assert!(!text.contains("gdt_"), "no token is written into the file");
    let through_api = json(api(&day, &reader, &format!("{api_path}/experiment")).await).await;
    assert_eq!(through_api, doc, "the API exports the same document");
    std::fs::write(dir.join("experiment.json"), &text).unwrap();
    let validated = chaos(&dir, "", &["validate", "experiment.json"]).await;
    assert!(validated.status.success(), "chaos validate: {}", show(&validated));

    // The gate's answer by status is asked for by name; anything else is refused.
    let odd = api(&day, &reader, &format!("{api_path}/gate?revision=2&expect=maybe")).await;
    crate::api::problem(odd, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    let closed = api(&day, &reader, &format!("{api_path}/gate?revision=2&expect=open")).await;
    assert_eq!(closed.status(), StatusCode::CONFLICT);
    assert_eq!(closed.headers()[header::CONTENT_TYPE], "application/json", "the gate's answer, not a problem");
    assert_eq!(json(closed).await["open"], false);

    // Not announced: the gate probe stops the run before its method; nothing is injected.
    let token = make_token(&day, &day.ana, "Chaos pipeline", &day.slug, &["run"]).await;
    let refused = chaos(&dir, &token, &["run", "--journal-path", "refused.json", "experiment.json"]).await;
    let journal: Value = serde_json::from_slice(&std::fs::read(dir.join("refused.json")).unwrap())
        .unwrap_or_else(|e| panic!("journal ({e}): {}", show(&refused)));
    assert_eq!(journal["steady_states"]["before"]["steady_state_met"], false, "{}", show(&refused));
    let gate = journal["steady_states"]["before"]["probes"].as_array().unwrap().last().unwrap();
    assert_eq!(gate["activity"]["name"], "gameday-gate-is-open");
    assert_eq!(gate["output"]["status"], 409, "the gate answered closed");
    let reasons: Vec<&str> =
        gate["output"]["body"]["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["not_announced"], "and said why");
    assert!(journal["run"].as_array().unwrap().is_empty(), "the method did not run");
    assert_eq!(target.faults.load(Ordering::SeqCst), 0, "the fault did not run");
    // Chaos Toolkit's default rollback strategy still plays the rollbacks after a steady state
    // that was not met (docs/chaos-toolkit.md says so): the team's ran, Gameday's was refused.
    assert_eq!(target.restores.load(Ordering::SeqCst), 1);
    let rollbacks = journal["rollbacks"].as_array().unwrap();
    assert_eq!(rollbacks.last().unwrap()["output"]["status"], 409, "no roll back of a fault never injected");
    assert_eq!(day.state(&url).await, "proposed");

    // Announced in the pages: the same file now runs, and the timeline shows the automation.
    assert_eq!(day.run(&day.ana, &url, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let ran = chaos(&dir, &token, &["run", "--journal-path", "journal.json", "experiment.json"]).await;
    assert!(ran.status.success(), "chaos run: {}", show(&ran));
    assert_eq!(target.faults.load(Ordering::SeqCst), 1, "the fault ran once");
    assert_eq!(target.restores.load(Ordering::SeqCst), 2, "and was rolled back");
    assert_eq!(day.state(&url).await, "rolled_back", "Gameday recorded the injection and the roll back");
    let kinds: Vec<(String, Value)> = events(&day.app.db, sid).await.into_iter().map(|(k, _, d)| (k, d)).collect();
    let injected = kinds.iter().find(|(k, _)| k == "scenario_injected").expect("an injection on the timeline");
    assert_eq!(injected.1["via"]["token_name"], "Chaos pipeline", "made through the exported experiment's token");
    assert_eq!(injected.1["revision"], 2);
    assert!(kinds.iter().any(|(k, d)| k == "scenario_rolled_back" && d["via"]["token_name"] == "Chaos pipeline"));

    // The journal comes back onto the timeline: each activity at its own time, marked as imported.
    let journal_text = std::fs::read_to_string(dir.join("journal.json")).unwrap();
    let before = events(&day.app.db, sid).await.len();
    let imported = upload(&day, &day.ana, &format!("{url}/journal"), "journal.json", &journal_text).await;
    assert_eq!(imported.status(), StatusCode::SEE_OTHER, "journal imported");
    let after = events(&day.app.db, sid).await;
    let added = &after[before..];
    let ran: Vec<&Value> = added.iter().filter(|(k, _, _)| k == "experiment_ran").map(|(_, _, d)| d).collect();
    let activities: Vec<&str> = ran.iter().filter_map(|d| d["activity"].as_str()).collect();
    for name in ["gameday-record-injection", "break-checkout", "restore-checkout", "gameday-record-rollback"] {
        assert!(activities.contains(&name), "{name} on the timeline: {activities:?}");
    }
    assert!(ran.iter().all(|d| d["imported"]["from"] == "chaostoolkit"), "each marked as imported");
    let times: Vec<(Option<String>,)> = sqlx::query_as(
        "select observed_at::text from timeline_events where scenario_id = $1 and kind = 'experiment_ran' order by seq",
    )
    .bind(sid)
    .fetch_all(&day.app.db)
    .await
    .unwrap();
    assert!(times.iter().all(|(t,)| t.is_some()), "each at its own time");
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "in the order they ran");
    let summary = added.iter().find(|(k, _, _)| k == "journal_imported").expect("the import is on the timeline");
    assert_eq!(summary.2["proposal"], "held", "{}", summary.1);

    // The same journal again adds nothing; the timeline page shows the imported run.
    let again = upload(&day, &day.ana, &format!("{url}/journal"), "journal.json", &journal_text).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(events(&day.app.db, sid).await.len(), after.len(), "importing twice does nothing");
    let page = day.app.get_as(&day.li, &format!("{}/timeline", day.url)).await.text().await.unwrap();
    assert!(page.contains("imported · journal"), "the timeline marks imported entries");
    assert!(page.contains("break-checkout"));

    // Concluding starts from what the run proposes, for the facilitator to confirm.
    let page = day.app.get_as(&day.ana, &url).await.text().await.unwrap();
    assert!(page.contains("The imported Chaos Toolkit journal proposes <strong>held</strong>"), "proposal shown");
    assert!(page.contains(r#"value="held" required checked"#), "and chosen to start with");
}

#[sqlx::test]
async fn a_halt_pressed_in_gameday_stops_a_run_that_watches_the_gate(db: PgPool) {
    let day = Day::new(db).await;
    let target = Target::start().await;
    // The fault, then twenty seconds of waiting in one-second steps: a run to be stopped.
    let waits: Vec<Value> = (1..=20)
        .map(|i| json!({"type": "action", "name": format!("wait-{i}"), "provider": {"type": "process", "path": "sleep", "arguments": "1"}}))
        .collect();
    let url = import(&day, &experiment("Checkout under a long fault", &target.url, &waits)).await;
    complete(&day, &url).await;
    day.all_approve(&url).await;
    for step in ["schedule", "start"] {
        assert_eq!(day.step(&day.ana, step).await.status(), StatusCode::SEE_OTHER, "{step}");
    }
    assert_eq!(day.run(&day.ana, &url, "announce", &[]).await.status(), StatusCode::SEE_OTHER);
    let dir = scratch("halt");
    let text = day.app.get_as(&day.ana, &format!("{url}/experiment.json")).await.text().await.unwrap();
    std::fs::write(dir.join("experiment.json"), text).unwrap();
    let token = make_token(&day, &day.ana, "Chaos pipeline", &day.slug, &["run"]).await;

    let started = Instant::now();
    let run = tokio::spawn({
        let (dir, token) = (dir.clone(), token.clone());
        async move {
            let args = ["run", "--hypothesis-strategy", "continuously", "--hypothesis-frequency", "1", "--fail-fast"];
            chaos(&dir, &token, &[&args[..], &["--journal-path", "journal.json", "experiment.json"]].concat()).await
        }
    });
    // Once the fault is in, Li (a participant) halts it in the pages.
    let deadline = Instant::now() + Duration::from_secs(30);
    while day.state(&url).await != "injected" {
        assert!(Instant::now() < deadline, "the run never injected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let halted = day.run(&day.li, &url, "halt", &[("reason", "Checkout errors are climbing")]).await;
    assert_eq!(halted.status(), StatusCode::SEE_OTHER);
    let output = run.await.unwrap();
    let journal: Value = serde_json::from_slice(&std::fs::read(dir.join("journal.json")).unwrap())
        .unwrap_or_else(|e| panic!("journal ({e}): {}", show(&output)));
    let during = journal["steady_states"]["during"].as_array().unwrap();
    assert!(
        during.iter().any(|s| s["steady_state_met"] == false),
        "the gate closed during the method: {}",
        show(&output)
    );
    assert_eq!(journal["deviated"], true, "and stayed closed after it");
    let ran = journal["run"].as_array().unwrap().len();
    assert!(ran <= 12, "the method stopped soon after the halt, not after its 21 actions: {ran} ran");
    println!("halted run: {ran} activities, {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(day.state(&url).await, "halted");
    assert_eq!(target.faults.load(Ordering::SeqCst), 1);
}
