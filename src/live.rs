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
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use crate::config::Config;
use crate::error::AppResult;
use crate::events::NOTIFY_CHANNEL;
use crate::gamedays::views::render_state_parts;
use crate::gamedays::{audience, store as gameday_store};
use crate::hub::Audience;
use crate::hub::{Hub, Live, Notice, Nudge, StreamSlot};
use crate::scenarios::store as scenario_store;
use crate::scenarios::store::signoffs::{self as signoff_store, AwaitingSignoff};
use crate::scenarios::views::{banners, elsewhere, render_banners, render_elsewhere, render_signoff_requests};
use crate::state::AppState;
use crate::teams::store as team_store;
use crate::timeline::store::{self as timeline_store, EventPlace};
use crate::timeline::views::{ApiEvent, EventView, render_event, views};
use crate::timeline::{Event, EventKind};
use crate::web::Rendered;
use crate::web::auth::{AuthSession, CurrentUser, account_session};
use crate::web::context::{GamedayCtx, membership_or_404};
use crate::web::metrics::OpenStream;

pub fn router() -> Router<AppState> {
    Router::new().route("/teams/{slug}/gamedays/{id}/live", get(live)).route("/live", get(my_live))
}

/// Starts this instance's listener task, which runs until the hub's shutdown token is cancelled.
pub fn start(state: &AppState) {
    let check = Duration::from_millis(state.config.live_check_ms.max(50));
    tokio::spawn(listen(state.db.clone(), state.live.clone(), check));
}

