//! The load: the game day the writers write to, the writers, and a live-stream reader that
//! reconnects as a browser does.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::Result;

pub const WRITERS: usize = 4;

// ---------------------------------------------------------------------------------------------
// The game day the writers write to

#[derive(Clone)]
pub struct Day {
    pub client: Client,
    pub slug: String,
    pub id: uuid::Uuid,
}

pub fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(40))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

impl Day {
    pub async fn create(base: &str, admin: &PgPool) -> Result<Day> {
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

    pub fn path(&self) -> String {
        format!("/teams/{}/gamedays/{}", self.slug, self.id)
    }

    pub async fn observations(&self, admin: &PgPool) -> Result<HashSet<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "select body from timeline_events where gameday_id = $1 and kind = 'observation'",
        )
        .bind(self.id)
        .fetch_all(admin)
        .await?
        .into_iter()
        .collect())
    }

    pub async fn last_seq(&self, admin: &PgPool) -> Result<i64> {
        Ok(sqlx::query_scalar::<_, i64>("select coalesce(max(seq), 0) from timeline_events where gameday_id = $1")
            .bind(self.id)
            .fetch_one(admin)
            .await?)
    }
}

// ---------------------------------------------------------------------------------------------
// Writers

#[derive(Default)]
pub struct Burst {
    pub acked: Mutex<Vec<String>>,
    pub ok: AtomicUsize,
    pub unavailable: AtomicUsize,
    pub unavailable_without_retry_after: AtomicUsize,
    pub server_errors: AtomicUsize,
    pub other: AtomicUsize,
    pub transport: AtomicUsize,
    pub slowest: Mutex<Duration>,
    pub last_failure: Mutex<Option<Instant>>,
}

impl Burst {
    pub fn record(&self, started: Instant, outcome: &reqwest::Result<reqwest::Response>, body: &str) {
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

    pub fn acked(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    pub fn n(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    pub fn summary(&self) -> String {
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
pub async fn writer(
    base: String,
    day: Day,
    tag: String,
    stop: Arc<AtomicBool>,
    burst: Arc<Burst>,
    stop_on_error: bool,
) {
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

pub struct Writers {
    pub stop: Arc<AtomicBool>,
    pub burst: Arc<Burst>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub fn start_writers(base: &str, day: &Day, round: &str, stop_on_error: bool) -> Writers {
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
    pub async fn finish(self) -> Arc<Burst> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            let _ = task.await;
        }
        self.burst
    }
}

// ---------------------------------------------------------------------------------------------
// A live stream reader that reconnects with Last-Event-ID, as a browser's EventSource does

pub struct Reader {
    pub ids: Arc<Mutex<Vec<i64>>>,
    pub task: tokio::task::JoinHandle<()>,
    pub after: i64,
}

pub fn start_reader(base: &str, day: &Day, after: i64) -> Reader {
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
    pub async fn verdict(self, day: &Day, admin: &PgPool) -> Result<(usize, usize, usize)> {
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
