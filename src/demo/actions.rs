//! Plays the demo's story (`super`) through the app's own actions, each at the time the story
//! gives it, so the demo is a day that could have happened: every sign-off, announce, inject,
//! halt and observation passed the same rules, in the same transactions, as a person's would.
//!
//! The clock: the builder works on a pool of one connection of its own
//! ([`crate::db::one_connection_pool`]), sets the session's `gameday.now` before each step
//! ([`store::set_clock`]), and closes the pool at the end, so no other request ever reads a
//! time that is not now.

use std::sync::Arc;

use sqlx::PgPool;
use time::{Date, OffsetDateTime};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::{
    CACHE, ENVIRONMENT, FAILOVER, GATEWAY, GATEWAY_FIRST_FAULT, GATEWAY_RETEST, INCIDENT_DAYS_AGO, INCIDENT_LINK,
    INCIDENT_REPLAY, INCIDENT_SUMMARY, INCIDENT_TITLE, LEARNINGS, NEXT_DAY, NEXT_OBJECTIVE, NEXT_TITLE, PAST_DAY,
    PAST_OBJECTIVE, PAST_TITLE, PRIYA, RETRO_SUMMARY, RETRO_SURPRISED_US, RETRO_WENT_WELL, SAM, SYSTEMS, ScenarioText,
    TEAM_NAME, TOMAS, WEAKNESS_DESCRIPTION, WEAKNESS_TITLE, When, store, when,
};
use crate::accounts::User;
use crate::error::{AppError, AppResult};
use crate::gamedays::{GamedayInput, GamedayRole, Step, actions as gamedays};
use crate::learnings::{ActionStatus, NewAction, NewLearning, actions as learnings};
use crate::retros::actions::{self as retros, NoteKind, RetroText};
use crate::retros::{RetroForm, RetroStatus};
use crate::scenarios::gate::Outcome;
use crate::scenarios::{Decision, ScenarioFields, actions as scenarios};
use crate::teams::{Membership, Team, TeamRole, actions as teams, hash_invite_token};
use crate::timeline::Marker;
use crate::timeline::actions::{self as timeline, Observation};
use crate::weaknesses::actions::{self as weaknesses, NewIncident, NewWeakness};
use crate::weaknesses::store::Incident;

/// How many demo teams one person may make (archived ones count): each is a few hundred rows.
pub const MAX_DEMOS: i64 = 5;

/// What was made: the team and its two game days.
#[derive(Debug, Clone)]
pub struct Demo {
    pub team: Team,
    pub past: Uuid,
    pub next: Uuid,
}

/// Makes a demo team for `person`, or answers with the one they already have (not archived).
/// The building goes on in a task of its own, so a person who leaves the page (or presses
/// again) does not stop it halfway. `builders` bounds how many are made at once on this instance
/// (each holds a database connection of its own, outside the pool, for a second or two).
pub async fn explore(db: &PgPool, builders: &Arc<Semaphore>, person: &User) -> AppResult<Team> {
    if let Some(team) = store::active_demo(db, person.id).await? {
        return Ok(team);
    }
    let Ok(permit) = builders.clone().try_acquire_owned() else {
        return Err(AppError::Conflict(
            "Demo teams are being made for others right now. Try again in a few seconds.".into(),
        ));
    };
    let (db, person) = (db.clone(), person.clone());
    let building = tokio::spawn(async move {
        let _permit = permit;
        let pool = crate::db::one_connection_pool(&db, "gameday-demo").await?;
        let made = explore_on(&pool, &person).await;
        // Closing the connection also ends its clock setting and its lock.
        pool.close().await;
        made
    });
    building.await.map_err(|e| AppError::Internal(anyhow::anyhow!("the demo builder stopped: {e}")))?
}

