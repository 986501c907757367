//! Connecting to PostgreSQL and applying the embedded migrations.

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tower_sessions_sqlx_store::PostgresStore;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Opens a pool. A request waits at most 5 s for a connection, then gets a 503.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .context("connecting to PostgreSQL (is DATABASE_URL right, and the server running?)")
}

/// Applies this app's migrations and the session store's table.
pub async fn migrate(db: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(db).await.context("applying migrations")?;
    PostgresStore::new(db.clone()).migrate().await.context("creating the session table")?;
    Ok(())
}
