//! Outgoing webhooks: a team tells other systems (Slack, an incident tool, a pager) about its
//! faults as they happen. Every delivery is written to an outbox in the same transaction as
//! the timeline event, then delivered by a worker with retries, so a crash or a failing
//! receiver loses nothing. Bodies are signed with HMAC-SHA256.

pub mod actions;
pub mod routes;
pub mod store;
pub mod worker;

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::Duration;

use crate::teams::Team;
use crate::timeline::EventKind;

/// The events a webhook can subscribe to.
pub const KINDS: [EventKind; 7] = [
    EventKind::GamedayStarted,
    EventKind::ScenarioAnnounced,
    EventKind::ScenarioInjected,
    EventKind::ScenarioHalted,
    EventKind::ScenarioRolledBack,
    EventKind::ScenarioConcluded,
    EventKind::GamedayCompleted,
];

/// The header carrying `sha256=<hex HMAC of "<timestamp>.<body>">`.
/// Webhooks a team may have: deliveries are shared fairly between teams, and no team can fill
/// the outbox by adding receivers.
pub const MAX_PER_TEAM: i64 = 10;

/// At most this many of one team's deliveries are in flight at once (claimed, no outcome yet),
/// across every instance: a team whose receiver hangs holds up only its own deliveries.
pub const MAX_IN_FLIGHT_PER_TEAM: i64 = 4;

pub const SIGNATURE_HEADER: &str = "x-gameday-signature";
/// The header carrying the Unix time the signature was made (receivers refuse old ones).
pub const TIMESTAMP_HEADER: &str = "x-gameday-timestamp";

/// Signs a body for a receiver that knows the secret.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A fresh secret to sign with: 192 random bits, hex.
pub fn new_secret() -> String {
    crate::secrets::random_hex(24)
}

/// Validates the subscribed kinds: at least one, all known.
pub fn parse_kinds(inputs: &[String]) -> Result<Vec<EventKind>, String> {
    if inputs.is_empty() {
        return Err("Choose at least one kind of event to send.".into());
    }
    inputs
        .iter()
        .map(|k| {
            KINDS
                .into_iter()
                .find(|kind| kind.as_str() == k)
                .ok_or_else(|| format!("\"{k}\" is not an event a webhook can send."))
        })
        .collect()
}

/// What kind of address a webhook must not reach unless private targets are allowed
/// (`GAMEDAY_WEBHOOK_ALLOW_PRIVATE`), said for people: loopback, private ranges, link-local
/// (cloud metadata), unspecified, multicast. `None` for a public address.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_unspecified() || a == 0 {
                Some("an unspecified address")
            } else if v4.is_private() || a == 100 && (b & 0xc0) == 64 {
                // 100.64/10 is the carrier-grade NAT range: private in all but name.
                Some("a private address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if v4.is_multicast() || v4.is_broadcast() {
                Some("a multicast or broadcast address")
            } else if a == 198 && (b & 0xfe) == 18 {
                Some("a benchmarking address") // 198.18.0.0/15
            } else if a == 192 && b == 0 && v4.octets()[2] == 0 {
                Some("a protocol-assignment address") // 192.0.0.0/24
            } else if a >= 240 {
                Some("a reserved address") // 240.0.0.0/4
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return non_public_kind(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() {
                Some("an unspecified address")
            } else if (first & 0xfe00) == 0xfc00 {
                Some("a private address") // unique local
            } else if (first & 0xffc0) == 0xfe80 {
                Some("a link-local address")
            } else if (first & 0xffc0) == 0xfec0 {
                Some("a site-local address") // fec0::/10, deprecated but still routed inside sites
            } else if first == 0x0064 && v6.segments()[1] == 0xff9b && (v6.segments()[2] == 0 || v6.segments()[2] == 1)
            {
                // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) reaches IPv4 behind it.
                Some("a NAT64 address")
            } else if first == 0x2002 {
                Some("a 6to4 address") // 2002::/16 embeds an IPv4 address
            } else if v6.is_multicast() {
                Some("a multicast or broadcast address")
            } else {
                None
            }
        }
    }
}

/// Why a webhook cannot be sent to its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undeliverable {
    /// The host has no address we can find (yet): retrying may help.
    Unresolvable(String),
    /// The URL points where webhooks may not go: retrying will not help.
    Refused(String),
}

