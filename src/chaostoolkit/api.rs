//! Chaos Toolkit through the API: import an experiment as a scenario (`plan` scope), export an
//! agreed scenario as an experiment (`read`), bring a run's journal onto the timeline (`run`).
//! Each calls the pages' action.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::actions::{self, JournalImport};
use super::{experiment, journal};
use crate::error::AppError;
use crate::ids::ScenarioId;
use crate::scenarios::gate::Outcome;
use crate::scenarios::store as scenario_store;
use crate::state::AppState;
use crate::tokens::Scope;
use crate::web::api::{
    API_BASE, ApiGameday, ApiResult, Conflict, GamedayParams, Invalid, Refusals, ScenarioParams, created,
};
use crate::web::context::Path;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_experiment))
        .routes(routes!(export_experiment))
        .routes(routes!(import_journal))
        .layer(axum::extract::DefaultBodyLimit::max(super::UPLOAD_LIMIT_BYTES))
}

#[derive(Deserialize)]
struct ScenarioPath {
    sid: ScenarioId,
}

/// A scenario imported from an experiment.
#[derive(Serialize, ToSchema)]
pub struct ImportedView {
    /// The new scenario (revision 1, proposed).
    pub scenario: Uuid,
    pub revision: i32,
    pub fingerprint: String,
    pub title: String,
    /// What the facilitator sets before anyone can approve it, by label.
    pub to_set: Vec<String>,
    /// Each credential replaced by its name, and where.
    pub redacted: Vec<String>,
    /// Keys Gameday does not know, kept in the document.
    pub not_understood: Vec<String>,
}

