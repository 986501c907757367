//! Game days: a planned day of fault experiments in a team, with its participants and lifecycle
//! `draft → scheduled → running → completed`, and `draft | scheduled → cancelled`.

pub mod actions;
pub mod api;
pub mod pages;
pub mod routes;
pub mod store;
pub mod views;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::form::{FieldErrors, bounded_text};
use crate::hub::Audience;
use crate::teams::TeamRole;

/// Where a game day stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "gameday_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum GamedayStatus {
    Draft,
    Scheduled,
    Running,
    Completed,
    Cancelled,
}

impl GamedayStatus {
    pub const ALL: [GamedayStatus; 5] = [
        GamedayStatus::Draft,
        GamedayStatus::Scheduled,
        GamedayStatus::Running,
        GamedayStatus::Completed,
        GamedayStatus::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            GamedayStatus::Draft => "draft",
            GamedayStatus::Scheduled => "scheduled",
            GamedayStatus::Running => "running",
            GamedayStatus::Completed => "completed",
            GamedayStatus::Cancelled => "cancelled",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            GamedayStatus::Draft => "Draft",
            GamedayStatus::Scheduled => "Scheduled",
            GamedayStatus::Running => "Running",
            GamedayStatus::Completed => "Completed",
            GamedayStatus::Cancelled => "Cancelled",
        }
    }

    /// Whether the plan (details, scenarios, participants) may still change: the game day is not
    /// over yet (the SQL function `plan_is_open`).
    pub fn plan_is_open(&self) -> bool {
        matches!(self, GamedayStatus::Draft | GamedayStatus::Scheduled | GamedayStatus::Running)
    }

    /// Whether faults may be announced and injected: only while the game day runs.
    pub fn faults_may_run(&self) -> bool {
        *self == GamedayStatus::Running
    }

    /// What the live indicator of the game day's pages says once connected, when the day is not
    /// running: its pages still update by themselves, but a draft or a finished day is not
    /// "Live". None while it runs (the indicator then says "Live").
    pub fn quiet_live_label(&self) -> Option<&'static str> {
        (*self != GamedayStatus::Running).then_some("Updates live")
    }

    /// A facilitator's next step in `draft → scheduled → running → completed`: the lifecycle,
    /// stated once. The rules below check it; the game-day page offers the button it names.
    pub fn next_step(&self) -> Option<Step> {
        match self {
            GamedayStatus::Draft => Some(Step::Schedule),
            GamedayStatus::Scheduled => Some(Step::Start),
            GamedayStatus::Running => Some(Step::Complete),
            GamedayStatus::Completed | GamedayStatus::Cancelled => None,
        }
    }
}

/// A lifecycle step asked for by a facilitator (cancelling is [`cancel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Schedule,
    Start,
    Complete,
}

/// A person's role on one game day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "gameday_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum GamedayRole {
    /// Runs the day and edits the plan; a required signer.
    Facilitator,
    /// Signs off scenarios, logs observations, may halt; a required signer.
    Participant,
    /// Reads and logs observations; does not sign.
    Observer,
}

impl GamedayRole {
    pub const ALL: [GamedayRole; 3] = [GamedayRole::Facilitator, GamedayRole::Participant, GamedayRole::Observer];

    pub fn as_str(&self) -> &'static str {
        match self {
            GamedayRole::Facilitator => "facilitator",
            GamedayRole::Participant => "participant",
            GamedayRole::Observer => "observer",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            GamedayRole::Facilitator => "Facilitator",
            GamedayRole::Participant => "Participant",
            GamedayRole::Observer => "Observer",
        }
    }

    pub fn parse(input: &str) -> Result<GamedayRole, String> {
        GamedayRole::ALL
            .into_iter()
            .find(|r| r.as_str() == input)
            .ok_or_else(|| "Choose a role: facilitator, participant or observer.".to_owned())
    }

    /// The article before the role's name: "a facilitator", "an observer".
    pub fn article(&self) -> &'static str {
        if *self == GamedayRole::Observer { "an" } else { "a" }
    }

    /// Facilitators and participants sign every scenario; observers do not (the SQL function
    /// `is_required_signer`).
    pub fn is_required_signer(&self) -> bool {
        matches!(self, GamedayRole::Facilitator | GamedayRole::Participant)
    }
}