impl std::fmt::Display for Undeliverable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undeliverable::Unresolvable(message) => f.write_str(message),
            Undeliverable::Refused(message) => write!(f, "refused: {message}"),
        }
    }
}

impl Undeliverable {
    /// The message for the person who typed the URL.
    pub fn message(&self) -> &str {
        match self {
            Undeliverable::Unresolvable(message) | Undeliverable::Refused(message) => message,
        }
    }
}

/// The rule for where a webhook may go, used both when it is saved and at every delivery:
/// every address its host resolves to must be public, unless private targets are allowed.
/// Returns the address to connect to (the first one).
pub fn check_destination(host: &str, addrs: &[IpAddr], allow_private: bool) -> Result<IpAddr, Undeliverable> {
    let first = *addrs.first().ok_or_else(|| Undeliverable::Unresolvable(format!("{host} has no address.")))?;
    if allow_private {
        return Ok(first);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    for &ip in addrs {
        if let Some(kind) = non_public_kind(ip) {
            let what = if bare.parse::<IpAddr>().is_ok() {
                format!("{host} is {kind}")
            } else {
                format!("{host} resolves to {ip}, {kind}")
            };
            return Err(Undeliverable::Refused(format!("{what}; webhooks may only go to public addresses.")));
        }
    }
    Ok(first)
}

/// The event kind of a test delivery (sent from the settings page, never a timeline event).
pub const TEST_KIND: &str = "test";

/// The label the settings page shows for a kind of delivery: the timeline's label for an event.
pub fn kind_label(kind: &str) -> &str {
    if kind == TEST_KIND {
        return "Test delivery";
    }
    EventKind::parse(kind).map(|k| k.label()).unwrap_or(kind)
}

/// Escapes the characters Slack reads as markup, so text cannot ping a channel or hide a link
/// (the outbox does the same in SQL for event text).
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The body of a test delivery: shaped like an event's (a Slack-compatible `text`, the team,
/// and an `event` whose kind is [`TEST_KIND`]), so a receiver can be tried before a game day.
pub fn test_payload(team: &Team, sender: &str, settings_url: &str, at: &str) -> serde_json::Value {
    let body = format!("Test delivery from Gameday, sent by {sender}.");
    serde_json::json!({
        "text": format!("[{}] {} <{settings_url}|Open in Gameday>", slack_escape(&team.name), slack_escape(&body)),
        "team": { "name": team.name, "slug": team.slug },
        "event": { "kind": TEST_KIND, "body": body, "at": at },
    })
}

/// What a receiver answered to a test delivery, for the settings page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestAnswer {
    /// The HTTP status, when the receiver answered at all.
    pub status: Option<u16>,
    /// The status's reason phrase (`No Content`).
    pub reason: String,
    /// The start of the body the receiver sent back.
    pub body: String,
    /// Why nothing was answered (`connection refused`, `timed out`).
    pub error: Option<String>,
}

impl TestAnswer {
    /// No answer at all, and why.
    pub fn unanswered(error: String) -> TestAnswer {
        TestAnswer { status: None, reason: String::new(), body: String::new(), error: Some(error) }
    }

    /// What the delivery log says went wrong, as it says it for events (`answered 500 …`).
    pub fn log_error(&self) -> Option<String> {
        match (&self.error, self.status) {
            (Some(error), _) => Some(error.clone()),
            (None, Some(status)) if !self.accepted() => {
                Some(format!("answered {status} {}", self.reason).trim_end().to_owned())
            }
            _ => None,
        }
    }

    /// Whether the receiver accepted the delivery (any 2xx).
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// How many characters of a receiver's answer the page shows.
pub const ANSWER_CHARS: usize = 400;

/// The start of a receiver's answer, at most [`ANSWER_CHARS`] characters, marked when cut.
pub fn answer_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.chars().take(ANSWER_CHARS).collect();
    if text.chars().nth(ANSWER_CHARS).is_some() {
        excerpt.push('…');
    }
    excerpt
}

/// The most attempts before a delivery is given up (and shown as failed in the log).
pub const MAX_ATTEMPTS: i32 = 12;

