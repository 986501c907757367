//! SQL for scenarios and their revisions, and the run's state changes. Sign-offs: [`signoffs`].

pub mod signoffs;

use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::healthchecks::AttachedCheck;
use crate::scenarios::gate::{Outcome, ScenarioState};
use crate::scenarios::{BlastRadius, ScenarioFields};
use crate::teams::{NavTeam, TeamRole};

/// A scenario with its current revision's content (also read as a row of `current_scenarios`
/// in JSON, by the statements that read a whole page at once).
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "ScenarioRow")]
pub struct Scenario {
    pub id: Uuid,
    pub gameday_id: Uuid,
    pub position: i32,
    pub state: ScenarioState,
    pub outcome: Option<Outcome>,
    pub conclusion_note: Option<String>,
    pub revision: i32,
    pub fingerprint: String,
    pub fields: ScenarioFields,
    pub abort_owner_name: Option<String>,
}

#[derive(Deserialize)]
struct ScenarioRow {
    id: Uuid,
    gameday_id: Uuid,
    position: i32,
    state: ScenarioState,
    outcome: Option<Outcome>,
    conclusion_note: Option<String>,
    revision: i32,
    fingerprint: String,
    title: String,
    hypothesis: String,
    fault: String,
    target_system: String,
    blast_radius: Option<BlastRadius>,
    expected_impact: String,
    abort_criteria: String,
    abort_owner: Option<Uuid>,
    abort_owner_name: Option<String>,
    rollback_plan: String,
    experiment_digest: Option<String>,
    #[serde(default)]
    health_checks: Json<Vec<AttachedCheck>>,
}

impl From<ScenarioRow> for Scenario {
    fn from(r: ScenarioRow) -> Self {
        Scenario {
            id: r.id,
            gameday_id: r.gameday_id,
            position: r.position,
            state: r.state,
            outcome: r.outcome,
            conclusion_note: r.conclusion_note,
            revision: r.revision,
            fingerprint: r.fingerprint,
            fields: ScenarioFields {
                title: r.title,
                hypothesis: r.hypothesis,
                fault: r.fault,
                target_system: r.target_system,
                blast_radius: r.blast_radius,
                expected_impact: r.expected_impact,
                abort_criteria: r.abort_criteria,
                abort_owner: r.abort_owner,
                rollback_plan: r.rollback_plan,
                experiment_digest: r.experiment_digest,
                health_checks: r.health_checks.0,
            },
            abort_owner_name: r.abort_owner_name,
        }
    }
}

/// Every scenario of a game day with its current revision, in order.
#[tracing::instrument(skip(db))]
pub async fn scenarios_of(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<Vec<Scenario>> {
    let rows = sqlx::query_as!(
        ScenarioRow,
        r#"
        select id as "id!", gameday_id as "gameday_id!", position as "position!", state as "state!: ScenarioState",
               outcome as "outcome: Outcome", conclusion_note, revision as "revision!", fingerprint as "fingerprint!",
               title as "title!", hypothesis as "hypothesis!", fault as "fault!", target_system as "target_system!",
               blast_radius as "blast_radius: BlastRadius", expected_impact as "expected_impact!",
               abort_criteria as "abort_criteria!", abort_owner, abort_owner_name, rollback_plan as "rollback_plan!", experiment_digest,
               health_checks as "health_checks!: Json<Vec<AttachedCheck>>"
        from current_scenarios
        where gameday_id = $1
        order by position
        "#,
        gameday_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Scenario::from).collect())
}

/// Every scenario of these game days (for a team's fault calendar), in order.
#[tracing::instrument(skip(db))]
pub async fn scenarios_of_gamedays(db: &PgPool, gameday_ids: &[Uuid]) -> sqlx::Result<Vec<Scenario>> {
    let rows = sqlx::query_as!(
        ScenarioRow,
        r#"
        select id as "id!", gameday_id as "gameday_id!", position as "position!", state as "state!: ScenarioState",
               outcome as "outcome: Outcome", conclusion_note, revision as "revision!", fingerprint as "fingerprint!",
               title as "title!", hypothesis as "hypothesis!", fault as "fault!", target_system as "target_system!",
               blast_radius as "blast_radius: BlastRadius", expected_impact as "expected_impact!",
               abort_criteria as "abort_criteria!", abort_owner, abort_owner_name, rollback_plan as "rollback_plan!", experiment_digest,
               health_checks as "health_checks!: Json<Vec<AttachedCheck>>"
        from current_scenarios
        where gameday_id = any($1)
        order by gameday_id, position
        "#,
        gameday_ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Scenario::from).collect())
}

