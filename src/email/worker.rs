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
/// Reminders that fell due are looked for every this many polls (every 30 s by default).
const REMIND_EVERY_POLLS: u64 = 30;

/// Writes the reminders that fell due into the outbox, each once across every instance (the
/// reminder's row and its messages in one transaction): a game day the day before and an hour
/// before, to everyone on it; an action the day before it falls due, to its owner.
async fn remind(state: &AppState) -> sqlx::Result<()> {
    let mut tx = state.db.begin().await?;
    for reminder in store::take_day_reminders(&mut tx).await? {
        let about = store::about(&mut tx, reminder.gameday_id, None).await?;
        let roles = ["facilitator", "participant", "observer"];
        let url = format!("{}/teams/{}/gamedays/{}", super::BASE_URL, about.team_slug, reminder.gameday_id);
        for person in store::gameday_people(&mut tx, reminder.gameday_id, &roles, None).await? {
            let when = crate::tz::format_local(&reminder.starts_at, &person.time_zone);
            let subject = if reminder.which == "hour" {
                format!("In an hour: {}", about.gameday_title)
            } else {
                format!("Coming up: {} ({when})", about.gameday_title)
            };
            let token = crate::secrets::random_hex(16);
            let content = super::Content {
                name: &person.display_name,
                subject,
                paragraphs: vec![
                    format!("The game day \"{}\" starts {when} ({}).", about.gameday_title, person.time_zone),
                    "Read its scenarios before it starts: a fault is injected only once everyone on the game day \
                     has agreed to its exact wording."
                        .to_owned(),
                ],
                action: Some(("Open the game day", url.clone())),
                unsubscribe: Some((format!("{}/email/unsubscribe/{token}", super::BASE_URL), super::Kind::GamedaySoon)),
            };
            let message = super::compose(&content);
            store::enqueue(&mut tx, person.user_id, super::Kind::GamedaySoon, &message, Some(&token)).await?;
        }
    }
    for reminder in store::take_action_reminders(&mut tx).await? {
        let Some(person) = store::recipient(&mut tx, reminder.owner).await? else { continue };
        let token = crate::secrets::random_hex(16);
        let content = super::Content {
            name: &person.display_name,
            subject: format!("Due tomorrow: {}", reminder.title),
            paragraphs: vec![format!(
                "Your action \"{}\" falls due tomorrow ({}). Mark it done, or give it a new date, on the team's actions page.",
                reminder.title, reminder.due_on
            )],
            action: Some(("Open the actions", format!("{}/teams/{}/actions", super::BASE_URL, reminder.team_slug))),
            unsubscribe: Some((format!("{}/email/unsubscribe/{token}", super::BASE_URL), super::Kind::ActionDue)),
        };
        let message = super::compose(&content);
        store::enqueue(&mut tx, person.user_id, super::Kind::ActionDue, &message, Some(&token)).await?;
    }
    tx.commit().await
}

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
    let mut polls: u64 = 0;
    loop {
        tokio::select! {
            () = state.live.shutdown.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
        polls += 1;
        if polls % REMIND_EVERY_POLLS == 1
            && let Err(err) = remind(&state).await
        {
            tracing::warn!(error = %err, "e-mail: cannot write the reminders that are due");
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
    if !super::deliverable(&due.to_address) {
        return store::finish(&state.db, due.id, "dropped", Some("an address under .invalid")).await;
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
