//! A faithful simulator of UiPath Automation Cloud: the identity server, Orchestrator's
//! OData API and Data Service, with deterministic data, cloud rate limits, fault injection
//! and counters for tests. See the crate README section in the workspace README.

pub mod auth;
pub mod data;
pub mod dataservice;
pub mod identity;
pub mod odata;
pub mod stats;
pub mod value;
