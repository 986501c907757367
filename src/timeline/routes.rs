//! The timeline page (with filters and the observation form), corrections, and the live stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use futures_util::Stream;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use tower_sessions::Session;
use uuid::Uuid;

use super::actions::{self, ObservationForm};
use super::store;
use super::{EventKind, EventView, Marker, views};
use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::gamedays::routes::{GamedayContext, load};
use crate::live::{Live, render_event};
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::web::{FlashKind, Layout, flash, render_status, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/gamedays/{id}/timeline", get(page))
        .route("/teams/{slug}/gamedays/{id}/observations", post(observe))
        .route("/teams/{slug}/gamedays/{id}/events/{seq}/correct", post(correct))
        .route("/teams/{slug}/gamedays/{id}/live", get(live))
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
    ctx: GamedayContext,
    events: Vec<EventView>,
    total: usize,
    last_seq: i64,
    scenarios: Vec<Scenario>,
    in_flight: Vec<Scenario>,
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

    fn can_observe(&self) -> bool {
        self.ctx.role.is_some()
    }

    fn open_for_observations(&self) -> bool {
        use crate::gamedays::GamedayStatus::{Completed, Running, Scheduled};
        matches!(self.ctx.gameday.status, Scheduled | Running | Completed)
    }

    /// The scenario an observation is most likely about: the first one in flight.
    fn default_scenario(&self) -> Option<Uuid> {
        self.in_flight.first().map(|s| s.id)
    }
}

async fn timeline_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayContext,
    filters: Filters,
    form: ObservationForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let events = store::events(&state.db, ctx.gameday.id).await?;
    let last_seq = events.last().map(|e| e.seq).unwrap_or(0);
    let total = events.len();
    let zone = layout.zone().to_owned();
    let mut views = views(&events, &ctx.url(), &zone);
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
    let in_flight = scenarios.iter().filter(|s| s.state.in_flight()).cloned().collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = TimelinePage {
        layout,
        ctx,
        events: views,
        total,
        last_seq,
        scenarios,
        in_flight,
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
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
    Query(filters): Query<Filters>,
) -> AppResult<Response> {
    let ctx = load(&state, &slug, &id, &user).await?;
    timeline_page(&state, layout, ctx, filters, ObservationForm::default(), FieldErrors::new()).await
}

