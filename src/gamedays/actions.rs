//! Changes to a game day, each in one transaction that locks the game day's row first, checks
//! the rules, and writes its timeline event before committing.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::store::{self};
use super::{Gameday, GamedayInput, GamedayRole, GamedayStatus, Step};
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::scenarios::store as scenario_store;
use crate::teams::TeamRole;
use crate::timeline::{EventKind, NewEvent};

/// Begins a transaction holding the game day's lock, with the actor's role on it.
pub async fn begin(
    db: &PgPool,
    gameday_id: Uuid,
    actor: &User,
) -> AppResult<(Transaction<'static, Postgres>, Gameday, Option<GamedayRole>)> {
    let mut tx = db.begin().await?;
    let gameday = store::lock_gameday(&mut tx, gameday_id).await?.ok_or(AppError::NotFound)?;
    let role = store::participant_role(&mut *tx, gameday_id, actor.id).await?;
    Ok((tx, gameday, role))
}

/// Like [`begin`], for changes that need the actor to be a writing member of the team too: their
/// team role, read with their membership row locked first (the order a team's member changes
/// take: member rows, then game days), so a demotion cannot slip in between check and write.
pub async fn begin_as_member(
    db: &PgPool,
    gameday_id: Uuid,
    actor: &User,
) -> AppResult<(Transaction<'static, Postgres>, Gameday, Option<GamedayRole>, TeamRole)> {
    let mut tx = db.begin().await?;
    let team_role = store::lock_team_role(&mut tx, gameday_id, actor.id).await?;
    let gameday = store::lock_gameday(&mut tx, gameday_id).await?.ok_or(AppError::NotFound)?;
    let team_role = team_role.ok_or_else(|| AppError::Forbidden("Only members of the team can do that.".into()))?;
    let role = store::participant_role(&mut *tx, gameday_id, actor.id).await?;
    Ok((tx, gameday, role, team_role))
}

pub fn require_facilitator(role: Option<GamedayRole>) -> AppResult<()> {
    match role {
        Some(GamedayRole::Facilitator) => Ok(()),
        _ => Err(AppError::Forbidden("Only a facilitator of this game day can do that.".into())),
    }
}

/// Creates a game day in a team, with its creator as the first facilitator.
pub async fn create(db: &PgPool, team_id: Uuid, actor: &User, input: &GamedayInput) -> AppResult<Uuid> {
    let mut tx = db.begin().await?;
    let id = store::create_gameday(&mut tx, team_id, input, actor.id).await?;
    store::add_participant(&mut tx, id, actor.id, GamedayRole::Facilitator).await?;
    let body = format!("{} created the game day \"{}\".", actor.display_name, input.title);
    events::record(&mut tx, NewEvent::new(id, actor.id, EventKind::GamedayCreated, body)).await?;
    let body = format!("{} joined as facilitator.", actor.display_name);
    let data = serde_json::json!({ "user_id": actor.id, "role": "facilitator" });
    events::record(&mut tx, NewEvent::new(id, actor.id, EventKind::ParticipantAdded, body).data(data)).await?;
    tx.commit().await?;
    Ok(id)
}

/// What a copy of a game day brought along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedGameday {
    pub id: Uuid,
    pub scenarios: usize,
    pub participants: usize,
}

