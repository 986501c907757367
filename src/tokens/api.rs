//! `GET /api/v1/me`: who a token acts as, in which team, with which scopes, until when. A script
//! asks it first to check its token.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Scope;
use crate::state::AppState;
use crate::teams::store as team_store;
use crate::web::api::{ApiCaller, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

#[derive(Serialize)]
pub struct Me {
    pub user: Person,
    pub team: TeamRef,
    pub token: TokenView,
}

#[derive(Serialize)]
pub struct Person {
    pub id: Uuid,
    pub display_name: String,
    pub time_zone: String,
}

#[derive(Serialize)]
pub struct TeamRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Serialize)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

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
