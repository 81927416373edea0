//! SQL queries on the command line: `--query NAME=SQL` (repeatable; `[[query]]` tables of a
//! config file become these flags), `--time-field` and `--max-groups`, shared by `analyze` and
//! `demo`; and the flags of `iotstream query check`.
//!
//! Values are only split here; what a query means is checked by the run plan with every other
//! flag, so that every problem is reported at once (and `query check` prints it).

use clap::Args;
use iotstream_engine::query::FieldPath;

/// A query as given: its name and SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedQuery {
    /// The name (outputs, tables and metrics carry it).
    pub name: String,
    /// The `SELECT`.
    pub sql: String,
}

impl NamedQuery {
    /// `NAME=SQL`, split at the first `=` (the name is checked with the query).
    pub fn parse(text: &str) -> Result<NamedQuery, String> {
        match text.split_once('=') {
            Some((name, sql)) if !name.trim().is_empty() => {
                Ok(NamedQuery { name: name.trim().to_owned(), sql: sql.to_owned() })
            }
            _ => Err("expected NAME=SQL, e.g. hot=\"SELECT state, max(payload.data.temperature) AS t FROM readings GROUP BY state\"".into()),
        }
    }
}

/// `--query`, `--time-field`, `--max-groups`: shared by `analyze` and `demo`.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Queries")]
pub struct QueryArgs {
    /// A SQL query over the stream `readings`, as NAME=SQL (repeatable; every query shares one
    /// read and parse of each message). Its rows replace the seed's analyses in every output.
    /// A query with a window (tumble, hop) runs on event time unless --time says otherwise.
    /// Grammar, semantics and a cookbook: docs/QUERIES.md; `iotstream query check` prints a plan.
    #[arg(long = "query", value_name = "NAME=SQL", value_parser = NamedQuery::parse)]
    pub queries: Vec<NamedQuery>,
    /// Event time of queries: the field holding each reading's RFC 3339 time, as a path
    /// (payload.ts, "odd key"; default eventTime).
    #[arg(long, value_name = "PATH", value_parser = parse_field_path)]
    pub time_field: Option<FieldPath>,
    /// At most this many groups per query and window slice (0: no limit): a reading whose group
    /// would be one more is rejected for that query (too_many_groups), never an out-of-memory.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_groups: u32,
}

impl QueryArgs {
    /// The queries as (name, SQL) pairs.
    pub fn named(&self) -> Vec<(String, String)> {
        self.queries.iter().map(|q| (q.name.clone(), q.sql.clone())).collect()
    }

    /// The event-time field queries read (`eventTime` unless `--time-field` names another).
    pub fn time_field(&self) -> FieldPath {
        self.time_field.clone().unwrap_or_else(|| FieldPath::new(["eventTime"]))
    }

    /// What is wrong with these flags on their own: query settings without a query.
    pub fn check(&self) -> Result<(), String> {
        let without = [("--time-field", self.time_field.is_some()), ("--max-groups", self.max_groups > 0)];
        let misused: Vec<&str> = without.iter().filter(|(_, given)| *given).map(|(flag, _)| *flag).collect();
        match (self.queries.is_empty(), misused.as_slice()) {
            (true, [one]) => Err(format!("{one} applies only with --query")),
            (true, [_, ..]) => Err(format!("{} apply only with --query", misused.join(", "))),
            _ => Ok(()),
        }
    }
}

/// A field path as a flag gives it: keys separated by dots, a key with dots or other odd
/// characters in double quotes (`payload."co2.ppm"`, `""` for a quote inside).
pub fn parse_field_path(text: &str) -> Result<FieldPath, String> {
    let mut keys = Vec::new();
    let mut key = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if key.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                key.push('"');
            }
            ('"', true) => quoted = false,
            ('.', false) => keys.push(std::mem::take(&mut key)),
            (c, _) => key.push(c),
        }
    }
    keys.push(key);
    if quoted || keys.iter().any(String::is_empty) {
        return Err(
            "not a field path: keys separated by dots, odd keys in double quotes (payload.\"t-s\")".into()
        );
    }
    Ok(FieldPath::new(keys))
}

/// `iotstream query check`: a query's plan, or its refusal.
#[derive(Debug, Args)]
pub struct QueryCheckArgs {
    /// The SQL of one query (named `query`); without it, the queries of --query flags and the
    /// config file's `[[query]]` tables.
    pub sql: Option<String>,
    /// Queries as NAME=SQL (repeatable), checked together as a run would.
    #[arg(long = "query", value_name = "NAME=SQL", value_parser = NamedQuery::parse)]
    pub queries: Vec<NamedQuery>,
    /// Plan for event time (default: windows allowed) or processing time (windows refused).
    #[arg(long, value_enum, default_value_t = super::TimeMode::Event)]
    pub time: super::TimeMode,
    /// The event-time field (default eventTime).
    #[arg(long, value_name = "PATH", value_parser = parse_field_path)]
    pub time_field: Option<FieldPath>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_queries_split_at_the_first_equals_sign() {
        let q = NamedQuery::parse("hot=SELECT count(*) FROM readings WHERE x = 1").unwrap();
        assert_eq!((q.name.as_str(), q.sql.as_str()), ("hot", "SELECT count(*) FROM readings WHERE x = 1"));
        assert!(NamedQuery::parse("SELECT 1").is_err());
        assert!(NamedQuery::parse("=SELECT 1").is_err());
    }

    #[test]
    fn field_paths_read_dots_and_quotes() {
        assert_eq!(parse_field_path("eventTime").unwrap(), FieldPath::new(["eventTime"]));
        assert_eq!(parse_field_path("payload.ts").unwrap(), FieldPath::new(["payload", "ts"]));
        assert_eq!(parse_field_path(r#"payload."a.b""#).unwrap(), FieldPath::new(["payload", "a.b"]));
        assert_eq!(parse_field_path(r#""say ""hi""""#).unwrap(), FieldPath::new([r#"say "hi""#]));
        for bad in ["", "a..b", "a.", r#""open"#] {
            assert!(parse_field_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_settings_need_a_query() {
        let mut args = QueryArgs { max_groups: 5, ..QueryArgs::default() };
        assert_eq!(args.check().unwrap_err(), "--max-groups applies only with --query");
        args.time_field = Some(FieldPath::new(["t"]));
        assert_eq!(args.check().unwrap_err(), "--time-field, --max-groups apply only with --query");
        args.queries.push(NamedQuery::parse("a=SELECT count(*) FROM readings").unwrap());
        assert!(args.check().is_ok());
    }
}
