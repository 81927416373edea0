//! A table per SQL query (`query_NAME`): its columns as the query's plan makes them, the SQL
//! both databases run on it, and each result's rows as the table stores them.
//!
//! Columns: `window_start`, `window_end`, `time` (= the end), `group_key` (the row's group key
//! as a JSON array of its values, `[]` without `GROUP BY`: a group's identity, NULL keys
//! included, which a primary key cannot hold in the key columns themselves), `final`,
//! `revision`, `row_in_window` (the row's place in its result: the order `ORDER BY` gave), then
//! one column per output column of the query, typed as the plan decides (BIGINT counts,
//! DOUBLE aggregates, BOOLEAN conditions, TEXT strings; a group key, whose type is whatever the
//! data holds, is `ANY` in SQLite and the value as text in PostgreSQL — its exact value is in
//! `group_key`). The primary key is `(time, window_start, group_key)`.
//!
//! A result is the whole of one query's window: writing it deletes the window's rows of an
//! older result (a partial one, a lower revision) and upserts its own rows, each replacing a row
//! only when it is at least as far along (final, then revision) — the seed's rule, so a replay
//! after a crash, which writes the same results again in the same order, leaves the same rows.
//!
//! `iotstream_query_tables` records each table's query, SQL and columns, so that `history
//! --query` reads a table back without the query. A table that exists with other columns is
//! refused, never altered.

use iotstream_engine::query::plan::ColumnType;
use iotstream_engine::query::{Cell, Emission, Plan};
use iotstream_engine::EventTime;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// Columns every query table has, before the query's own.
pub const FIXED: [&str; 7] =
    ["window_start", "window_end", "time", "group_key", "final", "revision", "row_in_window"];

/// One output column of a query's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumn {
    /// Its name, as the query's rows name it.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The group key it shows, if it is one as it stands (its exact value is in `group_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<usize>,
}

/// A column's type, as the plan decides it ([`ColumnType`]), named for the metadata table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// BIGINT.
    Bigint,
    /// DOUBLE.
    Double,
    /// BOOLEAN.
    Boolean,
    /// TEXT.
    Text,
    /// Whatever the data holds.
    Any,
}

impl From<ColumnType> for Kind {
    fn from(kind: ColumnType) -> Kind {
        match kind {
            ColumnType::Bigint => Kind::Bigint,
            ColumnType::Double => Kind::Double,
            ColumnType::Boolean => Kind::Boolean,
            ColumnType::Varchar => Kind::Text,
            ColumnType::Any => Kind::Any,
        }
    }
}

/// A query's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTable {
    /// The query's name.
    pub query: String,
    /// Its SQL (recorded in the metadata table).
    pub sql: String,
    /// Its output columns, in `SELECT` order.
    pub columns: Vec<TableColumn>,
}

impl QueryTable {
    /// The table of `plan`'s query, or why the store cannot have one (a column named like one
    /// of the table's own).
    pub fn of(plan: &Plan) -> Result<QueryTable, StoreError> {
        let columns: Vec<TableColumn> = plan
            .column_types()
            .into_iter()
            .zip(&plan.columns)
            .enumerate()
            .map(|(i, (kind, column))| TableColumn {
                name: column.name.clone(),
                kind: kind.into(),
                key: plan.key_of_column(i),
            })
            .collect();
        if let Some(clash) = columns.iter().find(|c| FIXED.contains(&c.name.as_str())) {
            return Err(StoreError::Failed(format!(
                "query {}: its column {} has the name of one of the store's own columns ({}); rename it with AS",
                plan.name,
                clash.name,
                FIXED.join(", ")
            )));
        }
        Ok(QueryTable { query: plan.name.clone(), sql: plan.sql.clone(), columns })
    }

    /// The table's name: `query_NAME`.
    pub fn table(&self) -> String {
        format!("query_{}", self.query)
    }

    /// The output columns as JSON, for the metadata table.
    pub fn columns_json(&self) -> String {
        serde_json::to_string(&self.columns).unwrap_or_else(|_| "[]".into())
    }

    /// A table as the metadata table describes it.
    pub fn from_metadata(query: String, sql: String, columns: &str) -> Result<QueryTable, StoreError> {
        let columns = serde_json::from_str(columns).map_err(|e| {
            StoreError::Failed(format!("the store's description of query {query}'s table is unreadable: {e}"))
        })?;
        Ok(QueryTable { query, sql, columns })
    }

