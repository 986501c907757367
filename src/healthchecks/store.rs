//! SQL for health checks: the team's library, the results, the recoveries after a fault, and the
//! lease that lets one instance at a time run the checks.

use std::collections::HashMap;

use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AttachedCheck, CheckSpec, Latest, Verdict};
use crate::scenarios::gate::ScenarioState;

/// A check of a team's library.
#[derive(Debug, Clone)]
pub struct LibraryCheck {
    pub id: Uuid,
    pub team_id: Uuid,
    pub name: String,
    pub spec: CheckSpec,
    pub updated_at: OffsetDateTime,
}

/// Locks the team's row (so two adds cannot both pass the cap) and counts its checks.
#[tracing::instrument(skip(conn))]
pub async fn count_locked(conn: &mut PgConnection, team_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query!("select id from teams where id = $1 for update", team_id).fetch_optional(&mut *conn).await?;
    sqlx::query_scalar!(r#"select count(*) as "n!" from health_checks where team_id = $1"#, team_id)
        .fetch_one(&mut *conn)
        .await
}

/// Whether the team has another check of this name.
#[tracing::instrument(skip(conn))]
pub async fn name_taken(
    conn: &mut PgConnection,
    team_id: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from health_checks where team_id = $1 and lower(name) = lower($2)
                         and id is distinct from $3) as "taken!""#,
        team_id,
        name,
        except
    )
    .fetch_one(&mut *conn)
    .await
}

#[tracing::instrument(skip(conn, spec, secrets))]
pub async fn create(
    conn: &mut PgConnection,
    team_id: Uuid,
    name: &str,
    spec: &CheckSpec,
    secrets: &[(String, String)],
    by: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    let secrets: HashMap<&str, &str> = secrets.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    sqlx::query!(
        "insert into health_checks (id, team_id, name, spec, secrets, created_by) values ($1, $2, $3, $4, $5, $6)",
        id,
        team_id,
        name,
        Json(spec) as Json<&CheckSpec>,
        Json(&secrets) as Json<&HashMap<&str, &str>>,
        by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// Changes a check; `secrets` replaces the stored secret header values when given.
#[tracing::instrument(skip(conn, spec, secrets))]
pub async fn update(
    conn: &mut PgConnection,
    team_id: Uuid,
    id: Uuid,
    name: &str,
    spec: &CheckSpec,
    secrets: Option<&[(String, String)]>,
) -> sqlx::Result<bool> {
    let secrets: Option<HashMap<&str, &str>> =
        secrets.map(|list| list.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect());
    let done = sqlx::query!(
        r#"
        update health_checks
        set name = $3, spec = $4, secrets = coalesce($5, secrets), updated_at = now()
        where id = $1 and team_id = $2
        "#,
        id,
        team_id,
        name,
        Json(spec) as Json<&CheckSpec>,
        secrets.as_ref().map(|s| Json(s)) as Option<Json<&HashMap<&str, &str>>>,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip(conn))]
pub async fn delete(conn: &mut PgConnection, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("delete from health_checks where id = $1 and team_id = $2 returning name", id, team_id)
        .fetch_optional(conn)
        .await
}

/// The team's library, by name.
#[tracing::instrument(skip(db))]
pub async fn of_team(db: impl PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<Vec<LibraryCheck>> {
    let rows = sqlx::query!(
        r#"select id, team_id, name, spec as "spec: Json<CheckSpec>", updated_at from health_checks
           where team_id = $1 order by lower(name)"#,
        team_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LibraryCheck { id: r.id, team_id: r.team_id, name: r.name, spec: r.spec.0, updated_at: r.updated_at })
        .collect())
}

/// One check of the team's library (none for another team's).
#[tracing::instrument(skip(db))]
pub async fn of_team_by_id(db: impl PgExecutor<'_>, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<LibraryCheck>> {
    let row = sqlx::query!(
        r#"select id, team_id, name, spec as "spec: Json<CheckSpec>", updated_at from health_checks
           where id = $1 and team_id = $2"#,
        id,
        team_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| LibraryCheck {
        id: r.id,
        team_id: r.team_id,
        name: r.name,
        spec: r.spec.0,
        updated_at: r.updated_at,
    }))
}

/// The secret header values of these library checks of the team (for the requests only; never
/// shown).
#[tracing::instrument(skip(db))]
pub async fn secrets_of(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
    ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, HashMap<String, String>>> {
    let rows = sqlx::query!(
        r#"select id, secrets as "secrets: Json<HashMap<String, String>>" from health_checks
           where team_id = $1 and id = any($2)"#,
        team_id,
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.secrets.0)).collect())
}

