//! The pages: throughput at 16 connections against pgbench running the statements the page ran
//! (captured from PostgreSQL's log, with their parameters, so the ceiling follows the code), one
//! client's p50, the page's cost at 50 and 5,000 events, its size, and the round trips per page:
//! statements (from `pg_stat_statements`) and connections taken from the pool (from the server's
//! `/metrics`: sqlx pings each one when it goes back).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::rig::{PASSWORD, Pg};
use crate::seed::Seeded;
use crate::{APP_USER, CpuTimes, METRICS_TOKEN, Result, Row, ms, quantile, row};

const CONNECTIONS: usize = 16;
const SECONDS: u64 = 8;

/// One statement the server ran, with its parameters as PostgreSQL logged them (None: NULL).
#[derive(Debug)]
struct Statement {
    sql: String,
    params: Vec<Option<String>>,
}

async fn get(client: &Client, url: &str) -> Result<usize> {
    let r = client.get(url).send().await?;
    if r.status() != StatusCode::OK {
        return Err(format!("GET {url} answered {}", r.status()).into());
    }
    Ok(r.bytes().await?.len())
}

/// Pages per second with `connections` clients loading the page for `secs`.
async fn throughput(client: &Client, url: &str, connections: usize, secs: u64) -> Result<(f64, usize)> {
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, done, failed) = (client.clone(), url.to_owned(), done.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    match get(&client, &url).await {
                        Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    Ok((done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(), failed.load(Ordering::Relaxed)))
}

/// Sorted load times of `n` loads one after another.
async fn one_client(client: &Client, url: &str, n: usize) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        get(client, url).await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times)
}

/// The server's statements so far, but for sqlx's look-ups of a type's id (once per connection
/// and type: a connection of the pool that had not decoded that type before, not the page).
async fn calls(admin: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select coalesce(sum(calls), 0)::bigint from pg_stat_statements s join pg_roles r on r.oid = s.userid \
         where r.rolname = $1 and s.query not like '%pg_catalog.%'",
    )
    .bind(APP_USER)
    .fetch_one(admin)
    .await?)
}

/// Connections the server has taken from its pool so far (`gameday_db_checkouts_total`), this
/// scrape's own included (`/metrics` counts the pending webhook deliveries).
async fn checkouts(client: &Client, base: &str) -> Result<f64> {
    let body = client.get(format!("{base}/metrics")).bearer_auth(METRICS_TOKEN).send().await?.text().await?;
    body.lines()
        .find_map(|line| line.strip_prefix("gameday_db_checkouts_total "))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| "the server's /metrics has no gameday_db_checkouts_total".into())
}

/// Per load of `url`: the statements the server runs (every one counted, session reads and
/// writes and a transaction's BEGIN and COMMIT included, a cold connection's type look-ups not)
/// and the connections it takes from its pool (each pinged when it goes back: a round trip).
async fn round_trips_per_page(admin: &PgPool, client: &Client, base: &str, url: &str) -> Result<(f64, f64)> {
    const LOADS: usize = 20;
    get(client, url).await?;
    let taken_before = checkouts(client, base).await?;
    let before = calls(admin).await?;
    for _ in 0..LOADS {
        get(client, url).await?;
    }
    let after = calls(admin).await?;
    // The second scrape's own connection is in its count.
    let taken = checkouts(client, base).await? - taken_before - 1.0;
    Ok(((after - before) as f64 / LOADS as f64, taken / LOADS as f64))
}

// ---------------------------------------------------------------------------------------------
// The statements of one page load, from the log

fn log_files(pg: &Pg) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(pg.data.join("log"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "json")).collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn log_size(pg: &Pg) -> Vec<(std::path::PathBuf, u64)> {
    log_files(pg).into_iter().map(|p| (p.clone(), std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0))).collect()
}

