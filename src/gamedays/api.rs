//! Game days through the API: read them (`GET /api/v1/teams/{slug}/gamedays`, a page at a time
//! with a `Link` to the next; `GET …/gamedays/{id}`, one with its participants), and plan them
//! with a `plan` token: create and replace one, move it through its lifecycle, and choose who is
//! on it. Each change goes through the action the pages' button calls, after the same checks
//! its handler makes, and is refused with the pages' messages.
//!
//! Times are RFC 3339 instants (any offset). The pages' form takes local times in the person's
//! zone; here each instant is written as that form's input in UTC and the form is read in UTC, so
//! its rules (and their messages) apply as they are.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store::GamedaySummary;
use super::{Gameday, GamedayForm, GamedayRole, GamedayStatus, Step, actions, check_can_create, store};
use crate::error::AppError;
use crate::form::FieldErrors;
use crate::ids::UserId;
use crate::state::AppState;
use crate::tokens::Scope;
use crate::web::api::{
    ApiError, ApiGameday, ApiResult, ApiTeam, Conflict, GamedayParams, Invalid, Paging, Refusals, TeamParams,
};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, replace))
        .routes(routes!(schedule))
        .routes(routes!(start))
        .routes(routes!(complete))
        .routes(routes!(cancel))
        .routes(routes!(participants))
        .routes(routes!(put_participant, remove_participant))
}

/// The team's game days.
///
/// Newest first, a page at a time: while a page comes back full, a `Link: <…>; rel="next"`
/// header gives the next.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays",
    tag = "Game days",
    operation_id = "list_gamedays",
    params(
        TeamParams,
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

/// Someone on a game day, in their role.
#[derive(Serialize, ToSchema)]
pub struct ParticipantView {
    pub user_id: Uuid,
    pub name: String,
    pub role: GamedayRole,
}

impl From<store::Participant> for ParticipantView {
    fn from(p: store::Participant) -> Self {
        ParticipantView { user_id: p.user_id, name: p.name, role: p.role }
    }
}

/// The game day as the API shows it, with its participants and the token's person's role.
async fn view(state: &AppState, team: &ApiTeam, g: Gameday) -> ApiResult<GamedayView> {
    let participants = store::participants(&state.db, g.id).await?;
    let user = team.caller.user.id;
    let your_role = participants.iter().find(|p| p.user_id == user).map(|p| p.role);
    Ok(GamedayView {
        id: g.id,
        team: team.membership.team.slug.clone(),
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
        participants: participants.into_iter().map(ParticipantView::from).collect(),
    })
}

/// The game day as it is now (after a change).
async fn current(state: &AppState, team: &ApiTeam, id: Uuid) -> ApiResult<Json<GamedayView>> {
    let gameday = store::gameday_in_team(&state.db, team.membership.team.id, id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(view(state, team, gameday).await?))
}

/// One game day of the team.
///
/// With its participants and the token's person's role on it.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}",
    tag = "Game days",
    operation_id = "gameday",
    params(
        GamedayParams,
    ),
    responses(
        (status = 200, description = "The game day.", body = GamedayView, example = json!(gameday_example("scheduled"))),
        Refusals
    )
)]
async fn one(State(state): State<AppState>, ctx: ApiGameday) -> ApiResult<Json<GamedayView>> {
    Ok(Json(view(&state, &ctx.team, ctx.gameday).await?))
}

