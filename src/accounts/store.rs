//! SQL for accounts and sign-in throttling.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Email, SIGNUP_WINDOW_MINUTES, THROTTLE_WINDOW_MINUTES, User};

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
        returning id, email, display_name, password_hash, is_admin, time_zone, sha256(convert_to(password_hash, 'UTF8')) as "auth_hash!"
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
        r#"select id, email, display_name, password_hash, is_admin, time_zone, sha256(convert_to(password_hash, 'UTF8')) as "auth_hash!" from users where email = $1"#,
        email.as_str()
    )
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn user_by_id(db: &PgPool, id: Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(User, r#"select id, email, display_name, password_hash, is_admin, time_zone, sha256(convert_to(password_hash, 'UTF8')) as "auth_hash!" from users where id = $1"#, id)
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

/// After a successful sign-in the account's failures no longer count; old rows are pruned.
#[tracing::instrument(skip_all)]
pub async fn clear_signin_failures(db: &PgPool, email: &Email) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from signin_failures where email = $1 or failed_at < now() - interval '1 day'",
        email.as_str()
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