/// One scenario of a game day with its current revision.
#[tracing::instrument(skip(db))]
pub async fn scenario(db: impl PgExecutor<'_>, gameday_id: Uuid, id: Uuid) -> sqlx::Result<Option<Scenario>> {
    let row = sqlx::query_as!(
        ScenarioRow,
        r#"
        select id as "id!", gameday_id as "gameday_id!", position as "position!", state as "state!: ScenarioState",
               outcome as "outcome: Outcome", conclusion_note, revision as "revision!", fingerprint as "fingerprint!",
               title as "title!", hypothesis as "hypothesis!", fault as "fault!", target_system as "target_system!",
               blast_radius as "blast_radius: BlastRadius", expected_impact as "expected_impact!",
               abort_criteria as "abort_criteria!", abort_owner, abort_owner_name, rollback_plan as "rollback_plan!", experiment_digest,
               health_checks as "health_checks!: Json<Vec<AttachedCheck>>"
        from current_scenarios
        where gameday_id = $1 and id = $2
        "#,
        gameday_id,
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(Scenario::from))
}

/// Locks a scenario's row for this transaction (after its game day's) and returns it.
#[tracing::instrument(skip(conn))]
pub async fn lock_scenario(conn: &mut PgConnection, gameday_id: Uuid, id: Uuid) -> sqlx::Result<Option<Scenario>> {
    let locked =
        sqlx::query_scalar!("select id from scenarios where id = $1 and gameday_id = $2 for update", id, gameday_id)
            .fetch_optional(&mut *conn)
            .await?;
    match locked {
        Some(_) => scenario(&mut *conn, gameday_id, id).await,
        None => Ok(None),
    }
}

#[tracing::instrument(skip(conn, fields))]
pub async fn create_scenario(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    fields: &ScenarioFields,
    author: Uuid,
    experiment: Option<NewExperiment<'_>>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"
        insert into scenarios (id, gameday_id, position)
        values ($1, $2, (select coalesce(max(position), 0) + 1 from scenarios where gameday_id = $2))
        "#,
        id,
        gameday_id
    )
    .execute(&mut *conn)
    .await?;
    insert_revision_with(conn, id, 1, fields, author, experiment).await?;
    Ok(id)
}

/// A Chaos Toolkit experiment stored with a revision: the document (credentials replaced) and the
/// notes on its import.
#[derive(Debug, Clone, Copy)]
pub struct NewExperiment<'a> {
    pub document: &'a serde_json::Value,
    pub notes: &'a serde_json::Value,
}

/// Stores revision `revision` of a scenario and makes it the current one. A revision whose fields
/// carry an experiment's digest (an edit, a copy, a variant) takes the document from a revision
/// with the same digest.
#[tracing::instrument(skip(conn, fields))]
pub async fn insert_revision(
    conn: &mut PgConnection,
    scenario_id: Uuid,
    revision: i32,
    fields: &ScenarioFields,
    author: Uuid,
) -> sqlx::Result<()> {
    insert_revision_with(conn, scenario_id, revision, fields, author, None).await
}

/// Like [`insert_revision`], storing `experiment` (an import) with it; its digest is in `fields`.
#[tracing::instrument(skip(conn, fields, experiment))]
pub async fn insert_revision_with(
    conn: &mut PgConnection,
    scenario_id: Uuid,
    revision: i32,
    fields: &ScenarioFields,
    author: Uuid,
    experiment: Option<NewExperiment<'_>>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into scenario_revisions (scenario_id, revision, title, hypothesis, fault, target_system, blast_radius,
            expected_impact, abort_criteria, abort_owner, rollback_plan, fingerprint, author,
            experiment_digest, experiment, experiment_notes, health_checks)
        select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text,
               coalesce($15::jsonb, (select experiment from scenario_revisions where experiment_digest = $14 limit 1)),
               coalesce($16::jsonb, (select experiment_notes from scenario_revisions where experiment_digest = $14 limit 1)),
               $17
        "#,
        scenario_id,
        revision,
        fields.title,
        fields.hypothesis,
        fields.fault,
        fields.target_system,
        fields.blast_radius as Option<BlastRadius>,
        fields.expected_impact,
        fields.abort_criteria,
        fields.abort_owner,
        fields.rollback_plan,
        fields.fingerprint(),
        author,
        fields.experiment_digest,
        experiment.map(|e| e.document),
        experiment.map(|e| e.notes),
        Json(&fields.health_checks) as Json<&Vec<AttachedCheck>>,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("update scenarios set current_revision = $2 where id = $1", scenario_id, revision)
        .execute(conn)
        .await?;
    Ok(())
}

