//! The run of a scenario and the gate in front of every fault. Lifecycle:
//! `proposed → announced → injected → rolled_back | halted → concluded` (an announced scenario
//! can also be halted before injection). Each move is a pure rule here that the actions call
//! inside their transaction and the pages ask before they offer a button:
//! - invariant 1: announce and inject only while running, with every required signer's
//!   approval of the current revision and no standing objection ([`announce`], [`inject`]);
//! - invariant 2: no edit once announced; anyone on the day may halt ([`edit`], [`halt`]);
//! - invariant 3: an open known weakness is injected only with a reason ([`weakness_gate`]);
//! - invariant 4: start tiny: escalate only after a smaller scenario held ([`start_tiny`]).

use serde::{Deserialize, Serialize};

use super::{BlastRadius, Decision, ScenarioFields, SignerStatus, Signoffs};
use crate::gamedays::{GamedayRole, GamedayStatus, Refusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "scenario_state", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ScenarioState {
    Proposed,
    Announced,
    Injected,
    RolledBack,
    Halted,
    Concluded,
}

impl ScenarioState {
    pub const ALL: [ScenarioState; 6] = [
        ScenarioState::Proposed,
        ScenarioState::Announced,
        ScenarioState::Injected,
        ScenarioState::RolledBack,
        ScenarioState::Halted,
        ScenarioState::Concluded,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ScenarioState::Proposed => "proposed",
            ScenarioState::Announced => "announced",
            ScenarioState::Injected => "injected",
            ScenarioState::RolledBack => "rolled_back",
            ScenarioState::Halted => "halted",
            ScenarioState::Concluded => "concluded",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            ScenarioState::Proposed => "Proposed",
            ScenarioState::Announced => "Announced",
            ScenarioState::Injected => "Injected",
            ScenarioState::RolledBack => "Rolled back",
            ScenarioState::Halted => "Halted",
            ScenarioState::Concluded => "Concluded",
        }
    }

    /// A fault is announced or injected: people must know (the SQL function `is_in_flight`).
    pub fn in_flight(&self) -> bool {
        matches!(self, ScenarioState::Announced | ScenarioState::Injected)
    }

    /// Sign-off is open until the scenario has run (the SQL function `takes_signoffs`); once
    /// announced, only a first approval is taken (see [`sign`]).
    pub fn takes_signoffs(&self) -> bool {
        matches!(self, ScenarioState::Proposed | ScenarioState::Announced)
    }

    /// The facilitator's next move on a scenario in this state: the lifecycle, stated once. The
    /// rules below check it, and the scenario page offers the button it names.
    pub fn next_move(&self) -> Option<Move> {
        match self {
            ScenarioState::Proposed => Some(Move::Announce),
            ScenarioState::Announced => Some(Move::Inject),
            ScenarioState::Injected => Some(Move::RollBack),
            ScenarioState::RolledBack | ScenarioState::Halted => Some(Move::Conclude),
            ScenarioState::Concluded => None,
        }
    }
}

/// A facilitator's move on a scenario (halting is anyone's, see [`may_halt`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Announce,
    Inject,
    RollBack,
    Conclude,
}

/// Who may halt a fault: anyone on the game day (a facilitator, participant or observer).
pub fn may_halt(role: Option<GamedayRole>) -> bool {
    role.is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "scenario_outcome", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The steady-state hypothesis held.
    Held,
    /// The hypothesis was refuted: a weakness was found.
    Refuted,
    Inconclusive,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Held, Outcome::Refuted, Outcome::Inconclusive];

    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Held => "held",
            Outcome::Refuted => "refuted",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// How the outcome reads after "the hypothesis …".
    pub fn sentence(&self) -> &'static str {
        match self {
            Outcome::Held => "held",
            Outcome::Refuted => "was refuted",
            Outcome::Inconclusive => "was inconclusive",
        }
    }

    pub fn parse(input: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == input)
            .ok_or_else(|| "Choose an outcome: held, refuted or inconclusive.".to_owned())
    }
}

