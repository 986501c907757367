//! Scenario handlers: write and revise, read and sign off, and the fault's moves (announce,
//! inject, halt, roll back, conclude). The pages they render are in `pages.rs`; every change
//! goes through `actions.rs`; a refusal comes back to the page through the one refusal path.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, Revised};
use super::gate::{self, Move, Outcome};
use super::pages::{VariantOf, form_page, scenario_page, variant_form_page};
use super::{Decision, ScenarioForm, Variant};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::gamedays::{actions::require_facilitator, multiline, store as gameday_store};
use crate::healthchecks::actions::run_before;
use crate::state::AppState;
use crate::web::auth::FromPage;
use crate::web::context::{GamedayCtx, ScenarioCtx, load_gameday};
use crate::web::refusal::{refused, status_of};
use crate::web::{FlashKind, Layout, flash, see_other};

pub fn router() -> Router<AppState> {
    let base = "/teams/{slug}/gamedays/{id}/scenarios";
    Router::new()
        .route(base, post(create))
        .route(&format!("{base}/new"), get(new_page))
        .route(&format!("{base}/{{sid}}"), get(show))
        .route(&format!("{base}/{{sid}}/edit"), get(edit_page).post(update))
        .route(&format!("{base}/{{sid}}/copy"), post(copy))
        .route(&format!("{base}/{{sid}}/signoff"), post(signoff))
        .route(&format!("{base}/{{sid}}/announce"), post(announce))
        .route(&format!("{base}/{{sid}}/inject"), post(inject))
        .route(&format!("{base}/{{sid}}/halt"), post(halt))
        .route(&format!("{base}/{{sid}}/rollback"), post(roll_back))
        .route(&format!("{base}/{{sid}}/conclude"), post(conclude))
}

/// `?copy=<scenario>&variant=smaller|larger`: draft the new scenario as a variant of one of the
/// game day's scenarios.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewQuery {
    copy: Option<String>,
    variant: Option<String>,
}

async fn new_page(
    State(state): State<AppState>,
    layout: Layout,
    ctx: GamedayCtx,
    Query(query): Query<NewQuery>,
) -> AppResult<Response> {
    require_facilitator(ctx.role)?;
    crate::gamedays::edit_plan(ctx.gameday.status)?;
    let (Some(copy), Some(variant)) = (query.copy, query.variant) else {
        let form =
            ScenarioForm { blast_radius: "tiny".into(), abort_owner: ctx.user.id.to_string(), ..Default::default() };
        return form_page(&state, layout, ctx, None, form, (StatusCode::OK, FieldErrors::new())).await;
    };
    // A malformed or unknown scenario, or another game day's, is not found, as in a path.
    let source = Uuid::parse_str(&copy).map_err(|_| AppError::NotFound)?;
    let variant = Variant::parse(&variant).ok_or(AppError::NotFound)?;
    let source = super::store::scenario(&state.db, ctx.gameday.id, source).await?.ok_or(AppError::NotFound)?;
    let stepped = source.fields.variant(variant);
    let Some((fields, from, to)) =
        stepped.and_then(|f| Some((f.clone(), source.fields.blast_radius?, f.blast_radius?)))
    else {
        let radius = super::radius_label(source.fields.blast_radius);
        return Err(AppError::Conflict(format!(
            "“{}” is {radius}: there is no {} blast radius.",
            source.fields.title,
            variant.as_str()
        )));
    };
    let variant_of = VariantOf { title: source.fields.title.clone(), revision: source.revision, variant, from, to };
    variant_form_page(&state, layout, ctx, variant_of, ScenarioForm::from_fields(&fields)).await
}

/// The people who sign a game day's scenarios (facilitators and participants).
async fn signer_ids(state: &AppState, gameday_id: Uuid) -> AppResult<Vec<Uuid>> {
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
    require_facilitator(ctx.role)?;
    let mut errors = FieldErrors::new();
    let Some(fields) = form.parse(&signer_ids(&state, ctx.gameday.id).await?, &mut errors) else {
        return form_page(&state, layout, ctx, None, form, (status_of(&errors), errors)).await;
    };
    let sid = match actions::create(&state.db, ctx.gameday.id, &ctx.user, &fields).await {
        Ok(sid) => sid,
        Err(err) => {
            let status = refused(err, &mut errors)?;
            return form_page(&state, layout, ctx, None, form, (status, errors)).await;
        }
    };
    flash(&session, FlashKind::Success, "Scenario added. Every facilitator and participant now signs it off.").await?;
    Ok(see_other(&format!("{}/scenarios/{sid}", ctx.url())))
}