    /// Every column's name and the type `dialect` declares it with, the table's own first.
    pub fn declared(&self, dialect: Dialect) -> Vec<(String, &'static str)> {
        let fixed = FIXED.iter().map(|name| (name.to_string(), dialect.fixed_type(name)));
        fixed.chain(self.columns.iter().map(|c| (c.name.clone(), dialect.type_of(c.kind)))).collect()
    }

    /// `CREATE TABLE IF NOT EXISTS` for `dialect`.
    pub fn create(&self, dialect: Dialect) -> String {
        let columns: Vec<String> = self
            .declared(dialect)
            .iter()
            .enumerate()
            .map(|(i, (name, kind))| {
                let not_null = if i < FIXED.len() { " NOT NULL" } else { "" };
                format!("{} {kind}{not_null}", quote(name))
            })
            .collect();
        let options = match dialect {
            Dialect::Sqlite => " STRICT, WITHOUT ROWID",
            Dialect::Postgres => "",
        };
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY (time, window_start, group_key), CHECK (time = window_end)){options}",
            quote(&self.table()),
            columns.join(", "),
        )
    }

    /// Deletes a window's rows of a result less far along: parameters start, end, final,
    /// revision.
    pub fn delete_older(&self, dialect: Dialect) -> String {
        let p = |i| dialect.param(i);
        format!(
            "DELETE FROM {} WHERE time = {} AND window_start = {} AND (final, revision) < ({}, {})",
            quote(&self.table()),
            p(2),
            p(1),
            p(3),
            p(4)
        )
    }

    /// Upserts one row: parameters start, end, group key, final, revision, row in window, then
    /// the query's columns.
    pub fn upsert(&self, dialect: Dialect) -> String {
        let names: Vec<String> = self.columns.iter().map(|c| quote(&c.name)).collect();
        let values: Vec<String> = (7..7 + names.len()).map(|i| dialect.param(i)).collect();
        let updates: Vec<String> = ["final", "revision", "row_in_window"]
            .iter()
            .map(|n| n.to_string())
            .chain(names.iter().cloned())
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        let p = |i| dialect.param(i);
        let header = format!("{}, {}, {}, {}, {}, {}, {}", p(1), p(2), p(2), p(3), p(4), p(5), p(6));
        let separator = if names.is_empty() { "" } else { ", " };
        format!(
            "INSERT INTO {table} AS t (window_start, window_end, time, group_key, final, revision, \
             row_in_window{separator}{names}) VALUES ({header}{separator}{values}) \
             ON CONFLICT (time, window_start, group_key) DO UPDATE SET {updates} \
             WHERE (excluded.final, excluded.revision) >= (t.final, t.revision)",
            table = quote(&self.table()),
            names = names.join(", "),
            values = values.join(", "),
            updates = updates.join(", "),
        )
    }

    /// Reads rows in order: parameters from, to, after time, after start, after row position
    /// (`row_in_window`), limit.
    pub fn select(&self, dialect: Dialect) -> String {
        let names: Vec<String> = self.columns.iter().map(|c| quote(&c.name)).collect();
        let p = |i| dialect.param(i);
        let separator = if names.is_empty() { "" } else { ", " };
        format!(
            "SELECT window_start, window_end, final, revision, group_key, row_in_window{separator}{names} \
             FROM {table} WHERE time >= {from} AND time <= {to} AND (time, window_start, row_in_window) > ({t}, {s}, {r}) \
             ORDER BY time, window_start, row_in_window LIMIT {limit}",
            names = names.join(", "),
            table = quote(&self.table()),
            from = p(1),
            to = p(2),
            t = p(3),
            s = p(4),
            r = p(5),
            limit = p(6),
        )
    }

    /// Refuses a table found with columns other than its query makes (`found`: name and type as
    /// the database reports them, in order).
    pub fn check_columns(&self, dialect: Dialect, found: &[(String, String)]) -> Result<(), StoreError> {
        let expected = self.declared(dialect);
        let same = found.len() == expected.len()
            && found.iter().zip(&expected).all(|((n, t), (en, et))| n == en && t.eq_ignore_ascii_case(et));
        if same {
            return Ok(());
        }
        let list = |columns: Vec<String>| columns.join(", ");
        Err(StoreError::Failed(format!(
            "the store's table {} has other columns ({}) than query {} makes now ({}); iotstream never \
             alters a table: rename the query, or drop the table to start it afresh",
            self.table(),
            list(found.iter().map(|(n, t)| format!("{n} {t}")).collect()),
            self.query,
            list(expected.iter().map(|(n, t)| format!("{n} {t}")).collect()),
        )))
    }
}

