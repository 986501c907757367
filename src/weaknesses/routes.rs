//! The known-weakness register, incidents and their replay, and linking scenarios to them.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::WeaknessStatus;
use super::actions::{self, NewIncident, NewWeakness};
use super::store::{self, Incident, Weakness};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::form::bounded_text;
use crate::gamedays::{multiline, parse_link};
use crate::ids::{IncidentId, ScenarioId, WeaknessId};
use crate::state::AppState;
use crate::teams::Membership;
use crate::web::context::{GamedayCtx, Path, ScenarioCtx, TeamCtx, load_gameday};
use crate::web::{FlashKind, Layout, flash, render, render_status, see_other};
use axum::http::StatusCode;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/weaknesses", get(weaknesses_page).post(add_weakness))
        .route("/teams/{slug}/weaknesses/{wid}/status", post(set_status))
        .route("/teams/{slug}/gamedays/{id}/scenarios/{sid}/weakness", post(link_weakness))
        .route("/teams/{slug}/gamedays/{id}/scenarios/{sid}/weakness/new", post(weakness_from_scenario))
        .route("/teams/{slug}/incidents", get(incidents_page).post(add_incident))
        .route("/teams/{slug}/incidents/{iid}/replay", post(replay))
}

fn can_write(membership: &Membership) -> AppResult<()> {
    super::check_can_keep(membership.role)
}

#[derive(Template)]
#[template(path = "weaknesses/list.html")]
struct WeaknessesPage {
    layout: Layout,
    membership: Membership,
    weaknesses: Vec<Weakness>,
    form: WeaknessForm,
    errors: FieldErrors,
    /// A status change refused for its input: the weakness it was for, and what was typed.
    status_form: Option<(Uuid, StatusForm)>,
}

impl WeaknessesPage {
    /// The status-change error to show beside the weakness `id`'s reason field, if any.
    fn reason_error(&self, id: &Uuid) -> Option<&str> {
        match &self.status_form {
            Some((w, _)) if w == id => self.errors.get("reason"),
            _ => None,
        }
    }

    /// The reason typed for the weakness `id` when the change was refused (kept for the retry).
    fn reason_input(&self, id: &Uuid) -> &str {
        match &self.status_form {
            Some((w, form)) if w == id => &form.reason,
            _ => "",
        }
    }

    /// Whether the viewer keeps the register (adds and updates weaknesses).
    fn can_keep(&self) -> bool {
        super::check_can_keep(self.membership.role).is_ok()
    }
}

