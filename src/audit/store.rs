//! SQL for the team audit log: one insert, in the caller's transaction, and the page that reads it.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AuditKind, NewEntry};

/// Writes an entry inside the caller's transaction: the change it records and the entry commit
/// or roll back together.
#[tracing::instrument(skip(conn, entry), fields(kind = ?entry.kind))]
pub async fn record(conn: &mut PgConnection, entry: NewEntry) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into team_audit (team_id, actor, kind, body, detail) values ($1, $2, $3, $4, $5)",
        entry.team_id,
        entry.actor,
        entry.kind as AuditKind,
        entry.body,
        entry.detail
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An entry as the log page shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub at: OffsetDateTime,
    pub kind: AuditKind,
    pub body: String,
    /// Who acted, by their name now (the sentence keeps the name they had then).
    pub actor_name: String,
}

/// Up to `limit` of the team's entries, newest first, older than entry `before` if given.
#[tracing::instrument(skip(db))]
pub async fn entries(db: &PgPool, team_id: Uuid, before: Option<i64>, limit: i64) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as!(
        Entry,
        r#"
        select a.id, a.at, a.kind as "kind: AuditKind", a.body, u.display_name as actor_name
        from team_audit a join users u on u.id = a.actor
        where a.team_id = $1 and ($2::bigint is null or a.id < $2)
        order by a.id desc
        limit $3
        "#,
        team_id,
        before,
        limit
    )
    .fetch_all(db)
    .await
}
