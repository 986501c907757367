//! Calendar invitations: an RFC 5545 `.ics` per game day, and a per-team fault-calendar feed
//! behind a secret URL that calendar apps subscribe to. The icalendar crate escapes and folds
//! the text, so commas, semicolons, newlines and non-ASCII text survive.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use rand::RngCore;
use time::OffsetDateTime;
use tower_sessions::Session;
use uuid::Uuid;

use crate::accounts::CurrentUser;
use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::gamedays::routes::load;
use crate::gamedays::{Gameday, GamedayStatus};
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::teams::routes::lead_or_refuse;
use crate::teams::store as team_store;
use crate::web::{FlashKind, flash, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/gamedays/{id}/calendar.ics", get(gameday_ics))
        .route("/teams/{slug}/calendar/regenerate", post(regenerate))
        .route("/calendar/{file}", get(team_feed))
}

fn ics_time(at: &OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// The calendar event of one game day. Its UID is stable; its SEQUENCE rises with every
/// reschedule or status change, so calendar apps update the entry they already have.
pub fn event(gameday: &Gameday, scenarios: &[Scenario], page_url: &str, host: &str) -> Option<Event> {
    let starts_at = gameday.starts_at?;
    // An unset end: a game day is planned as a two-hour block.
    let ends_at = gameday.ends_at.unwrap_or(starts_at + time::Duration::hours(2));
    let mut description = format!("Objective: {}\nEnvironment: {}\n", gameday.objective, gameday.environment);
    if !gameday.systems.is_empty() {
        description.push_str(&format!("Systems under test: {}\n", gameday.systems));
    }
    if scenarios.is_empty() {
        description.push_str("\nNo scenarios planned yet.\n");
    } else {
        description.push_str("\nScenarios (each agreed by every participant before it is injected):\n");
        for s in scenarios {
            description.push_str(&format!(
                "- {} (blast radius {}, target {})\n",
                s.fields.title,
                s.fields.blast_radius.as_str(),
                s.fields.target_system
            ));
        }
    }
    if let Some(link) = &gameday.call_link {
        description.push_str(&format!("\nCall: {link}\n"));
    }
    if let Some(reason) = &gameday.cancel_reason {
        description.push_str(&format!("\nCancelled: {reason}\n"));
    }
    description.push_str(&format!("\nGameday: {page_url}"));

    let mut event = Event::new();
    event
        .uid(&format!("gameday-{}@{host}", gameday.id))
        .summary(&format!("Game day: {}", gameday.title))
        .description(&description)
        .sequence(gameday.ics_sequence.max(0) as u32)
        .url(page_url)
        .add_property("DTSTART", ics_time(&starts_at))
        .add_property("DTEND", ics_time(&ends_at));
    if let Some(link) = &gameday.call_link {
        event.location(link);
    }
    event.status(match gameday.status {
        GamedayStatus::Cancelled => EventStatus::Cancelled,
        GamedayStatus::Draft => EventStatus::Tentative,
        _ => EventStatus::Confirmed,
    });
    Some(event.done())
}

fn host_of(base_url: &str) -> String {
    base_url.split("://").nth(1).unwrap_or(base_url).split('/').next().unwrap_or("gameday").to_owned()
}

fn ics_response(mut calendar: Calendar, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        calendar.done().to_string(),
    )
        .into_response()
}

async fn gameday_ics(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((slug, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let ctx = load(&state, &slug, &id, &user).await?;
    let scenarios = scenario_store::scenarios_of(&state.db, ctx.gameday.id).await?;
    let base = state.config.base_url();
    let page_url = format!("{base}{}", ctx.url());
    let event = event(&ctx.gameday, &scenarios, &page_url, &host_of(&base))
        .ok_or_else(|| AppError::Conflict("Set a start time first: a calendar entry needs one.".into()))?;
    let mut calendar = Calendar::new();
    calendar.name(&format!("{} game day", ctx.membership.team.name)).push(event);
    Ok(ics_response(calendar, "gameday.ics"))
}

/// The team's fault calendar: every game day that has been scheduled (cancelled ones included,
/// marked as such, so subscribed calendars drop them).
async fn team_feed(State(state): State<AppState>, Path(file): Path<String>) -> AppResult<Response> {
    let token = file.strip_suffix(".ics").ok_or(AppError::NotFound)?;
    let team = team_store::team_by_calendar_token(&state.db, token).await?.ok_or(AppError::NotFound)?;
    let gamedays = crate::gamedays::store::scheduled_gamedays(&state.db, team.id).await?;
    let mut scenarios = scenario_store::scenarios_of_team(&state.db, team.id).await?;
    let base = state.config.base_url();
    let host = host_of(&base);
    let mut calendar = Calendar::new();
    calendar.name(&format!("{}: fault calendar", team.name));
    for gameday in &gamedays {
        let own: Vec<Scenario> = scenarios.extract_if(.., |s| s.gameday_id == gameday.id).collect();
        let page_url = format!("{base}/teams/{}/gamedays/{}", team.slug, gameday.id);
        if let Some(event) = event(gameday, &own, &page_url, &host) {
            calendar.push(event);
        }
    }
    Ok(ics_response(calendar, "fault-calendar.ics"))
}

/// A fresh feed secret: 128 random bits, hex.
pub fn new_calendar_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The team's feed URL.
pub async fn feed_url(state: &AppState, team_id: Uuid) -> AppResult<String> {
    let token = team_store::calendar_token(&state.db, team_id).await?;
    Ok(format!("{}/calendar/{token}.ics", state.config.base_url()))
}

async fn regenerate(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let membership = lead_or_refuse(&state, &slug, &user).await?;
    team_store::set_calendar_token(&state.db, membership.team.id, &new_calendar_token()).await?;
    flash(&session, FlashKind::Success, "New calendar feed URL made; the old one stopped working.").await?;
    Ok(see_other(&format!("/teams/{}#calendar", membership.team.slug)))
}
