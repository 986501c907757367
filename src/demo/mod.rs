//! "Explore a demo team": what a new person sees instead of an empty dashboard. A team they
//! lead, with a completed game day (three scenarios: one held, one refuted, one halted), its
//! timeline, timings and published retrospective, a known weakness, an incident replayed as a
//! scenario, and an upcoming game day waiting for their sign-off.
//!
//! This module is the story, as data: who is in it, what each scenario says, and when each thing
//! happens (a [`When`]: days from today and a clock time in the person's own zone). The story is
//! played through the app's own actions (`actions.rs`), so every rule holds as it would for a
//! real day; only the clock is the story's (see the migration `…_demo_teams.sql`).

pub mod actions;
pub mod routes;
pub mod store;

use time::{Date, OffsetDateTime};

use crate::scenarios::BlastRadius;
use crate::teams::TeamRole;

/// The demo team's name; its URL name is [`slug`].
pub const TEAM_NAME: &str = "Checkout team (demo)";

/// The demo team's URL name, from a few random hex digits (two people's demos never share one).
pub fn slug(random_hex: &str) -> String {
    format!("demo-{random_hex}")
}

/// The demo's other people: accounts nobody signs in to, with their role in the team.
pub const PRIYA: (&str, TeamRole) = ("Priya Raman", TeamRole::Member);
pub const TOMAS: (&str, TeamRole) = ("Tomás Ortega", TeamRole::Member);
pub const SAM: (&str, TeamRole) = ("Sam Okafor", TeamRole::Viewer);

/// A moment in the story: `day` days from today (negative: in the past), at `hour:minute` in the
/// person's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct When {
    pub day: i64,
    pub hour: u8,
    pub minute: u8,
}

/// A moment `day` days from today at `hour:minute` local time.
pub const fn when(day: i64, hour: u8, minute: u8) -> When {
    When { day, hour, minute }
}

impl When {
    /// The instant, for someone in `zone` whose today is `today`.
    pub fn instant(self, today: Date, zone: &str) -> OffsetDateTime {
        let date = today + time::Duration::days(self.day);
        let local = format!("{date} {:02}:{:02}", self.hour, self.minute);
        // A clock time that does not exist that day (a daylight-saving jump) is read an hour on.
        crate::tz::parse_local_input(&local, zone)
            .or_else(|_| crate::tz::parse_local_input(&format!("{date} {:02}:{:02}", self.hour + 1, self.minute), zone))
            .unwrap_or_else(|_| {
                let midnight = date.midnight().assume_utc();
                midnight + time::Duration::minutes(i64::from(self.hour) * 60 + i64::from(self.minute))
            })
    }
}

/// The completed game day: a week ago, from 10:00 to 15:00.
pub const PAST_DAY: i64 = -7;
/// The upcoming game day: in a week, from 10:00 to 12:00.
pub const NEXT_DAY: i64 = 7;

/// The words of one scenario.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioText {
    pub title: &'static str,
    pub hypothesis: &'static str,
    pub fault: &'static str,
    pub target_system: &'static str,
    pub blast_radius: BlastRadius,
    pub expected_impact: &'static str,
    pub abort_criteria: &'static str,
    pub rollback_plan: &'static str,
}

pub const PAST_TITLE: &str = "Checkout resilience game day";
pub const PAST_OBJECTIVE: &str = "Learn whether checkout keeps taking orders when the cache, the payments gateway \
     or the orders database fails, and how quickly we notice.";
pub const ENVIRONMENT: &str = "staging";
pub const SYSTEMS: &str = "checkout-api, payments-gateway, redis-cache, orders-db";

/// The held one.
pub const CACHE: ScenarioText = ScenarioText {
    title: "Lose one cache node",
    hypothesis: "Checkout p99 latency stays under 800 ms and no order fails while one of the three \
                 redis-cache nodes is down; the client fails over within 30 seconds.",
    fault: "Stop redis-cache node 2 (`systemctl stop redis` on cache-2.staging).",
    target_system: "redis-cache",
    blast_radius: BlastRadius::Tiny,
    expected_impact: "A short rise in checkout latency while the client reconnects; no failed orders.",
    abort_criteria: "Failed orders above 1 % for one minute, or p99 above 2 s for two minutes.",
    rollback_plan: "Start redis on cache-2 again (`systemctl start redis`); the node rejoins on its own.",
};

/// The refuted one (its first revision said 1 s; a revision made it 2 s).
pub const GATEWAY: ScenarioText = ScenarioText {
    title: "Slow payments gateway (+2 s)",
    hypothesis: "Checkout times out gateway calls after 1.5 s and queues the payment for a retry; \
                 order success stays above 99 %.",
    fault: "Add 2 s of latency to every call to payments-gateway (toxiproxy `latency` toxic on the \
            gateway proxy).",
    target_system: "payments-gateway",
    blast_radius: BlastRadius::Small,
    expected_impact: "Slower checkouts; payments confirmed a little later; no lost orders.",
    abort_criteria: "Order success below 90 % for one minute.",
    rollback_plan: "Remove the toxic (`toxiproxy-cli toxic remove gateway -n latency`).",
};

/// The first revision's fault, before Tomás made it 2 s.
pub const GATEWAY_FIRST_FAULT: &str = "Add 1 s of latency to every call to payments-gateway (toxiproxy \
     `latency` toxic on the gateway proxy).";

