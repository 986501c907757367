//! The fault banners: which scenarios of a game day are announced or injected right now. Pages
//! render them at the top, and the live stream pushes them again whenever a fault changes state.

use askama::Template;
use sqlx::PgPool;
use uuid::Uuid;

use super::store::{self, Scenario};
use crate::error::AppResult;

#[derive(Template)]
#[template(path = "partials/_banners.html")]
struct BannersFragment<'a> {
    base: &'a str,
    in_flight: Vec<&'a Scenario>,
}

/// Renders the fault banners of a game day; `base` is the game day's URL.
pub async fn render_banners(db: &PgPool, gameday_id: Uuid, base: &str) -> AppResult<String> {
    let scenarios = store::scenarios_of(db, gameday_id).await?;
    let in_flight = scenarios.iter().filter(|s| s.state.in_flight()).collect();
    Ok(BannersFragment { base, in_flight }.render()?)
}
