//! Live updates, both ends: the listener that fills this instance's [`Hub`] from PostgreSQL,
//! and the Server-Sent Events stream that an open page reads from it.
//!
//! PostgreSQL is the source of truth and `NOTIFY` only the wake-up call: on a notification the
//! listener reads the new events of that game day from the database, renders each once with the
//! same partial the page uses, and broadcasts the bytes to this instance's subscribers. Missed
//! wake-ups (a dropped listener connection) are caught up from the database, and a periodic
//! check catches anything else, so no instance misses an event.
//!
//! A stream's ids are sequence numbers: a client that reconnects with `Last-Event-ID` is sent
//! exactly what it missed, from the database, so no event is lost or shown twice.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::AppResult;
use crate::events::NOTIFY_CHANNEL;
use crate::gamedays::views::render_state_parts;
use crate::gamedays::{audience, store as gameday_store};
use crate::hub::Audience;
use crate::hub::{Hub, Live};
use crate::scenarios::store as scenario_store;
use crate::scenarios::views::render_banners;
use crate::state::AppState;
use crate::teams::store as team_store;
use crate::timeline::store as timeline_store;
use crate::timeline::views::{EventView, render_event, views};
use crate::timeline::{Event, EventKind};
use crate::web::context::GamedayCtx;

pub fn router() -> Router<AppState> {
    Router::new().route("/teams/{slug}/gamedays/{id}/live", get(live))
}

/// Starts this instance's listener task, which runs until the hub's shutdown token is cancelled.
pub fn start(state: &AppState) {
    let check = Duration::from_millis(state.config.live_check_ms.max(50));
    tokio::spawn(listen(state.db.clone(), state.live.clone(), check));
}

/// Renders events for the stream, in order. An event whose partial fails to render is logged
/// with its game day and sequence number and left out (never sent as an empty message).
fn rendered(gameday_id: Uuid, views: &[EventView]) -> Vec<(i64, Arc<str>)> {
    views
        .iter()
        .filter_map(|view| match render_event(view) {
            Ok(html) => Some((view.seq, html.into())),
            Err(err) => {
                tracing::error!(error = %err, gameday = %gameday_id, seq = view.seq, "live: rendering an event failed; it is not streamed");
                None
            }
        })
        .collect()
}

/// Reads a game day's events after what was broadcast, renders and broadcasts them.
async fn publish(db: &PgPool, hub: &Hub, gameday_id: Uuid) -> AppResult<()> {
    let Some((after, base)) = hub.position(gameday_id) else { return Ok(()) };
    let events = timeline_store::events_after(db, gameday_id, after).await?;
    if events.is_empty() {
        return Ok(());
    }
    let messages = rendered(gameday_id, &views(&events, &base, "UTC"));
    let state =
        if events.iter().any(changes_state) { state_messages(db, gameday_id, &base).await? } else { Vec::new() };
    hub.broadcast(gameday_id, messages, state);
    Ok(())
}

/// Whether an event changes what the state parts of a page show: anything but an observation
/// or a correction, and an observation with a marker (it moves the timings).
fn changes_state(event: &Event) -> bool {
    match event.kind() {
        Some(EventKind::Observation) => event.marker().is_some(),
        Some(EventKind::Correction) => false,
        _ => true,
    }
}

/// The fault banners and the state parts of a game day's pages, for each kind of viewer.
async fn state_messages(db: &PgPool, gameday_id: Uuid, base: &str) -> AppResult<Vec<Live>> {
    let Some(gameday) = gameday_store::gameday(db, gameday_id).await? else { return Ok(Vec::new()) };
    let scenarios = scenario_store::scenarios_of(db, gameday_id).await?;
    let events = timeline_store::events(db, gameday_id).await?;
    let mut messages = Vec::new();
    for audience in Audience::ALL {
        messages.push(Live::Banners { audience, html: render_banners(&scenarios, base, audience)?.into() });
    }
    for (audience, html) in render_state_parts(db, (&gameday, base), &scenarios, &events, &Audience::ALL).await? {
        messages.push(Live::Parts { audience, html: html.into() });
    }
    Ok(messages)
}

