//! Changes to the known-weakness register and the incidents, kept by the team's leads and
//! members. Linking a scenario to the weakness it exercises, or replaying an incident as a
//! scenario, is part of a game day's plan, so those are recorded on its timeline; the register
//! and the incidents are the team's, so their changes are recorded in the team's audit log.

use sqlx::PgPool;
use time::Date;
use uuid::Uuid;

use super::WeaknessStatus;
use super::store::{self, Incident};
use crate::accounts::User;
use crate::audit::{AuditKind, NewEntry, store as audit};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::gamedays::actions::{begin, require_facilitator};
use crate::scenarios::store as scenario_store;
use crate::scenarios::{BlastRadius, ScenarioFields, TO_BE_AGREED, TO_BE_DECIDED};
use crate::teams::Membership;
use crate::timeline::{EventKind, NewEvent};

/// Links a proposed scenario to one of the team's weaknesses (or unlinks it, with None).
/// Only before anyone signed the current revision: the link is part of what people agree to.
pub async fn link(
    db: &PgPool,
    gameday_id: Uuid,
    scenario_id: Uuid,
    actor: &User,
    weakness: Option<Uuid>,
) -> AppResult<()> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let scenario = scenario_store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    crate::scenarios::gate::edit(scenario.state)?;
    if store::has_signoffs(&mut tx, scenario_id).await? {
        return Err(AppError::Conflict(
            "People have signed this revision already: link the weakness before sign-off (edit the scenario to start a new revision).".into(),
        ));
    }
    if !store::link_weakness(&mut tx, gameday.team_id, scenario_id, weakness).await? {
        return Err(AppError::invalid("weakness", "Choose a weakness from the team's register."));
    }
    let body = match weakness {
        Some(_) => format!("{} linked \"{}\" to a known weakness.", actor.display_name, scenario.fields.title),
        None => format!("{} unlinked \"{}\" from its known weakness.", actor.display_name, scenario.fields.title),
    };
    let event = NewEvent::new(gameday_id, actor.id, EventKind::ScenarioRevised, body)
        .scenario(scenario_id)
        .data(serde_json::json!({ "weakness": weakness }));
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// "Replay this incident": a scenario draft in a game day the actor facilitates, linked to the
/// incident, in one transaction. Its details are to be agreed before anyone signs it.
pub async fn replay(db: &PgPool, gameday_id: Uuid, actor: &User, incident: &Incident) -> AppResult<Uuid> {
    let fields = ScenarioFields {
        title: format!("Replay: {}", incident.title).chars().take(120).collect(),
        hypothesis: format!("If \"{}\" happens again, we detect it and recover within our objectives.", incident.title),
        // Within the 4000 characters the scenario form allows (a summary may have as many).
        fault: if incident.summary.is_empty() {
            "Reproduce the incident (describe how).".into()
        } else {
            format!("Reproduce: {}", incident.summary).chars().take(4000).collect()
        },
        target_system: TO_BE_DECIDED.into(),
        blast_radius: Some(BlastRadius::Tiny),
        expected_impact: TO_BE_AGREED.into(),
        abort_criteria: TO_BE_AGREED.into(),
        abort_owner: Some(actor.id),
        rollback_plan: TO_BE_AGREED.into(),
        experiment_digest: None,
        health_checks: Vec::new(),
    };
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    let scenario = crate::scenarios::actions::create_in(&mut tx, &gameday, role, actor, &fields).await?;
    store::link_incident(&mut tx, scenario, incident.id).await?;
    tx.commit().await?;
    Ok(scenario)
}

/// A weakness entered by hand, or found by a scenario (`found_in`).
pub struct NewWeakness<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub found_in: Option<Uuid>,
}

