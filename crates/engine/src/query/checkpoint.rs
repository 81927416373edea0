//! Queries through crashes: their state saves with serde beside the rest of a checkpoint, each
//! query with a fingerprint (name, normalised SQL, window and group settings), so that a
//! checkpoint written for other queries is refused with the query that changed named, never
//! resumed into wrong answers.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::operator::EventTimeConfig;
use crate::query::plan::duration_text;
use crate::query::queries::{QuerySet, Time};
use crate::query::runner::{QueryState, QueryWindows};
use crate::watermark::Watermarks;
use crate::window::WindowSpec;

/// What a query's saved state belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The query's name.
    pub name: String,
    /// Its SQL, normalised by the parser (spacing and keyword case do not matter).
    pub sql: String,
    /// The time domain and window settings it runs with.
    pub settings: String,
    /// Its group limit (0: none).
    pub max_groups: u32,
}

/// Every query's state and the input's watermarks, borrowed for saving.
#[derive(Debug, Serialize)]
pub struct SavedQueriesRef<'a> {
    queries: Vec<(Fingerprint, &'a QueryState)>,
    watermarks: &'a Watermarks,
}

/// Every query's state and the input's watermarks, as read back from a checkpoint.
#[derive(Debug, Deserialize)]
pub struct SavedQueries {
    queries: Vec<(Fingerprint, QueryState)>,
    watermarks: Watermarks,
}

impl SavedQueries {
    /// The fingerprints of the queries saved.
    pub fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        self.queries.iter().map(|(f, _)| f)
    }
}

/// Why a checkpoint's queries cannot be resumed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// The run and the checkpoint disagree about a query.
    #[error("the checkpoint was written for other queries: query {name} {what}; run with the checkpoint's queries, or use another --state-dir")]
    OtherQueries {
        /// The query.
        name: String,
        /// What differs.
        what: &'static str,
    },
}

impl QuerySet {
    /// Each query's fingerprint, in order. The settings are spelt out field by field in a
    /// stable text (durations in their shortest exact unit), never a type's `Debug` form, so
    /// that renaming a field in the code does not make every checkpoint "other queries".
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        let settings = match &self.settings().time {
            Time::Processing { .. } => "processing time".to_owned(),
            Time::Event { field, config } => format!("event time on {field}: {}", event_settings(config)),
        };
        self.compiled()
            .runners
            .iter()
            .zip(&self.states)
            .map(|(runner, state)| {
                let window = match &state.windows {
                    QueryWindows::Windows(w) => window_text(w.config().window),
                    QueryWindows::Batches(_) => "batches".to_owned(),
                };
                Fingerprint {
                    name: runner.plan.name.clone(),
                    sql: runner.plan.sql.clone(),
                    settings: format!("{settings}; {window}"),
                    max_groups: runner.limit,
                }
            })
            .collect()
    }

    /// Every query's state, to save in a checkpoint.
    pub fn saved(&self) -> SavedQueriesRef<'_> {
        let queries = self.fingerprints().into_iter().zip(&self.states).collect();
        SavedQueriesRef { queries, watermarks: &self.watermarks }
    }

    /// Whether state saved for `saved` may be resumed by these queries: the same queries,
    /// each unchanged (in any order).
    pub fn check_resumable<'a>(
        &self,
        saved: impl IntoIterator<Item = &'a Fingerprint>,
    ) -> Result<(), CheckpointError> {
        let mine = self.fingerprints();
        let theirs: Vec<&Fingerprint> = saved.into_iter().collect();
        let refuse = |name: &str, what| Err(CheckpointError::OtherQueries { name: name.to_owned(), what });
        for old in &theirs {
            match mine.iter().find(|f| f.name == old.name) {
                None => return refuse(&old.name, "is in the checkpoint but not in this run"),
                Some(now) if now != *old => {
                    return refuse(
                        &old.name,
                        "changed since the checkpoint (its SQL, window or group settings)",
                    );
                }
                Some(_) => {}
            }
        }
        match mine.iter().find(|f| theirs.iter().all(|old| old.name != f.name)) {
            Some(new) => refuse(&new.name, "is new (the checkpoint has no state for it)"),
            None => Ok(()),
        }
    }

    /// Resumes from `saved` (checked with [`QuerySet::check_resumable`] first).
    pub fn restore(&mut self, saved: SavedQueries) -> Result<(), CheckpointError> {
        self.check_resumable(saved.fingerprints())?;
        let names: Vec<String> = self.plans().map(|p| p.name.clone()).collect();
        for (fingerprint, state) in saved.queries {
            if let Some(i) = names.iter().position(|n| *n == fingerprint.name) {
                self.states[i] = state;
            }
        }
        self.watermarks = saved.watermarks;
        Ok(())
    }
}

/// A window's shape as a fingerprint states it: `window 1m every 10s`.
fn window_text(window: WindowSpec) -> String {
    format!("window {} every {}", duration_text(window.size()), duration_text(window.slide()))
}

/// The event-time settings a checkpoint's windows depend on, as a fingerprint states them.
fn event_settings(config: &EventTimeConfig) -> String {
    let optional = |micros: Option<i64>| micros.map_or_else(|| "none".to_owned(), duration_text);
    format!(
        "{}, max delay {}, allowed lateness {}, max skew {}, idle timeout {}",
        window_text(config.window),
        duration_text(config.max_delay),
        duration_text(config.allowed_lateness),
        optional(config.max_skew),
        optional(config.idle_timeout),
    )
}
