//! Random queries from the supported grammar, as a structure of the test's own, written out
//! twice: as the engine's SQL, and — independently, with explicit types — as DuckDB SQL over
//! the raw JSON lines. The DuckDB side spells out what the engine's semantics mean in plain SQL:
//! a field read as a type it does not hold rejects the reading for the query (`wrong_type`), a
//! number beyond the doubles anywhere it is used (`non_finite`), an aggregate argument of 2⁶⁴
//! or more in a sum (`out_of_range`); windows by arithmetic on epoch microseconds.

use crate::data::Rng;

/// The fields queries read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Guid,
    State,
    Format,
    Temperature,
    Humidity,
    Co2,
    Level,
    Ok,
    Unit,
    Battery,
}

use Field::*;

const FIELDS: [Field; 10] = [Guid, State, Format, Temperature, Humidity, Co2, Level, Ok, Unit, Battery];
const NUMBERS: [Field; 5] = [Temperature, Humidity, Co2, Level, Battery];
const KEYS: [Field; 7] = [State, Format, Guid, Level, Ok, Unit, Temperature];

impl Field {
    fn sql(self) -> &'static str {
        match self {
            Guid => "guid",
            State => "state",
            Format => "payload.format",
            Temperature => "payload.data.temperature",
            Humidity => "payload.data.humidity",
            Co2 => "payload.data.\"co2-ppm\"",
            Level => "payload.data.level",
            Ok => "payload.data.ok",
            Unit => "payload.data.unit",
            Battery => "payload.battery",
        }
    }

    fn json_path(self) -> String {
        format!("$.{}", self.sql())
    }

    /// The DuckDB column prefix.
    fn col(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

/// How a query uses a field (what type it must hold).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Use {
    Number,
    Text,
    Boolean,
    Key,
    Any,
}

