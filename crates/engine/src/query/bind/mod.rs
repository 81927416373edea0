//! From SQL text to a [`Plan`]: parse with `sqlparser` (its generic dialect), then bind the
//! syntax tree to the engine's operators, refusing everything outside the supported subset with
//! the construct and its place named.
//!
//! The subset: `SELECT` group keys, aggregates and arithmetic on them (with `AS`), `FROM
//! readings` or `FROM tumble(readings, <time field>, interval …)` / `FROM hop(readings, <time
//! field>, interval slide, interval size)`, `WHERE`, `GROUP BY` fields and at most one window
//! (`tumble(interval …)`, `hop(interval slide, interval size)`, directly or through a `SELECT`
//! alias, or `window_start`/`window_end` of the table-function form), `HAVING` (with `SELECT`
//! aliases, as DuckDB allows), `ORDER BY` output columns. Names: a single identifier in
//! `GROUP BY`, `HAVING` or `ORDER BY` that is a `SELECT` alias means that item; otherwise a
//! name is a field path, its keys matched exactly as written in the JSON (quote keys that are
//! not plain identifiers: `payload.data."co2-ppm"`).

mod expr;
mod window;

use sqlparser::ast::{
    self, GroupByExpr, OrderByKind, OrderBySort, SelectFlavor, SelectItem, SetExpr, Statement,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use crate::query::error::{At, Problem, QueryError};
use crate::query::extract::FieldPath;
use crate::query::plan::{Aggregate, Column, Key, Order, Plan, State, Window};
use crate::query::rows::HEADER;

/// The parser's message, with the place where it stopped: sqlparser names the line and column
/// of the token it did not expect, but none when the text ended too soon — then the end is the
/// place.
fn syntax_message(sql: &str, error: &sqlparser::parser::ParserError) -> String {
    let message = error.to_string();
    if message.contains("Line: ") {
        return message;
    }
    let line = sql.lines().count().max(1);
    let column = sql.lines().last().map_or(0, |l| l.chars().count()) + 1;
    format!("{message} at the end of the query, line {line}, column {column}")
}

/// Binds query `name`'s `sql`; `time_field` is the run's event-time field (`None`: the run is
/// on processing time, where windows cannot be used).
pub fn plan(name: &str, sql: &str, time_field: Option<&FieldPath>) -> Result<Plan, QueryError> {
    check_name(name)?;
    let statements = Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| QueryError::Syntax { query: name.to_owned(), message: syntax_message(sql, &e) })?;
    let query = match statements.as_slice() {
        [Statement::Query(query)] => query,
        [] => return Err(Problem::invalid(At { line: 1, column: 1 }, "no query").named(name)),
        [statement] => {
            let at = At::of(statement).unwrap_or(At { line: 1, column: 1 });
            return Err(Problem::unsupported_hint(
                at,
                "a statement other than SELECT",
                "queries are SELECTs",
            )
            .named(name));
        }
        [_, second, ..] => {
            let at = At::of(second).unwrap_or(At { line: 1, column: 1 });
            return Err(Problem::unsupported(at, "more than one statement").named(name));
        }
    };
    let mut binder = Binder { time_field, ..Binder::default() };
    let plan = binder.query(query).map_err(|p| p.named(name))?;
    Ok(Plan { name: name.to_owned(), sql: query.to_string(), time_field: time_field.cloned(), ..plan })
}

/// Query names become column values, table names and metric labels: keep them plain.
fn check_name(name: &str) -> Result<(), QueryError> {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if plain {
        Ok(())
    } else {
        Err(QueryError::Name { name: name.to_owned() })
    }
}

/// What binding collects.
#[derive(Default)]
struct Binder<'a> {
    time_field: Option<&'a FieldPath>,
    fields: Vec<FieldPath>,
    keys: Vec<Key>,
    states: Vec<State>,
    aggregates: Vec<Aggregate>,
    window: Option<(Window, At)>,
    /// The window came from `FROM tumble(…)`/`hop(…)`: `window_start` and `window_end` exist.
    table_window: bool,
    /// `GROUP BY` names the window.
    grouped_window: bool,
    /// `SELECT` items with an alias.
    aliases: Vec<(String, ast::Expr)>,
}

type Bound<T> = Result<T, Problem>;

