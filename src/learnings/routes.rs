//! Adding learnings and actions from a retrospective; the team's learnings library and actions.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::store::{self, ActionItem, Learning};
use super::{ActionForm, ActionStatus, LearningForm};
use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::gamedays::GamedayRole;
use crate::gamedays::routes::load;
use crate::retros::routes::Drafts;
use crate::scenarios::store as scenario_store;
use crate::teams::Membership;
use crate::teams::routes::membership_or_404;
use crate::web::{FlashKind, Layout, flash, render, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/gamedays/{id}/learnings", post(add_learning))
        .route("/teams/{slug}/gamedays/{id}/actions", post(add_action))
        .route("/teams/{slug}/learnings", get(library))
        .route("/teams/{slug}/actions", get(actions_page))
        .route("/teams/{slug}/actions/{action}/status", post(set_status))
        .route("/teams/{slug}/overview", get(super::overview::overview))
}

/// A published retrospective is read-only: what comes later goes into dated addenda.
async fn refuse_if_published(state: &AppState, gameday_id: Uuid) -> AppResult<()> {
    let retro = crate::retros::store::get_or_create(&state.db, gameday_id).await?;
    if retro.status == crate::retros::RetroStatus::Published {
        return Err(AppError::Conflict(
            "The retrospective is published and read-only: add a dated addendum instead.".into(),
        ));
    }
    Ok(())
}

async fn add_learning(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<LearningForm>,
) -> AppResult<Response> {
    let ctx = load(&state, &slug, &id, &user).await?;
    crate::retros::open(ctx.gameday.status)?;
    if ctx.role.is_none() {
        return Err(AppError::Forbidden("People on the game day record its learnings.".into()));
    }
    refuse_if_published(&state, ctx.gameday.id).await?;
    let mut errors = FieldErrors::new();
    let learning = form.parse(&mut errors).filter(|_| errors.is_empty());
    let Some(learning) = learning else {
        let status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        let drafts = Drafts::learning(form);
        return crate::retros::routes::retro_page(&state, layout, ctx, user.id, drafts, errors, status, None).await;
    };
    if let Some(scenario) = learning.scenario {
        scenario_store::scenario(&state.db, ctx.gameday.id, scenario)
            .await?
            .ok_or_else(|| AppError::Validation("That scenario is not part of this game day.".into()))?;
    }
    store::create_learning(&state.db, ctx.membership.team.id, ctx.gameday.id, user.id, &learning).await?;
    flash(&session, FlashKind::Success, "Learning recorded. The team finds it in its learnings library.").await?;
    Ok(see_other(&format!("{}/retrospective#learnings", ctx.url())))
}

async fn add_action(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> AppResult<Response> {
    let ctx = load(&state, &slug, &id, &user).await?;
    crate::retros::open(ctx.gameday.status)?;
    if ctx.role != Some(GamedayRole::Facilitator) {
        return Err(AppError::Forbidden("Facilitators assign the actions that follow a game day.".into()));
    }
    refuse_if_published(&state, ctx.gameday.id).await?;
    let members: Vec<Uuid> =
        store::team_members(&state.db, ctx.membership.team.id).await?.into_iter().map(|(id, _)| id).collect();
    let open_gamedays: Vec<Uuid> = crate::gamedays::store::open_gamedays(&state.db, ctx.membership.team.id)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut errors = FieldErrors::new();
    let action = form.parse(&members, &open_gamedays, &mut errors).filter(|_| errors.is_empty());
    let Some(action) = action else {
        let status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        let drafts = Drafts::action(form);
        return crate::retros::routes::retro_page(&state, layout, ctx, user.id, drafts, errors, status, None).await;
    };
    store::create_action(&state.db, ctx.membership.team.id, ctx.gameday.id, user.id, &action).await?;
    flash(&session, FlashKind::Success, "Action added; its owner sees it on their dashboard.").await?;
    Ok(see_other(&format!("{}/retrospective#actions", ctx.url())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LibraryQuery {
    q: String,
    tag: String,
}

#[derive(Template)]
#[template(path = "learnings/library.html")]
struct LibraryPage {
    layout: Layout,
    membership: Membership,
    learnings: Vec<Learning>,
    tags: Vec<String>,
    q: String,
    tag: String,
}

async fn library(
    State(state): State<AppState>,
    layout: Layout,
    CurrentUser(user): CurrentUser,
    Path(slug): Path<String>,
    Query(query): Query<LibraryQuery>,
) -> AppResult<Response> {
    let membership = membership_or_404(&state, &slug, &user).await?;
    let q: String = query.q.trim().chars().take(200).filter(|c| !c.is_control()).collect();
    let tag = query.tag.trim().to_lowercase();
    let learnings = store::search(&state.db, membership.team.id, &q, &tag).await?;
    let tags = store::tags(&state.db, membership.team.id).await?;
    render(&LibraryPage { layout, membership, learnings, tags, q, tag })
}

#[derive(Template)]
#[template(path = "learnings/actions.html")]
struct ActionsPage {
    layout: Layout,
    membership: Membership,
    actions: Vec<ActionItem>,
    me: Uuid,
    statuses: [ActionStatus; 3],
}

async fn actions_page(
    State(state): State<AppState>,
    layout: Layout,
    CurrentUser(user): CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let membership = membership_or_404(&state, &slug, &user).await?;
    let actions = store::open_actions(&state.db, membership.team.id).await?;
    render(&ActionsPage { layout, membership, actions, me: user.id, statuses: ActionStatus::ALL })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    status: String,
}

async fn set_status(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, action)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    let membership = membership_or_404(&state, &slug, &user).await?;
    let action = Uuid::parse_str(&action).map_err(|_| AppError::NotFound)?;
    let owner = store::action_owner(&state.db, membership.team.id, action).await?.ok_or(AppError::NotFound)?;
    if owner != user.id && !membership.role.is_lead() {
        return Err(AppError::Forbidden("Its owner or a team lead updates an action.".into()));
    }
    let status = ActionStatus::parse(&form.status).map_err(AppError::Validation)?;
    store::set_action_status(&state.db, membership.team.id, action, status).await?;
    flash(&session, FlashKind::Success, format!("Action marked {}.", status.label().to_lowercase())).await?;
    Ok(see_other(&format!("/teams/{}/actions", membership.team.slug)))
}
