//! Reading a Chaos Toolkit run journal (the `journal.json` that `chaos run` writes) into timeline
//! entries and a proposed outcome. Each activity of the method and the rollbacks becomes one entry
//! at its own start; each steady-state check becomes one entry that says whether it was met and,
//! when not, which probe broke it. The team still decides the outcome: this module only proposes
//! one, with the reason in a sentence.

use super::experiment::{
    Format, ImportError, as_list, as_map, child, credential_key, cut, get, item, missing, one_of, parse_budgeted,
    scrub_text, str_of, wrong,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The largest journal Gameday reads; callers refuse bigger uploads before calling [`read`].
pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// Outputs and exceptions are kept to this many characters.
const TEXT_CHARS: usize = 500;
/// The most timeline entries one journal may give (after the checks during the method are folded).
pub const MAX_ENTRIES: usize = 500;
/// The most probes kept in an entry's data for one steady-state check.
pub const MAX_PROBES: usize = 20;
/// The probe Gameday's exported experiments ask first: is the scenario's gate open?
/// (The value of `super::export::GATE_PROBE`.)
const GATE_PROBE: &str = "gameday-gate-is-open";
/// How far in the future an entry's time may be (clocks differ a little), in seconds.
const FUTURE_SLACK_SECONDS: i64 = 5 * 60;

/// How the run ended, as chaoslib records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Completed,
    Failed,
    Aborted,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Option<RunStatus> {
        [RunStatus::Completed, RunStatus::Failed, RunStatus::Aborted, RunStatus::Interrupted]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The outcome the journal suggests; the team confirms or changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposal {
    Held,
    Refuted,
    Inconclusive,
}

impl Proposal {
    pub fn as_str(self) -> &'static str {
        match self {
            Proposal::Held => "held",
            Proposal::Refuted => "refuted",
            Proposal::Inconclusive => "inconclusive",
        }
    }
}

/// Where in the run an entry happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    SteadyStateBefore,
    SteadyStateDuring,
    SteadyStateAfter,
    Method,
    Rollback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::SteadyStateBefore => "steady-state before",
            Phase::SteadyStateDuring => "steady-state during",
            Phase::SteadyStateAfter => "steady-state after",
            Phase::Method => "method",
            Phase::Rollback => "rollback",
        }
    }

    fn when(self) -> &'static str {
        match self {
            Phase::SteadyStateBefore => "before the method",
            Phase::SteadyStateDuring => "during the method",
            _ => "after the method",
        }
    }
}

/// A run journal read into what the timeline shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Journal {
    /// SHA-256 (hex) of the journal's canonical JSON (keys sorted, no spaces), so the same run is
    /// recognised however it was pasted, uploaded or posted.
    pub digest: String,
    pub experiment_title: String,
    pub chaoslib_version: Option<String>,
    pub status: RunStatus,
    pub deviated: bool,
    pub start: OffsetDateTime,
    pub end: Option<OffsetDateTime>,
    pub duration_seconds: Option<f64>,
    /// Sorted by time; entries at the same time keep the journal's order.
    pub entries: Vec<Entry>,
    pub proposal: Proposal,
    /// One sentence: why this outcome is proposed.
    pub proposal_reason: String,
    /// The Gameday extension of the journal's experiment, when it was exported by Gameday.
    pub gameday: Option<GamedayRun>,
}

/// Which scenario and revision a run was exported from (`experiment.extensions[name == "gameday"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GamedayRun {
    pub scenario: Option<uuid::Uuid>,
    pub revision: Option<i32>,
    pub fingerprint: Option<String>,
}

impl GamedayRun {
    /// Read leniently: a missing or malformed field is `None`.
    fn read(experiment: &Map<String, Value>) -> Option<GamedayRun> {
        let extensions = get(experiment, "extensions")?.as_array()?;
        let gameday = extensions.iter().filter_map(Value::as_object).find(|e| str_of(e, "name") == "gameday")?;
        Some(GamedayRun {
            scenario: get(gameday, "scenario")
                .and_then(Value::as_str)
                .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok()),
            revision: get(gameday, "revision").and_then(Value::as_i64).and_then(|r| i32::try_from(r).ok()),
            fingerprint: get(gameday, "fingerprint")
                .and_then(Value::as_str)
                .map(|f| cut(f.trim(), 200, "…"))
                .filter(|f| !f.is_empty()),
        })
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at: OffsetDateTime,
    pub phase: Phase,
    /// One sentence for people.
    pub body: String,
    /// The facts behind the sentence: activity, type, provider, status, duration, output,
    /// exception, tolerance_met (for activities); absent facts are left out.
    pub data: Value,
}

