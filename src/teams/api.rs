//! `GET /api/v1/teams/{slug}`: the token's team, with the person's role in it and its members.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store;
use crate::state::AppState;
use crate::web::api::{ApiResult, ApiTeam, Refusals, TeamParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(team))
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// The token's person's role in the team: `lead`, `member` or `viewer`.
    pub role: &'static str,
    pub archived: bool,
    pub require_two_factor: bool,
    /// Who is in the team (their ids are what game days' participants and abort owners take).
    pub members: Vec<MemberView>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub name: String,
    /// `lead`, `member` or `viewer`.
    pub role: &'static str,
}

/// The token's team.
///
/// With the token's person's role in it, and its members. Any other team's slug is a 404.
#[utoipa::path(
    get,
    path = "/teams/{slug}",
    tag = "Teams",
    operation_id = "team",
    params(TeamParams),
    responses(
        (status = 200, description = "The team.", body = TeamView,
         example = json!({"id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "slug": "platform", "name": "Platform", "role": "lead", "archived": false, "require_two_factor": false, "members": [{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "name": "Ana", "role": "lead"}, {"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ad", "name": "Li", "role": "member"}]})),
        Refusals
    )
)]
async fn team(State(state): State<AppState>, ctx: ApiTeam) -> ApiResult<Json<TeamView>> {
    let m = ctx.membership;
    let members = store::members(&state.db, m.team.id).await?;
    Ok(Json(TeamView {
        id: m.team.id,
        slug: m.team.slug,
        name: m.team.name,
        role: m.role.as_str(),
        archived: m.archived_at.is_some(),
        require_two_factor: m.two_factor_required,
        members: members
            .into_iter()
            .map(|p| MemberView { user_id: p.user_id, name: p.display_name, role: p.role.as_str() })
            .collect(),
    }))
}
