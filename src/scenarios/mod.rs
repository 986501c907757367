//! Scenarios: one fault experiment each. This module is the plan: what a scenario says (its
//! fields, every edit a new revision with a fingerprint and a diff) and who has signed which
//! revision. The run and the gate (states, outcomes, and the rules of every move: invariants
//! 1 to 4) are in [`gate`].

pub mod actions;
pub mod api;
pub mod gate;
pub mod pages;
pub mod routes;
pub mod store;
pub mod views;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::form::{FieldErrors, bounded_text};
use crate::gamedays::multiline;
use crate::healthchecks::AttachedCheck;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, sqlx::Type, Serialize, Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "blast_radius", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum BlastRadius {
    Tiny,
    Small,
    Medium,
    Large,
}

impl BlastRadius {
    pub const ALL: [BlastRadius; 4] = [BlastRadius::Tiny, BlastRadius::Small, BlastRadius::Medium, BlastRadius::Large];

    pub fn as_str(&self) -> &'static str {
        match self {
            BlastRadius::Tiny => "tiny",
            BlastRadius::Small => "small",
            BlastRadius::Medium => "medium",
            BlastRadius::Large => "large",
        }
    }

    pub fn parse(input: &str) -> Result<BlastRadius, String> {
        BlastRadius::ALL
            .into_iter()
            .find(|b| b.as_str() == input)
            .ok_or_else(|| "Choose a blast radius: tiny, small, medium or large.".to_owned())
    }

    /// One step smaller (None for tiny) or larger (None for large).
    pub fn step(&self, variant: Variant) -> Option<BlastRadius> {
        let at = BlastRadius::ALL.iter().position(|b| b == self)?;
        match variant {
            Variant::Smaller => at.checked_sub(1).map(|i| BlastRadius::ALL[i]),
            Variant::Larger => BlastRadius::ALL.get(at + 1).copied(),
        }
    }
}

/// A copy of a scenario on the same target, one blast radius smaller or larger: how a team
/// starts tiny and grows a fault step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Smaller,
    Larger,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Smaller, Variant::Larger];

    pub fn as_str(&self) -> &'static str {
        match self {
            Variant::Smaller => "smaller",
            Variant::Larger => "larger",
        }
    }

    pub fn parse(input: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.as_str() == input)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "signoff_decision", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Object,
}

/// What a drafted scenario says in a field nobody has written yet (see
/// [`ScenarioFields::placeholders`]).
pub const TO_BE_DECIDED: &str = "to be decided";
/// What a drafted scenario says in a field to be agreed with the signers.
pub const TO_BE_AGREED: &str = "To be agreed before sign-off.";
const PLACEHOLDERS: [&str; 2] = [TO_BE_DECIDED, TO_BE_AGREED];

/// The content of a scenario revision: what everyone signs, word for word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioFields {
    pub title: String,
    pub hypothesis: String,
    pub fault: String,
    pub target_system: String,
    /// None until the facilitator sets it (a scenario imported from an experiment).
    pub blast_radius: Option<BlastRadius>,
    pub expected_impact: String,
    pub abort_criteria: String,
    pub abort_owner: Option<Uuid>,
    pub rollback_plan: String,
    /// The digest of the Chaos Toolkit experiment the revision carries (see
    /// [`crate::chaostoolkit::experiment`]): the fingerprint covers the document through it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment_digest: Option<String>,
    /// The health checks that guard the fault (copies, see [`crate::healthchecks`]): people agree
    /// to the safety net too, so the fingerprint covers them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<AttachedCheck>,
}

/// How a blast radius reads where it may not be set yet.
pub fn radius_label(radius: Option<BlastRadius>) -> &'static str {
    radius.map_or(RADIUS_NOT_SET, |r| r.as_str())
}

/// What a scenario shows for a blast radius nobody has set yet.
pub const RADIUS_NOT_SET: &str = "not set yet";

/// One field that differs between two revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub label: &'static str,
    pub before: String,
    pub after: String,
}

