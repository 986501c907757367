//! Game-day handlers: plan one, show it, change its plan and participants, and move it through
//! its lifecycle. The pages they render are in `pages.rs`; every change goes through
//! `actions.rs`; a refusal comes back to the page through the one refusal path.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::pages::{CopyOf, copy_form_page, form_page, gameday_page};
use super::{GamedayForm, GamedayRole, Step, actions, check_can_create};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::ids::UserId;
use crate::state::AppState;
use crate::web::context::{GamedayCtx, Path, TeamCtx};
use crate::web::refusal::{refused, status_of};
use crate::web::{FlashKind, Layout, flash, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/gamedays", post(create))
        .route("/teams/{slug}/gamedays/new", get(new_page))
        .route("/teams/{slug}/gamedays/{id}", get(show))
        .route("/teams/{slug}/gamedays/{id}/edit", get(edit_page).post(update))
        .route("/teams/{slug}/gamedays/{id}/copy", get(copy_page).post(copy))
        .route("/teams/{slug}/gamedays/{id}/schedule", post(schedule))
        .route("/teams/{slug}/gamedays/{id}/start", post(start))
        .route("/teams/{slug}/gamedays/{id}/complete", post(complete))
        .route("/teams/{slug}/gamedays/{id}/cancel", post(cancel))
        .route("/teams/{slug}/gamedays/{id}/halt-all", post(halt_all))
        .route("/teams/{slug}/gamedays/{id}/participants", post(add_participant))
        .route("/teams/{slug}/gamedays/{id}/participants/{user_id}/role", post(change_role))
        .route("/teams/{slug}/gamedays/{id}/participants/{user_id}/remove", post(remove_participant))
}

async fn new_page(layout: Layout, TeamCtx { membership, .. }: TeamCtx) -> AppResult<Response> {
    check_can_create(membership.role)?;
    let form = GamedayForm { environment: "staging".into(), ..Default::default() };
    form_page(layout, membership, None, form, (StatusCode::OK, FieldErrors::new()))
}

async fn create(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Form(form): Form<GamedayForm>,
) -> AppResult<Response> {
    check_can_create(membership.role)?;
    let mut errors = FieldErrors::new();
    let Some(input) = form.parse(&user.time_zone, &mut errors) else {
        return form_page(layout, membership, None, form, (status_of(&errors), errors));
    };
    let id = actions::create(&state.db, membership.team.id, &user, &input).await?;
    flash(&session, FlashKind::Success, "Game day created as a draft. Add participants and scenarios next.").await?;
    Ok(see_other(&format!("/teams/{}/gamedays/{id}", membership.team.slug)))
}

async fn edit_page(layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    actions::require_facilitator(ctx.role)?;
    super::edit_plan(ctx.gameday.status)?;
    let form = GamedayForm::from_gameday(&ctx.gameday, &ctx.user.time_zone);
    form_page(layout, ctx.membership, Some(ctx.gameday), form, (StatusCode::OK, FieldErrors::new()))
}

async fn update(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<GamedayForm>,
) -> AppResult<Response> {
    actions::require_facilitator(ctx.role)?;
    let mut errors = FieldErrors::new();
    let Some(input) = form.parse(&ctx.user.time_zone, &mut errors) else {
        return form_page(layout, ctx.membership, Some(ctx.gameday), form, (status_of(&errors), errors));
    };
    if let Err(err) = actions::update(&state.db, ctx.gameday.id, &ctx.user, &input).await {
        let status = refused(err, &mut errors)?;
        return form_page(layout, ctx.membership, Some(ctx.gameday), form, (status, errors));
    }
    flash(&session, FlashKind::Success, "Game day saved.").await?;
    Ok(see_other(&ctx.url()))
}

/// What a copy of the game day would bring along, for the copy form.
async fn copy_of(state: &AppState, ctx: &GamedayCtx) -> AppResult<CopyOf> {
    let scenarios = crate::scenarios::store::scenarios_of(&state.db, ctx.gameday.id).await?.len();
    let participants = super::store::participants(&state.db, ctx.gameday.id).await?.len();
    Ok(CopyOf { gameday: ctx.gameday.clone(), scenarios, participants })
}

/// "Copy as the next game day": the new-game-day form filled from this one, without its dates.
async fn copy_page(State(state): State<AppState>, layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    check_can_create(ctx.membership.role)?;
    let form = GamedayForm {
        starts_at: String::new(),
        ends_at: String::new(),
        ..GamedayForm::from_gameday(&ctx.gameday, &ctx.user.time_zone)
    };
    let copy = copy_of(&state, &ctx).await?;
    copy_form_page(layout, ctx.membership, copy, form, (StatusCode::OK, FieldErrors::new()))
}

