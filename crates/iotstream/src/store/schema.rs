//! The store's tables, as SQL people write queries against (see `docs/STORE.md`), and the
//! migrations that create and evolve them.
//!
//! Three tables (and one per SQL query, with `tables`), keyed so that a window (and a state in it, and an alert notification) has one
//! row whatever is replayed:
//! - `windows`: one row per window — its start and end, `time` (= the end, the column Grafana and
//!   TimescaleDB expect), `final`, `revision`, messages, sensors, rejected (in total and by
//!   reason), late readings, the overall temperatures and the input partitions;
//! - `window_states`: one row per window and state — messages, sensors, average, minimum and
//!   maximum temperature, with the window's `final` and `revision`;
//! - `alerts` (migration 2): one row per alert notification (`--rules`), `time` its event time,
//!   keyed by time, fingerprint and the alert's notification number;
//! - `iotstream_query_tables` (migration 3): one row per SQL query whose results are stored, in
//!   a table of its own (`query_NAME`, see `tables`): the query, its SQL and its columns.
//!
//! Both primary keys start with `time`, so a time range is one index range, and a TimescaleDB
//! hypertable on `time` is possible; `window_states` has a second index on `(state, time)` for one
//! state's history. Migrations are numbered; each runs once, in its own transaction, recorded in
//! `iotstream_schema`. A store written by a newer iotstream (a version this one does not know) is
//! refused rather than misread.

use iotstream_engine::{RejectReason, WindowResult};

use super::StoreError;

/// One step of the schema: its number, what it does, and its SQL for each database.
#[derive(Debug)]
pub struct Migration {
    /// 1, 2, …: applied in order, each once.
    pub version: i32,
    /// What it changes, recorded with it.
    pub description: &'static str,
    /// The statements for SQLite.
    pub sqlite: &'static str,
    /// The statements for PostgreSQL.
    pub postgres: &'static str,
}

/// The schema's history. Append; never edit a step that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "windows and window_states",
        sqlite: "
        CREATE TABLE windows (
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            time TEXT NOT NULL,
            final INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            sensors INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            rejected_by_reason TEXT NOT NULL,
            late INTEGER NOT NULL,
            avg_temperature REAL,
            min_temperature REAL,
            max_temperature REAL,
            partitions TEXT,
            PRIMARY KEY (time, window_start),
            CHECK (time = window_end)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE window_states (
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            time TEXT NOT NULL,
            state TEXT NOT NULL,
            final INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            messages INTEGER NOT NULL,
            sensors INTEGER NOT NULL,
            avg_temperature REAL NOT NULL,
            min_temperature REAL NOT NULL,
            max_temperature REAL NOT NULL,
            PRIMARY KEY (time, window_start, state),
            CHECK (time = window_end)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX window_states_state_time ON window_states (state, time);
    ",
        postgres: "
        CREATE TABLE windows (
            window_start timestamptz NOT NULL,
            window_end timestamptz NOT NULL,
            time timestamptz NOT NULL,
            final boolean NOT NULL,
            revision integer NOT NULL,
            messages bigint NOT NULL,
            sensors bigint NOT NULL,
            rejected bigint NOT NULL,
            rejected_by_reason jsonb NOT NULL,
            late bigint NOT NULL,
            avg_temperature double precision,
            min_temperature double precision,
            max_temperature double precision,
            partitions integer[],
            PRIMARY KEY (time, window_start),
            CHECK (time = window_end)
        );
        CREATE TABLE window_states (
            window_start timestamptz NOT NULL,
            window_end timestamptz NOT NULL,
            time timestamptz NOT NULL,
            state text NOT NULL,
            final boolean NOT NULL,
            revision integer NOT NULL,
            messages bigint NOT NULL,
            sensors bigint NOT NULL,
            avg_temperature double precision NOT NULL,
            min_temperature double precision NOT NULL,
            max_temperature double precision NOT NULL,
            PRIMARY KEY (time, window_start, state),
            CHECK (time = window_end)
        );
        CREATE INDEX window_states_state_time ON window_states (state, time);
    ",
    },
    Migration {
        version: 2,
        description: "alerts",
        sqlite: "
        CREATE TABLE alerts (
            time TEXT NOT NULL,
            rule TEXT NOT NULL,
            key TEXT NOT NULL,
            status TEXT NOT NULL,
            severity TEXT NOT NULL,
            value REAL,
            threshold REAL,
            window_start TEXT,
            window_end TEXT,
            fingerprint TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            PRIMARY KEY (time, fingerprint, sequence)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX alerts_rule_time ON alerts (rule, time);
    ",
        postgres: "
        CREATE TABLE alerts (
            time timestamptz NOT NULL,
            rule text NOT NULL,
            key text NOT NULL,
            status text NOT NULL,
            severity text NOT NULL,
            value double precision,
            threshold double precision,
            window_start timestamptz,
            window_end timestamptz,
            fingerprint text NOT NULL,
            sequence bigint NOT NULL,
            PRIMARY KEY (time, fingerprint, sequence)
        );
        CREATE INDEX alerts_rule_time ON alerts (rule, time);
    ",
    },
    Migration {
        version: 3,
        description: "iotstream_query_tables",
        sqlite: "
        CREATE TABLE iotstream_query_tables (
            query TEXT PRIMARY KEY,
            table_name TEXT NOT NULL,
            sql TEXT NOT NULL,
            columns TEXT NOT NULL
        ) STRICT;
    ",
        postgres: "
        CREATE TABLE iotstream_query_tables (
            query text PRIMARY KEY,
            table_name text NOT NULL,
            sql text NOT NULL,
            columns text NOT NULL
        );
    ",
    },
];

/// Records a query's table (`tables::QueryTable`) for `history --query`: parameters query,
/// table, SQL, columns (JSON). The same text for both databases but for the placeholders.
pub const RECORD_QUERY_TABLE: &str = "
    INSERT INTO iotstream_query_tables (query, table_name, sql, columns) VALUES ($1, $2, $3, $4)
    ON CONFLICT (query) DO UPDATE SET table_name = excluded.table_name, sql = excluded.sql,
        columns = excluded.columns";

/// What both databases do when a window's row is already there: replace it only with a result at
/// least as far along (see `sink::rank`), so that a replay never undoes a revision. The table is
/// `w`; the rows offered are `excluded`.
#[macro_export]
#[doc(hidden)]
macro_rules! upsert_window_rule {
    () => {
        "
    ON CONFLICT (time, window_start) DO UPDATE SET
        final = excluded.final, revision = excluded.revision, messages = excluded.messages,
        sensors = excluded.sensors, rejected = excluded.rejected,
        rejected_by_reason = excluded.rejected_by_reason, late = excluded.late,
        avg_temperature = excluded.avg_temperature, min_temperature = excluded.min_temperature,
        max_temperature = excluded.max_temperature, partitions = excluded.partitions
    WHERE (excluded.final, excluded.revision, excluded.messages) >= (w.final, w.revision, w.messages)"
    };
}

/// The same rule for a window's state rows; the table is `t`.
#[macro_export]
#[doc(hidden)]
macro_rules! upsert_state_rule {
    () => {
        "
    ON CONFLICT (time, window_start, state) DO UPDATE SET
        final = excluded.final, revision = excluded.revision, messages = excluded.messages,
        sensors = excluded.sensors, avg_temperature = excluded.avg_temperature,
        min_temperature = excluded.min_temperature, max_temperature = excluded.max_temperature
    WHERE (excluded.final, excluded.revision, excluded.messages) >= (t.final, t.revision, t.messages)"
    };
}

/// The newest schema this build knows.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The migrations a store at `version` still needs, or an error if the store is newer than this
/// build.
pub fn pending(version: i32) -> Result<&'static [Migration], String> {
    if version > latest_version() {
        return Err(format!(
            "the store has schema version {version}, newer than this iotstream knows ({}): upgrade iotstream",
            latest_version()
        ));
    }
    let done = MIGRATIONS.iter().take_while(|m| m.version <= version).count();
    Ok(&MIGRATIONS[done..])
}

