//! A faithful simulator of UiPath Automation Cloud: the identity server, Orchestrator's
//! OData API and Data Service, with deterministic data, cloud rate limits, fault injection
//! and counters for tests. The workspace README documents the demo data set and the
//! control API; ARCHITECTURE.md maps the modules.

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
