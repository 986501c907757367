//! The game-day pages: the form that plans a game day, and the game-day page with its plan,
//! scenarios, participants, the day at a glance and the timeline. The buttons it offers ask the
//! lifecycle rules in `gamedays` (the server checks the same rules when one is pressed).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::store::{self, Participant};
use super::views::{DayActions, ScenarioLine, scenario_lines};
use super::{Gameday, GamedayForm, GamedayRole, GamedayStatus};
use crate::db::connection;
use crate::error::AppResult;
use crate::form::FieldErrors;
use crate::learnings::store::ActionItem;
use crate::scenarios::views::{Banner, banners};
use crate::state::AppState;
use crate::teams::Membership;
use crate::timeline::store as timeline;
use crate::timeline::timings::{self, Picture};
use crate::timeline::views::{EventView, window_views};
use crate::web::context::GamedayCtx;
use crate::web::{Layout, render_status};

#[derive(Template)]
#[template(path = "gamedays/form.html")]
struct FormPage {
    layout: Layout,
    membership: Membership,
    /// None when creating.
    gameday: Option<Gameday>,
    form: GamedayForm,
    errors: FieldErrors,
    /// The game day the new one copies ("Copy as the next game day").
    copy_of: Option<CopyOf>,
}

/// The game day a new one is planned from, with what the copy brings along.
pub struct CopyOf {
    pub gameday: Gameday,
    pub scenarios: usize,
    pub participants: usize,
}

impl FormPage {
    fn action(&self) -> String {
        let team = &self.membership.team.slug;
        match (&self.gameday, &self.copy_of) {
            (Some(g), _) => format!("/teams/{team}/gamedays/{}/edit", g.id),
            (None, Some(c)) => format!("/teams/{team}/gamedays/{}/copy", c.gameday.id),
            (None, None) => format!("/teams/{team}/gamedays"),
        }
    }
}

/// The form that plans a new game day (`gameday` None) or changes one, with what was typed and
/// the messages beside their fields.
pub fn form_page(
    layout: Layout,
    membership: Membership,
    gameday: Option<Gameday>,
    form: GamedayForm,
    (status, errors): (StatusCode, FieldErrors),
) -> AppResult<Response> {
    render_status(status, &FormPage { layout, membership, gameday, form, errors, copy_of: None })
}

/// The form that plans the next game day as a copy of `copy_of`, with what was typed and the
/// messages beside their fields.
pub fn copy_form_page(
    layout: Layout,
    membership: Membership,
    copy_of: CopyOf,
    form: GamedayForm,
    (status, errors): (StatusCode, FieldErrors),
) -> AppResult<Response> {
    render_status(status, &FormPage { layout, membership, gameday: None, form, errors, copy_of: Some(copy_of) })
}

/// How many of the latest events the game-day page shows.
pub const LATEST_EVENTS: i64 = 20;

#[derive(Template)]
#[template(path = "gamedays/show.html")]
struct ShowPage {
    layout: Layout,
    ctx: GamedayCtx,
    participants: Vec<Participant>,
    candidates: Vec<(Uuid, String)>,
    scenarios: Vec<ScenarioLine>,
    in_flight: Vec<Banner>,
    /// The latest events (the timeline page has them all).
    events: Vec<EventView>,
    last_seq: i64,
    /// Whether there are events before those shown.
    more_events: bool,
    picture: Option<Picture>,
    /// The action items that asked for this game day as their re-test.
    retests: Vec<ActionItem>,
    /// A refused change: its messages, shown at the top.
    alert: Option<String>,
    /// The lifecycle buttons (also pushed live).
    day: DayActions,
    roles: [GamedayRole; 3],
    me: Uuid,
}

impl ShowPage {
    fn is_facilitator(&self) -> bool {
        self.ctx.role == Some(GamedayRole::Facilitator)
    }

    /// Whether the viewer may plan the next game day as a copy of this one (they may create one).
    fn can_copy(&self) -> bool {
        super::check_can_create(self.ctx.membership.role).is_ok()
    }

    /// Whether the viewer may take `p` off the game day (it keeps a facilitator).
    fn can_remove(&self, p: &Participant) -> bool {
        let facilitators = super::facilitators(self.participants.iter().map(|p| p.role));
        self.day.can_edit_plan() && super::check_participant_change(p.role, None, facilitators).is_ok()
    }
}

/// The game-day page; `errors` is a refused change, whose messages the page shows at the top.
pub async fn gameday_page(
    state: &AppState,
    layout: Layout,
    ctx: GamedayCtx,
    (status, errors): (StatusCode, FieldErrors),
) -> AppResult<Response> {
    let me = ctx.user.id;
    let id = ctx.gameday.id;
    let can_add = ctx.role == Some(GamedayRole::Facilitator) && super::edit_plan(ctx.gameday.status).is_ok();
    let mut db = connection(&state.db).await?;
    let store::GamedayPage { participants, candidates, scenarios, signoffs, retests } =
        store::gameday_page(&mut *db, ctx.membership.team.id, id, can_add).await?;
    // The derived views read the key events; the list shows the latest few (the timeline page has the rest).
    let timeline::DayEvents { window, key } =
        timeline::day_events(&mut *db, id, &timeline::WindowFilter::default(), LATEST_EVENTS).await?;
    drop(db);
    let labels: Vec<(Uuid, String)> = scenarios.iter().map(|s| (s.id, s.fields.title.clone())).collect();
    let zone = layout.zone().to_owned();
    let picture = timings::picture(&key, &labels, |t| crate::tz::format_clock(t, &zone));
    let in_flight = banners(&scenarios, &key, &ctx.url());
    let scenarios = scenario_lines(scenarios, signoffs, &key);
    let faults = scenarios.iter().filter(|l| l.scenario.state.in_flight()).count();
    let not_run = scenarios.iter().filter(|l| l.scenario.state.takes_signoffs()).count();
    let day = DayActions {
        url: ctx.url(),
        gameday: ctx.gameday.clone(),
        role: ctx.role,
        in_flight: faults,
        not_run,
        reason_error: errors.get("reason").map(str::to_owned),
    };
    let last_seq = ctx.gameday.last_event_seq;
    let more_events = window.earlier.is_some();
    let events = window_views(&window, &ctx.url(), layout.zone(), ctx.user.id, ctx.role);
    let alert = (!errors.is_empty()).then(|| errors.messages().join(" "));
    let page = ShowPage {
        layout,
        ctx,
        participants,
        candidates,
        scenarios,
        in_flight,
        events,
        last_seq,
        more_events,
        picture,
        retests,
        alert,
        day,
        roles: GamedayRole::ALL,
        me,
    };
    render_status(status, &page)
}

impl GamedayStatus {
    /// The CSS class of the status badge.
    pub fn css(&self) -> &'static str {
        match self {
            GamedayStatus::Draft => "status-draft",
            GamedayStatus::Scheduled => "status-scheduled",
            GamedayStatus::Running => "status-running",
            GamedayStatus::Completed => "status-completed",
            GamedayStatus::Cancelled => "status-cancelled",
        }
    }
}
