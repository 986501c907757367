use anyhow::Context;
use clap::Parser;
use gameday::app::serve;
use gameday::config::{Cli, Command};
use gameday::db;
use gameday::state::AppState;
use gameday::web::sessions::Sessions;
use tower_sessions::ExpiredDeletion;
use tracing_subscriber::EnvFilter;

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
