//! Health checks through the API: the team's library (`GET`/`POST /api/v1/teams/{slug}/health-checks`,
//! run one now, remove one) and a scenario's checks with their latest results (`GET …/scenarios/{sid}/health-checks`),
//! attached and removed as the pages do (each a new revision). Each calls the pages' action.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::actions::{self, Guard};
use super::store::{self, LibraryCheck, ResultRow};
use super::{AttachedCheck, CheckForm, CheckSpec, Verdict, parse_interval, statuses_text};
use crate::error::AppError;
use crate::ids::ScenarioId;
use crate::scenarios::store as scenario_store;
use crate::state::AppState;
use crate::tokens::Scope;
use crate::web::api::{
    ApiGameday, ApiJson, ApiResult, ApiTeam, Conflict, Invalid, Refusals, ScenarioParams, TeamParams, created,
};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_checks, add_check))
        .routes(routes!(run_check))
        .routes(routes!(remove_check))
        .routes(routes!(scenario_checks, attach_check))
        .routes(routes!(detach_check))
}

/// A header of a check: a secret one's value is never shown.
#[derive(Serialize, ToSchema)]
pub struct HeaderView {
    pub name: String,
    /// None for a secret header.
    pub value: Option<String>,
    pub secret: bool,
}

/// A check's definition as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct SpecView {
    /// `GET` or `HEAD`.
    pub method: String,
    pub url: String,
    pub headers: Vec<HeaderView>,
    pub timeout_ms: u32,
    /// Accepted status codes, as typed: `200-299, 304`.
    pub statuses: String,
    /// The longest an answer may take.
    pub max_ms: Option<u32>,
    /// A JSON Pointer into the body, and what the value there must be.
    pub json_pointer: Option<String>,
    pub json_expect: Option<String>,
    /// What a healthy answer is, in words.
    pub expected: String,
}

impl From<&CheckSpec> for SpecView {
    fn from(spec: &CheckSpec) -> Self {
        let form = CheckForm::of("", spec);
        SpecView {
            method: spec.method.clone(),
            url: spec.url.clone(),
            headers: spec
                .headers
                .iter()
                .map(|h| HeaderView { name: h.name.clone(), value: h.value.clone(), secret: h.value.is_none() })
                .collect(),
            timeout_ms: spec.timeout_ms,
            statuses: statuses_text(&spec.statuses),
            max_ms: spec.max_ms,
            json_pointer: spec.json.as_ref().map(|j| j.pointer.clone()),
            json_expect: spec.json.as_ref().map(|_| form.json_expect),
            expected: spec.expected(),
        }
    }
}

/// A check of the team's library.
#[derive(Serialize, ToSchema)]
pub struct CheckView {
    pub id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub spec: SpecView,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<LibraryCheck> for CheckView {
    fn from(c: LibraryCheck) -> Self {
        CheckView { id: c.id, name: c.name, spec: SpecView::from(&c.spec), updated_at: c.updated_at }
    }
}

const CHECK_EXAMPLE: &str = r#"{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789d0", "name": "checkout answers", "method": "GET", "url": "https://checkout.example.com/health", "headers": [{"name": "Authorization", "value": null, "secret": true}], "timeout_ms": 2000, "statuses": "200", "max_ms": 500, "json_pointer": "/status", "json_expect": "ok", "expected": "200 in under 500 ms with /status = \"ok\"", "updated_at": "2026-12-01T14:30:00Z"}"#;

fn example(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// The team's health checks.
///
/// Every member reads the library. Secret header values are never shown (`value: null`).
#[utoipa::path(
    get,
    path = "/teams/{slug}/health-checks",
    tag = "Health checks",
    operation_id = "list_health_checks",
    params(TeamParams),
    responses(
        (status = 200, description = "The library, by name.", body = Vec<CheckView>, example = json!([example(CHECK_EXAMPLE)])),
        Refusals
    )
)]
async fn list_checks(State(state): State<AppState>, ctx: ApiTeam) -> ApiResult<Json<Vec<CheckView>>> {
    let checks = store::of_team(&state.db, ctx.membership.team.id).await?;
    Ok(Json(checks.into_iter().map(CheckView::from).collect()))
}

