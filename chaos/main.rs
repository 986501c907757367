//! `make chaos`: rehearses faults on Gameday itself and measures what it does.
//!
//! It starts a PostgreSQL cluster of its own (initdb into a temporary directory, loopback only,
//! so it can restart it), a small TCP proxy it controls between the server and PostgreSQL, and
//! the release build of `gameday` as a child process on a loopback port. Several writers post
//! observations while a live stream reads the game day; then each fault is applied and measured.
//! It prints one row per rehearsal (fault, what was measured, the figure, the ceiling, held) and
//! exits non-zero when a row does not hold.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USER: &str = "gameday";
const PASSWORD: &str = "gameday";
const WRITERS: usize = 4;
const STREAMS_AT_SIGTERM: usize = 1000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL of our own

struct Pg {
    bindir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    as_root: bool,
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Pg {
    fn bindir() -> Result<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
            .collect();
        dirs.sort();
        dirs.pop().ok_or_else(|| {
            "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)".into()
        })
    }

    fn command(&self, tool: &str) -> Command {
        let program = self.bindir.join(tool);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let status = self.command(tool).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        if !status.success() {
            return Err(format!("{tool} {args:?} failed ({status}); see {}", self.log.display()).into());
        }
        Ok(())
    }

    fn init(dir: &Path) -> Result<Pg> {
        let as_root = is_root();
        let pg = Pg {
            bindir: Pg::bindir()?,
            data: dir.join("cluster"),
            log: dir.join("postgres.log"),
            port: free_port(),
            as_root,
        };
        std::fs::create_dir_all(dir)?;
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD)?;
        std::fs::write(&pg.log, "")?;
        if as_root {
            Command::new("chown").args(["-R", "postgres:"]).arg(dir).status()?;
        }
        let data = pg.data.to_string_lossy().into_owned();
        let pw = format!("--pwfile={}", pwfile.display());
        pg.run(
            "initdb",
            &["-D", &data, "-U", USER, &pw, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"],
        )?;
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\nmax_connections = 300\n",
            pg.port
        );
        let mut existing = std::fs::read_to_string(pg.data.join("postgresql.conf"))?;
        existing.push_str(&conf);
        std::fs::write(pg.data.join("postgresql.conf"), existing)?;
        pg.start()?;
        Ok(pg)
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        let log = self.log.to_string_lossy().into_owned();
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str(), "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn start(&self) -> Result<()> {
        self.pg_ctl(&["start"])
    }

    /// Restarts the server (`fast` or `immediate`); returns once it accepts connections.
    fn restart(&self, mode: &str) -> Result<()> {
        self.pg_ctl(&["restart", "-m", mode])
    }

    fn stop(&self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    fn url(&self, port: u16, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{db}")
    }
}

