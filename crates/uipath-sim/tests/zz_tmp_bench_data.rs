use uipath_sim::data::entities::by_name;
use uipath_sim::data::{DataConfig, TenantData};
use uipath_sim::value::write_row;
#[test]
fn bench() {
    let c = DataConfig { jobs_per_day: 2000.0, queue_items_per_day: 2000.0, robot_logs_per_day: 2000.0, queue_item_events_per_day: 2000.0, audit_logs_per_day: 20000.0, ..Default::default() };
    let t0 = std::time::Instant::now();
    let t = TenantData::build("bench", "prod", &c);
    println!("build {:?}", t0.elapsed());
    let big = DataConfig { span_start: chrono::NaiveDate::from_ymd_opt(2020,1,1).unwrap(), span_end: chrono::NaiveDate::from_ymd_opt(2025,1,1).unwrap(), jobs_per_day: 1000.0, queue_items_per_day: 1000.0, robot_logs_per_day: 5000.0, queue_item_events_per_day: 2000.0, ..Default::default() };
    let t0 = std::time::Instant::now();
    let tb = TenantData::build("bench", "prod", &big);
    println!("build 5y {:?} jobs {}", t0.elapsed(), tb.jobs.iter().map(|x| x.len()).sum::<u64>());
    for name in ["Jobs", "QueueItems", "QueueItemEvents", "RobotLogs", "AuditLogs"] {
        let g = by_name(name).unwrap();
        let n = 200_000u64.min(g.len(&t, 1));
        let mut out = Vec::with_capacity(1 << 20);
        let t0 = std::time::Instant::now();
        let mut bytes = 0;
        for i in 0..n {
            out.clear();
            let row = g.row(&t, 1, i);
            write_row(&mut out, g.def().schema, &row, None);
            bytes += out.len();
        }
        let e = t0.elapsed();
        let t1 = std::time::Instant::now();
        for i in 0..n { std::hint::black_box(g.row(&t, 1, i)); }
        let e2 = t1.elapsed();
        println!("{name}: {n} rows {:.0} rows/s gen+ser ({:.0} gen only), {} B/row", n as f64 / e.as_secs_f64(), n as f64 / e2.as_secs_f64(), bytes / n as usize);
    }
}
