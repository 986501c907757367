//! The team audit log: who changed what in a team, and when. Every team-level change that is not
//! a game day's timeline event (a role, a member, an invite, the settings, a webhook, a health
//! check, the weakness register, an incident, a follow-up action) writes one entry with [`store::record`] in the same
//! transaction as the change, so the change and its entry commit or roll back together. The log
//! is append-only (the database refuses UPDATE and DELETE) and the team's leads read it.

pub mod routes;
pub mod store;

use uuid::Uuid;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "team_audit_kind", rename_all = "snake_case")]
pub enum AuditKind {
    TeamCreated,
    TeamSettingsChanged,
    CalendarAddressChanged,
    MemberRoleChanged,
    MemberRemoved,
    MemberLeft,
    InviteCreated,
    InviteRevoked,
    InviteAccepted,
    WebhookAdded,
    WebhookRemoved,
    WebhookSecretRotated,
    WeaknessAdded,
    WeaknessStatusChanged,
    IncidentAdded,
    ActionStatusChanged,
    TeamArchived,
    TeamUnarchived,
    ApiTokenCreated,
    ApiTokenRevoked,
    HealthCheckAdded,
    HealthCheckChanged,
    HealthCheckRemoved,
}

impl AuditKind {
    /// What the log page shows beside the sentence.
    pub fn label(&self) -> &'static str {
        match self {
            AuditKind::TeamCreated => "Team created",
            AuditKind::TeamSettingsChanged => "Settings",
            AuditKind::CalendarAddressChanged => "Calendar",
            AuditKind::MemberRoleChanged => "Role",
            AuditKind::MemberRemoved => "Member removed",
            AuditKind::MemberLeft => "Member left",
            AuditKind::InviteCreated => "Invite",
            AuditKind::InviteRevoked => "Invite revoked",
            AuditKind::InviteAccepted => "Joined",
            AuditKind::WebhookAdded => "Webhook added",
            AuditKind::WebhookRemoved => "Webhook removed",
            AuditKind::WebhookSecretRotated => "Webhook secret",
            AuditKind::WeaknessAdded => "Weakness",
            AuditKind::WeaknessStatusChanged => "Weakness",
            AuditKind::IncidentAdded => "Incident",
            AuditKind::ActionStatusChanged => "Action",
            AuditKind::TeamArchived => "Archived",
            AuditKind::TeamUnarchived => "Unarchived",
            AuditKind::ApiTokenCreated => "API token",
            AuditKind::ApiTokenRevoked => "API token revoked",
            AuditKind::HealthCheckAdded => "Health check",
            AuditKind::HealthCheckChanged => "Health check changed",
            AuditKind::HealthCheckRemoved => "Health check removed",
        }
    }
}

/// An entry to write: the team, who acted, what kind of change, the sentence a person reads
/// (with the names as they are now), and the same in structured form.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub team_id: Uuid,
    pub actor: Uuid,
    pub kind: AuditKind,
    pub body: String,
    pub detail: serde_json::Value,
}

impl NewEntry {
    pub fn new(team_id: Uuid, actor: Uuid, kind: AuditKind, body: impl Into<String>) -> NewEntry {
        NewEntry { team_id, actor, kind, body: body.into(), detail: serde_json::json!({}) }
    }

    /// The change in structured form (ids, old and new values).
    pub fn detail(mut self, detail: serde_json::Value) -> NewEntry {
        self.detail = detail;
        self
    }
}

/// How many entries the log page shows at a time; an "Older entries" link shows the next ones.
pub const PAGE_SIZE: i64 = 50;

/// Where a webhook sends, as the log names it: only its host, since the rest of a webhook URL is
/// often a secret (a Slack incoming-webhook path is one), and the log outlives the webhook.
pub fn webhook_host(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| "an address".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_named_by_its_host_only() {
        assert_eq!(webhook_host("https://hooks.slack.com/services/T0/B0/SECRET"), "hooks.slack.com");
        assert_eq!(webhook_host("http://10.0.0.5:8080/x?token=abc"), "10.0.0.5");
        assert_eq!(webhook_host("not a url"), "an address");
    }
}
