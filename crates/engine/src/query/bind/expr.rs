//! Binding expressions: over a reading (`WHERE`, aggregate arguments: fields, no aggregates)
//! and over a group (`SELECT`, `HAVING`: group keys, aggregates, `SELECT` aliases in `HAVING`).
//! Operators are bound the same way in both; only the leaves differ.

use sqlparser::ast::{self, BinaryOperator, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator};

use super::{field_path, Binder, Bound};
use crate::query::error::{At, Problem};
use crate::query::expr::{Arith, Cmp, Expr, Like, Lit};
use crate::query::plan::{AggFunc, Aggregate, OutExpr, OutLeaf, RowExpr, State};

/// The aggregate functions, by name.
const AGGREGATES: [&str; 8] =
    ["count", "sum", "avg", "min", "max", "stddev", "stddev_samp", "approx_percentile"];

impl Binder<'_> {
    /// An expression over one reading.
    pub(super) fn row_expr(&mut self, expr: &ast::Expr, at: At) -> Bound<RowExpr> {
        bind(expr, at, &mut |e: &ast::Expr, here: At| self.row_leaf(e, here, "WHERE"))
    }

    fn row_leaf(&mut self, e: &ast::Expr, here: At, place: &str) -> Bound<Option<RowExpr>> {
        if let Some(path) = field_path(e) {
            let path = path.map_err(|construct| Problem::unsupported(here, construct))?;
            return Ok(Some(Expr::Leaf(self.field(path))));
        }
        match e {
            ast::Expr::Function(f) if is_aggregate(f) => {
                Err(Problem::invalid(here, format!("an aggregate ({}) in {place}", f.name)))
            }
            ast::Expr::Function(f) => Err(unknown_function(f, here)),
            _ => Ok(None),
        }
    }

    /// An expression over one group; `aliases`: `SELECT` aliases may be named.
    pub(super) fn out_expr(&mut self, expr: &ast::Expr, at: At, aliases: bool) -> Bound<OutExpr> {
        bind(expr, at, &mut |e: &ast::Expr, here: At| self.out_leaf(e, here, aliases))
    }

    fn out_leaf(&mut self, e: &ast::Expr, here: At, aliases: bool) -> Bound<Option<OutExpr>> {
        if let ast::Expr::Function(f) = e {
            if !is_aggregate(f) {
                return Err(unknown_function(f, here));
            }
            return self.aggregate(f, here).map(|i| Some(Expr::Leaf(OutLeaf::Agg(i))));
        }
        let Some(path) = field_path(e) else { return Ok(None) };
        let path = path.map_err(|construct| Problem::unsupported(here, construct))?;
        if let Some(key) = self.keys.iter().position(|k| self.fields[k.field] == path) {
            return Ok(Some(Expr::Leaf(OutLeaf::Key(key))));
        }
        if let Some(target) = self.alias(e).filter(|_| aliases).cloned() {
            return self.out_expr(&target, here, false).map(Some);
        }
        if super::is_window_header(e) {
            return Err(Problem::invalid(
                here,
                format!("{e} heads every row; it is not a value to compute with"),
            ));
        }
        Err(Problem::invalid(here, format!("{e} must appear in GROUP BY or be used in an aggregate")))
    }

    /// Binds an aggregate call; returns its index among the plan's aggregates.
    fn aggregate(&mut self, f: &ast::Function, here: At) -> Bound<usize> {
        let (func, arg) = self.aggregate_call(f, here)?;
        let arg = match arg {
            Some(arg) => {
                Some(bind(arg, here, &mut |e: &ast::Expr, h: At| self.row_leaf(e, h, "an aggregate"))?)
            }
            None => None,
        };
        let state = State { kind: func.kind(), arg };
        let state = match self.states.iter().position(|s| *s == state) {
            Some(i) => i,
            None => {
                self.states.push(state);
                self.states.len() - 1
            }
        };
        if let Some(i) = self.aggregates.iter().position(|a| a.func == func && a.state == state) {
            return Ok(i);
        }
        self.aggregates.push(Aggregate { func, state, text: f.to_string() });
        Ok(self.aggregates.len() - 1)
    }

    /// The function and its argument expression (none for `count(*)`).
    fn aggregate_call<'f>(&self, f: &'f ast::Function, here: At) -> Bound<(AggFunc, Option<&'f ast::Expr>)> {
        refuse_call_parts(f, here)?;
        let FunctionArguments::List(list) = &f.args else {
            return Err(Problem::invalid(here, format!("{} takes arguments in parentheses", f.name)));
        };
        if !list.clauses.is_empty() {
            return Err(Problem::unsupported(here, format!("clauses inside {}(…)", f.name)));
        }
        let distinct = matches!(list.duplicate_treatment, Some(ast::DuplicateTreatment::Distinct));
        let args: Vec<&FunctionArgExpr> = list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(arg) => Ok(arg),
                _ => Err(Problem::unsupported(here, "named arguments")),
            })
            .collect::<Bound<_>>()?;
        call(&function_name(f), distinct, &args, here)
    }
}

