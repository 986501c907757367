//! The router, with the whole middleware stack in one readable place, and the server around it.
//! Nothing imports this module: it only assembles what the layers below provide.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_login::AuthManagerLayerBuilder;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{AppError, RETRY_AFTER_SECS, retry_after};
use crate::state::AppState;
use crate::web::auth::Backend;
use crate::web::sessions::{self, Sessions};
use crate::web::{metrics, shell};
use crate::{
    accounts, audit, calendar, chaostoolkit, demo, gamedays, healthchecks, home, learnings, live, retros, scenarios,
    teams, timeline, tokens, weaknesses, webhooks,
};

/// Largest request body accepted (forms are small); the Chaos Toolkit imports take up to
/// [`chaostoolkit::UPLOAD_LIMIT_BYTES`] on their own routes.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Name of the session cookie (served over http, as in development).
pub const SESSION_COOKIE: &str = "gameday_session";

/// Name of the session cookie over https: the `__Host-` prefix makes browsers accept it only
/// Secure, for this host alone and the whole path (no subdomain can set or shadow it).
pub const SECURE_SESSION_COOKIE: &str = "__Host-gameday_session";

/// Strict-Transport-Security over https: two years, this host only (subdomains are not ours to
/// decide).
const HSTS: &str = "max-age=63072000";

/// The main pages, which read on one connection (the one their session was loaded on, see
/// `web::sessions`): each statement of theirs goes through `db::connection`.
const ONE_CONNECTION_PAGES: &[&str] =
    &["/", "/teams/{slug}", "/teams/{slug}/gamedays/{id}", "/teams/{slug}/gamedays/{id}/timeline"];

