//! SQL for accounts and sign-in throttling.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{AccountSession, Email, SESSION_MAX_DAYS, SIGNUP_WINDOW_MINUTES, THROTTLE_WINDOW_MINUTES, User};

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Inserts a user; the very first account becomes an administrator.
#[tracing::instrument(skip_all)]
pub async fn create_user(
    conn: &mut PgConnection,
    email: &Email,
    display_name: &str,
    password_hash: &str,
    time_zone: &str,
) -> Result<User, CreateUserError> {
    // Serialise sign-ups for the "first account is admin" decision (two first sign-ups at once).
    sqlx::query!("select pg_advisory_xact_lock(hashtext('gameday.first_admin'))").execute(&mut *conn).await?;
    let result = sqlx::query_as!(
        User,
        r#"
        insert into users (id, email, display_name, password_hash, is_admin, time_zone)
        values ($1, $2, $3, $4, not exists (select 1 from users), $5)
        returning id, email, display_name, password_hash, is_admin, time_zone, sha256(convert_to(password_hash, 'UTF8')) as "auth_hash!", totp_secret is not null as "two_factor!"
        "#,
        Uuid::now_v7(),
        email.as_str(),
        display_name,
        password_hash,
        time_zone,
    )
    .fetch_one(&mut *conn)
    .await;
    match result {
        Ok(user) => Ok(user),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("users_email_key") => {
            Err(CreateUserError::EmailTaken)
        }
        Err(err) => Err(err.into()),
    }
}

#[tracing::instrument(skip_all)]
pub async fn user_by_email(db: &PgPool, email: &Email) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"select id, email, display_name, password_hash, is_admin, time_zone, sha256(convert_to(password_hash, 'UTF8')) as "auth_hash!", totp_secret is not null as "two_factor!" from users where email = $1"#,
        email.as_str()
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn user_by_id(db: &PgPool, id: Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(User, r#"select id, email, display_name, password_hash, is_admin, time_zone, sha256(convert_to(password_hash, 'UTF8')) as "auth_hash!", totp_secret is not null as "two_factor!" from users where id = $1"#, id)
        .fetch_optional(db)
        .await
}

/// Failed (or not yet decided) sign-in attempts within the throttle window from this client
/// address, not counting `except` (the attempt being decided): (to this account, to any account,
/// how long ago the last of them was).
#[tracing::instrument(skip_all)]
pub async fn recent_signin_failures(
    db: &PgPool,
    email: &Email,
    client_addr: &str,
    except: i64,
) -> sqlx::Result<(i64, i64, Option<time::Duration>)> {
    let row = sqlx::query!(
        r#"
        select
            count(*) filter (where email = $1) as "account!",
            count(*) as "address!",
            extract(epoch from now() - max(failed_at))::float8 as "since_last?"
        from signin_failures
        where failed_at > now() - make_interval(mins => $3::int)
          and client_addr = $2 and id <> $4
        "#,
        email.as_str(),
        client_addr,
        THROTTLE_WINDOW_MINUTES as i32,
        except,
    )
    .fetch_one(db)
    .await?;
    Ok((row.account, row.address, row.since_last.map(time::Duration::seconds_f64)))
}

/// Records a sign-in attempt before its password is checked, so that concurrent guesses are
/// counted too, and returns its id; rows older than a day are pruned on the way (a few at a time).
#[tracing::instrument(skip_all)]
pub async fn record_signin_attempt(db: &PgPool, email: &Email, client_addr: &str) -> sqlx::Result<i64> {
    sqlx::query!(
        "delete from signin_failures where id in
           (select id from signin_failures where failed_at < now() - interval '1 day' limit 100)"
    )
    .execute(db)
    .await?;
    sqlx::query_scalar!(
        "insert into signin_failures (email, client_addr) values ($1, $2) returning id",
        email.as_str(),
        client_addr
    )
    .fetch_one(db)
    .await
}

/// A refused attempt does not count: it is taken back.
#[tracing::instrument(skip_all)]
pub async fn forget_signin_attempt(db: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from signin_failures where id = $1", id).execute(db).await?;
    Ok(())
}

/// After a successful sign-in the account's failures from that client no longer count (another
/// client's guesses still do); old rows are pruned.
#[tracing::instrument(skip_all)]
pub async fn clear_signin_failures(db: &PgPool, email: &Email, client_addr: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from signin_failures
         where (email = $1 and client_addr = $2) or failed_at < now() - interval '1 day'",
        email.as_str(),
        client_addr
    )
    .execute(db)
    .await?;
    Ok(())
}

