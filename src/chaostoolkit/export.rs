//! Writing an agreed revision of a scenario as a Chaos Toolkit experiment that cannot surprise
//! anyone: before its method, `chaos run` asks Gameday's gate question for that revision (an
//! `http` probe in the steady-state hypothesis whose tolerance is 200, which the gate answers only
//! when open: `?expect=open`); its method begins by recording the injection through the API, and
//! its rollbacks end by recording the roll back. With `--hypothesis-strategy continuously
//! --fail-fast` the same probe runs during the method, so a halt pressed in Gameday stops the run.
//!
//! The token is never written into the file: it is a secret read from the environment variable
//! [`TOKEN_VARIABLE`] when the experiment runs. The API's address is a configuration value with a
//! default (this server's) that [`URL_VARIABLE`] overrides.

use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The environment variable `chaos run` reads the API token from.
pub const TOKEN_VARIABLE: &str = "GAMEDAY_TOKEN";
/// The environment variable that overrides the API's address written in the file.
pub const URL_VARIABLE: &str = "GAMEDAY_API_URL";
/// The probe that asks the gate question (first in the steady-state hypothesis).
pub const GATE_PROBE: &str = "gameday-gate-is-open";
/// The action that records the injection (first in the method).
pub const RECORD_INJECTION: &str = "gameday-record-injection";
/// The action that records the roll back (last in the rollbacks).
pub const RECORD_ROLLBACK: &str = "gameday-record-rollback";

/// An agreed revision of a scenario, and where its API lives.
#[derive(Debug, Clone)]
pub struct Agreed<'a> {
    /// The API's absolute address, such as `https://gameday.example.com/api/v1`.
    pub api_url: &'a str,
    pub team: &'a str,
    pub gameday: Uuid,
    pub scenario: Uuid,
    pub revision: i32,
    pub fingerprint: &'a str,
    pub title: &'a str,
    pub hypothesis: &'a str,
    pub fault: &'a str,
    pub target_system: &'a str,
    pub blast_radius: &'a str,
    pub abort_criteria: &'a str,
    pub rollback_plan: &'a str,
    /// Who approved this revision, by name.
    pub agreed_by: &'a [String],
    /// The experiment the revision carries (an import), whose activities the export keeps.
    pub imported: Option<&'a Value>,
}

impl Agreed<'_> {
    /// The scenario's path under the API (after `${gameday_api_url}`).
    fn scenario_path(&self) -> String {
        format!("/teams/{}/gamedays/{}/scenarios/{}", self.team, self.gameday, self.scenario)
    }

    /// The file name people save it as: the title in lower case, letters and digits only.
    pub fn file_name(&self) -> String {
        let mut slug = String::new();
        for c in self.title.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_matches('-');
        let slug: String = slug.chars().take(60).collect();
        format!("{}-r{}.json", if slug.is_empty() { "scenario" } else { slug.trim_end_matches('-') }, self.revision)
    }
}

/// The experiment (JSON) for an agreed revision.
pub fn experiment(agreed: &Agreed) -> Value {
    let imported = agreed.imported.and_then(Value::as_object).cloned().unwrap_or_default();
    let mut doc = Map::new();
    doc.insert("version".into(), imported.get("version").cloned().unwrap_or_else(|| json!("1.0.0")));
    doc.insert("title".into(), json!(agreed.title));
    doc.insert("description".into(), json!(description(agreed, &imported)));
    doc.insert("tags".into(), Value::Array(tags(&imported)));
    if let Some(contributions) = imported.get("contributions") {
        doc.insert("contributions".into(), contributions.clone());
    }
    doc.insert("configuration".into(), Value::Object(configuration(agreed, &imported)));
    doc.insert("secrets".into(), Value::Object(secrets(&imported)));
    doc.insert("extensions".into(), Value::Array(extensions(agreed, &imported)));
    if let Some(controls) = imported.get("controls") {
        doc.insert("controls".into(), controls.clone());
    }
    doc.insert("steady-state-hypothesis".into(), hypothesis(agreed, &imported));
    let mut method = vec![record(agreed, RECORD_INJECTION, "inject", Some(json!({ "revision": agreed.revision })))];
    method.extend(activities(&imported, "method"));
    doc.insert("method".into(), Value::Array(method));
    let mut rollbacks = activities(&imported, "rollbacks");
    rollbacks.push(record(agreed, RECORD_ROLLBACK, "rollback", None));
    doc.insert("rollbacks".into(), Value::Array(rollbacks));
    doc.insert("runtime".into(), runtime(&imported));
    for (key, value) in &imported {
        // What Gameday does not write itself (runtime, dry, keys it did not understand) goes as imported.
        if !doc.contains_key(key) {
            doc.insert(key.clone(), value.clone());
        }
    }
    Value::Object(doc)
}

