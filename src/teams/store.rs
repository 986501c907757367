//! SQL for teams, members and invites.

use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Membership, Team, TeamRole};
use crate::gamedays::store::GamedaySummary;
use crate::scenarios::store::signoffs::AwaitingSignoff;

/// The team with this slug, if `user_id` is a member of it.
#[tracing::instrument(skip(db))]
pub async fn membership(db: impl PgExecutor<'_>, slug: &str, user_id: Uuid) -> sqlx::Result<Option<Membership>> {
    let row = sqlx::query!(
        r#"
        select t.id, t.name, t.slug, m.role as "role: TeamRole", t.require_two_factor, t.archived_at, t.demo
        from teams t join team_members m on m.team_id = t.id and m.user_id = $2
        where t.slug = $1
        "#,
        slug,
        user_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| Membership {
        team: Team { id: r.id, name: r.name, slug: r.slug },
        role: r.role,
        two_factor_required: r.require_two_factor,
        archived_at: r.archived_at,
        demo: r.demo,
    }))
}

/// Why a team could not be created or renamed.
#[derive(Debug, thiserror::Error)]
pub enum SlugError {
    #[error("the URL name is taken")]
    Taken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn slug_taken(err: sqlx::Error) -> SlugError {
    match err {
        sqlx::Error::Database(db) if db.constraint() == Some("teams_slug_key") => SlugError::Taken,
        other => SlugError::Database(other),
    }
}

/// Creates a team with its creator as the first lead.
#[tracing::instrument(skip(conn))]
pub async fn create_team(
    conn: &mut PgConnection,
    name: &str,
    slug: &str,
    creator: Uuid,
    demo: bool,
) -> Result<Team, SlugError> {
    let team = sqlx::query_as!(
        Team,
        "insert into teams (id, name, slug, created_by, demo) values ($1, $2, $3, $4, $5) returning id, name, slug",
        Uuid::now_v7(),
        name,
        slug,
        creator,
        demo
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(slug_taken)?;
    add_member(conn, team.id, creator, TeamRole::Lead).await?;
    Ok(team)
}

/// The team, its row locked until the transaction ends (so two renames are recorded in order).
#[tracing::instrument(skip(conn))]
pub async fn lock_team(conn: &mut PgConnection, team_id: Uuid) -> sqlx::Result<Option<Team>> {
    sqlx::query_as!(Team, "select id, name, slug from teams where id = $1 for update", team_id)
        .fetch_optional(conn)
        .await
}

/// The team, read without a lock.
#[tracing::instrument(skip(conn))]
pub async fn team(conn: impl PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<Option<Team>> {
    sqlx::query_as!(Team, "select id, name, slug from teams where id = $1", team_id).fetch_optional(conn).await
}

/// Archives (`archive`) or unarchives the team; false when it already was so.
#[tracing::instrument(skip(conn))]
pub async fn set_archived(conn: &mut PgConnection, team_id: Uuid, archive: bool) -> sqlx::Result<bool> {
    let changed = sqlx::query!(
        r#"
        update teams set archived_at = case when $2 then gameday_now() end
        where id = $1 and (archived_at is null) = $2
        "#,
        team_id,
        archive
    )
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}

#[tracing::instrument(skip(conn))]
pub async fn update_team(conn: &mut PgConnection, team_id: Uuid, name: &str, slug: &str) -> Result<(), SlugError> {
    sqlx::query!("update teams set name = $2, slug = $3 where id = $1", team_id, name, slug)
        .execute(conn)
        .await
        .map_err(slug_taken)?;
    Ok(())
}

/// A member as the team page lists them (a row of `member_rows`).
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub role: TeamRole,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

#[tracing::instrument(skip(db))]
pub async fn members(db: &PgPool, team_id: Uuid) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as!(
        Member,
        r#"
        select user_id as "user_id!", display_name as "display_name!", email as "email!", role as "role!: TeamRole",
               joined_at as "joined_at!"
        from member_rows
        where team_id = $1
        order by role, lower(display_name)
        "#,
        team_id
    )
    .fetch_all(db)
    .await
}

/// What the team page shows of the team.
#[derive(Debug, Clone)]
pub struct TeamPage {
    /// By role, then name.
    pub members: Vec<Member>,
    /// Its invites that can still be used, newest first; read only when asked for.
    pub invites: Vec<PendingInvite>,
    /// One page of its game days, latest first (those without a date first: they are still
    /// being planned), after the game day `before` when given: at most `limit`. Keyed by
    /// (start, creation, id), so a game day added meanwhile moves no other one between pages.
    pub gamedays: Vec<GamedaySummary>,
    /// Whether the viewer has made a fault-calendar feed for the team.
    pub has_feed: bool,
    /// The team's scenarios waiting for the viewer's sign-off (as on the dashboard).
    pub awaiting: Vec<AwaitingSignoff>,
}

/// The team page's own data ([`TeamPage`]) as `user_id` sees it, in one statement; the invites
/// only `with_invites`.
#[tracing::instrument(skip(db))]
pub async fn team_page(
    db: impl PgExecutor<'_>,
    team_id: Uuid,
    user_id: Uuid,
    with_invites: bool,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<TeamPage> {
    let row = sqlx::query!(
        r#"
        select
            (select coalesce(json_agg(m order by m.role, lower(m.display_name)), '[]')
             from member_rows m where m.team_id = $1) as "members!: Json<Vec<Member>>",
            (select coalesce(json_agg(i order by i.created_at desc), '[]')
             from (select i.id, i.role, u.display_name as created_by, i.expires_at, i.created_at
                   from team_invites i join users u on u.id = i.created_by
                   where $3 and i.team_id = $1 and i.used_at is null and i.revoked_at is null and i.expires_at > now()
                     and exists (select 1 from team_members m
                                 where m.team_id = i.team_id and m.user_id = i.created_by and m.role = 'lead')) i
            ) as "invites!: Json<Vec<PendingInvite>>",
            (select coalesce(json_agg(g order by g.start desc, g.created_at desc, g.id desc), '[]')
             from (select g.id, g.title, g.status, g.starts_at, g.environment, g.created_at,
                          coalesce(g.starts_at, 'infinity') as start,
                          (select count(*) from scenarios s where s.gameday_id = g.id) as scenarios
                   from gamedays g
                   where g.team_id = $1
                     and ($4::uuid is null
                          or (coalesce(g.starts_at, 'infinity'), g.created_at, g.id)
                             < (select coalesce(c.starts_at, 'infinity'), c.created_at, c.id
                                from gamedays c where c.id = $4 and c.team_id = $1))
                   order by coalesce(g.starts_at, 'infinity') desc, g.created_at desc, g.id desc
                   limit $5) g
            ) as "gamedays!: Json<Vec<GamedaySummary>>",
            exists (select 1 from calendar_feeds where team_id = $1 and user_id = $2) as "has_feed!",
            (select coalesce(json_agg(a order by a.starts_at nulls last, a.position), '[]')
             from awaiting_signoff_rows a where a.user_id = $2 and a.team_id = $1) as "awaiting!: Json<Vec<AwaitingSignoff>>"
        "#,
        team_id,
        user_id,
        with_invites,
        before,
        limit
    )
    .fetch_one(db)
    .await?;
    Ok(TeamPage {
        members: row.members.0,
        invites: row.invites.0,
        gamedays: row.gamedays.0,
        has_feed: row.has_feed,
        awaiting: row.awaiting.0,
    })
}

/// A team's members and roles, read under lock.
#[derive(Debug, Clone)]
pub struct LockedMembers(Vec<(Uuid, TeamRole)>);

impl LockedMembers {
    pub fn role_of(&self, user_id: Uuid) -> Option<TeamRole> {
        self.0.iter().find(|(id, _)| *id == user_id).map(|(_, role)| *role)
    }

    pub fn leads(&self) -> i64 {
        self.0.iter().filter(|(_, role)| role.is_lead()).count() as i64
    }
}

/// Locks all of the team's membership rows for this transaction, which serialises concurrent
/// role changes and removals in one team, and returns them.
#[tracing::instrument(skip(conn))]
pub async fn lock_members(conn: &mut PgConnection, team_id: Uuid) -> sqlx::Result<LockedMembers> {
    let rows = sqlx::query!(
        r#"select user_id, role as "role: TeamRole" from team_members where team_id = $1 for update"#,
        team_id
    )
    .fetch_all(conn)
    .await?;
    Ok(LockedMembers(rows.into_iter().map(|r| (r.user_id, r.role)).collect()))
}

#[tracing::instrument(skip(conn))]
pub async fn set_role(conn: &mut PgConnection, team_id: Uuid, user_id: Uuid, role: TeamRole) -> sqlx::Result<()> {
    sqlx::query!(
        "update team_members set role = $3 where team_id = $1 and user_id = $2",
        team_id,
        user_id,
        role as TeamRole
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(conn))]
pub async fn remove_member(conn: &mut PgConnection, team_id: Uuid, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("delete from team_members where team_id = $1 and user_id = $2", team_id, user_id)
        .execute(&mut *conn)
        .await?;
    // Their API tokens for the team stop with their membership (and do not come back with a
    // new invite).
    sqlx::query!(
        "update api_tokens set revoked_at = now() where team_id = $1 and user_id = $2 and revoked_at is null",
        team_id,
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds a member; returns false when they already were one (their role is left as it was).
#[tracing::instrument(skip(conn))]
pub async fn add_member(conn: &mut PgConnection, team_id: Uuid, user_id: Uuid, role: TeamRole) -> sqlx::Result<bool> {
    let result = sqlx::query!(
        "insert into team_members (team_id, user_id, role) values ($1, $2, $3) on conflict do nothing",
        team_id,
        user_id,
        role as TeamRole
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[tracing::instrument(skip(conn, token_hash))]
pub async fn create_invite(
    conn: &mut PgConnection,
    team_id: Uuid,
    token_hash: &[u8],
    role: TeamRole,
    created_by: Uuid,
    expires_at: OffsetDateTime,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "insert into team_invites (id, team_id, token_hash, role, created_by, expires_at) values ($1, $2, $3, $4, $5, $6)",
        id,
        team_id,
        token_hash,
        role as TeamRole,
        created_by,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(id)
}

/// An invite that can still be used, as the team page lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct PendingInvite {
    pub id: Uuid,
    pub role: TeamRole,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Revokes an unused invite of this team and returns the role it was for; None if there was none.
#[tracing::instrument(skip(conn))]
pub async fn revoke_invite(conn: &mut PgConnection, team_id: Uuid, invite_id: Uuid) -> sqlx::Result<Option<TeamRole>> {
    sqlx::query_scalar!(
        r#"update team_invites set revoked_at = now()
           where id = $1 and team_id = $2 and used_at is null and revoked_at is null
           returning role as "role: TeamRole""#,
        invite_id,
        team_id
    )
    .fetch_optional(conn)
    .await
}

/// An invite found by its token.
#[derive(Debug, Clone)]
pub struct Invite {
    pub id: Uuid,
    pub team: Team,
    pub role: TeamRole,
    pub invited_by: String,
    pub expires_at: OffsetDateTime,
    pub used: bool,
    pub revoked: bool,
    /// When the invite's team was archived (an archived team takes no new member).
    pub team_archived_at: Option<OffsetDateTime>,
}

/// The invite with this token hash. Its row is locked until the surrounding transaction ends
/// (outside a transaction the lock is released at once), so two acceptances cannot both use it.
#[tracing::instrument(skip_all)]
pub async fn invite_by_token(conn: &mut PgConnection, token_hash: &[u8]) -> sqlx::Result<Option<Invite>> {
    let row = sqlx::query!(
        r#"
        select i.id, t.id as team_id, t.name, t.slug, i.role as "role: TeamRole", u.display_name as invited_by,
               i.expires_at, i.used_at is not null as "used!", i.revoked_at is not null as "revoked!",
               t.archived_at
        from team_invites i join teams t on t.id = i.team_id join users u on u.id = i.created_by
        where i.token_hash = $1
        for update of i
        "#,
        token_hash
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Invite {
        id: r.id,
        team: Team { id: r.team_id, name: r.name, slug: r.slug },
        role: r.role,
        invited_by: r.invited_by,
        expires_at: r.expires_at,
        used: r.used,
        revoked: r.revoked,
        team_archived_at: r.archived_at,
    }))
}

/// The current team role of the invite's creator (None once they left), their member row
/// locked against a role change or removal until the transaction ends.
#[tracing::instrument(skip(conn))]
pub async fn lock_invite_creator_role(conn: &mut PgConnection, invite_id: Uuid) -> sqlx::Result<Option<TeamRole>> {
    sqlx::query_scalar!(
        r#"select m.role as "role: TeamRole" from team_members m
           join team_invites i on i.team_id = m.team_id and i.created_by = m.user_id
           where i.id = $1 for share of m"#,
        invite_id
    )
    .fetch_optional(conn)
    .await
}

#[tracing::instrument(skip(conn))]
pub async fn mark_invite_used(conn: &mut PgConnection, invite_id: Uuid, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("update team_invites set used_at = gameday_now(), used_by = $2 where id = $1", invite_id, user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The team of the member whose fault-calendar feed has the secret hashing to `token_hash`,
/// while they are a member (a feed goes with its membership).
#[tracing::instrument(skip_all)]
pub async fn team_by_calendar_feed(db: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<Team>> {
    sqlx::query_as!(
        Team,
        r#"
        select t.id, t.name, t.slug
        from calendar_feeds f
        join team_access m on m.team_id = f.team_id and m.user_id = f.user_id
        join teams t on t.id = f.team_id
        where f.token_hash = $1
        "#,
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Gives the member's feed a new secret (its hash), replacing the old one.
#[tracing::instrument(skip(conn, token_hash))]
pub async fn set_calendar_feed(
    conn: &mut PgConnection,
    team_id: Uuid,
    user_id: Uuid,
    token_hash: &[u8],
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"
        insert into calendar_feeds (team_id, user_id, token_hash) values ($1, $2, $3)
        on conflict (team_id, user_id) do update set token_hash = excluded.token_hash, created_at = now()
        "#,
        team_id,
        user_id,
        token_hash
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The teams a user is in.
#[tracing::instrument(skip(db))]
pub async fn team_ids_of(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    // Through `team_access`: a team whose two-factor rule shuts this person out sends them nothing.
    sqlx::query_scalar!(r#"select team_id as "team_id!" from team_access where user_id = $1"#, user_id)
        .fetch_all(db)
        .await
}

/// Where a person who holds a live stream stands now, in one statement: whether the session that
/// opened it is still signed in (its `account_sessions` row is there and within its lifetime),
/// and the teams they are in (through `team_access`, like [`team_ids_of`]).
#[tracing::instrument(skip(db))]
pub async fn standing(db: &PgPool, user_id: Uuid, session: Uuid) -> sqlx::Result<(bool, Vec<Uuid>)> {
    let row = sqlx::query!(
        r#"select exists (select 1 from account_sessions
                          where id = $2 and user_id = $1
                            and created_at > now() - make_interval(days => $3::int)) as "signed_in!",
                  array(select team_id from team_access where user_id = $1) as "teams!: Vec<Uuid>""#,
        user_id,
        session,
        crate::accounts::SESSION_MAX_DAYS as i32
    )
    .fetch_one(db)
    .await?;
    Ok((row.signed_in, row.teams))
}

/// Sets whether the team requires two-factor sign-in of its members.
#[tracing::instrument(skip(conn))]
pub async fn set_two_factor_required(conn: &mut PgConnection, team_id: Uuid, required: bool) -> sqlx::Result<()> {
    sqlx::query!("update teams set require_two_factor = $2 where id = $1", team_id, required).execute(conn).await?;
    Ok(())
}

/// The names of the team's members who have not set up two-factor sign-in.
#[tracing::instrument(skip(db))]
pub async fn members_without_two_factor(db: impl sqlx::PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select u.display_name from team_members m join users u on u.id = m.user_id
         where m.team_id = $1 and u.totp_secret is null order by lower(u.display_name)",
        team_id
    )
    .fetch_all(db)
    .await
}

/// Locks the team's row and returns whether it requires two-factor sign-in.
#[tracing::instrument(skip(conn))]
pub async fn lock_team_two_factor(conn: &mut PgConnection, team_id: Uuid) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!("select require_two_factor from teams where id = $1 for update", team_id)
        .fetch_optional(conn)
        .await
}

/// The ids of the teams a person is a member of.
#[tracing::instrument(skip(conn))]
pub async fn teams_of(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!("select team_id from team_members where user_id = $1 order by team_id", user_id)
        .fetch_all(conn)
        .await
}

/// How many members a team has.
#[tracing::instrument(skip(db))]
pub async fn member_count(db: impl sqlx::PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from team_members where team_id = $1"#, team_id).fetch_one(db).await
}

/// Whether the team is a demo team (`crate::demo`).
#[tracing::instrument(skip(db))]
pub async fn is_demo(db: impl sqlx::PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!("select demo from teams where id = $1", team_id).fetch_one(db).await
}
