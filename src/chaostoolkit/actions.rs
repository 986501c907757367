//! Chaos Toolkit in and out: importing an experiment as a scenario, writing an agreed scenario as
//! an experiment, and bringing a run's journal onto the timeline. Each change is one transaction
//! with its timeline event, through the scenarios' own rules.

use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use ipnet::IpNet;

use super::experiment::{self, Imported};
use super::export::{self, Agreed};
use super::journal::{self, Proposal};
use super::probes;
use super::store::{self, NewJournal};
use crate::accounts::User;
use crate::audit::{AuditKind, NewEntry, store as audit, webhook_host};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::form::bounded_text;
use crate::gamedays::actions::{begin, require_facilitator};
use crate::gamedays::{Gameday, edit_plan, multiline, store as gameday_store};
use crate::healthchecks::store as health_store;
use crate::healthchecks::{
    AttachedCheck, CheckForm, DEFAULT_INTERVAL_SECS, MAX_PER_SCENARIO, MAX_PER_TEAM, check_reach,
};
use crate::scenarios::actions::add_to_plan_with;
use crate::scenarios::gate::Outcome;
use crate::scenarios::store::{self as scenario_store, NewExperiment};
use crate::scenarios::{ScenarioFields, TO_BE_AGREED, TO_BE_DECIDED};
use crate::timeline::{EventKind, NewEvent};

/// The SHA-256 (hex) of an experiment document's canonical JSON (keys in order): what the
/// scenario's fingerprint covers.
pub fn digest(document: &serde_json::Value) -> String {
    let canonical = serde_json::to_vec(document).unwrap_or_default();
    Sha256::digest(&canonical).iter().map(|b| format!("{b:02x}")).collect()
}

/// The words of a scenario drafted from an experiment: what the experiment says, and the rest
/// (target, blast radius, expected impact, abort criteria and owner) left for the facilitator.
fn draft(imported: &Imported) -> AppResult<ScenarioFields> {
    // The reader keeps within the form's limits; the form's own checks make sure of it.
    let unusable = |label: &str, message: String| {
        AppError::invalid("experiment", format!("The experiment's {label} cannot be used: {message}"))
    };
    Ok(ScenarioFields {
        title: bounded_text(&imported.title, "Title", 1, 120).map_err(|m| unusable("title", m))?,
        hypothesis: multiline(&imported.hypothesis, "Hypothesis", 1, 4000).map_err(|m| unusable("description", m))?,
        fault: multiline(&imported.fault, "Fault", 1, 4000).map_err(|m| unusable("method", m))?,
        target_system: TO_BE_DECIDED.into(),
        blast_radius: None,
        expected_impact: TO_BE_AGREED.into(),
        abort_criteria: TO_BE_AGREED.into(),
        abort_owner: None,
        rollback_plan: multiline(&imported.rollback_plan, "Rollback plan", 1, 4000)
            .map_err(|m| unusable("rollbacks", m))?,
        experiment_digest: Some(digest(&imported.document)),
        health_checks: Vec::new(),
    })
}

/// The reach rule for a URL whose host is an IP address (a name is checked when it runs).
fn literal_reach(allow: &[IpNet], url: &str) -> Result<(), String> {
    let Some(host) = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)) else { return Ok(()) };
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) => check_reach(&host, &[ip], allow).map(|_| ()),
        Err(_) => Ok(()),
    }
}

