//! The team overview's chart: time to detect and to repair per injected scenario over time,
//! drawn by the server as SVG coordinates.
//!
//! The axes are worked out here rather than with a plotting crate: plotters (the well-kept one
//! with an SVG backend) measures text through system fonts by default (font-kit and fontconfig)
//! and writes its own colours and shapes, so it could not keep the page's CSS classes, the
//! focusable points with their titles, or the strict CSP's markup. "Nice numbers" for the ticks
//! are a few lines.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::timeline::Event;
use crate::timeline::timings::{human, timings};

/// The unit a time axis counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Minutes,
    Hours,
}

impl TimeUnit {
    fn seconds(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1.0,
            TimeUnit::Minutes => 60.0,
            TimeUnit::Hours => 3600.0,
        }
    }

    /// The axis title.
    pub fn after_injection(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "Seconds after injection",
            TimeUnit::Minutes => "Minutes after injection",
            TimeUnit::Hours => "Hours after injection",
        }
    }
}

/// A time axis from zero to `top`, with a tick every `step`, both whole numbers of `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeAxis {
    pub unit: TimeUnit,
    pub step: u64,
    pub top: u64,
}

/// At most this many steps from zero to the top of the axis.
const MAX_STEPS: f64 = 5.0;

impl TimeAxis {
    /// The axis for durations up to `max_seconds`: in seconds while all are under two minutes,
    /// in minutes under two hours, in hours beyond. The step is the smallest round one (1, 2,
    /// 5, 10, 15, 20 or 30 seconds or minutes; 1, 2 or 5 times a power of ten hours) that
    /// reaches the longest duration in at most five steps, so the labels are distinct whole
    /// numbers. A chart of nothing but zeros still gets a five-second axis.
    pub fn for_max(max_seconds: f64) -> TimeAxis {
        let max_seconds = if max_seconds.is_finite() { max_seconds.max(5.0) } else { 5.0 };
        let unit = if max_seconds < 120.0 {
            TimeUnit::Seconds
        } else if max_seconds < 7200.0 {
            TimeUnit::Minutes
        } else {
            TimeUnit::Hours
        };
        let max = max_seconds / unit.seconds();
        let fits = |step: u64| (max / step as f64).ceil() <= MAX_STEPS;
        let step = match unit {
            TimeUnit::Seconds | TimeUnit::Minutes => [1, 2, 5, 10, 15, 20, 30].into_iter().find(|&s| fits(s)),
            TimeUnit::Hours => (0..18).flat_map(|p| [1, 2, 5].map(|m| m * 10_u64.pow(p))).find(|&s| fits(s)),
        }
        .unwrap_or(u64::MAX / 8);
        let top = ((max / step as f64).ceil() as u64).max(1) * step;
        TimeAxis { unit, step, top }
    }

    /// The tick values, from zero to the top.
    pub fn ticks(&self) -> Vec<u64> {
        (0..=self.top / self.step).map(|k| k * self.step).collect()
    }

    fn top_seconds(&self) -> f64 {
        self.top as f64 * self.unit.seconds()
    }
}

/// Which of `count` points spread evenly over `span` get a label `label_width` wide: all when
/// they fit side by side, else as many as fit, spread evenly from the first to the last.
fn labelled(count: usize, span: f64, label_width: f64) -> Vec<usize> {
    if count <= 1 {
        return (0..count).collect();
    }
    let last = count - 1;
    let apart = span / last as f64;
    if apart >= label_width {
        return (0..count).collect();
    }
    let most = last.min((span / label_width) as usize);
    // Rounded positions stay at least `last / gaps` points apart.
    let gaps = (1..=most).rev().find(|&gaps| (last / gaps) as f64 * apart >= label_width);
    match gaps {
        Some(gaps) => (0..=gaps).map(|k| (k * last + gaps / 2) / gaps).collect(),
        None => vec![0],
    }
}

/// One point of the chart.
#[derive(Debug, Clone)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub title: String,
}

/// Time to detect and to repair per injected scenario, in injection order.
#[derive(Debug, Clone)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    /// The plot area: left and right edges, top and the baseline (zero).
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub baseline: f64,
    /// The points' size: smaller when many scenarios share the width.
    pub radius: f64,
    pub detect: Vec<Point>,
    pub repair: Vec<Point>,
    /// (y, label) of the horizontal grid lines.
    pub grid: Vec<(f64, String)>,
    pub y_title: &'static str,
    /// (x, date) of the labelled scenarios.
    pub x_ticks: Vec<(f64, String)>,
    pub x_title: &'static str,
}

impl Chart {
    /// The middle of the plot's height, where the y axis title is centred.
    pub fn middle(&self) -> f64 {
        (self.top + self.baseline) / 2.0
    }

    /// The middle of the plot's width, where the x axis title is centred.
    pub fn centre(&self) -> f64 {
        (self.left + self.right) / 2.0
    }
}

/// Room for one date label under the x axis, as `30 Sep 2026` is drawn at 11px.
const DATE_LABEL_WIDTH: f64 = 84.0;