fn description(agreed: &Agreed, imported: &Map<String, Value>) -> String {
    let agreed_at = format!(
        "Agreed in Gameday at revision {} (fingerprint {}){}. Before its method, this experiment asks Gameday whether the scenario is agreed and announced at that revision, and stops if not.",
        agreed.revision,
        agreed.fingerprint,
        if agreed.agreed_by.is_empty() { String::new() } else { format!(" by {}", agreed.agreed_by.join(", ")) }
    );
    match imported.get("description").and_then(Value::as_str) {
        Some(text) if agreed.imported.is_some() => format!("{}\n\n{agreed_at}", text.trim()),
        _ => format!(
            "{}\n\nFault (add the action that performs it to the method, after Gameday's record of the injection): {}\n\nTarget: {} (blast radius {}). Abort if: {}\n\nRollback plan: {}\n\n{agreed_at}",
            agreed.hypothesis.trim(),
            agreed.fault.trim(),
            agreed.target_system,
            agreed.blast_radius,
            agreed.abort_criteria.trim(),
            agreed.rollback_plan.trim(),
        ),
    }
}

fn tags(imported: &Map<String, Value>) -> Vec<Value> {
    let mut tags: Vec<Value> = imported.get("tags").and_then(Value::as_array).cloned().unwrap_or_default();
    if !tags.iter().any(|t| t == "gameday") {
        tags.push(json!("gameday"));
    }
    tags
}

fn configuration(agreed: &Agreed, imported: &Map<String, Value>) -> Map<String, Value> {
    let mut configuration = imported.get("configuration").and_then(Value::as_object).cloned().unwrap_or_default();
    configuration.insert(
        "gameday_api_url".into(),
        json!({ "type": "env", "key": URL_VARIABLE, "default": agreed.api_url.trim_end_matches('/') }),
    );
    configuration
}

fn secrets(imported: &Map<String, Value>) -> Map<String, Value> {
    let mut secrets = imported.get("secrets").and_then(Value::as_object).cloned().unwrap_or_default();
    secrets.insert("gameday".into(), json!({ "gameday_token": { "type": "env", "key": TOKEN_VARIABLE } }));
    secrets
}

fn extensions(agreed: &Agreed, imported: &Map<String, Value>) -> Vec<Value> {
    let mut extensions: Vec<Value> = imported
        .get("extensions")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter(|e| e.get("name") != Some(&json!("gameday"))).cloned().collect())
        .unwrap_or_default();
    extensions.push(json!({
        "name": "gameday",
        "team": agreed.team,
        "gameday": agreed.gameday,
        "scenario": agreed.scenario,
        "revision": agreed.revision,
        "fingerprint": agreed.fingerprint,
        "agreed_by": agreed.agreed_by,
        "target_system": agreed.target_system,
        "blast_radius": agreed.blast_radius,
        "abort_criteria": agreed.abort_criteria,
    }));
    extensions
}

