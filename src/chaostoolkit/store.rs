//! SQL for Chaos Toolkit documents: the experiment a scenario revision carries, and the journals
//! brought onto a scenario's timeline (each once).

use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::scenarios::gate::Outcome;

/// The experiment a revision carries, and the notes on its import.
#[derive(Debug, Clone)]
pub struct StoredExperiment {
    pub document: Value,
    pub notes: Value,
}

/// The experiment of revision `revision` of a scenario, if it carries one.
#[tracing::instrument(skip(db))]
pub async fn experiment(
    db: impl PgExecutor<'_>,
    scenario_id: Uuid,
    revision: i32,
) -> sqlx::Result<Option<StoredExperiment>> {
    let row = sqlx::query!(
        r#"
        select experiment as "document!", coalesce(experiment_notes, '{}') as "notes!"
        from scenario_revisions
        where scenario_id = $1 and revision = $2 and experiment is not null
        "#,
        scenario_id,
        revision
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| StoredExperiment { document: r.document, notes: r.notes }))
}

/// A journal about to be brought onto a scenario's timeline.
#[derive(Debug, Clone)]
pub struct NewJournal<'a> {
    pub scenario_id: Uuid,
    pub gameday_id: Uuid,
    pub digest: &'a str,
    pub experiment_title: &'a str,
    pub status: &'a str,
    pub deviated: bool,
    pub proposal: Outcome,
    pub proposal_reason: &'a str,
    pub started_at: OffsetDateTime,
    pub entries: i32,
    pub imported_by: Uuid,
}

/// Records that a journal is imported; false (and nothing written) when this scenario already
/// has it, even if another import of it is committing at the same moment.
#[tracing::instrument(skip(conn, journal), fields(digest = journal.digest))]
pub async fn insert_journal(conn: &mut PgConnection, journal: &NewJournal<'_>) -> sqlx::Result<bool> {
    let inserted = sqlx::query_scalar!(
        r#"
        insert into imported_journals (scenario_id, digest, gameday_id, experiment_title, status, deviated, proposal,
            proposal_reason, started_at, entries, imported_by)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        on conflict (scenario_id, digest) do nothing
        returning 1 as "one!"
        "#,
        journal.scenario_id,
        journal.digest,
        journal.gameday_id,
        journal.experiment_title,
        journal.status,
        journal.deviated,
        journal.proposal as Outcome,
        journal.proposal_reason,
        journal.started_at,
        journal.entries,
        journal.imported_by,
    )
    .fetch_optional(conn)
    .await?;
    Ok(inserted.is_some())
}

/// A journal brought onto a scenario's timeline.
#[derive(Debug, Clone)]
pub struct ImportedJournal {
    pub digest: String,
    pub experiment_title: String,
    pub status: String,
    pub deviated: bool,
    pub proposal: Outcome,
    pub proposal_reason: String,
    pub started_at: OffsetDateTime,
    pub entries: i32,
    pub imported_by: String,
    pub imported_at: OffsetDateTime,
}

/// The journals imported onto a scenario, newest first.
#[tracing::instrument(skip(db))]
pub async fn journals(db: impl PgExecutor<'_>, scenario_id: Uuid) -> sqlx::Result<Vec<ImportedJournal>> {
    sqlx::query_as!(
        ImportedJournal,
        r#"
        select j.digest, j.experiment_title, j.status, j.deviated, j.proposal as "proposal: Outcome",
               j.proposal_reason, j.started_at, j.entries, u.display_name as imported_by, j.imported_at
        from imported_journals j
        join users u on u.id = j.imported_by
        where j.scenario_id = $1
        order by j.imported_at desc, j.started_at desc
        "#,
        scenario_id
    )
    .fetch_all(db)
    .await
}
