//! Typed ids: a game day's id cannot be passed where a scenario's is expected. Each is a
//! newtype over a UUID that deserialises from a path segment and binds in sqlx as a `uuid`.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

ids! {
    /// A person's account.
    UserId;
    /// A team.
    TeamId;
    /// A game day.
    GamedayId;
    /// A scenario of a game day.
    ScenarioId;
    /// A follow-up action of a retrospective.
    ActionId;
    /// A known weakness in a team's register.
    WeaknessId;
    /// A past incident.
    IncidentId;
    /// A pending team invite.
    InviteId;
    /// A team's outgoing webhook.
    WebhookId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_from_its_text_and_shows_as_it() {
        let text = "0190f1c2-7f3a-7c4e-9a51-0123456789ab";
        let id: GamedayId = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert_eq!(id.to_string(), text);
        assert!(serde_json::from_value::<GamedayId>(serde_json::json!("not-an-id")).is_err());
    }
}
