//! Binding: every refusal with its message, and what the subset binds to.

use super::*;
use crate::query::agg::StateKind;
use crate::query::expr::Expr;
use crate::query::plan::{AggFunc, OutLeaf};

fn event_time() -> FieldPath {
    FieldPath::new(["eventTime"])
}

fn bound(sql: &str) -> Plan {
    plan("q", sql, Some(&event_time())).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn refused(sql: &str) -> String {
    match plan("q", sql, Some(&event_time())) {
        Ok(_) => panic!("{sql} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// Each refusal: the SQL, and the exact message.
const REFUSALS: &[(&str, &str)] = &[
    ("SELECT count(*) FROM readings; SELECT 1", "query q: line 1, column 32: more than one statement is not supported"),
    ("INSERT INTO t VALUES (1)", "query q: line 1, column 1: a statement other than SELECT is not supported; queries are SELECTs"),
    ("WITH w AS (SELECT 1) SELECT count(*) FROM readings", "query q: line 1, column 1: WITH (common table expressions) is not supported"),
    ("SELECT count(*) FROM readings UNION SELECT count(*) FROM readings", "query q: line 1, column 1: UNION is not supported"),
    ("SELECT count(*) FROM readings LIMIT 5", "query q: line 1, column 1: LIMIT is not supported"),
    ("SELECT DISTINCT state FROM readings", "query q: line 1, column 1: SELECT DISTINCT is not supported"),
    ("SELECT * FROM readings", "query q: line 1, column 8: `*` is not supported; name the columns"),
    ("SELECT count(*) FROM readings JOIN sensors ON true", "query q: line 1, column 36: JOIN is not supported"),
    ("SELECT count(*) FROM (SELECT 1)", "query q: line 1, column 23: a subquery in FROM is not supported"),
    ("SELECT count(*) FROM sensors", "query q: line 1, column 22: unknown stream sensors; the input stream is called readings"),
    ("SELECT count(*) FROM readings r", "query q: line 1, column 22: a table alias is not supported"),
    ("SELECT count(*) FROM readings, readings", "query q: line 1, column 32: a second table in FROM is not supported"),
    ("SELECT 1", "query q: line 1, column 1: no FROM; queries read FROM readings"),
    ("SELECT count(*) FROM readings WHERE state IN (SELECT 1)", "query q: line 1, column 37: a subquery is not supported"),
    ("SELECT count(*) FROM readings WHERE EXISTS (SELECT 1)", "query q: line 1, column 45: EXISTS is not supported"),
    ("SELECT count(*) OVER () FROM readings", "query q: line 1, column 8: OVER (window functions) is not supported"),
    ("SELECT upper(state) FROM readings GROUP BY state", "query q: line 1, column 8: the function upper is not supported; aggregates are count, sum, avg, min, max, stddev, approx_percentile"),
    ("SELECT state, count(*) FROM readings", "query q: line 1, column 8: state must appear in GROUP BY or be used in an aggregate"),
    ("SELECT count(*) FROM readings GROUP BY tumble(interval '1 minute'), hop(interval '1 minute', interval '5 minutes')", "query q: line 1, column 69: a second window is not supported"),
    ("SELECT window_start, count(*) FROM tumble(readings, payload.time, interval '1 minute') GROUP BY window_start", "query q: line 1, column 53: windows are on the run's time field eventTime (--time-field), not payload.time"),
    ("SELECT count(*) FROM readings WHERE count(*) > 1", "query q: line 1, column 37: an aggregate (count) in WHERE"),
    ("SELECT sum(count(*)) FROM readings", "query q: line 1, column 12: an aggregate (count) in an aggregate"),
    ("SELECT sum(DISTINCT payload.x) FROM readings", "query q: line 1, column 8: sum(DISTINCT …) is not supported"),
    ("SELECT approx_percentile(payload.x, 1.5) FROM readings", "query q: line 1, column 8: approx_percentile(x, q) takes a number q between 0 and 1"),
    ("SELECT count(*) FROM readings GROUP BY tumble(interval '0 seconds')", "query q: line 1, column 56: `INTERVAL '0 seconds'` is not a positive interval such as '10 seconds'"),
    ("SELECT count(*) FROM readings GROUP BY tumble(interval '1 fortnight')", "query q: line 1, column 56: `INTERVAL '1 fortnight'` is not a positive interval such as '10 seconds'"),
    ("SELECT count(*) FROM readings GROUP BY hop(interval '5 minutes', interval '1 minute')", "query q: line 1, column 40: the slide (300000000 µs) must not be longer than the window (60000000 µs)"),
    ("SELECT count(*) FROM readings GROUP BY tumble(5)", "query q: line 1, column 47: `5` is not an interval: write interval '1 minute'"),
    ("SELECT CASE WHEN true THEN 1 END FROM readings", "query q: line 1, column 8: CASE is not supported"),
    ("SELECT sum(CAST(payload.x AS DOUBLE)) FROM readings", "query q: line 1, column 17: CAST is not supported"),
    ("SELECT count(*) FROM readings WHERE state ILIKE 'c%'", "query q: line 1, column 37: ILIKE is not supported"),
    ("SELECT count(*) FROM readings WHERE state IN ('CA', 5)", "query q: line 1, column 37: IN (…) mixes types"),
    ("SELECT count(*) FROM readings WHERE state LIKE guid", "query q: line 1, column 37: LIKE with a pattern that is not a string literal is not supported"),
    ("SELECT count(*) FROM readings GROUP BY payload.x + 1", "query q: line 1, column 40: grouping by `payload.x + 1` is not supported; GROUP BY takes fields and one window"),
    ("SELECT count(*) FROM readings GROUP BY ALL", "query q: line 1, column 1: GROUP BY ALL is not supported"),
    ("SELECT count(*) AS n FROM readings ORDER BY m", "query q: line 1, column 45: ORDER BY m is not an output column"),
    ("SELECT count(*) AS n, sum(payload.x) AS n FROM readings", "query q: line 1, column 23: two columns are named n; give one an alias (AS)"),
    ("SELECT count(*) AS revision FROM readings", "query q: line 1, column 8: revision heads every row; give this column another name (AS)"),
    ("SELECT window_start, count(*) FROM tumble(readings, eventTime, interval '1 minute')", "query q: line 1, column 1: FROM tumble(…)/hop(…) needs GROUP BY window_start (or window_end)"),
    ("SELECT count(*) FROM readings WHERE payload.x % 2 = 0", "query q: line 1, column 37: the operator % is not supported"),
    ("SELECT tumble(interval '1 minute') AS w, count(*) FROM readings", "query q: line 1, column 8: the window tumble(INTERVAL '1 minute') must be in GROUP BY too"),
    ("SELECT count(*) FROM readings GROUP BY state HAVING guid = 'x'", "query q: line 1, column 53: guid must appear in GROUP BY or be used in an aggregate"),
    ("SELECT window_start + 1 FROM tumble(readings, eventTime, interval '1 minute') GROUP BY window_start", "query q: line 1, column 8: window_start heads every row; it is not a value to compute with"),
    ("SELECT count(*) FROM readings WHERE payload['x'] = 1", "query q: line 1, column 37: subscripts and JSON operators (use dotted paths) is not supported"),
    ("SELECT count(*) FILTER (WHERE true) FROM readings", "query q: line 1, column 8: FILTER (WHERE …) is not supported"),
    ("SELECT count(*) FROM readings WHERE state SIMILAR TO 'x'", "query q: line 1, column 37: regular expressions is not supported"),
];

#[test]
fn every_refusal_names_the_query_the_place_and_the_construct() {
    let wrong: Vec<String> = REFUSALS
        .iter()
        .filter(|(sql, message)| refused(sql) != *message)
        .map(|(sql, message)| format!("{sql}\n  expected {message}\n  got      {}", refused(sql)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn other_refusals() {
    let syntax = refused("SELEC count(*) FROM readings");
    assert!(
        syntax.starts_with("query q: sql parser error:") && syntax.contains("Line: 1, Column: 1"),
        "{syntax}"
    );
    let short = refused("SELECT count(*) FROM readings\nGROUP BY tumble(interval '1 minute'");
    assert_eq!(
        short,
        "query q: sql parser error: Expected: ), found: EOF at the end of the query, line 2, column 36"
    );
    let processing = plan("q", "SELECT count(*) FROM readings GROUP BY tumble(interval '1 minute')", None);
    assert_eq!(
        processing.unwrap_err().to_string(),
        "query q: line 1, column 40: windows are on event time: run with --time event"
    );
    assert_eq!(plan("9lives", "SELECT 1", None).unwrap_err(), QueryError::Name { name: "9lives".into() });
    let multi_line = refused("SELECT count(*)\nFROM readings\nWHERE state = upper('ca')");
    assert_eq!(multi_line, "query q: line 3, column 15: the function upper is not supported; aggregates are count, sum, avg, min, max, stddev, approx_percentile");
}

#[test]
fn fields_keys_and_aggregates() {
    let p = bound(
        "SELECT state, payload.data.\"co2-ppm\" AS co2, count(*), avg((payload.data.temperature - 32) * 5 / 9) AS c, \
         max(payload.data.temperature) - min(payload.data.temperature) AS spread, max(payload.data.temperature) \
         FROM readings WHERE payload.format LIKE 'urn:%' AND state IS NOT NULL \
         GROUP BY state, payload.data.\"co2-ppm\" HAVING count(*) > 1 ORDER BY c DESC",
    );
    let fields: Vec<String> = p.fields.iter().map(ToString::to_string).collect();
    assert_eq!(fields, ["state", "payload.data.\"co2-ppm\"", "payload.format", "payload.data.temperature"]);
    let names: Vec<&str> = p.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["state", "co2", "count(*)", "c", "spread", "max(payload.data.temperature)"]);
    assert_eq!((p.keys[0].name.as_str(), p.keys[1].name.as_str()), ("state", "co2"));
    // max(t) is one aggregate however often it is written; count(*) in HAVING is the same too.
    let funcs: Vec<AggFunc> = p.aggregates.iter().map(|a| a.func).collect();
    assert_eq!(funcs, [AggFunc::CountStar, AggFunc::Avg, AggFunc::Max, AggFunc::Min]);
    let kinds: Vec<StateKind> = p.states.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StateKind::Count, StateKind::Sum, StateKind::Max, StateKind::Min]);
    assert_eq!(p.columns[5].expr, Expr::Leaf(OutLeaf::Agg(2)));
    assert_eq!(p.order, [Order { column: 3, descending: true, nulls_first: true }]);
    assert_eq!(p.window, Window::Run);
}

#[test]
fn both_window_forms_and_aliases() {
    let arroyo = bound(
        "SELECT tumble(interval '1 minute') AS window, state, count(*) FROM readings GROUP BY window, state",
    );
    assert_eq!(arroyo.window, Window::Tumble { size: 60_000_000 });
    let hop = bound(
        "SELECT window_start, count(*) AS n FROM hop(readings, eventTime, interval '10' second, interval '1 minute') \
         GROUP BY window_start HAVING n > 2",
    );
    assert_eq!(hop.window, Window::Hop { slide: 10_000_000, size: 60_000_000 });
    assert_eq!(hop.columns.len(), 1, "window_start heads the row, it is no column");
    let same = bound("SELECT count(*) FROM readings GROUP BY hop(interval '1 minute', interval '1 minute')");
    assert_eq!(same.window, Window::Tumble { size: 60_000_000 });
    let by_alias = bound("SELECT payload.format AS fmt, count(*) FROM readings GROUP BY fmt ORDER BY 2, fmt");
    assert_eq!(by_alias.keys[0].name, "fmt");
    assert_eq!(by_alias.order.len(), 2);
}

#[test]
fn a_plan_describes_itself() {
    let p = bound(
        "select state, approx_percentile(payload.data.temperature, 0.95) as p95 from readings \
         where payload.data.temperature > 0 group by tumble(interval '1 minute'), state having count(*) >= 10",
    );
    let text = p.to_string();
    let expected = "query q
  sql:        SELECT state, approx_percentile(payload.data.temperature, 0.95) AS p95 FROM readings WHERE payload.data.temperature > 0 GROUP BY tumble(INTERVAL '1 minute'), state HAVING count(*) >= 10
  reads:      state, payload.data.temperature
  time:       event time (eventTime)
  window:     tumbling, 1m
  filter:     payload.data.temperature > 0
  groups:     state AS state
  aggregates: approx_percentile(payload.data.temperature, 0.95), count(*)
  having:     count(*) >= 10
  columns:    state, p95
  row order:  group keys, NULL first";
    assert_eq!(text, expected);
}
