//! Health checks: a team's HTTP checks that look at the system, not at people, before, during and
//! after a fault. A check is a request (method, URL, headers, timeout) and what counts as healthy
//! (accepted status codes, a maximum response time, optionally a value in the JSON body). A
//! scenario carries copies of the checks it was agreed with ([`AttachedCheck`], part of its
//! fingerprint); they run before the announce and the inject (a failing one closes the gate),
//! every few seconds while injected (a failing "halt automatically" check halts the fault), and
//! after the roll back until the steady state is back. This module is the rules: parsing a check,
//! judging an answer, saying what was seen, and where a check may connect.

pub mod actions;
pub mod api;
pub mod probe;
pub mod routes;
pub mod store;
pub mod views;
pub mod worker;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::form::FieldErrors;
use crate::webhooks::non_public_kind;

/// Checks a team's library may hold.
pub const MAX_PER_TEAM: i64 = 25;
/// Checks one scenario may carry: each runs every few seconds while the fault is injected.
pub const MAX_PER_SCENARIO: usize = 5;
/// How old a passing result may be for the announce or the inject to go on.
pub const FRESH_SECS: i64 = 10;
/// How often an attached check runs while injected, unless chosen otherwise.
pub const DEFAULT_INTERVAL_SECS: u32 = 10;
pub const MIN_INTERVAL_SECS: u32 = 2;
pub const MAX_INTERVAL_SECS: u32 = 300;
/// How long one request may take, unless chosen otherwise, and at most.
pub const DEFAULT_TIMEOUT_MS: u32 = 2_000;
pub const MAX_TIMEOUT_MS: u32 = 10_000;
/// How long after a roll back (or halt) the checks keep running, waiting for the steady state.
pub const RECOVERY_LIMIT_SECS: i64 = 600;
/// How much of an answer's body is read to judge it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How much of what was judged is kept and shown.
const JUDGED_CHARS: usize = 200;

/// The methods a check may use: it looks, it does not change anything.
pub const METHODS: [&str; 2] = ["GET", "HEAD"];

/// A header sent with the request. A secret one's value is not part of the definition: it is
/// kept apart by the library ([`store`]), never shown again, and only ever replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    /// None for a secret header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A range of accepted status codes (`200-299`, or one code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRange {
    pub from: u16,
    pub to: u16,
}

/// What a value in the JSON body must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Expect {
    /// Exactly this JSON value.
    Equals { value: serde_json::Value },
    /// A number between these bounds (inclusive; either may be open).
    Between {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<serde_json::Number>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<serde_json::Number>,
    },
}

/// A value in the JSON body: where (a JSON Pointer, RFC 6901) and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonExpect {
    pub pointer: String,
    pub expect: Expect,
}

/// A check's definition: the request and what counts as healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    pub timeout_ms: u32,
    pub statuses: Vec<StatusRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonExpect>,
}

/// A copy of a library check as a scenario revision carries it: what the signers agreed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedCheck {
    /// The library check it was copied from (where its secret header values are kept).
    pub check_id: Uuid,
    pub name: String,
    pub spec: CheckSpec,
    /// Whether a failure while injected halts the fault without waiting for a person.
    pub auto_halt: bool,
    /// How often it runs while injected.
    pub interval_secs: u32,
}

impl AttachedCheck {
    /// The whole copy in words, as a diff between revisions shows it.
    pub fn words(&self) -> String {
        let secrets = self.spec.secret_names();
        let secrets =
            if secrets.is_empty() { String::new() } else { format!(", secret headers {}", secrets.join(", ")) };
        format!(
            "{} ({}{secrets}, timeout {}; expects {}; {})",
            self.name,
            self.spec.request(),
            millis(self.spec.timeout_ms),
            self.spec.expected(),
            self.guard()
        )
    }

    /// How it guards the fault, in a few words.
    pub fn guard(&self) -> String {
        let halts = if self.auto_halt { "halts the fault when it fails" } else { "reports, a person halts" };
        format!("every {} s while injected; {halts}", self.interval_secs)
    }
}

/// The form of a library check, as typed (kept when shown again).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub url: String,
    /// `Name: value`, one per line.
    #[serde(default)]
    pub headers: String,
    /// `Name: value`, one per line; write-only. Empty keeps the stored ones.
    #[serde(default)]
    pub secret_headers: String,
    /// Forget the stored secret headers.
    #[serde(default)]
    pub clear_secrets: Option<String>,
    #[serde(default)]
    pub timeout_ms: String,
    #[serde(default)]
    pub statuses: String,
    #[serde(default)]
    pub max_ms: String,
    #[serde(default)]
    pub json_pointer: String,
    #[serde(default)]
    pub json_expect: String,
}

