//! SQL queries' tables read back from SQLite (`history --query`): a table as the metadata table
//! describes it, and its rows page by page in the order they were emitted.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension as _};

use super::{classify, parse_time, sql_time, SqliteReader};
use crate::store::error::StoreError;
use crate::store::query::Range;
use crate::store::tables::{Dialect, QueryTable, ReadRow, RowKey, RowPage, Stored};

impl SqliteReader {
    /// The table of query `query`, if the store has one.
    pub fn query_table(&self, query: &str) -> Result<Option<QueryTable>, StoreError> {
        let connection = self.connect()?;
        let found = connection
            .query_row("SELECT sql, columns FROM iotstream_query_tables WHERE query = ?1", [query], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional();
        let found = match found {
            // A store from before query tables: it has none.
            Err(rusqlite::Error::SqliteFailure(_, Some(message))) if message.starts_with("no such table") => {
                None
            }
            other => other.map_err(classify)?,
        };
        let found: Option<(String, String)> = found;
        found.map(|(sql, columns)| QueryTable::from_metadata(query.to_owned(), sql, &columns)).transpose()
    }

    /// Up to `limit` rows of `table` in `range` after `after`.
    pub fn query_rows(
        &self,
        table: &QueryTable,
        range: &Range,
        after: Option<RowKey>,
        limit: usize,
    ) -> Result<RowPage, StoreError> {
        let connection = self.connect()?;
        let rows = read_rows(&connection, table, range, after, limit).map_err(classify)?;
        Ok(RowPage::of(rows, limit))
    }
}

fn read_rows(
    connection: &Connection,
    table: &QueryTable,
    range: &Range,
    after: Option<RowKey>,
    limit: usize,
) -> rusqlite::Result<Vec<ReadRow>> {
    let (from, to) = range.bounds();
    // With no page before, a key just before `from`: every row in range comes after it.
    let after = after.unwrap_or(RowKey {
        time: iotstream_engine::EventTime(from.as_micros() - 1),
        start: from,
        position: -1,
    });
    let mut statement = connection.prepare(&table.select(Dialect::Sqlite))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(
        params![
            sql_time(from),
            sql_time(to),
            sql_time(after.time),
            sql_time(after.start),
            after.position,
            limit
        ],
        |row| {
            let key = ReadRow::key_of(&row.get::<_, String>(4)?);
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, column) in table.columns.iter().enumerate() {
                cells.push(ReadRow::cell(column, &key, stored(row.get::<_, Value>(6 + i)?)));
            }
            Ok(ReadRow {
                start: parse_time(&row.get::<_, String>(0)?)?,
                end: parse_time(&row.get::<_, String>(1)?)?,
                is_final: row.get(2)?,
                revision: row.get(3)?,
                position: row.get(5)?,
                key,
                cells,
            })
        },
    )?;
    rows.collect()
}

fn stored(value: Value) -> Stored {
    match value {
        Value::Null | Value::Blob(_) => Stored::Null,
        Value::Integer(n) => Stored::Int(n),
        Value::Real(x) => Stored::Real(x),
        Value::Text(s) => Stored::Text(s),
    }
}