#[tracing::instrument(skip(db))]
pub async fn update_profile(db: &PgPool, user_id: Uuid, display_name: &str, time_zone: &str) -> sqlx::Result<()> {
    sqlx::query!("update users set display_name = $2, time_zone = $3 where id = $1", user_id, display_name, time_zone)
        .execute(db)
        .await?;
    Ok(())
}

/// Records a sign-up attempt from a client address (pruning those older than a day, a few at a
/// time) and returns how many it made within the window, this one included.
#[tracing::instrument(skip_all)]
pub async fn count_signup_attempt(db: &PgPool, client_addr: &str) -> sqlx::Result<i64> {
    sqlx::query!(
        "delete from signup_attempts where id in
           (select id from signup_attempts where at < now() - interval '1 day' limit 100)"
    )
    .execute(db)
    .await?;
    sqlx::query!("insert into signup_attempts (client_addr) values ($1)", client_addr).execute(db).await?;
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from signup_attempts
           where client_addr = $1 and at > now() - make_interval(mins => $2::int)"#,
        client_addr,
        SIGNUP_WINDOW_MINUTES as i32
    )
    .fetch_one(db)
    .await
}

/// Records a new signed-in session.
#[tracing::instrument(skip_all)]
pub async fn insert_session(
    db: &PgPool,
    id: Uuid,
    user_id: Uuid,
    user_agent: &str,
    client_addr: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into account_sessions (id, user_id, user_agent, client_addr) values ($1, $2, $3, $4)",
        id,
        user_id,
        user_agent,
        client_addr
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a session is within its absolute lifetime, and whether its "last seen" time is worth
/// updating; None if it has been ended.
#[tracing::instrument(skip(db))]
pub async fn session_state(db: &PgPool, id: Uuid, user_id: Uuid) -> sqlx::Result<Option<(bool, bool)>> {
    let row = sqlx::query!(
        r#"select created_at > now() - make_interval(days => $3::int) as "alive!",
                  last_seen_at < now() - interval '1 minute' as "stale!"
           from account_sessions where id = $1 and user_id = $2"#,
        id,
        user_id,
        SESSION_MAX_DAYS as i32
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| (row.alive, row.stale)))
}

#[tracing::instrument(skip(db))]
pub async fn touch_session(db: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("update account_sessions set last_seen_at = now() where id = $1", id).execute(db).await?;
    Ok(())
}

