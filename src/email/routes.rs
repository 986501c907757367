//! E-mail pages: a person's choice of what they receive (posted from their account page), the
//! unsubscribe link every optional e-mail carries (a page and RFC 8058's one-click POST), and the
//! administrators' outbox page, which shows what was sent or, without an SMTP server, what would
//! have been.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};

use super::Kind;
use super::store::{self, OutboxEntry};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::auth::{AuthSession, CurrentUser};
use crate::web::context::Path;
use crate::web::{FlashKind, Layout, flash, render, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/email", post(save_choices))
        .route("/email/unsubscribe/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/admin/outbox", get(outbox_page))
}

/// The account page's e-mail form: a checkbox per kind a person may turn off, named after it.
async fn save_choices(
    State(state): State<AppState>,
    auth: AuthSession,
    CurrentUser(user): CurrentUser,
    Form(form): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    for kind in Kind::CHOOSABLE {
        let wanted = form.iter().any(|(name, _)| name == kind.as_str());
        store::set_wanted(&mut tx, user.id, kind, wanted).await?;
    }
    tx.commit().await?;
    flash(&auth.session, FlashKind::Success, "Your e-mail choices are saved.").await?;
    Ok(see_other("/account#email"))
}

#[derive(Template)]
#[template(path = "email/unsubscribe.html")]
struct UnsubscribePage {
    layout: Layout,
    token: String,
    label: &'static str,
    /// The address, partly hidden (the link may have been forwarded).
    address: String,
    done: bool,
}

/// `ana@example.com` as `a…@example.com`.
fn hidden(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}…@{domain}", local.chars().next().unwrap_or('?')),
        None => "…".into(),
    }
}

async fn target(state: &AppState, token: &str) -> AppResult<(uuid::Uuid, Kind, String)> {
    let found = store::unsubscribe_target(&state.db, token).await?;
    let (user_id, kind, address) = found.ok_or(AppError::NotFound)?;
    let kind = Kind::parse(&kind).filter(|kind| kind.choosable()).ok_or(AppError::NotFound)?;
    Ok((user_id, kind, address))
}

async fn unsubscribe_page(
    State(state): State<AppState>,
    layout: Layout,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (_, kind, address) = target(&state, &token).await?;
    render(&UnsubscribePage { layout, token, label: kind.label(), address: hidden(&address), done: false })
}

/// Turns the link's kind off for its person: from the page's button, or a mail program's
/// one-click POST (RFC 8058), which carries no session; the link's secret is the permission.
async fn unsubscribe(State(state): State<AppState>, layout: Layout, Path(token): Path<String>) -> AppResult<Response> {
    let (user_id, kind, address) = target(&state, &token).await?;
    let mut tx = state.db.begin().await?;
    store::set_wanted(&mut tx, user_id, kind, false).await?;
    tx.commit().await?;
    tracing::info!(%user_id, kind = kind.as_str(), "e-mail kind turned off from an unsubscribe link");
    render(&UnsubscribePage { layout, token, label: kind.label(), address: hidden(&address), done: true })
}

#[derive(Template)]
#[template(path = "email/outbox.html")]
struct OutboxPage {
    layout: Layout,
    smtp: bool,
    messages: Vec<OutboxEntry>,
    zone: String,
}

impl OutboxPage {
    fn when(&self, entry: &OutboxEntry) -> String {
        crate::tz::format_local(&entry.created_at, &self.zone)
    }

    fn kind(&self, entry: &OutboxEntry) -> &'static str {
        Kind::parse(&entry.kind).map_or("", Kind::label)
    }
}

/// What Gameday sent, or would have: for administrators only (anyone else gets 404).
async fn outbox_page(
    State(state): State<AppState>,
    layout: Layout,
    CurrentUser(user): CurrentUser,
) -> AppResult<Response> {
    if !user.is_admin {
        return Err(AppError::NotFound);
    }
    let base = state.config.base_url();
    let mut messages = store::latest(&state.db, 100).await?;
    for message in &mut messages {
        message.body_text = super::with_base(&message.body_text, &base);
    }
    render(&OutboxPage { layout, smtp: state.config.smtp_url.is_some(), messages, zone: user.time_zone.clone() })
}