/// The probes turned into checks of the team's library (one already there under the same name
/// and definition is reused; another name gets " (imported)"), as copies for the scenario. Inside
/// the import's transaction; within the library's cap (the rest are said to be skipped).
async fn library_checks(
    tx: &mut sqlx::PgConnection,
    team_id: Uuid,
    actor: &User,
    checks: Vec<probes::ProbeCheck>,
    skipped: &mut Vec<String>,
) -> AppResult<Vec<AttachedCheck>> {
    // The team's row, as adding a check to the library locks it (the cap and the names hold).
    health_store::count_locked(&mut *tx, team_id).await?;
    let mut library = health_store::of_team(&mut *tx, team_id).await?;
    let mut attached = Vec::new();
    for check in checks.into_iter().take(MAX_PER_SCENARIO) {
        // The form's rules hold for an imported check too (header names and values, reserved
        // headers, the URL, the limits).
        let check = match CheckForm::of(&check.name, &check.spec).parse(&check.spec.secret_names()) {
            Ok(parsed) => probes::ProbeCheck { name: parsed.name, spec: parsed.spec },
            Err(errors) => {
                skipped.push(format!("{}: {}", check.name, errors.messages().join(" ")));
                continue;
            }
        };
        let same = library.iter().find(|l| l.name == check.name && l.spec == check.spec);
        let (id, name) = match same {
            Some(l) => (l.id, l.name.clone()),
            None if library.len() as i64 >= MAX_PER_TEAM => {
                skipped.push(format!("{}: the team's library is full ({MAX_PER_TEAM} checks)", check.name));
                continue;
            }
            None => {
                let taken = |n: &str| library.iter().any(|l| l.name.eq_ignore_ascii_case(n));
                let mut name = check.name.clone();
                let mut n = 1;
                while taken(&name) {
                    name = if n == 1 {
                        format!("{} (imported)", check.name)
                    } else {
                        format!("{} (imported {n})", check.name)
                    };
                    n += 1;
                }
                let id = health_store::create(&mut *tx, team_id, &name, &check.spec, &[], actor.id).await?;
                let host = webhook_host(&check.spec.url);
                let body = format!(
                    "{} added the health check \"{name}\" ({} {host}) from a Chaos Toolkit experiment's probe.",
                    actor.display_name, check.spec.method
                );
                let detail = json!({ "check": id, "name": name, "imported": true });
                let entry = NewEntry::new(team_id, actor.id, AuditKind::HealthCheckAdded, body).detail(detail);
                audit::record(&mut *tx, entry).await?;
                library = health_store::of_team(&mut *tx, team_id).await?;
                (id, name)
            }
        };
        attached.push(AttachedCheck {
            check_id: id,
            name,
            spec: check.spec,
            auto_halt: true,
            interval_secs: DEFAULT_INTERVAL_SECS,
        });
    }
    Ok(attached)
}

/// Where an imported experiment came from, as the scenario page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A file uploaded in the pages, by its name.
    File(&'a str),
    /// Pasted into the pages.
    Pasted,
    /// The body of an API request.
    Api,
}

impl Origin<'_> {
    fn file_name(&self) -> Option<&str> {
        match self {
            Origin::File(name) => Some(name),
            _ => None,
        }
    }

    fn as_str(&self) -> &'static str {
        match self {
            Origin::File(_) => "file",
            Origin::Pasted => "paste",
            Origin::Api => "api",
        }
    }
}