fn is_root() -> bool {
    // `id -u` rather than libc, to keep the dependencies as they are.
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy between the server and PostgreSQL that can cut the network

#[derive(Clone)]
struct Proxy {
    port: u16,
    /// While true, new connections are closed at once; each change of the epoch closes all.
    cut: Arc<AtomicBool>,
    epoch: watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: u16) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (epoch, _) = watch::channel(0u64);
        let proxy = Proxy { port, cut: Arc::new(AtomicBool::new(false)), epoch };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if p.cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut epoch = p.epoch.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = epoch.changed() => {}
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// Cuts every connection and refuses new ones for `span`.
    async fn cut_for(&self, span: Duration) {
        self.cut.store(true, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
        tokio::time::sleep(span).await;
        self.cut.store(false, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test

struct Server {
    child: Child,
    base: String,
}

fn server_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("gameday");
    if !bin.exists() {
        return Err(format!("{} not found: build it with `cargo build --release --bin gameday`", bin.display()).into());
    }
    Ok(bin)
}

impl Server {
    async fn start(dir: &Path, name: &str, database_url: &str, env: &[(&str, &str)]) -> Result<Server> {
        let port = free_port();
        let log = std::fs::File::create(dir.join(format!("server-{name}.log")))?;
        let mut command = Command::new(server_binary()?);
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("GAMEDAY_BIND", format!("127.0.0.1:{port}"))
            .env("GAMEDAY_LIVE_CHECK_MS", "2000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn()?;
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let client = Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/readyz", server.base)).send().await
                && r.status() == StatusCode::OK
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the server {name} did not become ready").into())
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status();
    }

    /// Waits up to `limit` for the process to exit; returns how long it took and whether it exited 0.
    async fn exited_within(&mut self, limit: Duration) -> Option<(Duration, bool)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((started.elapsed(), status.success()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The game day the writers write to

#[derive(Clone)]
struct Day {
    client: Client,
    slug: String,
    id: uuid::Uuid,
}

fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(40))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

impl Day {
    async fn create(base: &str, admin: &PgPool) -> Result<Day> {
        let client = new_client();
        let signup = [("email", "chaos@example.com"), ("display_name", "Chaos"), ("password", "correct horse battery")];
        let r = client.post(format!("{base}/signup")).form(&signup).send().await?;
        if r.status() != StatusCode::SEE_OTHER {
            return Err(format!("sign-up answered {}", r.status()).into());
        }
        let r = client.post(format!("{base}/teams")).form(&[("name", "Chaos"), ("slug", "")]).send().await?;
        let slug = location(&r).trim_start_matches("/teams/").to_owned();
        let form = [
            ("title", "Gameday on Gameday"),
            ("objective", "Learn what Gameday does when its own parts fail."),
            ("environment", "loopback"),
            ("systems", "gameday, postgres"),
            ("starts_at", "2030-01-01T10:00"),
            ("ends_at", "2030-01-01T12:00"),
            ("call_link", ""),
        ];
        let r = client.post(format!("{base}/teams/{slug}/gamedays")).form(&form).send().await?;
        let id: uuid::Uuid = location(&r).rsplit('/').next().unwrap_or_default().parse()?;
        // Setup only (not what is measured): straight to running, so observations are open.
        sqlx::query("update gamedays set status = 'running' where id = $1").bind(id).execute(admin).await?;
        Ok(Day { client, slug, id })
    }

    fn path(&self) -> String {
        format!("/teams/{}/gamedays/{}", self.slug, self.id)
    }

    async fn observations(&self, admin: &PgPool) -> Result<HashSet<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "select body from timeline_events where gameday_id = $1 and kind = 'observation'",
        )
        .bind(self.id)
        .fetch_all(admin)
        .await?
        .into_iter()
        .collect())
    }

    async fn last_seq(&self, admin: &PgPool) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("select coalesce(max(seq), 0) from timeline_events where gameday_id = $1")
            .bind(self.id)
            .fetch_one(admin)
            .await?)
    }
}

// ---------------------------------------------------------------------------------------------
// Writers

#[derive(Default)]
struct Burst {
    acked: Mutex<Vec<String>>,
    ok: AtomicUsize,
    unavailable: AtomicUsize,
    unavailable_without_retry_after: AtomicUsize,
    server_errors: AtomicUsize,
    other: AtomicUsize,
    transport: AtomicUsize,
    slowest: Mutex<Duration>,
    last_failure: Mutex<Option<Instant>>,
}

impl Burst {
    fn record(&self, started: Instant, outcome: &reqwest::Result<reqwest::Response>, body: &str) {
        let took = started.elapsed();
        {
            let mut slowest = self.slowest.lock().unwrap();
            *slowest = (*slowest).max(took);
        }
        let failed = match outcome {
            Ok(r) if r.status() == StatusCode::SEE_OTHER => {
                self.acked.lock().unwrap().push(body.to_owned());
                self.ok.fetch_add(1, Ordering::SeqCst);
                false
            }
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                self.unavailable.fetch_add(1, Ordering::SeqCst);
                if !r.headers().contains_key("retry-after") {
                    self.unavailable_without_retry_after.fetch_add(1, Ordering::SeqCst);
                }
                true
            }
            Ok(r) if r.status().is_server_error() => {
                self.server_errors.fetch_add(1, Ordering::SeqCst);
                true
            }
            Ok(_) => {
                self.other.fetch_add(1, Ordering::SeqCst);
                true
            }
            Err(_) => {
                self.transport.fetch_add(1, Ordering::SeqCst);
                true
            }
        };
        if failed {
            *self.last_failure.lock().unwrap() = Some(Instant::now());
        }
    }

    fn acked(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    fn n(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    fn summary(&self) -> String {
        format!(
            "{} ok, {} × 503 ({} without Retry-After), {} × 5xx other, {} other, {} connection errors",
            Burst::n(&self.ok),
            Burst::n(&self.unavailable),
            Burst::n(&self.unavailable_without_retry_after),
            Burst::n(&self.server_errors),
            Burst::n(&self.other),
            Burst::n(&self.transport)
        )
    }
}

/// Posts observations until `stop` (or, with `stop_on_error`, until the server is gone).
async fn writer(base: String, day: Day, tag: String, stop: Arc<AtomicBool>, burst: Arc<Burst>, stop_on_error: bool) {
    let url = format!("{base}{}/observations", day.path());
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let body = format!("chaos {tag} #{n}");
        let started = Instant::now();
        let outcome = day.client.post(&url).form(&[("body", body.as_str())]).send().await;
        let gone = outcome.is_err();
        burst.record(started, &outcome, &body);
        if gone && stop_on_error {
            return;
        }
        if gone {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Writers {
    stop: Arc<AtomicBool>,
    burst: Arc<Burst>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_writers(base: &str, day: &Day, round: &str, stop_on_error: bool) -> Writers {
    let stop = Arc::new(AtomicBool::new(false));
    let burst = Arc::new(Burst::default());
    let tasks = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                base.to_owned(),
                day.clone(),
                format!("{round}/{w}"),
                stop.clone(),
                burst.clone(),
                stop_on_error,
            ))
        })
        .collect();
    Writers { stop, burst, tasks }
}

impl Writers {
    async fn finish(self) -> Arc<Burst> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let _ = task.await;
        }
        self.burst
    }
}

