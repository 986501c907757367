//! Changes around health checks: the team's library (members and leads write it), attaching a
//! check to a scenario (an edit: a new revision, sign-off starts again), running the checks
//! before a move (outside any transaction), and recording what the worker saw.

use std::collections::HashMap;

use ipnet::IpNet;
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, Due, LibraryCheck};
use super::{
    AttachedCheck, MAX_PER_SCENARIO, MAX_PER_TEAM, ParsedCheck, Verdict, change_body, probe, recovery_words,
    secrets_stay_home,
};
use crate::accounts::User;
use crate::audit::{AuditKind, NewEntry, store as audit, webhook_host};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::gamedays::GamedayRole;
use crate::gamedays::store as gameday_store;
use crate::scenarios::actions::{Revised, revise_with};
use crate::scenarios::gate::{self, Move};
use crate::scenarios::store as scenario_store;
use crate::scenarios::store::signoffs::signoffs;
use crate::teams::TeamRole;
use crate::timeline::{EventKind, NewEvent};

/// Where a check looks, as the audit log names it: the method and the host only (a URL's path or
/// query may carry something private).
fn where_to(spec: &super::CheckSpec) -> String {
    format!("{} {}", spec.method, webhook_host(&spec.url))
}

/// Viewers read the library; members and leads change it.
pub fn require_writer(role: TeamRole) -> AppResult<()> {
    if role == TeamRole::Viewer {
        return Err(AppError::Forbidden("Viewers read the health checks; members and leads change them.".into()));
    }
    Ok(())
}

/// Adds a check to the team's library. Its URL is resolved and checked by the rule every run is
/// held to, so a check that could never run is refused now, beside the URL.
pub async fn add(db: &PgPool, allow: &[IpNet], team_id: Uuid, actor: &User, parsed: &ParsedCheck) -> AppResult<Uuid> {
    probe::destination(allow, &parsed.spec.url).await.map_err(|why| AppError::invalid("url", why))?;
    let mut tx = db.begin().await?;
    if store::count_locked(&mut tx, team_id).await? >= MAX_PER_TEAM {
        return Err(AppError::invalid(
            "name",
            format!("A team can have {MAX_PER_TEAM} health checks; remove one before adding another."),
        ));
    }
    if store::name_taken(&mut tx, team_id, &parsed.name, None).await? {
        return Err(AppError::invalid("name", format!("The team already has a check named \"{}\".", parsed.name)));
    }
    let secrets = parsed.secrets.clone().unwrap_or_default();
    let id = store::create(&mut tx, team_id, &parsed.name, &parsed.spec, &secrets, actor.id).await?;
    let body =
        format!("{} added the health check \"{}\" ({}).", actor.display_name, parsed.name, where_to(&parsed.spec));
    let detail = serde_json::json!({ "check": id, "name": parsed.name, "secret_headers": parsed.spec.secret_names() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::HealthCheckAdded, body).detail(detail)).await?;
    tx.commit().await?;
    tracing::info!(team_id = %team_id, check = %id, "health check added");
    Ok(id)
}

