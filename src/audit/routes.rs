//! The team's audit log page, for its leads: every team-level change, newest first.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::PAGE_SIZE;
use super::store::{self, Entry};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::teams::Membership;
use crate::web::context::LeadCtx;
use crate::web::{Layout, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/teams/{slug}/audit", get(page))
}

#[derive(Template)]
#[template(path = "audit/page.html")]
struct AuditPage {
    layout: Layout,
    membership: Membership,
    entries: Vec<Entry>,
    /// Whether this page continues an earlier one (it was reached by "Older entries").
    continued: bool,
    /// The entry to read on from when there are older entries than these.
    older: Option<i64>,
}

/// `?before=<entry>`: the entries older than that one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Older {
    before: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    LeadCtx { membership, .. }: LeadCtx,
    Query(Older { before }): Query<Older>,
) -> AppResult<Response> {
    // A malformed position names no page, as a malformed id names nothing.
    let before = before.map(|b| b.parse::<i64>().map_err(|_| AppError::NotFound)).transpose()?;
    let mut entries = store::entries(&state.db, membership.team.id, before, PAGE_SIZE + 1).await?;
    let older = if entries.len() as i64 > PAGE_SIZE {
        entries.truncate(PAGE_SIZE as usize);
        entries.last().map(|e| e.id)
    } else {
        None
    };
    render(&AuditPage { layout, membership, entries, continued: before.is_some(), older })
}
