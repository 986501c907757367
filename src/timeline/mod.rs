//! The timeline: an append-only record of everything that happens on a game day.
//! Events are only ever inserted, in the same transaction as the change they record
//! (the database refuses UPDATE and DELETE), and numbered per game day in commit order.

pub mod actions;
pub mod api;
pub mod routes;
pub mod store;
pub mod timings;
pub mod views;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::gamedays::GamedayRole;

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
    /// An activity or steady-state check of a Chaos Toolkit run, from an imported journal.
    ExperimentRan,
    /// A Chaos Toolkit journal was imported onto the timeline.
    JournalImported,
    /// A scenario's health checks ran before its announce or inject (each check's result).
    HealthChecked,
    /// A health check's result changed while the fault was injected or recovering.
    HealthCheckChanged,
    /// Every health check passes again after the fault left flight: the measured recovery.
    SteadyStateBack,
    /// The health checks still failed when the time to wait for the recovery ran out.
    SteadyStateNotBack,
}

impl EventKind {
    pub const ALL: [EventKind; 28] = [
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
        EventKind::ExperimentRan,
        EventKind::JournalImported,
        EventKind::HealthChecked,
        EventKind::HealthCheckChanged,
        EventKind::SteadyStateBack,
        EventKind::SteadyStateNotBack,
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
            EventKind::ExperimentRan => "experiment_ran",
            EventKind::JournalImported => "journal_imported",
            EventKind::HealthChecked => "health_checked",
            EventKind::HealthCheckChanged => "health_check_changed",
            EventKind::SteadyStateBack => "steady_state_back",
            EventKind::SteadyStateNotBack => "steady_state_not_back",
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
            EventKind::ExperimentRan => "Chaos Toolkit",
            EventKind::JournalImported => "Journal imported",
            EventKind::HealthChecked => "Health checks",
            EventKind::HealthCheckChanged => "Health check",
            EventKind::SteadyStateBack => "Steady state back",
            EventKind::SteadyStateNotBack => "Steady state not back",
        }
    }

    /// Whether the event marks a fault's life (shown prominently).
    /// Whether people write it, in Markdown (observations and corrections).
    pub fn is_markdown(&self) -> bool {
        matches!(self, EventKind::Observation | EventKind::Correction)
    }

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

/// Who may correct an observation: its author, or a facilitator, while on the game day.
pub fn may_correct(author: Option<Uuid>, viewer: Uuid, role: Option<GamedayRole>) -> bool {
    match role {
        Some(GamedayRole::Facilitator) => true,
        Some(_) => author == Some(viewer),
        None => false,
    }
}

/// How far a viewer's corrections reach, for the page script: `all`, `own` or `none`.
pub fn correction_reach(role: Option<GamedayRole>) -> &'static str {
    match role {
        Some(GamedayRole::Facilitator) => "all",
        Some(_) => "own",
        None => "none",
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
    /// What people wrote, rendered to safe HTML once, before the event is recorded (None for the
    /// sentences Gameday writes, which are escaped when shown).
    pub body_html: Option<String>,
    pub data: serde_json::Value,
}

impl NewEvent {
    pub fn new(gameday_id: Uuid, actor: Uuid, kind: EventKind, body: impl Into<String>) -> Self {
        let body = body.into();
        let body_html = kind.is_markdown().then(|| crate::markdown::to_safe_html(&body));
        NewEvent {
            gameday_id,
            actor: Some(actor),
            kind,
            scenario_id: None,
            body,
            body_html,
            data: serde_json::Value::Object(Default::default()),
        }
    }

    /// An event no person made: Gameday's own (a health check's result, a halt by a check).
    pub fn by_gameday(gameday_id: Uuid, kind: EventKind, body: impl Into<String>) -> Self {
        NewEvent { actor: None, ..NewEvent::new(gameday_id, Uuid::nil(), kind, body) }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// What a correction says (Markdown), as the pages' form and the API take it.
pub fn correction_body(input: &str) -> Result<String, String> {
    crate::gamedays::multiline(input, "The correction", 1, 4000)
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
    /// Safe HTML rendered when recorded (None for Gameday's own sentences, and for what people
    /// wrote before events kept it).
    pub body_html: Option<String>,
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
        self.kind().is_some_and(|k| k.is_markdown())
    }

    /// What the event says, as safe HTML: kept from when it was recorded, or rendered now.
    pub fn safe_html(&self) -> String {
        match &self.body_html {
            Some(html) => html.clone(),
            None if self.is_markdown() => crate::markdown::to_safe_html(&self.body),
            None => crate::markdown::escape_text(&self.body),
        }
    }

    pub fn marker(&self) -> Option<Marker> {
        self.data.get("marker").and_then(|m| m.as_str()).and_then(|m| Marker::parse(m).ok().flatten())
    }

    pub fn link(&self) -> Option<&str> {
        self.data.get("link").and_then(|l| l.as_str())
    }

    /// An announcement that escalated past "start tiny" with the facilitator's acknowledgement.
    pub fn escalation_acknowledged(&self) -> bool {
        self.kind() == Some(EventKind::ScenarioAnnounced)
            && self.data.get("escalation_acknowledged").and_then(|a| a.as_bool()) == Some(true)
    }

    /// The sequence number of the event this one corrects.
    pub fn corrects(&self) -> Option<i64> {
        self.data.get("corrects").and_then(|c| c.as_i64())
    }

    /// The name of the API token the change came through (None: made in the pages, or by Gameday).
    pub fn via_token(&self) -> Option<&str> {
        self.data.get("via").and_then(|v| v.get("token_name")).and_then(|n| n.as_str())
    }

    /// Whether it was brought in from a Chaos Toolkit journal (it then happened at `observed_at`).
    pub fn is_imported(&self) -> bool {
        self.data.get("imported").is_some_and(|i| i.is_object())
    }
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