/// A game day as stored.
#[derive(Debug, Clone)]
pub struct Gameday {
    pub id: Uuid,
    pub team_id: Uuid,
    pub title: String,
    pub objective: String,
    pub environment: String,
    pub systems: String,
    pub starts_at: Option<OffsetDateTime>,
    pub ends_at: Option<OffsetDateTime>,
    pub call_link: Option<String>,
    pub status: GamedayStatus,
    pub cancel_reason: Option<String>,
    pub ics_sequence: i32,
    /// The sequence number of its latest timeline event: how many events it has.
    pub last_event_seq: i64,
}

/// A refusal of a state change: what is wrong and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl From<Refusal> for crate::error::AppError {
    fn from(refusal: Refusal) -> Self {
        crate::error::AppError::Conflict(refusal.0)
    }
}

fn refuse<T>(message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(message.into()))
}

/// Scheduling needs a start time and at least one scenario.
pub fn schedule(status: GamedayStatus, starts_at: Option<OffsetDateTime>, scenarios: usize) -> Result<(), Refusal> {
    if status.next_step() != Some(Step::Schedule) {
        return refuse(format!("Only a draft game day can be scheduled; this one is {}.", status.as_str()));
    }
    if starts_at.is_none() {
        return refuse("Set a start time before scheduling.");
    }
    if scenarios == 0 {
        return refuse("Add at least one scenario before scheduling.");
    }
    Ok(())
}

/// Starting needs the game day scheduled.
pub fn start(status: GamedayStatus) -> Result<(), Refusal> {
    match status.next_step() {
        Some(Step::Start) => Ok(()),
        Some(Step::Schedule) => refuse("Schedule the game day before starting it."),
        _ => refuse(format!("A {} game day cannot be started.", status.as_str())),
    }
}

/// Ending needs it running and no fault still announced or injected.
pub fn complete(status: GamedayStatus, faults_in_flight: usize) -> Result<(), Refusal> {
    if status.next_step() != Some(Step::Complete) {
        return refuse(format!("Only a running game day can be ended; this one is {}.", status.as_str()));
    }
    if faults_in_flight > 0 {
        return refuse(format!(
            "{faults_in_flight} scenario(s) are still announced or injected: roll back or halt them first."
        ));
    }
    Ok(())
}

/// Ending a day whose scenarios have not all run ends it early: that needs a reason, which the
/// timeline keeps. The message when it is missing, or None.
pub fn early_end_needs_reason(not_run: usize, reason: &str) -> Option<String> {
    (not_run > 0 && reason.trim().is_empty()).then(|| {
        let which = if not_run == 1 { "1 scenario has".to_owned() } else { format!("{not_run} scenarios have") };
        format!("{which} not run yet: say why the day ends early.")
    })
}

/// Cancelling is for game days that have not started.
pub fn cancel(status: GamedayStatus) -> Result<(), Refusal> {
    match status {
        GamedayStatus::Draft | GamedayStatus::Scheduled => Ok(()),
        other => refuse(format!("A {} game day cannot be cancelled.", other.as_str())),
    }
}

/// The kind of viewer someone with `role` on the game day is, for the parts of a page that are
/// rendered once per kind (`hub::Audience`).
pub fn audience(role: Option<GamedayRole>) -> Audience {
    match role {
        Some(GamedayRole::Facilitator) => Audience::Facilitator,
        Some(_) => Audience::OnTheDay,
        None => Audience::Member,
    }
}

/// A role that may do exactly what `audience` may, to ask the rules for a part rendered for it
/// (participants and observers may do the same on a running scenario: halt it).
pub fn role_of(audience: Audience) -> Option<GamedayRole> {
    match audience {
        Audience::Facilitator => Some(GamedayRole::Facilitator),
        Audience::OnTheDay => Some(GamedayRole::Observer),
        Audience::Member => None,
    }
}

