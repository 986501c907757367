//! SQL for retrospectives, their notes and read receipts.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{RetroForm, RetroStatus};

#[derive(Debug, Clone)]
pub struct Retro {
    pub gameday_id: Uuid,
    pub status: RetroStatus,
    pub summary: String,
    pub went_well: String,
    pub surprised_us: String,
    pub published_at: Option<OffsetDateTime>,
}

/// The retrospective of a game day; an empty draft when nobody has written any yet (reading
/// writes nothing: the row is made by the first change, under its lock).
#[tracing::instrument(skip(db))]
pub async fn get_or_create(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<Retro> {
    let found = sqlx::query_as!(
        Retro,
        r#"select gameday_id, status as "status: RetroStatus", summary, went_well, surprised_us, published_at
           from retrospectives where gameday_id = $1"#,
        gameday_id
    )
    .fetch_optional(db)
    .await?;
    Ok(found.unwrap_or(Retro {
        gameday_id,
        status: RetroStatus::Draft,
        summary: String::new(),
        went_well: String::new(),
        surprised_us: String::new(),
        published_at: None,
    }))
}

/// Locks the retrospective's row for this transaction.
#[tracing::instrument(skip(conn))]
pub async fn lock(conn: &mut PgConnection, gameday_id: Uuid) -> sqlx::Result<Retro> {
    sqlx::query!("insert into retrospectives (gameday_id) values ($1) on conflict do nothing", gameday_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as!(
        Retro,
        r#"select gameday_id, status as "status: RetroStatus", summary, went_well, surprised_us, published_at
           from retrospectives where gameday_id = $1 for update"#,
        gameday_id
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip(conn, form))]
pub async fn save(conn: &mut PgConnection, gameday_id: Uuid, form: &RetroForm) -> sqlx::Result<()> {
    sqlx::query!(
        "update retrospectives set summary = $2, went_well = $3, surprised_us = $4, updated_at = gameday_now() where gameday_id = $1",
        gameday_id,
        form.summary,
        form.went_well,
        form.surprised_us
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(conn))]
pub async fn set_status(conn: &mut PgConnection, gameday_id: Uuid, status: RetroStatus, by: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update retrospectives
        set status = $2,
            published_at = case when $2 = 'published'::retro_status then gameday_now() else published_at end,
            published_by = case when $2 = 'published'::retro_status then $3 else published_by end,
            updated_at = gameday_now()
        where gameday_id = $1
        "#,
        gameday_id,
        status as RetroStatus,
        by
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(conn, observed))]
pub async fn set_observed_impact(conn: &mut PgConnection, scenario_id: Uuid, observed: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"insert into retro_observed_impacts (scenario_id, observed_impact) values ($1, $2)
           on conflict (scenario_id) do update set observed_impact = excluded.observed_impact"#,
        scenario_id,
        observed
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Observed impacts of the game day's scenarios: (scenario id, text).
#[tracing::instrument(skip(db))]
pub async fn observed_impacts(db: &PgPool, gameday_id: Uuid) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        r#"select o.scenario_id, o.observed_impact from retro_observed_impacts o
           join scenarios s on s.id = o.scenario_id where s.gameday_id = $1"#,
        gameday_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.scenario_id, r.observed_impact)).collect())
}

#[derive(Debug, Clone)]
pub struct Note {
    pub kind: String,
    pub author: String,
    pub body: String,
    pub created_at: OffsetDateTime,
}

#[tracing::instrument(skip(conn, body))]
pub async fn add_note(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    kind: &str,
    author: Uuid,
    body: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into retro_notes (gameday_id, kind, author, body) values ($1, $2::text::retro_note_kind, $3, $4)",
        gameday_id,
        kind,
        author,
        body
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(db))]
pub async fn notes(db: &PgPool, gameday_id: Uuid) -> sqlx::Result<Vec<Note>> {
    sqlx::query_as!(
        Note,
        r#"select n.kind::text as "kind!", u.display_name as author, n.body, n.created_at
           from retro_notes n join users u on u.id = n.author
           where n.gameday_id = $1 order by n.id"#,
        gameday_id
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn mark_read(db: &PgPool, gameday_id: Uuid, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into retro_reads (gameday_id, user_id) values ($1, $2) on conflict do nothing",
        gameday_id,
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Who has read it: (name, when), and whether `me` has.
#[tracing::instrument(skip(db))]
pub async fn readers(db: &PgPool, gameday_id: Uuid) -> sqlx::Result<Vec<(Uuid, String, OffsetDateTime)>> {
    let rows = sqlx::query!(
        r#"select r.user_id, u.display_name, r.read_at from retro_reads r join users u on u.id = r.user_id
           where r.gameday_id = $1 order by r.read_at"#,
        gameday_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.user_id, r.display_name, r.read_at)).collect())
}
