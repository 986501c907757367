//! The team's health-check library (`/teams/{slug}/health-checks`: members and leads write it,
//! viewers read it) and attaching checks to a scenario (its facilitators, as an edit).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, Guard};
use super::store::{self, LibraryCheck, Using};
use super::{CheckForm, Verdict, parse_interval};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::scenarios::actions::Revised;
use crate::scenarios::pages::scenario_page;
use crate::state::AppState;
use crate::teams::{Membership, TeamRole};
use crate::web::context::{Path, ScenarioCtx, TeamCtx};
use crate::web::refusal::refused;
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    let scenario = "/teams/{slug}/gamedays/{id}/scenarios/{sid}";
    Router::new()
        .route("/teams/{slug}/health-checks", get(library).post(add))
        .route("/teams/{slug}/health-checks/{check}", get(edit_page).post(save))
        .route("/teams/{slug}/health-checks/{check}/run", post(run_now))
        .route("/teams/{slug}/health-checks/{check}/delete", post(delete))
        .route("/teams/{slug}/health-checks/{check}/scenarios", post(update_scenarios))
        .route(&format!("{scenario}/health-checks"), post(attach))
        .route(&format!("{scenario}/health-checks/remove"), post(detach))
}

#[derive(Template)]
#[template(path = "healthchecks/library.html")]
struct LibraryPage {
    layout: Layout,
    membership: Membership,
    checks: Vec<LibraryCheck>,
    form: CheckForm,
    errors: FieldErrors,
    /// The result of "Run now", beside its check.
    answer: Option<(Uuid, Verdict)>,
    may_write: bool,
}

impl LibraryPage {
    fn answer_for(&self, id: &Uuid) -> Option<&Verdict> {
        self.answer.as_ref().filter(|(a, _)| a == id).map(|(_, v)| v)
    }
}

#[derive(Template)]
#[template(path = "healthchecks/edit.html")]
struct EditPage {
    layout: Layout,
    membership: Membership,
    check: LibraryCheck,
    form: CheckForm,
    errors: FieldErrors,
    using: Vec<Using>,
    /// The scenarios whose copy differs from the library's definition.
    stale: Vec<Using>,
}

fn writes(membership: &Membership) -> bool {
    membership.role != TeamRole::Viewer
}

fn library_url(membership: &Membership) -> String {
    format!("/teams/{}/health-checks", membership.team.slug)
}

async fn library_page(
    state: &AppState,
    layout: Layout,
    membership: Membership,
    (status, form, errors): (StatusCode, CheckForm, FieldErrors),
    answer: Option<(Uuid, Verdict)>,
) -> AppResult<Response> {
    let checks = store::of_team(&state.db, membership.team.id).await?;
    let may_write = writes(&membership);
    render_status(status, &LibraryPage { layout, membership, checks, form, errors, answer, may_write })
}

async fn library(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { membership, .. }: TeamCtx,
) -> AppResult<Response> {
    let form = CheckForm::blank();
    library_page(&state, layout, membership, (StatusCode::OK, form, FieldErrors::new()), None).await
}

async fn add(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Form(form): Form<CheckForm>,
) -> AppResult<Response> {
    actions::require_writer(membership.role)?;
    // Secret values typed are never sent back to the page.
    let kept = form.without_secrets();
    let parsed = match form.parse(&[]) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return library_page(&state, layout, membership, (StatusCode::UNPROCESSABLE_ENTITY, kept, errors), None)
                .await;
        }
    };
    let allow = &state.config.health_check_allow;
    if let Err(err) = actions::add(&state.db, allow, membership.team.id, &user, &parsed).await {
        let mut errors = FieldErrors::new();
        let status = refused(err, &mut errors)?;
        return library_page(&state, layout, membership, (status, kept, errors), None).await;
    }
    flash(&session, FlashKind::Success, format!("Added \"{}\". Press Run now to see what it sees.", parsed.name))
        .await?;
    Ok(see_other(&library_url(&membership)))
}

#[derive(Deserialize)]
struct CheckPath {
    check: Uuid,
}

async fn check_of(state: &AppState, membership: &Membership, id: Uuid) -> AppResult<LibraryCheck> {
    store::of_team_by_id(&state.db, membership.team.id, id).await?.ok_or(AppError::NotFound)
}

async fn render_edit(
    state: &AppState,
    layout: Layout,
    membership: Membership,
    check: LibraryCheck,
    (status, form, errors): (StatusCode, CheckForm, FieldErrors),
) -> AppResult<Response> {
    let using = store::scenarios_using(&state.db, membership.team.id, check.id).await?;
    let stale = using.iter().filter(|u| u.differs).cloned().collect();
    render_status(status, &EditPage { layout, membership, check, form, errors, using, stale })
}

async fn edit_page(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { membership, .. }: TeamCtx,
    Path(CheckPath { check }): Path<CheckPath>,
) -> AppResult<Response> {
    actions::require_writer(membership.role)?;
    let check = check_of(&state, &membership, check).await?;
    let form = CheckForm::of(&check.name, &check.spec);
    render_edit(&state, layout, membership, check, (StatusCode::OK, form, FieldErrors::new())).await
}

