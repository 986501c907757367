//! The live stream's fan-out: 1,000 and then 10,000 watchers of one game day, held by a child
//! process (`bench watch`, this binary again: a process may hold at most 20,000 open files
//! here), each a plain HTTP/1.1 connection reading Server-Sent Events. The bench posts
//! observations and the child tells, for every watcher and every event, the time from the POST's
//! answer to the event's arrival (both clocks are the machine's wall clock). The server's memory
//! is read while the 10,000 are connected and for a minute after they leave.
//!
//! The ceiling beside each round is the same watchers on a bare fan-out (`bench bare-serve`, this
//! binary again, in a process of its own like the server): tokio, one broadcast channel, raw
//! sockets writing each message as an HTTP/1.1 chunk, messages the size of the app's event, and
//! nothing else (no database, no HTTP stack, no checks). Its time runs from handing the message
//! to the channel. What the app cannot beat on this machine, with the load client beside it.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

use crate::seed::Seeded;
use crate::{Result, Row, mb, quantile, row, rss_kib};

/// Observations posted per round, spaced so each is a fan-out of its own.
const POSTS: usize = 20;
const SPACING: Duration = Duration::from_millis(250);
/// Streams opened at once by the watcher process.
const OPENING: usize = 64;

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

pub struct Fanout {
    pub rows: Vec<Row>,
    pub memory: Vec<Row>,
}

struct Watchers {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Watchers {
    async fn start(addr: &str, path: &str, cookie: &str, count: usize) -> Result<(Watchers, usize, usize)> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["watch", addr, path, cookie, &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let mut watchers = Watchers { child, stdin, lines };
        let ready = watchers.line(Duration::from_secs(300)).await?;
        let mut words = ready.split_whitespace().skip(1).map(|w| w.parse::<usize>().unwrap_or(0));
        let (ok, failed) = (words.next().unwrap_or(0), words.next().unwrap_or(0));
        Ok((watchers, ok, failed))
    }

    async fn line(&mut self, limit: Duration) -> Result<String> {
        match tokio::time::timeout(limit, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(_) => Err("the watcher process ended early".into()),
            Err(_) => Err("the watcher process did not answer in time".into()),
        }
    }