/// A game day as the examples show it, in `status`.
fn gameday_example(status: &str) -> serde_json::Value {
    let cancel_reason = (status == "cancelled").then_some("The staging cluster is being rebuilt that week.");
    serde_json::json!({
        "id": "0190f1c2-7f3a-7c4e-9a51-0123456789ae", "team": "platform", "title": "Database failover drill",
        "objective": "Learn whether checkout survives losing the primary.", "environment": "staging",
        "systems": "checkout, postgres", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z",
        "call_link": "https://meet.example/gameday", "status": status, "cancel_reason": cancel_reason,
        "last_event_seq": 4, "your_role": "facilitator",
        "participants": [
            {"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "name": "Ana", "role": "facilitator"},
            {"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "name": "Li", "role": "participant"}
        ]
    })
}

/// 403 unless the token may plan. (An archived team's 409 came before, from `ApiTeam`.)
fn planning(team: &ApiTeam) -> ApiResult<()> {
    team.caller.require(Scope::Plan, "planning a game day")
}

/// As the pages' handlers check before reading a form: only a facilitator of the game day goes
/// on (the action checks again, in its transaction).
async fn facilitating(state: &AppState, ctx: &ApiGameday) -> ApiResult<()> {
    let role = store::participant_role(&state.db, ctx.gameday.id, ctx.team.caller.user.id).await?;
    actions::require_facilitator(role)?;
    Ok(())
}

/// A game day's details, as a client sends them to create or replace one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GamedayBody {
    #[schema(min_length = 1, max_length = 120, example = "Database failover drill")]
    pub title: String,
    /// What the day should teach; several lines are fine.
    #[schema(min_length = 1, max_length = 4000)]
    pub objective: String,
    #[schema(min_length = 1, max_length = 80, example = "staging")]
    pub environment: String,
    /// The systems under test, in words (none when left out).
    #[schema(max_length = 1000)]
    pub systems: Option<String>,
    /// When it starts, RFC 3339 (none when left out: a draft may wait for its date).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<String>,
    /// When it ends, RFC 3339, after the start.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<String>,
    /// The video call everyone joins: a web address starting with `https://` or `http://` (none
    /// when left out or empty).
    #[schema(max_length = 500, example = "https://meet.example/gameday")]
    pub call_link: Option<String>,
}

/// An API time as the pages' form holds it in UTC (`crate::tz::rfc3339_as_utc_input`); an error
/// beside `field` for one that is not RFC 3339, and none for one left out.
fn form_time(input: Option<&str>, field: &'static str, errors: &mut FieldErrors) -> String {
    input.and_then(|input| errors.check(field, crate::tz::rfc3339_as_utc_input(input))).unwrap_or_default()
}

impl GamedayBody {
    /// Checked as the pages' form checks it (read in UTC), with its messages beside the fields.
    fn parse(self) -> ApiResult<super::GamedayInput> {
        let mut errors = FieldErrors::new();
        let starts_at = form_time(self.starts_at.as_deref(), "starts_at", &mut errors);
        let ends_at = form_time(self.ends_at.as_deref(), "ends_at", &mut errors);
        let form = GamedayForm {
            title: self.title,
            objective: self.objective,
            environment: self.environment,
            systems: self.systems.unwrap_or_default(),
            starts_at,
            ends_at,
            call_link: self.call_link.unwrap_or_default(),
        };
        match form.parse("UTC", &mut errors) {
            Some(input) if errors.is_empty() => Ok(input),
            _ => Err(ApiError::Fields(errors)),
        }
    }
}

/// Plans a game day in the team, as a draft.
///
/// Needs the `plan` scope, and a lead or member of the team (viewers read game days). The token's
/// person becomes its first facilitator. The fields are checked as the pages' form checks them.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays",
    tag = "Game days",
    operation_id = "create_gameday",
    params(TeamParams),
    request_body(content = GamedayBody, example = json!({"title": "Database failover drill", "objective": "Learn whether checkout survives losing the primary.", "environment": "staging", "systems": "checkout, postgres", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z", "call_link": "https://meet.example/gameday"})),
    responses(
        (status = 201, description = "Planned as a draft; `Location` is its address.", body = GamedayView,
         headers(("location" = String, description = "The new game day's address in the API.")),
         example = json!({"id": "0190f1c2-7f3a-7c4e-9a51-0123456789ae", "team": "platform", "title": "Database failover drill", "objective": "Learn whether checkout survives losing the primary.", "environment": "staging", "systems": "checkout, postgres", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z", "call_link": "https://meet.example/gameday", "status": "draft", "cancel_reason": null, "last_event_seq": 2, "your_role": "facilitator", "participants": [{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "name": "Ana", "role": "facilitator"}]})),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn create(
    State(state): State<AppState>,
    ctx: ApiTeam,
    body: Result<Json<GamedayBody>, JsonRejection>,
) -> ApiResult<Response> {
    planning(&ctx)?;
    check_can_create(ctx.membership.role)?;
    let input = body?.0.parse()?;
    let id = actions::create(&state.db, ctx.membership.team.id, &ctx.caller.user, &input).await?;
    let Json(view) = current(&state, &ctx, id).await?;
    Ok(crate::web::api::created(&format!("/teams/{}/gamedays/{id}", ctx.membership.team.slug), view))
}

/// Replaces the game day's details.
///
/// A `PUT`: the body is the whole set of details, as the pages' form sends them, and a field left
/// out (`systems`, `starts_at`, `ends_at`, `call_link`) is cleared. Needs the `plan` scope and a
/// facilitator of the game day, while it is not over; once scheduled it keeps a start time.
#[utoipa::path(
    put,
    path = "/teams/{slug}/gamedays/{id}",
    tag = "Game days",
    operation_id = "update_gameday",
    params(
        GamedayParams,
    ),
    request_body(content = GamedayBody, example = json!({"title": "Database failover drill", "objective": "Learn whether checkout survives losing the primary.", "environment": "staging", "systems": "checkout, postgres", "starts_at": "2026-12-01T10:00:00Z", "ends_at": "2026-12-01T12:00:00Z", "call_link": "https://meet.example/gameday"})),
    responses(
        (status = 200, description = "Saved.", body = GamedayView, example = json!(gameday_example("draft"))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn replace(
    State(state): State<AppState>,
    ctx: ApiGameday,
    body: Result<Json<GamedayBody>, JsonRejection>,
) -> ApiResult<Json<GamedayView>> {
    planning(&ctx.team)?;
    facilitating(&state, &ctx).await?;
    let input = body?.0.parse()?;
    actions::update(&state.db, ctx.gameday.id, &ctx.team.caller.user, &input).await?;
    current(&state, &ctx.team, ctx.gameday.id).await
}

/// A lifecycle step, as the pages' buttons take it (after [`planning`]): `reason` is why a
/// running day ends before all its scenarios ran.
async fn step(state: &AppState, ctx: ApiGameday, step: Step, reason: &str) -> ApiResult<Json<GamedayView>> {
    let reason = super::early_end_reason(reason).map_err(AppError::of_field("reason"))?;
    actions::step(&state.db, ctx.gameday.id, &ctx.team.caller.user, step, &reason).await?;
    current(state, &ctx.team, ctx.gameday.id).await
}

/// Schedules a draft game day.
///
/// Needs the `plan` scope and a facilitator; refused (409) unless it is a draft with a start time
/// and at least one scenario. Participants can then add it to their calendars.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/schedule",
    tag = "Game days",
    operation_id = "schedule_gameday",
    params(
        GamedayParams,
    ),
    responses(
        (status = 200, description = "Scheduled.", body = GamedayView, example = json!(gameday_example("scheduled"))),
        Conflict,
        Refusals
    )
)]
async fn schedule(State(state): State<AppState>, ctx: ApiGameday) -> ApiResult<Json<GamedayView>> {
    planning(&ctx.team)?;
    step(&state, ctx, Step::Schedule, "").await
}

/// Starts a scheduled game day.
///
/// Needs the `plan` scope and a facilitator; refused (409) unless it is scheduled. Announce each
/// fault before injecting it.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/start",
    tag = "Game days",
    operation_id = "start_gameday",
    params(
        GamedayParams,
    ),
    responses(
        (status = 200, description = "Started.", body = GamedayView, example = json!(gameday_example("running"))),
        Conflict,
        Refusals
    )
)]
async fn start(State(state): State<AppState>, ctx: ApiGameday) -> ApiResult<Json<GamedayView>> {
    planning(&ctx.team)?;
    step(&state, ctx, Step::Start, "").await
}

/// Why a running game day ends before all its scenarios ran.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// Needed when some scenarios have not run; the timeline keeps it.
    #[serde(default)]
    #[schema(max_length = 500, example = "A real incident needs everyone.")]
    pub reason: String,
}

/// Why a game day is cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Everyone on the game day sees it.
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 500,
        example = "The staging cluster is being rebuilt that week."
    )]
    pub reason: String,
}

/// Ends a running game day.
///
/// Needs the `plan` scope and a facilitator; refused (409) unless it is running with no fault
/// still announced or injected. If some scenarios have not run, it ends early: say why in
/// `reason` (422 without one), which the timeline keeps. The body may be left out otherwise (or be
/// `null`).
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/complete",
    tag = "Game days",
    operation_id = "complete_gameday",
    params(
        GamedayParams,
    ),
    request_body(content = Option<CompleteBody>, example = json!({"reason": "A real incident needs everyone."})),
    responses(
        (status = 200, description = "Ended.", body = GamedayView, example = json!(gameday_example("completed"))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn complete(
    State(state): State<AppState>,
    ctx: ApiGameday,
    body: Result<Option<Json<Option<CompleteBody>>>, JsonRejection>,
) -> ApiResult<Json<GamedayView>> {
    planning(&ctx.team)?;
    // No body, or `null`: no reason.
    let reason = body?.and_then(|Json(body)| body).map(|body| body.reason).unwrap_or_default();
    step(&state, ctx, Step::Complete, &reason).await
}

/// Cancels a game day that has not started.
///
/// Needs the `plan` scope and a facilitator, and a reason, which everyone on it sees; refused
/// (409) unless it is a draft or scheduled.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/cancel",
    tag = "Game days",
    operation_id = "cancel_gameday",
    params(
        GamedayParams,
    ),
    request_body(content = CancelBody, example = json!({"reason": "The staging cluster is being rebuilt that week."})),
    responses(
        (status = 200, description = "Cancelled.", body = GamedayView, example = json!(gameday_example("cancelled"))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn cancel(
    State(state): State<AppState>,
    ctx: ApiGameday,
    body: Result<Json<CancelBody>, JsonRejection>,
) -> ApiResult<Json<GamedayView>> {
    planning(&ctx.team)?;
    let Json(body) = body?;
    let reason = super::cancel_reason(&body.reason).map_err(AppError::of_field("reason"))?;
    actions::cancel(&state.db, ctx.gameday.id, &ctx.team.caller.user, &reason).await?;
    current(&state, &ctx.team, ctx.gameday.id).await
}

/// Who is on the game day.
///
/// Its facilitators, participants and observers. Facilitators and participants sign every
/// scenario; observers follow the day and do not sign.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/participants",
    tag = "Game days",
    operation_id = "gameday_participants",
    params(
        GamedayParams,
    ),
    responses(
        (status = 200, description = "The people on the game day.", body = Vec<ParticipantView>,
         example = json!([{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "name": "Ana", "role": "facilitator"}, {"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "name": "Li", "role": "participant"}])),
        Refusals
    )
)]
async fn participants(State(state): State<AppState>, ctx: ApiGameday) -> ApiResult<Json<Vec<ParticipantView>>> {
    let everyone = store::participants(&state.db, ctx.gameday.id).await?;
    Ok(Json(everyone.into_iter().map(ParticipantView::from).collect()))
}

/// A participant path (`…/gamedays/{id}/participants/{user_id}`): the game day, and whom the
/// change is about (a malformed id is a 404).
pub struct ApiParticipant {
    pub day: ApiGameday,
    pub user_id: Uuid,
}

#[derive(Deserialize)]
struct TargetPath {
    user_id: UserId,
}

impl FromRequestParts<AppState> for ApiParticipant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let day = ApiGameday::from_request_parts(parts, state).await?;
        let Path(TargetPath { user_id }) = Path::<TargetPath>::from_request_parts(parts, state).await?;
        Ok(ApiParticipant { day, user_id: user_id.0 })
    }
}

/// A role on a game day, as a client asks for it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    #[schema(value_type = GamedayRole)]
    pub role: String,
}

/// Puts a team member on the game day in a role, or changes their role.
///
/// Needs the `plan` scope and a facilitator, while the game day is not over. Someone not on it
/// yet is added (201): they must be a member of the team, and a team viewer only observes.
/// Someone on it takes the role (200); the game day keeps a facilitator, and a signer's standing
/// objection keeps them a signer (409 otherwise).
#[utoipa::path(
    put,
    path = "/teams/{slug}/gamedays/{id}/participants/{user_id}",
    tag = "Game days",
    operation_id = "put_gameday_participant",
    params(
        GamedayParams,
        ("user_id" = Uuid, Path, description = "The person's id."),
    ),
    request_body(content = RoleBody, example = json!({"role": "participant"})),
    responses(
        (status = 200, description = "Their role changed.", body = ParticipantView,
         example = json!({"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "name": "Li", "role": "facilitator"})),
        (status = 201, description = "Added to the game day.", body = ParticipantView,
         example = json!({"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "name": "Li", "role": "participant"})),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn put_participant(
    State(state): State<AppState>,
    ctx: ApiParticipant,
    body: Result<Json<RoleBody>, JsonRejection>,
) -> ApiResult<Response> {
    let (day, target) = (&ctx.day, ctx.user_id);
    planning(&day.team)?;
    facilitating(&state, day).await?;
    let Json(body) = body?;
    let role = GamedayRole::parse(&body.role).map_err(AppError::of_field("role"))?;
    let (id, user) = (day.gameday.id, &day.team.caller.user);
    let on_it = store::participants(&state.db, id).await?.iter().any(|p| p.user_id == target);
    let status = if on_it {
        actions::change_participant_role(&state.db, id, user, target, role).await?;
        StatusCode::OK
    } else {
        actions::add_participant(&state.db, id, user, target, role).await?;
        StatusCode::CREATED
    };
    let now = store::participants(&state.db, id).await?.into_iter().find(|p| p.user_id == target);
    let now = now.ok_or(AppError::NotFound)?;
    Ok((status, Json(ParticipantView::from(now))).into_response())
}

/// Takes someone off the game day.
///
/// Needs the `plan` scope and a facilitator, while the game day is not over; their sign-offs no
/// longer count. Refused (409) for its only facilitator, and for a signer whose objection stands.
#[utoipa::path(
    delete,
    path = "/teams/{slug}/gamedays/{id}/participants/{user_id}",
    tag = "Game days",
    operation_id = "remove_gameday_participant",
    params(
        GamedayParams,
        ("user_id" = Uuid, Path, description = "The person's id."),
    ),
    responses(
        (status = 204, description = "Removed."),
        Conflict,
        Refusals
    )
)]
async fn remove_participant(State(state): State<AppState>, ctx: ApiParticipant) -> ApiResult<StatusCode> {
    let day = &ctx.day;
    planning(&day.team)?;
    facilitating(&state, day).await?;
    actions::remove_participant(&state.db, day.gameday.id, &day.team.caller.user, ctx.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
