//! The fleet's slice reader: the configured UiPath sources by the fleet's names for them,
//! and what the fleet asks of them — which folders exist, how many records a range holds,
//! which Data Service entities there are, a sample for previews (the coordinator), and
//! one page of a slice of any dataset with a cursor that can be checkpointed (the
//! workers). Each source is a [`UipathClient`](uipath_client::UipathClient), so every
//! call goes through the fleet's shared token cache and rate limiter; the HTTP client,
//! auth, OData and Data Service paging stay in `uipath-client`.
//!
//! - [`check`]: what `uipath-fleet check` finds out about a source — token, scopes,
//!   folders, Data Service entities, a probe read per dataset — as findings with fixes.
//! - [`dataset`]: [`DatasetRef`], a dataset as the fleet reads it (an Orchestrator set or
//!   a Data Service entity).
//! - [`sources`]: [`Sources`], the clients by source name, and the tenant label records
//!   carry.
//! - [`planning`]: what planning and previews ask (folders, `$metadata`, entities, `$count`
//!   probes, samples).
//! - [`read`]: [`SliceRead`] and [`Sources::read_page`], one page of a slice in its
//!   [`ReadMode`](fleet_core::wire::ReadMode), the change feed included.
//! - [`cursor`]: [`SliceCursor`], where a read stands; its JSON is what a worker
//!   checkpoints.
//! - [`stamps`]: [`Sources::modification_stamps`], whether the tenant stamps
//!   `LastModificationTime`.
//! - [`error`]: [`ReaderError`], the reader's own failures. Calls that reach UiPath return
//!   the client's [`ClientError`](uipath_client::ClientError) unchanged: its disposition
//!   is what the caller acts on.

pub mod check;
pub mod cursor;
pub mod dataset;
pub mod error;
pub mod planning;
pub mod read;
pub mod sources;
pub mod stamps;

pub use cursor::SliceCursor;
pub use dataset::DatasetRef;
pub use error::ReaderError;
pub use read::{SliceRead, FEED_EVENTS_PER_PAGE};
pub use sources::Sources;
pub use stamps::{StampCheck, STAMP_SAMPLE};
