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

use crate::timeline::{NewEvent, store as timeline_store};
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
    let payload = format!("{}:{seq}", event.gameday_id);
    sqlx::query!("select pg_notify($1, $2)", NOTIFY_CHANNEL, payload).execute(&mut *conn).await?;
    // Counted when recorded: a transaction that then rolls back (rare: refusals come first) counts too.
    metrics::counter!("gameday_events_written_total").increment(1);
    Ok(seq)
}