fn hypothesis(agreed: &Agreed, imported: &Map<String, Value>) -> Value {
    let theirs = imported.get("steady-state-hypothesis").and_then(Value::as_object);
    let title = theirs
        .and_then(|h| h.get("title"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| first_line(agreed.hypothesis));
    let gate = json!({
        "type": "probe",
        "name": GATE_PROBE,
        "provider": {
            "type": "http",
            "url": format!("${{gameday_api_url}}{}/gate?revision={}&expect=open", agreed.scenario_path(), agreed.revision),
            "method": "GET",
            "headers": { "Authorization": "Bearer ${gameday_token}", "Accept": "application/json" },
            "timeout": 10
        },
        "tolerance": 200
    });
    // Last, so that it is asked right before the method (after the team's own probes, which may
    // take their time): the shortest window between Gameday's answer and the recorded injection.
    let mut probes: Vec<Value> =
        theirs.and_then(|h| h.get("probes")).and_then(Value::as_array).cloned().unwrap_or_default();
    probes.push(gate);
    let mut out = theirs.cloned().unwrap_or_default();
    out.insert("title".into(), json!(title));
    out.insert("probes".into(), Value::Array(probes));
    Value::Object(out)
}

/// The imported `runtime`, with a steady-state strategy that asks the gate before the method:
/// an experiment that says `after-method-only` or `during-method-only` (or `skip`) would reach
/// its fault without asking, so it runs with the default strategy instead (`continuously` also
/// asks before, and is kept).
fn runtime(imported: &Map<String, Value>) -> Value {
    let mut runtime = imported.get("runtime").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut hypothesis = runtime.get("hypothesis").and_then(Value::as_object).cloned().unwrap_or_default();
    let asks_first = |s: &str| matches!(s, "default" | "before-method-only" | "continuously" | "continously");
    let strategy = hypothesis.get("strategy").and_then(Value::as_str).filter(|s| asks_first(s)).unwrap_or("default");
    hypothesis.insert("strategy".into(), json!(strategy));
    runtime.insert("hypothesis".into(), Value::Object(hypothesis));
    Value::Object(runtime)
}

fn first_line(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("The steady state holds");
    line.chars().take(200).collect()
}

fn activities(imported: &Map<String, Value>, key: &str) -> Vec<Value> {
    imported.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// An action that records a move on the scenario through the API.
fn record(agreed: &Agreed, name: &str, verb: &str, body: Option<Value>) -> Value {
    let mut provider = json!({
        "type": "http",
        "url": format!("${{gameday_api_url}}{}/{verb}", agreed.scenario_path()),
        "method": "POST",
        "headers": {
            "Authorization": "Bearer ${gameday_token}",
            "Content-Type": "application/json",
            "Accept": "application/json"
        },
        "timeout": 10
    });
    if let (Some(body), Some(provider)) = (body, provider.as_object_mut()) {
        provider.insert("arguments".into(), body);
    }
    json!({ "type": "action", "name": name, "provider": provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed<'a>(imported: Option<&'a Value>, names: &'a [String]) -> Agreed<'a> {
        Agreed {
            api_url: "https://gameday.example.com/api/v1/",
            team: "payments",
            gameday: Uuid::from_u128(1),
            scenario: Uuid::from_u128(2),
            revision: 3,
            fingerprint: "3f9a0c1d2e4b",
            title: "Kill one checkout pod!",
            hypothesis: "Checkout p99 stays under 300 ms.\nAnd nobody notices.",
            fault: "Delete one checkout pod.",
            target_system: "checkout",
            blast_radius: "tiny",
            abort_criteria: "Errors above 1 %.",
            rollback_plan: "The deployment recreates it.",
            agreed_by: names,
            imported,
        }
    }

    #[test]
    fn a_hand_written_scenario_asks_the_gate_then_only_records_the_injection() {
        let names = vec!["Ana".to_owned(), "Li".to_owned()];
        let doc = experiment(&agreed(None, &names));
        let probes = doc["steady-state-hypothesis"]["probes"].as_array().unwrap();
        assert_eq!(probes.len(), 1);
        assert_eq!(probes[0]["name"], GATE_PROBE);
        assert_eq!(doc["runtime"], json!({ "hypothesis": { "strategy": "default" } }));
        assert_eq!(probes[0]["tolerance"], 200);
        assert_eq!(
            probes[0]["provider"]["url"],
            "${gameday_api_url}/teams/payments/gamedays/00000000-0000-0000-0000-000000000001/scenarios/00000000-0000-0000-0000-000000000002/gate?revision=3&expect=open"
        );
        assert_eq!(doc["steady-state-hypothesis"]["title"], "Checkout p99 stays under 300 ms.");
        let method = doc["method"].as_array().unwrap();
        assert_eq!(method.len(), 1);
        assert_eq!(method[0]["name"], RECORD_INJECTION);
        assert_eq!(method[0]["provider"]["arguments"], json!({ "revision": 3 }));
        assert!(method[0]["provider"]["url"].as_str().unwrap().ends_with("/inject"));
        let rollbacks = doc["rollbacks"].as_array().unwrap();
        assert_eq!(rollbacks.last().unwrap()["name"], RECORD_ROLLBACK);
        let description = doc["description"].as_str().unwrap();
        assert!(description.contains("Fault (add the action"), "{description}");
        assert!(description.contains("revision 3 (fingerprint 3f9a0c1d2e4b) by Ana, Li"), "{description}");
        assert_eq!(doc["configuration"]["gameday_api_url"]["default"], "https://gameday.example.com/api/v1");
        assert_eq!(doc["configuration"]["gameday_api_url"]["key"], URL_VARIABLE);
        assert_eq!(doc["secrets"]["gameday"]["gameday_token"], json!({ "type": "env", "key": TOKEN_VARIABLE }));
        let ext = &doc["extensions"][0];
        assert_eq!((ext["name"].as_str(), ext["revision"].as_i64()), (Some("gameday"), Some(3)));
        assert_eq!(ext["fingerprint"], "3f9a0c1d2e4b");
    }

    #[test]
    fn an_imported_experiment_keeps_its_activities_around_gamedays_own() {
        let imported = json!({
            "version": "1.1.0",
            "title": "Old title",
            "description": "Payments survive a pod loss.",
            "tags": ["k8s"],
            "contributions": { "availability": "high" },
            "configuration": { "namespace": "pay" },
            "secrets": { "k8s": { "token": { "type": "env", "key": "K8S_TOKEN" } } },
            "extensions": [{ "name": "gameday", "revision": 1 }, { "name": "other" }],
            "controls": [{ "name": "tracing", "provider": { "type": "python", "module": "chaostracing.control" } }],
            "steady-state-hypothesis": { "title": "Payments answer", "probes": [{ "type": "probe", "name": "up", "tolerance": 200, "provider": { "type": "http", "url": "http://pay/health" } }] },
            "method": [{ "type": "action", "name": "kill", "provider": { "type": "process", "path": "kubectl" } }],
            "rollbacks": [{ "type": "action", "name": "scale", "provider": { "type": "process", "path": "kubectl" } }],
            "runtime": { "hypothesis": { "strategy": "continuously" }, "rollbacks": { "strategy": "always" } },
            "x-team": "kept"
        });
        let doc = experiment(&agreed(Some(&imported), &[]));
        assert_eq!(doc["version"], "1.1.0");
        assert_eq!(doc["title"], "Kill one checkout pod!", "the agreed title");
        assert!(doc["description"].as_str().unwrap().starts_with("Payments survive a pod loss.\n\nAgreed in Gameday"));
        assert_eq!(doc["tags"], json!(["k8s", "gameday"]));
        assert_eq!(doc["contributions"], imported["contributions"]);
        assert_eq!(doc["configuration"]["namespace"], "pay");
        assert_eq!(doc["secrets"]["k8s"], imported["secrets"]["k8s"]);
        let names: Vec<&str> =
            doc["extensions"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["other", "gameday"], "an earlier export's extension is replaced");
        assert_eq!(doc["controls"], imported["controls"]);
        let probes: Vec<&str> = doc["steady-state-hypothesis"]["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(probes, ["up", GATE_PROBE], "the gate is asked last, right before the method");
        assert_eq!(doc["steady-state-hypothesis"]["title"], "Payments answer");
        let method: Vec<&str> = doc["method"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(method, [RECORD_INJECTION, "kill"]);
        let rollbacks: Vec<&str> =
            doc["rollbacks"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(rollbacks, ["scale", RECORD_ROLLBACK]);
        assert_eq!(doc["runtime"], imported["runtime"], "a strategy that asks before the method is kept");
        for skips in ["after-method-only", "during-method-only", "skip"] {
            let mut unsafe_runtime = imported.clone();
            unsafe_runtime["runtime"]["hypothesis"]["strategy"] = json!(skips);
            let doc = experiment(&agreed(Some(&unsafe_runtime), &[]));
            assert_eq!(doc["runtime"]["hypothesis"]["strategy"], "default", "{skips} would not ask the gate first");
            assert_eq!(doc["runtime"]["rollbacks"]["strategy"], "always", "the rest of the runtime is kept");
        }
        assert_eq!(doc["x-team"], "kept");
    }

    #[test]
    fn no_token_is_ever_written_only_where_to_find_it() {
        let doc = experiment(&agreed(None, &[]));
        let text = doc.to_string();
        assert!(text.contains("Bearer ${gameday_token}"));
        assert_eq!(text.matches("GAMEDAY_TOKEN").count(), 1);
    }

    #[test]
    fn the_file_is_named_after_the_title_and_revision() {
        assert_eq!(agreed(None, &[]).file_name(), "kill-one-checkout-pod-r3.json");
        let odd = Agreed { title: "¡¡!!", ..agreed(None, &[]) };
        assert_eq!(odd.file_name(), "scenario-r3.json");
    }
}
