//! Scenarios through the API: read them with their revision, fingerprint and sign-offs, plan
//! them (`plan` scope), ask the gate question, and run them (`run` scope). Each change calls the
//! action the pages' button calls, so the same gate is passed in the same transaction.
//! Sign-off is never done with a token: agreeing to a scenario's exact wording is a person's act
//! in the pages; the API only reports who signed which revision.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::actions::{self, Revised};
use super::gate::{Move, Outcome, ScenarioState};
use super::store::{self, Scenario};
use super::{BlastRadius, Decision, ScenarioForm, SignerStatus, Signoffs};
use crate::error::AppError;
use crate::form::FieldErrors;
use crate::gamedays::{GamedayStatus, store as gameday_store};
use crate::healthchecks::actions::run_before;
use crate::ids::ScenarioId;
use crate::state::AppState;
use crate::tokens::Scope;
use crate::web::api::{
    ApiError, ApiGameday, ApiJson, ApiResult, Conflict, GamedayParams, Invalid, Refusals, ScenarioParams, created,
};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update))
        .routes(routes!(revisions))
        .routes(routes!(signoffs))
        .routes(routes!(gate))
        .routes(routes!(announce))
        .routes(routes!(inject))
        .routes(routes!(halt))
        .routes(routes!(roll_back))
        .routes(routes!(conclude))
}

/// A scenario path (`…/gamedays/{id}/scenarios/{sid}`): the scenario must be the game day's.
pub struct ApiScenario {
    pub day: ApiGameday,
    pub scenario: Scenario,
}

#[derive(Deserialize)]
struct ScenarioPath {
    sid: ScenarioId,
}

impl FromRequestParts<AppState> for ApiScenario {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let day = ApiGameday::from_request_parts(parts, state).await?;
        let Path(ScenarioPath { sid }) = Path::<ScenarioPath>::from_request_parts(parts, state).await?;
        let scenario = store::scenario(&state.db, day.gameday.id, sid.0).await?.ok_or(AppError::NotFound)?;
        Ok(ApiScenario { day, scenario })
    }
}

/// A scenario as the API shows it: its current revision's words, fingerprint and sign-offs.
#[derive(Serialize, ToSchema)]
pub struct ScenarioView {
    pub id: Uuid,
    pub gameday_id: Uuid,
    /// Its place in the game day's running order.
    pub position: i32,
    pub state: ScenarioState,
    pub outcome: Option<Outcome>,
    pub conclusion_note: Option<String>,
    /// The current revision: every edit makes a new one, and sign-offs count for one revision.
    pub revision: i32,
    /// SHA-256 over the revision's words (first 12 hex digits): what people signed.
    pub fingerprint: String,
    pub title: String,
    pub hypothesis: String,
    pub fault: String,
    pub target_system: String,
    /// Null until the facilitator sets it (a scenario imported from an experiment).
    pub blast_radius: Option<BlastRadius>,
    pub expected_impact: String,
    pub abort_criteria: String,
    pub abort_owner: Option<Uuid>,
    pub abort_owner_name: Option<String>,
    pub rollback_plan: String,
    /// Where the signers stand on the current revision.
    pub signoff: SignoffView,
}

/// Where the game day's required signers stand on one revision.
#[derive(Serialize, ToSchema)]
pub struct SignoffView {
    pub revision: i32,
    /// Every required signer approved this revision and nobody objects.
    pub agreed: bool,
    pub signers: Vec<SignerView>,
}

#[derive(Serialize, ToSchema)]
pub struct SignerView {
    pub user_id: Uuid,
    pub name: String,
    /// None: not signed yet.
    pub decision: Option<Decision>,
    /// An objection's reason.
    pub reason: Option<String>,
}

impl From<&SignerStatus> for SignerView {
    fn from(s: &SignerStatus) -> Self {
        SignerView { user_id: s.user_id, name: s.name.clone(), decision: s.decision, reason: s.reason.clone() }
    }
}

impl From<&Signoffs> for SignoffView {
    fn from(signoffs: &Signoffs) -> Self {
        SignoffView {
            revision: signoffs.revision,
            agreed: signoffs.fully_approved(),
            signers: signoffs.signers.iter().map(SignerView::from).collect(),
        }
    }
}

