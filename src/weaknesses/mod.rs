//! Known weaknesses and past incidents. A scenario that targets an open weakness is injected
//! only with a recorded reason (invariant 3, whose rule is `scenarios::gate::weakness_gate`);
//! a past incident can be replayed as a scenario.

pub mod actions;
pub mod routes;
pub mod store;

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