/// "Copy as the next game day": a new draft in the same team with these details, the source's
/// participants in their roles (the copier as a facilitator; someone who is now a team viewer
/// only observes; someone who left the team is left out) and each of its scenarios as it reads
/// now, as revision 1, proposed and signed by nobody, in one transaction. Nothing of how the
/// source day went comes along: no sign-offs, outcomes, observations or links.
pub async fn copy(
    db: &PgPool,
    source: &Gameday,
    actor: &User,
    team_role: TeamRole,
    input: &GamedayInput,
) -> AppResult<CopiedGameday> {
    super::check_can_create(team_role)?;
    let mut tx = db.begin().await?;
    // The source's lock: its plan is read as one, not halfway through a change.
    let source = store::lock_gameday(&mut tx, source.id).await?.ok_or(AppError::NotFound)?;
    let scenarios = scenario_store::scenarios_of(&mut *tx, source.id).await?;
    let participants = store::participants(&mut *tx, source.id).await?;
    let id = store::create_gameday(&mut tx, source.team_id, input, actor.id).await?;
    let body = format!(
        "{} created the game day \"{}\" as a copy of \"{}\", with its {} scenario(s) to sign again and its participants.",
        actor.display_name,
        input.title,
        source.title,
        scenarios.len()
    );
    let data = serde_json::json!({ "copied_from": source.id });
    events::record(&mut tx, NewEvent::new(id, actor.id, EventKind::GamedayCreated, body).data(data)).await?;
    let (mut added, mut signers) = (0, Vec::new());
    let me = participants.iter().find(|p| p.user_id == actor.id).map(|p| p.name.clone());
    let me = std::iter::once((actor.id, me.unwrap_or_else(|| actor.display_name.clone()), GamedayRole::Facilitator));
    let others = participants.into_iter().filter(|p| p.user_id != actor.id).map(|p| (p.user_id, p.name, p.role));
    for (user_id, name, role) in me.chain(others) {
        let Some(team_role) = store::team_role(&mut tx, source.team_id, user_id).await? else { continue };
        let role = if super::check_role_for(team_role, role).is_ok() { role } else { GamedayRole::Observer };
        store::add_participant(&mut tx, id, user_id, role).await?;
        let body = if user_id == actor.id {
            format!("{name} joined as facilitator.")
        } else {
            format!("{} added {name} as {}.", actor.display_name, role.as_str())
        };
        let data = serde_json::json!({ "user_id": user_id, "role": role });
        events::record(&mut tx, NewEvent::new(id, actor.id, EventKind::ParticipantAdded, body).data(data)).await?;
        added += 1;
        if role.is_required_signer() {
            signers.push(user_id);
        }
    }
    for scenario in &scenarios {
        let (fields, _) = scenario.fields.copy_for(&signers, actor.id);
        let sid = scenario_store::create_scenario(&mut tx, id, &fields, actor.id, None).await?;
        let body = format!("{} copied the scenario \"{}\" (revision 1).", actor.display_name, fields.title);
        let data = serde_json::json!({
            "revision": 1,
            "fingerprint": fields.fingerprint(),
            "copied_from": { "gameday": source.id, "scenario": scenario.id, "revision": scenario.revision },
        });
        let event = NewEvent::new(id, actor.id, EventKind::ScenarioAdded, body).scenario(sid).data(data);
        events::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(CopiedGameday { id, scenarios: scenarios.len(), participants: added })
}

pub async fn update(db: &PgPool, gameday_id: Uuid, actor: &User, input: &GamedayInput) -> AppResult<()> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    super::edit_plan(gameday.status)?;
    super::check_keeps_start(gameday.status, input.starts_at)?;
    store::update_gameday(&mut tx, gameday_id, input).await?;
    let rescheduled = gameday.starts_at != input.starts_at || gameday.ends_at != input.ends_at;
    let body = if rescheduled {
        format!("{} updated the plan and changed the schedule.", actor.display_name)
    } else {
        format!("{} updated the plan.", actor.display_name)
    };
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, EventKind::GamedayUpdated, body)).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves a game day on. `reason`: why a running day ends before all its scenarios ran.
pub async fn step(db: &PgPool, gameday_id: Uuid, actor: &User, step: Step, reason: &str) -> AppResult<()> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let (status, kind, verb) = match step {
        Step::Schedule => {
            let scenarios = scenario_store::count_scenarios(&mut tx, gameday_id).await? as usize;
            super::schedule(gameday.status, gameday.starts_at, scenarios)?;
            (GamedayStatus::Scheduled, EventKind::GamedayScheduled, "scheduled the game day")
        }
        Step::Start => {
            super::start(gameday.status)?;
            (GamedayStatus::Running, EventKind::GamedayStarted, "started the game day")
        }
        Step::Complete => {
            let in_flight = scenario_store::count_in_flight(&mut tx, gameday_id).await? as usize;
            super::complete(gameday.status, in_flight)?;
            let not_run = scenario_store::count_not_run(&mut tx, gameday_id).await? as usize;
            if let Some(message) = super::early_end_needs_reason(not_run, reason) {
                return Err(AppError::invalid("reason", message));
            }
            (GamedayStatus::Completed, EventKind::GamedayCompleted, "ended the game day")
        }
    };
    store::set_status(&mut tx, gameday_id, status, None).await?;
    let body = match reason.trim() {
        "" => format!("{} {verb}.", actor.display_name),
        why => format!("{} {verb} early: {why}", actor.display_name),
    };
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, kind, body)).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn cancel(db: &PgPool, gameday_id: Uuid, actor: &User, reason: &str) -> AppResult<()> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    super::cancel(gameday.status)?;
    store::set_status(&mut tx, gameday_id, GamedayStatus::Cancelled, Some(reason)).await?;
    let body = format!("{} cancelled the game day: {reason}", actor.display_name);
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, EventKind::GamedayCancelled, body)).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds a team member to the game day. Scenarios now need their sign-off too.
pub async fn add_participant(
    db: &PgPool,
    gameday_id: Uuid,
    actor: &User,
    user_id: Uuid,
    role: GamedayRole,
) -> AppResult<()> {
    let (mut tx, gameday, actor_role) = begin(db, gameday_id, actor).await?;
    require_facilitator(actor_role)?;
    super::edit_plan(gameday.status)?;
    let team_role = store::team_role(&mut tx, gameday.team_id, user_id).await?;
    let team_role =
        team_role.ok_or_else(|| AppError::invalid("user_id", "Participants are chosen among the team's members."))?;
    super::check_role_for(team_role, role)?;
    if !store::add_participant(&mut tx, gameday_id, user_id, role).await? {
        return Err(AppError::Conflict("That person is already on this game day.".into()));
    }
    let name = participant_name(&mut tx, gameday_id, user_id).await?;
    let body = format!("{} added {name} as {}.", actor.display_name, role.as_str());
    let data = serde_json::json!({ "user_id": user_id, "role": role });
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, EventKind::ParticipantAdded, body).data(data)).await?;
    tx.commit().await?;
    Ok(())
}

