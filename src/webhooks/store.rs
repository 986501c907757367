//! SQL for webhooks and their outbox.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A team's webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    pub kinds: Vec<String>,
}

#[tracing::instrument(skip(conn, url, secret))]
pub async fn create(
    conn: &mut PgConnection,
    team_id: Uuid,
    url: &str,
    secret: &str,
    kinds: &[String],
    by: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into webhooks (id, team_id, url, secret, kinds, created_by) values ($1, $2, $3, $4, $5, $6)",
        id,
        team_id,
        url,
        secret,
        kinds,
        by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

#[tracing::instrument(skip(db))]
pub async fn of_team(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<Webhook>> {
    sqlx::query_as!(
        Webhook,
        "select id, url, secret, kinds from webhooks where team_id = $1 order by created_at",
        team_id
    )
    .fetch_all(db)
    .await
}

/// One webhook of the team (none for another team's).
#[tracing::instrument(skip(db))]
pub async fn of_team_by_id(db: &PgPool, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<Webhook>> {
    sqlx::query_as!(Webhook, "select id, url, secret, kinds from webhooks where id = $1 and team_id = $2", id, team_id)
        .fetch_optional(db)
        .await
}

/// Deletes a webhook of the team and returns its URL; None if the team has no such webhook.
#[tracing::instrument(skip(conn))]
pub async fn delete(conn: &mut PgConnection, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("delete from webhooks where id = $1 and team_id = $2 returning url", id, team_id)
        .fetch_optional(conn)
        .await
}

/// Writes an outbox row for every webhook of the game day's team that wants this kind of
/// event, inside the transaction that appends the event.
#[tracing::instrument(skip(conn, body))]
pub async fn enqueue(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    seq: i64,
    kind: &str,
    body: &str,
    scenario_id: Option<Uuid>,
) -> sqlx::Result<u64> {
    let result = sqlx::query!(
        r#"
        insert into webhook_deliveries (webhook_id, gameday_id, seq, kind, payload)
        select w.id, g.id, $2::bigint, $3::text,
               jsonb_build_object(
                   -- Slack's control characters are escaped: a halt reason cannot ping a channel.
                   'text', replace(replace(replace('[' || t.name || ' · ' || g.title || '] ' || $4::text,
                                                   '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                   'team', jsonb_build_object('name', t.name, 'slug', t.slug),
                   'gameday', jsonb_build_object('id', g.id, 'title', g.title, 'status', g.status),
                   'event', jsonb_build_object('seq', $2::bigint, 'kind', $3::text, 'body', $4::text, 'scenario_id', $5::uuid,
                                               'at', to_char(now() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
        from gamedays g
        join teams t on t.id = g.team_id
        join webhooks w on w.team_id = g.team_id and $3::text = any(w.kinds)
        where g.id = $1
        "#,
        gameday_id,
        seq,
        kind,
        body,
        scenario_id
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// A delivery claimed by a worker.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Serialises claiming across instances until the transaction ends, so two workers never both
/// count a team below its cap of deliveries in flight and together go past it.
#[tracing::instrument(skip(conn))]
pub async fn lock_claims(conn: &mut PgConnection) -> sqlx::Result<()> {
    // A fixed key that nothing else locks.
    sqlx::query!("select pg_advisory_xact_lock(7104202611)").execute(conn).await?;
    Ok(())
}

/// Claims up to `limit` due deliveries, oldest first, but no more of one team's than keeps its
/// deliveries in flight at `per_team` or below, for `lease`: they are in flight until their
/// outcome is recorded or the lease runs out, and their next attempt moves past the lease, so
/// another worker (or this one after a crash) retries them only if this one never reports.
/// Call it under [`lock_claims`].
#[tracing::instrument(skip(conn))]
pub async fn claim_due(conn: &mut PgConnection, limit: i64, per_team: i64, lease_ms: i64) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as!(
        Due,
        r#"
        with in_flight as (
            select w.team_id, count(*) as n
            from webhook_deliveries d join webhooks w on w.id = d.webhook_id
            where d.status = 'pending' and d.claimed_until > now()
            group by w.team_id
        ),
        ranked as (
            select d.id, w.team_id, row_number() over (partition by w.team_id order by d.id) as place
            from webhook_deliveries d join webhooks w on w.id = d.webhook_id
            where d.status = 'pending' and d.next_attempt_at <= now()
        ),
        due as (
            select r.id
            from ranked r left join in_flight f on f.team_id = r.team_id
            where r.place <= $2 - coalesce(f.n, 0)
            order by r.id
            limit $1
        )
        update webhook_deliveries d
        set attempts = d.attempts + 1,
            next_attempt_at = now() + make_interval(secs => $3::float8 / 1000),
            claimed_until = now() + make_interval(secs => $3::float8 / 1000)
        from due, webhooks w
        where d.id = due.id and w.id = d.webhook_id
        returning d.id, w.url, w.secret, d.payload, d.attempts
        "#,
        limit,
        per_team,
        lease_ms as f64
    )
    .fetch_all(conn)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn delivered(db: &PgPool, id: i64, status: i32) -> sqlx::Result<()> {
    sqlx::query!(
        "update webhook_deliveries set status = 'delivered', delivered_at = now(), last_status = $2, last_error = null, claimed_until = null where id = $1",
        id,
        status
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or given up when `give_up`.
#[tracing::instrument(skip(db, error))]
pub async fn attempt_failed(
    db: &PgPool,
    id: i64,
    status: Option<i32>,
    error: &str,
    retry_at: OffsetDateTime,
    give_up: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update webhook_deliveries
        set last_status = $2, last_error = $3, next_attempt_at = $4, claimed_until = null,
            status = case when $5 then 'failed'::delivery_status else status end
        where id = $1
        "#,
        id,
        status,
        error,
        retry_at,
        give_up
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records a test delivery, already sent, in the delivery log: delivered when the receiver
/// accepted it, failed otherwise (never pending, so the worker leaves it alone).
#[tracing::instrument(skip(db, payload, error))]
pub async fn record_test(
    db: &PgPool,
    webhook_id: Uuid,
    payload: &serde_json::Value,
    accepted: bool,
    status: Option<i32>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into webhook_deliveries (webhook_id, kind, payload, status, attempts, last_status, last_error, delivered_at)
        values ($1, 'test', $2, case when $3 then 'delivered'::delivery_status else 'failed'::delivery_status end,
                1, $4, $5, case when $3 then now() end)
        "#,
        webhook_id,
        payload,
        accepted,
        status,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A line of the delivery log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub id: i64,
    pub url: String,
    /// The event's number in its game day (none for a test delivery).
    pub seq: Option<i64>,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
}

/// The latest deliveries of the team's webhooks.
#[tracing::instrument(skip(db))]
pub async fn log(db: &PgPool, team_id: Uuid, limit: i64) -> sqlx::Result<Vec<LogLine>> {
    sqlx::query_as!(
        LogLine,
        r#"
        select d.id, w.url, d.seq, d.kind, d.status::text as "status!", d.attempts, d.last_status, d.last_error,
               d.created_at, d.delivered_at
        from webhook_deliveries d join webhooks w on w.id = d.webhook_id
        where w.team_id = $1
        order by d.id desc
        limit $2
        "#,
        team_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Sets a webhook's signing secret; its URL, or None if the team has no such webhook.
#[tracing::instrument(skip(conn, secret))]
pub async fn set_secret(
    conn: &mut PgConnection,
    team_id: Uuid,
    id: Uuid,
    secret: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update webhooks set secret = $3 where id = $1 and team_id = $2 returning url",
        id,
        team_id,
        secret
    )
    .fetch_optional(conn)
    .await
}

/// How many webhooks a team has, its team row locked so two adds cannot both pass the cap.
#[tracing::instrument(skip(conn))]
pub async fn count_locked(conn: &mut PgConnection, team_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query!("select id from teams where id = $1 for update", team_id).fetch_optional(&mut *conn).await?;
    sqlx::query_scalar!(r#"select count(*) as "n!" from webhooks where team_id = $1"#, team_id).fetch_one(conn).await
}

/// How many deliveries wait to be sent (due now or retrying later), for `/metrics`.
#[tracing::instrument(skip(db))]
pub async fn pending_count(db: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from webhook_deliveries where status = 'pending'"#)
        .fetch_one(db)
        .await
}
