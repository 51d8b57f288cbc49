//! Token encoding: JWT-shaped access tokens signed with HMAC-SHA256, and opaque random
//! strings for refresh tokens and authorization codes.
//!
//! Access tokens look like UiPath's (`header.payload.signature`, base64url, with `exp`,
//! `iat`, `jti`, ...) so clients that read `exp` to refresh ahead of expiry behave as they
//! would against the cloud. Validity is decided by the server-side store, not by the
//! token: the signature only proves that this process minted it (the key is random per
//! process), which lets `verify` tell "expired and already purged" from "never ours".

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 works on 64-byte blocks; HMAC pads its key to one block.
const BLOCK: usize = 64;

/// HMAC-SHA256 (RFC 2104), written out because the crate has sha2 but no hmac.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Compares without an early exit, so response timing does not reveal how much of a
/// secret or signature matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random, URL-safe string with 256 bits of entropy (refresh tokens, codes).
pub(crate) fn opaque_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch (the JWT time unit).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims carried in an access token's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub iss: String,
    /// The user name for user tokens, the client id for application tokens.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The organization (UiPath calls its id `prt_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prt_id: Option<String>,
    /// Scopes as a JSON array, the way IdentityServer writes them.
    #[serde(default)]
    pub scope: Vec<String>,
    pub exp: u64,
    pub iat: u64,
    pub nbf: u64,
    /// The store key: the token's identity on the server side.
    pub jti: String,
}

/// Signs and checks access tokens with a key that lives only in this process.
pub(crate) struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub fn random() -> Self {
        Self {
            key: rand::rng().random(),
        }
    }

    /// Encodes `claims` as `base64url(header).base64url(payload).base64url(hmac)`.
    pub fn encode(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let header = br#"{"alg":"HS256","typ":"JWT"}"#;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let signature = hmac_sha256(&self.key, token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }

    /// The claims of a token this signer minted; `None` for anything else (garbled,
    /// truncated, re-signed, from another process).
    pub fn decode(&self, token: &str) -> Option<Claims> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (_header, payload) = signed.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let expected = hmac_sha256(&self.key, signed.as_bytes());
        if !constant_time_eq(&signature, &expected) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc4231() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231 test case 6: a key longer than one block is hashed first.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn claims() -> Claims {
        Claims {
            iss: "uipath-sim".into(),
            sub: "app".into(),
            client_id: Some("app".into()),
            prt_id: Some("org".into()),
            scope: vec!["OR.Jobs.Read".into()],
            exp: 2_000_000_000,
            iat: 1_999_996_400,
            nbf: 1_999_996_400,
            jti: "abc".into(),
        }
    }

    #[test]
    fn round_trips_and_is_jwt_shaped() {
        let signer = Signer::random();
        let token = signer.encode(&claims());
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(signer.decode(&token), Some(claims()));
        // A client that reads `exp` without verifying can do so.
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(json["exp"], 2_000_000_000u64);
        assert_eq!(json["scope"][0], "OR.Jobs.Read");
    }

    #[test]
    fn rejects_tampering_and_foreign_keys() {
        let signer = Signer::random();
        let token = signer.encode(&claims());
        assert_eq!(Signer::random().decode(&token), None);
        let mut forged = claims();
        forged.exp += 1;
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(signer.decode(&tampered), None);
        for garbage in [
            "",
            ".",
            "..",
            "a.b.c",
            "not a token",
            &token[..token.len() - 2],
        ] {
            assert_eq!(signer.decode(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn opaque_tokens_are_distinct_and_url_safe() {
        let a = opaque_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, opaque_token());
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
