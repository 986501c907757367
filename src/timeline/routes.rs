//! The timeline page (with filters and the observation form) and corrections. The live stream
//! that keeps it current is `live.rs`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, ObservationForm};
use super::store;
use super::views::{EventView, views_for};
use super::{EventKind, Marker};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::scenarios::views::{Banner, RunCard, banners, focus, run_card};
use crate::state::AppState;
use crate::web::context::{GamedayCtx, Path};
use crate::web::refusal::{refused, status_of};
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/gamedays/{id}/timeline", get(page))
        .route("/teams/{slug}/gamedays/{id}/observations", post(observe))
        .route("/teams/{slug}/gamedays/{id}/events/{seq}/correct", post(correct))
}

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    scenario: Option<String>,
    kind: Option<String>,
}

/// A group of event kinds to filter by.
pub struct KindFilter {
    pub value: &'static str,
    pub label: &'static str,
}

pub const KIND_FILTERS: [KindFilter; 5] = [
    KindFilter { value: "observations", label: "Observations and corrections" },
    KindFilter { value: "faults", label: "Announce, inject, halt, roll back, conclude" },
    KindFilter { value: "signoffs", label: "Sign-offs" },
    KindFilter { value: "plan", label: "Plan and participants" },
    KindFilter { value: "lifecycle", label: "Schedule, start, end, retrospective" },
];

fn kind_matches(filter: &str, kind: &str) -> bool {
    let Some(kind) = EventKind::parse(kind) else { return false };
    match filter {
        "observations" => matches!(kind, EventKind::Observation | EventKind::Correction),
        "faults" => kind.is_fault_event(),
        "signoffs" => matches!(kind, EventKind::SignoffApproved | EventKind::SignoffObjected),
        "plan" => matches!(
            kind,
            EventKind::GamedayCreated
                | EventKind::GamedayUpdated
                | EventKind::ParticipantAdded
                | EventKind::ParticipantRoleChanged
                | EventKind::ParticipantRemoved
                | EventKind::ScenarioAdded
                | EventKind::ScenarioRevised
        ),
        "lifecycle" => matches!(
            kind,
            EventKind::GamedayScheduled
                | EventKind::GamedayStarted
                | EventKind::GamedayCompleted
                | EventKind::GamedayCancelled
                | EventKind::RetrospectiveInReview
                | EventKind::RetrospectivePublished
        ),
        _ => true,
    }
}

#[derive(Template)]
#[template(path = "timeline/page.html")]
struct TimelinePage {
    layout: Layout,
    ctx: GamedayCtx,
    events: Vec<EventView>,
    total: usize,
    last_seq: i64,
    scenarios: Vec<Scenario>,
    in_flight: Vec<Banner>,
    /// The control room's focus: the scenario in flight or next, with its buttons.
    focus: Option<RunCard>,
    filter_scenario: String,
    filter_kind: String,
    kind_filters: &'static [KindFilter; 5],
    markers: [Marker; 5],
    form: ObservationForm,
    errors: FieldErrors,
}

impl TimelinePage {
    fn filtered(&self) -> bool {
        !self.filter_scenario.is_empty() || !self.filter_kind.is_empty()
    }

    /// The control room's panel shows while the day is scheduled or running.
    fn shows_control(&self) -> bool {
        use crate::gamedays::GamedayStatus::{Running, Scheduled};
        matches!(self.ctx.gameday.status, Scheduled | Running)
    }

    fn can_observe(&self) -> bool {
        self.ctx.role.is_some()
    }

    fn open_for_observations(&self) -> bool {
        use crate::gamedays::GamedayStatus::{Completed, Running, Scheduled};
        matches!(self.ctx.gameday.status, Scheduled | Running | Completed)
    }

    /// The scenario an observation is most likely about: the first one in flight.
    fn default_scenario(&self) -> Option<Uuid> {
        self.in_flight.first().map(|b| b.scenario.id)
    }
}

async fn timeline_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    filters: Filters,
    form: ObservationForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let events = store::events(&state.db, ctx.gameday.id).await?;
    let last_seq = events.last().map(|e| e.seq).unwrap_or(0);
    let total = events.len();
    let zone = layout.zone().to_owned();
    let mut views = views_for(&events, &ctx.url(), &zone, ctx.user.id, ctx.role);
    let filter_scenario = filters.scenario.unwrap_or_default();
    let filter_kind = filters.kind.unwrap_or_default();
    if let Ok(id) = Uuid::parse_str(&filter_scenario) {
        let url = format!("{}/scenarios/{id}", ctx.url());
        views.retain(|v| v.scenario_url.as_deref() == Some(url.as_str()));
    }
    if !filter_kind.is_empty() {
        views.retain(|v| kind_matches(&filter_kind, &v.kind));
    }
    let scenarios = scenario_store::scenarios_of(&state.db, ctx.gameday.id).await?;
    let in_flight = banners(&scenarios, &events, &ctx.url());
    let focus = match focus(&scenarios) {
        Some(i) => Some(run_card(&state.db, &ctx.gameday, &ctx.url(), scenarios[i].clone(), &events, ctx.role).await?),
        None => None,
    };
    let status = status_of(&errors);
    let page = TimelinePage {
        layout,
        ctx,
        events: views,
        total,
        last_seq,
        scenarios,
        in_flight,
        focus,
        filter_scenario,
        filter_kind,
        kind_filters: &KIND_FILTERS,
        markers: Marker::ALL,
        form,
        errors,
    };
    render_status(status, &page)
}

async fn page(
    State(state): State<AppState>,
    layout: Layout,
    ctx: GamedayCtx,
    Query(filters): Query<Filters>,
) -> AppResult<Response> {
    timeline_page(&state, layout, ctx, filters, ObservationForm::default(), FieldErrors::new()).await
}

async fn observe(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    ctx: GamedayCtx,
    Form(form): Form<ObservationForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    let mut errors = FieldErrors::new();
    let Some(observation) = form.parse(&user.time_zone, time::OffsetDateTime::now_utc(), &mut errors) else {
        return timeline_page(&state, layout, ctx, Filters::default(), form, errors).await;
    };
    match actions::observe(&state.db, ctx.gameday.id, &user, &observation).await {
        Ok(seq) => {
            flash(&session, FlashKind::Success, format!("Logged as #{seq}.")).await?;
            Ok(see_other(&format!("{}/timeline#event-{seq}", ctx.url())))
        }
        Err(err) => {
            refused(err, &mut errors)?;
            timeline_page(&state, layout, ctx, Filters::default(), form, errors).await
        }
    }
}

#[derive(Deserialize)]
struct SeqPath {
    seq: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CorrectionForm {
    body: String,
}

async fn correct(
    State(state): State<AppState>,
    session: Session,
    ctx: GamedayCtx,
    Path(SeqPath { seq }): Path<SeqPath>,
    Form(form): Form<CorrectionForm>,
) -> AppResult<Response> {
    let user = &ctx.user;
    let body = crate::gamedays::multiline(&form.body, "The correction", 1, 4000).map_err(AppError::of_field("body"))?;
    let new = actions::correct(&state.db, ctx.gameday.id, user, seq, &body).await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Correction logged as #{new}; #{seq} stays as it was, marked corrected."),
    )
    .await?;
    Ok(see_other(&format!("{}/timeline#event-{seq}", ctx.url())))
}
