//! Scenario pages: write and revise, read and sign off, and the fault's lifecycle buttons.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, Revised};
use super::gate::{self, Outcome, ScenarioState};
use super::store::{self, Revision, Scenario};
use super::{BlastRadius, Decision, FieldChange, ScenarioForm, Signoffs};
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::gamedays::store::{self as gameday_store, Participant};
use crate::gamedays::{GamedayRole, GamedayStatus, actions::require_facilitator};
use crate::state::AppState;
use crate::web::context::{GamedayCtx, ScenarioCtx};
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    let base = "/teams/{slug}/gamedays/{id}/scenarios";
    Router::new()
        .route(base, post(create))
        .route(&format!("{base}/new"), get(new_page))
        .route(&format!("{base}/{{sid}}"), get(show))
        .route(&format!("{base}/{{sid}}/edit"), get(edit_page).post(update))
        .route(&format!("{base}/{{sid}}/signoff"), post(signoff))
        .route(&format!("{base}/{{sid}}/announce"), post(announce))
        .route(&format!("{base}/{{sid}}/inject"), post(inject))
        .route(&format!("{base}/{{sid}}/halt"), post(halt))
        .route(&format!("{base}/{{sid}}/rollback"), post(roll_back))
        .route(&format!("{base}/{{sid}}/conclude"), post(conclude))
}

#[derive(Template)]
#[template(path = "scenarios/form.html")]
struct FormPage {
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Option<Scenario>,
    participants: Vec<Participant>,
    form: ScenarioForm,
    errors: FieldErrors,
    radii: [BlastRadius; 4],
}

impl FormPage {
    fn action(&self) -> String {
        match &self.scenario {
            Some(s) => format!("{}/scenarios/{}/edit", self.ctx.url(), s.id),
            None => format!("{}/scenarios", self.ctx.url()),
        }
    }
}

async fn form_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Option<Scenario>,
    form: ScenarioForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    // Abort owners are people who sign the scenario: facilitators and participants.
    let mut participants = gameday_store::participants(&state.db, ctx.gameday.id).await?;
    participants.retain(|p| p.role.is_required_signer());
    let status = match (errors.is_empty(), errors.get("form").is_some()) {
        (true, _) => StatusCode::OK,
        (false, true) => StatusCode::CONFLICT,
        (false, false) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    render_status(status, &FormPage { layout, ctx, scenario, participants, form, errors, radii: BlastRadius::ALL })
}

async fn new_page(State(state): State<AppState>, layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    let user = ctx.user.clone();
    require_facilitator(ctx.role)?;
    crate::gamedays::edit_plan(ctx.gameday.status)?;
    let form = ScenarioForm { blast_radius: "tiny".into(), abort_owner: user.id.to_string(), ..Default::default() };
    form_page(&state, layout, ctx, None, form, FieldErrors::new()).await
}

async fn participant_ids(state: &AppState, gameday_id: Uuid) -> AppResult<Vec<Uuid>> {
    let participants = gameday_store::participants(&state.db, gameday_id).await?;
    Ok(participants.into_iter().filter(|p| p.role.is_required_signer()).map(|p| p.user_id).collect())
}

async fn create(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<ScenarioForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    require_facilitator(ctx.role)?;
    let mut errors = FieldErrors::new();
    let Some(fields) = form.parse(&participant_ids(&state, ctx.gameday.id).await?, &mut errors) else {
        return form_page(&state, layout, ctx, None, form, errors).await;
    };
    let sid = match actions::create(&state.db, ctx.gameday.id, &user, &fields).await {
        Ok(sid) => sid,
        Err(AppError::Conflict(message)) | Err(AppError::Validation(message)) => {
            errors.add("form", message);
            return form_page(&state, layout, ctx, None, form, errors).await;
        }
        Err(err) => return Err(err),
    };
    flash(&session, FlashKind::Success, "Scenario added. Every facilitator and participant now signs it off.").await?;
    Ok(see_other(&format!("{}/scenarios/{sid}", ctx.url())))
}

async fn edit_page(
    State(state): State<AppState>,
    layout: Layout,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
) -> AppResult<Response> {
    let _user = ctx.user.clone();
    require_facilitator(ctx.role)?;
    gate::edit(scenario.state)?;
    let form = ScenarioForm::from_fields(&scenario.fields);
    form_page(&state, layout, ctx, Some(scenario), form, FieldErrors::new()).await
}

async fn update(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Form(form): Form<ScenarioForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    require_facilitator(ctx.role)?;
    let mut errors = FieldErrors::new();
    let Some(fields) = form.parse(&participant_ids(&state, ctx.gameday.id).await?, &mut errors) else {
        return form_page(&state, layout, ctx, Some(scenario), form, errors).await;
    };
    let url = format!("{}/scenarios/{}", ctx.url(), scenario.id);
    let revised = match actions::revise(&state.db, ctx.gameday.id, scenario.id, &user, &fields).await {
        Ok(revised) => revised,
        Err(AppError::Conflict(message)) | Err(AppError::Validation(message)) => {
            errors.add("form", message);
            return form_page(&state, layout, ctx, Some(scenario), form, errors).await;
        }
        Err(err) => return Err(err),
    };
    let message = match revised {
        Revised::Unchanged => "Nothing changed, so no new revision was made.".to_owned(),
        Revised::NewRevision { revision, signoffs_reset: 0, .. } => format!("Saved as revision {revision}."),
        Revised::NewRevision { revision, signoffs_reset, .. } => format!(
            "Saved as revision {revision}. The {signoffs_reset} earlier sign-off(s) no longer count: everyone signs revision {revision}."
        ),
    };
    flash(&session, FlashKind::Success, message).await?;
    Ok(see_other(&url))
}