/// An aggregate call by its (lowercase) name, `DISTINCT` and arguments.
fn call<'f>(
    name: &str,
    distinct: bool,
    args: &[&'f FunctionArgExpr],
    here: At,
) -> Bound<(AggFunc, Option<&'f ast::Expr>)> {
    let expr_arg = |i: usize| match args.get(i) {
        Some(FunctionArgExpr::Expr(e)) => Ok(e),
        _ => Err(Problem::invalid(here, format!("{name} takes an expression here"))),
    };
    let arity = |n: usize| {
        (args.len() == n)
            .then_some(())
            .ok_or_else(|| Problem::invalid(here, format!("{name} takes {n} argument(s)")))
    };
    if distinct && name != "count" {
        return Err(Problem::unsupported(here, format!("{name}(DISTINCT …)")));
    }
    let func = match name {
        "count" if matches!(args, [FunctionArgExpr::Wildcard]) && !distinct => {
            return Ok((AggFunc::CountStar, None))
        }
        "count" if distinct => AggFunc::CountDistinct,
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "avg" => AggFunc::Avg,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "stddev" | "stddev_samp" => AggFunc::Stddev,
        _ => {
            arity(2)?;
            let q = number_literal(expr_arg(1)?).filter(|q| (0.0..=1.0).contains(q)).ok_or_else(|| {
                Problem::invalid(here, "approx_percentile(x, q) takes a number q between 0 and 1")
            })?;
            return Ok((AggFunc::Percentile(q), Some(expr_arg(0)?)));
        }
    };
    arity(1)?;
    Ok((func, Some(expr_arg(0)?)))
}

fn function_name(f: &ast::Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

fn is_aggregate(f: &ast::Function) -> bool {
    AGGREGATES.contains(&function_name(f).as_str())
}

fn unknown_function(f: &ast::Function, here: At) -> Problem {
    let name = function_name(f);
    if f.over.is_some() {
        return Problem::unsupported(here, format!("the window function {name}(…) OVER"));
    }
    if name == "tumble" || name == "hop" {
        return Problem::invalid(
            here,
            format!("{name}(…) belongs in GROUP BY (or in SELECT with an alias GROUP BY names)"),
        );
    }
    Problem::unsupported_hint(
        here,
        format!("the function {name}"),
        "aggregates are count, sum, avg, min, max, stddev, approx_percentile",
    )
}

fn refuse_call_parts(f: &ast::Function, here: At) -> Bound<()> {
    let refused = [
        (f.over.is_some(), "OVER (window functions)"),
        (f.filter.is_some(), "FILTER (WHERE …)"),
        (!f.within_group.is_empty(), "WITHIN GROUP"),
        (f.null_treatment.is_some(), "IGNORE/RESPECT NULLS"),
        (!matches!(f.parameters, FunctionArguments::None), "function parameters"),
    ];
    super::first_refused(&refused, here)
}

/// A number literal, possibly negated.
fn number_literal(e: &ast::Expr) -> Option<f64> {
    match literal(e) {
        Some(Lit::Int(n)) => Some(n as f64),
        Some(Lit::Num(x)) => Some(x),
        _ => None,
    }
}

/// A literal, possibly a negated number.
fn literal(e: &ast::Expr) -> Option<Lit> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(text, _) => number(text),
            ast::Value::SingleQuotedString(s) => Some(Lit::Str(s.clone())),
            ast::Value::Boolean(b) => Some(Lit::Bool(*b)),
            ast::Value::Null => Some(Lit::Null),
            _ => None,
        },
        ast::Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match literal(expr)? {
            Lit::Int(n) => Some(n.checked_neg().map_or(Lit::Num(-(n as f64)), Lit::Int)),
            Lit::Num(x) => Some(Lit::Num(-x)),
            _ => None,
        },
        ast::Expr::Nested(inner) => literal(inner),
        _ => None,
    }
}