/// Reads a journal; a wrong shape is refused with the key path of the first problem.
pub fn read(bytes: &[u8]) -> Result<Journal, ImportError> {
    if bytes.len() > MAX_BYTES {
        let size = bytes.len().div_ceil(1024 * 1024);
        return Err(ImportError::new(format!("The file is {size} MiB; a journal may be at most 2 MiB.")));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::new("The file is empty: upload the journal.json that `chaos run` wrote."));
    }
    if bytes.contains(&0) {
        return Err(ImportError::new(
            "The file contains a NUL character (\\0 or \\u0000), which Gameday cannot store: remove it.",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ImportError::new(format!("This is not valid JSON: it is not UTF-8 text (at byte {}).", e.valid_up_to()))
    })?;
    let (value, _) = parse_budgeted(text, Format::Json, "journal")?;
    let digest = Sha256::digest(canonical(&value)).iter().map(|b| format!("{b:02x}")).collect();
    let Value::Object(doc) = value else {
        return Err(ImportError::new(
            "The file is not a journal: its top level must be a mapping (status, start, run…).",
        ));
    };
    let status = match get(&doc, "status") {
        None => return Err(missing("status", "a journal says how the run ended")),
        Some(v) => v
            .as_str()
            .and_then(RunStatus::parse)
            .ok_or_else(|| one_of("status", "completed, failed, aborted or interrupted", v))?,
    };
    let start = required_time(&doc, "", "start")?;
    let end = optional_time(&doc, "", "end")?;
    let deviated = match get(&doc, "deviated") {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| wrong("deviated", "true or false", v))?,
    };
    let experiment = match get(&doc, "experiment") {
        None => return Err(missing("experiment", "a journal carries the experiment it ran")),
        Some(v) => as_map(v, "experiment")?,
    };
    let experiment_title = match get(experiment, "title") {
        Some(Value::String(title)) if !title.trim().is_empty() => cut(scrub_text(title.trim()).as_str(), 120, "…"),
        Some(other) => return Err(wrong("experiment.title", "a non-empty string", other)),
        None => return Err(missing("experiment.title", "a journal carries the title of the experiment it ran")),
    };
    let Some(run) = get(&doc, "run") else { return Err(missing("run", "a journal lists the method's activities")) };
    let mut entries = Vec::new();
    let states = SteadyStates::read(&doc, start, end.unwrap_or(start), &mut entries)?;
    for (i, activity) in as_list(run, "run")?.iter().enumerate() {
        entries.push(activity_entry(activity, &item("run", i), Phase::Method)?);
    }
    if let Some(rollbacks) = get(&doc, "rollbacks") {
        for (i, activity) in as_list(rollbacks, "rollbacks")?.iter().enumerate() {
            entries.push(activity_entry(activity, &item("rollbacks", i), Phase::Rollback)?);
        }
    }
    if entries.len() > MAX_ENTRIES {
        return Err(ImportError::new(format!(
            "The journal gives {} timeline entries; Gameday takes at most {MAX_ENTRIES} from one run.",
            entries.len()
        )));
    }
    entries.sort_by_key(|entry| entry.at);
    let (proposal, proposal_reason) = propose(status, deviated, &states);
    Ok(Journal {
        digest,
        gameday: GamedayRun::read(experiment),
        experiment_title,
        chaoslib_version: get(&doc, "chaoslib-version").and_then(Value::as_str).map(String::from),
        status,
        deviated,
        start,
        end,
        duration_seconds: get(&doc, "duration").and_then(Value::as_f64),
        entries,
        proposal,
        proposal_reason: proposal_reason.to_string(),
    })
}

/// JSON with every mapping's keys sorted and no spaces, whatever order the map keeps.
fn canonical(value: &Value) -> Vec<u8> {
    fn write(value: &Value, out: &mut Vec<u8>) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend(serde_json::to_vec(key).unwrap_or_default());
                    out.push(b':');
                    write(&map[key], out);
                }
                out.push(b'}');
            }
            Value::Array(list) => {
                out.push(b'[');
                for (i, value) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(value, out);
                }
                out.push(b']');
            }
            other => out.extend(serde_json::to_vec(other).unwrap_or_default()),
        }
    }
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

/// A time as Python's `datetime.isoformat()` writes it, with an offset or (older chaoslib) without
/// one, which is taken as UTC.
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let mut text = text.trim().to_string();
    if text.len() > 10 && text.is_char_boundary(10) && text[10..].starts_with(' ') {
        text.replace_range(10..11, "T");
    }
    OffsetDateTime::parse(&text, &Rfc3339).or_else(|_| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339)).ok()
}

fn optional_time(map: &Map<String, Value>, path: &str, key: &str) -> Result<Option<OffsetDateTime>, ImportError> {
    let Some(value) = get(map, key) else { return Ok(None) };
    match value.as_str().and_then(parse_time) {
        Some(time) if time > OffsetDateTime::now_utc() + time::Duration::seconds(FUTURE_SLACK_SECONDS) => {
            let at = child(path, key);
            Err(ImportError::at_key(&at, format!("`{at}` is in the future: the journal's times must have passed.")))
        }
        Some(time) => Ok(Some(time)),
        None => Err(wrong(&child(path, key), "a time such as 2026-11-27T18:55:01.123456+00:00", value)),
    }
}

