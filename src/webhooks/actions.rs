//! Adding and removing a team's webhooks (its leads do; the extractor checks that).

use sqlx::PgPool;
use uuid::Uuid;

use super::{EventKind, new_secret, store};
use crate::accounts::User;
use crate::error::{AppError, AppResult};

/// Adds a webhook for these kinds of event, with a fresh signing secret.
pub async fn add(db: &PgPool, team_id: Uuid, actor: &User, url: &str, kinds: &[EventKind]) -> AppResult<Uuid> {
    let kinds: Vec<String> = kinds.iter().map(|k| k.as_str().to_owned()).collect();
    let id = store::create(db, team_id, url, &new_secret(), &kinds, actor.id).await?;
    tracing::info!(team_id = %team_id, webhook = %id, "webhook added");
    Ok(id)
}

/// Removes a webhook of the team; its pending deliveries go with it.
pub async fn remove(db: &PgPool, team_id: Uuid, webhook: Uuid) -> AppResult<()> {
    if !store::delete(db, team_id, webhook).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(team_id = %team_id, %webhook, "webhook removed");
    Ok(())
}
