//! The web shell shared by every page: the layout context, rendering, flash messages,
//! static assets with cache-busting names, security headers and HTML error pages.

use std::sync::LazyLock;

use askama::Template;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::Session;

use crate::accounts::{AuthSession, User};
use crate::app::AppState;
use crate::error::{AppError, AppResult, ErrorDetail};
use crate::teams::{TeamRole, store as team_store};

const FLASH_KEY: &str = "flash";

/// A one-time message shown on the next page (after a POST-redirect-GET).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl FlashKind {
    pub fn css(&self) -> &'static str {
        match self {
            FlashKind::Success => "flash-success",
            FlashKind::Error => "flash-error",
        }
    }
}

/// Stores a flash message for the next page this session sees.
pub async fn flash(session: &Session, kind: FlashKind, message: impl Into<String>) -> AppResult<()> {
    let flash = Flash { kind, message: message.into() };
    session.insert(FLASH_KEY, flash).await?;
    Ok(())
}

/// A team as the navigation shows it.
#[derive(Debug, Clone)]
pub struct NavTeam {
    pub name: String,
    pub slug: String,
    pub role: TeamRole,
}

/// What the base layout needs on every page: who is signed in, their teams, a flash message.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub user: Option<User>,
    pub teams: Vec<NavTeam>,
    pub flash: Option<Flash>,
}

impl Layout {
    /// The layout for pages rendered without a request context (error pages).
    pub fn bare() -> Self {
        Layout::default()
    }

    pub fn css_url(&self) -> &'static str {
        &ASSETS.css_url
    }

    pub fn js_url(&self) -> &'static str {
        &ASSETS.js_url
    }
}

impl FromRequestParts<AppState> for Layout {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = parts.extensions.get::<AuthSession>().and_then(|auth| auth.user.clone());
        let teams = match &user {
            Some(user) => team_store::nav_teams(&state.db, user.id).await?,
            None => Vec::new(),
        };
        // Read before removing: a removal marks the session changed, which would cost a write per page.
        let flash = match parts.extensions.get::<Session>() {
            Some(session) if session.get::<Flash>(FLASH_KEY).await?.is_some() => session.remove(FLASH_KEY).await?,
            _ => None,
        };
        Ok(Layout { user, teams, flash })
    }
}

/// Marks a response whose body is a finished page, so [`error_pages`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct Rendered;

/// Renders a page with the given status.
pub fn render_status(status: StatusCode, page: &impl Template) -> AppResult<Response> {
    let body = page.render()?;
    let mut response = (status, Html(body)).into_response();
    response.extensions_mut().insert(Rendered);
    Ok(response)
}

/// Renders a page with 200 OK.
pub fn render(page: &impl Template) -> AppResult<Response> {
    render_status(StatusCode::OK, page)
}

/// A local path that is safe to redirect to after sign-in (no open redirects).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| next.to_owned())
}

/// Redirect after a successful POST (303 See Other, so the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: &'static str,
    message: String,
    /// Shown on server errors, so a person can quote it and the log line can be found.
    request_id: Option<String>,
}

fn error_text(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("Bad request", "The request could not be understood."),
        403 => (
            "Not allowed",
            "You are not allowed to do that. If you came from another site, go back to Gameday and try again from there.",
        ),
        404 => ("Not found", "There is nothing here, or you do not have access to it."),
        405 => ("Not allowed here", "This address does not accept that kind of request."),
        504 => ("Timed out", "The server took too long to answer. Please try again."),
        409 => ("Conflict", "That cannot be done in the current state."),
        410 => ("No longer available", "This link no longer works."),
        413 => ("Too large", "What you sent is too large. Shorten it and try again."),
        415 => ("Unsupported", "The server cannot read what was sent."),
        422 => ("Check your input", "Some of what you entered cannot be accepted."),
        429 => ("Too many attempts", "Too many attempts. Wait a few minutes and try again."),
        503 => {
            ("Temporarily unavailable", "Gameday cannot reach its database right now. Please try again in a moment.")
        }
        _ if status.is_server_error() => {
            ("Something went wrong", "Something went wrong on our side. It has been logged; please try again.")
        }
        _ => ("Error", "The request could not be completed."),
    }
}

