//! Making and revoking API tokens. Each writes its entry in the team's audit log in the same
//! transaction, so the team's leads can see who holds a key to their team's API.

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MAX_ACTIVE_PER_TEAM, NewToken, Scope, new_token, store};
use crate::accounts::User;
use crate::audit::{AuditKind, NewEntry, store as audit};
use crate::error::{AppError, AppResult};
use crate::teams::{check_not_archived, store as team_store};

/// A token just made: its row, the secret text to show once, and when it expires. (No `Debug`:
/// it holds the secret.)
pub struct Made {
    pub id: Uuid,
    pub token: String,
    pub expires_at: OffsetDateTime,
}

/// Makes a token for `actor` in the team the form named. Only a member of a team may (a team that
/// requires two-factor sign-in, only with it set up), not in an archived team, and at most
/// [`MAX_ACTIVE_PER_TEAM`] working tokens per person and team.
pub async fn create(db: &PgPool, actor: &User, new: &NewToken) -> AppResult<Made> {
    let not_member = || AppError::invalid("team", "Choose one of your teams.");
    let membership = team_store::membership(db, &new.team, actor.id).await?.ok_or_else(not_member)?;
    if membership.two_factor_required && !actor.two_factor {
        return Err(AppError::invalid(
            "team",
            format!(
                "{} requires two-factor sign-in of its members: set it up under Account › Two-factor sign-in first.",
                membership.team.name
            ),
        ));
    }
    check_not_archived(membership.archived_at).map_err(|m| AppError::invalid("team", m))?;
    let team = membership.team;
    let mut tx = db.begin().await?;
    let active = store::active_count_locked(&mut tx, actor.id, team.id).await?.ok_or_else(not_member)?;
    if active >= MAX_ACTIVE_PER_TEAM {
        return Err(AppError::invalid(
            "team",
            format!("You hold {active} working tokens for {}: revoke one you no longer use first.", team.name),
        ));
    }
    let id = Uuid::now_v7();
    let (token, hash) = new_token(id);
    let expires_at =
        store::create(&mut tx, id, actor.id, team.id, &new.name, &new.scopes, &hash, new.lifetime_days).await?;
    let scopes: Vec<&str> = new.scopes.iter().map(Scope::as_str).collect();
    let body = format!(
        "{} made the API token \"{}\" ({}) for {} days.",
        actor.display_name,
        new.name,
        scopes.join(", "),
        new.lifetime_days
    );
    let detail = serde_json::json!({ "token": id, "name": new.name, "scopes": scopes, "expires_at": expires_at.unix_timestamp() });
    audit::record(&mut tx, NewEntry::new(team.id, actor.id, AuditKind::ApiTokenCreated, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team.id, token = %id, "API token made");
    Ok(Made { id, token, expires_at })
}

/// Who revokes a token: its owner, or a lead of its team.
#[derive(Debug, Clone, Copy)]
pub enum Revoker {
    Owner,
    LeadOf(Uuid),
}

/// Revokes a token that still works: it stops working at once. 404 for a token that is not
/// the actor's to revoke (or was already revoked).
pub async fn revoke(db: &PgPool, actor: &User, id: Uuid, revoker: Revoker) -> AppResult<String> {
    let (owner, team) = match revoker {
        Revoker::Owner => (Some(actor.id), None),
        Revoker::LeadOf(team) => (None, Some(team)),
    };
    let mut tx = db.begin().await?;
    let (team_id, name, owner_name) =
        store::revoke(&mut tx, id, actor.id, owner, team).await?.ok_or(AppError::NotFound)?;
    let body = match revoker {
        Revoker::Owner => format!("{} revoked their API token \"{name}\".", actor.display_name),
        Revoker::LeadOf(_) => format!("{} revoked {owner_name}'s API token \"{name}\".", actor.display_name),
    };
    let detail = serde_json::json!({ "token": id, "name": name });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::ApiTokenRevoked, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(%team_id, token = %id, "API token revoked");
    Ok(name)
}