/// A scenario whose current revision carries a copy of a library check.
#[derive(Debug, Clone)]
pub struct Using {
    pub scenario_id: Uuid,
    pub gameday_id: Uuid,
    pub gameday_title: String,
    pub title: String,
    pub state: ScenarioState,
    /// Whether its copy differs from the library's definition now.
    pub differs: bool,
}

/// The team's scenarios whose current revision carries a copy of this check.
#[tracing::instrument(skip(db))]
pub async fn scenarios_using(db: impl PgExecutor<'_>, team_id: Uuid, check_id: Uuid) -> sqlx::Result<Vec<Using>> {
    sqlx::query_as!(
        Using,
        r#"
        select s.id as "scenario_id!", s.gameday_id as "gameday_id!", g.title as gameday_title, s.title as "title!",
               s.state as "state!: ScenarioState",
               not exists(select 1 from jsonb_array_elements(s.health_checks) c, health_checks h
                          where h.id = $2 and (c.value ->> 'check_id')::uuid = h.id
                            and c.value -> 'spec' = h.spec and c.value ->> 'name' = h.name) as "differs!"
        from current_scenarios s
        join gamedays g on g.id = s.gameday_id
        where s.team_id = $1 and s.health_checks @> jsonb_build_array(jsonb_build_object('check_id', $2::uuid))
        order by g.starts_at desc nulls last, s.position
        "#,
        team_id,
        check_id
    )
    .fetch_all(db)
    .await
}

/// Records a result; returns whether the check passed the time before (any phase, same revision).
#[tracing::instrument(skip(conn, verdict))]
pub async fn record_result(
    conn: &mut PgConnection,
    (scenario_id, revision, check_name): (Uuid, i32, &str),
    phase: &str,
    verdict: &Verdict,
) -> sqlx::Result<Option<bool>> {
    let before = sqlx::query_scalar!(
        r#"select passed from health_check_results where scenario_id = $1 and check_name = $2 and revision = $3
           order by at desc, id desc limit 1"#,
        scenario_id,
        check_name,
        revision
    )
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query!(
        r#"
        insert into health_check_results (scenario_id, revision, check_name, phase, passed, status, elapsed_ms, judged, summary)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        "#,
        scenario_id,
        revision,
        check_name,
        phase,
        verdict.passed,
        verdict.status.map(i32::from),
        i32::try_from(verdict.elapsed_ms).unwrap_or(i32::MAX),
        verdict.judged,
        verdict.summary
    )
    .execute(conn)
    .await?;
    Ok(before)
}

/// The latest result of each check of a scenario's revision, with its age (the gate's reading).
#[tracing::instrument(skip(conn))]
pub async fn latest(conn: impl PgExecutor<'_>, scenario_id: Uuid, revision: i32) -> sqlx::Result<Vec<Latest>> {
    sqlx::query_as!(
        Latest,
        r#"
        select distinct on (check_name) check_name, passed, summary,
               extract(epoch from clock_timestamp() - at)::bigint as "age_secs!"
        from health_check_results
        where scenario_id = $1 and revision = $2
        order by check_name, at desc, id desc
        "#,
        scenario_id,
        revision
    )
    .fetch_all(conn)
    .await
}

