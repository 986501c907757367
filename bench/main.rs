//! `make bench`: measures Gameday on a release build and prints each figure beside the ceiling
//! measured in the same run and the target of issue 11.
//!
//! It builds on the rig of `make chaos` ([`rig`]): a PostgreSQL cluster of its own (initdb into a
//! temporary directory, loopback only, with `pg_stat_statements` preloaded and a JSON log), and
//! the release build of `gameday` as a child process on a loopback port. It seeds a team and game
//! days of 50, 500 and 5,000 events through the app's own forms ([`seed`]), then measures the
//! pages against pgbench running the statements the page ran ([`pages`]), the write path against
//! the fsync ceiling ([`writes`]), the live stream at 1,000 and 10,000 watchers held by a child
//! process of its own ([`fanout`]), memory, and start to ready.
//!
//! It is a measurement: it exits 0 even when a target is missed (the table says NO), and non-zero
//! only when it could not measure.

#[allow(dead_code)]
#[path = "../chaos/rig.rs"]
mod rig;

mod fanout;
mod pages;
mod seed;
mod writes;

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use rig::{Pg, Server};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The role the server connects as, so `pg_stat_statements` and the log tell its statements
/// from the bench's own.
pub const APP_USER: &str = "gameday_app";

/// What the bench's cluster adds to `postgresql.conf`.
const PG_CONF: &str = "shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_utility = on
logging_collector = on
log_destination = 'jsonlog'
log_directory = 'log'
log_filename = 'postgresql.log'
log_rotation_age = 0
log_rotation_size = 0
";

/// The token the server's `/metrics` answers to (the pages read its count of connections taken
/// from the pool).
pub const METRICS_TOKEN: &str = "bench-metrics-token";

/// The server's settings for every run: the defaults, with the webhook, health-check and e-mail
/// pollers quiet (no webhook, health check or e-mail is due; their polls would otherwise count
/// among a page's statements), `/metrics` open to
/// [`METRICS_TOKEN`], and whatever
/// `BENCH_SERVER_ENV` adds (`NAME=value` pairs separated by spaces, e.g. to try an allocator with
/// `LD_PRELOAD`).
fn server_env() -> Vec<(String, String)> {
    let mut env = vec![
        ("GAMEDAY_WEBHOOK_POLL_MS".to_owned(), "3600000".to_owned()),
        ("GAMEDAY_HEALTH_CHECK_POLL_MS".to_owned(), "3600000".to_owned()),
        ("GAMEDAY_EMAIL_POLL_MS".to_owned(), "3600000".to_owned()),
        ("GAMEDAY_METRICS_TOKEN".to_owned(), METRICS_TOKEN.to_owned()),
    ];
    let extra = std::env::var("BENCH_SERVER_ENV").unwrap_or_default();
    env.extend(extra.split_whitespace().filter_map(|p| p.split_once('=')).map(|(k, v)| (k.into(), v.into())));
    env
}

// ---------------------------------------------------------------------------------------------
// The table

pub struct Row {
    what: String,
    figure: String,
    ceiling: String,
    target: String,
    /// None: a figure without a target.
    met: Option<bool>,
}

pub fn row(what: &str, figure: String, ceiling: String, target: &str, met: Option<bool>) -> Row {
    let row = Row { what: what.into(), figure, ceiling, target: target.into(), met };
    eprintln!("bench: {} | {} | {} | {} | {}", row.what, row.figure, row.ceiling, row.target, met_text(row.met));
    row
}

fn met_text(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "—",
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

/// The value at `q` (0..=1) of sorted `values`.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

// ---------------------------------------------------------------------------------------------
// Memory, start to ready, the fsync ceiling

/// VmRSS and VmHWM of a process, in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) the process `pid` has used so far, in clock ticks (0 if gone).
fn cpu_ticks(pid: u32) -> u64 {
    proc_ticks(pid, false)
}

/// CPU ticks of `pid` (utime, stime), and with `reaped` those of its children it has waited for
/// (cutime, cstime): a PostgreSQL backend that ended (pgbench's, at its end) is counted there.
fn proc_ticks(pid: u32, reaped: bool) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name (in parentheses, which may hold spaces): state is field 3, utime
    // and stime fields 14 and 15, cutime and cstime 16 and 17.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15) + if reaped { field(16) + field(17) } else { 0 }
}

/// The parent process id of `pid` (0 if gone).
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

