//! The retrospective as a Markdown document: plan, sign-offs with their revisions, timeline,
//! outcomes, learnings and actions.
//!
//! What people typed goes into the document so that a Markdown renderer shows it as typed and
//! never turns it into HTML: plain text (titles, names, the retrospective's words) has every
//! character that Markdown would read as markup escaped with a backslash; observations and
//! corrections, which people write in Markdown, keep their emphasis and code but lose raw HTML,
//! entities, links and images (their text and address stay readable). Times are written in the
//! reader's zone, which the document names.

use std::fmt::Write;

use crate::gamedays::Gameday;
use crate::gamedays::store::Participant;
use crate::learnings::store::{ActionItem, Learning};
use crate::scenarios::Signoffs;
use crate::timeline::timings::human;
use crate::timeline::{Event, EventKind};
use crate::tz;

use super::store::{Note, Retro};
use super::views::ScenarioStory;

/// Everything the document needs.
pub struct Export<'a> {
    pub team: &'a str,
    pub gameday: &'a Gameday,
    pub retro: &'a Retro,
    pub participants: &'a [Participant],
    pub stories: &'a [(ScenarioStory, Signoffs)],
    pub events: &'a [Event],
    pub learnings: &'a [Learning],
    pub actions: &'a [ActionItem],
    pub notes: &'a [Note],
    /// The IANA zone of the person downloading it: every time is written in it.
    pub zone: &'a str,
}

/// Newlines folded into spaces, so a table cell or a list item stays one line.
fn fold(text: &str) -> String {
    text.trim().replace("\r\n", " ").replace(['\n', '\r'], " ")
}