fn view(scenario: Scenario, signoffs: &Signoffs) -> ScenarioView {
    let f = scenario.fields;
    ScenarioView {
        id: scenario.id,
        gameday_id: scenario.gameday_id,
        position: scenario.position,
        state: scenario.state,
        outcome: scenario.outcome,
        conclusion_note: scenario.conclusion_note,
        revision: scenario.revision,
        fingerprint: scenario.fingerprint,
        title: f.title,
        hypothesis: f.hypothesis,
        fault: f.fault,
        target_system: f.target_system,
        blast_radius: f.blast_radius,
        expected_impact: f.expected_impact,
        abort_criteria: f.abort_criteria,
        abort_owner: f.abort_owner,
        abort_owner_name: scenario.abort_owner_name,
        rollback_plan: f.rollback_plan,
        signoff: signoffs.into(),
    }
}

/// The scenario as it is now (after a change), with its sign-offs.
async fn current(state: &AppState, gameday_id: Uuid, scenario_id: Uuid) -> ApiResult<ScenarioView> {
    let scenario = store::scenario(&state.db, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    let signoffs = store::signoffs::signoffs(&state.db, gameday_id, scenario_id, scenario.revision).await?;
    Ok(view(scenario, &signoffs))
}

const SCENARIO_EXAMPLE: &str = r#"{"id": "0190f1c2-7f3a-7c4e-9a51-0123456789c1", "gameday_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ae", "position": 1, "state": "announced", "outcome": null, "conclusion_note": null, "revision": 2, "fingerprint": "3f9a0c1d2e4b", "title": "Kill one checkout pod", "hypothesis": "Checkout p99 stays under 300 ms.", "fault": "Delete one checkout pod.", "target_system": "checkout", "blast_radius": "tiny", "expected_impact": "A few retried requests.", "abort_criteria": "Error rate above 1 % for a minute.", "abort_owner": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "abort_owner_name": "Ana", "rollback_plan": "The deployment recreates the pod.", "signoff": {"revision": 2, "agreed": true, "signers": [{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "name": "Ana", "decision": "approve", "reason": null}]}}"#;

fn example(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap_or_default()
}

fn scenario_example() -> serde_json::Value {
    example(SCENARIO_EXAMPLE)
}

/// The example, in another state (after a move), at `revision`.
fn scenario_in(state: &str, revision: i32) -> serde_json::Value {
    let mut value = scenario_example();
    value["state"] = state.into();
    value["revision"] = revision.into();
    value["signoff"]["revision"] = revision.into();
    if state == "concluded" {
        value["outcome"] = "held".into();
        value["conclusion_note"] = "p99 peaked at 180 ms.".into();
    }
    if state == "proposed" {
        value["signoff"]["agreed"] = false.into();
        value["signoff"]["signers"][0]["decision"] = serde_json::Value::Null;
    }
    value
}

/// The game day's scenarios.
///
/// In running order, each at its current revision with where its signers stand.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/scenarios",
    tag = "Scenarios",
    operation_id = "list_scenarios",
    params(
        GamedayParams,
    ),
    responses(
        (status = 200, description = "The scenarios.", body = Vec<ScenarioView>, example = json!([scenario_example()])),
        Refusals
    )
)]
async fn list(State(state): State<AppState>, ctx: ApiGameday) -> ApiResult<Json<Vec<ScenarioView>>> {
    let scenarios = store::scenarios_of(&state.db, ctx.gameday.id).await?;
    let mut signoffs = store::signoffs::signoffs_of_gameday(&state.db, ctx.gameday.id).await?;
    Ok(Json(
        scenarios
            .into_iter()
            .map(|s| {
                let signed = signoffs.remove(&s.id).unwrap_or_else(|| Signoffs::unsigned(s.revision));
                view(s, &signed)
            })
            .collect(),
    ))
}

/// One scenario.
///
/// Its current revision's words, fingerprint, state and sign-offs.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}",
    tag = "Scenarios",
    operation_id = "scenario",
    params(
        ScenarioParams,
    ),
    responses(
        (status = 200, description = "The scenario.", body = ScenarioView, example = json!(scenario_example())),
        Refusals
    )
)]
async fn one(State(state): State<AppState>, ctx: ApiScenario) -> ApiResult<Json<ScenarioView>> {
    let s = ctx.scenario;
    let signoffs = store::signoffs::signoffs(&state.db, s.gameday_id, s.id, s.revision).await?;
    Ok(Json(view(s, &signoffs)))
}

