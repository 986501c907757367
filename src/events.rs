//! Recording a timeline event: the one way every state change writes its record (invariant 6).
//!
//! In the caller's transaction, and in one call: the event row (numbered from the game day's row,
//! whose lock orders events in commit order), an outbox row for every webhook subscribed to its
//! kind, and a `NOTIFY` that wakes every instance's live hub once the transaction commits. So the
//! record, the notifications and the state never disagree, and a crash loses none of them.
//! `timeline` (which reads events) and `webhooks` (which delivers them) both sit below this module.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::timeline::{NewEvent, store as timeline_store};
use crate::webhooks::{self, store as webhook_store};

/// The channel on which every committed event is announced as `<game day id>:<seq>`.
pub const NOTIFY_CHANNEL: &str = "gameday_timeline";

/// Records an event inside the caller's transaction and returns its sequence number.
#[tracing::instrument(skip_all, fields(kind = event.kind.as_str()))]
pub async fn record(conn: &mut PgConnection, event: NewEvent) -> sqlx::Result<i64> {
    record_observed(conn, event, None).await
}

/// Like [`record`], with the time the thing was observed when it is logged late.
pub async fn record_observed(
    conn: &mut PgConnection,
    event: NewEvent,
    observed_at: Option<OffsetDateTime>,
) -> sqlx::Result<i64> {
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
