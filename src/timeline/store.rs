//! SQL for the timeline.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Event, NewEvent};
use crate::gamedays::GamedayStatus;

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
        insert into timeline_events (gameday_id, seq, actor, kind, scenario_id, body, body_html, data, observed_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        "#,
        event.gameday_id,
        seq,
        event.actor,
        event.kind.as_str(),
        event.scenario_id,
        event.body,
        event.body_html,
        event.data,
        observed_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

/// An observation to record in a batch.
#[derive(Debug, Clone)]
pub struct ObservationRow {
    pub actor: Uuid,
    pub scenario_id: Option<Uuid>,
    pub body: String,
    pub body_html: Option<String>,
    pub data: serde_json::Value,
    pub observed_at: Option<OffsetDateTime>,
}

/// What recording a batch found: the game day's status under its lock (None: no such game day),
/// and (index in the batch, sequence number) of each observation recorded.
pub struct RecordedBatch {
    pub status: Option<GamedayStatus>,
    pub recorded: Vec<(usize, i64)>,
}

/// Records a batch of observations on a game day in one round trip, its own transaction (the
/// commit included), through the database function `record_observations`: it locks the game
/// day's row (the lock orders events in commit order, as every change to a game day does) and
/// reads its status under the lock; then, in a statement of its own (so with a snapshot taken
/// after the lock: a removal that committed while the batch waited counts), and only if that
/// status is one of `open`, numbers in order each observation whose author is on the game day
/// and in its team; one `NOTIFY` carries the last number (the live hub reads every event after
/// what it has sent). Observations not recorded: their authors are not on the game day, or the
/// status is not open.
pub async fn record_observations(
    db: impl PgExecutor<'_>,
    gameday_id: Uuid,
    rows: &[ObservationRow],
    open: &[GamedayStatus],
    channel: &str,
) -> sqlx::Result<RecordedBatch> {
    let actors: Vec<Uuid> = rows.iter().map(|r| r.actor).collect();
    let scenarios: Vec<Option<Uuid>> = rows.iter().map(|r| r.scenario_id).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    let htmls: Vec<Option<&str>> = rows.iter().map(|r| r.body_html.as_deref()).collect();
    let data: Vec<serde_json::Value> = rows.iter().map(|r| r.data.clone()).collect();
    let observed: Vec<Option<OffsetDateTime>> = rows.iter().map(|r| r.observed_at).collect();
    let found = sqlx::query!(
        r#"
        select status_found as "status!: GamedayStatus", place as "place?", seq_given as "seq?"
        from record_observations($1, $2, $3, $4, $5, $6, $7, $8, $9)
        "#,
        gameday_id,
        open as &[GamedayStatus],
        channel,
        &actors,
        &scenarios as &[Option<Uuid>],
        &bodies as &[&str],
        &htmls as &[Option<&str>],
        &data,
        &observed as &[Option<OffsetDateTime>],
    )
    .fetch_all(db)
    .await?;
    Ok(RecordedBatch {
        status: found.first().map(|r| r.status),
        recorded: found.iter().filter_map(|r| Some((r.place? as usize - 1, r.seq?))).collect(),
    })
}

/// The events of a game day after `after` (0 for all), in order.
pub async fn events_after(db: impl PgExecutor<'_>, gameday_id: Uuid, after: i64) -> sqlx::Result<Vec<Event>> {
    events_after_limited(db, gameday_id, after, i64::MAX).await
}

/// Every event of a game day, in order.
pub async fn events(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<Vec<Event>> {
    events_after(db, gameday_id, 0).await
}

/// The events a game day's derived views need, in order: every step of each fault's life and
/// every marked observation (timings, banners, the picture, escalations), and each journal's
/// import (the outcome it proposes). Their number grows
/// with the scenarios and the markers, not with the observations, so a page can read them and
/// a window of recent events instead of the whole day. The predicate is the partial index
/// `timeline_events_key`'s.
#[tracing::instrument(skip(db))]
pub async fn key_events(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as!(
        Event,
        r#"
        select e.seq, e.at, e.observed_at, e.actor, u.display_name as "actor_name?", e.kind, e.scenario_id,
               null::text as "scenario_title?", e.body, e.body_html, e.data
        from timeline_events e
        left join users u on u.id = e.actor
        where e.gameday_id = $1
          and (e.kind in ('scenario_announced', 'scenario_injected', 'scenario_halted', 'scenario_rolled_back',
                          'scenario_concluded', 'journal_imported', 'health_checked', 'health_check_changed',
                          'steady_state_back', 'steady_state_not_back')
               or (e.kind = 'observation' and e.data ? 'marker'))
        order by e.seq
        "#,
        gameday_id
    )
    .fetch_all(db)
    .await
}

/// Which events a window shows: those before a sequence number, of a scenario, of some kinds.
#[derive(Debug, Clone, Default)]
pub struct WindowFilter {
    /// Only events before this sequence number (None: up to the latest).
    pub before: Option<i64>,
    pub scenario: Option<Uuid>,
    /// Only events of these kinds (empty: every kind).
    pub kinds: Vec<String>,
}

/// A window of a game day's events: the latest `size` that pass the filter, in order.
#[derive(Debug, Clone)]
pub struct Window {
    pub events: Vec<Event>,
    /// Corrections of the events shown that fall outside the window (they are shown with the
    /// event they correct).
    pub corrections: Vec<Event>,
    /// The sequence number to ask for earlier events with (`before`), if there are any.
    pub earlier: Option<i64>,
}

/// What a game-day page reads of its timeline: a window of events and the key events.
#[derive(Debug, Clone)]
pub struct DayEvents {
    pub window: Window,
    /// See [`key_events`].
    pub key: Vec<Event>,
}

/// The latest `size` events of a game day that pass `filter`, the corrections of them, and the
/// key events ([`key_events`]), in one statement: keyset pagination on the sequence number, so
/// an earlier page costs what the first one does, and each part read through its index.
#[tracing::instrument(skip(db))]
pub async fn day_events(
    db: impl PgExecutor<'_>,
    gameday_id: Uuid,
    filter: &WindowFilter,
    size: i64,
) -> sqlx::Result<DayEvents> {
    let rows = sqlx::query!(
        r#"
        with shown as (
            select seq from timeline_events
            where gameday_id = $1 and seq < $2
              and ($3::uuid is null or scenario_id = $3)
              and (cardinality($4::text[]) = 0 or kind = any($4))
            order by seq desc
            limit $5
        ),
        picked as (
            select seq from shown
            union
            select seq from timeline_events
            where gameday_id = $1 and kind = 'correction'
              and (data ->> 'corrects')::bigint = any(array(select seq from shown))
            union
            select seq from timeline_events
            where gameday_id = $1
              and (kind in ('scenario_announced', 'scenario_injected', 'scenario_halted', 'scenario_rolled_back',
                            'scenario_concluded', 'journal_imported', 'health_checked', 'health_check_changed',
                            'steady_state_back', 'steady_state_not_back')
                   or (kind = 'observation' and data ? 'marker'))
        )
        select e.seq, e.at, e.observed_at, e.actor, u.display_name as "actor_name?", e.kind, e.scenario_id,
               r.title as "scenario_title?", e.body, e.body_html, e.data,
               e.seq in (select seq from shown) as "shown!",
               (e.kind in ('scenario_announced', 'scenario_injected', 'scenario_halted', 'scenario_rolled_back',
                           'scenario_concluded', 'journal_imported', 'health_checked', 'health_check_changed',
                           'steady_state_back', 'steady_state_not_back')
                or (e.kind = 'observation' and e.data ? 'marker')) as "key!"
        from picked p
        join timeline_events e on e.gameday_id = $1 and e.seq = p.seq
        left join users u on u.id = e.actor
        left join scenarios s on s.id = e.scenario_id
        left join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
        order by e.seq
        "#,
        gameday_id,
        filter.before.unwrap_or(i64::MAX),
        filter.scenario,
        &filter.kinds,
        size + 1
    )
    .fetch_all(db)
    .await?;
    let mut events = Vec::new();
    let mut corrections = Vec::new();
    let mut key = Vec::new();
    for row in rows {
        let event = Event {
            seq: row.seq,
            at: row.at,
            observed_at: row.observed_at,
            actor: row.actor,
            actor_name: row.actor_name,
            kind: row.kind,
            scenario_id: row.scenario_id,
            scenario_title: row.scenario_title,
            body: row.body,
            body_html: row.body_html,
            data: row.data,
        };
        if row.key {
            key.push(event.clone());
        }
        if row.shown {
            events.push(event);
        } else if event.corrects().is_some() {
            corrections.push(event);
        }
    }
    // One more than the window was read: if it came, there are earlier events, and it is not shown.
    let earlier = if events.len() as i64 > size {
        let first = events.remove(0);
        corrections.retain(|c| c.corrects() != Some(first.seq));
        events.first().map(|e| e.seq)
    } else {
        None
    };
    Ok(DayEvents { window: Window { events, corrections, earlier }, key })
}

/// One event of a game day.
#[tracing::instrument(skip(db))]
pub async fn event(db: impl PgExecutor<'_>, gameday_id: Uuid, seq: i64) -> sqlx::Result<Option<Event>> {
    sqlx::query_as!(
        Event,
        r#"
        select e.seq, e.at, e.observed_at, e.actor, u.display_name as "actor_name?", e.kind, e.scenario_id,
               null::text as "scenario_title?", e.body, e.body_html, e.data
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
               r.title as "scenario_title?", e.body, e.body_html, e.data
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