/// How long to wait before attempt `attempt + 1`: exponential from `base`, at most an hour.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let factor = 2i64.saturating_pow(attempt.clamp(0, 20) as u32);
    let millis = (base.whole_milliseconds() as i64).saturating_mul(factor);
    Duration::milliseconds(millis.min(3_600_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let a = signature("s3cret", 1_700_000_000, b"{\"text\":\"hi\"}");
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, signature("s3cret", 1_700_000_001, b"{\"text\":\"hi\"}"));
        assert_ne!(a, signature("other", 1_700_000_000, b"{\"text\":\"hi\"}"));
        assert_ne!(a, signature("s3cret", 1_700_000_000, b"{\"text\":\"ho\"}"));
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn kinds_must_be_known_and_present() {
        assert!(parse_kinds(&[]).is_err());
        assert!(parse_kinds(&["observation".into()]).is_err());
        assert_eq!(parse_kinds(&["scenario_injected".into()]).unwrap(), vec![EventKind::ScenarioInjected]);
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "fec0::1",
            "198.18.0.1",
            "198.19.255.254",
            "192.0.0.8",
            "240.0.0.1",
            "255.255.255.254",
        ] {
            assert!(non_public_kind(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "198.20.0.1", "64:ff9c::1"] {
            assert_eq!(non_public_kind(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn a_destination_says_why_it_is_refused() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        assert_eq!(
            check_destination("localhost", &[loopback], false),
            Err(Undeliverable::Refused(
                "localhost resolves to 127.0.0.1, a loopback address; webhooks may only go to public addresses.".into()
            ))
        );
        assert_eq!(
            check_destination("127.0.0.1", &[loopback], false).unwrap_err().message(),
            "127.0.0.1 is a loopback address; webhooks may only go to public addresses."
        );
        assert_eq!(
            check_destination("[::1]", &["::1".parse().unwrap()], false).unwrap_err().message(),
            "[::1] is a loopback address; webhooks may only go to public addresses."
        );
        // One private answer among public ones is enough to refuse.
        assert!(matches!(
            check_destination("mixed.example", &[public, "10.0.0.1".parse().unwrap()], false),
            Err(Undeliverable::Refused(m)) if m.contains("10.0.0.1, a private address")
        ));
        assert_eq!(check_destination("example.com", &[public], false), Ok(public));
        assert_eq!(check_destination("localhost", &[loopback], true), Ok(loopback));
        assert!(matches!(check_destination("x.example", &[], false), Err(Undeliverable::Unresolvable(_))));
    }

    #[test]
    fn kinds_are_labelled_as_on_the_timeline() {
        assert_eq!(kind_label("gameday_started"), EventKind::GamedayStarted.label());
        assert_eq!(kind_label("scenario_rolled_back"), "Rolled back");
        assert_eq!(kind_label(TEST_KIND), "Test delivery");
    }

    #[test]
    fn a_test_answer_is_logged_like_an_event_delivery() {
        let answer = |status: u16, reason: &str| TestAnswer {
            status: Some(status),
            reason: reason.into(),
            body: String::new(),
            error: None,
        };
        assert!(answer(204, "No Content").accepted());
        assert_eq!(answer(204, "No Content").log_error(), None);
        assert!(!answer(500, "Internal Server Error").accepted());
        assert_eq!(
            answer(500, "Internal Server Error").log_error().as_deref(),
            Some("answered 500 Internal Server Error")
        );
        assert_eq!(answer(599, "").log_error().as_deref(), Some("answered 599"));
        assert_eq!(TestAnswer::unanswered("timed out".into()).log_error().as_deref(), Some("timed out"));
    }

    #[test]
    fn an_answer_is_cut_to_a_few_hundred_characters() {
        assert_eq!(answer_excerpt(b"ok"), "ok");
        let long = "é".repeat(ANSWER_CHARS + 10);
        let excerpt = answer_excerpt(long.as_bytes());
        assert_eq!(excerpt.chars().count(), ANSWER_CHARS + 1);
        assert!(excerpt.ends_with('…'));
        assert_eq!(answer_excerpt(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::seconds(1);
        assert_eq!(backoff(base, 0), Duration::seconds(1));
        assert_eq!(backoff(base, 3), Duration::seconds(8));
        assert_eq!(backoff(base, 30), Duration::hours(1));
    }
}