/// A check to add: what the pages' form takes.
#[derive(Deserialize, ToSchema)]
pub struct CheckBody {
    pub name: String,
    /// `GET` (unless given) or `HEAD`.
    #[serde(default)]
    pub method: Option<String>,
    pub url: String,
    /// Headers shown to the team.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values are stored apart, never shown again and never logged.
    #[serde(default)]
    pub secret_headers: BTreeMap<String, String>,
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// Accepted status codes: `200`, `200-299`, `200, 204` (`200-299` unless given).
    #[serde(default)]
    pub statuses: Option<String>,
    #[serde(default)]
    pub max_ms: Option<u32>,
    /// A JSON Pointer into the body (`/status`), with `json_expect`: a value (`ok`, `true`, `42`)
    /// or a range (`0.9..1`, `..500`).
    #[serde(default)]
    pub json_pointer: Option<String>,
    #[serde(default)]
    pub json_expect: Option<String>,
}

fn lines(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n")
}

/// Adds a health check to the team's library.
///
/// Needs the `plan` scope; members and leads write the library, viewers read it. The URL is
/// resolved and checked as every run is: public addresses only, unless the server allows the
/// network (`GAMEDAY_HEALTH_CHECK_ALLOW`). Bad input is refused (422) naming the field.
#[utoipa::path(
    post,
    path = "/teams/{slug}/health-checks",
    tag = "Health checks",
    operation_id = "add_health_check",
    params(TeamParams),
    request_body(content = CheckBody, example = json!({"name": "checkout answers", "url": "https://checkout.example.com/health", "secret_headers": {"Authorization": "Bearer …"}, "statuses": "200", "max_ms": 500, "json_pointer": "/status", "json_expect": "ok"})),
    responses(
        (status = 201, description = "Added; `Location` is the library's address.", body = CheckView,
         headers(("location" = String, description = "The team's library in the API.")),
         example = json!(example(CHECK_EXAMPLE))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn add_check(
    State(state): State<AppState>,
    ctx: ApiTeam,
    ApiJson(body): ApiJson<CheckBody>,
) -> ApiResult<Response> {
    ctx.caller.require(Scope::Plan, "adding a health check")?;
    actions::require_writer(ctx.membership.role)?;
    let form = CheckForm {
        name: body.name,
        method: body.method.unwrap_or_default(),
        url: body.url,
        headers: lines(&body.headers),
        secret_headers: lines(&body.secret_headers),
        clear_secrets: None,
        timeout_ms: body.timeout_ms.map(|t| t.to_string()).unwrap_or_default(),
        statuses: body.statuses.unwrap_or_default(),
        max_ms: body.max_ms.map(|t| t.to_string()).unwrap_or_default(),
        json_pointer: body.json_pointer.unwrap_or_default(),
        json_expect: body.json_expect.unwrap_or_default(),
    };
    let parsed = form.parse(&[]).map_err(|errors| {
        let (field, message) = errors.iter().next().map(|(f, m)| (f, m.to_owned())).unwrap_or(("name", String::new()));
        AppError::invalid(field, message)
    })?;
    let team = &ctx.membership.team;
    let id = actions::add(&state.db, &state.config.health_check_allow, team.id, &ctx.caller.user, &parsed).await?;
    let check = store::of_team_by_id(&state.db, team.id, id).await?.ok_or(AppError::NotFound)?;
    Ok(created(&format!("/teams/{}/health-checks", team.slug), CheckView::from(check)))
}

#[derive(Deserialize)]
struct CheckPath {
    check: Uuid,
}

/// A check's result.
#[derive(Serialize, ToSchema)]
pub struct VerdictView {
    pub passed: bool,
    /// The status answered (none when nothing answered).
    pub status: Option<u16>,
    pub elapsed_ms: u32,
    /// The part of the answer judged: the JSON value found, or the start of the body.
    pub judged: String,
    /// What was seen: `200 in 45 ms`, or `got 503 in 1.2 s (expected 200 in under 500 ms)`.
    pub summary: String,
}

impl From<Verdict> for VerdictView {
    fn from(v: Verdict) -> Self {
        VerdictView {
            passed: v.passed,
            status: v.status,
            elapsed_ms: v.elapsed_ms,
            judged: v.judged,
            summary: v.summary,
        }
    }
}

/// Runs a library check now.
///
/// Needs the `plan` scope and a member or lead. Nothing is stored: the answer is what the check saw.
#[utoipa::path(
    post,
    path = "/teams/{slug}/health-checks/{check}/run",
    tag = "Health checks",
    operation_id = "run_health_check",
    params(TeamParams, ("check" = Uuid, Path, description = "The check's id.")),
    responses(
        (status = 200, description = "What it saw.", body = VerdictView,
         example = json!({"passed": false, "status": 503, "elapsed_ms": 1204, "judged": "", "summary": "got 503 in 1.2 s (expected 200 in under 500 ms)"})),
        Refusals
    )
)]
async fn run_check(
    State(state): State<AppState>,
    ctx: ApiTeam,
    Path(CheckPath { check }): Path<CheckPath>,
) -> ApiResult<Json<VerdictView>> {
    ctx.caller.require(Scope::Plan, "running a health check")?;
    actions::require_writer(ctx.membership.role)?;
    let check = store::of_team_by_id(&state.db, ctx.membership.team.id, check).await?.ok_or(AppError::NotFound)?;
    Ok(Json(actions::run_now(&state.db, &state.config.health_check_allow, &check).await?.into()))
}