#[derive(Clone, Debug)]
pub enum Num {
    Field(Field),
    Int(i64),
    Neg(Box<Num>),
    Bin(&'static str, Box<Num>, Box<Num>),
}

#[derive(Clone, Debug)]
pub enum Pred {
    Cmp(Num, &'static str, f64),
    Between(Num, i64, i64),
    TextEq(Field, &'static str),
    TextIn(Field, Vec<&'static str>),
    Like(Field, &'static str, bool),
    IsNull(Field, bool),
    Bool(Field),
    Not(Box<Pred>),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
}

#[derive(Clone, Debug)]
pub enum Agg {
    CountStar,
    Count(Field),
    CountDistinct(Field),
    Sum(Num),
    Avg(Num),
    Min(Num),
    Max(Num),
    Stddev(Num),
    Percentile(Num, f64),
}

impl Agg {
    pub fn is_percentile(&self) -> bool {
        matches!(self, Agg::Percentile(..))
    }
}

/// What an output column computes: an aggregate, or the difference of two.
#[derive(Clone, Debug)]
pub enum Out {
    Agg(usize),
    Diff(usize, usize),
}

#[derive(Clone, Debug)]
pub struct Query {
    pub keys: Vec<Field>,
    /// (slide, size) in seconds; slide == size is tumbling.
    pub window: (i64, i64),
    pub table_form: bool,
    pub aggs: Vec<Agg>,
    pub outs: Vec<Out>,
    pub filter: Option<Pred>,
    pub having: Option<(usize, &'static str, i64)>,
}

pub fn query(rng: &mut Rng) -> Query {
    let mut keys = Vec::new();
    for _ in 0..rng.below(3) {
        let key = rng.pick(&KEYS);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let window = match rng.below(4) {
        0 => (10, 30),
        1 => (20, 60),
        2 => (30, 30),
        _ => (60, 60),
    };
    let aggs: Vec<Agg> = (0..1 + rng.below(4)).map(|_| agg(rng)).collect();
    let mut outs: Vec<Out> = (0..aggs.len()).map(Out::Agg).collect();
    let exact: Vec<usize> =
        (0..aggs.len()).filter(|&i| !aggs[i].is_percentile() && !is_distinct(&aggs[i])).collect();
    if exact.len() >= 2 && rng.chance(40) {
        outs.push(Out::Diff(exact[0], exact[1]));
    }
    let filter = rng.chance(60).then(|| pred(rng, 2));
    let having = rng.chance(30).then(|| {
        (rng.below(aggs.len() as u64) as usize, rng.pick(&[">", ">=", "<", "<>"]), rng.below(4) as i64)
    });
    Query { keys, window, table_form: rng.chance(30), aggs, outs, filter, having }
}

fn is_distinct(agg: &Agg) -> bool {
    matches!(agg, Agg::CountDistinct(_))
}

fn num(rng: &mut Rng, depth: u32) -> Num {
    match rng.below(if depth == 0 { 2 } else { 5 }) {
        0 | 1 => Num::Field(rng.pick(&NUMBERS)),
        2 => Num::Bin(
            rng.pick(&["+", "-", "*"]),
            Box::new(num(rng, depth - 1)),
            Box::new(Num::Int(1 + rng.below(40) as i64)),
        ),
        3 => Num::Bin("/", Box::new(num(rng, depth - 1)), Box::new(Num::Int(1 + rng.below(9) as i64))),
        _ => Num::Neg(Box::new(num(rng, depth - 1))),
    }
}

fn agg(rng: &mut Rng) -> Agg {
    match rng.below(9) {
        0 => Agg::CountStar,
        1 => Agg::Count(rng.pick(&FIELDS)),
        2 => Agg::CountDistinct(rng.pick(&[Guid, State, Level, Ok, Format])),
        3 => Agg::Sum(num(rng, 1)),
        4 => Agg::Avg(num(rng, 2)),
        5 => Agg::Min(num(rng, 1)),
        6 => Agg::Max(num(rng, 1)),
        7 => Agg::Stddev(num(rng, 1)),
        _ => Agg::Percentile(num(rng, 1), rng.pick(&[0.0, 0.1, 0.5, 0.9, 0.95, 1.0])),
    }
}

fn pred(rng: &mut Rng, depth: u32) -> Pred {
    match rng.below(if depth == 0 { 7 } else { 10 }) {
        0 => Pred::Cmp(
            num(rng, 1),
            rng.pick(&[">", "<", ">=", "<=", "=", "<>"]),
            rng.pick(&[0.0, 20.5, 50.0, 500.0]),
        ),
        1 => Pred::Between(num(rng, 0), 10, 60),
        2 if rng.chance(50) => Pred::TextEq(State, rng.pick(&["CA", "NY"])),
        2 => Pred::TextEq(Unit, rng.pick(&["F", "C"])),
        3 => Pred::TextIn(rng.pick(&[State, Format]), vec!["CA", "TX", "urn:air"]),
        4 => Pred::Like(
            rng.pick(&[Guid, Format, State]),
            rng.pick(&["dev-1%", "urn:%r", "_A", "%"]),
            rng.chance(30),
        ),
        5 => Pred::IsNull(rng.pick(&FIELDS), rng.chance(50)),
        6 => Pred::Bool(Ok),
        7 => Pred::Not(Box::new(pred(rng, depth - 1))),
        8 => Pred::And(Box::new(pred(rng, depth - 1)), Box::new(pred(rng, depth - 1))),
        _ => Pred::Or(Box::new(pred(rng, depth - 1)), Box::new(pred(rng, depth - 1))),
    }
}

// ---- the engine's SQL ----

fn num_sql(n: &Num, field: &dyn Fn(Field) -> String) -> String {
    match n {
        Num::Field(f) => field(*f),
        Num::Int(i) => i.to_string(),
        Num::Neg(inner) => format!("-({})", num_sql(inner, field)),
        Num::Bin(op, a, b) => format!("({} {op} {})", num_sql(a, field), num_sql(b, field)),
    }
}

/// A condition in the engine's SQL (`duck`: false) or DuckDB's over typed columns.
fn pred_sql(p: &Pred, duck: bool) -> String {
    let sub = |p: &Pred| pred_sql(p, duck);
    let num = |n: &Num| {
        if duck {
            num_sql(n, &|f| format!("{}_num", f.col()))
        } else {
            num_sql(n, &|f| f.sql().into())
        }
    };
    let text = |f: Field| if duck { format!("{}_str", f.col()) } else { f.sql().to_string() };
    let not = |negated: bool| if negated { "NOT " } else { "" };
    match p {
        Pred::Cmp(n, op, c) => format!("{} {op} {c}", num(n)),
        Pred::Between(n, lo, hi) => format!("{} BETWEEN {lo} AND {hi}", num(n)),
        Pred::TextEq(f, s) => format!("{} = '{s}'", text(*f)),
        Pred::TextIn(f, list) => {
            let items: Vec<String> = list.iter().map(|s| format!("'{s}'")).collect();
            format!("{} IN ({})", text(*f), items.join(", "))
        }
        Pred::Like(f, pattern, negated) => format!("{} {}LIKE '{pattern}'", text(*f), not(*negated)),
        Pred::IsNull(f, negated) if duck => {
            let t = format!("{}_type", f.col());
            format!("{}({t} IS NULL OR {t} = 'NULL')", not(*negated))
        }
        Pred::IsNull(f, negated) => format!("{} IS {}NULL", f.sql(), not(*negated)),
        Pred::Bool(f) if duck => format!("{}_bool", f.col()),
        Pred::Bool(f) => f.sql().to_string(),
        Pred::Not(inner) => format!("NOT ({})", sub(inner)),
        Pred::And(a, b) => format!("({}) AND ({})", sub(a), sub(b)),
        Pred::Or(a, b) => format!("({}) OR ({})", sub(a), sub(b)),
    }
}

fn agg_sql(a: &Agg, num: &dyn Fn(&Num) -> String) -> String {
    match a {
        Agg::CountStar => "count(*)".into(),
        Agg::Count(f) => format!("count({})", f.sql()),
        Agg::CountDistinct(f) => format!("count(DISTINCT {})", f.sql()),
        Agg::Sum(n) => format!("sum({})", num(n)),
        Agg::Avg(n) => format!("avg({})", num(n)),
        Agg::Min(n) => format!("min({})", num(n)),
        Agg::Max(n) => format!("max({})", num(n)),
        Agg::Stddev(n) => format!("stddev({})", num(n)),
        Agg::Percentile(n, q) => format!("approx_percentile({}, {q:?})", num(n)),
    }
}

fn interval(seconds: i64) -> String {
    format!("interval '{seconds} seconds'")
}

impl Query {
    /// Output columns: `k0…` keys, `c0…` values.
    pub fn engine_sql(&self) -> String {
        let num = |n: &Num| num_sql(n, &|f| f.sql().to_string());
        let (slide, size) = self.window;
        let window_fn = if slide == size {
            format!("tumble({})", interval(size))
        } else {
            format!("hop({}, {})", interval(slide), interval(size))
        };
        let mut select: Vec<String> = Vec::new();
        let mut group: Vec<String> = Vec::new();
        let from = if self.table_form {
            select.push("window_start".into());
            group.push("window_start".into());
            let args = if slide == size {
                interval(size)
            } else {
                format!("{}, {}", interval(slide), interval(size))
            };
            format!("{}(readings, eventTime, {args})", if slide == size { "tumble" } else { "hop" })
        } else {
            select.push(format!("{window_fn} AS w"));
            group.push("w".into());
            "readings".into()
        };
        for (i, key) in self.keys.iter().enumerate() {
            select.push(format!("{} AS k{i}", key.sql()));
            group.push(if i % 2 == 0 { format!("k{i}") } else { key.sql().to_string() });
        }
        let aggs: Vec<String> = self.aggs.iter().map(|a| agg_sql(a, &num)).collect();
        for (i, out) in self.outs.iter().enumerate() {
            select.push(match out {
                Out::Agg(a) => format!("{} AS c{i}", aggs[*a]),
                Out::Diff(a, b) => format!("{} - {} AS c{i}", aggs[*a], aggs[*b]),
            });
        }
        let mut sql = format!("SELECT {} FROM {from}", select.join(", "));
        if let Some(filter) = &self.filter {
            sql += &format!(" WHERE {}", pred_sql(filter, false));
        }
        sql += &format!(" GROUP BY {}", group.join(", "));
        if let Some((a, op, c)) = self.having {
            sql += &format!(" HAVING {} {op} {c}", aggs[a]);
        }
        sql
    }

    /// The same question over `file` in DuckDB: rows of window start (µs), each key as (class,
    /// number, text, boolean), then each output column.
    pub fn duckdb_sql(&self, file: &str) -> String {
        let mut uses: Vec<(Field, Use)> = self.keys.iter().map(|&k| (k, Use::Key)).collect();
        let mut ranged: Vec<String> = Vec::new();
        let num = |n: &Num| num_sql(n, &|f| format!("{}_num", f.col()));
        let note_num = |n: &Num, uses: &mut Vec<(Field, Use)>| collect_num(n, uses);
        for agg in &self.aggs {
            match agg {
                Agg::CountStar => {}
                Agg::Count(f) => uses.push((*f, Use::Any)),
                Agg::CountDistinct(f) => uses.push((*f, Use::Key)),
                Agg::Min(n) | Agg::Max(n) => note_num(n, &mut uses),
                Agg::Sum(n) | Agg::Avg(n) | Agg::Stddev(n) | Agg::Percentile(n, _) => {
                    note_num(n, &mut uses);
                    ranged.push(num(n));
                }
            }
        }
        if let Some(filter) = &self.filter {
            collect_pred(filter, &mut uses);
        }
        let bad = bad_sql(&uses, &ranged);
        let filter = self.filter.as_ref().map_or("true".to_string(), |p| pred_sql(p, true));
        let aggs: Vec<String> = self.aggs.iter().map(|a| duck_agg(a, &num)).collect();
        let mut select = vec!["ws".to_string()];
        let mut group = vec!["ws".to_string()];
        for key in &self.keys {
            let c = key.col();
            for part in [format!("{c}_class"), format!("{c}_num"), format!("{c}_str"), format!("{c}_bool")] {
                select.push(part.clone());
                group.push(part);
            }
        }
        for out in &self.outs {
            select.push(match out {
                Out::Agg(a) => aggs[*a].clone(),
                Out::Diff(a, b) => format!("{} - {}", aggs[*a], aggs[*b]),
            });
        }
        let having = self.having.map_or(String::new(), |(a, op, c)| format!(" HAVING {} {op} {c}", aggs[a]));
        format!(
            "WITH raw AS (SELECT json AS j FROM read_json_objects('{file}', format = 'newline_delimited')), \
             base AS (SELECT {columns} FROM raw), win AS ({window}) \
             SELECT {select} FROM win WHERE NOT ({bad}) AND ({filter}) GROUP BY {group}{having}",
            columns = base_columns(),
            window = window_sql(self.window),
            select = select.join(", "),
            group = group.join(", "),
        )
    }
}

fn collect_num(n: &Num, uses: &mut Vec<(Field, Use)>) {
    match n {
        Num::Field(f) => uses.push((*f, Use::Number)),
        Num::Int(_) => {}
        Num::Neg(inner) => collect_num(inner, uses),
        Num::Bin(_, a, b) => {
            collect_num(a, uses);
            collect_num(b, uses);
        }
    }
}

fn collect_pred(p: &Pred, uses: &mut Vec<(Field, Use)>) {
    match p {
        Pred::Cmp(n, ..) | Pred::Between(n, ..) => collect_num(n, uses),
        Pred::TextEq(f, _) | Pred::TextIn(f, _) | Pred::Like(f, ..) => uses.push((*f, Use::Text)),
        Pred::IsNull(f, _) => uses.push((*f, Use::Any)),
        Pred::Bool(f) => uses.push((*f, Use::Boolean)),
        Pred::Not(inner) => collect_pred(inner, uses),
        Pred::And(a, b) | Pred::Or(a, b) => {
            collect_pred(a, uses);
            collect_pred(b, uses);
        }
    }
}

/// When the engine rejects a reading for the query: a type that does not fit a use, a number
/// beyond the doubles in any field the query reads, a summed argument of 2⁶⁴ or more.
fn bad_sql(uses: &[(Field, Use)], ranged: &[String]) -> String {
    let mut conditions: Vec<String> = Vec::new();
    for &(f, u) in uses {
        let t = format!("{}_type", f.col());
        let fits = match u {
            Use::Number => "('NULL', 'DOUBLE', 'BIGINT', 'UBIGINT')",
            Use::Text => "('NULL', 'VARCHAR')",
            Use::Boolean => "('NULL', 'BOOLEAN')",
            Use::Key => "('NULL', 'DOUBLE', 'BIGINT', 'UBIGINT', 'VARCHAR', 'BOOLEAN')",
            Use::Any => "",
        };
        if !fits.is_empty() {
            conditions.push(format!("coalesce({t} NOT IN {fits}, false)"));
        }
        conditions.push(format!("coalesce(isinf({}_num), false)", f.col()));
    }
    for arg in ranged {
        conditions.push(format!("coalesce(abs({arg}) >= 18446744073709551616.0, false)"));
    }
    if conditions.is_empty() {
        "false".into()
    } else {
        conditions.join(" OR ")
    }
}

fn duck_agg(a: &Agg, num: &dyn Fn(&Num) -> String) -> String {
    match a {
        Agg::CountStar => "count(*)".into(),
        Agg::Count(f) => {
            format!("count(CASE WHEN {0}_type IS NOT NULL AND {0}_type <> 'NULL' THEN 1 END)", f.col())
        }
        Agg::CountDistinct(f) => {
            let c = f.col();
            format!(
                "count(DISTINCT CASE WHEN {c}_class IS NOT NULL THEN {c}_class || ':' || \
                 coalesce(CAST({c}_num AS VARCHAR), {c}_str, CAST({c}_bool AS VARCHAR)) END)"
            )
        }
        Agg::Sum(n) => format!("sum({})", num(n)),
        Agg::Avg(n) => format!("avg({})", num(n)),
        Agg::Min(n) => format!("min({})", num(n)),
        Agg::Max(n) => format!("max({})", num(n)),
        Agg::Stddev(n) => format!("stddev_samp({})", num(n)),
        Agg::Percentile(n, q) => format!("quantile_disc({}, {q:?})", num(n)),
    }
}

/// Every field typed four ways, and the event time in µs.
fn base_columns() -> String {
    let mut columns =
        vec!["epoch_us(CAST(json_extract_string(j, '$.eventTime') AS TIMESTAMPTZ)) AS t".to_string()];
    for f in FIELDS {
        let (c, path) = (f.col(), f.json_path());
        let value = format!("json_extract(j, '{path}')");
        let t = format!("json_type({value})");
        columns.push(format!("{t} AS {c}_type"));
        columns.push(format!(
            "CASE WHEN {t} IN ('DOUBLE', 'BIGINT', 'UBIGINT') THEN CAST({value} AS DOUBLE) END AS {c}_num"
        ));
        columns
            .push(format!("CASE WHEN {t} = 'VARCHAR' THEN json_extract_string(j, '{path}') END AS {c}_str"));
        columns.push(format!("CASE WHEN {t} = 'BOOLEAN' THEN CAST({value} AS BOOLEAN) END AS {c}_bool"));
        columns.push(format!(
            "CASE WHEN {t} IN ('DOUBLE', 'BIGINT', 'UBIGINT') THEN 'n' WHEN {t} = 'VARCHAR' THEN 's' \
             WHEN {t} = 'BOOLEAN' THEN 'b' END AS {c}_class"
        ));
    }
    columns.join(", ")
}

/// Each reading once per window over it: window starts by arithmetic on µs.
fn window_sql((slide, size): (i64, i64)) -> String {
    let (slide, size) = (slide * 1_000_000, size * 1_000_000);
    let per_reading = (size + slide - 1) / slide;
    format!(
        "SELECT base.*, (t - t % {slide}) - k * {slide} AS ws FROM base, range(0, {per_reading}) r(k) \
         WHERE (t - t % {slide}) - k * {slide} + {size} > t"
    )
}
