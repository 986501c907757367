//! The front page: a short introduction for visitors; for members, the dashboard of their
//! upcoming game days and the scenarios waiting for their sign-off.
//!
//! The dashboard is a summary: each of its lists shows at most [`PAGE_SIZE`] rows, the first
//! ones, and says where the rest are (each team's page, which pages through them).

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::db::connection;
use crate::error::AppResult;
use crate::gamedays::store::{self as gameday_store, Dashboard, MyGameday};
use crate::scenarios::store::signoffs::AwaitingSignoff;
use crate::state::AppState;
use crate::web::paging::{self, PAGE_SIZE};
use crate::web::{Layout, render};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    upcoming: Vec<MyGameday>,
    /// Whether there are more upcoming game days than shown.
    more_upcoming: bool,
    awaiting: Vec<AwaitingSignoff>,
    actions: Vec<crate::learnings::store::ActionItem>,
    /// Whether there are more open actions than shown.
    more_actions: bool,
}

pub async fn home(State(state): State<AppState>, layout: Layout) -> AppResult<Response> {
    let Dashboard { upcoming, awaiting, actions } = match &layout.user {
        Some(user) => gameday_store::dashboard(&mut *connection(&state.db).await?, user.id, PAGE_SIZE + 1).await?,
        None => Dashboard { upcoming: Vec::new(), awaiting: Vec::new(), actions: Vec::new() },
    };
    let (upcoming, more_upcoming) = paging::split(upcoming, |g| g.id);
    let (actions, more_actions) = paging::split(actions, |a| a.id);
    let page = HomePage {
        layout,
        upcoming,
        more_upcoming: more_upcoming.is_some(),
        awaiting,
        actions,
        more_actions: more_actions.is_some(),
    };
    render(&page)
}
