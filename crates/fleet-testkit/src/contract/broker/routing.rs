//! The exchange checks: records and events routed by topic pattern to subscriptions.

use fleet_core::broker::{Broker, BrokerError, Destination, Feed, Outgoing, Subscription};

use super::{body, id_of, quiet, receive, Run};

fn record(run: &Run, key: &str, name: &str) -> Outgoing {
    Outgoing::new(
        Destination::Records {
            routing_key: key.to_owned(),
        },
        run.id(name),
        body(name),
    )
}

pub(super) async fn records_route_by_pattern(run: &Run, a: &dyn Broker, b: &dyn Broker) {
    let (one, many) = (run.word("one"), run.word("many"));
    let mut sub = b
        .subscribe(Subscription {
            queue: "contract-records".into(),
            feed: Feed::Records {
                patterns: vec![format!("{one}.*"), format!("{many}.#")],
            },
            prefetch: 10,
        })
        .await
        .expect("subscribe: records");
    // `#` matches zero words, so `<many>` itself is routed; `*` is exactly one word.
    for (key, name) in [
        (format!("{one}.jobs"), "r1"),
        (many.clone(), "r2"),
        (format!("{many}.a.b"), "r3"),
    ] {
        a.publish(vec![record(run, &key, name)])
            .await
            .unwrap_or_else(|e| panic!("publish: a record to bound key {key}: {e}"));
    }
    for key in [format!("{one}.jobs.extra"), one.clone(), run.word("nobody")] {
        match a.publish(vec![record(run, &key, "lost")]).await {
            Err(BrokerError::Unroutable {
                exchange,
                routing_key,
            }) => {
                assert_eq!(exchange, "records");
                assert_eq!(routing_key, key, "Unroutable names the key");
            }
            other => panic!("publish: a record to unbound key {key} must be Unroutable: {other:?}"),
        }
    }
    for name in ["r1", "r2", "r3"] {
        let d = receive(&mut *sub, name).await;
        assert_eq!(id_of(&d), run.id(name), "records arrive in publish order");
        assert_eq!(d.body, body(name));
        assert_eq!(d.lane, None, "records have no lane");
        d.ack().await.unwrap();
    }
    quiet(&mut *sub, "three routed records").await;
}

pub(super) async fn events_route_by_pattern(a: &dyn Broker, b: &dyn Broker) {
    let mut sub = b
        .subscribe(Subscription {
            queue: "contract-events".into(),
            feed: Feed::Events {
                patterns: vec!["slice.*".into()],
            },
            prefetch: 10,
        })
        .await
        .expect("subscribe: events");
    let event = |key: &str| {
        Outgoing::new(
            Destination::Events {
                routing_key: key.into(),
            },
            format!("event-{key}"),
            body(key),
        )
    };
    a.publish(vec![
        event("slice.completed"),
        event("request.completed"),
        event("slice.failed"),
    ])
    .await
    .expect("publish: an event nobody listens to is dropped, not an error");
    for key in ["slice.completed", "slice.failed"] {
        let d = receive(&mut *sub, key).await;
        assert_eq!(id_of(&d), format!("event-{key}"));
        d.ack().await.unwrap();
    }
    quiet(&mut *sub, "two slice events").await;
}
