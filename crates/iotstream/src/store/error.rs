//! The one error of the store, whichever database is behind it: whether trying again may help.

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, is restarting or busy: the same request may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (a refused statement, a schema from a newer iotstream, a bad URL): retrying
    /// would not help.
    #[error("{0}")]
    Failed(String),
    /// The run was asked to stop while waiting for the database.
    #[error("stopped while waiting for the store")]
    Stopped(#[from] crate::signals::Stopped),
}

/// A sink's view of a store error: a stop while waiting stays a stop.
impl From<StoreError> for crate::sinks::SinkError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Stopped(_) => crate::sinks::SinkError::Stopped("the store"),
            error => crate::sinks::SinkError::Store(error.to_string()),
        }
    }
}
