//! Reading PostgreSQL: a small pool, made on the runtime that asks.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use iotstream_engine::result::WindowTag;
use iotstream_engine::{EventTime, StateCode, StateResult, WindowResult};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

use super::{classify, from_system_time, to_system_time, Url, CONNECT_TIMEOUT, POOL_SIZE, REQUEST_TIMEOUT};
use crate::store::error::StoreError;
use crate::store::query::{attach_states, Bucket, Range, WindowKey};
use crate::store::reader::{Answer, Reader};
use crate::store::schema::{self, count};
use crate::store::tables::{Dialect, Kind, QueryTable, ReadRow, RowKey, RowPage, Stored};

/// Reads one PostgreSQL store through a small pool. Connections are made on first use, on the
/// runtime that uses them (the dashboard's, or `iotstream history`'s).
pub struct PostgresReader {
    pool: Pool,
}

impl PostgresReader {
    /// A pool for `url` (no connection yet).
    pub fn new(url: &Url) -> Result<PostgresReader, StoreError> {
        let config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = Manager::from_config(url.config.clone(), url.tls()?, config);
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(REQUEST_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Failed(format!("cannot build the connection pool: {e}")))?;
        Ok(PostgresReader { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => classify(&e, "cannot connect to the store"),
            other => StoreError::Unavailable(format!("cannot connect to the store: {other}")),
        })
    }

    /// Up to `limit` windows after `after`, with their states.
    async fn fetch_windows(
        &self,
        range: &Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Result<Vec<WindowResult>, StoreError> {
        let client = self.client().await?;
        check_version(&client).await?;
        let (from, to) = range.bounds();
        // With no page before, a key just before `from` (every window in range comes after it).
        let after = after.unwrap_or(WindowKey { time: EventTime(from.as_micros() - 1), start: from });
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let read = |e: tokio_postgres::Error| classify(&e, "reading the store failed");
        let rows = client
            .query(
                "SELECT window_start, window_end, final, revision, messages, sensors, rejected,
                        rejected_by_reason::text, partitions
                 FROM windows
                 WHERE time >= $1 AND time <= $2 AND (time, window_start) > ($3, $4)
                 ORDER BY time, window_start LIMIT $5",
                &[
                    &to_system_time(from),
                    &to_system_time(to),
                    &to_system_time(after.time),
                    &to_system_time(after.start),
                    &limit,
                ],
            )
            .await
            .map_err(read)?;
        let mut windows = rows.iter().map(window).collect::<Result<Vec<_>, _>>()?;
        let (Some(first), Some(last)) = (windows.first(), windows.last()) else { return Ok(windows) };
        let span = (to_system_time(first.window_end), to_system_time(last.window_end));
        let state = range.state.map(StateCode::as_str);
        let rows = client
            .query(
                "SELECT time, window_start, state, messages, sensors, avg_temperature, min_temperature,
                        max_temperature
                 FROM window_states
                 WHERE time >= $1 AND time <= $2 AND ($3::text IS NULL OR state = $3)
                 ORDER BY time, window_start",
                &[&span.0, &span.1, &state],
            )
            .await
            .map_err(read)?;
        let states = rows.iter().map(state_row).collect::<Result<Vec<_>, _>>()?;
        attach_states(&mut windows, states);
        Ok(windows)
    }

    /// `range` in buckets of `step` seconds.
    async fn fetch_buckets(&self, range: &Range, step: i64) -> Result<Vec<Bucket>, StoreError> {
        let client = self.client().await?;
        let (from, to) = range.bounds();
        let (table, state_filter) = match range.state {
            Some(_) => ("window_states", "state = $4"),
            None => ("windows", "$4::text IS NULL"),
        };
        let sql = format!(
            "SELECT (floor(extract(epoch FROM time) / $3::bigint) * $3::bigint)::bigint AS bucket,
                    count(*), sum(messages)::bigint,
                    sum(avg_temperature * messages) / nullif(sum(messages), 0)::float8,
                    min(min_temperature), max(max_temperature)
             FROM {table}
             WHERE time >= $1 AND time <= $2 AND {state_filter}
             GROUP BY bucket ORDER BY bucket"
        );
        let state = range.state.map(StateCode::as_str);
        let rows = client
            .query(&sql, &[&to_system_time(from), &to_system_time(to), &step.max(1), &state])
            .await
            .map_err(|e| classify(&e, "reading the store failed"))?;
        rows.iter()
            .map(bucket)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| classify(&e, "reading the store failed"))
    }
}