/// Removes a check from the library.
///
/// Needs the `plan` scope and a member or lead. Scenarios that carry a copy keep it (what was
/// agreed does not change), but its secret header values are forgotten.
#[utoipa::path(
    delete,
    path = "/teams/{slug}/health-checks/{check}",
    tag = "Health checks",
    operation_id = "remove_health_check",
    params(TeamParams, ("check" = Uuid, Path, description = "The check's id.")),
    responses((status = 204, description = "Removed."), Refusals)
)]
async fn remove_check(
    State(state): State<AppState>,
    ctx: ApiTeam,
    Path(CheckPath { check }): Path<CheckPath>,
) -> ApiResult<StatusCode> {
    ctx.caller.require(Scope::Plan, "removing a health check")?;
    actions::require_writer(ctx.membership.role)?;
    actions::remove(&state.db, ctx.membership.team.id, &ctx.caller.user, check).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A check a scenario's revision carries, with its recent results.
#[derive(Serialize, ToSchema)]
pub struct AttachedView {
    /// The library check it was copied from.
    pub check_id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub spec: SpecView,
    /// Whether a failure while injected halts the fault by itself.
    pub auto_halt: bool,
    pub interval_secs: u32,
    /// The latest results, oldest first (up to 40).
    pub results: Vec<ResultView>,
}

/// A stored result.
#[derive(Serialize, ToSchema)]
pub struct ResultView {
    /// `before` (the announce or the inject), `during` (injected) or `after` (recovering).
    pub phase: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub passed: bool,
    pub status: Option<i32>,
    pub elapsed_ms: Option<i32>,
    pub judged: String,
    pub summary: String,
}

impl From<ResultRow> for ResultView {
    fn from(r: ResultRow) -> Self {
        ResultView {
            phase: r.phase,
            at: r.at,
            passed: r.passed,
            status: r.status,
            elapsed_ms: r.elapsed_ms,
            judged: r.judged,
            summary: r.summary,
        }
    }
}

/// A scenario's health checks.
#[derive(Serialize, ToSchema)]
pub struct ScenarioChecksView {
    pub scenario: Uuid,
    /// The revision that carries them (signers agree to them with it).
    pub revision: i32,
    pub checks: Vec<AttachedView>,
}

fn attached_view(check: &AttachedCheck, results: &mut Vec<ResultRow>) -> AttachedView {
    let (mine, rest): (Vec<ResultRow>, Vec<ResultRow>) = results.drain(..).partition(|r| r.check_name == check.name);
    *results = rest;
    AttachedView {
        check_id: check.check_id,
        name: check.name.clone(),
        spec: SpecView::from(&check.spec),
        auto_halt: check.auto_halt,
        interval_secs: check.interval_secs,
        results: mine.into_iter().map(ResultView::from).collect(),
    }
}

async fn scenario_view(state: &AppState, gameday_id: Uuid, scenario_id: Uuid) -> ApiResult<ScenarioChecksView> {
    let scenario = scenario_store::scenario(&state.db, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    let mut results = store::recent(&state.db, scenario_id, 40).await?;
    let checks = scenario.fields.health_checks.iter().map(|c| attached_view(c, &mut results)).collect();
    Ok(ScenarioChecksView { scenario: scenario_id, revision: scenario.revision, checks })
}

const SCENARIO_CHECKS_EXAMPLE: &str = r#"{"scenario": "0190f1c2-7f3a-7c4e-9a51-0123456789c1", "revision": 3, "checks": [{"check_id": "0190f1c2-7f3a-7c4e-9a51-0123456789d0", "name": "checkout answers", "method": "GET", "url": "https://checkout.example.com/health", "headers": [], "timeout_ms": 2000, "statuses": "200", "max_ms": 500, "json_pointer": null, "json_expect": null, "expected": "200 in under 500 ms", "auto_halt": true, "interval_secs": 10, "results": [{"phase": "before", "at": "2026-12-01T14:30:00Z", "passed": true, "status": 200, "elapsed_ms": 41, "judged": "ok", "summary": "200 in 41 ms"}]}]}"#;

#[derive(Deserialize)]
struct ScenarioPath {
    sid: ScenarioId,
}

/// A scenario's health checks and their latest results.
///
/// The checks its current revision carries (copies of library checks: what the signers agreed
/// to), how each guards the fault, and the latest results of each (before the announce and
/// inject, while injected, after the roll back).
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/health-checks",
    tag = "Health checks",
    operation_id = "scenario_health_checks",
    params(ScenarioParams),
    responses(
        (status = 200, description = "The checks and their results.", body = ScenarioChecksView, example = json!(example(SCENARIO_CHECKS_EXAMPLE))),
        Refusals
    )
)]
async fn scenario_checks(
    State(state): State<AppState>,
    ctx: ApiGameday,
    Path(ScenarioPath { sid }): Path<ScenarioPath>,
) -> ApiResult<Json<ScenarioChecksView>> {
    Ok(Json(scenario_view(&state, ctx.gameday.id, sid.0).await?))
}

