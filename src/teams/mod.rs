//! Teams: members with a role, invite links, and the rule that a team always keeps a lead.
//! Nothing of a team is visible to a non-member: every team URL answers 404 to them.

pub mod actions;
pub mod api;
pub mod invites;
pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::form::bounded_text;

/// A member's role in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize, Deserialize)]
#[sqlx(type_name = "team_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    /// Manages members, invites and settings; schedules game days.
    Lead,
    /// Takes part in game days.
    Member,
    /// Reads what the team does.
    Viewer,
}

impl TeamRole {
    pub const ALL: [TeamRole; 3] = [TeamRole::Lead, TeamRole::Member, TeamRole::Viewer];

    pub fn as_str(&self) -> &'static str {
        match self {
            TeamRole::Lead => "lead",
            TeamRole::Member => "member",
            TeamRole::Viewer => "viewer",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            TeamRole::Lead => "Lead",
            TeamRole::Member => "Member",
            TeamRole::Viewer => "Viewer",
        }
    }

    pub fn parse(input: &str) -> Result<TeamRole, String> {
        TeamRole::ALL
            .into_iter()
            .find(|r| r.as_str() == input)
            .ok_or_else(|| "Choose a role: lead, member or viewer.".to_owned())
    }

    pub fn is_lead(&self) -> bool {
        *self == TeamRole::Lead
    }
}

/// A team as the navigation shows it.
#[derive(Debug, Clone)]
pub struct NavTeam {
    pub name: String,
    pub slug: String,
    pub role: TeamRole,
    /// Whether the team is archived (read-only).
    pub archived: bool,
}

/// A newly created invite link, shown once on the team page (only its hash is stored).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewInvite {
    pub team_slug: String,
    pub url: String,
    pub role: TeamRole,
}

/// The session key under which a new invite waits to be shown once.
pub const NEW_INVITE_KEY: &str = "new_invite";

/// A team.
#[derive(Debug, Clone)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

/// A team as seen by one of its members.
#[derive(Debug, Clone)]
pub struct Membership {
    pub team: Team,
    pub role: TeamRole,
    /// The team's leads require two-factor sign-in of every member.
    pub two_factor_required: bool,
    /// When a lead archived the team; an archived team accepts no change ([`check_not_archived`]).
    pub archived_at: Option<OffsetDateTime>,
    /// A demo team made for this person by "Explore a demo team" ([`crate::demo`]).
    pub demo: bool,
}

impl Membership {
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }
}

/// What an archived team answers to any change (409).
pub const ARCHIVED: &str =
    "This team is archived: it can be read, not changed. A lead can unarchive it in its settings.";

/// An archived team is read-only: every change to it, of any feature, is refused. The web
/// contexts (`TeamCtx`, `LeadCtx`, `GamedayCtx`) ask this for every request that may change
/// something, so no handler has to remember it.
pub fn check_not_archived(archived_at: Option<OffsetDateTime>) -> Result<(), String> {
    if archived_at.is_some() { Err(ARCHIVED.into()) } else { Ok(()) }
}

/// A team is archived only once none of its game days is scheduled or running: `unfinished`
/// holds those game days' titles and statuses.
pub fn check_can_archive(unfinished: &[(String, String)]) -> Result<(), String> {
    if unfinished.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = unfinished.iter().map(|(title, status)| format!("\"{title}\" ({status})")).collect();
    Err(format!(
        "The team cannot be archived while a game day is scheduled or running: {}. Complete or cancel it first.",
        named.join(", ")
    ))
}

pub fn parse_team_name(input: &str) -> Result<String, String> {
    bounded_text(input, "Team name", 1, 80)
}

/// Slugs that would collide with fixed routes under `/teams/`.
const RESERVED_SLUGS: &[&str] = &["new"];

/// A URL slug: 2 to 40 of `a-z`, `0-9` and single hyphens between them.
pub fn parse_slug(input: &str) -> Result<String, String> {
    let slug = input.trim();
    let len = slug.chars().count();
    if !(2..=40).contains(&len) {
        return Err("The URL name must be 2 to 40 characters.".into());
    }
    let valid_chars = slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_chars || slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
        return Err("Use lowercase letters, digits and single hyphens (like platform-team).".into());
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(format!("\"{slug}\" is reserved; choose another URL name."));
    }
    Ok(slug.to_owned())
}

