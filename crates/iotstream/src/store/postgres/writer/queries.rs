//! SQL queries' tables in PostgreSQL: created (or checked and refused when their columns differ)
//! and recorded under the migration lock, then written a result at a time in one transaction.
//!
//! A group key's column (`ANY` in SQLite) is text here: PostgreSQL has no column of any type;
//! the key's exact value is in `group_key` as JSON.

use tokio_postgres::types::ToSql;

use super::{classify, to_system_time, Session, MIGRATION_LOCK};
use crate::store::error::StoreError;
use crate::store::schema;
use crate::store::tables::{Dialect, Kind, QueryTable, Stored, StoredResult};

/// One statement parameter, owned.
type Param = Box<dyn ToSql + Sync + Send>;

impl Session {
    /// Creates each table unless it is there, refuses one there with other columns, and records
    /// them all; one transaction, serialised with other processes' migrations.
    pub(super) async fn prepare_queries(&mut self, tables: &[QueryTable]) -> Result<u64, StoreError> {
        let fail = |e: tokio_postgres::Error| classify(&e, "cannot prepare the queries' tables");
        let tx = self.client.transaction().await.map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(fail)?;
        for table in tables {
            tx.batch_execute(&table.create(Dialect::Postgres)).await.map_err(fail)?;
            let found: Vec<(String, String)> = tx
                .query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                    &[&table.table()],
                )
                .await
                .map_err(fail)?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_, tokio_postgres::Error>>()
                .map_err(fail)?;
            table.check_columns(Dialect::Postgres, &found)?;
            let record = schema::RECORD_QUERY_TABLE;
            tx.execute(record, &[&table.query, &table.table(), &table.sql, &table.columns_json()])
                .await
                .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        Ok(tables.len() as u64)
    }

    /// Each result's window: rows of an older result deleted, its rows upserted.
    pub(super) async fn write_queries(
        &mut self,
        results: &[StoredResult],
    ) -> Result<u64, tokio_postgres::Error> {
        for result in results {
            self.prepared(&result.table).await?;
        }
        let tx = self.client.transaction().await?;
        let mut written = 0;
        for result in results {
            let (start, end) = (to_system_time(result.start), to_system_time(result.end));
            let Some((delete, upsert)) = self.queries.get(&result.table.query) else { continue };
            tx.execute(delete, &[&start, &end, &result.is_final, &result.revision]).await?;
            for row in &result.rows {
                let position = i32::try_from(row.position).unwrap_or(i32::MAX);
                let mut params: Vec<Param> = vec![
                    Box::new(start),
                    Box::new(end),
                    Box::new(row.group_key.clone()),
                    Box::new(result.is_final),
                    Box::new(result.revision),
                    Box::new(position),
                ];
                let columns = result.table.columns.iter();
                params.extend(columns.zip(&row.values).map(|(c, v)| param(c.kind, v)));
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
                written += tx.execute(upsert, &refs).await?;
            }
        }
        tx.commit().await?;
        Ok(written)
    }
}

impl Session {
    /// Prepares `table`'s statements on this connection, once.
    async fn prepared(&mut self, table: &QueryTable) -> Result<(), tokio_postgres::Error> {
        if !self.queries.contains_key(&table.query) {
            let delete = self.client.prepare(&table.delete_older(Dialect::Postgres)).await?;
            let upsert = self.client.prepare(&table.upsert(Dialect::Postgres)).await?;
            self.queries.insert(table.query.clone(), (delete, upsert));
        }
        Ok(())
    }
}

/// A stored value as its column's PostgreSQL type takes it.
fn param(kind: Kind, value: &Stored) -> Param {
    match kind {
        Kind::Bigint => Box::new(match value {
            Stored::Int(n) => Some(*n),
            _ => None,
        }),
        Kind::Double => Box::new(match value {
            Stored::Real(x) => Some(*x),
            Stored::Int(n) => Some(*n as f64),
            _ => None,
        }),
        Kind::Boolean => Box::new(match value {
            Stored::Bool(b) => Some(*b),
            Stored::Int(n) => Some(*n != 0),
            _ => None,
        }),
        Kind::Text | Kind::Any => Box::new(text(value)),
    }
}

/// A value as text, as the console shows it.
fn text(value: &Stored) -> Option<String> {
    match value {
        Stored::Null => None,
        Stored::Int(n) => Some(n.to_string()),
        Stored::Real(x) => Some(x.to_string()),
        Stored::Bool(b) => Some(b.to_string()),
        Stored::Text(s) => Some(s.clone()),
    }
}