/// CPU time used so far, in seconds: by the server, by the bench's PostgreSQL (the postmaster and
/// every process it started), by this process (the load), and the machine's idle and stolen time
/// (all its CPUs, from `/proc/stat`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTimes {
    pub server: f64,
    pub pg: f64,
    pub bench: f64,
    pub idle: f64,
    pub steal: f64,
    pub total: f64,
}

impl std::ops::Sub for CpuTimes {
    type Output = CpuTimes;
    fn sub(self, o: CpuTimes) -> CpuTimes {
        CpuTimes {
            server: self.server - o.server,
            pg: self.pg - o.pg,
            bench: self.bench - o.bench,
            idle: self.idle - o.idle,
            steal: self.steal - o.steal,
            total: self.total - o.total,
        }
    }
}

pub fn cpu_times(server: u32, pg: &Pg) -> CpuTimes {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let (server_s, pg_s) = cpu_seconds(server, pg);
    // The first line of /proc/stat: cpu user nice system idle iowait irq softirq steal ...
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0.0) / ticks_per_second;
    CpuTimes {
        server: server_s,
        pg: pg_s,
        bench: cpu_ticks(std::process::id()) as f64 / ticks_per_second,
        idle: at(3) + at(4),
        steal: at(7),
        total: ticks.iter().sum::<f64>() / ticks_per_second,
    }
}

/// CPU time used so far by the server `server` and by the bench's PostgreSQL (its processes now, and
/// those that ended), in seconds.
fn cpu_seconds(server: u32, pg: &Pg) -> (f64, f64) {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let postmaster: u32 = std::fs::read_to_string(pg.data.join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next()?.trim().parse().ok())
        .unwrap_or(0);
    let mut pg_ticks = proc_ticks(postmaster, true);
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for entry in procs.flatten() {
            if let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && postmaster != 0
                && parent_of(pid) == postmaster
            {
                pg_ticks += cpu_ticks(pid);
            }
        }
    }
    (cpu_ticks(server) as f64 / ticks_per_second, pg_ticks as f64 / ticks_per_second)
}