/// An integer literal is BIGINT when it fits, any other number DOUBLE.
fn number(text: &str) -> Option<Lit> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Some(Lit::Int(n));
        }
    }
    text.parse::<f64>().ok().filter(|x| x.is_finite()).map(Lit::Num)
}

/// Binds the operators of an expression; `leaf` binds what is not an operator (fields, keys,
/// aggregates) or says it is none (`Ok(None)`).
fn bind<L: Clone>(
    e: &ast::Expr,
    at: At,
    leaf: &mut impl FnMut(&ast::Expr, At) -> Bound<Option<Expr<L>>>,
) -> Bound<Expr<L>> {
    let here = At::of(e).unwrap_or(at);
    if let Some(lit) = literal(e) {
        return Ok(Expr::Lit(lit));
    }
    if let Some(bound) = leaf(e, here)? {
        return Ok(bound);
    }
    let mut sub = |e: &ast::Expr| bind(e, here, leaf).map(Box::new);
    Ok(match e {
        ast::Expr::Nested(inner) => *sub(inner)?,
        ast::Expr::BinaryOp { left, op, right } => binary(op, sub(left)?, sub(right)?)
            .ok_or_else(|| Problem::unsupported(here, format!("the operator {op}")))?,
        ast::Expr::UnaryOp { op: UnaryOperator::Minus, expr } => Expr::Neg(sub(expr)?),
        ast::Expr::UnaryOp { op: UnaryOperator::Plus, expr } => *sub(expr)?,
        ast::Expr::UnaryOp { op: UnaryOperator::Not, expr } => Expr::Not(sub(expr)?),
        ast::Expr::IsNull(inner) => Expr::IsNull(sub(inner)?, false),
        ast::Expr::IsNotNull(inner) => Expr::IsNull(sub(inner)?, true),
        ast::Expr::In { expr, target: ast::InTarget::List(list), negated, .. } => {
            Expr::In(sub(expr)?, in_list(list, here)?, *negated)
        }
        ast::Expr::Between { expr, negated, low, high } => {
            let (x, low, high) = (sub(expr)?, sub(low)?, sub(high)?);
            let inside = Expr::And(
                Box::new(Expr::Cmp(Cmp::Ge, x.clone(), low)),
                Box::new(Expr::Cmp(Cmp::Le, x, high)),
            );
            if *negated {
                Expr::Not(Box::new(inside))
            } else {
                inside
            }
        }
        ast::Expr::Like { negated, any: false, expr, pattern, escape_char } => {
            Expr::Like(sub(expr)?, like(pattern, escape_char.as_deref(), here)?, *negated)
        }
        other => return Err(Problem::unsupported(here, describe(other))),
    })
}