/// A person's sessions, the most recently used first.
#[tracing::instrument(skip(db))]
pub async fn sessions_of(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<AccountSession>> {
    sqlx::query_as!(
        AccountSession,
        "select id, created_at, last_seen_at, user_agent, client_addr from account_sessions
         where user_id = $1 order by last_seen_at desc, created_at desc",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Ends one of a person's sessions; whether it existed.
#[tracing::instrument(skip(conn))]
pub async fn delete_session(conn: &mut PgConnection, user_id: Uuid, id: Uuid) -> sqlx::Result<bool> {
    let done =
        sqlx::query!("delete from account_sessions where id = $1 and user_id = $2", id, user_id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of a person but `keep` (every one, if None); how many were ended.
#[tracing::instrument(skip(conn))]
pub async fn delete_sessions_except(conn: &mut PgConnection, user_id: Uuid, keep: Option<Uuid>) -> sqlx::Result<u64> {
    let done =
        sqlx::query!("delete from account_sessions where user_id = $1 and id is distinct from $2", user_id, keep)
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}

/// Replaces a person's password hash; returns the person as now stored.
#[tracing::instrument(skip_all)]
pub async fn set_password_hash(conn: &mut PgConnection, user_id: Uuid, hash: &str) -> sqlx::Result<User> {
    sqlx::query_as!(
        User,
        r#"update users set password_hash = $2 where id = $1
           returning id, email, display_name, password_hash, is_admin, time_zone, sha256(convert_to(password_hash, 'UTF8')) as "auth_hash!", totp_secret is not null as "two_factor!""#,
        user_id,
        hash
    )
    .fetch_one(conn)
    .await
}

/// A person's TOTP secret and the last step a code was accepted for, if two-factor is on.
#[tracing::instrument(skip(db))]
pub async fn two_factor_secret(db: &PgPool, user_id: Uuid) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!(
        r#"select totp_secret as "secret!" from users where id = $1 and totp_secret is not null"#,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// Turns two-factor on with `secret`, the step of the code that confirmed it counting as used;
/// false if it was already on.
#[tracing::instrument(skip_all)]
pub async fn enable_two_factor(conn: &mut PgConnection, user_id: Uuid, secret: &[u8], step: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update users set totp_secret = $2, totp_last_step = $3 where id = $1 and totp_secret is null",
        user_id,
        secret,
        step
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns two-factor off and drops the recovery codes.
#[tracing::instrument(skip(conn))]
pub async fn disable_two_factor(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!("update users set totp_secret = null, totp_last_step = null where id = $1", user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("delete from recovery_codes where user_id = $1", user_id).execute(&mut *conn).await?;
    Ok(())
}

/// Accepts a code's time step once: false if that step (or a later one) was already used, so a
/// code seen over someone's shoulder cannot be replayed, even by two requests at once.
#[tracing::instrument(skip(db))]
pub async fn use_totp_step(db: &PgPool, user_id: Uuid, step: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update users set totp_last_step = $2
         where id = $1 and totp_secret is not null and (totp_last_step is null or totp_last_step < $2)",
        user_id,
        step
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a person's recovery codes with these hashes.
#[tracing::instrument(skip_all)]
pub async fn replace_recovery_codes(conn: &mut PgConnection, user_id: Uuid, hashes: &[Vec<u8>]) -> sqlx::Result<()> {
    sqlx::query!("delete from recovery_codes where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("insert into recovery_codes (user_id, code_hash) select $1, unnest($2::bytea[])", user_id, hashes)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Uses up a recovery code; false if it is not one of the person's unused codes.
#[tracing::instrument(skip_all)]
pub async fn use_recovery_code(db: &PgPool, user_id: Uuid, hash: &[u8]) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update recovery_codes set used_at = now() where user_id = $1 and code_hash = $2 and used_at is null",
        user_id,
        hash
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many unused recovery codes a person has.
#[tracing::instrument(skip(db))]
pub async fn recovery_codes_left(db: &PgPool, user_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from recovery_codes where user_id = $1 and used_at is null"#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// The names of the person's teams that require two-factor sign-in.
#[tracing::instrument(skip(db))]
pub async fn teams_requiring_two_factor(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select t.name from teams t join team_members m on m.team_id = t.id
         where m.user_id = $1 and t.require_two_factor order by t.name",
        user_id
    )
    .fetch_all(db)
    .await
}

/// Erases a person's personal data and every way to sign in as them; their row stays for the
/// records that point at it (its name becomes "A former member").
#[tracing::instrument(skip(conn))]
pub async fn erase_user(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update users set email = 'erased-' || id || '@invalid', display_name = $2, password_hash = '!erased',
                          is_admin = false, time_zone = 'UTC', totp_secret = null, totp_last_step = null,
                          erased_at = now()
         where id = $1",
        user_id,
        super::FORMER_MEMBER
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("delete from recovery_codes where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("delete from account_sessions where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("delete from calendar_feeds where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!(
        "update team_invites set revoked_at = now() where created_by = $1 and used_at is null and revoked_at is null",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets the sign-in attempts made for an address.
#[tracing::instrument(skip_all)]
pub async fn forget_signin_attempts(conn: &mut PgConnection, email: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from signin_failures where email = $1", email).execute(conn).await?;
    Ok(())
}
