//! The application state every handler is given: the database pool, the configuration and this
//! instance's live hub. Nothing else lives in the process, so any number of instances can serve
//! behind a load balancer.

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::Config;
use crate::db::Health;
use crate::hub::{Hub, StreamLimits};

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub config: Arc<Config>,
    /// This instance's per-game-day broadcast channels; `live::start` fills them from PostgreSQL NOTIFY.
    pub live: Arc<Hub>,
    /// Whether requests recently found the database overloaded (for `/readyz`).
    pub health: Arc<Health>,
}

impl AppState {
    /// Creates the state. The live listener is started by `app::serve` (see `live::start`).
    pub fn new(db: PgPool, config: Config) -> Self {
        let limits = StreamLimits { per_person: config.live_streams_per_person, per_instance: config.live_streams_max };
        AppState { db, config: Arc::new(config), live: Arc::new(Hub::with_limits(limits)), health: Arc::default() }
    }
}
