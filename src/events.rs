//! Recording a timeline event: the one way every state change writes its record (invariant 6).
//!
//! In the caller's transaction, and in one call: the event row (numbered from the game day's row,
//! whose lock orders events in commit order), an outbox row for every webhook subscribed to its
//! kind, and a `NOTIFY` that wakes every instance's live hub once the transaction commits. So the
//! record, the notifications and the state never disagree, and a crash loses none of them.
//! `timeline` (which reads events) and `webhooks` (which delivers them) both sit below this module.

use std::future::Future;

use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::email::{self, Kind, store as email_store};
use crate::timeline::{EventKind, NewEvent, store as timeline_store};
use crate::webhooks::{self, store as webhook_store};

/// The channel on which every committed event is announced as `<game day id>:<seq>`.
pub const NOTIFY_CHANNEL: &str = "gameday_timeline";

/// The API token a change came through: every event recorded while a request of the JSON API is
/// served says so (`data.via`), whichever action records it, so the timeline tells a scripted
/// change from a person's click without each action having to remember.
#[derive(Debug, Clone, Serialize)]
pub struct ViaToken {
    pub token_id: Uuid,
    pub token_name: String,
}

tokio::task_local! {
    static VIA: ViaToken;
}

/// Runs `work` (an API request) so that every event it records is marked as coming through `token`.
pub async fn through_api<F: Future>(token: ViaToken, work: F) -> F::Output {
    VIA.scope(token, work).await
}

/// Marks `data` (an event's) with the API token the change came through, if it did.
pub fn mark_via(data: &mut serde_json::Value) {
    let Ok(via) =
        VIA.try_with(|via| serde_json::json!({ "api": true, "token_id": via.token_id, "token_name": via.token_name }))
    else {
        return;
    };
    if !data.is_object() {
        *data = serde_json::Value::Object(Default::default());
    }
    if let Some(object) = data.as_object_mut() {
        object.insert("via".into(), via);
    }
}

/// Records an event inside the caller's transaction and returns its sequence number.
#[tracing::instrument(skip_all, fields(kind = event.kind.as_str()))]
pub async fn record(conn: &mut PgConnection, event: NewEvent) -> sqlx::Result<i64> {
    record_observed(conn, event, None).await
}

/// Like [`record`], with the time the thing was observed when it is logged late.
pub async fn record_observed(
    conn: &mut PgConnection,
    mut event: NewEvent,
    observed_at: Option<OffsetDateTime>,
) -> sqlx::Result<i64> {
    mark_via(&mut event.data);
    let seq = timeline_store::insert(conn, &event, observed_at).await?;
    if webhooks::KINDS.contains(&event.kind) {
        webhook_store::enqueue(conn, event.gameday_id, seq, event.kind.as_str(), &event.body, event.scenario_id)
            .await?;
    }
    tell_by_email(conn, &event).await?;
    let payload = format!("{}:{seq}", event.gameday_id);
    sqlx::query!("select pg_notify($1, $2)", NOTIFY_CHANNEL, payload).execute(&mut *conn).await?;
    // Counted when recorded: a transaction that then rolls back (rare: refusals come first) counts too.
    metrics::counter!("gameday_events_written_total").increment(1);
    Ok(seq)
}

/// Writes the e-mails an event asks for into the outbox, in its transaction: a scenario added or
/// revised asks its signers for their sign-off (a new revision resets every sign-off); an announced
/// fault tells everyone on the game day; a published retrospective tells the whole team. Each in the recipient's words and zone, never to the
/// person who made the change, and only to those who have not turned that kind off.
async fn tell_by_email(conn: &mut PgConnection, event: &NewEvent) -> sqlx::Result<()> {
    let (kind, roles): (Kind, &[&str]) = match event.kind {
        EventKind::ScenarioAdded | EventKind::ScenarioRevised => (Kind::SignOff, &["facilitator", "participant"]),
        EventKind::ScenarioAnnounced => (Kind::FaultAnnounced, &["facilitator", "participant", "observer"]),
        EventKind::RetrospectivePublished => (Kind::RetroPublished, &[]),
        _ => return Ok(()),
    };
    let recipients = if kind == Kind::RetroPublished {
        email_store::team_people(conn, event.gameday_id, event.actor).await?
    } else {
        email_store::gameday_people(conn, event.gameday_id, roles, event.actor).await?
    };
    if recipients.is_empty() {
        return Ok(());
    }
    let about = email_store::about(conn, event.gameday_id, event.scenario_id).await?;
    let gameday_url = format!("{}/teams/{}/gamedays/{}", email::BASE_URL, about.team_slug, event.gameday_id);
    let scenario = about.scenario_title.clone().unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    for person in recipients {
        let token = crate::secrets::random_hex(16);
        let unsubscribe = Some((format!("{}/email/unsubscribe/{token}", email::BASE_URL), kind));
        let content = match kind {
            Kind::SignOff => email::Content {
                name: &person.display_name,
                subject: format!("Sign off \"{scenario}\" (revision {})", about.revision.unwrap_or(1)),
                paragraphs: vec![
                    event.body.clone(),
                    format!(
                        "Read it and approve or object, for the game day \"{}\": a fault is injected only once \
                         everyone on the game day has agreed to its exact wording.",
                        about.gameday_title
                    ),
                ],
                action: Some((
                    "Read and sign off",
                    format!("{gameday_url}/scenarios/{}", event.scenario_id.unwrap_or_default()),
                )),
                unsubscribe,
            },
            Kind::RetroPublished => email::Content {
                name: &person.display_name,
                subject: format!("Retrospective published: {}", about.gameday_title),
                paragraphs: vec![
                    event.body.clone(),
                    "Read what held, what broke, what the team learned, and the actions that follow.".to_owned(),
                ],
                action: Some(("Read the retrospective", format!("{gameday_url}/retrospective"))),
                unsubscribe,
            },
            _ => email::Content {
                name: &person.display_name,
                subject: format!("Fault announced: \"{scenario}\" on {}", about.gameday_title),
                paragraphs: vec![
                    format!("Announced at {}.", crate::tz::format_clock_named(&now, &person.time_zone)),
                    event.body.clone(),
                ],
                action: Some(("Follow the timeline", format!("{gameday_url}/timeline"))),
                unsubscribe,
            },
        };
        email_store::enqueue(conn, person.user_id, kind, &email::compose(&content), Some(&token)).await?;
    }
    Ok(())
}
