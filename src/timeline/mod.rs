//! The timeline: an append-only record of everything that happens on a game day.
//! Events are only ever inserted, in the same transaction as the change they record
//! (the database refuses UPDATE and DELETE), and numbered per game day in commit order.

pub mod actions;
pub mod routes;
pub mod store;
pub mod timings;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    GamedayCreated,
    GamedayUpdated,
    GamedayScheduled,
    GamedayStarted,
    GamedayCompleted,
    GamedayCancelled,
    ParticipantAdded,
    ParticipantRoleChanged,
    ParticipantRemoved,
    ScenarioAdded,
    ScenarioRevised,
    SignoffApproved,
    SignoffObjected,
    ScenarioAnnounced,
    ScenarioInjected,
    ScenarioHalted,
    ScenarioRolledBack,
    ScenarioConcluded,
    Observation,
    Correction,
    RetrospectiveInReview,
    RetrospectivePublished,
}

impl EventKind {
    pub const ALL: [EventKind; 22] = [
        EventKind::GamedayCreated,
        EventKind::GamedayUpdated,
        EventKind::GamedayScheduled,
        EventKind::GamedayStarted,
        EventKind::GamedayCompleted,
        EventKind::GamedayCancelled,
        EventKind::ParticipantAdded,
        EventKind::ParticipantRoleChanged,
        EventKind::ParticipantRemoved,
        EventKind::ScenarioAdded,
        EventKind::ScenarioRevised,
        EventKind::SignoffApproved,
        EventKind::SignoffObjected,
        EventKind::ScenarioAnnounced,
        EventKind::ScenarioInjected,
        EventKind::ScenarioHalted,
        EventKind::ScenarioRolledBack,
        EventKind::ScenarioConcluded,
        EventKind::Observation,
        EventKind::Correction,
        EventKind::RetrospectiveInReview,
        EventKind::RetrospectivePublished,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::GamedayCreated => "gameday_created",
            EventKind::GamedayUpdated => "gameday_updated",
            EventKind::GamedayScheduled => "gameday_scheduled",
            EventKind::GamedayStarted => "gameday_started",
            EventKind::GamedayCompleted => "gameday_completed",
            EventKind::GamedayCancelled => "gameday_cancelled",
            EventKind::ParticipantAdded => "participant_added",
            EventKind::ParticipantRoleChanged => "participant_role_changed",
            EventKind::ParticipantRemoved => "participant_removed",
            EventKind::ScenarioAdded => "scenario_added",
            EventKind::ScenarioRevised => "scenario_revised",
            EventKind::SignoffApproved => "signoff_approved",
            EventKind::SignoffObjected => "signoff_objected",
            EventKind::ScenarioAnnounced => "scenario_announced",
            EventKind::ScenarioInjected => "scenario_injected",
            EventKind::ScenarioHalted => "scenario_halted",
            EventKind::ScenarioRolledBack => "scenario_rolled_back",
            EventKind::ScenarioConcluded => "scenario_concluded",
            EventKind::Observation => "observation",
            EventKind::Correction => "correction",
            EventKind::RetrospectiveInReview => "retrospective_in_review",
            EventKind::RetrospectivePublished => "retrospective_published",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A short label for people.
    pub fn label(&self) -> &'static str {
        match self {
            EventKind::GamedayCreated => "Created",
            EventKind::GamedayUpdated => "Plan updated",
            EventKind::GamedayScheduled => "Scheduled",
            EventKind::GamedayStarted => "Started",
            EventKind::GamedayCompleted => "Completed",
            EventKind::GamedayCancelled => "Cancelled",
            EventKind::ParticipantAdded => "Participant added",
            EventKind::ParticipantRoleChanged => "Role changed",
            EventKind::ParticipantRemoved => "Participant removed",
            EventKind::ScenarioAdded => "Scenario added",
            EventKind::ScenarioRevised => "Scenario revised",
            EventKind::SignoffApproved => "Approved",
            EventKind::SignoffObjected => "Objected",
            EventKind::ScenarioAnnounced => "Announced",
            EventKind::ScenarioInjected => "Injected",
            EventKind::ScenarioHalted => "Halted",
            EventKind::ScenarioRolledBack => "Rolled back",
            EventKind::ScenarioConcluded => "Concluded",
            EventKind::Observation => "Observation",
            EventKind::Correction => "Correction",
            EventKind::RetrospectiveInReview => "Retrospective in review",
            EventKind::RetrospectivePublished => "Retrospective published",
        }
    }

