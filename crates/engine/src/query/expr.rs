//! Scalar expressions and their evaluation, as SQL defines them: arithmetic on DOUBLE and
//! BIGINT, comparisons, three-valued logic (NULL is neither true nor false), `IN`, `IS NULL`,
//! `LIKE`.
//!
//! One expression type serves both places expressions are evaluated: over a reading (`WHERE`,
//! aggregate arguments; the leaves are fields) and over a group (`SELECT` columns, `HAVING`;
//! the leaves are group keys and aggregate results). A value of the wrong type for its use (a
//! string in arithmetic, a number compared with a string, an object anywhere but `IS NULL`) is
//! `wrong_type`; arithmetic that leaves the finite doubles is `non_finite`. Over a reading that
//! rejects the reading for the query; over a group it makes the value NULL. Both operands of
//! `AND`/`OR` are always evaluated, so whether a reading is rejected never depends on the
//! order in which a condition was written.

use std::fmt;

use crate::parse::RejectReason;
use crate::query::value::V;

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (always DOUBLE, as in DuckDB)
    Div,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal of the query text.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// `NULL`
    Null,
    /// `TRUE` / `FALSE`
    Bool(bool),
    /// An integer literal.
    Int(i64),
    /// A decimal or exponent literal.
    Num(f64),
    /// A string literal.
    Str(String),
}

impl Lit {
    /// The literal as a value.
    pub fn value(&self) -> V<'_> {
        match self {
            Lit::Null => V::Null,
            Lit::Bool(b) => V::Bool(*b),
            Lit::Int(n) => V::Int(*n),
            Lit::Num(x) => V::Num(*x),
            Lit::Str(s) => V::Str(s.as_bytes()),
        }
    }
}

/// A compiled `LIKE` pattern: `%` any run of characters, `_` one character, the escape
/// character (if any) makes the next one literal. There is no escape character unless
/// `ESCAPE` names one (DuckDB's rule).
#[derive(Clone, Debug, PartialEq)]
pub struct Like {
    source: String,
    tokens: Vec<LikeToken>,
}

#[derive(Clone, Debug, PartialEq)]
enum LikeToken {
    /// `%`
    Any,
    /// `_`
    One,
    /// A literal character.
    Char(char),
}

impl Like {
    /// Compiles `pattern`; `None` when it ends in a lone escape character.
    pub fn new(pattern: &str, escape: Option<char>) -> Option<Like> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                c if Some(c) == escape => LikeToken::Char(chars.next()?),
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                c => LikeToken::Char(c),
            });
        }
        Some(Like { source: pattern.to_owned(), tokens })
    }

    /// True when `text` matches the whole pattern. Backtracking only to the last `%` suffices
    /// (a later `%` can absorb whatever an earlier one would have), so the work is at most the
    /// text's length times the pattern's, never exponential.
    pub fn matches(&self, text: &str) -> bool {
        // Byte positions at character boundaries: `t` in the text, `p` in the tokens; `star` is
        // the last `%` seen and where its run started.
        let char_at = |t: usize| text[t..].chars().next().unwrap_or('\0');
        let (mut t, mut p) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            let c = char_at(t);
            match self.tokens.get(p) {
                Some(LikeToken::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(LikeToken::One) => (t, p) = (t + c.len_utf8(), p + 1),
                Some(LikeToken::Char(x)) if *x == c => (t, p) = (t + c.len_utf8(), p + 1),
                _ => match star {
                    Some((sp, st)) => {
                        let next = st + char_at(st).len_utf8();
                        star = Some((sp, next));
                        (t, p) = (next, sp + 1);
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|token| *token == LikeToken::Any)
    }
}

impl fmt::Display for Like {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.source.replace('\'', "''"))
    }
}

