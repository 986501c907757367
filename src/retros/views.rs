//! What the retrospective tells of each scenario: its timings, the impact observed, and (on the
//! page) the excerpt of its faults and observations. The page and the Markdown export share it.

use uuid::Uuid;

use crate::scenarios::store::Scenario;
use crate::timeline::Event;
use crate::timeline::timings::{Timings, timings};
use crate::timeline::views::EventView;

/// One scenario as the retrospective tells it.
pub struct ScenarioStory {
    pub scenario: Scenario,
    pub timings: Timings,
    pub observed_impact: String,
    pub excerpt: Vec<EventView>,
}

/// The story of each scenario. `excerpts` are the game day's event views and its URL, when the
/// stories are shown with their excerpt (the page does; the export lists the whole timeline).
pub fn stories(
    scenarios: Vec<Scenario>,
    events: &[Event],
    impacts: &[(Uuid, String)],
    excerpts: Option<(&[EventView], &str)>,
) -> Vec<ScenarioStory> {
    scenarios
        .into_iter()
        .map(|scenario| {
            let excerpt = match excerpts {
                Some((views, base)) => {
                    let url = format!("{base}/scenarios/{}", scenario.id);
                    views
                        .iter()
                        .filter(|v| {
                            v.scenario_url.as_deref() == Some(url.as_str()) && (v.fault || v.kind == "observation")
                        })
                        .cloned()
                        .collect()
                }
                None => Vec::new(),
            };
            let observed_impact =
                impacts.iter().find(|(s, _)| *s == scenario.id).map(|(_, t)| t.clone()).unwrap_or_default();
            ScenarioStory { timings: timings(events, scenario.id), observed_impact, excerpt, scenario }
        })
        .collect()
}
