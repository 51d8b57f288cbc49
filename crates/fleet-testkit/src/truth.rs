//! What arrived against what should have: the end-to-end tests compute the ids a run must
//! publish from the simulator's deterministic data (ground truth), count what a consumer
//! received, and compare the two here.

use std::collections::{HashMap, HashSet};

/// Asserts that the ids counted in `arrived` are exactly `expected`: no record missing,
/// none foreign (copies of an expected id are the caller's business).
pub fn assert_complete<V>(arrived: &HashMap<String, V>, expected: &HashSet<String>) {
    let missing = expected
        .iter()
        .filter(|id| !arrived.contains_key(*id))
        .count();
    let foreign = arrived.keys().filter(|id| !expected.contains(*id)).count();
    assert_eq!(
        (missing, foreign),
        (0, 0),
        "{missing} of {} expected records missing, {foreign} unexpected ones arrived",
        expected.len()
    );
}
