//! `GET /metrics` in the Prometheus text format, for the operator's scraper only: it answers 404
//! unless `GAMEDAY_METRICS_TOKEN` is set and the request carries it as a bearer token (compared
//! in constant time). What it counts:
//!
//! - `gameday_http_requests_total{route,status}` and `gameday_http_request_duration_seconds{route}`
//!   (time to the response's head), labelled by the matched route template, never the raw path
//!   (invite tokens live in paths);
//! - `gameday_live_streams_open`: the Server-Sent Events streams open on this instance;
//! - `gameday_live_catch_up_events`: how many events a stream read from the database at once to
//!   catch up (never more than `live::CATCH_UP_STEP`);
//! - `gameday_db_pool_connections{state}`: the pool's `idle` and `in_use` connections and its `max`;
//! - `gameday_db_checkouts_total`: connections taken from the pool (sqlx pings each one when it
//!   goes back: a round trip no statement log shows);
//! - `gameday_webhook_deliveries_pending`: deliveries waiting to be sent (all instances);
//! - `gameday_events_written_total`: timeline events recorded by this instance.
//! - `gameday_observation_batch_size`: observations recorded together in one transaction.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use subtle::ConstantTimeEq;

use crate::state::AppState;
use crate::webhooks::store as webhook_store;

/// Latency buckets, in seconds: from a cached asset to a request that hit the timeouts.
const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets for the observations recorded in one transaction (at most 256).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Buckets for the events a live stream reads at once to catch up (its step is 100).
const CATCH_UP_BUCKETS: &[f64] = &[0.0, 1.0, 10.0, 50.0, 100.0, 1000.0, 10000.0];

/// This process's recorder, installed globally the first time it is asked for (every instance
/// of the app in a process shares it, as the `metrics` macros do).
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .expect("latency buckets are not empty")
            .set_buckets_for_metric(Matcher::Full("gameday_observation_batch_size".into()), BATCH_BUCKETS)
            .expect("batch buckets are not empty")
            .set_buckets_for_metric(Matcher::Full("gameday_live_catch_up_events".into()), CATCH_UP_BUCKETS)
            .expect("catch-up buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("metrics: another recorder is installed; /metrics shows only what reaches this one");
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!("gameday_http_requests_total", "HTTP requests answered, by route and status.");
    metrics::describe_histogram!(
        "gameday_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer an HTTP request (to the response's head), by route."
    );
    metrics::describe_gauge!("gameday_live_streams_open", "Live streams (Server-Sent Events) open on this instance.");
    metrics::describe_histogram!(
        "gameday_live_catch_up_events",
        "Events a live stream read from the database at once to catch up (a stream far behind reads in steps)."
    );
    metrics::describe_gauge!(
        "gameday_db_pool_connections",
        "Database pool connections of this instance: idle, in use, and the pool's maximum."
    );
    metrics::describe_counter!(
        "gameday_db_checkouts_total",
        "Connections taken from the database pool (each is pinged when it goes back: one round trip)."
    );
    metrics::describe_gauge!("gameday_webhook_deliveries_pending", "Webhook deliveries waiting to be sent.");
    metrics::describe_counter!("gameday_events_written_total", "Timeline events recorded by this instance.");
    metrics::describe_histogram!(
        "gameday_observation_batch_size",
        "Observations of one game day recorded together in one transaction (group commit)."
    );
}

/// Installs the recorder and keeps its histograms drained between scrapes, until shutdown.
pub async fn run(state: AppState) {
    let handle = handle();
    loop {
        tokio::select! {
            () = state.live.shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(5)) => handle.run_upkeep(),
        }
    }
}

/// Middleware (inside the router, where the matched route is known): counts and times requests.
pub async fn track(request: Request, next: Next) -> Response {
    handle();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("gameday_http_requests_total", "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("gameday_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Counts an open live stream for as long as it lives.
pub struct OpenStream(());

impl OpenStream {
    pub fn open() -> OpenStream {
        handle();
        metrics::gauge!("gameday_live_streams_open").increment(1.0);
        OpenStream(())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("gameday_live_streams_open").decrement(1.0);
    }
}

/// Whether the request carries the configured token (`Authorization: Bearer <token>`).
fn authorised(expected: &str, headers: &HeaderMap) -> bool {
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        // Equal lengths are compared in constant time; the length of a token is no secret worth keeping.
        Some(given) => !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())),
        None => false,
    }
}

/// `GET /metrics`: 404 without the token (as if there were nothing here).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.config.metrics_token.as_deref() else { return StatusCode::NOT_FOUND.into_response() };
    if !authorised(token, &headers) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let idle = state.db.num_idle() as f64;
    let size = f64::from(state.db.size());
    metrics::gauge!("gameday_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("gameday_db_pool_connections", "state" => "in_use").set((size - idle).max(0.0));
    metrics::gauge!("gameday_db_pool_connections", "state" => "max")
        .set(f64::from(state.db.options().get_max_connections()));
    match webhook_store::pending_count(&state.db).await {
        Ok(pending) => metrics::gauge!("gameday_webhook_deliveries_pending").set(pending as f64),
        Err(err) => tracing::warn!(error = %err, "metrics: cannot count the pending webhook deliveries"),
    }
    let body = handle().render();
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], body)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_authorised() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(authorised("s3cret", &with("Bearer s3cret")));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "bearer s3cret", "s3cret", "Basic s3cret", "Bearer "] {
            assert!(!authorised("s3cret", &with(wrong)), "{wrong}");
        }
        assert!(!authorised("s3cret", &HeaderMap::new()));
        assert!(!authorised("", &with("Bearer ")));
    }
}
