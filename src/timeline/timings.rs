//! Timings and the picture of a game day, derived from its events (never typed in).

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Event, EventKind, Marker};

/// When something happened: the "observed at" time when it was logged late, else the event's.
fn when(event: &Event) -> OffsetDateTime {
    event.observed_at.unwrap_or(event.at)
}

/// One scenario's timings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timings {
    pub announced: Option<OffsetDateTime>,
    pub injected: Option<OffsetDateTime>,
    /// From injection to the first detection.
    pub to_detect: Option<Duration>,
    /// From injection to the first repair or roll-back.
    pub to_repair: Option<Duration>,
    /// From announcement to conclusion (or to the latest step so far).
    pub total: Option<Duration>,
    /// From injection to the steady state back, as the scenario's health checks measured it.
    pub to_recover: Option<Duration>,
}

impl Timings {
    pub fn is_empty(&self) -> bool {
        self.announced.is_none()
    }
}

fn marked(event: &Event, marker: Marker) -> bool {
    event.kind() == Some(EventKind::Observation) && event.marker() == Some(marker)
}

/// Why a marker cannot be logged: the form field the reason belongs beside, and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerRefusal {
    pub field: &'static str,
    pub message: String,
}

/// A detection or repair marker counts towards a scenario's timings only at or after its
/// injection (`when` is when the thing was observed). Rather than being silently left out, one
/// on a scenario not injected yet is refused beside the marker, and one dated before the
/// injection beside the time, each with the reason (the injection's time in `zone`, the zone of
/// the person logging it).
pub fn check_marker_time(
    marker: Marker,
    when: OffsetDateTime,
    scenario_title: &str,
    injected_at: Option<OffsetDateTime>,
    zone: &str,
) -> Result<(), MarkerRefusal> {
    if !matches!(marker, Marker::Detection | Marker::Repair) {
        return Ok(());
    }
    let what = marker.label().to_lowercase();
    match injected_at {
        None => Err(MarkerRefusal {
            field: "marker",
            message: format!(
                "“{scenario_title}” has not been injected yet: a {what} can only come after the injection. \
                 Log it without a marker, or mark it once the fault is in."
            ),
        }),
        Some(injected) if when < injected => Err(MarkerRefusal {
            field: "observed_at",
            message: format!(
                "The scenario was injected at {}; a {what} before that does not count. Check the time.",
                crate::tz::format_clock_named(&injected, zone),
            ),
        }),
        Some(_) => Ok(()),
    }
}

/// Derives a scenario's timings from the game day's events.
pub fn timings(events: &[Event], scenario: Uuid) -> Timings {
    let own: Vec<&Event> = events.iter().filter(|e| e.scenario_id == Some(scenario)).collect();
    let first = |pred: &dyn Fn(&Event) -> bool| own.iter().filter(|e| pred(e)).map(|e| when(e)).min();
    let announced = first(&|e| e.kind() == Some(EventKind::ScenarioAnnounced));
    let injected = first(&|e| e.kind() == Some(EventKind::ScenarioInjected));
    let after_inject = |t: Option<OffsetDateTime>| match (injected, t) {
        (Some(i), Some(t)) if t >= i => Some(t - i),
        _ => None,
    };
    let detected = first(&|e| marked(e, Marker::Detection) && injected.is_some_and(|i| when(e) >= i));
    let repaired = first(&|e| {
        (marked(e, Marker::Repair) || e.kind() == Some(EventKind::ScenarioRolledBack))
            && injected.is_some_and(|i| when(e) >= i)
    });
    let recovered = first(&|e| e.kind() == Some(EventKind::SteadyStateBack));
    let last_step = own
        .iter()
        .filter(|e| {
            matches!(
                e.kind(),
                Some(
                    EventKind::ScenarioConcluded
                        | EventKind::ScenarioHalted
                        | EventKind::ScenarioRolledBack
                        | EventKind::ScenarioInjected
                )
            )
        })
        .map(|e| when(e))
        .max();
    let total = match (announced, last_step) {
        (Some(a), Some(l)) if l >= a => Some(l - a),
        _ => None,
    };
    Timings {
        announced,
        injected,
        to_detect: after_inject(detected),
        to_repair: after_inject(repaired),
        total,
        to_recover: after_inject(recovered),
    }
}