/// How many facilitators there are among these participants' roles.
pub fn facilitators(roles: impl IntoIterator<Item = GamedayRole>) -> usize {
    roles.into_iter().filter(|r| *r == GamedayRole::Facilitator).count()
}

/// A game day keeps a facilitator: `from` becomes `to` (None: removed) among `facilitators`.
pub fn check_participant_change(
    from: GamedayRole,
    to: Option<GamedayRole>,
    facilitators: usize,
) -> Result<(), Refusal> {
    if from == GamedayRole::Facilitator && to != Some(GamedayRole::Facilitator) && facilitators <= 1 {
        return refuse("A game day keeps at least one facilitator. Make someone else a facilitator first.");
    }
    Ok(())
}

/// A signer's standing objection keeps them a signer: `from` becomes `to` (None: removed) while
/// they object to the current revision of scenarios not concluded, given as (title, revision,
/// reason). Making them an observer, or removing them, would silently open the gate.
pub fn check_keeps_objector<'a>(
    name: &str,
    from: GamedayRole,
    to: Option<GamedayRole>,
    mut objections: impl Iterator<Item = (&'a str, i32, &'a str)>,
) -> Result<(), Refusal> {
    if !from.is_required_signer() || to.is_some_and(|r| r.is_required_signer()) {
        return Ok(());
    }
    match objections.next() {
        None => Ok(()),
        Some((title, revision, reason)) => refuse(format!(
            "{name} objects to revision {revision} of the scenario \"{title}\" ({reason}); that objection stands \
             while they sign. Settle it first: revise the scenario, or {name} approves it."
        )),
    }
}

/// Once scheduled, a game day keeps a start time: its calendar entries need one.
pub fn check_keeps_start(
    status: GamedayStatus,
    starts_at: Option<OffsetDateTime>,
) -> Result<(), crate::error::AppError> {
    if status != GamedayStatus::Draft && starts_at.is_none() {
        let message = format!("A {} game day needs a start time.", status.as_str());
        return Err(crate::error::AppError::invalid("starts_at", message));
    }
    Ok(())
}

/// Which role a team member may take on a game day: team viewers only observe.
pub fn check_role_for(team_role: TeamRole, role: GamedayRole) -> Result<(), crate::error::AppError> {
    if team_role == TeamRole::Viewer && role != GamedayRole::Observer {
        return Err(crate::error::AppError::invalid("role", "Team viewers can join a game day as observers only."));
    }
    Ok(())
}

/// Who creates game days: leads and members; viewers read them.
pub fn check_can_create(team_role: TeamRole) -> Result<(), crate::error::AppError> {
    if team_role == TeamRole::Viewer {
        return Err(crate::error::AppError::Forbidden("Viewers read game days; a lead or member creates them.".into()));
    }
    Ok(())
}

/// Whether the plan can be edited in this status.
pub fn edit_plan(status: GamedayStatus) -> Result<(), Refusal> {
    if status.plan_is_open() {
        Ok(())
    } else {
        refuse(format!("A {} game day can no longer be changed.", status.as_str()))
    }
}

/// Why a running game day ends before all its scenarios ran (may be empty when they all did).
pub fn early_end_reason(input: &str) -> Result<String, String> {
    bounded_text(input, "The reason for ending early", 0, 500)
}

/// Why a game day is cancelled, for everyone on it.
pub fn cancel_reason(input: &str) -> Result<String, String> {
    bounded_text(input, "The reason for cancelling", 1, 500)
}

/// The details of a game day as entered.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct GamedayForm {
    pub title: String,
    pub objective: String,
    pub environment: String,
    pub systems: String,
    pub starts_at: String,
    pub ends_at: String,
    pub call_link: String,
}

