//! The second factor: TOTP codes (RFC 6238, by the `totp-rs` crate) from an authenticator app,
//! and single-use recovery codes for when the phone is lost. Secrets and codes are made here;
//! whether a code is accepted, and only once, is decided by the actions with the stored state.

use rand::RngCore;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};

/// The name authenticator apps show beside the code.
pub const ISSUER: &str = "Gameday";
/// Recovery codes made at once; each works one time.
pub const RECOVERY_CODES: usize = 10;
/// Wrong codes one pending sign-in takes before the password must be given again.
pub const MAX_WRONG_CODES: u32 = 3;
/// How long the password step of a sign-in waits for its second factor.
pub const PENDING_MINUTES: i64 = 10;

/// A new TOTP secret: 160 random bits, as RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// The TOTP for a secret: SHA-1, 6 digits, 30-second steps, one step of clock drift either way
/// (what every authenticator app supports).
pub fn totp(secret: &[u8], account: &str) -> Result<Totp, String> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_account_name(account.replace(':', " "))
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|err| format!("TOTP parameters: {err}"))
}

/// The secret as the Base32 text a person can type into an app instead of scanning.
pub fn secret_text(secret: &[u8]) -> String {
    let text = totp_rs::Secret::from(secret.to_vec()).to_base32();
    text.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// The `otpauth://` address an app reads from the QR code.
pub fn setup_uri(secret: &[u8], account: &str) -> Result<String, String> {
    totp(secret, account)?.to_url().map_err(|err| format!("TOTP address: {err}"))
}

/// The QR code of an address, as an SVG image (no script, safe to inline).
pub fn qr_svg(uri: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|err| format!("QR code: {err}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// The time step a code is valid for, if it is one of the codes accepted at `unix_time`.
pub fn matching_step(secret: &[u8], account: &str, code: &str, unix_time: u64) -> Option<i64> {
    let totp = totp(secret, account).ok()?;
    let step = totp.check(code, unix_time)?;
    i64::try_from(step).ok()
}

/// What a person typed as a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// Six digits from the authenticator app.
    Code(String),
    /// One of the recovery codes, normalised (lower case, no spaces or dashes).
    Recovery(String),
}

/// Reads a code or a recovery code; spaces and dashes are ignored.
pub fn parse_second_factor(input: &str) -> Result<SecondFactor, String> {
    let cleaned: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_lowercase();
    if cleaned.is_empty() {
        return Err("Enter the 6-digit code from your authenticator app.".into());
    }
    if cleaned.len() == 6 && cleaned.chars().all(|c| c.is_ascii_digit()) {
        return Ok(SecondFactor::Code(cleaned));
    }
    if cleaned.len() == 10 && cleaned.chars().all(|c| RECOVERY_ALPHABET.contains(&(c as u8))) {
        return Ok(SecondFactor::Recovery(cleaned));
    }
    Err("Enter the 6 digits your authenticator app shows, or one of your recovery codes (like abcde-23456).".into())
}

/// Letters and digits that cannot be mistaken for one another (no 0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// New recovery codes, as shown to the person (`abcde-23456`): 10 characters of a 31-letter
/// alphabet, about 50 bits each.
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: String = (0..10)
                .map(|_| RECOVERY_ALPHABET[(rng.next_u32() as usize) % RECOVERY_ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// What is stored of each of these recovery codes (as shown, with their dash).
pub fn recovery_code_hashes(codes: &[String]) -> Vec<Vec<u8>> {
    codes.iter().map(|code| recovery_code_hash(&code.replace('-', ""))).collect()
}

/// What is stored of a recovery code: the SHA-256 of its normalised form (the codes are random
/// and long enough that a fast hash is safe; the code itself is never stored).
pub fn recovery_code_hash(normalised: &str) -> Vec<u8> {
    Sha256::digest(normalised.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_accepted_for_its_step_and_one_step_either_side_only() {
        let secret = new_secret();
        let totp = totp(&secret, "ana@example.com").unwrap();
        let now = 1_800_000_000;
        let code = totp.generate(now).to_string();
        assert_eq!(matching_step(&secret, "ana@example.com", &code, now), Some((now / 30) as i64));
        assert!(matching_step(&secret, "ana@example.com", &code, now + 30).is_some(), "a late code still works");
        assert_eq!(matching_step(&secret, "ana@example.com", &code, now + 90), None, "an old code does not");
        assert_eq!(matching_step(&new_secret(), "ana@example.com", &code, now), None, "another secret's code");
    }

    #[test]
    fn codes_and_recovery_codes_are_read_leniently_and_anything_else_refused() {
        assert_eq!(parse_second_factor(" 123 456 "), Ok(SecondFactor::Code("123456".into())));
        assert_eq!(parse_second_factor("ABCDE-23456"), Ok(SecondFactor::Recovery("abcde23456".into())));
        for bad in ["", "12345", "1234567", "abcde-2345o", "<script>"] {
            assert!(parse_second_factor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_distinct_and_parse_back() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert!(matches!(parse_second_factor(code), Ok(SecondFactor::Recovery(_))), "{code}");
        }
    }

    #[test]
    fn the_setup_address_names_the_issuer_and_account() {
        let uri = setup_uri(&new_secret(), "ana@example.com").unwrap();
        assert!(uri.starts_with("otpauth://totp/Gameday:ana%40example.com?"), "{uri}");
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }
}
