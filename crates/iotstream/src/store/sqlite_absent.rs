//! SQLite in a build without the `store-sqlite` feature: `--store sqlite:PATH` is refused when
//! the flags are checked, so no SQLite target is ever opened.

use std::path::Path;
use std::sync::Arc;

use super::error::StoreError;
use super::reader::Reader;
use super::writer::Writer;

/// Whether this build has SQLite: no.
pub const BUILT: bool = false;

/// Why nothing opens.
fn not_built() -> StoreError {
    StoreError::Failed("this build has no SQLite store (the `store-sqlite` feature)".into())
}

/// Refused.
pub fn open_writer(_: &Path) -> Result<Box<dyn Writer>, StoreError> {
    Err(not_built())
}

/// Refused.
pub fn open_reader(_: &Path) -> Result<Arc<dyn Reader>, StoreError> {
    Err(not_built())
}
