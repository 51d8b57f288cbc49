//! [`Error`]: what can go wrong while a fleet process is assembled, started or stopped.

/// Any error of the libraries underneath, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a fleet process could not be assembled, started or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or wrong; the message names it and the fix. The operator's to
    /// correct (a binary exits with its configuration status).
    #[error("{0}")]
    Config(String),
    /// Cannot go on, for the reason given (not a configuration mistake as such).
    #[error("{0}")]
    Other(String),
    /// Told to stop while still connecting to `what`.
    #[error("stopped while connecting to {0}")]
    Stopped(String),
    /// Something underneath failed while doing `what` (the source says why).
    #[error("{what}")]
    Failed {
        what: String,
        #[source]
        source: BoxError,
    },
    /// Taking the dead letters failed (the error says which and why).
    #[error(transparent)]
    Dlq(#[from] fleet_coordinator::dlq::DlqError),
}

impl Error {
    /// Whether `e`, or an error it was caused by, is a configuration mistake.
    pub fn is_config(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(e);
        while let Some(e) = next {
            if matches!(e.downcast_ref::<Error>(), Some(Error::Config(_))) {
                return true;
            }
            next = e.source();
        }
        false
    }
}

/// What was being done when a library call failed.
pub(crate) trait Context<T> {
    fn context(self, what: impl Into<String>) -> Result<T, Error>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T, E: Into<BoxError>> Context<T> for Result<T, E> {
    fn context(self, what: impl Into<String>) -> Result<T, Error> {
        self.map_err(|e| Error::Failed {
            what: what.into(),
            source: e.into(),
        })
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::Failed {
            what: what(),
            source: e.into(),
        })
    }
}
