//! The retrospective as a Markdown document: plan, sign-offs with their revisions, timeline,
//! outcomes, learnings and actions.

use std::fmt::Write;

use crate::gamedays::Gameday;
use crate::gamedays::store::Participant;
use crate::learnings::store::{ActionItem, Learning};
use crate::scenarios::Signoffs;
use crate::timeline::Event;
use crate::timeline::timings::human;

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
}

/// One line of text: newlines folded, so a table cell or a list item stays one line.
fn line(text: &str) -> String {
    text.replace("\r\n", " ").replace('\n', " ").replace('|', "\\|")
}

fn section(out: &mut String, heading: &str, text: &str) {
    if !text.trim().is_empty() {
        let _ = write!(out, "## {heading}\n\n{}\n\n", text.trim());
    }
}

pub fn markdown(e: &Export) -> String {
    let mut out = String::new();
    let g = e.gameday;
    let _ = writeln!(out, "# Retrospective: {}\n", line(&g.title));
    let _ = writeln!(out, "- Team: {}", line(e.team));
    let _ = writeln!(out, "- Status: {}", e.retro.status.label());
    if let Some(start) = g.starts_at {
        let _ = writeln!(out, "- Scheduled: {}", crate::tz::format_utc(&start));
    }
    let _ = writeln!(out, "- Environment: {}", line(&g.environment));
    let people: Vec<String> = e.participants.iter().map(|p| format!("{} ({})", p.name, p.role.as_str())).collect();
    let _ = writeln!(out, "- Participants: {}\n", people.join(", "));
    section(&mut out, "Objective", &g.objective);
    section(&mut out, "Summary", &e.retro.summary);
    section(&mut out, "What went well", &e.retro.went_well);
    section(&mut out, "What surprised us", &e.retro.surprised_us);

    out.push_str("## Scenarios\n\n");
    for (story, signoffs) in e.stories {
        let s = &story.scenario;
        let f = &s.fields;
        let outcome = s.outcome.map(|o| o.as_str()).unwrap_or(s.state.as_str());
        let _ = writeln!(out, "### {} ({outcome})\n", line(&f.title));
        let _ = writeln!(out, "| | |\n|---|---|");
        let rows = [
            ("Hypothesis", f.hypothesis.clone()),
            ("Fault", f.fault.clone()),
            ("Target", f.target_system.clone()),
            ("Blast radius", f.blast_radius.as_str().to_owned()),
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
        for (label, value) in rows {
            let _ = writeln!(out, "| {label} | {} |", line(&value));
        }
        let approved: Vec<&str> = signoffs.approved().map(|s| s.name.as_str()).collect();
        let _ = writeln!(
            out,
            "\nSigned off: revision {} (fingerprint `{}`), approved by {}.",
            signoffs.revision,
            s.fingerprint,
            if approved.is_empty() { "nobody".to_owned() } else { approved.join(", ") }
        );
        for objection in signoffs.objections() {
            let _ =
                writeln!(out, "Objection by {}: {}", objection.name, line(objection.reason.as_deref().unwrap_or("")));
        }
        if let Some(note) = s.conclusion_note.as_deref().filter(|n| !n.is_empty()) {
            let _ = writeln!(out, "\nConclusion: {}", line(note));
        }
        out.push('\n');
    }

    out.push_str("## Timeline\n\n");
    for event in e.events {
        let when = crate::tz::format_utc(&event.observed_at.unwrap_or(event.at));
        let _ = writeln!(out, "- `#{}` {} **{}** {}", event.seq, when, event.kind_label(), line(&event.body));
    }
    out.push('\n');

    out.push_str("## Learnings\n\n");
    if e.learnings.is_empty() {
        out.push_str("None recorded.\n");
    }
    for l in e.learnings {
        let tags = if l.tags.is_empty() { String::new() } else { format!(" _({})_", l.tags.join(", ")) };
        let _ = writeln!(out, "- {}{tags}", line(&l.statement));
    }
    out.push_str("\n## Actions\n\n");
    if e.actions.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str("| Action | Owner | Due | Status |\n|---|---|---|---|\n");
        for a in e.actions {
            let due = a.due_on.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
            let _ = writeln!(out, "| {} | {} | {due} | {} |", line(&a.title), line(&a.owner_name), a.status.label());
        }
    }
    let addenda: Vec<&Note> = e.notes.iter().filter(|n| n.kind == "addendum").collect();
    if !addenda.is_empty() {
        out.push_str("\n## Addenda\n\n");
        for n in addenda {
            let _ = writeln!(out, "- {} ({}): {}", crate::tz::format_utc(&n.created_at), n.author, line(&n.body));
        }
    }
    out
}