/// Renders events for the stream, in order. An event whose partial fails to render is logged
/// with its game day and sequence number and left out (never sent as an empty message).
fn rendered(gameday_id: Uuid, views: &[EventView]) -> Vec<(i64, Bytes)> {
    views
        .iter()
        .filter_map(|view| match render_event(view) {
            Ok(html) => Some((view.seq, event_message(view.seq, &html))),
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
    let events = timeline_store::key_events(db, gameday_id).await?;
    let mut messages = Vec::new();
    let in_flight = banners(&scenarios, &events, base);
    for audience in Audience::ALL {
        messages.push(Live::Banners { audience, sse: banners_message(&render_banners(&in_flight, audience)?) });
    }
    for (audience, html) in render_state_parts(db, (&gameday, base), &scenarios, &events, &Audience::ALL).await? {
        messages.push(Live::Parts { audience, sse: parts_message(&html) });
    }
    Ok(messages)
}

/// A NOTIFY payload: `game-day-id:seq`.
fn woken_event(payload: &str) -> Option<(Uuid, i64)> {
    let (id, seq) = payload.split_once(':')?;
    Some((Uuid::parse_str(id).ok()?, seq.parse().ok()?))
}

/// Tells the per-person streams which teams' faults or sign-offs may have changed, with a
/// notification for what people should hear about even when their page is hidden.
async fn nudge_people(db: &PgPool, hub: &Hub, events: &[(Uuid, i64)]) -> AppResult<()> {
    let places = timeline_store::event_places(db, events).await?;
    let nudges = places
        .into_iter()
        .filter_map(|place| {
            let kind = EventKind::parse(&place.kind)?;
            if matches!(kind, EventKind::Observation | EventKind::Correction) {
                return None;
            }
            Some(Nudge { team_id: place.team_id, gameday_id: place.gameday_id, notice: notice(kind, &place) })
        })
        .collect();
    hub.nudge(nudges);
    Ok(())
}

/// What a fault's change of state says in a browser notification.
fn notice(kind: EventKind, place: &EventPlace) -> Option<Notice> {
    let what = match kind {
        EventKind::ScenarioAnnounced => "Announced",
        EventKind::ScenarioInjected => "Injected",
        EventKind::ScenarioHalted => "Halted",
        EventKind::ScenarioRolledBack => "Rolled back",
        _ => return None,
    };
    let scenario = place.scenario_id?;
    Some(Notice {
        title: format!("{what}: {}", place.scenario_title.as_deref().unwrap_or("a scenario")),
        body: format!("{} · {}", place.team_name, place.gameday_title),
        url: format!("/teams/{}/gamedays/{}/scenarios/{scenario}", place.team_slug, place.gameday_id),
        tag: format!("fault-{scenario}"),
    })
}

/// The parts of a page that follow one person across their teams: the banners of faults in
/// flight away from the game day the page belongs to, and the scenarios waiting for their
/// sign-off (of one team, on a team page). Each is sent only when it changed.
struct PersonParts {
    db: PgPool,
    hub: Arc<Hub>,
    user_id: Uuid,
    /// The `account_sessions` id of the session that opened the stream.
    session: Option<Uuid>,
    /// The game day the page belongs to (its own banners come with its own stream).
    here: Option<Uuid>,
    /// The team page's team slug, whose sign-off requests the page shows.
    scope: Option<String>,
    /// Whether the page shows the sign-off requests (a game day's pages do not).
    with_requests: bool,
    /// The teams the person is in (nudges for other teams are ignored).
    teams: Vec<Uuid>,
    /// What was last sent of each part.
    sent_banners: Option<String>,
    sent_requests: Option<String>,
    /// The scenarios that waited for a sign-off when last read: a new one is worth a notification.
    awaiting: Option<Vec<Uuid>>,
    /// [`Hub::listens`] when the parts were last read.
    read_at_listen: u64,
    /// Periodic checks since the parts were last read.
    checks_since_read: u32,
}

/// What the periodic check of a stream found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    /// The session has ended, or (on a game day's stream) the viewer is no longer in its team.
    Ended,
    /// Nothing to do.
    Fine,
    /// The parts are to be read again: the viewer's teams changed, the listener restarted since
    /// they were read (a nudge may have been lost), or they were not read for a while.
    ReadAgain,
}

/// Every so many periodic checks the parts are read again whatever the nudges said.
const READ_AGAIN_EVERY: u32 = 10;

impl PersonParts {
    async fn new(
        state: &AppState,
        user_id: Uuid,
        session: Option<Uuid>,
        here: Option<Uuid>,
        scope: Option<String>,
    ) -> AppResult<PersonParts> {
        let teams = team_store::team_ids_of(&state.db, user_id).await?;
        Ok(PersonParts {
            db: state.db.clone(),
            hub: state.live.clone(),
            user_id,
            session,
            here,
            scope,
            with_requests: here.is_none(),
            teams,
            sent_banners: None,
            sent_requests: None,
            awaiting: None,
            read_at_listen: 0,
            checks_since_read: 0,
        })
    }

    fn cares_about(&self, nudge: &Nudge) -> bool {
        self.teams.contains(&nudge.team_id)
    }

    /// The periodic check, in one statement: whether the session this stream was opened by is
    /// still signed in (not ended from another device, by a password change or "sign out
    /// everywhere", nor past its lifetime) and, on a game day's stream, its viewer still in
    /// `team` (not removed, nor shut out by its two-factor rule); and the viewer's teams again
    /// (someone added to a team hears of it from now on).
    async fn check(&mut self, team: Option<Uuid>) -> AppResult<Checked> {
        let Some(session) = self.session else { return Ok(Checked::Ended) };
        let (signed_in, teams) = team_store::standing(&self.db, self.user_id, session).await?;
        if !signed_in || team.is_some_and(|team| !teams.contains(&team)) {
            return Ok(Checked::Ended);
        }
        self.checks_since_read += 1;
        let again = teams != self.teams
            || self.hub.listens() != self.read_at_listen
            || self.checks_since_read >= READ_AGAIN_EVERY;
        self.teams = teams;
        Ok(if again { Checked::ReadAgain } else { Checked::Fine })
    }

    /// Reads both parts and returns what changed since last sent (everything, the first time):
    /// the parts' HTML, and a notification for each scenario that newly waits for a sign-off.
    async fn changed(&mut self) -> AppResult<(String, Vec<Notice>)> {
        // Noted before reading: a listener that restarts meanwhile makes the next check read again.
        self.read_at_listen = self.hub.listens();
        self.checks_since_read = 0;
        let mut html = String::new();
        let banners = render_elsewhere(&elsewhere(&self.db, self.user_id, self.here).await?)?;
        if self.sent_banners.as_ref() != Some(&banners) {
            html.push_str(&banners);
            self.sent_banners = Some(banners);
        }
        let awaiting: Vec<AwaitingSignoff> = signoff_store::awaiting_signoff(&self.db, self.user_id)
            .await?
            .into_iter()
            .filter(|a| self.scope.as_ref().is_none_or(|slug| *slug == a.team_slug))
            .collect();
        if self.with_requests {
            let requests = render_signoff_requests(&awaiting, self.scope.clone())?;
            if self.sent_requests.as_ref() != Some(&requests) {
                html.push_str(&requests);
                self.sent_requests = Some(requests);
            }
        }
        let mut notices = Vec::new();
        if let Some(before) = &self.awaiting {
            for a in awaiting.iter().filter(|a| !before.contains(&a.scenario_id)) {
                notices.push(Notice {
                    title: format!("Waiting for your sign-off: {}", a.title),
                    body: format!("Revision {} · {}", a.revision, a.gameday_title),
                    url: format!("/teams/{}/gamedays/{}/scenarios/{}", a.team_slug, a.gameday_id, a.scenario_id),
                    tag: format!("signoff-{}-{}", a.scenario_id, a.revision),
                });
            }
        }
        self.awaiting = Some(awaiting.iter().map(|a| a.scenario_id).collect());
        Ok((html, notices))
    }

    /// [`Self::changed`] as stream messages: the parts first, then the notifications.
    async fn messages(&mut self) -> AppResult<Vec<Bytes>> {
        let (html, notices) = self.changed().await?;
        let parts = (!html.is_empty()).then(|| parts_message(&html));
        Ok(parts.into_iter().chain(notices.iter().map(notice_message)).collect())
    }
}

fn notice_message(notice: &Notice) -> Bytes {
    sse_message(Some("notify"), None, &serde_json::to_string(notice).unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
pub struct MyLiveQuery {
    /// A team page's team: its sign-off requests are the ones sent.
    team: Option<String>,
}

/// A person's own stream, for the pages that are not a game day's: the faults in flight in
/// their teams, their sign-off requests, and notifications.
async fn my_live(
    State(state): State<AppState>,
    auth: AuthSession,
    CurrentUser(user): CurrentUser,
    Query(query): Query<MyLiveQuery>,
) -> AppResult<Response> {
    let scope = match query.team {
        Some(slug) => Some(membership_or_404(&state, &slug, &user).await?.team.slug),
        None => None,
    };
    let Ok(slot) = state.live.open_stream(user.id) else { return Ok(streams_full()) };
    // Subscribe first, then read: nothing that happens in between can fall through.
    let receiver = state.live.subscribe_people();
    let session = account_session(&auth).await?;
    let mut parts = PersonParts::new(&state, user.id, session, None, scope).await?;
    let pending: VecDeque<Bytes> = parts.messages().await?.into();
    let stream = PersonStream {
        _open: OpenStream::open(),
        slot,
        ended: false,
        receiver,
        pending,
        parts,
        ticker: Ticker::new(&state.config),
    };
    Ok(sse_response(stream.into_stream()))
}

struct PersonStream {
    /// Counts this stream in `gameday_live_streams_open` while it lives.
    _open: OpenStream,
    /// Its place in the instance's count of streams.
    slot: StreamSlot,
    /// Told the client it was superseded: the next call ends the stream.
    ended: bool,
    receiver: broadcast::Receiver<Arc<Nudge>>,
    pending: VecDeque<Bytes>,
    parts: PersonParts,
    ticker: Ticker,
}

impl PersonStream {
    fn into_stream(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        futures_util::stream::unfold(self, |mut s| async move {
            let message = s.next().await?;
            s.ticker.sent(&message);
            Some((Ok(message), s))
        })
    }

    /// The next message; None ends the stream (shutdown, or a database error that the client
    /// recovers from by reconnecting). What reads the database is boxed: the future a stream
    /// holds while it waits stays small (it is held by every open stream).
    async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(end) = self.slot.told_to_end() {
                self.ended = true;
                return end.then(superseded_message);
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let read_again = tokio::select! {
                end = &mut self.slot.end => {
                    self.ended = true;
                    return end.is_ok().then(superseded_message);
                }
                tick = self.ticker.tick() => match tick {
                    Tick::KeepAlive => return Some(keep_alive_message()),
                    Tick::Busy => continue,
                    Tick::Check { keep_alive } => {
                        if keep_alive {
                            self.pending.push_back(keep_alive_message());
                        }
                        match Box::pin(self.parts.check(None)).await {
                            Ok(Checked::Fine) => false,
                            Ok(Checked::ReadAgain) => true,
                            Ok(Checked::Ended) => {
                                tracing::info!(user = %self.parts.user_id, "personal stream ended: its session has ended");
                                return None;
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, user = %self.parts.user_id, "personal stream ended: the session check failed");
                                return None;
                            }
                        }
                    }
                },
                message = self.receiver.recv() => match message {
                    Ok(nudge) if self.parts.cares_about(&nudge) => {
                        if let Some(notice) = &nudge.notice {
                            self.pending.push_back(notice_message(notice));
                        }
                        true
                    }
                    Ok(_) => false,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return None,
                },
            };
            if read_again {
                match Box::pin(self.parts.messages()).await {
                    Ok(messages) => self.pending.extend(messages),
                    Err(err) => {
                        tracing::warn!(error = %err, user = %self.parts.user_id, "personal stream ended: reading its parts failed; the client reconnects");
                        return None;
                    }
                }
            }
        }
    }
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
        // Listening again: whatever was committed while we were not is read now, and the
        // per-person streams read their parts again at their next check (nudges were lost).
        hub.listening();
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
                    let events: Vec<(Uuid, i64)> = woken.iter().filter_map(|n| woken_event(n.payload())).collect();
                    if hub.people_watching()
                        && let Err(err) = nudge_people(&db, &hub, &events).await
                    {
                        tracing::warn!(error = %err, "live hub: telling the per-person streams failed");
                    }
                    let mut gamedays: Vec<Uuid> = events.iter().map(|(id, _)| *id).collect();
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
    auth: AuthSession,
    ctx: GamedayCtx,
    Query(query): Query<LiveQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let gameday_id = ctx.gameday.id;
    let Ok(slot) = state.live.open_stream(ctx.user.id) else { return Ok(streams_full()) };
    let base = ctx.url();
    let current = timeline_store::last_seqs(&state.db, &[gameday_id]).await?.first().map(|(_, s)| *s).unwrap_or(0);
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let after = last_event_id.or(query.after).unwrap_or(current).clamp(0, current.max(0));
    // Subscribe first, then read the backlog: nothing committed in between can fall through.
    let receiver = state.live.subscribe(gameday_id, current, &base);
    let mut pending: VecDeque<(i64, Bytes)> = VecDeque::new();
    // The banners as they stand now come first: a page that reconnects may have missed a change.
    let me = audience(ctx.role);
    // The viewer's other faults in flight come on this stream too (one stream per page).
    let people = state.live.subscribe_people();
    let session = account_session(&auth).await?;
    let mut person = PersonParts::new(&state, ctx.user.id, session, Some(gameday_id), None).await?;
    let (elsewhere, _) = person.changed().await?;
    pending.extend(current_state(&state.db, &ctx.gameday, &base, me, &elsewhere).await?);
    let (backlog, more_after) = rendered_after(&state.db, gameday_id, after, &base).await?;
    pending.extend(backlog);
    let stream = LiveStream {
        _open: OpenStream::open(),
        slot,
        ended: false,
        people,
        person,
        receiver,
        pending,
        more_after,
        last_sent: after,
        db: state.db.clone(),
        gameday_id,
        base,
        team_id: ctx.membership.team.id,
        user_id: ctx.user.id,
        audience: me,
        ticker: Ticker::new(&state.config),
    };
    Ok(sse_response(stream.into_stream()))
}

/// How many events a stream reads from the database at a time to catch up (on connecting with
/// an old `Last-Event-ID`, or after falling behind): a stream far behind holds one step of them
/// and reads the next only once its client has taken these, so a watcher who does not read
/// makes the server hold no more than this, however much happened.
pub const CATCH_UP_STEP: i64 = 100;

/// At most [`CATCH_UP_STEP`] events after `after`, rendered for the stream, and, when that was a
/// full step, the last one read (there may be more after it).
async fn rendered_after(
    db: &PgPool,
    gameday_id: Uuid,
    after: i64,
    base: &str,
) -> AppResult<(Vec<(i64, Bytes)>, Option<i64>)> {
    let events = timeline_store::events_after_limited(db, gameday_id, after, CATCH_UP_STEP).await?;
    metrics::histogram!("gameday_live_catch_up_events").record(events.len() as f64);
    let more_after = if events.len() as i64 == CATCH_UP_STEP { events.last().map(|e| e.seq) } else { None };
    let views = views(&events, base, "UTC");
    Ok((rendered(gameday_id, &views), more_after))
}

fn event_message(seq: i64, html: &str) -> Bytes {
    sse_message(None, Some(seq), html)
}

/// One Server-Sent Events message, encoded once: the hub broadcasts these bytes and every
/// stream sends the same ones (no copy per watcher). Each line of `data` is a `data:` line; a
/// carriage return would end a line in the client's parser, so none is sent.
fn sse_message(event: Option<&str>, id: Option<i64>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.extend(line.chars().filter(|c| *c != '\r'));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// How often a stream ticks (`GAMEDAY_LIVE_KEEP_ALIVE_MS`, 15 s unless configured); a tick with
/// no message since the one before sends a keep-alive (a comment line), so that proxies and the
/// client see the connection alive. Every second tick is a membership check.
fn keep_alive(config: &Config) -> Duration {
    Duration::from_millis(config.live_keep_alive_ms.max(50))
}

/// What a stream's tick calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    /// Nothing went out since the tick before: a keep-alive.
    KeepAlive,
    /// Messages went out: nothing to do.
    Busy,
    /// Time for the periodic check (after a keep-alive when it was quiet).
    Check { keep_alive: bool },
}

/// A stream's clock: one timer for the stream's life (not one per message) that ticks every
/// [`keep_alive`], the first time one period after it opened, and says whether the tick calls
/// for a keep-alive or the membership check (at the first tick two periods after the last).
struct Ticker {
    interval: tokio::time::Interval,
    /// Two periods: how often the stream checks its viewer's standing.
    check_every: Duration,
    checked_at: tokio::time::Instant,
    /// Whether a message went out since the last tick.
    sent_since_tick: bool,
}

impl Ticker {
    fn new(config: &Config) -> Ticker {
        let period = keep_alive(config);
        let now = tokio::time::Instant::now();
        let mut interval = tokio::time::interval_at(now + period, period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticker { interval, check_every: period * 2, checked_at: now, sent_since_tick: false }
    }

    async fn tick(&mut self) -> Tick {
        let now = self.interval.tick().await;
        let quiet = !std::mem::take(&mut self.sent_since_tick);
        if now.saturating_duration_since(self.checked_at) < self.check_every {
            return if quiet { Tick::KeepAlive } else { Tick::Busy };
        }
        self.checked_at = now;
        Tick::Check { keep_alive: quiet }
    }

    /// Notes a message that went out; a keep-alive is not news (the next quiet tick sends another).
    fn sent(&mut self, message: &Bytes) {
        self.sent_since_tick |= *message != keep_alive_message();
    }
}

fn keep_alive_message() -> Bytes {
    Bytes::from_static(b":\n\n")
}

/// The answer that carries a stream of encoded messages as Server-Sent Events. `X-Accel-Buffering:
/// no` tells a reverse proxy such as nginx to pass each message on at once (docs/deployment.md).
fn sse_response(stream: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The banners and state parts of a game day's pages for one kind of viewer, as they stand now
/// (sent first on every connection, so a page that missed a change is never left stale).
async fn current_state(
    db: &PgPool,
    gameday: &crate::gamedays::Gameday,
    base: &str,
    me: Audience,
    elsewhere: &str,
) -> AppResult<Vec<(i64, Bytes)>> {
    let scenarios = scenario_store::scenarios_of(db, gameday.id).await?;
    let events = timeline_store::key_events(db, gameday.id).await?;
    let mut messages = vec![(0, banners_message(&render_banners(&banners(&scenarios, &events, base), me)?))];
    for (_, html) in render_state_parts(db, (gameday, base), &scenarios, &events, &[me]).await? {
        messages.push((0, parts_message(&format!("{html}{elsewhere}"))));
    }
    Ok(messages)
}

/// Seconds a client refused for want of room is asked to wait before it tries again.
pub const STREAMS_FULL_RETRY_SECS: u64 = 10;

/// The answer when this instance holds as many streams as it may: 503 with `Retry-After`, and
/// the same delay as the stream's `retry:` for a client that reads the body. (A browser's
/// EventSource gives up on any answer but 200; `app.js` then starts it again after a delay.)
fn streams_full() -> Response {
    tracing::warn!("live stream refused: this instance holds as many as it may (GAMEDAY_LIVE_STREAMS_MAX)");
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, HeaderValue::from(STREAMS_FULL_RETRY_SECS)),
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        format!("retry: {}\n\n", STREAMS_FULL_RETRY_SECS * 1000),
    )
        .into_response();
    response.extensions_mut().insert(Rendered);
    response
}

/// The last message of a stream closed because its viewer opened more pages than they may:
/// the page stops listening (rather than reconnect and close another page's stream in turn).
fn superseded_message() -> Bytes {
    sse_message(
        Some("superseded"),
        None,
        "Live updates stopped here: this page is open in too many tabs. Reload to resume.",
    )
}

fn parts_message(html: &str) -> Bytes {
    sse_message(Some("parts"), None, html)
}

fn banners_message(html: &str) -> Bytes {
    sse_message(Some("banners"), None, html)
}

struct LiveStream {
    /// Counts this stream in `gameday_live_streams_open` while it lives.
    _open: OpenStream,
    /// Its place in the instance's count of streams.
    slot: StreamSlot,
    /// Told the client it was superseded: the next call ends the stream.
    ended: bool,
    receiver: broadcast::Receiver<Arc<Live>>,
    /// What happens in the viewer's teams, for [`PersonParts`].
    people: broadcast::Receiver<Arc<Nudge>>,
    person: PersonParts,
    pending: VecDeque<(i64, Bytes)>,
    /// While catching up: the last event read from the database, after which there may be more
    /// this client has not been sent (read once `pending` is empty).
    more_after: Option<i64>,
    last_sent: i64,
    db: PgPool,
    gameday_id: Uuid,
    base: String,
    team_id: Uuid,
    user_id: Uuid,
    /// The kind of viewer this stream is for: which banners and page parts it is sent.
    audience: Audience,
    ticker: Ticker,
}

impl LiveStream {
    fn into_stream(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        futures_util::stream::unfold(self, |mut s| async move {
            let message = s.next().await?;
            s.ticker.sent(&message);
            Some((Ok(message), s))
        })
    }

    /// The next message for this client; None ends the stream (shutdown, the viewer left the
    /// team, or a database error that the client recovers from by reconnecting with its
    /// Last-Event-ID). Every end but shutdown is logged with the game day. What reads the
    /// database is boxed: the future a stream holds while it waits stays small (it is held by
    /// every open stream).
    async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(end) = self.slot.told_to_end() {
                tracing::debug!(gameday = %self.gameday_id, user = %self.user_id, superseded = end, "live stream ended: its viewer opened a newer one, or shutdown");
                self.ended = true;
                return end.then(superseded_message);
            }
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
            if let Some(after) = self.more_after {
                Box::pin(self.read_on(after)).await?;
                continue;
            }
            let message = tokio::select! {
                end = &mut self.slot.end => {
                    self.ended = true;
                    return end.is_ok().then(superseded_message);
                }
                tick = self.ticker.tick() => {
                    match tick {
                        Tick::KeepAlive => return Some(keep_alive_message()),
                        Tick::Busy => {}
                        Tick::Check { keep_alive } => {
                            if keep_alive {
                                self.pending.push_back((0, keep_alive_message()));
                            }
                            Box::pin(self.check()).await?;
                        }
                    }
                    continue;
                }
                nudge = self.people.recv() => {
                    let nudge = match nudge {
                        Ok(nudge) if self.person.cares_about(&nudge) => Some(nudge),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => None,
                        Err(RecvError::Closed) => return None,
                    };
                    Box::pin(self.person_changed(nudge.as_deref())).await?;
                    continue;
                }
                message = self.receiver.recv() => message,
            };
            match message {
                Ok(live) => match &*live {
                    Live::Event { seq, sse } => {
                        if *seq <= self.last_sent {
                            continue;
                        }
                        if *seq > self.last_sent + 1 {
                            // A gap: read what is missing from the database, in order.
                            Box::pin(self.resync()).await?;
                            continue;
                        }
                        self.pending.push_back((*seq, sse.clone()));
                    }
                    Live::Banners { audience, sse } | Live::Parts { audience, sse } if *audience == self.audience => {
                        self.pending.push_back((0, sse.clone()))
                    }
                    Live::Banners { .. } | Live::Parts { .. } => {}
                },
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, gameday = %self.gameday_id, "live stream lagged; resynchronising from the database");
                    Box::pin(self.resync()).await?;
                }
                Err(RecvError::Closed) => {
                    tracing::warn!(gameday = %self.gameday_id, "live stream ended: the hub's channel closed");
                    return None;
                }
            }
        }
    }

    /// The periodic check: someone removed from the team (or shut out by its two-factor rule),
    /// or whose session has ended, stops receiving its events; the viewer's other faults are
    /// read again when the check says so. None (logged) ends the stream.
    async fn check(&mut self) -> Option<()> {
        match self.person.check(Some(self.team_id)).await {
            Ok(Checked::Fine) => Some(()),
            Ok(Checked::ReadAgain) => self.person_changed(None).await,
            Ok(Checked::Ended) => {
                tracing::info!(gameday = %self.gameday_id, user = %self.user_id, "live stream ended: the viewer left the team or signed out");
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, gameday = %self.gameday_id, "live stream ended: the membership check failed");
                None
            }
        }
    }

    /// After a nudge from the viewer's teams (or now and then): its notification, and the
    /// viewer's parts that changed. None (logged) ends the stream.
    async fn person_changed(&mut self, nudge: Option<&Nudge>) -> Option<()> {
        if let Some(notice) = nudge.and_then(|n| n.notice.as_ref()) {
            self.pending.push_back((0, notice_message(notice)));
        }
        match self.person.messages().await {
            Ok(messages) => {
                self.pending.extend(messages.into_iter().map(|event| (0, event)));
                Some(())
            }
            Err(err) => {
                tracing::warn!(error = %err, gameday = %self.gameday_id, "live stream ended: reading the viewer's other faults failed; the client reconnects");
                None
            }
        }
    }

    /// The next step of the events this client has not been sent, after `after` (the last one
    /// read); None (logged) ends the stream.
    async fn read_on(&mut self, after: i64) -> Option<()> {
        match rendered_after(&self.db, self.gameday_id, after.max(self.last_sent), &self.base).await {
            Ok((missing, more_after)) => {
                self.pending.extend(missing);
                self.more_after = more_after;
                Some(())
            }
            Err(err) => {
                tracing::warn!(error = %err, gameday = %self.gameday_id, after, "live stream ended: catching up failed; the client reconnects");
                None
            }
        }
    }

    /// Reads what this client has not been sent from the database (its first step, the rest as
    /// it is taken) and the page's state as it stands; None (logged) ends the stream.
    async fn resync(&mut self) -> Option<()> {
        let read = async {
            let missing = rendered_after(&self.db, self.gameday_id, self.last_sent, &self.base).await?;
            let state = match gameday_store::gameday(&self.db, self.gameday_id).await? {
                Some(gameday) => current_state(&self.db, &gameday, &self.base, self.audience, "").await?,
                None => Vec::new(),
            };
            AppResult::Ok((missing, state))
        };
        match read.await {
            Ok(((missing, more_after), state)) => {
                self.pending.extend(missing);
                self.more_after = more_after;
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

/// Where an API client's stream reads: a game day, for the person behind a token.
pub struct ApiStreamFor {
    pub gameday_id: Uuid,
    /// The game day's page address (the hub renders its page messages with it).
    pub base: String,
    pub user_id: Uuid,
    pub token_id: Uuid,
}

/// The live stream for API clients (`GET /api/v1/…/gamedays/{id}/events`): Server-Sent Events
/// whose ids are the same sequence numbers as the pages' stream and whose `data` is the event as
/// JSON ([`ApiEvent`]). A client that reconnects with `Last-Event-ID` (or asks `?after=`) is sent
/// exactly what it missed, from the database. The hub only wakes it: on each new event it reads
/// what follows what it sent from the database (automation streams are few; the pages' streams,
/// which are many, share rendered bytes instead). Every second tick checks that the token still
/// works (not revoked or expired, its person still in the team and let in by its two-factor
/// rule); the stream ends when it does not. It counts towards its person's and the instance's stream limits.
/// `after`: the last event the client has (its `Last-Event-ID`, or what it asked); None: from now.
pub async fn api_stream(state: &AppState, to: ApiStreamFor, after: Option<i64>) -> AppResult<Response> {
    let Ok(slot) = state.live.open_stream(to.user_id) else { return Ok(streams_full()) };
    let current = timeline_store::last_seqs(&state.db, &[to.gameday_id]).await?.first().map(|(_, s)| *s).unwrap_or(0);
    let after = after.unwrap_or(current).clamp(0, current.max(0));
    // Subscribe first, then read: nothing committed in between can fall through.
    let receiver = state.live.subscribe(to.gameday_id, current, &to.base);
    let mut stream = ApiStream {
        _open: OpenStream::open(),
        slot,
        ended: false,
        receiver,
        pending: VecDeque::new(),
        behind: true,
        last_sent: after,
        db: state.db.clone(),
        to,
        ticker: Ticker::new(&state.config),
    };
    stream.read_on().await?;
    Ok(sse_response(stream.into_stream()))
}

struct ApiStream {
    _open: OpenStream,
    slot: StreamSlot,
    ended: bool,
    receiver: broadcast::Receiver<Arc<Live>>,
    pending: VecDeque<Bytes>,
    /// There may be events after `last_sent` not read yet.
    behind: bool,
    /// The last event read (and so sent once `pending` is empty).
    last_sent: i64,
    db: PgPool,
    to: ApiStreamFor,
    ticker: Ticker,
}

impl ApiStream {
    fn into_stream(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        futures_util::stream::unfold(self, |mut s| async move {
            let message = s.next().await?;
            s.ticker.sent(&message);
            Some((Ok(message), s))
        })
    }

    /// Reads the next step of events after the last read, as JSON messages.
    async fn read_on(&mut self) -> AppResult<()> {
        let events =
            timeline_store::events_after_limited(&self.db, self.to.gameday_id, self.last_sent, CATCH_UP_STEP).await?;
        self.behind = events.len() as i64 == CATCH_UP_STEP;
        for event in &events {
            let json = serde_json::to_string(&ApiEvent::from(event)).unwrap_or_default();
            self.pending.push_back(sse_message(None, Some(event.seq), &json));
            self.last_sent = event.seq;
        }
        Ok(())
    }

    /// The next message; None ends the stream (shutdown, the token stopped working, or a
    /// database error the client recovers from by reconnecting with its Last-Event-ID).
    async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(end) = self.slot.told_to_end() {
                self.ended = true;
                return end.then(superseded_message);
            }
            if let Some(message) = self.pending.pop_front() {
                return Some(message);
            }
            if self.behind {
                self.caught_up_or_end().await?;
                continue;
            }
            tokio::select! {
                end = &mut self.slot.end => {
                    self.ended = true;
                    return end.is_ok().then(superseded_message);
                }
                tick = self.ticker.tick() => match tick {
                    Tick::KeepAlive => return Some(keep_alive_message()),
                    Tick::Busy => {}
                    Tick::Check { keep_alive } => {
                        if !Box::pin(self.token_works()).await {
                            return None;
                        }
                        if keep_alive {
                            return Some(keep_alive_message());
                        }
                    }
                },
                message = self.receiver.recv() => match message {
                    Ok(live) => {
                        if matches!(&*live, Live::Event { seq, .. } if *seq > self.last_sent) {
                            self.behind = true;
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.behind = true,
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }

    async fn caught_up_or_end(&mut self) -> Option<()> {
        match Box::pin(self.read_on()).await {
            Ok(()) => Some(()),
            Err(err) => {
                tracing::warn!(error = %err, gameday = %self.to.gameday_id, after = self.last_sent, "API stream ended: reading events failed; the client reconnects");
                None
            }
        }
    }

    /// Whether the stream's token still works: not revoked or expired, its person in the team and
    /// let in by its two-factor rule.
    async fn token_works(&self) -> bool {
        match crate::tokens::store::for_auth(&self.db, self.to.token_id).await {
            Ok(Some(found)) => {
                let works = found.member
                    && found.admitted
                    && crate::tokens::token_state(found.revoked_at, found.expires_at, time::OffsetDateTime::now_utc())
                        == crate::tokens::TokenState::Active;
                if !works {
                    tracing::info!(gameday = %self.to.gameday_id, token = %self.to.token_id, "API stream ended: its token no longer works");
                }
                works
            }
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(error = %err, gameday = %self.to.gameday_id, "API stream ended: checking its token failed; the client reconnects");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_encoded_as_server_sent_events_read_it() {
        assert_eq!(&event_message(7, "<li>a</li>")[..], b"id: 7\ndata: <li>a</li>\n\n");
        // Every line of the data is a data line; a carriage return never reaches the client.
        assert_eq!(
            &parts_message("<p>\r\none</p>\n<p>two</p>")[..],
            b"event: parts\ndata: <p>\ndata: one</p>\ndata: <p>two</p>\n\n"
        );
        assert_eq!(&sse_message(Some("notify"), None, "")[..], b"event: notify\ndata: \n\n");
        assert_eq!(&keep_alive_message()[..], b":\n\n");
    }
}
