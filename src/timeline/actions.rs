//! Observations and corrections: what people on the game day log as it happens.

use serde::Deserialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use tokio::sync::oneshot;

use super::store::{self, ObservationRow};
use super::{EventKind, Marker, NewEvent};
use crate::accounts::User;
use crate::db::{Trouble, note_unavailable, watch_for_trouble};
use crate::error::{AppError, AppResult};
use crate::form::FieldErrors;
use crate::gamedays::actions::begin;
use crate::gamedays::{GamedayRole, GamedayStatus, multiline, parse_link};
use crate::scenarios::store as scenario_store;

/// The observation form as entered.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ObservationForm {
    pub body: String,
    pub scenario: String,
    pub marker: String,
    pub observed_at: String,
    pub link: String,
}

/// A validated observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub body: String,
    pub scenario: Option<Uuid>,
    pub marker: Option<Marker>,
    pub observed_at: Option<OffsetDateTime>,
    pub link: Option<String>,
}

/// Observations logged late may say when the thing happened, but not in the future.
const FUTURE_TOLERANCE: time::Duration = time::Duration::minutes(2);

impl ObservationForm {
    /// Validates the form; `observed_at` is read in `zone` and checked against `now`.
    pub fn parse(&self, zone: &str, now: OffsetDateTime, errors: &mut FieldErrors) -> Option<Observation> {
        let body = errors.check("body", multiline(&self.body, "The observation", 1, 4000));
        let scenario = if self.scenario.trim().is_empty() {
            Some(None)
        } else {
            errors.check(
                "scenario",
                Uuid::parse_str(self.scenario.trim()).map(Some).map_err(|_| "Choose a scenario from the list.".into()),
            )
        };
        let marker = errors.check("marker", Marker::parse(&self.marker));
        let observed_at = if self.observed_at.trim().is_empty() {
            Some(None)
        } else {
            match crate::tz::parse_local_input(&self.observed_at, zone) {
                Ok(at) if at > now + FUTURE_TOLERANCE => {
                    errors.add("observed_at", "That time is in the future. Leave it empty for now.");
                    None
                }
                // A typo in the year would squash the day's picture; late logging is days, not months.
                Ok(at) if at < now - time::Duration::days(30) => {
                    errors.add("observed_at", "That is more than 30 days ago; check the date.");
                    None
                }
                Ok(at) => Some(Some(at)),
                Err(message) => {
                    errors.add("observed_at", message);
                    None
                }
            }
        };
        let link = errors.check("link", parse_link(&self.link, "The link"));
        if !errors.is_empty() {
            return None;
        }
        Some(Observation { body: body?, scenario: scenario?, marker: marker?, observed_at: observed_at?, link: link? })
    }
}

/// Whether a game day takes observations now: from scheduling until after it ended.
fn open_for_observations(status: GamedayStatus) -> AppResult<()> {
    match status {
        GamedayStatus::Scheduled | GamedayStatus::Running | GamedayStatus::Completed => Ok(()),
        GamedayStatus::Draft => Err(AppError::Conflict("Observations open once the game day is scheduled.".into())),
        GamedayStatus::Cancelled => Err(AppError::Conflict("This game day was cancelled.".into())),
    }
}

/// Logs an observation; anyone on the game day may.
///
/// What can be checked before the game day's row is locked is checked first (the scenario, the
/// marker's time: an injection only ever makes a marker valid, never invalid). Then the
/// observation joins this instance's queue for the game day: one writer records every
/// observation waiting in it in one round trip, its own transaction (a database function that
/// locks, then records in a statement of its own: `store::record_observations`), so concurrent
/// observations of one game day share a commit instead of waiting for each other's (group
/// commit). Sequence order is commit order as ever; the answer comes after the commit, so what
/// is acknowledged is durable.
/// `role` is the author's role as their request found it (checked again when recorded).
pub async fn observe(
    db: &PgPool,
    gameday_id: Uuid,
    actor: &User,
    role: Option<GamedayRole>,
    observation: &Observation,
) -> AppResult<i64> {
    if role.is_none() {
        return Err(not_on_the_day());
    }
    if let Some(scenario) = observation.scenario {
        let found = scenario_store::scenario(db, gameday_id, scenario)
            .await?
            .ok_or_else(|| AppError::invalid("scenario", "That scenario is not part of this game day."))?;
        if let Some(marker) = observation.marker {
            let injected_at = store::injected_at(db, gameday_id, scenario).await?;
            let when = observation.observed_at.unwrap_or_else(OffsetDateTime::now_utc);
            super::timings::check_marker_time(marker, when, &found.fields.title, injected_at, &actor.time_zone)
                .map_err(|r| AppError::invalid(r.field, r.message))?;
        }
    }
    let mut data = serde_json::Map::new();
    if let Some(marker) = observation.marker {
        data.insert("marker".into(), marker.as_str().into());
    }
    if let Some(link) = &observation.link {
        data.insert("link".into(), link.clone().into());
    }
    let mut data = serde_json::Value::Object(data);
    // Built here, in the request's task: the writer that records it serves everyone's.
    crate::events::mark_via(&mut data);
    let row = ObservationRow {
        actor: actor.id,
        scenario_id: observation.scenario,
        body: observation.body.clone(),
        body_html: Some(crate::markdown::to_safe_html(&observation.body)),
        data,
        observed_at: observation.observed_at,
    };
    let (reply, answer) = oneshot::channel();
    let lead = {
        let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        let queue = queues.entry(gameday_id).or_default();
        queue.waiting.push((row, reply));
        !std::mem::replace(&mut queue.writing, true)
    };
    if lead {
        // Its own task: the writer goes on for everyone queued even if this request is dropped.
        tokio::spawn(write_queued(db.clone(), gameday_id));
    }
    let (answer, trouble) =
        answer.await.map_err(|_| AppError::Internal(anyhow::anyhow!("the observation writer stopped")))?;
    note_unavailable(trouble);
    answer
}