/// The people who sign a game day's scenarios (its facilitators and participants).
async fn signer_ids(state: &AppState, gameday_id: Uuid) -> ApiResult<Vec<Uuid>> {
    let participants = gameday_store::participants(&state.db, gameday_id).await?;
    Ok(participants.into_iter().filter(|p| p.role.is_required_signer()).map(|p| p.user_id).collect())
}

/// Adds a scenario to the game day (revision 1).
///
/// Needs the `plan` scope and a facilitator of the game day, while its plan is open (draft or
/// scheduled). The fields are checked as the pages' form checks them; `abort_owner` is the id of
/// a facilitator or participant. Every required signer then signs it in the pages.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios",
    tag = "Scenarios",
    operation_id = "create_scenario",
    params(
        GamedayParams,
    ),
    request_body(content = ScenarioForm, example = json!({"title": "Kill one checkout pod", "hypothesis": "Checkout p99 stays under 300 ms.", "fault": "Delete one checkout pod.", "target_system": "checkout", "blast_radius": "tiny", "expected_impact": "A few retried requests.", "abort_criteria": "Error rate above 1 % for a minute.", "abort_owner": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "rollback_plan": "The deployment recreates the pod."})),
    responses(
        (status = 201, description = "Added; `Location` is its address.", body = ScenarioView,
         headers(("location" = String, description = "The new scenario's address in the API.")),
         example = json!(scenario_in("proposed", 1))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn create(
    State(state): State<AppState>,
    ctx: ApiGameday,
    ApiJson(form): ApiJson<ScenarioForm>,
) -> ApiResult<Response> {
    ctx.team.caller.require(Scope::Plan, "adding a scenario")?;
    let mut errors = FieldErrors::new();
    let Some(fields) = form.parse(&signer_ids(&state, ctx.gameday.id).await?, &mut errors) else {
        return Err(ApiError::Fields(errors));
    };
    let id = actions::create(&state.db, ctx.gameday.id, &ctx.team.caller.user, &fields).await?;
    let view = current(&state, ctx.gameday.id, id).await?;
    let path = format!("/teams/{}/gamedays/{}/scenarios/{id}", ctx.team.membership.team.slug, ctx.gameday.id);
    Ok(created(&path, view))
}

/// What an edit did.
#[derive(Serialize, ToSchema)]
pub struct RevisedView {
    /// False when nothing changed (no revision was made).
    pub new_revision: bool,
    /// The fields that changed, by label.
    pub changed: Vec<String>,
    /// How many sign-offs of the revision before no longer count.
    pub signoffs_reset: usize,
    pub scenario: ScenarioView,
}

/// Edits a proposed scenario: a new revision.
///
/// The body is the whole scenario (every field, as when adding it). Needs the `plan` scope and a
/// facilitator, while the plan is open and the scenario proposed. If anything changed, a new
/// revision is made and every earlier sign-off stops counting: everyone signs again.
#[utoipa::path(
    put,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}",
    tag = "Scenarios",
    operation_id = "update_scenario",
    params(
        ScenarioParams,
    ),
    request_body(content = ScenarioForm, example = json!({"title": "Kill one checkout pod", "hypothesis": "Checkout p99 stays under 250 ms.", "fault": "Delete one checkout pod.", "target_system": "checkout", "blast_radius": "tiny", "expected_impact": "A few retried requests.", "abort_criteria": "Error rate above 1 % for a minute.", "abort_owner": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "rollback_plan": "The deployment recreates the pod."})),
    responses(
        (status = 200, description = "Saved (or unchanged).", body = RevisedView,
         example = json!({"new_revision": true, "changed": ["Steady-state hypothesis"], "signoffs_reset": 2, "scenario": scenario_in("proposed", 2)})),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn update(
    State(state): State<AppState>,
    ctx: ApiScenario,
    ApiJson(form): ApiJson<ScenarioForm>,
) -> ApiResult<Json<RevisedView>> {
    ctx.day.team.caller.require(Scope::Plan, "editing a scenario")?;
    let gameday = ctx.day.gameday.id;
    let mut errors = FieldErrors::new();
    let Some(fields) = form.parse(&signer_ids(&state, gameday).await?, &mut errors) else {
        return Err(ApiError::Fields(errors));
    };
    let revised = actions::revise(&state.db, gameday, ctx.scenario.id, &ctx.day.team.caller.user, &fields).await?;
    let scenario = current(&state, gameday, ctx.scenario.id).await?;
    Ok(Json(match revised {
        Revised::Unchanged => RevisedView { new_revision: false, changed: Vec::new(), signoffs_reset: 0, scenario },
        Revised::NewRevision { changed, signoffs_reset, .. } => RevisedView {
            new_revision: true,
            changed: changed.into_iter().map(str::to_owned).collect(),
            signoffs_reset,
            scenario,
        },
    }))
}

/// One revision of a scenario.
#[derive(Serialize, ToSchema)]
pub struct RevisionView {
    pub revision: i32,
    pub fingerprint: String,
    pub author: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    pub title: String,
    pub hypothesis: String,
    pub fault: String,
    pub target_system: String,
    pub blast_radius: Option<BlastRadius>,
    pub expected_impact: String,
    pub abort_criteria: String,
    pub abort_owner: Option<Uuid>,
    pub abort_owner_name: String,
    pub rollback_plan: String,
}

/// Every revision of a scenario.
///
/// Oldest first: the words people were asked to sign at each.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/revisions",
    tag = "Scenarios",
    operation_id = "scenario_revisions",
    params(
        ScenarioParams,
    ),
    responses(
        (status = 200, description = "Its revisions.", body = Vec<RevisionView>,
         example = json!([{"revision": 1, "fingerprint": "3f9a0c1d2e4b", "author": "Ana", "created_at": "2026-11-20T09:00:00Z", "title": "Kill one checkout pod", "hypothesis": "Checkout p99 stays under 300 ms.", "fault": "Delete one checkout pod.", "target_system": "checkout", "blast_radius": "tiny", "expected_impact": "A few retried requests.", "abort_criteria": "Error rate above 1 % for a minute.", "abort_owner": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "abort_owner_name": "Ana", "rollback_plan": "The deployment recreates the pod."}])),
        Refusals
    )
)]
async fn revisions(State(state): State<AppState>, ctx: ApiScenario) -> ApiResult<Json<Vec<RevisionView>>> {
    let revisions = store::revisions(&state.db, ctx.scenario.id).await?;
    Ok(Json(
        revisions
            .into_iter()
            .map(|r| RevisionView {
                revision: r.revision,
                fingerprint: r.fingerprint,
                author: r.author_name,
                created_at: r.created_at,
                title: r.fields.title,
                hypothesis: r.fields.hypothesis,
                fault: r.fields.fault,
                target_system: r.fields.target_system,
                blast_radius: r.fields.blast_radius,
                expected_impact: r.fields.expected_impact,
                abort_criteria: r.fields.abort_criteria,
                abort_owner: r.fields.abort_owner,
                abort_owner_name: r.abort_owner_name,
                rollback_plan: r.fields.rollback_plan,
            })
            .collect(),
    ))
}

