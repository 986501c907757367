//! Personal access tokens for the JSON API. A token belongs to one person and one team; its scopes
//! narrow what that person may do there through the API, never widen it: every call is checked
//! again against the person's role as it is at that moment, exactly as the pages check it. The
//! secret is shown once, when made; only its SHA-256 is stored, and a presented token is found by
//! the id written into it, then compared with the stored hash in constant time. A token is
//! revoked, never deleted, so that what came through it can always name it.

pub mod actions;
pub mod api;
pub mod routes;
pub mod store;

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::form::{FieldErrors, bounded_text};

/// What a token may be used for, besides reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read the team's game days, scenarios, sign-off state and timelines. Every token has it.
    Read,
    /// Log observations (and corrections) on game days the person is on.
    Observe,
    /// Plan: game days, their participants, scenarios and their edits.
    Plan,
    /// Run faults: announce, inject, halt, roll back, conclude.
    Run,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Observe, Scope::Plan, Scope::Run];
    /// The scopes a person chooses; `read` comes with every token.
    pub const CHOSEN: [Scope; 3] = [Scope::Observe, Scope::Plan, Scope::Run];

    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Observe => "observe",
            Scope::Plan => "plan",
            Scope::Run => "run",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What it allows, as the token form explains it.
    pub fn describe(&self) -> &'static str {
        match self {
            Scope::Read => "read the team's game days, scenarios, sign-offs and timelines",
            Scope::Observe => "log observations and corrections on game days you are on",
            Scope::Plan => "create and edit game days, their participants and scenarios, where you may",
            Scope::Run => "announce, inject, halt, roll back and conclude faults, where you may",
        }
    }
}

/// Scopes as stored (`text[]`), in the order of [`Scope::ALL`]; unknown names are dropped (the
/// database refuses them anyway).
pub fn scopes_from(names: &[String]) -> Vec<Scope> {
    Scope::ALL.into_iter().filter(|s| names.iter().any(|n| n == s.as_str())).collect()
}

/// How a token is written: a fixed prefix (so that secret scanners can recognise one), its id,
/// and 256 random bits.
pub const TOKEN_PREFIX: &str = "gdt_";

/// A new token for the row `id`: the text to show once, and the hash to store in its place.
pub fn new_token(id: Uuid) -> (String, Vec<u8>) {
    let token = format!("{TOKEN_PREFIX}{}_{}", id.simple(), crate::secrets::random_hex(32));
    let hash = crate::secrets::sha256(&token);
    (token, hash)
}

/// The row id a presented token names, if it is shaped like one of ours.
pub fn token_id(token: &str) -> Option<Uuid> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 32 || secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Uuid::try_parse(id).ok()
}

/// The lifetimes a person may choose, in days, and the one chosen unless they say otherwise.
pub const LIFETIMES: [i64; 4] = [7, 30, 90, 365];
pub const DEFAULT_LIFETIME: i64 = 30;

/// How many tokens a person may hold for one team that are neither expired nor revoked.
pub const MAX_ACTIVE_PER_TEAM: i64 = 20;

/// "Last used" is written at most this often per token (a token used in a loop does not write on
/// every call).
pub const LAST_USED_EVERY: Duration = Duration::minutes(1);

/// A token as its owner and the team's leads see it (never its secret).
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub owner: String,
    pub team_id: Uuid,
    pub team_name: String,
    pub team_slug: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Where a token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    pub fn label(&self) -> &'static str {
        match self {
            TokenState::Active => "Active",
            TokenState::Expired => "Expired",
            TokenState::Revoked => "Revoked",
        }
    }
}

/// The one rule for whether a token still works (its person's membership is checked besides).
pub fn token_state(revoked_at: Option<OffsetDateTime>, expires_at: OffsetDateTime, now: OffsetDateTime) -> TokenState {
    if revoked_at.is_some() {
        TokenState::Revoked
    } else if expires_at <= now {
        TokenState::Expired
    } else {
        TokenState::Active
    }
}

impl ApiToken {
    pub fn state(&self, now: OffsetDateTime) -> TokenState {
        token_state(self.revoked_at, self.expires_at, now)
    }

    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.state(now) == TokenState::Active
    }

    /// Its scopes as a person reads them: "read, observe".
    pub fn scope_names(&self) -> String {
        self.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// A token to make, as the form asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub team: String,
    /// Always holds `read`.
    pub scopes: Vec<Scope>,
    pub lifetime_days: i64,
}

/// Reads the token form: a name, a team (by slug), the scopes chosen and a lifetime. Errors go
/// beside their fields.
pub fn parse_new_token(name: &str, team: &str, scopes: &[String], lifetime: &str) -> Result<NewToken, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = bounded_text(name, "The name", 1, 80).map_err(|m| errors.add("name", m)).ok();
    if crate::teams::parse_slug(team).is_err() {
        errors.add("team", "Choose the team this token works in.");
    }
    let mut chosen = vec![Scope::Read];
    for text in scopes {
        match Scope::parse(text) {
            Some(Scope::Read) => {}
            Some(scope) if !chosen.contains(&scope) => chosen.push(scope),
            Some(_) => {}
            None => errors.add("scopes", format!("\"{text}\" is not a scope; choose among observe, plan and run.")),
        }
    }
    chosen.sort_by_key(|s| Scope::ALL.iter().position(|a| a == s));
    let lifetime_days = match lifetime.trim().parse::<i64>() {
        Ok(days) if LIFETIMES.contains(&days) => Some(days),
        _ => {
            errors.add("lifetime", "Choose how long the token works: 7, 30, 90 or 365 days.");
            None
        }
    };
    match (name, lifetime_days) {
        (Some(name), Some(lifetime_days)) if errors.is_empty() => {
            Ok(NewToken { name, team: team.trim().to_owned(), scopes: chosen, lifetime_days })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_row_and_nothing_else_passes_for_one() {
        let id = Uuid::now_v7();
        let (token, hash) = new_token(id);
        assert!(token.starts_with("gdt_"));
        assert_eq!(token_id(&token), Some(id));
        assert!(crate::secrets::matches(&token, &hash));
        assert_eq!(token_id("gdt_short_abc"), None);
        assert_eq!(token_id(&token.replace("gdt_", "ghp_")), None);
        assert_eq!(token_id(&format!("{token}0")), None);
        assert_eq!(token_id(""), None);
        let (other, _) = new_token(id);
        assert_ne!(token, other, "two tokens for one row differ");
        assert!(!crate::secrets::matches(&other, &hash));
    }

    #[test]
    fn the_form_always_gives_read_and_refuses_what_it_does_not_know() {
        let parsed = parse_new_token(" CI pipeline ", "core", &["run".into(), "observe".into(), "run".into()], "30")
            .expect("valid");
        assert_eq!(parsed.name, "CI pipeline");
        assert_eq!(parsed.scopes, vec![Scope::Read, Scope::Observe, Scope::Run]);
        assert_eq!(parsed.lifetime_days, 30);
        assert_eq!(parse_new_token("ro", "core", &[], "7").unwrap().scopes, vec![Scope::Read]);

        let errors = parse_new_token("", "", &["admin".into()], "1000").unwrap_err();
        for field in ["name", "team", "scopes", "lifetime"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn a_token_works_until_it_expires_or_is_revoked() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(token_state(None, now + Duration::hours(1), now), TokenState::Active);
        assert_eq!(token_state(None, now, now), TokenState::Expired);
        assert_eq!(token_state(Some(now), now + Duration::hours(1), now), TokenState::Revoked);
    }
}
