//! The store in an SQLite file (rusqlite, SQLite bundled): zero setup, the demo's default.
//!
//! Times are TEXT in one fixed-width form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, which SQLite's date
//! functions read and which sorts as time does, so `time BETWEEN '2026-11-27' AND '2026-11-28'`
//! and the primary key's range scans work on it. The file is in WAL mode, so readers
//! (`iotstream history`, the dashboard, `sqlite3`) never block the writer. `synchronous=NORMAL`:
//! a committed transaction survives the process being killed (the guarantee the file sinks give
//! too), not a power cut.

use std::path::{Path, PathBuf};
use std::time::Duration;

use iotstream_engine::alerts::Notification;
use iotstream_engine::result::WindowTag;
use iotstream_engine::{EventTime, StateCode, StateResult, WindowResult};
use rusqlite::types::Value;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension as _, TransactionBehavior};

use super::error::StoreError;
use super::query::{attach_states, Bucket, Range, WindowKey};
use super::reader::{Answer, Reader};
use super::schema::{self, count, int, WindowRow};
use super::tables::{quote, Dialect, QueryTable, RowKey, RowPage, Stored, StoredResult};
use super::writer::Writer;
use crate::clock::wall_clock_now;

mod rows;

/// How long a statement waits for another process's write lock before reporting the file busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const UPSERT_WINDOW: &str = concat!(
    "
    INSERT INTO windows AS w (window_start, window_end, time, final, revision, messages, sensors,
        rejected, rejected_by_reason, late, avg_temperature, min_temperature, max_temperature,
        partitions)
    VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    crate::upsert_window_rule!()
);

const UPSERT_STATE: &str = concat!(
    "
    INSERT INTO window_states AS t (window_start, window_end, time, state, final, revision,
        messages, sensors, avg_temperature, min_temperature, max_temperature)
    VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    crate::upsert_state_rule!()
);

/// Writes results into one SQLite file.
pub struct SqliteWriter {
    connection: Connection,
    /// The SQL queries' tables (pruned with the rest).
    tables: Vec<QueryTable>,
}

impl SqliteWriter {
    /// Opens (or creates, with its directory) the file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteWriter, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Failed(format!("cannot create the store's directory {}: {e}", dir.display()))
            })?;
        }
        let mut connection = Connection::open(path).map_err(|e| opening(path, &e))?;
        // A 64 MiB page cache (the default is 2 MiB): the (state, time) index takes rows all over
        // its pages, and a backfill would otherwise write the same pages out again and again.
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;",
            )
            .map_err(|e| opening(path, &e))?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(|e| opening(path, &e))?;
        migrate(&mut connection, path)?;
        Ok(SqliteWriter { connection, tables: Vec::new() })
    }
}

impl Writer for SqliteWriter {
    fn write(&mut self, results: &[&WindowResult]) -> Result<(), StoreError> {
        write(&mut self.connection, results).map_err(classify)
    }

    fn write_alerts(&mut self, alerts: &[Notification]) -> Result<(), StoreError> {
        write_alerts(&mut self.connection, alerts).map_err(classify)
    }

    fn prepare_queries(&mut self, tables: &[QueryTable]) -> Result<(), StoreError> {
        let tx =
            self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(classify)?;
        for table in tables {
            tx.execute_batch(&table.create(Dialect::Sqlite)).map_err(classify)?;
            let found = table_columns(&tx, &table.table()).map_err(classify)?;
            table.check_columns(Dialect::Sqlite, &found)?;
            let record = params![table.query, table.table(), table.sql, table.columns_json()];
            tx.execute(schema::RECORD_QUERY_TABLE, record).map_err(classify)?;
        }
        tx.commit().map_err(classify)?;
        self.tables = tables.to_vec();
        Ok(())
    }

    fn write_queries(&mut self, results: &[StoredResult]) -> Result<(), StoreError> {
        write_queries(&mut self.connection, results).map_err(classify)
    }

    fn prune(&mut self, before: EventTime) -> Result<u64, StoreError> {
        let tx =
            self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(classify)?;
        let before = sql_time(before);
        for table in &self.tables {
            let delete = format!("DELETE FROM {} WHERE time < ?1", quote(&table.table()));
            tx.execute(&delete, [&before]).map_err(classify)?;
        }
        tx.execute("DELETE FROM window_states WHERE time < ?1", [&before]).map_err(classify)?;
        let windows = tx.execute("DELETE FROM windows WHERE time < ?1", [&before]).map_err(classify)?;
        tx.commit().map_err(classify)?;
        Ok(windows as u64)
    }
}

const INSERT_ALERT: &str = "
    INSERT INTO alerts (time, rule, key, status, severity, value, threshold, window_start, window_end,
        fingerprint, sequence)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
    ON CONFLICT (time, fingerprint, sequence) DO NOTHING";