/// A name as a quoted SQL identifier (both databases: double quotes, a quote doubled).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Which database's SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// Parameter `i` (1-based).
    fn param(self, i: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{i}"),
            Dialect::Postgres => format!("${i}"),
        }
    }

    /// The type of one of the table's own columns, as the database reports it.
    fn fixed_type(self, name: &str) -> &'static str {
        match (self, name) {
            (Dialect::Sqlite, "final" | "revision" | "row_in_window") => "INTEGER",
            (Dialect::Sqlite, _) => "TEXT",
            (Dialect::Postgres, "window_start" | "window_end" | "time") => "timestamp with time zone",
            (Dialect::Postgres, "group_key") => "text",
            (Dialect::Postgres, "final") => "boolean",
            (Dialect::Postgres, _) => "integer",
        }
    }

    /// A query column's type, as the database reports it.
    pub fn type_of(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Dialect::Sqlite, Kind::Bigint | Kind::Boolean) => "INTEGER",
            (Dialect::Sqlite, Kind::Double) => "REAL",
            (Dialect::Sqlite, Kind::Text) => "TEXT",
            (Dialect::Sqlite, Kind::Any) => "ANY",
            (Dialect::Postgres, Kind::Bigint) => "bigint",
            (Dialect::Postgres, Kind::Double) => "double precision",
            (Dialect::Postgres, Kind::Boolean) => "boolean",
            (Dialect::Postgres, Kind::Text | Kind::Any) => "text",
        }
    }
}

/// A value as a table stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// NULL.
    Null,
    /// An integer (BIGINT; SQLite's booleans).
    Int(i64),
    /// A double.
    Real(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(String),
}

/// One row of a result, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRow {
    /// The group key as JSON.
    pub group_key: String,
    /// Its place in the result.
    pub position: i64,
    /// One value per query column.
    pub values: Vec<Stored>,
}

/// One query result (a window's rows), as its table stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResult {
    /// The table.
    pub table: QueryTable,
    /// Inclusive start.
    pub start: EventTime,
    /// Exclusive end.
    pub end: EventTime,
    /// Final or partial.
    pub is_final: bool,
    /// Revision.
    pub revision: i32,
    /// The rows.
    pub rows: Vec<StoredRow>,
}

impl StoredResult {
    /// `result` as `table` (its query's) stores it.
    pub fn of(table: &QueryTable, result: &Emission) -> StoredResult {
        let rows = result
            .rows
            .iter()
            .zip(&result.keys)
            .enumerate()
            .map(|(i, (row, key))| StoredRow {
                group_key: serde_json::to_string(key).unwrap_or_else(|_| "[]".into()),
                position: i as i64,
                values: table.columns.iter().zip(row).map(|(c, cell)| stored(c.kind, cell)).collect(),
            })
            .collect();
        StoredResult {
            table: table.clone(),
            start: result.window_start,
            end: result.window_end,
            is_final: result.is_final,
            revision: i32::try_from(result.revision).unwrap_or(i32::MAX),
            rows,
        }
    }
}

/// A cell as a column of `kind` stores it. A BIGINT column given a DOUBLE (integer arithmetic
/// beyond 64 bits, which the engine turns into a double as DuckDB does) stores NULL and says so.
fn stored(kind: Kind, cell: &Cell) -> Stored {
    match (kind, cell) {
        (_, Cell::Null) => Stored::Null,
        (Kind::Bigint, Cell::Int(n)) => Stored::Int(*n),
        (Kind::Bigint, Cell::Double(x)) => {
            tracing::warn!(value = x, "a BIGINT column got a value beyond 64 bits: stored as NULL");
            Stored::Null
        }
        (Kind::Double, Cell::Int(n)) => Stored::Real(*n as f64),
        (Kind::Double, Cell::Double(x)) => Stored::Real(*x),
        (Kind::Boolean, Cell::Bool(b)) => Stored::Bool(*b),
        (Kind::Any, Cell::Int(n)) => Stored::Int(*n),
        (Kind::Any, Cell::Double(x)) => Stored::Real(*x),
        (Kind::Any, Cell::Bool(b)) => Stored::Bool(*b),
        (Kind::Text | Kind::Any, cell) => Stored::Text(cell.to_string()),
        (kind, cell) => {
            tracing::warn!(?kind, %cell, "a value of another type than its column's: stored as NULL");
            Stored::Null
        }
    }
}

/// One row read back: its result's header and its cells.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadRow {
    /// Inclusive start.
    pub start: EventTime,
    /// Exclusive end.
    pub end: EventTime,
    /// Final or partial.
    pub is_final: bool,
    /// Revision.
    pub revision: u32,
    /// Its place in its result.
    pub position: i64,
    /// The group key's values.
    pub key: Vec<Cell>,
    /// One cell per query column.
    pub cells: Vec<Cell>,
}

