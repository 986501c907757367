//! Two Gameday instances behind nginx (Debian's package, started by the test on loopback with
//! `docs/deploy/nginx-proxy.conf`, the file docs/deployment.md tells operators to include): a
//! person signs in through the proxy, requests alternate between the instances and the session
//! holds, a live stream on one instance receives what was written through the other, and
//! stopping one instance loses no acknowledged write and no event on the stream.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use sqlx::PgPool;

use crate::gamedays::Day;
use crate::helpers::{location, spawn_app_with};
use crate::live::Stream;

/// nginx on a loopback port in front of `upstreams`, in a directory of its own; stopped and
/// removed when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    async fn start(port: u16, upstreams: &[String]) -> Nginx {
        let dir = std::env::temp_dir().join(format!("gameday-nginx-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/deploy/nginx-proxy.conf");
        let servers: String =
            upstreams.iter().map(|u| format!("        server {u} max_fails=1 fail_timeout=10s;\n")).collect();
        let d = dir.display();
        let conf = format!(
            r#"daemon off;
# One process, so that stopping the test's child stops nginx whole (a master killed with SIGKILL
# would leave its workers behind, holding the port).
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream gameday {{
{servers}        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include {include};
            # Which instance answered, for this test only.
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"#,
            include = include.display()
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" };
        let mut child = Command::new(nginx)
            .args(["-p", &dir.display().to_string(), "-e", &dir.join("error.log").display().to_string(), "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is not installed: run `make test`, which installs nginx-light");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Nginx { child, dir };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        panic!("nginx did not start on port {port}: {log}");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Which instance answered (`127.0.0.1:<port>`), as nginx says (after any it tried first).
fn upstream(response: &reqwest::Response) -> String {
    last_tried(response.headers().get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or_default())
}

/// nginx's `$upstream_addr` lists every instance it tried, the one that answered last.
fn last_tried(upstream_addr: &str) -> String {
    upstream_addr.rsplit(", ").next().unwrap_or_default().to_owned()
}

async fn observe(day: &Day, client: &Client, body: &str) -> reqwest::Response {
    day.app.post_as(client, &format!("{}/observations", day.url), &[("body", body)]).await
}

#[sqlx::test]
async fn two_instances_behind_nginx_share_sessions_streams_and_survive_one_stopping(db: PgPool) {
    // Two instances over one database, each told the proxy's address is the site's.
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let configure = |c: &mut gameday::config::Config| {
        c.base_url = Some(site.clone());
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    };
    let mut first = spawn_app_with(db.clone(), configure).await;
    let second = spawn_app_with(db.clone(), configure).await;
    let instances =
        [first.base.trim_start_matches("http://").to_owned(), second.base.trim_start_matches("http://").to_owned()];
    let _nginx = Nginx::start(port, &instances).await;

    // Everything below goes through the proxy: sign-ups, the team, the game day, the sign-offs.
    first.base = site.clone();
    let day = Day::with_app(first).await;
    let scenario = day.scenario("Stop the primary").await;
    day.all_approve(&scenario).await;
    day.start().await;

    // The session holds whichever instance answers, and the requests alternate between them.
    let mut answered = Vec::new();
    for _ in 0..6 {
        let response = day.app.get_as(&day.ana, "/").await;
        assert_eq!(response.status(), StatusCode::OK, "signed in on every instance");
        answered.push(upstream(&response));
        assert!(response.text().await.unwrap().contains("Hello, Ana"));
    }
    for instance in &instances {
        assert!(answered.contains(instance), "{instance} answered some of {answered:?}");
    }

    // A live stream opened through the proxy on the second instance…
    let live = format!("{site}{}/live", day.url);
    let mut stream = None;
    for _ in 0..10 {
        let opened = Stream::open(&day.bo, &live, None).await;
        if last_tried(&opened.header("x-upstream")) == instances[1] {
            stream = Some(opened);
            break;
        }
    }
    let mut stream = stream.expect("round robin leads a stream to the second instance");
    // …receives an observation written through the first.
    let mut written = None;
    for _ in 0..10 {
        let response = observe(&day, &day.li, "Seen from the other instance").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        if upstream(&response) == instances[0] {
            written = Some(location(&response));
            break;
        }
    }
    let written = written.expect("round robin leads a write to the first instance");
    let logged = written.rsplit("logged=").next().unwrap();
    let seq: i64 = logged[..logged.find(|c: char| !c.is_ascii_digit()).unwrap_or(logged.len())].parse().unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(&seq) && tokio::time::Instant::now() < deadline {
        if let Some(id) = stream.next(Duration::from_secs(1)).await.and_then(|sse| sse.id) {
            seen.push(id);
        }
    }
    assert!(seen.contains(&seq), "event {seq} reached the stream on the other instance: {seen:?}");
    let last_seen = *seen.iter().max().unwrap();

    // The second instance stops (as a deploy stops it) while Li keeps writing through the proxy.
    let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (url, li, stopped) = (format!("{site}{}/observations", day.url), day.li.clone(), stopped.clone());
        tokio::spawn(async move {
            let (mut acknowledged, mut after_stop) = (Vec::new(), Vec::new());
            for i in 0..40 {
                let body = format!("during the restart {i}");
                let was_stopped = stopped.load(std::sync::atomic::Ordering::SeqCst);
                let response = li.post(&url).form(&[("body", body.as_str())]).send().await.unwrap();
                match response.status() {
                    StatusCode::SEE_OTHER if was_stopped => after_stop.push(upstream(&response)),
                    StatusCode::SEE_OTHER => {}
                    // Refused out loud by the proxy is not lost: the person sees it and posts again.
                    status => assert!(matches!(status.as_u16(), 502..=504), "{status}"),
                }
                if response.status() == StatusCode::SEE_OTHER {
                    acknowledged.push(body);
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            (acknowledged, after_stop)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(second.stop());
    assert!(stream.ends_within(Duration::from_secs(5)).await, "the stopping instance closes its streams");
    stopping.await.unwrap();
    stopped.store(true, std::sync::atomic::Ordering::SeqCst);
    let (acknowledged, after_stop) = writer.await.unwrap();
    assert!(acknowledged.len() >= 35, "the proxy sent the writes to the instance still up: {}", acknowledged.len());
    assert!(after_stop.len() >= 5, "writes went on after the stop: {}", after_stop.len());
    assert!(
        after_stop.iter().all(|u| *u == instances[0]),
        "after the stop, the first instance answered: {after_stop:?}"
    );

    // Nothing acknowledged is lost.
    let stored: Vec<String> = sqlx::query_scalar(
        "select body from timeline_events where gameday_id = $1 and body like 'during the restart %' order by seq",
    )
    .bind(day.id)
    .fetch_all(&db)
    .await
    .unwrap();
    for body in &acknowledged {
        assert!(stored.contains(body), "{body} was acknowledged and stored");
    }

    // The browser's EventSource reconnects through the proxy with Last-Event-ID and gets every
    // event since, once, in order, from the instance still up.
    let mut resumed = Stream::open(&day.bo, &live, Some(last_seen)).await;
    assert_eq!(last_tried(&resumed.header("x-upstream")), instances[0]);
    let end: i64 = sqlx::query_scalar("select last_event_seq from gamedays where id = $1")
        .bind(day.id)
        .fetch_one(&db)
        .await
        .unwrap();
    let expected: Vec<i64> = (last_seen + 1..=end).collect();
    let got = resumed.events(expected.len(), Duration::from_secs(10)).await;
    assert_eq!(got, expected, "no gap and nothing twice after the instance stopped");
}