async fn observe(
    State(state): State<AppState>,
    layout: Layout,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<ObservationForm>,
) -> AppResult<Response> {
    let ctx = load(&state, &slug, &id, &user).await?;
    let mut errors = FieldErrors::new();
    let Some(observation) = form.parse(&user.time_zone, time::OffsetDateTime::now_utc(), &mut errors) else {
        return timeline_page(&state, layout, ctx, Filters::default(), form, errors).await;
    };
    match actions::observe(&state.db, ctx.gameday.id, &user, &observation).await {
        Ok(seq) => {
            flash(&session, FlashKind::Success, format!("Logged as #{seq}.")).await?;
            Ok(see_other(&format!("{}/timeline#event-{seq}", ctx.url())))
        }
        Err(AppError::Validation(message)) | Err(AppError::Conflict(message)) => {
            let field = if message.contains("time") {
                "observed_at"
            } else if message.contains("scenario") {
                "scenario"
            } else {
                "body"
            };
            errors.add(field, message);
            timeline_page(&state, layout, ctx, Filters::default(), form, errors).await
        }
        Err(err) => Err(err),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CorrectionForm {
    body: String,
}

async fn correct(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path((slug, id, seq)): Path<(String, String, String)>,
    Form(form): Form<CorrectionForm>,
) -> AppResult<Response> {
    let ctx = load(&state, &slug, &id, &user).await?;
    let seq: i64 = seq.parse().map_err(|_| AppError::NotFound)?;
    let body = crate::gamedays::multiline(&form.body, "The correction", 1, 4000).map_err(AppError::Validation)?;
    let new = actions::correct(&state.db, ctx.gameday.id, &user, seq, &body).await?;
    flash(
        &session,
        FlashKind::Success,
        format!("Correction logged as #{new}; #{seq} stays as it was, marked corrected."),
    )
    .await?;
    Ok(see_other(&format!("{}/timeline#event-{seq}", ctx.url())))
}

#[derive(Debug, Default, Deserialize)]
pub struct LiveQuery {
    after: Option<i64>,
}

/// The live stream of a game day: Server-Sent Events whose ids are sequence numbers. A client
/// that reconnects with `Last-Event-ID` gets exactly what it missed, from the database.
async fn live(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let ctx = load(&state, &slug, &id, &user).await?;
    let gameday_id = ctx.gameday.id;
    let base = ctx.url();
    let current = store::last_seqs(&state.db, &[gameday_id]).await?.first().map(|(_, s)| *s).unwrap_or(0);
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let after = last_event_id.or(query.after).unwrap_or(current).clamp(0, current.max(0));
    // Subscribe first, then read the backlog: nothing committed in between can fall through.
    let receiver = state.live.subscribe(gameday_id, current, &base);
    let mut pending: VecDeque<(i64, SseEvent)> = VecDeque::new();
    // The banners as they stand now come first: a page that reconnects may have missed a change.
    pending.push_back((0, banners_message(&crate::live::render_banners(&state.db, gameday_id, &base).await?)));
    pending.extend(rendered_after(&state.db, gameday_id, after, &base).await?);
    let stream = LiveStream {
        receiver,
        pending,
        last_sent: after,
        db: state.db.clone(),
        gameday_id,
        base,
        shutdown: state.live.shutdown.clone(),
        team_id: ctx.membership.team.id,
        user_id: user.id,
        checked_at: tokio::time::Instant::now(),
    };
    Ok(Sse::new(stream.into_stream()).keep_alive(KeepAlive::default()).into_response())
}

/// Events after `after`, rendered for the stream.
async fn rendered_after(db: &PgPool, gameday_id: Uuid, after: i64, base: &str) -> sqlx::Result<Vec<(i64, SseEvent)>> {
    let events = store::events_after(db, gameday_id, after).await?;
    Ok(views(&events, base, "UTC").iter().map(|v| (v.seq, event_message(v.seq, &render_event(v)))).collect())
}

fn event_message(seq: i64, html: &str) -> SseEvent {
    SseEvent::default().id(seq.to_string()).data(html)
}

fn banners_message(html: &str) -> SseEvent {
    SseEvent::default().event("banners").data(html)
}

/// How often an open stream checks that its viewer is still in the team.
const MEMBERSHIP_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

struct LiveStream {
    receiver: broadcast::Receiver<Arc<Live>>,
    pending: VecDeque<(i64, SseEvent)>,
    last_sent: i64,
    db: PgPool,
    gameday_id: Uuid,
    base: String,
    shutdown: CancellationToken,
    team_id: Uuid,
    user_id: Uuid,
    checked_at: tokio::time::Instant,
}

impl LiveStream {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures_util::stream::unfold(self, |mut s| async move {
            let event = s.next().await?;
            Some((Ok(event), s))
        })
    }

    /// The next message for this client; None ends the stream (shutdown, or a database error
    /// that the client recovers from by reconnecting with its Last-Event-ID).
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            while let Some((seq, event)) = self.pending.pop_front() {
                // seq 0 marks a message that is not a timeline event (banners).
                if seq == 0 {
                    return Some(event);
                }
                if seq > self.last_sent {
                    self.last_sent = seq;
                    return Some(event);
                }
            }
            let recheck = tokio::time::sleep_until(self.checked_at + MEMBERSHIP_CHECK);
            let message = tokio::select! {
                () = self.shutdown.cancelled() => return None,
                () = recheck => {
                    // Someone removed from the team stops receiving its events.
                    let member = crate::teams::store::is_member(&self.db, self.team_id, self.user_id).await.ok()?;
                    if !member {
                        return None;
                    }
                    self.checked_at = tokio::time::Instant::now();
                    continue;
                }
                message = self.receiver.recv() => message,
            };
            match message {
                Ok(live) => match &*live {
                    Live::Event { seq, html, .. } => {
                        if *seq <= self.last_sent {
                            continue;
                        }
                        if *seq > self.last_sent + 1 {
                            // A gap: read what is missing from the database, in order.
                            self.resync().await.ok()?;
                            continue;
                        }
                        self.pending.push_back((*seq, event_message(*seq, html)));
                    }
                    Live::Banners { html } => self.pending.push_back((0, banners_message(html))),
                },
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "live stream lagged; resynchronising from the database");
                    self.resync().await.ok()?;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    async fn resync(&mut self) -> sqlx::Result<()> {
        let missing = rendered_after(&self.db, self.gameday_id, self.last_sent, &self.base).await?;
        let banners = crate::live::render_banners(&self.db, self.gameday_id, &self.base).await?;
        self.pending.extend(missing);
        self.pending.push_back((0, banners_message(&banners)));
        Ok(())
    }
}
