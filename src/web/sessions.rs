//! The session store: browser sessions in PostgreSQL (`web_sessions`, data as jsonb), loaded in
//! ONE statement together with the person signed in on them and the check of their account
//! session (plus one that writes, at most once a minute, their idle expiry and "last seen"), so
//! that a signed-in page spends one round trip on who is asking, and none on saving a session it
//! did not change.
//!
//! What the load found is kept for the request that loaded it, and for no other: it lives in a
//! task-local slot that [`per_request`] opens around each request (the store and the sign-in
//! backend are shared by all requests; the slot is not). The sign-in backend's `get_user` and
//! `check_session` each take their part of it once; anything asked again, or asked outside a
//! request, is read from the database.
//!
//! A page also needs the frame every page shows (the person's teams and the faults in flight in
//! them): for a GET that is not a live stream, the load reads it in the same statement, and the
//! `Layout` extractor takes it from here ([`take_loaded_frame`]). A request whose path names a game
//! day (`/teams/{slug}/gamedays/{id}/…`) needs that game day as the person reaches it (their
//! team, the game day, their role on it): the load reads that too, and the game day's extractor
//! takes it from here ([`take_loaded_context`]).
//!
//! The main pages (the routes [`per_request`] is given) read on ONE connection, the one their
//! session was loaded on (`db::keeping_one_connection`): sqlx pings every connection it takes back
//! (a round trip of its own), so a page that took a connection per statement paid two round trips
//! for each. Only those routes keep one, and all but [`SPARE`] of the pool's connections at most:
//! every statement of those pages goes through `db::connection`, but should a rarer path of theirs
//! wait for a second connection while it keeps one, the spare ones serve it (and everyone else),
//! so the pool cannot be held entirely by requests that each wait for another connection.

use std::cell::RefCell;
use std::sync::Arc;

use axum::extract::{MatchedPath, State};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tower_sessions::ExpiredDeletion;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use uuid::Uuid;

use crate::accounts::{self, User, store};
use crate::db::{self, Trouble, connection, note_unavailable, trouble_of};
use crate::gamedays::store::MemberContextRow;
use crate::scenarios::store::FrameRow;

/// The session-store key under which a signed-in session keeps its `account_sessions` id.
pub(super) const ACCOUNT_SESSION_KEY: &str = "account_session";

/// A session's data, as tower-sessions keeps it.
type Data = std::collections::HashMap<String, serde_json::Value>;

/// Where axum-login keeps the signed-in person's id (its default data key).
pub(super) const USER_KEY: &str = "axum-login.data";

/// What the load of this request's session found, until taken.
struct Loaded {
    id: Id,
    data: Data,
    expiry_date: OffsetDateTime,
    /// The person the data names and their row as loaded (None: no such account).
    user: Option<(Uuid, Option<User>)>,
    /// The account session's state as loaded: for (person, account session), `Some(true)` may go
    /// on, `Some(false)` past its absolute lifetime, `None` ended.
    account_session: Option<(Uuid, Uuid, Option<bool>)>,
    /// The person's page frame as loaded (rows of `person_frame`), if the request wanted it.
    frame: Option<(Uuid, serde_json::Value)>,
    /// For (person, team slug, game day): the row of `member_context` as loaded (None: no row),
    /// if the request's path named a game day.
    context: Option<(Uuid, String, Uuid, Option<serde_json::Value>)>,
}

/// One request's slot: whether its session's load should bring the page frame, and the game day
/// its path names (team slug, id), and what the load found.
struct Slot {
    wants_frame: bool,
    wants_context: Option<(String, Uuid)>,
    loaded: Option<Loaded>,
}

/// Connections of the pool that requests keeping one never hold (see the module's documentation).
pub const SPARE: u32 = 2;

/// Which requests keep one connection for all their statements (see the module's documentation):
/// GETs of these routes (templates), as many at once as there are permits.
#[derive(Clone)]
pub struct OneConnection {
    routes: &'static [&'static str],
    permits: Arc<Semaphore>,
}

