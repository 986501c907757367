//! Realistic data, made the way people make it: sign-ups, a team, game days with scenarios, and
//! observations posted through the form. Only the move of a game day to "running" is done in SQL
//! (as `make chaos` does), so observations are open.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Client, StatusCode};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// A game day of the seeded team.
#[derive(Clone)]
pub struct Day {
    /// `/teams/{slug}/gamedays/{id}`, as the form's redirect gave it.
    pub path: String,
    pub id: Uuid,
}

pub struct Seeded {
    pub base: String,
    /// Signed in as the team's lead (the cookie jar holds the session).
    pub client: Client,
    /// The `Cookie` header of that session, for the watcher process.
    pub cookie: String,
    pub team_path: String,
    pub small: Day,
    pub medium: Day,
    pub large: Day,
    /// Where the write test writes (empty at first).
    pub writes: Day,
    /// What the live-stream watchers watch (a few events).
    pub fanout: Day,
}

pub fn client(jar: Arc<Jar>) -> Client {
    Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .expect("a reqwest client")
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn post(client: &Client, url: String, form: &[(&str, &str)]) -> Result<reqwest::Response> {
    Ok(client.post(url).form(form).send().await?)
}

/// Signs up as a person would: the first account is made at once, the others when the link
/// e-mailed to their address (read from the outbox) is followed.
async fn sign_up(base: &str, admin: &PgPool, email: &str, name: &str) -> Result<(Client, Arc<Jar>)> {
    let jar = Arc::new(Jar::default());
    let client = client(jar.clone());
    let form = [("email", email), ("display_name", name), ("password", "correct horse battery staple")];
    let mut r = post(&client, format!("{base}/signup"), &form).await?;
    if r.status() == StatusCode::OK {
        let text: String = sqlx::query_scalar(
            "select body_text from email_outbox where to_address = $1 and kind = 'confirm_address' order by id desc limit 1",
        )
        .bind(email)
        .fetch_one(admin)
        .await?;
        let link = text.split_whitespace().find(|word| word.contains("/signup/confirm/")).unwrap_or_default();
        r = post(&client, link.to_owned(), &[]).await?;
    }
    if r.status() != StatusCode::SEE_OTHER {
        return Err(format!("sign-up of {email} answered {}", r.status()).into());
    }
    Ok((client, jar))
}

/// Observation bodies as people write them: Markdown with links, code and lists.
fn observation(n: usize) -> String {
    match n % 5 {
        0 => format!(
            "p99 latency on **checkout** rose to {} ms; see [the dashboard](https://grafana.example.com/d/checkout?from=now-15m)",
            180 + n % 400
        ),
        1 => format!("`kubectl get pods -n payments` shows 2/3 ready (check {n})"),
        2 => format!(
            "Error rate steady at 0.{} %.\n\n- retries: fine\n- queue depth: {}\n- consumer lag: {} s",
            n % 10,
            n % 97,
            n % 13
        ),
        3 => format!(
            "Failover to the replica took {} s; the pager fired once. _Expected_, per the hypothesis.",
            3 + n % 20
        ),
        _ => format!("Note {n}: nothing new on the status page; customers unaffected so far."),
    }
}

/// Posts `count` observations to a game day with 8 writers at once.
pub async fn observe(client: &Client, base: &str, day: &Day, count: usize) -> Result<()> {
    let url = format!("{base}{}/observations", day.path);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= count {
                        return Ok::<(), String>(());
                    }
                    let body = observation(n);
                    let r =
                        client.post(&url).form(&[("body", body.as_str())]).send().await.map_err(|e| e.to_string())?;
                    if r.status() != StatusCode::SEE_OTHER {
                        return Err(format!("an observation answered {}", r.status()));
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn game_day(client: &Client, base: &str, team: &str, title: &str) -> Result<Day> {
    let form = [
        ("title", title),
        ("objective", "Learn how checkout behaves when its database fails over."),
        ("environment", "staging"),
        ("systems", "checkout, payments, postgres"),
        ("starts_at", "2030-01-01T10:00"),
        ("ends_at", "2030-01-01T12:00"),
        ("call_link", ""),
    ];
    let r = post(client, format!("{base}{team}/gamedays"), &form).await?;
    let path = location(&r);
    let id = path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|_| format!("creating a game day answered {}", r.status()))?;
    Ok(Day { path, id })
}

/// Two scenarios on a game day: the first approved, then announced and injected where the rules
/// allow it (with the lead alone on the day they refuse: no required signers), the second left
/// proposed. Best effort: a refusal is reported, not fatal.
async fn scenarios(client: &Client, base: &str, day: &Day, abort_owner: Uuid, admin: &PgPool) -> Result<()> {
    let owner = abort_owner.to_string();
    let mut made = Vec::new();
    for title in ["Primary database fails over", "Payment provider answers slowly"] {
        let form = [
            ("title", title),
            ("hypothesis", "Checkout keeps a p99 under 800 ms and no order is lost."),
            ("fault", "Stop the primary with `pg_ctl stop -m immediate`."),
            ("target_system", "postgres"),
            ("blast_radius", "small"),
            ("expected_impact", "A few seconds of 503s with Retry-After."),
            ("abort_criteria", "Error rate above 5 % for 2 minutes."),
            ("abort_owner", owner.as_str()),
            ("rollback_plan", "Promote the old primary again."),
        ];
        let r = post(client, format!("{base}{}/scenarios", day.path), &form).await?;
        if r.status() == StatusCode::SEE_OTHER {
            made.push(location(&r));
        } else {
            eprintln!("bench: seeding: creating a scenario answered {}", r.status());
        }
    }
    sqlx::query("update gamedays set status = 'running' where id = $1").bind(day.id).execute(admin).await?;
    if let Some(first) = made.first() {
        for (step, form) in [
            ("signoff", vec![("revision", "1"), ("decision", "approve"), ("reason", "")]),
            ("announce", vec![]),
            ("inject", vec![]),
        ] {
            let r = post(client, format!("{base}{first}/{step}"), &form).await?;
            if r.status() != StatusCode::SEE_OTHER {
                eprintln!("bench: seeding: {step} answered {}", r.status());
            }
        }
    }
    Ok(())
}

async fn event_count(admin: &PgPool, day: &Day) -> Result<usize> {
    let n: i64 = sqlx::query_scalar("select count(*) from timeline_events where gameday_id = $1")
        .bind(day.id)
        .fetch_one(admin)
        .await?;
    Ok(n as usize)
}

/// Seeds the team and its game days; `light` leaves the big ones with a few events.
pub async fn seed(base: &str, admin: &PgPool, light: bool) -> Result<Seeded> {
    let (client, jar) = sign_up(base, admin, "lead@example.com", "Ana Lead").await?;
    for (email, name) in [("li@example.com", "Li"), ("sam@example.com", "Sam"), ("noor@example.com", "Noor")] {
        sign_up(base, admin, email, name).await?;
    }
    let r = post(&client, format!("{base}/teams"), &[("name", "Checkout"), ("slug", "")]).await?;
    let team_path = location(&r);
    if !team_path.starts_with("/teams/") {
        return Err(format!("creating the team answered {}", r.status()).into());
    }
    let lead: Uuid =
        sqlx::query_scalar("select id from users where email = 'lead@example.com'").fetch_one(admin).await?;

    let mut days = Vec::new();
    for (title, events) in
        [("Failover, 50 events", 50usize), ("Failover, 500 events", 500), ("Failover, 5,000 events", 5000)]
    {
        let day = game_day(&client, base, &team_path, title).await?;
        scenarios(&client, base, &day, lead, admin).await?;
        let have = event_count(admin, &day).await?;
        let events = if light { 5 } else { events };
        observe(&client, base, &day, events.saturating_sub(have)).await?;
        eprintln!("bench: seeded {title}: {} events", event_count(admin, &day).await?);
        days.push(day);
    }
    let writes = game_day(&client, base, &team_path, "Write path").await?;
    sqlx::query("update gamedays set status = 'running' where id = $1").bind(writes.id).execute(admin).await?;
    let fanout = game_day(&client, base, &team_path, "Watched by many").await?;
    scenarios(&client, base, &fanout, lead, admin).await?;
    observe(&client, base, &fanout, 5).await?;

    let url: reqwest::Url = base.parse()?;
    let cookie = jar.cookies(&url).and_then(|v| v.to_str().ok().map(str::to_owned)).ok_or("no session cookie")?;
    let mut days = days.into_iter();
    Ok(Seeded {
        base: base.to_owned(),
        client,
        cookie,
        team_path,
        small: days.next().expect("three days"),
        medium: days.next().expect("three days"),
        large: days.next().expect("three days"),
        writes,
        fanout,
    })
}
