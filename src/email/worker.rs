//! The e-mail worker: claims due messages from the outbox and sends them over SMTP (lettre), with
//! retries; a temporary refusal (4xx, a connection that failed) is tried again later, a permanent
//! one (5xx) is given up at once. Without `GAMEDAY_SMTP_URL` every message is kept in the outbox
//! for the local outbox page. Several instances can run it at once (`for update skip locked`,
//! and a lease on each claimed row).

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::store::{self, Due};
use super::{MAX_ATTEMPTS, backoff};
use crate::state::AppState;

/// A claimed message is retried by anyone after this long without an outcome.
const LEASE_MS: i64 = 120_000;
/// Messages one instance claims at a time.
const BATCH: i64 = 16;

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let transport = match state.config.smtp_url.as_deref().map(transport).transpose() {
        Ok(transport) => transport,
        Err(err) => {
            tracing::error!(error = %err, "e-mail: GAMEDAY_SMTP_URL does not work; e-mail is kept in the outbox");
            None
        }
    };
    let from: Option<Mailbox> = state.config.mail_from.parse().ok();
    let poll = Duration::from_millis(state.config.email_poll_ms.max(10));
    loop {
        tokio::select! {
            () = state.live.shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
        let due = match store::claim_due(&state.db, BATCH, LEASE_MS).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "e-mail: cannot read the outbox");
                continue;
            }
        };
        for message in due {
            if let Err(err) = handle(&state, transport.as_ref(), from.as_ref(), message).await {
                tracing::warn!(error = %err, "e-mail: cannot record an outcome");
            }
        }
    }
}

fn transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.timeout(Some(Duration::from_secs(20))).build())
}

async fn handle(
    state: &AppState,
    transport: Option<&AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<&Mailbox>,
    due: Due,
) -> sqlx::Result<()> {
    if due.user_id.is_none() || !super::deliverable(&due.to_address) {
        return store::finish(&state.db, due.id, "dropped", Some("the account was erased")).await;
    }
    let (Some(transport), Some(from)) = (transport, from) else {
        return store::finish(&state.db, due.id, "kept", None).await;
    };
    let email = match build(state, from, &due) {
        Ok(email) => email,
        Err(err) => return store::finish(&state.db, due.id, "failed", Some(&err)).await,
    };
    match transport.send(email).await {
        Ok(_) => {
            tracing::info!(id = due.id, "e-mail sent");
            store::finish(&state.db, due.id, "sent", None).await
        }
        Err(err) if err.is_permanent() => {
            tracing::warn!(id = due.id, error = %err, "e-mail refused for good");
            store::finish(&state.db, due.id, "failed", Some(&err.to_string())).await
        }
        Err(err) if due.attempts >= MAX_ATTEMPTS => {
            tracing::warn!(id = due.id, error = %err, "e-mail given up after its last attempt");
            store::finish(&state.db, due.id, "failed", Some(&err.to_string())).await
        }
        Err(err) => {
            let delay = backoff(state.config.email_retry_ms, due.attempts);
            tracing::info!(id = due.id, error = %err, retry_in_ms = delay.as_millis() as u64, "e-mail will be retried");
            store::retry(&state.db, due.id, delay.as_millis() as i64, &err.to_string()).await
        }
    }
}

/// The message as sent: text and HTML alternatives, and for kinds a person may turn off the
/// one-click unsubscribe headers (RFC 8058) beside the link in the body.
fn build(state: &AppState, from: &Mailbox, due: &Due) -> Result<lettre::Message, String> {
    let to: Mailbox = due.to_address.parse().map_err(|e| format!("the address does not parse: {e}"))?;
    let base = state.config.base_url();
    let mut builder = lettre::Message::builder().from(from.clone()).to(to).subject(due.subject.clone());
    if let Some(token) = &due.unsubscribe_token {
        let url = format!("{base}/email/unsubscribe/{token}");
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder().header(ContentType::TEXT_PLAIN).body(super::with_base(&due.body_text, &base)),
                )
                .singlepart(
                    SinglePart::builder().header(ContentType::TEXT_HTML).body(super::with_base(&due.body_html, &base)),
                ),
        )
        .map_err(|e| e.to_string())
}
