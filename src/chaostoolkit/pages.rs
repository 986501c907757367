//! The page that imports a Chaos Toolkit experiment as a scenario.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use crate::error::AppResult;
use crate::web::context::GamedayCtx;
use crate::web::{Layout, render_status};

#[derive(Template)]
#[template(path = "chaostoolkit/import.html")]
struct ImportPage {
    layout: Layout,
    ctx: GamedayCtx,
    /// What was pasted (kept when refused).
    pasted: String,
    /// Why it was refused, beside the field.
    error: Option<String>,
    /// The largest experiment accepted, for the hint.
    max_kib: usize,
}

/// The import form, empty or with what was pasted and why it was refused.
pub fn import_page(
    layout: Layout,
    ctx: GamedayCtx,
    pasted: String,
    refused: Option<(StatusCode, String)>,
) -> AppResult<Response> {
    let (status, error) = match refused {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let max_kib = super::experiment::MAX_BYTES / 1024;
    render_status(status, &ImportPage { layout, ctx, pasted, error, max_kib })
}
