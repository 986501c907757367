//! How health checks show: a line per attached check on the run card (its latest result, read
//! from the timeline's key events, so the card needs no statement of its own and the live stream
//! pushes it with every change), and the response times of the latest runs on the scenario page.

use time::OffsetDateTime;
use uuid::Uuid;

use sqlx::PgPool;

use super::AttachedCheck;
use super::store::{self, LibraryCheck, ResultRow};
use crate::error::AppResult;
use crate::timeline::{Event, EventKind};

/// An attached check on the run card.
#[derive(Debug, Clone)]
pub struct CheckLine {
    pub name: String,
    pub request: String,
    pub expected: String,
    pub guard: String,
    /// The latest result the timeline knows: passed?, what was seen, when.
    pub latest: Option<(bool, String, OffsetDateTime)>,
}

impl CheckLine {
    pub fn passing(&self) -> bool {
        self.latest.as_ref().is_some_and(|(passed, _, _)| *passed)
    }

    pub fn failing(&self) -> bool {
        self.latest.as_ref().is_some_and(|(passed, _, _)| !*passed)
    }

    pub fn summary(&self) -> &str {
        self.latest.as_ref().map_or("not run yet", |(_, summary, _)| summary.as_str())
    }

    /// When the latest result was judged, in UTC (`datetime`), and as a clock the page's
    /// script rewrites in its viewer's zone.
    pub fn since(&self) -> (String, String) {
        self.latest
            .as_ref()
            .map(|(_, _, at)| (crate::tz::format_utc(at), crate::tz::format_clock(at, "UTC")))
            .unwrap_or_default()
    }
}

/// The latest result of a check that an event of the scenario carries.
fn result_in(event: &Event, name: &str) -> Option<(bool, String)> {
    let pick = |v: &serde_json::Value| -> Option<(bool, String)> {
        Some((v.get("passed")?.as_bool()?, v.get("summary")?.as_str()?.to_owned()))
    };
    match event.kind()? {
        EventKind::HealthCheckChanged if event.data.get("check")?.as_str()? == name => pick(&event.data),
        EventKind::HealthChecked => event
            .data
            .get("results")?
            .as_array()?
            .iter()
            .find(|r| r.get("check").and_then(|c| c.as_str()) == Some(name))
            .and_then(pick),
        _ => None,
    }
}

/// A line per attached check, with its latest result from `events` (key events of the game day).
pub fn check_lines(checks: &[AttachedCheck], events: &[Event], scenario_id: Uuid) -> Vec<CheckLine> {
    checks
        .iter()
        .map(|check| {
            let latest = events
                .iter()
                .rev()
                .filter(|e| e.scenario_id == Some(scenario_id))
                .find_map(|e| result_in(e, &check.name).map(|(passed, summary)| (passed, summary, e.at)));
            CheckLine {
                name: check.name.clone(),
                request: check.spec.request(),
                expected: check.spec.expected(),
                guard: check.guard(),
                latest,
            }
        })
        .collect()
}

/// What the timeline says of the recovery after the fault left flight, if anything yet.
pub fn recovery(events: &[Event], scenario_id: Uuid) -> Option<String> {
    events
        .iter()
        .rev()
        .filter(|e| e.scenario_id == Some(scenario_id))
        .find(|e| matches!(e.kind(), Some(EventKind::SteadyStateBack | EventKind::SteadyStateNotBack)))
        .map(|e| e.body.clone())
}

/// The response times of a check's latest runs, drawn as a line (an SVG polyline's points in a
/// 160 × 32 box), with the failed runs marked.
#[derive(Debug, Clone)]
pub struct Spark {
    pub name: String,
    pub points: String,
    /// Failed runs: (x, y).
    pub failures: Vec<(f64, f64)>,
    pub runs: usize,
    pub slowest_ms: i32,
    pub last: String,
    pub last_passed: bool,
}

impl Spark {
    /// The slowest run, for people.
    pub fn slowest(&self) -> String {
        super::millis(u32::try_from(self.slowest_ms).unwrap_or(0))
    }
}

pub const SPARK_WIDTH: f64 = 160.0;
pub const SPARK_HEIGHT: f64 = 32.0;