/// A facilitator imports a Chaos Toolkit experiment (JSON or YAML) as a new scenario of a game day
/// whose plan is open: revision 1 carries the document (credentials replaced by their names
/// before anything is stored), and nobody can approve it until its facilitator has set what the
/// experiment does not say.
pub async fn import_experiment(
    db: &PgPool,
    allow: &[IpNet],
    (gameday_id, actor): (Uuid, &User),
    text: &str,
    origin: Origin<'_>,
) -> AppResult<Uuid> {
    // Who may add a scenario here is settled before the document is read (and again under the
    // game day's lock below).
    require_facilitator(gameday_store::participant_role(db, gameday_id, actor.id).await?)?;
    let file_name = origin.file_name();
    let imported = experiment::read(text, file_name).map_err(|e| AppError::invalid("experiment", e.to_string()))?;
    // A probe at an address checks may not reach is left out now; a host name is resolved and
    // checked at every run (an import does not wait on DNS).
    let (probe_checks, mut skipped) = probes::checks_of(&imported.document);
    let mut usable = Vec::new();
    for check in probe_checks {
        match literal_reach(allow, &check.spec.url) {
            Ok(()) => usable.push(check),
            Err(why) => skipped.push(format!("{}: {why}", check.name)),
        }
    }
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    edit_plan(gameday.status)?;
    let mut fields = draft(&imported)?;
    fields.health_checks = library_checks(&mut tx, gameday.team_id, actor, usable, &mut skipped).await?;
    let check_names: Vec<&str> = fields.health_checks.iter().map(|c| c.name.as_str()).collect();
    let notes = json!({
        "health_checks": check_names,
        "health_checks_skipped": skipped,
        "format": imported.format.as_str(),
        "origin": origin.as_str(),
        "file_name": file_name,
        "tags": imported.tags,
        "contributions": imported.contributions,
        "redacted": imported.redacted,
        "not_understood": imported.not_understood,
    });
    let experiment = NewExperiment { document: &imported.document, notes: &notes };
    let id = add_to_plan_with(&mut tx, &gameday, role, actor, &fields, Some(experiment)).await?;
    let mut body = format!(
        "{} imported the Chaos Toolkit experiment \"{}\" ({}) as a scenario (revision 1). Its target, blast radius, expected impact, abort criteria and abort owner are set before anyone signs it.",
        actor.display_name,
        fields.title,
        imported.format.as_str()
    );
    if !imported.redacted.is_empty() {
        body.push_str(&format!(" {} credential value(s) were replaced by their names.", imported.redacted.len()));
    }
    if !imported.not_understood.is_empty() {
        body.push_str(&format!(
            " {} key(s) Gameday does not know are kept and listed on the scenario.",
            imported.not_understood.len()
        ));
    }
    if !check_names.is_empty() {
        body.push_str(&format!(
            " Its HTTP probe(s) guard it as health checks: {} (halting the fault when they fail; change that before signing).",
            check_names.join(", ")
        ));
    }
    if !skipped.is_empty() {
        body.push_str(&format!(" Not turned into health checks: {}.", skipped.join("; ")));
    }
    let data = json!({
        "revision": 1,
        "fingerprint": fields.fingerprint(),
        "experiment": {
            "format": imported.format.as_str(),
            "digest": fields.experiment_digest,
            "redacted": imported.redacted.len(),
            "not_understood": imported.not_understood.len(),
        },
    });
    let event = NewEvent::new(gameday.id, actor.id, EventKind::ScenarioAdded, body).scenario(id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(id)
}

/// An agreed scenario written as a Chaos Toolkit experiment.
#[derive(Debug, Clone)]
pub struct Exported {
    pub file_name: String,
    pub document: serde_json::Value,
}

/// The current revision of a scenario as a Chaos Toolkit experiment, if every required signer
/// approved it (else 409, saying who has not): `api_url` is the API's absolute address.
pub async fn export_agreed(
    db: &PgPool,
    gameday: &Gameday,
    team: &str,
    scenario_id: Uuid,
    api_url: &str,
) -> AppResult<Exported> {
    let scenario = scenario_store::scenario(db, gameday.id, scenario_id).await?.ok_or(AppError::NotFound)?;
    let signoffs = scenario_store::signoffs::signoffs(db, gameday.id, scenario_id, scenario.revision).await?;
    if let Some(why) = signoffs.shortfall() {
        return Err(AppError::Conflict(format!(
            "Only an agreed scenario is exported: revision {} is not agreed yet. {why}",
            scenario.revision
        )));
    }
    let imported = match scenario.fields.experiment_digest {
        Some(_) => store::experiment(db, scenario_id, scenario.revision).await?.map(|e| e.document),
        None => None,
    };
    let agreed_by: Vec<String> = signoffs.approved().map(|s| s.name.clone()).collect();
    let f = &scenario.fields;
    let agreed = Agreed {
        api_url,
        team,
        gameday: gameday.id,
        scenario: scenario_id,
        revision: scenario.revision,
        fingerprint: &scenario.fingerprint,
        title: &f.title,
        hypothesis: &f.hypothesis,
        fault: &f.fault,
        target_system: &f.target_system,
        blast_radius: f.radius(),
        abort_criteria: &f.abort_criteria,
        rollback_plan: &f.rollback_plan,
        agreed_by: &agreed_by,
        imported: imported.as_ref(),
    };
    Ok(Exported { file_name: agreed.file_name(), document: export::experiment(&agreed) })
}

/// What importing a journal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalImport {
    /// Its entries are on the timeline, and it proposes an outcome.
    Imported { entries: usize, proposal: Outcome, reason: String },
    /// This scenario already has this journal: nothing was written.
    AlreadyImported,
}

