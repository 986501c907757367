//! SQL for the timeline.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Event, NewEvent};

/// Inserts an event inside the caller's transaction and returns its sequence number, taken from
/// the game day's row (whose lock orders events in commit order). Callers record events through
/// `events::record`, which also writes the webhook outbox and the NOTIFY.
pub async fn insert(
    conn: &mut PgConnection,
    event: &NewEvent,
    observed_at: Option<OffsetDateTime>,
) -> sqlx::Result<i64> {
    let seq = sqlx::query_scalar!(
        "update gamedays set last_event_seq = last_event_seq + 1 where id = $1 returning last_event_seq",
        event.gameday_id
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        r#"
        insert into timeline_events (gameday_id, seq, actor, kind, scenario_id, body, data, observed_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        "#,
        event.gameday_id,
        seq,
        event.actor,
        event.kind.as_str(),
        event.scenario_id,
        event.body,
        event.data,
        observed_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

/// The events of a game day after `after` (0 for all), in order.
#[tracing::instrument(skip(db))]
pub async fn events_after(db: impl PgExecutor<'_>, gameday_id: Uuid, after: i64) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as!(
        Event,
        r#"
        select e.seq, e.at, e.observed_at, e.actor, u.display_name as "actor_name?", e.kind, e.scenario_id,
               r.title as "scenario_title?", e.body, e.data
        from timeline_events e
        left join users u on u.id = e.actor
        left join scenarios s on s.id = e.scenario_id
        left join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
        where e.gameday_id = $1 and e.seq > $2
        order by e.seq
        "#,
        gameday_id,
        after
    )
    .fetch_all(db)
    .await
}

/// Every event of a game day, in order.
pub async fn events(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<Vec<Event>> {
    events_after(db, gameday_id, 0).await
}

/// One event of a game day.
#[tracing::instrument(skip(db))]
pub async fn event(db: impl PgExecutor<'_>, gameday_id: Uuid, seq: i64) -> sqlx::Result<Option<Event>> {
    sqlx::query_as!(
        Event,
        r#"
        select e.seq, e.at, e.observed_at, e.actor, u.display_name as "actor_name?", e.kind, e.scenario_id,
               null::text as "scenario_title?", e.body, e.data
        from timeline_events e left join users u on u.id = e.actor
        where e.gameday_id = $1 and e.seq = $2
        "#,
        gameday_id,
        seq
    )
    .fetch_optional(db)
    .await
}

/// When a scenario of the game day was first injected, if it was.
#[tracing::instrument(skip(db))]
pub async fn injected_at(
    db: impl PgExecutor<'_>,
    gameday_id: Uuid,
    scenario_id: Uuid,
) -> sqlx::Result<Option<OffsetDateTime>> {
    sqlx::query_scalar!(
        "select min(coalesce(observed_at, at)) from timeline_events
         where gameday_id = $1 and scenario_id = $2 and kind = 'scenario_injected'",
        gameday_id,
        scenario_id
    )
    .fetch_one(db)
    .await
}

/// The last sequence number of each of these game days.
#[tracing::instrument(skip(db))]
pub async fn last_seqs(db: impl PgExecutor<'_>, gameday_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, i64)>> {
    let rows =
        sqlx::query!("select id, last_event_seq from gamedays where id = any($1)", gameday_ids).fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.last_event_seq)).collect())
}

/// When each of these game days last changed: the time of its latest timeline event (every
/// change to a game day records one, starting with its creation).
#[tracing::instrument(skip(db))]
pub async fn last_changed(db: impl PgExecutor<'_>, gameday_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, OffsetDateTime)>> {
    let rows = sqlx::query!(
        r#"
        select g.id, e.at
        from gamedays g
        join timeline_events e on e.gameday_id = g.id and e.seq = g.last_event_seq
        where g.id = any($1)
        "#,
        gameday_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.at)).collect())
}

/// An event with where it happened: for telling people in the team, wherever they are.
#[derive(Debug, Clone)]
pub struct EventPlace {
    pub gameday_id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub team_id: Uuid,
    pub team_slug: String,
    pub team_name: String,
    pub gameday_title: String,
    pub scenario_id: Option<Uuid>,
    pub scenario_title: Option<String>,
}

/// These events (by game day and sequence number), with their team, game day and scenario.
#[tracing::instrument(skip_all)]
pub async fn event_places(db: &PgPool, events: &[(Uuid, i64)]) -> sqlx::Result<Vec<EventPlace>> {
    let (gamedays, seqs): (Vec<Uuid>, Vec<i64>) = events.iter().copied().unzip();
    sqlx::query_as!(
        EventPlace,
        r#"
        select e.gameday_id, e.seq, e.kind, g.team_id, t.slug as team_slug, t.name as team_name,
               g.title as gameday_title, e.scenario_id, r.title as "scenario_title?"
        from unnest($1::uuid[], $2::bigint[]) as w (gameday_id, seq)
        join timeline_events e on e.gameday_id = w.gameday_id and e.seq = w.seq
        join gamedays g on g.id = e.gameday_id
        join teams t on t.id = g.team_id
        left join scenarios s on s.id = e.scenario_id
        left join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
        order by e.gameday_id, e.seq
        "#,
        &gamedays,
        &seqs
    )
    .fetch_all(db)
    .await
}

/// At most `limit` events of a game day after `after`, in order: a live stream that is far
/// behind reads what it missed in steps of this size, as its client takes them.
#[tracing::instrument(skip(db))]
pub async fn events_after_limited(
    db: impl PgExecutor<'_>,
    gameday_id: Uuid,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as!(
        Event,
        r#"
        select e.seq, e.at, e.observed_at, e.actor, u.display_name as "actor_name?", e.kind, e.scenario_id,
               r.title as "scenario_title?", e.body, e.data
        from timeline_events e
        left join users u on u.id = e.actor
        left join scenarios s on s.id = e.scenario_id
        left join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
        where e.gameday_id = $1 and e.seq > $2
        order by e.seq
        limit $3
        "#,
        gameday_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
}
