//! `docs/automate-a-game-day.md`, run as written: every `sh` block of the guide, in order, in
//! bash with curl and jq against a real server, with people signing in the pages where the guide
//! says they do. A guide whose examples stop working fails `make test`.

use std::path::Path;

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::api::make_token;
use crate::gamedays::Day;

/// What the guide asks for, in order.
#[derive(Debug)]
enum Step {
    Shell(String),
    PeopleSign,
}

fn steps(guide: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut block: Option<String> = None;
    for line in guide.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```sh") => block = Some(String::new()),
            (Some(_), "```") => steps.push(Step::Shell(block.take().unwrap_or_default())),
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, "<!-- guide: people sign in the pages here -->") => steps.push(Step::PeopleSign),
            (None, _) => {}
        }
    }
    steps
}

/// A variable the guide's shell set (from the state it keeps between blocks).
fn variable(state: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(state).unwrap();
    let prefix = format!("declare -x {name}=\"");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("the guide sets {name}"));
    line[prefix.len()..line.len() - 1].to_owned()
}

#[sqlx::test]
async fn the_automation_guide_runs_as_written(db: PgPool) {
    let day = Day::new(db).await;
    let plan = make_token(&day, &day.ana, "Planner", &day.slug, &["plan"]).await;
    let run = make_token(&day, &day.ana, "Pipeline", &day.slug, &["observe", "run"]).await;
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/automate-a-game-day.md")).unwrap();
    let steps = steps(&guide);
    assert!(steps.len() >= 8 && steps.iter().any(|s| matches!(s, Step::PeopleSign)), "{steps:?}");
    let dir = std::env::temp_dir().join(format!("gameday-guide-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.sh");
    let mut output = String::new();
    for (n, step) in steps.iter().enumerate() {
        match step {
            Step::PeopleSign => {
                let (gameday, scenario) = (variable(&state, "GAMEDAY_ID"), variable(&state, "SCENARIO"));
                let page = format!("/teams/{}/gamedays/{gameday}/scenarios/{scenario}", day.slug);
                for client in [&day.ana, &day.li, &day.bo] {
                    assert_eq!(day.sign(client, &page, "approve", "").await.status(), StatusCode::SEE_OTHER);
                }
            }
            Step::Shell(block) => {
                // One shell's variables across blocks, as a reader's terminal keeps them.
                let script = format!(
                    "set -a\nset -euo pipefail\n[ -f '{s}' ] && source '{s}'\n{block}\nexport -p > '{s}'\n",
                    s = state.display()
                );
                let ran = tokio::process::Command::new("bash")
                    .arg("-c")
                    .arg(&script)
                    .current_dir(&dir)
                    .env("GAMEDAY", day.app.url(""))
                    .env("TEAM", &day.slug)
                    .env("PLAN_TOKEN", &plan)
                    .env("RUN_TOKEN", &run)
                    .output()
                    .await
                    .expect("bash runs");
                let out = String::from_utf8_lossy(&ran.stdout);
                assert!(
                    ran.status.success(),
                    "block {n} of the guide failed:\n{block}\nstdout:\n{out}\nstderr:\n{}",
                    String::from_utf8_lossy(&ran.stderr)
                );
                output.push_str(&out);
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    for expected in [
        "Ana in Platform, may read, plan",
        "Planned game day ",
        "Added Li as participant",
        "Added Bo as participant",
        "Added scenario ",
        "The game day is scheduled",
        "not_announced: Not announced yet",
        "unsigned: 3 of its signers have not signed this revision: Ana, Bo, Li.",
        "Li: approve",
        "The game day is running",
        "Scenario announced",
        "Scenario injected",
        "Logged as #",
        ": Error rate rose to 0.4 %; the alert fired.",
        "Scenario rolled_back",
        "Scenario concluded: the hypothesis held",
        "The game day is completed",
        "scenario_injected by Ana via API (Pipeline)",
        "scenario_added by Ana via API (Planner)",
        "signoff_approved by Li\n",
    ] {
        assert!(output.contains(expected), "the guide's output has {expected:?}:\n{output}");
    }
}
