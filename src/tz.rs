//! Time zones: times are stored in UTC and shown (and entered) in each person's own zone.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use time::OffsetDateTime;

/// The zone with this IANA name, if it exists.
pub fn zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}

/// Checks an IANA zone name typed or chosen by a person.
pub fn parse_zone_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    match zone(name) {
        Some(_) => Ok(name.to_owned()),
        None => Err(format!("\"{name}\" is not a time zone we know. Choose one from the list, like Europe/Berlin.")),
    }
}

/// Every zone name, sorted, for a picker.
pub fn zone_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
    names.sort();
    names.dedup();
    names
}

fn to_zoned(at: &OffsetDateTime, zone_name: &str) -> jiff::ZonedDateTime {
    let tz = zone(zone_name).unwrap_or(TimeZone::UTC);
    let ts = Timestamp::from_second(at.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH);
    ts.to_zoned_datetime(tz)
}

/// A time for reading, in the viewer's zone: `Tue 1 Dec 2026, 14:00 CET`.
pub fn format_local(at: &OffsetDateTime, zone_name: &str) -> String {
    to_zoned(at, zone_name).strftime("%a %-d %b %Y, %H:%M %Z").to_string()
}

/// Only the clock time in the viewer's zone: `14:00:05`.
pub fn format_clock(at: &OffsetDateTime, zone_name: &str) -> String {
    to_zoned(at, zone_name).strftime("%H:%M:%S").to_string()
}

/// The clock time with the zone's abbreviation, for a document read anywhere: `14:00:05 CET`.
pub fn format_clock_named(at: &OffsetDateTime, zone_name: &str) -> String {
    to_zoned(at, zone_name).strftime("%H:%M:%S %Z").to_string()
}

/// The day in the viewer's zone: `Tue 1 Dec 2026`.
pub fn format_day(at: &OffsetDateTime, zone_name: &str) -> String {
    to_zoned(at, zone_name).strftime("%a %-d %b %Y").to_string()
}

/// The calendar date it is at `at` in the zone.
pub fn local_date(at: &OffsetDateTime, zone_name: &str) -> time::Date {
    let zoned = to_zoned(at, zone_name);
    let month = time::Month::try_from(zoned.month() as u8).unwrap_or(time::Month::January);
    time::Date::from_calendar_date(i32::from(zoned.year()), month, zoned.day() as u8).unwrap_or(at.date())
}

/// The date alone in the viewer's zone, for a chart's axis: `1 Dec 2026`.
pub fn format_date(at: &OffsetDateTime, zone_name: &str) -> String {
    to_zoned(at, zone_name).strftime("%-d %b %Y").to_string()
}

/// The exact UTC time, for a tooltip or a machine: `2026-12-01T13:00:00Z`.
pub fn format_utc(at: &OffsetDateTime) -> String {
    Timestamp::from_second(at.unix_timestamp())
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The value of a `datetime-local` input showing `at` in the zone: `2026-12-01T14:00`.
pub fn format_input(at: &OffsetDateTime, zone_name: &str) -> String {
    to_zoned(at, zone_name).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// Reads an RFC 3339 instant (`2026-12-01T13:00:00Z`, `2026-12-01T14:00:00+01:00`), as the API
/// takes times, into the value a form would hold in UTC (`2026-12-01T13:00:00`), so that the
/// form's own checks then apply: `parse_local_input(&it, "UTC")` reads it back.
pub fn rfc3339_as_utc_input(input: &str) -> Result<String, String> {
    let at: Timestamp =
        input.trim().parse().map_err(|_| "Give a time in RFC 3339, like 2026-12-01T13:00:00Z.".to_owned())?;
    Ok(at.to_zoned_datetime(TimeZone::UTC).strftime("%Y-%m-%dT%H:%M:%S").to_string())
}

/// Reads a `datetime-local` value (`2026-12-01T14:00`) entered in `zone_name` as a UTC instant.
/// A time that does not exist or exists twice (DST changes) takes the earlier valid reading.
pub fn parse_local_input(input: &str, zone_name: &str) -> Result<OffsetDateTime, String> {
    let input = input.trim();
    let civil: DateTime = input.parse().map_err(|_| "Enter a date and time like 2026-12-01 14:00.".to_owned())?;
    let tz = zone(zone_name).unwrap_or(TimeZone::UTC);
    let zoned = civil.to_zoned_datetime(tz).map_err(|_| "That time does not exist in your time zone.".to_owned())?;
    let seconds = zoned.timestamp().as_second();
    if !(946_684_800..=4_102_444_800).contains(&seconds) {
        return Err("Choose a date between the years 2000 and 2100.".into());
    }
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| "That date is out of range.".to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_rfc3339_time_reads_back_as_the_same_instant() {
        let input = super::rfc3339_as_utc_input("2026-12-01T14:00:05+01:00").unwrap();
        assert_eq!(input, "2026-12-01T13:00:05");
        let at = super::parse_local_input(&input, "UTC").unwrap();
        assert_eq!(super::format_utc(&at), "2026-12-01T13:00:05Z");
        assert!(super::rfc3339_as_utc_input("2026-12-01 14:00").is_err(), "an offset is required");
    }

    use super::*;

    #[test]
    fn input_in_a_zone_is_stored_as_utc_and_shown_back_the_same() {
        let at = parse_local_input("2026-12-01T14:00", "Europe/Berlin").unwrap();
        assert_eq!(format_utc(&at), "2026-12-01T13:00:00Z");
        assert_eq!(format_input(&at, "Europe/Berlin"), "2026-12-01T14:00");
        assert_eq!(format_input(&at, "America/New_York"), "2026-12-01T08:00");
        assert_eq!(format_local(&at, "Europe/Berlin"), "Tue 1 Dec 2026, 14:00 CET");
        assert_eq!(format_clock_named(&at, "Europe/Berlin"), "14:00:00 CET");
        assert_eq!(format_day(&at, "America/New_York"), "Tue 1 Dec 2026");
        assert_eq!(format_date(&at, "Pacific/Kiritimati"), "2 Dec 2026");
    }

    #[test]
    fn summer_time_is_respected() {
        let at = parse_local_input("2026-07-01T14:00", "Europe/Berlin").unwrap();
        assert_eq!(format_utc(&at), "2026-07-01T12:00:00Z");
    }

    #[test]
    fn bad_inputs_are_refused_with_a_message() {
        assert!(parse_local_input("tomorrow", "UTC").is_err());
        assert!(parse_local_input("1900-01-01T00:00", "UTC").is_err());
        assert!(parse_zone_name("Mars/Olympus").is_err());
        assert_eq!(parse_zone_name(" Europe/Paris "), Ok("Europe/Paris".to_owned()));
    }

    #[test]
    fn zone_list_has_the_common_zones() {
        let names = zone_names();
        assert!(names.iter().any(|n| n == "Europe/Berlin"));
        assert!(names.iter().any(|n| n == "UTC"));
    }
}
