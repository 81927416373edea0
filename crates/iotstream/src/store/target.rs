//! What `--store` names: `none`, `sqlite:PATH` or a PostgreSQL URL.
//!
//! The flag's value is kept as given and checked later, with every other flag: clap would print a
//! value it refuses, and a PostgreSQL URL may hold a password. Neither the URL nor an error about
//! it ever shows the password: a target prints as `postgres://USER@HOST:PORT/DB`.

use std::fmt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::error::StoreError;
use super::reader::Reader;
use super::writer::Writer;

/// The `--store` value as given; its `Debug` and `Display` never show it whole.
#[derive(Clone)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// Takes any value: it is checked with the other flags (see [`StoreUrl::parse`]).
    pub fn from_arg(text: &str) -> Result<StoreUrl, String> {
        Ok(StoreUrl(text.to_owned()))
    }

    /// The target it names (`None` for `none`), or why it names none.
    pub fn parse(&self) -> Result<Option<Target>, StoreError> {
        let text = self.0.trim();
        if text == "none" {
            return Ok(None);
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::Failed("--store sqlite:PATH needs a file path".into()));
            }
            return sqlite_target(Path::new(path)).map(Some);
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return postgres_target(text).map(Some);
        }
        Err(StoreError::Failed("--store must be sqlite:PATH, postgres://USER@HOST:PORT/DB or none".into()))
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parse() {
            Ok(Some(target)) => write!(f, "StoreUrl({target})"),
            Ok(None) => f.write_str("StoreUrl(none)"),
            Err(_) => f.write_str("StoreUrl(<invalid>)"),
        }
    }
}

/// A database to keep results in.
#[derive(Clone)]
pub enum Target {
    /// An SQLite file.
    #[cfg(feature = "store-sqlite")]
    Sqlite(PathBuf),
    /// A PostgreSQL database (boxed: its parsed settings are large, and targets are moved around).
    #[cfg(feature = "store-postgres")]
    Postgres(Box<super::postgres::Url>),
}

impl Target {
    /// Connects (creating the file or tables if needed, applying migrations) and returns the writer.
    pub fn open_writer(&self) -> Result<Box<dyn Writer>, StoreError> {
        match self {
            #[cfg(feature = "store-sqlite")]
            Target::Sqlite(path) => Ok(Box::new(super::sqlite::SqliteWriter::open(path)?)),
            #[cfg(feature = "store-postgres")]
            Target::Postgres(url) => Ok(Box::new(super::postgres::PostgresWriter::open(url)?)),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no store features: no target can be built"),
        }
    }

    /// Checks that the store is one this build reads, and returns its reader. PostgreSQL
    /// connections are made on first use, on the runtime that uses them.
    pub fn open_reader(&self) -> Result<Arc<dyn Reader>, StoreError> {
        match self {
            #[cfg(feature = "store-sqlite")]
            Target::Sqlite(path) => Ok(Arc::new(super::sqlite::SqliteReader::open(path)?)),
            #[cfg(feature = "store-postgres")]
            Target::Postgres(url) => Ok(Arc::new(super::postgres::PostgresReader::new(url)?)),
            #[allow(unreachable_patterns)]
            _ => unreachable!("no store features: no target can be built"),
        }
    }
}

/// `sqlite:PATH` as it prints, or the PostgreSQL URL without its password.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "store-sqlite")]
            Target::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            #[cfg(feature = "store-postgres")]
            Target::Postgres(url) => write!(f, "{url}"),
            #[allow(unreachable_patterns)]
            _ => f.write_str("none"),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

#[cfg(feature = "store-sqlite")]
fn sqlite_target(path: &Path) -> Result<Target, StoreError> {
    Ok(Target::Sqlite(path.to_owned()))
}

#[cfg(not(feature = "store-sqlite"))]
fn sqlite_target(_: &Path) -> Result<Target, StoreError> {
    Err(StoreError::Failed("this build has no SQLite store (the `store-sqlite` feature)".into()))
}

#[cfg(feature = "store-postgres")]
fn postgres_target(text: &str) -> Result<Target, StoreError> {
    super::postgres::Url::parse(text).map(|url| Target::Postgres(Box::new(url)))
}

#[cfg(not(feature = "store-postgres"))]
fn postgres_target(_: &str) -> Result<Target, StoreError> {
    Err(StoreError::Failed("this build has no PostgreSQL store (the `store-postgres` feature)".into()))
}

/// Where `iotstream` alone (and `demo`) keeps its history: `iotstream/history.sqlite` in the
/// user's data directory (`$XDG_DATA_HOME`, else `~/.local/share` on Linux). `None` without a
/// data directory or without SQLite support.
pub fn default_path() -> Option<PathBuf> {
    if cfg!(not(feature = "store-sqlite")) {
        return None;
    }
    Some(dirs::data_dir()?.join("iotstream").join("history.sqlite"))
}

/// The demo's default target: the SQLite file at [`default_path`].
pub fn default_target() -> Option<Target> {
    #[cfg(feature = "store-sqlite")]
    return default_path().map(Target::Sqlite);
    #[cfg(not(feature = "store-sqlite"))]
    None
}