async fn explore_on(pool: &PgPool, person: &User) -> AppResult<Team> {
    store::unbounded_waits(pool).await?;
    store::lock_person(pool, person.id).await?;
    if let Some(team) = store::active_demo(pool, person.id).await? {
        return Ok(team);
    }
    if store::demos_made(pool, person.id).await? >= MAX_DEMOS {
        return Err(AppError::Conflict(format!(
            "You have made {MAX_DEMOS} demo teams already. Unarchive one from your dashboard's archived teams."
        )));
    }
    let clock = Clock { pool, today: crate::tz::local_date(&OffsetDateTime::now_utc(), &person.time_zone) };
    let demo = build(&clock, person).await?;
    tracing::info!(team_id = %demo.team.id, past = %demo.past, next = %demo.next, "demo team made");
    Ok(demo.team)
}

/// Archives a demo team in one click. A team with a scheduled game day is not archived, so the
/// demo's upcoming day is cancelled first (on its timeline: why); a running one is left to finish.
pub async fn archive(db: &PgPool, membership: &Membership, person: &User) -> AppResult<()> {
    if !membership.demo {
        return Err(AppError::NotFound);
    }
    // Refused before anything is cancelled: a running day is ended by its facilitator, not here.
    let running = store::running_gamedays(db, membership.team.id).await?;
    let named: Vec<(String, String)> = running.into_iter().map(|title| (title, "running".to_owned())).collect();
    crate::teams::check_can_archive(&named).map_err(AppError::Conflict)?;
    for gameday in store::scheduled_gamedays(db, membership.team.id).await? {
        gamedays::cancel(db, gameday, person, "The demo team was archived.").await?;
    }
    teams::set_archived(db, membership.team.id, person, true).await
}

/// The story's clock on the builder's own connection.
struct Clock<'a> {
    pool: &'a PgPool,
    today: Date,
}

impl Clock<'_> {
    /// The pool to act through, its clock set to `when` in `person`'s zone.
    async fn at(&self, when: When, person: &User) -> AppResult<&PgPool> {
        store::set_clock(self.pool, Some(self.instant(when, person))).await?;
        Ok(self.pool)
    }

    fn instant(&self, when: When, person: &User) -> OffsetDateTime {
        when.instant(self.today, &person.time_zone)
    }
}

/// The team as `person` sees it, read as a request reads it (for the actions that take a membership).
async fn membership(db: &PgPool, team: &Team, person: &User) -> AppResult<Membership> {
    crate::teams::store::membership(db, &team.slug, person.id).await?.ok_or(AppError::NotFound)
}

fn fields(text: &ScenarioText, abort_owner: Uuid) -> ScenarioFields {
    ScenarioFields {
        title: text.title.into(),
        hypothesis: text.hypothesis.into(),
        fault: text.fault.into(),
        target_system: text.target_system.into(),
        blast_radius: Some(text.blast_radius),
        expected_impact: text.expected_impact.into(),
        abort_criteria: text.abort_criteria.into(),
        abort_owner: Some(abort_owner),
        rollback_plan: text.rollback_plan.into(),
        experiment_digest: None,
        health_checks: Vec::new(),
    }
}

/// Observations on the demo's completed game day, each logged as it was seen. Everyone there
/// is a participant but those `roles` names.
struct Note<'a> {
    clock: &'a Clock<'a>,
    me: &'a User,
    gameday: Uuid,
    roles: [(Uuid, GamedayRole); 2],
}

/// One observation of the story: when, by whom, its marker, its words.
type Line<'a> = (When, &'a User, Option<Marker>, &'a str);

impl Note<'_> {
    async fn say(
        &self,
        at: When,
        who: &User,
        scenario: Option<Uuid>,
        marker: Option<Marker>,
        body: &str,
    ) -> AppResult<i64> {
        let db = self.clock.at(at, self.me).await?;
        let role = self.roles.iter().find(|(id, _)| *id == who.id).map_or(GamedayRole::Participant, |(_, r)| *r);
        let observation = Observation { body: body.into(), scenario, marker, observed_at: None, link: None };
        timeline::observe(db, self.gameday, who, Some(role), &observation).await
    }

    async fn say_all(&self, scenario: Uuid, lines: &[Line<'_>]) -> AppResult<()> {
        for (at, who, marker, body) in lines {
            self.say(*at, who, Some(scenario), *marker, body).await?;
        }
        Ok(())
    }
}

