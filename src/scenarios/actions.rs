//! Changes to scenarios, each in one transaction: lock the game day, then the scenario, read the
//! participants and sign-offs under those locks, apply the rule, write, record the event, commit.
//! A concurrent objection, edit or participant change therefore cannot interleave with an
//! announce or inject: they queue on the same game-day row lock.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::gate::{self, Outcome, ScenarioState};
use super::store::{self, Scenario};
use super::{Decision, ScenarioFields};
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::gamedays::Refusal;
use crate::gamedays::actions::{begin, require_facilitator};
use crate::gamedays::store as gameday_store;
use crate::gamedays::{Gameday, GamedayRole, edit_plan};
use crate::healthchecks::{self, store as health_store};
use crate::timeline::{EventKind, NewEvent};
use crate::weaknesses::store as weakness_store;

/// A facilitator adds a scenario to a game day whose plan is open (revision 1).
pub async fn create(db: &PgPool, gameday_id: Uuid, actor: &User, fields: &ScenarioFields) -> AppResult<Uuid> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    let id = create_in(&mut tx, &gameday, role, actor, fields).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`create`] inside a transaction that already holds the game day's lock (for a change that
/// adds a scenario with more, such as replaying an incident).
pub async fn create_in(
    tx: &mut PgConnection,
    gameday: &Gameday,
    role: Option<GamedayRole>,
    actor: &User,
    fields: &ScenarioFields,
) -> AppResult<Uuid> {
    let id = add_to_plan(tx, gameday, role, actor, fields).await?;
    let body = format!("{} added the scenario \"{}\" (revision 1).", actor.display_name, fields.title);
    let data = serde_json::json!({ "revision": 1, "fingerprint": fields.fingerprint() });
    let event = NewEvent::new(gameday.id, actor.id, EventKind::ScenarioAdded, body).scenario(id).data(data);
    events::record(tx, event).await?;
    Ok(id)
}

/// The rule and the writes of adding a scenario, whose event the caller records: only a
/// facilitator, only while the plan is open, with an abort owner who signs it.
async fn add_to_plan(
    tx: &mut PgConnection,
    gameday: &Gameday,
    role: Option<GamedayRole>,
    actor: &User,
    fields: &ScenarioFields,
) -> AppResult<Uuid> {
    add_to_plan_with(tx, gameday, role, actor, fields, None).await
}

/// [`add_to_plan`] for a scenario that carries an experiment (an import, whose action records
/// its own event).
pub async fn add_to_plan_with(
    tx: &mut PgConnection,
    gameday: &Gameday,
    role: Option<GamedayRole>,
    actor: &User,
    fields: &ScenarioFields,
    experiment: Option<store::NewExperiment<'_>>,
) -> AppResult<Uuid> {
    require_facilitator(role)?;
    edit_plan(gameday.status)?;
    check_abort_owner(tx, gameday.id, fields).await?;
    let id = store::create_scenario(tx, gameday.id, fields, actor.id, experiment).await?;
    gameday_store::plan_changed(tx, gameday.id).await?;
    Ok(id)
}

/// A scenario copied into a game day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub id: Uuid,
    /// The source's abort owner does not sign on the target game day, so the copier became it.
    pub abort_owner_changed: bool,
}

