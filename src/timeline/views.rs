//! How an event looks: the view that the page and the live stream both render with the
//! shared partial `partials/_event.html`, so there is one way an event looks.

use askama::Template;

use uuid::Uuid;

use super::store::Window;
use super::{Event, Marker};
use crate::gamedays::GamedayRole;

/// An event ready for the shared partial (`partials/_event.html`): the page and the live
/// stream render the same thing from it.
#[derive(Debug, Clone)]
pub struct EventView {
    pub seq: i64,
    pub kind: String,
    pub kind_label: String,
    pub fault: bool,
    pub actor_name: String,
    pub scenario_title: Option<String>,
    pub scenario_url: Option<String>,
    /// Safe HTML: sanitised Markdown for what people wrote, escaped text for the rest.
    pub body_html: String,
    pub marker: Option<Marker>,
    pub link: Option<String>,
    pub corrects: Option<i64>,
    /// Corrections of this event: (sequence number, their safe HTML).
    pub corrected_by: Vec<(i64, String)>,
    pub at_utc: String,
    pub at_clock: String,
    pub observed_utc: Option<String>,
    pub observed_clock: Option<String>,
    /// Where a correction of this event is posted (observations and corrections only, and only
    /// for a viewer who may correct it; see [`views_for`]).
    pub correct_url: Option<String>,
    /// Who recorded the event (the page script decides "Correct" on events pushed live from it).
    pub author: Option<Uuid>,
    /// The API token it came through, by name (None: in the pages).
    pub via_token: Option<String>,
    /// Brought in from a Chaos Toolkit journal: it happened at its observed time.
    pub imported: bool,
}

impl EventView {
    /// `base` is the game day's URL; times are written in `zone` (the page script rewrites
    /// them into the viewer's zone, so live events rendered once in UTC read the same).
    pub fn new(event: &Event, corrected_by: Vec<(i64, String)>, base: &str, zone: &str) -> Self {
        let body_html = event.safe_html();
        EventView {
            seq: event.seq,
            kind: event.kind.clone(),
            kind_label: event.kind_label().to_owned(),
            fault: event.is_fault_event(),
            actor_name: event.actor_name.clone().unwrap_or_else(|| "Gameday".into()),
            scenario_title: event.scenario_title.clone(),
            scenario_url: event.scenario_id.map(|id| format!("{base}/scenarios/{id}")),
            body_html,
            marker: event.marker(),
            link: event.link().map(str::to_owned),
            corrects: event.corrects(),
            corrected_by,
            at_utc: crate::tz::format_utc(&event.at),
            at_clock: crate::tz::format_clock(&event.at, zone),
            observed_utc: event.observed_at.map(|t| crate::tz::format_utc(&t)),
            observed_clock: event.observed_at.map(|t| crate::tz::format_clock(&t, zone)),
            correct_url: event.is_markdown().then(|| format!("{base}/events/{}/correct", event.seq)),
            author: event.actor,
            via_token: event.via_token().map(str::to_owned),
            imported: event.is_imported(),
        }
    }
}

/// Like [`views`], for a page seen by `viewer` with `role` on the game day: "Correct" is offered
/// only on what they may correct. (The live stream renders once for everyone, with [`views`];
/// the page script removes "Correct" there by the same rule, from `data-author`.)
pub fn views_for(events: &[Event], base: &str, zone: &str, viewer: Uuid, role: Option<GamedayRole>) -> Vec<EventView> {
    for_viewer(views(events, base, zone), viewer, role)
}

/// Like [`views_for`], for a window of events (its corrections from outside it shown with the
/// events they correct).
pub fn window_views(
    window: &Window,
    base: &str,
    zone: &str,
    viewer: Uuid,
    role: Option<GamedayRole>,
) -> Vec<EventView> {
    let views = linked(&window.events, window.events.iter().chain(&window.corrections), base, zone);
    for_viewer(views, viewer, role)
}

fn for_viewer(mut views: Vec<EventView>, viewer: Uuid, role: Option<GamedayRole>) -> Vec<EventView> {
    for view in &mut views {
        if !super::may_correct(view.author, viewer, role) {
            view.correct_url = None;
        }
    }
    views
}

/// Builds views for a list of events, linking each corrected event to its corrections.
pub fn views(events: &[Event], base: &str, zone: &str) -> Vec<EventView> {
    linked(events, events.iter(), base, zone)
}

/// Views of `events`, each linked to its corrections among `all`.
fn linked<'a>(events: &[Event], all: impl Iterator<Item = &'a Event>, base: &str, zone: &str) -> Vec<EventView> {
    let mut corrections: std::collections::HashMap<i64, Vec<(i64, String)>> = std::collections::HashMap::new();
    for event in all {
        if let Some(original) = event.corrects() {
            corrections.entry(original).or_default().push((event.seq, event.safe_html()));
        }
    }
    corrections.values_mut().for_each(|list| list.sort_by_key(|(seq, _)| *seq));
    events.iter().map(|e| EventView::new(e, corrections.remove(&e.seq).unwrap_or_default(), base, zone)).collect()
}

/// An event as the API shows it (its timeline and its live stream): what people read on the
/// page, as data.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiEvent {
    /// Its place in the game day's timeline (the live stream's event id).
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// When the thing was observed, when it was logged late.
    #[serde(with = "time::serde::rfc3339::option")]
    pub observed_at: Option<time::OffsetDateTime>,
    /// `observation`, `correction`, `scenario_announced`, `scenario_injected`, `scenario_halted`, …
    pub kind: String,
    pub actor_id: Option<Uuid>,
    /// Who: a person, or "Gameday".
    pub actor_name: String,
    pub scenario_id: Option<Uuid>,
    pub scenario_title: Option<String>,
    /// What it says (Markdown for what people wrote).
    pub body: String,
    pub marker: Option<Marker>,
    pub link: Option<String>,
    /// The event it corrects.
    pub corrects: Option<i64>,
    /// The API token it came through, by name (none: in the pages, or by Gameday).
    pub via_token: Option<String>,
}

impl From<&Event> for ApiEvent {
    fn from(event: &Event) -> Self {
        ApiEvent {
            seq: event.seq,
            at: event.at,
            observed_at: event.observed_at,
            kind: event.kind.clone(),
            actor_id: event.actor,
            actor_name: event.actor_name.clone().unwrap_or_else(|| "Gameday".into()),
            scenario_id: event.scenario_id,
            scenario_title: event.scenario_title.clone(),
            body: event.body.clone(),
            marker: event.marker(),
            link: event.link().map(str::to_owned),
            corrects: event.corrects(),
            via_token: event.via_token().map(str::to_owned),
        }
    }
}

#[derive(Template)]
#[template(path = "partials/_event.html")]
struct EventFragment<'a> {
    e: &'a EventView,
}

/// Renders one event as the page and the stream show it.
pub fn render_event(view: &EventView) -> askama::Result<String> {
    EventFragment { e: view }.render()
}
