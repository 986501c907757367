//! What the rehearsal runs: a PostgreSQL cluster of its own, a TCP proxy between the server and
//! PostgreSQL that can cut the network, and the server under test as a child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::Result;

pub const USER: &str = "gameday";
pub const PASSWORD: &str = "gameday";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL of our own

pub struct Pg {
    pub bindir: PathBuf,
    pub data: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    pub as_root: bool,
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Pg {
    pub fn bindir() -> Result<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
            .collect();
        dirs.sort();
        dirs.pop().ok_or_else(|| {
            "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)".into()
        })
    }

    pub fn command(&self, tool: &str) -> Command {
        let program = self.bindir.join(tool);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    pub fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let status = self.command(tool).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        if !status.success() {
            return Err(format!("{tool} {args:?} failed ({status}); see {}", self.log.display()).into());
        }
        Ok(())
    }

    pub fn init(dir: &Path) -> Result<Pg> {
        Pg::init_with(dir, "")
    }

    /// Like [`Pg::init`], with `extra` appended to `postgresql.conf` (e.g. `make bench` preloads
    /// `pg_stat_statements` and logs as JSON).
    pub fn init_with(dir: &Path, extra: &str) -> Result<Pg> {
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
        ) + extra;
        let mut existing = std::fs::read_to_string(pg.data.join("postgresql.conf"))?;
        existing.push_str(&conf);
        std::fs::write(pg.data.join("postgresql.conf"), existing)?;
        pg.start()?;
        Ok(pg)
    }

    pub fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let data = self.data.to_string_lossy().into_owned();
        let log = self.log.to_string_lossy().into_owned();
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str(), "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    pub fn start(&self) -> Result<()> {
        self.pg_ctl(&["start"])
    }

    /// Restarts the server (`fast` or `immediate`); returns once it accepts connections.
    pub fn restart(&self, mode: &str) -> Result<()> {
        self.pg_ctl(&["restart", "-m", mode])
    }

    pub fn stop(&self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    pub fn url(&self, port: u16, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{db}")
    }
}

pub fn is_root() -> bool {
    // `id -u` rather than libc, to keep the dependencies as they are.
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy between the server and PostgreSQL that can cut the network

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    /// While true, new connections are closed at once; each change of the epoch closes all.
    pub cut: Arc<AtomicBool>,
    pub epoch: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Result<Proxy> {
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
    pub async fn cut_for(&self, span: Duration) {
        self.cut.store(true, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
        tokio::time::sleep(span).await;
        self.cut.store(false, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test

pub struct Server {
    pub child: Child,
    pub base: String,
}

pub fn server_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("gameday");
    if !bin.exists() {
        return Err(format!("{} not found: build it with `cargo build --release --bin gameday`", bin.display()).into());
    }
    Ok(bin)
}

impl Server {
    pub async fn start(dir: &Path, name: &str, database_url: &str, env: &[(&str, &str)]) -> Result<Server> {
        let port = free_port();
        let log = std::fs::File::create(dir.join(format!("server-{name}.log")))?;
        let mut command = Command::new(server_binary()?);
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("GAMEDAY_BIND", format!("127.0.0.1:{port}"))
            .env("GAMEDAY_LIVE_CHECK_MS", "2000")
            // The rehearsals open their streams as one person: the per-person cap would close
            // all but the newest few (it is rehearsed by the tests, not here).
            .env("GAMEDAY_LIVE_STREAMS_PER_PERSON", "100000")
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

    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status();
    }

    /// Waits up to `limit` for the process to exit; returns how long it took and whether it exited 0.
    pub async fn exited_within(&mut self, limit: Duration) -> Option<(Duration, bool)> {
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
