//! A UiPath API client for bulk extraction: Orchestrator OData (Automation Cloud,
//! Automation Suite, standalone) and Data Service.
//!
//! - [`source`]: where a source lives and how it authenticates ([`SourceConfig`]).
//! - [`auth`]: the auth flows, all going through a fleet-wide [`fleet_core::TokenCache`]
//!   with single-flight refresh ([`auth::TokenProvider`]); the one-time login
//!   (authorization code + PKCE) that yields a refresh token.
//! - [`client`]: one request = a permit from the fleet-wide [`fleet_core::RateLimiter`],
//!   a bearer token, the HTTP call, and a classified outcome ([`UipathClient`]).
//! - [`odata`]: typed keyset paging of Orchestrator datasets and folder discovery.
//! - [`dataservice`]: paging of Data Service entities.
//! - [`metadata`]: the tenant's own field lists (Orchestrator `$metadata`, Data Service
//!   schemas), the live half of the field catalog in `fleet_core::fields`.
//! - [`error`]: [`ClientError`] and its [`Disposition`] — what the caller should do next;
//!   [`fix`]: what to change when UiPath refuses, in words (one table for every caller).
//!
//! The crate knows nothing about queues: a worker asks for pages, and every failure
//! comes back with a disposition it can act on. The fleet's reading of slices (the
//! configured sources by name, read modes, checkpointable cursors) is `fleet-reader`.

pub mod auth;
pub mod client;
pub mod dataservice;
pub mod error;
pub mod fix;
pub mod metadata;
pub mod odata;
pub mod source;

pub use client::UipathClient;
pub use error::{ClientError, Disposition};
pub use source::{AuthConfig, Deployment, SourceConfig};