    async fn close(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

struct Round {
    connected: usize,
    failed: usize,
    expected: usize,
    delivered: usize,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    rss_connected: (u64, u64),
}

async fn round(seeded: &Seeded, admin: &PgPool, count: usize, pid: u32) -> Result<(Round, Watchers)> {
    eprintln!("bench: opening {count} live streams");
    let opened = Instant::now();
    let addr = seeded.base.trim_start_matches("http://");
    let (mut watchers, connected, failed) = Watchers::start(addr, &seeded.fanout.path, &seeded.cookie, count).await?;
    eprintln!("bench: {connected} open ({failed} failed) in {:.1} s", opened.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss_kib(pid);
    let url = format!("{}{}/observations", seeded.base, seeded.fanout.path);
    let mut acks = Vec::new();
    for k in 0..POSTS {
        let body = format!("fan-out to {count}: #{k}");
        let r = seeded.client.post(&url).form(&[("body", body.as_str())]).send().await?;
        if r.status() == StatusCode::SEE_OTHER {
            acks.push((body, now_us()));
        }
        tokio::time::sleep(SPACING).await;
    }
    let mut pairs = Vec::new();
    for (body, ack) in &acks {
        let seq: i64 = sqlx::query_scalar("select seq from timeline_events where gameday_id = $1 and body = $2")
            .bind(seeded.fanout.id)
            .bind(body)
            .fetch_one(admin)
            .await?;
        pairs.push(format!("{seq}:{ack}"));
    }
    let (delivered, p50_us, p99_us, max_us) = watchers.collect(&pairs).await?;
    let expected = connected * acks.len();
    let round = Round { connected, failed, expected, delivered, p50_us, p99_us, max_us, rss_connected };
    Ok((round, watchers))
}

impl Watchers {
    /// Asks the watcher process for the delays of these `seq:answered-at` pairs: delivered, p50,
    /// p99 and the longest, in µs.
    async fn collect(&mut self, pairs: &[String]) -> Result<(usize, u64, u64, u64)> {
        self.stdin.write_all(format!("collect 30000 {}\n", pairs.join(",")).as_bytes()).await?;
        let result = self.line(Duration::from_secs(90)).await?;
        let n: Vec<u64> = result.split_whitespace().skip(1).map(|w| w.parse().unwrap_or(0)).collect();
        let at = |i: usize| n.get(i).copied().unwrap_or(0);
        Ok((at(1) as usize, at(2), at(3), at(4)))
    }
}

/// The bare fan-out's p99 and p50 (µs), and how many of how many arrived.
struct Ceiling {
    p50_us: u64,
    p99_us: u64,
    delivered: usize,
    expected: usize,
}

/// One round on the bare fan-out: `count` watchers, [`POSTS`] messages of `size` bytes [`SPACING`]
/// apart, the time from handing each to the channel to its arrival.
async fn ceiling_round(count: usize, size: usize) -> Result<Ceiling> {
    let mut bare = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bare-serve", &size.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = bare.stdin.take().ok_or("no stdin")?;
    let mut lines = BufReader::new(bare.stdout.take().ok_or("no stdout")?).lines();
    let listening = lines.next_line().await?.ok_or("the bare fan-out did not start")?;
    let addr = listening.strip_prefix("listening ").ok_or("the bare fan-out did not say where")?.to_owned();
    let (mut watchers, connected, _) = Watchers::start(&addr, "/bare", "-", count).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut pairs = Vec::new();
    for seq in 1..=POSTS {
        stdin.write_all(format!("send {seq}\n").as_bytes()).await?;
        let sent = lines.next_line().await?.ok_or("the bare fan-out ended")?;
        let at = sent.split_whitespace().nth(2).ok_or("a bare send without its time")?;
        pairs.push(format!("{seq}:{at}"));
        tokio::time::sleep(SPACING).await;
    }
    let (delivered, p50_us, p99_us, _) = watchers.collect(&pairs).await?;
    watchers.close().await;
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), bare.wait()).await;
    Ok(Ceiling { p50_us, p99_us, delivered, expected: connected * POSTS })
}

/// The size of the app's live message for one observation of the fan-out game day (its
/// timeline's newest event, as the stream encodes it), for the bare fan-out to send as much.
async fn event_message_size(seeded: &Seeded) -> Result<usize> {
    let page =
        seeded.client.get(format!("{}{}/timeline", seeded.base, seeded.fanout.path)).send().await?.text().await?;
    let start = page.find("<li class=\"event").ok_or("no event on the fan-out game day's timeline")?;
    let end = page[start..].find("</li>").ok_or("an event without its end")? + start + "</li>".len();
    let html = &page[start..end];
    // `id: N\n`, a `data: ` line per line of HTML, and the blank line.
    Ok(format!("id: {}\n", 1_000_000).len() + html.lines().map(|l| "data: ".len() + l.len() + 1).sum::<usize>() + 1)
}

fn fan_row(count: usize, r: &Round, ceiling: &Ceiling, size: usize) -> Row {
    let all = r.delivered == r.expected && r.failed == 0 && r.connected == count;
    let ceiling = format!(
        "p99 {:.1} ms (p50 {:.1}; {} of {} delivered): a bare tokio fan-out, raw sockets, {size}-byte messages",
        ceiling.p99_us as f64 / 1000.0,
        ceiling.p50_us as f64 / 1000.0,
        ceiling.delivered,
        ceiling.expected
    );
    row(
        &format!("live stream, {count} watchers of one game day: POST's answer to delivery"),
        format!(
            "p99 {:.1} ms (p50 {:.1}, max {:.1}); {} of {} delivered; {} of {count} connected",
            r.p99_us as f64 / 1000.0,
            r.p50_us as f64 / 1000.0,
            r.max_us as f64 / 1000.0,
            r.delivered,
            r.expected,
            r.connected
        ),
        ceiling,
        "p99 < 150 ms, all delivered",
        Some(all && r.p99_us < 150_000),
    )
}

pub async fn measure(seeded: &Seeded, admin: &PgPool, pid: u32) -> Result<Fanout> {
    let mut rows = Vec::new();
    let size = event_message_size(seeded).await?;
    eprintln!("bench: the bare fan-out (the ceiling), 1000 and 10000 watchers, {size}-byte messages");
    let bare_small = ceiling_round(1000, size).await?;
    let bare_large = ceiling_round(10_000, size).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (small, watchers) = round(seeded, admin, 1000, pid).await?;
    watchers.close().await;
    rows.push(fan_row(1000, &small, &bare_small, size));
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (before, _) = rss_kib(pid);
    let (large, watchers) = round(seeded, admin, 10_000, pid).await?;
    rows.push(fan_row(10_000, &large, &bare_large, size));
    let (connected, hwm) = large.rss_connected;
    let (after_posts, hwm_posts) = rss_kib(pid);
    watchers.close().await;
    let left = Instant::now();
    let mut under_100 = None;
    let mut samples = Vec::new();
    while left.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (rss, _) = rss_kib(pid);
        samples.push(format!("{:.0}", rss as f64 / 1024.0));
        if rss < 100 * 1024 && under_100.is_none() {
            under_100 = Some(left.elapsed());
        }
    }
    let (after, _) = rss_kib(pid);
    let open_files = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let per_watcher = connected.saturating_sub(before) as f64 / large.connected.max(1) as f64;
    let memory = vec![
        row(
            "RSS per watcher, 10,000 open streams",
            format!(
                "{per_watcher:.1} KiB ({} before, {} with them open, VmHWM {}; {} after the posts, VmHWM {})",
                mb(before),
                mb(connected),
                mb(hwm),
                mb(after_posts),
                mb(hwm_posts)
            ),
            "—".into(),
            "< 32 KiB",
            Some(per_watcher < 32.0),
        ),
        row(
            "RSS one minute after the 10,000 watchers left",
            format!(
                "{} ({}; every 5 s, MB: {}; the server holds {open_files} open files)",
                mb(after),
                under_100.map_or("never under 100 MB".to_owned(), |t| format!(
                    "under 100 MB after {:.0} s",
                    t.as_secs_f64()
                )),
                samples.join(", ")
            ),
            "—".into(),
            "< 100 MB within a minute",
            Some(after < 100 * 1024),
        ),
    ];
    Ok(Fanout { rows, memory })
}

// ---------------------------------------------------------------------------------------------
// The bare fan-out: `bench bare-serve SIZE`. Prints `listening ADDR`; on each `send SEQ` line of
// its input it hands one message to every stream and prints `sent SEQ MICROS`.

pub async fn bare_serve(args: &[String]) -> Result<()> {
    let size: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?);
    let (tx, _) = broadcast::channel::<axum::body::Bytes>(1024);
    let subscribe = tx.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(bare_stream(socket, subscribe.subscribe()));
        }
    });
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = input.next_line().await? {
        let Some(seq) = line.strip_prefix("send ").and_then(|s| s.trim().parse::<u64>().ok()) else { break };
        let head = format!("id: {seq}\ndata: ");
        let mut message = head.into_bytes();
        message.resize(size.saturating_sub(2).max(message.len()), b'x');
        message.extend_from_slice(b"\n\n");
        let at = now_us();
        let _ = tx.send(message.into());
        println!("sent {seq} {at}");
    }
    Ok(())
}