/// Builds the chart from the events of the team's completed game days; dates in `zone`.
pub fn chart(events: &[Event], zone: &str) -> Option<Chart> {
    let mut scenarios: BTreeMap<(OffsetDateTime, Uuid), String> = BTreeMap::new();
    for e in events {
        if e.kind == "scenario_injected"
            && let Some(id) = e.scenario_id
        {
            scenarios.insert((e.at, id), e.scenario_title.clone().unwrap_or_default());
        }
    }
    let measured: Vec<(String, OffsetDateTime, Option<time::Duration>, Option<time::Duration>)> = scenarios
        .iter()
        .map(|((at, id), title)| {
            let t = timings(events, *id);
            (title.clone(), *at, t.to_detect, t.to_repair)
        })
        .filter(|(_, _, d, r)| d.is_some() || r.is_some())
        .collect();
    if measured.is_empty() {
        return None;
    }
    let longest = measured.iter().flat_map(|(_, _, d, r)| [*d, *r]).flatten().max().unwrap_or_default();
    let axis = TimeAxis::for_max(longest.as_seconds_f64());

    let (width, height) = (640.0, 250.0);
    let (left, right, top, baseline) = (64.0, width - 40.0, 16.0, height - 52.0);
    // Points keep clear of the axis ends; a single one stands in the middle.
    let pad = 12.0;
    let spacing = if measured.len() > 1 { (right - left - 2.0 * pad) / (measured.len() - 1) as f64 } else { 0.0 };
    let x = |i: usize| if measured.len() > 1 { left + pad + spacing * i as f64 } else { (left + right) / 2.0 };
    let y = |seconds: f64| baseline - seconds / axis.top_seconds() * (baseline - top);
    let radius = if spacing > 0.0 { (spacing * 0.45).clamp(2.5, 5.0) } else { 5.0 };

    let mut detect = Vec::new();
    let mut repair = Vec::new();
    for (i, (title, at, d, r)) in measured.iter().enumerate() {
        let date = crate::tz::format_date(at, zone);
        if let Some(d) = d {
            let title = format!("{title} ({date}): detected after {}", human(d));
            detect.push(Point { x: x(i), y: y(d.as_seconds_f64()), title });
        }
        if let Some(r) = r {
            let title = format!("{title} ({date}): repaired after {}", human(r));
            repair.push(Point { x: x(i), y: y(r.as_seconds_f64()), title });
        }
    }
    let grid =
        axis.ticks().into_iter().map(|value| (y(value as f64 * axis.unit.seconds()), value.to_string())).collect();
    let mut x_ticks: Vec<(f64, String)> = Vec::new();
    for i in labelled(measured.len(), right - left - 2.0 * pad, DATE_LABEL_WIDTH) {
        let date = crate::tz::format_date(&measured[i].1, zone);
        // Scenarios of one day share a label: the first of them carries it.
        if x_ticks.last().is_none_or(|(_, last)| *last != date) {
            x_ticks.push((x(i), date));
        }
    }
    Some(Chart {
        width,
        height,
        left,
        right,
        top,
        baseline,
        radius,
        detect,
        repair,
        grid,
        y_title: axis.unit.after_injection(),
        x_ticks,
        x_title: "Injected scenarios, oldest first, by the day of injection",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(minutes: f64) -> (TimeUnit, Vec<u64>) {
        let axis = TimeAxis::for_max(minutes * 60.0);
        (axis.unit, axis.ticks())
    }

    #[test]
    fn short_times_count_in_seconds() {
        assert_eq!(axis(0.3), (TimeUnit::Seconds, vec![0, 5, 10, 15, 20]));
        assert_eq!(axis(1.0), (TimeUnit::Seconds, vec![0, 15, 30, 45, 60]));
        assert_eq!(axis(119.0 / 60.0), (TimeUnit::Seconds, vec![0, 30, 60, 90, 120]));
        assert_eq!(axis(0.0), (TimeUnit::Seconds, vec![0, 1, 2, 3, 4, 5]), "all zeros still get an axis");
    }

    #[test]
    fn longer_times_count_in_minutes_then_hours() {
        assert_eq!(axis(2.0), (TimeUnit::Minutes, vec![0, 1, 2]));
        assert_eq!(axis(7.0), (TimeUnit::Minutes, vec![0, 2, 4, 6, 8]));
        assert_eq!(axis(95.0), (TimeUnit::Minutes, vec![0, 20, 40, 60, 80, 100]));
        assert_eq!(axis(1000.0), (TimeUnit::Hours, vec![0, 5, 10, 15, 20]));
        assert_eq!(axis(60.0 * 24.0 * 30.0), (TimeUnit::Hours, vec![0, 200, 400, 600, 800]));
    }

    #[test]
    fn every_axis_reaches_the_longest_time_in_a_few_distinct_ticks() {
        for seconds in (0..20_000).step_by(7).map(f64::from).chain([f64::NAN, f64::INFINITY]) {
            let axis = TimeAxis::for_max(seconds);
            let ticks = axis.ticks();
            assert!((3..=6).contains(&ticks.len()), "{seconds}: {ticks:?}");
            assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{seconds}: {ticks:?}");
            if seconds.is_finite() {
                assert!(axis.top_seconds() >= seconds, "{seconds}: {axis:?}");
            }
        }
    }

    #[test]
    fn date_labels_are_thinned_to_what_fits() {
        assert_eq!(labelled(1, 512.0, 84.0), vec![0]);
        assert_eq!(labelled(7, 512.0, 84.0), (0..7).collect::<Vec<_>>());
        assert_eq!(labelled(8, 512.0, 84.0), vec![0, 2, 5, 7]);
        assert_eq!(labelled(200, 512.0, 84.0), vec![0, 33, 66, 100, 133, 166, 199]);
        for count in 2..500 {
            let shown = labelled(count, 512.0, 84.0);
            let apart = 512.0 / (count - 1) as f64;
            assert_eq!((shown[0], shown[shown.len() - 1]), (0, count - 1), "{count}: from the first to the last");
            assert!(shown.windows(2).all(|w| (w[1] - w[0]) as f64 * apart >= 84.0), "{count}: {shown:?} overlap");
        }
    }
}
