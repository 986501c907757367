//! SQL for weaknesses, incidents and the scenario checks that use them.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::WeaknessStatus;

#[derive(Debug, Clone)]
pub struct Weakness {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub status: WeaknessStatus,
    pub found_in_scenario: Option<Uuid>,
    pub created_at: OffsetDateTime,
}

#[tracing::instrument(skip(db))]
pub async fn weaknesses(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<Weakness>> {
    sqlx::query_as!(
        Weakness,
        r#"select id, title, description, status as "status: WeaknessStatus", found_in_scenario, created_at
           from weaknesses where team_id = $1 order by status, created_at desc"#,
        team_id
    )
    .fetch_all(db)
    .await
}

/// A page of the team's weaknesses in the register's order (open ones first, then newest
/// first): those after the weakness `before` (the last of the page before) when given, at most
/// `limit`. Keyed by (status, creation, id), so a weakness added meanwhile moves no other one
/// between pages.
#[tracing::instrument(skip(db))]
pub async fn weaknesses_page(
    db: &PgPool,
    team_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Weakness>> {
    sqlx::query_as!(
        Weakness,
        r#"select w.id, w.title, w.description, w.status as "status: WeaknessStatus", w.found_in_scenario, w.created_at
           from weaknesses w
           left join weaknesses c on c.id = $2 and c.team_id = $1
           where w.team_id = $1
             and ($2::uuid is null
                  or w.status > c.status
                  or (w.status = c.status and (w.created_at, w.id) < (c.created_at, c.id)))
           order by w.status, w.created_at desc, w.id desc
           limit $3"#,
        team_id,
        before,
        limit
    )
    .fetch_all(db)
    .await
}

/// One of the team's weaknesses.
#[tracing::instrument(skip(db))]
pub async fn weakness(db: &PgPool, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<Weakness>> {
    sqlx::query_as!(
        Weakness,
        r#"select id, title, description, status as "status: WeaknessStatus", found_in_scenario, created_at
           from weaknesses where id = $1 and team_id = $2"#,
        id,
        team_id
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip(conn, description))]
pub async fn create_weakness(
    conn: &mut PgConnection,
    team_id: Uuid,
    title: &str,
    description: &str,
    found_in_scenario: Option<Uuid>,
    by: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into weaknesses (id, team_id, title, description, found_in_scenario, created_by) values ($1, $2, $3, $4, $5, $6)",
        id,
        team_id,
        title,
        description,
        found_in_scenario,
        by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// The game days with a scenario linked to the weakness that is not concluded yet, their rows
/// locked (in id order, before the weakness: the order a scenario's transitions take them) so
/// a change to the weakness can be recorded on their timelines.
#[tracing::instrument(skip(conn))]
pub async fn lock_gamedays_linked_to(
    conn: &mut PgConnection,
    team_id: Uuid,
    weakness: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        r#"select g.id from gamedays g
           where g.team_id = $1
             and exists (select 1 from scenarios s where s.gameday_id = g.id and s.weakness_id = $2 and s.state <> 'concluded')
           order by g.id for update of g"#,
        team_id,
        weakness
    )
    .fetch_all(conn)
    .await
}

/// A scenario linked to a weakness that is not concluded yet: (game day, scenario, title).
#[tracing::instrument(skip(conn))]
pub async fn open_scenarios_linked_to(
    conn: &mut PgConnection,
    weakness: Uuid,
) -> sqlx::Result<Vec<(Uuid, Uuid, String)>> {
    let rows = sqlx::query!(
        r#"select s.gameday_id, s.id, r.title from scenarios s
           join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
           where s.weakness_id = $1 and s.state <> 'concluded' order by s.gameday_id, s.position"#,
        weakness
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.gameday_id, r.id, r.title)).collect())
}

/// The team's weakness as a change to its status needs it: (title, status), its row locked
/// until the transaction ends.
#[tracing::instrument(skip(conn))]
pub async fn lock_weakness(
    conn: &mut PgConnection,
    team_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<(String, WeaknessStatus)>> {
    let row = sqlx::query!(
        r#"select title, status as "status: WeaknessStatus" from weaknesses where id = $1 and team_id = $2 for update"#,
        id,
        team_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.title, r.status)))
}

