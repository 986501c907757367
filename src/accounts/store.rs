//! SQL for accounts and sign-in throttling.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Email, THROTTLE_WINDOW_MINUTES, User};

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

/// Failed (or not yet decided) sign-in attempts within the throttle window:
/// (for this account, from this client address).
#[tracing::instrument(skip_all)]
pub async fn recent_signin_failures(db: &PgPool, email: &Email, client_addr: &str) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"
        select
            count(*) filter (where email = $1) as "account!",
            count(*) filter (where client_addr = $2) as "address!"
        from signin_failures
        where failed_at > now() - make_interval(mins => $3::int)
          and (email = $1 or client_addr = $2)
        "#,
        email.as_str(),
        client_addr,
        THROTTLE_WINDOW_MINUTES as i32,
    )
    .fetch_one(db)
    .await?;
    Ok((row.account, row.address))
}

/// Records a sign-in attempt before its password is checked, so that concurrent guesses are
/// counted too; a successful sign-in clears the account's attempts again.
#[tracing::instrument(skip_all)]
pub async fn record_signin_attempt(db: &PgPool, email: &Email, client_addr: &str) -> sqlx::Result<()> {
    sqlx::query!("insert into signin_failures (email, client_addr) values ($1, $2)", email.as_str(), client_addr)
        .execute(db)
        .await?;
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