fn refuse<T>(message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(message.into()))
}

/// Invariant 2: only a proposed scenario can be edited.
pub fn edit(state: ScenarioState) -> Result<(), Refusal> {
    match state {
        ScenarioState::Proposed => Ok(()),
        ScenarioState::Announced | ScenarioState::Injected => {
            refuse("An announced or injected scenario cannot be edited. Halt it first if it must change.")
        }
        other => refuse(format!("A {} scenario can no longer be edited.", other.label().to_lowercase())),
    }
}

/// Signing (approving or objecting) is open until announcement; after it, only a signer who has
/// not signed the current revision yet (say, added late) may still approve.
pub fn sign(state: ScenarioState, already_signed: bool, decision: Decision) -> Result<(), Refusal> {
    const CLOSED: &str = "Sign-off closed when the scenario was announced. To stop it, halt it.";
    if !state.takes_signoffs() {
        return refuse(if state.in_flight() { CLOSED } else { "This scenario has already run; sign-off is closed." });
    }
    if state == ScenarioState::Announced && (already_signed || decision != Decision::Approve) {
        return refuse(CLOSED);
    }
    Ok(())
}

/// The gate for announcing: the game day is running, the scenario proposed, and every
/// required signer approved its current revision with no standing objection.
pub fn announce(gameday: GamedayStatus, state: ScenarioState, signoffs: &Signoffs) -> Result<(), Refusal> {
    if !gameday.faults_may_run() {
        return refuse(format!("Faults are announced only while the game day is running; it is {}.", gameday.as_str()));
    }
    if state.next_move() != Some(Move::Announce) {
        return refuse(format!(
            "Only a proposed scenario can be announced; this one is {}.",
            state.label().to_lowercase()
        ));
    }
    match signoffs.shortfall() {
        Some(why) => refuse(format!("Not agreed yet. {why}")),
        None => Ok(()),
    }
}

/// Invariant 1, the gate for injecting: running, announced, and still fully approved
/// (a participant added since the announcement must approve too).
pub fn inject(gameday: GamedayStatus, state: ScenarioState, signoffs: &Signoffs) -> Result<(), Refusal> {
    if !gameday.faults_may_run() {
        return refuse(format!("Faults are injected only while the game day is running; it is {}.", gameday.as_str()));
    }
    if state.next_move() != Some(Move::Inject) {
        return refuse(match state {
            ScenarioState::Proposed => "Announce the scenario before injecting it: nobody may be surprised.".to_owned(),
            other => {
                format!("Only an announced scenario can be injected; this one is {}.", other.label().to_lowercase())
            }
        });
    }
    match signoffs.shortfall() {
        Some(why) => refuse(format!("Not agreed any more. {why}")),
        None => Ok(()),
    }
}

/// A scenario is approved only once every field is written: placeholders left by a draft (an
/// incident replay) are filled in first. (An objection is always possible.)
pub fn check_complete(fields: &ScenarioFields) -> Result<(), Refusal> {
    let missing = fields.placeholders();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.iter().map(|l| l.to_lowercase()).collect::<Vec<_>>().join(", ");
    refuse(format!("Not ready to approve: write the {list} first (they still hold a placeholder)."))
}

/// Anyone on the game day may halt an announced or injected fault.
pub fn halt(state: ScenarioState) -> Result<(), Refusal> {
    if state.in_flight() {
        Ok(())
    } else {
        refuse(format!(
            "Only an announced or injected scenario can be halted; this one is {}.",
            state.label().to_lowercase()
        ))
    }
}

pub fn roll_back(state: ScenarioState) -> Result<(), Refusal> {
    if state.next_move() == Some(Move::RollBack) {
        Ok(())
    } else {
        refuse(format!("Only an injected scenario can be rolled back; this one is {}.", state.label().to_lowercase()))
    }
}