async fn save(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Path(CheckPath { check }): Path<CheckPath>,
    Form(form): Form<CheckForm>,
) -> AppResult<Response> {
    actions::require_writer(membership.role)?;
    let check = check_of(&state, &membership, check).await?;
    let form_kept = form.without_secrets();
    let parsed = match form.parse(&check.spec.secret_names()) {
        Ok(parsed) => parsed,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_edit(&state, layout, membership, check, (status, form_kept, errors)).await;
        }
    };
    let allow = &state.config.health_check_allow;
    if let Err(err) = actions::change(&state.db, allow, (membership.team.id, &user), check.id, &parsed).await {
        let mut errors = FieldErrors::new();
        let status = refused(err, &mut errors)?;
        return render_edit(&state, layout, membership, check, (status, form_kept, errors)).await;
    }
    let stale =
        store::scenarios_using(&state.db, membership.team.id, check.id).await?.iter().filter(|u| u.differs).count();
    let message = if stale == 0 {
        "Saved.".to_owned()
    } else {
        format!("Saved. {stale} scenario(s) carry the earlier version: choose which to update below.")
    };
    flash(&session, FlashKind::Success, message).await?;
    Ok(see_other(&format!("{}/{}", library_url(&membership), check.id)))
}

async fn run_now(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { membership, .. }: TeamCtx,
    Path(CheckPath { check }): Path<CheckPath>,
) -> AppResult<Response> {
    actions::require_writer(membership.role)?;
    let check = check_of(&state, &membership, check).await?;
    let verdict = actions::run_now(&state.db, &state.config.health_check_allow, &check).await?;
    let form = CheckForm::blank();
    library_page(&state, layout, membership, (StatusCode::OK, form, FieldErrors::new()), Some((check.id, verdict)))
        .await
}

async fn delete(
    State(state): State<AppState>,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Path(CheckPath { check }): Path<CheckPath>,
) -> AppResult<Response> {
    actions::require_writer(membership.role)?;
    let name = actions::remove(&state.db, membership.team.id, &user, check).await?;
    flash(&session, FlashKind::Success, format!("Removed \"{name}\". Scenarios that carry it keep their copy."))
        .await?;
    Ok(see_other(&library_url(&membership)))
}

/// Reads the chosen scenarios by hand: checkboxes repeat the `scenario` key.
async fn update_scenarios(
    State(state): State<AppState>,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Path(CheckPath { check }): Path<CheckPath>,
    body: String,
) -> AppResult<Response> {
    actions::require_writer(membership.role)?;
    let chosen: Vec<Uuid> = form_urlencoded::parse(body.as_bytes())
        .filter(|(k, _)| k == "scenario")
        .filter_map(|(_, v)| Uuid::parse_str(&v).ok())
        .collect();
    let (updated, refused) = actions::update_scenarios(&state.db, membership.team.id, &user, check, &chosen).await?;
    let mut message = format!("{updated} scenario(s) updated, each as a new revision to sign again.");
    if !refused.is_empty() {
        message.push_str(&format!(" Not updated: {}", refused.join("; ")));
    }
    let kind = if refused.is_empty() { FlashKind::Success } else { FlashKind::Error };
    flash(&session, kind, message).await?;
    Ok(see_other(&format!("{}/{check}", library_url(&membership))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AttachForm {
    check: String,
    interval_secs: String,
    auto_halt: Option<String>,
}

/// What an attach or a removal did, for the flash.
fn revised_message(revised: &Revised, what: &str) -> String {
    match revised {
        Revised::NewRevision { revision, signoffs_reset, .. } => {
            let mut m = format!("{what}: revision {revision}.");
            if *signoffs_reset > 0 {
                m.push_str(&format!(" {signoffs_reset} earlier sign-off(s) no longer count; everyone signs again."));
            }
            m
        }
        Revised::Unchanged => "Nothing changed.".into(),
    }
}

async fn attach(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    sc: ScenarioCtx,
    Form(form): Form<AttachForm>,
) -> AppResult<Response> {
    let attached = match (Uuid::parse_str(form.check.trim()), parse_interval(&form.interval_secs)) {
        (Err(_), _) => Err(AppError::invalid("check", "Choose a check of the team's library.")),
        (_, Err(message)) => Err(AppError::invalid("interval_secs", message)),
        (Ok(check), Ok(interval_secs)) => {
            let guard = Guard { auto_halt: form.auto_halt.is_some(), interval_secs };
            actions::attach(&state.db, (&sc.day.gameday, sc.scenario.id), &sc.day.user, check, guard).await
        }
    };
    match attached {
        Ok(revised) => {
            flash(&session, FlashKind::Success, revised_message(&revised, "Health check attached")).await?;
            Ok(see_other(&format!("{}#health-checks", sc.url())))
        }
        Err(err) => {
            // The scenario page again, with the reason (a 4xx; anything else is an error page).
            let mut errors = FieldErrors::new();
            let status = refused(err, &mut errors)?;
            scenario_page(&state, layout, sc.day, sc.scenario, (None, None), (status, errors)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DetachForm {
    name: String,
}

async fn detach(
    State(state): State<AppState>,
    session: Session,
    sc: ScenarioCtx,
    Form(form): Form<DetachForm>,
) -> AppResult<Response> {
    let revised = actions::detach(&state.db, (sc.day.gameday.id, sc.scenario.id), &sc.day.user, form.name.trim()).await;
    match revised {
        Ok(revised) => flash(&session, FlashKind::Success, revised_message(&revised, "Health check removed")).await?,
        Err(AppError::Conflict(message)) => flash(&session, FlashKind::Error, message).await?,
        Err(err) => return Err(err),
    }
    Ok(see_other(&format!("{}#health-checks", sc.url())))
}
