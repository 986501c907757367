//! The write path: 16 writers post observations to ONE game day through the form. Measured:
//! acknowledged writes per second against the fsync ceiling; none lost; and sequence order =
//! commit order, checked two ways: a write acknowledged before another was sent has the lower
//! sequence number, and a reader polling the game day never sees a later event before an
//! earlier one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::seed::Seeded;
use crate::{CpuTimes, Result, Row, row};

const WRITERS: usize = 16;
const SECONDS: u64 = 8;

struct Ack {
    sent: Duration,
    acked: Duration,
    body: String,
}

/// Write acknowledged before another was sent, yet with a higher sequence number.
fn order_violations(acks: &[(Duration, Duration, i64)]) -> usize {
    let mut by_ack: Vec<(Duration, i64)> = acks.iter().map(|(_, a, s)| (*a, *s)).collect();
    by_ack.sort();
    let mut highest = Vec::with_capacity(by_ack.len());
    let mut max = i64::MIN;
    for (_, seq) in &by_ack {
        max = max.max(*seq);
        highest.push(max);
    }
    acks.iter()
        .filter(|(sent, _, seq)| {
            let before = by_ack.partition_point(|(acked, _)| acked < sent);
            before > 0 && highest[before - 1] > *seq
        })
        .count()
}

/// `cpu` says the CPU seconds used so far (the server, PostgreSQL, this process, the machine).
pub async fn measure(seeded: &Seeded, admin: &PgPool, fsync: f64, cpu: impl Fn() -> CpuTimes) -> Result<Vec<Row>> {
    let day = &seeded.writes;
    let url = format!("{}{}/observations", seeded.base, day.path);
    sqlx::query("select pg_stat_statements_reset()").execute(admin).await?;
    let cpu_before = cpu();
    let clock = Instant::now();
    let deadline = clock + Duration::from_secs(SECONDS);
    let acks = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(0usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (client, url, acks, failures) = (seeded.client.clone(), url.clone(), acks.clone(), failures.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < deadline {
                    n += 1;
                    let body = format!("bench write {w}/{n}");
                    let sent = clock.elapsed();
                    match client.post(&url).form(&[("body", body.as_str())]).send().await {
                        Ok(r) if r.status() == StatusCode::SEE_OTHER => {
                            acks.lock().unwrap().push(Ack { sent, acked: clock.elapsed(), body })
                        }
                        _ => *failures.lock().unwrap() += 1,
                    }
                }
            })
        })
        .collect();
    // The reader: what it sees committed, as (events, highest sequence number).
    let reader = {
        let (admin, id) = (admin.clone(), day.id);
        tokio::spawn(async move {
            let mut seen: Vec<(i64, i64)> = Vec::new();
            let (mut count, mut max) = (0i64, 0i64);
            while Instant::now() < deadline {
                // What is new since the last read, counted on top of it: cheap however long the
                // day, and the same test (an event numbered at or below a maximum already seen
                // that was not there then is never counted, so the count stays short of it).
                let snapshot: std::result::Result<(i64, i64), _> = sqlx::query_as(
                    "select count(*), coalesce(max(seq), $2) from timeline_events where gameday_id = $1 and seq > $2",
                )
                .bind(id)
                .bind(max)
                .fetch_one(&admin)
                .await;
                if let Ok((new, newest)) = snapshot {
                    (count, max) = (count + new, newest);
                    seen.push((count, max));
                }
                // A pause between reads, so the check does not take the CPU the writes need.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            seen
        })
    };
    for w in writers {
        w.await?;
    }
    let elapsed = clock.elapsed().as_secs_f64();
    let cpu_after = cpu();
    let seen = reader.await?;
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    let failures = *failures.lock().unwrap();

    let stored: Vec<(String, i64)> =
        sqlx::query_as("select body, seq from timeline_events where gameday_id = $1 and kind = 'observation'")
            .bind(day.id)
            .fetch_all(admin)
            .await?;
    let seq_of: std::collections::HashMap<&str, i64> = stored.iter().map(|(b, s)| (b.as_str(), *s)).collect();
    let lost = acks.iter().filter(|a| !seq_of.contains_key(a.body.as_str())).count();
    let ordered: Vec<(Duration, Duration, i64)> =
        acks.iter().filter_map(|a| seq_of.get(a.body.as_str()).map(|s| (a.sent, a.acked, *s))).collect();
    let violations = order_violations(&ordered);
    let mut all: Vec<i64> = sqlx::query_scalar("select seq from timeline_events where gameday_id = $1")
        .bind(day.id)
        .fetch_all(admin)
        .await?;
    all.sort();
    // A reader that saw `count` events up to `max` missed one committed later with a lower number.
    let out_of_order = seen.iter().filter(|(count, max)| (*count as usize) < all.partition_point(|s| s <= max)).count();

    report_statements(admin).await?;

    let per_sec = acks.len() as f64 / elapsed;
    let used = cpu_after - cpu_before;
    let per_write = |seconds: f64| seconds * 1e6 / acks.len().max(1) as f64;
    let (server_us, pg_us, load_us) = (per_write(used.server), per_write(used.pg), per_write(used.bench));
    let all_us = server_us + pg_us + load_us;
    let share = |seconds: f64| 100.0 * seconds / used.total.max(f64::EPSILON);
    // What the machine allows for this work: all its CPUs (their time over the phase, less what
    // was stolen) divided by what one write took of server, PostgreSQL and the writers.
    let cpus = used.total / elapsed.max(f64::EPSILON);
    let allowed = (used.total - used.steal) / elapsed.max(f64::EPSILON) * 1e6 / all_us.max(f64::EPSILON);
    Ok(vec![
        row(
            "observations to ONE game day, 16 writers: acknowledged writes/s",
            format!("{per_sec:.0}/s ({} in {elapsed:.1} s; {failures} failed)", acks.len()),
            format!("{fsync:.0} fdatasync/s (pg_test_fsync, one 8 kB write): commits one after another"),
            "≥ 2,000/s",
            Some(per_sec >= 2000.0),
        ),
        row(
            "… CPU per acknowledged write (steadier than writes/s on a shared machine)",
            format!(
                "{all_us:.0} µs: server {server_us:.0} µs, PostgreSQL {pg_us:.0} µs, the 16 writers and the reader {load_us:.0} µs; over the phase the machine was {:.0} % idle, {:.0} % stolen",
                share(used.idle),
                share(used.steal)
            ),
            format!(
                "{allowed:.0} writes/s: what {cpus:.1} CPUs (less the stolen time) allow at {all_us:.0} µs a write; 2,000/s needs ≤ {:.0} µs",
                cpus * 1e6 / 2000.0
            ),
            "—",
            None,
        ),
        row(
            "… none lost; sequence order = commit order",
            format!(
                "{lost} of {} lost; {violations} acknowledged-before-sent pairs out of order; {out_of_order} of {} reads saw a later event before an earlier one",
                acks.len(),
                seen.len()
            ),
            "—".into(),
            "0; 0; 0",
            Some(lost == 0 && violations == 0 && out_of_order == 0 && !acks.is_empty()),
        ),
    ])
}

/// Where the database's time went in the write phase, to stderr: the server's statements by
/// total time (planning counted only with `pg_stat_statements.track_planning = on`, see
/// `BENCH_PG_CONF`).
async fn report_statements(admin: &PgPool) -> Result<()> {
    let top: Vec<(i64, f64, f64, String)> = sqlx::query_as(
        "select s.calls, s.total_plan_time, s.total_exec_time, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90) \
         from pg_stat_statements s join pg_roles r on r.oid = s.userid \
         where r.rolname = $1 order by s.total_plan_time + s.total_exec_time desc limit 8",
    )
    .bind(crate::APP_USER)
    .fetch_all(admin)
    .await?;
    eprintln!("bench: the write phase's statements (calls, plan ms, exec ms, statement):");
    for (calls, plan, exec, query) in top {
        eprintln!("bench:   {calls:>7} {plan:>9.0} {exec:>9.0}  {query}");
    }
    Ok(())
}
