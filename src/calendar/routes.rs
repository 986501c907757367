//! The calendar files: a game day's `.ics`, the team's fault-calendar feed, and making a new
//! feed secret.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use icalendar::Calendar;
use time::OffsetDateTime;
use tower_sessions::Session;

use super::views::{calendar, event, host_of};
use super::{FEED_MAX_ENTRIES, FEED_PAST_DAYS};
use crate::error::{AppError, AppResult};
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::state::AppState;
use crate::teams::{NEW_CALENDAR_FEED_KEY, NewCalendarFeed, store as team_store};
use crate::timeline::store as timeline_store;
use crate::web::context::{GamedayCtx, Path, TeamCtx};
use crate::web::{FlashKind, flash, see_other};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{slug}/gamedays/{id}/calendar.ics", get(gameday_ics))
        .route("/teams/{slug}/calendar/regenerate", post(regenerate))
        .route("/calendar/{file}", get(team_feed))
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

async fn gameday_ics(State(state): State<AppState>, ctx: GamedayCtx) -> AppResult<Response> {
    let scenarios = scenario_store::scenarios_of(&state.db, ctx.gameday.id).await?;
    let base = state.config.base_url();
    let changed = timeline_store::last_changed(&state.db, &[ctx.gameday.id]).await?;
    let page_url = format!("{base}{}", ctx.url());
    let event = event(&ctx.gameday, &scenarios, &page_url, &host_of(&base), last_changed(&changed, ctx.gameday.id))
        .ok_or_else(|| AppError::Conflict("Set a start time first: a calendar entry needs one.".into()))?;
    let mut calendar = calendar(&format!("{} game day", ctx.membership.team.name));
    calendar.push(event);
    Ok(ics_response(calendar, "gameday.ics"))
}

/// The team's fault calendar: the game days that have been scheduled (cancelled ones included,
/// marked as such, so subscribed calendars drop them), from [`FEED_PAST_DAYS`] ago on, at most
/// [`FEED_MAX_ENTRIES`], soonest first.
/// Behind the secret URL of one member's feed, while they are a member.
async fn team_feed(State(state): State<AppState>, Path(file): Path<String>) -> AppResult<Response> {
    let token = file.strip_suffix(".ics").ok_or(AppError::NotFound)?;
    let hash = crate::teams::hash_calendar_token(token);
    let team = team_store::team_by_calendar_feed(&state.db, &hash).await?.ok_or(AppError::NotFound)?;
    let since = OffsetDateTime::now_utc() - time::Duration::days(FEED_PAST_DAYS);
    let gamedays = crate::gamedays::store::scheduled_gamedays(&state.db, team.id, since, FEED_MAX_ENTRIES).await?;
    let ids: Vec<_> = gamedays.iter().map(|g| g.id).collect();
    let mut scenarios = scenario_store::scenarios_of_gamedays(&state.db, &ids).await?;
    let changed = timeline_store::last_changed(&state.db, &ids).await?;
    let base = state.config.base_url();
    let host = host_of(&base);
    let mut calendar = calendar(&format!("{}: fault calendar", team.name));
    for gameday in &gamedays {
        let own: Vec<Scenario> = scenarios.extract_if(.., |s| s.gameday_id == gameday.id).collect();
        let page_url = format!("{base}/teams/{}/gamedays/{}", team.slug, gameday.id);
        if let Some(event) = event(gameday, &own, &page_url, &host, last_changed(&changed, gameday.id)) {
            calendar.push(event);
        }
    }
    Ok(ics_response(calendar, "fault-calendar.ics"))
}

/// When the game day `id` last changed, from [`timeline_store::last_changed`]. Every game day
/// records its creation, so the fallback (the start of 1970) is never seen in practice.
fn last_changed(changed: &[(uuid::Uuid, OffsetDateTime)], id: uuid::Uuid) -> OffsetDateTime {
    changed.iter().find(|(g, _)| *g == id).map_or(OffsetDateTime::UNIX_EPOCH, |(_, at)| *at)
}

/// A member makes their own feed URL (or a new one), shown once on the team page.
async fn regenerate(
    State(state): State<AppState>,
    session: Session,
    TeamCtx { user, membership }: TeamCtx,
) -> AppResult<Response> {
    let token = crate::teams::actions::new_calendar_feed(&state.db, membership.team.id, &user).await?;
    let url = super::views::feed_url(&state.config.base_url(), &token);
    let team_slug = membership.team.slug.clone();
    session.insert(NEW_CALENDAR_FEED_KEY, NewCalendarFeed { team_slug, url }).await?;
    flash(&session, FlashKind::Success, "Your calendar feed address is made; any old one of yours stopped working.")
        .await?;
    Ok(see_other(&format!("/teams/{}#calendar", membership.team.slug)))
}
