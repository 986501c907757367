//! State changes of the known-weakness register that touch a game day: linking a scenario to
//! the weakness it exercises is part of the plan people agree to, so it is an edit on the record.

use sqlx::PgPool;
use uuid::Uuid;

use super::store;
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::gamedays::actions::{begin, require_facilitator};
use crate::scenarios::store as scenario_store;
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