/// The halted one.
pub const FAILOVER: ScenarioText = ScenarioText {
    title: "Fail over the orders database",
    hypothesis: "When the orders-db primary fails over to its replica, checkout errors last under \
                 30 seconds and no acknowledged order is lost.",
    fault: "Promote the orders-db replica and stop the primary (`patronictl failover`).",
    target_system: "orders-db",
    blast_radius: BlastRadius::Medium,
    expected_impact: "Up to 30 seconds of failed checkouts while connections move to the new primary.",
    abort_criteria: "Checkout errors above 5 % for more than one minute.",
    rollback_plan: "Fail back to the old primary (`patronictl failover --candidate db-1`), then \
                    restart checkout-api if its pool still holds dead connections.",
};

/// The re-test on the upcoming day, after the fix.
pub const GATEWAY_RETEST: ScenarioText = ScenarioText {
    title: "Slow payments gateway (+2 s), after the backoff fix",
    hypothesis: "With exponential backoff and a retry budget, order success stays above 99 % while \
                 the gateway answers 2 s late.",
    ..GATEWAY
};

/// The past incident the upcoming day replays.
pub const INCIDENT_TITLE: &str = "Checkout outage: orders-db connection pool exhausted";
pub const INCIDENT_SUMMARY: &str = "For 23 minutes checkout answered 503: a slow query held every \
     connection of checkout-api's pool, and new requests queued until they timed out.";
pub const INCIDENT_LINK: &str = "https://status.example.com/incidents/checkout-pool";
/// How many days before today the incident happened.
pub const INCIDENT_DAYS_AGO: i64 = 30;
/// The replay's words once Priya filled them in.
pub const INCIDENT_REPLAY: ScenarioText = ScenarioText {
    title: "Replay: orders-db connection pool exhausted",
    hypothesis: "If a slow query holds connections again, checkout sheds load with a clear error \
                 within 10 seconds and recovers on its own once the query ends.",
    fault: "Run `select pg_sleep(120)` from 18 connections of the checkout-api role on orders-db.",
    target_system: "orders-db",
    blast_radius: BlastRadius::Small,
    expected_impact: "Some checkouts refused quickly with \"try again\"; the pool-saturation alert fires.",
    abort_criteria: "Checkout errors above 10 % for two minutes, or any request waiting over 30 s.",
    rollback_plan: "Cancel the sleeping queries (`pg_cancel_backend`) from the DBA console.",
};

pub const NEXT_TITLE: &str = "Payments and database re-test";
pub const NEXT_OBJECTIVE: &str = "Check the two fixes from the last game day: payment retries with backoff, \
     and a checkout that sheds load when the orders database is slow.";

/// The weakness the refuted scenario found.
pub const WEAKNESS_TITLE: &str = "Payment calls retry at once, with no backoff or budget";
pub const WEAKNESS_DESCRIPTION: &str = "checkout-api retries a slow gateway call three times \
     immediately, so a slow gateway gets three times the load. Found by \"Slow payments gateway (+2 s)\".";

/// The retrospective's words.
pub const RETRO_SUMMARY: &str = "Three faults in staging. The cache held: failover took 18 s and \
     no order failed. The slow gateway refuted our hypothesis: immediate retries tripled the \
     gateway's load and order success fell to 91 %. The database failover was halted at its abort \
     criteria: checkout-api kept dead connections after the switch.";
pub const RETRO_WENT_WELL: &str = "Every fault was announced, and everyone knew the abort criteria before it \
     was injected. The halt came within a minute of the criteria being met. The alerts for the cache and for \
     checkout errors fired within two minutes.";
pub const RETRO_SURPRISED_US: &str = "Retries without backoff made a slow dependency worse instead of hiding \
     it. checkout-api's connection pool does not drop connections to a demoted primary.";

/// The learnings: statement, tags, and which scenario (0 cache, 1 gateway, 2 failover).
pub const LEARNINGS: [(&str, &[&str], usize); 3] = [
    (
        "The redis client fails over in under 20 s with no failed orders; one cache node is not a single point of failure.",
        &["cache", "failover"],
        0,
    ),
    (
        "Immediate retries turn a slow dependency into an overloaded one; retries need backoff and a budget.",
        &["retries", "payments"],
        1,
    ),
    (
        "checkout-api's connection pool keeps connections to a demoted primary until it is restarted.",
        &["database", "connection-pool"],
        2,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::from_calendar_date(2026, time::Month::November, 26).unwrap()
    }

    #[test]
    fn a_moment_is_read_in_the_persons_zone() {
        let at = when(-7, 10, 0).instant(today(), "Europe/Berlin");
        assert_eq!(at, time::macros::datetime!(2026-11-19 09:00 UTC));
        let at = when(7, 10, 30).instant(today(), "UTC");
        assert_eq!(at, time::macros::datetime!(2026-12-03 10:30 UTC));
    }

    #[test]
    fn the_scenarios_fit_the_forms_limits() {
        for s in [CACHE, GATEWAY, FAILOVER, GATEWAY_RETEST, INCIDENT_REPLAY] {
            assert!(s.title.chars().count() <= 120, "{}", s.title);
            for text in [s.hypothesis, s.fault, s.expected_impact, s.abort_criteria, s.rollback_plan] {
                assert!(!text.trim().is_empty() && text.chars().count() <= 4000);
            }
        }
        assert_ne!(GATEWAY.fault, GATEWAY_FIRST_FAULT);
        assert!(slug("3fa2c1").len() <= 40);
    }
}