impl Binder<'_> {
    fn query(&mut self, query: &ast::Query) -> Bound<Plan> {
        let at = At::of(query).unwrap_or(At { line: 1, column: 1 });
        refuse_query_parts(query, at)?;
        let select = match query.body.as_ref() {
            SetExpr::Select(select) => select,
            SetExpr::SetOperation { op, .. } => return Err(Problem::unsupported(at, op.to_string())),
            SetExpr::Query(_) => return Err(Problem::unsupported(at, "a parenthesised query")),
            other => return Err(Problem::unsupported(at, format!("`{other}`"))),
        };
        let at = At::of(select.as_ref()).unwrap_or(at);
        refuse_select_parts(select, at)?;
        self.from(&select.from, at)?;
        self.collect_aliases(&select.projection);
        self.group_by(&select.group_by, at)?;
        self.check_window(at)?;
        let filter = match &select.selection {
            Some(condition) => Some((self.row_expr(condition, at)?, condition.to_string())),
            None => None,
        };
        let columns = self.columns(&select.projection, at)?;
        let having = match &select.having {
            Some(condition) => Some((self.out_expr(condition, at, true)?, condition.to_string())),
            None => None,
        };
        let order = match &query.order_by {
            Some(order_by) => self.order(order_by, &columns, &select.projection, at)?,
            None => Vec::new(),
        };
        Ok(Plan {
            name: String::new(),
            sql: String::new(),
            fields: std::mem::take(&mut self.fields),
            time_field: None,
            window: self.window.map_or(Window::Run, |(w, _)| w),
            filter,
            keys: std::mem::take(&mut self.keys),
            states: std::mem::take(&mut self.states),
            aggregates: std::mem::take(&mut self.aggregates),
            columns,
            having,
            order,
        })
    }

    /// `FROM readings` or a window table function over it.
    fn from(&mut self, from: &[ast::TableWithJoins], at: At) -> Bound<()> {
        let [table] = from else {
            return Err(match from {
                [] => Problem::invalid(at, "no FROM; queries read FROM readings"),
                [_, second, ..] => {
                    Problem::unsupported(At::of(&second.relation).unwrap_or(at), "a second table in FROM")
                }
                [_] => Problem::invalid(at, "FROM"),
            });
        };
        if let Some(join) = table.joins.first() {
            return Err(Problem::unsupported(At::of(&join.relation).unwrap_or(at), "JOIN"));
        }
        let at = At::of(&table.relation).unwrap_or(at);
        match &table.relation {
            ast::TableFactor::Table { name, alias, args, .. } => {
                if alias.is_some() {
                    return Err(Problem::unsupported(at, "a table alias"));
                }
                refuse_table_parts(&table.relation, at)?;
                match args {
                    None => stream_name(name, at),
                    Some(args) => {
                        let window = self.table_function(name, &args.args, at)?;
                        self.window = Some((window, at));
                        self.table_window = true;
                        Ok(())
                    }
                }
            }
            ast::TableFactor::Derived { .. } => Err(Problem::unsupported(at, "a subquery in FROM")),
            other => Err(Problem::unsupported(at, format!("`{other}` in FROM"))),
        }
    }

    fn collect_aliases(&mut self, projection: &[SelectItem]) {
        for item in projection {
            if let SelectItem::ExprWithAlias { expr, alias } = item {
                self.aliases.push((alias.value.clone(), expr.clone()));
            }
        }
    }

    /// The `SELECT` item an identifier names through its alias.
    fn alias(&self, expr: &ast::Expr) -> Option<&ast::Expr> {
        let ast::Expr::Identifier(ident) = expr else { return None };
        self.aliases.iter().find(|(name, _)| *name == ident.value).map(|(_, e)| e)
    }

    fn group_by(&mut self, group_by: &GroupByExpr, at: At) -> Bound<()> {
        let exprs = match group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return Err(Problem::unsupported(at, "GROUP BY modifiers (ROLLUP, CUBE, TOTALS)"));
                }
                exprs
            }
            GroupByExpr::All(_) => return Err(Problem::unsupported(at, "GROUP BY ALL")),
        };
        let mut grouped_window = false;
        for expr in exprs {
            let here = At::of(expr).unwrap_or(at);
            let target = self.alias(expr).cloned().unwrap_or_else(|| expr.clone());
            if self.window_function(&target, here)?.is_some() || self.is_window_column(&target) {
                grouped_window = true;
                continue;
            }
            let path = field_path(&target)
                .ok_or_else(|| {
                    Problem::unsupported_hint(
                        here,
                        format!("grouping by `{target}`"),
                        "GROUP BY takes fields and one window",
                    )
                })?
                .map_err(|construct| Problem::unsupported(here, construct))?;
            let name = match self
                .aliases
                .iter()
                .find(|(_, e)| field_path(e).and_then(Result::ok).as_ref() == Some(&path))
            {
                Some((alias, _)) => alias.clone(),
                None => path.last().to_owned(),
            };
            let field = self.field(path);
            if self.keys.iter().all(|k| k.field != field) {
                self.keys.push(Key { field, name });
            }
        }
        self.grouped_window = grouped_window;
        if self.table_window && !grouped_window {
            return Err(Problem::invalid(
                at,
                "FROM tumble(…)/hop(…) needs GROUP BY window_start (or window_end)",
            ));
        }
        Ok(())
    }

    fn is_window_column(&self, expr: &ast::Expr) -> bool {
        matches!(expr, ast::Expr::Identifier(i) if self.table_window && is_window_name(&i.value))
    }

    /// Windows are on the run's event time.
    fn check_window(&self, at: At) -> Bound<()> {
        match (self.window, self.time_field) {
            (Some((_, at)), None) => {
                Err(Problem::invalid(at, "windows are on event time: run with --time event"))
            }
            (None, _) if self.table_window => Err(Problem::invalid(at, "FROM tumble(…) without a window")),
            _ => Ok(()),
        }
    }

    /// The index of a field in the plan's list, added if new.
    fn field(&mut self, path: FieldPath) -> usize {
        match self.fields.iter().position(|f| *f == path) {
            Some(i) => i,
            None => {
                self.fields.push(path);
                self.fields.len() - 1
            }
        }
    }

    /// Output columns in `SELECT` order (windows and `window_start`/`window_end` are not
    /// columns: they head every row).
    fn columns(&mut self, projection: &[SelectItem], at: At) -> Bound<Vec<Column>> {
        let mut columns: Vec<Column> = Vec::new();
        for item in projection {
            let (expr, alias) = match item {
                SelectItem::UnnamedExpr(expr) => (expr, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                other => {
                    let here = At::of(other).unwrap_or(at);
                    return Err(Problem::unsupported_hint(here, format!("`{other}`"), "name the columns"));
                }
            };
            let here = At::of(expr).unwrap_or(at);
            if self.window_function(expr, here)?.is_some() {
                if !self.grouped_window {
                    return Err(Problem::invalid(here, format!("the window {expr} must be in GROUP BY too")));
                }
                continue;
            }
            if is_window_header(expr) {
                continue;
            }
            let bound = self.out_expr(expr, here, false)?;
            let name = alias.unwrap_or_else(|| default_name(expr));
            if HEADER.contains(&name.as_str()) {
                return Err(Problem::invalid(
                    here,
                    format!("{name} heads every row; give this column another name (AS)"),
                ));
            }
            if columns.iter().any(|c| c.name == name) {
                return Err(Problem::invalid(
                    here,
                    format!("two columns are named {name}; give one an alias (AS)"),
                ));
            }
            columns.push(Column { name, expr: bound });
        }
        if columns.is_empty() {
            return Err(Problem::invalid(at, "no output columns"));
        }
        Ok(columns)
    }

    fn order(
        &mut self,
        order_by: &ast::OrderBy,
        columns: &[Column],
        projection: &[SelectItem],
        at: At,
    ) -> Bound<Vec<Order>> {
        let OrderByKind::Expressions(terms) = &order_by.kind else {
            return Err(Problem::unsupported(at, "ORDER BY ALL"));
        };
        terms.iter().map(|term| order_term(term, columns, projection, at)).collect()
    }
}

