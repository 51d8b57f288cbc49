//! Tokens at rest: when an operator configures a key, every access and refresh token the
//! fleet stores (in Redis or in a local file) is sealed with XChaCha20-Poly1305.
//!
//! The storage location (a Redis key name, a file's token id) is bound in as associated
//! data, so a sealed value copied to another key does not open. Nonces are random
//! (192-bit, so collisions are not a concern at any realistic volume).
//!
//! Stored text carries a version and a mode so that a reader can tell what it has:
//! `v1.plain.<text>` without a key, `v1.sealed.<base64(nonce || ciphertext)>` with one.
//! A sealed value read without the key, or with the wrong key, is an error that says
//! so — never garbage handed to UiPath as a bearer token.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::Secret;

const PLAIN: &str = "v1.plain.";
const SEALED: &str = "v1.sealed.";
const NONCE_LEN: usize = 24;

/// Why a stored value could not be opened. Messages never contain the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the token encryption key must be 32 bytes, base64-encoded (got {0} bytes); generate one with `head -c32 /dev/urandom | base64`")]
    BadKey(usize),
    #[error("the token encryption key is not valid base64")]
    KeyNotBase64,
    #[error("a stored token is encrypted but no token encryption key is configured")]
    KeyMissing,
    #[error("a stored token does not open with the configured encryption key (wrong key, or the value was tampered with)")]
    WrongKey,
    #[error("a stored token is stored unencrypted but an encryption key is configured; log in again or clear the token cache so it is stored encrypted")]
    PlainWithKey,
    #[error("a stored token has an unknown format")]
    Unknown,
}

/// A 256-bit key. `Debug` does not print it.
#[derive(Clone)]
pub struct SealingKey(XChaCha20Poly1305);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != 32 {
            return Err(SealError::BadKey(bytes.len()));
        }
        let cipher =
            XChaCha20Poly1305::new_from_slice(bytes).map_err(|_| SealError::BadKey(bytes.len()))?;
        Ok(SealingKey(cipher))
    }

    /// The form operators configure: 32 random bytes in standard base64.
    pub fn from_base64(text: &Secret) -> Result<Self, SealError> {
        let bytes = B64
            .decode(text.expose().trim())
            .map_err(|_| SealError::KeyNotBase64)?;
        Self::from_bytes(&bytes)
    }
}

/// Seals and opens stored tokens; without a key it stores them marked as plain.
#[derive(Debug, Clone, Default)]
pub struct Sealer {
    key: Option<SealingKey>,
}

impl Sealer {
    pub fn new(key: Option<SealingKey>) -> Self {
        Sealer { key }
    }

    pub fn plain() -> Self {
        Sealer { key: None }
    }

    pub fn is_sealing(&self) -> bool {
        self.key.is_some()
    }

    /// The stored form of `secret` at storage location `aad`.
    pub fn seal(&self, aad: &str, secret: &Secret) -> String {
        match &self.key {
            None => format!("{PLAIN}{}", secret.expose()),
            Some(key) => {
                let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
                let ct = key
                    .0
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: secret.expose().as_bytes(),
                            aad: aad.as_bytes(),
                        },
                    )
                    // Encryption fails only for messages beyond ~256 GiB.
                    .expect("token fits in one AEAD message");
                let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
                blob.extend_from_slice(&nonce);
                blob.extend_from_slice(&ct);
                format!("{SEALED}{}", B64.encode(blob))
            }
        }
    }

    /// The secret behind a stored form produced by [`Sealer::seal`] for the same `aad`.
    pub fn open(&self, aad: &str, stored: &str) -> Result<Secret, SealError> {
        if let Some(text) = stored.strip_prefix(PLAIN) {
            if self.key.is_some() {
                return Err(SealError::PlainWithKey);
            }
            return Ok(Secret::new(text));
        }
        let Some(b64) = stored.strip_prefix(SEALED) else {
            return Err(SealError::Unknown);
        };
        let key = self.key.as_ref().ok_or(SealError::KeyMissing)?;
        let blob = B64.decode(b64).map_err(|_| SealError::WrongKey)?;
        if blob.len() < NONCE_LEN {
            return Err(SealError::WrongKey);
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let pt = key
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(pt)
            .map(Secret::new)
            .map_err(|_| SealError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Sealer {
        Sealer::new(Some(SealingKey::from_bytes(&[b; 32]).unwrap()))
    }

    #[test]
    fn sealed_round_trip_hides_the_text() {
        let s = key(7);
        let stored = s.seal("k1", &Secret::new("refresh-abc"));
        assert!(stored.starts_with(SEALED));
        assert!(!stored.contains("refresh-abc"));
        assert_eq!(s.open("k1", &stored).unwrap().expose(), "refresh-abc");
        // Two seals of the same text differ (random nonce).
        assert_ne!(stored, s.seal("k1", &Secret::new("refresh-abc")));
    }

    #[test]
    fn wrong_key_wrong_location_and_missing_key_are_errors() {
        let stored = key(7).seal("k1", &Secret::new("t"));
        assert_eq!(key(8).open("k1", &stored), Err(SealError::WrongKey));
        assert_eq!(key(7).open("k2", &stored), Err(SealError::WrongKey));
        assert_eq!(
            Sealer::plain().open("k1", &stored),
            Err(SealError::KeyMissing)
        );
        let plain = Sealer::plain().seal("k1", &Secret::new("t"));
        assert_eq!(plain, "v1.plain.t");
        assert_eq!(Sealer::plain().open("k1", &plain).unwrap().expose(), "t");
        assert_eq!(key(7).open("k1", &plain), Err(SealError::PlainWithKey));
        assert_eq!(key(7).open("k1", "garbage"), Err(SealError::Unknown));
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(
            SealingKey::from_base64(&Secret::new("AAAA")).unwrap_err(),
            SealError::BadKey(3)
        );
        assert_eq!(
            SealingKey::from_base64(&Secret::new("!!")).unwrap_err(),
            SealError::KeyNotBase64
        );
        let good = B64.encode([1u8; 32]);
        assert!(SealingKey::from_base64(&Secret::new(good)).is_ok());
    }
}
