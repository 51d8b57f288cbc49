//! The configuration the demo leaves for `uipath-fleet run`.

use chrono::NaiveDate;
use uipath_sim::config::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ORG, DEMO_TENANT, OR_READ_SCOPES,
};

use super::DEMO_SOURCE;

/// A configuration for `uipath-fleet run` doing what the demo did, against
/// `uipath-fleet sim` on its default address.
pub(super) fn example_config(datasets: &[&str], from: NaiveDate, to: NaiveDate) -> String {
    format!(
        r#"# Written by `uipath-fleet demo`: the same backfills and a sync, for `uipath-fleet run`.
#   terminal 1:  uipath-fleet sim                       (the simulator on 127.0.0.1:8080)
#   terminal 2:  uipath-fleet run --config THIS_FILE --until-done
# Against your own tenant: change [[sources]] (deployment, auth) and the dates.

[[sources]]
name = "{DEMO_SOURCE}"
deployment = {{ kind = "cloud", base_url = "http://127.0.0.1:8080", organization = "{DEMO_ORG}", tenant = "{DEMO_TENANT}" }}
# The simulator's published demo app; for a real tenant, keep the secret out of the
# file: client_secret = {{ env = "UIPATH_CLIENT_SECRET" }}
auth = {{ method = "client-credentials", client_id = "{DEMO_CLIENT_ID}", client_secret = "{DEMO_CLIENT_SECRET}", scopes = {scopes:?} }}

[embedded]
workers = 2
state_dir = ".uipath-fleet"   # the ledger: rerun after a crash or ctrl-c to resume

[sink]
dir = "out-run"               # out-run/<source>/<dataset>/<YYYY-MM-DD>.ndjson

[token_cache]
file = ".uipath-fleet/tokens.json"

[coordinator]
listen = "127.0.0.1:8700"     # `uipath-fleet status` and friends reach the fleet here

[[backfills]]
sources = ["{DEMO_SOURCE}"]
datasets = {datasets:?}
from = {from}
to = {to}

# What changed in jobs and queue items, every 10 s (`uipath-fleet sim` runs live). It
# runs until you stop the fleet: leave out --until-done to keep it going.
[[syncs]]
sources = ["{DEMO_SOURCE}"]
datasets = ["jobs", "queue-items"]
every = "10s"
settle = "5s"
lookback = "1m"
"#,
        scopes = OR_READ_SCOPES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FleetConfig;

    #[test]
    fn the_example_configuration_is_valid() {
        let from = NaiveDate::from_ymd_opt(2025, 5, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let c = FleetConfig::parse(&example_config(&["jobs", "audit-logs"], from, to)).unwrap();
        assert_eq!(c.sources[0].name, DEMO_SOURCE);
        assert_eq!(c.backfills.len(), 1);
        assert_eq!(c.syncs.len(), 1);
        assert_eq!(c.syncs[0]["every"].as_str(), Some("10s"));
        let body: serde_json::Value =
            serde_json::from_slice(&crate::config::request_body(&c.backfills[0])).unwrap();
        assert_eq!(body["from"], "2025-05-01");
        assert_eq!(body["datasets"][1], "audit-logs");
    }
}
