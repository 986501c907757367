//! The scenario pages: the form that writes and revises a scenario, and the scenario page where
//! people read it, sign it off and run it. Every button the page offers asks the rule the server
//! checks when it is pressed (`scenarios::gate`), so the template never restates a condition.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::gate::{self, ScenarioState};
use super::store::{self, Revision, Scenario};
use super::views::{Banner, RunCard, banners, run_card};
use super::{BlastRadius, Decision, FieldChange, ScenarioForm, Signoffs, Variant};
use crate::chaostoolkit::store::{self as ctk_store, ImportedJournal, StoredExperiment};
use crate::error::AppResult;
use crate::form::FieldErrors;
use crate::gamedays::GamedayRole;
use crate::gamedays::actions::require_facilitator;
use crate::gamedays::store::{self as gameday_store, GamedaySummary, Participant};
use crate::healthchecks::views::{Section as HealthSection, section as health_section};
use crate::state::AppState;
use crate::weaknesses::store::{self as weakness_store, Weakness};
use crate::web::context::GamedayCtx;
use crate::web::{Layout, render_status};

#[derive(Template)]
#[template(path = "scenarios/form.html")]
struct FormPage {
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Option<Scenario>,
    participants: Vec<Participant>,
    form: ScenarioForm,
    errors: FieldErrors,
    radii: [BlastRadius; 4],
    /// The scenario this new one is a variant of, when it started as a copy.
    variant_of: Option<VariantOf>,
}

/// Where a variant drafted in the new-scenario form comes from.
pub struct VariantOf {
    pub title: String,
    pub revision: i32,
    pub variant: Variant,
    pub from: BlastRadius,
    pub to: BlastRadius,
}

impl FormPage {
    fn action(&self) -> String {
        match &self.scenario {
            Some(s) => format!("{}/scenarios/{}/edit", self.ctx.url(), s.id),
            None => format!("{}/scenarios", self.ctx.url()),
        }
    }
}

/// The form that writes a scenario (`scenario` None) or revises one, with what was typed and
/// the messages beside their fields.
pub async fn form_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Option<Scenario>,
    form: ScenarioForm,
    status_errors: (StatusCode, FieldErrors),
) -> AppResult<Response> {
    render_form(state, (layout, ctx), scenario, None, form, status_errors).await
}

/// The new-scenario form drafted as a variant of another scenario of the game day (see
/// [`super::ScenarioFields::variant`]): the person edits it, and saving adds it as usual.
pub async fn variant_form_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    variant_of: VariantOf,
    form: ScenarioForm,
) -> AppResult<Response> {
    render_form(state, (layout, ctx), None, Some(variant_of), form, (StatusCode::OK, FieldErrors::new())).await
}

async fn render_form(
    state: &AppState,
    (layout, ctx): (Layout, GamedayCtx),
    scenario: Option<Scenario>,
    variant_of: Option<VariantOf>,
    form: ScenarioForm,
    (status, errors): (StatusCode, FieldErrors),
) -> AppResult<Response> {
    // Abort owners are people who sign the scenario: facilitators and participants.
    let mut participants = gameday_store::participants(&state.db, ctx.gameday.id).await?;
    participants.retain(|p| p.role.is_required_signer());
    let radii = BlastRadius::ALL;
    render_status(status, &FormPage { layout, ctx, scenario, participants, form, errors, radii, variant_of })
}

#[derive(Template)]
#[template(path = "scenarios/show.html")]
struct ShowPage {
    /// The health checks that guard the fault.
    health: HealthSection,
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Scenario,
    signoffs: Signoffs,
    revisions: Vec<Revision>,
    /// What the current revision changed from the one before it.
    latest_changes: Vec<FieldChange>,
    /// The comparison asked for: (from, to, changes).
    compare: Option<(i32, i32, Vec<FieldChange>)>,
    /// A refused change: its messages, shown at the top.
    alert: Option<String>,
    in_flight: Vec<Banner>,
    last_seq: i64,
    /// The run card: outcome, timings, and the moves the viewer may make (also pushed live).
    run: RunCard,
    team_weaknesses: Vec<Weakness>,
    incident: Option<(Uuid, String, Option<String>)>,
    /// The open game days the viewer facilitates: where they may copy this scenario.
    copy_targets: Vec<GamedaySummary>,
    /// The Chaos Toolkit experiment the current revision carries.
    experiment: Option<ExperimentPart>,
    /// The Chaos Toolkit journals brought onto the timeline, newest first.
    journals: Vec<ImportedJournal>,
    /// A journal refused: what was pasted, and why (shown beside the field).
    journal_form: (String, Option<String>),
}