impl OneConnection {
    /// GETs of `routes`, at most all but [`SPARE`] of `pool_size` at once.
    pub fn new(routes: &'static [&'static str], pool_size: u32) -> OneConnection {
        OneConnection { routes, permits: Arc::new(Semaphore::new(pool_size.saturating_sub(SPARE) as usize)) }
    }
}

tokio::task_local! {
    static THIS_REQUEST: RefCell<Slot>;
}

/// Middleware outside the session layer: gives the request its own slot for what its session's
/// load finds (see the module's documentation). A GET other than a live stream may show a page,
/// so its load brings the page frame; a form post or a stream does without. Any request whose path
/// names a game day has its load bring that game day as the person reaches it. A GET of one of the
/// routes of `one_connection` reads on one connection, if a permit is free (see the module's
/// documentation).
pub async fn per_request(
    State(one_connection): State<OneConnection>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let stream = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    let wants_frame = request.method() == axum::http::Method::GET && !stream;
    let path = request.uri().path();
    let wants_context = super::team_in_path(path).zip(super::gameday_in_path(path));
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let keeps = (wants_frame && route.is_some_and(|route| one_connection.routes.contains(&route)))
        .then(|| one_connection.permits.try_acquire().ok())
        .flatten();
    let slot = Slot { wants_frame, wants_context, loaded: None };
    // The kept connection goes back to the pool when the response is ready.
    db::keeping_one_connection(keeps.is_some(), THIS_REQUEST.scope(RefCell::new(slot), next.run(request))).await
}

fn with_slot<T>(f: impl FnOnce(&mut Option<Loaded>) -> T) -> Option<T> {
    THIS_REQUEST.try_with(|slot| f(&mut slot.borrow_mut().loaded)).ok()
}

/// Whether this request's session load should bring the page frame.
fn wants_frame() -> bool {
    THIS_REQUEST.try_with(|slot| slot.borrow().wants_frame).unwrap_or(false)
}

/// The game day (team slug, id) this request's session load should bring, if any.
fn wants_context() -> Option<(String, Uuid)> {
    THIS_REQUEST.try_with(|slot| slot.borrow().wants_context.clone()).ok().flatten()
}

/// The game day `id` of the team behind `slug` as person `user_id` reaches it, as this request's
/// session load found it, once: `Some(None)` when they are not in a team with that slug; None if
/// the load did not read it (then ask the database).
pub(super) fn take_loaded_context(user_id: Uuid, slug: &str, id: Uuid) -> Option<Option<MemberContextRow>> {
    let (user, loaded_slug, loaded_id, row) = with_slot(|slot| slot.as_mut()?.context.take()).flatten()?;
    if (user, loaded_slug.as_str(), loaded_id) != (user_id, slug, id) {
        return None;
    }
    match row.map(serde_json::from_value).transpose() {
        Ok(row) => Some(row),
        Err(err) => {
            tracing::warn!(error = %err, "the game day from the session load did not decode; reading it again");
            None
        }
    }
}

/// The page frame of person `user_id` as this request's session load found it, once; None if the
/// load did not read it (then ask the database).
pub(super) fn take_loaded_frame(user_id: Uuid) -> Option<Vec<FrameRow>> {
    let (id, rows) = with_slot(|slot| slot.as_mut()?.frame.take()).flatten()?;
    if id != user_id {
        return None;
    }
    match serde_json::from_value(rows) {
        Ok(rows) => Some(rows),
        Err(err) => {
            tracing::warn!(error = %err, "the page frame from the session load did not decode; reading it again");
            None
        }
    }
}

/// The row of person `user_id` as this request's session load found it, once; None if the load
/// did not look them up (then ask the database).
pub(super) fn take_loaded_user(user_id: Uuid) -> Option<Option<User>> {
    with_slot(|slot| {
        let loaded = slot.as_mut()?;
        match loaded.user.take() {
            Some((id, user)) if id == user_id => Some(user),
            _ => None,
        }
    })
    .flatten()
}

