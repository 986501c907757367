//! Calendar invitations: an RFC 5545 `.ics` per game day, and a per-team fault-calendar feed
//! behind a secret URL that calendar apps subscribe to, so invitations land in real calendars.

pub mod routes;
pub mod views;