async fn edit_page(
    State(state): State<AppState>,
    layout: Layout,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
) -> AppResult<Response> {
    require_facilitator(ctx.role)?;
    gate::edit(scenario.state)?;
    let form = ScenarioForm::from_fields(&scenario.fields);
    form_page(&state, layout, ctx, Some(scenario), form, (StatusCode::OK, FieldErrors::new())).await
}

async fn update(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Form(form): Form<ScenarioForm>,
) -> AppResult<Response> {
    require_facilitator(ctx.role)?;
    let mut errors = FieldErrors::new();
    let Some(fields) = form.parse(&signer_ids(&state, ctx.gameday.id).await?, &mut errors) else {
        return form_page(&state, layout, ctx, Some(scenario), form, (status_of(&errors), errors)).await;
    };
    let url = format!("{}/scenarios/{}", ctx.url(), scenario.id);
    let revised = match actions::revise(&state.db, ctx.gameday.id, scenario.id, &ctx.user, &fields).await {
        Ok(revised) => revised,
        Err(err) => {
            let status = refused(err, &mut errors)?;
            return form_page(&state, layout, ctx, Some(scenario), form, (status, errors)).await;
        }
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
#[serde(default)]
pub struct CopyForm {
    gameday: String,
}

/// "Copy into another game day": the copy starts at revision 1, unsigned, in a game day of the
/// team that the person facilitates (this one too). Another team's game day is not found.
async fn copy(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Form(form): Form<CopyForm>,
) -> AppResult<Response> {
    let result = match Uuid::parse_str(form.gameday.trim()) {
        Ok(id) => {
            let target = load_gameday(&state, ctx.user.clone(), &ctx.membership.team.slug, id.into()).await?;
            let copied = actions::copy_into(&state.db, (&ctx.gameday, scenario.id), target.gameday.id, &ctx.user).await;
            copied.map(|copied| (target, copied))
        }
        Err(_) => Err(AppError::invalid("gameday", "Choose the game day to copy the scenario into.")),
    };
    let (target, copied) = match result {
        Ok(done) => done,
        Err(err) => {
            let mut errors = FieldErrors::new();
            let status = refused(err, &mut errors)?;
            return scenario_page(&state, layout, ctx, scenario, (None, None), (status, errors)).await;
        }
    };
    let mut message = format!(
        "Copied into “{}” as a new scenario at revision 1: everyone there signs it before it runs.",
        target.gameday.title
    );
    if copied.abort_owner_changed {
        message.push_str(" You are its abort owner there; change that in the scenario if someone else should be.");
    }
    flash(&session, FlashKind::Success, message).await?;
    Ok(see_other(&format!("{}/scenarios/{}", target.url(), copied.id)))
}

#[derive(Debug, Default, Deserialize)]
pub struct CompareQuery {
    from: Option<i32>,
    to: Option<i32>,
}

async fn show(
    State(state): State<AppState>,
    layout: Layout,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    Query(query): Query<CompareQuery>,
) -> AppResult<Response> {
    let compare = (query.from, query.to);
    scenario_page(&state, layout, ctx, scenario, compare, (StatusCode::OK, FieldErrors::new())).await
}

/// After a scenario change: on success flash `done` and return to the scenario; on a refusal or
/// bad input, re-render the scenario page as it now stands with the reason (409 or 422).
async fn act(
    state: &AppState,
    (layout, session): (Layout, &Session),
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
    result: AppResult<()>,
    (done, FromPage(from)): (&str, FromPage),
) -> AppResult<Response> {
    let err = match result {
        Ok(()) => {
            flash(session, FlashKind::Success, done).await?;
            // A move made from the control room (the timeline page) returns there.
            let timeline = format!("{}/timeline", ctx.url());
            let back = from.filter(|page| page == &timeline || page.starts_with(&format!("{timeline}?")));
            return Ok(see_other(&back.unwrap_or_else(|| format!("{}/scenarios/{}", ctx.url(), scenario.id))));
        }
        Err(err) => err,
    };
    let mut errors = FieldErrors::new();
    let status = refused(err, &mut errors)?;
    let fresh = super::store::scenario(&state.db, ctx.gameday.id, scenario.id).await?.ok_or(AppError::NotFound)?;
    scenario_page(state, layout, ctx, fresh, (None, None), (status, errors)).await
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
    sc: ScenarioCtx,
    Form(form): Form<SignoffForm>,
) -> AppResult<Response> {
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "object" => Decision::Object,
        _ => return Err(AppError::invalid("decision", "Choose approve or object.")),
    };
    let result = match multiline(&form.reason, "The reason", 0, 2000) {
        Ok(reason) => {
            let reason = (!reason.is_empty()).then_some(reason.as_str());
            let (gameday, scenario) = (sc.day.gameday.id, sc.scenario.id);
            actions::sign(&state.db, gameday, scenario, &sc.day.user, form.revision, decision, reason).await
        }
        Err(message) => Err(AppError::invalid("reason", message)),
    };
    let done = match decision {
        Decision::Approve => format!("You approved revision {}.", form.revision),
        Decision::Object => format!("You objected to revision {}. The facilitator sees your reason.", form.revision),
    };
    act(&state, (layout, &session), sc, result, (&done, FromPage(None))).await
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

/// Announce, inject or roll back: the moves whose form has no required field.
async fn make_move(
    state: AppState,
    (layout, session): (Layout, Session),
    sc: ScenarioCtx,
    (mv, from): (Move, FromPage),
    form: MoveForm,
) -> AppResult<Response> {
    let (db, gameday, scenario, user) = (&state.db, sc.day.gameday.id, sc.scenario.id, &sc.day.user);
    // The scenario's health checks run first, outside the move's transaction; the move needs
    // their fresh passes.
    run_before(db, &state.config.health_check_allow, (gameday, scenario), user, mv).await?;
    let (result, done) = match mv {
        Move::Announce => (
            actions::announce(db, (gameday, scenario, None), user, form.acknowledge == "yes").await,
            "Announced. Everyone on the game day can see what will be broken; inject when ready.",
        ),
        Move::Inject => {
            let result = match super::weakness_reason(&form.weakness_reason) {
                Ok(reason) => actions::inject(db, (gameday, scenario, None), user, reason.as_deref()).await,
                Err(message) => Err(AppError::invalid("weakness_reason", message)),
            };
            (result, "Injected.")
        }
        Move::RollBack => (actions::roll_back(db, gameday, scenario, user).await, "Rolled back."),
        Move::Conclude => unreachable!("concluding has its own form"),
    };
    act(&state, (layout, &session), sc, result, (done, from)).await
}

async fn announce(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    sc: ScenarioCtx,
    from: FromPage,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    make_move(state, (layout, session), sc, (Move::Announce, from), form).await
}

async fn inject(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    sc: ScenarioCtx,
    from: FromPage,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    make_move(state, (layout, session), sc, (Move::Inject, from), form).await
}

async fn roll_back(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    sc: ScenarioCtx,
    from: FromPage,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    make_move(state, (layout, session), sc, (Move::RollBack, from), form).await
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
    sc: ScenarioCtx,
    from: FromPage,
    Form(form): Form<HaltForm>,
) -> AppResult<Response> {
    let result = match super::halt_reason(&form.reason) {
        Ok(reason) => actions::halt(&state.db, sc.day.gameday.id, sc.scenario.id, &sc.day.user, &reason).await,
        Err(message) => Err(AppError::invalid("reason", message)),
    };
    act(&state, (layout, &session), sc, result, ("Halted. Everyone sees who halted it and why.", from)).await
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
    sc: ScenarioCtx,
    from: FromPage,
    Form(form): Form<ConcludeForm>,
) -> AppResult<Response> {
    let outcome = Outcome::parse(&form.outcome).map_err(AppError::of_field("outcome"));
    let note = super::conclusion_note(&form.note).map_err(AppError::of_field("note"));
    let result = match (outcome, note) {
        (Ok(outcome), Ok(note)) => {
            actions::conclude(&state.db, sc.day.gameday.id, sc.scenario.id, &sc.day.user, outcome, &note).await
        }
        (Err(err), _) | (_, Err(err)) => Err(err),
    };
    act(&state, (layout, &session), sc, result, ("Concluded.", from)).await
}
