//! Game days through the API: `GET /api/v1/teams/{slug}/gamedays` (a page of them, newest first,
//! with a `Link` to the next) and `GET /api/v1/teams/{slug}/gamedays/{id}` (one, with its
//! participants).

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Gameday, GamedayRole, GamedayStatus, store};
use crate::error::AppError;
use crate::ids::GamedayId;
use crate::state::AppState;
use crate::web::api::{ApiError, ApiResult, ApiTeam, Paging};
use crate::web::context::Path;

pub fn router() -> Router<AppState> {
    Router::new().route("/teams/{slug}/gamedays", get(list)).route("/teams/{slug}/gamedays/{id}", get(one))
}

async fn list(State(state): State<AppState>, ctx: ApiTeam, paging: Paging) -> ApiResult<Response> {
    let rows = store::team_gamedays_page(&state.db, ctx.membership.team.id, paging.before, paging.limit).await?;
    let link = paging.next_link(
        &format!("/api/v1/teams/{}/gamedays", ctx.membership.team.slug),
        rows.len(),
        rows.last().map(|g| g.id),
    );
    let mut response = Json(rows).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(axum::http::header::LINK, link);
    }
    Ok(response)
}

/// A game day as the API shows it.
#[derive(Serialize)]
pub struct GamedayView {
    pub id: Uuid,
    pub team: String,
    pub title: String,
    pub objective: String,
    pub environment: String,
    pub systems: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    pub call_link: Option<String>,
    pub status: GamedayStatus,
    pub cancel_reason: Option<String>,
    /// The sequence number of its latest timeline event.
    pub last_event_seq: i64,
    /// The token's person's role on it, if they are on it.
    pub your_role: Option<GamedayRole>,
    pub participants: Vec<ParticipantView>,
}

#[derive(Serialize)]
pub struct ParticipantView {
    pub user_id: Uuid,
    pub name: String,
    pub role: GamedayRole,
}

/// A game day path (`/api/v1/teams/{slug}/gamedays/{id}`) as the token's person reaches it:
/// the game day must be the team's (else 404).
pub struct ApiGameday {
    pub team: ApiTeam,
    pub gameday: Gameday,
}

#[derive(Deserialize)]
struct GamedayPath {
    id: GamedayId,
}

impl FromRequestParts<AppState> for ApiGameday {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let team = ApiTeam::from_request_parts(parts, state).await?;
        let Path(GamedayPath { id }) = Path::<GamedayPath>::from_request_parts(parts, state).await?;
        let gameday =
            store::gameday_in_team(&state.db, team.membership.team.id, id.0).await?.ok_or(AppError::NotFound)?;
        Ok(ApiGameday { team, gameday })
    }
}

async fn one(State(state): State<AppState>, ctx: ApiGameday) -> ApiResult<Json<GamedayView>> {
    let participants = store::participants(&state.db, ctx.gameday.id).await?;
    let user = ctx.team.caller.user.id;
    let your_role = participants.iter().find(|p| p.user_id == user).map(|p| p.role);
    let g = ctx.gameday;
    Ok(Json(GamedayView {
        id: g.id,
        team: ctx.team.membership.team.slug,
        title: g.title,
        objective: g.objective,
        environment: g.environment,
        systems: g.systems,
        starts_at: g.starts_at,
        ends_at: g.ends_at,
        call_link: g.call_link,
        status: g.status,
        cancel_reason: g.cancel_reason,
        last_event_seq: g.last_event_seq,
        your_role,
        participants: participants
            .into_iter()
            .map(|p| ParticipantView { user_id: p.user_id, name: p.name, role: p.role })
            .collect(),
    }))
}
