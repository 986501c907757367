//! The delivery worker: claims due outbox rows, posts them signed, and records the outcome.
//! Deliveries run side by side, at most [`MAX_IN_FLIGHT`] per instance and
//! [`MAX_IN_FLIGHT_PER_TEAM`] per team across instances, so one team's slow receiver never holds
//! up another team's. Several instances can run it at once (claims are serialised by an advisory
//! lock, and a claimed row has a lease).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};

use super::store::{self, Due};
use super::{
    MAX_ATTEMPTS, MAX_IN_FLIGHT_PER_TEAM, SIGNATURE_HEADER, TIMESTAMP_HEADER, Undeliverable, backoff,
    check_destination, signature,
};
use crate::state::AppState;

/// A claimed delivery is retried by anyone after this long without an outcome: far longer than
/// one delivery can take (5 s to resolve and the 10 s timeout), so a slow one is not sent twice.
const LEASE_MS: i64 = 120_000;
/// How many deliveries one instance has in flight at most, all teams together.
const MAX_IN_FLIGHT: usize = 16;

/// Runs until the server shuts down (deliveries still in flight then are abandoned, and retried
/// by any instance once their lease runs out).
pub async fn run(state: AppState) {
    let poll = StdDuration::from_millis(state.config.webhook_poll_ms.max(10));
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = state.live.shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
        while in_flight.try_join_next().is_some() {}
        let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
        if room == 0 {
            continue;
        }
        let due = match claim(&state, room as i64).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "webhooks: cannot read the outbox");
                continue;
            }
        };
        for delivery in due {
            let state = state.clone();
            in_flight.spawn(async move { deliver(&state, delivery).await });
        }
    }
}

/// Claims up to `limit` due deliveries, keeping each team at or under its cap in flight.
async fn claim(state: &AppState, limit: i64) -> sqlx::Result<Vec<Due>> {
    let mut tx = state.db.begin().await?;
    store::lock_claims(&mut tx).await?;
    let due = store::claim_due(&mut tx, limit, MAX_IN_FLIGHT_PER_TEAM, LEASE_MS).await?;
    tx.commit().await?;
    Ok(due)
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

/// How long a host name may take to resolve.
const RESOLVE_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// Resolves the URL's host and checks where it points ([`check_destination`]): the one check
/// made both when a webhook is saved and before every delivery. Returns the host as looked up
/// and the address to connect to.
pub async fn destination(allow_private: bool, url: &str) -> Result<(String, SocketAddr), Undeliverable> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| Undeliverable::Refused("That is not a valid web address.".into()))?;
    let host = parsed.host_str().ok_or_else(|| Undeliverable::Refused("The URL has no host.".into()))?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let lookup_host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let cannot = || Undeliverable::Unresolvable(format!("{host} cannot be resolved: no address is known for it."));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup_host_of(&lookup_host, port)).await {
        Ok(Ok(addrs)) => addrs,
        Ok(Err(_)) => return Err(cannot()),
        Err(_) => {
            return Err(Undeliverable::Unresolvable(format!(
                "{host} cannot be resolved: no answer within {} seconds.",
                RESOLVE_TIMEOUT.as_secs()
            )));
        }
    };
    let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    let ip = check_destination(&host, &ips, allow_private)?;
    Ok((lookup_host, SocketAddr::new(ip, port)))
}

async fn lookup_host_of(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

/// A client for the webhook's URL, pinned to the checked address so a DNS answer cannot change
/// between check and connect.
async fn checked_client(
    allow_private: bool,
    url: &str,
    timeout: StdDuration,
) -> Result<reqwest::Client, Undeliverable> {
    let (host, addr) = destination(allow_private, url).await?;
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Never through a proxy from the environment (HTTP_PROXY…): the checked address is
        // the one connected to, and a proxy could reach what the check refused.
        .no_proxy()
        .user_agent(concat!("Gameday/", env!("CARGO_PKG_VERSION")))
        .resolve(&host, addr)
        .build()
        .map_err(|e| Undeliverable::Unresolvable(e.to_string()))
}

/// What went wrong with a request, in a few words and without the URL (webhook URLs often carry
/// their own secret): `timed out`, `connection refused`, or the innermost cause.
pub fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".into();
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    let mut innermost = None;
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                std::io::ErrorKind::TimedOut => return "timed out".into(),
                _ => {}
            }
        }
        innermost = Some(c);
        cause = c.source();
    }
    match innermost {
        Some(c) => c.to_string(),
        None if err.is_connect() => "cannot connect".into(),
        None if err.is_body() => "the answer broke off".into(),
        None => "the request failed".into(),
    }
}

/// A signed POST of `body` to the webhook's URL, after checking where it goes.
pub async fn post_signed(
    allow_private: bool,
    url: &str,
    secret: &str,
    body: Vec<u8>,
    timeout: StdDuration,
) -> Result<Result<reqwest::Response, reqwest::Error>, Undeliverable> {
    let client = checked_client(allow_private, url, timeout).await?;
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    Ok(client
        .post(url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
        .body(body)
        .send()
        .await)
}

async fn deliver(state: &AppState, delivery: Due) {
    let body = body(state, &delivery.payload);
    let allow_private = state.config.webhook_allow_private;
    let sent = post_signed(allow_private, &delivery.url, &delivery.secret, body, StdDuration::from_secs(10)).await;
    let wait = backoff(Duration::milliseconds(state.config.webhook_retry_ms as i64), delivery.attempts - 1);
    let outcome = match sent {
        Err(error) => {
            // A refused destination will not change by retrying; anything else might.
            let give_up = matches!(error, Undeliverable::Refused(_)) || delivery.attempts >= MAX_ATTEMPTS;
            tracing::info!(delivery = delivery.id, %error, give_up, "webhook delivery not sent");
            let error = error.to_string();
            store::attempt_failed(&state.db, delivery.id, None, &error, OffsetDateTime::now_utc() + wait, give_up).await
        }
        Ok(Ok(response)) if response.status().is_success() => {
            store::delivered(&state.db, delivery.id, i32::from(response.status().as_u16())).await
        }
        Ok(failure) => {
            let (status, error) = match failure {
                Ok(response) => {
                    (Some(i32::from(response.status().as_u16())), format!("answered {}", response.status()))
                }
                Err(err) => (None, describe(&err)),
            };
            let give_up = delivery.attempts >= MAX_ATTEMPTS;
            tracing::info!(delivery = delivery.id, attempt = delivery.attempts, give_up, %error, "webhook delivery failed");
            store::attempt_failed(&state.db, delivery.id, status, &error, OffsetDateTime::now_utc() + wait, give_up)
                .await
        }
    };
    if let Err(err) = outcome {
        tracing::warn!(error = %err, delivery = delivery.id, "webhooks: cannot record the outcome; it will be retried");
    }
}
