//! Served bytes pinned across refactors: a SHA-256 of what every Orchestrator generator
//! and the Data Service write for fixed configurations, frozen and live. Same config, same
//! bytes, byte for byte: a change to a generator, the row writer or the Data Service
//! renderer that alters any served byte fails here, with the entity named.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::data::entities::{all, partitions};
use crate::data::{AsOf, DataConfig, LiveData, TenantData};
use crate::dataservice::DataService;
use crate::value::write_row;

const DAY: i64 = 86_400_000;

/// Indices to write of a partition of `n` records: all of a small one, otherwise the
/// ends and an even spread.
fn sample(n: u64) -> Vec<u64> {
    if n <= 400 {
        return (0..n).collect();
    }
    let step = n / 200;
    let mut v: Vec<u64> = (0..100).chain(n - 100..n).collect();
    v.extend((1..200).map(|k| k * step));
    v.sort_unstable();
    v.dedup();
    v
}

/// Hex SHA-256 per entity of the written rows of every partition of `t`.
fn entity_digests(t: &AsOf<'_>) -> Vec<(&'static str, String)> {
    all()
        .iter()
        .map(|gen| {
            let mut h = Sha256::new();
            let mut out = Vec::new();
            for part in 0..partitions(*gen, t) {
                let n = gen.len(t, part);
                h.update(n.to_le_bytes());
                for i in sample(n) {
                    out.clear();
                    h.update(gen.id_at(t, part, i).to_le_bytes());
                    h.update(gen.time_at(t, part, i).to_le_bytes());
                    if gen.exists(t, part, i) {
                        write_row(&mut out, gen.def().schema, &gen.row(t, part, i), None);
                    }
                    h.update(&out);
                }
            }
            (gen.def().name, hex(&h.finalize()))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn day_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
}

/// Pinned values, printed by the test when they differ (entity, digest).
fn assert_digests(what: &str, got: &[(&str, String)], want: &[(&str, &str)]) {
    let got: Vec<(&str, &str)> = got.iter().map(|(n, d)| (*n, d.as_str())).collect();
    assert_eq!(got, want, "{what}: served bytes changed");
}

#[test]
fn frozen_generators_serve_the_pinned_bytes() {
    let t = TenantData::build("acme", "prod", &DataConfig::default());
    let got = entity_digests(&t.at_end());
    assert_digests("frozen", &got, FROZEN);
}

#[test]
fn live_generators_serve_the_pinned_bytes() {
    let config = DataConfig::default();
    let start = day_ms(config.span_end) + DAY;
    let t = TenantData::build_live(
        "acme",
        "prod",
        &config,
        config.span_end + chrono::Days::new(5),
        LiveData {
            reference_change_ms: 7 * 60_000,
            epoch_ms: start,
        },
    );
    // Two days of reference changes: renames, machines removed and added, SLAs, triggers.
    let got = entity_digests(&t.as_of(start + 2 * DAY + 3_600_000));
    assert_digests("live", &got, LIVE);
}

#[test]
fn data_service_serves_the_pinned_bytes() {
    let mut h = Sha256::new();
    let mut service = DataService::new(&Default::default(), "acme", "prod");
    let epoch = day_ms(NaiveDate::from_ymd_opt(2025, 7, 1).expect("date"));
    for live in [false, true] {
        if live {
            service.set_live(epoch, 5 * 60_000);
        }
        for entity in service.entity_names() {
            for level in [1, 2, 3] {
                let served = service
                    .read(&entity, 0, 50, level, epoch + DAY)
                    .expect("entity reads");
                h.update(&served.body);
            }
        }
    }
    assert_eq!(
        hex(&h.finalize()),
        DATA_SERVICE,
        "data service bytes changed"
    );
}

const FROZEN: &[(&str, &str)] = &[
    (
        "Jobs",
        "58ed73d859a35c1f106f8f0231de7a7bcb780eba2195a3e88777f5f04b9c747d",
    ),
    (
        "QueueItems",
        "0531069c4c3fa40992592eaba057db8927beeb439ff438424efef1a0b00b386f",
    ),
    (
        "QueueItemEvents",
        "ad9184aef1c9aa60b6adbfdc3811f4af26b02cd32dce7844e9be04ccb73cec4f",
    ),
    (
        "QueueDefinitions",
        "35054d9bc975c1e8767fe3b13e56d2ed2e691b7afe720cb4e82fccadb834f57a",
    ),
    (
        "Releases",
        "14605326f2fbb9b21649e3f1866d02216334078fb31f4db884b629d3d1f7f3a7",
    ),
    (
        "Robots",
        "486ccb32ea44953b953ab41b53346c218727c4ed1e1f4ba74a4883db01211caf",
    ),
    (
        "Machines",
        "725feb56cd2dfe7ed6a63cb36d392af843ac78c49b85fe9ff5b39a53ada3582a",
    ),
    (
        "Sessions",
        "7f58a7576d68385932010c70be597dacdd5acb423a6928db3b6032d0af89bf75",
    ),
    (
        "Folders",
        "472268783e60993413c160f38f6b7f8351cf7b1ed4df7989a2a1e465211764fa",
    ),
    (
        "Users",
        "4a748d946c426559ecfb768af701ff2ad0354a6bdb4f986ce00b1258453e4133",
    ),
    (
        "AuditLogs",
        "d9acae7fa115e7c261cdd7ff9c28445632cc393984be968295cdcd9265789724",
    ),
    (
        "RobotLogs",
        "57cc86a9c0806f2b403a0945f039722e79f04900f508a6c6e6e42a45b9ff5582",
    ),
    (
        "ProcessSchedules",
        "6c51d620d1a8ac26dfb4e2f659a1d87d7ed6738e8b97e5dcd69913d2c73b56a2",
    ),
];
const LIVE: &[(&str, &str)] = &[
    (
        "Jobs",
        "899a2b47892f3c43021515b2d7d600f04f9f3eb2b722771edc7de817da4aba6c",
    ),
    (
        "QueueItems",
        "f00bc97f952dbdd122157b85b0da8ca0e337db07b76fe78b9b05f530053d5769",
    ),
    (
        "QueueItemEvents",
        "3df96e88b4daf52a576a0592d0ff616dd5f454e4d9c6bfc763f9c96e831e8127",
    ),
    (
        "QueueDefinitions",
        "d05ae53749db23e5b08f5fedfdb957025f88fe77eaa4d7e6ea5499b1e0166c3f",
    ),
    (
        "Releases",
        "14605326f2fbb9b21649e3f1866d02216334078fb31f4db884b629d3d1f7f3a7",
    ),
    (
        "Robots",
        "a55365647df4d579c1b26f013e64e2641352fab152ccfc4f6f3d9846ea1c2b6e",
    ),
    (
        "Machines",
        "cadca8a5efb89162212d5a8b3a399f4dfb9b3fda331d5b7d2377a606bc3e20b0",
    ),
    (
        "Sessions",
        "90c9a2917862df0d177205ae07a5c76a392f201190ecc09d18f734c129b8d0cc",
    ),
    (
        "Folders",
        "472268783e60993413c160f38f6b7f8351cf7b1ed4df7989a2a1e465211764fa",
    ),
    (
        "Users",
        "94f5acf3c961e0b5b522de02262295e27f9ee33925a4f60f56158faa9daa92f1",
    ),
    (
        "AuditLogs",
        "5c73ae1fe0b65bb17de8aee71de86fc93a889741273e9c2129deb2e76df2d6da",
    ),
    (
        "RobotLogs",
        "8d89a863a7b0c3f8428239bcf6e9653fda82db910d692634ed69d42f239a948a",
    ),
    (
        "ProcessSchedules",
        "09a549976b8a9c7c6e259423ce56c9f353ed0d9b70b1df45ad6c4d4cdf488cd4",
    ),
];
const DATA_SERVICE: &str = "e9641fc3cb533292e01778ba0dce6d35447b0aeeda531ab8c8f58dd17a4587ee";