/// Middleware: every 4xx/5xx response that is not already a page becomes the HTML error page
/// for its status, showing only the message an [`ErrorDetail`] allows (never internals).
pub async fn error_pages(request: Request, next: Next) -> Response {
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<Rendered>().is_some() {
        return response;
    }
    let (title, default_message) = error_text(status);
    let message =
        response.extensions().get::<ErrorDetail>().map(|d| d.0.clone()).unwrap_or_else(|| default_message.to_owned());
    let request_id = request_id.filter(|_| status.is_server_error());
    let layout = Layout { user: response.extensions().get::<ErrorViewer>().map(|v| v.0.clone()), ..Layout::bare() };
    let page = ErrorPage { layout, status: status.as_u16(), title, message, request_id };
    let (mut parts, _) = response.into_parts();
    match page.render() {
        Ok(html) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            Response::from_parts(parts, axum::body::Body::from(html))
        }
        Err(err) => {
            tracing::error!(error = %err, "rendering the error page");
            status.into_response()
        }
    }
}

/// Who saw an error response, so the error page shows the signed-in navigation.
#[derive(Clone)]
pub struct ErrorViewer(pub User);

/// Middleware inside the auth layer: tags error responses with the signed-in user.
pub async fn remember_viewer(request: Request, next: Next) -> Response {
    let user = request.extensions().get::<AuthSession>().and_then(|auth| auth.user.clone());
    let mut response = next.run(request).await;
    if let Some(user) = user
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        response.extensions_mut().insert(ErrorViewer(user));
    }
    response
}

/// Marks a 500 that a handler produced (and logged) itself.
#[derive(Debug, Clone, Copy)]
pub struct HandlerFailure;

/// Middleware: a bare 500 from a layer (the session store, the login layer) while the database
/// cannot be reached becomes a 503, as a handler's own database failure does.
pub async fn unavailable_when_db_down(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let bare_500 = response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && response.extensions().get::<HandlerFailure>().is_none()
        && response.extensions().get::<Rendered>().is_none();
    if !bare_500 {
        return response;
    }
    let ping = sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(&state.db);
    match tokio::time::timeout(std::time::Duration::from_secs(1), ping).await {
        Ok(Ok(_)) => response,
        _ => {
            tracing::warn!("database unreachable: answering 503");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// One static file, embedded in the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSET_FILES: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../static/app.css") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../static/app.js") },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", bytes: include_bytes!("../static/favicon.svg") },
];

struct Assets {
    css_url: String,
    js_url: String,
}

fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn asset_url(name: &str) -> String {
    let asset = ASSET_FILES.iter().find(|a| a.name == name).expect("known asset");
    format!("/static/{}?v={}", asset.name, fingerprint(asset.bytes))
}

static ASSETS: LazyLock<Assets> =
    LazyLock::new(|| Assets { css_url: asset_url("app.css"), js_url: asset_url("app.js") });

/// Serves an embedded static file. URLs carry a content fingerprint, so it may be cached for a year.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSET_FILES.iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The Content-Security-Policy of every response: scripts and styles only from this origin,
/// no framing, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// A timestamp as pages show it until the viewer's own time zone is known: `2026-11-25 14:05 UTC`.
pub fn utc_label(at: &time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

impl Layout {
    /// The viewer's time zone (UTC until they choose one).
    pub fn zone(&self) -> &str {
        self.user.as_ref().map(|u| u.time_zone.as_str()).unwrap_or("UTC")
    }

    /// A time in the viewer's zone, for reading.
    pub fn when(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_local(at, self.zone())
    }

    /// The end of a span: only the clock time when it ends on the day it starts.
    pub fn until(&self, start: &time::OffsetDateTime, end: &time::OffsetDateTime) -> String {
        let (start_day, end_day) =
            (crate::tz::format_input(start, self.zone()), crate::tz::format_input(end, self.zone()));
        if start_day[..10] == end_day[..10] {
            crate::tz::format_local(end, self.zone()).rsplit(", ").next().unwrap_or_default().to_owned()
        } else {
            self.when(end)
        }
    }

    /// The clock time in the viewer's zone.
    pub fn clock(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_clock(at, self.zone())
    }

    /// The exact UTC time (for `title` and `datetime` attributes).
    pub fn utc(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_utc(at)
    }
}
