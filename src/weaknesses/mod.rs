//! Known weaknesses and past incidents. A scenario that targets an open weakness is injected
//! only with a recorded reason (invariant 3); a past incident can be replayed as a scenario.
//! Also here: "start tiny" (invariant 4), the check that a larger blast radius follows a
//! smaller one that held on the same target.

pub mod routes;
pub mod store;

use crate::gamedays::Refusal;
use crate::scenarios::BlastRadius;

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

/// Invariant 3: injecting into an open weakness needs a reason, which goes on the timeline.
pub fn weakness_gate(weakness_open: bool, reason: Option<&str>) -> Result<Option<String>, Refusal> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (weakness_open, reason) {
        (false, _) => Ok(None),
        (true, Some(reason)) => Ok(Some(reason.to_owned())),
        (true, None) => Err(Refusal(
            "This scenario targets an open known weakness. Say why you inject anyway (for example \"verifying the fix\").".into(),
        )),
    }
}

/// Invariant 4: a blast radius larger than tiny needs a smaller scenario on the same target
/// that held before, or an explicit acknowledgement.
pub fn start_tiny(
    radius: BlastRadius,
    smaller_held: Option<&str>,
    acknowledged: bool,
) -> Result<Option<String>, Refusal> {
    if radius == BlastRadius::Tiny || smaller_held.is_some() {
        return Ok(None);
    }
    if acknowledged {
        return Ok(Some(format!(
            "escalated to a {} blast radius without a smaller scenario that held on this target (acknowledged)",
            radius.as_str()
        )));
    }
    Err(Refusal(format!(
        "Start tiny: no smaller scenario on this target has held yet. Run one first, or acknowledge that you escalate straight to a {} blast radius.",
        radius.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_weakness_needs_a_reason() {
        assert_eq!(weakness_gate(false, None), Ok(None));
        assert!(weakness_gate(true, None).is_err());
        assert!(weakness_gate(true, Some("  ")).is_err());
        assert_eq!(weakness_gate(true, Some("verifying the fix")), Ok(Some("verifying the fix".into())));
    }

    #[test]
    fn start_tiny_needs_a_smaller_success_or_an_acknowledgement() {
        assert_eq!(start_tiny(BlastRadius::Tiny, None, false), Ok(None));
        assert_eq!(start_tiny(BlastRadius::Medium, Some("Kill one pod"), false), Ok(None));
        assert!(start_tiny(BlastRadius::Small, None, false).is_err());
        assert!(start_tiny(BlastRadius::Large, None, true).unwrap().unwrap().contains("acknowledged"));
    }
}
