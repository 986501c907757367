//! SQL for sign-offs: where each required signer stands on a revision, recording a decision,
//! and what waits for someone's sign-off.

use std::collections::HashMap;

use serde::Deserialize;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::scenarios::{Decision, SignerStatus, Signoffs};

/// Where one required signer of a game day stands on one scenario's current revision (a row of
/// `signer_rows`).
#[derive(Debug, Clone, Deserialize)]
pub struct SignerRow {
    pub scenario_id: Uuid,
    pub revision: i32,
    pub user_id: Uuid,
    pub name: String,
    pub decision: Option<Decision>,
    pub reason: Option<String>,
}

/// Where every required signer of the game day stands on each scenario's current revision.
#[tracing::instrument(skip(db))]
pub async fn signoffs_of_gameday(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<HashMap<Uuid, Signoffs>> {
    let rows = sqlx::query_as!(
        SignerRow,
        r#"
        select scenario_id as "scenario_id!", revision as "revision!", user_id as "user_id!", name as "name!",
               decision as "decision: Decision", reason
        from signer_rows
        where gameday_id = $1
        order by position, lower(name)
        "#,
        gameday_id
    )
    .fetch_all(db)
    .await?;
    Ok(by_scenario(rows))
}

/// Signer rows (in their order) grouped by scenario.
pub fn by_scenario(rows: Vec<SignerRow>) -> HashMap<Uuid, Signoffs> {
    let mut by_scenario: HashMap<Uuid, Signoffs> = HashMap::new();
    for r in rows {
        by_scenario
            .entry(r.scenario_id)
            .or_insert_with(|| Signoffs { revision: r.revision, signers: Vec::new() })
            .signers
            .push(SignerStatus { user_id: r.user_id, name: r.name, decision: r.decision, reason: r.reason });
    }
    by_scenario
}

/// Where every required signer stands on `revision` of one scenario.
#[tracing::instrument(skip(db))]
pub async fn signoffs(
    db: impl PgExecutor<'_>,
    gameday_id: Uuid,
    scenario_id: Uuid,
    revision: i32,
) -> sqlx::Result<Signoffs> {
    let rows = sqlx::query!(
        r#"
        select p.user_id, u.display_name, o.decision as "decision?: Decision", o.reason as "reason?"
        from gameday_participants p
        join users u on u.id = p.user_id
        left join signoffs o on o.scenario_id = $2 and o.revision = $3 and o.user_id = p.user_id
        where p.gameday_id = $1 and is_required_signer(p.role)
        order by lower(u.display_name)
        "#,
        gameday_id,
        scenario_id,
        revision
    )
    .fetch_all(db)
    .await?;
    Ok(Signoffs {
        revision,
        signers: rows
            .into_iter()
            .map(|r| SignerStatus { user_id: r.user_id, name: r.display_name, decision: r.decision, reason: r.reason })
            .collect(),
    })
}

/// Records (or replaces) a signer's decision on a revision.
#[tracing::instrument(skip(conn))]
pub async fn record_signoff(
    conn: &mut PgConnection,
    scenario_id: Uuid,
    revision: i32,
    user_id: Uuid,
    decision: Decision,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into signoffs (scenario_id, revision, user_id, decision, reason)
        values ($1, $2, $3, $4, $5)
        on conflict (scenario_id, revision, user_id)
        do update set decision = excluded.decision, reason = excluded.reason, signed_at = gameday_now()
        "#,
        scenario_id,
        revision,
        user_id,
        decision as Decision,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A scenario waiting for someone's sign-off (a row of `awaiting_signoff_rows`).
#[derive(Debug, Clone, Deserialize)]
pub struct AwaitingSignoff {
    pub scenario_id: Uuid,
    pub title: String,
    pub revision: i32,
    pub gameday_id: Uuid,
    pub gameday_title: String,
    pub team_slug: String,
}

/// Proposed scenarios of open game days where the user is a required signer and has not signed
/// the current revision.
#[tracing::instrument(skip(db))]
pub async fn awaiting_signoff(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<AwaitingSignoff>> {
    sqlx::query_as!(
        AwaitingSignoff,
        r#"
        select scenario_id as "scenario_id!", title as "title!", revision as "revision!", gameday_id as "gameday_id!",
               gameday_title as "gameday_title!", team_slug as "team_slug!"
        from awaiting_signoff_rows
        where user_id = $1
        order by starts_at nulls last, position
        "#,
        user_id
    )
    .fetch_all(db)
    .await
}

/// An objection a signer has standing on the current revision of a scenario not yet concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingObjection {
    pub title: String,
    pub revision: i32,
    pub reason: String,
}

/// The objections `user_id` has standing on the current revisions of the game day's scenarios
/// that are not concluded, with those scenarios' rows locked (after the game day's lock, as
/// signing takes them) so none is concluded or revised while a role change counts them.
#[tracing::instrument(skip(conn))]
pub async fn standing_objections(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Vec<StandingObjection>> {
    sqlx::query_as!(
        StandingObjection,
        r#"
        select r.title, s.current_revision as revision, coalesce(o.reason, '') as "reason!"
        from scenarios s
        join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
        join signoffs o on o.scenario_id = s.id and o.revision = s.current_revision
        where s.gameday_id = $1 and o.user_id = $2 and o.decision = 'object' and s.state <> 'concluded'
        order by s.position
        for share of s
        "#,
        gameday_id,
        user_id
    )
    .fetch_all(conn)
    .await
}