/// Raises this process's open-files limit to its hard limit (children inherit it): 10,000 live
/// streams need 10,000 sockets in the server and in the watcher process.
fn raise_open_files() {
    // SAFETY: getrlimit/setrlimit write to and read from a plain struct we own.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

pub fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: as above.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// Time from spawning the server on a migrated database to its first 200 on /readyz.
async fn start_to_ready(dir: &Path, url: &str, runs: usize) -> Result<Vec<Duration>> {
    let client = Client::builder().timeout(Duration::from_secs(2)).build()?;
    let mut times = Vec::new();
    for run in 0..runs {
        let port = rig::free_port();
        let log = std::fs::File::create(dir.join(format!("server-ready-{run}.log")))?;
        let started = Instant::now();
        let mut child = std::process::Command::new(rig::server_binary()?)
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("GAMEDAY_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(server_env())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?;
        let readyz = format!("http://127.0.0.1:{port}/readyz");
        let ready = loop {
            if let Ok(r) = client.get(&readyz).send().await
                && r.status() == StatusCode::OK
            {
                break Some(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(10) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        times.push(ready.ok_or("a server did not become ready within 10 s")?);
    }
    times.sort();
    Ok(times)
}

/// fdatasync's operations per second from `pg_test_fsync` (one 8 kB write each): the ceiling for
/// commits made one after another.
fn fsync_ceiling(pg: &Pg, dir: &Path) -> Result<f64> {
    let out = std::process::Command::new(pg.bindir.join("pg_test_fsync"))
        .args(["-s", "1", "-f"])
        .arg(dir.join("fsync.test"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let after = text.split("one 8kB write").nth(1).ok_or("pg_test_fsync printed no one-write comparison")?;
    after
        .lines()
        .find(|l| l.trim_start().starts_with("fdatasync"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "pg_test_fsync printed no fdatasync figure".into())
}

// ---------------------------------------------------------------------------------------------
// The run

fn main() -> Result<()> {
    raise_open_files();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("watch") {
        return runtime.block_on(fanout::watch(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some("bare-serve") {
        return runtime.block_on(fanout::bare_serve(&args[2..]));
    }
    let dir = std::env::temp_dir().join(format!("gameday-bench-{}", std::process::id()));
    eprintln!("bench: PostgreSQL, logs and the server's logs in {}", dir.display());
    let started = Instant::now();
    // `BENCH_PG_CONF="line\nline"` adds to the cluster's settings (e.g.
    // `pg_stat_statements.track_planning = on`, to see planning time in the write path's report).
    let conf = format!("{PG_CONF}{}\n", std::env::var("BENCH_PG_CONF").unwrap_or_default().replace("\\n", "\n"));
    let pg = Pg::init_with(&dir, &conf)?;
    match runtime.block_on(measure(&dir, &pg)) {
        Ok(rows) => {
            println!("| what | figure | ceiling (same run) | target | met? |");
            println!("| --- | --- | --- | --- | --- |");
            for r in &rows {
                println!("| {} | {} | {} | {} | {} |", r.what, r.figure, r.ceiling, r.target, met_text(r.met));
            }
            let missed = rows.iter().filter(|r| r.met == Some(false)).count();
            eprintln!("bench: {missed} target(s) missed; the whole run took {:.0} s", started.elapsed().as_secs_f64());
            drop(pg);
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        Err(err) => {
            eprintln!("bench: could not measure: {err}; logs in {}", dir.display());
            std::process::exit(2);
        }
    }
}

async fn measure(dir: &Path, pg: &Pg) -> Result<Vec<Row>> {
    let mut setup = PgConnection::connect(&pg.url(pg.port, "postgres")).await?;
    sqlx::query(&format!("create role {APP_USER} login password '{}'", rig::PASSWORD)).execute(&mut setup).await?;
    sqlx::query(&format!("create database gameday owner {APP_USER}")).execute(&mut setup).await?;
    drop(setup);
    let admin: PgPool = PgPoolOptions::new().max_connections(4).connect(&pg.url(pg.port, "gameday")).await?;
    sqlx::query("create extension pg_stat_statements").execute(&admin).await?;
    let app_url = format!("postgres://{APP_USER}:{}@127.0.0.1:{}/gameday", rig::PASSWORD, pg.port);

    // `bench --live-only`: the live stream and memory rows alone (to compare allocators quickly).
    let live_only = std::env::args().any(|a| a == "--live-only");
    // `bench --writes-only`: the write path alone (to compare changes to it quickly).
    let writes_only = std::env::args().any(|a| a == "--writes-only");
    // `bench --pages-only`: the pages alone.
    let pages_only = std::env::args().any(|a| a == "--pages-only");
    let fsync = if live_only {
        0.0
    } else {
        eprintln!("bench: pg_test_fsync (about 15 s)");
        fsync_ceiling(pg, dir)?
    };

    let env = server_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(dir, "bench", &app_url, &env).await?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle, _) = rss_kib(pid);
    let ready = start_to_ready(dir, &app_url, 5).await?;

    eprintln!("bench: seeding through the app's forms");
    let seeded = seed::seed(&server.base, &admin, live_only).await?;
    // The tables' statistics, as autovacuum would gather them within its minute's nap after the
    // seeding (the measuring starts at once): without them the planner takes a game day for a
    // dozen events and reads all 5,000 of the biggest one to show its latest 50.
    sqlx::query("analyze").execute(&admin).await?;
    let mut rows = Vec::new();
    if !live_only && !writes_only {
        rows.extend(pages::measure(pg, &admin, &seeded, || cpu_times(pid, pg)).await?);
    }
    let (after_pages, hwm_pages) = rss_kib(pid);
    if pages_only {
        drop(server);
        return Ok(rows);
    }
    if !live_only {
        rows.extend(writes::measure(&seeded, &admin, fsync, || cpu_times(pid, pg)).await?);
    }
    if writes_only {
        drop(server);
        return Ok(rows);
    }
    let fan = fanout::measure(&seeded, &admin, pid).await?;
    rows.extend(fan.rows);

    let median = ready[ready.len() / 2];
    rows.push(row(
        "start to ready (spawn to the first 200 on /readyz, migrated database)",
        format!("{} (median of {}; {} to {})", ms(median), ready.len(), ms(ready[0]), ms(ready[ready.len() - 1])),
        "—".into(),
        "< 100 ms",
        Some(median < Duration::from_millis(100)),
    ));
    rows.push(row("RSS of the server, idle (after start)", mb(idle), "—".into(), "< 30 MB", Some(idle < 30 * 1024)));
    rows.push(row(
        "RSS after seeding and the page loads",
        format!("{} (VmHWM {})", mb(after_pages), mb(hwm_pages)),
        "—".into(),
        "—",
        None,
    ));
    rows.extend(fan.memory);
    drop(server);
    Ok(rows)
}