use crate::web::api::API_BASE;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application as a router, ready to serve (or to drive in tests).
pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(Sessions::new(state.db.clone()))
        .with_name(if state.config.secure_cookies() { SECURE_SESSION_COOKIE } else { SESSION_COOKIE })
        .with_path("/")
        .with_secure(state.config.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::days(accounts::SESSION_IDLE_DAYS)))
        // Every answer to a request with a session renews its cookie, so "idle" means unused; the
        // store writes only what changed (its load keeps the stored expiry), see `web::sessions`.
        .with_always_save(true);
    let auth = AuthManagerLayerBuilder::new(Backend::new(state.db.clone()), sessions).build();

    // Request spans are named by the matched route (never the raw URI: invite tokens live in paths).
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
            let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), route, request_id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO));

    // The JSON API: bearer tokens only, so none of the session layers (a cookie is never read
    // there, and cross-site requests carry nothing it accepts). Its errors are problem documents
    // (`web::shell::error_pages` answers so for every path under /api/).
    let (api, description) = OpenApiRouter::with_openapi(crate::web::api::ApiDoc::openapi())
        .nest(
            API_BASE,
            OpenApiRouter::new()
                .merge(tokens::api::router())
                .merge(teams::api::router())
                .merge(gamedays::api::router())
                .merge(scenarios::api::router())
                .merge(chaostoolkit::api::router())
                .merge(healthchecks::api::router())
                .merge(timeline::api::router())
                .merge(retros::api::router())
                .merge(learnings::api::router())
                .merge(weaknesses::api::router()),
        )
        .split_for_parts();
    // Its reference for people, a page like the others (the session layers give it the frame),
    // read from the same description.
    let reference = {
        let docs = Arc::new(serde_json::to_value(&description).unwrap_or_default());
        let base_url = state.config.base_url();
        move |layout: crate::web::Layout| {
            let (docs, base_url) = (docs.clone(), base_url.clone());
            async move { crate::web::render(&crate::web::api::DocsPage::new(layout, base_url, &docs)) }
        }
    };
    let description = Arc::new(description);
    let api = api
        .route_layer(middleware::from_fn_with_state(state.clone(), crate::web::api::admit))
        .route(&format!("{API_BASE}/openapi.json"), get(move || openapi_json(description.clone())))
        .layer(trace.clone());

    let pages = Router::new()
        .route("/", get(home::home))
        .route("/api/docs", get(reference))
        .merge(accounts::routes::router())
        .merge(demo::routes::router())
        .merge(crate::email::routes::router())
        .merge(accounts::settings::router())
        .merge(teams::routes::router())
        .merge(teams::invites::router())
        .merge(audit::routes::router())
        .merge(gamedays::routes::router())
        .merge(scenarios::routes::router())
        .merge(chaostoolkit::routes::router())
        .merge(calendar::routes::router())
        .merge(timeline::routes::router())
        .merge(live::router())
        .merge(webhooks::routes::router())
        .merge(healthchecks::routes::router())
        .merge(retros::routes::router())
        .merge(learnings::routes::router())
        .merge(weaknesses::routes::router())
        .merge(tokens::routes::router())
        .layer(middleware::from_fn(shell::remember_viewer))
        .layer(middleware::from_fn_with_state(state.clone(), crate::web::auth::check_session))
        .layer(auth)
        .layer(middleware::from_fn_with_state(
            sessions::OneConnection::new(ONE_CONNECTION_PAGES, state.config.db_max_connections),
            sessions::per_request,
        ))
        .layer(trace);

    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(shell::error_pages))
        .layer(middleware::from_fn(shell::refuse_nul))
        .layer(CatchPanicLayer::custom(|payload: Box<dyn std::any::Any + Send>| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            tracing::error!(panic = %message, "a request handler panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }))
        .layer(middleware::from_fn_with_state(state.clone(), shell::unavailable_when_db_down))
        .layer(header(header::CONTENT_SECURITY_POLICY, shell::CONTENT_SECURITY_POLICY))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .option_layer(state.config.secure_cookies().then(|| header(header::STRICT_TRANSPORT_SECURITY, HSTS)))
        .layer(header(HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()"))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(state.config.request_timeout_secs),
        ))
        // The transport refuses anything above the largest upload; every extractor then holds a
        // body to BODY_LIMIT_BYTES unless its route allows more (DefaultBodyLimit, inner wins).
        .layer(RequestBodyLimitLayer::new(chaostoolkit::UPLOAD_LIMIT_BYTES))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CsrfLayer::new());

    pages
        .merge(api)
        .route("/static/{file}", get(shell::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async { AppError::NotFound })
        .layer(stack)
        // Outermost, and inside the routing: counts every answer by its matched route.
        .layer(middleware::from_fn(metrics::track))
        .with_state(state)
}

/// The API's OpenAPI description, as generated from its handlers at start.
async fn openapi_json(description: Arc<utoipa::openapi::OpenApi>) -> Response {
    match description.to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response(),
        Err(err) => {
            AppError::Internal(anyhow::Error::new(err).context("writing the OpenAPI description")).into_response()
        }
    }
}

/// 200 while the process runs.
async fn healthz() -> &'static str {
    "ok"
}

/// 200 while PostgreSQL answers, else 503 with `Retry-After`: also while requests recently found
/// the database overloaded (no free connection in time, a statement cancelled by its timeout),
/// which a ping alone would not notice.
async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = |why: &'static str| (StatusCode::SERVICE_UNAVAILABLE, [retry_after()], why).into_response();
    if state.health.overloaded_within(Duration::from_secs(RETRY_AFTER_SECS)) {
        tracing::warn!("readiness check: requests found the database overloaded in the last {RETRY_AFTER_SECS} s");
        return not_ready("database overloaded");
    }
    let ping = sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(&state.db);
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => "ready".into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            not_ready("database unreachable")
        }
        Err(_) => {
            tracing::warn!("readiness check: database did not answer within 2 s");
            not_ready("database unreachable")
        }
    }
}

/// Serves the app on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Live streams never end by themselves: at shutdown they are closed first, so that the
    // server can drain the other requests and stop.
    tokio::spawn(webhooks::worker::run(state.clone()));
    tokio::spawn(crate::email::worker::run(state.clone()));
    tokio::spawn(healthchecks::worker::run(state.clone()));
    tokio::spawn(metrics::run(state.clone()));
    live::start(&state);
    let hub = state.live.clone();
    let shutdown = async move {
        shutdown.await;
        hub.close();
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
