//! A bound query: the engine's own operators for one query's SQL — the fields it reads, its
//! filter, group keys, aggregate states, output columns, `HAVING`, row order and window — and
//! how it describes itself (`iotstream query check`).

use std::fmt;

use crate::query::agg::StateKind;
use crate::query::expr::Expr;
use crate::query::extract::FieldPath;

/// An expression over one reading; leaves are indexes into [`Plan::fields`] (until a
/// [`crate::query::QuerySet`] turns them into its extractor's slots).
pub type RowExpr = Expr<usize>;

/// A leaf of an expression over one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutLeaf {
    /// Group key number i.
    Key(usize),
    /// Aggregate number i.
    Agg(usize),
}

/// An expression over one group (output columns, `HAVING`).
pub type OutExpr = Expr<OutLeaf>;

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AggFunc {
    /// `count(*)`
    CountStar,
    /// `count(x)`
    Count,
    /// `count(DISTINCT x)`
    CountDistinct,
    /// `sum(x)`
    Sum,
    /// `avg(x)`
    Avg,
    /// `min(x)`
    Min,
    /// `max(x)`
    Max,
    /// `stddev(x)`: the sample standard deviation.
    Stddev,
    /// `approx_percentile(x, q)`
    Percentile(f64),
}

impl AggFunc {
    /// The state it reads.
    pub fn kind(self) -> StateKind {
        match self {
            AggFunc::CountStar | AggFunc::Count => StateKind::Count,
            AggFunc::CountDistinct => StateKind::Distinct,
            AggFunc::Sum | AggFunc::Avg => StateKind::Sum,
            AggFunc::Min => StateKind::Min,
            AggFunc::Max => StateKind::Max,
            AggFunc::Stddev => StateKind::Spread,
            AggFunc::Percentile(_) => StateKind::Sketch,
        }
    }
}

/// What a group keeps for one or more aggregates over the same argument.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// What is kept.
    pub kind: StateKind,
    /// Its argument (`None`: `count(*)`).
    pub arg: Option<RowExpr>,
}

/// One aggregate of the query.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// The function.
    pub func: AggFunc,
    /// The state it is computed from (an index into [`Plan::states`]).
    pub state: usize,
    /// As written.
    pub text: String,
}

/// The window a query's groups are cut by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// None in the query: the run's (processing-time batches, or its event-time windows).
    Run,
    /// `tumble(interval)`: tumbling windows of `size` µs.
    Tumble {
        /// Length (µs).
        size: i64,
    },
    /// `hop(slide, size)`: windows of `size` µs starting every `slide` µs.
    Hop {
        /// Distance between starts (µs).
        slide: i64,
        /// Length (µs).
        size: i64,
    },
}

/// A group key.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The field (an index into [`Plan::fields`]).
    pub field: usize,
    /// Its column name (the path's last key, or its alias).
    pub name: String,
}

/// An output column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Its name (alias, last key of a grouped field, or the expression as written).
    pub name: String,
    /// Its value per group.
    pub expr: OutExpr,
}

/// One `ORDER BY` term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// The output column.
    pub column: usize,
    /// `DESC`.
    pub descending: bool,
    /// Where NULLs go (by default last ascending, first descending, as in PostgreSQL).
    pub nulls_first: bool,
}

/// One query, bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The query's name.
    pub name: String,
    /// Its SQL, normalised (the parser's rendering): what a checkpoint's fingerprint holds.
    pub sql: String,
    /// Every field it reads, once each.
    pub fields: Vec<FieldPath>,
    /// The run's event-time field, when the run is on event time.
    pub time_field: Option<FieldPath>,
    /// Its window.
    pub window: Window,
    /// `WHERE`, and as written.
    pub filter: Option<(RowExpr, String)>,
    /// `GROUP BY` fields.
    pub keys: Vec<Key>,
    /// Aggregate states.
    pub states: Vec<State>,
    /// Aggregates.
    pub aggregates: Vec<Aggregate>,
    /// Output columns, in `SELECT` order.
    pub columns: Vec<Column>,
    /// `HAVING`, and as written.
    pub having: Option<(OutExpr, String)>,
    /// `ORDER BY` (empty: by group key ascending, NULL first).
    pub order: Vec<Order>,
}

/// An output column's SQL type, as far as the plan decides it (what a store table declares).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// BIGINT: counts, integer literals and `+ - *` of them (DuckDB's rule: a result beyond
    /// 64 bits becomes DOUBLE, which a BIGINT column cannot hold).
    Bigint,
    /// DOUBLE: every other aggregate, `/`, arithmetic with a DOUBLE.
    Double,
    /// BOOLEAN: conditions.
    Boolean,
    /// VARCHAR: a string literal.
    Varchar,
    /// Whatever the data holds: a group key (a JSON field of any type), `NULL`.
    Any,
}