/// `2m 05s`, `1h 02m`, `45s`.
pub fn human(duration: &Duration) -> String {
    let secs = duration.whole_seconds().max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A mark on the picture.
#[derive(Debug, Clone)]
pub struct Mark {
    pub x: f64,
    pub class: &'static str,
    pub title: String,
    /// The mark's time (UTC, RFC 3339), and the title's words around it: a page rewrites the
    /// clock in its viewer's zone.
    pub at: String,
    pub before: String,
    pub after: String,
}

/// A tick of the time axis: where, its clock label, and its time (UTC, RFC 3339).
#[derive(Debug, Clone)]
pub struct Tick {
    pub x: f64,
    pub label: String,
    pub at: String,
}

/// One scenario's lane on the picture.
#[derive(Debug, Clone)]
pub struct Lane {
    pub y: f64,
    pub label: String,
    /// The span during which the fault was in place (inject → roll-back/halt or now).
    pub span: Option<(f64, f64)>,
    pub marks: Vec<Mark>,
}

/// The server-rendered picture of a game day: one lane per scenario on a shared time axis.
#[derive(Debug, Clone)]
pub struct Picture {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub lanes: Vec<Lane>,
    /// Axis ticks.
    pub ticks: Vec<Tick>,
}

pub const LANE_HEIGHT: f64 = 34.0;

/// Builds the picture; `labels` are (scenario id, title) in order; `clock` formats tick times.
pub fn picture(
    events: &[Event],
    labels: &[(Uuid, String)],
    clock: impl Fn(&OffsetDateTime) -> String,
) -> Option<Picture> {
    let relevant = |e: &Event| {
        e.scenario_id.is_some()
            && (e.is_fault_event()
                || marked(e, Marker::Detection)
                || marked(e, Marker::Repair)
                || marked(e, Marker::Diagnosis))
    };
    let times: Vec<OffsetDateTime> = events.iter().filter(|e| relevant(e)).map(when).collect();
    let (start, end) = (*times.iter().min()?, *times.iter().max()?);
    let span = (end - start).whole_seconds().max(60) as f64;
    let (width, left, right) = (760.0, 170.0, 20.0);
    let x = |t: OffsetDateTime| left + (t - start).whole_seconds() as f64 / span * (width - left - right);
    let mut lanes = Vec::new();
    for (i, (id, title)) in labels.iter().enumerate() {
        let own: Vec<&Event> = events.iter().filter(|e| e.scenario_id == Some(*id) && relevant(e)).collect();
        if own.is_empty() {
            continue;
        }
        let y = 30.0 + lanes.len() as f64 * LANE_HEIGHT;
        let marks = own
            .iter()
            .map(|e| {
                let (class, what) = match (e.kind(), e.marker()) {
                    (Some(EventKind::ScenarioAnnounced), _) => ("mark-announce", "announced"),
                    (Some(EventKind::ScenarioInjected), _) => ("mark-inject", "injected"),
                    (Some(EventKind::ScenarioHalted), _) => ("mark-halt", "halted"),
                    (Some(EventKind::ScenarioRolledBack), _) => ("mark-rollback", "rolled back"),
                    (Some(EventKind::ScenarioConcluded), _) => ("mark-conclude", "concluded"),
                    (_, Some(Marker::Detection)) => ("mark-detection", "detection"),
                    (_, Some(Marker::Repair)) => ("mark-repair", "repair"),
                    _ => ("mark-other", "diagnosis"),
                };
                let before = format!("#{} {what} at ", e.seq);
                let after = format!(" by {}", e.actor_name.as_deref().unwrap_or("Gameday"));
                Mark {
                    x: x(when(e)),
                    class,
                    title: format!("{before}{}{after}", clock(&when(e))),
                    at: crate::tz::format_utc(&when(e)),
                    before,
                    after,
                }
            })
            .collect();
        let injected = own.iter().filter(|e| e.kind() == Some(EventKind::ScenarioInjected)).map(|e| when(e)).min();
        let stopped = own
            .iter()
            .filter(|e| matches!(e.kind(), Some(EventKind::ScenarioHalted | EventKind::ScenarioRolledBack)))
            .map(|e| when(e))
            .min();
        let span = injected.map(|i| (x(i), x(stopped.unwrap_or(end).max(i))));
        let mut label: String = title.chars().take(24).collect();
        if title.chars().count() > 24 {
            label.push('…');
        }
        lanes.push(Lane { y, label: format!("{}. {label}", i + 1), span, marks });
    }
    let height = 40.0 + lanes.len() as f64 * LANE_HEIGHT;
    let ticks = (0..=4)
        .map(|k| {
            let t = start + Duration::seconds((span * k as f64 / 4.0) as i64);
            Tick { x: x(t), label: clock(&t), at: crate::tz::format_utc(&t) }
        })
        .collect();
    Some(Picture { width, height, left, lanes, ticks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64, sec: i64) -> OffsetDateTime {
        crate::tz::parse_local_input("2026-12-01T10:00", "UTC").unwrap()
            + Duration::minutes(min)
            + Duration::seconds(sec)
    }

    fn event(seq: i64, kind: EventKind, scenario: Uuid, t: OffsetDateTime, marker: Option<&str>) -> Event {
        Event {
            seq,
            at: t,
            observed_at: None,
            actor: None,
            actor_name: Some("Ana".into()),
            kind: kind.as_str().into(),
            scenario_id: Some(scenario),
            scenario_title: None,
            body: String::new(),
            body_html: None,
            data: match marker {
                Some(m) => serde_json::json!({ "marker": m }),
                None => serde_json::json!({}),
            },
        }
    }

    #[test]
    fn timings_run_from_injection_to_the_first_detection_and_repair() {
        let s = Uuid::new_v4();
        let other = Uuid::new_v4();
        let mut late = event(6, EventKind::Observation, s, at(9, 0), Some("detection"));
        late.observed_at = Some(at(3, 0)); // logged late: it was seen at 10:03
        let events = vec![
            event(1, EventKind::ScenarioAnnounced, s, at(0, 0), None),
            event(2, EventKind::ScenarioInjected, s, at(1, 0), None),
            event(3, EventKind::Observation, other, at(1, 30), Some("detection")),
            event(4, EventKind::Observation, s, at(5, 0), Some("detection")),
            event(5, EventKind::ScenarioRolledBack, s, at(8, 0), None),
            late,
            event(7, EventKind::ScenarioConcluded, s, at(10, 0), None),
        ];
        let t = timings(&events, s);
        assert_eq!(t.to_recover, None, "no health check measured a recovery");
        let mut with_checks = events.clone();
        with_checks.push(event(8, EventKind::SteadyStateBack, s, at(8, 30), None));
        assert_eq!(timings(&with_checks, s).to_recover, Some(Duration::seconds(450)), "injection to steady state back");
        assert_eq!(t.to_detect, Some(Duration::minutes(2)), "the late-logged detection at 10:03 counts");
        assert_eq!(t.to_repair, Some(Duration::minutes(7)), "the roll-back is the repair");
        assert_eq!(t.total, Some(Duration::minutes(10)));
        assert_eq!(human(&t.to_detect.unwrap()), "2m 00s");
    }

    #[test]
    fn nothing_is_derived_before_injection() {
        let s = Uuid::new_v4();
        let events = vec![
            event(1, EventKind::Observation, s, at(0, 0), Some("detection")),
            event(2, EventKind::ScenarioAnnounced, s, at(1, 0), None),
        ];
        let t = timings(&events, s);
        assert_eq!((t.to_detect, t.to_repair), (None, None));
        assert!(timings(&[], s).is_empty());
    }

    #[test]
    fn a_detection_or_repair_needs_the_injection_before_it() {
        let refusal = check_marker_time(Marker::Detection, at(5, 0), "Kill a pod", None, "UTC").unwrap_err();
        assert_eq!(refusal.field, "marker");
        assert!(refusal.message.contains("“Kill a pod” has not been injected yet: a detection can only come after"));
        let refusal =
            check_marker_time(Marker::Repair, at(0, 30), "Kill a pod", Some(at(1, 0)), "Asia/Tokyo").unwrap_err();
        assert_eq!(refusal.field, "observed_at");
        assert!(
            refusal.message.contains("injected at 19:01:00 JST"),
            "in the zone of who logs it: {}",
            refusal.message
        );
        assert!(check_marker_time(Marker::Repair, at(1, 0), "Kill a pod", Some(at(1, 0)), "UTC").is_ok());
        assert!(check_marker_time(Marker::Diagnosis, at(0, 0), "Kill a pod", None, "UTC").is_ok());
    }

    #[test]
    fn the_picture_has_a_lane_per_scenario_with_titled_marks() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let events = vec![
            event(1, EventKind::ScenarioAnnounced, a, at(0, 0), None),
            event(2, EventKind::ScenarioInjected, a, at(1, 0), None),
            event(3, EventKind::ScenarioHalted, a, at(4, 0), None),
            event(4, EventKind::ScenarioAnnounced, b, at(5, 0), None),
        ];
        let labels = vec![(a, "Kill a pod".to_owned()), (b, "Add latency".to_owned())];
        let picture = picture(&events, &labels, |t| crate::tz::format_clock(t, "UTC")).unwrap();
        assert_eq!(picture.lanes.len(), 2);
        assert_eq!(picture.lanes[0].marks.len(), 3);
        assert!(picture.lanes[0].marks[2].title.starts_with("#3 halted at 10:04:00"));
        let (from, to) = picture.lanes[0].span.unwrap();
        assert!(to > from, "the fault's span runs from injection to the halt");
        assert!(picture.lanes[1].marks[0].x > picture.lanes[0].marks[0].x, "a shared time axis");
    }
}