/// Catches up every watched game day from the database.
async fn catch_up(db: &PgPool, hub: &Hub) -> AppResult<()> {
    let watched = hub.watched();
    if watched.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = watched.iter().map(|(id, _)| *id).collect();
    for (id, last) in timeline_store::last_seqs(db, &ids).await? {
        if watched.iter().any(|(w, seen)| *w == id && *seen < last) {
            publish(db, hub, id).await?;
        }
    }
    Ok(())
}

/// The listener task: LISTEN, publish on each wake-up, and catch up after any gap; every
/// `check`, compare watched game days with the database whatever NOTIFY said.
async fn listen(db: PgPool, hub: Arc<Hub>, check: Duration) {
    let mut safety = tokio::time::interval(check);
    safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Duration::from_millis(100);
    loop {
        if hub.shutdown.is_cancelled() {
            return;
        }
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(mut listener) => match listener.listen(NOTIFY_CHANNEL).await {
                Ok(()) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "live hub: LISTEN failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "live hub: cannot connect the listener; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Listening again: whatever was committed while we were not is read now.
        if let Err(err) = catch_up(&db, &hub).await {
            tracing::warn!(error = %err, "live hub: catch-up failed");
        }
        loop {
            let next = tokio::select! {
                () = hub.shutdown.cancelled() => return,
                _ = safety.tick() => {
                    if let Err(err) = catch_up(&db, &hub).await {
                        tracing::warn!(error = %err, "live hub: periodic catch-up failed");
                    }
                    continue;
                }
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(first)) => {
                    let mut woken = vec![first];
                    while let Some(more) = listener.next_buffered() {
                        woken.push(more);
                    }
                    let mut gamedays: Vec<Uuid> = woken
                        .iter()
                        .filter_map(|n| n.payload().split_once(':').and_then(|(id, _)| Uuid::parse_str(id).ok()))
                        .collect();
                    gamedays.sort();
                    gamedays.dedup();
                    for id in gamedays {
                        if let Err(err) = publish(&db, &hub, id).await {
                            tracing::warn!(error = %err, gameday = %id, "live hub: publishing failed");
                        }
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::warn!("live hub: listener connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LiveQuery {
    after: Option<i64>,
}

/// The live stream of a game day: Server-Sent Events whose ids are sequence numbers. A client
/// that reconnects with `Last-Event-ID` gets exactly what it missed, from the database.
async fn live(
    State(state): State<AppState>,
    ctx: GamedayCtx,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let gameday_id = ctx.gameday.id;
    let base = ctx.url();
    let current = timeline_store::last_seqs(&state.db, &[gameday_id]).await?.first().map(|(_, s)| *s).unwrap_or(0);
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let after = last_event_id.or(query.after).unwrap_or(current).clamp(0, current.max(0));
    // Subscribe first, then read the backlog: nothing committed in between can fall through.
    let receiver = state.live.subscribe(gameday_id, current, &base);
    let mut pending: VecDeque<(i64, SseEvent)> = VecDeque::new();
    // The banners as they stand now come first: a page that reconnects may have missed a change.
    let me = audience(ctx.role);
    pending.extend(current_state(&state.db, &ctx.gameday, &base, me).await?);
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
        user_id: ctx.user.id,
        audience: me,
        checked_at: tokio::time::Instant::now(),
    };
    Ok(Sse::new(stream.into_stream()).keep_alive(KeepAlive::default()).into_response())
}

/// Events after `after`, rendered for the stream.
async fn rendered_after(db: &PgPool, gameday_id: Uuid, after: i64, base: &str) -> AppResult<Vec<(i64, SseEvent)>> {
    let events = timeline_store::events_after(db, gameday_id, after).await?;
    let views = views(&events, base, "UTC");
    Ok(rendered(gameday_id, &views).into_iter().map(|(seq, html)| (seq, event_message(seq, &html))).collect())
}

fn event_message(seq: i64, html: &str) -> SseEvent {
    SseEvent::default().id(seq.to_string()).data(html)
}

/// The banners and state parts of a game day's pages for one kind of viewer, as they stand now
/// (sent first on every connection, so a page that missed a change is never left stale).
async fn current_state(
    db: &PgPool,
    gameday: &crate::gamedays::Gameday,
    base: &str,
    me: Audience,
) -> AppResult<Vec<(i64, SseEvent)>> {
    let scenarios = scenario_store::scenarios_of(db, gameday.id).await?;
    let events = timeline_store::events(db, gameday.id).await?;
    let mut messages = vec![(0, banners_message(&render_banners(&scenarios, base, me)?))];
    for (_, html) in render_state_parts(db, (gameday, base), &scenarios, &events, &[me]).await? {
        messages.push((0, parts_message(&html)));
    }
    Ok(messages)
}

fn parts_message(html: &str) -> SseEvent {
    SseEvent::default().event("parts").data(html)
}

fn banners_message(html: &str) -> SseEvent {
    SseEvent::default().event("banners").data(html)
}

/// How often an open stream checks that its viewer is still in the team.
const MEMBERSHIP_CHECK: Duration = Duration::from_secs(30);

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
    /// The kind of viewer this stream is for: which banners and page parts it is sent.
    audience: Audience,
    checked_at: tokio::time::Instant,
}

impl LiveStream {
    fn into_stream(self) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures_util::stream::unfold(self, |mut s| async move {
            let event = s.next().await?;
            Some((Ok(event), s))
        })
    }

    /// The next message for this client; None ends the stream (shutdown, the viewer left the
    /// team, or a database error that the client recovers from by reconnecting with its
    /// Last-Event-ID). Every end but shutdown is logged with the game day.
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
                    match team_store::is_member(&self.db, self.team_id, self.user_id).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::info!(gameday = %self.gameday_id, user = %self.user_id, "live stream ended: the viewer left the team");
                            return None;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, gameday = %self.gameday_id, "live stream ended: the membership check failed");
                            return None;
                        }
                    }
                    self.checked_at = tokio::time::Instant::now();
                    continue;
                }
                message = self.receiver.recv() => message,
            };
            match message {
                Ok(live) => match &*live {
                    Live::Event { seq, html } => {
                        if *seq <= self.last_sent {
                            continue;
                        }
                        if *seq > self.last_sent + 1 {
                            // A gap: read what is missing from the database, in order.
                            self.resync().await?;
                            continue;
                        }
                        self.pending.push_back((*seq, event_message(*seq, html)));
                    }
                    Live::Banners { audience, html } if *audience == self.audience => {
                        self.pending.push_back((0, banners_message(html)))
                    }
                    Live::Parts { audience, html } if *audience == self.audience => {
                        self.pending.push_back((0, parts_message(html)))
                    }
                    Live::Banners { .. } | Live::Parts { .. } => {}
                },
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, gameday = %self.gameday_id, "live stream lagged; resynchronising from the database");
                    self.resync().await?;
                }
                Err(RecvError::Closed) => {
                    tracing::warn!(gameday = %self.gameday_id, "live stream ended: the hub's channel closed");
                    return None;
                }
            }
        }
    }

    /// Reads what this client has not been sent from the database; None (logged) ends the stream.
    async fn resync(&mut self) -> Option<()> {
        let read = async {
            let missing = rendered_after(&self.db, self.gameday_id, self.last_sent, &self.base).await?;
            let state = match gameday_store::gameday(&self.db, self.gameday_id).await? {
                Some(gameday) => current_state(&self.db, &gameday, &self.base, self.audience).await?,
                None => Vec::new(),
            };
            AppResult::Ok((missing, state))
        };
        match read.await {
            Ok((missing, state)) => {
                self.pending.extend(missing);
                self.pending.extend(state);
                Some(())
            }
            Err(err) => {
                tracing::warn!(error = %err, gameday = %self.gameday_id, after = self.last_sent, "live stream ended: resynchronising failed; the client reconnects");
                None
            }
        }
    }
}
