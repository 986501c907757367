//! Game days through the API: `GET /api/v1/teams/{slug}/gamedays` (a page of them, newest first,
//! with a `Link` to the next) and `GET /api/v1/teams/{slug}/gamedays/{id}` (one, with its
//! participants).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store::GamedaySummary;
use super::{Gameday, GamedayRole, GamedayStatus, store};
use crate::error::AppError;
use crate::ids::GamedayId;
use crate::state::AppState;
use crate::web::api::{ApiError, ApiResult, ApiTeam, Invalid, Paging, Refusals};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(one))
}

/// The team's game days.
///
/// Newest first, a page at a time: while a page comes back full, a `Link: <…>; rel="next"`
/// header gives the next.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays",
    tag = "gamedays",
    operation_id = "list_gamedays",
    params(
        ("slug" = String, Path, description = "The team's URL name.", example = "platform"),
        ("limit" = Option<i64>, Query, description = "How many, 1 to 100 (50 unless given).", minimum = 1, maximum = 100),
        ("before" = Option<Uuid>, Query, description = "The id of the last game day of the page before."),
    ),
    responses(
        (status = 200, description = "A page of game days.", body = Vec<GamedaySummary>,
         headers(("link" = String, description = "The next page, while this one is full.")),
         example = json!([{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789ae", "title": "Database failover drill", "status": "scheduled", "starts_at": "2026-12-01T10:00:00Z", "environment": "staging", "scenarios": 3}])),
        Invalid,
        Refusals
    )
)]
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
#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
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

/// One game day of the team.
///
/// With its participants and the token's person's role on it.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}",
    tag = "gamedays",
    operation_id = "gameday",
    params(
        ("slug" = String, Path, description = "The team's URL name.", example = "platform"),
        ("id" = Uuid, Path, description = "The game day's id."),
    ),
    responses(
        (status = 200, description = "The game day.", body = GamedayView,
         example = json!({"id": "0190f1c2-7f3a-7c4e-9a51-0123456789ae", "team": "platform", "title": "Database failover drill", "objective": "Learn whether checkout survives losing the primary.", "environment": "staging", "systems": "checkout, postgres", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z", "call_link": "https://meet.example/gameday", "status": "scheduled", "cancel_reason": null, "last_event_seq": 4, "your_role": "facilitator", "participants": [{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "name": "Ana", "role": "facilitator"}]})),
        Refusals
    )
)]
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
