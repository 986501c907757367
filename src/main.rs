use anyhow::Context;
use clap::Parser;
use gameday::app::serve;
use gameday::config::{Cli, Command};
use gameday::db;
use gameday::state::AppState;
use gameday::web::sessions::Sessions;
use tower_sessions::ExpiredDeletion;
use tracing_subscriber::EnvFilter;

/// jemalloc rather than glibc's malloc: after 10,000 live streams closed, glibc kept the ~350 MB
/// they had used (freed, but held in its arenas) for good; jemalloc gives it back.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings: a background thread returns freed memory to the system after about a
/// second (without it, an idle server would keep it until it allocates again).
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    if config.log_json {
        tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).init();
    }

    config.check().map_err(|problem| anyhow::anyhow!("configuration: {problem}"))?;
    let url = config.database_url.clone().context(
        "DATABASE_URL is not set: set it (or pass --database-url), or use `make run`, which starts a local PostgreSQL",
    )?;
    let pool = db::connect(&url, &config).await?;
    db::migrate(&pool).await?;

    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            tokio::spawn(delete_expired_sessions(Sessions::new(pool.clone())));
            let listener =
                tokio::net::TcpListener::bind(config.bind).await.with_context(|| format!("binding {}", config.bind))?;
            let base_url = config.base_url();
            tracing::info!(bind = %config.bind, "serving Gameday at {base_url}");
            serve(listener, AppState::new(pool, config), shutdown_signal()).await?;
            tracing::info!("shut down cleanly");
            Ok(())
        }
    }
}

/// Deletes expired sessions every hour, for as long as the server runs (a failure, e.g. during a
/// database restart, is tried again an hour later).
async fn delete_expired_sessions(sessions: Sessions) {
    let hour = tokio::time::Duration::from_secs(3600);
    loop {
        if let Err(err) = sessions.delete_expired().await {
            tracing::warn!(error = %err, "deleting expired sessions failed; trying again in an hour");
        }
        tokio::time::sleep(hour).await;
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining requests");
}
