//! Changes to a retrospective, each in one transaction holding the game day's lock and the
//! retrospective's row, checked against its rules; review and publication go on the timeline.

use sqlx::PgPool;
use uuid::Uuid;

use super::{RetroForm, RetroStatus, store};
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::gamedays::actions::begin;
use crate::scenarios::store as scenario_store;
use crate::timeline::{EventKind, NewEvent};

/// Saves the text and each scenario's observed impact (scenarios of other game days are ignored).
pub async fn save(
    db: &PgPool,
    gameday_id: Uuid,
    actor: &User,
    text: &RetroForm,
    impacts: &[(Uuid, String)],
) -> AppResult<()> {
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    let retro = store::lock(&mut tx, gameday_id).await?;
    super::edit(retro.status, role)?;
    store::save(&mut tx, gameday_id, text).await?;
    for (scenario, text) in impacts {
        if scenario_store::scenario(&mut *tx, gameday_id, *scenario).await?.is_some() {
            store::set_observed_impact(&mut tx, *scenario, text).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Sends the draft to review, or publishes it; either goes on the timeline.
pub async fn transition(db: &PgPool, gameday_id: Uuid, actor: &User, to: RetroStatus) -> AppResult<()> {
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    let retro = store::lock(&mut tx, gameday_id).await?;
    let (kind, body) = match to {
        RetroStatus::InReview => {
            super::submit(retro.status, role)?;
            (EventKind::RetrospectiveInReview, format!("{} sent the retrospective to review.", actor.display_name))
        }
        RetroStatus::Published => {
            super::publish(retro.status, role)?;
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
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    let retro = store::lock(&mut tx, gameday_id).await?;
    let kind = match kind {
        NoteKind::Addendum => {
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
