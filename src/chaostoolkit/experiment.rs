//! Reading a Chaos Toolkit experiment (JSON or YAML, as chaostoolkit-lib reads it) into a
//! scenario's words. The file is checked the way `chaos validate` checks it (with Gameday's
//! wording and the key path of the first problem), its credentials are replaced by references to
//! environment variables before anything leaves this module, and its hypothesis, method and
//! rollbacks are described in sentences the team reads and signs. The whole document is kept,
//! unknown keys included, so the experiment can be exported and run again.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use std::fmt;

/// The largest experiment Gameday reads; callers refuse bigger uploads before calling [`read`].
pub const MAX_BYTES: usize = 256 * 1024;
/// The text of a part nobody has written yet; the app recognises it and asks for the words.
pub const TO_BE_AGREED: &str = "To be agreed before sign-off.";
const TITLE_CHARS: usize = 120;
const TEXT_CHARS: usize = 4000;
const VALUE_CHARS: usize = 200;
const CUT_NOTE: &str = "… (the full experiment is attached to the scenario)";
/// The secrets scope that receives credentials lifted out of activities (headers, URLs, arguments).
const IMPORTED_SCOPE: &str = "imported";

#[rustfmt::skip]
const TOP_KEYS: &[&str] = &[
    "version", "title", "description", "tags", "contributions", "configuration", "secrets", "extensions", "controls",
    "steady-state-hypothesis", "method", "rollbacks", "runtime", "dry",
];
const HYPOTHESIS_KEYS: &[&str] = &["title", "probes", "controls"];
const ACTIVITY_KEYS: &[&str] =
    &["type", "name", "provider", "tolerance", "pauses", "background", "ref", "controls", "configuration", "secrets"];
const PYTHON_KEYS: &[&str] = &["type", "module", "func", "arguments", "secrets"];
#[rustfmt::skip]
const HTTP_KEYS: &[&str] = &[
    "type", "url", "method", "headers", "timeout", "arguments", "expected_status", "verify_tls", "max_retries",
    "secrets",
];
const PROCESS_KEYS: &[&str] = &["type", "path", "arguments", "timeout", "secrets"];
const PAUSES_KEYS: &[&str] = &["before", "after"];
const CONTROL_KEYS: &[&str] = &["name", "provider", "scope", "automatic", "ref"];
const CONTROL_PROVIDER_KEYS: &[&str] = &["type", "module", "func", "arguments", "secrets"];

/// The syntax an experiment was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        }
    }

    /// By the file name's extension when it has a telling one, else by the first character: JSON
    /// documents open with `{`, and anything else is read as YAML (which also accepts most JSON).
    pub fn detect(text: &str, file_name: Option<&str>) -> Format {
        let name = file_name.unwrap_or("").trim().to_ascii_lowercase();
        if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// An experiment read, redacted and put into words.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub format: Format,
    /// Trimmed, at most 120 characters.
    pub title: String,
    /// The description, then the steady-state hypothesis and each of its probes (at most 4,000 characters).
    pub hypothesis: String,
    /// The method, one numbered line per activity, then the controls (at most 4,000 characters).
    pub fault: String,
    /// The rollbacks, numbered, or [`TO_BE_AGREED`] when there are none (at most 4,000 characters).
    pub rollback_plan: String,
    pub tags: Vec<String>,
    /// Such as `("reliability", "high")`, in the document's order.
    pub contributions: Vec<(String, String)>,
    /// The whole experiment as JSON after redaction, every key kept.
    pub document: Value,
    /// One line per replaced value: where it was and what replaced it (never the value).
    pub redacted: Vec<String>,
    /// Key paths Gameday does not know, such as `method[1].provider.retries`; they stay in the document.
    pub not_understood: Vec<String>,
}

/// Why a file could not be read. `message` is a whole sentence that already names the line (for
/// syntax errors) or the key path (for a wrong shape); `line` and `key` repeat them for machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub message: String,
    pub line: Option<usize>,
    pub key: Option<String>,
}

impl ImportError {
    pub fn new(message: impl Into<String>) -> Self {
        ImportError { message: message.into(), line: None, key: None }
    }

    /// A problem with the value at `key`; the message says what is wrong and names the key.
    pub fn at_key(key: &str, message: impl Into<String>) -> Self {
        ImportError { message: message.into(), line: None, key: Some(key.to_string()) }
    }

    /// A syntax error at a line and column of a `syntax` ("JSON" or "YAML") file, from the parser's `detail`.
    pub fn at_line(syntax: &str, line: usize, column: usize, detail: &str) -> Self {
        let message = format!("This is not valid {syntax} at line {line}, column {column}: {}.", human_detail(detail));
        ImportError { message, line: Some(line), key: None }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ImportError {}

/// The parser's own words without their position (the message gives it) and without a final dot.
fn human_detail(detail: &str) -> String {
    let detail = detail.split(" at line ").next().unwrap_or(detail).trim().trim_end_matches('.');
    if let Some(what) = detail.strip_prefix("EOF while parsing") {
        return format!("the file ends in the middle of{what}");
    }
    if let Some(what) = detail.strip_prefix("invalid type: ").and_then(|d| d.strip_suffix(", expected a string")) {
        return format!("a key must be plain text (this one is a {what})");
    }
    detail
        .replace("invalid type: enum, expected any valid JSON value", "YAML tags such as `!Ref` are not supported")
        .replace(
            "deserializing from YAML containing more than one document is not supported",
            "the file holds more than one YAML document (separated by `---`); upload one experiment",
        )
}

/// Reads an experiment: parses it, checks it, redacts its credentials and describes it in words.
pub fn read(text: &str, file_name: Option<&str>) -> Result<Imported, ImportError> {
    if text.len() > MAX_BYTES {
        return Err(ImportError::new(format!(
            "The file is {} KiB; an experiment may be at most {} KiB.",
            text.len().div_ceil(1024),
            MAX_BYTES / 1024
        )));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ImportError::new("The file is empty: upload a Chaos Toolkit experiment in JSON or YAML."));
    }
    let format = Format::detect(text, file_name);
    let (value, ordered_contributions) = parse(text, format)?;
    let Value::Object(mut doc) = value else {
        return Err(ImportError::new(
            "The file is not an experiment: its top level must be a mapping of keys (title, description, method…).",
        ));
    };
    let mut checker = Checker::default();
    checker.experiment(&doc)?;
    let redacted = Redactor::default().redact(&mut doc);
    let contributions = if ordered_contributions.is_empty() { contributions(&doc) } else { ordered_contributions };
    Ok(Imported {
        format,
        title: cut(str_of(&doc, "title").trim(), TITLE_CHARS, "…"),
        hypothesis: cut(&hypothesis_words(&doc), TEXT_CHARS, CUT_NOTE),
        fault: cut(&method_words(&doc), TEXT_CHARS, CUT_NOTE),
        rollback_plan: cut(&rollback_words(&doc), TEXT_CHARS, CUT_NOTE),
        tags: list_of(&doc, "tags").iter().filter_map(Value::as_str).map(String::from).collect(),
        contributions,
        document: Value::Object(doc),
        redacted,
        not_understood: checker.unknown,
    })
}

fn parse(text: &str, format: Format) -> Result<(Value, Vec<(String, String)>), ImportError> {
    let (value, state) = parse_budgeted(text, format, "experiment")?;
    Ok((value, state.contributions))
}

/// How much a document may hold once parsed (YAML anchors expanded): values, and bytes of text.
pub const MAX_NODES: usize = 200_000;
/// See [`MAX_NODES`].
pub const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// What the budgeted parse saw besides the value: the first problem it refused (with Gameday's
/// wording), the `contributions` in the document's order, and YAML 1.1 boolean words to check.
#[derive(Default)]
pub(super) struct ParseState {
    yaml: bool,
    what: &'static str,
    nodes: usize,
    text_bytes: usize,
    error: Option<ImportError>,
    contributions: Vec<(String, String)>,
    /// Plain-looking strings that PyYAML (YAML 1.1) reads as booleans when unquoted: (key path, word).
    bool_words: Vec<(String, String)>,
}

/// Parses `text` once into a JSON value, counting values and text against [`MAX_NODES`] and
/// [`MAX_TEXT_BYTES`] as they are built (so YAML aliases cannot expand without bound), and
/// refusing NUL characters, YAML merge keys and keys that are not text. `what` names the document
/// in messages ("experiment", "journal").
pub(super) fn parse_budgeted(
    text: &str,
    format: Format,
    what: &'static str,
) -> Result<(Value, ParseState), ImportError> {
    use serde::de::DeserializeSeed;
    if text.contains('\0') {
        return Err(nul_error(""));
    }
    let mut state = ParseState { yaml: format == Format::Yaml, what, ..ParseState::default() };
    let result = match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = Node { state: &mut state, path: String::new() }.deserialize(&mut de).and_then(|v| {
                de.end()?;
                Ok(v)
            });
            value.map_err(|e| ImportError::at_line("JSON", e.line(), e.column(), &e.to_string()))
        }
        Format::Yaml => {
            let de = serde_yaml_ng::Deserializer::from_str(text);
            let value = Node { state: &mut state, path: String::new() }.deserialize(de);
            value.map_err(|e| match e.location() {
                Some(at) => ImportError::at_line("YAML", at.line(), at.column(), &e.to_string()),
                None => ImportError::new(format!("This is not valid YAML: {}.", human_detail(&e.to_string()))),
            })
        }
    };
    if let Some(error) = state.error.take() {
        return Err(error);
    }
    let value = result?;
    if let Some((path, word)) = state.bool_words.iter().find(|(_, word)| written_plain(text, word)) {
        let place = if path.is_empty() { "The top level".to_string() } else { format!("`{path}`") };
        let message = format!(
            "{place} is written {word} without quotes, which chaoslib (YAML 1.1) reads as true or false but Gameday \
             (YAML 1.2) reads as text: write true or false, or put it in quotes if you mean the text."
        );
        return Err(ImportError::at_key(path, message));
    }
    Ok((value, state))
}

fn nul_error(path: &str) -> ImportError {
    let message = if path.is_empty() {
        "The file contains a NUL character (\\0 or \\u0000), which Gameday cannot store: remove it.".to_string()
    } else {
        format!("`{path}` contains a NUL character (\\0 or \\u0000), which Gameday cannot store: remove it.")
    };
    ImportError { message, line: None, key: (!path.is_empty()).then(|| path.to_string()) }
}

/// The words PyYAML's YAML 1.1 resolver reads as booleans (it does not take `y` or `n`, nor mixed case).
const YAML11_BOOLS: &[&str] = &["yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"];