/// Validated details of a game day.
#[derive(Debug, Clone, PartialEq)]
pub struct GamedayInput {
    pub title: String,
    pub objective: String,
    pub environment: String,
    pub systems: String,
    pub starts_at: Option<OffsetDateTime>,
    pub ends_at: Option<OffsetDateTime>,
    pub call_link: Option<String>,
}

/// A link people click: http(s) only, no spaces.
pub fn parse_link(input: &str, label: &str) -> Result<Option<String>, String> {
    let link = input.trim();
    if link.is_empty() {
        return Ok(None);
    }
    if link.chars().count() > 500 {
        return Err(format!("{label} must be at most 500 characters."));
    }
    let rest = link.strip_prefix("https://").or_else(|| link.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !link.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Ok(Some(link.to_owned()))
        }
        _ => Err(format!("{label} must be a web address starting with https:// or http://.")),
    }
}

impl GamedayForm {
    /// Validates the form; times are read in `zone`.
    pub fn parse(&self, zone: &str, errors: &mut FieldErrors) -> Option<GamedayInput> {
        let title = errors.check("title", bounded_text(&self.title, "Title", 1, 120));
        let objective = errors.check("objective", multiline(&self.objective, "Objective", 1, 4000));
        let environment = errors.check("environment", bounded_text(&self.environment, "Environment", 1, 80));
        let systems = errors.check("systems", multiline(&self.systems, "Systems under test", 0, 1000));
        let time = |input: &str| {
            if input.trim().is_empty() { Ok(None) } else { crate::tz::parse_local_input(input, zone).map(Some) }
        };
        let starts_at = errors.check("starts_at", time(&self.starts_at));
        let ends_at = errors.check("ends_at", time(&self.ends_at));
        if let (Some(Some(start)), Some(Some(end))) = (starts_at, ends_at)
            && end <= start
        {
            errors.add("ends_at", "The end must be after the start.");
        }
        if let (Some(None), Some(Some(_))) = (starts_at, ends_at) {
            errors.add("starts_at", "Set a start time too, or clear the end time.");
        }
        let call_link = errors.check("call_link", parse_link(&self.call_link, "Call link"));
        if !errors.is_empty() {
            return None;
        }
        Some(GamedayInput {
            title: title?,
            objective: objective?,
            environment: environment?,
            systems: systems?,
            starts_at: starts_at?,
            ends_at: ends_at?,
            call_link: call_link?,
        })
    }

    /// The form filled with a stored game day, times in `zone`.
    pub fn from_gameday(gameday: &Gameday, zone: &str) -> Self {
        let time = |at: &Option<OffsetDateTime>| at.map(|t| crate::tz::format_input(&t, zone)).unwrap_or_default();
        GamedayForm {
            title: gameday.title.clone(),
            objective: gameday.objective.clone(),
            environment: gameday.environment.clone(),
            systems: gameday.systems.clone(),
            starts_at: time(&gameday.starts_at),
            ends_at: time(&gameday.ends_at),
            call_link: gameday.call_link.clone().unwrap_or_default(),
        }
    }
}