impl ReadRow {
    /// A cell of column `column` read back as `value`: a group key's from the group key, others
    /// as their type says.
    pub fn cell(column: &TableColumn, key: &[Cell], value: Stored) -> Cell {
        if let Some(k) = column.key {
            return key.get(k).cloned().unwrap_or(Cell::Null);
        }
        match (column.kind, value) {
            (_, Stored::Null) => Cell::Null,
            (Kind::Boolean, Stored::Int(n)) => Cell::Bool(n != 0),
            (Kind::Double, Stored::Int(n)) => Cell::Double(n as f64),
            (_, Stored::Int(n)) => Cell::Int(n),
            (_, Stored::Real(x)) => Cell::Double(x),
            (_, Stored::Bool(b)) => Cell::Bool(b),
            (_, Stored::Text(s)) => Cell::Str(s),
        }
    }

    /// The group key stored as JSON.
    pub fn key_of(json: &str) -> Vec<Cell> {
        serde_json::from_str(json).unwrap_or_default()
    }
}

/// Where the next page of a query's rows starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowKey {
    /// The window's end.
    pub time: EventTime,
    /// The window's start.
    pub start: EventTime,
    /// The row's place in its result.
    pub position: i64,
}

/// One page of a query's rows.
#[derive(Debug)]
pub struct RowPage {
    /// The rows, in order.
    pub rows: Vec<ReadRow>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<RowKey>,
}

impl RowPage {
    /// A page of `rows`, of at most `limit` asked for.
    pub fn of(rows: Vec<ReadRow>, limit: usize) -> RowPage {
        let next = if rows.len() < limit.max(1) {
            None
        } else {
            rows.last().map(|r| RowKey { time: r.end, start: r.start, position: r.position })
        };
        RowPage { rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> QueryTable {
        let sql = "SELECT state, count(*) AS n, avg(x) AS \"a\"\"b\" FROM readings GROUP BY state";
        let plan = iotstream_engine::query::plan("hot", sql, None).unwrap();
        QueryTable::of(&plan).unwrap()
    }

    #[test]
    fn columns_follow_the_plan() {
        let t = table();
        let kinds: Vec<(&str, Kind, Option<usize>)> =
            t.columns.iter().map(|c| (c.name.as_str(), c.kind, c.key)).collect();
        assert_eq!(
            kinds,
            [("state", Kind::Any, Some(0)), ("n", Kind::Bigint, None), ("a\"b", Kind::Double, None)]
        );
        assert!(t.create(Dialect::Sqlite).contains("\"a\"\"b\" REAL"), "{}", t.create(Dialect::Sqlite));
        assert!(t.upsert(Dialect::Postgres).contains("VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9)"));
        let back = QueryTable::from_metadata("hot".into(), t.sql.clone(), &t.columns_json()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn a_column_named_like_the_tables_own_is_refused() {
        let plan = iotstream_engine::query::plan("q", "SELECT count(*) AS time FROM readings", None).unwrap();
        let error = QueryTable::of(&plan).unwrap_err().to_string();
        assert!(error.contains("its column time has the name of one of the store's own columns"), "{error}");
    }

    #[test]
    fn a_table_with_other_columns_is_refused_by_name() {
        let t = table();
        let mut found: Vec<(String, String)> =
            t.declared(Dialect::Sqlite).into_iter().map(|(n, k)| (n, k.to_owned())).collect();
        assert!(t.check_columns(Dialect::Sqlite, &found).is_ok());
        found.pop();
        let error = t.check_columns(Dialect::Sqlite, &found).unwrap_err().to_string();
        assert!(
            error.contains("table query_hot has other columns") && error.contains("never alters"),
            "{error}"
        );
    }

    #[test]
    fn cells_are_stored_by_column_type_and_read_back() {
        let t = table();
        let key = vec![Cell::Str("CA".into())];
        let row = vec![Cell::Str("CA".into()), Cell::Int(3), Cell::Double(1.5)];
        let stored: Vec<Stored> = t.columns.iter().zip(&row).map(|(c, v)| stored(c.kind, v)).collect();
        assert_eq!(stored, [Stored::Text("CA".into()), Stored::Int(3), Stored::Real(1.5)]);
        let back: Vec<Cell> = t.columns.iter().zip(stored).map(|(c, v)| ReadRow::cell(c, &key, v)).collect();
        assert_eq!(back, row);
    }
}