pub fn conclude(state: ScenarioState) -> Result<(), Refusal> {
    match state.next_move() {
        Some(Move::Conclude) => Ok(()),
        Some(Move::RollBack) => refuse("Roll the fault back (or halt it) before concluding."),
        _ => refuse(format!("A {} scenario cannot be concluded.", state.label().to_lowercase())),
    }
}

/// Invariant 3: injecting into an open weakness needs a reason, which goes on the timeline.
pub fn weakness_gate(weakness_open: bool, reason: Option<&str>) -> Result<Option<String>, Refusal> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (weakness_open, reason) {
        (false, _) => Ok(None),
        (true, Some(reason)) => Ok(Some(reason.to_owned())),
        (true, None) => Err(Refusal(
            "This scenario targets an open known weakness. Say why you inject anyway (for example \"verifying the fix\").".into(),
        )),
    }
}

/// Invariant 4: a blast radius larger than tiny needs a smaller scenario on the same target
/// that held before, or an explicit acknowledgement.
pub fn start_tiny(
    radius: BlastRadius,
    smaller_held: Option<&str>,
    acknowledged: bool,
) -> Result<Option<String>, Refusal> {
    if radius == BlastRadius::Tiny || smaller_held.is_some() {
        return Ok(None);
    }
    if acknowledged {
        return Ok(Some(format!(
            "escalated to a {} blast radius without a smaller scenario that held on this target (acknowledged)",
            radius.as_str()
        )));
    }
    Err(Refusal(format!(
        "Start tiny: no smaller scenario on this target has held yet. Run one first, or acknowledge that you escalate straight to a {} blast radius.",
        radius.as_str()
    )))
}

/// Why a run of a scenario's revision may not go on now: the answer to the gate question an
/// automated run asks (`GET …/scenarios/{id}/gate?revision=N`). Each is one condition of the
/// moves above, stated for a machine; none means the gate is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Faults run only while the game day is running.
    NotRunning(GamedayStatus),
    /// The run was agreed at another revision than the current one.
    OtherRevision {
        asked: i32,
        current: i32,
    },
    /// Still proposed: nobody has been told yet.
    NotAnnounced,
    /// Halted, rolled back or concluded: this run is over.
    Over(ScenarioState),
    NoSigners,
    /// Required signers who have not signed the current revision.
    Unsigned(Vec<SignerStatus>),
    /// Standing objections to the current revision.
    Objected(Vec<SignerStatus>),
    /// Announced into an open known weakness: injecting needs a reason (invariant 3), which an
    /// automated run does not give; inject it with one, then the run may go on.
    OpenWeakness(String),
    /// Proposed larger than tiny with no smaller scenario that held: announcing needs an
    /// acknowledgement (invariant 4).
    StartTiny(BlastRadius),
}

impl Closed {
    /// The machine-readable name of the reason.
    pub fn code(&self) -> &'static str {
        match self {
            Closed::NotRunning(_) => "gameday_not_running",
            Closed::OtherRevision { .. } => "revision_changed",
            Closed::NotAnnounced => "not_announced",
            Closed::Over(ScenarioState::Halted) => "halted",
            Closed::Over(ScenarioState::RolledBack) => "rolled_back",
            Closed::Over(_) => "concluded",
            Closed::NoSigners => "no_signers",
            Closed::Unsigned(_) => "unsigned",
            Closed::Objected(_) => "objected",
            Closed::OpenWeakness(_) => "open_weakness",
            Closed::StartTiny(_) => "start_tiny",
        }
    }

    /// The reason for people, in the words of the pages' refusals.
    pub fn message(&self) -> String {
        let names = |people: &[SignerStatus]| people.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
        match self {
            Closed::NotRunning(status) => {
                format!("Faults run only while the game day is running; it is {}.", status.as_str())
            }
            Closed::OtherRevision { asked, current } => format!(
                "This run was agreed at revision {asked}, but the scenario is now at revision {current}: what people signed is not what would run."
            ),
            Closed::NotAnnounced => "Not announced yet: announce it first, so nobody is surprised.".into(),
            Closed::Over(state) => format!("The scenario is {}: this run is over.", state.label().to_lowercase()),
            Closed::NoSigners => "This game day has no required signers: add facilitators or participants.".into(),
            Closed::Unsigned(people) => {
                format!("{} of its signers have not signed this revision: {}.", people.len(), names(people))
            }
            Closed::Objected(people) => format!("Objected to by {}.", names(people)),
            Closed::OpenWeakness(title) => format!(
                "It targets the open known weakness \"{title}\": inject it with a reason (in the pages or through the API), then the run may go on."
            ),
            Closed::StartTiny(radius) => format!(
                "Start tiny: no smaller scenario on this target has held yet; announcing it at a {} blast radius needs an acknowledgement.",
                radius.as_str()
            ),
        }
    }

    /// The people a reason is about (who has not signed, who objects).
    pub fn people(&self) -> &[SignerStatus] {
        match self {
            Closed::Unsigned(people) | Closed::Objected(people) => people,
            _ => &[],
        }
    }
}

