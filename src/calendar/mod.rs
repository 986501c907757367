//! Calendar invitations: an RFC 5545 `.ics` per game day, and a per-team fault-calendar feed
//! behind a secret URL that calendar apps subscribe to, so invitations land in real calendars.

pub mod routes;
pub mod views;

/// How far back the team's feed reaches, in days. Calendar apps fetch the whole feed again
/// every few hours for every subscriber, so it holds what a calendar is for (the coming game
/// days and the last quarter's) rather than the team's whole history, which grows with every
/// game day and stays on the team page. An entry older than this leaves subscribed calendars.
pub const FEED_PAST_DAYS: i64 = 90;

/// The most entries the feed holds, soonest first: a bound on its size whatever is planned.
pub const FEED_MAX_ENTRIES: i64 = 500;
