//! SQL for API tokens.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ApiToken, Scope, scopes_from};
use crate::accounts::User;

/// Writes a new token; returns when it expires.
#[tracing::instrument(skip(conn, secret_hash))]
#[allow(clippy::too_many_arguments)]
pub async fn create(
    conn: &mut PgConnection,
    id: Uuid,
    user_id: Uuid,
    team_id: Uuid,
    name: &str,
    scopes: &[Scope],
    secret_hash: &[u8],
    lifetime_days: i64,
) -> sqlx::Result<OffsetDateTime> {
    let scopes: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    sqlx::query_scalar!(
        r#"insert into api_tokens (id, user_id, team_id, name, scopes, secret_hash, expires_at)
           values ($1, $2, $3, $4, $5, $6, now() + make_interval(days => $7::int))
           returning expires_at"#,
        id,
        user_id,
        team_id,
        name,
        &scopes,
        secret_hash,
        lifetime_days as i32
    )
    .fetch_one(conn)
    .await
}

/// Locks the person's membership of the team (so that two requests cannot both pass the cap) and
/// counts their tokens there that still work; None if they are not a member.
#[tracing::instrument(skip(conn))]
pub async fn active_count_locked(conn: &mut PgConnection, user_id: Uuid, team_id: Uuid) -> sqlx::Result<Option<i64>> {
    let member = sqlx::query_scalar!(
        "select 1 as one from team_members where team_id = $1 and user_id = $2 for update",
        team_id,
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if member.is_none() {
        return Ok(None);
    }
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from api_tokens
           where user_id = $1 and team_id = $2 and revoked_at is null and expires_at > now()"#,
        user_id,
        team_id
    )
    .fetch_one(conn)
    .await
    .map(Some)
}

/// A person's tokens in every team, newest first (the last 200).
pub async fn of_user(db: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<Vec<ApiToken>> {
    list(db, Some(user_id), None).await
}

/// The tokens of a team's members, newest first (the last 200): what its leads see.
pub async fn of_team(db: impl PgExecutor<'_>, team_id: Uuid) -> sqlx::Result<Vec<ApiToken>> {
    list(db, None, Some(team_id)).await
}

/// Tokens, those that work first (so none can drop off the list), then the newest (200 in all):
/// a person's (`owner`), a team's (`team_id`), or both.
#[tracing::instrument(skip(db))]
async fn list(db: impl PgExecutor<'_>, owner: Option<Uuid>, team_id: Option<Uuid>) -> sqlx::Result<Vec<ApiToken>> {
    let rows = sqlx::query!(
        r#"select k.id, k.user_id, u.display_name as owner, k.team_id, t.name as team_name, t.slug as team_slug,
                  k.name, k.scopes, k.created_at, k.expires_at, k.last_used_at, k.revoked_at
           from api_tokens k join users u on u.id = k.user_id join teams t on t.id = k.team_id
           where ($1::uuid is null or k.user_id = $1) and ($2::uuid is null or k.team_id = $2)
           order by (k.revoked_at is null and k.expires_at > now()) desc, k.created_at desc limit 200"#,
        owner,
        team_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ApiToken {
            id: r.id,
            user_id: r.user_id,
            owner: r.owner,
            team_id: r.team_id,
            team_name: r.team_name,
            team_slug: r.team_slug,
            name: r.name,
            scopes: scopes_from(&r.scopes),
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Revokes a token that still works, if it is `user_id`'s (`team_id` None) or the team's
/// (`team_id` Some, for its leads). Returns the token's team, name and owner's name; None if
/// there is no such token or it was already revoked.
#[tracing::instrument(skip(conn))]
pub async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
    by: Uuid,
    owner: Option<Uuid>,
    team_id: Option<Uuid>,
) -> sqlx::Result<Option<(Uuid, String, String)>> {
    let row = sqlx::query!(
        r#"update api_tokens k set revoked_at = now(), revoked_by = $2
           from users u
           where k.id = $1 and u.id = k.user_id and k.revoked_at is null
             and ($3::uuid is null or k.user_id = $3) and ($4::uuid is null or k.team_id = $4)
           returning k.team_id, k.name, u.display_name as owner"#,
        id,
        by,
        owner,
        team_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.team_id, r.name, r.owner)))
}

/// What a presented token is checked against: its stored hash and standing, with the person it
/// belongs to. (No `Debug`: it holds the hash and the person's password hash.)
pub struct TokenAuth {
    pub id: Uuid,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub team_id: Uuid,
    pub scopes: Vec<Scope>,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// Whether "last used" is due to be written ([`super::LAST_USED_EVERY`]).
    pub touch_due: bool,
    /// Whether its person (not erased) is still a member of its team: a token works only then.
    pub member: bool,
    /// The team's two-factor rule lets them in (the `team_access` view).
    pub admitted: bool,
    pub user: User,
}

/// The token row `id` with its person, in one statement.
#[tracing::instrument(skip(db))]
pub async fn for_auth(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<TokenAuth>> {
    let row = sqlx::query!(
        r#"select k.id, k.name, k.secret_hash, k.team_id, k.scopes, k.expires_at, k.revoked_at,
                  (k.last_used_at is null or k.last_used_at < now() - make_interval(secs => $2::float8)) as "touch_due!",
                  u.id as user_id, u.email, u.display_name, u.password_hash, u.is_admin, u.time_zone,
                  sha256(convert_to(u.password_hash, 'UTF8')) as "auth_hash!", u.totp_secret is not null as "two_factor!",
                  (u.erased_at is null and exists (select 1 from team_members m
                                                   where m.team_id = k.team_id and m.user_id = k.user_id)) as "member!",
                  exists (select 1 from team_access a where a.team_id = k.team_id and a.user_id = k.user_id) as "admitted!"
           from api_tokens k join users u on u.id = k.user_id
           where k.id = $1"#,
        id,
        super::LAST_USED_EVERY.as_seconds_f64()
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| TokenAuth {
        id: r.id,
        name: r.name,
        secret_hash: r.secret_hash,
        team_id: r.team_id,
        scopes: scopes_from(&r.scopes),
        expires_at: r.expires_at,
        revoked_at: r.revoked_at,
        touch_due: r.touch_due,
        member: r.member,
        admitted: r.admitted,
        user: User {
            id: r.user_id,
            email: r.email,
            display_name: r.display_name,
            password_hash: r.password_hash,
            is_admin: r.is_admin,
            time_zone: r.time_zone,
            auth_hash: r.auth_hash,
            two_factor: r.two_factor,
        },
    }))
}

/// Notes that a token was used now.
#[tracing::instrument(skip(db))]
pub async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("update api_tokens set last_used_at = now() where id = $1", id).execute(db).await?;
    Ok(())
}