/// Adds a weakness to the team's register.
pub async fn add(db: &PgPool, membership: &Membership, actor: &User, weakness: NewWeakness<'_>) -> AppResult<Uuid> {
    super::check_can_keep(membership.role)?;
    let (team_id, title, description) = (membership.team.id, weakness.title, weakness.description);
    let mut tx = db.begin().await?;
    let id = store::create_weakness(&mut tx, team_id, title, description, weakness.found_in, actor.id).await?;
    let body = format!("{} added the weakness \"{title}\" to the register.", actor.display_name);
    let detail = serde_json::json!({ "weakness": id, "found_in_scenario": weakness.found_in });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::WeaknessAdded, body).detail(detail)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Marks a weakness open or mitigated; not while a scenario linked to it is in flight. Marking
/// it mitigated lifts the open-weakness gate of the scenarios linked to it, so it needs a reason;
/// who did it and why go to the team's audit log and to the timeline of every game day with a
/// linked scenario not concluded yet.
pub async fn set_status(
    db: &PgPool,
    membership: &Membership,
    actor: &User,
    weakness: Uuid,
    status: WeaknessStatus,
    reason: &str,
) -> AppResult<()> {
    super::check_can_keep(membership.role)?;
    if status == WeaknessStatus::Mitigated && reason.is_empty() {
        return Err(AppError::invalid("reason", "Say how the weakness was mitigated."));
    }
    let team_id = membership.team.id;
    let mut tx = db.begin().await?;
    // The game days first, then the weakness: the order a scenario's announce takes them.
    let gamedays = store::lock_gamedays_linked_to(&mut tx, team_id, weakness).await?;
    let (title, before) = store::lock_weakness(&mut tx, team_id, weakness).await?.ok_or(AppError::NotFound)?;
    // The weakness is the team's (it is locked): the update refuses only while a linked scenario is in flight.
    if !store::set_weakness_status(&mut tx, team_id, weakness, status).await? {
        return Err(AppError::Conflict(
            "A scenario linked to this weakness is announced or injected: change its status after the fault ends."
                .into(),
        ));
    }
    if before != status {
        let because = if reason.is_empty() { String::new() } else { format!(" because: {reason}") };
        let body = match status {
            WeaknessStatus::Mitigated => {
                format!("{} marked the weakness \"{title}\" mitigated{because}.", actor.display_name)
            }
            WeaknessStatus::Open => format!("{} reopened the weakness \"{title}\"{because}.", actor.display_name),
        };
        let detail = serde_json::json!({
            "weakness": weakness, "from": before.as_str(), "to": status.as_str(), "reason": reason, "by": actor.id,
        });
        audit::record(
            &mut tx,
            NewEntry::new(team_id, actor.id, AuditKind::WeaknessStatusChanged, body.clone()).detail(detail),
        )
        .await?;
        for (gameday_id, scenario_id, scenario_title) in store::open_scenarios_linked_to(&mut tx, weakness).await? {
            if !gamedays.contains(&gameday_id) {
                continue;
            }
            let body = format!("{body} \"{scenario_title}\" is linked to it.");
            let data =
                serde_json::json!({ "weakness": weakness, "weakness_status": status.as_str(), "reason": reason });
            let event =
                NewEvent::new(gameday_id, actor.id, EventKind::ScenarioRevised, body).scenario(scenario_id).data(data);
            events::record(&mut tx, event).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A past incident, as entered.
pub struct NewIncident<'a> {
    pub title: &'a str,
    pub happened_on: Date,
    pub summary: &'a str,
    pub link: Option<&'a str>,
}

/// Records a past incident, which can then be replayed as a scenario.
pub async fn add_incident(
    db: &PgPool,
    membership: &Membership,
    actor: &User,
    incident: NewIncident<'_>,
) -> AppResult<Uuid> {
    super::check_can_keep(membership.role)?;
    let NewIncident { title, happened_on, summary, link } = incident;
    let team_id = membership.team.id;
    let mut tx = db.begin().await?;
    let id = store::create_incident(&mut tx, team_id, title, happened_on, summary, link, actor.id).await?;
    let body = format!("{} recorded the incident \"{title}\" of {happened_on}.", actor.display_name);
    let detail = serde_json::json!({ "incident": id, "happened_on": happened_on.to_string() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::IncidentAdded, body).detail(detail)).await?;
    tx.commit().await?;
    Ok(id)
}