fn not_on_the_day() -> AppError {
    AppError::Forbidden("Only people on this game day log observations. Ask a facilitator to add you.".into())
}

/// What the writer answers a queued observation: its sequence number or why not, and what the
/// database's availability was meanwhile (noted for the request, so that `/readyz` hears of an
/// overload met by the writer's task as by the request's own).
type Answer = (AppResult<i64>, Trouble);

/// Observations of one game day waiting to be recorded, and whether a writer is at work.
#[derive(Default)]
struct Queue {
    waiting: Vec<(ObservationRow, oneshot::Sender<Answer>)>,
    writing: bool,
}

/// This instance's queues, per game day: only requests in flight, nothing another instance
/// would miss (each instance writes its own under the game day's row lock).
static QUEUES: LazyLock<Mutex<HashMap<Uuid, Queue>>> = LazyLock::new(Default::default);

/// At most this many observations share a transaction.
const BATCH: usize = 256;

/// Records what is queued for the game day, batch after batch, until the queue is empty.
async fn write_queued(db: PgPool, gameday_id: Uuid) {
    let _guard = WriterGuard(gameday_id);
    loop {
        let batch = {
            let mut queues = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
            let Some(queue) = queues.get_mut(&gameday_id) else { return };
            if queue.waiting.is_empty() {
                queues.remove(&gameday_id);
                return;
            }
            // A request that gave up (its client left, or it timed out) is not written after all:
            // its author was told it failed and may post it again.
            queue.waiting.retain(|(_, reply)| !reply.is_closed());
            let take = queue.waiting.len().min(BATCH);
            queue.waiting.drain(..take).collect::<Vec<_>>()
        };
        if batch.is_empty() {
            continue;
        }
        let (rows, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        metrics::histogram!("gameday_observation_batch_size").record(rows.len() as f64);
        let (answers, trouble) = watch_for_trouble(record_answers(&db, gameday_id, rows)).await;
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send((answer, trouble));
        }
    }
}

/// Records a batch, and each row alone if the batch failed for one row's data; an answer for each.
async fn record_answers(db: &PgPool, gameday_id: Uuid, rows: Vec<ObservationRow>) -> Vec<AppResult<i64>> {
    match record_batch(db, gameday_id, &rows).await {
        Ok(answers) => answers,
        // A refusal of one row's data (class 22 or 23, raised by the insert, so before the
        // commit and rolled back) is not the others': each is tried alone. Anything else (the
        // pool, a lock or statement timeout, a lost connection, a failed commit whose outcome
        // is unknown) is every row's: tried again, a commit that did go through would record
        // them twice.
        Err(err) if rows.len() > 1 && concerns_one_row(&err) => {
            let mut answers = Vec::with_capacity(rows.len());
            for row in rows.chunks(1) {
                answers.push(match record_batch(db, gameday_id, row).await {
                    Ok(mut answer) => answer.remove(0),
                    Err(err) => Err(err.into()),
                });
            }
            answers
        }
        Err(err) => {
            let err = AppError::from(err);
            rows.iter().map(|_| Err(copy_of(&err))).collect()
        }
    }
}

/// Should a writer panic, its queue goes with it: those waiting are answered with an error
/// (their replies are dropped) and the next observation starts a new writer.
struct WriterGuard(Uuid);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            QUEUES.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
        }
    }
}

