//! Whether a process can do its work: the two backends every fleet process needs. A
//! named pair, because a bare `(bool, bool)` was (broker, ledger) in one crate and
//! (ledger, broker) in another. Serialized as the body of `GET /readyz`.

use serde::Serialize;

/// Reachability of the backends, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub broker: bool,
    pub ledger: bool,
}

impl Readiness {
    /// Ready only when both backends answer.
    pub fn is_ready(self) -> bool {
        self.broker && self.ledger
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_both_and_names_each() {
        let r = Readiness {
            broker: false,
            ledger: true,
        };
        assert!(!r.is_ready());
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!({"broker": false, "ledger": true})
        );
        assert!(Readiness {
            broker: true,
            ledger: true
        }
        .is_ready());
    }
}