/// Copies a scenario of `source_day` into the game day `target_id` of the same team (or into
/// `source_day` itself) as a new scenario: the words of its current revision become revision 1,
/// proposed and signed by nobody, recorded on the target's timeline, in one transaction. The
/// copier must be allowed to add a scenario there (a facilitator, the plan open). The abort
/// owner stays when they sign on the target; otherwise the copier, a facilitator there, is it.
pub async fn copy_into(
    db: &PgPool,
    (source_day, source_id): (&Gameday, Uuid),
    target_id: Uuid,
    actor: &User,
) -> AppResult<Copied> {
    let (mut tx, target, role) = begin(db, target_id, actor).await?;
    if target.team_id != source_day.team_id {
        return Err(AppError::NotFound);
    }
    let source = store::scenario(&mut *tx, source_day.id, source_id).await?.ok_or(AppError::NotFound)?;
    let signers = gameday_store::participants(&mut *tx, target.id).await?;
    let signers: Vec<Uuid> = signers.iter().filter(|p| p.role.is_required_signer()).map(|p| p.user_id).collect();
    let (fields, owner_changed) = source.fields.copy_for(&signers, actor.id);
    let id = add_to_plan(&mut tx, &target, role, actor, &fields).await?;
    let from = if target.id == source_day.id { String::new() } else { format!(" from \"{}\"", source_day.title) };
    let mut body = format!("{} copied \"{}\"{from} as a new scenario (revision 1).", actor.display_name, fields.title);
    if owner_changed {
        match source.abort_owner_name.as_deref().filter(|_| source.fields.abort_owner.is_some()) {
            Some(before) => body.push_str(&format!(
                " {} is its abort owner: {before} does not sign on this game day.",
                actor.display_name
            )),
            None => body.push_str(&format!(" {} is its abort owner.", actor.display_name)),
        }
    }
    let data = serde_json::json!({
        "revision": 1,
        "fingerprint": fields.fingerprint(),
        "copied_from": { "gameday": source_day.id, "scenario": source.id, "revision": source.revision },
    });
    let event = NewEvent::new(target.id, actor.id, EventKind::ScenarioAdded, body).scenario(id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Copied { id, abort_owner_changed: owner_changed })
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revised {
    /// A new revision; sign-offs of earlier ones no longer count.
    NewRevision { revision: i32, changed: Vec<&'static str>, signoffs_reset: usize },
    /// Nothing changed, so no revision was made.
    Unchanged,
}

/// A facilitator edits a scenario through its form: a new revision with these fields. The form
/// holds neither the experiment a scenario carries nor its health checks: an edit keeps them.
pub async fn revise(
    db: &PgPool,
    gameday_id: Uuid,
    scenario_id: Uuid,
    actor: &User,
    fields: &ScenarioFields,
) -> AppResult<Revised> {
    revise_with(db, (gameday_id, scenario_id), actor, |current| {
        Ok(ScenarioFields {
            experiment_digest: current.experiment_digest.clone(),
            health_checks: current.health_checks.clone(),
            ..fields.clone()
        })
    })
    .await
}

/// Makes a new revision whose fields `change` derives from the current ones, under the game
/// day's and the scenario's locks (nothing when they come out the same): how an edit, attaching
/// a health check and updating one from the library all revise a scenario.
pub async fn revise_with(
    db: &PgPool,
    (gameday_id, scenario_id): (Uuid, Uuid),
    actor: &User,
    change: impl FnOnce(&ScenarioFields) -> AppResult<ScenarioFields>,
) -> AppResult<Revised> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    edit_plan(gameday.status)?;
    let scenario = store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    gate::edit(scenario.state)?;
    let fields = &change(&scenario.fields)?;
    if scenario.fields == *fields {
        return Ok(Revised::Unchanged);
    }
    check_abort_owner(&mut tx, gameday_id, fields).await?;
    gameday_store::plan_changed(&mut tx, gameday_id).await?;
    let before = store::signoffs::signoffs(&mut *tx, gameday_id, scenario_id, scenario.revision).await?;
    let signoffs_reset = before.signers.iter().filter(|s| s.decision.is_some()).count();
    let revision = scenario.revision + 1;
    store::insert_revision(&mut tx, scenario_id, revision, fields, actor.id).await?;
    let changed: Vec<&'static str> = scenario.fields.diff("", fields, "").into_iter().map(|c| c.label).collect();
    let changed = if scenario.fields.abort_owner != fields.abort_owner && !changed.contains(&"Abort owner") {
        [changed, vec!["Abort owner"]].concat()
    } else {
        changed
    };
    let mut body = format!(
        "{} made revision {revision} of \"{}\": changed {}.",
        actor.display_name,
        fields.title,
        changed.join(", ").to_lowercase()
    );
    if signoffs_reset > 0 {
        body.push_str(&format!(" {signoffs_reset} earlier sign-off(s) no longer count; everyone signs again."));
    }
    let data = serde_json::json!({ "revision": revision, "fingerprint": fields.fingerprint(), "changed": changed });
    let event = NewEvent::new(gameday_id, actor.id, EventKind::ScenarioRevised, body).scenario(scenario_id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Revised::NewRevision { revision, changed, signoffs_reset })
}

/// A required signer approves or objects to the scenario's current revision (`revision` is the one
/// the person read; if it changed meanwhile, they are told to read it again).
pub async fn sign(
    db: &PgPool,
    gameday_id: Uuid,
    scenario_id: Uuid,
    actor: &User,
    revision: i32,
    decision: Decision,
    reason: Option<&str>,
) -> AppResult<()> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    edit_plan(gameday.status)?;
    if !role.is_some_and(|r| r.is_required_signer()) {
        return Err(AppError::Forbidden("Only facilitators and participants of this game day sign scenarios.".into()));
    }
    let scenario = store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    if scenario.revision != revision {
        return Err(AppError::Conflict(format!(
            "The scenario changed while you were reading it: it is now at revision {}. Read it again, then sign.",
            scenario.revision
        )));
    }
    let current = store::signoffs::signoffs(&mut *tx, gameday_id, scenario_id, revision).await?;
    let already_signed = current.signers.iter().any(|s| s.user_id == actor.id && s.decision.is_some());
    gate::sign(scenario.state, already_signed, decision)?;
    if decision == Decision::Approve {
        gate::check_complete(&scenario.fields)?;
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if decision == Decision::Object && reason.is_none() {
        return Err(AppError::invalid("reason", "An objection needs a reason, so the plan can be fixed."));
    }
    store::signoffs::record_signoff(&mut tx, scenario_id, revision, actor.id, decision, reason).await?;
    let (kind, body) = match decision {
        Decision::Approve => (
            EventKind::SignoffApproved,
            format!("{} approved revision {revision} of \"{}\".", actor.display_name, scenario.fields.title),
        ),
        Decision::Object => (
            EventKind::SignoffObjected,
            format!(
                "{} objected to revision {revision} of \"{}\": {}",
                actor.display_name,
                scenario.fields.title,
                reason.unwrap_or_default()
            ),
        ),
    };
    let data = serde_json::json!({ "revision": revision, "fingerprint": scenario.fingerprint });
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, kind, body).scenario(scenario_id).data(data)).await?;
    tx.commit().await?;
    Ok(())
}