impl PostgresReader {
    /// The table of query `query`, if the store has one (a store older than query tables has
    /// none).
    async fn fetch_query_table(&self, query: &str) -> Result<Option<QueryTable>, StoreError> {
        let client = self.client().await?;
        check_version(&client).await?;
        let found = client
            .query_opt("SELECT sql, columns FROM iotstream_query_tables WHERE query = $1", &[&query])
            .await;
        let row = match found {
            Ok(row) => row,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => None,
            Err(e) => return Err(classify(&e, "reading the store failed")),
        };
        let Some(row) = row else { return Ok(None) };
        let bad = |e: tokio_postgres::Error| classify(&e, "reading the store failed");
        let (sql, columns): (String, String) = (row.try_get(0).map_err(bad)?, row.try_get(1).map_err(bad)?);
        QueryTable::from_metadata(query.to_owned(), sql, &columns).map(Some)
    }

    /// Up to `limit` rows of `table` in `range` after `after`.
    async fn fetch_query_rows(
        &self,
        table: &QueryTable,
        range: &Range,
        after: Option<RowKey>,
        limit: usize,
    ) -> Result<RowPage, StoreError> {
        let client = self.client().await?;
        let (from, to) = range.bounds();
        let after =
            after.unwrap_or(RowKey { time: EventTime(from.as_micros() - 1), start: from, position: -1 });
        let position = i32::try_from(after.position).unwrap_or(i32::MAX);
        let bad = |e: tokio_postgres::Error| classify(&e, "reading the store failed");
        let rows = client
            .query(
                &table.select(Dialect::Postgres),
                &[
                    &to_system_time(from),
                    &to_system_time(to),
                    &to_system_time(after.time),
                    &to_system_time(after.start),
                    &position,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(bad)?;
        let rows =
            rows.iter().map(|row| query_row(table, row)).collect::<Result<Vec<_>, _>>().map_err(bad)?;
        Ok(RowPage::of(rows, limit))
    }
}

/// One row of a query's table.
fn query_row(table: &QueryTable, row: &Row) -> Result<ReadRow, tokio_postgres::Error> {
    let key = ReadRow::key_of(&row.try_get::<_, String>(4)?);
    let mut cells = Vec::with_capacity(table.columns.len());
    for (i, column) in table.columns.iter().enumerate() {
        let at = 6 + i;
        let value = match column.kind {
            Kind::Bigint => row.try_get::<_, Option<i64>>(at)?.map(Stored::Int),
            Kind::Double => row.try_get::<_, Option<f64>>(at)?.map(Stored::Real),
            Kind::Boolean => row.try_get::<_, Option<bool>>(at)?.map(Stored::Bool),
            Kind::Text | Kind::Any => row.try_get::<_, Option<String>>(at)?.map(Stored::Text),
        };
        cells.push(ReadRow::cell(column, &key, value.unwrap_or(Stored::Null)));
    }
    Ok(ReadRow {
        start: from_system_time(row.try_get(0)?),
        end: from_system_time(row.try_get(1)?),
        is_final: row.try_get(2)?,
        revision: u32::try_from(row.try_get::<_, i32>(3)?).unwrap_or(0),
        position: i64::from(row.try_get::<_, i32>(5)?),
        key,
        cells,
    })
}

impl Reader for PostgresReader {
    fn windows<'a>(
        &'a self,
        range: &'a Range,
        after: Option<WindowKey>,
        limit: usize,
    ) -> Answer<'a, Vec<WindowResult>> {
        Box::pin(self.fetch_windows(range, after, limit))
    }

