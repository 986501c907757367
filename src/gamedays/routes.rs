//! Game-day pages: create, show (with participants, scenarios and the timeline), edit, lifecycle.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, Step};
use super::store::{self, Participant};
use super::{Gameday, GamedayForm, GamedayRole, GamedayStatus};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::ids::UserId;
use crate::scenarios::Signoffs;
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::state::AppState;
use crate::teams::{Membership, TeamRole};
use crate::timeline::store as timeline;
use crate::timeline::timings::{self, Picture, Timings};
use crate::timeline::views::EventView;
use crate::web::context::{GamedayCtx, Path, TeamCtx};
use crate::web::{FlashKind, Layout, flash, render, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/gamedays", post(create))
        .route("/teams/{slug}/gamedays/new", get(new_page))
        .route("/teams/{slug}/gamedays/{id}", get(show))
        .route("/teams/{slug}/gamedays/{id}/edit", get(edit_page).post(update))
        .route("/teams/{slug}/gamedays/{id}/schedule", post(schedule))
        .route("/teams/{slug}/gamedays/{id}/start", post(start))
        .route("/teams/{slug}/gamedays/{id}/complete", post(complete))
        .route("/teams/{slug}/gamedays/{id}/cancel", post(cancel))
        .route("/teams/{slug}/gamedays/{id}/participants", post(add_participant))
        .route("/teams/{slug}/gamedays/{id}/participants/{user_id}/role", post(change_role))
        .route("/teams/{slug}/gamedays/{id}/participants/{user_id}/remove", post(remove_participant))
}

#[derive(Template)]
#[template(path = "gamedays/form.html")]
struct FormPage {
    layout: Layout,
    membership: Membership,
    /// None when creating.
    gameday: Option<Gameday>,
    form: GamedayForm,
    errors: FieldErrors,
}

impl FormPage {
    fn action(&self) -> String {
        match &self.gameday {
            Some(g) => format!("/teams/{}/gamedays/{}/edit", self.membership.team.slug, g.id),
            None => format!("/teams/{}/gamedays", self.membership.team.slug),
        }
    }
}

fn can_create(membership: &Membership) -> AppResult<()> {
    if membership.role == TeamRole::Viewer {
        return Err(AppError::Forbidden("Viewers read game days; a lead or member creates them.".into()));
    }
    Ok(())
}

async fn new_page(
    State(_state): State<AppState>,
    layout: Layout,
    TeamCtx { user: _, membership }: TeamCtx,
) -> AppResult<Response> {
    can_create(&membership)?;
    let form = GamedayForm { environment: "staging".into(), ..Default::default() };
    render(&FormPage { layout, membership, gameday: None, form, errors: FieldErrors::new() })
}

async fn create(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Form(form): Form<GamedayForm>,
) -> AppResult<Response> {
    can_create(&membership)?;
    let mut errors = FieldErrors::new();
    let Some(input) = form.parse(&user.time_zone, &mut errors) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &FormPage { layout, membership, gameday: None, form, errors },
        );
    };
    let id = actions::create(&state.db, membership.team.id, &user, &input).await?;
    flash(&session, FlashKind::Success, "Game day created as a draft. Add participants and scenarios next.").await?;
    Ok(see_other(&format!("/teams/{}/gamedays/{id}", membership.team.slug)))
}

async fn edit_page(State(_state): State<AppState>, layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    let user = ctx.user.clone();
    actions::require_facilitator(ctx.role)?;
    super::edit_plan(ctx.gameday.status)?;
    let form = GamedayForm::from_gameday(&ctx.gameday, &user.time_zone);
    render(&FormPage {
        layout,
        membership: ctx.membership,
        gameday: Some(ctx.gameday),
        form,
        errors: FieldErrors::new(),
    })
}

async fn update(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<GamedayForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    actions::require_facilitator(ctx.role)?;
    let mut errors = FieldErrors::new();
    let Some(input) = form.parse(&user.time_zone, &mut errors) else {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &FormPage { layout, membership: ctx.membership, gameday: Some(ctx.gameday), form, errors },
        );
    };
    let url = ctx.url();
    match actions::update(&state.db, ctx.gameday.id, &user, &input).await {
        Ok(()) => {}
        Err(AppError::Conflict(message)) => {
            errors.add(if message.contains("start time") { "starts_at" } else { "form" }, message);
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &FormPage { layout, membership: ctx.membership, gameday: Some(ctx.gameday), form, errors },
            );
        }
        Err(err) => return Err(err),
    }
    flash(&session, FlashKind::Success, "Game day saved.").await?;
    Ok(see_other(&url))
}

/// A scenario in the game-day list with where its sign-off stands.
pub struct ScenarioLine {
    pub scenario: Scenario,
    pub signoffs: Signoffs,
    pub timings: Timings,
}

#[derive(Template)]
#[template(path = "gamedays/show.html")]
struct ShowPage {
    layout: Layout,
    ctx: GamedayCtx,
    participants: Vec<Participant>,
    candidates: Vec<(Uuid, String)>,
    scenarios: Vec<ScenarioLine>,
    in_flight: Vec<Scenario>,
    events: Vec<EventView>,
    last_seq: i64,
    picture: Option<Picture>,
    alert: Option<String>,
    roles: [GamedayRole; 3],
    me: Uuid,
}

impl ShowPage {
    fn is_facilitator(&self) -> bool {
        self.ctx.role == Some(GamedayRole::Facilitator)
    }

    fn plan_open(&self) -> bool {
        self.ctx.gameday.status.plan_is_open()
    }

    fn facilitator_count(&self) -> usize {
        self.participants.iter().filter(|p| p.role == GamedayRole::Facilitator).count()
    }
}