    /// Whether the event marks a fault's life (shown prominently).
    pub fn is_fault_event(&self) -> bool {
        matches!(
            self,
            EventKind::ScenarioAnnounced
                | EventKind::ScenarioInjected
                | EventKind::ScenarioHalted
                | EventKind::ScenarioRolledBack
                | EventKind::ScenarioConcluded
        )
    }
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub gameday_id: Uuid,
    pub actor: Option<Uuid>,
    pub kind: EventKind,
    pub scenario_id: Option<Uuid>,
    pub body: String,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(gameday_id: Uuid, actor: Uuid, kind: EventKind, body: impl Into<String>) -> Self {
        NewEvent {
            gameday_id,
            actor: Some(actor),
            kind,
            scenario_id: None,
            body: body.into(),
            data: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn scenario(mut self, scenario_id: Uuid) -> Self {
        self.scenario_id = Some(scenario_id);
        self
    }

    pub fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// What an observation marks; the timings of a scenario are derived from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Marker {
    Detection,
    Diagnosis,
    Repair,
    KeyMoment,
    Question,
}

impl Marker {
    pub const ALL: [Marker; 5] =
        [Marker::Detection, Marker::Diagnosis, Marker::Repair, Marker::KeyMoment, Marker::Question];

    pub fn as_str(&self) -> &'static str {
        match self {
            Marker::Detection => "detection",
            Marker::Diagnosis => "diagnosis",
            Marker::Repair => "repair",
            Marker::KeyMoment => "key_moment",
            Marker::Question => "question",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Marker::Detection => "Detection",
            Marker::Diagnosis => "Diagnosis",
            Marker::Repair => "Repair",
            Marker::KeyMoment => "Key moment",
            Marker::Question => "Question",
        }
    }

    pub fn parse(input: &str) -> Result<Option<Marker>, String> {
        if input.trim().is_empty() {
            return Ok(None);
        }
        Marker::ALL
            .into_iter()
            .find(|m| m.as_str() == input.trim())
            .map(Some)
            .ok_or_else(|| "Choose a marker from the list, or none.".to_owned())
    }
}

/// An event as stored, read back.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub observed_at: Option<OffsetDateTime>,
    pub actor: Option<Uuid>,
    pub actor_name: Option<String>,
    pub kind: String,
    pub scenario_id: Option<Uuid>,
    pub scenario_title: Option<String>,
    pub body: String,
    pub data: serde_json::Value,
}

impl Event {
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }

    pub fn kind_label(&self) -> &str {
        self.kind().map(|k| k.label()).unwrap_or(&self.kind)
    }

    pub fn is_fault_event(&self) -> bool {
        self.kind().is_some_and(|k| k.is_fault_event())
    }

    /// Observations and corrections are written by people in Markdown.
    pub fn is_markdown(&self) -> bool {
        matches!(self.kind(), Some(EventKind::Observation | EventKind::Correction))
    }

    pub fn marker(&self) -> Option<Marker> {
        self.data.get("marker").and_then(|m| m.as_str()).and_then(|m| Marker::parse(m).ok().flatten())
    }

    pub fn link(&self) -> Option<&str> {
        self.data.get("link").and_then(|l| l.as_str())
    }

    /// The sequence number of the event this one corrects.
    pub fn corrects(&self) -> Option<i64> {
        self.data.get("corrects").and_then(|c| c.as_i64())
    }
}

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
    /// Where a correction of this event is posted (observations and corrections only).
    pub correct_url: Option<String>,
}

impl EventView {
    /// `base` is the game day's URL; times are written in `zone` (the page script rewrites
    /// them into the viewer's zone, so live events rendered once in UTC read the same).
    pub fn new(event: &Event, corrected_by: Vec<(i64, String)>, base: &str, zone: &str) -> Self {
        let body_html = if event.is_markdown() {
            crate::markdown::to_safe_html(&event.body)
        } else {
            crate::markdown::escape_text(&event.body)
        };
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
        }
    }
}

/// Builds views for a list of events, linking each corrected event to its corrections.
pub fn views(events: &[Event], base: &str, zone: &str) -> Vec<EventView> {
    let mut corrections: std::collections::HashMap<i64, Vec<(i64, String)>> = std::collections::HashMap::new();
    for event in events {
        if let Some(original) = event.corrects() {
            corrections.entry(original).or_default().push((event.seq, crate::markdown::to_safe_html(&event.body)));
        }
    }
    events.iter().map(|e| EventView::new(e, corrections.remove(&e.seq).unwrap_or_default(), base, zone)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
