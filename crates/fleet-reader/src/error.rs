//! The reader's own failures. What goes wrong talking to UiPath is a
//! [`ClientError`](uipath_client::ClientError), returned as the client classified it.

/// A failure of the reader itself, before any request.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// A stored checkpoint is not a cursor of the slice's dataset.
    #[error("checkpoint `{text}` is not a cursor of this dataset: {source}")]
    Checkpoint {
        text: String,
        source: serde_json::Error,
    },
}
