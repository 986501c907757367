//! SQL for learnings (with ranked full-text search) and action items.

use sqlx::{PgConnection, PgPool};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{ActionStatus, NewAction, NewLearning};

#[derive(Debug, Clone)]
pub struct Learning {
    pub id: Uuid,
    pub statement: String,
    pub tags: Vec<String>,
    pub gameday_id: Option<Uuid>,
    pub gameday_title: Option<String>,
    pub scenario_title: Option<String>,
    pub author: String,
    pub created_at: OffsetDateTime,
}

#[tracing::instrument(skip(conn, learning))]
pub async fn create_learning(
    conn: &mut PgConnection,
    team_id: Uuid,
    gameday_id: Uuid,
    author: Uuid,
    learning: &NewLearning,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"
        insert into learnings (id, team_id, gameday_id, scenario_id, statement, tags, search, author)
        values ($1, $2, $3, $4, $5, $6,
                setweight(to_tsvector('english', $5), 'A') || setweight(to_tsvector('english', array_to_string($6::text[], ' ')), 'B'),
                $7)
        "#,
        id,
        team_id,
        gameday_id,
        learning.scenario,
        learning.statement,
        &learning.tags,
        author
    )
    .execute(conn)
    .await?;
    Ok(id)
}

#[tracing::instrument(skip(db))]
pub async fn of_gameday(db: &PgPool, gameday_id: Uuid) -> sqlx::Result<Vec<Learning>> {
    sqlx::query_as!(
        Learning,
        r#"
        select l.id as "id!", l.statement as "statement!", l.tags as "tags!", l.gameday_id, l.gameday_title,
               l.scenario_title, l.author as "author!", l.created_at as "created_at!"
        from learning_rows l
        where l.gameday_id = $1
        order by l.created_at
        "#,
        gameday_id
    )
    .fetch_all(db)
    .await
}

/// The team's learnings matching `query` (full text, best first) and `tag`; all, newest first,
/// when both are empty: at most `limit`, after the learning `after` (the last of the page
/// before) when given. Keyed by (rank, creation, id): the rank of a learning for one query
/// does not change, so the next page starts exactly where this one ended.
#[tracing::instrument(skip(db))]
pub async fn search(
    db: &PgPool,
    team_id: Uuid,
    query: &str,
    tag: &str,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Learning>> {
    sqlx::query_as!(
        Learning,
        r#"
        select l.id as "id!", l.statement as "statement!", l.tags as "tags!", l.gameday_id, l.gameday_title,
               l.scenario_title, l.author as "author!", l.created_at as "created_at!"
        from learning_rows l
        where l.team_id = $1
          and ($2 = '' or l.search @@ websearch_to_tsquery('english', $2))
          and ($3 = '' or $3 = any(l.tags))
          and ($4::uuid is null
               or (case when $2 = '' then 0 else ts_rank(l.search, websearch_to_tsquery('english', $2)) end,
                   l.created_at, l.id)
                  < (select case when $2 = '' then 0 else ts_rank(c.search, websearch_to_tsquery('english', $2)) end,
                            c.created_at, c.id
                     from learnings c where c.id = $4 and c.team_id = $1))
        order by case when $2 = '' then 0 else ts_rank(l.search, websearch_to_tsquery('english', $2)) end desc,
                 l.created_at desc, l.id desc
        limit $5
        "#,
        team_id,
        query,
        tag,
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// Every tag the team uses, most used first.
#[tracing::instrument(skip(db))]
pub async fn tags(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select t as "tag!" from learnings, unnest(tags) t where team_id = $1 group by t order by count(*) desc, t limit 50"#,
        team_id
    )
    .fetch_all(db)
    .await
}

// A date in JSON as PostgreSQL writes it (`YYYY-MM-DD`; time's own serde format is a tuple).
time::serde::format_description!(json_date, Date, "[year]-[month]-[day]");

/// An action item as the pages list it (a row of `action_item_rows`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ActionItem {
    pub id: Uuid,
    pub title: String,
    pub owner: Uuid,
    pub owner_name: String,
    #[serde(with = "json_date::option")]
    pub due_on: Option<Date>,
    pub status: ActionStatus,
    pub link: Option<String>,
    pub gameday_id: Option<Uuid>,
    pub gameday_title: Option<String>,
    pub team_slug: String,
    pub retest_gameday_id: Option<Uuid>,
    pub retest_title: Option<String>,
}

impl ActionItem {
    /// Open and past its due date.
    pub fn overdue(&self) -> bool {
        super::is_overdue(self.status, self.due_on, OffsetDateTime::now_utc().date())
    }
}

#[tracing::instrument(skip(conn, action))]
pub async fn create_action(
    conn: &mut PgConnection,
    team_id: Uuid,
    gameday_id: Uuid,
    by: Uuid,
    action: &NewAction,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into action_items (id, team_id, gameday_id, title, owner, due_on, link, retest_gameday_id, created_by) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        id,
        team_id,
        gameday_id,
        action.title,
        action.owner,
        action.due_on,
        action.link,
        action.retest,
        by
    )
    .execute(conn)
    .await?;
    Ok(id)
}

#[tracing::instrument(skip(db))]
pub async fn actions_of_gameday(db: &PgPool, gameday_id: Uuid) -> sqlx::Result<Vec<ActionItem>> {
    sqlx::query_as!(
        ActionItem,
        r#"
        select a.id as "id!", a.title as "title!", a.owner as "owner!", a.owner_name as "owner_name!", a.due_on,
               a.status as "status!: ActionStatus", a.link, a.gameday_id, a.gameday_title, a.team_slug as "team_slug!",
               a.retest_gameday_id, a.retest_title
        from action_item_rows a
        where a.gameday_id = $1
        order by a.created_at
        "#,
        gameday_id
    )
    .fetch_all(db)
    .await
}