/// Derives a slug from a team name: ASCII letters and digits kept, everything else a hyphen.
pub fn derive_slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        let c = match c {
            'a'..='z' | '0'..='9' => c,
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            _ => '-',
        };
        if c == '-' && (slug.is_empty() || slug.ends_with('-')) {
            continue;
        }
        slug.push(c);
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.len() < 2 { format!("team-{}", slug).trim_end_matches('-').to_owned() } else { slug }
}

/// Why a change to the members was refused.
/// Why an invite whose creator is no longer a lead of the team cannot be used.
pub const INVITER_NOT_LEAD: &str =
    "This invite was made by someone who can no longer invite people to the team. Ask a team lead for a new link.";

/// Whether an invite made by someone whose team role is now `creator_role` (None: they left)
/// can still be used: it dies with its creator's right to make it.
pub fn check_inviter_still_lead(creator_role: Option<TeamRole>) -> Result<(), crate::error::AppError> {
    match creator_role {
        Some(role) if role.is_lead() => Ok(()),
        _ => Err(crate::error::AppError::Gone(INVITER_NOT_LEAD.into())),
    }
}

pub const LAST_LEAD: &str = "A team always keeps one lead. Make another member a lead first.";

/// Whether `target` may change from `current` to `new` when the team has `leads` leads.
pub fn check_role_change(leads: i64, current: TeamRole, new: TeamRole) -> Result<(), String> {
    if current.is_lead() && !new.is_lead() && leads <= 1 { Err(LAST_LEAD.into()) } else { Ok(()) }
}

/// Whether a member with `role` may leave a team that has `leads` leads.
pub fn check_removal(leads: i64, role: TeamRole) -> Result<(), String> {
    if role.is_lead() && leads <= 1 { Err(LAST_LEAD.into()) } else { Ok(()) }
}

/// Whether deleting an account leaves one of its teams as it is rather than leaving it: the only
/// member of a team keeps it (a team cannot be left without a lead), and so does the person a
/// demo team was made for (its other people are made up and cannot take over).
pub fn kept_on_deletion(only_member: bool, demo: bool) -> bool {
    only_member || demo
}

/// Whether the viewer, with `role`, may leave the team `team` that has `leads` leads: the same
/// rule as [`check_removal`], said to the person leaving.
pub fn check_leaving(leads: i64, role: TeamRole, team: &str) -> Result<(), String> {
    check_removal(leads, role).map_err(|_| format!("You are the only lead of {team}: make someone else a lead first."))
}

/// How long an invite link works.
pub const INVITE_VALIDITY: Duration = Duration::days(7);

/// A fresh invite token (256 random bits, URL-safe) and the hash that is stored in its place.
pub fn new_invite_token() -> (String, Vec<u8>) {
    let token = crate::secrets::random_hex(32);
    let hash = hash_invite_token(&token);
    (token, hash)
}

pub fn hash_invite_token(token: &str) -> Vec<u8> {
    crate::secrets::sha256(token)
}

/// Where an invite stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteState {
    Usable,
    Used,
    Revoked,
    Expired,
}

pub fn invite_state(used: bool, revoked: bool, expires_at: OffsetDateTime, now: OffsetDateTime) -> InviteState {
    if used {
        InviteState::Used
    } else if revoked {
        InviteState::Revoked
    } else if now >= expires_at {
        InviteState::Expired
    } else {
        InviteState::Usable
    }
}

/// A fresh secret for a member's fault-calendar feed (256 random bits, hex) and the SHA-256 hash
/// that is stored in its place. The feed is found by that hash: comparing hashes of a 256-bit
/// secret leaks nothing usable through timing (an attacker learns at most how their own guess's
/// hash compares), so the lookup needs no constant-time comparison of the secret itself.
pub fn new_calendar_token() -> (String, Vec<u8>) {
    new_invite_token()
}

/// The hash a calendar feed is looked up by.
pub fn hash_calendar_token(token: &str) -> Vec<u8> {
    hash_invite_token(token)
}

