//! What the pages and the live stream both render of scenarios: the fault banners (which faults
//! are announced or injected right now), and each scenario's state badge and run card (its
//! outcome, timings and the moves the viewer may make). The parts that offer buttons are rendered
//! once for each kind of viewer (`hub::Audience`), never per person.

use askama::Template;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::gate::{self, Move, Outcome};
use super::store::signoffs::AwaitingSignoff;
use super::store::{self, FrameRow, InFlightPlace, Scenario, ScenarioToRun};
use super::{Decision, Signoffs};
use crate::db::connection;
use crate::error::AppResult;
use crate::gamedays::{Gameday, GamedayRole, GamedayStatus, role_of};
use crate::healthchecks::views::{CheckLine, check_lines, recovery};
use crate::hub::Audience;
use crate::teams::NavTeam;
use crate::timeline::timings::{Timings, timings};
use crate::timeline::{Event, EventKind};
use crate::weaknesses::store as weakness_store;

/// One fault in flight, as its banner shows it.
#[derive(Debug, Clone)]
pub struct Banner {
    pub scenario: Scenario,
    /// The scenario's page.
    pub link: String,
    /// Since when it is announced or injected (as the timeline says).
    pub since: Option<OffsetDateTime>,
    /// For a banner shown away from its game day: "team · game day".
    pub place: Option<String>,
}

impl Banner {
    /// How long it has been announced or injected, at the time of rendering (the page's script
    /// keeps it current): "for 4 min".
    pub fn running_for(&self) -> String {
        let Some(since) = self.since else { return String::new() };
        let minutes = (OffsetDateTime::now_utc() - since).whole_minutes().max(0);
        match minutes {
            0 => "for less than a minute".to_owned(),
            m if m < 120 => format!("for {m} min"),
            m => format!("for {} h {} min", m / 60, m % 60),
        }
    }

    pub fn since_utc(&self) -> String {
        self.since.map(|at| crate::tz::format_utc(&at)).unwrap_or_default()
    }
}

/// The banners of a game day's faults in flight; `base` is the game day's URL, `events` its
/// timeline (which says since when each is in flight).
pub fn banners(scenarios: &[Scenario], events: &[Event], base: &str) -> Vec<Banner> {
    scenarios
        .iter()
        .filter(|s| s.state.in_flight())
        .map(|s| Banner {
            scenario: s.clone(),
            link: format!("{base}/scenarios/{}", s.id),
            since: events
                .iter()
                .rev()
                .find(|e| {
                    e.scenario_id == Some(s.id)
                        && matches!(e.kind(), Some(EventKind::ScenarioAnnounced | EventKind::ScenarioInjected))
                })
                .map(|e| e.at),
            place: None,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "partials/_banners.html")]
struct BannersFragment<'a> {
    in_flight: &'a [Banner],
    may_halt: bool,
}

/// Renders the fault banners of a game day for one kind of viewer.
pub fn render_banners(in_flight: &[Banner], audience: Audience) -> AppResult<String> {
    let may_halt = gate::may_halt(role_of(audience));
    Ok(BannersFragment { in_flight, may_halt }.render()?)
}

/// The faults in flight in any of a person's teams, except on the game day `here` (whose pages
/// show their own banners, with the Halt button).
pub async fn elsewhere(db: &PgPool, user_id: Uuid, here: Option<Uuid>) -> AppResult<Vec<Banner>> {
    let places = store::in_flight_places(db, user_id).await?;
    banners_of_places(db, places, here).await
}

/// A person's teams for the navigation, and the faults in flight in them except on the game day
/// `here` ([`elsewhere`]): what every page's frame shows, from its rows as the session load read
/// them (`loaded`) or else in one statement (and a second only when a fault is in flight
/// elsewhere).
pub async fn frame(
    db: &PgPool,
    user_id: Uuid,
    here: Option<Uuid>,
    loaded: Option<Vec<FrameRow>>,
) -> AppResult<(Vec<NavTeam>, Vec<Banner>)> {
    let (teams, places) = match loaded {
        Some(rows) => store::frame_of(rows),
        None => store::frame(&mut *connection(db).await?, user_id).await?,
    };
    Ok((teams, banners_of_places(db, places, here).await?))
}

/// The banners of faults in flight at these places, except on the game day `here`.
async fn banners_of_places(db: &PgPool, places: Vec<InFlightPlace>, here: Option<Uuid>) -> AppResult<Vec<Banner>> {
    let places: Vec<_> = places.into_iter().filter(|p| Some(p.gameday_id) != here).collect();
    if places.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = places.iter().map(|p| p.scenario_id).collect();
    let mut scenarios = store::scenarios_by_ids(&mut *connection(db).await?, &ids).await?;
    Ok(places
        .into_iter()
        .filter_map(|p| {
            let at = scenarios.iter().position(|s| s.id == p.scenario_id)?;
            let scenario = scenarios.swap_remove(at);
            Some(Banner {
                link: format!("/teams/{}/gamedays/{}/scenarios/{}", p.team_slug, p.gameday_id, scenario.id),
                scenario,
                since: p.since,
                place: Some(format!("{} · {}", p.team_name, p.gameday_title)),
            })
        })
        .collect())
}