/// Announces a fault: the last step before injection, so that nobody is surprised. A blast
/// radius larger than tiny needs a smaller scenario on the same target that held, or
/// `acknowledge_escalation` (invariant 4), which then goes on the timeline. `at_revision`, when
/// given (an automated run agreed at a revision), must be the current revision.
pub async fn announce(
    db: &PgPool,
    (gameday_id, scenario_id, at_revision): (Uuid, Uuid, Option<i32>),
    actor: &User,
    acknowledge_escalation: bool,
) -> AppResult<()> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let scenario = store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    check_revision(&scenario, at_revision)?;
    let signoffs = store::signoffs::signoffs(&mut *tx, gameday_id, scenario_id, scenario.revision).await?;
    gate::announce(gameday.status, scenario.state, &signoffs)?;
    check_health(&mut tx, &scenario, "announced").await?;
    let f = &scenario.fields;
    // Approval needs a blast radius (gate::check_complete), so an agreed scenario has one.
    let radius = f.blast_radius.ok_or_else(|| Refusal("Set the blast radius before announcing.".into()))?;
    let smaller = store::smaller_that_held(
        &mut *tx,
        gameday.team_id,
        scenario_id,
        &f.target_system,
        Some(radius),
        &gameday.environment,
    )
    .await?;
    let escalation = gate::start_tiny(radius, smaller.as_deref(), acknowledge_escalation)?;
    store::set_state(&mut tx, scenario_id, ScenarioState::Announced).await?;
    let mut body = format!(
        "{} announced \"{}\" on {} (blast radius {}): {} Abort if: {}",
        actor.display_name,
        f.title,
        f.target_system,
        radius.as_str(),
        f.fault,
        f.abort_criteria
    );
    if let Some(escalation) = &escalation {
        body.push_str(&format!(" Start tiny: {escalation}."));
    }
    let signers: Vec<Uuid> = signoffs.signers.iter().map(|s| s.user_id).collect();
    let data = serde_json::json!({
        "revision": scenario.revision,
        "fingerprint": scenario.fingerprint,
        "approved_by": signers,
        "target": f.target_system,
        "blast_radius": f.blast_radius,
        "escalation_acknowledged": escalation.is_some(),
        "smaller_that_held": smaller,
    });
    let event =
        NewEvent::new(gameday_id, actor.id, EventKind::ScenarioAnnounced, body).scenario(scenario_id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Invariant 1: injects an announced fault whose current revision everyone still approves.
/// Invariant 3: into an open known weakness only with `weakness_reason`, recorded on the timeline.
/// `at_revision` as for [`announce`].
pub async fn inject(
    db: &PgPool,
    (gameday_id, scenario_id, at_revision): (Uuid, Uuid, Option<i32>),
    actor: &User,
    weakness_reason: Option<&str>,
) -> AppResult<()> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let scenario = store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    check_revision(&scenario, at_revision)?;
    let signoffs = store::signoffs::signoffs(&mut *tx, gameday_id, scenario_id, scenario.revision).await?;
    gate::inject(gameday.status, scenario.state, &signoffs)?;
    check_health(&mut tx, &scenario, "injected").await?;
    let weakness = weakness_store::linked_weakness(&mut *tx, scenario_id).await?;
    let open_weakness = weakness.as_ref().filter(|(_, _, open)| *open);
    let reason = gate::weakness_gate(open_weakness.is_some(), weakness_reason)?;
    store::set_state(&mut tx, scenario_id, ScenarioState::Injected).await?;
    let mut body = format!(
        "{} injected \"{}\" into {}.",
        actor.display_name, scenario.fields.title, scenario.fields.target_system
    );
    if let (Some((_, title, _)), Some(reason)) = (open_weakness, &reason) {
        body.push_str(&format!(" It targets the open weakness \"{title}\"; injected anyway because: {reason}"));
    }
    let signers: Vec<Uuid> = signoffs.signers.iter().map(|s| s.user_id).collect();
    let data = serde_json::json!({
        "revision": scenario.revision,
        "fingerprint": scenario.fingerprint,
        "approved_by": signers,
        "weakness_reason": reason,
    });
    let event = NewEvent::new(gameday_id, actor.id, EventKind::ScenarioInjected, body).scenario(scenario_id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Invariant 8: the announce and the inject need a passing result of each health check the
/// revision carries, younger than a few seconds (the checks ran just before, outside the
/// transaction: `healthchecks::actions::run_before`). Read under the scenario's lock.
async fn check_health(tx: &mut PgConnection, scenario: &Scenario, moving: &str) -> AppResult<()> {
    if scenario.fields.health_checks.is_empty() {
        return Ok(());
    }
    let latest = health_store::latest(&mut *tx, scenario.id, scenario.revision).await?;
    healthchecks::gate(&scenario.fields.health_checks, &latest, moving).map_err(|why| Refusal(why).into())
}

/// A move an automated run makes for the revision it was agreed at: refused once the scenario
/// is at another (checked under the scenario's lock).
fn check_revision(scenario: &Scenario, at_revision: Option<i32>) -> AppResult<()> {
    match at_revision {
        Some(asked) if asked != scenario.revision => Err(AppError::Conflict(format!(
            "This run was agreed at revision {asked}, but the scenario is now at revision {}: what people signed is not what would run.",
            scenario.revision
        ))),
        _ => Ok(()),
    }
}

/// The answer to the gate question: the scenario, where its signers stand on its current
/// revision, and every reason a run of `asked_revision` (the current one unless given) may not go
/// on now (none: open). See [`gate::run_gate`]. Read without locks, statement by statement: an
/// answer is a moment's and may be overtaken at once (a halt, an objection); the moves check the
/// same rules again under their locks.
pub struct GateAnswer {
    pub scenario: Scenario,
    pub gameday_status: crate::gamedays::GamedayStatus,
    pub asked_revision: i32,
    pub closed: Vec<gate::Closed>,
}

pub async fn gate_question(
    db: &PgPool,
    gameday: &Gameday,
    scenario_id: Uuid,
    asked_revision: Option<i32>,
) -> AppResult<GateAnswer> {
    let scenario = store::scenario(db, gameday.id, scenario_id).await?.ok_or(AppError::NotFound)?;
    let signoffs = store::signoffs::signoffs(db, gameday.id, scenario_id, scenario.revision).await?;
    let weakness = weakness_store::linked_weakness(db, scenario_id).await?;
    let f = &scenario.fields;
    let smaller = if scenario.state == ScenarioState::Proposed && f.blast_radius != Some(super::BlastRadius::Tiny) {
        store::smaller_that_held(
            db,
            gameday.team_id,
            scenario_id,
            &f.target_system,
            f.blast_radius,
            &gameday.environment,
        )
        .await?
    } else {
        None
    };
    let asked_revision = asked_revision.unwrap_or(scenario.revision);
    let closed = gate::run_gate(&gate::RunFacts {
        gameday: gameday.status,
        state: scenario.state,
        current_revision: scenario.revision,
        asked_revision,
        radius: f.blast_radius,
        signoffs: &signoffs,
        open_weakness: weakness.as_ref().filter(|(_, _, open)| *open).map(|(_, title, _)| title.as_str()),
        smaller_held: smaller.is_some(),
    });
    Ok(GateAnswer { scenario, gameday_status: gameday.status, asked_revision, closed })
}

/// Anyone on the game day halts an announced or injected fault, saying why.
pub async fn halt(db: &PgPool, gameday_id: Uuid, scenario_id: Uuid, actor: &User, reason: &str) -> AppResult<()> {
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    if !gate::may_halt(role) {
        return Err(AppError::Forbidden("Only people on this game day can halt its faults.".into()));
    }
    let reason = halt_reason(reason)?;
    let scenario = store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    gate::halt(scenario.state)?;
    halt_in(&mut tx, gameday_id, &scenario, actor, reason).await?;
    tx.commit().await?;
    Ok(())
}

fn halt_reason(reason: &str) -> AppResult<&str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("reason", "Say why you halt, so everyone knows what went wrong."));
    }
    Ok(reason)
}

