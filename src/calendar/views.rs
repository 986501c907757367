//! How a game day looks in a calendar: its RFC 5545 event (the icalendar crate escapes and folds
//! the text, so commas, semicolons, newlines and non-ASCII text survive), and the team feed's URL.

use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use time::OffsetDateTime;

use crate::gamedays::{Gameday, GamedayStatus};
use crate::scenarios::store::Scenario;

fn ics_time(at: &OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// The product identifier every calendar file carries (RFC 5545's `-//Org//Product//Language`).
pub const PRODID: &str = "-//Gameday//Gameday//EN";

/// An empty calendar named `name`, as Gameday writes it.
pub fn calendar(name: &str) -> Calendar {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", PRODID))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .name(name);
    calendar
}

/// The calendar event of one game day. Its UID is stable; its SEQUENCE rises with every
/// reschedule or status change, so calendar apps update the entry they already have. Its
/// DTSTAMP is `last_changed`, when the game day last changed, so the same game day always gives
/// the same bytes.
pub fn event(
    gameday: &Gameday,
    scenarios: &[Scenario],
    page_url: &str,
    host: &str,
    last_changed: OffsetDateTime,
) -> Option<Event> {
    let starts_at = gameday.starts_at?;
    // An unset end: a game day is planned as a two-hour block.
    let ends_at = gameday.ends_at.unwrap_or(starts_at + time::Duration::hours(2));
    let mut description = format!("Objective: {}\nEnvironment: {}\n", gameday.objective, gameday.environment);
    if !gameday.systems.is_empty() {
        description.push_str(&format!("Systems under test: {}\n", gameday.systems));
    }
    if scenarios.is_empty() {
        description.push_str("\nNo scenarios planned yet.\n");
    } else {
        description.push_str("\nScenarios (each agreed by every participant before it is injected):\n");
        for s in scenarios {
            description.push_str(&format!(
                "- {} (blast radius {}, target {})\n",
                s.fields.title,
                s.fields.radius(),
                s.fields.target_system
            ));
        }
    }
    if let Some(link) = &gameday.call_link {
        description.push_str(&format!("\nCall: {link}\n"));
    }
    if let Some(reason) = &gameday.cancel_reason {
        description.push_str(&format!("\nCancelled: {reason}\n"));
    }
    description.push_str(&format!("\nGameday: {page_url}"));

    let mut event = Event::new();
    event
        .uid(&format!("gameday-{}@{host}", gameday.id))
        .summary(&format!("Game day: {}", gameday.title))
        .description(&description)
        .sequence(gameday.ics_sequence.max(0) as u32)
        .url(page_url)
        .add_property("DTSTAMP", ics_time(&last_changed))
        .add_property("DTSTART", ics_time(&starts_at))
        .add_property("DTEND", ics_time(&ends_at));
    if let Some(link) = &gameday.call_link {
        event.location(link);
    }
    event.status(match gameday.status {
        GamedayStatus::Cancelled => EventStatus::Cancelled,
        GamedayStatus::Draft => EventStatus::Tentative,
        _ => EventStatus::Confirmed,
    });
    Some(event.done())
}

pub fn host_of(base_url: &str) -> String {
    base_url.split("://").nth(1).unwrap_or(base_url).split('/').next().unwrap_or("gameday").to_owned()
}

/// The URL of a team's feed, whose secret is `token`, on the server at `base_url`.
pub fn feed_url(base_url: &str, token: &str) -> String {
    format!("{base_url}/calendar/{token}.ics")
}
