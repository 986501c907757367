//! Adding, removing and trying a team's webhooks (its leads do; the extractor checks that).
//! Adding and removing one writes its entry in the team's audit log in the same transaction.

use std::time::Duration as StdDuration;

use sqlx::PgPool;
use uuid::Uuid;

use super::worker::{describe, destination, post_signed};
use super::{EventKind, TestAnswer, answer_excerpt, new_secret, store, test_payload};
use crate::accounts::User;
use crate::audit::{AuditKind, NewEntry, store as audit, webhook_host};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::teams::Team;

/// How long a test delivery waits for the receiver: the person is watching the page.
const TEST_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// Adds a webhook for these kinds of event, with a fresh signing secret. Its URL is resolved and
/// checked by the same rule every delivery is, so a webhook that could never be delivered is
/// refused now, beside the URL field, with the reason. Returns its id and its secret (which the
/// page shows once).
pub async fn add(
    db: &PgPool,
    config: &Config,
    team_id: Uuid,
    actor: &User,
    url: &str,
    kinds: &[EventKind],
) -> AppResult<(Uuid, String)> {
    destination(config.webhook_allow_private, url).await.map_err(|why| AppError::invalid("url", why.message()))?;
    let labels: Vec<&str> = kinds.iter().map(EventKind::label).collect();
    let kinds: Vec<String> = kinds.iter().map(|k| k.as_str().to_owned()).collect();
    let mut tx = db.begin().await?;
    if store::count_locked(&mut tx, team_id).await? >= super::MAX_PER_TEAM {
        return Err(AppError::invalid(
            "url",
            format!("A team can have {} webhooks; remove one before adding another.", super::MAX_PER_TEAM),
        ));
    }
    let secret = new_secret();
    let id = store::create(&mut tx, team_id, url, &secret, &kinds, actor.id).await?;
    let host = webhook_host(url);
    let body = format!("{} added a webhook to {host} for: {}.", actor.display_name, labels.join(", "));
    let detail = serde_json::json!({ "webhook": id, "host": host, "kinds": kinds });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::WebhookAdded, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, webhook = %id, "webhook added");
    Ok((id, secret))
}

/// Gives a webhook of the team a new signing secret (the old one stops working at once) and
/// returns it, for the page to show once.
pub async fn rotate_secret(db: &PgPool, team_id: Uuid, actor: &User, webhook: Uuid) -> AppResult<String> {
    let mut tx = db.begin().await?;
    if store::count_locked(&mut tx, team_id).await? >= super::MAX_PER_TEAM {
        return Err(AppError::invalid(
            "url",
            format!("A team can have {} webhooks; remove one before adding another.", super::MAX_PER_TEAM),
        ));
    }
    let secret = new_secret();
    let url = store::set_secret(&mut tx, team_id, webhook, &secret).await?.ok_or(AppError::NotFound)?;
    let host = webhook_host(&url);
    let body = format!("{} gave the webhook to {host} a new signing secret.", actor.display_name);
    let detail = serde_json::json!({ "webhook": webhook, "host": host });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::WebhookSecretRotated, body).detail(detail))
        .await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, %webhook, "webhook secret rotated");
    Ok(secret)
}

/// Removes a webhook of the team; its pending deliveries go with it.
pub async fn remove(db: &PgPool, team_id: Uuid, actor: &User, webhook: Uuid) -> AppResult<()> {
    let mut tx = db.begin().await?;
    let url = store::delete(&mut tx, team_id, webhook).await?.ok_or(AppError::NotFound)?;
    let host = webhook_host(&url);
    let body = format!("{} removed the webhook to {host}.", actor.display_name);
    let detail = serde_json::json!({ "webhook": webhook, "host": host });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::WebhookRemoved, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, %webhook, "webhook removed");
    Ok(())
}

/// Sends a signed test delivery to a webhook of the team now, waits briefly for the answer,
/// records it in the delivery log and returns it.
pub async fn send_test(
    db: &PgPool,
    config: &Config,
    team: &Team,
    actor: &User,
    webhook: Uuid,
) -> AppResult<TestAnswer> {
    let hook = store::of_team_by_id(db, team.id, webhook).await?.ok_or(AppError::NotFound)?;
    let settings_url = format!("{}/teams/{}/webhooks", config.base_url(), team.slug);
    let payload = test_payload(
        team,
        &actor.display_name,
        &settings_url,
        &crate::tz::format_utc(&time::OffsetDateTime::now_utc()),
    );
    let body = serde_json::to_vec(&payload).map_err(anyhow::Error::new)?;
    let sent = post_signed(config.webhook_allow_private, &hook.url, &hook.secret, body, TEST_TIMEOUT).await;
    let answer = match sent {
        Err(why) => TestAnswer::unanswered(why.to_string()),
        Ok(Err(err)) => TestAnswer::unanswered(describe(&err)),
        Ok(Ok(mut response)) => {
            let status = response.status();
            let mut bytes = Vec::new();
            let mut error = None;
            // Enough of the body for the excerpt; the rest is not read.
            while bytes.len() < 4 * super::ANSWER_CHARS {
                match response.chunk().await {
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(err) => {
                        error = Some(describe(&err));
                        break;
                    }
                }
            }
            TestAnswer {
                status: Some(status.as_u16()),
                reason: status.canonical_reason().unwrap_or_default().to_owned(),
                body: answer_excerpt(&bytes),
                error,
            }
        }
    };
    let status = answer.status.map(i32::from);
    store::record_test(db, hook.id, &payload, answer.accepted(), status, answer.log_error().as_deref()).await?;
    tracing::info!(team_id = %team.id, %webhook, status = ?answer.status, error = ?answer.error, "webhook test sent");
    Ok(answer)
}