/// Renders the game-day page, with `alert` (a refusal) shown at the top when given.
pub async fn gameday_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    status: StatusCode,
    alert: Option<String>,
) -> AppResult<Response> {
    let me = ctx.user.id;
    let id = ctx.gameday.id;
    let participants = store::participants(&state.db, id).await?;
    let candidates = if ctx.role == Some(GamedayRole::Facilitator) && ctx.gameday.status.plan_is_open() {
        store::candidates(&state.db, ctx.membership.team.id, id).await?
    } else {
        Vec::new()
    };
    let scenarios = scenario_store::scenarios_of(&state.db, id).await?;
    let events = timeline::events(&state.db, id).await?;
    let labels: Vec<(Uuid, String)> = scenarios.iter().map(|s| (s.id, s.fields.title.clone())).collect();
    let zone = layout.zone().to_owned();
    let picture = timings::picture(&events, &labels, |t| crate::tz::format_clock(t, &zone));
    let in_flight = scenarios.iter().filter(|s| s.state.in_flight()).cloned().collect();
    let mut signoffs: HashMap<Uuid, Signoffs> = scenario_store::signoffs_of_gameday(&state.db, id).await?;
    let scenarios = scenarios
        .into_iter()
        .map(|scenario| {
            let signoffs = signoffs.remove(&scenario.id).unwrap_or_else(|| Signoffs::unsigned(scenario.revision));
            let timings = timings::timings(&events, scenario.id);
            ScenarioLine { scenario, signoffs, timings }
        })
        .collect();
    let last_seq = events.last().map(|e| e.seq).unwrap_or(0);
    let events = crate::timeline::views::views(&events, &ctx.url(), layout.zone());
    let page = ShowPage {
        layout,
        ctx,
        participants,
        candidates,
        scenarios,
        in_flight,
        events,
        last_seq,
        picture,
        alert,
        roles: GamedayRole::ALL,
        me,
    };
    render_status(status, &page)
}

async fn show(State(state): State<AppState>, layout: Layout, ctx: GamedayCtx) -> AppResult<Response> {
    gameday_page(&state, layout, ctx, StatusCode::OK, None).await
}

/// Runs an action; on success flashes `done` and goes back to the game day, on a refusal
/// re-renders the game-day page with the reason (409).
async fn act(
    state: &AppState,
    layout: Layout,
    session: &Session,
    ctx: GamedayCtx,
    result: AppResult<()>,
    done: &str,
) -> AppResult<Response> {
    let (status, message) = match result {
        Ok(()) => {
            flash(session, FlashKind::Success, done).await?;
            return Ok(see_other(&ctx.url()));
        }
        Err(AppError::Conflict(message)) => (StatusCode::CONFLICT, message),
        Err(AppError::Validation(message)) => (StatusCode::UNPROCESSABLE_ENTITY, message),
        Err(err) => return Err(err),
    };
    let ctx = ctx.reload(state).await?;
    gameday_page(state, layout, ctx, status, Some(message)).await
}

async fn lifecycle(
    state: AppState,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    step: Step,
) -> AppResult<Response> {
    let result = actions::step(&state.db, ctx.gameday.id, &ctx.user, step).await;
    let done = match step {
        Step::Schedule => "Game day scheduled. Participants can add it to their calendars.",
        Step::Start => "Game day started. Announce each fault before injecting it.",
        Step::Complete => "Game day ended.",
    };
    act(&state, layout, &session, ctx, result, done).await
}

async fn schedule(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
) -> AppResult<Response> {
    lifecycle(state, layout, session, ctx, Step::Schedule).await
}

async fn start(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
) -> AppResult<Response> {
    lifecycle(state, layout, session, ctx, Step::Start).await
}

async fn complete(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
) -> AppResult<Response> {
    lifecycle(state, layout, session, ctx, Step::Complete).await
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
    let user = ctx.user.clone();
    let reason = crate::form::bounded_text(&form.reason, "The reason for cancelling", 1, 500);
    let result = match reason {
        Ok(reason) => actions::cancel(&state.db, ctx.gameday.id, &user, &reason).await,
        Err(message) => Err(AppError::Validation(message)),
    };
    act(&state, layout, &session, ctx, result, "Game day cancelled.").await
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
    let user = ctx.user.clone();
    actions::require_facilitator(ctx.role)?;
    let role = GamedayRole::parse(&form.role).map_err(AppError::Validation)?;
    let result = match Uuid::parse_str(&form.user_id) {
        Ok(target) => actions::add_participant(&state.db, ctx.gameday.id, &user, target, role).await,
        Err(_) => Err(AppError::Validation("Choose a team member to add.".into())),
    };
    act(&state, layout, &session, ctx, result, "Participant added. They sign every scenario too.").await
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
    Path(TargetPath { user_id: target }): Path<TargetPath>,
    Form(form): Form<RoleForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    actions::require_facilitator(ctx.role)?;
    let target = target.0;
    let role = GamedayRole::parse(&form.role).map_err(AppError::Validation)?;
    let result = actions::change_participant_role(&state.db, ctx.gameday.id, &user, target, role).await;
    act(&state, layout, &session, ctx, result, "Role changed.").await
}

async fn remove_participant(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Path(TargetPath { user_id: target }): Path<TargetPath>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    actions::require_facilitator(ctx.role)?;
    let target = target.0;
    let result = actions::remove_participant(&state.db, ctx.gameday.id, &user, target).await;
    act(&state, layout, &session, ctx, result, "Participant removed.").await
}

impl GamedayStatus {
    pub fn css(&self) -> &'static str {
        match self {
            GamedayStatus::Draft => "status-draft",
            GamedayStatus::Scheduled => "status-scheduled",
            GamedayStatus::Running => "status-running",
            GamedayStatus::Completed => "status-completed",
            GamedayStatus::Cancelled => "status-cancelled",
        }
    }
}
