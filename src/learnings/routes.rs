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
use crate::web::paging::{self, PAGE_SIZE};
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
    /// The last learning of the page before (`More learnings`).
    after: Option<String>,
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
    /// Whether this page continues an earlier one.
    continued: bool,
    /// The learning to read on from when there are more than these.
    more: Option<Uuid>,
}

impl LibraryPage {
    /// The query string of this search with `after` (the page's filters kept).
    fn query_after(&self, after: Option<&Uuid>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if !self.tag.is_empty() {
            query.append_pair("tag", &self.tag);
        }
        if let Some(after) = after {
            query.append_pair("after", &after.to_string());
        }
        let query = query.finish();
        if query.is_empty() { query } else { format!("?{query}") }
    }
}

async fn library(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { membership, .. }: TeamCtx,
    Query(query): Query<LibraryQuery>,
) -> AppResult<Response> {
    let (q, tag) = super::search_terms(&query.q, &query.tag);
    let after = paging::position(query.after.as_deref())?;
    let learnings = store::search(&state.db, membership.team.id, &q, &tag, after, PAGE_SIZE + 1).await?;
    let (learnings, more) = paging::split(learnings, |l| l.id);
    let tags = store::tags(&state.db, membership.team.id).await?;
    render(&LibraryPage { layout, membership, learnings, tags, q, tag, continued: after.is_some(), more })
}

#[derive(Template)]
#[template(path = "learnings/actions.html")]
struct ActionsPage {
    layout: Layout,
    membership: Membership,
    actions: Vec<ActionItem>,
    me: Uuid,
    statuses: [ActionStatus; 3],
    /// Whether this page continues an earlier one.
    continued: bool,
    /// The action to read on from when there are more than these.
    more: Option<Uuid>,
}

/// `?after=<action>`: the open actions due after that one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionsQuery {
    after: Option<String>,
}

async fn actions_page(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { user, membership }: TeamCtx,
    Query(query): Query<ActionsQuery>,
) -> AppResult<Response> {
    let after = paging::position(query.after.as_deref())?;
    let actions = store::open_actions(&state.db, membership.team.id, after, PAGE_SIZE + 1).await?;
    let (actions, more) = paging::split(actions, |a| a.id);
    let page = ActionsPage {
        layout,
        membership,
        actions,
        me: user.id,
        statuses: ActionStatus::ALL,
        continued: after.is_some(),
        more,
    };
    render(&page)
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