/// Escapes one line of plain text so that Markdown shows it as typed: no HTML, entity, link,
/// image, code, emphasis or table cell boundary can come out of it. A `_` inside a word (as in
/// `orders_db`) cannot start emphasis and is left alone, to keep the text readable.
fn escape_plain(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let inside_word = i > 0 && chars[i - 1].is_alphanumeric() && next.is_some_and(char::is_alphanumeric);
        let escape = match c {
            '`' | '*' | '~' | '[' | ']' | '<' | '>' | '&' | '|' => true,
            '_' => !inside_word,
            // A backslash escapes what follows it, and ends a line with a hard break.
            '\\' => next.is_none_or(|n| n.is_ascii_punctuation()),
            // A heading starts with `#` and may end with a run of them.
            '#' => i == 0 || next.is_none(),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Plain text on one line (a cell, a list item or a heading).
fn text(text: &str) -> String {
    escape_plain(&fold(text))
}

/// Plain text of several lines, as its own paragraphs: each line kept (a hard line break), and
/// nothing at the start of a line read as a heading, list, quote, rule or code block.
fn block(text: &str) -> String {
    let mut paragraphs: Vec<Vec<String>> = vec![Vec::new()];
    for raw in text.lines() {
        let raw = raw.trim();
        if raw.is_empty() {
            if paragraphs.last().is_some_and(|p| !p.is_empty()) {
                paragraphs.push(Vec::new());
            }
            continue;
        }
        let mut line = escape_plain(raw);
        if line.starts_with(['-', '+', '=']) {
            line.insert(0, '\\');
        }
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && line[digits..].starts_with(['.', ')']) {
            line.insert(digits, '\\');
        }
        if let Some(paragraph) = paragraphs.last_mut() {
            paragraph.push(line);
        }
    }
    paragraphs.iter().filter(|p| !p.is_empty()).map(|p| p.join("\\\n")).collect::<Vec<_>>().join("\n\n")
}

/// Markdown written by a person, on one line: emphasis, strike-through and code spans stay;
/// raw HTML, autolinks, entities, links and images are escaped, so they read as the text typed.
/// Backslash escapes and code spans are copied as they are (nothing inside a code span is markup).
fn markdown_line(markdown: &str) -> String {
    let chars: Vec<char> = fold(markdown).chars().collect();
    let mut out = String::with_capacity(chars.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                out.push(c);
                out.push(chars[i + 1]);
                i += 2;
            }
            '\\' if i + 1 == chars.len() => {
                out.push_str("\\\\");
                i += 1;
            }
            '`' => {
                let run = backticks_at(&chars, i);
                match closing_backticks(&chars, i + run, run) {
                    Some(end) => {
                        out.extend(&chars[i..end + run]);
                        i = end + run;
                    }
                    None => {
                        for _ in 0..run {
                            out.push_str("\\`");
                        }
                        i += run;
                    }
                }
            }
            '<' | '>' | '&' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn backticks_at(chars: &[char], at: usize) -> usize {
    chars[at..].iter().take_while(|&&c| c == '`').count()
}

/// Where the run of exactly `len` backticks that closes a code span starts, from `from` on.
fn closing_backticks(chars: &[char], from: usize, len: usize) -> Option<usize> {
    let mut at = from;
    while at < chars.len() {
        if chars[at] == '`' {
            let run = backticks_at(chars, at);
            if run == len {
                return Some(at);
            }
            at += run;
        } else {
            at += 1;
        }
    }
    None
}

fn section(out: &mut String, heading: &str, body: &str) {
    if !body.trim().is_empty() {
        let _ = write!(out, "## {heading}\n\n{}\n\n", block(body));
    }
}

/// When an event happened: what the observer said, else when it was recorded.
fn happened(event: &Event) -> time::OffsetDateTime {
    event.observed_at.unwrap_or(event.at)
}

fn actor(event: &Event) -> String {
    text(event.actor_name.as_deref().unwrap_or("Gameday"))
}

/// One timeline entry: its number and time, what it is (with the marker an observation carries),
/// who recorded it, what it corrects or is corrected by, and its words.
fn event_line(out: &mut String, e: &Export, event: &Event) {
    let when = tz::format_clock_named(&happened(event), e.zone);
    let _ = write!(out, "- `#{}` {when} **{}**", event.seq, event.kind_label());
    if let Some(marker) = event.marker() {
        let _ = write!(out, " ({})", marker.label());
    }
    if let Some(seq) = event.corrects() {
        match e.events.iter().find(|o| o.seq == seq) {
            Some(o) => {
                let at = tz::format_clock_named(&happened(o), e.zone);
                let _ = write!(out, " of {}'s {} `#{seq}` at {at},", actor(o), o.kind_label().to_lowercase());
            }
            None => {
                let _ = write!(out, " of `#{seq}`,");
            }
        }
    }
    let _ = write!(out, " by {}", actor(event));
    if event.kind() == Some(EventKind::Observation)
        && let Some(title) = &event.scenario_title
    {
        let _ = write!(out, ", on {}", text(title));
    }
    let body = if event.is_markdown() { markdown_line(&event.body) } else { text(&event.body) };
    let _ = write!(out, ": {body}");
    if let Some(link) = event.link() {
        if link.contains(['<', '>']) {
            let _ = write!(out, " (link: {})", text(link));
        } else {
            let _ = write!(out, " (link: <{link}>)");
        }
    }
    if event.observed_at.is_some_and(|o| o != event.at) {
        let _ = write!(out, " (logged at {})", tz::format_clock_named(&event.at, e.zone));
    }
    let corrections: Vec<String> =
        e.events.iter().filter(|c| c.corrects() == Some(event.seq)).map(|c| format!("`#{}`", c.seq)).collect();
    if !corrections.is_empty() {
        let _ = write!(out, " (corrected in {})", corrections.join(", "));
    }
    out.push('\n');
}

pub fn markdown(e: &Export) -> String {
    let mut out = String::new();
    let g = e.gameday;
    let _ = writeln!(out, "# Retrospective: {}\n", text(&g.title));
    let _ = writeln!(out, "- Team: {}", text(e.team));
    let _ = writeln!(out, "- Status: {}", e.retro.status.label());
    if let Some(start) = g.starts_at {
        let _ = writeln!(out, "- Scheduled: {}", tz::format_local(&start, e.zone));
    }
    let _ = writeln!(out, "- Environment: {}", text(&g.environment));
    let people: Vec<String> =
        e.participants.iter().map(|p| format!("{} ({})", text(&p.name), p.role.as_str())).collect();
    let _ = writeln!(out, "- Participants: {}", people.join(", "));
    let _ = writeln!(out, "- Times are in {}\n", text(e.zone));
    section(&mut out, "Objective", &g.objective);
    section(&mut out, "Summary", &e.retro.summary);
    section(&mut out, "What went well", &e.retro.went_well);
    section(&mut out, "What surprised us", &e.retro.surprised_us);

    out.push_str("## Scenarios\n\n");
    for (story, signoffs) in e.stories {
        let s = &story.scenario;
        let f = &s.fields;
        let outcome = s.outcome.map(|o| o.as_str()).unwrap_or(s.state.as_str());
        let _ = writeln!(out, "### {} ({outcome})\n", text(&f.title));
        let _ = writeln!(out, "| | |\n|---|---|");
        let rows = [
            ("Hypothesis", f.hypothesis.clone()),
            ("Fault", f.fault.clone()),
            ("Target", f.target_system.clone()),
            ("Blast radius", f.radius().to_owned()),
            ("Expected impact", f.expected_impact.clone()),
            (
                "Observed impact",
                if story.observed_impact.is_empty() { "—".into() } else { story.observed_impact.clone() },
            ),
            ("Abort criteria", f.abort_criteria.clone()),
            ("Rollback plan", f.rollback_plan.clone()),
            ("Time to detect", story.timings.to_detect.map(|d| human(&d)).unwrap_or_else(|| "—".into())),
            ("Time to repair", story.timings.to_repair.map(|d| human(&d)).unwrap_or_else(|| "—".into())),
        ];
        let mut rows = rows.to_vec();
        if let Some(d) = story.timings.to_recover {
            rows.push(("Time to recover (health checks)", human(&d)));
        }
        for (label, value) in rows {
            let _ = writeln!(out, "| {label} | {} |", text(&value));
        }
        let approved: Vec<String> = signoffs.approved().map(|s| text(&s.name)).collect();
        let _ = writeln!(
            out,
            "\nSigned off: revision {} (fingerprint `{}`), approved by {}.",
            signoffs.revision,
            s.fingerprint,
            if approved.is_empty() { "nobody".to_owned() } else { approved.join(", ") }
        );
        for objection in signoffs.objections() {
            let reason = text(objection.reason.as_deref().unwrap_or(""));
            let _ = writeln!(out, "Objection by {}: {reason}", text(&objection.name));
        }
        if let Some(note) = s.conclusion_note.as_deref().filter(|n| !n.is_empty()) {
            let _ = writeln!(out, "\nConclusion: {}", text(note));
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Timeline\n\nTimes are in {}.", text(e.zone));
    let mut day = String::new();
    for event in e.events {
        let this_day = tz::format_day(&happened(event), e.zone);
        if this_day != day {
            let _ = writeln!(out, "\n### {this_day}\n");
            day = this_day;
        }
        event_line(&mut out, e, event);
    }
    out.push('\n');

    out.push_str("## Learnings\n\n");
    if e.learnings.is_empty() {
        out.push_str("None recorded.\n");
    }
    for l in e.learnings {
        let tags: Vec<String> = l.tags.iter().map(|t| text(t)).collect();
        let tags = if tags.is_empty() { String::new() } else { format!(" _({})_", tags.join(", ")) };
        let _ = writeln!(out, "- {}{tags}", text(&l.statement));
    }
    out.push_str("\n## Actions\n\n");
    if e.actions.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str("| Action | Owner | Due | Status |\n|---|---|---|---|\n");
        for a in e.actions {
            let due = a.due_on.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
            let _ = writeln!(out, "| {} | {} | {due} | {} |", text(&a.title), text(&a.owner_name), a.status.label());
        }
    }
    let addenda: Vec<&Note> = e.notes.iter().filter(|n| n.kind == "addendum").collect();
    if !addenda.is_empty() {
        out.push_str("\n## Addenda\n\n");
        for n in addenda {
            let when = tz::format_local(&n.created_at, e.zone);
            let _ = writeln!(out, "- {when}, {}: {}", text(&n.author), text(&n.body));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders as GitHub would (CommonMark with its extensions), without any sanitiser.
    fn render(markdown: &str) -> String {
        use pulldown_cmark::{Options, Parser, html};
        let mut html_out = String::new();
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_GFM;
        html::push_html(&mut html_out, Parser::new_ext(markdown, options));
        html_out
    }

    #[test]
    fn plain_text_renders_as_typed_and_never_as_html() {
        let typed = "<script>alert(1)</script> & [x](javascript:alert(2)) ![i](https://t.example/p.gif) *a* `b` ~c~";
        let html = render(&format!("- {}", text(typed)));
        for bad in ["<script", "<a ", "<img", "<em>", "<code>", "<del>"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; [x](javascript:alert(2))"), "{html}");
    }

    #[test]
    fn plain_text_stays_readable() {
        assert_eq!(text("Stop orders_db on eu-west-1 (2 of 3)"), "Stop orders_db on eu-west-1 (2 of 3)");
        assert_eq!(text("C:\\temp and \\*"), "C:\\temp and \\\\\\*");
        assert_eq!(text("# first\nsecond #"), "\\# first second \\#");
        assert_eq!(text("a | b"), "a \\| b");
    }

    #[test]
    fn a_block_keeps_its_lines_and_starts_none_as_markup() {
        let typed = "# Not a heading\n- not a list\n1. not ordered\n---\n\n    <div>indented</div>\n> no quote";
        let md = block(typed);
        let html = render(&md);
        for bad in ["<h1", "<ul", "<ol", "<hr", "<pre", "<div", "<blockquote"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("# Not a heading<br />\n- not a list<br />\n1. not ordered<br />\n---</p>"), "{html}");
        assert!(html.contains("<p>&lt;div&gt;indented&lt;/div&gt;<br />\n&gt; no quote</p>"), "{html}");
    }

    #[test]
    fn observations_keep_their_formatting_but_lose_html_and_links() {
        let typed = "p99 at **900 ms** <script>alert(1)</script> [x](javascript:alert(2)) \\<b> `a<b>` &lt;";
        let html = render(&format!("- {}", markdown_line(typed)));
        assert!(html.contains("<strong>900 ms</strong>"), "{html}");
        assert!(html.contains("<code>a&lt;b&gt;</code>"), "code keeps its text: {html}");
        for bad in ["<script", "<a ", "<b>"] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; [x](javascript:alert(2)) &lt;b&gt;"), "{html}");
        assert!(html.contains("&amp;lt;"), "an entity reads as typed: {html}");
        assert!(
            render(&markdown_line("``a ` <b>`` and ` <i> unclosed"))
                .contains("<code>a ` &lt;b&gt;</code> and ` &lt;i&gt;")
        );
    }
}
