//! `make chaos`: rehearses faults on Gameday itself and measures what it does.
//!
//! It starts a PostgreSQL cluster of its own (initdb into a temporary directory, loopback only,
//! so it can restart it), a small TCP proxy it controls between the server and PostgreSQL, and
//! the release build of `gameday` as a child process on a loopback port ([`rig`]). Several
//! writers post observations while a live stream reads the game day ([`load`]); then each fault
//! is applied and measured. It prints one row per rehearsal (fault, what was measured, the
//! figure, the ceiling, held) and exits non-zero when a row does not hold.

mod load;
mod rig;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use load::{Burst, Day, start_reader, start_writers};
use rig::{Pg, Proxy, Server};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const STREAMS_AT_SIGTERM: usize = 1000;

// ---------------------------------------------------------------------------------------------
// The table

struct Row {
    fault: String,
    measured: String,
    figure: String,
    ceiling: String,
    held: bool,
}

fn row(fault: &str, measured: &str, figure: String, ceiling: &str, held: bool) -> Row {
    let row = Row { fault: fault.into(), measured: measured.into(), figure, ceiling: ceiling.into(), held };
    eprintln!("chaos: {} | {} | {} | {} | {}", row.fault, row.measured, row.figure, row.ceiling, yes(row.held));
    row
}

fn yes(held: bool) -> &'static str {
    if held { "yes" } else { "NO" }
}

