//! The tenant's field list read from the simulator's `$metadata`, and the page decode kept
//! off the runtime threads.

mod paging_common;

use std::sync::Mutex;
use std::time::Duration;

use fleet_core::dataset;
use fleet_core::fields::{self, FieldType};
use paging_common::*;
use uipath_client::client::{Api, ApiRequest, ClientOptions};

#[tokio::test]
async fn the_tenants_metadata_lists_every_dataset_with_types_the_built_in_list_agrees_with() {
    let sim = start(unlimited_config()).await;
    let h = reader(&sim);
    let meta = h.client.orchestrator_metadata().await.unwrap();
    for d in dataset::all() {
        let live = meta
            .entity_set(d.entity)
            .unwrap_or_else(|| panic!("{} is not in $metadata", d.entity));
        let built_in = fields::orchestrator(d.slug).unwrap();
        assert!(live.len() > 5, "{}: {} fields", d.slug, live.len());
        for f in live {
            // The simulator serves UiPath's DTOs: every field it declares is one the
            // OpenAPI description has, of the same kind.
            let b = built_in
                .iter()
                .find(|b| b.name == f.name)
                .unwrap_or_else(|| panic!("{}.{} is not in the built-in list", d.slug, f.name));
            let same = f.ty == b.ty
                || (f.ty == FieldType::Json && (b.collection || b.ty == FieldType::Json))
                || (f.ty == FieldType::Complex && b.ty == FieldType::Navigation)
                || (f.ty == FieldType::String && b.ty == FieldType::Binary);
            assert!(same, "{}.{}: {:?} vs {:?}", d.slug, f.name, f, b);
        }
        if let Some(id) = d.id_field {
            let key = live.iter().find(|f| f.name == id).unwrap();
            assert_eq!((key.ty, key.nullable), (FieldType::Int64, false));
        }
    }
    assert_eq!(
        sim.sim.stats.snapshot().requests["odata/$metadata"][&200],
        1
    );
}

#[tokio::test]
async fn a_large_page_is_decoded_off_the_runtime_thread() {
    // `#[tokio::test]` runs on one thread. The decoder below can only finish when a task
    // on that runtime answers it, so it finishes only if the decode does not hold the
    // runtime's thread. One attempt: a retry would let the answer slip in between.
    let sim = start(unlimited_config()).await;
    let options = ClientOptions {
        attempts: 1,
        ..fast_options()
    };
    let h = harness(&sim, all_scopes(), generous_limits(), options);
    let (_, key) = folder(&sim, "Finance");
    let request = ApiRequest::get(Api::Orchestrator, "odata/Jobs")
        .folder(Some(key))
        .family(fleet_core::EndpointFamily::Jobs)
        .query("$top", "1000");

    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (answer_tx, answer_rx) = std::sync::mpsc::channel::<()>();
    let started = Mutex::new(Some(started_tx));
    let answer = Mutex::new(answer_rx);
    let decode = move |body: &[u8]| {
        if let Some(tx) = started.lock().unwrap().take() {
            let _ = tx.send(());
        }
        // A deadlock guard, not a timing assertion: on the runtime thread no answer can
        // ever come, so waiting longer would only make the failure slower.
        match answer.lock().unwrap().recv_timeout(Duration::from_secs(20)) {
            Ok(()) => Ok(body.len()),
            Err(_) => Err(
                "no task ran while the page was decoded: the runtime thread was held".to_owned(),
            ),
        }
    };
    let answering = tokio::spawn(async move {
        if started_rx.await.is_ok() {
            let _ = answer_tx.send(());
        }
    });
    let bytes = h.client.send(&request, decode).await.unwrap();
    assert!(
        bytes > 64 * 1024,
        "a page worth moving off the runtime: {bytes} bytes"
    );
    answering.await.unwrap();
}