async fn participant_name(
    tx: &mut Transaction<'static, Postgres>,
    gameday_id: Uuid,
    user_id: Uuid,
) -> AppResult<String> {
    let everyone = store::participants(&mut **tx, gameday_id).await?;
    everyone.into_iter().find(|p| p.user_id == user_id).map(|p| p.name).ok_or(AppError::NotFound)
}

pub async fn change_participant_role(
    db: &PgPool,
    gameday_id: Uuid,
    actor: &User,
    user_id: Uuid,
    role: GamedayRole,
) -> AppResult<()> {
    let (mut tx, gameday, actor_role) = begin(db, gameday_id, actor).await?;
    require_facilitator(actor_role)?;
    super::edit_plan(gameday.status)?;
    let everyone = store::participants(&mut *tx, gameday_id).await?;
    let current = everyone.iter().find(|p| p.user_id == user_id).ok_or(AppError::NotFound)?;
    if let Some(team_role) = store::team_role(&mut tx, gameday.team_id, user_id).await? {
        super::check_role_for(team_role, role)?;
    }
    super::check_participant_change(current.role, Some(role), super::facilitators(everyone.iter().map(|p| p.role)))?;
    check_keeps_objector(&mut tx, gameday_id, current, Some(role)).await?;
    store::set_participant_role(&mut tx, gameday_id, user_id, role).await?;
    let body = format!("{} made {} {}.", actor.display_name, current.name, role.as_str());
    let data = serde_json::json!({ "user_id": user_id, "role": role });
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, EventKind::ParticipantRoleChanged, body).data(data))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Refuses to turn a signer with a standing objection into a non-signer (or to remove them), with
/// the scenarios they object to locked.
async fn check_keeps_objector(
    tx: &mut Transaction<'static, Postgres>,
    gameday_id: Uuid,
    current: &store::Participant,
    to: Option<GamedayRole>,
) -> AppResult<()> {
    let objections = scenario_store::signoffs::standing_objections(tx, gameday_id, current.user_id).await?;
    let objections = objections.iter().map(|o| (o.title.as_str(), o.revision, o.reason.as_str()));
    super::check_keeps_objector(&current.name, current.role, to, objections)?;
    Ok(())
}

