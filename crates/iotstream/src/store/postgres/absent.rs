//! PostgreSQL in a build without the `store-postgres` feature: a `postgres://` URL is refused
//! when it is parsed, so no PostgreSQL target can exist.

use std::fmt;
use std::sync::Arc;

use super::error::StoreError;
use super::reader::Reader;
use super::writer::Writer;

/// A parsed `postgres://` URL: none can be.
#[derive(Clone)]
pub enum Url {}

impl Url {
    /// Refused: this build has no PostgreSQL store.
    pub fn parse(_: &str) -> Result<Url, StoreError> {
        Err(StoreError::Failed("this build has no PostgreSQL store (the `store-postgres` feature)".into()))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Unreachable: no URL exists.
pub fn open_writer(url: &Url, _: &crate::signals::Stop) -> Result<Box<dyn Writer>, StoreError> {
    match *url {}
}

/// Unreachable: no URL exists.
pub fn open_reader(url: &Url) -> Result<Arc<dyn Reader>, StoreError> {
    match *url {}
}
