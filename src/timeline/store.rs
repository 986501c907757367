//! SQL for the timeline.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Event, NewEvent};

/// Appends an event inside the caller's transaction and returns its sequence number.
/// The number comes from the game day's row, whose lock orders events in commit order.
#[tracing::instrument(skip_all, fields(kind = event.kind.as_str()))]
pub async fn append(conn: &mut PgConnection, event: NewEvent) -> sqlx::Result<i64> {
    let seq = sqlx::query_scalar!(
        "update gamedays set last_event_seq = last_event_seq + 1 where id = $1 returning last_event_seq",
        event.gameday_id
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        r#"
        insert into timeline_events (gameday_id, seq, actor, kind, scenario_id, body, data)
        values ($1, $2, $3, $4, $5, $6, $7)
        "#,
        event.gameday_id,
        seq,
        event.actor,
        event.kind.as_str(),
        event.scenario_id,
        event.body,
        event.data,
    )
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

/// Every event of a game day, in order.
#[tracing::instrument(skip(db))]
pub async fn events(db: &PgPool, gameday_id: Uuid) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as!(
        Event,
        r#"
        select e.seq, e.at, u.display_name as "actor_name?", e.kind, e.scenario_id,
               (select r.title from scenarios s join scenario_revisions r
                  on r.scenario_id = s.id and r.revision = s.current_revision
                where s.id = e.scenario_id) as "scenario_title?",
               e.body
        from timeline_events e left join users u on u.id = e.actor
        where e.gameday_id = $1
        order by e.seq
        "#,
        gameday_id
    )
    .fetch_all(db)
    .await
}