/// The state of account session `id` of person `user_id` as this request's session load found
/// it (and marked seen), once: `Some(Some(true))` may go on, `Some(Some(false))` past its
/// absolute lifetime, `Some(None)` ended; None if the load did not look (then ask the database).
pub(super) fn take_loaded_account_session(user_id: Uuid, id: Uuid) -> Option<Option<bool>> {
    with_slot(|slot| {
        let loaded = slot.as_mut()?;
        match loaded.account_session.take() {
            Some((user, session, alive)) if user == user_id && session == id => Some(alive),
            _ => None,
        }
    })
    .flatten()
}

/// The session store (see the module's documentation). A failed statement is noted as the
/// database being unavailable: the session and sign-in layers answer it with a bare 500, which
/// the web layer turns into a 503 with `Retry-After`.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: PgPool,
}

impl Sessions {
    pub fn new(db: PgPool) -> Sessions {
        Sessions { db }
    }
}

fn backend(err: sqlx::Error) -> session_store::Error {
    note_unavailable(trouble_of(&err).max(Trouble::Unreachable));
    session_store::Error::Backend(err.to_string())
}

fn encode(data: &Data) -> session_store::Result<serde_json::Value> {
    serde_json::to_value(data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

/// Saving the same data with an expiry this close to the stored one writes nothing: the load
/// keeps the stored idle expiry within a minute of "now + idle time" already.
const EXPIRY_SLACK: time::Duration = time::Duration::minutes(2);

#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(&record.data)?;
        while !store::insert_web_session(&self.db, &record.id.to_string(), &data, record.expiry_date)
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let unchanged = with_slot(|slot| {
            slot.as_ref().is_some_and(|loaded| {
                loaded.id == record.id
                    && loaded.data == record.data
                    && (record.expiry_date - loaded.expiry_date).abs() <= EXPIRY_SLACK
            })
        })
        .unwrap_or(false);
        if unchanged {
            return Ok(());
        }
        let mut db = connection(&self.db).await.map_err(backend)?;
        store::save_web_session(&mut *db, &record.id.to_string(), &encode(&record.data)?, record.expiry_date)
            .await
            .map_err(backend)?;
        drop(db);
        with_slot(|slot| {
            if let Some(loaded) = slot.as_mut().filter(|loaded| loaded.id == record.id) {
                loaded.data = record.data.clone();
                loaded.expiry_date = record.expiry_date;
            }
        });
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let context = wants_context();
        let mut db = connection(&self.db).await.map_err(backend)?;
        let stored = store::load_web_session(
            &mut db,
            &id.to_string(),
            accounts::SESSION_IDLE_DAYS,
            USER_KEY,
            ACCOUNT_SESSION_KEY,
            wants_frame(),
            context.as_ref().map(|(slug, id)| (slug.as_str(), *id)),
        )
        .await
        .map_err(backend)?;
        drop(db);
        let Some(stored) = stored else { return Ok(None) };
        let data: Data =
            serde_json::from_value(stored.data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let user_id = data
            .get(USER_KEY)
            .and_then(|auth| auth.get("user_id"))
            .and_then(|id| serde_json::from_value::<Uuid>(id.clone()).ok());
        let account_session =
            data.get(ACCOUNT_SESSION_KEY).and_then(|id| serde_json::from_value::<Uuid>(id.clone()).ok());
        // The game day was read for the person only if their account was found.
        let context = user_id.filter(|_| stored.user.is_some()).zip(context);
        with_slot(|slot| {
            *slot = Some(Loaded {
                id: *id,
                data: data.clone(),
                expiry_date: stored.expiry_date,
                user: user_id.map(|user_id| (user_id, stored.user.filter(|user| user.id == user_id))),
                account_session: user_id
                    .zip(account_session)
                    .map(|(user_id, session)| (user_id, session, stored.account_session_alive)),
                frame: user_id.zip(stored.frame),
                context: context.map(|(user, (slug, id))| (user, slug, id, stored.context)),
            })
        });
        Ok(Some(Record { id: *id, data, expiry_date: stored.expiry_date }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        with_slot(|slot| {
            if slot.as_ref().is_some_and(|loaded| loaded.id == *id) {
                *slot = None;
            }
        });
        store::delete_web_session(&self.db, &id.to_string()).await.map_err(backend)
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        store::delete_expired_web_sessions(&self.db).await.map_err(backend)?;
        Ok(())
    }
}