/// A game day of the team's (title, objective, from, to) that `facilitator` plans with `people`.
async fn plan(
    db: &PgPool,
    (clock, me): (&Clock<'_>, &User),
    team: &Team,
    facilitator: &User,
    (title, objective, from, to): (&str, &str, When, When),
    people: &[(&User, GamedayRole)],
) -> AppResult<Uuid> {
    let input = GamedayInput {
        title: title.into(),
        objective: objective.into(),
        environment: ENVIRONMENT.into(),
        systems: SYSTEMS.into(),
        starts_at: Some(clock.instant(from, me)),
        ends_at: Some(clock.instant(to, me)),
        call_link: Some("https://meet.example.com/checkout-game-day".into()),
    };
    let gameday = gamedays::create(db, team.id, facilitator, &input).await?;
    for (who, role) in people {
        gamedays::add_participant(db, gameday, facilitator, who.id, *role).await?;
    }
    Ok(gameday)
}

/// A made-up person joins the team through an invite of the lead's, as anyone would.
async fn join(db: &PgPool, team: &Team, lead: &User, (name, role): (&str, TeamRole)) -> AppResult<User> {
    let person = crate::accounts::actions::create_demo_person(db, name, &lead.time_zone).await?;
    let token = teams::invite(db, (team.id, &team.name), lead, role, None).await?;
    teams::accept_invite(db, &hash_invite_token(&token), &person).await?;
    Ok(person)
}

async fn build(clock: &Clock<'_>, me: &User) -> AppResult<Demo> {
    use GamedayRole::{Facilitator, Observer, Participant};

    // The team, three weeks ago, and its people.
    let slug = super::slug(&crate::secrets::random_hex(3));
    let team = teams::create_marked(clock.at(when(-21, 9, 0), me).await?, TEAM_NAME, &slug, me, true).await?;
    let priya = join(clock.at(when(-21, 9, 5), me).await?, &team, me, PRIYA).await?;
    let tomas = join(clock.at(when(-21, 9, 10), me).await?, &team, me, TOMAS).await?;
    let sam = join(clock.at(when(-21, 9, 15), me).await?, &team, me, SAM).await?;

    // An incident of last month, written down.
    let db = clock.at(when(-20, 14, 0), me).await?;
    let incident = NewIncident {
        title: INCIDENT_TITLE,
        happened_on: clock.today - time::Duration::days(INCIDENT_DAYS_AGO),
        summary: INCIDENT_SUMMARY,
        link: Some(INCIDENT_LINK),
    };
    let incident_id =
        weaknesses::add_incident(db, &membership(clock.pool, &team, &priya).await?, &priya, incident).await?;

    // The plan: Priya facilitates; the others sign each scenario at its exact wording.
    let past = (PAST_TITLE, PAST_OBJECTIVE, when(PAST_DAY, 10, 0), when(PAST_DAY, 15, 0));
    let people = [(me, Participant), (&tomas, Participant), (&sam, Observer)];
    let past = plan(clock.at(when(-14, 10, 0), me).await?, (clock, me), &team, &priya, past, &people).await?;
    let cache =
        scenarios::create(clock.at(when(-14, 10, 20), me).await?, past, &priya, &fields(&CACHE, priya.id)).await?;
    let first = ScenarioFields { fault: GATEWAY_FIRST_FAULT.into(), ..fields(&GATEWAY, priya.id) };
    let gateway = scenarios::create(clock.at(when(-14, 10, 40), me).await?, past, &priya, &first).await?;
    let failover =
        scenarios::create(clock.at(when(-14, 11, 0), me).await?, past, &priya, &fields(&FAILOVER, me.id)).await?;
    let db = clock.at(when(-13, 9, 30), me).await?;
    scenarios::sign(db, past, gateway, &priya, 1, Decision::Approve, None).await?;
    let objection = "1 s is under our 1.5 s gateway timeout, so it would not test the timeout at all. Make it 2 s.";
    scenarios::sign(
        clock.at(when(-13, 15, 10), me).await?,
        past,
        gateway,
        &tomas,
        1,
        Decision::Object,
        Some(objection),
    )
    .await?;
    scenarios::revise(clock.at(when(-12, 9, 15), me).await?, past, gateway, &priya, &fields(&GATEWAY, priya.id))
        .await?;
    gamedays::step(clock.at(when(-12, 9, 30), me).await?, past, &priya, Step::Schedule, "").await?;
    let signatures = [
        (when(-12, 9, 35), &priya, cache, 1),
        (when(-12, 9, 36), &priya, gateway, 2),
        (when(-12, 9, 37), &priya, failover, 1),
        (when(-11, 16, 2), &tomas, cache, 1),
        (when(-11, 16, 5), &tomas, gateway, 2),
        (when(-11, 16, 9), &tomas, failover, 1),
        (when(-9, 11, 40), me, cache, 1),
        (when(-9, 11, 44), me, gateway, 2),
        (when(-9, 11, 51), me, failover, 1),
    ];
    for (at, who, scenario, revision) in signatures {
        scenarios::sign(clock.at(at, me).await?, past, scenario, who, revision, Decision::Approve, None).await?;
    }

    // The day.
    let day = |hour, minute| when(PAST_DAY, hour, minute);
    let note = Note { clock, me, gameday: past, roles: [(priya.id, Facilitator), (sam.id, Observer)] };
    gamedays::step(clock.at(day(10, 0), me).await?, past, &priya, Step::Start, "").await?;
    let opening =
        "Everyone is on the call; the checkout dashboards and the synthetic load (20 orders a minute) are up.";
    note.say(day(10, 3), &priya, None, None, opening).await?;

    // 1. The cache holds.
    scenarios::announce(clock.at(day(10, 10), me).await?, (past, cache, None), &priya, false).await?;
    scenarios::inject(clock.at(day(10, 12), me).await?, (past, cache, None), &priya, None).await?;
    note.say_all(
        cache,
        &[
            (day(10, 13), &tomas, Some(Marker::Detection), "Alert fired: redis-cache node 2 down."),
            (
                day(10, 14),
                me,
                Some(Marker::KeyMoment),
                "Checkout p99 rose to 640 ms for about 20 s, then back to 210 ms: the client moved to node 3.",
            ),
            (day(10, 15), &tomas, Some(Marker::Repair), "All cache traffic is on nodes 1 and 3; failover took 18 s."),
            (day(10, 18), &sam, None, "No failed orders in the synthetic load."),
        ],
    )
    .await?;
    scenarios::roll_back(clock.at(day(10, 20), me).await?, past, cache, &priya).await?;
    let held = "Failover took 18 s and no order failed: the hypothesis held.";
    scenarios::conclude(clock.at(day(10, 24), me).await?, past, cache, &priya, Outcome::Held, held).await?;

    // 2. The slow gateway refutes the hypothesis (escalating past "tiny" with no smaller one on
    // the gateway, which the facilitator acknowledges on the timeline).
    scenarios::announce(clock.at(day(10, 45), me).await?, (past, gateway, None), &priya, true).await?;
    scenarios::inject(clock.at(day(10, 47), me).await?, (past, gateway, None), &priya, None).await?;
    note.say_all(
        gateway,
        &[
            (day(10, 49), &tomas, Some(Marker::Detection), "Checkout error-rate alert: 4 % of checkouts answer 502."),
            (
                day(10, 52),
                me,
                Some(Marker::Diagnosis),
                "checkout-api retries every slow gateway call three times, at once: the gateway sees three times the load.",
            ),
            (day(10, 53), &sam, Some(Marker::Question), "Do we have a retry budget anywhere in checkout?"),
        ],
    )
    .await?;
    let wrong =
        note.say(day(10, 55), &tomas, Some(gateway), Some(Marker::KeyMoment), "Order success fell to 81 %.").await?;
    let right = "Order success fell to 91 %, not 81 %: I read the wrong panel.";
    timeline::correct(clock.at(day(10, 57), me).await?, past, &tomas, wrong, right).await?;
    scenarios::roll_back(clock.at(day(11, 2), me).await?, past, gateway, &priya).await?;
    let repaired = "Latency toxic removed; order success back to 99.9 % within two minutes.";
    note.say(day(11, 5), &tomas, Some(gateway), Some(Marker::Repair), repaired).await?;
    let refuted = "Refuted: immediate retries made a slow gateway an overloaded one. Weakness recorded.";
    scenarios::conclude(clock.at(day(11, 10), me).await?, past, gateway, &priya, Outcome::Refuted, refuted).await?;
    let weakness = NewWeakness { title: WEAKNESS_TITLE, description: WEAKNESS_DESCRIPTION, found_in: Some(gateway) };
    let weakness = weaknesses::add(
        clock.at(day(11, 15), me).await?,
        &membership(clock.pool, &team, &priya).await?,
        &priya,
        weakness,
    )
    .await?;

    // 3. The database failover is halted at its abort criteria.
    scenarios::announce(clock.at(day(13, 0), me).await?, (past, failover, None), &priya, true).await?;
    scenarios::inject(clock.at(day(13, 3), me).await?, (past, failover, None), &priya, None).await?;
    note.say_all(
        failover,
        &[
            (
                day(13, 4),
                &tomas,
                Some(Marker::Detection),
                "Connection errors from checkout-api: its pool still holds connections to the old primary.",
            ),
            (day(13, 5), me, Some(Marker::KeyMoment), "Checkout errors at 7 % for over a minute."),
        ],
    )
    .await?;
    let why = "the abort criteria are met: checkout errors above 5 % for more than a minute.";
    scenarios::halt(clock.at(day(13, 6), me).await?, past, failover, me, why).await?;
    note.say_all(
        failover,
        &[
            (
                day(13, 9),
                &priya,
                Some(Marker::Diagnosis),
                "The pool has no health check: connections to a demoted primary stay until they time out.",
            ),
            (
                day(13, 12),
                &tomas,
                Some(Marker::Repair),
                "Failed back and restarted checkout-api: errors at 0.1 % again.",
            ),
        ],
    )
    .await?;
    let halted = "Halted at the abort criteria before the failover finished; re-test after the pool fix.";
    scenarios::conclude(clock.at(day(13, 20), me).await?, past, failover, &priya, Outcome::Inconclusive, halted)
        .await?;
    note.say(day(14, 35), &priya, None, None, "Thank you all. Retrospective tomorrow at 11:00.").await?;
    gamedays::step(clock.at(day(14, 40), me).await?, past, &priya, Step::Complete, "").await?;

    // The next game day, planned the morning after: the re-test and the incident's replay.
    let next_day = |hour, minute| when(PAST_DAY + 1, hour, minute);
    let next = (NEXT_TITLE, NEXT_OBJECTIVE, when(NEXT_DAY, 10, 0), when(NEXT_DAY, 12, 0));
    let people = [(me, Facilitator), (&tomas, Participant), (&sam, Observer)];
    let next = plan(clock.at(next_day(9, 30), me).await?, (clock, me), &team, &priya, next, &people).await?;
    let retest =
        scenarios::create(clock.at(next_day(9, 40), me).await?, next, &priya, &fields(&GATEWAY_RETEST, priya.id))
            .await?;
    // The re-test targets the open weakness: injecting it will need a reason (invariant 3).
    weaknesses::link(clock.at(next_day(9, 42), me).await?, next, retest, &priya, Some(weakness)).await?;
    let incident = Incident {
        id: incident_id,
        title: INCIDENT_TITLE.into(),
        happened_on: clock.today - time::Duration::days(INCIDENT_DAYS_AGO),
        summary: INCIDENT_SUMMARY.into(),
        link: Some(INCIDENT_LINK.into()),
    };
    let replay = weaknesses::replay(clock.at(next_day(9, 45), me).await?, next, &priya, &incident).await?;
    scenarios::revise(clock.at(next_day(9, 55), me).await?, next, replay, &priya, &fields(&INCIDENT_REPLAY, priya.id))
        .await?;
    gamedays::step(clock.at(next_day(10, 0), me).await?, next, &priya, Step::Schedule, "").await?;

    // The retrospective, the same morning: written, reviewed, published, read.
    let db = clock.at(next_day(11, 40), me).await?;
    let text = RetroForm {
        summary: RETRO_SUMMARY.into(),
        went_well: RETRO_WENT_WELL.into(),
        surprised_us: RETRO_SURPRISED_US.into(),
    };
    let impacts = [
        (cache, "p99 640 ms for 20 s; no failed orders.".to_owned()),
        (gateway, "Order success fell to 91 % for 13 minutes; the gateway saw three times its load.".to_owned()),
        (failover, "7 % of checkouts failed for 3 minutes, until checkout-api was restarted.".to_owned()),
    ];
    retros::save(db, past, &priya, &RetroText { text: &text, impacts: &impacts }).await?;
    let ids = [cache, gateway, failover];
    for (statement, tags, scenario) in LEARNINGS {
        let learning = NewLearning {
            statement: statement.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            scenario: Some(ids[scenario]),
        };
        learnings::add_learning(db, past, &priya, &learning).await?;
    }
    let actions = [
        ("Add exponential backoff and a retry budget to payment calls", &tomas, 5, Some(next)),
        ("Drop pooled connections to a demoted primary (pool health check in checkout-api)", me, 2, Some(next)),
        ("Write the cache failover runbook", &priya, -3, None),
    ];
    let mut runbook = None;
    for (title, owner, due_in, retest) in actions {
        let action = NewAction {
            title: title.into(),
            owner: owner.id,
            due_on: Some(clock.today + time::Duration::days(due_in)),
            link: Some("https://tracker.example.com/CHK".into()),
            retest,
        };
        runbook = Some(learnings::add_action(db, past, &priya, &action).await?);
    }
    retros::transition(clock.at(next_day(11, 50), me).await?, past, &priya, RetroStatus::InReview, None).await?;
    let comment = "The 81 % was my misreading, corrected on the timeline: the summary's 91 % is right.";
    retros::add_note(clock.at(next_day(14, 20), me).await?, past, &tomas, NoteKind::Comment, comment).await?;
    let db = clock.at(when(PAST_DAY + 2, 9, 30), me).await?;
    retros::transition(db, past, &priya, RetroStatus::Published, None).await?;
    retros::mark_read(clock.at(when(PAST_DAY + 2, 10, 5), me).await?, past, &sam).await?;
    retros::mark_read(clock.at(when(PAST_DAY + 2, 11, 30), me).await?, past, &tomas).await?;
    if let Some(runbook) = runbook {
        let db = clock.at(when(-3, 16, 0), me).await?;
        learnings::set_status(db, &membership(clock.pool, &team, &priya).await?, &priya, runbook, ActionStatus::Done)
            .await?;
    }

    // The others signed the next day's scenarios; the person's own sign-off is what waits.
    let db = clock.at(when(-4, 10, 0), me).await?;
    for who in [&priya, &tomas] {
        scenarios::sign(db, next, retest, who, 1, Decision::Approve, None).await?;
        scenarios::sign(db, next, replay, who, 2, Decision::Approve, None).await?;
    }
    Ok(Demo { team, past, next })
}