// ---------------------------------------------------------------------------------------------
// A live stream reader that reconnects with Last-Event-ID, as a browser's EventSource does

struct Reader {
    ids: Arc<Mutex<Vec<i64>>>,
    task: tokio::task::JoinHandle<()>,
    after: i64,
}

fn start_reader(base: &str, day: &Day, after: i64) -> Reader {
    let ids: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let url = format!("{base}{}/live?after={after}", day.path());
    let (client, seen) = (day.client.clone(), ids.clone());
    let task = tokio::spawn(async move {
        loop {
            let last = seen.lock().unwrap().last().copied();
            let mut request = client.get(&url).timeout(Duration::from_secs(3600));
            if let Some(last) = last {
                request = request.header("last-event-id", last.to_string());
            }
            if let Ok(mut response) = request.send().await
                && response.status() == StatusCode::OK
            {
                let mut buffer = String::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let message: String = buffer.drain(..end + 2).collect();
                        if let Some(id) = message.lines().find_map(|l| l.strip_prefix("id:"))
                            && let Ok(id) = id.trim().parse()
                        {
                            seen.lock().unwrap().push(id);
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    Reader { ids, task, after }
}

impl Reader {
    /// Waits (up to 20 s) until the stream has reached the database's last event, then stops and
    /// returns how many were lost and how many came twice.
    async fn verdict(self, day: &Day, admin: &PgPool) -> Result<(usize, usize, usize)> {
        let last = day.last_seq(admin).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && self.ids.lock().unwrap().last().copied().unwrap_or(self.after) < last {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.task.abort();
        let ids = self.ids.lock().unwrap().clone();
        let unique: BTreeSet<i64> = ids.iter().copied().collect();
        let duplicates = ids.len() - unique.len();
        let lost = (self.after + 1..=last).filter(|s| !unique.contains(s)).count();
        Ok(((last - self.after) as usize, lost, duplicates))
    }
}

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

/// Holds `lock table timeline_events in exclusive mode` (writes wait, reads do not) for `hold`.
async fn hold_lock(admin_url: String, hold: Duration) -> Result<()> {
    let mut conn = PgConnection::connect(&admin_url).await?;
    sqlx::query("begin").execute(&mut conn).await?;
    sqlx::query("lock table timeline_events in exclusive mode").execute(&mut conn).await?;
    tokio::time::sleep(hold).await;
    sqlx::query("rollback").execute(&mut conn).await?;
    Ok(())
}

async fn readyz(base: &str) -> Option<StatusCode> {
    Client::new().get(format!("{base}/readyz")).timeout(Duration::from_secs(10)).send().await.ok().map(|r| r.status())
}

async fn slow_database(rig: &Rig, day: &Day) -> Result<Vec<Row>> {
    let server = rig.server("slow", &[]).await?;
    let lock = tokio::spawn(hold_lock(rig.pg.url(rig.pg.port, "gameday"), Duration::from_secs(10)));
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
    let lock = tokio::spawn(hold_lock(rig.pg.url(rig.pg.port, "gameday"), Duration::from_secs(10)));
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
    let name = "pool exhausted: 100 requests at once on a pool of 5, behind the lock";
    Ok(vec![
        row(
            name,
            "slowest answer; every answer a 503 with Retry-After",
            format!("{} ({})", secs(slowest), burst.summary()),
            "6 s (acquire 3 s, statement 5 s)",
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
