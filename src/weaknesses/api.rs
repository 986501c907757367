//! The known-weakness register and past incidents through the API:
//! `GET /api/v1/teams/{slug}/weaknesses` (a page of them, open ones first) and
//! `…/weaknesses/{id}` (one); `GET /api/v1/teams/{slug}/incidents` (a page of them, latest
//! first) and `…/incidents/{id}` (one). Every member of the team reads them, as in the pages.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store::{self, Incident, Weakness};
use crate::error::AppError;
use crate::ids::{IncidentId, WeaknessId};
use crate::state::AppState;
use crate::web::api::{ApiResult, ApiTeam, Invalid, Paging, Refusals, TeamParams};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_weaknesses))
        .routes(routes!(weakness))
        .routes(routes!(list_incidents))
        .routes(routes!(incident))
}

// A date in JSON as `YYYY-MM-DD` (time's own serde format is a tuple).
time::serde::format_description!(json_date, Date, "[year]-[month]-[day]");

/// A known weakness as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct WeaknessView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    /// `open` or `mitigated`. A scenario that targets an open weakness is injected only with a
    /// recorded reason.
    pub status: &'static str,
    /// The refuted scenario that found it, if it was recorded from one.
    pub found_in_scenario: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Weakness> for WeaknessView {
    fn from(w: Weakness) -> Self {
        WeaknessView {
            id: w.id,
            title: w.title,
            description: w.description,
            status: w.status.as_str(),
            found_in_scenario: w.found_in_scenario,
            created_at: w.created_at,
        }
    }
}

/// A past incident as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct IncidentView {
    pub id: Uuid,
    pub title: String,
    #[serde(with = "json_date")]
    pub happened_on: Date,
    pub summary: String,
    /// Its postmortem.
    pub link: Option<String>,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        IncidentView { id: i.id, title: i.title, happened_on: i.happened_on, summary: i.summary, link: i.link }
    }
}

/// A page as JSON, with the `Link` to the next while it is full.
fn page<T: Serialize>(paging: Paging, path: &str, rows: Vec<T>, last: Option<Uuid>) -> Response {
    let link = paging.next_link(path, rows.len(), last);
    let mut response = Json(rows).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(axum::http::header::LINK, link);
    }
    response
}

/// The team's known weaknesses.
///
/// As the register lists them: open ones first, then newest first. A page at a time: while a
/// page comes back full, a `Link: <…>; rel="next"` header gives the next.
#[utoipa::path(
    get,
    path = "/teams/{slug}/weaknesses",
    tag = "Weaknesses and incidents",
    operation_id = "list_weaknesses",
    params(
        TeamParams,
        ("limit" = Option<i64>, Query, description = "How many, 1 to 100 (50 unless given).", minimum = 1, maximum = 100),
        ("before" = Option<Uuid>, Query, description = "The id of the last weakness of the page before."),
    ),
    responses(
        (status = 200, description = "A page of weaknesses.", body = Vec<WeaknessView>,
         headers(("link" = String, description = "The next page, while this one is full.")),
         example = json!([{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789c0", "title": "Replica lag is not alerted", "description": "Nobody is paged when the replica falls behind.", "status": "open", "found_in_scenario": "0190f1c2-7f3a-7c4e-9a51-0123456789b0", "created_at": "2026-12-01T14:30:00Z"}])),
        Invalid,
        Refusals
    )
)]
async fn list_weaknesses(State(state): State<AppState>, ctx: ApiTeam, paging: Paging) -> ApiResult<Response> {
    let team = &ctx.membership.team;
    let rows = store::weaknesses_page(&state.db, team.id, paging.before, paging.limit).await?;
    let last = rows.last().map(|w| w.id);
    let rows: Vec<WeaknessView> = rows.into_iter().map(WeaknessView::from).collect();
    Ok(page(paging, &format!("/api/v1/teams/{}/weaknesses", team.slug), rows, last))
}

#[derive(Deserialize)]
struct WeaknessPath {
    id: WeaknessId,
}

/// One known weakness of the team.
#[utoipa::path(
    get,
    path = "/teams/{slug}/weaknesses/{id}",
    tag = "Weaknesses and incidents",
    operation_id = "weakness",
    params(
        TeamParams,
        ("id" = Uuid, Path, description = "The weakness's id."),
    ),
    responses(
        (status = 200, description = "The weakness.", body = WeaknessView,
         example = json!({"id": "0190f1c2-7f3a-7c4e-9a51-0123456789c0", "title": "Replica lag is not alerted", "description": "Nobody is paged when the replica falls behind.", "status": "mitigated", "found_in_scenario": null, "created_at": "2026-12-01T14:30:00Z"})),
        Refusals
    )
)]
async fn weakness(
    State(state): State<AppState>,
    ctx: ApiTeam,
    path: Result<Path<WeaknessPath>, AppError>,
) -> ApiResult<Json<WeaknessView>> {
    let Path(WeaknessPath { id }) = path?;
    let found = store::weakness(&state.db, ctx.membership.team.id, id.0).await?.ok_or(AppError::NotFound)?;
    Ok(Json(found.into()))
}

