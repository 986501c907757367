//! The `gameday` binary as an operator runs it: flags, environment, migrations, signals, logs.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::PgPool;

/// The URL of the test's own database (DATABASE_URL names the server; the test has its own database).
async fn database_url(db: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()").fetch_one(db).await.unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn help_lists_the_commands_and_settings() {
    let output = Command::new(env!("CARGO_BIN_EXE_gameday")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needle in ["serve", "migrate", "DATABASE_URL", "GAMEDAY_BIND", "GAMEDAY_BASE_URL"] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn a_missing_database_url_is_explained() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_gameday")).arg("migrate").env_remove("DATABASE_URL").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL is not set"));
}

#[sqlx::test(migrations = false)]
async fn migrate_applies_the_embedded_migrations(db: PgPool) {
    let url = database_url(&db).await;
    let output = Command::new(env!("CARGO_BIN_EXE_gameday")).arg("migrate").env("DATABASE_URL", &url).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from information_schema.tables where table_name in ('users', 'teams', 'timeline_events')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(tables, 3);
}

#[sqlx::test(migrations = false)]
async fn serve_migrates_listens_where_the_flag_says_logs_request_ids_and_stops_on_sigterm(db: PgPool) {
    let url = database_url(&db).await;
    let (env_port, flag_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .args(["serve", "--bind", &format!("127.0.0.1:{flag_port}")])
        .env("DATABASE_URL", &url)
        .env("GAMEDAY_BIND", format!("127.0.0.1:{env_port}"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("http://127.0.0.1:{flag_port}/readyz")).send().await {
            ready = response.status() == StatusCode::OK;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server answers on the --bind port, migrated and ready");
    assert!(client.get(format!("http://127.0.0.1:{env_port}/healthz")).send().await.is_err(), "the flag beat the env");
    let response = client.get(format!("http://127.0.0.1:{flag_port}/signup")).send().await.unwrap();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = exited.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the server did not stop within 10 s of SIGTERM");
    });
    assert!(status.success(), "exit status {status}");
    let logs = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(logs.contains("shut down cleanly"), "{logs}");
    assert!(logs.contains(&request_id), "the request's log line names its request id:\n{logs}");
    let users_table: Option<String> =
        sqlx::query_scalar("select to_regclass('users')::text").fetch_one(&db).await.unwrap();
    assert_eq!(users_table.as_deref(), Some("users"), "serve applied the migrations at start");
}