/// One `ORDER BY` term: an output column by name, position, or the same expression.
fn order_term(
    term: &ast::OrderByExpr,
    columns: &[Column],
    projection: &[SelectItem],
    at: At,
) -> Bound<Order> {
    let here = At::of(&term.expr).unwrap_or(at);
    if term.with_fill.is_some() {
        return Err(Problem::unsupported(here, "WITH FILL"));
    }
    let descending = match &term.options.sort {
        None | Some(OrderBySort::Asc) => false,
        Some(OrderBySort::Desc) => true,
        Some(_) => return Err(Problem::unsupported(here, "ORDER BY … USING")),
    };
    let by_name = |name: &str| columns.iter().position(|c| c.name == name);
    let by_position = || match &term.expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => {
                n.parse::<usize>().ok().filter(|&i| i >= 1 && i <= columns.len()).map(|i| i - 1)
            }
            _ => None,
        },
        _ => None,
    };
    let by_expression = || {
        let items = projection.iter().filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        });
        let names: Vec<String> = items.filter(|e| **e == term.expr).map(default_name).collect();
        names.first().and_then(|n| by_name(n))
    };
    let column = match &term.expr {
        ast::Expr::Identifier(ident) => by_name(&ident.value).or_else(by_expression),
        _ => by_position().or_else(by_expression),
    }
    .ok_or_else(|| Problem::invalid(here, format!("ORDER BY {} is not an output column", term.expr)))?;
    Ok(Order { column, descending, nulls_first: term.options.nulls_first.unwrap_or(descending) })
}