#[tracing::instrument(skip(conn))]
pub async fn set_weakness_status(
    conn: &mut PgConnection,
    team_id: Uuid,
    id: Uuid,
    status: WeaknessStatus,
) -> sqlx::Result<bool> {
    let result = sqlx::query!(
        r#"update weaknesses set status = $3,
             mitigated_at = case when $3 = 'mitigated'::weakness_status then gameday_now() else null end
           where id = $1 and team_id = $2
             and not exists (select 1 from scenarios where weakness_id = $1 and is_in_flight(state))"#,
        id,
        team_id,
        status as WeaknessStatus
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The scenario's linked weakness: (title, open?), its row locked against status changes
/// until the transaction ends.
#[tracing::instrument(skip(db))]
pub async fn linked_weakness(db: impl PgExecutor<'_>, scenario_id: Uuid) -> sqlx::Result<Option<(Uuid, String, bool)>> {
    let row = sqlx::query!(
        r#"select w.id, w.title, w.status = 'open' as "open!" from scenarios s join weaknesses w on w.id = s.weakness_id
           where s.id = $1 for share of w"#,
        scenario_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.title, r.open)))
}

/// Whether anyone has signed the scenario's current revision.
#[tracing::instrument(skip(conn))]
pub async fn has_signoffs(conn: &mut PgConnection, scenario_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from signoffs o join scenarios s on s.id = o.scenario_id and o.revision = s.current_revision
                          where s.id = $1) as "signed!""#,
        scenario_id
    )
    .fetch_one(conn)
    .await
}

/// Links a scenario to one of the team's weaknesses (or unlinks it).
#[tracing::instrument(skip(conn))]
pub async fn link_weakness(
    conn: &mut PgConnection,
    team_id: Uuid,
    scenario_id: Uuid,
    weakness: Option<Uuid>,
) -> sqlx::Result<bool> {
    if let Some(w) = weakness {
        let ours = sqlx::query_scalar!(
            r#"select exists (select 1 from weaknesses where id = $1 and team_id = $2) as "ours!""#,
            w,
            team_id
        )
        .fetch_one(&mut *conn)
        .await?;
        if !ours {
            return Ok(false);
        }
    }
    sqlx::query!("update scenarios set weakness_id = $2 where id = $1", scenario_id, weakness).execute(conn).await?;
    Ok(true)
}

#[derive(Debug, Clone)]
pub struct Incident {
    pub id: Uuid,
    pub title: String,
    pub happened_on: Date,
    pub summary: String,
    pub link: Option<String>,
}

#[tracing::instrument(skip(db))]
pub async fn incidents(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<Incident>> {
    sqlx::query_as!(
        Incident,
        "select id, title, happened_on, summary, link from incidents where team_id = $1 order by happened_on desc",
        team_id
    )
    .fetch_all(db)
    .await
}

/// A page of the team's incidents, latest first: those after the incident `before` (the last of
/// the page before) when given, at most `limit`. Keyed by (date, id).
#[tracing::instrument(skip(db))]
pub async fn incidents_page(
    db: &PgPool,
    team_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Incident>> {
    sqlx::query_as!(
        Incident,
        r#"select i.id, i.title, i.happened_on, i.summary, i.link from incidents i
           where i.team_id = $1
             and ($2::uuid is null
                  or (i.happened_on, i.id)
                     < (select c.happened_on, c.id from incidents c where c.id = $2 and c.team_id = $1))
           order by i.happened_on desc, i.id desc
           limit $3"#,
        team_id,
        before,
        limit
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn incident(db: &PgPool, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<Incident>> {
    sqlx::query_as!(
        Incident,
        "select id, title, happened_on, summary, link from incidents where id = $1 and team_id = $2",
        id,
        team_id
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip(conn, summary))]
pub async fn create_incident(
    conn: &mut PgConnection,
    team_id: Uuid,
    title: &str,
    happened_on: Date,
    summary: &str,
    link: Option<&str>,
    by: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into incidents (id, team_id, title, happened_on, summary, link, created_by) values ($1, $2, $3, $4, $5, $6, $7)",
        id,
        team_id,
        title,
        happened_on,
        summary,
        link,
        by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

#[tracing::instrument(skip(conn))]
pub async fn link_incident(conn: &mut PgConnection, scenario_id: Uuid, incident: Uuid) -> sqlx::Result<()> {
    sqlx::query!("update scenarios set incident_id = $2 where id = $1", scenario_id, incident).execute(conn).await?;
    Ok(())
}

/// The incident a scenario replays: (id, title).
#[tracing::instrument(skip(db))]
pub async fn linked_incident(db: &PgPool, scenario_id: Uuid) -> sqlx::Result<Option<(Uuid, String, Option<String>)>> {
    let row = sqlx::query!(
        "select i.id, i.title, i.link from scenarios s join incidents i on i.id = s.incident_id where s.id = $1",
        scenario_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.title, r.link)))
}
