//! The web level, shared by every page: the layout context, rendering, flash messages; the
//! extractors that hand a handler its checked context ([`context`]); sign-in ([`auth`]); the
//! refusal path that re-renders a form with its message ([`refusal`]); and the shell around every
//! response: error pages, security headers, static assets ([`shell`]); the Prometheus
//! metrics ([`metrics`]); and the pages of lists that grow with use ([`paging`]).

pub mod api;
pub mod auth;
pub mod client;
pub mod context;
pub mod metrics;
pub mod paging;
pub mod refusal;
pub mod sessions;
pub mod shell;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::scenarios::views::{Banner, frame};
use crate::state::AppState;
use crate::teams::NavTeam;
use auth::AuthSession;

const FLASH_KEY: &str = "flash";

/// A one-time message shown on the next page (after a POST-redirect-GET).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl FlashKind {
    pub fn css(&self) -> &'static str {
        match self {
            FlashKind::Success => "flash-success",
            FlashKind::Error => "flash-error",
        }
    }
}

/// Stores a flash message for the next page this session sees.
pub async fn flash(session: &Session, kind: FlashKind, message: impl Into<String>) -> AppResult<()> {
    let flash = Flash { kind, message: message.into() };
    session.insert(FLASH_KEY, flash).await?;
    Ok(())
}

/// What the base layout needs on every page: who is signed in, their teams, a flash message.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub user: Option<User>,
    pub teams: Vec<NavTeam>,
    pub flash: Option<Flash>,
    /// Faults in flight in the viewer's teams, away from the game day this page belongs to.
    pub elsewhere: Vec<Banner>,
    /// The team a page belongs to (`/teams/{slug}/…`), by its slug.
    pub team_slug: Option<String>,
    /// Password sign-up is turned off (`GAMEDAY_PASSWORD_SIGNIN=false`): pages offer no "Create account".
    pub no_password_signup: bool,
}

impl Layout {
    /// The layout for pages rendered without a request context (error pages).
    pub fn bare() -> Self {
        Layout::default()
    }

    pub fn css_url(&self) -> &'static str {
        shell::css_url()
    }

    pub fn js_url(&self) -> &'static str {
        shell::js_url()
    }

    pub fn favicon_url(&self) -> &'static str {
        shell::favicon_url()
    }
}

impl FromRequestParts<AppState> for Layout {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = parts.extensions.get::<AuthSession>().and_then(|auth| auth.user.clone());
        let (teams, elsewhere) = match &user {
            Some(user) => {
                let loaded = sessions::take_loaded_frame(user.id);
                frame(&state.db, user.id, gameday_in_path(parts.uri.path()), loaded).await?
            }
            None => (Vec::new(), Vec::new()),
        };
        // Read before removing: a removal marks the session changed, which would cost a write per page.
        let flash = match parts.extensions.get::<Session>() {
            Some(session) if session.get::<Flash>(FLASH_KEY).await?.is_some() => session.remove(FLASH_KEY).await?,
            _ => None,
        };
        let team_slug = team_in_path(parts.uri.path());
        let no_password_signup = !state.config.password_signin;
        Ok(Layout { user, teams, flash, elsewhere, team_slug, no_password_signup })
    }
}

/// The team a page belongs to, from its path (`/teams/{slug}/…`).
fn team_in_path(path: &str) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some("teams"), Some(slug)) if !slug.is_empty() => Some(slug.to_owned()),
        _ => None,
    }
}

/// The game day a page belongs to, from its path (`/teams/{slug}/gamedays/{id}/…`).
pub fn gameday_in_path(path: &str) -> Option<uuid::Uuid> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next(), segments.next()) {
        (Some("teams"), Some(_), Some("gamedays"), Some(id)) => uuid::Uuid::parse_str(id).ok(),
        _ => None,
    }
}

/// Marks a response whose body is a finished page, so [`error_pages`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct Rendered;

/// Renders a page with the given status.
pub fn render_status(status: StatusCode, page: &impl Template) -> AppResult<Response> {
    let body = page.render()?;
    let mut response = (status, Html(body)).into_response();
    response.extensions_mut().insert(Rendered);
    Ok(response)
}

/// Renders a page with 200 OK.
pub fn render(page: &impl Template) -> AppResult<Response> {
    render_status(StatusCode::OK, page)
}

/// Redirect after a successful POST (303 See Other, so the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

impl Layout {
    /// The viewer's teams that are not archived.
    pub fn active_teams(&self) -> Vec<&NavTeam> {
        self.teams.iter().filter(|t| !t.archived).collect()
    }

    /// The viewer's archived teams (listed apart, folded away).
    pub fn archived_teams(&self) -> Vec<&NavTeam> {
        self.teams.iter().filter(|t| t.archived).collect()
    }

    /// Whether this page belongs to an archived team of the viewer's (it shows a banner saying so).
    pub fn in_archived_team(&self) -> bool {
        self.teams.iter().any(|t| t.archived && Some(&t.slug) == self.team_slug.as_ref())
    }

    /// The viewer's time zone (UTC until they choose one).
    pub fn zone(&self) -> &str {
        self.user.as_ref().map(|u| u.time_zone.as_str()).unwrap_or("UTC")
    }

    /// A time in the viewer's zone, for reading.
    pub fn when(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_local(at, self.zone())
    }

    /// The day alone in the viewer's zone (`Tue 1 Dec 2026`), where the time of day does not matter.
    pub fn day(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_day(at, self.zone())
    }

    /// The end of a span: only the clock time when it ends on the day it starts.
    pub fn until(&self, start: &time::OffsetDateTime, end: &time::OffsetDateTime) -> String {
        let (start_day, end_day) =
            (crate::tz::format_input(start, self.zone()), crate::tz::format_input(end, self.zone()));
        if start_day[..10] == end_day[..10] {
            crate::tz::format_local(end, self.zone()).rsplit(", ").next().unwrap_or_default().to_owned()
        } else {
            self.when(end)
        }
    }

    /// The clock time in the viewer's zone.
    pub fn clock(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_clock(at, self.zone())
    }

    /// The exact UTC time (for `title` and `datetime` attributes).
    pub fn utc(&self, at: &time::OffsetDateTime) -> String {
        crate::tz::format_utc(at)
    }
}