/// Whether `word` appears in the YAML text as a whole plain (unquoted) scalar: a key or a value
/// after `:`, `-`, `[`, `{`, `,` or `?`, and followed by the end of the line, a comment, `:`, `,`,
/// `]` or `}`. A heuristic on the text, since the parser does not say how a scalar was written.
fn written_plain(text: &str, word: &str) -> bool {
    text.lines().any(|line| {
        let mut from = 0;
        while let Some(found) = line[from..].find(word) {
            let start = from + found;
            let end = start + word.len();
            from = end;
            let before = line[..start].trim_end();
            let opens = before.is_empty() || before.ends_with([':', '-', '[', '{', ',', '?']);
            let after = line[end..].trim_start();
            let closes = after.is_empty() || after.starts_with(['#', ':', ',', ']', '}']);
            let glued = line[..start].ends_with(|c: char| !c.is_whitespace() && !"[{,".contains(c))
                || line[end..].starts_with(|c: char| !c.is_whitespace() && !":,]}".contains(c));
            if opens && closes && !glued {
                return true;
            }
        }
        false
    })
}

/// One value of the document being built (see [`parse_budgeted`]).
struct Node<'s> {
    state: &'s mut ParseState,
    path: String,
}

impl Node<'_> {
    fn count<E: serde::de::Error>(&mut self, text_bytes: usize) -> Result<(), E> {
        self.state.nodes += 1;
        self.state.text_bytes += text_bytes;
        if self.state.nodes > MAX_NODES || self.state.text_bytes > MAX_TEXT_BYTES {
            let how = if self.state.yaml { " once its YAML anchors are expanded" } else { "" };
            let message = format!(
                "The {} is too large{how} (more than {MAX_NODES} values or {} MiB of text): write it out without \
                 repeating so much.",
                self.state.what,
                MAX_TEXT_BYTES / (1024 * 1024)
            );
            return Err(self.fail(ImportError::new(message)));
        }
        Ok(())
    }

    fn fail<E: serde::de::Error>(&mut self, error: ImportError) -> E {
        let text = error.message.clone();
        self.state.error.get_or_insert(error);
        E::custom(text)
    }

    fn text<E: serde::de::Error>(&mut self, text: &str) -> Result<(), E> {
        self.count(text.len())?;
        if text.contains('\0') {
            let path = self.path.clone();
            return Err(self.fail(nul_error(&path)));
        }
        if self.state.yaml && YAML11_BOOLS.contains(&text) {
            self.state.bool_words.push((self.path.clone(), text.to_string()));
        }
        Ok(())
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Node<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: serde::de::Error>(mut self, v: bool) -> Result<Value, E> {
        self.count(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(mut self, v: i64) -> Result<Value, E> {
        self.count(0)?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(mut self, v: u64) -> Result<Value, E> {
        self.count(0)?;
        Ok(Value::from(v))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Value, E> {
        match (i64::try_from(v), u64::try_from(v)) {
            (Ok(v), _) => self.visit_i64(v),
            (_, Ok(v)) => self.visit_u64(v),
            _ => self.visit_f64(v as f64),
        }
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => self.visit_f64(v as f64),
        }
    }

    fn visit_f64<E: serde::de::Error>(mut self, v: f64) -> Result<Value, E> {
        self.count(0)?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<Value, E> {
        self.text(v)?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(mut self, v: String) -> Result<Value, E> {
        self.text(&v)?;
        Ok(Value::String(v))
    }

    fn visit_none<E: serde::de::Error>(mut self) -> Result<Value, E> {
        self.count(0)?;
        Ok(Value::Null)
    }

    fn visit_unit<E: serde::de::Error>(mut self) -> Result<Value, E> {
        self.count(0)?;
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.count(0)?;
        let mut list = Vec::new();
        while let Some(value) = seq.next_element_seed(Node { state: self.state, path: item(&self.path, list.len()) })? {
            list.push(value);
        }
        Ok(Value::Array(list))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        self.count(0)?;
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(Key { node: Node { state: self.state, path: self.path.clone() } })? {
            if self.state.yaml && key == "<<" {
                let place = if self.path.is_empty() { "the top level".to_string() } else { format!("`{}`", self.path) };
                let message = format!("YAML merge keys (<<) are not accepted at {place}: write the keys out.");
                let error = ImportError { message, line: None, key: Some(self.path.clone()) };
                return Err(self.fail(error));
            }
            let path = child(&self.path, &key);
            let value = map.next_value_seed(Node { state: self.state, path: path.clone() })?;
            if self.path == "contributions"
                && let Some(level) = value.as_str()
            {
                self.state.contributions.push((key.clone(), level.to_string()));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A mapping's key: text only. YAML keys may be numbers, booleans or null, which chaoslib would
/// see as such but JSON cannot hold (reading them as text would change their meaning), so they
/// are refused by key path; a list or mapping as a key is left to the parser's own error.
struct Key<'s> {
    node: Node<'s>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Key<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Key<'_> {
    fn not_text<E: serde::de::Error>(mut self, shown: &str) -> E {
        let path = self.node.path.clone();
        let place = if path.is_empty() { "The top level".to_string() } else { format!("`{path}`") };
        let message = format!("{place} has a key that is not text ({shown}): put it in quotes.");
        self.node.fail(ImportError { message, line: None, key: Some(path) })
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<String, E> {
        let path = self.node.path.clone();
        self.node.path = child(&path, v);
        self.node.text(v)?;
        Ok(v.to_string())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        Err(self.not_text(&v.to_string()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Err(self.not_text(&v.to_string()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Err(self.not_text(&v.to_string()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Err(self.not_text(&format!("{v:?}")))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<String, E> {
        Err(self.not_text("null"))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<String, E> {
        Err(self.not_text("null"))
    }
}

fn contributions(doc: &Map<String, Value>) -> Vec<(String, String)> {
    let Some(Value::Object(map)) = get(doc, "contributions") else { return Vec::new() };
    map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()
}

// ----- Small helpers on JSON values -----

/// A key's value, with `null` taken as absent (YAML's `key:` with nothing after it).
pub(super) fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

pub(super) fn str_of<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    get(map, key).and_then(Value::as_str).unwrap_or_default()
}

fn list_of<'a>(map: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    get(map, key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

pub(super) fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

pub(super) fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// At most `max` characters; a longer text is cut on a character boundary and ends with `note`.
pub(super) fn cut(text: &str, max: usize, note: &str) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(note.chars().count());
    let mut out: String = text.chars().take(keep).collect();
    out.truncate(out.trim_end().len());
    out + note
}

/// What a value is, for error messages (never the value itself, which may be a secret).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

// ----- Checking the shape, as chaostoolkit-lib does -----

/// Walks the experiment once: stops at the first part chaostoolkit-lib would refuse, lists the
/// keys Gameday does not know, and remembers activity names so `ref`s can be checked.
#[derive(Default)]
struct Checker {
    names: Vec<String>,
    unknown: Vec<String>,
}

type Checked = Result<(), ImportError>;

pub(super) fn wrong(key: &str, expected: &str, value: &Value) -> ImportError {
    ImportError::at_key(key, format!("`{key}` must be {expected} (it is {}).", kind(value)))
}

pub(super) fn missing(key: &str, why: &str) -> ImportError {
    ImportError::at_key(key, format!("`{key}` is missing: {why}."))
}

pub(super) fn one_of(key: &str, choices: &str, value: &Value) -> ImportError {
    match value.as_str() {
        Some(text) => ImportError::at_key(key, format!("`{key}` must be {choices} (it is {:?}).", cut(text, 40, "…"))),
        None => wrong(key, choices, value),
    }
}

pub(super) fn as_map<'a>(value: &'a Value, key: &str) -> Result<&'a Map<String, Value>, ImportError> {
    value.as_object().ok_or_else(|| wrong(key, "a mapping", value))
}

pub(super) fn as_list<'a>(value: &'a Value, key: &str) -> Result<&'a [Value], ImportError> {
    value.as_array().map(Vec::as_slice).ok_or_else(|| wrong(key, "a list", value))
}

/// The non-empty string at `map[key]`, which must be there.
fn required_text<'a>(map: &'a Map<String, Value>, path: &str, key: &str, why: &str) -> Result<&'a str, ImportError> {
    let at = child(path, key);
    match get(map, key) {
        None => Err(missing(&at, why)),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(other) => Err(wrong(&at, "a non-empty string", other)),
    }
}

/// Checks `map[key]` with `check` when it is there.
fn optional(map: &Map<String, Value>, path: &str, key: &str, check: impl FnOnce(&Value, &str) -> Checked) -> Checked {
    get(map, key).map_or(Ok(()), |value| check(value, &child(path, key)))
}

fn must(ok: bool, value: &Value, key: &str, expected: &str) -> Checked {
    if ok { Ok(()) } else { Err(wrong(key, expected, value)) }
}

impl Checker {
    fn note_unknown(&mut self, path: &str, map: &Map<String, Value>, known: &[&str]) {
        let unknown = map.keys().filter(|k| !known.contains(&k.as_str())).map(|k| child(path, k));
        self.unknown.extend(unknown);
    }

    fn experiment(&mut self, doc: &Map<String, Value>) -> Checked {
        self.note_unknown("", doc, TOP_KEYS);
        required_text(doc, "", "title", "an experiment needs a title")?;
        match get(doc, "description") {
            None => return Err(missing("description", "an experiment needs a description")),
            Some(value) => must(value.is_string(), value, "description", "a string")?,
        }
        optional(doc, "", "tags", |v, at| {
            for (i, tag) in as_list(v, at)?.iter().enumerate() {
                must(tag.as_str().is_some_and(|s| !s.trim().is_empty()), tag, &item(at, i), "a non-empty string")?;
            }
            Ok(())
        })?;
        optional(doc, "", "contributions", |v, at| {
            for (key, level) in as_map(v, at)? {
                must(level.is_string(), level, &child(at, key), "a string such as high, medium, low or none")?;
            }
            Ok(())
        })?;
        optional(doc, "", "configuration", |v, at| as_map(v, at).map(drop))?;
        optional(doc, "", "secrets", |v, at| as_map(v, at).map(drop))?;
        optional(doc, "", "extensions", |v, at| {
            for (i, ext) in as_list(v, at)?.iter().enumerate() {
                required_text(as_map(ext, &item(at, i))?, &item(at, i), "name", "each extension needs a name")?;
            }
            Ok(())
        })?;
        optional(doc, "", "controls", |v, at| self.controls(v, at))?;
        optional(doc, "", "steady-state-hypothesis", |v, at| self.hypothesis(v, at))?;
        match get(doc, "method") {
            None => return Err(missing("method", "an experiment needs a method, the list of its activities")),
            Some(method) => {
                let activities = as_list(method, "method")?;
                if activities.is_empty() {
                    return Err(ImportError::at_key("method", "`method` is empty: list at least one activity."));
                }
                self.activities(activities, "method")?;
            }
        }
        optional(doc, "", "rollbacks", |v, at| self.activities(as_list(v, at)?, at))
    }

    fn activities(&mut self, list: &[Value], path: &str) -> Checked {
        list.iter().enumerate().try_for_each(|(i, activity)| self.activity(activity, &item(path, i), false))
    }

    fn hypothesis(&mut self, value: &Value, path: &str) -> Checked {
        let ssh = as_map(value, path)?;
        self.note_unknown(path, ssh, HYPOTHESIS_KEYS);
        required_text(ssh, path, "title", "a steady-state hypothesis needs a title")?;
        optional(ssh, path, "controls", |v, at| self.controls(v, at))?;
        optional(ssh, path, "probes", |v, at| {
            for (i, probe) in as_list(v, at)?.iter().enumerate() {
                self.activity(probe, &item(at, i), true)?;
            }
            Ok(())
        })
    }

    /// An activity: a `ref` to one defined earlier, or a probe or action with a provider.
    /// Hypothesis probes also need a tolerance.
    fn activity(&mut self, value: &Value, path: &str, in_hypothesis: bool) -> Checked {
        let activity = as_map(value, path)?;
        self.note_unknown(path, activity, ACTIVITY_KEYS);
        if let Some(reference) = activity.get("ref") {
            let at = child(path, "ref");
            let name = reference.as_str().filter(|s| !s.is_empty()).ok_or_else(|| wrong(&at, "a name", reference))?;
            if !self.names.iter().any(|n| n == name) {
                let message = format!("`{at}` names `{name}`, but no activity of that name comes before it.");
                return Err(ImportError::at_key(&at, message));
            }
        } else {
            match get(activity, "type") {
                None => return Err(missing(&child(path, "type"), "say whether the activity is a probe or an action")),
                Some(t) if t == "probe" || t == "action" => {}
                Some(t) => return Err(one_of(&child(path, "type"), "probe or action", t)),
            }
            let name = required_text(activity, path, "name", "every activity needs a name")?;
            match get(activity, "provider") {
                None => {
                    return Err(missing(
                        &child(path, "provider"),
                        "say what runs the activity (python, http or process)",
                    ));
                }
                Some(provider) => self.provider(provider, &child(path, "provider"))?,
            }
            optional(activity, path, "pauses", |v, at| self.pauses(v, at))?;
            optional(activity, path, "background", |v, at| must(v.is_boolean(), v, at, "true or false"))?;
            optional(activity, path, "controls", |v, at| self.controls(v, at))?;
            optional(activity, path, "configuration", |v, at| as_map(v, at).map(drop))?;
            self.names.push(name.to_string());
        }
        if !in_hypothesis {
            return Ok(());
        }
        match activity.get("tolerance") {
            None => {
                Err(missing(&child(path, "tolerance"), "a hypothesis probe needs a tolerance, the result it expects"))
            }
            Some(tolerance) => self.tolerance(tolerance, &child(path, "tolerance")),
        }
    }

    fn provider(&mut self, value: &Value, path: &str) -> Checked {
        let provider = as_map(value, path)?;
        let at = child(path, "type");
        let Some(kind) = get(provider, "type") else { return Err(missing(&at, "it is python, http or process")) };
        match kind.as_str() {
            Some("python") => {
                self.note_unknown(path, provider, PYTHON_KEYS);
                required_text(provider, path, "module", "a Python provider needs its module")?;
                required_text(provider, path, "func", "a Python provider needs its function")?;
                optional(provider, path, "arguments", |v, at| as_map(v, at).map(drop))
            }
            Some("http") => {
                self.note_unknown(path, provider, HTTP_KEYS);
                required_text(provider, path, "url", "an HTTP provider needs its URL")?;
                optional(provider, path, "method", |v, at| must(v.is_string(), v, at, "a string such as GET"))?;
                optional(provider, path, "headers", |v, at| as_map(v, at).map(drop))?;
                optional(provider, path, "timeout", |v, at| {
                    let ok =
                        v.is_number() || v.is_string() || v.as_array().is_some_and(|l| l.iter().all(Value::is_number));
                    must(ok, v, at, "a number of seconds")
                })
            }
            Some("process") => {
                self.note_unknown(path, provider, PROCESS_KEYS);
                required_text(provider, path, "path", "a process provider needs the path of what it runs")?;
                optional(provider, path, "arguments", |v, at| {
                    must(v.is_string() || v.is_array() || v.is_object(), v, at, "a string or a list")
                })?;
                optional(provider, path, "timeout", |v, at| must(v.is_number(), v, at, "a number of seconds"))
            }
            _ => Err(one_of(&at, "python, http or process", kind)),
        }
    }

    fn pauses(&mut self, value: &Value, path: &str) -> Checked {
        let pauses = as_map(value, path)?;
        self.note_unknown(path, pauses, PAUSES_KEYS);
        for key in PAUSES_KEYS {
            optional(pauses, path, key, |v, at| must(v.is_number() || v.is_string(), v, at, "a number of seconds"))?;
        }
        Ok(())
    }

    fn controls(&mut self, value: &Value, path: &str) -> Checked {
        for (i, control) in as_list(value, path)?.iter().enumerate() {
            let at = item(path, i);
            let control = as_map(control, &at)?;
            self.note_unknown(&at, control, CONTROL_KEYS);
            required_text(control, &at, "name", "every control needs a name")?;
            let Some(provider) = get(control, "provider") else {
                return Err(missing(&child(&at, "provider"), "every control needs a provider"));
            };
            let provider = as_map(provider, &child(&at, "provider"))?;
            self.note_unknown(&child(&at, "provider"), provider, CONTROL_PROVIDER_KEYS);
            required_text(
                provider,
                &child(&at, "provider"),
                "type",
                "a control's provider needs a type, such as python",
            )?;
        }
        Ok(())
    }

    /// The accepted tolerances: true or false, a whole number, a string, a list, or a mapping
    /// whose `type` is probe, regex, jsonpath or range.
    fn tolerance(&mut self, value: &Value, path: &str) -> Checked {
        let tolerance = match value {
            Value::Bool(_) | Value::String(_) | Value::Array(_) => return Ok(()),
            Value::Number(n) if n.is_i64() || n.is_u64() => return Ok(()),
            Value::Object(map) => map,
            _ => {
                let expected = "true or false, a whole number, a string, a list, or a mapping with a type";
                return Err(wrong(path, expected, value));
            }
        };
        let at = child(path, "type");
        let target = |v: &Value, at: &str| must(v.is_string(), v, at, "a string");
        match get(tolerance, "type").and_then(Value::as_str) {
            Some("probe") => self.activity(value, path, false),
            Some("regex") => {
                self.note_unknown(path, tolerance, &["type", "pattern", "target"]);
                required_text(tolerance, path, "pattern", "a regex tolerance needs a pattern")?;
                optional(tolerance, path, "target", target)
            }
            Some("jsonpath") => {
                self.note_unknown(path, tolerance, &["type", "path", "target", "expect", "count"]);
                required_text(tolerance, path, "path", "a jsonpath tolerance needs a path")?;
                optional(tolerance, path, "count", |v, at| must(v.is_u64(), v, at, "a whole number"))?;
                optional(tolerance, path, "target", target)
            }
            Some("range") => {
                self.note_unknown(path, tolerance, &["type", "range", "target"]);
                let Some(range) = get(tolerance, "range") else {
                    return Err(missing(&child(path, "range"), "a range tolerance needs its two bounds"));
                };
                let ok = range.as_array().is_some_and(|r| r.len() == 2 && r.iter().all(Value::is_number));
                must(ok, range, &child(path, "range"), "a list of two numbers")?;
                optional(tolerance, path, "target", target)
            }
            _ => Err(one_of(&at, "probe, regex, jsonpath or range", tolerance.get("type").unwrap_or(&Value::Null))),
        }
    }
}

// ----- Redaction -----

fn looks_like_credential_key(key: &str) -> bool {
    credential_key(key)
}

/// Whether a key, flag or header name says its value is a credential: lower case, without `-`, `_`
/// and spaces, it names a password, secret, token, key, credential, authorization, cookie, session…
pub(super) fn credential_key(key: &str) -> bool {
    #[rustfmt::skip]
    const ANYWHERE: &[&str] = &[
        "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "credential",
        "authorization", "authorisation", "authentication", "cookie", "jwt", "webhook", "sessionid", "sessionkey",
        "pwd",
    ];
    let key: String =
        key.chars().filter(|c| !matches!(c, '-' | '_' | ' ' | '.')).collect::<String>().to_ascii_lowercase();
    if key.is_empty() {
        return false;
    }
    ANYWHERE.iter().any(|w| key.contains(w))
        || key == "pass"
        || key.ends_with("pass") && !key.ends_with("bypass") && !key.ends_with("compass")
        || key == "auth"
        || key.ends_with("auth")
        || key.starts_with("auth") && !key.starts_with("author") && !key.starts_with("authority")
        || key.ends_with("session")
}

/// A literal written in place, as opposed to a `${name}` substituted by chaoslib at run time.
fn is_literal(text: &str) -> bool {
    !text.contains("${") && !text.trim().is_empty()
}

fn looks_like_credential(text: &str) -> bool {
    const PREFIXES: &[&str] = &["Bearer ", "Basic ", "ghp_", "github_pat_", "xoxb-", "xoxp-", "-----BEGIN", "sk_live_"];
    let text = text.trim();
    let aws = text.strip_prefix("AKIA").is_some_and(|rest| {
        rest.len() >= 16 && rest.bytes().take(16).all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    is_literal(text) && (aws || PREFIXES.iter().any(|p| text.starts_with(p)) || url_password(text).is_some())
}

/// Where the password of a `scheme://user:password@host/…` URL is, when it has a literal one.
fn url_password(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let authority = &url[start..];
    let authority = &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    let password = &authority[colon + 1..at];
    is_literal(password).then(|| start + colon + 1..start + at)
}

/// An environment variable's name from a key: upper case, anything else than letters and digits as `_`.
fn env_case(name: &str) -> String {
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    let name = name.trim_matches('_');
    match name.chars().next() {
        None => "SECRET".to_string(),
        Some(c) if c.is_ascii_digit() => format!("SECRET_{name}"),
        Some(_) => name.to_string(),
    }
}

/// Replaces literal credentials with references to environment variables, so the document can be
/// kept, shown and exported, and still runs once those variables are set.
#[derive(Default)]
struct Redactor {
    lines: Vec<String>,
    /// Environment variables handed out, with the value each replaces (kept in memory only):
    /// the same value reuses its variable, a different one gets a new name.
    env: Vec<(String, String)>,
    /// Secrets to add to the `imported` scope: (secret name, environment variable).
    imported: Vec<(String, String)>,
}

impl Redactor {
    fn redact(mut self, doc: &mut Map<String, Value>) -> Vec<String> {
        if let Some(Value::Object(configuration)) = doc.get_mut("configuration") {
            for (key, value) in configuration.iter_mut() {
                self.configuration(&child("configuration", key), key, value);
            }
        }
        if let Some(Value::Object(secrets)) = doc.get_mut("secrets") {
            for (scope, value) in secrets.iter_mut() {
                self.secret(&child("secrets", scope), scope, value);
            }
        }
        self.controls(doc.get_mut("controls"), "controls");
        if let Some(Value::Object(ssh)) = doc.get_mut("steady-state-hypothesis") {
            self.controls(ssh.get_mut("controls"), "steady-state-hypothesis.controls");
            self.activities(ssh.get_mut("probes"), "steady-state-hypothesis.probes");
        }
        self.activities(doc.get_mut("method"), "method");
        self.activities(doc.get_mut("rollbacks"), "rollbacks");
        self.sweep_document(doc);
        self.add_imported_secrets(doc);
        self.lines
    }

    fn env_name(&mut self, name: &str, value: &str) -> String {
        let base = env_case(name);
        for n in 1.. {
            let candidate = if n == 1 { base.clone() } else { format!("{base}_{n}") };
            match self.env.iter().find(|(env, _)| *env == candidate) {
                Some((_, known)) if known == value => return candidate,
                Some(_) => continue,
                None => {
                    self.env.push((candidate.clone(), value.to_string()));
                    return candidate;
                }
            }
        }
        base
    }

    /// Replaces a value of the configuration or the secrets by `{"type": "env", "key": NAME}`.
    fn replace_with_env(&mut self, path: &str, name: &str, value: &mut Value) {
        let literal = value.as_str().map_or_else(|| value.to_string(), String::from);
        let key = self.env_name(name, &literal);
        self.lines.push(format!("{path}: its value was replaced by the environment variable {key}"));
        *value = json!({"type": "env", "key": key});
    }

    /// Replaces a credential inside an activity by `${name}`, a secret of the `imported` scope
    /// read from an environment variable.
    fn replace_with_placeholder(&mut self, path: &str, name: &str, value: &str) -> String {
        let key = self.env_name(name, value);
        let secret = key.to_ascii_lowercase();
        if !self.imported.iter().any(|(s, _)| *s == secret) {
            self.imported.push((secret.clone(), key.clone()));
        }
        self.lines.push(format!(
            "{path}: its value was replaced by ${{{secret}}}, the secret `{secret}` read from the environment variable {key}"
        ));
        format!("${{{secret}}}")
    }

    fn configuration(&mut self, path: &str, key: &str, value: &mut Value) {
        match value {
            Value::Object(map) if map.contains_key("type") => {
                if matches!(map.get("type").and_then(Value::as_str), Some("probe" | "action")) {
                    self.activity(value, path);
                } else {
                    self.typed_reference(path, looks_like_credential_key(key), map);
                }
            }
            Value::Object(map) => map.iter_mut().for_each(|(k, v)| self.configuration(&child(path, k), k, v)),
            Value::Array(list) => {
                list.iter_mut().enumerate().for_each(|(i, v)| self.configuration(&item(path, i), key, v))
            }
            Value::String(s) if is_literal(s) && (looks_like_credential_key(key) || looks_like_credential(s)) => {
                self.replace_with_env(path, key, value)
            }
            Value::Number(_) if looks_like_credential_key(key) => self.replace_with_env(path, key, value),
            _ => {}
        }
    }

    /// Secrets are scopes of names; a mapping with a `type` is a reference (env, vault…), any
    /// other value is the secret itself.
    fn secret(&mut self, path: &str, name: &str, value: &mut Value) {
        match value {
            Value::Null => {}
            Value::Object(map) if is_reference(map) => self.typed_reference(path, true, map),
            // chaoslib only takes env and vault as references and reads any other mapping as
            // nested secrets, whose `type` is one of them.
            Value::Object(map) => map
                .iter_mut()
                .filter(|(k, v)| !(*k == "type" && v.as_str().is_some_and(|t| !looks_like_credential(t))))
                .for_each(|(k, v)| self.secret(&child(path, k), k, v)),
            Value::Bool(_) => {}
            _ => self.replace_with_env(path, name, value),
        }
    }

    /// A reference such as `{"type": "env", "key": "X", "default": "…"}` is kept, but a literal
    /// it carries (a default or a credential-like field) is replaced by the text REDACTED.
    fn typed_reference(&mut self, path: &str, secret: bool, map: &mut Map<String, Value>) {
        let secret = secret || str_of(map, "key").split(['/', '.']).any(credential_key);
        for (key, value) in map.iter_mut().filter(|(k, _)| *k != "type") {
            let Some(text) = value.as_str() else { continue };
            let holds_value = secret && matches!(key.as_str(), "default" | "value");
            if is_literal(text) && (holds_value || looks_like_credential_key(key) || looks_like_credential(text)) {
                self.lines.push(format!("{}: its value was replaced by the text REDACTED", child(path, key)));
                *value = Value::String("REDACTED".into());
            }
        }
    }

    fn activities(&mut self, list: Option<&mut Value>, path: &str) {
        if let Some(Value::Array(list)) = list {
            list.iter_mut().enumerate().for_each(|(i, activity)| self.activity(activity, &item(path, i)));
        }
    }

    fn controls(&mut self, list: Option<&mut Value>, path: &str) {
        if let Some(Value::Array(list)) = list {
            for (i, control) in list.iter_mut().enumerate() {
                if let Some(Value::Object(provider)) = control.get_mut("provider") {
                    self.provider(&child(&item(path, i), "provider"), provider);
                }
            }
        }
    }

    fn activity(&mut self, value: &mut Value, path: &str) {
        let Value::Object(activity) = value else { return };
        if let Some(Value::Object(provider)) = activity.get_mut("provider") {
            self.provider(&child(path, "provider"), provider);
        }
        if let Some(tolerance @ Value::Object(_)) = activity.get_mut("tolerance") {
            self.activity(tolerance, &child(path, "tolerance"));
        }
        self.controls(activity.get_mut("controls"), &child(path, "controls"));
        if let Some(Value::Object(configuration)) = activity.get_mut("configuration") {
            for (key, value) in configuration.iter_mut() {
                self.configuration(&child(&child(path, "configuration"), key), key, value);
            }
        }
    }

    fn provider(&mut self, path: &str, provider: &mut Map<String, Value>) {
        if let Some(Value::Object(headers)) = provider.get_mut("headers") {
            for (name, value) in headers.iter_mut() {
                let literal = value.as_str().map_or(value.is_number(), is_literal);
                let text = value.as_str().map_or_else(|| value.to_string(), String::from);
                if literal && (credential_header(name) || looks_like_credential(&text)) {
                    *value = Value::String(self.replace_with_placeholder(
                        &child(&child(path, "headers"), name),
                        name,
                        &text,
                    ));
                }
            }
        }
        if let Some(Value::String(url)) = provider.get_mut("url")
            && let Some(range) = url_password(url)
        {
            let password = url[range.clone()].to_string();
            let placeholder =
                self.replace_with_placeholder(&format!("{path}.url (its password)"), "url_password", &password);
            url.replace_range(range, &placeholder);
        }
        if let Some(arguments) = provider.get_mut("arguments") {
            self.arguments(&child(path, "arguments"), None, arguments);
        }
    }

    fn arguments(&mut self, path: &str, key: Option<&str>, value: &mut Value) {
        match value {
            Value::Object(map) => map.iter_mut().for_each(|(k, v)| self.arguments(&child(path, k), Some(k), v)),
            Value::Array(list) => list.iter_mut().enumerate().for_each(|(i, v)| self.arguments(&item(path, i), key, v)),
            Value::String(text)
                if is_literal(text) && (key.is_some_and(looks_like_credential_key) || looks_like_credential(text)) =>
            {
                *text = self.replace_with_placeholder(path, key.unwrap_or("credential"), text);
            }
            _ => {}
        }
    }

    fn add_imported_secrets(&self, doc: &mut Map<String, Value>) {
        if self.imported.is_empty() {
            return;
        }
        let secrets = doc.entry("secrets").or_insert_with(|| json!({}));
        let Value::Object(secrets) = secrets else { return };
        let scope = secrets.entry(IMPORTED_SCOPE).or_insert_with(|| json!({}));
        let Value::Object(scope) = scope else { return };
        for (name, key) in &self.imported {
            scope.entry(name.clone()).or_insert_with(|| json!({"type": "env", "key": key}));
        }
    }
}

/// Where a value sits, which decides what replaces a credential found there by the last pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Where chaoslib substitutes `${name}` (provider fields, arguments, headers): the secret
    /// becomes a `${name}` of the `imported` scope, read from an environment variable.
    Runnable,
    /// A value of the configuration or the secrets: it becomes `{"type": "env", "key": NAME}`.
    Configuration,
    /// Anywhere else (extensions, runtime, unknown keys): the text REDACTED.
    Elsewhere,
}

/// An `env` or `vault` reference, the only mappings chaoslib reads as references.
fn is_reference(map: &Map<String, Value>) -> bool {
    matches!(map.get("type").and_then(Value::as_str), Some("env" | "vault"))
}

/// A list of names, such as an activity's `secrets: ["k8s"]`.
fn is_name_list(value: &Value) -> bool {
    value.as_array().is_some_and(|list| list.iter().all(Value::is_string))
}

/// A literal that can be a credential: a number, or text that is more than `${name}` substitutions.
fn is_secret_literal(value: &Value) -> bool {
    match value {
        Value::String(text) => !only_substitutions(text),
        Value::Number(_) => true,
        _ => false,
    }
}

/// A command-line flag that names a credential and takes the next argument as its value, such as
/// `--password` or `--api-key` (not single letters such as `-p`).
fn credential_flag(value: &Value) -> Option<String> {
    let text = value.as_str()?.trim();
    let name = text.strip_prefix('-')?.trim_start_matches('-');
    let plain = name.len() >= 3 && !name.contains(['=', ' ', '\t']);
    (plain && credential_key(name)).then(|| name.to_string())
}

impl Redactor {
    /// The last pass, over the whole document: any literal under a credential-like key, and any
    /// credential written inside text (URL user-info, `Bearer …`, known token prefixes, private
    /// keys, `--token=…`, `Authorization: …`, the value after `--password`).
    fn sweep_document(&mut self, doc: &mut Map<String, Value>) {
        for (key, value) in doc.iter_mut() {
            let path = key.as_str();
            match path {
                "configuration" => self.sweep_configuration(path, value),
                "secrets" => match value {
                    Value::Object(scopes) => {
                        for (scope, names) in scopes.iter_mut() {
                            self.sweep_entry(&child(path, scope), scope, false, Place::Configuration, names);
                        }
                    }
                    other => self.sweep(path, key, false, Place::Elsewhere, other),
                },
                "method" | "rollbacks" => self.sweep_activities(path, value),
                "controls" => self.sweep_controls(path, value),
                "steady-state-hypothesis" => match value {
                    Value::Object(ssh) => {
                        for (k, v) in ssh.iter_mut() {
                            let at = child(path, k);
                            match k.as_str() {
                                "probes" => self.sweep_activities(&at, v),
                                "controls" => self.sweep_controls(&at, v),
                                _ => self.sweep_entry(&at, k, false, Place::Elsewhere, v),
                            }
                        }
                    }
                    other => self.sweep(path, key, false, Place::Elsewhere, other),
                },
                _ => self.sweep_entry(path, key, false, Place::Elsewhere, value),
            }
        }
    }

    fn sweep_configuration(&mut self, path: &str, value: &mut Value) {
        let Value::Object(configuration) = value else { return self.sweep(path, "", false, Place::Elsewhere, value) };
        for (name, value) in configuration.iter_mut() {
            let at = child(path, name);
            if matches!(value.get("type").and_then(Value::as_str), Some("probe" | "action")) {
                self.sweep_activity(&at, value);
            } else {
                self.sweep_entry(&at, name, false, Place::Configuration, value);
            }
        }
    }

    fn sweep_activities(&mut self, path: &str, value: &mut Value) {
        match value {
            Value::Array(list) => {
                list.iter_mut().enumerate().for_each(|(i, activity)| self.sweep_activity(&item(path, i), activity))
            }
            other => self.sweep(path, "", false, Place::Elsewhere, other),
        }
    }

    fn sweep_activity(&mut self, path: &str, value: &mut Value) {
        let Value::Object(activity) = value else { return self.sweep(path, "", false, Place::Elsewhere, value) };
        for (key, value) in activity.iter_mut() {
            let at = child(path, key);
            match key.as_str() {
                "provider" => self.sweep_provider(&at, value),
                "configuration" => self.sweep_configuration(&at, value),
                "controls" => self.sweep_controls(&at, value),
                "tolerance" if value.get("type").and_then(Value::as_str) == Some("probe") => {
                    self.sweep_activity(&at, value)
                }
                "secrets" if is_name_list(value) => {}
                _ => self.sweep_entry(&at, key, false, Place::Elsewhere, value),
            }
        }
    }

    fn sweep_controls(&mut self, path: &str, value: &mut Value) {
        let Value::Array(controls) = value else { return self.sweep(path, "", false, Place::Elsewhere, value) };
        for (i, control) in controls.iter_mut().enumerate() {
            let at = item(path, i);
            let Value::Object(control) = control else {
                self.sweep(&at, "", false, Place::Elsewhere, control);
                continue;
            };
            for (key, value) in control.iter_mut() {
                match key.as_str() {
                    "provider" => self.sweep_provider(&child(&at, key), value),
                    _ => self.sweep_entry(&child(&at, key), key, false, Place::Elsewhere, value),
                }
            }
        }
    }

    /// A provider's own fields are substituted by chaoslib; keys it does not know are not.
    fn sweep_provider(&mut self, path: &str, value: &mut Value) {
        let Value::Object(provider) = value else { return self.sweep(path, "", false, Place::Elsewhere, value) };
        let known = match str_of(provider, "type") {
            "python" => PYTHON_KEYS,
            "http" => HTTP_KEYS,
            "process" => PROCESS_KEYS,
            _ => CONTROL_PROVIDER_KEYS,
        };
        for (key, value) in provider.iter_mut() {
            if key == "type" || key == "secrets" && is_name_list(value) {
                continue;
            }
            let place = if known.contains(&key.as_str()) { Place::Runnable } else { Place::Elsewhere };
            self.sweep_entry(&child(path, key), key, false, place, value);
        }
    }

    /// A value under `key`: a credential when `key` (or a key above it) names one.
    fn sweep_entry(&mut self, path: &str, key: &str, secret_above: bool, place: Place, value: &mut Value) {
        let secret = secret_above || (credential_key(key) && !(key == "secrets" && is_name_list(value)));
        self.sweep(path, key, secret, place, value);
    }

    fn sweep(&mut self, path: &str, name: &str, secret: bool, place: Place, value: &mut Value) {
        let whole = match &*value {
            Value::String(text) => secret && !only_substitutions(text),
            Value::Number(_) => secret,
            _ => false,
        };
        if whole {
            return self.sweep_whole(path, name, place, value);
        }
        match value {
            Value::Object(map) if is_reference(map) => self.sweep_reference(path, name, secret, map),
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    self.sweep_entry(&child(path, key), key, secret, place, value);
                }
            }
            Value::Array(list) => {
                let mut flag: Option<String> = None;
                for (i, value) in list.iter_mut().enumerate() {
                    let at = item(path, i);
                    if let Some(flag) = flag.take()
                        && is_secret_literal(value)
                    {
                        self.sweep_whole(&at, &flag, place, value);
                        continue;
                    }
                    flag = credential_flag(value);
                    self.sweep(&at, name, secret, place, value);
                }
            }
            Value::String(_) => self.sweep_text(path, place, value),
            _ => {}
        }
    }

    /// An env or vault reference: its `default` or `value` is a literal secret when the
    /// reference is a secret, or its name or variable looks like one.
    fn sweep_reference(&mut self, path: &str, name: &str, secret: bool, map: &mut Map<String, Value>) {
        let secret = secret || credential_key(name) || str_of(map, "key").split(['/', '.']).any(credential_key);
        for (key, value) in map.iter_mut() {
            let at = child(path, key);
            match key.as_str() {
                "type" => {}
                "default" | "value" if secret => self.redact_leaves(&at, value),
                _ => self.sweep_entry(&at, key, false, Place::Elsewhere, value),
            }
        }
    }

    fn redact_leaves(&mut self, path: &str, value: &mut Value) {
        match value {
            Value::Object(map) => map.iter_mut().for_each(|(k, v)| self.redact_leaves(&child(path, k), v)),
            Value::Array(list) => list.iter_mut().enumerate().for_each(|(i, v)| self.redact_leaves(&item(path, i), v)),
            _ if is_secret_literal(value) => {
                self.lines.push(format!("{path}: its value was replaced by the text REDACTED"));
                *value = Value::String("REDACTED".into());
            }
            _ => {}
        }
    }

    /// Replaces a whole literal as its place requires.
    fn sweep_whole(&mut self, path: &str, name: &str, place: Place, value: &mut Value) {
        let name = if name.trim().is_empty() { "credential" } else { name };
        match place {
            Place::Runnable => {
                let literal = value.as_str().map_or_else(|| value.to_string(), String::from);
                *value = Value::String(self.replace_with_placeholder(path, name, &literal));
            }
            Place::Configuration => self.replace_with_env(path, name, value),
            Place::Elsewhere => {
                self.lines.push(format!("{path}: its value was replaced by the text REDACTED"));
                *value = Value::String("REDACTED".into());
            }
        }
    }

    /// Replaces the credentials written inside a text.
    fn sweep_text(&mut self, path: &str, place: Place, value: &mut Value) {
        let Value::String(text) = value else { return };
        let found = find_secrets(text, false);
        let Some((_, first)) = found.first() else { return };
        if place == Place::Configuration {
            let name = first.clone();
            return self.replace_with_env(path, &name, value);
        }
        let mut out = text.clone();
        for (range, name) in found.iter().rev() {
            let replacement = if place == Place::Runnable {
                self.replace_with_placeholder(&format!("{path} (part of it)"), name, &text[range.clone()])
            } else {
                self.lines.push(format!("{path}: a credential in it ({name}) was replaced by the text REDACTED"));
                "REDACTED".to_string()
            };
            out.replace_range(range.clone(), &replacement);
        }
        *text = out;
    }
}

// ----- Credentials inside text -----

/// Token prefixes of well-known services.
#[rustfmt::skip]
const TOKEN_PREFIXES: &[&str] = &[
    "github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "xoxs-", "sk_live_",
    "rk_live_",
];

/// Whether a text holds nothing but `${name}` substitutions (with an auth scheme or separators).
pub(super) fn only_substitutions(text: &str) -> bool {
    let mut rest = String::new();
    let mut tail = text;
    while let Some(open) = tail.find("${") {
        rest.push_str(&tail[..open]);
        match tail[open..].find('}') {
            Some(close) => tail = &tail[open + close + 1..],
            None => {
                rest.push_str(&tail[open..]);
                tail = "";
            }
        }
    }
    rest.push_str(tail);
    let rest = rest.trim().to_ascii_lowercase();
    let rest = ["bearer", "basic", "token"].iter().find_map(|p| rest.strip_prefix(p)).unwrap_or(&rest);
    rest.chars().all(|c| c.is_whitespace() || ":/@-_.,;".contains(c))
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.~+/=".contains(c)
}

/// A word that reads like a token rather than a user name or a word of prose.
fn token_like(word: &str) -> bool {
    let chars = word.chars().count();
    let digit = word.chars().any(|c| c.is_ascii_digit());
    let symbol = word.chars().any(|c| "-_.~+/=".contains(c));
    let mixed = word.chars().any(|c| c.is_ascii_uppercase()) && word.chars().any(|c| c.is_ascii_lowercase());
    word.chars().all(is_token_char)
        && (TOKEN_PREFIXES.iter().any(|p| word.starts_with(p))
            || chars >= 32
            || chars >= 8 && (digit || symbol)
            || chars >= 12 && mixed)
}

/// The length of an authorization scheme (`Bearer `, `Basic `, `Token `, `Digest `) opening a value.
fn scheme_len(value: &str) -> Option<usize> {
    let lower = value.to_ascii_lowercase();
    let scheme = ["bearer", "basic", "token", "digest"].into_iter().find(|s| lower.starts_with(s))?;
    let rest = &value[scheme.len()..];
    let spaces = rest.len() - rest.trim_start().len();
    (spaces > 0).then_some(scheme.len() + spaces)
}

/// Names of headers whose value is a credential, written `Name: value` in a text.
fn header_like(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(lower.as_str(), "authorization" | "proxy-authorization" | "cookie" | "set-cookie")
        || lower.contains('-') && !lower.starts_with('-') && credential_key(&lower)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// Where the credentials in a text are, each with a name for the secret it becomes. `generic`
/// also takes any `key: value` whose key names a credential (for outputs and logs); without it,
/// only `Header-Name: value` for credential headers and `"key": "value"` with a quoted key.
pub(super) fn find_secrets(text: &str, generic: bool) -> Vec<(std::ops::Range<usize>, String)> {
    let mut found: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    // URL user-info: scheme://user:password@host, or scheme://token@host.
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let start = from + i + 3;
        from = start;
        let rest = &text[start..];
        let end = rest.find(|c: char| c.is_whitespace() || "/?#\"'<>`()[],".contains(c)).unwrap_or(rest.len());
        let Some(at) = rest[..end].rfind('@') else { continue };
        let userinfo = &rest[..at];
        match userinfo.find(':') {
            Some(colon) => {
                let password = &userinfo[colon + 1..];
                if !password.is_empty() && !only_substitutions(password) {
                    found.push((start + colon + 1..start + at, "url_password".into()));
                }
            }
            None if token_like(userinfo) && !only_substitutions(userinfo) => {
                found.push((start..start + at, "url_token".into()))
            }
            None => {}
        }
    }
    // key=value, --flag value, Header: value, "key": "value".
    let mut i = 0;
    while i < text.len() {
        let Some(c) = text[i..].chars().next() else { break };
        let starts_word = is_word_char(c) && !text[..i].ends_with(is_word_char);
        if !starts_word {
            i += c.len_utf8();
            continue;
        }
        let end = text[i..].find(|c: char| !is_word_char(c)).map_or(text.len(), |n| i + n);
        let word = &text[i..end];
        let name = word.trim_start_matches('-').trim_end_matches('.');
        if credential_key(name)
            && let Some(value) = value_after(text, i, end, word, generic)
        {
            found.push((value, name.to_string()));
        }
        i = end;
    }
    // Bearer, Basic and Token followed by a token.
    let lower = text.to_ascii_lowercase();
    for scheme in ["bearer", "basic", "token"] {
        let mut from = 0;
        while let Some(n) = lower[from..].find(scheme) {
            let start = from + n;
            from = start + scheme.len();
            if text[..start].ends_with(is_word_char) {
                continue;
            }
            let rest = &text[from..];
            let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            let token_start = from + spaces;
            let token_end =
                text[token_start..].find(|c: char| !is_token_char(c)).map_or(text.len(), |n| token_start + n);
            let token = &text[token_start..token_end];
            let whole = text.trim() == &text[start..token_end];
            if spaces > 0 && !token.is_empty() && !only_substitutions(token) && (whole || token_like(token)) {
                found.push((token_start..token_end, "token".into()));
            }
        }
    }
    // Known token prefixes, AWS access keys and private keys, anywhere.
    for prefix in TOKEN_PREFIXES {
        let mut from = 0;
        while let Some(n) = text[from..].find(prefix) {
            let start = from + n;
            let end = text[start + prefix.len()..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .map_or(text.len(), |n| start + prefix.len() + n);
            from = end.max(start + 1);
            if end > start + prefix.len() && !text[..start].ends_with(|c: char| c.is_ascii_alphanumeric()) {
                found.push((start..end, "token".into()));
            }
        }
    }
    let mut from = 0;
    while let Some(n) = text[from..].find("AKIA") {
        let start = from + n;
        from = start + 4;
        let key = text[start + 4..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit()).count();
        if key >= 16 && !text[..start].ends_with(|c: char| c.is_ascii_alphanumeric()) {
            found.push((start..start + 4 + key, "aws_access_key_id".into()));
        }
    }
    let mut from = 0;
    while let Some(n) = text[from..].find("-----BEGIN") {
        let start = from + n;
        let header_end = text[start + 10..].find("-----").map_or(text.len(), |n| start + 10 + n + 5);
        from = header_end.max(start + 10);
        if !text[start..header_end].contains("PRIVATE KEY") {
            continue;
        }
        let end = match text[header_end..].find("-----END") {
            Some(n) => {
                let footer = header_end + n + 8;
                text[footer..].find("-----").map_or(text.len(), |n| footer + n + 5)
            }
            None => text.len(),
        };
        found.push((start..end, "private_key".into()));
        from = end;
    }
    found.sort_by_key(|(range, _)| (range.start, usize::MAX - range.end));
    let mut kept: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for (range, name) in found {
        match kept.last_mut() {
            Some((last, _)) if range.start < last.end => last.end = last.end.max(range.end),
            _ => kept.push((range, name)),
        }
    }
    kept
}

/// The value after a credential-like word at `start..end`, if one follows: `=value`, `: value`
/// (see [`find_secrets`]), or the next word after a `--flag`.
fn value_after(text: &str, start: usize, end: usize, word: &str, generic: bool) -> Option<std::ops::Range<usize>> {
    let quote = text[..start].chars().next_back().filter(|c| *c == '"' || *c == '\'');
    let mut j = end;
    if let Some(q) = quote
        && text[j..].starts_with(q)
    {
        j += 1;
    }
    let after = &text[j..];
    let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
    let k = j + spaces;
    let name = word.trim_start_matches('-');
    let header = header_like(name);
    let (value_start, to_line_end) = match text[k..].chars().next() {
        Some('=') => (k + 1, false),
        Some(':') if (generic || header || quote.is_some()) && !text[k + 1..].starts_with("//") => (k + 1, header),
        Some(c) if word.starts_with("--") && spaces > 0 && c != '-' && !word.contains('=') => (k, false),
        _ => return None,
    };
    let rest = &text[value_start..];
    let v = value_start + (rest.len() - rest.trim_start_matches([' ', '\t']).len());
    let (vs, ve) = match text[v..].chars().next() {
        Some(q @ ('"' | '\'')) => {
            let mut close = None;
            let mut escaped = false;
            for (n, c) in text[v + 1..].char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    close = Some(v + 1 + n);
                    break;
                }
            }
            (v + 1, close.unwrap_or(text.len()))
        }
        _ if to_line_end => {
            let line_end = text[v..].find(['\n', '\r', '"', '\'', '\\']).map_or(text.len(), |n| v + n);
            (v, v + text[v..line_end].trim_end().len())
        }
        _ => {
            // Up to a delimiter, but through a `${name}` substitution.
            let mut inside = false;
            let mut end = text.len();
            for (n, c) in text[v..].char_indices() {
                if text[v + n..].starts_with("${") {
                    inside = true;
                } else if inside && c == '}' {
                    inside = false;
                } else if !inside && (c.is_whitespace() || "&;,\"')]}#<>".contains(c)) {
                    end = v + n;
                    break;
                }
            }
            (v, end)
        }
    };
    let value = &text[vs..ve];
    if value.is_empty() || only_substitutions(value) {
        return None;
    }
    let vs = match scheme_len(value) {
        Some(n) if n < value.len() => vs + n,
        _ => vs,
    };
    Some(vs..ve)
}

/// A text with every credential [`find_secrets`] sees replaced by REDACTED, for outputs and logs.
pub fn scrub_text(text: &str) -> String {
    let mut out = text.to_string();
    for (range, _) in find_secrets(text, true).into_iter().rev() {
        out.replace_range(range, "REDACTED");
    }
    out
}

fn credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "authorization" | "proxy-authorization" | "cookie" | "x-api-key" | "x-auth-token")
        || ["token", "secret", "key"].iter().any(|w| name.contains(w))
}

// ----- Words -----

/// A value as people read it: strings quoted, structures as compact JSON, cut at 200 characters.
fn compact(value: &Value) -> String {
    cut(&value.to_string(), VALUE_CHARS, "…")
}

/// A number of seconds, or the `${name}` chaoslib substitutes.
fn seconds(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s} s"),
        other => format!("{other} s"),
    }
}

fn hypothesis_words(doc: &Map<String, Value>) -> String {
    let description = str_of(doc, "description").trim();
    let Some(Value::Object(ssh)) = get(doc, "steady-state-hypothesis") else {
        return if description.is_empty() { TO_BE_AGREED.to_string() } else { description.to_string() };
    };
    let mut text = String::new();
    if !description.is_empty() {
        text = format!("{description}\n\n");
    }
    let probes = list_of(ssh, "probes");
    let title = str_of(ssh, "title").trim();
    if probes.is_empty() {
        text += &format!("Steady state \"{title}\" (it has no probes yet).");
    } else {
        text += &format!("Steady state \"{title}\" holds when:");
        for probe in probes {
            text += &format!("\n- {}", activity_words(probe));
        }
    }
    text + &controls_words(list_of(ssh, "controls"))
}

fn method_words(doc: &Map<String, Value>) -> String {
    let mut text = "The experiment's method:".to_string() + &numbered(list_of(doc, "method"));
    text += &controls_words(list_of(doc, "controls"));
    text
}

fn rollback_words(doc: &Map<String, Value>) -> String {
    let rollbacks = list_of(doc, "rollbacks");
    if rollbacks.is_empty() {
        return TO_BE_AGREED.to_string();
    }
    "The experiment's rollbacks:".to_string() + &numbered(rollbacks)
}

fn numbered(activities: &[Value]) -> String {
    activities.iter().enumerate().map(|(i, a)| format!("\n{}. {}", i + 1, activity_words(a))).collect()
}

fn controls_words(controls: &[Value]) -> String {
    let named: Vec<String> = controls.iter().filter_map(Value::as_object).map(control_words).collect();
    if named.is_empty() { String::new() } else { format!("\n\nControls: {}.", named.join(", ")) }
}

fn control_words(control: &Map<String, Value>) -> String {
    let name = str_of(control, "name");
    match get(control, "provider").and_then(Value::as_object) {
        Some(provider) if str_of(provider, "type") == "python" => {
            let func = str_of(provider, "func");
            let target = if func.is_empty() {
                str_of(provider, "module").to_string()
            } else {
                format!("{}.{func}", str_of(provider, "module"))
            };
            format!("`{name}` (Python `{target}`)")
        }
        Some(provider) => format!("`{name}` ({})", str_of(provider, "type")),
        None => format!("`{name}`"),
    }
}

/// One activity in a line: what it is, what runs it, what it expects, when and how it runs.
fn activity_words(value: &Value) -> String {
    let Some(activity) = value.as_object() else { return compact(value) };
    if let Some(name) = get(activity, "ref").and_then(Value::as_str) {
        let tolerance = get(activity, "tolerance").map(|t| format!(", {}", tolerance_words(t, ""))).unwrap_or_default();
        return format!("Again: `{name}`{tolerance}");
    }
    let kind = if str_of(activity, "type") == "action" { "Action" } else { "Probe" };
    let provider = get(activity, "provider").and_then(Value::as_object);
    let provider_type = provider.map_or("", |p| str_of(p, "type"));
    let mut line =
        format!("{kind} `{}` — {}", str_of(activity, "name"), provider.map(provider_words).unwrap_or_default());
    if let Some(tolerance) = get(activity, "tolerance") {
        line += &format!(", {}", tolerance_words(tolerance, provider_type));
    }
    if let Some(Value::Object(pauses)) = get(activity, "pauses") {
        let when: Vec<String> =
            PAUSES_KEYS.iter().filter_map(|k| get(pauses, k).map(|v| format!("{} {k}", seconds(v)))).collect();
        if !when.is_empty() {
            line += &format!(" (pauses {})", when.join(", "));
        }
    }
    if get(activity, "background") == Some(&Value::Bool(true)) {
        line += " (in the background)";
    }
    line
}

fn provider_words(provider: &Map<String, Value>) -> String {
    let timeout = get(provider, "timeout").map(|t| format!(" (timeout {})", seconds(t))).unwrap_or_default();
    match str_of(provider, "type") {
        "python" => {
            let arguments: Vec<String> = get(provider, "arguments")
                .and_then(Value::as_object)
                .map(|args| args.iter().map(|(k, v)| format!("{k}={}", compact(v))).collect())
                .unwrap_or_default();
            format!("Python `{}.{}({})`", str_of(provider, "module"), str_of(provider, "func"), arguments.join(", "))
        }
        "http" => {
            let method = get(provider, "method").and_then(Value::as_str).unwrap_or("GET").to_ascii_uppercase();
            let mut words = format!("HTTP {method} {}{timeout}", str_of(provider, "url"));
            if let Some(Value::Object(headers)) = get(provider, "headers") {
                let names: Vec<String> = headers.keys().map(|k| format!("`{k}`")).collect();
                words += &format!(", with the headers {}", names.join(", "));
            }
            if let Some(arguments) = get(provider, "arguments") {
                words += &format!(", with arguments {}", compact(arguments));
            }
            words
        }
        _ => {
            let arguments = match get(provider, "arguments") {
                Some(Value::String(s)) => format!(" {s}"),
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|a| format!(" {}", a.as_str().map_or_else(|| a.to_string(), String::from)))
                    .collect(),
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| format!(" {k} {}", v.as_str().map_or_else(|| v.to_string(), String::from)))
                    .collect(),
                _ => String::new(),
            };
            let command = cut(&format!("{}{arguments}", str_of(provider, "path")), VALUE_CHARS, "…");
            format!("runs `{command}`{timeout}")
        }
    }
}

/// What a hypothesis probe expects. A whole number (or a list) is compared with the status of an
/// HTTP response or the exit code of a process, as chaoslib does.
fn tolerance_words(tolerance: &Value, provider_type: &str) -> String {
    let status = match provider_type {
        "http" => "HTTP status ",
        "process" => "exit code ",
        _ => "",
    };
    let target = |t: &Map<String, Value>| match get(t, "target").and_then(Value::as_str) {
        Some(target) => format!(" (in `{target}`)"),
        None => String::new(),
    };
    match tolerance {
        Value::Number(n) => format!("expects {status}{n}"),
        Value::Array(list) if status.is_empty() && list.len() == 2 && list.iter().all(Value::is_number) => {
            format!("expects a value between {} and {}", list[0], list[1])
        }
        Value::Array(list) => {
            let values: Vec<String> = list.iter().map(compact).collect();
            format!("expects {status}one of {}", values.join(", "))
        }
        Value::Object(t) => match str_of(t, "type") {
            "regex" => format!("expects a match of /{}/{}", str_of(t, "pattern"), target(t)),
            "jsonpath" => {
                let what = match (get(t, "expect"), get(t, "count")) {
                    (Some(expect), _) => format!("to give {}", compact(expect)),
                    (None, Some(count)) if count == 1 => "to find exactly 1 value".to_string(),
                    (None, Some(count)) => format!("to find {count} values"),
                    (None, None) => "to find a value".to_string(),
                };
                format!("expects JSON path `{}` {what}{}", str_of(t, "path"), target(t))
            }
            "range" => {
                let bounds = list_of(t, "range");
                let (low, high) =
                    (bounds.first().map(compact).unwrap_or_default(), bounds.get(1).map(compact).unwrap_or_default());
                match get(t, "target").and_then(Value::as_str) {
                    Some(target) => format!("expects `{target}` within {low}–{high}"),
                    None => format!("expects a value within {low}–{high}"),
                }
            }
            _ => {
                let provider = get(t, "provider").and_then(Value::as_object).map(provider_words).unwrap_or_default();
                format!("judged by the probe `{}` ({provider})", str_of(t, "name"))
            }
        },
        other => format!("expects {}", compact(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = include_str!("../../tests/fixtures/chaostoolkit/experiment-all.json");
    const YAML: &str = include_str!("../../tests/fixtures/chaostoolkit/experiment-all.yaml");
    /// Every credential written in the fixtures; none may come out of `read`.
    #[rustfmt::skip]
    const LITERALS: &[&str] = &[
        "hunter2-staging-db", "fixture-kube-token-2c91", "fixture-x-api-key-123", "fixture-url-pass",
        "fixture-bearer-token-7f3a",
    ];

    fn all() -> Imported {
        read(JSON, Some("experiment-all.json")).expect("the fixture reads")
    }

    fn error(text: &str, name: &str) -> ImportError {
        read(text, Some(name)).expect_err("the input is refused")
    }

    #[test]
    fn json_and_yaml_read_alike() {
        let json = all();
        let yaml = read(YAML, Some("experiment-all.yml")).expect("the YAML fixture reads");
        assert_eq!((json.format, yaml.format), (Format::Json, Format::Yaml));
        assert_eq!(Imported { format: Format::Json, ..yaml }, json);
        // Without a file name, the first character decides.
        assert_eq!(read(JSON, None).map(|i| i.format), Ok(Format::Json));
        assert_eq!(read(YAML, Some("upload")).map(|i| i.format), Ok(Format::Yaml));
    }

    #[test]
    fn the_plain_parts_are_read() {
        let imported = all();
        assert_eq!(imported.title, "Payments stay up when one API pod dies");
        assert_eq!(imported.tags, ["payments", "kubernetes", "gameday"]);
        let contributions: Vec<(&str, &str)> =
            imported.contributions.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let expected =
            [("reliability", "high"), ("availability", "high"), ("performance", "medium"), ("security", "none")];
        assert_eq!(contributions, expected, "in the document's order, not sorted");
    }

    #[test]
    fn no_credential_comes_out() {
        let imported = all();
        let everything = format!(
            "{} {:?} {} {} {} {}",
            serde_json::to_string(&imported.document).expect("serialises"),
            imported.redacted,
            imported.hypothesis,
            imported.fault,
            imported.rollback_plan,
            imported.title
        );
        for literal in LITERALS {
            assert!(JSON.contains(literal) && !everything.contains(literal), "{literal} leaked");
        }
    }

    #[test]
    fn credentials_become_environment_references() {
        let imported = all();
        let doc = &imported.document;
        let env = |key: &str| json!({"type": "env", "key": key});
        assert_eq!(doc["configuration"]["db_password"], env("DB_PASSWORD"));
        assert_eq!(doc["configuration"]["grafana_token"], env("GRAFANA_TOKEN"), "references are kept");
        assert_eq!(doc["configuration"]["namespace"], "payments", "plain values are kept");
        assert_eq!(doc["secrets"]["k8s"]["kube_token"], env("KUBE_TOKEN"));
        assert_eq!(doc["secrets"]["pagerduty"]["api-key"], env("PAGERDUTY_API_KEY"));
        assert_eq!(doc["method"][1]["provider"]["headers"]["Authorization"], "${authorization}");
        assert_eq!(doc["method"][1]["provider"]["headers"]["Content-Type"], "application/json");
        assert_eq!(doc["steady-state-hypothesis"]["probes"][1]["provider"]["headers"]["X-Api-Key"], "${x_api_key}");
        let url = &doc["steady-state-hypothesis"]["probes"][8]["provider"]["url"];
        assert_eq!(url, "https://grafana:${url_password}@grafana.staging.example.com/api/p99-ms");
        assert_eq!(
            doc["secrets"]["imported"],
            json!({"authorization": env("AUTHORIZATION"), "x_api_key": env("X_API_KEY"), "url_password": env("URL_PASSWORD")})
        );
        assert_eq!(doc["method"][0]["provider"]["secrets"], json!(["k8s"]), "scope lists are kept");
        assert_eq!(imported.redacted.len(), 5, "{:?}", imported.redacted);
        assert!(imported.redacted.contains(
            &"secrets.k8s.kube_token: its value was replaced by the environment variable KUBE_TOKEN".to_string()
        ));
    }

    #[test]
    fn unknown_keys_are_listed_and_kept() {
        let imported = all();
        assert_eq!(imported.not_understood, ["x-team-channel", "method[0].provider.retries"]);
        assert_eq!(imported.document["x-team-channel"], "#payments-oncall");
        assert_eq!(imported.document["method"][0]["provider"]["retries"], 2);
        assert_eq!(imported.document["extensions"][0]["owner"], "payments-team");
    }

    #[test]
    fn every_provider_and_tolerance_reads_as_intended() {
        // The words the team reads and signs, kept next to the experiment they describe.
        let expected = include_str!("../../tests/fixtures/chaostoolkit/experiment-all.words.txt");
        let imported = all();
        let words = format!(
            "== hypothesis\n{}\n\n== fault\n{}\n\n== rollback plan\n{}\n",
            imported.hypothesis, imported.fault, imported.rollback_plan
        );
        assert_eq!(words, expected);
    }

    fn minimal(extra: &str) -> String {
        format!(
            r#"{{"title": "T", "description": "", "method": [{{"type": "action", "name": "a", "provider": {{"type": "process", "path": "/bin/true"}}}}]{extra}}}"#
        )
    }

    #[test]
    fn missing_parts_get_the_placeholder() {
        let imported = read(&minimal(""), None).expect("reads");
        assert_eq!((imported.hypothesis.as_str(), imported.rollback_plan.as_str()), (TO_BE_AGREED, TO_BE_AGREED));
        assert_eq!(imported.fault, "The experiment's method:\n1. Action `a` — runs `/bin/true`");
        assert!(
            imported.redacted.is_empty() && imported.not_understood.is_empty() && imported.contributions.is_empty()
        );
    }

    #[test]
    fn lengths_are_capped() {
        let activity = r#"{"type": "action", "name": "a", "provider": {"type": "python", "module": "m", "func": "f", "arguments": {"text": "TEXT"}}}"#
            .replace("TEXT", &"x".repeat(500));
        let method = vec![activity; 40].join(",");
        let text = format!(r#"{{"title": "{}", "description": "d", "method": [{method}]}}"#, "é".repeat(300));
        let imported = read(&text, None).expect("reads");
        assert_eq!(imported.title.chars().count(), 120);
        assert!(imported.title.ends_with("é…"));
        assert!(imported.fault.chars().count() <= 4000 && imported.fault.ends_with(CUT_NOTE));
        assert!(imported.fault.contains(&format!("text=\"{}…)`", "x".repeat(198))), "values are cut at 200 characters");
        let too_big = " ".repeat(MAX_BYTES + 1);
        assert!(error(&too_big, "x.json").message.contains("at most 256 KiB"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let bad_json = "{\n  \"title\": \"T\",\n  \"description\": \"d\"\n  \"method\": []\n}";
        let e = error(bad_json, "e.json");
        assert_eq!(e.line, Some(4));
        assert_eq!(e.message, "This is not valid JSON at line 4, column 3: expected `,` or `}`.");
        let e = error("title: T\ndescription: d\nmethod:\n  - type: action\n   name: [\n", "e.yaml");
        assert!(e.message.starts_with("This is not valid YAML at line 5, column "), "{e}");
        assert_eq!(e.line, Some(5));
        let e = error("{\"title\": \"T\"", "e.json");
        assert!(e.message.contains("the file ends in the middle of an object"), "{e}");
        assert_eq!(
            error(" \n", "e.yaml").message,
            "The file is empty: upload a Chaos Toolkit experiment in JSON or YAML."
        );
        assert!(error("- a\n- b\n", "e.yaml").message.contains("top level must be a mapping"));
        let e = error("title: T\nconfiguration:\n  1: c\n", "e.yaml");
        assert_eq!(e.message, "`configuration` has a key that is not text (1): put it in quotes.");
        let e = error("title: T\n[a, b]: c\n", "e.yaml");
        assert_eq!(
            e.message,
            "This is not valid YAML at line 2, column 1: a key must be plain text (this one is a sequence)."
        );
    }

    #[test]
    fn wrong_shapes_name_the_key() {
        let cases = [
            (
                r#"{"description": "d", "method": []}"#.to_string(),
                "title",
                "`title` is missing: an experiment needs a title.",
            ),
            (
                r#"{"title": "T", "description": "d", "method": {"a": 1}}"#.to_string(),
                "method",
                "`method` must be a list (it is a mapping).",
            ),
            (
                minimal("").replace("process", "shell"),
                "method[0].provider.type",
                "`method[0].provider.type` must be python, http or process (it is \"shell\").",
            ),
            (
                minimal(
                    r#", "steady-state-hypothesis": {"title": "h", "probes": [{"type": "probe", "name": "p", "provider": {"type": "http", "url": "http://x"}}]}"#,
                ),
                "steady-state-hypothesis.probes[0].tolerance",
                "`steady-state-hypothesis.probes[0].tolerance` is missing: a hypothesis probe needs a tolerance, the result it expects.",
            ),
            (
                minimal(r#", "rollbacks": [{"ref": "b"}]"#),
                "rollbacks[0].ref",
                "`rollbacks[0].ref` names `b`, but no activity of that name comes before it.",
            ),
            (minimal(r#", "tags": ["ok", 3]"#), "tags[1]", "`tags[1]` must be a non-empty string (it is a number)."),
            (
                minimal("").replace("process", "python"),
                "method[0].provider.module",
                "`method[0].provider.module` is missing: a Python provider needs its module.",
            ),
        ];
        for (text, key, message) in cases {
            let e = error(&text, "e.json");
            assert_eq!((e.key.as_deref(), e.message.as_str()), (Some(key), message));
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn references_and_lookalikes_are_told_apart() {
        assert!(looks_like_credential("Bearer abc") && looks_like_credential("AKIAABCDEFGHIJKLMNOP"));
        assert!(!looks_like_credential("Bearer ${token}") && !looks_like_credential("AKIA-not-a-key"));
        assert_eq!(url_password("https://u:p%40ss@h:8443/x?y=z@w"), Some(10..16));
        assert_eq!(url_password("https://u@h/x:y@z"), None);
        assert!(looks_like_credential_key("Authorization") && !looks_like_credential_key("author"));
        assert_eq!(env_case("api-key"), "API_KEY");
        let text = minimal(
            r#", "configuration": {"author": "Ann", "token": {"type": "env", "key": "T", "default": "s3cr3t"}}, "secrets": {"s": {"a": "one", "b": {"c": "two"}}, "t": {"a": "three"}}"#,
        );
        let imported = read(&text, None).expect("reads");
        let doc = serde_json::to_string(&imported.document).expect("serialises");
        assert!(["s3cr3t", "one", "two", "three"].iter().all(|s| !doc.contains(&format!("\"{s}\""))), "{doc}");
        assert!(doc.contains(r#""author":"Ann""#));
        assert_eq!(imported.document["secrets"]["t"]["a"]["key"], "A_2", "a different value gets its own variable");
    }

    #[test]
    fn a_yaml_bomb_is_refused_while_it_expands() {
        let scalars = vec!["x"; 20_000].join(", ");
        let a = vec!["*a"; 1000].join(", ");
        let b = vec!["*b"; 100].join(", ");
        let text = format!("title: T\ndescription: d\nmethod: []\na: &a [{scalars}]\nb: &b [{a}]\nc: [{b}]\n");
        assert!(text.len() < 80 * 1024);
        let started = std::time::Instant::now();
        let e = error(&text, "bomb.yaml");
        assert!(
            e.message.starts_with("The experiment is too large once its YAML anchors are expanded (more than 200000"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let long = "y".repeat(60_000);
        let text =
            format!("title: T\ndescription: d\nmethod: []\na: &a \"{long}\"\nb: [{}]\n", vec!["*a"; 100].join(", "));
        assert!(error(&text, "bomb.yaml").message.contains("4 MiB of text"));
    }

    #[test]
    fn yaml_merge_keys_booleans_and_nul_are_refused() {
        let http = "title: T\ndescription: d\nbase: &base\n  X-Api-Key: k\nmethod:\n- type: action\n  name: a\n  \
                    provider:\n    type: http\n    url: http://x\n    headers:\n      <<: *base\n";
        let e = error(http, "e.yaml");
        assert_eq!(
            (e.message.as_str(), e.key.as_deref()),
            (
                "YAML merge keys (<<) are not accepted at `method[0].provider.headers`: write the keys out.",
                Some("method[0].provider.headers")
            )
        );
        let process = "title: T\ndescription: d\nmethod:\n- type: action\n  name: a\n  background: BACKGROUND\n  \
                       provider: {type: process, path: /bin/true}\n";
        for word in ["yes", "No", "OFF", "on"] {
            let e = error(&process.replace("BACKGROUND", word), "e.yaml");
            assert_eq!(e.key.as_deref(), Some("method[0].background"), "{e}");
            assert!(e.message.starts_with(&format!("`method[0].background` is written {word} without quotes")), "{e}");
        }
        let e = error(&process.replace("BACKGROUND", "false").replace("name: a", "name: a\n  yes: 1"), "e.yaml");
        assert_eq!(e.key.as_deref(), Some("method[0].yes"), "keys too: {e}");
        let quoted = process.replace("BACKGROUND", "false").replace("name: a", "name: 'yes'");
        assert!(read(&quoted, Some("e.yaml")).is_ok(), "quoted, it is text for both");
        let e = error(&minimal("").replace("\"T\"", "\"T\\u0000\""), "e.json");
        assert_eq!(e.key.as_deref(), Some("title"));
        assert!(e.message.contains("NUL character"), "{e}");
        assert!(error(&minimal("").replace('T', "T\0"), "e.json").message.starts_with("The file contains a NUL"));
        assert!(error("title: \"a\\0b\"\n", "e.yaml").message.contains("NUL character"));
    }

    #[test]
    fn the_last_pass_redacts_the_whole_document() {
        let text = r#"{
            "title": "T", "description": "d",
            "configuration": {"pg": {"type": "env", "key": "PGPASSWORD", "default": "pg-default-pass-1"}, "host": "db"},
            "secrets": {"db": {"dsn": {"type": "postgres", "pass": "scope-pass-2"}}},
            "extensions": [{"name": "x", "token": "ext-token-3"}],
            "runtime": {"rollbacks": {"strategy": "always"}, "password": "runtime-pass-4"},
            "x-slack-webhook": "https://hooks.example.com/T0/B0/xhook5",
            "method": [
                {"type": "action", "name": "curl", "provider": {"type": "process", "path": "curl",
                  "arguments": ["-H", "Authorization: Bearer header-tok-6", "--token=flag-tok-7", "--password", "flagpass8",
                                "postgres://app:urlpass9@${db_host}/db", "https://ghp_ghtok10@github.com/x"]}},
                {"type": "action", "name": "call", "provider": {"type": "http", "url": "https://api.example.com/x?token=query-tok-11&a=1",
                  "auth": {"password": "unknown-pass-12"}}},
                {"type": "action", "name": "cli", "provider": {"type": "process", "path": "psql",
                  "arguments": "--host db --password cli-pass-13 -c 'select 1'"}}
            ]
        }"#;
        let literals = [
            "pg-default-pass-1",
            "scope-pass-2",
            "ext-token-3",
            "runtime-pass-4",
            "xhook5",
            "header-tok-6",
            "flag-tok-7",
            "flagpass8",
            "urlpass9",
            "ghtok10",
            "query-tok-11",
            "unknown-pass-12",
            "cli-pass-13",
        ];
        let imported = read(text, None).expect("reads");
        let everything = format!(
            "{} {:?} {} {} {}",
            serde_json::to_string(&imported.document).expect("serialises"),
            imported.redacted,
            imported.hypothesis,
            imported.fault,
            imported.rollback_plan
        );
        for literal in literals {
            assert!(text.contains(literal) && !everything.contains(literal), "{literal} leaked: {everything}");
        }
        let doc = &imported.document;
        assert_eq!(doc["configuration"]["pg"], json!({"type": "env", "key": "PGPASSWORD", "default": "REDACTED"}));
        assert_eq!(doc["configuration"]["host"], "db");
        assert_eq!(doc["secrets"]["db"]["dsn"]["type"], "postgres");
        assert_eq!(doc["secrets"]["db"]["dsn"]["pass"]["type"], "env");
        assert_eq!(doc["extensions"][0], json!({"name": "x", "token": "REDACTED"}));
        assert_eq!(doc["runtime"]["password"], "REDACTED");
        assert_eq!(doc["runtime"]["rollbacks"]["strategy"], "always");
        assert_eq!(doc["x-slack-webhook"], "REDACTED");
        let arguments = &doc["method"][0]["provider"]["arguments"];
        assert_eq!(arguments[0], "-H");
        assert_eq!(arguments[1], "Authorization: Bearer ${authorization}");
        assert_eq!(arguments[2], "--token=${token}");
        assert_eq!((arguments[3].as_str(), arguments[4].as_str()), (Some("--password"), Some("${password}")));
        assert_eq!(arguments[5], "postgres://app:${url_password}@${db_host}/db");
        assert_eq!(arguments[6], "https://${url_token}@github.com/x");
        assert_eq!(doc["method"][1]["provider"]["url"], "https://api.example.com/x?token=${token_2}&a=1");
        assert_eq!(doc["method"][1]["provider"]["auth"]["password"], "REDACTED", "chaoslib does not read it");
        assert_eq!(doc["method"][2]["provider"]["arguments"], "--host db --password ${password_2} -c 'select 1'");
        let imported_scope = doc["secrets"]["imported"].as_object().expect("the imported scope");
        for name in ["authorization", "token", "password", "url_password", "url_token", "token_2", "password_2"] {
            assert_eq!(imported_scope[name]["type"], "env", "{name}");
        }
        assert!(imported.redacted.iter().any(|l| l.starts_with("extensions[0].token: ")), "{:?}", imported.redacted);
        assert!(imported.redacted.len() >= literals.len(), "{:?}", imported.redacted);
    }

    #[test]
    fn credentials_inside_text_are_found() {
        fn found(text: &str) -> Vec<&str> {
            find_secrets(text, true).into_iter().map(|(r, _)| &text[r]).collect()
        }
        assert_eq!(found("Authorization: Bearer abc"), ["abc"]);
        assert_eq!(found(r#"{"password": "x\"y", "user": "ann"}"#), [r#"x\"y"#]);
        assert_eq!(found("failed to connect to https://u:pw@h:80/x"), ["pw"]);
        assert_eq!(found("ssh://git@github.com and postgres://postgres@db"), Vec::<&str>::new());
        assert_eq!(found("key AKIAABCDEFGHIJKLMNOP and xoxb-123-abc"), ["AKIAABCDEFGHIJKLMNOP", "xoxb-123-abc"]);
        assert_eq!(found("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nok").len(), 1);
        assert_eq!(found("Bearer tokens rotate; the author: Ann; session_timeout=30s"), Vec::<&str>::new());
        assert_eq!(found("Bearer ${token} and ?token=${t}"), Vec::<&str>::new());
        assert_eq!(
            scrub_text("X-Api-Key: k1\npass=p2 secret: s3"),
            "X-Api-Key: REDACTED\npass=REDACTED secret: REDACTED"
        );
    }
}