/// A stored revision.
#[derive(Debug, Clone)]
pub struct Revision {
    pub revision: i32,
    pub fields: ScenarioFields,
    pub abort_owner_name: String,
    pub fingerprint: String,
    pub author_name: String,
    pub created_at: OffsetDateTime,
}

/// Every revision of a scenario, oldest first.
#[tracing::instrument(skip(db))]
pub async fn revisions(db: &PgPool, scenario_id: Uuid) -> sqlx::Result<Vec<Revision>> {
    let rows = sqlx::query!(
        r#"
        select r.revision, r.title, r.hypothesis, r.fault, r.target_system, r.blast_radius as "blast_radius: BlastRadius",
               r.expected_impact, r.abort_criteria, r.abort_owner, o.display_name as "owner_name?", r.rollback_plan,
               r.fingerprint, a.display_name as author_name, r.created_at, r.experiment_digest,
               r.health_checks as "health_checks: Json<Vec<AttachedCheck>>"
        from scenario_revisions r
        join users a on a.id = r.author
        left join users o on o.id = r.abort_owner
        where r.scenario_id = $1
        order by r.revision
        "#,
        scenario_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Revision {
            revision: r.revision,
            fields: ScenarioFields {
                title: r.title,
                hypothesis: r.hypothesis,
                fault: r.fault,
                target_system: r.target_system,
                blast_radius: r.blast_radius,
                expected_impact: r.expected_impact,
                abort_criteria: r.abort_criteria,
                abort_owner: r.abort_owner,
                rollback_plan: r.rollback_plan,
                experiment_digest: r.experiment_digest,
                health_checks: r.health_checks.0,
            },
            abort_owner_name: r.owner_name.unwrap_or_else(|| "nobody".into()),
            fingerprint: r.fingerprint,
            author_name: r.author_name,
            created_at: r.created_at,
        })
        .collect())
}

#[tracing::instrument(skip(conn))]
pub async fn set_state(conn: &mut PgConnection, scenario_id: Uuid, state: ScenarioState) -> sqlx::Result<()> {
    sqlx::query!("update scenarios set state = $2 where id = $1", scenario_id, state as ScenarioState)
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip(conn, note))]
pub async fn conclude(conn: &mut PgConnection, scenario_id: Uuid, outcome: Outcome, note: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update scenarios set state = 'concluded', outcome = $2, conclusion_note = $3 where id = $1",
        scenario_id,
        outcome as Outcome,
        note
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How many scenarios of the game day are announced or injected.
#[tracing::instrument(skip(conn))]
pub async fn count_in_flight(conn: &mut PgConnection, gameday_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from scenarios where gameday_id = $1 and is_in_flight(state)"#,
        gameday_id
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip(conn))]
pub async fn count_scenarios(conn: &mut PgConnection, gameday_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from scenarios where gameday_id = $1"#, gameday_id)
        .fetch_one(conn)
        .await
}

/// How many of a game day's scenarios have not run (sign-off is still open on them).
pub async fn count_not_run(conn: &mut PgConnection, gameday_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from scenarios where gameday_id = $1 and takes_signoffs(state)"#,
        gameday_id
    )
    .fetch_one(conn)
    .await
}

/// Start tiny (invariant 4): a smaller scenario on the same target, in the same environment, in
/// any of the team's game days, that was injected and held: its title, or None (the SQL function
/// `smaller_that_held`, which [`scenarios_to_run`] reads too).
#[tracing::instrument(skip(db))]
pub async fn smaller_that_held(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
    scenario_id: Uuid,
    target: &str,
    radius: Option<BlastRadius>,
    environment: &str,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select smaller_that_held($1, $2, $3, $4, $5)",
        team_id,
        scenario_id,
        target,
        radius as Option<BlastRadius>,
        environment
    )
    .fetch_one(db)
    .await
}

/// A scenario with what its run card's rules read besides the timeline.
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioToRun {
    pub scenario: Scenario,
    /// Start tiny: a smaller scenario on this target that held ([`smaller_that_held`]).
    pub smaller_held: Option<String>,
    /// The linked known weakness: (id, title, open?).
    pub weakness: Option<(Uuid, String, bool)>,
}

