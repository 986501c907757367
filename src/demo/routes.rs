//! "Explore a demo team" (offered on an empty dashboard) and the demo team's one-click
//! "archive and hide it".

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use tower_sessions::Session;

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::auth::CurrentUser;
use crate::web::context::LeadCtx;
use crate::web::{FlashKind, flash, see_other};

pub fn router() -> Router<AppState> {
    Router::new().route("/demo", post(explore)).route("/teams/{slug}/demo/archive", post(archive))
}

/// Makes the person's demo team (or finds the one they have) and takes them to it.
async fn explore(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> AppResult<Response> {
    match super::actions::explore(&state.db, &state.demo_builders, &user).await {
        Ok(team) => {
            let message = format!(
                "{} is yours to explore: a game day of last week with its timeline and retrospective, and the next one waiting for your sign-off.",
                team.name
            );
            flash(&session, FlashKind::Success, message).await?;
            Ok(see_other(&format!("/teams/{}", team.slug)))
        }
        Err(AppError::Conflict(message)) => {
            flash(&session, FlashKind::Error, message).await?;
            Ok(see_other("/"))
        }
        Err(other) => Err(other),
    }
}

/// Archives a demo team (read-only, listed apart under "Archived") and goes back to the dashboard;
/// a refusal (a game day still running) goes back to the team page with the reason.
async fn archive(
    State(state): State<AppState>,
    session: Session,
    LeadCtx { user, membership }: LeadCtx,
) -> AppResult<Response> {
    if let Err(err) = super::actions::archive(&state.db, &membership, &user).await {
        let AppError::Conflict(message) = err else { return Err(err) };
        flash(&session, FlashKind::Error, message).await?;
        return Ok(see_other(&format!("/teams/{}", membership.team.slug)));
    }
    let message = format!(
        "{} is archived and hidden. It stays under \"Archived\" in your teams if you want to read it again.",
        membership.team.name
    );
    flash(&session, FlashKind::Success, message).await?;
    Ok(see_other("/"))
}
