//! The front page: a short introduction for visitors, the dashboard for members.

use askama::Template;
use axum::response::Response;

use crate::error::AppResult;
use crate::web::{Layout, render};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
}

pub async fn home(layout: Layout) -> AppResult<Response> {
    render(&HomePage { layout })
}
