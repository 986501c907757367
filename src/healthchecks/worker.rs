//! The health-check worker: while a fault is injected, each check the scenario carries runs every
//! so many seconds; after it left flight, until the steady state is back. One instance runs them
//! at a time, however many are up: it holds a lease in PostgreSQL and renews it; when it stops,
//! another takes over once the lease has run out. A check is due when its interval has passed since
//! its last stored result, so a takeover neither skips nor doubles a run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::actions::{record_due, run_all, settle_recovery};
use super::store::{self, Due};
use crate::scenarios::actions::halt_by_check;
use crate::state::AppState;

/// The lease's name in `worker_leases`.
const LEASE: &str = "health_checks";
/// At most this many checks of one team run at once, so one team's slow checks cannot hold up
/// another team's.
const MAX_IN_FLIGHT_PER_TEAM: usize = 5;
/// At most this many checks run at once on the instance.
const MAX_IN_FLIGHT: usize = 50;

/// The checks being run on this instance: (scenario, check name) → the team.
type Running = Arc<Mutex<HashMap<(Uuid, String), Uuid>>>;

/// Runs until the server shuts down, then gives the lease up.
pub async fn run(state: AppState) {
    let holder = Uuid::new_v4();
    let poll = Duration::from_millis(state.config.health_check_poll_ms.max(50));
    // Renewed every poll; long enough that a slow database does not pass it to another instance
    // mid-run (a run takes at most 5 s to resolve and 10 s to answer); an instance that stops
    // hands over within this.
    let ttl_ms = (poll.as_millis() as i64 * 20).max(15_000);
    let running: Running = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = state.live.shutdown.cancelled() => {
                let _ = store::release_lease(&state.db, LEASE, holder).await;
                return;
            }
            () = tokio::time::sleep(poll) => {}
        }
        while tasks.try_join_next().is_some() {}
        match store::hold_lease(&state.db, LEASE, holder, ttl_ms).await {
            Ok(true) => {}
            held => {
                if let Err(err) = held {
                    tracing::warn!(error = %err, "health checks: cannot renew the lease");
                }
                // Another instance may run them now: stop ours, so none runs twice.
                tasks.abort_all();
                if let Ok(mut r) = running.lock() {
                    r.clear();
                }
                continue;
            }
        }
        // What runs now is read before what is due: a run that records its result in between is
        // then both still running here and not due any more.
        let now_running: HashMap<(Uuid, String), Uuid> = running.lock().map(|r| r.clone()).unwrap_or_default();
        let due = match store::due(&state.db).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "health checks: cannot read what is due");
                continue;
            }
        };
        let mut per_team: HashMap<Uuid, usize> = HashMap::new();
        for team in now_running.values() {
            *per_team.entry(*team).or_default() += 1;
        }
        for due in due {
            if tasks.len() >= MAX_IN_FLIGHT {
                break;
            }
            let key = (due.scenario_id, due.check.name.clone());
            if now_running.contains_key(&key) {
                continue;
            }
            let team = per_team.entry(due.team_id).or_default();
            if *team >= MAX_IN_FLIGHT_PER_TEAM {
                continue;
            }
            *team += 1;
            if let Ok(mut r) = running.lock() {
                r.insert(key.clone(), due.team_id);
            }
            let (state, running) = (state.clone(), running.clone());
            tasks.spawn(async move {
                if !check(&state, &due).await {
                    // Not recorded (the database refused it): wait an interval before trying
                    // again, rather than at every poll.
                    tokio::time::sleep(Duration::from_secs(u64::from(due.check.interval_secs))).await;
                }
                if let Ok(mut r) = running.lock() {
                    r.remove(&key);
                }
            });
        }
    }
}

/// Runs one due check, records it, and acts on it: halts the fault (a failing auto-halt check
/// while injected), or settles the recovery (after the roll back).
/// Returns whether the result was recorded.
async fn check(state: &AppState, due: &Due) -> bool {
    let allow = &state.config.health_check_allow;
    let verdict = match run_all(&state.db, allow, due.team_id, std::slice::from_ref(&due.check)).await {
        Ok(mut verdicts) => verdicts.remove(0),
        Err(err) => {
            tracing::warn!(error = %err, scenario = %due.scenario_id, "health checks: cannot read the check's secrets");
            return false;
        }
    };
    if let Err(err) = record_due(&state.db, due, &verdict).await {
        tracing::warn!(error = %err, scenario = %due.scenario_id, "health checks: cannot record a result");
        return false;
    }
    let outcome = if due.phase == "during" {
        if verdict.passed || !due.check.auto_halt {
            return true;
        }
        halt_by_check(&state.db, (due.gameday_id, due.scenario_id, due.revision), &due.check.name, &verdict.summary)
            .await
            .map(|halted| {
                if halted {
                    tracing::info!(scenario = %due.scenario_id, check = %due.check.name, "halted by a health check");
                }
            })
    } else {
        settle_recovery(&state.db, due.gameday_id, due.scenario_id).await
    };
    if let Err(err) = outcome {
        tracing::warn!(error = %err, scenario = %due.scenario_id, "health checks: cannot act on a result");
    }
    true
}