#[derive(Debug, Default, Deserialize)]
pub struct CompareQuery {
    from: Option<i32>,
    to: Option<i32>,
}

#[derive(Template)]
#[template(path = "scenarios/show.html")]
struct ShowPage {
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Scenario,
    signoffs: Signoffs,
    revisions: Vec<Revision>,
    /// What the current revision changed from the one before it.
    latest_changes: Vec<FieldChange>,
    /// The comparison asked for: (from, to, changes).
    compare: Option<(i32, i32, Vec<FieldChange>)>,
    me: Uuid,
    alert: Option<String>,
    outcomes: [Outcome; 3],
    in_flight: Vec<Scenario>,
    last_seq: i64,
    timings: crate::timeline::timings::Timings,
    /// Start tiny: a smaller scenario on this target that held.
    smaller_held: Option<String>,
    /// The linked known weakness: (id, title, open?).
    weakness: Option<(Uuid, String, bool)>,
    team_weaknesses: Vec<crate::weaknesses::store::Weakness>,
    incident: Option<(Uuid, String, Option<String>)>,
}

impl ShowPage {
    fn is_facilitator(&self) -> bool {
        self.ctx.role == Some(GamedayRole::Facilitator)
    }

    fn is_signer(&self) -> bool {
        self.ctx.role.is_some_and(|r| r.is_required_signer())
    }

    fn my_decision(&self) -> Option<Decision> {
        self.signoffs.signers.iter().find(|s| s.user_id == self.me).and_then(|s| s.decision)
    }

    fn labelled(&self) -> Vec<(&'static str, String)> {
        self.scenario.fields.labelled(self.scenario.abort_owner_name.as_deref().unwrap_or("nobody"))
    }

    fn base(&self) -> String {
        format!("{}/scenarios/{}", self.ctx.url(), self.scenario.id)
    }
}

fn changes_between(revisions: &[Revision], from: i32, to: i32) -> Option<Vec<FieldChange>> {
    let a = revisions.iter().find(|r| r.revision == from)?;
    let b = revisions.iter().find(|r| r.revision == to)?;
    Some(a.fields.diff(&a.abort_owner_name, &b.fields, &b.abort_owner_name))
}

#[allow(clippy::too_many_arguments)]
async fn scenario_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Scenario,
    me: Uuid,
    query: CompareQuery,
    status: StatusCode,
    alert: Option<String>,
) -> AppResult<Response> {
    let signoffs = store::signoffs(&state.db, ctx.gameday.id, scenario.id, scenario.revision).await?;
    let revisions = store::revisions(&state.db, scenario.id).await?;
    let latest_changes = changes_between(&revisions, scenario.revision - 1, scenario.revision).unwrap_or_default();
    let compare = match (query.from, query.to) {
        (Some(from), Some(to)) => changes_between(&revisions, from, to).map(|c| (from, to, c)),
        _ => None,
    };
    let in_flight =
        store::scenarios_of(&state.db, ctx.gameday.id).await?.into_iter().filter(|s| s.state.in_flight()).collect();
    let events = crate::timeline::store::events(&state.db, ctx.gameday.id).await?;
    let timings = crate::timeline::timings::timings(&events, scenario.id);
    use crate::weaknesses::store as weakness_store;
    let f = &scenario.fields;
    let smaller_held = weakness_store::smaller_that_held(
        &state.db,
        ctx.membership.team.id,
        scenario.id,
        &f.target_system,
        f.blast_radius,
        &ctx.gameday.environment,
    )
    .await?;
    let weakness = weakness_store::linked_weakness(&state.db, scenario.id).await?;
    let team_weaknesses = weakness_store::weaknesses(&state.db, ctx.membership.team.id).await?;
    let incident = weakness_store::linked_incident(&state.db, scenario.id).await?;
    let last_seq = events.last().map(|e| e.seq).unwrap_or(0);
    let page = ShowPage {
        in_flight,
        last_seq,
        timings,
        smaller_held,
        weakness,
        team_weaknesses,
        incident,
        layout,
        ctx,
        scenario,
        signoffs,
        revisions,
        latest_changes,
        compare,
        me,
        alert,
        outcomes: Outcome::ALL,
    };
    render_status(status, &page)
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Query(query): Query<CompareQuery>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    scenario_page(&state, layout, ctx, scenario, user.id, query, StatusCode::OK, None).await
}