/// Refuses to read a store whose schema is newer than this build, or older (never migrated by a
/// writer of this build).
pub fn check_readable(version: i32) -> Result<(), StoreError> {
    match version {
        v if v == latest_version() => Ok(()),
        0 => Err(StoreError::Failed("the store has no tables yet".into())),
        v => pending(v).map_err(StoreError::Failed).and_then(|_| {
            Err(StoreError::Failed(format!(
                "the store has schema version {v}: run analyze or demo on it once to migrate it"
            )))
        }),
    }
}

/// The columns both databases store for a window, taken from a result once.
pub struct WindowRow {
    /// Late readings counted in the result (`rejected_by_reason.late`).
    pub late: i64,
    /// Every reason with its count, as JSON (the jsonl schema's object).
    pub reasons: String,
    /// The mean over all states' readings, weighted by their counts (`None` without readings).
    pub avg: Option<f64>,
    /// The lowest state minimum.
    pub min: Option<f64>,
    /// The highest state maximum.
    pub max: Option<f64>,
}

impl WindowRow {
    /// The derived columns of `result`.
    pub fn of(result: &WindowResult) -> WindowRow {
        let late = result.rejected_by_reason.get(RejectReason::Late.as_str()).copied().unwrap_or(0);
        let weighted: f64 = result.states.iter().map(|s| s.avg_temperature * s.messages as f64).sum();
        let readings: u64 = result.states.iter().map(|s| s.messages).sum();
        let min = result.states.iter().map(|s| s.min_temperature).min_by(f64::total_cmp);
        let max = result.states.iter().map(|s| s.max_temperature).max_by(f64::total_cmp);
        WindowRow {
            late: int(late),
            // A map of strings to numbers always serialises; "{}" would only hide a bug.
            reasons: serde_json::to_string(&result.rejected_by_reason).unwrap_or_else(|_| "{}".into()),
            avg: (readings > 0).then(|| weighted / readings as f64),
            min,
            max,
        }
    }
}

/// A count as the databases' signed 64-bit integer.
pub fn int(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A count read back (negative only if someone wrote it by hand).
pub fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Sorts a window's states as results list them: by average descending, ties by code.
pub fn sort_states(states: &mut [iotstream_engine::StateResult]) {
    states
        .sort_by(|a, b| b.avg_temperature.total_cmp(&a.avg_temperature).then_with(|| a.state.cmp(&b.state)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i as i32 + 1);
        }
        assert_eq!(pending(0).unwrap().len(), MIGRATIONS.len());
        assert!(pending(latest_version()).unwrap().is_empty());
        assert!(pending(latest_version() + 1).unwrap_err().contains("newer"));
    }
}
