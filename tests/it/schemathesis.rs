//! Schemathesis (from PyPI, installed into `.venv/` by `make test`'s setup) generates requests
//! from the API's own OpenAPI description (its examples, then values at and past each schema's
//! edges, then random ones) and checks every answer: no 5xx, every status, content type, header
//! and body as the description says, bad input refused, and no operation that works without its
//! token. Bounded in time, against the app served on a loopback port with one game day.

use std::process::Command;
use std::time::Instant;

use sqlx::PgPool;

use crate::gamedays::Day;

#[sqlx::test]
async fn schemathesis_finds_no_server_error_and_no_answer_that_breaks_the_description(db: PgPool) {
    let tool = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/schemathesis");
    assert!(
        std::path::Path::new(tool).exists(),
        "{tool} is missing: `make test` installs it (scripts/test-deps.sh, from tests/tools/requirements.txt)"
    );
    // A rate far above what it sends: it is fuzzing the handlers, not the limit (tested apart).
    let day = Day::with(db, |c| c.api_rate_per_minute = 1_000_000).await;
    let scenario = day.scenario("Primary fails over").await;
    let scenario = scenario.rsplit('/').next().unwrap().to_owned();
    let mut form = vec![("name", "schemathesis"), ("team", day.slug.as_str()), ("lifetime", "7")];
    form.extend([("scopes", "observe"), ("scopes", "plan"), ("scopes", "run")]);
    let response = day.app.post_as(&day.ana, "/account/tokens", &form).await;
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let page = response.text().await.unwrap();
    let start = page.find("gdt_").expect("the token is shown once");
    let token = &page[start..start + 4 + 32 + 1 + 64];

    let schema = day.app.url("/api/v1/openapi.json");
    let started = Instant::now();
    let output = tokio::task::spawn_blocking({
        let (tool, token, base) = (tool.to_owned(), token.to_owned(), day.app.url(""));
        let (team, gameday) = (day.slug.clone(), day.id.to_string());
        move || {
            Command::new(tool)
                .args(["--config-file", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/schemathesis.toml")])
                .args(["run", &schema, "--url", &base])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args(["--checks", "all", "--phases", "examples,coverage,fuzzing"])
                .args(["--max-examples", "30", "--max-time", "75", "--workers", "1", "--request-timeout", "10"])
                .args(["--seed", "20261127", "--no-color"])
                .env("SCHEMATHESIS_HOOKS", "")
                .env("SCHEMATHESIS_TEAM", team)
                .env("SCHEMATHESIS_GAMEDAY", gameday)
                .env("SCHEMATHESIS_SCENARIO", scenario)
                // Its cache of what it found goes under target/, not into the checkout.
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/target"))
                .output()
                .expect("run schemathesis")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("schemathesis took {:.1} s\n{stdout}\n{stderr}", started.elapsed().as_secs_f64());
    assert!(output.status.success(), "schemathesis found problems:\n{stdout}\n{stderr}");
    // Every operation of the description was tested.
    let doc: serde_json::Value =
        serde_json::from_str(&day.app.get("/api/v1/openapi.json").await.text().await.unwrap()).unwrap();
    let operations: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert!(operations >= 4);
    assert!(stdout.contains(&format!("Tested: {operations}\n")), "every operation tested:\n{stdout}");
    assert!(stdout.contains("No issues found"), "{stdout}");
}
