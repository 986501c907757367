//! The live hub: every committed timeline event reaches every open page of its game day.
//!
//! PostgreSQL is the source of truth and `NOTIFY` only the wake-up call: on a notification the
//! hub reads the new events of that game day from the database, renders each once with the
//! same partial the page uses, and broadcasts the bytes to this instance's subscribers. Missed
//! wake-ups (a dropped listener connection) are caught up from the database, and a periodic
//! check catches anything else, so no instance misses an event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use askama::Template;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::timeline::store::{self as timeline_store, NOTIFY_CHANNEL};
use crate::timeline::{EventKind, EventView, views};

/// What a page's stream receives.
#[derive(Debug, Clone)]
pub enum Live {
    /// A timeline event, rendered with `partials/_event.html` (times in UTC).
    Event { seq: i64, kind: String, html: Arc<str> },
    /// The fault banners of the game day, after a fault changed state.
    Banners { html: Arc<str> },
}

#[derive(Template)]
#[template(path = "partials/_event.html")]
pub struct EventFragment<'a> {
    pub e: &'a EventView,
}

#[derive(Template)]
#[template(path = "partials/_banners.html")]
pub struct BannersFragment<'a> {
    pub base: &'a str,
    pub in_flight: Vec<&'a Scenario>,
}

/// Renders one event as the page and the stream show it.
pub fn render_event(view: &EventView) -> String {
    EventFragment { e: view }.render().unwrap_or_default()
}

struct Channel {
    sender: broadcast::Sender<Arc<Live>>,
    /// The last sequence number broadcast on this channel.
    last_seq: i64,
    /// The game day's URL (for links inside rendered events).
    base: String,
}

/// One per instance, shared by all requests.
pub struct Hub {
    db: PgPool,
    channels: Mutex<HashMap<Uuid, Channel>>,
    /// Cancelled at shutdown: open streams end so the server can stop.
    pub shutdown: CancellationToken,
}

/// How many messages a slow subscriber may fall behind before it is resynchronised.
const CHANNEL_CAPACITY: usize = 1024;

impl Hub {
    /// Creates the hub and starts its listener task; `check` is the safety-net interval.
    pub fn start(db: PgPool, check: Duration) -> Arc<Hub> {
        let hub = Arc::new(Hub { db, channels: Mutex::new(HashMap::new()), shutdown: CancellationToken::new() });
        tokio::spawn(listen(hub.clone(), check));
        hub
    }

    /// Subscribes to a game day's live messages. `last_seq` is what the subscriber has already
    /// read from the database; `base` the game day's URL.
    pub fn subscribe(&self, gameday_id: Uuid, last_seq: i64, base: &str) -> broadcast::Receiver<Arc<Live>> {
        let mut channels = self.channels.lock().expect("hub lock");
        let channel = channels.entry(gameday_id).or_insert_with(|| Channel {
            sender: broadcast::channel(CHANNEL_CAPACITY).0,
            last_seq,
            base: base.to_owned(),
        });
        channel.sender.subscribe()
    }

    /// Game days with someone watching, and what was last broadcast for each.
    fn watched(&self) -> Vec<(Uuid, i64)> {
        let mut channels = self.channels.lock().expect("hub lock");
        channels.retain(|_, c| c.sender.receiver_count() > 0);
        channels.iter().map(|(id, c)| (*id, c.last_seq)).collect()
    }

    /// Reads a game day's events after what was broadcast, renders and broadcasts them.
    async fn publish(&self, gameday_id: Uuid) -> sqlx::Result<()> {
        let (after, base) = {
            let channels = self.channels.lock().expect("hub lock");
            match channels.get(&gameday_id) {
                Some(c) if c.sender.receiver_count() > 0 => (c.last_seq, c.base.clone()),
                _ => return Ok(()),
            }
        };
        let events = timeline_store::events_after(&self.db, gameday_id, after).await?;
        if events.is_empty() {
            return Ok(());
        }
        let fault_changed = events.iter().any(|e| e.is_fault_event());
        let messages: Vec<Arc<Live>> = views(&events, &base, "UTC")
            .iter()
            .map(|view| {
                Arc::new(Live::Event { seq: view.seq, kind: view.kind.clone(), html: render_event(view).into() })
            })
            .collect();
        let banners = if fault_changed { Some(render_banners(&self.db, gameday_id, &base).await?) } else { None };
        let mut channels = self.channels.lock().expect("hub lock");
        if let Some(channel) = channels.get_mut(&gameday_id) {
            for message in messages {
                if let Live::Event { seq, .. } = *message
                    && seq > channel.last_seq
                {
                    channel.last_seq = seq;
                    let _ = channel.sender.send(message);
                }
            }
            if let Some(html) = banners {
                let _ = channel.sender.send(Arc::new(Live::Banners { html: html.into() }));
            }
        }
        Ok(())
    }

    /// Catches up every watched game day from the database.
    async fn catch_up(&self) -> sqlx::Result<()> {
        let watched = self.watched();
        if watched.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = watched.iter().map(|(id, _)| *id).collect();
        for (id, last) in timeline_store::last_seqs(&self.db, &ids).await? {
            if watched.iter().any(|(w, seen)| *w == id && *seen < last) {
                self.publish(id).await?;
            }
        }
        Ok(())
    }
}

/// Renders the fault banners of a game day (announced and injected scenarios).
pub async fn render_banners(db: &PgPool, gameday_id: Uuid, base: &str) -> sqlx::Result<String> {
    let scenarios = scenario_store::scenarios_of(db, gameday_id).await?;
    let in_flight = scenarios.iter().filter(|s| s.state.in_flight()).collect();
    Ok(BannersFragment { base, in_flight }.render().unwrap_or_default())
}

/// The listener task: LISTEN, publish on each wake-up, and catch up after any gap; every
/// `check`, compare watched game days with the database whatever NOTIFY said.
async fn listen(hub: Arc<Hub>, check: Duration) {
    let mut safety = tokio::time::interval(check);
    safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Duration::from_millis(100);
    loop {
        if hub.shutdown.is_cancelled() {
            return;
        }
        let mut listener = match PgListener::connect_with(&hub.db).await {
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
        if let Err(err) = hub.catch_up().await {
            tracing::warn!(error = %err, "live hub: catch-up failed");
        }
        loop {
            let next = tokio::select! {
                () = hub.shutdown.cancelled() => return,
                _ = safety.tick() => {
                    if let Err(err) = hub.catch_up().await {
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
                        if let Err(err) = hub.publish(id).await {
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

/// Events of a kind that changes the fault banners.
pub fn changes_banners(kind: &str) -> bool {
    EventKind::parse(kind).is_some_and(|k| k.is_fault_event())
}