impl ScenarioFields {
    /// A short fingerprint of the content (SHA-256 over every field, first 12 hex digits).
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("fields serialise");
        Sha256::digest(&canonical).iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    /// The blast radius as it reads, "not set yet" when it is not.
    pub fn radius(&self) -> &'static str {
        radius_label(self.blast_radius)
    }

    /// The fields as (label, value) pairs, in reading order; `owner_name` names the abort owner.
    pub fn labelled(&self, owner_name: &str) -> Vec<(&'static str, String)> {
        vec![
            ("Title", self.title.clone()),
            ("Steady-state hypothesis", self.hypothesis.clone()),
            ("Fault", self.fault.clone()),
            ("Target system", self.target_system.clone()),
            ("Blast radius", radius_label(self.blast_radius).to_owned()),
            ("Expected impact", self.expected_impact.clone()),
            ("Abort criteria", self.abort_criteria.clone()),
            ("Abort owner", owner_name.to_owned()),
            ("Rollback plan", self.rollback_plan.clone()),
        ]
    }

    /// The fields still to be written, by label: those holding a placeholder ([`PLACEHOLDERS`]),
    /// a blast radius not set and an abort owner not chosen. A scenario drafted for someone (an
    /// incident replay, an imported experiment) is not agreed to until they are.
    pub fn placeholders(&self) -> Vec<&'static str> {
        self.labelled("")
            .into_iter()
            .filter(|(label, value)| match *label {
                "Blast radius" => self.blast_radius.is_none(),
                "Abort owner" => self.abort_owner.is_none(),
                _ => PLACEHOLDERS.iter().any(|p| value.trim().eq_ignore_ascii_case(p)),
            })
            .map(|(label, _)| label)
            .collect()
    }

    /// The draft of a variant of this scenario: the same words, "(smaller)" or "(larger)" after
    /// the title (kept within its 120 characters), and the blast radius one step smaller or
    /// larger, or None when there is no such step (a tiny one has no smaller variant).
    pub fn variant(&self, variant: Variant) -> Option<ScenarioFields> {
        let blast_radius = Some(self.blast_radius?.step(variant)?);
        let suffix = format!(" ({})", variant.as_str());
        let room = 120 - suffix.chars().count();
        let title = self.title.chars().take(room).collect::<String>().trim_end().to_owned() + &suffix;
        Some(ScenarioFields { title, blast_radius, ..self.clone() })
    }

    /// The words of a copy onto a game day whose signers are `signers`, made by `copier`: the
    /// same, except that an abort owner who does not sign there gives way to the copier (who may
    /// add scenarios there, so signs). True when the abort owner changed.
    pub fn copy_for(&self, signers: &[Uuid], copier: Uuid) -> (ScenarioFields, bool) {
        let keeps = self.abort_owner.is_some_and(|owner| signers.contains(&owner));
        let abort_owner = if keeps { self.abort_owner } else { Some(copier) };
        (ScenarioFields { abort_owner, ..self.clone() }, !keeps)
    }

    /// What changed from `self` to `after`, field by field.
    pub fn diff(&self, before_owner: &str, after: &ScenarioFields, after_owner: &str) -> Vec<FieldChange> {
        let mut changes: Vec<FieldChange> = self
            .labelled(before_owner)
            .into_iter()
            .zip(after.labelled(after_owner))
            .filter(|((_, a), (_, b))| a != b)
            .map(|((label, before), (_, after))| FieldChange { label, before, after })
            .collect();
        let (before, after) = (checks_words(&self.health_checks), checks_words(&after.health_checks));
        if before != after {
            changes.push(FieldChange { label: "Health checks", before, after });
        }
        changes
    }
}

/// The health checks of a revision in words, for a diff.
fn checks_words(checks: &[AttachedCheck]) -> String {
    if checks.is_empty() {
        return "none".into();
    }
    checks.iter().map(AttachedCheck::words).collect::<Vec<_>>().join("; ")
}

/// What a halt says: why, for everyone on the game day (the pages' form and the API's body).
pub fn halt_reason(input: &str) -> Result<String, String> {
    bounded_text(input, "The reason for halting", 1, 500)
}

/// Why a fault is injected into an open known weakness (None when none is given).
pub fn weakness_reason(input: &str) -> Result<Option<String>, String> {
    match input.trim() {
        "" => Ok(None),
        reason => bounded_text(reason, "The reason", 1, 500).map(Some),
    }
}

/// The note a scenario is concluded with (may be empty).
pub fn conclusion_note(input: &str) -> Result<String, String> {
    multiline(input, "The note", 0, 4000)
}

/// The scenario form as entered (the pages' form, and the API's body: the same checks).
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ScenarioForm {
    pub title: String,
    pub hypothesis: String,
    pub fault: String,
    pub target_system: String,
    pub blast_radius: String,
    pub expected_impact: String,
    pub abort_criteria: String,
    pub abort_owner: String,
    pub rollback_plan: String,
}