    fn buckets<'a>(&'a self, range: &'a Range, step: i64) -> Answer<'a, Vec<Bucket>> {
        Box::pin(self.fetch_buckets(range, step))
    }

    fn query_table<'a>(&'a self, query: &'a str) -> Answer<'a, Option<QueryTable>> {
        Box::pin(self.fetch_query_table(query))
    }

    fn query_rows<'a>(
        &'a self,
        table: &'a QueryTable,
        range: &'a Range,
        after: Option<RowKey>,
        limit: usize,
    ) -> Answer<'a, RowPage> {
        Box::pin(self.fetch_query_rows(table, range, after, limit))
    }
}

async fn check_version(client: &Client) -> Result<(), StoreError> {
    let row = client.query_one("SELECT coalesce(max(version), 0) FROM iotstream_schema", &[]).await.map_err(
        |e| match e.code() {
            Some(&SqlState::UNDEFINED_TABLE) => {
                StoreError::Failed("this database has no iotstream store".into())
            }
            _ => classify(&e, "reading the store failed"),
        },
    )?;
    schema::check_readable(row.try_get(0).map_err(|e| classify(&e, "reading the store failed"))?)
}

fn window(row: &Row) -> Result<WindowResult, StoreError> {
    let bad = |e: tokio_postgres::Error| classify(&e, "reading a window failed");
    let reasons: String = row.try_get(7).map_err(bad)?;
    let partitions: Option<Vec<i32>> = row.try_get(8).map_err(bad)?;
    Ok(WindowResult {
        record_type: WindowTag::Window,
        is_final: row.try_get(2).map_err(bad)?,
        revision: u32::try_from(row.try_get::<_, i32>(3).map_err(bad)?).unwrap_or(0),
        window_start: from_system_time(row.try_get(0).map_err(bad)?),
        window_end: from_system_time(row.try_get(1).map_err(bad)?),
        messages: count(row.try_get(4).map_err(bad)?),
        sensors: count(row.try_get(5).map_err(bad)?),
        rejected: count(row.try_get(6).map_err(bad)?),
        rejected_by_reason: serde_json::from_str(&reasons)
            .map_err(|e| StoreError::Failed(format!("a window's rejected_by_reason: {e}")))?,
        states: Vec::new(),
        partitions,
    })
}

fn state_row(row: &Row) -> Result<(WindowKey, StateResult), StoreError> {
    let bad = |e: tokio_postgres::Error| classify(&e, "reading a state failed");
    let key = WindowKey {
        time: from_system_time(row.try_get(0).map_err(bad)?),
        start: from_system_time(row.try_get(1).map_err(bad)?),
    };
    let state = StateResult {
        state: row.try_get(2).map_err(bad)?,
        messages: count(row.try_get(3).map_err(bad)?),
        sensors: count(row.try_get(4).map_err(bad)?),
        avg_temperature: row.try_get(5).map_err(bad)?,
        min_temperature: row.try_get(6).map_err(bad)?,
        max_temperature: row.try_get(7).map_err(bad)?,
    };
    Ok((key, state))
}

fn bucket(row: &Row) -> Result<Bucket, tokio_postgres::Error> {
    Ok(Bucket {
        start: row.try_get(0)?,
        windows: count(row.try_get(1)?),
        messages: count(row.try_get::<_, Option<i64>>(2)?.unwrap_or(0)),
        avg_temperature: row.try_get(3)?,
        min_temperature: row.try_get(4)?,
        max_temperature: row.try_get(5)?,
    })
}

/// The database's reader (see [`PostgresReader::new`]).
pub fn open_reader(url: &Url) -> Result<std::sync::Arc<dyn Reader>, StoreError> {
    Ok(std::sync::Arc::new(PostgresReader::new(url)?))
}