/// Changes a check of the library. Scenarios keep their copies until someone updates them
/// ([`update_scenarios`]).
pub async fn change(
    db: &PgPool,
    allow: &[IpNet],
    (team_id, actor): (Uuid, &User),
    id: Uuid,
    parsed: &ParsedCheck,
) -> AppResult<()> {
    let before = store::of_team_by_id(db, team_id, id).await?.ok_or(AppError::NotFound)?;
    secrets_stay_home(&before.spec, parsed).map_err(|why| AppError::invalid("url", why))?;
    probe::destination(allow, &parsed.spec.url).await.map_err(|why| AppError::invalid("url", why))?;
    let mut tx = db.begin().await?;
    if store::name_taken(&mut tx, team_id, &parsed.name, Some(id)).await? {
        return Err(AppError::invalid("name", format!("The team already has a check named \"{}\".", parsed.name)));
    }
    if !store::update(&mut tx, team_id, id, &parsed.name, &parsed.spec, parsed.secrets.as_deref()).await? {
        return Err(AppError::NotFound);
    }
    let mut body =
        format!("{} changed the health check \"{}\" ({})", actor.display_name, parsed.name, where_to(&parsed.spec));
    match &parsed.secrets {
        Some(list) if list.is_empty() => body.push_str("; its secret header values were forgotten."),
        Some(_) => body.push_str("; its secret header values were replaced."),
        None => body.push('.'),
    }
    let detail = serde_json::json!({ "check": id, "name": parsed.name, "was": before.name,
                                     "secrets_replaced": parsed.secrets.is_some() });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::HealthCheckChanged, body).detail(detail))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a check from the library. Scenarios that carry a copy keep it (what was agreed does
/// not change), but its secret header values go with it.
pub async fn remove(db: &PgPool, team_id: Uuid, actor: &User, id: Uuid) -> AppResult<String> {
    let mut tx = db.begin().await?;
    let name = store::delete(&mut tx, team_id, id).await?.ok_or(AppError::NotFound)?;
    let body = format!("{} removed the health check \"{name}\".", actor.display_name);
    let detail = serde_json::json!({ "check": id, "name": name });
    audit::record(&mut tx, NewEntry::new(team_id, actor.id, AuditKind::HealthCheckRemoved, body).detail(detail))
        .await?;
    tx.commit().await?;
    Ok(name)
}

/// "Run now" on a library check: its result, nothing stored.
pub async fn run_now(db: &PgPool, allow: &[IpNet], check: &LibraryCheck) -> AppResult<Verdict> {
    let secrets = store::secrets_of(db, check.team_id, &[check.id]).await?.remove(&check.id).unwrap_or_default();
    Ok(probe::run(allow, &check.spec, &secrets).await)
}

/// How a check is attached: whether it halts the fault itself, and how often it runs.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    pub auto_halt: bool,
    pub interval_secs: u32,
}

/// Attaches a library check to a scenario: a new revision carrying a copy of it.
pub async fn attach(
    db: &PgPool,
    (gameday, scenario_id): (&crate::gamedays::Gameday, Uuid),
    actor: &User,
    check_id: Uuid,
    guard: Guard,
) -> AppResult<Revised> {
    let check = store::of_team_by_id(db, gameday.team_id, check_id)
        .await?
        .ok_or_else(|| AppError::invalid("check", "Choose a check of this team's library."))?;
    let copy = AttachedCheck {
        check_id,
        name: check.name.clone(),
        spec: check.spec,
        auto_halt: guard.auto_halt,
        interval_secs: guard.interval_secs,
    };
    revise_with(db, (gameday.id, scenario_id), actor, |current| {
        if current.health_checks.iter().any(|c| c.name == copy.name) {
            return Err(AppError::invalid("check", format!("\"{}\" already guards this scenario.", copy.name)));
        }
        if current.health_checks.len() >= MAX_PER_SCENARIO {
            return Err(AppError::invalid(
                "check",
                format!("A scenario carries at most {MAX_PER_SCENARIO} health checks."),
            ));
        }
        let mut fields = current.clone();
        fields.health_checks.push(copy);
        Ok(fields)
    })
    .await
}

/// Takes a check off a scenario: a new revision without it.
pub async fn detach(
    db: &PgPool,
    (gameday_id, scenario_id): (Uuid, Uuid),
    actor: &User,
    name: &str,
) -> AppResult<Revised> {
    revise_with(db, (gameday_id, scenario_id), actor, |current| {
        let mut fields = current.clone();
        fields.health_checks.retain(|c| c.name != name);
        Ok(fields)
    })
    .await
}