impl Plan {
    /// Each output column's type, in `SELECT` order.
    pub fn column_types(&self) -> Vec<ColumnType> {
        self.columns.iter().map(|c| self.type_of(&c.expr)).collect()
    }

    /// The group key output column `column` is, if it is one as it stands.
    pub fn key_of_column(&self, column: usize) -> Option<usize> {
        match self.columns.get(column).map(|c| &c.expr) {
            Some(Expr::Leaf(OutLeaf::Key(k))) => Some(*k),
            _ => None,
        }
    }

    fn type_of(&self, expr: &OutExpr) -> ColumnType {
        use crate::query::expr::{Arith, Lit};
        match expr {
            Expr::Leaf(OutLeaf::Key(_)) | Expr::Lit(Lit::Null) => ColumnType::Any,
            Expr::Leaf(OutLeaf::Agg(i)) => match self.aggregates.get(*i).map(|a| a.func) {
                Some(AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct) => ColumnType::Bigint,
                _ => ColumnType::Double,
            },
            Expr::Lit(Lit::Bool(_)) => ColumnType::Boolean,
            Expr::Lit(Lit::Int(_)) => ColumnType::Bigint,
            Expr::Lit(Lit::Num(_)) => ColumnType::Double,
            Expr::Lit(Lit::Str(_)) => ColumnType::Varchar,
            Expr::Neg(e) if self.type_of(e) == ColumnType::Bigint => ColumnType::Bigint,
            Expr::Arith(op, a, b)
                if *op != Arith::Div
                    && self.type_of(a) == ColumnType::Bigint
                    && self.type_of(b) == ColumnType::Bigint =>
            {
                ColumnType::Bigint
            }
            Expr::Neg(_) | Expr::Arith(..) => ColumnType::Double,
            Expr::Cmp(..)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Not(_)
            | Expr::IsNull(..)
            | Expr::In(..)
            | Expr::Like(..) => ColumnType::Boolean,
        }
    }
}

/// A duration in µs as the shortest exact unit: `1m`, `10s`, `500ms`, `250us`.
pub fn duration_text(micros: i64) -> String {
    const UNITS: [(i64, &str); 5] =
        [(86_400_000_000, "d"), (3_600_000_000, "h"), (60_000_000, "m"), (1_000_000, "s"), (1_000, "ms")];
    if micros == 0 {
        return "0s".to_owned();
    }
    match UNITS.iter().find(|(unit, _)| micros % unit == 0) {
        Some((unit, name)) => format!("{}{name}", micros / unit),
        None => format!("{micros}us"),
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Run => {
                f.write_str("the run's (--window: processing-time batches, or event-time windows)")
            }
            Window::Tumble { size } => write!(f, "tumbling, {}", duration_text(*size)),
            Window::Hop { slide, size } => {
                write!(f, "sliding, {} every {}", duration_text(*size), duration_text(*slide))
            }
        }
    }
}

/// What `iotstream query check` prints.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: Vec<String>| if items.is_empty() { "(none)".to_owned() } else { items.join(", ") };
        writeln!(f, "query {}", self.name)?;
        writeln!(f, "  sql:        {}", self.sql)?;
        writeln!(f, "  reads:      {}", list(self.fields.iter().map(ToString::to_string).collect()))?;
        let time =
            self.time_field.as_ref().map_or("processing time".to_owned(), |t| format!("event time ({t})"));
        writeln!(f, "  time:       {time}")?;
        writeln!(f, "  window:     {}", self.window)?;
        writeln!(f, "  filter:     {}", self.filter.as_ref().map_or("(none)", |(_, text)| text))?;
        let keys = self.keys.iter().map(|k| format!("{} AS {}", self.fields[k.field], k.name)).collect();
        writeln!(f, "  groups:     {}", list(keys))?;
        writeln!(f, "  aggregates: {}", list(self.aggregates.iter().map(|a| a.text.clone()).collect()))?;
        writeln!(f, "  having:     {}", self.having.as_ref().map_or("(none)", |(_, text)| text))?;
        writeln!(f, "  columns:    {}", list(self.columns.iter().map(|c| c.name.clone()).collect()))?;
        let order = self.order.iter().map(|o| {
            let direction = if o.descending { "DESC" } else { "ASC" };
            let nulls = if o.nulls_first { "NULLS FIRST" } else { "NULLS LAST" };
            format!("{} {direction} {nulls}", self.columns[o.column].name)
        });
        let order =
            if self.order.is_empty() { "group keys, NULL first".to_owned() } else { list(order.collect()) };
        write!(f, "  row order:  {order}")
    }
}