/// An expression whose leaves are `L` (fields of a reading, or keys and aggregates of a group).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr<L> {
    /// A field, key or aggregate.
    Leaf(L),
    /// A literal.
    Lit(Lit),
    /// Unary minus.
    Neg(Box<Expr<L>>),
    /// Arithmetic.
    Arith(Arith, Box<Expr<L>>, Box<Expr<L>>),
    /// A comparison.
    Cmp(Cmp, Box<Expr<L>>, Box<Expr<L>>),
    /// `AND`
    And(Box<Expr<L>>, Box<Expr<L>>),
    /// `OR`
    Or(Box<Expr<L>>, Box<Expr<L>>),
    /// `NOT`
    Not(Box<Expr<L>>),
    /// `IS NULL` (`true`: `IS NOT NULL`).
    IsNull(Box<Expr<L>>, bool),
    /// `IN (…)` over literals (`true`: `NOT IN`).
    In(Box<Expr<L>>, Vec<Lit>, bool),
    /// `LIKE` (`true`: `NOT LIKE`).
    Like(Box<Expr<L>>, Like, bool),
}

type Outcome<'a> = Result<V<'a>, RejectReason>;

impl<L> Expr<L> {
    /// Evaluates the expression, `leaf` giving the value of each leaf.
    pub fn eval<'a>(&'a self, leaf: &impl Fn(&'a L) -> Outcome<'a>) -> Outcome<'a> {
        match self {
            Expr::Leaf(l) => leaf(l),
            Expr::Lit(lit) => Ok(lit.value()),
            Expr::Neg(e) => negate(e.eval(leaf)?),
            Expr::Arith(op, a, b) => arith(*op, a.eval(leaf)?, b.eval(leaf)?),
            Expr::Cmp(op, a, b) => compare(*op, a.eval(leaf)?, b.eval(leaf)?),
            Expr::And(a, b) => and(truth(a.eval(leaf)?)?, truth(b.eval(leaf)?)?),
            Expr::Or(a, b) => or(truth(a.eval(leaf)?)?, truth(b.eval(leaf)?)?),
            Expr::Not(e) => Ok(truth(e.eval(leaf)?)?.map_or(V::Null, |b| V::Bool(!b))),
            Expr::IsNull(e, negated) => Ok(V::Bool((e.eval(leaf)? == V::Null) != *negated)),
            Expr::In(e, list, negated) => in_list(e.eval(leaf)?, list, *negated),
            Expr::Like(e, like, negated) => match e.eval(leaf)? {
                V::Null => Ok(V::Null),
                V::Str(s) => Ok(V::Bool(like.matches(&String::from_utf8_lossy(s)) != *negated)),
                _ => Err(RejectReason::WrongType),
            },
        }
    }

    /// True when the expression, as a condition, holds (NULL does not).
    pub fn holds<'a>(&'a self, leaf: &impl Fn(&'a L) -> Outcome<'a>) -> Result<bool, RejectReason> {
        Ok(truth(self.eval(leaf)?)? == Some(true))
    }

    /// Every leaf, depth first.
    pub fn leaves(&self, out: &mut Vec<L>)
    where
        L: Clone,
    {
        match self {
            Expr::Leaf(l) => out.push(l.clone()),
            Expr::Lit(_) => {}
            Expr::Neg(e) | Expr::Not(e) | Expr::IsNull(e, _) | Expr::In(e, ..) | Expr::Like(e, ..) => {
                e.leaves(out)
            }
            Expr::Arith(_, a, b) | Expr::Cmp(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
                a.leaves(out);
                b.leaves(out);
            }
        }
    }

    /// The same expression with each leaf replaced by `f`'s.
    pub fn map<M>(&self, f: &impl Fn(&L) -> M) -> Expr<M> {
        let map = |e: &Expr<L>| Box::new(e.map(f));
        match self {
            Expr::Leaf(l) => Expr::Leaf(f(l)),
            Expr::Lit(lit) => Expr::Lit(lit.clone()),
            Expr::Neg(e) => Expr::Neg(map(e)),
            Expr::Arith(op, a, b) => Expr::Arith(*op, map(a), map(b)),
            Expr::Cmp(op, a, b) => Expr::Cmp(*op, map(a), map(b)),
            Expr::And(a, b) => Expr::And(map(a), map(b)),
            Expr::Or(a, b) => Expr::Or(map(a), map(b)),
            Expr::Not(e) => Expr::Not(map(e)),
            Expr::IsNull(e, negated) => Expr::IsNull(map(e), *negated),
            Expr::In(e, list, negated) => Expr::In(map(e), list.clone(), *negated),
            Expr::Like(e, like, negated) => Expr::Like(map(e), like.clone(), *negated),
        }
    }
}

