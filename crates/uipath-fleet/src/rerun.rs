//! What `uipath-fleet run` says about a request of its configuration that an earlier
//! run left failed: what [`fleet_assembly::rerun::retry_failed`] took back and what it
//! left.

use std::collections::BTreeMap;

pub use fleet_assembly::rerun::{retry_failed, Retried};

/// "its planning, which failed with invalid_client and 3 failed slice(s) (forbidden ×2,
/// transport ×1)".
pub fn describe_retried(r: &Retried) -> String {
    let mut parts = Vec::new();
    if let Some(cause) = &r.replanned {
        parts.push(format!("its planning, which failed with {cause}"));
    }
    if !r.slices.is_empty() {
        let n: u64 = r.slices.values().sum();
        parts.push(format!("{n} failed slice(s) ({})", tally(&r.slices)));
    }
    parts.join(" and ")
}

/// "bad_request ×2".
pub fn describe_kept(r: &Retried) -> String {
    tally(&r.kept)
}

fn tally(causes: &BTreeMap<String, u64>) -> String {
    causes
        .iter()
        .map(|(cause, n)| format!("{cause} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_read_well() {
        let r = Retried {
            replanned: Some("invalid_client".into()),
            slices: BTreeMap::from([("forbidden".into(), 2), ("transport".into(), 1)]),
            kept: BTreeMap::from([("bad_request".into(), 2)]),
        };
        assert!(r.retried());
        assert_eq!(
            describe_retried(&r),
            "its planning, which failed with invalid_client and 3 failed slice(s) (forbidden ×2, transport ×1)"
        );
        assert_eq!(describe_kept(&r), "bad_request ×2");
    }
}
