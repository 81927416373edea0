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