fn lost_of(acked: &[String], stored: &HashSet<String>) -> usize {
    acked.iter().filter(|a| !stored.contains(*a)).count()
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// The rehearsals

struct Rig {
    dir: PathBuf,
    pg: Pg,
    proxy: Proxy,
    admin: PgPool,
}

impl Rig {
    fn url_via_proxy(&self) -> String {
        self.pg.url(self.proxy.port, "gameday")
    }

    async fn server(&self, name: &str, env: &[(&str, &str)]) -> Result<Server> {
        Server::start(&self.dir, name, &self.url_via_proxy(), env).await
    }
}

async fn kill_9(rig: &Rig, day: &Day) -> Result<Row> {
    let mut server = rig.server("kill9", &[]).await?;
    let writers = start_writers(&server.base, day, "kill9", true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.signal("KILL");
    let _ = server.exited_within(Duration::from_secs(5)).await;
    let burst = writers.finish().await;
    let acked = burst.acked();
    let lost = lost_of(&acked, &day.observations(&rig.admin).await?);
    Ok(row(
        "`kill -9` of the server during a burst (4 writers)",
        "acknowledged writes missing from the database",
        format!("{} acknowledged, {lost} lost", acked.len()),
        "0 lost",
        lost == 0 && !acked.is_empty(),
    ))
}

async fn pg_restart(rig: &Rig, day: &Day, mode: &str) -> Result<Vec<Row>> {
    let server = rig.server(&format!("restart-{mode}"), &[]).await?;
    let reader = start_reader(&server.base, day, day.last_seq(&rig.admin).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writers = start_writers(&server.base, day, &format!("restart-{mode}"), false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fault = Instant::now();
    tokio::task::block_in_place(|| rig.pg.restart(mode))?;
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let burst = writers.finish().await;
    let recovery = burst.last_failure.lock().unwrap().map_or(Duration::ZERO, |f| f.saturating_duration_since(back));
    let acked = burst.acked();
    let lost = lost_of(&acked, &day.observations(&rig.admin).await?);
    let (expected, stream_lost, duplicates) = reader.verdict(day, &rig.admin).await?;
    let fault_name = format!("PostgreSQL restarted ({mode}) during a burst");
    let fives = Burst::n(&burst.server_errors);
    let bare = Burst::n(&burst.unavailable_without_retry_after);
    Ok(vec![
        row(
            &fault_name,
            "answers: 500s, and 503s without Retry-After",
            format!("{fives} × 5xx other than 503, {bare} bare 503 ({})", burst.summary()),
            "0 and 0",
            fives == 0 && bare == 0 && Burst::n(&burst.ok) > 0,
        ),
        row(
            &fault_name,
            "recovery: from PostgreSQL accepting connections again to the last failed answer",
            format!("{} (restart took {})", secs(recovery), secs(back - fault)),
            "5 s",
            recovery <= Duration::from_secs(5),
        ),
        row(
            &fault_name,
            "live stream: events lost, shown twice; acknowledged writes lost",
            format!("{stream_lost} lost, {duplicates} twice of {expected}; {lost} of {} writes lost", acked.len()),
            "0, 0; 0",
            stream_lost == 0 && duplicates == 0 && lost == 0,
        ),
    ])
}

/// Holds `lock`, e.g. `lock table timeline_events in exclusive mode` (writes wait, reads do
/// not), for `hold`.
async fn hold_lock(admin_url: String, lock: &'static str, hold: Duration) -> Result<()> {
    let mut conn = PgConnection::connect(&admin_url).await?;
    sqlx::query("begin").execute(&mut conn).await?;
    sqlx::query(lock).execute(&mut conn).await?;
    tokio::time::sleep(hold).await;
    sqlx::query("rollback").execute(&mut conn).await?;
    Ok(())
}

async fn readyz(base: &str) -> Option<StatusCode> {
    Client::new().get(format!("{base}/readyz")).timeout(Duration::from_secs(10)).send().await.ok().map(|r| r.status())
}

async fn slow_database(rig: &Rig, day: &Day) -> Result<Vec<Row>> {
    let server = rig.server("slow", &[]).await?;
    let lock = "lock table timeline_events in exclusive mode";
    let lock = tokio::spawn(hold_lock(rig.pg.url(rig.pg.port, "gameday"), lock, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writers = start_writers(&server.base, day, "slow", false);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ready = readyz(&server.base).await;
    let burst = writers.finish().await;
    lock.await??;
    let slowest = *burst.slowest.lock().unwrap();
    let unavailable = Burst::n(&burst.unavailable);
    let bare = Burst::n(&burst.unavailable_without_retry_after);
    let fives = Burst::n(&burst.server_errors);
    let name = "slow database: a lock on the events held 10 s (4 writers)";
    Ok(vec![
        row(
            name,
            "slowest answer; every answer a 503 with Retry-After",
            format!("{} ({})", secs(slowest), burst.summary()),
            "6 s (statement timeout 5 s)",
            slowest <= Duration::from_secs(6) && unavailable > 0 && bare == 0 && fives == 0,
        ),
        row(
            name,
            "/readyz meanwhile",
            ready.map_or("no answer".into(), |s| s.as_u16().to_string()),
            "503",
            ready == Some(StatusCode::SERVICE_UNAVAILABLE),
        ),
    ])
}

async fn pool_exhausted(rig: &Rig, day: &Day) -> Result<Vec<Row>> {
    let server = rig.server("pool", &[("GAMEDAY_DB_MAX_CONNECTIONS", "5")]).await?;
    // The sessions, not the events: observations of one game day are recorded by one writer on
    // one connection (group commit), so a lock on the events holds one connection, however many
    // wait. Every request reads its session first, each on a connection of its own.
    let lock = "lock table web_sessions in access exclusive mode";
    let lock = tokio::spawn(hold_lock(rig.pg.url(rig.pg.port, "gameday"), lock, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let burst = Arc::new(Burst::default());
    let url = format!("{}{}/observations", server.base, day.path());
    let requests: Vec<_> = (0..100)
        .map(|n| {
            let (client, url, burst) = (day.client.clone(), url.clone(), burst.clone());
            tokio::spawn(async move {
                let body = format!("chaos pool #{n}");
                let started = Instant::now();
                let outcome = client.post(&url).form(&[("body", body.as_str())]).send().await;
                burst.record(started, &outcome, &body);
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = readyz(&server.base).await;
    for r in requests {
        let _ = r.await;
    }
    lock.await??;
    let slowest = *burst.slowest.lock().unwrap();
    let bare = Burst::n(&burst.unavailable_without_retry_after);
    let fives = Burst::n(&burst.server_errors);
    let name = "pool exhausted: 100 requests at once on a pool of 5, behind a lock on the sessions";
    Ok(vec![
        row(
            name,
            "slowest answer; every answer a 503 with Retry-After",
            format!("{} ({})", secs(slowest), burst.summary()),
            "6 s (acquire 1 s, lock 2 s, statement 5 s)",
            slowest <= Duration::from_secs(6) && Burst::n(&burst.unavailable) == 100 && bare == 0 && fives == 0,
        ),
        row(
            name,
            "/readyz meanwhile",
            ready.map_or("no answer".into(), |s| s.as_u16().to_string()),
            "503",
            ready == Some(StatusCode::SERVICE_UNAVAILABLE),
        ),
    ])
}

async fn listen_killed(rig: &Rig, day: &Day) -> Result<Row> {
    let server = rig.server("listen", &[("GAMEDAY_LIVE_CHECK_MS", "60000")]).await?;
    let reader = start_reader(&server.base, day, day.last_seq(&rig.admin).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writers = start_writers(&server.base, day, "listen", false);
    let mut killed = 0i64;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        killed += sqlx::query_scalar::<_, i64>(
            "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity \
             where datname = 'gameday' and query ilike 'listen%') t",
        )
        .fetch_one(&rig.admin)
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let burst = writers.finish().await;
    let (expected, lost, duplicates) = reader.verdict(day, &rig.admin).await?;
    Ok(row(
        "the LISTEN connection killed 3 times during a burst (safety-net check off)",
        "live stream: events lost, shown twice",
        format!("{lost} lost, {duplicates} twice of {expected} ({killed} LISTEN backends killed; {})", burst.summary()),
        "0, 0",
        lost == 0 && duplicates == 0 && killed >= 1 && expected > 0,
    ))
}

async fn network_cut(rig: &Rig, day: &Day) -> Result<Row> {
    let server = rig.server("cut", &[]).await?;
    let reader = start_reader(&server.base, day, day.last_seq(&rig.admin).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let writers = start_writers(&server.base, day, "cut", false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    rig.proxy.cut_for(Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let burst = writers.finish().await;
    let acked = burst.acked();
    let written_lost = lost_of(&acked, &day.observations(&rig.admin).await?);
    let (expected, lost, duplicates) = reader.verdict(day, &rig.admin).await?;
    let fives = Burst::n(&burst.server_errors);
    Ok(row(
        "network to PostgreSQL cut for 3 s during a burst",
        "live stream: events lost, shown twice; 500s; acknowledged writes lost",
        format!(
            "{lost} lost, {duplicates} twice of {expected}; {fives} × 5xx; {written_lost} lost ({})",
            burst.summary()
        ),
        "0, 0; 0; 0",
        lost == 0 && duplicates == 0 && fives == 0 && written_lost == 0 && expected > 0,
    ))
}

async fn sigterm_with_streams(rig: &Rig, day: &Day) -> Result<Row> {
    let mut server = rig.server("sigterm", &[]).await?;
    let url = format!("{}{}/live", server.base, day.path());
    let mut streams = Vec::new();
    for batch in 0..(STREAMS_AT_SIGTERM / 50) {
        let opened: Vec<_> = (0..50)
            .map(|_| {
                let (client, url) = (day.client.clone(), url.clone());
                tokio::spawn(async move { client.get(&url).timeout(Duration::from_secs(3600)).send().await })
            })
            .collect();
        for o in opened {
            match o.await? {
                Ok(r) if r.status() == StatusCode::OK => streams.push(r),
                Ok(r) => return Err(format!("stream {batch}: answered {}", r.status()).into()),
                Err(e) => return Err(format!("stream {batch}: {e}").into()),
            }
        }
    }
    let writers = start_writers(&server.base, day, "sigterm", true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.signal("TERM");
    let exit = server.exited_within(Duration::from_secs(30)).await;
    let burst = writers.finish().await;
    drop(streams);
    let acked = burst.acked();
    let lost = lost_of(&acked, &day.observations(&rig.admin).await?);
    let (figure, held) = match exit {
        Some((took, clean)) => (
            format!(
                "exited {} in {}; {} acknowledged writes, {lost} lost",
                if clean { "cleanly" } else { "with an error" },
                secs(took),
                acked.len()
            ),
            clean && took <= Duration::from_secs(5) && lost == 0,
        ),
        None => ("still running after 30 s".into(), false),
    };
    Ok(row(
        &format!("SIGTERM with {STREAMS_AT_SIGTERM} open live streams and 4 writers"),
        "time to exit; acknowledged writes lost",
        figure,
        "5 s; 0",
        held,
    ))
}

#[tokio::main]
async fn main() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("gameday-chaos-{}", std::process::id()));
    eprintln!("chaos: PostgreSQL, logs and the server's logs in {}", dir.display());
    let pg = Pg::init(&dir)?;
    let result = rehearse(dir.clone(), pg).await;
    match result {
        Ok(rows) => {
            println!("| fault | measured | figure | ceiling | held |");
            println!("| --- | --- | --- | --- | --- |");
            for r in &rows {
                println!("| {} | {} | {} | {} | {} |", r.fault, r.measured, r.figure, r.ceiling, yes(r.held));
            }
            if rows.iter().all(|r| r.held) {
                let _ = std::fs::remove_dir_all(&dir);
                Ok(())
            } else {
                eprintln!("chaos: some rows did not hold; logs kept in {}", dir.display());
                std::process::exit(1);
            }
        }
        Err(err) => {
            eprintln!("chaos: the rehearsal could not run: {err}; logs in {}", dir.display());
            std::process::exit(2);
        }
    }
}

async fn rehearse(dir: PathBuf, pg: Pg) -> Result<Vec<Row>> {
    let rehearsal = async {
        let admin_options: PgConnectOptions = pg.url(pg.port, "postgres").parse()?;
        let mut setup = PgConnection::connect_with(&admin_options).await?;
        sqlx::query("create database gameday").execute(&mut setup).await?;
        drop(setup);
        let proxy = Proxy::start(pg.port).await?;
        let admin = PgPoolOptions::new().max_connections(4).connect(&pg.url(pg.port, "gameday")).await?;
        let rig = Rig { dir: dir.clone(), pg, proxy, admin };
        // The first server applies the migrations; the game day is made through it.
        let first = rig.server("setup", &[]).await?;
        let day = Day::create(&first.base, &rig.admin).await?;
        drop(first);

        let mut rows = vec![kill_9(&rig, &day).await?];
        rows.extend(pg_restart(&rig, &day, "fast").await?);
        // The admin pool's connections died with the restart; it reconnects by itself.
        rows.extend(pg_restart(&rig, &day, "immediate").await?);
        rows.extend(slow_database(&rig, &day).await?);
        rows.extend(pool_exhausted(&rig, &day).await?);
        rows.push(listen_killed(&rig, &day).await?);
        rows.push(network_cut(&rig, &day).await?);
        rows.push(sigterm_with_streams(&rig, &day).await?);
        Result::Ok(rows)
    };
    rehearsal.await
}
