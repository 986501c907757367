//! Invite links: a lead creates one for a role; it works once, for seven days.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;

use super::store::{self, Invite};
use super::{NEW_INVITE_KEY, NewInvite, TeamRole, check_invite_usable, check_inviter_still_lead, hash_invite_token};
use crate::error::{AppError, AppResult};
use crate::ids::InviteId;
use crate::state::AppState;
use crate::web::auth::{AuthSession, CurrentUser};
use crate::web::context::{LeadCtx, Path};
use crate::web::{FlashKind, Layout, flash, render, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/invites", post(create))
        .route("/teams/{slug}/invites/{id}/revoke", post(revoke))
        .route("/invites/{token}", get(show))
        .route("/invites/{token}/accept", post(accept))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    role: String,
    /// Where to e-mail the link too (optional).
    email: String,
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Form(form): Form<InviteForm>,
) -> AppResult<Response> {
    let role = TeamRole::parse(&form.role).map_err(AppError::of_field("role"))?;
    let send_to = match form.email.trim() {
        "" => None,
        address => Some(crate::accounts::Email::parse(address).map_err(AppError::of_field("email"))?),
    };
    let team = (membership.team.id, membership.team.name.as_str());
    let token = super::actions::invite(&state.db, team, &user, role, send_to.as_ref()).await?;
    let url = format!("{}/invites/{token}", state.config.base_url());
    session.insert(NEW_INVITE_KEY, NewInvite { team_slug: membership.team.slug.clone(), url, role }).await?;
    if let Some(address) = send_to {
        let message = format!("The invite link is on its way to {}. You can also copy it below.", address.as_str());
        flash(&session, FlashKind::Success, message).await?;
    }
    Ok(see_other(&format!("/teams/{}#invites", membership.team.slug)))
}

/// The invite to revoke (`/teams/{slug}/invites/{id}/…`).
#[derive(Deserialize)]
struct InvitePath {
    id: InviteId,
}

async fn revoke(
    State(state): State<AppState>,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
    Path(InvitePath { id }): Path<InvitePath>,
) -> AppResult<Response> {
    super::actions::revoke_invite(&state.db, membership.team.id, &user, id.0).await?;
    flash(&session, FlashKind::Success, "Invite revoked; its link no longer works.").await?;
    Ok(see_other(&format!("/teams/{}#invites", membership.team.slug)))
}

/// The reason an invite cannot be used (410), or Ok for a usable one.
fn usable(invite: &Invite) -> AppResult<()> {
    check_invite_usable(invite.used, invite.revoked, invite.expires_at, OffsetDateTime::now_utc())
}

#[derive(Template)]
#[template(path = "teams/invite.html")]
struct InvitePage {
    layout: Layout,
    invite: Invite,
    token: String,
    signed_in: bool,
    next_query: String,
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    auth: AuthSession,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let mut conn = state.db.acquire().await?;
    let invite = store::invite_by_token(&mut conn, &hash_invite_token(&token)).await?.ok_or(AppError::NotFound)?;
    usable(&invite)?;
    check_inviter_still_lead(store::lock_invite_creator_role(&mut conn, invite.id).await?)?;
    drop(conn);
    let next_query = serde_urlencoded::to_string([("next", format!("/invites/{token}"))]).unwrap_or_default();
    render(&InvitePage { layout, invite, token, signed_in: auth.user.is_some(), next_query })
}

async fn accept(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (invite, joined) = super::actions::accept_invite(&state.db, &hash_invite_token(&token), &user).await?;
    let message = if joined {
        format!("You joined {} as {}.", invite.team.name, invite.role.as_str())
    } else {
        format!("You are already a member of {}; the invite is still unused.", invite.team.name)
    };
    flash(&session, FlashKind::Success, message).await?;
    Ok(see_other(&format!("/teams/{}", invite.team.slug)))
}
