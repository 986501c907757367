//! SQL for accounts and sign-in throttling.

use sqlx::{PgConnection, PgExecutor, PgPool};
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
pub async fn user_by_email(db: impl PgExecutor<'_>, email: &Email) -> sqlx::Result<Option<User>> {
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
    // Mail not sent yet, and what was sent (it names them and their address), goes with them:
    // what was written to their address before they had an account (the confirmation of it, an
    // invitation) too, and any sign-up of the address still open.
    sqlx::query!(
        "delete from email_outbox where user_id = $1 or to_address = (select email from users where id = $1)",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("delete from signup_confirmations where email = (select email from users where id = $1)", user_id)
        .execute(&mut *conn)
        .await?;
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
    sqlx::query!("delete from oidc_identities where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("delete from email_opt_outs where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("delete from password_resets where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("delete from account_sessions where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("delete from calendar_feeds where user_id = $1", user_id).execute(&mut *conn).await?;
    sqlx::query!("update api_tokens set revoked_at = now() where user_id = $1 and revoked_at is null", user_id)
        .execute(&mut *conn)
        .await?;
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

/// A browser session as stored, with what a request needs to know of the person signed in on it:
/// their row, and the state of the account session the data names.
#[derive(Debug)]
pub struct StoredSession {
    pub data: serde_json::Value,
    pub expiry_date: time::OffsetDateTime,
    /// The person the data names, if it names one and the account still exists.
    pub user: Option<User>,
    /// The account session the data names: `Some(true)` if it may go on, `Some(false)` if past
    /// its absolute lifetime, `None` if ended (or none is named).
    pub account_session_alive: Option<bool>,
    /// When asked for and a person is signed in: their rows of the view `person_frame` (the
    /// page frame), as a JSON array.
    pub frame: Option<serde_json::Value>,
    /// When asked for (a team's slug and a game day's id) and a person is signed in: the row of
    /// the database function `member_context` for them, as a JSON object (None: no row).
    pub context: Option<serde_json::Value>,
}

/// Loads an unexpired browser session in one statement, together with the person signed in on it
/// (the user id inside the data under `user_key`, `user_id`) and the state of their account
/// session (the id under `account_session_key`). With `with_frame`, the person's page frame comes
/// along too; with `context` (a team's slug, a game day's id), the game day as the person
/// reaches it.
///
/// A request is activity: the session's idle expiry is pushed to `idle_days` from now, and the
/// account session's "last seen" set to now, each at most once a minute, by a second statement
/// ([`keep_web_session`]) only when the first says one is due (a read that may write costs PostgreSQL more on every
/// request than a second round trip once a minute).
///
/// The statement's plan must not depend on what it is asked for, or PostgreSQL may plan it again
/// on every run (as it did while the frame was an inline subquery behind the flag): the frame is
/// read through a function, and the game day's lateral join is always there (no game day is an
/// empty slug, which no team has).
#[tracing::instrument(skip_all)]
pub async fn load_web_session(
    db: &mut PgConnection,
    id: &str,
    idle_days: i64,
    user_key: &str,
    account_session_key: &str,
    with_frame: bool,
    context: Option<(&str, Uuid)>,
) -> sqlx::Result<Option<StoredSession>> {
    let (slug, gameday) = context.unwrap_or(("", Uuid::nil()));
    let row = sqlx::query!(
        r#"
        with found as (
            select id, data, expiry_date,
                   (data -> $4::text ->> 'user_id')::uuid as user_id,
                   (data ->> $5::text)::uuid as account_session
            from web_sessions where id = $1 and expiry_date > now()
        ),
        account as (
            select a.id, a.created_at > now() - make_interval(days => $3::int) as alive,
                   a.last_seen_at < now() - interval '1 minute' as stale
            from account_sessions a join found f on a.id = f.account_session and a.user_id = f.user_id
        )
        select f.data as "data!", f.expiry_date as "expiry_date!",
               f.expiry_date < now() + make_interval(days => $2::int) - interval '1 minute' as "keep_due!",
               coalesce(account.alive and account.stale, false) as "seen_due!",
               f.account_session,
               u.id as "user_id?", u.email as "email?", u.display_name as "display_name?",
               u.password_hash as "password_hash?", u.is_admin as "is_admin?", u.time_zone as "time_zone?",
               sha256(convert_to(u.password_hash, 'UTF8')) as "auth_hash?", u.totp_secret is not null as "two_factor?",
               account.alive as "account_session_alive?",
               case when $6 and u.id is not null then frame_json(u.id) end as "frame?",
               ctx.context as "context?"
        from found f
        left join users u on u.id = f.user_id
        left join account on true
        left join lateral (
            select row_to_json(c) as context from member_context($7, u.id, $8) c
        ) ctx on true
        "#,
        id,
        idle_days as i32,
        SESSION_MAX_DAYS as i32,
        user_key,
        account_session_key,
        with_frame,
        slug,
        gameday,
    )
    .fetch_optional(&mut *db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut expiry_date = row.expiry_date;
    if row.keep_due || row.seen_due {
        let kept =
            keep_web_session(db, id, idle_days, row.keep_due, row.seen_due.then_some(row.account_session).flatten())
                .await?;
        match kept {
            Some(kept) => expiry_date = kept,
            // Ended (signed out elsewhere) or expired since it was read: gone, so that saving it
            // cannot write it back.
            None if row.keep_due => return Ok(None),
            None => {}
        }
    }
    let user = match (row.user_id, row.email, row.display_name, row.password_hash, row.time_zone, row.auth_hash) {
        (Some(id), Some(email), Some(display_name), Some(password_hash), Some(time_zone), Some(auth_hash)) => {
            Some(User {
                id,
                email,
                display_name,
                password_hash,
                is_admin: row.is_admin.unwrap_or(false),
                time_zone,
                auth_hash,
                two_factor: row.two_factor.unwrap_or(false),
            })
        }
        _ => None,
    };
    Ok(Some(StoredSession {
        data: row.data,
        expiry_date,
        user,
        account_session_alive: row.account_session_alive,
        frame: row.frame,
        context: context.and(row.context),
    }))
}

/// A session in use: when `push_expiry`, its idle expiry moves to `idle_days` from now (if it
/// has not ended or expired: the new expiry, else None); with `seen`, that account session's
/// "last seen" moves to now (at most once a minute). The session load calls it when one is due.
async fn keep_web_session(
    db: &mut PgConnection,
    id: &str,
    idle_days: i64,
    push_expiry: bool,
    seen: Option<Uuid>,
) -> sqlx::Result<Option<time::OffsetDateTime>> {
    sqlx::query_scalar!(
        r#"
        with kept as (
            update web_sessions set expiry_date = now() + make_interval(days => $2::int)
            where $3 and id = $1 and expiry_date > now()
            returning expiry_date
        ),
        seen as (
            update account_sessions set last_seen_at = now()
            where id = $4 and last_seen_at < now() - interval '1 minute'
            returning id
        )
        select (select expiry_date from kept) as "expiry_date?"
        "#,
        id,
        idle_days as i32,
        push_expiry,
        seen,
    )
    .fetch_one(db)
    .await
}

/// Stores a browser session under `id`, replacing what was there.
#[tracing::instrument(skip_all)]
pub async fn save_web_session(
    db: impl PgExecutor<'_>,
    id: &str,
    data: &serde_json::Value,
    expiry_date: time::OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into web_sessions (id, data, expiry_date) values ($1, $2, $3)
         on conflict (id) do update set data = excluded.data, expiry_date = excluded.expiry_date",
        id,
        data,
        expiry_date
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Stores a new browser session under `id`; false (and nothing stored) if the id is taken.
#[tracing::instrument(skip_all)]
pub async fn insert_web_session(
    db: &PgPool,
    id: &str,
    data: &serde_json::Value,
    expiry_date: time::OffsetDateTime,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "insert into web_sessions (id, data, expiry_date) values ($1, $2, $3) on conflict (id) do nothing",
        id,
        data,
        expiry_date
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[tracing::instrument(skip_all)]
pub async fn delete_web_session(db: &PgPool, id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from web_sessions where id = $1", id).execute(db).await?;
    Ok(())
}

/// Deletes the browser sessions past their expiry; how many.
#[tracing::instrument(skip_all)]
pub async fn delete_expired_web_sessions(db: &PgPool) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from web_sessions where expiry_date < now()").execute(db).await?.rows_affected())
}

/// The person an OpenID Connect identity (issuer, subject) is linked to, noting the sign-in.
#[tracing::instrument(skip_all)]
pub async fn user_by_identity(db: &PgPool, issuer: &str, subject: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"with seen as (
               update oidc_identities set last_signed_in_at = now()
               where issuer = $1 and subject = $2
               returning user_id
           )
           select u.id, u.email, u.display_name, u.password_hash, u.is_admin, u.time_zone,
                  sha256(convert_to(u.password_hash, 'UTF8')) as "auth_hash!", u.totp_secret is not null as "two_factor!"
           from users u join seen on seen.user_id = u.id
           where u.erased_at is null"#,
        issuer,
        subject
    )
    .fetch_optional(db)
    .await
}

/// Links an OpenID Connect identity to a person; false if it is linked already (to anyone).
#[tracing::instrument(skip(conn))]
pub async fn link_identity(conn: &mut PgConnection, user_id: Uuid, issuer: &str, subject: &str) -> sqlx::Result<bool> {
    let linked = sqlx::query!(
        "insert into oidc_identities (issuer, subject, user_id, last_signed_in_at) values ($1, $2, $3, now())
         on conflict (issuer, subject) do nothing",
        issuer,
        subject,
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(linked.rows_affected() == 1)
}

/// The issuers a person signs in with (for their account page).
#[tracing::instrument(skip(db))]
pub async fn identity_issuers(db: &PgPool, user_id: Uuid) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select issuer from oidc_identities where user_id = $1 order by linked_at", user_id)
        .fetch_all(db)
        .await
}

/// Stores a password reset link's hash for `minutes`; false (nothing stored) when the person has
/// three links still open already, so nobody can fill their mailbox.
#[tracing::instrument(skip(conn, token_hash))]
pub async fn create_reset(
    conn: &mut PgConnection,
    user_id: Uuid,
    token_hash: &[u8],
    minutes: i64,
) -> sqlx::Result<bool> {
    sqlx::query!("select 1 as locked from users where id = $1 for update", user_id).fetch_optional(&mut *conn).await?;
    let open: i64 = sqlx::query_scalar!(
        r#"select count(*) as "n!" from password_resets where user_id = $1 and used_at is null and expires_at > now()"#,
        user_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if open >= 3 {
        return Ok(false);
    }
    sqlx::query!(
        "insert into password_resets (token_hash, user_id, expires_at) values ($1, $2, now() + make_interval(mins => $3::int))",
        token_hash,
        user_id,
        minutes as i32
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The person a reset link is for, if it is unused and unexpired.
#[tracing::instrument(skip_all)]
pub async fn reset_user(db: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<User>> {
    sqlx::query_as!(
        User,
        r#"select u.id, u.email, u.display_name, u.password_hash, u.is_admin, u.time_zone,
                  sha256(convert_to(u.password_hash, 'UTF8')) as "auth_hash!", u.totp_secret is not null as "two_factor!"
           from password_resets r join users u on u.id = r.user_id
           where r.token_hash = $1 and r.used_at is null and r.expires_at > now() and u.erased_at is null"#,
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Uses a reset link up (and every other open link of its person); its person, if it was unused
/// and unexpired.
#[tracing::instrument(skip_all)]
pub async fn take_reset(conn: &mut PgConnection, token_hash: &[u8]) -> sqlx::Result<Option<Uuid>> {
    let user_id = sqlx::query_scalar!(
        "update password_resets set used_at = now()
         where token_hash = $1 and used_at is null and expires_at > now()
         returning user_id",
        token_hash
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(user_id) = user_id {
        sqlx::query!("update password_resets set used_at = now() where user_id = $1 and used_at is null", user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(user_id)
}

/// A sign-up waiting for its address to be confirmed.
#[derive(Debug)]
pub struct PendingSignup {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub time_zone: String,
    /// Where to go once the account is made.
    pub next_path: Option<String>,
}

/// Whether any account exists yet, holding (until the transaction ends) the lock that serialises
/// the "first account" decision with [`create_user`].
#[tracing::instrument(skip_all)]
pub async fn any_account(conn: &mut PgConnection) -> sqlx::Result<bool> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('gameday.first_admin'))").execute(&mut *conn).await?;
    sqlx::query_scalar!(r#"select exists (select 1 from users) as "any!""#).fetch_one(&mut *conn).await
}

/// Stores a sign-up's link hash for `hours`; false (nothing stored) when its address has three
/// sign-ups open already, so nobody can fill a stranger's mailbox. Clears expired sign-ups first.
#[tracing::instrument(skip_all)]
pub async fn create_signup(
    conn: &mut PgConnection,
    token_hash: &[u8],
    signup: &PendingSignup,
    hours: i64,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "delete from signup_confirmations where token_hash in
           (select token_hash from signup_confirmations where expires_at < now() limit 100)"
    )
    .execute(&mut *conn)
    .await?;
    let open: i64 =
        sqlx::query_scalar!(r#"select count(*) as "n!" from signup_confirmations where email = $1"#, signup.email)
            .fetch_one(&mut *conn)
            .await?;
    if open >= 3 {
        return Ok(false);
    }
    sqlx::query!(
        "insert into signup_confirmations (token_hash, email, display_name, password_hash, time_zone, next_path, expires_at)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(hours => $7::int))",
        token_hash,
        signup.email,
        signup.display_name,
        signup.password_hash,
        signup.time_zone,
        signup.next_path,
        hours as i32
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The sign-up a link is for, if it is still open.
#[tracing::instrument(skip_all)]
pub async fn signup_by_token(db: &PgPool, token_hash: &[u8]) -> sqlx::Result<Option<PendingSignup>> {
    sqlx::query_as!(
        PendingSignup,
        "select email, display_name, password_hash, time_zone, next_path from signup_confirmations
         where token_hash = $1 and expires_at > now()",
        token_hash
    )
    .fetch_optional(db)
    .await
}

/// Uses a sign-up link up, with every other open sign-up of its address; the sign-up, if the
/// link was open.
#[tracing::instrument(skip_all)]
pub async fn take_signup(conn: &mut PgConnection, token_hash: &[u8]) -> sqlx::Result<Option<PendingSignup>> {
    let signup = sqlx::query_as!(
        PendingSignup,
        "delete from signup_confirmations where token_hash = $1 and expires_at > now()
         returning email, display_name, password_hash, time_zone, next_path",
        token_hash
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(signup) = &signup {
        drop_signups(&mut *conn, &signup.email).await?;
    }
    Ok(signup)
}

/// Deletes every open sign-up of an address.
#[tracing::instrument(skip_all)]
pub async fn drop_signups(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<u64> {
    let deleted = sqlx::query!("delete from signup_confirmations where email = $1", email).execute(db).await?;
    Ok(deleted.rows_affected())
}