/// One bare stream: the request's head read, a chunked 200, then each message as one chunk.
async fn bare_stream(mut socket: TcpStream, mut messages: broadcast::Receiver<axum::body::Bytes>) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while find(&head, b"\r\n\r\n").is_none() {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let answer = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    if socket.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let mut chunk = Vec::with_capacity(2048);
    loop {
        match messages.recv().await {
            Ok(message) => {
                chunk.clear();
                chunk.extend_from_slice(format!("{:x}\r\n", message.len()).as_bytes());
                chunk.extend_from_slice(&message);
                chunk.extend_from_slice(b"\r\n");
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The watcher process: `bench watch ADDR PATH COOKIE COUNT`

type Arrivals = Arc<Mutex<Vec<(i64, u64)>>>;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Opens one stream; returns it with what was read after the headers, and whether it is chunked.
async fn open(addr: SocketAddr, request: &str) -> std::io::Result<(TcpStream, Vec<u8>, bool)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the headers"));
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err(std::io::Error::other(head.lines().next().unwrap_or_default().to_owned()));
            }
            let chunked = head.contains("transfer-encoding: chunked");
            return Ok((stream, buffer[end + 4..].to_vec(), chunked));
        }
    }
}

/// A number in ASCII (hexadecimal for a chunk size), or None.
fn parse_number(digits: &[u8], radix: u32) -> Option<u64> {
    let digits = digits.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| Some(n.checked_mul(radix as u64)? + (*d as char).to_digit(radix)? as u64))
}