/// After a library check changed: each chosen scenario gets a new revision whose copy is the
/// library's definition (keeping how it guards). A scenario in flight, or whose game day's plan
/// is closed, is left as it was agreed; returns those updated and the refusals of the others.
pub async fn update_scenarios(
    db: &PgPool,
    team_id: Uuid,
    actor: &User,
    check_id: Uuid,
    scenarios: &[Uuid],
) -> AppResult<(usize, Vec<String>)> {
    let check = store::of_team_by_id(db, team_id, check_id).await?.ok_or(AppError::NotFound)?;
    let using = store::scenarios_using(db, team_id, check_id).await?;
    let (mut updated, mut refused) = (0, Vec::new());
    for usage in using.iter().filter(|u| scenarios.contains(&u.scenario_id)) {
        let result = revise_with(db, (usage.gameday_id, usage.scenario_id), actor, |current| {
            if current.health_checks.iter().any(|c| c.check_id != check_id && c.name == check.name) {
                return Err(AppError::Conflict(format!("it carries another check named \"{}\"", check.name)));
            }
            let mut fields = current.clone();
            for copy in fields.health_checks.iter_mut().filter(|c| c.check_id == check_id) {
                copy.name = check.name.clone();
                copy.spec = check.spec.clone();
            }
            Ok(fields)
        })
        .await;
        match result {
            Ok(Revised::NewRevision { .. }) => updated += 1,
            Ok(Revised::Unchanged) => {}
            Err(AppError::Conflict(why) | AppError::Forbidden(why)) => refused.push(format!("{}: {why}", usage.title)),
            Err(AppError::Validation { message, .. }) => refused.push(format!("{}: {message}", usage.title)),
            Err(err) => return Err(err),
        }
    }
    Ok((updated, refused))
}

/// Runs every check of `checks` side by side and judges each.
pub async fn run_all(db: &PgPool, allow: &[IpNet], team_id: Uuid, checks: &[AttachedCheck]) -> AppResult<Vec<Verdict>> {
    let ids: Vec<Uuid> = checks.iter().map(|c| c.check_id).collect();
    let secrets = store::secrets_of(db, team_id, &ids).await?;
    let empty = HashMap::new();
    let runs = checks.iter().map(|c| probe::run(allow, &c.spec, secrets.get(&c.check_id).unwrap_or(&empty)));
    Ok(futures_util::future::join_all(runs).await)
}

