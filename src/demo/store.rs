//! The demo builder's clock: the session setting every recorded time reads (`gameday_now()`,
//! `gameday_clock()`), set only on the builder's own connection; and what a person already made.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::teams::Team;

/// From now on this connection's changes are recorded at `at` (None: the real clock again).
#[tracing::instrument(skip(db))]
pub async fn set_clock(db: impl PgExecutor<'_>, at: Option<OffsetDateTime>) -> sqlx::Result<()> {
    let at = at.and_then(|at| at.format(&Rfc3339).ok()).unwrap_or_default();
    sqlx::query_scalar!("select set_config('gameday.now', $1, false)", at).fetch_one(db).await?;
    Ok(())
}

/// Lifts the pool's per-statement limits on the builder's own connection: making a demo takes a
/// second or two, and a second press waits for the first (those limits are for requests).
#[tracing::instrument(skip(db))]
pub async fn unbounded_waits(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query_scalar!(
        "select set_config('lock_timeout', '30s', false) || set_config('statement_timeout', '30s', false)"
    )
    .fetch_one(db)
    .await?;
    Ok(())
}

/// Waits for, then holds until the connection closes, the right to make `person`'s demo (two
/// presses of the button at once make one team).
#[tracing::instrument(skip(db))]
pub async fn lock_person(db: impl PgExecutor<'_>, person: Uuid) -> sqlx::Result<()> {
    sqlx::query_scalar!("select pg_advisory_lock(hashtext('gameday.demo'), hashtext($1::text))", person.to_string())
        .fetch_one(db)
        .await?;
    Ok(())
}

/// The demo team `person` leads and has not archived, if any.
#[tracing::instrument(skip(db))]
pub async fn active_demo(db: impl PgExecutor<'_>, person: Uuid) -> sqlx::Result<Option<Team>> {
    sqlx::query_as!(
        Team,
        r#"select t.id, t.name, t.slug from teams t join team_members m on m.team_id = t.id and m.user_id = $1
           where t.demo and t.archived_at is null and m.role = 'lead' order by t.created_at desc limit 1"#,
        person
    )
    .fetch_optional(db)
    .await
}

/// How many demo teams `person` has made, archived ones included.
#[tracing::instrument(skip(db))]
pub async fn demos_made(db: impl PgExecutor<'_>, person: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from teams where demo and created_by = $1"#, person)
        .fetch_one(db)
        .await
}

/// The titles of the team's running game days (a team with one is not archived).
#[tracing::instrument(skip(db))]
pub async fn running_gamedays(db: impl PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select title from gamedays where team_id = $1 and status = 'running' order by title", team_id)
        .fetch_all(db)
        .await
}

/// The team's scheduled game days (a team with one is not archived).
#[tracing::instrument(skip(db))]
pub async fn scheduled_gamedays(db: impl PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from gamedays where team_id = $1 and status = 'scheduled' order by starts_at",
        team_id
    )
    .fetch_all(db)
    .await
}
