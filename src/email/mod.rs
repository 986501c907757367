//! E-mail that reaches people: what kinds there are, which a person may turn off, and how each
//! message reads (plain text and simple HTML, times in the recipient's zone). A message is written
//! to `email_outbox` in the same transaction as the change it tells of (`store::enqueue`), and
//! the worker sends it over SMTP with retries; without an SMTP server it is kept for the local
//! outbox page instead.

pub mod routes;
pub mod store;
pub mod worker;

/// Stands for this server's base URL in stored messages: a change is recorded without knowing the
/// address people use, and the worker (and the outbox page) put it in (as the webhook worker
/// builds its links when it sends).
pub const BASE_URL: &str = "{gameday-base-url}";

/// A stored text with [`BASE_URL`] replaced by `base_url`.
pub fn with_base(text: &str, base_url: &str) -> String {
    text.replace(BASE_URL, base_url)
}

/// Sending attempts before a message is given up (the delays double from the first retry delay,
/// up to an hour).
pub const MAX_ATTEMPTS: i32 = 8;

/// The delay before attempt `attempts + 1`, given the first retry delay.
pub fn backoff(first_ms: u64, attempts: i32) -> std::time::Duration {
    let exponent = attempts.clamp(1, 20) as u32 - 1;
    let ms = first_ms.saturating_mul(1u64 << exponent.min(16)).min(3_600_000);
    std::time::Duration::from_millis(ms)
}

/// The kinds of e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A link to choose a new password (asked for by the person; never turned off).
    PasswordReset,
    /// A link that confirms the address given at sign-up and makes the account (to an address
    /// with no account yet).
    ConfirmAddress,
    /// Someone tried to sign up with the address of an existing account (told to its owner
    /// instead of to the person signing up).
    AccountExists,
    /// An invite link to a team, sent by its lead to an address (maybe of nobody with an account
    /// yet; one message, at the lead's asking, so nothing to turn off).
    Invitation,
    /// A scenario waits for your sign-off (new, or its wording changed since you signed).
    SignOff,
    /// A fault was announced on a game day you are on.
    FaultAnnounced,
    /// A game day you are on starts soon (the day before, and an hour before).
    GamedaySoon,
    /// A retrospective of your team was published.
    RetroPublished,
    /// An action you own falls due tomorrow.
    ActionDue,
}

impl Kind {
    /// The kinds a person may turn off, in the order the account page lists them.
    pub const CHOOSABLE: [Kind; 5] =
        [Kind::SignOff, Kind::GamedaySoon, Kind::FaultAnnounced, Kind::RetroPublished, Kind::ActionDue];

    const ALL: [Kind; 9] = [
        Kind::PasswordReset,
        Kind::ConfirmAddress,
        Kind::AccountExists,
        Kind::Invitation,
        Kind::SignOff,
        Kind::GamedaySoon,
        Kind::FaultAnnounced,
        Kind::RetroPublished,
        Kind::ActionDue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PasswordReset => "password_reset",
            Kind::ConfirmAddress => "confirm_address",
            Kind::AccountExists => "account_exists",
            Kind::Invitation => "invitation",
            Kind::SignOff => "sign_off",
            Kind::FaultAnnounced => "fault_announced",
            Kind::GamedaySoon => "gameday_soon",
            Kind::RetroPublished => "retro_published",
            Kind::ActionDue => "action_due",
        }
    }

    pub fn parse(value: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// What the preference and the unsubscribe page call it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::PasswordReset => "Password reset links",
            Kind::ConfirmAddress => "Confirmation of the address at sign-up",
            Kind::AccountExists => "A sign-up tried with the address of an account",
            Kind::Invitation => "Invitations to a team",
            Kind::SignOff => "A scenario waits for my sign-off",
            Kind::FaultAnnounced => "A fault is announced on a game day I am on",
            Kind::GamedaySoon => "A game day I am on starts soon (the day before, and an hour before)",
            Kind::RetroPublished => "A retrospective of my team is published",
            Kind::ActionDue => "An action I own falls due tomorrow",
        }
    }

    /// Whether a person may turn it off (and its messages carry an unsubscribe link).
    pub fn choosable(self) -> bool {
        Kind::CHOOSABLE.contains(&self)
    }
}

