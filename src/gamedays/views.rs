//! What the game-day pages and the live stream both render of a game day: its status badge, its
//! lifecycle buttons, and the line under each scenario in its list. With the scenarios' parts
//! (`scenarios::views`), these are the "state parts" that an open page replaces when they change.

use std::collections::HashMap;

use askama::Template;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Gameday, GamedayRole, Step, role_of};
use crate::error::AppResult;
use crate::hub::Audience;
use crate::scenarios::Signoffs;
use crate::scenarios::store::{self as scenario_store, Scenario};
use crate::scenarios::views::{focus, render_control, render_scenario_parts, render_signers, run_card};
use crate::timeline::Event;
use crate::timeline::timings::{self, Picture, Timings};

/// A game day's lifecycle buttons as one kind of viewer sees them.
pub struct DayActions {
    /// The game day's URL.
    pub url: String,
    pub gameday: Gameday,
    pub role: Option<GamedayRole>,
    /// How many of its faults are announced or injected.
    pub in_flight: usize,
    /// How many of its scenarios have not run (ending now ends the day early).
    pub not_run: usize,
    /// A refused reason (for ending early), shown beside its field.
    pub reason_error: Option<String>,
}

impl DayActions {
    fn is_facilitator(&self) -> bool {
        self.role == Some(GamedayRole::Facilitator)
    }

    /// Whether the viewer may change the plan (details, scenarios, participants) now.
    pub fn can_edit_plan(&self) -> bool {
        self.is_facilitator() && super::edit_plan(self.gameday.status).is_ok()
    }

    /// The lifecycle step the viewer can take next, if any.
    fn my_step(&self) -> Option<Step> {
        if self.is_facilitator() { self.gameday.status.next_step() } else { None }
    }

    pub fn can_schedule(&self) -> bool {
        self.my_step() == Some(Step::Schedule)
    }

    pub fn can_start(&self) -> bool {
        self.my_step() == Some(Step::Start)
    }

    pub fn can_complete(&self) -> bool {
        self.my_step() == Some(Step::Complete)
    }

    /// Ending now would leave scenarios unrun: the button asks for a reason.
    pub fn ends_early(&self) -> bool {
        self.not_run > 0
    }

    pub fn can_cancel(&self) -> bool {
        self.is_facilitator() && super::cancel(self.gameday.status).is_ok()
    }

    /// Whether the viewer may halt every fault in flight at once ("Halt everything").
    pub fn can_halt_all(&self) -> bool {
        self.is_facilitator() && self.in_flight > 0
    }

    pub fn has_retrospective(&self) -> bool {
        crate::retros::open(self.gameday.status).is_ok()
    }
}

/// A scenario in the game-day list with where its sign-off stands.
pub struct ScenarioLine {
    pub scenario: Scenario,
    pub signoffs: Signoffs,
    pub timings: Timings,
}

/// The lines of a game day's scenario list, from its scenarios, sign-offs and events.
pub fn scenario_lines(
    scenarios: Vec<Scenario>,
    mut signoffs: HashMap<Uuid, Signoffs>,
    events: &[Event],
) -> Vec<ScenarioLine> {
    scenarios
        .into_iter()
        .map(|scenario| {
            let signoffs = signoffs.remove(&scenario.id).unwrap_or_else(|| Signoffs::unsigned(scenario.revision));
            let timings = timings::timings(events, scenario.id);
            ScenarioLine { scenario, signoffs, timings }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "partials/_gameday_actions.html")]
struct ActionsPart<'a> {
    day: &'a DayActions,
}

#[derive(Template)]
#[template(path = "partials/_scenario_line.html")]
struct LinePart<'a> {
    line: &'a ScenarioLine,
}

#[derive(Template)]
#[template(path = "partials/_picture.html")]
struct PicturePart {
    picture: Option<Picture>,
}

#[derive(Template)]
#[template(path = "partials/_gameday_status.html")]
struct GamedayStatusPart<'a> {
    g: &'a Gameday,
}

/// The parts of a game day's pages that depend on its state, rendered for each of `audiences`:
/// the game day's status badge and lifecycle buttons, each scenario's line in the list, and each
/// scenario's state badge and run card. An open page replaces its elements of the same ids with
/// them. `scenarios` and `events` are the game day's, read once by the caller.
pub async fn render_state_parts(
    db: &PgPool,
    (gameday, base): (&Gameday, &str),
    scenarios: &[Scenario],
    events: &[Event],
    audiences: &[Audience],
) -> AppResult<Vec<(Audience, String)>> {
    let in_flight = scenarios.iter().filter(|s| s.state.in_flight()).count();
    let signoffs = scenario_store::signoffs::signoffs_of_gameday(db, gameday.id).await?;
    let mut shared = GamedayStatusPart { g: gameday }.render()?;
    for line in scenario_lines(scenarios.to_vec(), signoffs, events) {
        shared.push_str(&LinePart { line: &line }.render()?);
        shared.push_str(&render_signers(line.scenario.id, &line.signoffs)?);
    }
    // Clocks in UTC: the page rewrites them in its viewer's zone.
    let labels: Vec<(Uuid, String)> = scenarios.iter().map(|s| (s.id, s.fields.title.clone())).collect();
    let picture = timings::picture(events, &labels, |t| crate::tz::format_clock(t, "UTC"));
    shared.push_str(&PicturePart { picture }.render()?);
    let mut cards = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        cards.push(run_card(db, gameday, base, scenario.clone(), events, None).await?);
    }
    let mut parts = Vec::new();
    let mut actions = DayActions {
        url: base.to_owned(),
        gameday: gameday.clone(),
        role: None,
        in_flight,
        not_run: scenarios.iter().filter(|s| s.state.takes_signoffs()).count(),
        reason_error: None,
    };
    for &audience in audiences {
        let mut html = shared.clone();
        actions.role = role_of(audience);
        html.push_str(&ActionsPart { day: &actions }.render()?);
        for card in &mut cards {
            card.role = role_of(audience);
            html.push_str(&render_scenario_parts(card)?);
        }
        html.push_str(&render_control(focus(scenarios).and_then(|i| cards.get(i)))?);
        parts.push((audience, html));
    }
    Ok(parts)
}
