//! An imported experiment's steady-state hypothesis as health checks: each `http` probe that only
//! looks (GET or HEAD) and whose tolerance is a status code, a list or range of them, or a value at a
//! simple JSON path becomes a check. What cannot be turned into one is said, with why.

use serde_json::Value;

use crate::healthchecks::{
    CheckSpec, DEFAULT_TIMEOUT_MS, Expect, Header, JsonExpect, MAX_TIMEOUT_MS, StatusRange, check_url,
};

/// A probe turned into a check: its name and definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeCheck {
    pub name: String,
    pub spec: CheckSpec,
}

/// The checks the document's steady-state probes become, and a sentence for each probe that
/// does not become one.
pub fn checks_of(document: &Value) -> (Vec<ProbeCheck>, Vec<String>) {
    let (mut checks, mut skipped) = (Vec::new(), Vec::new());
    let probes = document.pointer("/steady-state-hypothesis/probes").and_then(Value::as_array);
    for (i, probe) in probes.into_iter().flatten().enumerate() {
        let name = probe.get("name").and_then(Value::as_str).unwrap_or("").trim();
        let name = if name.is_empty() { format!("probe {}", i + 1) } else { name.chars().take(80).collect() };
        if probe.pointer("/provider/type").and_then(Value::as_str) != Some("http") {
            continue; // Python and process probes stay in the experiment; they are not HTTP checks.
        }
        match check_of(document, probe) {
            Ok(spec) if !checks.iter().any(|c: &ProbeCheck| c.name == name) => checks.push(ProbeCheck { name, spec }),
            Ok(_) => skipped.push(format!("{name}: another probe has the same name")),
            Err(why) => skipped.push(format!("{name}: {why}")),
        }
    }
    (checks, skipped)
}

/// `${name}` replaced by the configuration's literal value of that name, if it has one.
fn substitute(document: &Value, text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else { break };
        let key = &rest[start + 2..start + end];
        let value = document.pointer(&format!("/configuration/{key}")).and_then(Value::as_str);
        let value = value.ok_or_else(|| format!("its URL uses ${{{key}}}, which has no fixed value here"))?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn status(value: &Value) -> Option<u16> {
    value.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| (100..=599).contains(n))
}

/// `$.a.b[0]` → `/a/b/0`; anything fancier (filters, wildcards) is not a JSON Pointer.
fn pointer_of(path: &str) -> Option<String> {
    let rest = path.trim().strip_prefix('$')?;
    if rest.contains("..") {
        return None;
    }
    let mut pointer = String::new();
    for part in rest.split('.').skip_while(|p| p.is_empty()) {
        let (key, indexes) = part.split_once('[').map_or((part, ""), |(k, i)| (k, i));
        if key.is_empty() || key.contains(['*', '?', '(', '@']) {
            return None;
        }
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let n = index.strip_suffix(']')?;
            n.parse::<usize>().ok()?;
            pointer.push('/');
            pointer.push_str(n);
        }
    }
    (!pointer.is_empty()).then_some(pointer)
}