/// Every scenario of a game day in order, each with what its run card reads besides the
/// timeline, in one statement.
#[tracing::instrument(skip(db))]
pub async fn scenarios_to_run(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<Vec<ScenarioToRun>> {
    let scenarios = sqlx::query_scalar!(
        r#"
        select coalesce(json_agg(json_build_object(
                   'scenario', s,
                   'smaller_held', smaller_that_held(s.team_id, s.id, s.target_system, s.blast_radius, g.environment),
                   'weakness', case when w.id is not null then json_build_array(w.id, w.title, w.status = 'open') end
               ) order by s.position), '[]') as "scenarios!: Json<Vec<ScenarioToRun>>"
        from current_scenarios s
        join gamedays g on g.id = s.gameday_id
        join scenarios x on x.id = s.id
        left join weaknesses w on w.id = x.weakness_id
        where s.gameday_id = $1
        "#,
        gameday_id
    )
    .fetch_one(db)
    .await?;
    Ok(scenarios.0)
}

/// Where a fault in flight is: its game day and team, and since when it is announced or
/// injected (for the banners that follow a person to every page).
#[derive(Debug, Clone)]
pub struct InFlightPlace {
    pub scenario_id: Uuid,
    pub gameday_id: Uuid,
    pub gameday_title: String,
    pub team_slug: String,
    pub team_name: String,
    pub since: Option<OffsetDateTime>,
}

/// The faults announced or injected right now in any team the user is in, oldest first.
#[tracing::instrument(skip(db))]
pub async fn in_flight_places(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<InFlightPlace>> {
    let rows = sqlx::query_as!(
        FrameRow,
        r#"
        select part as "part!", name as "name!", slug as "slug!", role, archived, scenario_id, gameday_id,
               gameday_title, since
        from person_frame
        where user_id = $1 and part = 1
        order by since nulls last, scenario_id
        "#,
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(frame_of(rows).1)
}

/// One row of a person's frame (the view `person_frame`): a team of theirs (part 0) or a fault
/// in flight in a team whose pages they may open (part 1). The session load reads the same rows
/// as JSON, hence `Deserialize`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct FrameRow {
    part: i32,
    name: String,
    slug: String,
    role: Option<String>,
    archived: Option<bool>,
    scenario_id: Option<Uuid>,
    gameday_id: Option<Uuid>,
    gameday_title: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    since: Option<OffsetDateTime>,
}

/// A person's frame rows as their teams and the places of the faults in flight.
pub fn frame_of(rows: Vec<FrameRow>) -> (Vec<NavTeam>, Vec<InFlightPlace>) {
    let (mut teams, mut places) = (Vec::new(), Vec::new());
    for r in rows {
        match (r.part, r.scenario_id, r.gameday_id, r.gameday_title) {
            (1, Some(scenario_id), Some(gameday_id), Some(gameday_title)) => places.push(InFlightPlace {
                scenario_id,
                gameday_id,
                gameday_title,
                team_slug: r.slug,
                team_name: r.name,
                since: r.since,
            }),
            _ => {
                let Some(Ok(role)) = r.role.as_deref().map(TeamRole::parse) else { continue };
                teams.push(NavTeam { name: r.name, slug: r.slug, role, archived: r.archived.unwrap_or(false) });
            }
        }
    }
    (teams, places)
}

/// What every page's frame shows of a person: their teams (for the navigation) and the faults in
/// flight in them ([`in_flight_places`]), in one statement. The session load usually reads the
/// same rows with the session ([`frame_of`] turns either into the frame).
#[tracing::instrument(skip(db))]
pub async fn frame(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<(Vec<NavTeam>, Vec<InFlightPlace>)> {
    let rows = sqlx::query_as!(
        FrameRow,
        r#"
        select part as "part!", name as "name!", slug as "slug!", role, archived, scenario_id, gameday_id,
               gameday_title, since
        from person_frame
        where user_id = $1
        order by part, sort, since nulls last, scenario_id
        "#,
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(frame_of(rows))
}

/// Scenarios by id with their current revisions (in no particular order).
#[tracing::instrument(skip(db))]
pub async fn scenarios_by_ids(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<Scenario>> {
    let rows = sqlx::query_as!(
        ScenarioRow,
        r#"
        select id as "id!", gameday_id as "gameday_id!", position as "position!", state as "state!: ScenarioState",
               outcome as "outcome: Outcome", conclusion_note, revision as "revision!", fingerprint as "fingerprint!",
               title as "title!", hypothesis as "hypothesis!", fault as "fault!", target_system as "target_system!",
               blast_radius as "blast_radius: BlastRadius", expected_impact as "expected_impact!",
               abort_criteria as "abort_criteria!", abort_owner, abort_owner_name, rollback_plan as "rollback_plan!", experiment_digest,
               health_checks as "health_checks!: Json<Vec<AttachedCheck>>"
        from current_scenarios
        where id = any($1)
        "#,
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Scenario::from).collect())
}
