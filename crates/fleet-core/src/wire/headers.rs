//! AMQP header names the fleet sets on its messages (string values). Consumers can route
//! or filter on them without parsing bodies.

pub const SOURCE: &str = "x-fleet-source";
pub const TENANT: &str = "x-fleet-tenant";
pub const DATASET: &str = "x-fleet-dataset";
pub const FOLDER: &str = "x-fleet-folder";
pub const SLICE: &str = "x-fleet-slice";
pub const REQUEST: &str = "x-fleet-request";
pub const VERSION: &str = "x-fleet-version";
/// On dead-lettered jobs: why the fleet gave up on it (an error kind, not free text).
pub const REASON: &str = "x-fleet-reason";
/// On dead-lettered jobs: the human-readable error (never contains secrets).
pub const ERROR: &str = "x-fleet-error";
/// On records: `record` or `page`.
pub const SHAPE: &str = "x-fleet-shape";
/// On record-shape messages (one record each): `upsert` or `delete` (version 2).
pub const OP: &str = "x-fleet-op";