/// A message as stored and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What a message says: a greeting, paragraphs, one link to act on, and (for kinds a person may
/// turn off) the unsubscribe link.
pub struct Content<'a> {
    pub name: &'a str,
    pub subject: String,
    pub paragraphs: Vec<String>,
    /// The button: its words and its absolute URL.
    pub action: Option<(&'a str, String)>,
    /// The unsubscribe link (absolute) and the kind it turns off.
    pub unsubscribe: Option<(String, Kind)>,
}

/// Writes `content` as plain text and as simple HTML (every value escaped).
pub fn compose(content: &Content<'_>) -> Message {
    let mut text = format!("Hello {},\n\n", content.name);
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family: sans-serif; line-height: 1.5; color: #1d1d1f\">\
         <p>Hello {},</p>",
        escape(content.name)
    );
    for paragraph in &content.paragraphs {
        text.push_str(paragraph);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape(paragraph)));
    }
    if let Some((words, url)) = &content.action {
        text.push_str(&format!("{words}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\" style=\"display: inline-block; padding: .5rem 1rem; background: #b33d0b; \
             color: #fff; border-radius: 6px; text-decoration: none; font-weight: 600\">{}</a></p>",
            escape(url),
            escape(words)
        ));
    }
    text.push_str("— Gameday\n");
    html.push_str("<p>— Gameday</p>");
    if let Some((url, kind)) = &content.unsubscribe {
        let line = format!("You get this because of your setting \"{}\".", kind.label());
        text.push_str(&format!("\n{line} Turn it off: {url}\n"));
        html.push_str(&format!(
            "<p style=\"color: #666; font-size: .85rem\">{} <a href=\"{}\">Turn it off</a>.</p>",
            escape(&line),
            escape(url)
        ));
    }
    html.push_str("</body></html>");
    Message { subject: content.subject.clone(), text, html }
}

/// `value` escaped for HTML text and attribute values.
fn escape(value: &str) -> String {
    crate::markdown::escape_text(value)
}

/// Whether mail may be sent to this address: never to the reserved `.invalid` domain (the demo's
/// people and erased accounts live there).
pub fn deliverable(address: &str) -> bool {
    let address = address.to_ascii_lowercase();
    let domain = address.rsplit_once('@').map_or(address.as_str(), |(_, domain)| domain).trim_end_matches('.');
    domain != "invalid" && !domain.ends_with(".invalid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_the_same_in_text_and_html_and_escapes_what_people_wrote() {
        let message = compose(&Content {
            name: "Ana <script>",
            subject: "Sign off \"Cache loss\"".into(),
            paragraphs: vec!["Scenario <b>Cache & DB</b> waits.".into()],
            action: Some(("Read and sign off", "https://g.example.com/a?b=1&c=2".into())),
            unsubscribe: Some(("https://g.example.com/email/unsubscribe/t".into(), Kind::SignOff)),
        });
        assert!(message.text.contains("Hello Ana <script>,"));
        assert!(message.text.contains("Scenario <b>Cache & DB</b> waits."));
        assert!(message.text.contains("Read and sign off: https://g.example.com/a?b=1&c=2"));
        assert!(message.text.contains("Turn it off: https://g.example.com/email/unsubscribe/t"));
        assert!(message.html.contains("Hello Ana &lt;script&gt;,"));
        assert!(message.html.contains("Scenario &lt;b&gt;Cache &amp; DB&lt;/b&gt; waits."));
        assert!(message.html.contains("href=\"https://g.example.com/a?b=1&amp;c=2\""));
        assert!(!message.html.contains("<script>") && !message.html.contains("<b>"));
    }

    #[test]
    fn kinds_round_trip_and_a_password_reset_cannot_be_turned_off() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("nope"), None);
        assert!(!Kind::PasswordReset.choosable());
        assert!(Kind::SignOff.choosable());
    }

    #[test]
    fn nothing_is_sent_to_the_reserved_invalid_domain() {
        assert!(!deliverable("demo-1@demo.gameday.invalid"));
        assert!(!deliverable("erased-1@INVALID."));
        assert!(deliverable("ana@example.com"));
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(backoff(5000, 1).as_millis(), 5000);
        assert_eq!(backoff(5000, 2).as_millis(), 10_000);
        assert_eq!(backoff(5000, 30).as_millis(), 3_600_000);
    }
}
