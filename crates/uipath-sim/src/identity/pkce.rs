//! PKCE (RFC 7636) with the only method UiPath accepts, `S256`.
//!
//! Guarantees: a code is exchanged only by whoever holds the verifier whose SHA-256 (in
//! unpadded base64url) equals the challenge sent to `/connect/authorize`; malformed
//! verifiers and challenges are refused rather than compared.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::tokens::constant_time_eq;

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`. The same alphabet and bounds
/// hold for an S256 challenge (always 43 characters), so one check serves both.
fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge for `verifier`: `base64url-no-pad(sha256(verifier))`.
pub(crate) fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// True when `challenge` could have come from an S256 transformation.
pub(crate) fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && well_formed(challenge)
}

/// True when `verifier` is well formed and transforms to `challenge`.
pub(crate) fn verify_s256(verifier: &str, challenge: &str) -> bool {
    well_formed(verifier)
        && constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256_challenge(verifier), challenge);
        assert!(is_valid_challenge(challenge));
        assert!(verify_s256(verifier, challenge));
        assert!(!verify_s256(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
    }

    #[test]
    fn refuses_malformed_input() {
        // Too short, even if the challenge were computed from it.
        let short = "abc";
        assert!(!verify_s256(short, &s256_challenge(short)));
        let spaced = "a b".repeat(20);
        assert!(!verify_s256(&spaced, &s256_challenge(&spaced)));
        assert!(!is_valid_challenge("plain-text-challenge"));
        assert!(!is_valid_challenge(&"x".repeat(44)));
    }

    proptest! {
        #[test]
        fn every_well_formed_verifier_verifies_against_its_own_challenge(
            verifier in "[A-Za-z0-9._~-]{43,128}",
            other in "[A-Za-z0-9._~-]{43,128}",
        ) {
            let challenge = s256_challenge(&verifier);
            prop_assert!(is_valid_challenge(&challenge));
            prop_assert!(verify_s256(&verifier, &challenge));
            prop_assert_eq!(verify_s256(&other, &challenge), other == verifier);
        }
    }
}
