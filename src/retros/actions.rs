//! Changes to a retrospective, each in one transaction holding the game day's lock and the
//! retrospective's row, checked against its rules; review and publication go on the timeline.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{RetroForm, RetroStatus, store};
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::gamedays::actions::begin_as_member;
use crate::scenarios::store as scenario_store;
use crate::timeline::{EventKind, NewEvent};

/// The text of a retrospective as written on its form: the three parts and each scenario's
/// observed impact.
pub struct RetroText<'a> {
    pub text: &'a RetroForm,
    pub impacts: &'a [(Uuid, String)],
}

/// Saves the text inside the caller's transaction (scenarios of other game days are ignored).
async fn save_in(tx: &mut PgConnection, gameday_id: Uuid, text: &RetroText<'_>) -> AppResult<()> {
    store::save(tx, gameday_id, text.text).await?;
    for (scenario, impact) in text.impacts {
        if scenario_store::scenario(&mut *tx, gameday_id, *scenario).await?.is_some() {
            store::set_observed_impact(tx, *scenario, impact).await?;
        }
    }
    Ok(())
}

/// Saves the text and each scenario's observed impact.
pub async fn save(db: &PgPool, gameday_id: Uuid, actor: &User, text: &RetroText<'_>) -> AppResult<()> {
    let (mut tx, _gameday, role, team_role) = begin_as_member(db, gameday_id, actor).await?;
    let retro = store::lock(&mut tx, gameday_id).await?;
    super::check_writer(team_role)?;
    super::edit(retro.status, role)?;
    save_in(&mut tx, gameday_id, text).await?;
    tx.commit().await?;
    Ok(())
}

/// Sends the draft to review, or publishes it; either goes on the timeline. `text`, when the
/// form was sent with the button, is saved first in the same transaction, so nothing typed is
/// lost; a retrospective without a summary is not published.
pub async fn transition(
    db: &PgPool,
    gameday_id: Uuid,
    actor: &User,
    to: RetroStatus,
    text: Option<&RetroText<'_>>,
) -> AppResult<()> {
    let (mut tx, _gameday, role, team_role) = begin_as_member(db, gameday_id, actor).await?;
    let retro = store::lock(&mut tx, gameday_id).await?;
    super::check_writer(team_role)?;
    if let Some(text) = text {
        super::edit(retro.status, role)?;
        save_in(&mut tx, gameday_id, text).await?;
    }
    let summary = text.map(|t| t.text.summary.as_str()).unwrap_or(&retro.summary);
    let (kind, body) = match to {
        RetroStatus::InReview => {
            super::submit(retro.status, role)?;
            (EventKind::RetrospectiveInReview, format!("{} sent the retrospective to review.", actor.display_name))
        }
        RetroStatus::Published => {
            super::publish(retro.status, role)?;
            super::check_publishable(summary)?;
            (EventKind::RetrospectivePublished, format!("{} published the retrospective.", actor.display_name))
        }
        RetroStatus::Draft => return Err(AppError::Conflict("A retrospective does not go back to draft.".into())),
    };
    store::set_status(&mut tx, gameday_id, to, actor.id).await?;
    events::record(&mut tx, NewEvent::new(gameday_id, actor.id, kind, body)).await?;
    tx.commit().await?;
    Ok(())
}

/// What a note on a retrospective is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// A reviewer's comment.
    Comment,
    /// A facilitator's dated addition after publication.
    Addendum,
}

/// Adds a comment (in review, or by a reader once published) or a dated addendum.
pub async fn add_note(db: &PgPool, gameday_id: Uuid, actor: &User, kind: NoteKind, body: &str) -> AppResult<()> {
    let (mut tx, _gameday, role, team_role) = begin_as_member(db, gameday_id, actor).await?;
    let retro = store::lock(&mut tx, gameday_id).await?;
    let kind = match kind {
        NoteKind::Addendum => {
            super::check_writer(team_role)?;
            super::addendum(retro.status, role)?;
            "addendum"
        }
        NoteKind::Comment => {
            super::comment(retro.status, role)?;
            "comment"
        }
    };
    store::add_note(&mut tx, gameday_id, kind, actor.id, body).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks a published retrospective as read by `actor`.
pub async fn mark_read(db: &PgPool, gameday_id: Uuid, actor: &User) -> AppResult<()> {
    let retro = store::get_or_create(db, gameday_id).await?;
    super::mark_read(retro.status)?;
    store::mark_read(db, gameday_id, actor.id).await?;
    Ok(())
}