fn required_time(map: &Map<String, Value>, path: &str, key: &str) -> Result<OffsetDateTime, ImportError> {
    optional_time(map, path, key)?.ok_or_else(|| missing(&child(path, key), "Gameday places each entry at its time"))
}

/// Seconds as people read them: "12 s", "1.2 s", "0.35 s", "0.005 s".
fn seconds(duration: f64) -> String {
    match duration {
        d if d >= 10.0 => format!("{d:.0} s"),
        d if d >= 1.0 => format!("{d:.1} s"),
        d if d >= 0.01 => format!("{d:.2} s"),
        d => format!("{d:.3} s"),
    }
}

/// What an activity returned, trimmed: strings as they are, anything else as JSON; an HTTP
/// response keeps its status and body (its headers are noise on a timeline).
fn output_text(output: Option<&Value>) -> Option<String> {
    let text = match output.filter(|v| !v.is_null())? {
        Value::String(text) => scrub_text(text),
        Value::Object(response) if ["status", "headers", "body"].iter().all(|k| response.contains_key(*k)) => {
            scrubbed(&serde_json::json!({"status": response["status"], "body": response["body"]})).to_string()
        }
        other => scrubbed(other).to_string(),
    };
    let text = text.trim();
    (!text.is_empty()).then(|| cut(text, TEXT_CHARS, "…"))
}

