//! The configured UiPath sources live in `uipath_client::sources`, shared with the
//! workers; re-exported here under the name the coordinator's modules use.

pub use uipath_client::sources::*;
