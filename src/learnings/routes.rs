//! The team's learnings library, its open actions, and its overview (game days held, outcomes,
//! time to detect and to repair over time). Learnings and actions are added from the
//! retrospective page (`retros/routes.rs`).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::ActionStatus;
use super::store::{self, ActionItem, Learning};
use crate::error::{AppError, AppResult};
use crate::ids::ActionId;
use crate::state::AppState;
use crate::teams::Membership;
use crate::web::context::{Path, TeamCtx};
use crate::web::{FlashKind, Layout, flash, render, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/learnings", get(library))
        .route("/teams/{slug}/actions", get(actions_page))
        .route("/teams/{slug}/actions/{action}/status", post(set_status))
        .route("/teams/{slug}/overview", get(overview))
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
    TeamCtx { membership, .. }: TeamCtx,
    Query(query): Query<LibraryQuery>,
) -> AppResult<Response> {
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
    TeamCtx { user, membership }: TeamCtx,
) -> AppResult<Response> {
    let actions = store::open_actions(&state.db, membership.team.id).await?;
    render(&ActionsPage { layout, membership, actions, me: user.id, statuses: ActionStatus::ALL })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    status: String,
}

/// The action a change is about (`/teams/{slug}/actions/{action}/…`).
#[derive(Deserialize)]
struct ActionPath {
    action: ActionId,
}

async fn set_status(
    State(state): State<AppState>,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Path(ActionPath { action }): Path<ActionPath>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    let status = ActionStatus::parse(&form.status).map_err(AppError::of_field("status"))?;
    super::actions::set_status(&state.db, &membership, &user, action.0, status).await?;
    flash(&session, FlashKind::Success, format!("Action marked {}.", status.label().to_lowercase())).await?;
    Ok(see_other(&format!("/teams/{}/actions", membership.team.slug)))
}

#[derive(Template)]
#[template(path = "learnings/overview.html")]
struct OverviewPage {
    layout: Layout,
    membership: Membership,
    numbers: store::Numbers,
    chart: Option<super::views::Chart>,
}

async fn overview(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { membership, .. }: TeamCtx,
) -> AppResult<Response> {
    let numbers = store::numbers(&state.db, membership.team.id).await?;
    let events = store::scenario_events_of_completed(&state.db, membership.team.id).await?;
    let chart = super::views::chart(&events, layout.zone());
    render(&OverviewPage { layout, membership, numbers, chart })
}
