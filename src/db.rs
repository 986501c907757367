//! Connecting to PostgreSQL and applying the embedded migrations, and telling "the database
//! cannot serve this now" (a 503 with `Retry-After`) from a bug (a 500).

use std::cell::{Cell, RefCell};
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};

use crate::config::Config;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The pool's settings from the configuration: its size, and how long a request waits for a
/// connection (`GAMEDAY_DB_ACQUIRE_TIMEOUT_MS`) before it is answered 503.
///
/// A connection is not pinged when it is taken from the pool: the ping is a round trip on every
/// acquire, and what it guards against (a connection the server closed, e.g. at a restart) fails
/// that one statement instead, which is answered 503 with `Retry-After`; sqlx then drops the
/// broken connection, and the client's retry gets a fresh one.
///
/// Each connection taken from the pool is counted ([`checked_out`]): sqlx pings it when it goes
/// back, a round trip that no statement log shows.
pub fn pool_options(config: &Config) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms.max(1)))
        .test_before_acquire(false)
        .before_acquire(|_, _| {
            checked_out();
            Box::pin(async { Ok(true) })
        })
        .after_connect(|_, _| {
            checked_out();
            Box::pin(async { Ok(()) })
        })
}

/// Counts a connection taken from the pool (an idle one, or one opened for the taker): in
/// `gameday_db_checkouts_total`, and as a trace event (target `gameday::db::checkout`) in the
/// taker's span, by which the tests count a page's round trips.
fn checked_out() {
    metrics::counter!("gameday_db_checkouts_total").increment(1);
    tracing::trace!(target: "gameday::db::checkout", "a connection taken from the pool");
}

/// The connection's settings with the statement and lock timeouts
/// (`GAMEDAY_DB_STATEMENT_TIMEOUT_MS`, `GAMEDAY_DB_LOCK_TIMEOUT_MS`) set for every session, so a
/// statement stuck behind a lock or a slow server is cancelled by PostgreSQL well before the
/// request times out.
pub fn with_timeouts(options: PgConnectOptions, config: &Config) -> PgConnectOptions {
    options.options([
        ("statement_timeout", config.db_statement_timeout_ms.to_string()),
        ("lock_timeout", config.db_lock_timeout_ms.to_string()),
    ])
}

/// Opens the pool for `url` with the configuration's size and timeouts.
pub async fn connect(url: &str, config: &Config) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse().context("reading DATABASE_URL")?;
    pool_options(config)
        .connect_with(with_timeouts(options, config))
        .await
        .context("connecting to PostgreSQL (is DATABASE_URL right, and the server running?)")
}

/// A pool of one connection to the same database as `db`, for work that sets something on its
/// connection's session for a while (the demo builder's clock, `crate::demo`) and then closes
/// the pool, so the setting never reaches a connection anyone else is handed.
/// `application_name` names it in `pg_stat_activity`.
pub async fn one_connection_pool(db: &PgPool, application_name: &str) -> sqlx::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with((*db.connect_options()).clone().application_name(application_name))
        .await
}

/// Applies this app's migrations (the session store's table is one of them). A migration may take longer
/// than a request's statement timeout, so it runs on a connection without one.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    let mut conn = db.acquire().await.context("connecting to apply migrations")?;
    sqlx::query("set statement_timeout = 0").execute(&mut *conn).await.context("lifting the statement timeout")?;
    sqlx::query("set lock_timeout = 0").execute(&mut *conn).await.context("lifting the lock timeout")?;
    MIGRATOR.run(&mut *conn).await.context("applying migrations")?;
    sqlx::query("reset statement_timeout").execute(&mut *conn).await.context("restoring the statement timeout")?;
    sqlx::query("reset lock_timeout").execute(&mut *conn).await.context("restoring the lock timeout")?;
    Ok(())
}

/// SQLSTATEs that mean the database cannot serve the request now, though it may in a moment:
/// class 08 (connection exception), 53 (insufficient resources: too many connections, out of
/// memory or disk), 57014 (cancelled: the statement timeout), 57P01-57P05 (the server is shutting
/// down, restarting or starting), 55P03 (a lock not available within `lock_timeout`).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57") || code == "55P03"
}

/// Whether a database error means "the database cannot serve this right now" (answered 503 with
/// `Retry-After`) rather than a bug (500): no connection within the acquire timeout, a connection
/// refused, reset or closed by a restarting server, a statement cancelled by its timeout.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_unavailable_code(&code)),
        _ => false,
    }
}

