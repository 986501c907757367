//! A game day's retrospective through the API: `GET /api/v1/teams/{slug}/gamedays/{id}/retrospective`,
//! read as its page reads it (the same store and view functions, the same rule for when there is
//! one: once the game day is completed).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store;
use super::views::stories;
use crate::error::AppError;
use crate::gamedays::store as gameday_store;
use crate::ids::GamedayId;
use crate::learnings::store as learning_store;
use crate::scenarios::store as scenario_store;
use crate::state::AppState;
use crate::web::api::{ApiResult, ApiTeam, GamedayParams, Refusals};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(retrospective))
}

// A date in JSON as `YYYY-MM-DD` (time's own serde format is a tuple).
time::serde::format_description!(json_date, Date, "[year]-[month]-[day]");

/// A retrospective as the API shows it: what its page shows a reader.
#[derive(Serialize, ToSchema)]
pub struct RetrospectiveView {
    pub gameday_id: Uuid,
    /// `draft`, `in_review` or `published`.
    pub status: &'static str,
    pub summary: String,
    pub went_well: String,
    pub surprised_us: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// What happened to each scenario, in the game day's order.
    pub scenarios: Vec<RetroScenarioView>,
    /// What the game day taught, oldest first.
    pub learnings: Vec<RetroLearningView>,
    /// The follow-up actions, oldest first.
    pub actions: Vec<RetroActionView>,
    /// Comments and dated addenda, oldest first.
    pub notes: Vec<RetroNoteView>,
    /// Who has marked it read (once published).
    pub read_by: Vec<RetroReaderView>,
}

/// One scenario as the retrospective tells it.
#[derive(Serialize, ToSchema)]
pub struct RetroScenarioView {
    pub id: Uuid,
    pub title: String,
    /// `held`, `refuted` or `inconclusive`; null until it is concluded.
    pub outcome: Option<&'static str>,
    pub expected_impact: String,
    pub observed_impact: String,
    /// From injection to the first detection.
    pub seconds_to_detect: Option<i64>,
    /// From injection to the first repair or roll-back.
    pub seconds_to_repair: Option<i64>,
    /// From announcement to conclusion.
    pub seconds_total: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RetroLearningView {
    pub id: Uuid,
    pub statement: String,
    pub tags: Vec<String>,
    pub scenario_title: Option<String>,
    pub author: String,
}

#[derive(Serialize, ToSchema)]
pub struct RetroActionView {
    pub id: Uuid,
    pub title: String,
    pub owner: Uuid,
    pub owner_name: String,
    #[serde(with = "json_date::option")]
    pub due_on: Option<Date>,
    /// `open`, `done` or `wont_do`.
    pub status: &'static str,
    /// Open and past its due date.
    pub overdue: bool,
    pub link: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RetroNoteView {
    /// `comment` or `addendum`.
    pub kind: String,
    pub author: String,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Serialize, ToSchema)]
pub struct RetroReaderView {
    pub user_id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
}

#[derive(Deserialize)]
struct GamedayPath {
    id: GamedayId,
}

/// A game day's retrospective.
///
/// Its text, each scenario's story, its learnings and actions, comments and addenda, and who has
/// read it: whatever its state, as its page shows it to every member of the team. A game day has
/// one once it is completed; before that, and for another team's game day, the answer is 404.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/retrospective",
    tag = "Retrospectives",
    operation_id = "retrospective",
    params(
        GamedayParams,
    ),
    responses(
        (status = 200, description = "The retrospective.", body = RetrospectiveView,
         example = json!({
             "gameday_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ae",
             "status": "published",
             "summary": "Failover worked but took 40 s.",
             "went_well": "Everyone knew the plan.",
             "surprised_us": "No alert fired.",
             "published_at": "2026-12-02T09:30:00Z",
             "scenarios": [{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789b0", "title": "Stop the primary", "outcome": "refuted", "expected_impact": "A few seconds of failed writes.", "observed_impact": "Writes failed for 40 s.", "seconds_to_detect": 95, "seconds_to_repair": 160, "seconds_total": 420}],
             "learnings": [{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789b1", "statement": "Replica promotion takes 40 seconds; checkout retries must cover it.", "tags": ["database", "failover"], "scenario_title": "Stop the primary", "author": "Li"}],
             "actions": [{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789b2", "title": "Route the replica lag alert", "owner": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "owner_name": "Li", "due_on": "2026-12-15", "status": "open", "overdue": false, "link": "https://tracker.example/OPS-12"}],
             "notes": [{"kind": "comment", "author": "Bo", "body": "Can we add the alert?", "created_at": "2026-12-01T15:00:00Z"}],
             "read_by": [{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ad", "name": "Vi", "read_at": "2026-12-03T08:10:00Z"}]
         })),
        Refusals
    )
)]
async fn retrospective(
    State(state): State<AppState>,
    ctx: ApiTeam,
    path: Result<Path<GamedayPath>, AppError>,
) -> ApiResult<Json<RetrospectiveView>> {
    let Path(GamedayPath { id }) = path?;
    let gameday =
        gameday_store::gameday_in_team(&state.db, ctx.membership.team.id, id.0).await?.ok_or(AppError::NotFound)?;
    // The page's rule: only a completed game day has a retrospective, and anything else is 404.
    super::open(gameday.status).map_err(|_| AppError::NotFound)?;
    let id = gameday.id;
    let retro = store::get_or_create(&state.db, id).await?;
    let scenarios = scenario_store::scenarios_of(&state.db, id).await?;
    let events = crate::timeline::store::events(&state.db, id).await?;
    let impacts = store::observed_impacts(&state.db, id).await?;
    let notes = store::notes(&state.db, id).await?;
    let readers = store::readers(&state.db, id).await?;
    let learnings = learning_store::of_gameday(&state.db, id).await?;
    let actions = learning_store::actions_of_gameday(&state.db, id).await?;
    let seconds = |d: Option<time::Duration>| d.map(|d| d.whole_seconds());
    Ok(Json(RetrospectiveView {
        gameday_id: id,
        status: retro.status.as_str(),
        summary: retro.summary,
        went_well: retro.went_well,
        surprised_us: retro.surprised_us,
        published_at: retro.published_at,
        scenarios: stories(scenarios, &events, &impacts, None)
            .into_iter()
            .map(|story| RetroScenarioView {
                id: story.scenario.id,
                title: story.scenario.fields.title,
                outcome: story.scenario.outcome.map(|o| o.as_str()),
                expected_impact: story.scenario.fields.expected_impact,
                observed_impact: story.observed_impact,
                seconds_to_detect: seconds(story.timings.to_detect),
                seconds_to_repair: seconds(story.timings.to_repair),
                seconds_total: seconds(story.timings.total),
            })
            .collect(),
        learnings: learnings
            .into_iter()
            .map(|l| RetroLearningView {
                id: l.id,
                statement: l.statement,
                tags: l.tags,
                scenario_title: l.scenario_title,
                author: l.author,
            })
            .collect(),
        actions: actions
            .into_iter()
            .map(|a| RetroActionView {
                overdue: a.overdue(),
                id: a.id,
                title: a.title,
                owner: a.owner,
                owner_name: a.owner_name,
                due_on: a.due_on,
                status: a.status.as_str(),
                link: a.link,
            })
            .collect(),
        notes: notes
            .into_iter()
            .map(|n| RetroNoteView { kind: n.kind, author: n.author, body: n.body, created_at: n.created_at })
            .collect(),
        read_by: readers
            .into_iter()
            .map(|(user_id, name, read_at)| RetroReaderView { user_id, name, read_at })
            .collect(),
    }))
}