/// A sparkline per check that has results, in the order of `names`.
pub fn sparks(names: &[String], results: &[ResultRow]) -> Vec<Spark> {
    names
        .iter()
        .filter_map(|name| {
            let runs: Vec<&ResultRow> = results.iter().filter(|r| &r.check_name == name).collect();
            let last = runs.last()?;
            let slowest_ms = runs.iter().filter_map(|r| r.elapsed_ms).max().unwrap_or(0).max(1);
            let step = if runs.len() > 1 { SPARK_WIDTH / (runs.len() - 1) as f64 } else { 0.0 };
            let at = |i: usize, r: &ResultRow| {
                let x = (i as f64 * step * 10.0).round() / 10.0;
                let ms = f64::from(r.elapsed_ms.unwrap_or(0));
                let y =
                    ((SPARK_HEIGHT - 2.0 - ms / f64::from(slowest_ms) * (SPARK_HEIGHT - 4.0)) * 10.0).round() / 10.0;
                (x, y)
            };
            let coords: Vec<(f64, f64)> = runs.iter().enumerate().map(|(i, r)| at(i, r)).collect();
            Some(Spark {
                name: name.clone(),
                points: coords.iter().map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" "),
                failures: runs.iter().zip(&coords).filter(|(r, _)| !r.passed).map(|(_, c)| *c).collect(),
                runs: runs.len(),
                slowest_ms,
                last: last.summary.clone(),
                last_passed: last.passed,
            })
        })
        .collect()
}

/// The scenario page's health-check section: the checks its revision carries, their latest
/// response times, and (for a facilitator who may edit) the library to attach from.
#[derive(Debug, Clone)]
pub struct Section {
    pub attached: Vec<AttachedCheck>,
    pub sparks: Vec<Spark>,
    /// The team's checks not attached yet (empty unless the viewer may attach).
    pub library: Vec<LibraryCheck>,
    /// Whether the team has any check at all (to say where to write one).
    pub team_has_checks: bool,
}

impl Section {
    /// The sparkline of an attached check, if it has run.
    pub fn spark(&self, name: &str) -> Option<&Spark> {
        self.sparks.iter().find(|s| s.name == name)
    }
}

/// How many of the latest runs of each check the page draws.
const SPARK_RUNS: i64 = 40;

/// Reads the section: the recent results (when the revision carries checks) and, when the viewer
/// may attach, the team's library.
pub async fn section(
    db: &PgPool,
    team_id: Uuid,
    attached: &[AttachedCheck],
    scenario_id: Uuid,
    may_attach: bool,
) -> AppResult<Section> {
    let sparks = if attached.is_empty() {
        Vec::new()
    } else {
        let names: Vec<String> = attached.iter().map(|c| c.name.clone()).collect();
        sparks(&names, &store::recent(db, scenario_id, SPARK_RUNS).await?)
    };
    let (library, team_has_checks) = if may_attach {
        let all = store::of_team(db, team_id).await?;
        let has = !all.is_empty();
        (all.into_iter().filter(|c| !attached.iter().any(|a| a.check_id == c.id || a.name == c.name)).collect(), has)
    } else {
        (Vec::new(), true)
    };
    Ok(Section { attached: attached.to_vec(), sparks, library, team_has_checks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, ms: i32, passed: bool) -> ResultRow {
        ResultRow {
            check_name: name.into(),
            phase: "during".into(),
            at: OffsetDateTime::UNIX_EPOCH,
            passed,
            status: Some(200),
            elapsed_ms: Some(ms),
            judged: String::new(),
            summary: format!("{ms}"),
        }
    }

    #[test]
    fn a_sparkline_spans_the_box_and_marks_failures() {
        let results = [row("api", 10, true), row("db", 5, true), row("api", 40, false), row("api", 20, true)];
        let sparks = sparks(&["api".into(), "db".into(), "none".into()], &results);
        assert_eq!(sparks.len(), 2);
        let api = &sparks[0];
        assert_eq!(api.runs, 3);
        assert_eq!(api.slowest_ms, 40);
        assert_eq!(api.points, "0,23 80,2 160,16");
        assert_eq!(api.failures, vec![(80.0, 2.0)]);
        assert_eq!(api.last, "20");
        assert_eq!(sparks[1].points, "0,2");
    }
}