/// What a request met when the database could not serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Trouble {
    /// Nothing: the database served every call (or none failed for want of availability).
    None,
    /// The database could not be reached, or refused or dropped the connection.
    Unreachable,
    /// The database is reachable but overloaded: no free connection within the acquire timeout,
    /// or a statement cancelled by its timeout (a lock held too long, a slow server).
    Overloaded,
}

/// Which kind of [`Trouble`] an unavailable error is.
pub fn trouble_of(err: &sqlx::Error) -> Trouble {
    match err {
        sqlx::Error::PoolTimedOut => Trouble::Overloaded,
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("57014" | "55P03")) => Trouble::Overloaded,
        err if is_unavailable(err) => Trouble::Unreachable,
        _ => Trouble::None,
    }
}

tokio::task_local! {
    static TROUBLE: Cell<Trouble>;
}

tokio::task_local! {
    /// The connection a request keeps for all its statements while none of them has it (see
    /// [`keeping_one_connection`]); None inside: the request keeps none.
    static KEPT: RefCell<Option<Option<PoolConnection<Postgres>>>>;
}

/// Runs `request` so that, when `keep`, its statements share one connection: the first
/// [`connection`] it asks for is taken from the pool, goes back to `request` (not to the pool)
/// each time it is dropped, and back to the pool when `request` is done. sqlx pings every
/// connection it takes back, a round trip of its own: a request that took one per statement paid
/// two round trips for each.
pub async fn keeping_one_connection<F: std::future::Future>(keep: bool, request: F) -> F::Output {
    let kept = RefCell::new(keep.then_some(None));
    KEPT.scope(kept, request).await
}

/// A connection for a request's next statements: the one it keeps (see
/// [`keeping_one_connection`]), else one from `db`. Drop it before waiting on anything but the
/// database.
pub async fn connection(db: &PgPool) -> sqlx::Result<Connection> {
    let kept = KEPT.try_with(|kept| kept.borrow_mut().as_mut().and_then(Option::take)).ok().flatten();
    match kept {
        Some(kept) => Ok(Connection(Some(kept))),
        None => Ok(Connection(Some(db.acquire().await?))),
    }
}

/// A connection from [`connection`]: back to its request when dropped, if the request keeps one,
/// else to the pool.
pub struct Connection(Option<PoolConnection<Postgres>>);

impl Deref for Connection {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.0.as_deref().expect("a connection until dropped")
    }
}

impl DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.0.as_deref_mut().expect("a connection until dropped")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let Some(connection) = self.0.take() else { return };
        // Outside a request that keeps one, or while it has one kept already: to the pool.
        let _ = KEPT.try_with(move |kept| {
            if let Some(slot @ None) = kept.borrow_mut().as_mut() {
                *slot = Some(connection);
            }
        });
    }
}

/// Runs `request` noting whether the database failed it for want of availability (see
/// [`note_unavailable`]); returns its output and the worst trouble met.
pub async fn watch_for_trouble<F: std::future::Future>(request: F) -> (F::Output, Trouble) {
    TROUBLE
        .scope(Cell::new(Trouble::None), async move {
            let output = request.await;
            (output, TROUBLE.with(Cell::get))
        })
        .await
}

/// Notes, for the request being served (if any), that the database could not serve it: a layer
/// that only answers a bare 500 (the session store) says so through this.
pub fn note_unavailable(trouble: Trouble) {
    let _ = TROUBLE.try_with(|noted| noted.set(noted.get().max(trouble)));
}

/// When this instance last found the database overloaded, for `/readyz`: a ping answers even
/// while every connection is stuck behind a lock, so readiness also remembers recent overload.
#[derive(Debug, Default)]
pub struct Health {
    overloaded_at: Mutex<Option<Instant>>,
}

impl Health {
    /// Remembers that a request just found the database overloaded.
    pub fn overloaded(&self) {
        *self.overloaded_at.lock().expect("health lock") = Some(Instant::now());
    }

    /// Whether a request found the database overloaded within `window`.
    pub fn overloaded_within(&self, window: Duration) -> bool {
        self.overloaded_at.lock().expect("health lock").is_some_and(|at| at.elapsed() < window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_timeouts_and_refused_connections_are_unavailable_and_bugs_are_not() {
        for code in ["08006", "08001", "53300", "57014", "57P01", "57P03", "55P03"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["23505", "40001", "42P01", "22P02"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert_eq!(trouble_of(&sqlx::Error::PoolTimedOut), Trouble::Overloaded);
        assert_eq!(trouble_of(&sqlx::Error::PoolClosed), Trouble::Unreachable);
        assert_eq!(trouble_of(&sqlx::Error::RowNotFound), Trouble::None);
    }
}