/// A parsed check form: its name, its definition, and the secret header values typed (None:
/// keep what is stored; an empty list: none, or clear them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCheck {
    pub name: String,
    pub spec: CheckSpec,
    pub secrets: Option<Vec<(String, String)>>,
}

/// Headers whose values are credentials: typed in the plain field they are refused, so that they
/// go where they are never shown again.
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || ["token", "secret", "key", "password", "auth", "session"].iter().any(|w| n.contains(w))
}

/// Headers the request sets itself.
const RESERVED_HEADERS: [&str; 6] = ["host", "content-length", "transfer-encoding", "connection", "upgrade", "te"];

fn parse_header_lines(text: &str, field: &'static str, errors: &mut FieldErrors) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            errors.add(field, format!("Line {}: write each header as \"Name: value\".", i + 1));
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) || name.len() > 100 {
            errors.add(field, format!("Line {}: \"{name}\" is not a header name.", i + 1));
        } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            errors.add(field, format!("Line {}: {name} is set by Gameday itself.", i + 1));
        } else if value.len() > 2000 || value.chars().any(|c| c.is_control()) {
            errors.add(field, format!("Line {}: the value of {name} is too long or has control characters.", i + 1));
        } else if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            errors.add(field, format!("Line {}: {name} is given twice.", i + 1));
        } else {
            out.push((name.to_owned(), value.to_owned()));
        }
    }
    if out.len() > 20 {
        errors.add(field, "At most 20 headers.");
    }
    out
}

/// Parses accepted status codes: `200`, `200-299`, `200, 204`.
pub fn parse_statuses(text: &str) -> Result<Vec<StatusRange>, String> {
    let text = if text.trim().is_empty() { "200-299" } else { text.trim() };
    let bad = || format!("\"{text}\" is not a list of status codes: write 200, 200-299 or 200, 204.");
    let mut ranges = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>().map_err(|_| bad())?, b.trim().parse::<u16>().map_err(|_| bad())?),
            None => {
                let code = part.parse::<u16>().map_err(|_| bad())?;
                (code, code)
            }
        };
        if !(100..=599).contains(&from) || !(100..=599).contains(&to) || from > to {
            return Err(format!("{part} is not a range of HTTP status codes (100 to 599)."));
        }
        ranges.push(StatusRange { from, to });
    }
    if ranges.is_empty() {
        return Err(bad());
    }
    Ok(ranges)
}

/// Parses what a JSON value must be: `ok` or `"ok"` (a string), `true`, `42`, `null` (that
/// value), or `0.9..1` / `..500` / `1..` (a number in that range).
pub fn parse_expect(text: &str) -> Result<Expect, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Say what the value must be: a value (ok, true, 42) or a range (0.9..1).".into());
    }
    if let Some((min, max)) = text.split_once("..") {
        let bound = |s: &str| -> Result<Option<serde_json::Number>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Number(n)) => Ok(Some(n)),
                _ => Err(format!("\"{s}\" is not a number: write a range as 0.9..1, ..500 or 1..")),
            }
        };
        let (min, max) = (bound(min)?, bound(max)?);
        if min.is_none() && max.is_none() {
            return Err("A range needs at least one bound: 0.9..1, ..500 or 1..".into());
        }
        if let (Some(a), Some(b)) = (&min, &max)
            && a.as_f64() > b.as_f64()
        {
            return Err(format!("The range {text} is empty: its start is above its end."));
        }
        return Ok(Expect::Between { min, max });
    }
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v @ (serde_json::Value::String(_) | serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => v,
        Ok(serde_json::Value::Null) => serde_json::Value::Null,
        _ => serde_json::Value::String(text.to_owned()),
    };
    Ok(Expect::Equals { value })
}

/// Checks a check's URL: http or https, a host, no credentials in it (they go in a secret header).
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("Give the URL to check, such as https://shop.example.com/health.".into());
    }
    if url.len() > 2000 {
        return Err("The URL is longer than 2,000 characters.".into());
    }
    let parsed = url::Url::parse(url).map_err(|_| format!("\"{url}\" is not a web address."))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("A health check's URL starts with http:// or https://.".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("The URL has no host.".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("Put credentials in a secret header, not in the URL (a URL is shown to everyone).".into());
    }
    Ok(())
}

