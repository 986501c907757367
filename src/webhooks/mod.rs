//! Outgoing webhooks: a team tells other systems (Slack, an incident tool, a pager) about its
//! faults as they happen. Every delivery is written to an outbox in the same transaction as
//! the timeline event, then delivered by a worker with retries, so a crash or a failing
//! receiver loses nothing. Bodies are signed with HMAC-SHA256.

pub mod actions;
pub mod routes;
pub mod store;
pub mod worker;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use time::Duration;

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
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// Whether an address is one a webhook must not reach unless private targets are allowed:
/// loopback, private ranges, link-local (cloud metadata), unspecified, multicast.
pub fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast()
                || v4.is_broadcast() || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // 100.64/10
                || v4.octets()[0] == 0
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(std::net::IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    }
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
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::seconds(1);
        assert_eq!(backoff(base, 0), Duration::seconds(1));
        assert_eq!(backoff(base, 3), Duration::seconds(8));
        assert_eq!(backoff(base, 30), Duration::hours(1));
    }
}