/// Before an announce or an inject (`moving`): a facilitator's request runs
/// the scenario's checks (outside any transaction: no lock is held while waiting on the network)
/// and records each result, and one event with them all, whatever they say. The move then
/// requires a fresh pass of each (checked under its locks, [`super::gate`]).
pub async fn run_before(
    db: &PgPool,
    allow: &[IpNet],
    (gameday_id, scenario_id): (Uuid, Uuid),
    actor: &User,
    moving: Move,
) -> AppResult<()> {
    let moving_word = match moving {
        Move::Announce => "announce",
        Move::Inject => "inject",
        Move::RollBack | Move::Conclude => return Ok(()),
    };
    if gameday_store::participant_role(db, gameday_id, actor.id).await? != Some(GamedayRole::Facilitator) {
        return Ok(()); // The move itself refuses, saying why.
    }
    let scenario = scenario_store::scenario(db, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    let checks = &scenario.fields.health_checks;
    if checks.is_empty() {
        return Ok(());
    }
    // The move's other rules first, read without locks: a move they refuse anyway (the game day
    // not running, a signer missing) neither runs the checks nor puts them on the timeline.
    let gameday = gameday_store::gameday(db, gameday_id).await?.ok_or(AppError::NotFound)?;
    let signoffs = signoffs(db, gameday_id, scenario_id, scenario.revision).await?;
    let allowed = match moving {
        Move::Announce => gate::announce(gameday.status, scenario.state, &signoffs),
        _ => gate::inject(gameday.status, scenario.state, &signoffs),
    };
    if allowed.is_err() {
        return Ok(()); // The move itself refuses, saying why.
    }
    let verdicts = run_all(db, allow, gameday.team_id, checks).await?;
    let mut tx = db.begin().await?;
    let mut lines = Vec::new();
    let mut results = Vec::new();
    for (check, verdict) in checks.iter().zip(&verdicts) {
        store::record_result(&mut tx, (scenario_id, scenario.revision, &check.name), "before", verdict).await?;
        let mark = if verdict.passed { "passes" } else { "FAILS" };
        lines.push(format!("{} {mark}: {}", check.name, verdict.summary));
        results.push(serde_json::json!({ "check": check.name, "passed": verdict.passed, "summary": verdict.summary,
                                         "elapsed_ms": verdict.elapsed_ms, "status": verdict.status }));
    }
    let passed = verdicts.iter().all(|v| v.passed);
    let body = format!(
        "Health checks before the {moving_word} of \"{}\": {}.{}",
        scenario.fields.title,
        lines.join("; "),
        if passed { "" } else { " The fault waits until they pass." }
    );
    let data = serde_json::json!({ "phase": "before", "moving": moving_word, "revision": scenario.revision,
                                   "passed": passed, "results": results });
    let event = NewEvent::by_gameday(gameday_id, EventKind::HealthChecked, body).scenario(scenario_id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Records what the worker saw for a due check; a change of result goes on the timeline.
/// Returns whether the result changed.
pub async fn record_due(db: &PgPool, due: &Due, verdict: &Verdict) -> AppResult<bool> {
    let mut tx = db.begin().await?;
    let before =
        store::record_result(&mut tx, (due.scenario_id, due.revision, &due.check.name), &due.phase, verdict).await?;
    let changed = before != Some(verdict.passed) && (before.is_some() || !verdict.passed);
    if changed {
        let body = change_body(&due.check.name, verdict.passed, &verdict.summary);
        let data = serde_json::json!({ "phase": due.phase, "check": due.check.name, "passed": verdict.passed,
                                       "summary": verdict.summary, "revision": due.revision });
        let event = NewEvent::by_gameday(due.gameday_id, EventKind::HealthCheckChanged, body)
            .scenario(due.scenario_id)
            .data(data);
        events::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// After a result while recovering: once every check passes, the steady state is back (the
/// timeline says how long it took); when the time runs out first, the timeline says what still
/// fails.
pub async fn settle_recovery(db: &PgPool, gameday_id: Uuid, scenario_id: Uuid) -> AppResult<()> {
    let mut tx = db.begin().await?;
    gameday_store::lock_gameday(&mut tx, gameday_id).await?;
    let Some(recovery) = store::lock_open_recovery(&mut tx, scenario_id).await? else { return Ok(()) };
    let ms = |from: time::OffsetDateTime| (recovery.now - from).whole_milliseconds() as i64;
    if recovery.all_pass {
        store::end_recovery(&mut tx, scenario_id, true).await?;
        let after_injection = recovery.injected_at.map(|t| (ms(t), recovery_words(ms(t))));
        let mut body = format!(
            "Steady state back: every health check passes, {} after the fault left flight",
            recovery_words(ms(recovery.since))
        );
        if let Some((_, words)) = &after_injection {
            body.push_str(&format!(" ({words} after the injection)"));
        }
        body.push('.');
        let data = serde_json::json!({ "recovery_ms": ms(recovery.since),
                                       "since_injection_ms": after_injection.map(|(m, _)| m) });
        let event = NewEvent::by_gameday(gameday_id, EventKind::SteadyStateBack, body).scenario(scenario_id).data(data);
        events::record(&mut tx, event).await?;
    } else if recovery.now >= recovery.ends_at {
        store::end_recovery(&mut tx, scenario_id, false).await?;
        let body = format!(
            "Steady state not back within {}: {}.",
            recovery_words(ms(recovery.since)),
            recovery.failing.join("; ")
        );
        let data = serde_json::json!({ "failing": recovery.failing });
        let event =
            NewEvent::by_gameday(gameday_id, EventKind::SteadyStateNotBack, body).scenario(scenario_id).data(data);
        events::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(())
}