impl ScenarioForm {
    /// Validates; the abort owner must be one of `participants`.
    pub fn parse(&self, participants: &[Uuid], errors: &mut FieldErrors) -> Option<ScenarioFields> {
        let title = errors.check("title", bounded_text(&self.title, "Title", 1, 120));
        let hypothesis = errors.check("hypothesis", multiline(&self.hypothesis, "Steady-state hypothesis", 1, 4000));
        let fault = errors.check("fault", multiline(&self.fault, "Fault", 1, 4000));
        let target_system = errors.check("target_system", bounded_text(&self.target_system, "Target system", 1, 120));
        let blast_radius = errors.check("blast_radius", BlastRadius::parse(&self.blast_radius));
        let expected_impact =
            errors.check("expected_impact", multiline(&self.expected_impact, "Expected impact", 1, 4000));
        let abort_criteria = errors.check("abort_criteria", multiline(&self.abort_criteria, "Abort criteria", 1, 4000));
        let rollback_plan = errors.check("rollback_plan", multiline(&self.rollback_plan, "Rollback plan", 1, 4000));
        let abort_owner = if self.abort_owner.trim().is_empty() {
            errors.add("abort_owner", "Choose who calls the abort.");
            None
        } else {
            match Uuid::parse_str(self.abort_owner.trim()) {
                Ok(id) if participants.contains(&id) => Some(id),
                _ => {
                    errors.add("abort_owner", "The abort owner must be a participant of this game day.");
                    None
                }
            }
        };
        if !errors.is_empty() {
            return None;
        }
        Some(ScenarioFields {
            title: title?,
            hypothesis: hypothesis?,
            fault: fault?,
            target_system: target_system?,
            blast_radius: Some(blast_radius?),
            expected_impact: expected_impact?,
            abort_criteria: abort_criteria?,
            abort_owner,
            rollback_plan: rollback_plan?,
            experiment_digest: None,
            health_checks: Vec::new(),
        })
    }

    pub fn from_fields(fields: &ScenarioFields) -> Self {
        ScenarioForm {
            title: fields.title.clone(),
            hypothesis: fields.hypothesis.clone(),
            fault: fields.fault.clone(),
            target_system: fields.target_system.clone(),
            blast_radius: fields.blast_radius.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            expected_impact: fields.expected_impact.clone(),
            abort_criteria: fields.abort_criteria.clone(),
            abort_owner: fields.abort_owner.map(|id| id.to_string()).unwrap_or_default(),
            rollback_plan: fields.rollback_plan.clone(),
        }
    }
}

/// A required signer and where they stand on the current revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerStatus {
    pub user_id: Uuid,
    pub name: String,
    pub decision: Option<Decision>,
    pub reason: Option<String>,
}

/// Sign-off of one revision by the game day's required signers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signoffs {
    pub revision: i32,
    pub signers: Vec<SignerStatus>,
}

impl Signoffs {
    /// Where nobody has signed `revision` yet.
    pub fn unsigned(revision: i32) -> Signoffs {
        Signoffs { revision, signers: Vec::new() }
    }

    pub fn approved(&self) -> impl Iterator<Item = &SignerStatus> {
        self.signers.iter().filter(|s| s.decision == Some(Decision::Approve))
    }

    pub fn objections(&self) -> impl Iterator<Item = &SignerStatus> {
        self.signers.iter().filter(|s| s.decision == Some(Decision::Object))
    }

    pub fn missing(&self) -> impl Iterator<Item = &SignerStatus> {
        self.signers.iter().filter(|s| s.decision.is_none())
    }

    pub fn approved_count(&self) -> usize {
        self.approved().count()
    }

    /// Every required signer approved, nobody objects, and there is at least one signer.
    pub fn fully_approved(&self) -> bool {
        !self.signers.is_empty() && self.signers.iter().all(|s| s.decision == Some(Decision::Approve))
    }

