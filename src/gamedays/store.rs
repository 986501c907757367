//! SQL for game days and their participants.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Gameday, GamedayInput, GamedayRole, GamedayStatus};
use crate::learnings::store::ActionItem;
use crate::scenarios::Signoffs;
use crate::scenarios::store::Scenario;
use crate::scenarios::store::signoffs::{self, AwaitingSignoff, SignerRow};
use crate::teams::{Membership, Team, TeamRole};

/// The game day with this id, if it belongs to the team.
#[tracing::instrument(skip(db))]
pub async fn gameday_in_team(db: impl PgExecutor<'_>, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<Gameday>> {
    sqlx::query_as!(
        Gameday,
        r#"
        select id, team_id, title, objective, environment, systems, starts_at, ends_at, call_link,
               status as "status: GamedayStatus", cancel_reason, ics_sequence, last_event_seq
        from gamedays where id = $1 and team_id = $2
        "#,
        id,
        team_id
    )
    .fetch_optional(db)
    .await
}

/// The membership, the game day if it is the team's, and the member's role on it.
pub type MemberContext = (Membership, Option<Gameday>, Option<GamedayRole>);

/// A game day as one of its team's members reaches it: the membership behind `slug`, the game
/// day if it is that team's, and the member's role on it, in one statement (the database
/// function `member_context`). None when `user_id` is not a member of a team with that slug.
#[tracing::instrument(skip(db))]
pub async fn member_context(
    db: impl PgExecutor<'_>,
    slug: &str,
    user_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<MemberContext>> {
    let row = sqlx::query_as!(
        MemberContextRow,
        r#"
        select team_id as "team_id!", team_name as "team_name!", slug as "slug!", team_role as "team_role!: TeamRole",
               require_two_factor as "require_two_factor!", archived_at, demo as "demo!",
               id, title, objective, environment, systems, starts_at, ends_at, call_link,
               status as "status: GamedayStatus", cancel_reason, ics_sequence, last_event_seq,
               role as "role: GamedayRole"
        from member_context($1, $2, $3)
        "#,
        slug,
        user_id,
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(MemberContextRow::into_context))
}

/// A row of the database function `member_context`, read on its own or, as JSON, with the
/// session (hence `Deserialize`, with the names and forms `row_to_json` gives).
#[derive(Debug, Deserialize)]
pub struct MemberContextRow {
    team_id: Uuid,
    team_name: String,
    slug: String,
    team_role: TeamRole,
    require_two_factor: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    archived_at: Option<OffsetDateTime>,
    demo: bool,
    id: Option<Uuid>,
    title: Option<String>,
    objective: Option<String>,
    environment: Option<String>,
    systems: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    ends_at: Option<OffsetDateTime>,
    call_link: Option<String>,
    status: Option<GamedayStatus>,
    cancel_reason: Option<String>,
    ics_sequence: Option<i32>,
    last_event_seq: Option<i64>,
    role: Option<GamedayRole>,
}

impl MemberContextRow {
    /// The membership, the game day if it is the team's, and the member's role on it.
    pub fn into_context(self) -> MemberContext {
        let r = self;
        let membership = Membership {
            team: Team { id: r.team_id, name: r.team_name, slug: r.slug },
            role: r.team_role,
            two_factor_required: r.require_two_factor,
            archived_at: r.archived_at,
            demo: r.demo,
        };
        let gameday = match (r.id, r.title, r.objective, r.environment, r.systems, r.status) {
            (Some(id), Some(title), Some(objective), Some(environment), Some(systems), Some(status)) => Some(Gameday {
                id,
                team_id: r.team_id,
                title,
                objective,
                environment,
                systems,
                starts_at: r.starts_at,
                ends_at: r.ends_at,
                call_link: r.call_link,
                status,
                cancel_reason: r.cancel_reason,
                ics_sequence: r.ics_sequence.unwrap_or_default(),
                last_event_seq: r.last_event_seq.unwrap_or_default(),
            }),
            _ => None,
        };
        // A role counts only while they are in the team too (they are: the join says so).
        let role = gameday.as_ref().and(r.role);
        (membership, gameday, role)
    }
}

/// The game day with this id (for the live hub, which has checked nothing about the viewer:
/// it renders what every viewer of the game day may see).
#[tracing::instrument(skip(db))]
pub async fn gameday(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Gameday>> {
    sqlx::query_as!(
        Gameday,
        r#"
        select id, team_id, title, objective, environment, systems, starts_at, ends_at, call_link,
               status as "status: GamedayStatus", cancel_reason, ics_sequence, last_event_seq
        from gamedays where id = $1
        "#,
        id
    )
    .fetch_optional(db)
    .await
}

/// Locks the game day's row for this transaction. Every change to a game day, its participants,
/// scenarios and sign-offs takes this lock first, so they are serialised per game day.
#[tracing::instrument(skip(conn))]
pub async fn lock_gameday(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Gameday>> {
    sqlx::query_as!(
        Gameday,
        r#"
        select id, team_id, title, objective, environment, systems, starts_at, ends_at, call_link,
               status as "status: GamedayStatus", cancel_reason, ics_sequence, last_event_seq
        from gamedays where id = $1
        for update
        "#,
        id
    )
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip(conn, input))]
pub async fn create_gameday(
    conn: &mut PgConnection,
    team_id: Uuid,
    input: &GamedayInput,
    creator: Uuid,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"
        insert into gamedays (id, team_id, title, objective, environment, systems, starts_at, ends_at, call_link, created_by)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        "#,
        id,
        team_id,
        input.title,
        input.objective,
        input.environment,
        input.systems,
        input.starts_at,
        input.ends_at,
        input.call_link,
        creator
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// Saves new details; a changed schedule raises the calendar SEQUENCE.
#[tracing::instrument(skip(conn, input))]
pub async fn update_gameday(conn: &mut PgConnection, id: Uuid, input: &GamedayInput) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        update gamedays set
            ics_sequence = ics_sequence + case
                when starts_at is distinct from $6 or ends_at is distinct from $7 or title <> $2
                  or objective <> $3 or call_link is distinct from $8 then 1 else 0 end,
            title = $2, objective = $3, environment = $4, systems = $5, starts_at = $6, ends_at = $7, call_link = $8
        where id = $1
        "#,
        id,
        input.title,
        input.objective,
        input.environment,
        input.systems,
        input.starts_at,
        input.ends_at,
        input.call_link
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the game day to `status` (with a reason when cancelled) and raises the calendar SEQUENCE.
#[tracing::instrument(skip(conn))]
pub async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    status: GamedayStatus,
    cancel_reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update gamedays set status = $2, cancel_reason = $3, ics_sequence = ics_sequence + 1 where id = $1",
        id,
        status as GamedayStatus,
        cancel_reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A game day in a list (also as the API lists it).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct GamedaySummary {
    pub id: Uuid,
    pub title: String,
    pub status: GamedayStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    pub environment: String,
    pub scenarios: i64,
}

#[tracing::instrument(skip(db))]
pub async fn team_gamedays(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<GamedaySummary>> {
    sqlx::query_as!(
        GamedaySummary,
        r#"
        select g.id, g.title, g.status as "status: GamedayStatus", g.starts_at, g.environment,
               (select count(*) from scenarios s where s.gameday_id = g.id) as "scenarios!"
        from gamedays g
        where g.team_id = $1
        order by g.starts_at desc nulls first, g.created_at desc
        "#,
        team_id
    )
    .fetch_all(db)
    .await
}

/// A page of the team's game days, newest first (by id, which is time-ordered): those made before
/// the game day `before` when given, at most `limit`.
#[tracing::instrument(skip(db))]
pub async fn team_gamedays_page(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<GamedaySummary>> {
    sqlx::query_as!(
        GamedaySummary,
        r#"
        select g.id, g.title, g.status as "status: GamedayStatus", g.starts_at, g.environment,
               (select count(*) from scenarios s where s.gameday_id = g.id) as "scenarios!"
        from gamedays g
        where g.team_id = $1 and ($2::uuid is null or g.id < $2)
        order by g.id desc
        limit $3
        "#,
        team_id,
        before,
        limit
    )
    .fetch_all(db)
    .await
}

/// The team's game days whose plan is open and that the user facilitates, soonest first: where
/// they may add a scenario, so where they may copy one to.
#[tracing::instrument(skip(db))]
pub async fn open_gamedays_facilitated(db: &PgPool, team_id: Uuid, user_id: Uuid) -> sqlx::Result<Vec<GamedaySummary>> {
    sqlx::query_as!(
        GamedaySummary,
        r#"
        select g.id, g.title, g.status as "status: GamedayStatus", g.starts_at, g.environment,
               (select count(*) from scenarios s where s.gameday_id = g.id) as "scenarios!"
        from gamedays g
        join gameday_participants p on p.gameday_id = g.id and p.user_id = $2 and p.role = 'facilitator'
        where g.team_id = $1 and plan_is_open(g.status)
        order by g.starts_at nulls last, g.created_at
        "#,
        team_id,
        user_id
    )
    .fetch_all(db)
    .await
}

/// A game day on someone's dashboard.
#[derive(Debug, Clone, Deserialize)]
pub struct MyGameday {
    pub id: Uuid,
    pub title: String,
    pub status: GamedayStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    pub team_slug: String,
    pub team_name: String,
    pub role: GamedayRole,
}

/// What someone's dashboard shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// Game days not yet over in which they take part, running ones first, then soonest first:
    /// at most `limit`.
    pub upcoming: Vec<MyGameday>,
    /// The scenarios waiting for their sign-off, in every team they can reach.
    pub awaiting: Vec<AwaitingSignoff>,
    /// Their open actions in every team they are still in and that is not archived (an archived
    /// team's actions cannot change), soonest due first: at most `limit`.
    pub actions: Vec<ActionItem>,
}

/// Someone's dashboard ([`Dashboard`]), in one statement.
#[tracing::instrument(skip(db))]
pub async fn dashboard(db: impl PgExecutor<'_>, user_id: Uuid, limit: i64) -> sqlx::Result<Dashboard> {
    let row = sqlx::query!(
        r#"
        select
            (select coalesce(json_agg(g order by g.running desc, g.starts_at nulls last, g.created_at, g.id), '[]')
             from (select g.id, g.title, g.status, g.starts_at, t.slug as team_slug, t.name as team_name, p.role,
                          g.status = 'running' as running, g.created_at
                   from gameday_participants p
                   join gamedays g on g.id = p.gameday_id
                   join teams t on t.id = g.team_id
                   join team_access m on m.team_id = t.id and m.user_id = p.user_id
                   where p.user_id = $1 and plan_is_open(g.status)
                   order by g.status = 'running' desc, g.starts_at nulls last, g.created_at, g.id
                   limit $2) g
            ) as "upcoming!: Json<Vec<MyGameday>>",
            (select coalesce(json_agg(a order by a.starts_at nulls last, a.position), '[]')
             from awaiting_signoff_rows a where a.user_id = $1) as "awaiting!: Json<Vec<AwaitingSignoff>>",
            (select coalesce(json_agg(a order by a.due_on nulls last, a.created_at, a.id), '[]')
             from (select a.*
                   from action_item_rows a
                   join team_access m on m.team_id = a.team_id and m.user_id = a.owner
                   join teams t on t.id = a.team_id and t.archived_at is null
                   where a.owner = $1 and a.status = 'open'
                   order by a.due_on nulls last, a.created_at, a.id
                   limit $2) a
            ) as "actions!: Json<Vec<ActionItem>>"
        "#,
        user_id,
        limit
    )
    .fetch_one(db)
    .await?;
    Ok(Dashboard { upcoming: row.upcoming.0, awaiting: row.awaiting.0, actions: row.actions.0 })
}

/// Someone on a game day (a row of `participant_rows`).
#[derive(Debug, Clone, Deserialize)]
pub struct Participant {
    pub user_id: Uuid,
    pub name: String,
    pub role: GamedayRole,
}

#[tracing::instrument(skip(db))]
pub async fn participants(db: impl PgExecutor<'_>, gameday_id: Uuid) -> sqlx::Result<Vec<Participant>> {
    sqlx::query_as!(
        Participant,
        r#"
        select user_id as "user_id!", name as "name!", role as "role!: GamedayRole"
        from participant_rows
        where gameday_id = $1
        order by role, lower(name)
        "#,
        gameday_id
    )
    .fetch_all(db)
    .await
}

/// What the game-day page shows besides its timeline.
#[derive(Debug, Clone)]
pub struct GamedayPage {
    /// In order of role, then name.
    pub participants: Vec<Participant>,
    /// Team members who are not on the game day yet, as (id, name) (candidates to add); read
    /// only when asked for.
    pub candidates: Vec<(Uuid, String)>,
    /// In order.
    pub scenarios: Vec<Scenario>,
    /// Where every required signer stands on each scenario's current revision.
    pub signoffs: HashMap<Uuid, Signoffs>,
    /// The actions that asked for this game day as their re-test, oldest first.
    pub retests: Vec<ActionItem>,
}

/// The game-day page's own data ([`GamedayPage`]) for the team's game day, in one statement;
/// the candidates only `with_candidates`.
#[tracing::instrument(skip(db))]
pub async fn gameday_page(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
    gameday_id: Uuid,
    with_candidates: bool,
) -> sqlx::Result<GamedayPage> {
    let row = sqlx::query!(
        r#"
        select
            (select coalesce(json_agg(p order by p.role, lower(p.name)), '[]')
             from participant_rows p where p.gameday_id = $2) as "participants!: Json<Vec<Participant>>",
            (select coalesce(json_agg(json_build_array(u.id, u.display_name) order by lower(u.display_name)), '[]')
             from team_members m join users u on u.id = m.user_id
             where $3 and m.team_id = $1
               and not exists (select 1 from gameday_participants p where p.gameday_id = $2 and p.user_id = u.id)
            ) as "candidates!: Json<Vec<(Uuid, String)>>",
            (select coalesce(json_agg(s order by s.position), '[]')
             from current_scenarios s where s.gameday_id = $2) as "scenarios!: Json<Vec<Scenario>>",
            (select coalesce(json_agg(o order by o.position, lower(o.name)), '[]')
             from signer_rows o where o.gameday_id = $2) as "signers!: Json<Vec<SignerRow>>",
            (select coalesce(json_agg(a order by a.created_at), '[]')
             from action_item_rows a where a.retest_gameday_id = $2) as "retests!: Json<Vec<ActionItem>>"
        "#,
        team_id,
        gameday_id,
        with_candidates
    )
    .fetch_one(db)
    .await?;
    Ok(GamedayPage {
        participants: row.participants.0,
        candidates: row.candidates.0,
        scenarios: row.scenarios.0,
        signoffs: signoffs::by_scenario(row.signers.0),
        retests: row.retests.0,
    })
}

#[tracing::instrument(skip(db))]
pub async fn participant_role(
    db: impl PgExecutor<'_>,
    gameday_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<GamedayRole>> {
    // Only while they are in the team too: someone who left has no say on its game days.
    sqlx::query_scalar!(
        r#"
        select p.role as "role: GamedayRole"
        from gameday_participants p
        join gamedays g on g.id = p.gameday_id
        join team_members m on m.team_id = g.team_id and m.user_id = p.user_id
        where p.gameday_id = $1 and p.user_id = $2
        "#,
        gameday_id,
        user_id
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip(conn))]
pub async fn add_participant(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    user_id: Uuid,
    role: GamedayRole,
) -> sqlx::Result<bool> {
    let result = sqlx::query!(
        "insert into gameday_participants (gameday_id, user_id, role) values ($1, $2, $3) on conflict do nothing",
        gameday_id,
        user_id,
        role as GamedayRole
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[tracing::instrument(skip(conn))]
pub async fn set_participant_role(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    user_id: Uuid,
    role: GamedayRole,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update gameday_participants set role = $3 where gameday_id = $1 and user_id = $2",
        gameday_id,
        user_id,
        role as GamedayRole
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(conn))]
pub async fn remove_participant(conn: &mut PgConnection, gameday_id: Uuid, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("delete from gameday_participants where gameday_id = $1 and user_id = $2", gameday_id, user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The person's role in the team, if they are in it (participants are chosen among members).
#[tracing::instrument(skip(conn))]
pub async fn team_role(conn: &mut PgConnection, team_id: Uuid, user_id: Uuid) -> sqlx::Result<Option<TeamRole>> {
    sqlx::query_scalar!(
        r#"select role as "role: TeamRole" from team_members where team_id = $1 and user_id = $2"#,
        team_id,
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// The person's role in the game day's team, its row locked for share until the transaction
/// ends: a lead's role change (which locks the team's member rows for update) waits, and is
/// waited for.
#[tracing::instrument(skip(conn))]
pub async fn lock_team_role(
    conn: &mut PgConnection,
    gameday_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<TeamRole>> {
    sqlx::query_scalar!(
        r#"
        select m.role as "role: TeamRole"
        from team_members m join gamedays g on g.team_id = m.team_id
        where g.id = $1 and m.user_id = $2
        for share of m
        "#,
        gameday_id,
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// Someone's place on the team's game days that are not over yet.
#[derive(Debug, Clone)]
pub struct OpenParticipation {
    pub gameday_id: Uuid,
    pub title: String,
    pub role: GamedayRole,
    /// How many facilitators the game day has.
    pub facilitators: i64,
}

#[tracing::instrument(skip(conn))]
pub async fn open_participations(
    conn: &mut PgConnection,
    team_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Vec<OpenParticipation>> {
    sqlx::query_as!(
        OpenParticipation,
        r#"
        select g.id as gameday_id, g.title, p.role as "role: GamedayRole",
               (select count(*) from gameday_participants f where f.gameday_id = g.id and f.role = 'facilitator') as "facilitators!"
        from gameday_participants p join gamedays g on g.id = p.gameday_id
        where g.team_id = $1 and p.user_id = $2 and plan_is_open(g.status)
        order by g.created_at
        "#,
        team_id,
        user_id
    )
    .fetch_all(conn)
    .await
}

/// The team's game days that are scheduled or running, as (title, status), soonest first: what
/// keeps the team from being archived.
#[tracing::instrument(skip(conn))]
pub async fn scheduled_or_running(conn: &mut PgConnection, team_id: Uuid) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!(
        r#"
        select title, status::text as "status!"
        from gamedays
        where team_id = $1 and status in ('scheduled', 'running')
        order by starts_at nulls last, created_at
        "#,
        team_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.title, r.status)).collect())
}

/// The team's game days that have been scheduled at some point and start from `since` on (for
/// its fault calendar), soonest first: at most `limit`.
#[tracing::instrument(skip(db))]
pub async fn scheduled_gamedays(
    db: &PgPool,
    team_id: Uuid,
    since: OffsetDateTime,
    limit: i64,
) -> sqlx::Result<Vec<Gameday>> {
    sqlx::query_as!(
        Gameday,
        r#"
        select id, team_id, title, objective, environment, systems, starts_at, ends_at, call_link,
               status as "status: GamedayStatus", cancel_reason, ics_sequence, last_event_seq
        from gamedays
        where team_id = $1 and starts_at >= $2
          and status <> 'draft'
        order by starts_at, id
        limit $3
        "#,
        team_id,
        since,
        limit
    )
    .fetch_all(db)
    .await
}

/// The plan changed (a scenario was added or revised): calendar apps should refresh the entry.
#[tracing::instrument(skip(conn))]
pub async fn plan_changed(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("update gamedays set ics_sequence = ics_sequence + 1 where id = $1", id).execute(conn).await?;
    Ok(())
}

/// The team's game days that are not over yet, as (id, title): where a re-test or a replayed
/// incident can still go.
pub async fn open_gamedays(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<(Uuid, String)>> {
    let all = team_gamedays(db, team_id).await?;
    Ok(all.into_iter().filter(|g| g.status.plan_is_open()).map(|g| (g.id, g.title)).collect())
}
