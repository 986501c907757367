//! The timeline page (with filters and the observation form) and corrections. The live stream
//! that keeps it current is `live.rs`.

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, ObservationForm};
use super::store;
use super::views::{EventView, window_views};
use super::{EventKind, Marker};
use crate::db::connection;
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::scenarios::views::{Banner, RunCard, banners, focus, run_card_of};
use crate::state::AppState;
use crate::web::context::{GamedayCtx, Path};
use crate::web::refusal::{refused, status_of};
use crate::web::{Flash, FlashKind, Layout, flash, render_status, see_other};

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
    /// Show the events before this sequence number (the "Earlier events" link).
    before: Option<String>,
    /// The observation the viewer just logged (where posting one leads): the page confirms it.
    logged: Option<String>,
}

/// How many events the timeline page shows at a time; "Earlier events" pages back.
pub const PAGE_SIZE: i64 = 100;

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

/// The kinds a filter keeps (empty: every kind).
fn kinds_of(filter: &str) -> Vec<String> {
    if !KIND_FILTERS.iter().any(|k| k.value == filter) {
        return Vec::new();
    }
    EventKind::ALL.iter().filter(|k| kind_matches(filter, k.as_str())).map(|k| k.as_str().to_owned()).collect()
}

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
    total: i64,
    last_seq: i64,
    /// Where the window starts when it is not the latest events (`before` of the address).
    before: Option<i64>,
    /// The address of the earlier events, if there are any.
    earlier_url: Option<String>,
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

    /// Whether new events are appended as they come (the latest events, unfiltered); otherwise
    /// the page says that new events arrived.
    fn follows_live(&self) -> bool {
        !self.filtered() && self.before.is_none()
    }

    /// The address of the latest events with the same filters.
    fn latest_url(&self) -> String {
        filtered_url(&self.ctx.url(), &self.filter_scenario, &self.filter_kind, None)
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
    mut layout: Layout,
    ctx: GamedayCtx,
    filters: Filters,
    form: ObservationForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let filter_scenario = filters.scenario.unwrap_or_default();
    let filter_kind = filters.kind.unwrap_or_default();
    let before = filters.before.as_deref().and_then(|b| b.trim().parse::<i64>().ok()).filter(|b| *b > 0);
    let filter = store::WindowFilter {
        before,
        // A scenario id that does not parse matches nothing, as one of another game day does.
        scenario: match filter_scenario.as_str() {
            "" => None,
            id => Some(Uuid::parse_str(id).unwrap_or(Uuid::nil())),
        },
        kinds: kinds_of(&filter_kind),
    };
    let mut db = connection(&state.db).await?;
    let store::DayEvents { window, key } = store::day_events(&mut *db, ctx.gameday.id, &filter, PAGE_SIZE).await?;
    // Posting an observation leads here with its number rather than a message kept in the session
    // (a write per observation saved); the page confirms it only to its author.
    let logged = filters.logged.as_deref().and_then(|n| n.trim().parse::<i64>().ok());
    // (It replaces an older message not yet shown, as a newer flash message would.)
    if let Some(seq) = logged.filter(|seq| {
        window
            .events
            .iter()
            .any(|e| e.seq == *seq && e.actor == Some(ctx.user.id) && e.kind() == Some(super::EventKind::Observation))
    }) {
        layout.flash = Some(Flash { kind: FlashKind::Success, message: format!("Logged as #{seq}.") });
    }
    let views = window_views(&window, &ctx.url(), layout.zone(), ctx.user.id, ctx.role);
    let earlier_url = window.earlier.map(|e| filtered_url(&ctx.url(), &filter_scenario, &filter_kind, Some(e)));
    // Every scenario with what a run card reads: the focus is chosen among them by the rules.
    let mut to_run = scenario_store::scenarios_to_run(&mut *db, ctx.gameday.id).await?;
    drop(db);
    let scenarios: Vec<Scenario> = to_run.iter().map(|s| s.scenario.clone()).collect();
    let in_flight = banners(&scenarios, &key, &ctx.url());
    let focus = focus(&scenarios).map(|i| run_card_of(&ctx.gameday, &ctx.url(), to_run.swap_remove(i), &key, ctx.role));
    let (total, last_seq) = (ctx.gameday.last_event_seq, ctx.gameday.last_event_seq);
    let status = status_of(&errors);
    let page = TimelinePage {
        layout,
        ctx,
        events: views,
        total,
        last_seq,
        before,
        earlier_url,
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

/// The timeline's address with these filters, before `before` if given.
fn filtered_url(base: &str, scenario: &str, kind: &str, before: Option<i64>) -> String {
    let mut query = Vec::new();
    if !scenario.is_empty() {
        query.push(("scenario", scenario.to_owned()));
    }
    if !kind.is_empty() {
        query.push(("kind", kind.to_owned()));
    }
    if let Some(before) = before {
        query.push(("before", before.to_string()));
    }
    match serde_urlencoded::to_string(&query).unwrap_or_default() {
        q if q.is_empty() => format!("{base}/timeline"),
        q => format!("{base}/timeline?{q}"),
    }
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
    mut parts: Parts,
    ctx: GamedayCtx,
    Form(form): Form<ObservationForm>,
) -> AppResult<Response> {
    let user = ctx.user.clone();
    let mut errors = FieldErrors::new();
    let Some(observation) = form.parse(&user.time_zone, time::OffsetDateTime::now_utc(), &mut errors) else {
        let layout = Layout::from_request_parts(&mut parts, &state).await?;
        return timeline_page(&state, layout, ctx, Filters::default(), form, errors).await;
    };
    match actions::observe(&state.db, ctx.gameday.id, &user, ctx.role, &observation).await {
        // No flash message: the page it leads to confirms the number (see `timeline_page`).
        Ok(seq) => Ok(see_other(&format!("{}/timeline?logged={seq}#event-{seq}", ctx.url()))),
        Err(err) => {
            refused(err, &mut errors)?;
            // The page's frame is read only when the page is shown again: the busiest write
            // (an observation that is taken) answers with a redirect and needs none.
            let layout = Layout::from_request_parts(&mut parts, &state).await?;
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
    let body = super::correction_body(&form.body).map_err(AppError::of_field("body"))?;
    let new = actions::correct(&state.db, ctx.gameday.id, user, seq, &body).await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Correction logged as #{new}; #{seq} stays as it was, marked corrected."),
    )
    .await?;
    Ok(see_other(&format!("{}/timeline#event-{seq}", ctx.url())))
}
