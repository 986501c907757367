//! The front page: a short introduction for visitors; for members, the dashboard of their
//! upcoming game days and the scenarios waiting for their sign-off.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::error::AppResult;
use crate::gamedays::store::{self as gameday_store, MyGameday};
use crate::scenarios::store::signoffs::{self as signoff_store, AwaitingSignoff};
use crate::state::AppState;
use crate::web::{Layout, render};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    upcoming: Vec<MyGameday>,
    awaiting: Vec<AwaitingSignoff>,
    actions: Vec<crate::learnings::store::ActionItem>,
}

pub async fn home(State(state): State<AppState>, layout: Layout) -> AppResult<Response> {
    let (upcoming, awaiting, actions) = match &layout.user {
        Some(user) => (
            gameday_store::my_upcoming(&state.db, user.id).await?,
            signoff_store::awaiting_signoff(&state.db, user.id).await?,
            crate::learnings::store::my_actions(&state.db, user.id).await?,
        ),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    render(&HomePage { layout, upcoming, awaiting, actions })
}