/// Reads a stream until it ends, noting when each event (by its `id:`) arrived. Lean on
/// purpose: this process shares the machine's two cores with the server it measures, so it
/// scans bytes (SIMD search) and keeps no copy it can avoid.
async fn read(mut stream: TcpStream, mut raw: Vec<u8>, chunked: bool, seen: Arrivals, open: Arc<AtomicUsize>) {
    let mut text: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 4096];
    'outer: loop {
        if chunked {
            let mut at = 0;
            while let Some(line) = find(&raw[at..], b"\r\n") {
                let header = &raw[at..at + line];
                let size_digits = header.split(|b| *b == b';').next().unwrap_or_default();
                let Some(size) = parse_number(size_digits, 16).map(|s| s as usize) else { break 'outer };
                if size == 0 {
                    break 'outer;
                }
                let start = at + line + 2;
                if raw.len() < start + size + 2 {
                    break;
                }
                text.extend_from_slice(&raw[start..start + size]);
                at = start + size + 2;
            }
            raw.drain(..at);
        } else {
            text.append(&mut raw);
        }
        let mut at = 0;
        while let Some(end) = find(&text[at..], b"\n\n") {
            let message = &text[at..at + end];
            if let Some(id) = message.split(|b| *b == b'\n').find_map(|line| line.strip_prefix(b"id:"))
                && let Some(seq) = parse_number(id, 10)
            {
                seen.lock().unwrap().push((seq as i64, now_us()));
            }
            at += end + 2;
        }
        text.drain(..at);
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
        }
    }
    open.fetch_sub(1, Ordering::SeqCst);
}

/// For each watcher and each `(seq, answered at)`: the delay to its arrival, if it arrived.
fn delays(watchers: &[Arrivals], expected: &[(i64, u64)]) -> (usize, Vec<u64>) {
    let mut delays = Vec::new();
    for w in watchers {
        let seen = w.lock().unwrap();
        for (seq, answered) in expected {
            if let Some((_, arrived)) = seen.iter().find(|(s, _)| s == seq) {
                delays.push(arrived.saturating_sub(*answered));
            }
        }
    }
    delays.sort();
    (delays.len(), delays)
}

pub async fn watch(args: &[String]) -> Result<()> {
    let [addr, path, cookie, count] = args else {
        return Err("usage: bench watch ADDR PATH COOKIE COUNT".into());
    };
    let addr: SocketAddr = addr.parse()?;
    let count: usize = count.parse()?;
    let request = Arc::new(format!(
        "GET {path}/live HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    ));
    let gate = Arc::new(tokio::sync::Semaphore::new(OPENING));
    let mut opening = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = gate.clone().acquire_owned().await?;
        let request = request.clone();
        opening.push(tokio::spawn(async move {
            let mut last = None;
            for _ in 0..20 {
                match open(addr, &request).await {
                    Ok(opened) => return Ok(opened),
                    Err(err) => last = Some(err),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            drop(permit);
            Err(last.map(|e| e.to_string()).unwrap_or_default())
        }));
    }
    let open_now = Arc::new(AtomicUsize::new(0));
    let mut watchers: Vec<Arrivals> = Vec::new();
    let mut failed = 0;
    for o in opening {
        match o.await? {
            Ok((stream, rest, chunked)) => {
                let seen: Arrivals = Arc::default();
                watchers.push(seen.clone());
                open_now.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(read(stream, rest, chunked, seen, open_now.clone()));
            }
            Err(err) => {
                if failed == 0 {
                    eprintln!("bench watch: a stream failed to open: {err}");
                }
                failed += 1;
            }
        }
    }
    println!("ready {} {failed}", watchers.len());

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = stdin.next_line().await? {
        let mut words = line.split_whitespace();
        if words.next() != Some("collect") {
            break;
        }
        let limit = Duration::from_millis(words.next().and_then(|w| w.parse().ok()).unwrap_or(30_000));
        let expected: Vec<(i64, u64)> = words
            .next()
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split_once(':'))
            .filter_map(|(s, a)| Some((s.parse().ok()?, a.parse().ok()?)))
            .collect();
        let last = expected.iter().map(|(s, _)| *s).max().unwrap_or(0);
        let waited = Instant::now();
        while waited.elapsed() < limit
            && watchers.iter().any(|w| w.lock().unwrap().last().is_none_or(|(s, _)| *s < last))
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (delivered, delays) = delays(&watchers, &expected);
        println!(
            "result {} {delivered} {} {} {} {}",
            watchers.len() * expected.len(),
            quantile(&delays, 0.5).unwrap_or(0),
            quantile(&delays, 0.99).unwrap_or(0),
            delays.last().copied().unwrap_or(0),
            open_now.load(Ordering::SeqCst)
        );
    }
    Ok(())
}
