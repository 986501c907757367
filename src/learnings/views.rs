//! The team overview's chart: time to detect and to repair per injected scenario over time,
//! drawn by the server as SVG coordinates.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::timeline::Event;
use crate::timeline::timings::timings;

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
    pub detect: Vec<Point>,
    pub repair: Vec<Point>,
    /// (y, label) of the horizontal grid lines.
    pub grid: Vec<(f64, String)>,
}

/// Builds the chart from the events of the team's completed game days.
pub fn chart(events: &[Event]) -> Option<Chart> {
    let mut scenarios: BTreeMap<(OffsetDateTime, Uuid), String> = BTreeMap::new();
    for e in events {
        if e.kind == "scenario_injected"
            && let Some(id) = e.scenario_id
        {
            scenarios.insert((e.at, id), e.scenario_title.clone().unwrap_or_default());
        }
    }
    let measured: Vec<(String, OffsetDateTime, Option<f64>, Option<f64>)> = scenarios
        .iter()
        .map(|((at, id), title)| {
            let t = timings(events, *id);
            let minutes = |d: time::Duration| d.whole_seconds() as f64 / 60.0;
            (title.clone(), *at, t.to_detect.map(minutes), t.to_repair.map(minutes))
        })
        .filter(|(_, _, d, r)| d.is_some() || r.is_some())
        .collect();
    if measured.is_empty() {
        return None;
    }
    let max = measured.iter().flat_map(|(_, _, d, r)| [*d, *r]).flatten().fold(1.0_f64, f64::max).ceil();
    let (width, height, left, top, bottom) = (640.0, 220.0, 48.0, 16.0, 28.0);
    let plot_h = height - top - bottom;
    let step = if measured.len() > 1 { (width - left - 20.0) / (measured.len() - 1) as f64 } else { 0.0 };
    let y = |m: f64| top + plot_h - m / max * plot_h;
    let mut detect = Vec::new();
    let mut repair = Vec::new();
    for (i, (title, at, d, r)) in measured.iter().enumerate() {
        let x = left + 10.0 + step * i as f64;
        let date = crate::tz::format_utc(at)[..10].to_owned();
        if let Some(d) = d {
            detect.push(Point { x, y: y(*d), title: format!("{title} ({date}): detected after {d:.1} min") });
        }
        if let Some(r) = r {
            repair.push(Point { x, y: y(*r), title: format!("{title} ({date}): repaired after {r:.1} min") });
        }
    }
    let grid = (0..=4).map(|k| {
        let m = max * k as f64 / 4.0;
        (y(m), format!("{m:.0} min"))
    });
    Some(Chart { width, height, detect, repair, grid: grid.collect() })
}