/// A stored result, for the scenario page.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub check_name: String,
    pub phase: String,
    pub at: OffsetDateTime,
    pub passed: bool,
    pub status: Option<i32>,
    pub elapsed_ms: Option<i32>,
    pub judged: String,
    pub summary: String,
}

/// The latest `per_check` results of each check of a scenario (any revision), oldest first.
#[tracing::instrument(skip(db))]
pub async fn recent(db: impl PgExecutor<'_>, scenario_id: Uuid, per_check: i64) -> sqlx::Result<Vec<ResultRow>> {
    sqlx::query_as!(
        ResultRow,
        r#"
        select check_name as "check_name!", phase as "phase!", at as "at!", passed as "passed!", status, elapsed_ms,
               judged as "judged!", summary as "summary!"
        from (select r.*, row_number() over (partition by check_name order by at desc, id desc) as n
              from health_check_results r where scenario_id = $1) x
        where n <= $2
        order by at, id
        "#,
        scenario_id,
        per_check
    )
    .fetch_all(db)
    .await
}

/// Takes or renews the lease `name` for `holder` for `ttl_ms`, if nobody else holds an unexpired
/// one. True when `holder` holds it now.
#[tracing::instrument(skip(db))]
pub async fn hold_lease(db: impl PgExecutor<'_>, name: &str, holder: Uuid, ttl_ms: i64) -> sqlx::Result<bool> {
    let held = sqlx::query_scalar!(
        r#"
        insert into worker_leases (name, holder, until) values ($1, $2, now() + make_interval(secs => $3::float8 / 1000))
        on conflict (name) do update set holder = excluded.holder, until = excluded.until
        where worker_leases.holder = excluded.holder or worker_leases.until < now()
        returning holder
        "#,
        name,
        holder,
        ttl_ms as f64
    )
    .fetch_optional(db)
    .await?;
    Ok(held == Some(holder))
}

/// Gives the lease up (at shutdown), so another instance takes over at once.
#[tracing::instrument(skip(db))]
pub async fn release_lease(db: impl PgExecutor<'_>, name: &str, holder: Uuid) -> sqlx::Result<()> {
    sqlx::query!("delete from worker_leases where name = $1 and holder = $2", name, holder).execute(db).await?;
    Ok(())
}

/// A check that is due to run: while injected (`during`) or while recovering (`after`).
#[derive(Debug, Clone)]
pub struct Due {
    pub scenario_id: Uuid,
    pub gameday_id: Uuid,
    pub team_id: Uuid,
    pub revision: i32,
    pub phase: String,
    pub check: AttachedCheck,
}

/// The checks due now: of injected scenarios, each once its interval has passed since its last
/// result; of recovering ones, every `min(interval, 5 s)` since the fault left flight.
#[tracing::instrument(skip(db))]
pub async fn due(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Due>> {
    let rows = sqlx::query!(
        r#"
        with flying as (
            select s.id, s.gameday_id, g.team_id, s.current_revision as revision, 'during' as phase, null::timestamptz as since
            from scenarios s join gamedays g on g.id = s.gameday_id
            where s.state = 'injected'
            union all
            select r.scenario_id, s.gameday_id, g.team_id, r.revision, 'after', r.since
            from scenario_recoveries r join scenarios s on s.id = r.scenario_id join gamedays g on g.id = s.gameday_id
            where r.recovered_at is null and r.gave_up_at is null
        )
        select f.id as "scenario_id!", f.gameday_id as "gameday_id!", f.team_id as "team_id!", f.revision as "revision!",
               f.phase as "phase!", c.value as "check!: Json<AttachedCheck>"
        from flying f
        join scenario_revisions rev on rev.scenario_id = f.id and rev.revision = f.revision
        cross join lateral jsonb_array_elements(rev.health_checks) c
        left join lateral (
            select at from health_check_results x
            where x.scenario_id = f.id and x.check_name = c.value ->> 'name' and x.revision = f.revision
              and (f.since is null or (x.phase = 'after' and x.at >= f.since))
            order by at desc limit 1
        ) last on true
        where last.at is null
           or last.at < now() - make_interval(secs => case when f.phase = 'during' then (c.value ->> 'interval_secs')::int
                                                         else least((c.value ->> 'interval_secs')::int, 5) end)
        "#
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Due {
            scenario_id: r.scenario_id,
            gameday_id: r.gameday_id,
            team_id: r.team_id,
            revision: r.revision,
            phase: r.phase,
            check: r.check.0,
        })
        .collect())
}