/// A member's new fault-calendar URL, shown once on the team page (only its hash is stored).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewCalendarFeed {
    pub team_slug: String,
    pub url: String,
}

/// The session key under which a new calendar feed URL waits to be shown once.
pub const NEW_CALENDAR_FEED_KEY: &str = "new_calendar_feed";

/// An invite that cannot be used says why (410 Gone) and what to do instead.
pub fn check_invite_usable(
    used: bool,
    revoked: bool,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), crate::error::AppError> {
    let why = match invite_state(used, revoked, expires_at, now) {
        InviteState::Usable => return Ok(()),
        InviteState::Used => "This invite link has already been used.",
        InviteState::Revoked => "This invite link was revoked.",
        InviteState::Expired => "This invite link has expired.",
    };
    Err(crate::error::AppError::Gone(format!("{why} Ask a lead of the team for a new one.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_is_derived_from_the_name() {
        assert_eq!(derive_slug("Platform Team"), "platform-team");
        assert_eq!(derive_slug("  SRE / Payments!! "), "sre-payments");
        assert_eq!(derive_slug("Équipe Réseau"), "equipe-reseau");
        assert_eq!(derive_slug("日本"), "team");
        assert!(derive_slug(&"a".repeat(100)).len() <= 40);
    }

    #[test]
    fn derived_slugs_are_valid_slugs() {
        for name in ["Platform Team", "x", "--a--b--", "日本", "New"] {
            let slug = derive_slug(name);
            assert!(parse_slug(&slug).is_ok() || slug == "new", "{name:?} gave {slug:?}");
        }
    }

    #[test]
    fn bad_slugs_are_refused() {
        for bad in ["a", "Has-Caps", "-lead", "trail-", "dou--ble", "sp ace", "new", &"a".repeat(41)] {
            assert!(parse_slug(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_slug("sre-2"), Ok("sre-2".to_owned()));
    }

    #[test]
    fn the_last_lead_cannot_be_demoted_or_removed() {
        assert!(check_role_change(1, TeamRole::Lead, TeamRole::Member).is_err());
        assert!(check_role_change(2, TeamRole::Lead, TeamRole::Member).is_ok());
        assert!(check_role_change(1, TeamRole::Member, TeamRole::Viewer).is_ok());
        assert!(check_removal(1, TeamRole::Lead).is_err());
        assert!(check_removal(1, TeamRole::Member).is_ok());
        assert!(check_removal(2, TeamRole::Lead).is_ok());
    }

    #[test]
    fn an_archived_team_refuses_changes() {
        assert!(check_not_archived(None).is_ok());
        assert_eq!(check_not_archived(Some(OffsetDateTime::now_utc())), Err(ARCHIVED.into()));
    }

    #[test]
    fn a_team_with_a_scheduled_or_running_game_day_is_not_archived() {
        assert!(check_can_archive(&[]).is_ok());
        let refusal = check_can_archive(&[("Failover".into(), "running".into())]).unwrap_err();
        assert!(refusal.contains("\"Failover\" (running)"), "{refusal}");
    }

    #[test]
    fn the_only_lead_is_told_how_to_leave() {
        assert_eq!(
            check_leaving(1, TeamRole::Lead, "Platform"),
            Err("You are the only lead of Platform: make someone else a lead first.".into())
        );
        assert!(check_leaving(2, TeamRole::Lead, "Platform").is_ok());
        assert!(check_leaving(1, TeamRole::Viewer, "Platform").is_ok());
    }

    #[test]
    fn invite_tokens_are_random_and_only_their_hash_matches() {
        let (a, hash_a) = new_invite_token();
        let (b, _) = new_invite_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_invite_token(&a), hash_a);
    }

    #[test]
    fn invite_states() {
        let now = OffsetDateTime::now_utc();
        let later = now + Duration::hours(1);
        assert_eq!(invite_state(false, false, later, now), InviteState::Usable);
        assert_eq!(invite_state(false, false, now, now), InviteState::Expired);
        assert_eq!(invite_state(true, false, later, now), InviteState::Used);
        assert_eq!(invite_state(false, true, later, now), InviteState::Revoked);
    }
}
