//! This instance's live hub: one broadcast channel per watched game day, holding messages that
//! are already rendered, so each event is rendered once however many pages watch it.
//!
//! The hub is only the switchboard. What fills it (the PostgreSQL listener that reads and renders
//! new events) and what drains it (the Server-Sent Events stream) live together in `live.rs`.
//!
//! It also keeps this instance's count of open streams, in memory: at most so many per person
//! (a new page closes that person's oldest stream, so a new tab always works) and so many in all
//! (beyond it a new stream is refused until one closes). With several instances each keeps its
//! own count.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::{broadcast, oneshot};
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
    /// A timeline event, rendered with `partials/_event.html` (times in UTC), as the Server-Sent
    /// Events message every stream sends (encoded once, shared by all).
    Event { seq: i64, sse: Bytes },
    /// The fault banners of the game day for one kind of viewer, after a fault changed state.
    Banners { audience: Audience, sse: Bytes },
    /// Parts of a page that depend on the state of the game day or a scenario, for one kind of
    /// viewer: elements with ids that replace the elements of the same ids on an open page.
    Parts { audience: Audience, sse: Bytes },
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
    /// Cancelled at shutdown (by [`Hub::close`]): the listener and other background tasks stop.
    pub shutdown: CancellationToken,
    /// The streams open on this instance, for its limits.
    open: Arc<Mutex<OpenStreams>>,
    /// How many times the listener has started listening: a stream that read its parts before
    /// the last start may have missed a nudge while the listener was away.
    listens: AtomicU64,
}

/// How many live streams this instance keeps open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Per person: opening one more closes their oldest.
    pub per_person: usize,
    /// In all: beyond it a new stream is refused (503) until one closes.
    pub per_instance: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits { per_person: 8, per_instance: 20_000 }
    }
}

/// The streams open on this instance: how many, and each person's, oldest first.
#[derive(Default)]
struct OpenStreams {
    limits: StreamLimits,
    total: usize,
    next_id: u64,
    /// Shutting down: every stream was told to end, and no new one opens.
    closed: bool,
    /// Each person's open streams, oldest first: (stream number, what tells it to end).
    by_person: HashMap<Uuid, VecDeque<(u64, oneshot::Sender<()>)>>,
}

/// This instance holds as many streams as it may: try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saturated;

/// One open stream's place in the instance's count, given back when it is dropped.
pub struct StreamSlot {
    open: Arc<Mutex<OpenStreams>>,
    id: u64,
    person: Uuid,
    /// Tells the stream to end: a value when the person opened more streams than they may and
    /// this one, their oldest, is to end (saying why, so the page does not reconnect and close
    /// another in turn); closed (its sender dropped) at shutdown. A oneshot costs a stream an
    /// atomic load to poll, where a cancellation token shared by 10,000 streams is a lock they
    /// all take on every message.
    pub end: oneshot::Receiver<()>,
}

impl StreamSlot {
    /// Whether the stream was told to end: `Some(true)` for a newer one of its person's,
    /// `Some(false)` at shutdown, None if not. (Not to be asked again once it said so.)
    pub fn told_to_end(&mut self) -> Option<bool> {
        match self.end.try_recv() {
            Ok(()) => Some(true),
            Err(oneshot::error::TryRecvError::Closed) => Some(false),
            Err(oneshot::error::TryRecvError::Empty) => None,
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().expect("stream count lock");
        let Some(streams) = open.by_person.get_mut(&self.person) else { return };
        let before = streams.len();
        streams.retain(|(id, _)| *id != self.id);
        // A stream closed for a newer one was already taken out of the count.
        let removed = before - streams.len();
        if streams.is_empty() {
            open.by_person.remove(&self.person);
        }
        open.total -= removed;
    }
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
        Hub::with_limits(StreamLimits::default())
    }

    /// A hub that keeps at most `limits` streams open.
    pub fn with_limits(limits: StreamLimits) -> Hub {
        Hub {
            channels: Mutex::new(HashMap::new()),
            people: broadcast::channel(CHANNEL_CAPACITY).0,
            shutdown: CancellationToken::new(),
            open: Arc::new(Mutex::new(OpenStreams { limits, ..OpenStreams::default() })),
            listens: AtomicU64::new(0),
        }
    }

    /// The listener (re)started listening: nudges sent while it was away are lost.
    pub fn listening(&self) {
        self.listens.fetch_add(1, Ordering::SeqCst);
    }

    /// How many times the listener has started listening (see [`Hub::listening`]).
    pub fn listens(&self) -> u64 {
        self.listens.load(Ordering::SeqCst)
    }