/// The team's open actions, soonest due first (those without a date last): at most `limit`,
/// after the action `after` (the last of the page before) when given. Keyed by (due date,
/// creation, id), so an action closed meanwhile moves no other one between pages.
#[tracing::instrument(skip(db))]
pub async fn open_actions(
    db: &PgPool,
    team_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<ActionItem>> {
    sqlx::query_as!(
        ActionItem,
        r#"
        select a.id as "id!", a.title as "title!", a.owner as "owner!", a.owner_name as "owner_name!", a.due_on,
               a.status as "status!: ActionStatus", a.link, a.gameday_id, a.gameday_title, a.team_slug as "team_slug!",
               a.retest_gameday_id, a.retest_title
        from action_item_rows a
        where a.team_id = $1 and a.status = 'open'
          and ($2::uuid is null
               or (coalesce(a.due_on, 'infinity'), a.created_at, a.id)
                  > (select coalesce(c.due_on, 'infinity'), c.created_at, c.id
                     from action_items c where c.id = $2 and c.team_id = $1))
        order by coalesce(a.due_on, 'infinity'), a.created_at, a.id
        limit $3
        "#,
        team_id,
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// Sets an action's status; false when it is not the team's.
#[tracing::instrument(skip(conn))]
pub async fn set_action_status(
    conn: &mut PgConnection,
    team_id: Uuid,
    id: Uuid,
    status: ActionStatus,
) -> sqlx::Result<bool> {
    let result = sqlx::query!(
        "update action_items set status = $3 where id = $1 and team_id = $2",
        id,
        team_id,
        status as ActionStatus
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// An action of the team as a change to it needs it: who owns it, what it says, where it stands.
#[derive(Debug, Clone)]
pub struct ActionForUpdate {
    pub owner: Uuid,
    pub title: String,
    pub status: ActionStatus,
}

/// The team's action, its row locked until the transaction ends.
#[tracing::instrument(skip(conn))]
pub async fn lock_action(conn: &mut PgConnection, team_id: Uuid, id: Uuid) -> sqlx::Result<Option<ActionForUpdate>> {
    sqlx::query_as!(
        ActionForUpdate,
        r#"select owner, title, status as "status: ActionStatus" from action_items
           where id = $1 and team_id = $2 for update"#,
        id,
        team_id
    )
    .fetch_optional(conn)
    .await
}

/// The team's members: (id, name).
#[tracing::instrument(skip(db))]
pub async fn team_members(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<(Uuid, String)>> {
    let rows = sqlx::query!(
        "select u.id, u.display_name from team_members m join users u on u.id = m.user_id where m.team_id = $1 order by lower(u.display_name)",
        team_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.display_name)).collect())
}

/// A team's numbers for its overview page.
#[derive(Debug, Clone, Default)]
pub struct Numbers {
    pub gamedays_held: i64,
    pub held: i64,
    pub refuted: i64,
    pub inconclusive: i64,
    pub open_actions: i64,
    pub overdue_actions: i64,
    pub open_weaknesses: i64,
}

#[tracing::instrument(skip(db))]
pub async fn numbers(db: &PgPool, team_id: Uuid) -> sqlx::Result<Numbers> {
    let r = sqlx::query!(
        r#"
        select
          (select count(*) from gamedays where team_id = $1 and status = 'completed') as "gamedays!",
          (select count(*) from scenarios s join gamedays g on g.id = s.gameday_id where g.team_id = $1 and s.outcome = 'held') as "held!",
          (select count(*) from scenarios s join gamedays g on g.id = s.gameday_id where g.team_id = $1 and s.outcome = 'refuted') as "refuted!",
          (select count(*) from scenarios s join gamedays g on g.id = s.gameday_id where g.team_id = $1 and s.outcome = 'inconclusive') as "inconclusive!",
          (select count(*) from action_items where team_id = $1 and status = 'open') as "open_actions!",
          (select count(*) from action_items where team_id = $1 and is_overdue(status, due_on, current_date)) as "overdue!",
          (select count(*) from weaknesses where team_id = $1 and status = 'open') as "weaknesses!"
        "#,
        team_id
    )
    .fetch_one(db)
    .await?;
    Ok(Numbers {
        gamedays_held: r.gamedays,
        held: r.held,
        refuted: r.refuted,
        inconclusive: r.inconclusive,
        open_actions: r.open_actions,
        overdue_actions: r.overdue,
        open_weaknesses: r.weaknesses,
    })
}

/// Every event of the team's completed game days that belongs to a scenario, with the
/// scenario's title, for timings over time: (game day start, scenario title, event).
#[tracing::instrument(skip(db))]
pub async fn scenario_events_of_completed(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<crate::timeline::Event>> {
    sqlx::query_as!(
        crate::timeline::Event,
        r#"
        select e.seq, e.at, e.observed_at, e.actor, null::text as "actor_name?", e.kind, e.scenario_id,
               r.title as "scenario_title?", e.body, null::text as "body_html?", e.data
        from timeline_events e
        join gamedays g on g.id = e.gameday_id
        join scenarios s on s.id = e.scenario_id
        join scenario_revisions r on r.scenario_id = s.id and r.revision = s.current_revision
        where g.team_id = $1 and g.status = 'completed'
          and (e.kind in ('scenario_announced', 'scenario_injected', 'scenario_rolled_back', 'scenario_halted', 'scenario_concluded')
               or (e.kind = 'observation' and e.data ? 'marker'))
        order by e.at
        "#,
        team_id
    )
    .fetch_all(db)
    .await
}