/// Starts waiting for the steady state after a fault left flight (once per scenario).
#[tracing::instrument(skip(conn))]
pub async fn start_recovery(
    conn: &mut PgConnection,
    scenario_id: Uuid,
    revision: i32,
    limit_secs: i64,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into scenario_recoveries (scenario_id, revision, injected_at, ends_at)
        values ($1, $2,
                (select at from timeline_events where scenario_id = $1 and kind = 'scenario_injected' order by seq desc limit 1),
                now() + make_interval(secs => $3::float8))
        on conflict (scenario_id) do nothing
        "#,
        scenario_id,
        revision,
        limit_secs as f64
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// An open recovery, locked: since when, until when, and whether every check's latest result
/// since then passed.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub since: OffsetDateTime,
    pub injected_at: Option<OffsetDateTime>,
    pub ends_at: OffsetDateTime,
    pub all_pass: bool,
    pub now: OffsetDateTime,
    /// The latest summary of each check that still fails.
    pub failing: Vec<String>,
}

#[tracing::instrument(skip(conn))]
pub async fn lock_open_recovery(conn: &mut PgConnection, scenario_id: Uuid) -> sqlx::Result<Option<Recovery>> {
    let row = sqlx::query!(
        r#"
        select r.since, r.injected_at, r.ends_at, now() as "now!",
               coalesce((select bool_and(coalesce(l.passed, false)) from jsonb_array_elements(rev.health_checks) c
                         left join lateral (select passed from health_check_results x
                                            where x.scenario_id = r.scenario_id and x.revision = r.revision and x.phase = 'after'
                                              and x.check_name = c.value ->> 'name' and x.at >= r.since
                                            order by at desc, id desc limit 1) l on true), true) as "all_pass!",
               coalesce((select array_agg((c.value ->> 'name') || ': ' || coalesce(l.summary, 'no result yet'))
                         from jsonb_array_elements(rev.health_checks) c
                         left join lateral (select passed, summary from health_check_results x
                                            where x.scenario_id = r.scenario_id and x.revision = r.revision and x.phase = 'after'
                                              and x.check_name = c.value ->> 'name' and x.at >= r.since
                                            order by at desc, id desc limit 1) l on true
                         where not coalesce(l.passed, false)), '{}') as "failing!"
        from scenario_recoveries r
        join scenario_revisions rev on rev.scenario_id = r.scenario_id and rev.revision = r.revision
        where r.scenario_id = $1 and r.recovered_at is null and r.gave_up_at is null
        for update of r
        "#,
        scenario_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Recovery {
        since: r.since,
        injected_at: r.injected_at,
        ends_at: r.ends_at,
        all_pass: r.all_pass,
        now: r.now,
        failing: r.failing,
    }))
}

/// Ends a recovery: the steady state came back (`recovered`), or the time ran out.
#[tracing::instrument(skip(conn))]
pub async fn end_recovery(conn: &mut PgConnection, scenario_id: Uuid, recovered: bool) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update scenario_recoveries
           set recovered_at = case when $2 then now() end, gave_up_at = case when $2 then null else now() end
           where scenario_id = $1"#,
        scenario_id,
        recovered
    )
    .execute(conn)
    .await?;
    Ok(())
}
