//! This instance's live hub: one broadcast channel per watched game day, holding messages that
//! are already rendered, so each event is rendered once however many pages watch it.
//!
//! The hub is only the switchboard. What fills it (the PostgreSQL listener that reads and renders
//! new events) and what drains it (the Server-Sent Events stream) live together in `live.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Which kind of viewer a rendered part is for. A part that offers buttons differs by what the
/// viewer may do on the game day, never by who they are, so it is rendered once per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Runs the day: announces, injects, rolls back, concludes.
    Facilitator,
    /// On the game day as a participant or an observer: may halt a fault.
    OnTheDay,
    /// A member of the team who is not on the game day: reads.
    Member,
}

impl Audience {
    pub const ALL: [Audience; 3] = [Audience::Facilitator, Audience::OnTheDay, Audience::Member];
}

/// What a page's stream receives.
#[derive(Debug, Clone)]
pub enum Live {
    /// A timeline event, rendered with `partials/_event.html` (times in UTC).
    Event { seq: i64, html: Arc<str> },
    /// The fault banners of the game day for one kind of viewer, after a fault changed state.
    Banners { audience: Audience, html: Arc<str> },
    /// Parts of a page that depend on the state of the game day or a scenario, for one kind of
    /// viewer: elements with ids that replace the elements of the same ids on an open page.
    Parts { audience: Audience, html: Arc<str> },
}

/// Something happened on a game day of a team, for the per-person streams: each stream whose
/// viewer is in the team reads that person's banners and sign-off requests again.
#[derive(Debug, Clone)]
pub struct Nudge {
    pub team_id: Uuid,
    pub gameday_id: Uuid,
    /// What to tell people whose page is hidden, when it is worth a notification.
    pub notice: Option<Notice>,
}

/// A browser notification: what happened, where, and the page it leads to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    pub title: String,
    pub body: String,
    pub url: String,
    /// One notification per tag: a later one with the same tag replaces it.
    pub tag: String,
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
    channels: Mutex<HashMap<Uuid, Channel>>,
    /// What happened in any team, for the per-person streams (each filters by its teams).
    people: broadcast::Sender<Arc<Nudge>>,
    /// Cancelled at shutdown: open streams end so the server can stop.
    pub shutdown: CancellationToken,
}

/// How many messages a slow subscriber may fall behind before it is resynchronised.
const CHANNEL_CAPACITY: usize = 1024;

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            channels: Mutex::new(HashMap::new()),
            people: broadcast::channel(CHANNEL_CAPACITY).0,
            shutdown: CancellationToken::new(),
        }
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

    /// Subscribes to what happens in any team (a per-person stream filters by its viewer's teams).
    pub fn subscribe_people(&self) -> broadcast::Receiver<Arc<Nudge>> {
        self.people.subscribe()
    }

    /// Whether any per-person stream is open (if not, nothing needs to be read for them).
    pub fn people_watching(&self) -> bool {
        self.people.receiver_count() > 0
    }

    /// Tells the per-person streams what happened.
    pub fn nudge(&self, nudges: Vec<Nudge>) {
        for nudge in nudges {
            let _ = self.people.send(Arc::new(nudge));
        }
    }

    /// Game days with someone watching, and what was last broadcast for each (channels nobody
    /// watches any more are dropped).
    pub fn watched(&self) -> Vec<(Uuid, i64)> {
        let mut channels = self.channels.lock().expect("hub lock");
        channels.retain(|_, c| c.sender.receiver_count() > 0);
        channels.iter().map(|(id, c)| (*id, c.last_seq)).collect()
    }

    /// For a watched game day: what was last broadcast and its URL; None when nobody watches it.
    pub fn position(&self, gameday_id: Uuid) -> Option<(i64, String)> {
        let channels = self.channels.lock().expect("hub lock");
        channels.get(&gameday_id).filter(|c| c.sender.receiver_count() > 0).map(|c| (c.last_seq, c.base.clone()))
    }

    /// Broadcasts rendered events (those not yet broadcast, in order), then the other messages
    /// (banners and page parts for each kind of viewer).
    pub fn broadcast(&self, gameday_id: Uuid, events: Vec<(i64, Arc<str>)>, state: Vec<Live>) {
        let mut channels = self.channels.lock().expect("hub lock");
        let Some(channel) = channels.get_mut(&gameday_id) else { return };
        for (seq, html) in events {
            if seq > channel.last_seq {
                channel.last_seq = seq;
                let _ = channel.sender.send(Arc::new(Live::Event { seq, html }));
            }
        }
        for message in state {
            let _ = channel.sender.send(Arc::new(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_already_broadcast_are_not_sent_again() {
        let hub = Hub::new();
        let id = Uuid::nil();
        let mut rx = hub.subscribe(id, 2, "/g");
        hub.broadcast(id, vec![(2, "old".into()), (3, "new".into())], Vec::new());
        match &*rx.try_recv().unwrap() {
            Live::Event { seq, html } => assert_eq!((*seq, &**html), (3, "new")),
            other => panic!("expected event 3, got {other:?}"),
        }
        assert!(rx.try_recv().is_err());
        assert_eq!(hub.position(id), Some((3, "/g".to_owned())));
    }

    #[test]
    fn a_channel_nobody_watches_is_dropped() {
        let hub = Hub::new();
        let rx = hub.subscribe(Uuid::nil(), 0, "/g");
        drop(rx);
        assert!(hub.watched().is_empty());
        assert_eq!(hub.position(Uuid::nil()), None);
    }
}