/// A value with the credentials in its texts (keys and values) replaced; a value under a key
/// that names a credential is replaced whole.
fn scrubbed(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(scrub_text(text)),
        Value::Array(list) => Value::Array(list.iter().map(scrubbed).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if credential_key(k) && (v.is_string() || v.is_number()) {
                        Value::String("REDACTED".into())
                    } else {
                        scrubbed(v)
                    };
                    (scrub_text(k), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The exception's own line(s) from a Python traceback (a list of lines or one text): from the
/// last `Class: message` line to the end, the class without its module path.
fn exception_text(exception: Option<&Value>) -> Option<String> {
    let text = match exception? {
        Value::String(text) => text.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let is_class = |line: &&str| {
        let class = line.split(':').next().unwrap_or_default();
        !class.is_empty() && class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    let from = lines.iter().rposition(is_class).or(lines.len().checked_sub(1))?;
    let last = lines[from..].iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    let last = match last.split_once(':') {
        Some((class, rest)) if is_class(&class) => format!("{}:{rest}", class.rsplit('.').next().unwrap_or(class)),
        _ => last,
    };
    Some(cut(&scrub_text(&last), TEXT_CHARS, "…"))
}

/// The facts of one activity run, for an entry's data.
fn activity_data(run: &Map<String, Value>) -> Map<String, Value> {
    let activity = get(run, "activity").and_then(Value::as_object);
    let mut data = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            data.insert(key.to_string(), value);
        }
    };
    put("activity", activity.map(|a| cut(&scrub_text(str_of(a, "name")), 200, "…").into()));
    put("type", activity.map(|a| str_of(a, "type").into()));
    put(
        "provider",
        activity.and_then(|a| get(a, "provider")).and_then(Value::as_object).map(|p| str_of(p, "type").into()),
    );
    put("status", get(run, "status").filter(|s| s.is_string()).cloned());
    put("duration", get(run, "duration").filter(|d| d.is_number()).cloned());
    put("output", output_text(run.get("output")).map(Value::String));
    put("exception", exception_text(run.get("exception")).map(Value::String));
    put("tolerance_met", get(run, "tolerance_met").filter(|t| t.is_boolean()).cloned());
    data.retain(|_, v| v.as_str() != Some(""));
    data
}

/// One activity of the method or the rollbacks, at its own start.
fn activity_entry(value: &Value, path: &str, phase: Phase) -> Result<Entry, ImportError> {
    let run = as_map(value, path)?;
    let at = required_time(run, path, "start")?;
    let data = activity_data(run);
    let fact = |key: &str| data.get(key).and_then(Value::as_str);
    let name = fact("activity").unwrap_or("(unnamed)");
    let kind = fact("type").unwrap_or("activity");
    let took = data.get("duration").and_then(Value::as_f64).map(seconds);
    let outcome = match (fact("status"), took) {
        (Some("succeeded"), Some(took)) => format!("succeeded in {took}."),
        (Some("succeeded"), None) => "succeeded.".to_string(),
        (Some("failed"), took) => {
            let after = took.map(|t| format!(" after {t}")).unwrap_or_default();
            let why = fact("exception").map(|e| format!(" — {e}")).unwrap_or_default();
            format!("failed{after}{why}.")
        }
        (Some(other), _) => format!("{other}."),
        (None, _) => "no result was recorded, and the run stopped there.".to_string(),
    };
    let verb = if phase == Phase::Rollback { "rolled back with" } else { "ran" };
    let body = format!("Chaos Toolkit {verb} the {kind} “{name}”: {outcome}");
    Ok(Entry { at, phase, body, data: Value::Object(data) })
}

/// What the steady-state checks said, for the proposal.
struct SteadyStates {
    before: Option<Option<bool>>,
    after: Option<Option<bool>>,
    /// The check before the method failed only on Gameday's gate probe.
    gate_closed_before: bool,
    /// A check after or during the method failed on Gameday's gate probe.
    gate_closed_during: bool,
}

/// What one steady-state check said about Gameday's gate probe.
#[derive(Default)]
struct Gate {
    /// The probes that broke the check are Gameday's gate probe, and only it.
    only: bool,
    /// Gameday's gate probe is among the probes that broke the check.
    involved: bool,
}

impl SteadyStates {
    /// Reads `steady_states` and adds its entries: one for before, one for after, and during
    /// the method one per failed check plus one summary of the met ones.
    fn read(
        doc: &Map<String, Value>,
        start: OffsetDateTime,
        end: OffsetDateTime,
        entries: &mut Vec<Entry>,
    ) -> Result<SteadyStates, ImportError> {
        let mut states =
            SteadyStates { before: None, after: None, gate_closed_before: false, gate_closed_during: false };
        let Some(all) = get(doc, "steady_states") else { return Ok(states) };
        let all = as_map(all, "steady_states")?;
        for (key, phase, fallback) in
            [("before", Phase::SteadyStateBefore, start), ("after", Phase::SteadyStateAfter, end)]
        {
            if let Some(state) = get(all, key) {
                let (entry, met, gate) = check_entry(state, &child("steady_states", key), phase, fallback)?;
                entries.push(entry);
                if key == "before" {
                    states.before = Some(met);
                    states.gate_closed_before = gate.only;
                } else {
                    states.after = Some(met);
                    states.gate_closed_during |= gate.involved;
                }
            }
        }
        let Some(during) = get(all, "during") else { return Ok(states) };
        let checks = as_list(during, "steady_states.during")?;
        let mut met = Vec::new();
        for (i, state) in checks.iter().enumerate().filter(|(_, s)| !s.is_null()) {
            let (mut entry, held, gate) =
                check_entry(state, &item("steady_states.during", i), Phase::SteadyStateDuring, start)?;
            states.gate_closed_during |= gate.involved;
            if held == Some(true) {
                met.push(entry)
            } else {
                entry.data["iteration"] = (i + 1).into();
                entry.data["iterations"] = checks.len().into();
                entries.push(entry)
            }
        }
        if let Some(first) = met.first() {
            let (times, total) = (met.len(), checks.len());
            let how_often =
                if times == total { format!("met all {total} times") } else { format!("met {times} of {total} times") };
            let body = format!("Chaos Toolkit checked the steady state during the method: {how_often}.");
            let data = serde_json::json!({"iterations": total, "met": times});
            entries.push(Entry { at: first.at, phase: Phase::SteadyStateDuring, body, data });
        }
        Ok(states)
    }
}

/// One steady-state check, at the start of its first probe; also returns whether it was met
/// (`None` when chaoslib gave no verdict, as in a dry run).
fn check_entry(
    value: &Value,
    path: &str,
    phase: Phase,
    fallback: OffsetDateTime,
) -> Result<(Entry, Option<bool>, Gate), ImportError> {
    let state = as_map(value, path)?;
    let met = get(state, "steady_state_met").and_then(Value::as_bool);
    let mut probes = Vec::new();
    let mut at = None;
    if let Some(list) = get(state, "probes") {
        for (i, probe) in as_list(list, &child(path, "probes"))?.iter().enumerate() {
            let at_path = item(&child(path, "probes"), i);
            let probe = as_map(probe, &at_path)?;
            at = at.or(Some(required_time(probe, &at_path, "start")?));
            probes.push(Value::Object(activity_data(probe)));
        }
    }
    let count = match probes.len() {
        1 => "1 probe".to_string(),
        n => format!("{n} probes"),
    };
    let verdict = match met {
        Some(true) => format!("met ({count})"),
        Some(false) => format!("not met — {}", culprit(&probes)),
        None => format!("no verdict ({count})"),
    };
    let broke: Vec<&Value> = probes.iter().filter(|p| p["status"] == "failed" || p["tolerance_met"] == false).collect();
    let is_gate = |p: &&Value| p["activity"] == GATE_PROBE;
    let gate = Gate {
        only: met == Some(false) && !broke.is_empty() && broke.iter().all(is_gate),
        involved: met == Some(false) && broke.iter().any(is_gate),
    };
    let body = format!("Chaos Toolkit checked the steady state {}: {verdict}.", phase.when());
    let total = probes.len();
    probes.truncate(MAX_PROBES);
    let mut data = serde_json::json!({"steady_state_met": met, "probes": probes});
    if total > MAX_PROBES {
        data["probes_total"] = total.into();
    }
    Ok((Entry { at: at.unwrap_or(fallback), phase, body, data }, met, gate))
}

/// Which probe broke a steady state: the first that failed, else the first outside its tolerance.
fn culprit(probes: &[Value]) -> String {
    let name = |p: &Value| p["activity"].as_str().unwrap_or("(unnamed)").to_string();
    if let Some(failed) = probes.iter().find(|p| p["status"] == "failed") {
        let why = failed["exception"].as_str().map(|e| format!(": {e}")).unwrap_or_default();
        return format!("probe “{}” failed{why}", name(failed));
    }
    match probes.iter().find(|p| p["tolerance_met"] == false) {
        Some(outside) => format!("probe “{}” was outside its tolerance", name(outside)),
        None => "no probe says why".to_string(),
    }
}

/// The outcome the journal suggests, with its reason.
fn propose(status: RunStatus, deviated: bool, states: &SteadyStates) -> (Proposal, &'static str) {
    if states.before == Some(Some(false)) && states.gate_closed_before {
        return (
            Proposal::Inconclusive,
            "Gameday's gate was closed before the method (not announced, or not agreed at this revision): nothing was \
             injected.",
        );
    }
    if states.gate_closed_during {
        return (
            Proposal::Inconclusive,
            "Gameday's gate closed during the run (the scenario was halted, or is no longer agreed at this revision).",
        );
    }
    if deviated {
        return (Proposal::Refuted, "The steady state did not hold after the method (deviated).");
    }
    if states.before == Some(Some(false)) {
        return (Proposal::Inconclusive, "The steady state did not hold before the method, so nothing was injected.");
    }
    match status {
        RunStatus::Failed => {
            (Proposal::Inconclusive, "Chaos Toolkit marked the run as failed, so it proves nothing either way.")
        }
        RunStatus::Aborted => {
            (Proposal::Inconclusive, "The run was aborted before it finished, so it proves nothing either way.")
        }
        RunStatus::Interrupted => {
            (Proposal::Inconclusive, "The run was interrupted before it finished, so it proves nothing either way.")
        }
        RunStatus::Completed => match (states.before, states.after) {
            (_, Some(Some(true))) => (Proposal::Held, "The steady state held before and after the method."),
            (None, None) => (
                Proposal::Inconclusive,
                "The experiment has no steady-state hypothesis, so the run cannot say whether it held.",
            ),
            _ => (Proposal::Inconclusive, "The steady state was not confirmed after the method."),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const COMPLETED: &[u8] = include_bytes!("../../tests/fixtures/chaostoolkit/journal-completed.json");
    const FAILED: &[u8] = include_bytes!("../../tests/fixtures/chaostoolkit/journal-failed.json");
    const ABORTED: &[u8] = include_bytes!("../../tests/fixtures/chaostoolkit/journal-aborted.json");
    const BEFORE_FAILED: &[u8] = include_bytes!("../../tests/fixtures/chaostoolkit/journal-before-failed.json");

    fn phases(journal: &Journal) -> Vec<&'static str> {
        journal.entries.iter().map(|e| e.phase.as_str()).collect()
    }

    fn bodies(journal: &Journal) -> Vec<&str> {
        journal.entries.iter().map(|e| e.body.as_str()).collect()
    }

    #[test]
    fn a_completed_run_proposes_held() {
        let journal = read(COMPLETED).expect("reads");
        assert_eq!(journal.experiment_title, "The status page stays up while a worker restarts");
        assert_eq!((journal.status, journal.deviated, journal.proposal), (RunStatus::Completed, false, Proposal::Held));
        assert_eq!(journal.proposal_reason, "The steady state held before and after the method.");
        assert_eq!(journal.chaoslib_version.as_deref(), Some("1.44.0"));
        assert_eq!(journal.start, datetime!(2026-11-27 18:57:23.933817 UTC));
        assert!(journal.duration_seconds.is_some_and(|d| d > 1.5) && journal.end.is_some());
        assert_eq!(
            phases(&journal),
            [
                "steady-state before",
                "steady-state during",
                "method",
                "method",
                "method",
                "method",
                "steady-state after",
                "rollback"
            ]
        );
        assert!(journal.entries.windows(2).all(|w| w[0].at <= w[1].at));
        let bodies = bodies(&journal);
        assert_eq!(bodies[0], "Chaos Toolkit checked the steady state before the method: met (2 probes).");
        assert_eq!(bodies[1], "Chaos Toolkit checked the steady state during the method: met all 4 times.");
        assert!(
            bodies[2].starts_with("Chaos Toolkit ran the action “restart-worker”: succeeded in 0.0"),
            "{}",
            bodies[2]
        );
        assert!(bodies[3].starts_with("Chaos Toolkit ran the action “worker-busy”: succeeded in 1.5 s"));
        assert!(bodies[7].starts_with("Chaos Toolkit rolled back with the action “start-worker”: succeeded in "));
        let restart = &journal.entries[2].data;
        assert_eq!(restart["output"], r#"{"status":0,"stderr":"","stdout":"restarting worker-1\n"}"#);
        assert_eq!((restart["type"].as_str(), restart["provider"].as_str()), (Some("action"), Some("process")));
        let long = journal.entries[4].data["output"].as_str().expect("an output");
        assert!(long.chars().count() == 500 && long.ends_with('…'), "outputs are trimmed");
        let http = &journal.entries[5].data["output"];
        assert_eq!(http, r#"{"body":{"status":"up","workers":3},"status":200}"#, "no headers");
        assert_eq!(journal.entries[0].data["probes"][0]["tolerance_met"], true);
    }

    #[test]
    fn a_failed_run_that_deviated_proposes_refuted() {
        let journal = read(FAILED).expect("reads");
        assert_eq!((journal.status, journal.deviated, journal.proposal), (RunStatus::Failed, true, Proposal::Refuted));
        assert_eq!(journal.proposal_reason, "The steady state did not hold after the method (deviated).");
        assert_eq!(phases(&journal), ["steady-state before", "method", "method", "steady-state after", "rollback"]);
        let standby = &journal.entries[1];
        assert!(standby.body.starts_with("Chaos Toolkit ran the probe “standby-answers”: failed after "));
        assert!(standby.body.contains(" — ActivityFailed: failed to connect to http://127.0.0.1:"), "{}", standby.body);
        assert_eq!(standby.data["status"], "failed");
        let after = &journal.entries[3].body;
        assert!(after.starts_with("Chaos Toolkit checked the steady state after the method: not met — probe “status-page-answers” failed: ActivityFailed: failed to connect"), "{after}");
        assert_eq!(journal.entries[3].data["probes"][0]["tolerance_met"], false);
    }

    #[test]
    fn an_aborted_run_and_an_unmet_start_are_inconclusive() {
        let journal = read(ABORTED).expect("reads");
        assert_eq!((journal.status, journal.proposal), (RunStatus::Aborted, Proposal::Inconclusive));
        let stopped = &journal.entries[2];
        assert_eq!(
            stopped.body,
            "Chaos Toolkit ran the action “run-missing-tool”: no result was recorded, and the run stopped there."
        );
        assert!(stopped.data.get("status").is_none(), "absent facts are left out");

        let journal = read(BEFORE_FAILED).expect("reads");
        assert_eq!((journal.status, journal.proposal), (RunStatus::Failed, Proposal::Inconclusive));
        assert_eq!(
            journal.proposal_reason,
            "The steady state did not hold before the method, so nothing was injected."
        );
        assert_eq!(phases(&journal), ["steady-state before"]);
        assert!(journal.entries[0].body.contains("not met — probe “standby-answers” failed: ActivityFailed:"));
    }

    #[test]
    fn the_digest_is_that_of_the_canonical_document() {
        let digest = "4a31f2b69eb73f055d48afc718feb6a6a985111386f736770c9242829aa31310";
        assert_eq!(read(COMPLETED).map(|j| j.digest), Ok(digest.to_string()));
        let text = std::str::from_utf8(COMPLETED).expect("UTF-8");
        let crlf = format!("\n\n  {}  \n", text.trim().replace('\n', "\r\n"));
        assert_eq!(read(crlf.as_bytes()).map(|j| j.digest), Ok(digest.to_string()), "pasted");
        let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(COMPLETED).expect("JSON")).expect("JSON");
        assert_eq!(read(&compact).map(|j| j.digest), Ok(digest.to_string()), "posted");
        let changed = text.replacen("\"completed\"", "\"failed\"", 1);
        assert_ne!(read(changed.as_bytes()).map(|j| j.digest), Ok(digest.to_string()));
    }

    const HAND_MADE: &str = r#"{
        "status": "completed", "deviated": false, "start": "2025-03-01T10:00:00.500000", "end": "2025-03-01T10:00:09",
        "experiment": {"title": "Hand made"},
        "steady_states": {"before": null, "after": null, "during": []},
        "run": [
            {"activity": {"type": "action", "name": "b", "provider": {"type": "python"}}, "status": "failed",
             "start": "2025-03-01T10:00:05+01:00", "duration": 12.4, "exception": "Traceback:\n  x\nmod.Boom: it broke\n  at last\n"},
            {"activity": {"type": "probe", "name": "a"}, "status": "succeeded", "start": "2025-03-01 09:00:01.25", "output": "  ok  "}
        ]
    }"#;

    #[test]
    fn naive_times_are_utc_and_entries_follow_time() {
        let journal = read(HAND_MADE.as_bytes()).expect("reads");
        assert_eq!(journal.start, datetime!(2025-03-01 10:00:00.5 UTC));
        assert_eq!(journal.end, Some(datetime!(2025-03-01 10:00:09 UTC)));
        assert_eq!(journal.entries[0].at, datetime!(2025-03-01 09:00:01.25 UTC));
        assert_eq!(journal.entries[1].at, datetime!(2025-03-01 09:00:05 UTC));
        assert_eq!(
            bodies(&journal),
            [
                "Chaos Toolkit ran the probe “a”: succeeded.",
                "Chaos Toolkit ran the action “b”: failed after 12 s — Boom: it broke at last."
            ]
        );
        assert_eq!(journal.entries[0].data["output"], "ok");
        assert_eq!(journal.proposal, Proposal::Inconclusive, "no hypothesis: {}", journal.proposal_reason);
    }

    #[test]
    fn checks_during_the_method_show_only_when_unmet_plus_a_summary() {
        let check = |met: bool, at: &str| {
            format!(
                r#"{{"steady_state_met": {met}, "probes": [{{"activity": {{"name": "p"}}, "start": "{at}", "status": "succeeded", "tolerance_met": {met}}}]}}"#
            )
        };
        let during = [
            check(true, "2025-03-01T10:00:02"),
            check(false, "2025-03-01T10:00:03"),
            check(true, "2025-03-01T10:00:04"),
        ];
        let text = HAND_MADE.replace(r#""during": []"#, &format!(r#""during": [{}]"#, during.join(",")));
        let journal = read(text.as_bytes()).expect("reads");
        let during: Vec<&Entry> = journal.entries.iter().filter(|e| e.phase == Phase::SteadyStateDuring).collect();
        assert_eq!(during.len(), 2);
        assert_eq!(during[0].body, "Chaos Toolkit checked the steady state during the method: met 2 of 3 times.");
        assert_eq!(during[0].data, serde_json::json!({"iterations": 3, "met": 2}));
        assert_eq!(
            during[1].body,
            "Chaos Toolkit checked the steady state during the method: not met — probe “p” was outside its tolerance."
        );
        assert_eq!((during[1].data["iteration"].as_u64(), during[1].at), (Some(2), datetime!(2025-03-01 10:00:03 UTC)));
    }

    #[test]
    fn bad_journals_name_the_line_or_the_key() {
        let e = read(b"{\n  \"status\": \"completed\",\n  \"start\" \"x\"\n}").expect_err("refused");
        assert_eq!(
            (e.line, e.message.as_str()),
            (Some(3), "This is not valid JSON at line 3, column 11: expected `:`.")
        );
        let cases = [
            (
                HAND_MADE.replace(r#""status": "completed", "#, ""),
                "status",
                "`status` is missing: a journal says how the run ended.",
            ),
            (
                HAND_MADE.replace(r#""completed""#, r#""running""#),
                "status",
                "`status` must be completed, failed, aborted or interrupted (it is \"running\").",
            ),
            (
                HAND_MADE.replace("2025-03-01 09:00:01.25", "yesterday"),
                "run[1].start",
                "`run[1].start` must be a time such as 2026-11-27T18:55:01.123456+00:00 (it is a string).",
            ),
            (
                HAND_MADE.replace(r#""title": "Hand made""#, r#""name": "x""#),
                "experiment.title",
                "`experiment.title` is missing: a journal carries the title of the experiment it ran.",
            ),
            (
                HAND_MADE.replace(r#""run": ["#, r#""runs": ["#),
                "run",
                "`run` is missing: a journal lists the method's activities.",
            ),
        ];
        for (text, key, message) in cases {
            let e = read(text.as_bytes()).expect_err("refused");
            assert_eq!((e.key.as_deref(), e.message.as_str()), (Some(key), message));
        }
        assert!(read(b"  ").expect_err("refused").message.starts_with("The file is empty"));
        assert!(read(&vec![b' '; MAX_BYTES + 1]).expect_err("refused").message.contains("at most 2 MiB"));
    }

    fn with_run(run: &str) -> String {
        let start = HAND_MADE.find(r#""run": ["#).expect("a run");
        format!("{}\"run\": [{run}]\n    }}", &HAND_MADE[..start])
    }

    #[test]
    fn outputs_and_exceptions_are_scrubbed() {
        let run = r#"{"activity": {"type": "probe", "name": "p"}, "status": "failed", "start": "2025-03-01T10:00:01",
             "exception": ["Traceback:\n", "chaoslib.exceptions.ActivityFailed: failed to connect to https://u:pw-secret-1@h/x\n"],
             "output": {"status": 200, "headers": {}, "body": "Authorization: Bearer abc-secret-2\n{\"password\": \"x-secret-3\"}"}},
            {"activity": {"type": "action", "name": "a"}, "status": "succeeded", "start": "2025-03-01T10:00:02",
             "output": {"stdout": "token=tok-secret-4 ghp_tok5", "stderr": "", "status": 0}}"#;
        let journal = read(with_run(run).as_bytes()).expect("reads");
        let everything = format!("{:?}", journal.entries);
        for secret in ["pw-secret-1", "abc-secret-2", "x-secret-3", "tok-secret-4", "ghp_tok5"] {
            assert!(!everything.contains(secret), "{secret} leaked: {everything}");
        }
        assert!(journal.entries[0].body.contains("https://u:REDACTED@h/x"), "{}", journal.entries[0].body);
        assert!(journal.entries[0].data["output"].as_str().is_some_and(|o| o.contains("Bearer REDACTED")));
    }

    #[test]
    fn limits_nul_and_future_times_are_refused() {
        let probe = r#"{"activity": {"name": "p"}, "start": "2025-03-01T10:00:02", "status": "succeeded", "tolerance_met": true}"#;
        let many = vec![probe; 30].join(",");
        let text = HAND_MADE
            .replace(r#""before": null"#, &format!(r#""before": {{"steady_state_met": true, "probes": [{many}]}}"#));
        let journal = read(text.as_bytes()).expect("reads");
        let before = &journal.entries.iter().find(|e| e.phase == Phase::SteadyStateBefore).expect("a check").data;
        assert_eq!((before["probes"].as_array().map(Vec::len), before["probes_total"].as_u64()), (Some(20), Some(30)));
        let activity =
            r#"{"activity": {"type": "action", "name": "a"}, "status": "succeeded", "start": "2025-03-01T10:00:02"}"#;
        let e = read(with_run(&vec![activity; 501].join(",")).as_bytes()).expect_err("refused");
        assert_eq!(e.message, "The journal gives 501 timeline entries; Gameday takes at most 500 from one run.");
        assert!(read(with_run(&vec![activity; 500].join(",")).as_bytes()).is_ok());
        let e = read(HAND_MADE.replace("Hand made", "Hand\\u0000made").as_bytes()).expect_err("refused");
        assert_eq!(e.key.as_deref(), Some("experiment.title"));
        assert!(e.message.contains("NUL character"));
        let future = (OffsetDateTime::now_utc() + time::Duration::hours(1)).format(&Rfc3339).expect("formats");
        let e = read(HAND_MADE.replace("2025-03-01 09:00:01.25", &future).as_bytes()).expect_err("refused");
        assert_eq!(e.key.as_deref(), Some("run[1].start"));
        assert_eq!(e.message, "`run[1].start` is in the future: the journal's times must have passed.");
    }

    #[test]
    fn the_gameday_extension_is_read() {
        assert_eq!(read(HAND_MADE.as_bytes()).map(|j| j.gameday), Ok(None));
        let ext = r#""title": "Hand made", "extensions": [{"name": "other"}, {"name": "gameday", "scenario": "00000000-0000-0000-0000-000000000002", "revision": 3, "fingerprint": "abc"}]"#;
        let journal = read(HAND_MADE.replace(r#""title": "Hand made""#, ext).as_bytes()).expect("reads");
        let expected =
            GamedayRun { scenario: Some(uuid::Uuid::from_u128(2)), revision: Some(3), fingerprint: Some("abc".into()) };
        assert_eq!(journal.gameday, Some(expected));
        let lenient =
            r#""title": "Hand made", "extensions": [{"name": "gameday", "scenario": "nope", "revision": "3"}]"#;
        let journal = read(HAND_MADE.replace(r#""title": "Hand made""#, lenient).as_bytes()).expect("reads");
        assert_eq!(journal.gameday, Some(GamedayRun { scenario: None, revision: None, fingerprint: None }));
    }

    #[test]
    fn a_closed_gate_proposes_inconclusive() {
        let check = |met: bool, probes: &[(&str, bool)]| {
            let probes: Vec<String> = probes
                .iter()
                .map(|(name, ok)| format!(r#"{{"activity": {{"name": "{name}"}}, "start": "2025-03-01T10:00:02", "status": "succeeded", "tolerance_met": {ok}}}"#))
                .collect();
            format!(r#"{{"steady_state_met": {met}, "probes": [{}]}}"#, probes.join(","))
        };
        let gate_shut = check(false, &[(GATE_PROBE, false)]);
        let text = HAND_MADE.replace(r#""before": null"#, &format!(r#""before": {gate_shut}"#));
        let journal = read(text.as_bytes()).expect("reads");
        assert_eq!(journal.proposal, Proposal::Inconclusive);
        assert_eq!(
            journal.proposal_reason,
            "Gameday's gate was closed before the method (not announced, or not agreed at this revision): nothing was injected."
        );
        let halted =
            "Gameday's gate closed during the run (the scenario was halted, or is no longer agreed at this revision).";
        let after = HAND_MADE
            .replace(r#""deviated": false"#, r#""deviated": true"#)
            .replace(r#""before": null"#, &format!(r#""before": {}"#, check(true, &[(GATE_PROBE, true)])))
            .replace(r#""after": null"#, &format!(r#""after": {gate_shut}"#));
        let journal = read(after.as_bytes()).expect("reads");
        assert_eq!((journal.proposal, journal.proposal_reason.as_str()), (Proposal::Inconclusive, halted));
        let during = HAND_MADE.replace(r#""during": []"#, &format!(r#""during": [{gate_shut}]"#));
        assert_eq!(read(during.as_bytes()).map(|j| j.proposal_reason), Ok(halted.to_string()));
        let real = HAND_MADE
            .replace(r#""deviated": false"#, r#""deviated": true"#)
            .replace(r#""after": null"#, &format!(r#""after": {}"#, check(false, &[(GATE_PROBE, true), ("p", false)])));
        assert_eq!(read(real.as_bytes()).map(|j| j.proposal), Ok(Proposal::Refuted), "another probe broke it");
    }
}