/// How to attach a library check.
#[derive(Deserialize, ToSchema)]
pub struct AttachBody {
    /// The library check's id.
    pub check: Uuid,
    /// Halt the fault by itself when it fails while injected (true unless given).
    #[serde(default = "yes")]
    pub auto_halt: bool,
    /// How often it runs while injected: 2 to 300 seconds (10 unless given).
    #[serde(default)]
    pub interval_secs: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Attaches a library check to a scenario.
///
/// Needs the `plan` scope and a facilitator, while the plan is open and the scenario not in
/// flight. An edit: a new revision carrying a copy of the check, and everyone signs again.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/health-checks",
    tag = "Health checks",
    operation_id = "attach_health_check",
    params(ScenarioParams),
    request_body(content = AttachBody, example = json!({"check": "0190f1c2-7f3a-7c4e-9a51-0123456789d0", "auto_halt": true, "interval_secs": 10})),
    responses(
        (status = 200, description = "Attached (a new revision).", body = ScenarioChecksView, example = json!(example(SCENARIO_CHECKS_EXAMPLE))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn attach_check(
    State(state): State<AppState>,
    ctx: ApiGameday,
    Path(ScenarioPath { sid }): Path<ScenarioPath>,
    ApiJson(body): ApiJson<AttachBody>,
) -> ApiResult<Json<ScenarioChecksView>> {
    ctx.team.caller.require(Scope::Plan, "attaching a health check")?;
    let interval_secs = match body.interval_secs {
        Some(n) => parse_interval(&n.to_string()).map_err(AppError::of_field("interval_secs"))?,
        None => super::DEFAULT_INTERVAL_SECS,
    };
    let guard = Guard { auto_halt: body.auto_halt, interval_secs };
    actions::attach(&state.db, (&ctx.gameday, sid.0), &ctx.team.caller.user, body.check, guard).await?;
    Ok(Json(scenario_view(&state, ctx.gameday.id, sid.0).await?))
}

#[derive(Deserialize)]
struct AttachedPath {
    sid: ScenarioId,
    check: Uuid,
}

/// Takes a check off a scenario.
///
/// Needs the `plan` scope and a facilitator: a new revision without the copy of that library
/// check, and everyone signs again.
#[utoipa::path(
    delete,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/health-checks/{check}",
    tag = "Health checks",
    operation_id = "detach_health_check",
    params(ScenarioParams, ("check" = Uuid, Path, description = "The library check the copy came from.")),
    responses(
        (status = 200, description = "Removed (a new revision).", body = ScenarioChecksView, example = json!(example(SCENARIO_CHECKS_EXAMPLE))),
        Conflict,
        Refusals
    )
)]
async fn detach_check(
    State(state): State<AppState>,
    ctx: ApiGameday,
    Path(AttachedPath { sid, check }): Path<AttachedPath>,
) -> ApiResult<Json<ScenarioChecksView>> {
    ctx.team.caller.require(Scope::Plan, "removing a health check from a scenario")?;
    let scenario = scenario_store::scenario(&state.db, ctx.gameday.id, sid.0).await?.ok_or(AppError::NotFound)?;
    let name = scenario
        .fields
        .health_checks
        .iter()
        .find(|c| c.check_id == check)
        .map(|c| c.name.clone())
        .ok_or(AppError::NotFound)?;
    actions::detach(&state.db, (ctx.gameday.id, sid.0), &ctx.team.caller.user, &name).await?;
    Ok(Json(scenario_view(&state, ctx.gameday.id, sid.0).await?))
}