/// Multi-line text: trimmed, newlines allowed, other control characters refused.
pub fn multiline(input: &str, label: &str, min: usize, max: usize) -> Result<String, String> {
    let value = input.trim().replace("\r\n", "\n");
    let len = value.chars().count();
    if len == 0 && min > 0 {
        return Err(format!("{label} is required."));
    }
    if len > max {
        return Err(format!("{label} must be at most {max} characters (it has {len})."));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(format!("{label} cannot contain control characters."));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> OffsetDateTime {
        crate::tz::parse_local_input(s, "UTC").unwrap()
    }

    #[test]
    fn scheduling_needs_a_draft_a_start_and_a_scenario() {
        let start = Some(at("2026-12-01T10:00"));
        assert!(schedule(GamedayStatus::Draft, start, 1).is_ok());
        assert_eq!(schedule(GamedayStatus::Draft, None, 1), Err(Refusal("Set a start time before scheduling.".into())));
        assert_eq!(
            schedule(GamedayStatus::Draft, start, 0),
            Err(Refusal("Add at least one scenario before scheduling.".into()))
        );
        assert!(schedule(GamedayStatus::Scheduled, start, 1).is_err());
    }

    #[test]
    fn lifecycle_transitions_follow_the_state_machine() {
        assert!(start(GamedayStatus::Scheduled).is_ok());
        for status in [GamedayStatus::Draft, GamedayStatus::Running, GamedayStatus::Completed, GamedayStatus::Cancelled]
        {
            assert!(start(status).is_err(), "start from {status:?}");
        }
        assert!(complete(GamedayStatus::Running, 0).is_ok());
        assert!(complete(GamedayStatus::Running, 1).is_err(), "a fault in flight blocks the end");
        assert!(complete(GamedayStatus::Scheduled, 0).is_err());
        assert!(early_end_needs_reason(0, "").is_none(), "every scenario ran: no reason needed");
        assert!(early_end_needs_reason(2, "  ").unwrap().starts_with("2 scenarios have not run yet"));
        assert!(early_end_needs_reason(1, "a real incident").is_none());
        assert!(cancel(GamedayStatus::Draft).is_ok());
        assert!(cancel(GamedayStatus::Scheduled).is_ok());
        assert!(cancel(GamedayStatus::Running).is_err());
        assert!(cancel(GamedayStatus::Completed).is_err());
        assert!(edit_plan(GamedayStatus::Running).is_ok());
        assert!(edit_plan(GamedayStatus::Completed).is_err());
        assert!(edit_plan(GamedayStatus::Cancelled).is_err());
    }

    #[test]
    fn a_game_day_past_its_draft_keeps_a_start_time() {
        assert!(check_keeps_start(GamedayStatus::Draft, None).is_ok());
        assert!(check_keeps_start(GamedayStatus::Scheduled, Some(at("2026-12-01T10:00"))).is_ok());
        for status in [GamedayStatus::Scheduled, GamedayStatus::Running] {
            let err = check_keeps_start(status, None).unwrap_err();
            assert!(matches!(err, crate::error::AppError::Validation { field: "starts_at", .. }), "{status:?}");
        }
    }

    #[test]
    fn only_facilitators_and_participants_sign() {
        assert!(GamedayRole::Facilitator.is_required_signer());
        assert!(GamedayRole::Participant.is_required_signer());
        assert!(!GamedayRole::Observer.is_required_signer());
    }

    #[test]
    fn the_form_is_read_in_the_persons_zone_and_checked() {
        let form = GamedayForm {
            title: "Failover drill".into(),
            objective: "Learn whether the replica takes over.".into(),
            environment: "staging".into(),
            starts_at: "2026-12-01T10:00".into(),
            ends_at: "2026-12-01T09:00".into(),
            call_link: "zoom.example/abc".into(),
            ..Default::default()
        };
        let mut errors = FieldErrors::new();
        assert!(form.parse("Europe/Berlin", &mut errors).is_none());
        assert_eq!(errors.get("ends_at"), Some("The end must be after the start."));
        assert!(errors.get("call_link").unwrap().contains("https://"));

        let form =
            GamedayForm { ends_at: "2026-12-01T12:00".into(), call_link: "https://meet.example/x".into(), ..form };
        let mut errors = FieldErrors::new();
        let input = form.parse("Europe/Berlin", &mut errors).expect("valid");
        assert_eq!(crate::tz::format_utc(&input.starts_at.unwrap()), "2026-12-01T09:00:00Z");
    }

    #[test]
    fn links_must_be_web_addresses() {
        assert_eq!(parse_link("", "Link"), Ok(None));
        assert!(parse_link("javascript:alert(1)", "Link").is_err());
        assert!(parse_link("https://", "Link").is_err());
        assert!(parse_link("https://a b", "Link").is_err());
        assert_eq!(parse_link(" https://x.example/a ", "Link"), Ok(Some("https://x.example/a".into())));
    }
}
