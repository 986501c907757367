//! The delivery worker: claims due outbox rows, posts them signed, and records the outcome.
//! Several instances can run it at once (rows are claimed with SKIP LOCKED and a lease).

use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

use super::store::{self, Due};
use super::{MAX_ATTEMPTS, SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff, signature};
use crate::state::AppState;

/// A claimed delivery is retried by anyone after this long without an outcome: longer than a
/// whole batch can take (BATCH × the 10 s timeout), so a slow batch is not delivered twice.
const LEASE_MS: i64 = 120_000;
const BATCH: i64 = 5;

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let poll = StdDuration::from_millis(state.config.webhook_poll_ms.max(10));
    loop {
        tokio::select! {
            () = state.live.shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
        let due = match store::claim_due(&state.db, BATCH, LEASE_MS).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "webhooks: cannot read the outbox");
                continue;
            }
        };
        for delivery in due {
            deliver(&state, delivery).await;
        }
    }
}

/// The body as sent: the stored payload plus links built from this server's base URL.
fn body(state: &AppState, payload: &serde_json::Value) -> Vec<u8> {
    let mut payload = payload.clone();
    let base = state.config.base_url();
    let url = match (payload.pointer("/team/slug"), payload.pointer("/gameday/id")) {
        (Some(slug), Some(id)) => {
            format!("{base}/teams/{}/gamedays/{}", slug.as_str().unwrap_or(""), id.as_str().unwrap_or(""))
        }
        _ => base,
    };
    if let Some(text) = payload.get("text").and_then(|t| t.as_str()).map(str::to_owned) {
        payload["text"] = format!("{text} <{url}|Open in Gameday>").into();
    }
    if let Some(gameday) = payload.get_mut("gameday").and_then(|g| g.as_object_mut()) {
        gameday.insert("url".into(), url.into());
    }
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// Resolves the webhook's host and checks where it points. Returns the client to send with:
/// pinned to the checked address, so a DNS answer cannot change between check and connect.
async fn checked_client(state: &AppState, url: &str) -> Result<reqwest::Client, String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "not a valid URL".to_owned())?;
    let host = parsed.host_str().ok_or("the URL has no host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let lookup_host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((lookup_host.as_str(), port))
        .await
        .map_err(|_| format!("cannot resolve {host}"))?
        .collect();
    let addr = *addrs.first().ok_or_else(|| format!("{host} has no address"))?;
    if !state.config.webhook_allow_private && addrs.iter().any(|a| super::is_private(a.ip())) {
        return Err(format!("refused: {host} is a loopback or private address"));
    }
    reqwest::Client::builder()
        .timeout(StdDuration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Gameday/", env!("CARGO_PKG_VERSION")))
        .resolve(&lookup_host, addr)
        .build()
        .map_err(|e| e.to_string())
}

async fn deliver(state: &AppState, delivery: Due) {
    let body = body(state, &delivery.payload);
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let client = match checked_client(state, &delivery.url).await {
        Ok(client) => client,
        Err(error) => {
            // A refused destination will not change by retrying; anything else might.
            let give_up = error.starts_with("refused") || delivery.attempts >= MAX_ATTEMPTS;
            let wait = backoff(Duration::milliseconds(state.config.webhook_retry_ms as i64), delivery.attempts - 1);
            tracing::info!(delivery = delivery.id, %error, give_up, "webhook delivery not sent");
            let outcome =
                store::attempt_failed(&state.db, delivery.id, None, &error, OffsetDateTime::now_utc() + wait, give_up);
            if let Err(err) = outcome.await {
                tracing::warn!(error = %err, delivery = delivery.id, "webhooks: cannot record the outcome");
            }
            return;
        }
    };
    let result = client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(&delivery.secret, timestamp, &body))
        .body(body)
        .send()
        .await;
    let outcome = match result {
        Ok(response) if response.status().is_success() => {
            store::delivered(&state.db, delivery.id, i32::from(response.status().as_u16())).await
        }
        failure => {
            let (status, error) = match failure {
                Ok(response) => {
                    (Some(i32::from(response.status().as_u16())), format!("answered {}", response.status()))
                }
                // Without the URL: webhook URLs often carry their own secret.
                Err(err) => (None, err.without_url().to_string()),
            };
            let give_up = delivery.attempts >= MAX_ATTEMPTS;
            let wait = backoff(Duration::milliseconds(state.config.webhook_retry_ms as i64), delivery.attempts - 1);
            tracing::info!(delivery = delivery.id, attempt = delivery.attempts, give_up, %error, "webhook delivery failed");
            store::attempt_failed(&state.db, delivery.id, status, &error, OffsetDateTime::now_utc() + wait, give_up)
                .await
        }
    };
    if let Err(err) = outcome {
        tracing::warn!(error = %err, delivery = delivery.id, "webhooks: cannot record the outcome; it will be retried");
    }
}