/// Whether a failed batch failed because of one row's data (SQLSTATE class 22 or 23).
fn concerns_one_row(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

/// The same answer for another row of a batch.
fn copy_of(err: &AppError) -> AppError {
    match err {
        AppError::NotFound => AppError::NotFound,
        AppError::Forbidden(m) => AppError::Forbidden(m.clone()),
        AppError::Conflict(m) => AppError::Conflict(m.clone()),
        AppError::Gone(m) => AppError::Gone(m.clone()),
        AppError::Validation { field, message } => AppError::Validation { field, message: message.clone() },
        AppError::Unavailable(m) => AppError::Unavailable(m.clone()),
        AppError::Internal(e) => AppError::Internal(anyhow::anyhow!("{e:#}")),
    }
}

/// Records a batch in one round trip, its own transaction; the answer for each row, in order
/// (Err: the database failed the whole batch).
async fn record_batch(
    db: &PgPool,
    gameday_id: Uuid,
    rows: &[ObservationRow],
) -> Result<Vec<AppResult<i64>>, sqlx::Error> {
    let open: Vec<GamedayStatus> =
        GamedayStatus::ALL.into_iter().filter(|s| open_for_observations(*s).is_ok()).collect();
    let batch = store::record_observations(db, gameday_id, rows, &open, crate::events::NOTIFY_CHANNEL).await?;
    let Some(status) = batch.status else {
        return Ok(rows.iter().map(|_| Err(AppError::NotFound)).collect());
    };
    if let Err(refusal) = open_for_observations(status) {
        return Ok(rows.iter().map(|_| Err(copy_of(&refusal))).collect());
    }
    metrics::counter!("gameday_events_written_total").increment(batch.recorded.len() as u64);
    let mut answers: Vec<AppResult<i64>> = rows.iter().map(|_| Err(not_on_the_day())).collect();
    for (index, seq) in batch.recorded {
        answers[index] = Ok(seq);
    }
    Ok(answers)
}

/// Corrects an observation with a new event that points at it (events are never changed).
/// The author of the original or a facilitator may.
pub async fn correct(db: &PgPool, gameday_id: Uuid, actor: &User, original: i64, body: &str) -> AppResult<i64> {
    let (mut tx, gameday, role) = begin(db, gameday_id, actor).await?;
    if role.is_none() {
        return Err(AppError::Forbidden("Only people on this game day correct its timeline.".into()));
    }
    open_for_observations(gameday.status)?;
    let event = store::event(&mut *tx, gameday_id, original).await?.ok_or(AppError::NotFound)?;
    if !event.is_markdown() {
        return Err(AppError::Conflict(
            "Only observations can be corrected; the rest of the timeline is recorded by Gameday itself.".into(),
        ));
    }
    if !super::may_correct(event.actor, actor.id, role) {
        return Err(AppError::Forbidden("Only its author or a facilitator corrects an observation.".into()));
    }
    let data = serde_json::json!({ "corrects": original });
    let mut new = NewEvent::new(gameday_id, actor.id, EventKind::Correction, body.to_owned()).data(data);
    new.scenario_id = event.scenario_id;
    let seq = crate::events::record(&mut tx, new).await?;
    tx.commit().await?;
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        crate::tz::parse_local_input("2026-12-01T10:00", "UTC").unwrap()
    }

    #[test]
    fn an_observation_needs_words_and_sane_fields() {
        let mut errors = FieldErrors::new();
        let form =
            ObservationForm { body: "  ".into(), marker: "panic".into(), link: "ftp://x".into(), ..Default::default() };
        assert!(form.parse("UTC", now(), &mut errors).is_none());
        assert!(errors.get("body").is_some());
        assert!(errors.get("marker").is_some());
        assert!(errors.get("link").is_some());
    }

    #[test]
    fn a_time_in_the_future_is_refused_but_a_late_one_is_kept() {
        let mut errors = FieldErrors::new();
        let future = ObservationForm { body: "x".into(), observed_at: "2030-01-01T00:00".into(), ..Default::default() };
        assert!(future.parse("UTC", now(), &mut errors).is_none());
        assert!(errors.get("observed_at").unwrap().contains("future"));
        let mut errors = FieldErrors::new();
        let typo = ObservationForm { body: "x".into(), observed_at: "2016-12-01T09:55".into(), ..Default::default() };
        assert!(typo.parse("UTC", now(), &mut errors).is_none());
        assert!(errors.get("observed_at").unwrap().contains("30 days"));
        let mut errors = FieldErrors::new();
        let late = ObservationForm {
            body: "alert fired".into(),
            observed_at: "2026-12-01T09:55".into(),
            marker: "detection".into(),
            ..Default::default()
        };
        let parsed = late.parse("UTC", now(), &mut errors).unwrap();
        assert_eq!(parsed.marker, Some(Marker::Detection));
        assert_eq!(crate::tz::format_utc(&parsed.observed_at.unwrap()), "2026-12-01T09:55:00Z");
    }
}