/// Imports a Chaos Toolkit experiment as a scenario.
///
/// Needs the `plan` scope and a facilitator, while the game day's plan is open. The body is the
/// experiment itself, JSON or YAML (as `chaos run` reads it), up to 256 KiB. Secret values and
/// configuration values that look like credentials are replaced by their names before anything
/// is stored; unknown keys are kept and listed. The scenario's target, blast radius, expected
/// impact, abort criteria and abort owner are left to set (`to_set`): nobody can approve it
/// before they are. A bad document is refused (422) naming the line or the key.
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/import",
    tag = "Chaos Toolkit",
    operation_id = "import_experiment",
    params(GamedayParams),
    request_body(
        description = "The experiment, as a Chaos Toolkit file.",
        content(
            (serde_json::Value = "application/json", example = json!({"title": "Checkout survives losing a pod", "description": "Checkout keeps answering while one pod is deleted.", "steady-state-hypothesis": {"title": "Checkout answers", "probes": [{"type": "probe", "name": "checkout-up", "tolerance": 200, "provider": {"type": "http", "url": "http://checkout.internal/health"}}]}, "method": [{"type": "action", "name": "delete-pod", "provider": {"type": "process", "path": "kubectl", "arguments": "delete pod -l app=checkout --wait=false"}}]})),
            (String = "application/yaml", example = "title: Checkout survives losing a pod\ndescription: Checkout keeps answering while one pod is deleted.\nmethod:\n  - type: action\n    name: delete-pod\n    provider:\n      type: process\n      path: kubectl\n      arguments: delete pod -l app=checkout --wait=false\n")
        )
    ),
    responses(
        (status = 201, description = "Imported; `Location` is the scenario's address.", body = ImportedView,
         headers(("location" = String, description = "The new scenario's address in the API.")),
         example = json!({"scenario": "0190f1c2-7f3a-7c4e-9a51-0123456789c1", "revision": 1, "fingerprint": "3f9a0c1d2e4b", "title": "Checkout survives losing a pod", "to_set": ["Target system", "Blast radius", "Expected impact", "Abort criteria", "Abort owner"], "redacted": [], "not_understood": []})),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn import_experiment(State(state): State<AppState>, ctx: ApiGameday, body: Bytes) -> ApiResult<Response> {
    ctx.team.caller.require(Scope::Plan, "importing an experiment")?;
    if body.len() > experiment::MAX_BYTES {
        return Err(AppError::invalid("experiment", "The experiment is larger than 256 KiB.").into());
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::invalid("experiment", "The experiment is not UTF-8 text (JSON or YAML)."))?;
    let user = &ctx.team.caller.user;
    let id = actions::import_experiment(
        &state.db,
        &state.config.health_check_allow,
        (ctx.gameday.id, user),
        text,
        actions::Origin::Api,
    )
    .await?;
    let scenario = scenario_store::scenario(&state.db, ctx.gameday.id, id).await?.ok_or(AppError::NotFound)?;
    let notes = super::store::experiment(&state.db, id, scenario.revision).await?.map(|e| e.notes);
    let list = |key: &str| -> Vec<String> {
        let values = notes.as_ref().and_then(|n| n.get(key)).and_then(|v| v.as_array());
        values.map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let view = ImportedView {
        scenario: id,
        revision: scenario.revision,
        fingerprint: scenario.fingerprint.clone(),
        title: scenario.fields.title.clone(),
        to_set: scenario.fields.placeholders().into_iter().map(str::to_owned).collect(),
        redacted: list("redacted"),
        not_understood: list("not_understood"),
    };
    Ok(created(&format!("/teams/{}/gamedays/{}/scenarios/{id}", ctx.team.membership.team.slug, ctx.gameday.id), view))
}

/// Exports an agreed scenario as a Chaos Toolkit experiment.
///
/// The current revision, once every required signer approved it (else 409, saying who has not).
/// The experiment's steady-state hypothesis begins with a probe that asks this API's gate
/// question for that revision (`…/gate?revision=N&expect=open`, tolerance 200), so `chaos run`
/// stops before its method unless the scenario is agreed and announced; its method begins by
/// recording the injection (`…/inject` with the revision), its rollbacks end by recording the
/// roll back. The token is read from the environment variable `GAMEDAY_TOKEN` when it runs and is
/// never written into the file; `GAMEDAY_API_URL` overrides the API's address. An imported
/// experiment keeps its own activities, configuration, secrets (as references) and controls.
#[utoipa::path(
    get,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/experiment",
    tag = "Chaos Toolkit",
    operation_id = "export_experiment",
    params(ScenarioParams),
    responses(
        (status = 200, description = "The experiment, for `chaos run`.", body = serde_json::Value,
         headers(("content-disposition" = String, description = "A file name for it.")),
         example = json!({"version": "1.0.0", "title": "Kill one checkout pod", "description": "Checkout p99 stays under 300 ms. …", "tags": ["gameday"], "configuration": {"gameday_api_url": {"type": "env", "key": "GAMEDAY_API_URL", "default": "https://gameday.example.com/api/v1"}}, "secrets": {"gameday": {"gameday_token": {"type": "env", "key": "GAMEDAY_TOKEN"}}}, "extensions": [{"name": "gameday", "revision": 2, "fingerprint": "3f9a0c1d2e4b"}], "steady-state-hypothesis": {"title": "Checkout p99 stays under 300 ms.", "probes": [{"type": "probe", "name": "gameday-gate-is-open", "tolerance": 200, "provider": {"type": "http", "method": "GET", "url": "${gameday_api_url}/teams/platform/gamedays/0190f1c2-7f3a-7c4e-9a51-0123456789ae/scenarios/0190f1c2-7f3a-7c4e-9a51-0123456789c1/gate?revision=2&expect=open", "headers": {"Authorization": "Bearer ${gameday_token}"}}}]}, "method": [{"type": "action", "name": "gameday-record-injection", "provider": {"type": "http", "method": "POST", "url": "${gameday_api_url}/teams/platform/gamedays/0190f1c2-7f3a-7c4e-9a51-0123456789ae/scenarios/0190f1c2-7f3a-7c4e-9a51-0123456789c1/inject", "arguments": {"revision": 2}}}], "rollbacks": []})),
        Conflict,
        Refusals
    )
)]
async fn export_experiment(
    State(state): State<AppState>,
    ctx: ApiGameday,
    Path(ScenarioPath { sid }): Path<ScenarioPath>,
) -> ApiResult<Response> {
    let api_url = format!("{}{API_BASE}", state.config.base_url());
    let team = &ctx.team.membership.team.slug;
    let exported = actions::export_agreed(&state.db, &ctx.gameday, team, sid.0, &api_url).await?;
    let mut response = Json(exported.document).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", exported.file_name)) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// What importing a journal did.
#[derive(Serialize, ToSchema)]
pub struct JournalView {
    /// False when this scenario already had this journal (nothing was added).
    pub imported: bool,
    /// Timeline entries added.
    pub entries: usize,
    /// The outcome the run proposes, for the facilitator to confirm when concluding.
    pub proposal: Option<Outcome>,
    pub reason: Option<String>,
}

/// Brings a Chaos Toolkit journal onto a scenario's timeline.
///
/// Needs the `run` scope and a facilitator. The body is the `journal.json` that `chaos run` wrote
/// (up to 2 MiB). Each activity of its method and rollbacks, and each steady-state check, becomes
/// a timeline event at its own time, marked as imported (with its status, duration and a trimmed
/// output or exception); the run's status and deviation propose an outcome. The same journal a
/// second time adds nothing (200, `imported: false`).
#[utoipa::path(
    post,
    path = "/teams/{slug}/gamedays/{id}/scenarios/{sid}/journal",
    tag = "Chaos Toolkit",
    operation_id = "import_journal",
    params(ScenarioParams),
    request_body(
        description = "The journal `chaos run` wrote.",
        content((serde_json::Value = "application/json", example = json!({"chaoslib-version": "1.44.0", "status": "completed", "deviated": false, "start": "2026-11-27T10:00:00+00:00", "end": "2026-11-27T10:00:04+00:00", "duration": 4.1, "experiment": {"title": "Kill one checkout pod"}, "steady_states": {"before": null, "after": null, "during": []}, "run": [], "rollbacks": []})))
    ),
    responses(
        (status = 201, description = "On the timeline.", body = JournalView,
         example = json!({"imported": true, "entries": 5, "proposal": "held", "reason": "The steady state held before and after the method."})),
        (status = 200, description = "Already imported: nothing added.", body = JournalView,
         example = json!({"imported": false, "entries": 0, "proposal": null, "reason": null})),
        Invalid,
        Conflict,
        Refusals
    )
)]
async fn import_journal(
    State(state): State<AppState>,
    ctx: ApiGameday,
    Path(ScenarioPath { sid }): Path<ScenarioPath>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<JournalView>)> {
    ctx.team.caller.require(Scope::Run, "importing a journal")?;
    if body.len() > journal::MAX_BYTES {
        return Err(AppError::invalid("journal", "The journal is larger than 2 MiB.").into());
    }
    let user = &ctx.team.caller.user;
    Ok(match actions::import_journal(&state.db, ctx.gameday.id, sid.0, user, &body).await? {
        JournalImport::Imported { entries, proposal, reason } => (
            StatusCode::CREATED,
            Json(JournalView { imported: true, entries, proposal: Some(proposal), reason: Some(reason) }),
        ),
        JournalImport::AlreadyImported => {
            (StatusCode::OK, Json(JournalView { imported: false, entries: 0, proposal: None, reason: None }))
        }
    })
}
