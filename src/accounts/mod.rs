//! Accounts: who a person is, and the rules of signing up and signing in (throttling of
//! failures, password lengths). Passwords are Argon2id hashes; the sign-in session itself
//! (axum-login over tower-sessions) is wired in `web::auth`.

pub mod actions;
pub mod routes;
pub mod store;

use uuid::Uuid;

use crate::form::bounded_text;

/// A signed-up person.
#[derive(Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    /// IANA zone in which this person reads and enters times.
    pub time_zone: String,
    /// SHA-256 of the password hash: what sessions are bound to (never the hash itself).
    pub auth_hash: Vec<u8>,
}

// Hand-written so that the password hash never reaches a log line.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

/// An email address as typed, trimmed and lower-cased; invalid ones cannot be constructed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Email, String> {
        let value = input.trim().to_lowercase();
        if value.is_empty() {
            return Err("Email is required.".into());
        }
        if value.chars().count() > 254 {
            return Err("Email must be at most 254 characters.".into());
        }
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid { Ok(Email(value)) } else { Err("Enter an email address like ana@example.com.".into()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 80 characters.
pub fn parse_display_name(input: &str) -> Result<String, String> {
    bounded_text(input, "Display name", 1, 80)
}

/// Password length rules (NIST 800-63B): 8 to 128 characters, no composition rules.
pub fn check_password(input: &str) -> Result<(), String> {
    let len = input.chars().count();
    if len < 8 {
        Err("Password must be at least 8 characters.".into())
    } else if len > 128 {
        Err("Password must be at most 128 characters.".into())
    } else {
        Ok(())
    }
}

/// Failed sign-ins to one account from one client address allowed within
/// [`THROTTLE_WINDOW_MINUTES`] before that client waits. Another client (the owner's, say) is not
/// held up by them: nobody can lock a person out of their account by guessing.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed sign-ins allowed per client address, to any accounts, within the window.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;

/// Accounts one client address may create within [`SIGNUP_WINDOW_MINUTES`].
pub const MAX_SIGNUPS_PER_ADDRESS: i64 = 20;
pub const SIGNUP_WINDOW_MINUTES: i64 = 60;

/// How long a client must wait before its next sign-in attempt, from its recent failures (to
/// this account, and to any) and how long ago the last one was: nothing under the limits, then
/// one minute, doubling with each further failure, at most the window. Refused attempts are not
/// failures, so waiting it out always works.
pub fn wait_before_signin(
    account_failures: i64,
    address_failures: i64,
    since_last: time::Duration,
) -> Option<time::Duration> {
    let over = (account_failures - MAX_FAILURES_PER_ACCOUNT).max(address_failures - MAX_FAILURES_PER_ADDRESS);
    if over < 0 {
        return None;
    }
    let wait = time::Duration::minutes(1 << over.min(4)).min(time::Duration::minutes(THROTTLE_WINDOW_MINUTES));
    (since_last < wait).then(|| wait - since_last)
}

/// What a person types to sign in.
#[derive(Clone)]
pub struct Credentials {
    pub email: Email,
    pub password: String,
}

/// Hashes a password with Argon2id off the async threads.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || password_auth::generate_hash(password)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Ana@Example.COM ").unwrap().as_str(), "ana@example.com");
    }

    #[test]
    fn email_without_at_or_domain_dot_is_refused() {
        for bad in ["", "ana", "ana@", "@example.com", "ana@example", "ana@@example.com", "a na@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_length_is_between_8_and_128_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"é".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn throttling_starts_at_the_limits_and_the_wait_grows() {
        use time::Duration;
        let now = Duration::ZERO;
        assert_eq!(wait_before_signin(MAX_FAILURES_PER_ACCOUNT - 1, MAX_FAILURES_PER_ADDRESS - 1, now), None);
        assert_eq!(wait_before_signin(MAX_FAILURES_PER_ACCOUNT, 0, now), Some(Duration::minutes(1)));
        assert_eq!(wait_before_signin(0, MAX_FAILURES_PER_ADDRESS, now), Some(Duration::minutes(1)));
        assert_eq!(wait_before_signin(MAX_FAILURES_PER_ACCOUNT + 1, 0, now), Some(Duration::minutes(2)));
        assert_eq!(wait_before_signin(MAX_FAILURES_PER_ACCOUNT + 3, 0, now), Some(Duration::minutes(8)));
        assert_eq!(wait_before_signin(MAX_FAILURES_PER_ACCOUNT + 9, 0, now), Some(Duration::minutes(15)), "capped");
        let later = Duration::seconds(50);
        assert_eq!(wait_before_signin(MAX_FAILURES_PER_ACCOUNT, 0, later), Some(Duration::seconds(10)));
        assert_eq!(wait_before_signin(MAX_FAILURES_PER_ACCOUNT, 0, Duration::minutes(1)), None, "waited it out");
    }

    #[test]
    fn user_debug_output_hides_the_password_hash() {
        let user = User {
            id: Uuid::nil(),
            email: "ana@example.com".into(),
            display_name: "Ana".into(),
            password_hash: "$argon2id$secret".into(),
            is_admin: false,
            time_zone: "UTC".into(),
            auth_hash: vec![1, 2, 3],
        };
        assert!(!format!("{user:?}").contains("argon2id"));
    }
}