fn bounded_number(
    text: &str,
    field: &'static str,
    (min, max, default): (u32, u32, Option<u32>),
    what: &str,
    errors: &mut FieldErrors,
) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return default;
    }
    match text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            errors.add(field, format!("{what} is a whole number from {min} to {max}."));
            default
        }
    }
}

impl CheckForm {
    /// The add form as it first shows: the default timeout, and 200 as the healthy answer.
    pub fn blank() -> CheckForm {
        CheckForm { timeout_ms: DEFAULT_TIMEOUT_MS.to_string(), statuses: "200".into(), ..Default::default() }
    }

    /// The form as typed, but for the secret header values: they are never sent back to a page.
    pub fn without_secrets(&self) -> CheckForm {
        CheckForm { secret_headers: String::new(), ..self.clone() }
    }

    /// The form of a stored check, to edit it (secret values are never put back in a form).
    pub fn of(name: &str, spec: &CheckSpec) -> CheckForm {
        CheckForm {
            name: name.to_owned(),
            method: spec.method.clone(),
            url: spec.url.clone(),
            headers: spec
                .headers
                .iter()
                .filter_map(|h| Some(format!("{}: {}", h.name, h.value.as_ref()?)))
                .collect::<Vec<_>>()
                .join("\n"),
            secret_headers: String::new(),
            clear_secrets: None,
            timeout_ms: spec.timeout_ms.to_string(),
            statuses: statuses_text(&spec.statuses),
            max_ms: spec.max_ms.map(|m| m.to_string()).unwrap_or_default(),
            json_pointer: spec.json.as_ref().map(|j| j.pointer.clone()).unwrap_or_default(),
            json_expect: spec.json.as_ref().map(|j| expect_input(&j.expect)).unwrap_or_default(),
        }
    }

    /// Parses and checks the form; `stored_secrets` names the secret headers already kept (on an edit).
    pub fn parse(&self, stored_secrets: &[String]) -> Result<ParsedCheck, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            errors.add("name", "Name the check, such as \"checkout answers\".");
        } else if name.chars().count() > 80 {
            errors.add("name", "A name has at most 80 characters.");
        }
        let method =
            if self.method.trim().is_empty() { "GET".to_owned() } else { self.method.trim().to_ascii_uppercase() };
        if !METHODS.contains(&method.as_str()) {
            errors.add("method", "A check looks without changing anything: GET or HEAD.");
        }
        if let Err(e) = check_url(&self.url) {
            errors.add("url", e);
        }
        let plain = parse_header_lines(&self.headers, "headers", &mut errors);
        for (name, _) in &plain {
            if looks_secret(name) {
                errors.add(
                    "headers",
                    format!(
                        "{name} looks like a credential: put it in the secret headers, so it is never shown again."
                    ),
                );
            }
        }
        let typed_secrets = parse_header_lines(&self.secret_headers, "secret_headers", &mut errors);
        for (name, _) in &typed_secrets {
            if plain.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                errors.add("secret_headers", format!("{name} is also a plain header."));
            }
        }
        let secrets = if !typed_secrets.is_empty() {
            Some(typed_secrets)
        } else if self.clear_secrets.is_some() {
            Some(Vec::new())
        } else {
            None
        };
        let secret_names: Vec<String> = match &secrets {
            Some(list) => list.iter().map(|(n, _)| n.clone()).collect(),
            None => stored_secrets.to_vec(),
        };
        let timeout_ms = bounded_number(
            &self.timeout_ms,
            "timeout_ms",
            (100, MAX_TIMEOUT_MS, Some(DEFAULT_TIMEOUT_MS)),
            "The timeout (ms)",
            &mut errors,
        )
        .unwrap_or(DEFAULT_TIMEOUT_MS);
        let max_ms = bounded_number(
            &self.max_ms,
            "max_ms",
            (1, MAX_TIMEOUT_MS, None),
            "The longest answer time (ms)",
            &mut errors,
        );
        if let Some(max) = max_ms
            && max > timeout_ms
        {
            errors.add("max_ms", format!("The longest answer time cannot be above the timeout ({timeout_ms} ms)."));
        }
        let statuses = parse_statuses(&self.statuses).unwrap_or_else(|e| {
            errors.add("statuses", e);
            Vec::new()
        });
        let pointer = self.json_pointer.trim();
        let json = if pointer.is_empty() && self.json_expect.trim().is_empty() {
            None
        } else if !pointer.starts_with('/') {
            errors.add("json_pointer", "A JSON Pointer starts with / (such as /status or /checks/0/ok).");
            None
        } else {
            match parse_expect(&self.json_expect) {
                Ok(expect) => Some(JsonExpect { pointer: pointer.to_owned(), expect }),
                Err(e) => {
                    errors.add("json_expect", e);
                    None
                }
            }
        };
        if method == "HEAD" && json.is_some() {
            errors.add("json_pointer", "A HEAD answer has no body to read: use GET to judge a JSON value.");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut headers: Vec<Header> =
            plain.into_iter().map(|(name, value)| Header { name, value: Some(value) }).collect();
        headers.extend(secret_names.into_iter().map(|name| Header { name, value: None }));
        let spec = CheckSpec { method, url: self.url.trim().to_owned(), headers, timeout_ms, statuses, max_ms, json };
        Ok(ParsedCheck { name, spec, secrets })
    }
}

