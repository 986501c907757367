//! The delivery worker: claims due outbox rows, posts them signed, and records the outcome.
//! Several instances can run it at once (rows are claimed with SKIP LOCKED and a lease).

use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

use super::store::{self, Due};
use super::{MAX_ATTEMPTS, SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff, signature};
use crate::app::AppState;

/// A claimed delivery is retried by anyone after this long without an outcome.
const LEASE_MS: i64 = 60_000;
const BATCH: i64 = 20;

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let client = match reqwest::Client::builder()
        .timeout(StdDuration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Gameday/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "webhooks: cannot build the HTTP client; deliveries are off");
            return;
        }
    };
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
            deliver(&state, &client, delivery).await;
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

async fn deliver(state: &AppState, client: &reqwest::Client, delivery: Due) {
    let body = body(state, &delivery.payload);
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
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