/// A condition's truth: `Some(bool)`, or `None` for NULL; anything else is the wrong type.
fn truth(v: V<'_>) -> Result<Option<bool>, RejectReason> {
    match v {
        V::Bool(b) => Ok(Some(b)),
        V::Null => Ok(None),
        _ => Err(RejectReason::WrongType),
    }
}

fn and<'a>(a: Option<bool>, b: Option<bool>) -> Outcome<'a> {
    Ok(match (a, b) {
        (Some(false), _) | (_, Some(false)) => V::Bool(false),
        (Some(true), Some(true)) => V::Bool(true),
        _ => V::Null,
    })
}

fn or<'a>(a: Option<bool>, b: Option<bool>) -> Outcome<'a> {
    Ok(match (a, b) {
        (Some(true), _) | (_, Some(true)) => V::Bool(true),
        (Some(false), Some(false)) => V::Bool(false),
        _ => V::Null,
    })
}

fn negate(v: V<'_>) -> Outcome<'_> {
    match v {
        V::Null => Ok(V::Null),
        V::Int(n) => Ok(n.checked_neg().map_or(V::Num(-(n as f64)), V::Int)),
        V::Num(x) => Ok(V::Num(-x)),
        _ => Err(RejectReason::WrongType),
    }
}

/// Arithmetic as DuckDB does it on BIGINT and DOUBLE: integers stay integers under `+ - *`
/// (turning DOUBLE rather than overflowing), `/` is always DOUBLE; a result that is not a
/// finite double is `non_finite`.
fn arith<'a>(op: Arith, a: V<'a>, b: V<'a>) -> Outcome<'a> {
    if a == V::Null || b == V::Null {
        // NULL + 'text' is still the wrong type.
        return match (a.number().is_some() || a == V::Null, b.number().is_some() || b == V::Null) {
            (true, true) => Ok(V::Null),
            _ => Err(RejectReason::WrongType),
        };
    }
    if let (V::Int(x), V::Int(y)) = (a, b) {
        let exact = match op {
            Arith::Add => x.checked_add(y),
            Arith::Sub => x.checked_sub(y),
            Arith::Mul => x.checked_mul(y),
            Arith::Div => None,
        };
        if let Some(n) = exact {
            return Ok(V::Int(n));
        }
    }
    let (Some(x), Some(y)) = (a.number(), b.number()) else {
        return Err(RejectReason::WrongType);
    };
    let result = match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        Arith::Div => x / y,
    };
    if result.is_finite() {
        Ok(V::Num(result))
    } else {
        Err(RejectReason::NonFinite)
    }
}

/// Compares two values of one type (numbers of either kind compare by value); NULL if either
/// is NULL; anything else is the wrong type.
pub fn compare<'a>(op: Cmp, a: V<'a>, b: V<'a>) -> Outcome<'a> {
    use std::cmp::Ordering;
    let order: Option<Ordering> = match (a, b) {
        (V::Object | V::Array, _) | (_, V::Object | V::Array) => return Err(RejectReason::WrongType),
        (V::Null, _) | (_, V::Null) => return Ok(V::Null),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(&y)),
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Int(x), V::Int(y)) => Some(x.cmp(&y)),
        (x, y) => match (x.number(), y.number()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => return Err(RejectReason::WrongType),
        },
    };
    let Some(order) = order else { return Ok(V::Null) };
    Ok(V::Bool(match op {
        Cmp::Eq => order.is_eq(),
        Cmp::Ne => order.is_ne(),
        Cmp::Lt => order.is_lt(),
        Cmp::Le => order.is_le(),
        Cmp::Gt => order.is_gt(),
        Cmp::Ge => order.is_ge(),
    }))
}