/// The scheme, host and port of a URL.
fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
    let u = url::Url::parse(url).ok()?;
    Some((u.scheme().to_owned(), u.host_str()?.to_ascii_lowercase(), u.port_or_known_default()))
}

/// Stored secret header values never follow a check to another host: an edit that moves the URL
/// to another scheme, host or port must type them again (or forget them). Otherwise anyone who may
/// edit a check could send the team's credential to a server of theirs.
pub fn secrets_stay_home(before: &CheckSpec, after: &ParsedCheck) -> Result<(), String> {
    let keeps_stored = after.secrets.is_none() && !before.secret_names().is_empty();
    if keeps_stored && origin(&before.url) != origin(&after.spec.url) {
        return Err(
            "The URL moves to another host: type the secret headers again, or forget them, so that a stored secret never goes somewhere new."
                .into(),
        );
    }
    Ok(())
}

/// Status ranges as typed: `200-299, 304`.
pub fn statuses_text(statuses: &[StatusRange]) -> String {
    statuses
        .iter()
        .map(|r| if r.from == r.to { r.from.to_string() } else { format!("{}-{}", r.from, r.to) })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An expectation as typed in the form.
fn expect_input(expect: &Expect) -> String {
    match expect {
        Expect::Equals { value: serde_json::Value::String(s) } => s.clone(),
        Expect::Equals { value } => value.to_string(),
        Expect::Between { min, max } => format!(
            "{}..{}",
            min.as_ref().map(ToString::to_string).unwrap_or_default(),
            max.as_ref().map(ToString::to_string).unwrap_or_default()
        ),
    }
}

/// A duration for people: `45 ms`, `1.2 s`.
pub fn millis(ms: u32) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", f64::from(ms) / 1000.0)
    }
}

impl Expect {
    /// What it asks, after a pointer: `= "ok"`, `between 0.9 and 1`, `at most 500`.
    pub fn words(&self) -> String {
        match self {
            Expect::Equals { value } => format!("= {value}"),
            Expect::Between { min: Some(a), max: Some(b) } => format!("between {a} and {b}"),
            Expect::Between { min: Some(a), max: None } => format!("at least {a}"),
            Expect::Between { min: None, max: Some(b) } => format!("at most {b}"),
            Expect::Between { min: None, max: None } => "any number".into(),
        }
    }

    fn holds(&self, found: &serde_json::Value) -> bool {
        match self {
            Expect::Equals { value } => match (value, found) {
                (serde_json::Value::Number(a), serde_json::Value::Number(b)) => a.as_f64() == b.as_f64(),
                _ => value == found,
            },
            Expect::Between { min, max } => {
                let Some(n) = found.as_f64() else { return false };
                min.as_ref().and_then(serde_json::Number::as_f64).is_none_or(|m| n >= m)
                    && max.as_ref().and_then(serde_json::Number::as_f64).is_none_or(|m| n <= m)
            }
        }
    }
}

impl CheckSpec {
    /// What a healthy answer is: `200 in under 500 ms with /status = "ok"`.
    pub fn expected(&self) -> String {
        let mut words = statuses_words(&self.statuses);
        if let Some(max) = self.max_ms {
            words.push_str(&format!(" in under {}", millis(max)));
        }
        if let Some(json) = &self.json {
            words.push_str(&format!(" with {} {}", json.pointer, json.expect.words()));
        }
        words
    }

    /// The timeout, for people.
    pub fn timeout_words(&self) -> String {
        millis(self.timeout_ms)
    }

    /// The request in a few words, for people: `GET https://…/health`.
    pub fn request(&self) -> String {
        format!("{} {}", self.method, self.url)
    }

    /// The names of its secret headers.
    pub fn secret_names(&self) -> Vec<String> {
        self.headers.iter().filter(|h| h.value.is_none()).map(|h| h.name.clone()).collect()
    }
}