/// Halts a locked scenario in flight and records who and why.
async fn halt_in(
    tx: &mut PgConnection,
    gameday_id: Uuid,
    scenario: &Scenario,
    actor: &User,
    reason: &str,
) -> AppResult<()> {
    store::set_state(tx, scenario.id, ScenarioState::Halted).await?;
    let body = format!("Halted by {} because {reason}", actor.display_name);
    let data = serde_json::json!({ "from": scenario.state, "reason": reason });
    let event = NewEvent::new(gameday_id, actor.id, EventKind::ScenarioHalted, body).scenario(scenario.id).data(data);
    events::record(tx, event).await?;
    left_flight(tx, scenario).await
}

/// A fault that was injected has left flight: its health checks run until the steady state is
/// back (or the time runs out), which measures the recovery.
async fn left_flight(tx: &mut PgConnection, scenario: &Scenario) -> AppResult<()> {
    if scenario.state == ScenarioState::Injected && !scenario.fields.health_checks.is_empty() {
        health_store::start_recovery(tx, scenario.id, scenario.revision, healthchecks::RECOVERY_LIMIT_SECS).await?;
    }
    Ok(())
}

/// Invariant 8, while injected: a failing "halt automatically" check halts the fault exactly as a
/// person would (same state, event kind, webhooks and banners), saying which check saw what.
/// Nothing happens when the scenario is no longer injected at `revision` (a person was faster).
/// Returns whether it halted.
pub async fn halt_by_check(
    db: &PgPool,
    (gameday_id, scenario_id, revision): (Uuid, Uuid, i32),
    check: &str,
    summary: &str,
) -> AppResult<bool> {
    let mut tx = db.begin().await?;
    gameday_store::lock_gameday(&mut tx, gameday_id).await?.ok_or(AppError::NotFound)?;
    let Some(scenario) = store::lock_scenario(&mut tx, gameday_id, scenario_id).await? else { return Ok(false) };
    if scenario.state != ScenarioState::Injected || scenario.revision != revision {
        return Ok(false);
    }
    store::set_state(&mut tx, scenario_id, ScenarioState::Halted).await?;
    let body = healthchecks::halt_body(check, summary);
    let data = serde_json::json!({ "from": scenario.state, "reason": summary, "check": check, "by_check": true });
    let event = NewEvent::by_gameday(gameday_id, EventKind::ScenarioHalted, body).scenario(scenario_id).data(data);
    events::record(&mut tx, event).await?;
    left_flight(&mut tx, &scenario).await?;
    tx.commit().await?;
    Ok(true)
}

