//! What a query emits per window: rows. Each group's aggregates are finished (an average
//! divided, a percentile read off its sketch), the output columns computed, `HAVING` applied, and
//! the rows put in a deterministic order (`ORDER BY`, ties and the default by group key
//! ascending, NULL first), so outputs are the same bytes for any thread count or chunking.
//!
//! A row's JSON-lines form: `{"query":NAME,"window_start":…,"window_end":…,"final":…,
//! "revision":…, <column>: value, …}`, times in RFC 3339 as the seed's results, counts as
//! integers, a DOUBLE that is NULL (or not finite) as `null`.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};

use crate::query::agg::Acc;
use crate::query::groups::{Group, Groups};
use crate::query::plan::{AggFunc, OutLeaf, Plan};
use crate::query::value::{compare_cells, decode_key, Cell, V};
use crate::reading::EventTime;

/// Names a row's header takes: no column may have them.
pub const HEADER: [&str; 5] = ["query", "window_start", "window_end", "final", "revision"];

/// One query's result for one window (or processing-time batch).
#[derive(Clone, Debug, PartialEq)]
pub struct Emission {
    /// The query's name.
    pub query: Arc<str>,
    /// Inclusive start.
    pub window_start: EventTime,
    /// Exclusive end.
    pub window_end: EventTime,
    /// False for an early, partial result of an open window.
    pub is_final: bool,
    /// 0 for a window's first final result; each update by late readings adds one.
    pub revision: u32,
    /// Column names, in `SELECT` order.
    pub columns: Arc<[String]>,
    /// The rows, each a cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// Each row's group key, a cell per `GROUP BY` field (empty without keys): what identifies
    /// the row within its window, selected or not (store tables and topic keys use it).
    pub keys: Vec<Vec<Cell>>,
}

impl Emission {
    /// Appends one JSON line per row to `out`.
    pub fn write_jsonl(&self, out: &mut Vec<u8>) {
        for row in &self.rows {
            let mut serializer = serde_json::Serializer::new(&mut *out);
            // Writing to a Vec cannot fail, and every value here serialises.
            let _ = self.write_row(&mut serializer, row);
            out.push(b'\n');
        }
    }

    fn write_row<S: Serializer>(&self, serializer: S, row: &[Cell]) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(HEADER.len() + row.len()))?;
        map.serialize_entry("query", &*self.query)?;
        map.serialize_entry("window_start", &self.window_start)?;
        map.serialize_entry("window_end", &self.window_end)?;
        map.serialize_entry("final", &self.is_final)?;
        map.serialize_entry("revision", &self.revision)?;
        for (name, cell) in self.columns.iter().zip(row) {
            map.serialize_entry(name, cell)?;
        }
        map.end()
    }

    /// A console table: a heading line, the column names, a rule, a line per row.
    pub fn console_table(&self) -> String {
        let cells: Vec<Vec<String>> =
            self.rows.iter().map(|row| row.iter().map(ToString::to_string).collect()).collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.columns[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |values: &mut dyn Iterator<Item = &str>| {
            let padded: Vec<String> = values.zip(&widths).map(|(v, &w)| format!("{v:<w$}")).collect();
            padded.join(" | ").trim_end().to_owned()
        };
        let mut text = String::new();
        let kind = if self.is_final { "final" } else { "partial" };
        let revision =
            if self.revision > 0 { format!(", revision {}", self.revision) } else { String::new() };
        let _ = writeln!(
            text,
            "query {}: {} .. {} ({kind}{revision})",
            self.query, self.window_start, self.window_end
        );
        let _ = writeln!(text, "{}", line(&mut self.columns.iter().map(String::as_str)));
        let _ = writeln!(text, "{}", widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>().join("-+-"));
        for row in &cells {
            let _ = writeln!(text, "{}", line(&mut row.iter().map(String::as_str)));
        }
        text
    }
}

/// The rows of one window's groups under `plan`, each with its group key; `global`: a query
/// without group keys gives one row even when nothing was counted (processing-time batches, as
/// SQL over an empty table).
pub(crate) fn rows(plan: &Plan, groups: &Groups, global: bool) -> (Vec<Vec<Cell>>, Vec<Vec<Cell>>) {
    let mut rows: Vec<(Vec<Cell>, Vec<Cell>)> = groups.iter().filter_map(|g| row(plan, g)).collect();
    if rows.is_empty() && global && plan.keys.is_empty() {
        let accs = plan.states.iter().map(|s| Acc::new(s.kind)).collect();
        let empty = Group { key: Box::new([]), rows: 0, accs };
        rows.extend(row(plan, &empty));
    }
    rows.sort_by(|(a_key, a), (b_key, b)| {
        let ordered = plan.order.iter().map(|o| {
            let (x, y) = (&a[o.column], &b[o.column]);
            match (is_null(x), is_null(y)) {
                (true, true) => Ordering::Equal,
                (true, false) => {
                    if o.nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (false, true) => {
                    if o.nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (false, false) if o.descending => compare_cells(y, x),
                (false, false) => compare_cells(x, y),
            }
        });
        let by_key = a_key.iter().zip(b_key).map(|(x, y)| compare_cells(x, y));
        ordered.chain(by_key).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    });
    rows.into_iter().map(|(key, row)| (row, key)).unzip()
}

fn is_null(cell: &Cell) -> bool {
    cell.as_v() == V::Null
}

/// One group's key cells and output row, unless `HAVING` leaves it out.
fn row(plan: &Plan, group: &Group) -> Option<(Vec<Cell>, Vec<Cell>)> {
    let keys = decode_key(&group.key);
    let aggregates: Vec<Cell> =
        plan.aggregates.iter().map(|a| finish(a.func, &group.accs[a.state])).collect();
    let leaf = |leaf: &OutLeaf| {
        Ok(match leaf {
            OutLeaf::Key(i) => keys.get(*i).map_or(V::Null, Cell::as_v),
            OutLeaf::Agg(i) => aggregates.get(*i).map_or(V::Null, Cell::as_v),
        })
    };
    if let Some((having, _)) = &plan.having {
        // Over a group a type error makes the condition NULL: not true.
        if !having.holds(&leaf).unwrap_or(false) {
            return None;
        }
    }
    let cells = plan.columns.iter().map(|c| c.expr.eval(&leaf).map_or(Cell::Null, Cell::from_v)).collect();
    Some((keys, cells))
}

/// An aggregate's value from its state.
fn finish(func: AggFunc, acc: &Acc) -> Cell {
    let double = |x: Option<f64>| x.map_or(Cell::Null, Cell::Double);
    match (func, acc) {
        (AggFunc::CountStar | AggFunc::Count, Acc::Count(n)) => Cell::Int(*n as i64),
        (AggFunc::Sum, Acc::Sum(n, sum)) => double((*n > 0).then(|| sum.to_f64())),
        (AggFunc::Avg, Acc::Sum(n, sum)) => double((*n > 0).then(|| sum.to_f64() / *n as f64)),
        (AggFunc::Min, Acc::Min(m)) | (AggFunc::Max, Acc::Max(m)) => double(*m),
        (AggFunc::Stddev, Acc::Spread(spread)) => double(spread.sample_stddev()),
        (AggFunc::CountDistinct, Acc::Distinct(set)) => Cell::Int(set.len() as i64),
        (AggFunc::Percentile(q), Acc::Sketch(sketch)) => double(sketch.quantile(q)),
        _ => Cell::Null,
    }
}