fn statuses_words(statuses: &[StatusRange]) -> String {
    let parts: Vec<String> = statuses
        .iter()
        .map(|r| if r.from == r.to { r.from.to_string() } else { format!("{}–{}", r.from, r.to) })
        .collect();
    match parts.as_slice() {
        [] => "any status".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// What a check saw: an answer, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The status, how long the answer took, and the start of its body.
    Answered { status: u16, elapsed_ms: u32, body: Vec<u8> },
    /// No answer: why (`connection refused`, `timed out`, `refused: …`).
    NoAnswer { error: String, elapsed_ms: u32 },
}

/// A judged result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub status: Option<u16>,
    pub elapsed_ms: u32,
    /// The part of the answer that was judged: the JSON value found at the pointer (empty when the
    /// check looks at the status and time only; the body itself is never kept).
    pub judged: String,
    /// What was seen, for people: `200 in 45 ms`, or `got 503 in 1.2 s (expected 200 in under 500 ms)`.
    pub summary: String,
}

/// The start of a text, at most [`JUDGED_CHARS`] characters, without control characters (a NUL
/// cannot be stored in PostgreSQL text), marked when cut.
fn excerpt(text: &str) -> String {
    let mut out: String =
        text.chars().take(JUDGED_CHARS).map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect();
    if text.chars().nth(JUDGED_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Judges what a check saw against its definition.
pub fn judge(spec: &CheckSpec, seen: &Seen) -> Verdict {
    let expected = spec.expected();
    match seen {
        Seen::NoAnswer { error, elapsed_ms } => Verdict {
            passed: false,
            status: None,
            elapsed_ms: *elapsed_ms,
            judged: String::new(),
            summary: format!("no answer: {error} after {} (expected {expected})", millis(*elapsed_ms)),
        },
        Seen::Answered { status, elapsed_ms, body } => {
            let status_ok = spec.statuses.iter().any(|r| (r.from..=r.to).contains(status));
            let time_ok = spec.max_ms.is_none_or(|max| *elapsed_ms <= max);
            let (json_ok, judged, found_words) = match &spec.json {
                // Only a value the check looks for is kept and shown, never the body itself: a
                // check may reach an internal page that observers and read tokens should not read.
                None => (true, String::new(), String::new()),
                Some(json) => match serde_json::from_slice::<serde_json::Value>(body) {
                    Err(_) => (false, String::new(), " and a body that is not JSON".to_owned()),
                    Ok(doc) => match doc.pointer(&json.pointer) {
                        None => (false, String::new(), format!(" with nothing at {}", json.pointer)),
                        Some(found) => {
                            let shown = excerpt(&found.to_string());
                            (json.expect.holds(found), shown.clone(), format!(" with {} = {shown}", json.pointer))
                        }
                    },
                },
            };
            let passed = status_ok && time_ok && json_ok;
            let seen = format!("{status} in {}{found_words}", millis(*elapsed_ms));
            let summary = if passed { seen } else { format!("got {seen} (expected {expected})") };
            Verdict { passed, status: Some(*status), elapsed_ms: *elapsed_ms, judged, summary }
        }
    }
}

/// Where a check may connect: every address its host resolves to must be public or inside a
/// network the configuration allows (`GAMEDAY_HEALTH_CHECK_ALLOW`). Returns the address to
/// connect to (the first), to pin it.
pub fn check_reach(host: &str, addrs: &[IpAddr], allow: &[IpNet]) -> Result<IpAddr, String> {
    let first = *addrs.first().ok_or_else(|| format!("{host} has no address."))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    for &ip in addrs {
        if allow.iter().any(|net| net.contains(&ip)) {
            continue;
        }
        if let Some(kind) = non_public_kind(ip) {
            let what = if bare.parse::<IpAddr>().is_ok() {
                format!("{host} is {kind}")
            } else {
                format!("{host} resolves to {ip}, {kind}")
            };
            return Err(format!(
                "{what}; health checks reach public addresses only, unless GAMEDAY_HEALTH_CHECK_ALLOW lists its network."
            ));
        }
    }
    Ok(first)
}

/// The latest result of a check, as the gate reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub check_name: String,
    pub passed: bool,
    pub summary: String,
    /// How long ago it was judged, in seconds.
    pub age_secs: i64,
}

/// Invariant 8 before the announce and the inject: every attached check has a passing result
/// younger than [`FRESH_SECS`]. The refusal says which check and what it saw.
pub fn gate(checks: &[AttachedCheck], latest: &[Latest], moving: &str) -> Result<(), String> {
    for check in checks {
        let fresh = latest.iter().find(|l| l.check_name == check.name && l.age_secs <= FRESH_SECS);
        match fresh {
            Some(l) if l.passed => {}
            Some(l) => {
                return Err(format!(
                    "Not {moving}: the health check \"{}\" fails: {}. If you know the system will break, don't run the experiment.",
                    check.name, l.summary
                ));
            }
            None => {
                return Err(format!(
                    "Not {moving}: the health check \"{}\" has no result from the last {FRESH_SECS} seconds. Run the checks again.",
                    check.name
                ));
            }
        }
    }
    Ok(())
}

/// The reason a halt by a check gives, as the timeline says it.
pub fn halt_body(check: &str, summary: &str) -> String {
    format!("Halted by health check {check}: {summary}")
}

/// What changed for the timeline: a check started failing, or passes again.
pub fn change_body(check: &str, passed: bool, summary: &str) -> String {
    if passed {
        format!("Health check {check} passes again: {summary}")
    } else {
        format!("Health check {check} fails: {summary}")
    }
}

/// How long a recovery took, for people: `2 min 13 s`, `45 s`, `1.2 s`.
pub fn recovery_words(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        return millis(ms as u32);
    }
    let secs = ms / 1000;
    if secs < 60 {
        format!("{secs} s")
    } else if secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// Parses the attach form's interval, in seconds.
pub fn parse_interval(text: &str) -> Result<u32, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DEFAULT_INTERVAL_SECS);
    }
    match text.parse::<u32>() {
        Ok(n) if (MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&n) => Ok(n),
        _ => Err(format!("Run it every {MIN_INTERVAL_SECS} to {MAX_INTERVAL_SECS} seconds.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CheckSpec {
        CheckSpec {
            method: "GET".into(),
            url: "https://shop.example.com/health".into(),
            headers: vec![],
            timeout_ms: 2000,
            statuses: vec![StatusRange { from: 200, to: 200 }],
            max_ms: Some(500),
            json: None,
        }
    }

    fn answered(status: u16, elapsed_ms: u32, body: &str) -> Seen {
        Seen::Answered { status, elapsed_ms, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn a_failure_says_what_was_seen_and_what_was_expected() {
        let v = judge(&spec(), &answered(503, 1200, ""));
        assert!(!v.passed);
        assert_eq!(v.summary, "got 503 in 1.2 s (expected 200 in under 500 ms)");
        let v = judge(&spec(), &answered(200, 45, "ok"));
        assert!(v.passed);
        assert_eq!(v.summary, "200 in 45 ms");
        assert_eq!(v.judged, "", "the body itself is not kept");
        // Too slow is a failure too.
        let v = judge(&spec(), &answered(200, 800, ""));
        assert!(!v.passed);
        assert_eq!(v.summary, "got 200 in 800 ms (expected 200 in under 500 ms)");
        let v = judge(&spec(), &Seen::NoAnswer { error: "connection refused".into(), elapsed_ms: 3 });
        assert_eq!(v.summary, "no answer: connection refused after 3 ms (expected 200 in under 500 ms)");
    }

    #[test]
    fn a_json_value_is_judged_where_the_pointer_says() {
        let mut s = spec();
        s.json = Some(JsonExpect { pointer: "/status".into(), expect: parse_expect("ok").unwrap() });
        assert!(judge(&s, &answered(200, 10, r#"{"status":"ok"}"#)).passed);
        let v = judge(&s, &answered(200, 10, r#"{"status":"degraded"}"#));
        assert!(!v.passed);
        assert_eq!(v.judged, "\"degraded\"");
        assert_eq!(
            v.summary,
            "got 200 in 10 ms with /status = \"degraded\" (expected 200 in under 500 ms with /status = \"ok\")"
        );
        assert!(judge(&s, &answered(200, 10, "<html>")).summary.contains("a body that is not JSON"));
        assert!(judge(&s, &answered(200, 10, "{}")).summary.contains("with nothing at /status"));
        s.json = Some(JsonExpect { pointer: "/ratio".into(), expect: parse_expect("0.9..1").unwrap() });
        assert!(judge(&s, &answered(200, 10, r#"{"ratio":0.95}"#)).passed);
        assert!(!judge(&s, &answered(200, 10, r#"{"ratio":0.5}"#)).passed);
        assert!(!judge(&s, &answered(200, 10, r#"{"ratio":"0.95"}"#)).passed);
        s.json = Some(JsonExpect { pointer: "/n".into(), expect: parse_expect("3").unwrap() });
        assert!(judge(&s, &answered(200, 10, r#"{"n":3.0}"#)).passed);
        // A NUL in what was found is not kept (PostgreSQL text cannot hold it).
        s.json = Some(JsonExpect { pointer: "/s".into(), expect: parse_expect("ok").unwrap() });
        let v = judge(&s, &answered(200, 10, "{\"s\":\"a\u{0}b\"}"));
        assert!(!v.judged.contains('\0') && !v.summary.contains('\0'), "{v:?}");
    }

    #[test]
    fn expectations_parse_as_people_write_them() {
        assert_eq!(parse_expect("true").unwrap(), Expect::Equals { value: serde_json::json!(true) });
        assert_eq!(parse_expect("\"ok\"").unwrap(), Expect::Equals { value: serde_json::json!("ok") });
        assert_eq!(
            parse_expect("up and running").unwrap(),
            Expect::Equals { value: serde_json::json!("up and running") }
        );
        assert_eq!(parse_expect("..500").unwrap().words(), "at most 500");
        assert_eq!(parse_expect("1..").unwrap().words(), "at least 1");
        assert!(parse_expect("..").is_err());
        assert!(parse_expect("5..1").is_err());
        assert!(parse_expect("a..b").is_err());
        assert!(parse_expect(" ").is_err());
    }

    #[test]
    fn statuses_parse_and_read_back() {
        let s = parse_statuses("200-299, 304").unwrap();
        assert_eq!(statuses_text(&s), "200-299, 304");
        assert_eq!(statuses_words(&s), "200–299 or 304");
        assert_eq!(parse_statuses("").unwrap(), vec![StatusRange { from: 200, to: 299 }]);
        assert!(parse_statuses("600").is_err());
        assert!(parse_statuses("299-200").is_err());
        assert!(parse_statuses("ok").is_err());
    }

    fn form() -> CheckForm {
        CheckForm {
            name: "checkout answers".into(),
            method: "GET".into(),
            url: "https://shop.example.com/health".into(),
            statuses: "200".into(),
            max_ms: "500".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_form_parses_into_a_definition_and_secrets_stay_apart() {
        let parsed = CheckForm {
            headers: "Accept: application/json".into(),
            secret_headers: "Authorization: Bearer s3cr3t".into(),
            ..form()
        }
        .parse(&[])
        .unwrap();
        assert_eq!(parsed.spec.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(parsed.spec.headers[1], Header { name: "Authorization".into(), value: None });
        assert_eq!(parsed.secrets, Some(vec![("Authorization".into(), "Bearer s3cr3t".into())]));
        assert!(!serde_json::to_string(&parsed.spec).unwrap().contains("s3cr3t"));
        // An edit that leaves the secret field empty keeps the stored secret headers.
        let kept = form().parse(&["X-Token".into()]).unwrap();
        assert_eq!(kept.secrets, None);
        assert_eq!(kept.spec.secret_names(), vec!["X-Token".to_owned()]);
        let cleared = CheckForm { clear_secrets: Some("on".into()), ..form() }.parse(&["X-Token".into()]).unwrap();
        assert_eq!(cleared.secrets, Some(vec![]));
        assert!(cleared.spec.secret_names().is_empty());
        // A stored check reads back into the same definition.
        let again = CheckForm::of(&parsed.name, &parsed.spec).parse(&["Authorization".into()]).unwrap();
        assert_eq!(again.spec, parsed.spec);
    }

    #[test]
    fn stored_secrets_never_follow_the_url_to_another_host() {
        let stored = CheckForm { secret_headers: "Authorization: Bearer x".into(), ..form() }.parse(&[]).unwrap().spec;
        let names = stored.secret_names();
        let same_host = CheckForm { url: "https://shop.example.com/other".into(), ..form() }.parse(&names).unwrap();
        assert_eq!(secrets_stay_home(&stored, &same_host), Ok(()));
        let elsewhere = CheckForm { url: "https://evil.example.net/".into(), ..form() }.parse(&names).unwrap();
        assert!(secrets_stay_home(&stored, &elsewhere).unwrap_err().contains("type the secret headers again"));
        let other_port =
            CheckForm { url: "https://shop.example.com:8443/health".into(), ..form() }.parse(&names).unwrap();
        assert!(secrets_stay_home(&stored, &other_port).is_err());
        let retyped =
            CheckForm { url: "https://evil.example.net/".into(), secret_headers: "Authorization: y".into(), ..form() };
        assert_eq!(secrets_stay_home(&stored, &retyped.parse(&names).unwrap()), Ok(()));
        let forgotten =
            CheckForm { url: "https://evil.example.net/".into(), clear_secrets: Some("yes".into()), ..form() };
        assert_eq!(secrets_stay_home(&stored, &forgotten.parse(&names).unwrap()), Ok(()));
    }

    #[test]
    fn bad_forms_say_what_is_wrong_beside_each_field() {
        let errors = CheckForm {
            name: " ".into(),
            method: "DELETE".into(),
            url: "ftp://x".into(),
            headers: "Authorization: Bearer x\nnot a header".into(),
            timeout_ms: "999999".into(),
            statuses: "abc".into(),
            json_pointer: "status".into(),
            ..Default::default()
        }
        .parse(&[])
        .unwrap_err();
        for field in ["name", "method", "url", "headers", "timeout_ms", "statuses", "json_pointer"] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        let errors = CheckForm { url: "https://user:pw@x.example/".into(), ..form() }.parse(&[]).unwrap_err();
        assert!(errors.get("url").unwrap().contains("secret header"));
        let errors = CheckForm { max_ms: "5000".into(), timeout_ms: "1000".into(), ..form() }.parse(&[]).unwrap_err();
        assert!(errors.get("max_ms").is_some());
        let errors = CheckForm { headers: "Host: x".into(), ..form() }.parse(&[]).unwrap_err();
        assert!(errors.get("headers").unwrap().contains("set by Gameday"));
    }

    #[test]
    fn checks_reach_public_addresses_and_allowed_networks_only() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let err = check_reach("localhost", &[loopback], &[]).unwrap_err();
        assert!(err.starts_with("localhost resolves to 127.0.0.1, a loopback address"), "{err}");
        assert_eq!(check_reach("example.com", &[public], &[]), Ok(public));
        let allow: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        assert_eq!(check_reach("localhost", &[loopback], &allow), Ok(loopback));
        // Every address must pass: one private answer among allowed ones is refused.
        let ten: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(check_reach("mixed", &[loopback, ten], &allow).is_err());
        assert!(check_reach("meta", &["169.254.169.254".parse().unwrap()], &allow).is_err());
        assert!(check_reach("none", &[], &allow).is_err());
    }

    fn attached(name: &str) -> AttachedCheck {
        AttachedCheck { check_id: Uuid::nil(), name: name.into(), spec: spec(), auto_halt: true, interval_secs: 10 }
    }

    #[test]
    fn the_gate_wants_a_fresh_pass_of_every_check() {
        let checks = [attached("api"), attached("db")];
        let latest = |name: &str, passed: bool, age_secs: i64| Latest {
            check_name: name.into(),
            passed,
            summary: if passed {
                "200 in 5 ms".into()
            } else {
                "got 503 in 1.2 s (expected 200 in under 500 ms)".into()
            },
            age_secs,
        };
        assert_eq!(gate(&[], &[], "announced"), Ok(()));
        assert_eq!(gate(&checks, &[latest("api", true, 1), latest("db", true, 2)], "announced"), Ok(()));
        let failed = gate(&checks, &[latest("api", true, 1), latest("db", false, 1)], "announced").unwrap_err();
        assert!(failed.contains("\"db\" fails: got 503 in 1.2 s (expected 200 in under 500 ms)"), "{failed}");
        let stale =
            gate(&checks, &[latest("api", true, 1), latest("db", true, FRESH_SECS + 1)], "injected").unwrap_err();
        assert!(stale.contains("\"db\" has no result from the last"), "{stale}");
        assert!(gate(&checks, &[latest("api", true, 1)], "injected").is_err());
    }

    #[test]
    fn sentences_read_as_the_timeline_says_them() {
        assert_eq!(
            halt_body("checkout", "got 503 in 1.2 s (expected 200 in under 500 ms)"),
            "Halted by health check checkout: got 503 in 1.2 s (expected 200 in under 500 ms)"
        );
        assert_eq!(recovery_words(1_200), "1.2 s");
        assert_eq!(recovery_words(45_000), "45 s");
        assert_eq!(recovery_words(133_000), "2 min 13 s");
        assert_eq!(recovery_words(120_000), "2 min");
        assert_eq!(parse_interval(""), Ok(DEFAULT_INTERVAL_SECS));
        assert!(parse_interval("1").is_err());
        assert_eq!(attached("x").guard(), "every 10 s while injected; halts the fault when it fails");
    }
}