fn write_alerts(connection: &mut Connection, alerts: &[Notification]) -> rusqlite::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(INSERT_ALERT)?;
        for note in alerts {
            let r = &note.record;
            insert.execute(params![
                sql_time(r.at),
                r.rule,
                r.key,
                r.status.as_str(),
                r.severity,
                r.value,
                r.threshold,
                r.window_start.map(sql_time),
                r.window_end.map(sql_time),
                r.fingerprint,
                i64::try_from(note.sequence).unwrap_or(i64::MAX),
            ])?;
        }
    }
    tx.commit()
}

fn write(connection: &mut Connection, results: &[&WindowResult]) -> rusqlite::Result<()> {
    // IMMEDIATE takes the write lock up front: a deferred transaction that must upgrade its lock
    // while another process writes fails at once instead of waiting its turn.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut windows = tx.prepare_cached(UPSERT_WINDOW)?;
        let mut states = tx.prepare_cached(UPSERT_STATE)?;
        for result in results {
            let (start, end) = (sql_time(result.window_start), sql_time(result.window_end));
            let row = WindowRow::of(result);
            let partitions = result.partitions.as_ref().map(|p| serde_json::to_string(p).unwrap_or_default());
            windows.execute(params![
                start,
                end,
                result.is_final,
                result.revision,
                int(result.messages),
                int(result.sensors),
                int(result.rejected),
                row.reasons,
                row.late,
                row.avg,
                row.min,
                row.max,
                partitions,
            ])?;
            for state in &result.states {
                states.execute(params![
                    start,
                    end,
                    state.state,
                    result.is_final,
                    result.revision,
                    int(state.messages),
                    int(state.sensors),
                    state.avg_temperature,
                    state.min_temperature,
                    state.max_temperature,
                ])?;
            }
        }
    }
    tx.commit()
}

/// A table's columns (name and declared type), in order.
fn table_columns(connection: &Connection, table: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut statement = connection.prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")?;
    let rows = statement.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Each result's window: rows of an older result deleted, its rows upserted; one transaction.
fn write_queries(connection: &mut Connection, results: &[StoredResult]) -> rusqlite::Result<()> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for result in results {
        let (start, end) = (sql_time(result.start), sql_time(result.end));
        let header = params![start, end, result.is_final, result.revision];
        tx.prepare_cached(&result.table.delete_older(Dialect::Sqlite))?.execute(header)?;
        let mut upsert = tx.prepare_cached(&result.table.upsert(Dialect::Sqlite))?;
        for row in &result.rows {
            let mut values: Vec<Value> = vec![
                Value::Text(start.clone()),
                Value::Text(end.clone()),
                Value::Text(row.group_key.clone()),
                Value::Integer(i64::from(result.is_final)),
                Value::Integer(i64::from(result.revision)),
                Value::Integer(row.position),
            ];
            values.extend(row.values.iter().map(sqlite_value));
            upsert.execute(rusqlite::params_from_iter(values))?;
        }
    }
    tx.commit()
}

/// A stored value as SQLite takes it (booleans as 0 and 1).
fn sqlite_value(value: &Stored) -> Value {
    match value {
        Stored::Null => Value::Null,
        Stored::Int(n) => Value::Integer(*n),
        Stored::Real(x) => Value::Real(*x),
        Stored::Bool(b) => Value::Integer(i64::from(*b)),
        Stored::Text(s) => Value::Text(s.clone()),
    }
}

fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |e: rusqlite::Error| opening(path, &e);
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(fail)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS iotstream_schema (
             version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL
         ) STRICT",
    )
    .map_err(fail)?;
    let version: i32 = tx
        .query_row("SELECT coalesce(max(version), 0) FROM iotstream_schema", [], |r| r.get(0))
        .map_err(fail)?;
    for migration in schema::pending(version).map_err(StoreError::Failed)? {
        tx.execute_batch(migration.sqlite).map_err(fail)?;
        tx.execute(
            "INSERT INTO iotstream_schema (version, description, applied_at) VALUES (?1, ?2, ?3)",
            params![migration.version, migration.description, sql_time(wall_clock_now())],
        )
        .map_err(fail)?;
        tracing::debug!(version = migration.version, "store schema migrated");
    }
    tx.commit().map_err(fail)
}

fn opening(path: &Path, error: &rusqlite::Error) -> StoreError {
    store_error(error, format!("cannot open the store {}: {error}", path.display()))
}

fn classify(error: rusqlite::Error) -> StoreError {
    store_error(&error, error.to_string())
}

fn store_error(error: &rusqlite::Error, message: String) -> StoreError {
    if is_transient(error) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Failed(message)
    }
}

