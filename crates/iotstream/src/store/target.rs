//! What `--store` names: `none`, `sqlite:PATH` or a PostgreSQL URL.
//!
//! The flag's value is kept as given and checked later, with every other flag: clap would print a
//! value it refuses, and a PostgreSQL URL may hold a password. Neither the URL nor an error about
//! it ever shows the password: a target prints as `postgres://USER@HOST:PORT/DB`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::error::StoreError;
use super::reader::Reader;
use super::writer::Writer;
use super::{postgres, sqlite};
use crate::signals::Stop;

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
            if !sqlite::BUILT {
                return Err(StoreError::Failed(
                    "this build has no SQLite store (the `store-sqlite` feature)".into(),
                ));
            }
            return Ok(Some(Target::Sqlite(PathBuf::from(path))));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return postgres::Url::parse(text).map(|url| Some(Target::Postgres(Box::new(url))));
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
    Sqlite(PathBuf),
    /// A PostgreSQL database (boxed: its parsed settings are large, and targets are moved around).
    Postgres(Box<postgres::Url>),
}

impl Target {
    /// Connects (creating the file or tables if needed, applying migrations) and returns the writer.
    pub fn open_writer(&self, stop: &Stop) -> Result<Box<dyn Writer>, StoreError> {
        match self {
            Target::Sqlite(path) => sqlite::open_writer(path),
            Target::Postgres(url) => postgres::open_writer(url, stop),
        }
    }

    /// Checks that the store is one this build reads, and returns its reader. PostgreSQL
    /// connections are made on first use, on the runtime that uses them.
    pub fn open_reader(&self) -> Result<Arc<dyn Reader>, StoreError> {
        match self {
            Target::Sqlite(path) => sqlite::open_reader(path),
            Target::Postgres(url) => postgres::open_reader(url),
        }
    }
}

/// `sqlite:PATH` as it prints, or the PostgreSQL URL without its password.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Target::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// Where `iotstream` alone (and `demo`) keeps its history: `iotstream/history.sqlite` in the
/// user's data directory (`$XDG_DATA_HOME`, else `~/.local/share` on Linux). `None` without a
/// data directory or without SQLite support.
pub fn default_path() -> Option<PathBuf> {
    if !sqlite::BUILT {
        return None;
    }
    Some(dirs::data_dir()?.join("iotstream").join("history.sqlite"))
}

/// The demo's default target: the SQLite file at [`default_path`].
pub fn default_target() -> Option<Target> {
    default_path().map(Target::Sqlite)
}
