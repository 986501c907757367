//! Changes to a team, each in one transaction: creating and renaming it, and changing or
//! removing a member under the lock of the team's member rows (so two leads cannot demote each
//! other to nobody, and a lead demoted meanwhile can no longer act as one).

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::store::{self, Invite, SlugError};
use super::{INVITE_VALIDITY, Team, TeamRole, check_invite_usable, check_removal, check_role_change, new_invite_token};
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::gamedays::actions::{check_can_become_viewer, leave_open_gamedays};

const SLUG_TAKEN: &str = "Another team already uses this URL name. Choose another one.";

fn slug_refused(err: SlugError) -> AppError {
    match err {
        SlugError::Taken => AppError::invalid("slug", SLUG_TAKEN),
        SlugError::Database(err) => err.into(),
    }
}

/// Creates a team with its creator as its first lead.
pub async fn create(db: &PgPool, name: &str, slug: &str, creator: &User) -> AppResult<Team> {
    let mut tx = db.begin().await?;
    let team = store::create_team(&mut tx, name, slug, creator.id).await.map_err(slug_refused)?;
    tx.commit().await?;
    tracing::info!(team_id = %team.id, "team created");
    Ok(team)
}

/// Renames a team or changes its URL name.
pub async fn update(db: &PgPool, team_id: Uuid, name: &str, slug: &str) -> AppResult<()> {
    let mut tx = db.begin().await?;
    store::update_team(&mut tx, team_id, name, slug).await.map_err(slug_refused)?;
    tx.commit().await?;
    Ok(())
}

/// The display name of a member (for the messages on the game days they are on).
async fn member_name(db: &PgPool, team_id: Uuid, user_id: Uuid) -> AppResult<String> {
    let members = store::members(db, team_id).await?;
    Ok(members.into_iter().find(|m| m.user_id == user_id).map(|m| m.display_name).unwrap_or_default())
}

/// A lead gives `target` a new role. The team keeps a lead, and someone with a signing role on
/// an open game day does not become a viewer.
pub async fn change_role(db: &PgPool, team_id: Uuid, actor: &User, target: Uuid, role: TeamRole) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let locked = store::lock_members(&mut tx, team_id).await?;
    if !locked.role_of(actor.id).is_some_and(|r| r.is_lead()) {
        return Err(AppError::Forbidden("Only a team lead can do that.".into()));
    }
    let current = locked.role_of(target).ok_or(AppError::NotFound)?;
    check_role_change(locked.leads(), current, role).map_err(AppError::Conflict)?;
    if role == TeamRole::Viewer {
        let name = member_name(db, team_id, target).await?;
        check_can_become_viewer(&mut tx, team_id, target, &name).await?;
    }
    store::set_role(&mut tx, team_id, target, role).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, member = %target, role = role.as_str(), "role changed");
    Ok(())
}

/// A lead removes `target`, or a member leaves (`target` is the actor). The team keeps a lead,
/// and whoever goes leaves the team's open game days too, unless they are the only facilitator
/// of one.
pub async fn remove_member(db: &PgPool, team_id: Uuid, actor: &User, target: Uuid) -> AppResult<()> {
    let leaving = target == actor.id;
    let mut tx = db.begin().await?;
    let locked = store::lock_members(&mut tx, team_id).await?;
    // Checked under the lock: a lead demoted meanwhile can no longer remove others.
    if !leaving && !locked.role_of(actor.id).is_some_and(|r| r.is_lead()) {
        return Err(AppError::Forbidden("Only a team lead can remove members.".into()));
    }
    let role = locked.role_of(target).ok_or(AppError::NotFound)?;
    check_removal(locked.leads(), role).map_err(AppError::Conflict)?;
    let name = member_name(db, team_id, target).await?;
    leave_open_gamedays(&mut tx, team_id, target, &name, actor.id).await?;
    store::remove_member(&mut tx, team_id, target).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, member = %target, "member removed");
    Ok(())
}

/// Joins the team of the invite whose token hashes to `token_hash`, using the invite up; joining
/// a team one is already in leaves the invite unused. Returns the invite and whether one joined.
pub async fn accept_invite(db: &PgPool, token_hash: &[u8], user: &User) -> AppResult<(Invite, bool)> {
    let mut tx = db.begin().await?;
    let invite = store::invite_by_token(&mut tx, token_hash).await?.ok_or(AppError::NotFound)?;
    check_invite_usable(invite.used, invite.revoked, invite.expires_at, OffsetDateTime::now_utc())?;
    let joined = store::add_member(&mut tx, invite.team.id, user.id, invite.role).await?;
    if joined {
        store::mark_invite_used(&mut tx, invite.id, user.id).await?;
    }
    tx.commit().await?;
    if joined {
        tracing::info!(team_id = %invite.team.id, user_id = %user.id, "joined team by invite");
    }
    Ok((invite, joined))
}

/// A new single-use invite to the team for `role`, valid for a week: its secret token (only its
/// hash is stored, so the link is shown once).
pub async fn invite(db: &PgPool, team_id: Uuid, actor: &User, role: TeamRole) -> AppResult<String> {
    let (token, hash) = new_invite_token();
    let expires_at = OffsetDateTime::now_utc() + INVITE_VALIDITY;
    store::create_invite(db, team_id, &hash, role, actor.id, expires_at).await?;
    tracing::info!(team_id = %team_id, role = role.as_str(), "invite created");
    Ok(token)
}

/// Revokes a pending invite of the team.
pub async fn revoke_invite(db: &PgPool, team_id: Uuid, invite: Uuid) -> AppResult<()> {
    if !store::revoke_invite(db, team_id, invite).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Gives the team's fault-calendar feed a new secret URL; the old one stops working.
pub async fn new_calendar_token(db: &PgPool, team_id: Uuid) -> AppResult<()> {
    store::set_calendar_token(db, team_id, &super::new_calendar_token()).await?;
    Ok(())
}
