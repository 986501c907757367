//! Known weaknesses and past incidents. A scenario that targets an open weakness is injected
//! only with a recorded reason (invariant 3, whose rule is `scenarios::gate::weakness_gate`);
//! a past incident can be replayed as a scenario.

pub mod actions;
pub mod api;
pub mod routes;
pub mod store;

use crate::error::AppError;
use crate::gamedays::GamedayRole;
use crate::scenarios::gate::Outcome;
use crate::teams::TeamRole;

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "weakness_status", rename_all = "lowercase")]
pub enum WeaknessStatus {
    Open,
    Mitigated,
}

impl WeaknessStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            WeaknessStatus::Open => "open",
            WeaknessStatus::Mitigated => "mitigated",
        }
    }
}

/// Who keeps the register: leads and members; viewers read it.
pub fn check_can_keep(team_role: TeamRole) -> Result<(), AppError> {
    if team_role == TeamRole::Viewer {
        return Err(AppError::Forbidden("Viewers read the register; leads and members keep it.".into()));
    }
    Ok(())
}

/// A refuted scenario records the weakness it found: by someone on its game day who keeps the register.
pub fn check_can_record_from(
    team_role: TeamRole,
    role: Option<GamedayRole>,
    outcome: Option<Outcome>,
) -> Result<(), AppError> {
    check_can_keep(team_role)?;
    if role.is_none() {
        return Err(AppError::Forbidden("People on the game day record what it found.".into()));
    }
    if outcome != Some(Outcome::Refuted) {
        return Err(AppError::Conflict("Only a refuted scenario records a weakness from its outcome.".into()));
    }
    Ok(())
}