/// Runs a scenario action: on success flash and return to the scenario; on a refusal or bad
/// input, re-render the scenario page with the reason (409 or 422).
#[allow(clippy::too_many_arguments)]
async fn act(
    state: &AppState,
    layout: Layout,
    session: &Session,
    ctx: GamedayCtx,
    scenario: Scenario,
    user: &User,
    result: AppResult<()>,
    done: &str,
) -> AppResult<Response> {
    let (status, message) = match result {
        Ok(()) => {
            flash(session, FlashKind::Success, done).await?;
            return Ok(see_other(&format!("{}/scenarios/{}", ctx.url(), scenario.id)));
        }
        Err(AppError::Conflict(message)) => (StatusCode::CONFLICT, message),
        Err(AppError::Validation(message)) => (StatusCode::UNPROCESSABLE_ENTITY, message),
        Err(err) => return Err(err),
    };
    let fresh = store::scenario(&state.db, ctx.gameday.id, scenario.id).await?.ok_or(AppError::NotFound)?;
    let query = CompareQuery::default();
    scenario_page(state, layout, ctx, fresh, user.id, query, status, Some(message)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SignoffForm {
    revision: i32,
    decision: String,
    reason: String,
}

async fn signoff(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Form(form): Form<SignoffForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "object" => Decision::Object,
        _ => return Err(AppError::Validation("Choose approve or object.".into())),
    };
    let reason = crate::gamedays::multiline(&form.reason, "The reason", 0, 2000);
    let result = match reason {
        Ok(reason) => {
            let reason = (!reason.is_empty()).then_some(reason.as_str());
            actions::sign(&state.db, ctx.gameday.id, scenario.id, &user, form.revision, decision, reason).await
        }
        Err(message) => Err(AppError::Validation(message)),
    };
    let done = match decision {
        Decision::Approve => format!("You approved revision {}.", form.revision),
        Decision::Object => format!("You objected to revision {}. The facilitator sees your reason.", form.revision),
    };
    act(&state, layout, &session, ctx, scenario, &user, result, &done).await
}

/// The fault transitions without a form.
#[derive(Clone, Copy)]
enum Move {
    Announce,
    Inject,
    RollBack,
}

/// Optional fields of the announce and inject forms.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    /// "yes" to escalate past a missing smaller scenario (start tiny).
    acknowledge: String,
    /// Why inject into an open known weakness.
    weakness_reason: String,
}

async fn transition(
    state: AppState,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    mv: Move,
    form: MoveForm,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    let (result, done) = match mv {
        Move::Announce => (
            actions::announce(&state.db, ctx.gameday.id, scenario.id, &user, form.acknowledge == "yes").await,
            "Announced. Everyone on the game day can see what will be broken; inject when ready.",
        ),
        Move::Inject => {
            let result = match form.weakness_reason.trim() {
                "" => actions::inject(&state.db, ctx.gameday.id, scenario.id, &user, None).await,
                reason => match crate::form::bounded_text(reason, "The reason", 1, 500) {
                    Ok(reason) => actions::inject(&state.db, ctx.gameday.id, scenario.id, &user, Some(&reason)).await,
                    Err(message) => Err(AppError::Validation(message)),
                },
            };
            (result, "Injected.")
        }
        Move::RollBack => (actions::roll_back(&state.db, ctx.gameday.id, scenario.id, &user).await, "Rolled back."),
    };
    act(&state, layout, &session, ctx, scenario, &user, result, done).await
}

async fn announce(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    scenario: ScenarioCtx,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    transition(state, layout, session, scenario, Move::Announce, form).await
}

async fn inject(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    scenario: ScenarioCtx,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    transition(state, layout, session, scenario, Move::Inject, form).await
}

async fn roll_back(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    scenario: ScenarioCtx,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    transition(state, layout, session, scenario, Move::RollBack, form).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HaltForm {
    reason: String,
}

async fn halt(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Form(form): Form<HaltForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    let result = match crate::form::bounded_text(&form.reason, "The reason for halting", 1, 500) {
        Ok(reason) => actions::halt(&state.db, ctx.gameday.id, scenario.id, &user, &reason).await,
        Err(message) => Err(AppError::Validation(message)),
    };
    act(&state, layout, &session, ctx, scenario, &user, result, "Halted. Everyone sees who halted it and why.").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConcludeForm {
    outcome: String,
    note: String,
}

async fn conclude(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Form(form): Form<ConcludeForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    let parsed = Outcome::parse(&form.outcome)
        .and_then(|outcome| crate::gamedays::multiline(&form.note, "The note", 0, 4000).map(|note| (outcome, note)));
    let result = match parsed {
        Ok((outcome, note)) => actions::conclude(&state.db, ctx.gameday.id, scenario.id, &user, outcome, &note).await,
        Err(message) => Err(AppError::Validation(message)),
    };
    act(&state, layout, &session, ctx, scenario, &user, result, "Concluded.").await
}

impl ScenarioState {
    pub fn css(&self) -> &'static str {
        match self {
            ScenarioState::Proposed => "state-proposed",
            ScenarioState::Announced => "state-announced",
            ScenarioState::Injected => "state-injected",
            ScenarioState::RolledBack => "state-rolled-back",
            ScenarioState::Halted => "state-halted",
            ScenarioState::Concluded => "state-concluded",
        }
    }
}