#[derive(Template)]
#[template(path = "partials/_elsewhere.html")]
struct ElsewhereFragment<'a> {
    elsewhere: &'a [Banner],
}

/// Renders the banners that follow a person to every page (the same partial the layout uses).
pub fn render_elsewhere(elsewhere: &[Banner]) -> AppResult<String> {
    Ok(ElsewhereFragment { elsewhere }.render()?)
}

#[derive(Template)]
#[template(path = "partials/_signoff_requests.html")]
struct SignoffRequestsFragment<'a> {
    awaiting: &'a [AwaitingSignoff],
    scope: Option<String>,
}

/// Renders the scenarios waiting for a person's sign-off (of one team, on its team page), as
/// the dashboard and the team page show them.
pub fn render_signoff_requests(awaiting: &[AwaitingSignoff], scope: Option<String>) -> AppResult<String> {
    Ok(SignoffRequestsFragment { awaiting, scope }.render()?)
}

#[derive(Template)]
#[template(path = "partials/_signers.html")]
struct SignersPart<'a> {
    sid: Uuid,
    signoffs: &'a Signoffs,
}

/// Renders who signed a scenario's current revision (the same for every viewer).
pub fn render_signers(sid: Uuid, signoffs: &Signoffs) -> AppResult<String> {
    Ok(SignersPart { sid, signoffs }.render()?)
}

/// The scenario the control room shows: the first in flight, else the first with a move to make.
pub fn focus(scenarios: &[Scenario]) -> Option<usize> {
    scenarios
        .iter()
        .position(|s| s.state.in_flight())
        .or_else(|| scenarios.iter().position(|s| s.state.next_move().is_some()))
}

#[derive(Template)]
#[template(path = "partials/_control.html")]
struct ControlPart<'a> {
    focus: Option<&'a RunCard>,
}

/// Renders the control room's focus (the timeline page's panel) from its run card.
pub fn render_control(focus: Option<&RunCard>) -> AppResult<String> {
    Ok(ControlPart { focus }.render()?)
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
    /// The announcement on the timeline that acknowledged escalating past start tiny:
    /// (its sequence number, who announced it).
    pub escalation_acknowledged: Option<(i64, String)>,
    /// The outcome the latest imported Chaos Toolkit journal proposes, and why.
    pub proposal: Option<(Outcome, String)>,
    /// The health checks that guard the fault, each with its latest result.
    pub health: Vec<CheckLine>,
    /// What the timeline says of the steady state's return after the fault left flight.
    pub recovery: Option<String>,
    /// Who or what halted the fault, and why (the halt's timeline sentence), once halted.
    pub halted: Option<String>,
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
        (self.scenario.fields.blast_radius)
            .is_some_and(|radius| gate::start_tiny(radius, self.smaller_held.as_deref(), false).is_err())
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

    /// The outcome the conclusion form starts with: what an imported journal proposes, for the
    /// facilitator to confirm; else "held" after a roll-back, and none after a halt (a halted
    /// fault rarely held, and the person says what happened).
    pub fn suggested(&self, outcome: &Outcome) -> bool {
        match &self.proposal {
            Some((proposed, _)) => proposed == outcome,
            None => self.scenario.state == gate::ScenarioState::RolledBack && *outcome == Outcome::ALL[0],
        }
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
    Ok(run_card_of(gameday, base, ScenarioToRun { scenario, smaller_held, weakness }, events, role))
}

/// The run card of a scenario read with what its rules need ([`store::scenarios_to_run`]), for a
/// viewer with `role`.
pub fn run_card_of(
    gameday: &Gameday,
    base: &str,
    ScenarioToRun { scenario, smaller_held, weakness }: ScenarioToRun,
    events: &[Event],
    role: Option<GamedayRole>,
) -> RunCard {
    let timings = timings(events, scenario.id);
    let url = format!("{base}/scenarios/{}", scenario.id);
    let escalation_acknowledged = events
        .iter()
        .rev()
        .find(|e| e.scenario_id == Some(scenario.id) && e.kind() == Some(EventKind::ScenarioAnnounced))
        .filter(|e| e.escalation_acknowledged())
        .map(|e| (e.seq, e.actor_name.clone().unwrap_or_else(|| "A facilitator".into())));
    let proposal = events
        .iter()
        .rev()
        .find(|e| e.scenario_id == Some(scenario.id) && e.kind() == Some(EventKind::JournalImported))
        .and_then(|e| {
            let outcome = Outcome::parse(e.data.get("proposal")?.as_str()?).ok()?;
            Some((outcome, e.data.get("reason")?.as_str()?.to_owned()))
        });
    let health = check_lines(&scenario.fields.health_checks, events, scenario.id);
    let recovery = recovery(events, scenario.id);
    let halted = (scenario.state == gate::ScenarioState::Halted)
        .then(|| {
            events
                .iter()
                .rev()
                .find(|e| e.scenario_id == Some(scenario.id) && e.kind() == Some(EventKind::ScenarioHalted))
                .map(|e| e.body.clone())
        })
        .flatten();
    RunCard {
        halted,
        url,
        health,
        recovery,
        scenario,
        gameday_status: gameday.status,
        role,
        smaller_held,
        weakness,
        timings,
        escalation_acknowledged,
        proposal,
    }
}