/// Parses `$1 = 'a''b', $2 = NULL` as PostgreSQL logs a statement's parameters.
fn parse_params(detail: &str) -> Vec<Option<String>> {
    let mut params = Vec::new();
    let mut rest = detail.trim_start_matches("parameters:").trim_start();
    while let Some(eq) = rest.find(" = ") {
        rest = &rest[eq + 3..];
        if let Some(after) = rest.strip_prefix("NULL") {
            params.push(None);
            rest = after;
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, c)| *c) == Some('\'') {
                        value.push('\'');
                        chars.next();
                    } else {
                        end = i + 1;
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            params.push(Some(value));
            rest = &quoted[end..];
        } else {
            break;
        }
        rest = rest.trim_start_matches(',').trim_start();
    }
    params
}

/// Loads `url` once with every statement logged, and returns the server's statements in order.
async fn capture(pg: &Pg, admin: &PgPool, client: &Client, url: &str) -> Result<Vec<Statement>> {
    sqlx::query("alter system set log_statement = 'all'").execute(admin).await?;
    sqlx::query("select pg_reload_conf()").execute(admin).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = log_size(pg);
    get(client, url).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::query("alter system reset log_statement").execute(admin).await?;
    sqlx::query("select pg_reload_conf()").execute(admin).await?;
    let mut statements = Vec::new();
    for file in log_files(pg) {
        let from = before.iter().find(|(p, _)| *p == file).map_or(0, |(_, n)| *n) as usize;
        let text = std::fs::read(&file)?;
        for line in String::from_utf8_lossy(&text[from.min(text.len())..]).lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if entry["user"].as_str() != Some(APP_USER) {
                continue;
            }
            let message = entry["message"].as_str().unwrap_or_default();
            let sql = if let Some(s) = message.strip_prefix("statement: ") {
                s
            } else if let Some(s) = message.strip_prefix("execute ").and_then(|s| s.split_once(": ").map(|(_, q)| q)) {
                s
            } else {
                continue;
            };
            let params = entry["detail"].as_str().map(parse_params).unwrap_or_default();
            statements.push(Statement { sql: sql.trim().trim_end_matches(';').to_owned(), params });
        }
    }
    if statements.is_empty() {
        return Err("no statement of the page was found in PostgreSQL's log".into());
    }
    Ok(statements)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of each statement with its parameters, as the server runs it
/// (prepared, with the generic plan its connections settle on): `BENCH_EXPLAIN=1 bench --pages-only`.
async fn explain(admin: &PgPool, statements: &[Statement]) -> Result<String> {
    let mut conn = admin.acquire().await?;
    sqlx::raw_sql("set plan_cache_mode = force_generic_plan").execute(&mut *conn).await?;
    let mut out = String::new();
    for (i, statement) in statements.iter().enumerate() {
        sqlx::raw_sql(&format!("prepare bench_{i} as {}", statement.sql)).execute(&mut *conn).await?;
        let args: Vec<String> = statement
            .params
            .iter()
            .map(|p| p.as_ref().map_or("null".to_owned(), |v| format!("'{}'", v.replace('\'', "''"))))
            .collect();
        let args = if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) };
        let plan: Vec<String> = sqlx::query_scalar(&format!("explain (analyze, buffers) execute bench_{i}{args}"))
            .fetch_all(&mut *conn)
            .await?;
        sqlx::raw_sql(&format!("deallocate bench_{i}")).execute(&mut *conn).await?;
        out.push_str(&format!("-- {}\n{}\n", statement.sql.chars().take(80).collect::<String>(), plan.join("\n")));
    }
    sqlx::raw_sql("reset plan_cache_mode").execute(&mut *conn).await?;
    Ok(out)
}

/// A pgbench script running `statements` once per transaction, the parameters as variables
/// (sent as parameters of prepared statements, as the app sends them).
fn pgbench_script(statements: &[Statement]) -> (String, Vec<String>) {
    let mut script = String::new();
    let mut defines = Vec::new();
    for (i, s) in statements.iter().enumerate() {
        let mut sql = s.sql.clone();
        for (n, value) in s.params.iter().enumerate().rev() {
            let placeholder = format!("${}", n + 1);
            match value {
                Some(value) => {
                    sql = sql.replace(&placeholder, &format!(":p{i}_{}", n + 1));
                    defines.push(format!("p{i}_{}={value}", n + 1));
                }
                None => sql = sql.replace(&placeholder, "null"),
            }
        }
        script.push_str(&sql);
        script.push_str(";\n");
    }
    (script, defines)
}

