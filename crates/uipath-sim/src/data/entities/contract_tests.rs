//! Property tests of the generator contract the query engine relies on, for all thirteen
//! entity sets: ids strictly increasing and times non-decreasing in the index, lagged
//! fields null or within their bound, `time_at`/`id_at` agreeing with `row`, primary times
//! inside the span, values of the declared types, and determinism across builds.

use proptest::prelude::*;

use crate::data::entities::{all, partitions};
use crate::data::{AsOf, DataConfig, EntityGen, TenantData};
use crate::value::{FieldType, Row, Schema, Val};

/// Indices to inspect in a partition of `n` records: all of a small one, otherwise the
/// ends and an even spread with their successors (so neighbouring pairs are checked).
fn sample(n: u64) -> Vec<u64> {
    if n <= 300 {
        return (0..n).collect();
    }
    let mut v: Vec<u64> = (0..60).chain(n - 60..n).collect();
    let step = n / 90;
    for k in 1..90 {
        v.extend([k * step, k * step + 1]);
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn check_value(entity: &str, field: &str, ty: FieldType, v: &Val) {
    let ok = match (ty, v) {
        (_, Val::Null) => true,
        (FieldType::Int64 | FieldType::Int32, Val::Int(_)) => true,
        (FieldType::Double, Val::Float(_) | Val::Int(_)) => true,
        (FieldType::Bool, Val::Bool(_)) => true,
        (FieldType::String, Val::Str(_)) => true,
        (FieldType::DateTime, Val::DateTime(_)) => true,
        (FieldType::Guid, Val::Guid(_)) => true,
        (FieldType::Enum(values), Val::Str(s)) => values.contains(&s.as_ref()),
        (FieldType::Object(schema), Val::Object(row)) => {
            check_row(entity, schema, row);
            true
        }
        (FieldType::Json, Val::Raw(json)) => {
            serde_json::from_str::<serde_json::Value>(json).is_ok()
        }
        _ => false,
    };
    assert!(ok, "{entity}.{field}: {v:?} is not a {ty:?}");
    if let (FieldType::Int32, Val::Int(i)) = (ty, v) {
        assert!(
            i32::try_from(*i).is_ok(),
            "{entity}.{field}: {i} overflows int32"
        );
    }
}

fn check_row(entity: &str, schema: &Schema, row: &Row) {
    assert_eq!(row.0.len(), schema.fields.len(), "{entity}: row length");
    for (f, v) in schema.fields.iter().zip(&row.0) {
        check_value(entity, f.name, f.ty, v);
    }
}

/// Checks one entity of one tenant against the contract.
fn check_entity(gen: &dyn EntityGen, t: &AsOf<'_>) {
    let def = gen.def();
    let name = def.name;
    let id_idx = def.id_field.map(|f| def.schema.index_of(f).unwrap());
    let time_idx = def.time_field.map(|f| def.schema.index_of(f).unwrap());
    let lagged: Vec<(usize, i64)> = def
        .lagged
        .iter()
        .map(|(f, lag)| (def.schema.index_of(f).unwrap(), *lag))
        .collect();
    for part in 0..partitions(gen, t) {
        let n = gen.len(t, part);
        let idx = sample(n);
        for w in idx.windows(2).filter(|w| w[1] == w[0] + 1) {
            if id_idx.is_some() {
                assert!(
                    gen.id_at(t, part, w[0]) < gen.id_at(t, part, w[1]),
                    "{name}[{part}] ids at {}",
                    w[0]
                );
            }
            if time_idx.is_some() {
                assert!(
                    gen.time_at(t, part, w[0]) <= gen.time_at(t, part, w[1]),
                    "{name}[{part}] times at {}",
                    w[0]
                );
            }
        }
        for &i in &idx {
            let row = gen.row(t, part, i);
            check_row(name, def.schema, &row);
            if let Some(k) = id_idx {
                assert_eq!(
                    row.get(k).as_i64(),
                    Some(gen.id_at(t, part, i)),
                    "{name}[{part}][{i}] id"
                );
            }
            if let Some(k) = time_idx {
                let time = gen.time_at(t, part, i);
                assert_eq!(
                    row.get(k).as_datetime(),
                    Some(time),
                    "{name}[{part}][{i}] time"
                );
                assert!(
                    (t.span_start_ms..t.span_end_ms).contains(&time),
                    "{name}[{part}][{i}] {time} outside the span"
                );
                for &(l, lag) in &lagged {
                    if let Some(v) = row.get(l).as_datetime() {
                        assert!(
                            v >= time && v <= time + lag,
                            "{name}[{part}][{i}].{} = {v}, time {time}",
                            def.schema.fields[l].name
                        );
                    } else {
                        assert_eq!(row.get(l), &Val::Null);
                    }
                }
            }
        }
    }
}

fn arb_config() -> impl Strategy<Value = DataConfig> {
    let densities = (
        0.0..40.0f64,
        0.0..40.0f64,
        0.0..60.0f64,
        0.0..60.0f64,
        0.0..30.0f64,
    );
    let counts = (
        0..5u32,
        0..4u32,
        0..4u32,
        0..5u32,
        0..4u32,
        0..5u32,
        0..8u32,
    );
    (
        any::<u64>(),
        1..45u64,
        0..3u32,
        0.0..=1.0f64,
        densities,
        counts,
    )
        .prop_map(|(seed, days, extra, weekend, d, c)| {
            let start = chrono::NaiveDate::from_ymd_opt(2024, 2, 20).unwrap();
            DataConfig {
                seed,
                span_start: start,
                span_end: start + chrono::Days::new(days),
                folders: vec!["Shared".into(), "Finance/Invoices".into()],
                extra_folders: extra,
                weekend_factor: weekend,
                jobs_per_day: d.0,
                queue_items_per_day: d.1,
                queue_item_events_per_day: d.2,
                robot_logs_per_day: d.3,
                audit_logs_per_day: d.4,
                releases_per_folder: c.0,
                queues_per_folder: c.1,
                robots_per_folder: c.2,
                sessions_per_folder: c.3,
                schedules_per_folder: c.4,
                machines: c.5,
                users: c.6,
                stamp_modifications: true,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_entity_honours_the_contract(config in arb_config(), tenant in "[a-z]{1,8}") {
        let t = TenantData::build("org", &tenant, &config);
        let t = t.at_end();
        for gen in all() {
            check_entity(*gen, &t);
        }
    }

    #[test]
    fn builds_are_deterministic(config in arb_config()) {
        let a = TenantData::build("org", "t", &config);
        let a = a.at_end();
        let b = TenantData::build("org", "t", &config);
        let b = b.at_end();
        for gen in all() {
            for part in 0..partitions(*gen, &a) {
                let n = gen.len(&a, part);
                prop_assert_eq!(n, gen.len(&b, part));
                for i in sample(n).into_iter().take(40) {
                    prop_assert_eq!(gen.row(&a, part, i), gen.row(&b, part, i));
                }
            }
        }
    }
}

#[test]
fn the_default_tenant_honours_the_contract() {
    let t = TenantData::build("acme", "prod", &DataConfig::default());
    let t = t.at_end();
    for gen in all() {
        assert!(
            gen.len(&t, 0) > 0 || gen.def().name == "Sessions",
            "{} is empty",
            gen.def().name
        );
        check_entity(*gen, &t);
    }
}

#[test]
fn different_tenants_get_different_data() {
    let config = DataConfig::default();
    let a = TenantData::build("acme", "prod", &config);
    let a = a.at_end();
    let b = TenantData::build("acme", "test", &config);
    let b = b.at_end();
    let c = TenantData::build("globex", "prod", &config);
    let c = c.at_end();
    for gen in all() {
        let row = |t: &AsOf<'_>| gen.row(t, 0, 0);
        assert_ne!(row(&a), row(&b), "{}", gen.def().name);
        assert_ne!(row(&a), row(&c), "{}", gen.def().name);
    }
}

#[test]
fn volumes_scale_linearly_with_density() {
    let base = DataConfig::default();
    let double = DataConfig {
        jobs_per_day: base.jobs_per_day * 10.0,
        ..base.clone()
    };
    let total = |c: &DataConfig| {
        let t = TenantData::build("acme", "prod", c);
        let t = t.at_end();
        (0..t.folders.len()).map(|f| t.jobs[f].len()).sum::<u64>() as f64
    };
    let ratio = total(&double) / total(&base);
    assert!((9.5..10.5).contains(&ratio), "{ratio}");
}
