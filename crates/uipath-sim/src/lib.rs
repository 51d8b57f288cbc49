//! A faithful simulator of UiPath Automation Cloud: the identity server, Orchestrator's
//! OData API and Data Service, with deterministic data, cloud rate limits, fault injection
//! and counters for tests. The workspace README documents the demo data set and the
//! control API; ARCHITECTURE.md maps the modules.
//!
//! Two modes. **Frozen** (the library default, `SimConfig::default()`): the data are a
//! snapshot as of the configured `span_end`. **Live** (`[live] enabled = true`,
//! [`config::SimConfig::live`]; the default of the `uipath-sim` binary and `uipath-fleet
//! sim`, `--frozen` turns it off): the span extends a few days past today and every query
//! answers as of the wall clock at the request, or as of the instant in the `X-Sim-As-Of`
//! header (Unix ms or RFC 3339) — jobs and queue items move through their states, queue
//! item events appear as transitions happen, reference sets change now and then
//! ([`data::live`]). Either way the simulator is stateless: a record is a pure function of
//! (seed, tenant, entity, partition, index, as-of instant), so a test can compute the
//! ground truth of any instant.

pub mod auth;
pub mod cli;
pub mod config;
pub mod data;
pub mod dataservice;
pub mod engine;
pub mod faults;
pub mod http;
pub mod identity;
pub mod mutate;
pub mod odata;
pub mod overlay;
pub mod ratelimit;
pub mod server;
pub mod stats;
pub mod value;

#[cfg(test)]
mod fingerprint_tests;