/// The name of a column without an alias: a field's last key, else the expression as written.
fn default_name(expr: &ast::Expr) -> String {
    match field_path(expr) {
        Some(Ok(path)) => path.last().to_owned(),
        _ => expr.to_string(),
    }
}

/// `window_start` / `window_end`.
fn is_window_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("window_start") || name.eq_ignore_ascii_case("window_end")
}

fn is_window_header(expr: &ast::Expr) -> bool {
    matches!(expr, ast::Expr::Identifier(i) if is_window_name(&i.value))
}

/// The stream is called `readings`.
fn stream_name(name: &ast::ObjectName, at: At) -> Bound<()> {
    match name.0.as_slice() {
        [ast::ObjectNamePart::Identifier(ident)] if ident.value.eq_ignore_ascii_case("readings") => Ok(()),
        _ => Err(Problem::invalid(at, format!("unknown stream {name}; the input stream is called readings"))),
    }
}

/// A field path from an identifier or a dotted name: `None` when it is neither, an error
/// naming the construct when it is a path of another kind.
fn field_path(expr: &ast::Expr) -> Option<Result<FieldPath, String>> {
    match expr {
        ast::Expr::Identifier(ident) => Some(Ok(FieldPath::new([ident.value.clone()]))),
        ast::Expr::CompoundIdentifier(idents) => {
            Some(Ok(FieldPath::new(idents.iter().map(|i| i.value.clone()))))
        }
        ast::Expr::CompoundFieldAccess { .. } | ast::Expr::JsonAccess { .. } => {
            Some(Err("subscripts and JSON operators (use dotted paths)".to_owned()))
        }
        _ => None,
    }
}

fn refuse_query_parts(query: &ast::Query, at: At) -> Bound<()> {
    let refused = [
        (query.with.is_some(), "WITH (common table expressions)"),
        (query.limit_clause.is_some(), "LIMIT"),
        (query.fetch.is_some(), "FETCH"),
        (!query.locks.is_empty(), "FOR UPDATE"),
        (query.for_clause.is_some(), "FOR XML/JSON"),
        (query.settings.is_some(), "SETTINGS"),
        (query.format_clause.is_some(), "FORMAT"),
        (!query.pipe_operators.is_empty(), "pipe operators"),
    ];
    first_refused(&refused, at)
}

fn refuse_select_parts(select: &ast::Select, at: At) -> Bound<()> {
    let refused = [
        (select.distinct.is_some(), "SELECT DISTINCT"),
        (select.top.is_some(), "TOP"),
        (select.into.is_some(), "SELECT INTO"),
        (select.exclude.is_some(), "EXCLUDE"),
        (!select.lateral_views.is_empty(), "LATERAL VIEW"),
        (select.prewhere.is_some(), "PREWHERE"),
        (!select.connect_by.is_empty(), "CONNECT BY"),
        (!select.cluster_by.is_empty(), "CLUSTER BY"),
        (!select.distribute_by.is_empty(), "DISTRIBUTE BY"),
        (!select.sort_by.is_empty(), "SORT BY"),
        (!select.named_window.is_empty(), "WINDOW (named windows)"),
        (select.qualify.is_some(), "QUALIFY"),
        (select.value_table_mode.is_some(), "SELECT AS VALUE/STRUCT"),
        (select.select_modifiers.is_some(), "SELECT modifiers"),
        (select.flavor != SelectFlavor::Standard, "FROM-first queries"),
    ];
    first_refused(&refused, at)
}

fn refuse_table_parts(table: &ast::TableFactor, at: At) -> Bound<()> {
    let ast::TableFactor::Table {
        with_hints, version, with_ordinality, partitions, json_path, sample, ..
    } = table
    else {
        return Ok(());
    };
    let refused = [
        (!with_hints.is_empty(), "table hints"),
        (version.is_some(), "time travel"),
        (*with_ordinality, "WITH ORDINALITY"),
        (!partitions.is_empty(), "PARTITION"),
        (json_path.is_some(), "a JSON path in FROM"),
        (sample.is_some(), "TABLESAMPLE"),
    ];
    first_refused(&refused, at)
}

fn first_refused(refused: &[(bool, &str)], at: At) -> Bound<()> {
    match refused.iter().find(|(present, _)| *present) {
        Some((_, construct)) => Err(Problem::unsupported(at, *construct)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