/// Which revision a question is about.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevisionQuery {
    /// A revision number (the current one unless given).
    #[param(minimum = 1)]
    revision: Option<i32>,
}

/// The gate question's parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GateQuery {
    /// The revision the run was agreed at (the current one unless given).
    #[param(minimum = 1)]
    revision: Option<i32>,
    /// `open`: answer a closed gate with 409 Conflict (the same body), for clients that judge by
    /// the status alone, such as a Chaos Toolkit probe whose tolerance is 200.
    #[param(pattern = "^open$")]
    expect: Option<String>,
}

/// Reads `?revision=` (a whole number from 1) with the pages' kind of message.
fn asked_revision(
    query: Result<Query<RevisionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Option<i32>> {
    match query {
        Ok(Query(RevisionQuery { revision: Some(n) })) if n < 1 => {
            Err(AppError::invalid("revision", "revision is a revision number, from 1.").into())
        }
        Ok(Query(q)) => Ok(q.revision),
        Err(_) => Err(AppError::invalid("revision", "revision is a revision number, from 1.").into()),
    }
}

/// Who signed a revision.
///
/// Where each required signer stands on the revision: approved, objected (with the reason) or
/// not signed. Sign-off itself is a person's act in the pages, never a token's.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/signoffs",
    tag = "Scenarios",
    operation_id = "scenario_signoffs",
    params(
        ScenarioParams,
        RevisionQuery,
    ),
    responses(
        (status = 200, description = "The sign-offs of the revision.", body = SignoffView,
         example = json!({"revision": 2, "agreed": false, "signers": [{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ab", "name": "Ana", "decision": "approve", "reason": null}, {"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "name": "Li", "decision": null, "reason": null}]})),
        Invalid,
        Refusals
    )
)]
async fn signoffs(
    State(state): State<AppState>,
    ctx: ApiScenario,
    query: Result<Query<RevisionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<SignoffView>> {
    let revision = asked_revision(query)?.unwrap_or(ctx.scenario.revision);
    if revision > ctx.scenario.revision {
        return Err(AppError::NotFound.into());
    }
    let signoffs = store::signoffs::signoffs(&state.db, ctx.day.gameday.id, ctx.scenario.id, revision).await?;
    Ok(Json((&signoffs).into()))
}

/// The answer to the gate question.
#[derive(Serialize, ToSchema)]
pub struct GateView {
    /// Whether a run of the asked revision may go on now.
    pub open: bool,
    pub scenario: Uuid,
    /// The revision asked about.
    pub revision: i32,
    /// The scenario's current revision and its fingerprint.
    pub current_revision: i32,
    pub fingerprint: String,
    pub state: ScenarioState,
    pub gameday_status: GamedayStatus,
    /// Every reason the gate is closed (none when open).
    pub reasons: Vec<GateReason>,
}

/// Why the gate is closed, for machines (`code`) and people (`message`).
#[derive(Serialize, ToSchema)]
pub struct GateReason {
    /// `gameday_not_running`, `revision_changed`, `not_announced`, `halted`, `rolled_back`,
    /// `concluded`, `no_signers`, `unsigned`, `objected`, `open_weakness` or `start_tiny`.
    pub code: String,
    pub message: String,
    /// Who it is about (`unsigned`, `objected`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<SignerView>,
}

/// The gate question: may a run of this revision go on now?
///
/// Open while the game day is running and the scenario is announced or injected at that revision,
/// every required signer still approves it, and it is not halted (an announced fault into an open
/// known weakness waits for an injection with a reason). When closed, `reasons` says exactly why.
/// An automated run asks before its fault and while it lasts, and stops when the gate closes.
/// Injecting through the API passes the same gate again, in the injection's own transaction.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/gate",
    tag = "Scenarios",
    operation_id = "scenario_gate",
    params(
        ScenarioParams,
        GateQuery,
    ),
    responses(
        (status = 200, description = "Open or not, and why (with `expect=open`: open).", body = GateView,
         example = json!({"open": false, "scenario": "0190f1c2-7f3a-7c4e-9a51-0123456789c1", "revision": 2, "current_revision": 2, "fingerprint": "3f9a0c1d2e4b", "state": "proposed", "gameday_status": "running", "reasons": [{"code": "not_announced", "message": "Not announced yet: announce it first, so nobody is surprised."}, {"code": "unsigned", "message": "1 of its signers have not signed this revision: Li.", "people": [{"user_id": "0190f1c2-7f3a-7c4e-9a51-0123456789ac", "name": "Li", "decision": null, "reason": null}]}]})),
        (status = 409, description = "With `expect=open`: the gate is closed, and why.", body = GateView,
         example = json!({"open": false, "scenario": "0190f1c2-7f3a-7c4e-9a51-0123456789c1", "revision": 2, "current_revision": 2, "fingerprint": "3f9a0c1d2e4b", "state": "halted", "gameday_status": "running", "reasons": [{"code": "halted", "message": "The scenario is halted: this run is over."}]})),
        Invalid,
        Refusals
    )
)]
async fn gate(
    State(state): State<AppState>,
    ctx: ApiGameday,
    Path(ScenarioPath { sid }): Path<ScenarioPath>,
    query: Result<Query<GateQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let (asked, expect_open) = match query {
        Ok(Query(GateQuery { revision, expect })) => {
            let expect_open = match expect.as_deref() {
                None => false,
                Some("open") => true,
                Some(_) => return Err(AppError::invalid("expect", "expect is `open`, or leave it out.").into()),
            };
            (asked_revision(Ok(Query(RevisionQuery { revision })))?, expect_open)
        }
        Err(_) => return Err(AppError::invalid("revision", "revision is a revision number, from 1.").into()),
    };
    let answer = actions::gate_question(&state.db, &ctx.gameday, sid.0, asked).await?;
    let closed_by_status = expect_open && !answer.closed.is_empty();
    let view = GateView {
        open: answer.closed.is_empty(),
        scenario: answer.scenario.id,
        revision: answer.asked_revision,
        current_revision: answer.scenario.revision,
        fingerprint: answer.scenario.fingerprint,
        state: answer.scenario.state,
        gameday_status: answer.gameday_status,
        reasons: answer
            .closed
            .iter()
            .map(|c| GateReason {
                code: c.code().to_owned(),
                message: c.message(),
                people: c.people().iter().map(SignerView::from).collect(),
            })
            .collect(),
    };
    if !closed_by_status {
        return Ok(Json(view).into_response());
    }
    // The gate's own answer, not a problem document: the error pages leave a rendered body alone.
    let mut response = (StatusCode::CONFLICT, Json(view)).into_response();
    response.extensions_mut().insert(crate::web::Rendered);
    Ok(response)
}