/// What the gate question is asked about.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    pub gameday: GamedayStatus,
    pub state: ScenarioState,
    pub current_revision: i32,
    pub asked_revision: i32,
    /// None until set (and then nobody has approved the revision).
    pub radius: Option<BlastRadius>,
    /// Where the signers stand on the current revision.
    pub signoffs: &'a Signoffs,
    /// The open known weakness the scenario targets, by title.
    pub open_weakness: Option<&'a str>,
    pub smaller_held: bool,
}

/// The gate question: may a run of `asked_revision` go on now? Open (no reasons) while the game
/// day runs and the scenario is announced or injected at that revision, everyone still approves
/// it, and an announced fault does not target an open weakness; otherwise every reason why.
pub fn run_gate(facts: &RunFacts) -> Vec<Closed> {
    let mut closed = Vec::new();
    if !facts.gameday.faults_may_run() {
        closed.push(Closed::NotRunning(facts.gameday));
    }
    if facts.asked_revision != facts.current_revision {
        closed.push(Closed::OtherRevision { asked: facts.asked_revision, current: facts.current_revision });
    }
    match facts.state {
        ScenarioState::Proposed => {
            closed.push(Closed::NotAnnounced);
            if let Some(radius) = facts.radius
                && start_tiny(radius, facts.smaller_held.then_some(""), false).is_err()
            {
                closed.push(Closed::StartTiny(radius));
            }
        }
        ScenarioState::Announced => {
            if let Some(title) = facts.open_weakness {
                closed.push(Closed::OpenWeakness(title.to_owned()));
            }
        }
        ScenarioState::Injected => {}
        over => closed.push(Closed::Over(over)),
    }
    if !matches!(facts.state, ScenarioState::RolledBack | ScenarioState::Halted | ScenarioState::Concluded) {
        let signoffs = facts.signoffs;
        if signoffs.signers.is_empty() {
            closed.push(Closed::NoSigners);
        }
        let missing: Vec<SignerStatus> = signoffs.missing().cloned().collect();
        if !missing.is_empty() {
            closed.push(Closed::Unsigned(missing));
        }
        let objections: Vec<SignerStatus> = signoffs.objections().cloned().collect();
        if !objections.is_empty() {
            closed.push(Closed::Objected(objections));
        }
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamedays::GamedayStatus;
    use crate::scenarios::SignerStatus;
    use uuid::Uuid;

    const A: Option<Decision> = Some(Decision::Approve);
    const O: Option<Decision> = Some(Decision::Object);
    fn signer(name: &str, decision: Option<Decision>) -> SignerStatus {
        SignerStatus {
            user_id: Uuid::new_v4(),
            name: name.into(),
            decision,
            reason: (decision == Some(Decision::Object)).then(|| "too risky".to_owned()),
        }
    }

    fn signoffs(decisions: &[(&str, Option<Decision>)]) -> Signoffs {
        Signoffs { revision: 3, signers: decisions.iter().map(|(n, d)| signer(n, *d)).collect() }
    }

    #[test]
    fn announce_needs_running_proposed_and_full_approval() {
        let all = signoffs(&[("Ana", A), ("Li", A)]);
        assert!(announce(GamedayStatus::Running, ScenarioState::Proposed, &all).is_ok());
        assert!(announce(GamedayStatus::Scheduled, ScenarioState::Proposed, &all).is_err());
        assert!(announce(GamedayStatus::Running, ScenarioState::Announced, &all).is_err());
    }

    #[test]
    fn a_missing_signature_refuses_announce_and_names_who() {
        let partial = signoffs(&[("Ana", A), ("Li", None), ("Bo", None)]);
        let refusal = announce(GamedayStatus::Running, ScenarioState::Proposed, &partial).unwrap_err();
        assert_eq!(refusal.0, "Not agreed yet. 2 of 3 signers have not signed revision 3: Li, Bo.");
    }

    #[test]
    fn an_objection_refuses_announce_and_says_why() {
        let objected = signoffs(&[("Ana", A), ("Li", O)]);
        let refusal = announce(GamedayStatus::Running, ScenarioState::Proposed, &objected).unwrap_err();
        assert!(refusal.0.contains("1 objection to revision 3: Li (too risky)"), "{}", refusal.0);
    }

    #[test]
    fn no_signers_means_no_agreement() {
        assert!(!signoffs(&[]).fully_approved());
        assert!(announce(GamedayStatus::Running, ScenarioState::Proposed, &signoffs(&[])).is_err());
    }

    #[test]
    fn inject_needs_announced_and_still_full_approval() {
        let all = signoffs(&[("Ana", A), ("Li", A)]);
        assert!(inject(GamedayStatus::Running, ScenarioState::Announced, &all).is_ok());
        assert!(inject(GamedayStatus::Running, ScenarioState::Proposed, &all).unwrap_err().0.contains("Announce"));
        let late_joiner = signoffs(&[("Ana", A), ("Li", A), ("New", None)]);
        assert!(inject(GamedayStatus::Running, ScenarioState::Announced, &late_joiner).is_err());
        assert!(inject(GamedayStatus::Completed, ScenarioState::Announced, &all).is_err());
    }

    #[test]
    fn halt_roll_back_and_conclude_follow_the_lifecycle() {
        assert!(halt(ScenarioState::Announced).is_ok());
        assert!(halt(ScenarioState::Injected).is_ok());
        assert!(halt(ScenarioState::Proposed).is_err());
        assert!(halt(ScenarioState::Halted).is_err());
        assert!(roll_back(ScenarioState::Injected).is_ok());
        assert!(roll_back(ScenarioState::Announced).is_err());
        assert!(conclude(ScenarioState::RolledBack).is_ok());
        assert!(conclude(ScenarioState::Halted).is_ok());
        assert!(conclude(ScenarioState::Injected).is_err());
        assert!(conclude(ScenarioState::Concluded).is_err());
    }

    #[test]
    fn only_proposed_scenarios_are_edited() {
        assert!(edit(ScenarioState::Proposed).is_ok());
        for state in
            [ScenarioState::Announced, ScenarioState::Injected, ScenarioState::Halted, ScenarioState::Concluded]
        {
            assert!(edit(state).is_err(), "{state:?}");
        }
    }

    #[test]
    fn signing_closes_at_announcement_except_a_first_approval() {
        assert!(sign(ScenarioState::Proposed, true, Decision::Object).is_ok());
        assert!(sign(ScenarioState::Announced, true, Decision::Object).is_err());
        assert!(sign(ScenarioState::Announced, false, Decision::Object).is_err());
        assert!(sign(ScenarioState::Announced, false, Decision::Approve).is_ok());
        assert!(sign(ScenarioState::Injected, false, Decision::Approve).is_err());
    }

    #[test]
    fn an_open_weakness_needs_a_reason() {
        assert_eq!(weakness_gate(false, None), Ok(None));
        assert!(weakness_gate(true, None).is_err());
        assert!(weakness_gate(true, Some("  ")).is_err());
        assert_eq!(weakness_gate(true, Some("verifying the fix")), Ok(Some("verifying the fix".into())));
    }

    fn facts(state: ScenarioState, signoffs: &Signoffs) -> RunFacts<'_> {
        RunFacts {
            gameday: GamedayStatus::Running,
            state,
            current_revision: 3,
            asked_revision: 3,
            radius: Some(BlastRadius::Tiny),
            signoffs,
            open_weakness: None,
            smaller_held: false,
        }
    }

    fn codes(closed: &[Closed]) -> Vec<&'static str> {
        closed.iter().map(Closed::code).collect()
    }

    #[test]
    fn the_gate_is_open_only_for_an_agreed_fault_in_flight_at_the_asked_revision() {
        let all = signoffs(&[("Ana", A), ("Li", A)]);
        assert!(run_gate(&facts(ScenarioState::Announced, &all)).is_empty());
        assert!(run_gate(&facts(ScenarioState::Injected, &all)).is_empty());
        assert_eq!(codes(&run_gate(&facts(ScenarioState::Proposed, &all))), ["not_announced"]);
        assert_eq!(codes(&run_gate(&facts(ScenarioState::Halted, &all))), ["halted"]);
        assert_eq!(codes(&run_gate(&facts(ScenarioState::RolledBack, &all))), ["rolled_back"]);
        assert_eq!(codes(&run_gate(&facts(ScenarioState::Concluded, &all))), ["concluded"]);
        let old = RunFacts { asked_revision: 2, ..facts(ScenarioState::Injected, &all) };
        assert_eq!(codes(&run_gate(&old)), ["revision_changed"]);
        let stopped = RunFacts { gameday: GamedayStatus::Completed, ..facts(ScenarioState::Injected, &all) };
        assert_eq!(codes(&run_gate(&stopped)), ["gameday_not_running"]);
    }

    #[test]
    fn the_gate_names_who_has_not_signed_and_who_objects() {
        let partial = signoffs(&[("Ana", A), ("Li", None), ("Bo", O)]);
        let closed = run_gate(&facts(ScenarioState::Injected, &partial));
        assert_eq!(codes(&closed), ["unsigned", "objected"]);
        assert_eq!(closed[0].people().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Li"]);
        assert_eq!(closed[1].people()[0].name, "Bo");
        assert!(closed[1].message().contains("Bo"));
        assert_eq!(codes(&run_gate(&facts(ScenarioState::Announced, &signoffs(&[])))), ["no_signers"]);
    }

    #[test]
    fn the_gate_waits_for_a_reason_to_inject_into_an_open_weakness_and_for_start_tiny() {
        let all = signoffs(&[("Ana", A)]);
        let weak = RunFacts { open_weakness: Some("Failover takes minutes"), ..facts(ScenarioState::Announced, &all) };
        assert_eq!(codes(&run_gate(&weak)), ["open_weakness"]);
        let injected = RunFacts { state: ScenarioState::Injected, ..weak };
        assert!(run_gate(&injected).is_empty(), "injected with a reason: the run may go on");
        let big = RunFacts { radius: Some(BlastRadius::Large), ..facts(ScenarioState::Proposed, &all) };
        assert_eq!(codes(&run_gate(&big)), ["not_announced", "start_tiny"]);
        assert_eq!(codes(&run_gate(&RunFacts { smaller_held: true, ..big })), ["not_announced"]);
    }

    #[test]
    fn start_tiny_needs_a_smaller_success_or_an_acknowledgement() {
        assert_eq!(start_tiny(BlastRadius::Tiny, None, false), Ok(None));
        assert_eq!(start_tiny(BlastRadius::Medium, Some("Kill one pod"), false), Ok(None));
        assert!(start_tiny(BlastRadius::Small, None, false).is_err());
        assert!(start_tiny(BlastRadius::Large, None, true).unwrap().unwrap().contains("acknowledged"));
    }
}
