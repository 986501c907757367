//! `GET /api/v1/me`: who a token acts as, in which team, with which scopes, until when. A script
//! asks it first to check its token.

use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::Scope;
use crate::state::AppState;
use crate::teams::store as team_store;
use crate::web::api::{ApiCaller, ApiResult, Refusals};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: Person,
    pub team: TeamRef,
    pub token: TokenView,
}

#[derive(Serialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub display_name: String,
    pub time_zone: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Who the token acts as.
///
/// The token's person, its team, its scopes and when it expires: ask it first to check a token.
#[utoipa::path(
    get,
    path = "/me",
    tag = "Tokens",
    operation_id = "me",
    responses(
        (status = 200, description = "The token's person, team and scopes.", body = Me,
         example = json!({"user": {"id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "display_name": "Ana", "time_zone": "Europe/Paris"},
                          "team": {"id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "slug": "platform", "name": "Platform"},
                          "token": {"id": "0190f1c2-7f3a-7c4e-9a51-0123456789ad", "name": "CI pipeline", "scopes": ["read", "run"], "expires_at": "2026-12-27T10:00:00Z"}})),
        Refusals
    )
)]
async fn me(state: axum::extract::State<AppState>, caller: ApiCaller) -> ApiResult<Json<Me>> {
    let team = team_store::team(&state.db, caller.token.team_id).await?.ok_or(crate::error::AppError::NotFound)?;
    Ok(Json(Me {
        user: Person { id: caller.user.id, display_name: caller.user.display_name, time_zone: caller.user.time_zone },
        team: TeamRef { id: team.id, slug: team.slug, name: team.name },
        token: TokenView {
            id: caller.token.id,
            name: caller.token.name,
            scopes: caller.token.scopes,
            expires_at: caller.token.expires_at,
        },
    }))
}