/// The body of an announcement.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AnnounceBody {
    /// The revision this run was agreed at: refused (409) if the scenario is at another.
    revision: Option<i32>,
    /// Escalate past "start tiny" (no smaller scenario on this target has held yet).
    acknowledge_escalation: bool,
}

/// The body of an injection.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InjectBody {
    /// The revision this run was agreed at: refused (409) if the scenario is at another.
    revision: Option<i32>,
    /// Why inject into an open known weakness (required then; recorded on the timeline).
    weakness_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HaltBody {
    /// Why, for everyone on the game day.
    reason: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConcludeBody {
    /// `held`, `refuted` or `inconclusive`.
    outcome: String,
    note: String,
}

/// 403 unless the token may run faults.
fn may_run(ctx: &ApiScenario, doing: &str) -> ApiResult<()> {
    ctx.day.team.caller.require(Scope::Run, doing)
}

/// Announces the fault: the last step before injecting it, so that nobody is surprised.
///
/// Needs the `run` scope and a facilitator; refused (409) unless the game day is running, the
/// scenario proposed, and every required signer approved its current revision (and `revision`,
/// when given, is that revision). The announcement goes on the timeline, marked as made through
/// the API with this token.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/announce",
    tag = "Scenarios",
    operation_id = "announce_scenario",
    params(
        ScenarioParams,
    ),
    request_body(content = AnnounceBody, example = json!({"revision": 2, "acknowledge_escalation": false})),
    responses(
        (status = 200, description = "Announced.", body = ScenarioView, example = json!(scenario_in("announced", 2))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn announce(
    State(state): State<AppState>,
    ctx: ApiScenario,
    ApiJson(body): ApiJson<AnnounceBody>,
) -> ApiResult<Json<ScenarioView>> {
    may_run(&ctx, "announcing a fault")?;
    let (gameday, scenario) = (ctx.day.gameday.id, ctx.scenario.id);
    let user = &ctx.day.team.caller.user;
    run_before(&state.db, &state.config.health_check_allow, (gameday, scenario), user, Move::Announce).await?;
    actions::announce(&state.db, (gameday, scenario, body.revision), user, body.acknowledge_escalation).await?;
    Ok(Json(current(&state, gameday, scenario).await?))
}

/// Injects the announced fault.
///
/// Needs the `run` scope and a facilitator; passes the same gate as the pages' button, in the
/// same transaction: refused (409) unless the game day is running, the scenario announced, every
/// required signer still approves its current revision (and `revision`, when given, is that
/// revision). Into an open known weakness only with `weakness_reason`.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/inject",
    tag = "Scenarios",
    operation_id = "inject_scenario",
    params(
        ScenarioParams,
    ),
    request_body(content = InjectBody, example = json!({"revision": 2})),
    responses(
        (status = 200, description = "Injected.", body = ScenarioView, example = json!(scenario_in("injected", 2))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn inject(
    State(state): State<AppState>,
    ctx: ApiScenario,
    ApiJson(body): ApiJson<InjectBody>,
) -> ApiResult<Json<ScenarioView>> {
    may_run(&ctx, "injecting a fault")?;
    let reason = super::weakness_reason(body.weakness_reason.as_deref().unwrap_or_default())
        .map_err(AppError::of_field("weakness_reason"))?;
    let (gameday, scenario) = (ctx.day.gameday.id, ctx.scenario.id);
    let user = &ctx.day.team.caller.user;
    run_before(&state.db, &state.config.health_check_allow, (gameday, scenario), user, Move::Inject).await?;
    actions::inject(&state.db, (gameday, scenario, body.revision), user, reason.as_deref()).await?;
    Ok(Json(current(&state, gameday, scenario).await?))
}

/// Halts an announced or injected fault.
///
/// Needs the `run` scope; anyone on the game day may halt. The reason goes on the timeline.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/halt",
    tag = "Scenarios",
    operation_id = "halt_scenario",
    params(
        ScenarioParams,
    ),
    request_body(content = HaltBody, example = json!({"reason": "Error rate above 1 % for a minute."})),
    responses(
        (status = 200, description = "Halted.", body = ScenarioView, example = json!(scenario_in("halted", 2))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn halt(
    State(state): State<AppState>,
    ctx: ApiScenario,
    ApiJson(body): ApiJson<HaltBody>,
) -> ApiResult<Json<ScenarioView>> {
    may_run(&ctx, "halting a fault")?;
    let reason = super::halt_reason(&body.reason).map_err(AppError::of_field("reason"))?;
    let (gameday, scenario) = (ctx.day.gameday.id, ctx.scenario.id);
    actions::halt(&state.db, gameday, scenario, &ctx.day.team.caller.user, &reason).await?;
    Ok(Json(current(&state, gameday, scenario).await?))
}

/// Rolls back an injected fault.
///
/// Needs the `run` scope and a facilitator.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/rollback",
    tag = "Scenarios",
    operation_id = "roll_back_scenario",
    params(
        ScenarioParams,
    ),
    responses(
        (status = 200, description = "Rolled back.", body = ScenarioView, example = json!(scenario_in("rolled_back", 2))),
        Conflict,
        Refusals
    )
)]
async fn roll_back(State(state): State<AppState>, ctx: ApiScenario) -> ApiResult<Json<ScenarioView>> {
    may_run(&ctx, "rolling back a fault")?;
    let (gameday, scenario) = (ctx.day.gameday.id, ctx.scenario.id);
    actions::roll_back(&state.db, gameday, scenario, &ctx.day.team.caller.user).await?;
    Ok(Json(current(&state, gameday, scenario).await?))
}

/// Concludes a rolled-back or halted scenario with its outcome.
///
/// Needs the `run` scope and a facilitator.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/conclude",
    tag = "Scenarios",
    operation_id = "conclude_scenario",
    params(
        ScenarioParams,
    ),
    request_body(content = ConcludeBody, example = json!({"outcome": "held", "note": "p99 peaked at 180 ms."})),
    responses(
        (status = 200, description = "Concluded.", body = ScenarioView, example = json!(scenario_in("concluded", 2))),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn conclude(
    State(state): State<AppState>,
    ctx: ApiScenario,
    ApiJson(body): ApiJson<ConcludeBody>,
) -> ApiResult<Json<ScenarioView>> {
    may_run(&ctx, "concluding a scenario")?;
    let mut errors = FieldErrors::new();
    let outcome = errors.check("outcome", Outcome::parse(&body.outcome));
    let note = errors.check("note", super::conclusion_note(&body.note));
    let (Some(outcome), Some(note)) = (outcome, note) else { return Err(ApiError::Fields(errors)) };
    let (gameday, scenario) = (ctx.day.gameday.id, ctx.scenario.id);
    actions::conclude(&state.db, gameday, scenario, &ctx.day.team.caller.user, outcome, &note).await?;
    Ok(Json(current(&state, gameday, scenario).await?))
}
