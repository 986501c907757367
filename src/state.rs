//! The application state every handler is given: the database pool, the configuration and this
//! instance's live hub. Nothing else lives in the process, so any number of instances can serve
//! behind a load balancer.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter, clock::Clock, clock::DefaultClock, state::keyed::DefaultKeyedStateStore};

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
    /// The API's per-token rate limit, counted on this instance.
    pub api_rate: Arc<ApiRate>,
    /// Demo teams this instance may be making at once (each holds a database connection of its
    /// own, outside the pool: `crate::demo`).
    pub demo_builders: Arc<tokio::sync::Semaphore>,
    /// The single sign-on provider, if one is set (`GAMEDAY_OIDC_*`).
    pub sso: Option<Arc<crate::oidc::Sso>>,
}

/// How many demo teams one instance makes at once.
pub const DEMO_BUILDERS: usize = 2;

/// Requests per API token per minute on this instance (GCRA: a minute's worth at once, then one
/// every `60 s / limit`).
pub struct ApiRate {
    limiter: RateLimiter<uuid::Uuid, DefaultKeyedStateStore<uuid::Uuid>, DefaultClock, StateInformationMiddleware>,
    pub per_minute: u32,
}

/// What the rate limit said of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Let through; this many more may follow at once.
    Allowed { remaining: u32 },
    /// Refused; try again after this long.
    Refused { retry_after: Duration },
}

impl ApiRate {
    pub fn new(per_minute: u32) -> ApiRate {
        let per_minute = per_minute.max(1);
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        ApiRate { limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(), per_minute }
    }

    /// Counts one request of `token`.
    pub fn check(&self, token: uuid::Uuid) -> RateDecision {
        // Tokens unused for a while are forgotten (their state is back to full anyway).
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&token) {
            Ok(snapshot) => RateDecision::Allowed { remaining: snapshot.remaining_burst_capacity() },
            Err(not_until) => {
                RateDecision::Refused { retry_after: not_until.wait_time_from(self.limiter.clock().now()) }
            }
        }
    }
}

impl AppState {
    /// Creates the state. The live listener is started by `app::serve` (see `live::start`).
    pub fn new(db: PgPool, config: Config) -> Self {
        let limits = StreamLimits { per_person: config.live_streams_per_person, per_instance: config.live_streams_max };
        let api_rate = Arc::new(ApiRate::new(config.api_rate_per_minute));
        // `Config::check` has refused settings that cannot work before the server starts.
        let sso = match config.sso_settings().and_then(|settings| settings.map(crate::oidc::Sso::new).transpose()) {
            Ok(sso) => sso.map(Arc::new),
            Err(problem) => {
                tracing::error!(%problem, "single sign-on is off");
                None
            }
        };
        AppState {
            db,
            config: Arc::new(config),
            live: Arc::new(Hub::with_limits(limits)),
            health: Arc::default(),
            api_rate,
            demo_builders: Arc::new(tokio::sync::Semaphore::new(DEMO_BUILDERS)),
            sso,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_minute_at_once_then_waits_and_others_are_not_slowed() {
        let rate = ApiRate::new(3);
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert_eq!(rate.check(a), RateDecision::Allowed { remaining: 2 });
        assert_eq!(rate.check(a), RateDecision::Allowed { remaining: 1 });
        assert_eq!(rate.check(a), RateDecision::Allowed { remaining: 0 });
        match rate.check(a) {
            RateDecision::Refused { retry_after } => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(20), "{retry_after:?}")
            }
            other => panic!("the fourth request of a minute is refused, got {other:?}"),
        }
        assert_eq!(rate.check(b), RateDecision::Allowed { remaining: 2 }, "another token has its own count");
    }
}