async fn copy(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<GamedayForm>,
) -> AppResult<Response> {
    check_can_create(ctx.membership.role)?;
    let mut errors = FieldErrors::new();
    let Some(input) = form.parse(&ctx.user.time_zone, &mut errors) else {
        let copy = copy_of(&state, &ctx).await?;
        return copy_form_page(layout, ctx.membership, copy, form, (status_of(&errors), errors));
    };
    let copied = match actions::copy(&state.db, &ctx.gameday, &ctx.user, ctx.membership.role, &input).await {
        Ok(copied) => copied,
        Err(err) => {
            let status = refused(err, &mut errors)?;
            let copy = copy_of(&state, &ctx).await?;
            return copy_form_page(layout, ctx.membership, copy, form, (status, errors));
        }
    };
    let plural = |n: usize, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
    let next = if input.starts_at.is_some() {
        "Schedule it when the plan is ready."
    } else {
        "Set its date, then schedule it."
    };
    let message = format!(
        "Planned as a draft from “{}”, with {} at revision 1, to sign again, and {}. {next}",
        ctx.gameday.title,
        plural(copied.scenarios, "scenario", "scenarios"),
        plural(copied.participants, "participant", "participants"),
    );
    flash(&session, FlashKind::Success, message).await?;
    Ok(see_other(&format!("/teams/{}/gamedays/{}", ctx.membership.team.slug, copied.id)))
}

async fn show(State(state): State<AppState>, layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    gameday_page(&state, layout, ctx, (StatusCode::OK, FieldErrors::new())).await
}

/// After a change: on success flash `done` and go back to the game day; on a refusal re-render
/// the game-day page as it now stands with the reason (409 or 422).
async fn act(
    state: &AppState,
    (layout, session): (Layout, &Session),
    ctx: GamedayCtx,
    result: AppResult<()>,
    done: &str,
) -> AppResult<Response> {
    let err = match result {
        Ok(()) => {
            flash(session, FlashKind::Success, done).await?;
            return Ok(see_other(&ctx.url()));
        }
        Err(err) => err,
    };
    let mut errors = FieldErrors::new();
    let status = refused(err, &mut errors)?;
    let ctx = ctx.reload(state).await?;
    gameday_page(state, layout, ctx, (status, errors)).await
}

async fn lifecycle(
    state: AppState,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    step: Step,
    reason: &str,
) -> AppResult<Response> {
    let result = match super::early_end_reason(reason) {
        Ok(reason) => actions::step(&state.db, ctx.gameday.id, &ctx.user, step, &reason).await,
        Err(message) => Err(AppError::invalid("reason", message)),
    };
    let done = match step {
        Step::Schedule => "Game day scheduled. Participants can add it to their calendars.",
        Step::Start => "Game day started. Announce each fault before injecting it.",
        Step::Complete => "Game day ended.",
    };
    act(&state, (layout, &session), ctx, result, done).await
}

async fn schedule(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
) -> AppResult<Response> {
    lifecycle(state, layout, session, ctx, Step::Schedule, "").await
}

async fn start(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
) -> AppResult<Response> {
    lifecycle(state, layout, session, ctx, Step::Start, "").await
}

async fn complete(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    lifecycle(state, layout, session, ctx, Step::Complete, &form.reason).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReasonForm {
    reason: String,
}

async fn cancel(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    let result = match super::cancel_reason(&form.reason) {
        Ok(reason) => actions::cancel(&state.db, ctx.gameday.id, &ctx.user, &reason).await,
        Err(message) => Err(AppError::invalid("reason", message)),
    };
    act(&state, (layout, &session), ctx, result, "Game day cancelled.").await
}

/// "Halt everything": a facilitator halts every fault in flight at once, with one reason.
async fn halt_all(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    let result = crate::scenarios::actions::halt_all(&state.db, ctx.gameday.id, &ctx.user, &form.reason).await;
    let done = match &result {
        Ok(1) => "Halted the fault in flight. Everyone sees who halted it and why.".to_owned(),
        Ok(n) => format!("Halted all {n} faults in flight. Everyone sees who halted them and why."),
        Err(_) => String::new(),
    };
    act(&state, (layout, &session), ctx, result.map(|_| ()), &done).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ParticipantForm {
    user_id: String,
    role: String,
}

async fn add_participant(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<ParticipantForm>,
) -> AppResult<Response> {
    actions::require_facilitator(ctx.role)?;
    let role = GamedayRole::parse(&form.role).map_err(AppError::of_field("role"))?;
    let result = match Uuid::parse_str(&form.user_id) {
        Ok(target) => actions::add_participant(&state.db, ctx.gameday.id, &ctx.user, target, role).await,
        Err(_) => Err(AppError::invalid("user_id", "Choose a team member to add.")),
    };
    let done = if role.is_required_signer() {
        "Participant added. They sign every scenario too."
    } else {
        "Observer added. They follow the day and may log observations and halt a fault; they do not sign."
    };
    act(&state, (layout, &session), ctx, result, done).await
}

/// The participant a change is about (`…/participants/{user_id}/…`).
#[derive(Deserialize)]
struct TargetPath {
    user_id: UserId,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Path(TargetPath { user_id }): Path<TargetPath>,
    Form(form): Form<RoleForm>,
) -> AppResult<Response> {
    actions::require_facilitator(ctx.role)?;
    let role = GamedayRole::parse(&form.role).map_err(AppError::of_field("role"))?;
    let result = actions::change_participant_role(&state.db, ctx.gameday.id, &ctx.user, user_id.0, role).await;
    act(&state, (layout, &session), ctx, result, "Role changed.").await
}

async fn remove_participant(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Path(TargetPath { user_id }): Path<TargetPath>,
) -> AppResult<Response> {
    actions::require_facilitator(ctx.role)?;
    let result = actions::remove_participant(&state.db, ctx.gameday.id, &ctx.user, user_id.0).await;
    act(&state, (layout, &session), ctx, result, "Participant removed.").await
}
