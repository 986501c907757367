//! Random secrets and their stored form: invite links, webhook signing secrets and API tokens are
//! all random bytes written as hex, and where only a hash is kept it is SHA-256 (the secrets are
//! random and long, so a slow password hash would add nothing).

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `bytes` random bytes from the thread's CSPRNG, as lowercase hex (twice as many characters).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a secret, as stored in its place.
pub fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    sha256(secret).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hex_of_the_length_asked_and_differ() {
        let a = random_hex(32);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(a, random_hex(32));
    }

    #[test]
    fn a_secret_matches_its_hash_only() {
        let stored = sha256("abc");
        assert!(matches("abc", &stored));
        assert!(!matches("abd", &stored));
        assert!(!matches("abc", &stored[..31]));
    }
}
