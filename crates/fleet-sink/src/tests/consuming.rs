//! The stream sink and the consume loop: what is flushed is acked, what is malformed
//! is rejected.

use super::*;

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stream_sink_writes_the_same_lines() {
    let out = Shared::default();
    let mut sink = FileSink::to_writer(Box::new(out.clone()), true);
    let rec = json!({"Id": 7});
    sink.write(&Headers::new(), &envelope("jobs", "s", rec.clone()))
        .unwrap();
    sink.write(&Headers::new(), &envelope("jobs", "s", rec.clone()))
        .unwrap();
    assert!(out.0.lock().unwrap().is_empty(), "buffered until flushed");
    sink.flush().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["record"], rec);
    assert_eq!(sink.dir(), None);
}

fn record_message(routing_key: &str, id: &str, body: Vec<u8>, shape_: &str) -> Outgoing {
    Outgoing::new(
        Destination::Records {
            routing_key: routing_key.into(),
        },
        id,
        body,
    )
    .header(headers::SHAPE, shape_)
}

#[tokio::test]
async fn consume_acks_what_it_flushed_and_rejects_malformed() {
    let tmp = TempDir::new("consume");
    let broker = MemoryBroker::default();
    let subscriber = broker
        .subscribe(Subscription {
            queue: "sink".into(),
            feed: Feed::Records {
                patterns: vec!["#".into()],
            },
            prefetch: 8,
        })
        .await
        .unwrap();
    let mut batch = Vec::new();
    for i in 0..20 {
        let rec = json!({"Id": i, "CreationTime": format!("2024-01-0{}T00:00:00Z", 1 + i % 3)});
        batch.push(record_message(
            "acme.jobs",
            &format!("id{i}"),
            envelope("jobs", &format!("id{i}"), rec),
            "record",
        ));
    }
    // A redelivered duplicate and a page.
    batch.push(record_message(
        "acme.jobs",
        "id0",
        envelope(
            "jobs",
            "id0",
            json!({"Id": 0, "CreationTime": "2024-01-01T00:00:00Z"}),
        ),
        "record",
    ));
    batch.push(record_message(
        "acme.queue-items",
        "s1/0",
        page(
            "queue-items",
            &[(
                "q1",
                json!({"Id": 1, "CreationTime": "2024-01-01T00:00:00Z"}),
            )],
        ),
        "page",
    ));
    batch.push(record_message(
        "acme.jobs",
        "junk",
        b"junk".to_vec(),
        "record",
    ));
    broker.publish(batch).await.unwrap();

    let shutdown = CancellationToken::new();
    let mut sink = FileSink::open(Target::Dir(tmp.0.clone()), true).unwrap();
    let run = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let summary = consume(
                subscriber,
                &mut sink,
                ConsumeOptions {
                    batch: 8,
                    flush_interval: Duration::from_millis(50),
                },
                shutdown,
            )
            .await;
            (summary, sink)
        })
    };
    // Wait (bounded) until every message was settled: the queue and the unacked are
    // empty once all records are in files and the junk is dead-lettered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let lines: usize = files(&tmp.0).values().map(Vec::len).sum();
        let dead = broker.depths().await.unwrap().dead;
        if lines == 21 && dead == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sink did not finish: {lines} lines, {dead} dead"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let (summary, sink) = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("consume returns at shutdown")
        .unwrap();
    let summary = summary.unwrap();
    assert_eq!(summary.messages, 22);
    assert_eq!(summary.records, 21);
    assert_eq!(summary.duplicates, 1);
    assert_eq!(summary.malformed, 1);
    assert_eq!(
        sink.counts().get(&("acme".into(), "jobs".into())),
        Some(&20)
    );
    // Everything was acknowledged: a new subscriber on the same queue gets nothing.
    let mut again = broker
        .subscribe(Subscription {
            queue: "sink".into(),
            feed: Feed::Records {
                patterns: vec!["#".into()],
            },
            prefetch: 8,
        })
        .await
        .unwrap();
    assert!(again
        .next(Duration::from_millis(100))
        .await
        .unwrap()
        .is_none());
}
