//! Adding learnings and actions to a game day's retrospective, and moving an action along:
//! each in one transaction, checked against the retrospective's state under its lock. Moving an
//! action along is a change to the team's follow-ups, so it writes an entry in the team's audit log.

use sqlx::PgPool;
use uuid::Uuid;

use super::{ActionStatus, NewAction, NewLearning, Record, check_can_record, store};
use crate::accounts::User;
use crate::audit::{AuditKind, NewEntry, store as audit};
use crate::error::{AppError, AppResult};
use crate::gamedays::actions::begin_as_member;
use crate::retros::store as retro_store;
use crate::scenarios::store as scenario_store;
use crate::teams::Membership;

/// Records a learning of a completed game day (the retrospective's row is locked, so a
/// publication cannot slip in between the check and the write).
pub async fn add_learning(db: &PgPool, gameday_id: Uuid, actor: &User, learning: &NewLearning) -> AppResult<Uuid> {
    let (mut tx, gameday, role, team_role) = begin_as_member(db, gameday_id, actor).await?;
    let retro = retro_store::lock(&mut tx, gameday_id).await?;
    crate::retros::check_writer(team_role)?;
    check_can_record(Record::Learning, gameday.status, role, retro.status)?;
    if let Some(scenario) = learning.scenario {
        scenario_store::scenario(&mut *tx, gameday_id, scenario)
            .await?
            .ok_or_else(|| AppError::invalid("scenario", "That scenario is not part of this game day."))?;
    }
    let id = store::create_learning(&mut tx, gameday.team_id, gameday_id, actor.id, learning).await?;
    tx.commit().await?;
    Ok(id)
}

/// Assigns a follow-up action of a completed game day.
pub async fn add_action(db: &PgPool, gameday_id: Uuid, actor: &User, action: &NewAction) -> AppResult<Uuid> {
    let (mut tx, gameday, role, team_role) = begin_as_member(db, gameday_id, actor).await?;
    let retro = retro_store::lock(&mut tx, gameday_id).await?;
    crate::retros::check_writer(team_role)?;
    check_can_record(Record::Action, gameday.status, role, retro.status)?;
    let id = store::create_action(&mut tx, gameday.team_id, gameday_id, actor.id, action).await?;
    tx.commit().await?;
    Ok(id)
}

/// Its owner or a team lead moves an action to `status`.
pub async fn set_status(
    db: &PgPool,
    membership: &Membership,
    actor: &User,
    action: Uuid,
    status: ActionStatus,
) -> AppResult<()> {
    let team_id = membership.team.id;
    let mut tx = db.begin().await?;
    let before = store::lock_action(&mut tx, team_id, action).await?.ok_or(AppError::NotFound)?;
    if before.owner != actor.id && !membership.role.is_lead() {
        return Err(AppError::Forbidden("Its owner or a team lead updates an action.".into()));
    }
    if before.status == status {
        return Ok(());
    }
    if !store::set_action_status(&mut tx, team_id, action, status).await? {
        return Err(AppError::NotFound);
    }
    let body = format!(
        "{} moved the action \"{}\" from {} to {}.",
        actor.display_name,
        before.title,
        before.status.label().to_lowercase(),
        status.label().to_lowercase()
    );
    let detail = serde_json::json!({ "action": action, "from": before.status.as_str(), "to": status.as_str() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::ActionStatusChanged, body).detail(detail))
        .await?;
    tx.commit().await?;
    Ok(())
}
