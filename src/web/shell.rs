//! The shell around every response: HTML error pages for every error status, a 503 with
//! `Retry-After` rather than a 500 while the database cannot serve, security headers, and the static assets with
//! cache-busting URLs.

use std::sync::LazyLock;

use askama::Template;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::Layout;
use super::Rendered;
use super::auth::AuthSession;
use crate::accounts::User;
use crate::db::{Trouble, watch_for_trouble};
use crate::error::{ErrorDetail, HandlerFailure, retry_after};
use crate::state::AppState;

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
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<Rendered>().is_some() {
        return response;
    }
    let (title, default_message) = error_text(status);
    let message =
        response.extensions().get::<ErrorDetail>().map(|d| d.0.clone()).unwrap_or_else(|| default_message.to_owned());
    if api {
        return api_problem(response, message);
    }
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

/// An error under /api/ as a problem document (what the API's handlers answer themselves is
/// one already; this covers the layers' answers: an unknown path, a body too large, a timeout, an
/// overloaded database, a panic), keeping its headers (`Retry-After`, `WWW-Authenticate`).
fn api_problem(response: Response, message: String) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(super::api::PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let status = response.status();
    let problem = super::api::Problem::new(status, super::api::Problem::code_of(status), Some(message));
    let (mut parts, _) = response.into_parts();
    let fresh = problem.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(super::api::PROBLEM_JSON));
    let (_, body) = fresh.into_parts();
    Response::from_parts(parts, body)
}

/// Middleware: an address with a NUL character (`%00`) is bad input, answered 400 before any
/// handler or database sees it (PostgreSQL refuses NUL in text, which would otherwise be a 500).
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let has_nul = |s: &str| s.contains('\0') || s.to_ascii_lowercase().contains("%00");
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        let mut response = StatusCode::BAD_REQUEST.into_response();
        response.extensions_mut().insert(ErrorDetail(
            "The address contains a NUL character (%00), which no page here uses. Check the link.".into(),
        ));
        return response;
    }
    next.run(request).await
}

/// Who saw an error response, so the error page shows the signed-in navigation.
#[derive(Clone)]
pub struct ErrorViewer(pub User);

/// Middleware inside the auth layer: marks a signed-in person's responses `no-store`, and tags
/// error responses with the user.
pub async fn remember_viewer(request: Request, next: Next) -> Response {
    let user = request.extensions().get::<AuthSession>().and_then(|auth| auth.user.clone());
    let mut response = next.run(request).await;
    if user.is_some() && !response.headers().contains_key(header::CACHE_CONTROL) {
        // What a signed-in person sees is theirs: no cache (a shared one, or the browser's disk)
        // keeps it. Streams and assets set their own.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(user) = user
        && (response.status().is_client_error() || response.status().is_server_error())
    {
        response.extensions_mut().insert(ErrorViewer(user));
    }
    response
}

/// Middleware: a request the database could not serve answers 503 with `Retry-After`, never
/// 500. A handler's own database failure is a 503 already; a bare 500 from a layer (the session
/// store, the sign-in layer) becomes one when the store noted the database failing
/// (`web::sessions`) or, failing that, when a ping finds the database unreachable. A
/// request that found the database overloaded is remembered for `/readyz`.
pub async fn unavailable_when_db_down(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (response, trouble) = watch_for_trouble(next.run(request)).await;
    if trouble == Trouble::Overloaded {
        state.health.overloaded();
    }
    let mut response = if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        response
    } else if trouble != Trouble::None {
        tracing::warn!(?trouble, "the database could not serve the request: answering 503");
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    } else if response.extensions().get::<HandlerFailure>().is_some()
        || response.extensions().get::<Rendered>().is_some()
    {
        response
    } else {
        let ping = sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(&state.db);
        match tokio::time::timeout(std::time::Duration::from_secs(1), ping).await {
            Ok(Ok(_)) => response,
            _ => {
                tracing::warn!("database unreachable: answering 503");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        }
    };
    if response.status() == StatusCode::SERVICE_UNAVAILABLE && !response.headers().contains_key(header::RETRY_AFTER) {
        let (name, value) = retry_after();
        response.headers_mut().insert(name, value);
    }
    response
}

/// One static file, embedded in the binary.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSET_FILES: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../../static/app.css") },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/app.js"),
    },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", bytes: include_bytes!("../../static/favicon.svg") },
];

fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Each asset's content fingerprint, in the order of [`ASSET_FILES`].
static FINGERPRINTS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSET_FILES.iter().map(|a| fingerprint(a.bytes)).collect());

/// Each asset's URL, carrying its fingerprint as `?v=`, in the order of [`ASSET_FILES`].
static URLS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSET_FILES.iter().zip(FINGERPRINTS.iter()).map(|(a, v)| format!("/static/{}?v={v}", a.name)).collect()
});

fn asset_url(name: &str) -> &'static str {
    let index = ASSET_FILES.iter().position(|a| a.name == name).expect("known asset");
    &URLS[index]
}

/// The stylesheet's URL, with its content fingerprint.
pub fn css_url() -> &'static str {
    asset_url("app.css")
}

/// The script's URL, with its content fingerprint.
pub fn js_url() -> &'static str {
    asset_url("app.js")
}

/// The icon's URL, with its content fingerprint.
pub fn favicon_url() -> &'static str {
    asset_url("favicon.svg")
}

/// Serves an embedded static file. Only the URL the pages link to, whose query is exactly the
/// file's current fingerprint (`?v=`), may be kept for a year without asking again: any other (no
/// `v`, an old page's or a mistyped one) is answered `no-cache`, so a cache never keeps content
/// for long under a name that does not pin it.
/// Both carry the fingerprint as ETag, so asking again costs a 304.
pub async fn asset(Path(name): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let Some(index) = ASSET_FILES.iter().position(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (asset, current) = (&ASSET_FILES[index], FINGERPRINTS[index].as_str());
    let exact = query.as_deref().and_then(|q| q.strip_prefix("v=")).is_some_and(|v| v == current);
    let cache_control = if exact { "public, max-age=31536000, immutable" } else { "no-cache" };
    let etag = format!("\"{current}\"");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*"));
    let headers = [(header::CACHE_CONTROL, cache_control.to_owned()), (header::ETAG, etag)];
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, [(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
}

/// The Content-Security-Policy of every response: scripts and styles only from this origin,
/// no framing, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