/// The experiment a revision carries, as the scenario page shows it.
pub struct ExperimentPart {
    pub format: String,
    /// `file`, `paste` or `api`.
    pub origin: String,
    pub file_name: Option<String>,
    pub tags: Vec<String>,
    pub contributions: Vec<(String, String)>,
    pub redacted: Vec<String>,
    pub not_understood: Vec<String>,
    /// The document, indented.
    pub pretty: String,
}

impl ExperimentPart {
    fn of(stored: StoredExperiment) -> ExperimentPart {
        let notes = &stored.notes;
        let strings = |key: &str| -> Vec<String> {
            notes
                .get(key)
                .and_then(|v| v.as_array())
                .map(|list| list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let contributions = notes
            .get("contributions")
            .and_then(|v| v.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|pair| Some((pair.get(0)?.as_str()?.to_owned(), pair.get(1)?.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        ExperimentPart {
            format: notes.get("format").and_then(|v| v.as_str()).unwrap_or("JSON").to_owned(),
            origin: notes.get("origin").and_then(|v| v.as_str()).unwrap_or("paste").to_owned(),
            file_name: notes.get("file_name").and_then(|v| v.as_str()).map(str::to_owned),
            tags: strings("tags"),
            contributions,
            redacted: strings("redacted"),
            not_understood: strings("not_understood"),
            pretty: serde_json::to_string_pretty(&stored.document).unwrap_or_default(),
        }
    }
}

impl ShowPage {
    fn is_facilitator(&self) -> bool {
        self.ctx.role == Some(GamedayRole::Facilitator)
    }

    fn is_signer(&self) -> bool {
        self.ctx.role.is_some_and(|r| r.is_required_signer())
    }

    fn my_decision(&self) -> Option<Decision> {
        self.signoffs.signers.iter().find(|s| s.user_id == self.ctx.user.id).and_then(|s| s.decision)
    }

    /// Whether the viewer may approve the current revision now.
    fn can_approve(&self) -> bool {
        self.is_signer()
            && gate::sign(self.scenario.state, self.my_decision().is_some(), Decision::Approve).is_ok()
            && gate::check_complete(&self.scenario.fields).is_ok()
    }

    /// Why the current revision cannot be approved yet, when placeholders remain.
    fn incomplete(&self) -> Option<String> {
        gate::check_complete(&self.scenario.fields).err().map(|refusal| refusal.0)
    }

    /// Whether the viewer may object to the current revision now.
    fn can_object(&self) -> bool {
        self.is_signer() && gate::sign(self.scenario.state, self.my_decision().is_some(), Decision::Object).is_ok()
    }

    /// Whether the viewer may edit the scenario (or its link to a weakness) now.
    fn can_edit(&self) -> bool {
        self.is_facilitator()
            && gate::edit(self.scenario.state).is_ok()
            && crate::gamedays::edit_plan(self.ctx.gameday.status).is_ok()
    }

    /// The team's weaknesses this scenario found (recorded from it), as opposed to the one it re-tests.
    fn found_weaknesses(&self) -> Vec<&Weakness> {
        self.team_weaknesses.iter().filter(|w| w.found_in_scenario == Some(self.scenario.id)).collect()
    }

    fn can_record_weakness(&self) -> bool {
        crate::weaknesses::check_can_record_from(self.ctx.membership.role, self.ctx.role, self.scenario.outcome).is_ok()
    }

    /// The variants the viewer may draft on this game day (adding a scenario here is allowed),
    /// with the blast radius each would have.
    fn variants(&self) -> Vec<(Variant, BlastRadius)> {
        let may_add =
            require_facilitator(self.ctx.role).is_ok() && crate::gamedays::edit_plan(self.ctx.gameday.status).is_ok();
        if !may_add {
            return Vec::new();
        }
        Variant::ALL.into_iter().filter_map(|v| self.scenario.fields.blast_radius?.step(v).map(|b| (v, b))).collect()
    }

    /// Whether the page offers "Copy…": into a game day, or as a variant here.
    fn may_copy(&self) -> bool {
        !self.copy_targets.is_empty() || !self.variants().is_empty()
    }

    fn labelled(&self) -> Vec<(&'static str, String)> {
        self.scenario.fields.labelled(self.scenario.abort_owner_name.as_deref().unwrap_or("nobody"))
    }

    fn base(&self) -> String {
        format!("{}/scenarios/{}", self.ctx.url(), self.scenario.id)
    }

    /// Whether the current revision is agreed, so it can be exported as an experiment.
    fn agreed(&self) -> bool {
        self.signoffs.fully_approved()
    }
}

fn changes_between(revisions: &[Revision], from: i32, to: i32) -> Option<Vec<FieldChange>> {
    let a = revisions.iter().find(|r| r.revision == from)?;
    let b = revisions.iter().find(|r| r.revision == to)?;
    Some(a.fields.diff(&a.abort_owner_name, &b.fields, &b.abort_owner_name))
}

/// The scenario page. `compare` is the pair of revisions asked for; `errors` a refused change,
/// whose messages the page shows at the top.
pub async fn scenario_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    scenario: Scenario,
    compare: (Option<i32>, Option<i32>),
    status_errors: (StatusCode, FieldErrors),
) -> AppResult<Response> {
    render_show(state, (layout, ctx), scenario, compare, status_errors, String::new()).await
}

/// The scenario page after a refused journal: the message beside the field, what was pasted kept.
pub async fn journal_refused(
    state: &AppState,
    (layout, ctx): (Layout, GamedayCtx),
    scenario: Scenario,
    status_errors: (StatusCode, FieldErrors),
    pasted: String,
) -> AppResult<Response> {
    render_show(state, (layout, ctx), scenario, (None, None), status_errors, pasted).await
}

async fn render_show(
    state: &AppState,
    (layout, ctx): (Layout, GamedayCtx),
    scenario: Scenario,
    compare: (Option<i32>, Option<i32>),
    (status, errors): (StatusCode, FieldErrors),
    journal_input: String,
) -> AppResult<Response> {
    let signoffs = store::signoffs::signoffs(&state.db, ctx.gameday.id, scenario.id, scenario.revision).await?;
    let revisions = store::revisions(&state.db, scenario.id).await?;
    let latest_changes = changes_between(&revisions, scenario.revision - 1, scenario.revision).unwrap_or_default();
    let compare = match compare {
        (Some(from), Some(to)) => changes_between(&revisions, from, to).map(|c| (from, to, c)),
        _ => None,
    };
    let events = crate::timeline::store::key_events(&state.db, ctx.gameday.id).await?;
    let in_flight = banners(&store::scenarios_of(&state.db, ctx.gameday.id).await?, &events, &ctx.url());
    let run = run_card(&state.db, &ctx.gameday, &ctx.url(), scenario.clone(), &events, ctx.role).await?;
    let team_weaknesses = weakness_store::weaknesses(&state.db, ctx.membership.team.id).await?;
    let incident = weakness_store::linked_incident(&state.db, scenario.id).await?;
    let mut copy_targets =
        gameday_store::open_gamedays_facilitated(&state.db, ctx.membership.team.id, ctx.user.id).await?;
    // Another game day first: copying onward is the common case.
    copy_targets.sort_by_key(|g| g.id == ctx.gameday.id);
    let last_seq = ctx.gameday.last_event_seq;
    let experiment = match scenario.fields.experiment_digest {
        Some(_) => ctk_store::experiment(&state.db, scenario.id, scenario.revision).await?.map(ExperimentPart::of),
        None => None,
    };
    let journals = ctk_store::journals(&state.db, scenario.id).await?;
    let journal_form = (journal_input, errors.get("journal").map(str::to_owned));
    let alert = (!errors.is_empty() && journal_form.1.is_none()).then(|| errors.messages().join(" "));
    let may_attach = ctx.role == Some(crate::gamedays::GamedayRole::Facilitator)
        && gate::edit(scenario.state).is_ok()
        && crate::gamedays::edit_plan(ctx.gameday.status).is_ok();
    let health =
        health_section(&state.db, ctx.membership.team.id, &scenario.fields.health_checks, scenario.id, may_attach)
            .await?;
    let page = ShowPage {
        health,
        experiment,
        journals,
        journal_form,
        in_flight,
        last_seq,
        run,
        team_weaknesses,
        incident,
        copy_targets,
        layout,
        ctx,
        scenario,
        signoffs,
        revisions,
        latest_changes,
        compare,
        alert,
    };
    render_status(status, &page)
}

impl ScenarioState {
    /// The CSS class of the state badge.
    pub fn css(&self) -> &'static str {
        match self {
            ScenarioState::Proposed => "state-proposed",
            ScenarioState::Announced => "state-announced",
            ScenarioState::Injected => "state-injected",
            ScenarioState::RolledBack => "state-rolled-back",
            ScenarioState::Halted => "state-halted",
            ScenarioState::Concluded => "state-concluded",
        }
    }
}