async fn weaknesses_page(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { membership, .. }: TeamCtx,
) -> AppResult<Response> {
    let weaknesses = store::weaknesses(&state.db, membership.team.id).await?;
    render(&WeaknessesPage {
        layout,
        membership,
        weaknesses,
        form: WeaknessForm::default(),
        errors: FieldErrors::new(),
        status_form: None,
    })
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct WeaknessForm {
    title: String,
    description: String,
}

async fn add_weakness(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Form(form): Form<WeaknessForm>,
) -> AppResult<Response> {
    can_write(&membership)?;
    let mut errors = FieldErrors::new();
    let title = errors.check("title", bounded_text(&form.title, "The weakness", 1, 200));
    let description = errors.check("description", multiline(&form.description, "The description", 0, 4000));
    let (Some(title), Some(description)) = (title, description) else {
        let weaknesses = store::weaknesses(&state.db, membership.team.id).await?;
        let page = WeaknessesPage { layout, membership, weaknesses, form, errors, status_form: None };
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let weakness = NewWeakness { title: &title, description: &description, found_in: None };
    actions::add(&state.db, &membership, &user, weakness).await?;
    flash(&session, FlashKind::Success, "Weakness added to the register.").await?;
    Ok(see_other(&format!("/teams/{}/weaknesses", membership.team.slug)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    status: String,
    /// Why the status changes (required when marking it mitigated).
    reason: String,
}

/// The weakness a change is about (`/teams/{slug}/weaknesses/{wid}/…`).
#[derive(Deserialize)]
struct WeaknessPath {
    wid: WeaknessId,
}

/// The incident to replay (`/teams/{slug}/incidents/{iid}/…`).
#[derive(Deserialize)]
struct IncidentPath {
    iid: IncidentId,
}

/// The scenario a change is about (`…/scenarios/{sid}/…`).
#[derive(Deserialize)]
struct ScenarioPath {
    sid: ScenarioId,
}

async fn set_status(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Path(WeaknessPath { wid }): Path<WeaknessPath>,
    Form(form): Form<StatusForm>,
) -> AppResult<Response> {
    let status = match form.status.as_str() {
        "open" => WeaknessStatus::Open,
        "mitigated" => WeaknessStatus::Mitigated,
        _ => return Err(AppError::invalid("status", "Choose open or mitigated.")),
    };
    let changed = match bounded_text(&form.reason, "The reason", 0, 500) {
        Ok(reason) => actions::set_status(&state.db, &membership, &user, wid.0, status, &reason).await,
        Err(message) => Err(AppError::invalid("reason", message)),
    };
    match changed {
        Ok(()) => {}
        Err(AppError::Validation { field, message }) => {
            let weaknesses = store::weaknesses(&state.db, membership.team.id).await?;
            let mut errors = FieldErrors::new();
            errors.add(field, message);
            let status_form = Some((wid.0, form));
            let page =
                WeaknessesPage { layout, membership, weaknesses, form: WeaknessForm::default(), errors, status_form };
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        Err(other) => return Err(other),
    }
    flash(&session, FlashKind::Success, format!("Marked {}.", status.as_str())).await?;
    Ok(see_other(&format!("/teams/{}/weaknesses", membership.team.slug)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkForm {
    weakness: String,
}

/// A facilitator links a proposed scenario to a weakness it exercises (or unlinks it).
async fn link_weakness(
    State(state): State<AppState>,
    session: Session,
    ctx: GamedayCtx,
    Path(ScenarioPath { sid }): Path<ScenarioPath>,
    Form(form): Form<LinkForm>,
) -> AppResult<Response> {
    let weakness = match form.weakness.trim() {
        "" => None,
        w => Some(Uuid::parse_str(w).map_err(|_| AppError::invalid("weakness", "Choose a weakness from the list."))?),
    };
    actions::link(&state.db, ctx.gameday.id, sid.0, &ctx.user, weakness).await?;
    flash(&session, FlashKind::Success, if weakness.is_some() { "Linked to the weakness." } else { "Unlinked." })
        .await?;
    Ok(see_other(&format!("{}/scenarios/{sid}", ctx.url())))
}

/// A refuted scenario found a weakness: put it in the register, pointing back at the scenario.
async fn weakness_from_scenario(
    State(state): State<AppState>,
    session: Session,
    ScenarioCtx { day: ctx, scenario }: ScenarioCtx,
) -> AppResult<Response> {
    let user = &ctx.user;
    super::check_can_record_from(ctx.membership.role, ctx.role, scenario.outcome)?;
    let title = format!("{}: hypothesis refuted", scenario.fields.title);
    let description = format!(
        "Hypothesis: {}\nFound by \"{}\" in the game day \"{}\".{}",
        scenario.fields.hypothesis,
        scenario.fields.title,
        ctx.gameday.title,
        scenario.conclusion_note.as_deref().map(|n| format!("\n{n}")).unwrap_or_default()
    );
    // Within what the register's form allows: a title of 200 characters, a description of 4000.
    let title: String = title.chars().take(200).collect();
    let description: String = description.chars().take(4000).collect();
    let weakness = NewWeakness { title: &title, description: &description, found_in: Some(scenario.id) };
    actions::add(&state.db, &ctx.membership, user, weakness).await?;
    flash(&session, FlashKind::Success, "Added to the known-weakness register.").await?;
    Ok(see_other(&format!("/teams/{}/weaknesses", ctx.membership.team.slug)))
}

#[derive(Template)]
#[template(path = "weaknesses/incidents.html")]
struct IncidentsPage {
    layout: Layout,
    membership: Membership,
    incidents: Vec<Incident>,
    gamedays: Vec<(Uuid, String)>,
    form: IncidentForm,
    errors: FieldErrors,
}

impl IncidentsPage {
    /// Whether the viewer records incidents and replays them.
    fn can_keep(&self) -> bool {
        super::check_can_keep(self.membership.role).is_ok()
    }
}

async fn incidents_page(
    State(state): State<AppState>,
    layout: Layout,
    TeamCtx { membership, .. }: TeamCtx,
) -> AppResult<Response> {
    incidents_view(&state, layout, membership, IncidentForm::default(), FieldErrors::new()).await
}

async fn incidents_view(
    state: &AppState,
    layout: Layout,
    membership: Membership,
    form: IncidentForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let incidents = store::incidents(&state.db, membership.team.id).await?;
    let gamedays = crate::gamedays::store::open_gamedays(&state.db, membership.team.id).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    render_status(status, &IncidentsPage { layout, membership, incidents, gamedays, form, errors })
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct IncidentForm {
    title: String,
    happened_on: String,
    summary: String,
    link: String,
}

async fn add_incident(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Form(form): Form<IncidentForm>,
) -> AppResult<Response> {
    can_write(&membership)?;
    let mut errors = FieldErrors::new();
    let title = errors.check("title", bounded_text(&form.title, "The incident", 1, 200));
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let happened_on = errors.check(
        "happened_on",
        time::Date::parse(form.happened_on.trim(), &format).map_err(|_| "Enter the date like 2026-03-14.".to_owned()),
    );
    let summary = errors.check("summary", multiline(&form.summary, "The summary", 0, 4000));
    let link = errors.check("link", parse_link(&form.link, "The link"));
    let (Some(title), Some(happened_on), Some(summary), Some(link)) = (title, happened_on, summary, link) else {
        return incidents_view(&state, layout, membership, form, errors).await;
    };
    let incident = NewIncident { title: &title, happened_on, summary: &summary, link: link.as_deref() };
    actions::add_incident(&state.db, &membership, &user, incident).await?;
    flash(&session, FlashKind::Success, "Incident recorded. Replay it as a scenario to check the fix.").await?;
    Ok(see_other(&format!("/teams/{}/incidents", membership.team.slug)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReplayForm {
    gameday: String,
}

/// "Replay this incident": a scenario draft in a game day the person facilitates, linked to it.
async fn replay(
    State(state): State<AppState>,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
    Path(IncidentPath { iid }): Path<IncidentPath>,
    Form(form): Form<ReplayForm>,
) -> AppResult<Response> {
    let incident = store::incident(&state.db, membership.team.id, iid.0).await?.ok_or(AppError::NotFound)?;
    let not_open = || AppError::invalid("gameday", "Choose one of the team's open game days.");
    let gameday_id = Uuid::parse_str(form.gameday.trim()).map_err(|_| not_open())?;
    let ctx =
        load_gameday(&state, user.clone(), &membership.team.slug, gameday_id.into()).await.map_err(|_| not_open())?;
    let sid = super::actions::replay(&state.db, ctx.gameday.id, &user, &incident).await?;
    flash(
        &session,
        FlashKind::Success,
        "Scenario draft made from the incident. Fill in the target and the plan; then everyone signs it.",
    )
    .await?;
    Ok(see_other(&format!("{}/scenarios/{sid}/edit", ctx.url())))
}