fn binary<L: Clone>(op: &BinaryOperator, a: Box<Expr<L>>, b: Box<Expr<L>>) -> Option<Expr<L>> {
    let arith = |op| Some(Expr::Arith(op, a.clone(), b.clone()));
    let cmp = |op| Some(Expr::Cmp(op, a.clone(), b.clone()));
    match op {
        BinaryOperator::Plus => arith(Arith::Add),
        BinaryOperator::Minus => arith(Arith::Sub),
        BinaryOperator::Multiply => arith(Arith::Mul),
        BinaryOperator::Divide => arith(Arith::Div),
        BinaryOperator::Eq => cmp(Cmp::Eq),
        BinaryOperator::NotEq => cmp(Cmp::Ne),
        BinaryOperator::Lt => cmp(Cmp::Lt),
        BinaryOperator::LtEq => cmp(Cmp::Le),
        BinaryOperator::Gt => cmp(Cmp::Gt),
        BinaryOperator::GtEq => cmp(Cmp::Ge),
        BinaryOperator::And => Some(Expr::And(a, b)),
        BinaryOperator::Or => Some(Expr::Or(a, b)),
        _ => None,
    }
}

/// The literals of `IN (…)`, all of one type (NULL aside).
fn in_list(list: &[ast::Expr], here: At) -> Bound<Vec<Lit>> {
    let literals = list
        .iter()
        .map(|e| {
            literal(e).ok_or_else(|| {
                Problem::unsupported(At::of(e).unwrap_or(here), "IN (…) with anything but literals")
            })
        })
        .collect::<Bound<Vec<Lit>>>()?;
    let kind = |l: &Lit| match l {
        Lit::Null => 0,
        Lit::Bool(_) => 1,
        Lit::Int(_) | Lit::Num(_) => 2,
        Lit::Str(_) => 3,
    };
    let mut kinds = literals.iter().map(kind).filter(|&k| k != 0);
    let first = kinds.next();
    if kinds.any(|k| Some(k) != first) {
        return Err(Problem::invalid(here, "IN (…) mixes types"));
    }
    Ok(literals)
}

fn like(pattern: &ast::Expr, escape: Option<&ast::Expr>, here: At) -> Bound<Like> {
    let text = |e: &ast::Expr| match literal(e) {
        Some(Lit::Str(s)) => Some(s),
        _ => None,
    };
    let pattern = text(pattern)
        .ok_or_else(|| Problem::unsupported(here, "LIKE with a pattern that is not a string literal"))?;
    let escape = match escape {
        None => None,
        Some(e) => match text(e).map(|s| s.chars().collect::<Vec<_>>()).as_deref() {
            Some([c]) => Some(*c),
            _ => return Err(Problem::invalid(here, "ESCAPE takes one character")),
        },
    };
    Like::new(&pattern, escape)
        .ok_or_else(|| Problem::invalid(here, "the LIKE pattern ends in its escape character"))
}

/// A name for an unsupported expression.
fn describe(e: &ast::Expr) -> String {
    let name = match e {
        ast::Expr::Case { .. } => "CASE",
        ast::Expr::Cast { .. } => "CAST",
        ast::Expr::Subquery(_) | ast::Expr::In { .. } => "a subquery",
        ast::Expr::Exists { .. } => "EXISTS",
        ast::Expr::ILike { .. } => "ILIKE",
        ast::Expr::Like { .. } => "LIKE ANY",
        ast::Expr::SimilarTo { .. } | ast::Expr::RLike { .. } => "regular expressions",
        ast::Expr::IsDistinctFrom(..) | ast::Expr::IsNotDistinctFrom(..) => "IS [NOT] DISTINCT FROM",
        ast::Expr::IsTrue(_) | ast::Expr::IsNotTrue(_) | ast::Expr::IsFalse(_) | ast::Expr::IsNotFalse(_) => {
            "IS [NOT] TRUE/FALSE"
        }
        ast::Expr::Interval(_) => "an interval outside tumble(…)/hop(…)",
        ast::Expr::Wildcard(_) | ast::Expr::QualifiedWildcard(..) => "*",
        ast::Expr::Value(_) => "this kind of literal",
        _ => return format!("`{e}`"),
    };
    name.to_owned()
}