/// "Halt everything": a facilitator halts every fault in flight on the game day at once (a real
/// incident began), in one transaction, each halt on the timeline with the reason. Returns how
/// many were halted.
pub async fn halt_all(db: &PgPool, gameday_id: Uuid, actor: &User, reason: &str) -> AppResult<usize> {
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let reason = halt_reason(reason)?;
    let in_flight: Vec<Scenario> =
        store::scenarios_of(&mut *tx, gameday_id).await?.into_iter().filter(|s| s.state.in_flight()).collect();
    if in_flight.is_empty() {
        return Err(AppError::Conflict("No fault is announced or injected: there is nothing to halt.".into()));
    }
    for scenario in &in_flight {
        let locked = store::lock_scenario(&mut tx, gameday_id, scenario.id).await?.ok_or(AppError::NotFound)?;
        gate::halt(locked.state)?;
        halt_in(&mut tx, gameday_id, &locked, actor, reason).await?;
    }
    tx.commit().await?;
    Ok(in_flight.len())
}

pub async fn roll_back(db: &PgPool, gameday_id: Uuid, scenario_id: Uuid, actor: &User) -> AppResult<()> {
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let scenario = store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    gate::roll_back(scenario.state)?;
    store::set_state(&mut tx, scenario_id, ScenarioState::RolledBack).await?;
    let body = format!("{} rolled back \"{}\".", actor.display_name, scenario.fields.title);
    let event = NewEvent::new(gameday_id, actor.id, EventKind::ScenarioRolledBack, body).scenario(scenario_id);
    events::record(&mut tx, event).await?;
    left_flight(&mut tx, &scenario).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn conclude(
    db: &PgPool,
    gameday_id: Uuid,
    scenario_id: Uuid,
    actor: &User,
    outcome: Outcome,
    note: &str,
) -> AppResult<()> {
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let scenario = store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    gate::conclude(scenario.state)?;
    let note = note.trim();
    store::conclude(&mut tx, scenario_id, outcome, note).await?;
    let mut body = format!(
        "{} concluded \"{}\": the hypothesis {}.",
        actor.display_name,
        scenario.fields.title,
        outcome.sentence()
    );
    if !note.is_empty() {
        body.push(' ');
        body.push_str(note);
    }
    let data = serde_json::json!({ "outcome": outcome });
    let event =
        NewEvent::new(gameday_id, actor.id, EventKind::ScenarioConcluded, body).scenario(scenario_id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// The abort owner must be a facilitator or participant of the game day (someone who signs it),
/// checked under the game day's lock.
async fn check_abort_owner(tx: &mut sqlx::PgConnection, gameday_id: Uuid, fields: &ScenarioFields) -> AppResult<()> {
    // None only in a draft (an imported experiment): nobody approves it until it is chosen.
    let Some(owner) = fields.abort_owner else {
        return Ok(());
    };
    match gameday_store::participant_role(&mut *tx, gameday_id, owner).await? {
        Some(role) if role.is_required_signer() => Ok(()),
        _ => Err(AppError::invalid(
            "abort_owner",
            "The abort owner must be a facilitator or participant of this game day (someone who signs it).",
        )),
    }
}