/// Transactions per second (one transaction = one page's statements) and the mean latency.
fn pgbench(pg: &Pg, dir: &Path, statements: &[Statement], clients: usize, secs: u64) -> Result<(f64, f64)> {
    let (script, defines) = pgbench_script(statements);
    let file = dir.join("page.pgbench");
    std::fs::write(&file, script)?;
    let mut command = std::process::Command::new(pg.bindir.join("pgbench"));
    command
        .env("PGPASSWORD", PASSWORD)
        .args(["-n", "-M", "prepared", "-h", "127.0.0.1", "-U", APP_USER])
        // The app's connections settle on each statement's generic plan (pg_stat_statements with
        // `track_planning` shows no planning once they are warm); pgbench's, left to choose, planned
        // the window's statement again on every run once the tables had statistics (about 1 ms
        // each; its script differs in passing a NULL parameter as a literal), which measured the
        // planner rather than the page's statements.
        .env("PGOPTIONS", "-c plan_cache_mode=force_generic_plan")
        .args([
            "-p",
            &pg.port.to_string(),
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(&file);
    for d in &defines {
        command.arg("-D").arg(d);
    }
    let out = command.arg("gameday").output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let figure = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.trim_start_matches(prefix).split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    match (figure("tps = "), figure("latency average = ")) {
        (Some(tps), Some(latency)) => Ok((tps, latency)),
        _ => Err(format!(
            "pgbench failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr).lines().take(5).collect::<Vec<_>>().join("\n")
        )
        .into()),
    }
}

/// `cpu` says the CPU seconds used so far (the server, PostgreSQL, this process, the machine).
pub async fn measure(pg: &Pg, admin: &PgPool, seeded: &Seeded, cpu: impl Fn() -> CpuTimes) -> Result<Vec<Row>> {
    let base = &seeded.base;
    let client = &seeded.client;
    let page = format!("{base}{}", seeded.medium.path);
    let dir = pg.data.parent().unwrap_or(Path::new("/tmp")).to_owned();
    let mut rows = Vec::new();

    // Warm up: the pool's connections open and its statements are prepared.
    throughput(client, &page, CONNECTIONS, 2).await?;

    let statements = capture(pg, admin, client, &page).await?;
    let n = statements.len();
    let before = cpu();
    let (ceiling, _) = tokio::task::block_in_place(|| pgbench(pg, &dir, &statements, CONNECTIONS, SECONDS))?;
    let (pgbench_used, before) = (cpu() - before, cpu());
    let (pages, failed) = throughput(client, &page, CONNECTIONS, SECONDS).await?;
    let used = cpu() - before;
    let share = pages / ceiling * 100.0;
    rows.push(row(
        "game-day page, 500 events: pages/s at 16 connections",
        format!("{pages:.0}/s ({share:.0} % of the ceiling; {failed} failed)"),
        format!("{ceiling:.0}/s: pgbench, 16 clients, the page's {n} statements with its parameters"),
        "≥ 50 % of the ceiling",
        Some(share >= 50.0 && failed == 0),
    ));
    // Where a page's time goes: CPU per page of the server, PostgreSQL and the 16 clients, beside
    // PostgreSQL's CPU per transaction of pgbench (the same statements) and pgbench's own (the
    // machine's busy time less PostgreSQL's: pgbench is the only other thing running then).
    let per = |seconds: f64, n: f64| seconds * 1e6 / n.max(1.0);
    let served = pages * SECONDS as f64;
    let (server_us, pg_us, clients_us) = (per(used.server, served), per(used.pg, served), per(used.bench, served));
    let ran = ceiling * SECONDS as f64;
    let busy = pgbench_used.total - pgbench_used.idle - pgbench_used.steal;
    let (ceiling_pg_us, pgbench_us) = (per(pgbench_used.pg, ran), per(busy - pgbench_used.pg, ran));
    let idle = 100.0 * used.idle / used.total.max(f64::EPSILON);
    rows.push(row(
        "… CPU per page (the server's share is the app's own work)",
        format!(
            "{:.0} µs: server {server_us:.0} µs, PostgreSQL {pg_us:.0} µs, the 16 clients {clients_us:.0} µs; the machine {idle:.0} % idle",
            server_us + pg_us + clients_us
        ),
        format!(
            "{:.0} µs: PostgreSQL {ceiling_pg_us:.0} µs, pgbench {pgbench_us:.0} µs, per transaction",
            ceiling_pg_us + pgbench_us
        ),
        "—",
        None,
    ));

    let (_, db_latency) = tokio::task::block_in_place(|| pgbench(pg, &dir, &statements, 1, 3))?;
    let single = one_client(client, &page, 300).await?;
    let p50 = quantile(&single, 0.5).unwrap_or_default();
    rows.push(row(
        "game-day page, 500 events, one client: p50",
        format!("{} (p90 {})", ms(p50), ms(quantile(&single, 0.9).unwrap_or_default())),
        format!("{db_latency:.2} ms: pgbench, 1 client, the same statements"),
        "< 3 ms",
        Some(p50 < Duration::from_millis(3)),
    ));

    // Beside it, the database's share: each day's statements run by pgbench, one client.
    let (small_url, large_url) = (format!("{base}{}", seeded.small.path), format!("{base}{}", seeded.large.path));
    let (small_statements, large_statements) =
        (capture(pg, admin, client, &small_url).await?, capture(pg, admin, client, &large_url).await?);
    if std::env::var_os("BENCH_EXPLAIN").is_some() {
        for (name, statements) in [("50", &small_statements), ("5,000", &large_statements)] {
            eprintln!("bench: the plans of the {name}-event day's statements:\n{}", explain(admin, statements).await?);
        }
    }
    let (_, small_db) = tokio::task::block_in_place(|| pgbench(pg, &dir, &small_statements, 1, 3))?;
    let (_, large_db) = tokio::task::block_in_place(|| pgbench(pg, &dir, &large_statements, 1, 3))?;
    let small = one_client(client, &small_url, 100).await?;
    let large = one_client(client, &large_url, 100).await?;
    let (small, large) = (quantile(&small, 0.5).unwrap_or_default(), quantile(&large, 0.5).unwrap_or_default());
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-9);
    rows.push(row(
        "game-day page p50 at 5,000 events vs at 50",
        format!("{} vs {}: {ratio:.1}×", ms(large), ms(small)),
        format!(
            "{large_db:.2} ms vs {small_db:.2} ms: {:.1}×: pgbench, 1 client, each day's statements",
            large_db / small_db.max(1e-9)
        ),
        "≤ 1.5×",
        Some(ratio <= 1.5),
    ));

    let mut sizes = Vec::new();
    for (name, day) in [("500", &seeded.medium), ("5,000", &seeded.large)] {
        let url = format!("{base}{}", day.path);
        let raw = get(client, &url).await?;
        let br = client.get(&url).header("accept-encoding", "br").send().await?.bytes().await?.len();
        sizes.push(format!("{name} events: {:.0} KB ({:.1} KB with br)", raw as f64 / 1000.0, br as f64 / 1000.0));
    }
    rows.push(row("game-day page size", sizes.join("; "), "—".into(), "—", None));

    for (name, url) in [
        ("game-day page", page.clone()),
        ("timeline page", format!("{page}/timeline")),
        ("team page", format!("{base}{}", seeded.team_path)),
        ("dashboard (/)", format!("{base}/")),
    ] {
        let (statements, taken) = round_trips_per_page(admin, client, base, &url).await?;
        let trips = statements + taken;
        rows.push(row(
            &format!("round trips per load: {name}"),
            format!("{trips:.1} ({statements:.1} statements, {taken:.1} connections taken)"),
            "—".into(),
            "≤ 4",
            Some(trips <= 4.0),
        ));
    }
    Ok(rows)
}