/// The team's past incidents.
///
/// Latest first, a page at a time: while a page comes back full, a `Link: <…>; rel="next"`
/// header gives the next. Replay one as a scenario from the incidents page.
#[utoipa::path(
    get,
    path = "/teams/{slug}/incidents",
    tag = "Weaknesses and incidents",
    operation_id = "list_incidents",
    params(
        TeamParams,
        ("limit" = Option<i64>, Query, description = "How many, 1 to 100 (50 unless given).", minimum = 1, maximum = 100),
        ("before" = Option<Uuid>, Query, description = "The id of the last incident of the page before."),
    ),
    responses(
        (status = 200, description = "A page of incidents.", body = Vec<IncidentView>,
         headers(("link" = String, description = "The next page, while this one is full.")),
         example = json!([{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789d0", "title": "Checkout down after a failover", "happened_on": "2026-03-14", "summary": "The primary failed over and checkout kept its old connections for 20 minutes.", "link": "https://postmortems.example/2026-03-14"}])),
        Invalid,
        Refusals
    )
)]
async fn list_incidents(State(state): State<AppState>, ctx: ApiTeam, paging: Paging) -> ApiResult<Response> {
    let team = &ctx.membership.team;
    let rows = store::incidents_page(&state.db, team.id, paging.before, paging.limit).await?;
    let last = rows.last().map(|i| i.id);
    let rows: Vec<IncidentView> = rows.into_iter().map(IncidentView::from).collect();
    Ok(page(paging, &format!("/api/v1/teams/{}/incidents", team.slug), rows, last))
}

#[derive(Deserialize)]
struct IncidentPath {
    id: IncidentId,
}

/// One past incident of the team.
#[utoipa::path(
    get,
    path = "/teams/{slug}/incidents/{id}",
    tag = "Weaknesses and incidents",
    operation_id = "incident",
    params(
        TeamParams,
        ("id" = Uuid, Path, description = "The incident's id."),
    ),
    responses(
        (status = 200, description = "The incident.", body = IncidentView,
         example = json!({"id": "0190f1c2-7f3a-7c4e-9a51-0123456789d0", "title": "Checkout down after a failover", "happened_on": "2026-03-14", "summary": "The primary failed over and checkout kept its old connections for 20 minutes.", "link": "https://postmortems.example/2026-03-14"})),
        Refusals
    )
)]
async fn incident(
    State(state): State<AppState>,
    ctx: ApiTeam,
    path: Result<Path<IncidentPath>, AppError>,
) -> ApiResult<Json<IncidentView>> {
    let Path(IncidentPath { id }) = path?;
    let found = store::incident(&state.db, ctx.membership.team.id, id.0).await?.ok_or(AppError::NotFound)?;
    Ok(Json(found.into()))
}
