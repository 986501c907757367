//! What the pages and the live stream both render of scenarios: the fault banners (which faults
//! are announced or injected right now), and each scenario's state badge and run card (its
//! outcome, timings and the moves the viewer may make). The parts that offer buttons are rendered
//! once for each kind of viewer (`hub::Audience`), never per person.

use askama::Template;
use sqlx::PgPool;
use uuid::Uuid;

use super::gate::{self, Move, Outcome};
use super::store::{self, Scenario};
use crate::error::AppResult;
use crate::gamedays::{Gameday, GamedayRole, GamedayStatus, role_of};
use crate::hub::Audience;
use crate::timeline::Event;
use crate::timeline::timings::{Timings, timings};
use crate::weaknesses::store as weakness_store;

#[derive(Template)]
#[template(path = "partials/_banners.html")]
struct BannersFragment<'a> {
    base: &'a str,
    in_flight: Vec<&'a Scenario>,
    may_halt: bool,
}

/// Renders the fault banners of a game day for one kind of viewer, from its scenarios; `base` is
/// the game day's URL.
pub fn render_banners(scenarios: &[Scenario], base: &str, audience: Audience) -> AppResult<String> {
    let in_flight = scenarios.iter().filter(|s| s.state.in_flight()).collect();
    let may_halt = gate::may_halt(role_of(audience));
    Ok(BannersFragment { base, in_flight, may_halt }.render()?)
}

/// A scenario's run card as one kind of viewer sees it.
pub struct RunCard {
    /// The scenario's URL.
    pub url: String,
    pub scenario: Scenario,
    pub gameday_status: GamedayStatus,
    /// The viewer's role, as the kind of viewer it stands for.
    pub role: Option<GamedayRole>,
    /// Start tiny: a smaller scenario on this target that held.
    pub smaller_held: Option<String>,
    /// The linked known weakness: (id, title, open?).
    pub weakness: Option<(Uuid, String, bool)>,
    pub timings: Timings,
}

impl RunCard {
    /// The move the viewer can make next, if they run the day.
    fn my_move(&self) -> Option<Move> {
        if self.role == Some(GamedayRole::Facilitator) { self.scenario.state.next_move() } else { None }
    }

    pub fn can_announce(&self) -> bool {
        self.my_move() == Some(Move::Announce)
    }

    pub fn can_inject(&self) -> bool {
        self.my_move() == Some(Move::Inject)
    }

    pub fn can_roll_back(&self) -> bool {
        self.my_move() == Some(Move::RollBack)
    }

    pub fn can_conclude(&self) -> bool {
        self.my_move() == Some(Move::Conclude)
    }

    /// Announcing would escalate past start tiny: the form asks for the acknowledgement.
    pub fn needs_acknowledgement(&self) -> bool {
        gate::start_tiny(self.scenario.fields.blast_radius, self.smaller_held.as_deref(), false).is_err()
    }

    /// Injecting targets an open weakness: the form asks why.
    pub fn needs_weakness_reason(&self) -> bool {
        let open = self.weakness.as_ref().is_some_and(|(_, _, open)| *open);
        gate::weakness_gate(open, None).is_err()
    }

    pub fn can_halt(&self) -> bool {
        gate::may_halt(self.role) && gate::halt(self.scenario.state).is_ok()
    }

    /// Someone who does not run the day waits for a facilitator to announce the scenario.
    pub fn awaits_facilitator(&self) -> bool {
        self.role != Some(GamedayRole::Facilitator) && self.scenario.state.next_move() == Some(Move::Announce)
    }

    pub fn outcomes(&self) -> [Outcome; 3] {
        Outcome::ALL
    }
}

#[derive(Template)]
#[template(path = "partials/_scenario_parts.html")]
struct ScenarioParts<'a> {
    run: &'a RunCard,
}

/// A scenario's state badge and run card, as the live stream pushes them.
pub fn render_scenario_parts(run: &RunCard) -> askama::Result<String> {
    ScenarioParts { run }.render()
}

/// The run card of `scenario` for a viewer with `role`, reading what its rules need.
pub async fn run_card(
    db: &PgPool,
    gameday: &Gameday,
    base: &str,
    scenario: Scenario,
    events: &[Event],
    role: Option<GamedayRole>,
) -> AppResult<RunCard> {
    let f = &scenario.fields;
    let smaller_held = store::smaller_that_held(
        db,
        gameday.team_id,
        scenario.id,
        &f.target_system,
        f.blast_radius,
        &gameday.environment,
    )
    .await?;
    let weakness = weakness_store::linked_weakness(db, scenario.id).await?;
    let timings = timings(events, scenario.id);
    let url = format!("{base}/scenarios/{}", scenario.id);
    Ok(RunCard { url, scenario, gameday_status: gameday.status, role, smaller_held, weakness, timings })
}