/// True for what passes: another process holding the lock, a full disk, a failing read or write.
fn is_transient(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::OutOfMemory
        )
    )
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`: RFC 3339 with every digit, so text order is time order.
pub fn sql_time(time: EventTime) -> String {
    let mut text = time.to_string();
    if text.len() == 20 {
        text.insert_str(19, ".000000");
    }
    text
}

fn parse_time(text: &str) -> rusqlite::Result<EventTime> {
    EventTime::parse_rfc3339(text.as_bytes()).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad time {text:?}").into(),
        )
    })
}

/// Reads one SQLite store (one query at a time; the dashboard asks from a blocking thread).
pub struct SqliteReader {
    path: PathBuf,
}

impl SqliteReader {
    /// Checks that `path` is a store this build can read.
    pub fn open(path: &Path) -> Result<SqliteReader, StoreError> {
        let reader = SqliteReader { path: path.to_owned() };
        let connection = reader.connect()?;
        let version: Option<i32> = connection
            .query_row("SELECT max(version) FROM iotstream_schema", [], |r| r.get(0))
            .optional()
            .map_err(|_| StoreError::Failed(format!("{} is not an iotstream store", path.display())))?
            .flatten();
        schema::check_readable(version.unwrap_or(0))?;
        Ok(reader)
    }

    /// A read-only connection: reading never creates a file or takes a write lock.
    fn connect(&self) -> Result<Connection, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection =
            Connection::open_with_flags(&self.path, flags).map_err(|e| opening(&self.path, &e))?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(classify)?;
        Ok(connection)
    }

    /// Up to `limit` windows of `range` after `after`, in time order, with their states.
    pub fn windows(
        &self,
        range: &Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Result<Vec<WindowResult>, StoreError> {
        let connection = self.connect()?;
        let mut windows = read_windows(&connection, range, after, limit).map_err(classify)?;
        let (Some(first), Some(last)) = (windows.first(), windows.last()) else { return Ok(windows) };
        let span = Range { from: Some(first.window_end), to: Some(last.window_end), state: range.state };
        let states = read_states(&connection, &span).map_err(classify)?;
        attach_states(&mut windows, states);
        Ok(windows)
    }

    /// `range` downsampled into buckets of `step` seconds.
    pub fn buckets(&self, range: &Range, step: i64) -> Result<Vec<Bucket>, StoreError> {
        let connection = self.connect()?;
        read_buckets(&connection, range, step).map_err(classify)
    }
}

/// Each query on the runtime's blocking threads, with a connection of its own, so that a long
/// one never stalls the thread serving other requests.
impl Reader for SqliteReader {
    fn windows<'a>(
        &'a self,
        range: &'a Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Answer<'a, Vec<WindowResult>> {
        let (reader, range) = (SqliteReader { path: self.path.clone() }, *range);
        blocking(move || reader.windows(&range, after, limit))
    }

    fn buckets<'a>(&'a self, range: &'a Range, step: i64) -> Answer<'a, Vec<Bucket>> {
        let (reader, range) = (SqliteReader { path: self.path.clone() }, *range);
        blocking(move || reader.buckets(&range, step))
    }

    fn query_table<'a>(&'a self, query: &'a str) -> Answer<'a, Option<QueryTable>> {
        let (reader, query) = (SqliteReader { path: self.path.clone() }, query.to_owned());
        blocking(move || reader.query_table(&query))
    }

    fn query_rows<'a>(
        &'a self,
        table: &'a QueryTable,
        range: &'a Range,
        after: Option<RowKey>,
        limit: usize,
    ) -> Answer<'a, RowPage> {
        let (reader, table, range) = (SqliteReader { path: self.path.clone() }, table.clone(), *range);
        blocking(move || reader.query_rows(&table, &range, after, limit))
    }
}

fn blocking<'a, T: Send + 'static>(
    query: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Answer<'a, T> {
    Box::pin(async move {
        tokio::task::spawn_blocking(query)
            .await
            .unwrap_or_else(|e| Err(StoreError::Failed(format!("the query stopped: {e}"))))
    })
}

fn read_windows(
    connection: &Connection,
    range: &Range,
    after: Option<WindowKey>,
    limit: usize,
) -> rusqlite::Result<Vec<WindowResult>> {
    let (from, to) = range.bounds();
    let (after_time, after_start) = after.map_or((EventTime::MIN, EventTime::MIN), |k| (k.time, k.start));
    let mut statement = connection.prepare_cached(
        "SELECT window_start, window_end, final, revision, messages, sensors, rejected,
                rejected_by_reason, partitions
         FROM windows
         WHERE time >= ?1 AND time <= ?2 AND (time > ?3 OR (time = ?3 AND window_start > ?4))
         ORDER BY time, window_start LIMIT ?5",
    )?;
    let after_time = if after.is_some() { sql_time(after_time) } else { String::new() };
    let after_start = if after.is_some() { sql_time(after_start) } else { String::new() };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(
        params![sql_time(from), sql_time(to), after_time, after_start, limit],
        |row| {
            let reasons: String = row.get(7)?;
            let partitions: Option<String> = row.get(8)?;
            Ok(WindowResult {
                record_type: WindowTag::Window,
                is_final: row.get(2)?,
                revision: row.get(3)?,
                window_start: parse_time(&row.get::<_, String>(0)?)?,
                window_end: parse_time(&row.get::<_, String>(1)?)?,
                messages: count(row.get(4)?),
                sensors: count(row.get(5)?),
                rejected: count(row.get(6)?),
                rejected_by_reason: json_column(7, &reasons)?,
                states: Vec::new(),
                partitions: partitions.as_deref().map(|p| json_column(8, p)).transpose()?,
            })
        },
    )?;
    rows.collect()
}

fn json_column<T: serde::de::DeserializeOwned>(column: usize, text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into()))
}

fn read_states(connection: &Connection, range: &Range) -> rusqlite::Result<Vec<(WindowKey, StateResult)>> {
    let (from, to) = range.bounds();
    let mut statement = connection.prepare_cached(
        "SELECT time, window_start, state, messages, sensors, avg_temperature, min_temperature,
                max_temperature
         FROM window_states
         WHERE time >= ?1 AND time <= ?2 AND (?3 IS NULL OR state = ?3)
         ORDER BY time, window_start",
    )?;
    let state = range.state.map(StateCode::as_str);
    let rows = statement.query_map(params![sql_time(from), sql_time(to), state], |row| {
        let key = WindowKey {
            time: parse_time(&row.get::<_, String>(0)?)?,
            start: parse_time(&row.get::<_, String>(1)?)?,
        };
        let state = StateResult {
            state: row.get(2)?,
            messages: count(row.get(3)?),
            sensors: count(row.get(4)?),
            avg_temperature: row.get(5)?,
            min_temperature: row.get(6)?,
            max_temperature: row.get(7)?,
        };
        Ok((key, state))
    })?;
    rows.collect()
}

fn read_buckets(connection: &Connection, range: &Range, step: i64) -> rusqlite::Result<Vec<Bucket>> {
    let (from, to) = range.bounds();
    // One state's rows, or the windows' overall columns: both have messages and temperatures.
    let table = if range.state.is_some() { "window_states" } else { "windows" };
    let sql = format!(
        "SELECT (CAST(strftime('%s', time) AS INTEGER) / ?3) * ?3 AS bucket, count(*), sum(messages),
                sum(avg_temperature * messages) / nullif(sum(messages), 0),
                min(min_temperature), max(max_temperature)
         FROM {table}
         WHERE time >= ?1 AND time <= ?2 {}
         GROUP BY bucket ORDER BY bucket",
        if range.state.is_some() { "AND state = ?4" } else { "AND ?4 IS NULL" }
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let state = range.state.map(StateCode::as_str);
    let rows = statement.query_map(params![sql_time(from), sql_time(to), step.max(1), state], |row| {
        Ok(Bucket {
            start: row.get(0)?,
            windows: count(row.get(1)?),
            messages: count(row.get::<_, Option<i64>>(2)?.unwrap_or(0)),
            avg_temperature: row.get(3)?,
            min_temperature: row.get(4)?,
            max_temperature: row.get(5)?,
        })
    })?;
    rows.collect()
}

/// Whether this build has SQLite (it does: see `sqlite_absent.rs` for one without).
pub const BUILT: bool = true;

/// The file's writer (see [`SqliteWriter::open`]).
pub fn open_writer(path: &Path) -> Result<Box<dyn Writer>, StoreError> {
    Ok(Box::new(SqliteWriter::open(path)?))
}

/// The file's reader (see [`SqliteReader::open`]).
pub fn open_reader(path: &Path) -> Result<std::sync::Arc<dyn Reader>, StoreError> {
    Ok(std::sync::Arc::new(SqliteReader::open(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_fixed_width_and_sort_as_time_does() {
        let whole = EventTime::parse_rfc3339(b"2016-11-16T13:26:39Z").unwrap();
        let later = EventTime(whole.0 + 500_000);
        assert_eq!(sql_time(whole), "2016-11-16T13:26:39.000000Z");
        assert_eq!(sql_time(later), "2016-11-16T13:26:39.500000Z");
        assert!(sql_time(whole) < sql_time(later));
        assert_eq!(parse_time(&sql_time(later)).unwrap(), later);
    }
}