    /// Counts a new stream of `person`'s: their oldest is superseded when they already hold as
    /// many as they may (so a new page always gets its stream); refused when the instance holds
    /// as many as it may in all, or is shutting down.
    pub fn open_stream(&self, person: Uuid) -> Result<StreamSlot, Saturated> {
        let mut open = self.open.lock().expect("stream count lock");
        if open.closed {
            return Err(Saturated);
        }
        let limits = open.limits;
        let held = open.by_person.get(&person).map_or(0, VecDeque::len);
        // Closing the person's oldest frees a place, so a person at their own limit is never
        // refused for the instance's.
        if held < limits.per_person.max(1) && open.total >= limits.per_instance {
            return Err(Saturated);
        }
        let id = open.next_id;
        open.next_id += 1;
        let (tell, end) = oneshot::channel();
        let streams = open.by_person.entry(person).or_default();
        streams.push_back((id, tell));
        let mut closed = 0;
        while streams.len() > limits.per_person.max(1) {
            if let Some((_, oldest)) = streams.pop_front() {
                let _ = oldest.send(());
                closed += 1;
            }
        }
        open.total = open.total + 1 - closed;
        Ok(StreamSlot { open: self.open.clone(), id, person, end })
    }

    /// Shutdown: the background tasks stop, every open stream is told to end (so the server
    /// can drain the other requests and stop), and no new one opens.
    pub fn close(&self) {
        self.shutdown.cancel();
        let mut open = self.open.lock().expect("stream count lock");
        open.closed = true;
        open.by_person.clear();
        open.total = 0;
    }

    /// How many streams are open on this instance.
    pub fn open_streams(&self) -> usize {
        self.open.lock().expect("stream count lock").total
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

    /// Broadcasts rendered events as their stream messages (those not yet broadcast, in order),
    /// then the other messages (banners and page parts for each kind of viewer).
    pub fn broadcast(&self, gameday_id: Uuid, events: Vec<(i64, Bytes)>, state: Vec<Live>) {
        let mut channels = self.channels.lock().expect("hub lock");
        let Some(channel) = channels.get_mut(&gameday_id) else { return };
        for (seq, sse) in events {
            if seq > channel.last_seq {
                channel.last_seq = seq;
                let _ = channel.sender.send(Arc::new(Live::Event { seq, sse }));
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
        hub.broadcast(id, vec![(2, Bytes::from_static(b"old")), (3, Bytes::from_static(b"new"))], Vec::new());
        match &*rx.try_recv().unwrap() {
            Live::Event { seq, sse } => assert_eq!((*seq, &sse[..]), (3, &b"new"[..])),
            other => panic!("expected event 3, got {other:?}"),
        }
        assert!(rx.try_recv().is_err());
        assert_eq!(hub.position(id), Some((3, "/g".to_owned())));
    }

    #[test]
    fn a_persons_oldest_stream_is_superseded_by_a_new_one() {
        let hub = Hub::with_limits(StreamLimits { per_person: 2, per_instance: 10 });
        let me = Uuid::from_u128(1);
        let mut first = hub.open_stream(me).unwrap();
        let mut second = hub.open_stream(me).unwrap();
        let mut third = hub.open_stream(me).unwrap();
        assert_eq!(first.end.try_recv(), Ok(()));
        assert_eq!(second.end.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        assert_eq!(third.end.try_recv(), Err(oneshot::error::TryRecvError::Empty));
        assert_eq!(hub.open_streams(), 2);
        drop(first);
        assert_eq!(hub.open_streams(), 2, "a superseded stream was already out of the count");
        drop(second);
        drop(third);
        assert_eq!(hub.open_streams(), 0);
    }

    #[test]
    fn the_instance_refuses_past_its_limit_until_a_stream_closes() {
        let hub = Hub::with_limits(StreamLimits { per_person: 2, per_instance: 2 });
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let _first = hub.open_stream(a).unwrap();
        let second = hub.open_stream(a).unwrap();
        assert_eq!(hub.open_streams(), 2);
        assert_eq!(hub.open_stream(b).err(), Some(Saturated));
        let third = hub.open_stream(a).expect("a person at their own limit closes their oldest instead");
        assert_eq!(hub.open_streams(), 2);
        drop(second);
        assert!(hub.open_stream(b).is_ok());
        drop(third);
    }

    #[test]
    fn closing_ends_every_stream_without_calling_it_superseded_and_opens_no_more() {
        let hub = Hub::new();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut streams = [hub.open_stream(a).unwrap(), hub.open_stream(a).unwrap(), hub.open_stream(b).unwrap()];
        hub.close();
        assert!(hub.shutdown.is_cancelled());
        for stream in &mut streams {
            assert_eq!(stream.end.try_recv(), Err(oneshot::error::TryRecvError::Closed));
        }
        assert_eq!(hub.open_stream(a).err(), Some(Saturated));
        assert_eq!(hub.open_streams(), 0);
        drop(streams);
        assert_eq!(hub.open_streams(), 0);
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