    /// Why this revision is not agreed, for a refusal: "2 of 5 signers have not signed revision 3: Ana, Li".
    pub fn shortfall(&self) -> Option<String> {
        if self.signers.is_empty() {
            return Some("This game day has no required signers: add facilitators or participants.".into());
        }
        let mut reasons = Vec::new();
        let objections: Vec<String> = self
            .objections()
            .map(|s| format!("{} ({})", s.name, s.reason.as_deref().unwrap_or("no reason given")))
            .collect();
        if !objections.is_empty() {
            reasons.push(format!(
                "{} {} to revision {}: {}",
                objections.len(),
                if objections.len() == 1 { "objection" } else { "objections" },
                self.revision,
                objections.join("; ")
            ));
        }
        let missing: Vec<&str> = self.missing().map(|s| s.name.as_str()).collect();
        if !missing.is_empty() {
            reasons.push(format!(
                "{} of {} signers have not signed revision {}: {}",
                missing.len(),
                self.signers.len(),
                self.revision,
                missing.join(", ")
            ));
        }
        if reasons.is_empty() { None } else { Some(reasons.join(". ") + ".") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn fields() -> ScenarioFields {
        ScenarioFields {
            title: "Kill one API pod".into(),
            hypothesis: "p99 stays under 300 ms".into(),
            fault: "kubectl delete pod api-0".into(),
            target_system: "api".into(),
            blast_radius: Some(BlastRadius::Tiny),
            expected_impact: "none visible".into(),
            abort_criteria: "error rate > 1%".into(),
            abort_owner: Some(Uuid::from_u128(7)),
            rollback_plan: "the deployment recreates it".into(),
            experiment_digest: None,
            health_checks: Vec::new(),
        }
    }

    #[test]
    fn placeholders_are_named_by_their_field() {
        assert!(fields().placeholders().is_empty());
        let mut draft = fields();
        draft.target_system = TO_BE_DECIDED.into();
        draft.rollback_plan = format!("  {TO_BE_AGREED} ");
        assert_eq!(draft.placeholders(), vec!["Target system", "Rollback plan"]);
        let imported = ScenarioFields { blast_radius: None, abort_owner: None, ..fields() };
        assert_eq!(imported.placeholders(), vec!["Blast radius", "Abort owner"]);
        assert_eq!(imported.labelled("")[4].1, "not set yet");
    }

    #[test]
    fn the_fingerprint_covers_an_attached_experiment() {
        let plain = fields();
        let with = ScenarioFields { experiment_digest: Some("ab".repeat(32)), ..fields() };
        let other = ScenarioFields { experiment_digest: Some("cd".repeat(32)), ..fields() };
        assert_ne!(plain.fingerprint(), with.fingerprint());
        assert_ne!(with.fingerprint(), other.fingerprint());
    }

    #[test]
    fn the_fingerprint_follows_the_words() {
        let a = fields();
        let mut b = fields();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 12);
        b.rollback_plan.push('.');
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn the_diff_lists_changed_fields_only() {
        let a = fields();
        let mut b = fields();
        b.rollback_plan = "scale the deployment back up".into();
        b.blast_radius = Some(BlastRadius::Small);
        let changes = a.diff("Ana", &b, "Ana");
        let labels: Vec<&str> = changes.iter().map(|c| c.label).collect();
        assert_eq!(labels, vec!["Blast radius", "Rollback plan"]);
        assert_eq!(changes[1].after, "scale the deployment back up");
        assert_eq!(a.diff("Ana", &a, "Li")[0].label, "Abort owner");
    }

    #[test]
    fn a_variant_is_one_blast_radius_step_away_on_the_same_target() {
        let small = ScenarioFields { blast_radius: Some(BlastRadius::Small), ..fields() };
        let smaller = small.variant(Variant::Smaller).unwrap();
        assert_eq!(smaller.blast_radius, Some(BlastRadius::Tiny));
        assert_eq!(smaller.title, "Kill one API pod (smaller)");
        assert_eq!(smaller.target_system, small.target_system);
        assert_eq!(smaller.fault, small.fault);
        assert_eq!(small.variant(Variant::Larger).unwrap().blast_radius, Some(BlastRadius::Medium));
        assert_eq!(fields().variant(Variant::Smaller), None, "nothing is smaller than tiny");
        let large = ScenarioFields { blast_radius: Some(BlastRadius::Large), ..fields() };
        assert_eq!(large.variant(Variant::Larger), None, "nothing is larger than large");
    }

    #[test]
    fn a_variant_title_stays_within_the_limit() {
        let long = ScenarioFields { title: "x".repeat(120), ..fields() };
        let title = long.variant(Variant::Larger).unwrap().title;
        assert_eq!(title.chars().count(), 120);
        assert!(title.ends_with("x (larger)"));
    }

    #[test]
    fn a_copy_keeps_its_words_and_an_abort_owner_who_signs_there() {
        let (owner, copier) = (Uuid::new_v4(), Uuid::new_v4());
        let source = ScenarioFields { abort_owner: Some(owner), ..fields() };
        assert_eq!(source.copy_for(&[copier, owner], copier), (source.clone(), false));
        let (copy, changed) = source.copy_for(&[copier], copier);
        assert!(changed);
        assert_eq!(copy, ScenarioFields { abort_owner: Some(copier), ..source });
    }

    #[test]
    fn the_abort_owner_must_be_a_participant() {
        let owner = Uuid::new_v4();
        let form = ScenarioForm { abort_owner: Uuid::new_v4().to_string(), ..ScenarioForm::from_fields(&fields()) };
        let mut errors = FieldErrors::new();
        assert!(form.parse(&[owner], &mut errors).is_none());
        assert!(errors.get("abort_owner").is_some());
        let form = ScenarioForm { abort_owner: owner.to_string(), ..form };
        let mut errors = FieldErrors::new();
        assert_eq!(form.parse(&[owner], &mut errors).unwrap().abort_owner, Some(owner));
    }
}