/// Removes someone from the game day; their sign-offs no longer count.
pub async fn remove_participant(db: &PgPool, gameday_id: Uuid, actor: &User, user_id: Uuid) -> AppResult<()> {
    let (mut tx, gameday, actor_role) = begin(db, gameday_id, actor).await?;
    require_facilitator(actor_role)?;
    super::edit_plan(gameday.status)?;
    let everyone = store::participants(&mut *tx, gameday_id).await?;
    let current = everyone.iter().find(|p| p.user_id == user_id).ok_or(AppError::NotFound)?;
    super::check_participant_change(current.role, None, super::facilitators(everyone.iter().map(|p| p.role)))?;
    check_keeps_objector(&mut tx, gameday_id, current, None).await?;
    store::remove_participant(&mut tx, gameday_id, user_id).await?;
    let body = format!("{} removed {} from the game day.", actor.display_name, current.name);
    let data = serde_json::json!({ "user_id": user_id });
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, EventKind::ParticipantRemoved, body).data(data))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// When someone leaves a team (or is removed), they leave its open game days too, in the same
/// transaction; refused while they are the only facilitator of one, or while an objection of
/// theirs stands on a scenario not concluded (as [`remove_participant`] refuses it).
pub async fn leave_open_gamedays(
    tx: &mut Transaction<'static, Postgres>,
    team_id: Uuid,
    user: Uuid,
    name: &str,
    actor: Uuid,
) -> AppResult<()> {
    let open = store::open_participations(tx, team_id, user).await?;
    if let Some(stuck) = open.iter().find(|p| p.role == GamedayRole::Facilitator && p.facilitators <= 1) {
        return Err(AppError::Conflict(format!(
            "{name} is the only facilitator of the game day \"{}\". Make someone else its facilitator first.",
            stuck.title
        )));
    }
    for participation in &open {
        store::lock_gameday(tx, participation.gameday_id).await?;
        let objections = scenario_store::signoffs::standing_objections(tx, participation.gameday_id, user).await?;
        let objections = objections.iter().map(|o| (o.title.as_str(), o.revision, o.reason.as_str()));
        super::check_keeps_objector(name, participation.role, None, objections)?;
    }
    for participation in open {
        store::remove_participant(tx, participation.gameday_id, user).await?;
        let body = format!("{name} left the team, and so the game day.");
        let data = serde_json::json!({ "user_id": user });
        let event = NewEvent::new(participation.gameday_id, actor, EventKind::ParticipantRemoved, body).data(data);
        events::record(tx, event).await?;
    }
    Ok(())
}

/// A team member about to become a viewer may not keep a signing role on an open game day.
pub async fn check_can_become_viewer(
    tx: &mut Transaction<'static, Postgres>,
    team_id: Uuid,
    user: Uuid,
    name: &str,
) -> AppResult<()> {
    let open = store::open_participations(tx, team_id, user).await?;
    if let Some(signing) = open.iter().find(|p| super::check_role_for(TeamRole::Viewer, p.role).is_err()) {
        return Err(AppError::Conflict(format!(
            "{name} is a {} of the game day \"{}\"; viewers only observe. Change that role first.",
            signing.role.as_str(),
            signing.title
        )));
    }
    Ok(())
}