fn check_of(document: &Value, probe: &Value) -> Result<CheckSpec, String> {
    let provider = &probe["provider"];
    let method = provider.get("method").and_then(Value::as_str).unwrap_or("GET").to_ascii_uppercase();
    if method != "GET" && method != "HEAD" {
        return Err(format!("a {method} probe changes things; a health check only looks (GET or HEAD)"));
    }
    let url = substitute(document, provider.get("url").and_then(Value::as_str).unwrap_or(""))?;
    check_url(&url)?;
    let timeout_secs = match provider.get("timeout") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::Array(pair)) => pair.iter().filter_map(Value::as_f64).reduce(f64::max),
        _ => None,
    };
    let timeout_ms =
        timeout_secs.map_or(DEFAULT_TIMEOUT_MS, |s| ((s * 1000.0).round() as u32).clamp(100, MAX_TIMEOUT_MS));
    let mut headers = Vec::new();
    for (name, value) in provider.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let value = value.as_str().unwrap_or("");
        // A credential was replaced by its name when imported: the value is set in the library.
        let secret = value.contains("${") || crate::healthchecks::looks_secret(name);
        headers.push(Header { name: name.clone(), value: (!secret).then(|| value.to_owned()) });
    }
    let ok = vec![StatusRange { from: 200, to: 299 }];
    let (statuses, json) = match probe.get("tolerance") {
        None => (ok, None),
        Some(t) if status(t).is_some() => {
            let code = status(t).unwrap_or(200);
            (vec![StatusRange { from: code, to: code }], None)
        }
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(|v| status(v).is_some()) => {
            (list.iter().filter_map(status).map(|c| StatusRange { from: c, to: c }).collect(), None)
        }
        Some(t)
            if t.get("type").and_then(Value::as_str) == Some("range")
                && t.get("target").and_then(Value::as_str).is_some_and(|target| target != "status") =>
        {
            return Err("its range is about the answer's body, not its status".into());
        }
        Some(t) if t.get("type").and_then(Value::as_str) == Some("range") => {
            let range =
                t.get("range").and_then(Value::as_array).map(|r| r.iter().filter_map(status).collect::<Vec<_>>());
            match range.as_deref() {
                Some([from, to]) if from <= to => (vec![StatusRange { from: *from, to: *to }], None),
                _ => return Err("its range tolerance is not a range of status codes".into()),
            }
        }
        Some(t) if t.get("type").and_then(Value::as_str) == Some("jsonpath") => {
            let path = t.get("path").and_then(Value::as_str).unwrap_or("");
            let pointer =
                pointer_of(path).ok_or_else(|| format!("its JSON path {path} is not a simple path ($.a.b)"))?;
            let expect = match t.get("expect") {
                Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                    Expect::Equals { value: value.clone() }
                }
                _ => return Err("its JSON path tolerance does not say one expected value".into()),
            };
            (ok, Some(JsonExpect { pointer, expect }))
        }
        Some(_) => return Err("its tolerance is not a status code or a simple JSON path".into()),
    };
    Ok(CheckSpec { method, url, headers, timeout_ms, statuses, max_ms: None, json })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn http_probes_become_checks_and_the_others_say_why_not() {
        let doc = json!({
            "configuration": {"base": "https://shop.example.com", "token": {"type": "env", "key": "T"}},
            "steady-state-hypothesis": {"title": "Shop answers", "probes": [
                {"type": "probe", "name": "home", "tolerance": 200,
                 "provider": {"type": "http", "url": "${base}/health", "timeout": 3,
                              "headers": {"Accept": "application/json", "Authorization": "Bearer ${token}"}}},
                {"type": "probe", "name": "codes", "tolerance": [200, 204], "provider": {"type": "http", "url": "https://shop.example.com/a"}},
                {"type": "probe", "name": "ranged", "tolerance": {"type": "range", "range": [200, 299]}, "provider": {"type": "http", "url": "https://shop.example.com/b", "timeout": [1, 30]}},
                {"type": "probe", "name": "status", "tolerance": {"type": "jsonpath", "path": "$.checks[0].status", "expect": "up"}, "provider": {"type": "http", "url": "https://shop.example.com/c"}},
                {"type": "probe", "name": "writes", "tolerance": 200, "provider": {"type": "http", "method": "POST", "url": "https://shop.example.com/d"}},
                {"type": "probe", "name": "secret url", "tolerance": 200, "provider": {"type": "http", "url": "${token}/x"}},
                {"type": "probe", "name": "regex", "tolerance": {"type": "regex", "pattern": "ok"}, "provider": {"type": "http", "url": "https://shop.example.com/e"}},
                {"type": "probe", "name": "latency", "tolerance": {"type": "range", "range": [100, 250], "target": "body"}, "provider": {"type": "http", "url": "https://shop.example.com/f"}},
                {"type": "probe", "name": "python", "tolerance": true, "provider": {"type": "python", "module": "m", "func": "f"}}
            ]}
        });
        let (checks, skipped) = checks_of(&doc);
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["home", "codes", "ranged", "status"]);
        let home = &checks[0].spec;
        assert_eq!(home.url, "https://shop.example.com/health");
        assert_eq!(home.timeout_ms, 3000);
        assert_eq!(home.headers[0], Header { name: "Accept".into(), value: Some("application/json".into()) });
        assert_eq!(
            home.headers[1],
            Header { name: "Authorization".into(), value: None },
            "a credential is a secret header"
        );
        assert_eq!(checks[1].spec.expected(), "200 or 204");
        assert_eq!(checks[2].spec.timeout_ms, MAX_TIMEOUT_MS, "capped");
        assert_eq!(checks[3].spec.expected(), "200–299 with /checks/0/status = \"up\"");
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert!(skipped[3].starts_with("latency: its range is about the answer's body"), "{skipped:?}");
        assert!(skipped[0].starts_with("writes: a POST probe changes things"));
        assert!(skipped[1].contains("${token}"));
        assert!(skipped[2].starts_with("regex: its tolerance is not"));
    }

    #[test]
    fn only_simple_json_paths_become_pointers() {
        assert_eq!(pointer_of("$.status").as_deref(), Some("/status"));
        assert_eq!(pointer_of("$.a.b[2].c").as_deref(), Some("/a/b/2/c"));
        assert_eq!(pointer_of("$..status"), None, "recursive descent is not a pointer");
        assert_eq!(pointer_of("$.a[*]"), None);
        assert_eq!(pointer_of("$.a[?(@.x)]"), None);
        assert_eq!(pointer_of("status"), None);
        assert_eq!(pointer_of("$"), None);
    }
}
