//! Accounts: who a person is, and the rules of signing up and signing in (throttling of
//! failures, password lengths). Passwords are Argon2id hashes; the sign-in session itself
//! (axum-login over tower-sessions) is wired in `web::auth`.

pub mod actions;
pub mod routes;
pub mod settings;
pub mod store;
pub mod two_factor;

/// How recently a person without a password must have confirmed who they are at the single
/// sign-on provider to delete their account: that stands for the password others give.
pub const RECENT_SIGNIN_MINUTES: i64 = 10;

/// The session-store key of the last time (Unix seconds) the single sign-on provider checked, at
/// Gameday's asking, the person signed in on this session: what confirms a deletion for an account
/// without a password.
pub const SSO_CONFIRMED_KEY: &str = "sso_confirmed_at";

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
    /// Whether signing in needs a code from an authenticator app as well.
    pub two_factor: bool,
}

impl User {
    /// Whether the account has a password (one made at a first single sign-on, and the demo's
    /// people, have none: their hash `!` matches no password).
    pub fn has_password(&self) -> bool {
        self.password_hash.starts_with('$')
    }

    /// The stored address as an [`Email`] (it was parsed before it was stored).
    pub fn email_address(&self) -> crate::error::AppResult<Email> {
        Email::parse(&self.email)
            .map_err(|e| crate::error::AppError::Internal(anyhow::anyhow!("stored email does not parse: {e}")))
    }
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

/// The password rules for a new password: the lengths of [`check_password`], and not one that is
/// easy to guess (common, breached-list-like, or built from the person's own name or address),
/// judged offline by the zxcvbn estimator: a score below 3 ("safely unguessable") is refused.
pub fn check_new_password(input: &str, personal: &[&str]) -> Result<(), String> {
    check_password(input)?;
    // The estimator matches whole words: give it the pieces of an address or a name as well.
    let mut words: Vec<String> = Vec::new();
    for value in personal {
        let value = value.to_lowercase();
        words.extend(value.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= 3).map(str::to_owned));
        words.push(value);
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(input, &words);
    if estimate.score() >= zxcvbn::Score::Three {
        return Ok(());
    }
    let mut message = "This password is too easy to guess".to_owned();
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            message.push_str(&format!(": {}", warning.to_string().trim_end_matches('.').to_lowercase()));
        }
        message.push('.');
        if let Some(suggestion) = feedback.suggestions().first() {
            message.push_str(&format!(" {suggestion}"));
        }
    } else {
        message.push('.');
    }
    if !message.contains("words") {
        message.push_str(" A few unrelated words make a strong password that is easy to remember.");
    }
    Err(message)
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

/// The name a deleted account's records show.
pub const FORMER_MEMBER: &str = "A former member";

/// A session ends this long after sign-in, however active (ASVS 5.0, 7.3.2): then the person
/// signs in again.
pub const SESSION_MAX_DAYS: i64 = 30;
/// A session ends after this long unused (ASVS 5.0, 7.3.1).
pub const SESSION_IDLE_DAYS: i64 = 14;

/// One of a person's signed-in sessions, as the account page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountSession {
    pub id: Uuid,
    pub created_at: time::OffsetDateTime,
    pub last_seen_at: time::OffsetDateTime,
    pub user_agent: String,
    pub client_addr: String,
}

impl AccountSession {
    /// The browser and system, read from the user agent ("Chrome on Linux"), for a person to
    /// recognise their devices.
    pub fn device(&self) -> String {
        describe_agent(&self.user_agent)
    }
}

/// A short name for a browser from its User-Agent header ("Firefox on Windows", or "Unknown
/// browser").
pub fn describe_agent(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .into_iter()
    .find(|(needle, _)| agent.contains(needle))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| agent.contains(needle))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown browser".to_owned(),
    }
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
    fn common_or_personal_passwords_are_refused() {
        for weak in ["password123", "qwertyuiop", "12345678", "iloveyou1"] {
            let refusal = check_new_password(weak, &[]).expect_err(weak);
            assert!(refusal.starts_with("This password is too easy to guess"), "{refusal}");
        }
        assert!(check_new_password("ana.lima", &["ana.lima@example.com", "Ana Lima"]).is_err());
        assert!(check_new_password("correct horse battery", &[]).is_ok());
        assert!(check_new_password("short", &[]).unwrap_err().contains("at least 8"), "lengths first");
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
    fn devices_are_named_from_the_user_agent() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(describe_agent(chrome), "Chrome on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_agent(iphone), "Safari on iPhone");
        assert_eq!(
            describe_agent("Mozilla/5.0 (Windows NT 10.0; rv:133.0) Gecko/20100101 Firefox/133.0"),
            "Firefox on Windows"
        );
        assert_eq!(describe_agent(""), "Unknown browser");
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
            two_factor: false,
        };
        assert!(!format!("{user:?}").contains("argon2id"));
    }
}