/// `v IN (list)`: true on a match, NULL when there is none but the list holds NULL.
fn in_list<'a>(v: V<'a>, list: &'a [Lit], negated: bool) -> Outcome<'a> {
    let mut unknown = v == V::Null;
    for item in list {
        match compare(Cmp::Eq, v, item.value())? {
            V::Bool(true) => return Ok(V::Bool(!negated)),
            V::Null => unknown = true,
            _ => {}
        }
    }
    Ok(if unknown { V::Null } else { V::Bool(negated) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(l: Lit) -> Box<Expr<usize>> {
        Box::new(Expr::Lit(l))
    }

    fn field(i: usize) -> Box<Expr<usize>> {
        Box::new(Expr::Leaf(i))
    }

    fn eval<'a>(e: &'a Expr<usize>, values: &[V<'static>]) -> Outcome<'a> {
        e.eval(&|i: &usize| Ok(values[*i]))
    }

    #[test]
    fn like_matches_whole_strings() {
        let cases = [
            ("a%", "abc", true),
            ("a%", "ba", false),
            ("%b%", "abc", true),
            ("a_c", "abc", true),
            ("a_c", "abbc", false),
            ("%", "", true),
            ("_", "", false),
            ("%a%b%", "xaxxbx", true),
            ("%ab", "aab", true),
            ("é_", "éx", true),
            ("a\\%", "a\\x", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(Like::new(pattern, None).unwrap().matches(text), expected, "{pattern} {text}");
        }
        let escaped = Like::new("100!%", Some('!')).unwrap();
        assert!(escaped.matches("100%") && !escaped.matches("1000"));
        assert!(Like::new("a!", Some('!')).is_none());
    }

    #[test]
    fn three_valued_logic() {
        let values = [V::Null, V::Bool(true), V::Bool(false)];
        let check =
            |e: Expr<usize>, expected: V<'_>| assert_eq!(eval(&e, &values).unwrap(), expected, "{e:?}");
        check(Expr::And(field(0), field(2)), V::Bool(false));
        check(Expr::And(field(0), field(1)), V::Null);
        check(Expr::Or(field(0), field(1)), V::Bool(true));
        check(Expr::Or(field(0), field(2)), V::Null);
        check(Expr::Not(field(0)), V::Null);
        check(Expr::In(field(1), vec![Lit::Bool(false), Lit::Null], false), V::Null);
        let not_null = Expr::Not(field(0));
        assert!(!not_null.holds(&|i: &usize| Ok(values[*i])).unwrap(), "NULL does not hold");
    }

    #[test]
    fn types_must_fit_their_use() {
        let values = [V::Str(b"7"), V::Num(7.0), V::Object, V::Null];
        let cases = [
            (Expr::Arith(Arith::Add, field(0), lit(Lit::Int(1))), Err(RejectReason::WrongType)),
            (Expr::Cmp(Cmp::Eq, field(0), field(1)), Err(RejectReason::WrongType)),
            (Expr::IsNull(field(2), false), Ok(V::Bool(false))),
            // NULL + 'text' is still the wrong type.
            (Expr::Arith(Arith::Add, field(3), field(0)), Err(RejectReason::WrongType)),
            // No short circuit hides a type error.
            (
                Expr::Or(
                    Box::new(Expr::Cmp(Cmp::Gt, field(1), lit(Lit::Int(0)))),
                    Box::new(Expr::Cmp(Cmp::Gt, field(0), lit(Lit::Int(0)))),
                ),
                Err(RejectReason::WrongType),
            ),
        ];
        for (e, expected) in cases {
            assert_eq!(eval(&e, &values), expected, "{e:?}");
        }
    }

    #[test]
    fn arithmetic_is_duckdbs() {
        let cases = [
            (Arith::Div, Lit::Int(3), Lit::Int(2), Ok(V::Num(1.5))),
            (Arith::Mul, Lit::Int(3), Lit::Int(2), Ok(V::Int(6))),
            (Arith::Add, Lit::Int(i64::MAX), Lit::Int(1), Ok(V::Num(i64::MAX as f64 + 1.0))),
            (Arith::Div, Lit::Num(1.0), Lit::Int(0), Err(RejectReason::NonFinite)),
            (Arith::Sub, Lit::Null, Lit::Int(0), Ok(V::Null)),
        ];
        for (op, a, b, expected) in cases {
            let e = Expr::Arith(op, lit(a), lit(b));
            assert_eq!(eval(&e, &[]), expected, "{e:?}");
        }
    }
}