fn outcome_of(proposal: Proposal) -> Outcome {
    match proposal {
        Proposal::Held => Outcome::Held,
        Proposal::Refuted => Outcome::Refuted,
        Proposal::Inconclusive => Outcome::Inconclusive,
    }
}

/// A facilitator brings a Chaos Toolkit run's journal onto a scenario's timeline: each activity
/// and steady-state check becomes an event at its own time (marked as imported), and the run's
/// result proposes the scenario's outcome, which the facilitator confirms when concluding. The
/// same journal (same bytes) a second time does nothing.
pub async fn import_journal(
    db: &PgPool,
    gameday_id: Uuid,
    scenario_id: Uuid,
    actor: &User,
    bytes: &[u8],
) -> AppResult<JournalImport> {
    // Who may bring a run onto the timeline is settled before the document is read.
    let (mut tx, _gameday, role) = begin(db, gameday_id, actor).await?;
    require_facilitator(role)?;
    let scenario = scenario_store::lock_scenario(&mut tx, gameday_id, scenario_id).await?.ok_or(AppError::NotFound)?;
    let journal = journal::read(bytes).map_err(|e| AppError::invalid("journal", e.to_string()))?;
    if let Some(other) = journal.gameday.as_ref().and_then(|g| g.scenario).filter(|s| *s != scenario_id) {
        return Err(AppError::invalid(
            "journal",
            format!("This journal is of a run of another scenario ({other}), exported from Gameday: import it there."),
        ));
    }
    let proposal = outcome_of(journal.proposal);
    let new = NewJournal {
        scenario_id,
        gameday_id,
        digest: &journal.digest,
        experiment_title: &journal.experiment_title,
        status: journal.status.as_str(),
        deviated: journal.deviated,
        proposal,
        proposal_reason: &journal.proposal_reason,
        started_at: journal.start,
        entries: i32::try_from(journal.entries.len()).unwrap_or(i32::MAX),
        imported_by: actor.id,
    };
    if !store::insert_journal(&mut tx, &new).await? {
        return Ok(JournalImport::AlreadyImported);
    }
    for entry in &journal.entries {
        let mut data = entry.data.clone();
        if let Some(object) = data.as_object_mut() {
            object.insert(
                "imported".into(),
                json!({ "from": "chaostoolkit", "journal": journal.digest, "phase": entry.phase.as_str() }),
            );
        }
        let event = NewEvent::new(gameday_id, actor.id, EventKind::ExperimentRan, entry.body.clone())
            .scenario(scenario_id)
            .data(data);
        events::record_observed(&mut tx, event, Some(entry.at)).await?;
    }
    let body = format!(
        "{} imported a Chaos Toolkit journal of \"{}\" into \"{}\": {} entries, the run {}{}. It proposes the outcome \"{}\": {} The facilitator confirms it when concluding.",
        actor.display_name,
        journal.experiment_title,
        scenario.fields.title,
        journal.entries.len(),
        journal.status.as_str(),
        if journal.deviated { ", deviated" } else { "" },
        proposal.as_str(),
        journal.proposal_reason,
    );
    let data = json!({
        "journal": journal.digest,
        "status": journal.status.as_str(),
        "deviated": journal.deviated,
        "entries": journal.entries.len(),
        "proposal": proposal.as_str(),
        "reason": journal.proposal_reason,
    });
    let event = NewEvent::new(gameday_id, actor.id, EventKind::JournalImported, body).scenario(scenario_id).data(data);
    events::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(JournalImport::Imported { entries: journal.entries.len(), proposal, reason: journal.proposal_reason })
}
