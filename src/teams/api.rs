//! `GET /api/v1/teams/{slug}`: the token's team, with the person's role in it.

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde::Serialize;
use uuid::Uuid;

use crate::state::AppState;
use crate::web::api::{ApiResult, ApiTeam};

pub fn router() -> Router<AppState> {
    Router::new().route("/teams/{slug}", get(team))
}

#[derive(Serialize)]
pub struct TeamView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// The token's person's role in the team.
    pub role: &'static str,
    pub archived: bool,
    pub require_two_factor: bool,
}

async fn team(ctx: ApiTeam) -> ApiResult<Json<TeamView>> {
    let m = ctx.membership;
    Ok(Json(TeamView {
        id: m.team.id,
        slug: m.team.slug,
        name: m.team.name,
        role: m.role.as_str(),
        archived: m.archived_at.is_some(),
        require_two_factor: m.two_factor_required,
    }))
}
