//! Values as SQL sees a JSON reading: numbers are DOUBLE, strings VARCHAR, `true`/`false`
//! BOOLEAN, a missing field or `null` is NULL; objects and arrays are present but never
//! materialised (only `count(x)` and `IS NULL` may look at them).
//!
//! [`V`] is a value while a reading or a group is evaluated (strings borrowed); [`Cell`] is one
//! output column's value. Group keys are kept as a canonical byte encoding ([`encode_key`]):
//! equal values (0.0 and -0.0 included) encode equally, so a group is found by comparing bytes,
//! and [`hash_value`] of the same bytes identifies a value for `count(DISTINCT …)`.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::parse::RejectReason;

/// A value during evaluation, borrowing strings from the message or the plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum V<'a> {
    /// SQL NULL: a missing field, JSON `null`, or the NULL of three-valued logic.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// An integer (counts, integer literals): BIGINT.
    Int(i64),
    /// DOUBLE (every JSON number; always finite here).
    Num(f64),
    /// VARCHAR, as its UTF-8 bytes (compared byte by byte, as DuckDB compares VARCHAR; read as
    /// text only by `LIKE` and output).
    Str(&'a [u8]),
    /// A JSON object (present, not materialised).
    Object,
    /// A JSON array (present, not materialised).
    Array,
}

impl V<'_> {
    /// The value as a DOUBLE, if it is a number.
    #[inline]
    pub fn number(self) -> Option<f64> {
        match self {
            V::Num(x) => Some(x),
            V::Int(n) => Some(n as f64),
            _ => None,
        }
    }

    /// The SQL type's name, for messages.
    pub fn type_name(self) -> &'static str {
        match self {
            V::Null => "NULL",
            V::Bool(_) => "BOOLEAN",
            V::Int(_) => "BIGINT",
            V::Num(_) => "DOUBLE",
            V::Str(_) => "VARCHAR",
            V::Object => "object",
            V::Array => "array",
        }
    }
}

/// One output column's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// NULL (a DOUBLE that is not finite is NULL too: JSON has no infinity).
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// BIGINT: counts and integer arithmetic on them.
    Int(i64),
    /// DOUBLE.
    Double(f64),
    /// VARCHAR.
    Str(String),
}

impl Cell {
    /// The cell as an evaluation value (borrowing its string).
    pub fn as_v(&self) -> V<'_> {
        match self {
            Cell::Null => V::Null,
            Cell::Bool(b) => V::Bool(*b),
            Cell::Int(n) => V::Int(*n),
            Cell::Double(x) if x.is_finite() => V::Num(*x),
            Cell::Double(_) => V::Null,
            Cell::Str(s) => V::Str(s.as_bytes()),
        }
    }

    /// An evaluation result as a cell (objects and arrays never reach output: NULL).
    pub fn from_v(v: V<'_>) -> Cell {
        match v {
            V::Bool(b) => Cell::Bool(b),
            V::Int(n) => Cell::Int(n),
            V::Num(x) if x.is_finite() => Cell::Double(x),
            V::Str(s) => Cell::Str(String::from_utf8_lossy(s).into_owned()),
            V::Null | V::Num(_) | V::Object | V::Array => Cell::Null,
        }
    }
}

impl fmt::Display for Cell {
    /// As the console table shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("NULL"),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::Int(n) => write!(f, "{n}"),
            Cell::Double(x) if x.is_finite() => write!(f, "{x}"),
            Cell::Double(_) => f.write_str("NULL"),
            Cell::Str(s) => f.write_str(s),
        }
    }
}

/// The order rows are sorted in by default and by ORDER BY: NULL first, then booleans, numbers
/// (BIGINT and DOUBLE by value), strings (by bytes, as DuckDB compares VARCHAR).
pub fn compare_cells(a: &Cell, b: &Cell) -> Ordering {
    fn rank(c: &Cell) -> u8 {
        match c {
            Cell::Null => 0,
            Cell::Double(x) if !x.is_finite() => 0,
            Cell::Bool(_) => 1,
            Cell::Int(_) | Cell::Double(_) => 2,
            Cell::Str(_) => 3,
        }
    }
    match (a.as_v(), b.as_v()) {
        (V::Bool(x), V::Bool(y)) => x.cmp(&y),
        (V::Int(x), V::Int(y)) => x.cmp(&y),
        (V::Str(x), V::Str(y)) => x.cmp(y),
        (x, y) => match (x.number(), y.number()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => rank(a).cmp(&rank(b)),
        },
    }
}

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_NUMBER: u8 = 3;
const TAG_STRING: u8 = 4;

/// Appends the canonical encoding of a group-key value to `out`. Objects and arrays cannot be
/// keys (`wrong_type`). Numbers are DOUBLE whatever their literal form, and -0.0 is 0.0.
#[inline]
pub fn encode_key(value: V<'_>, out: &mut Vec<u8>) -> Result<(), RejectReason> {
    match value {
        V::Null => out.push(TAG_NULL),
        V::Bool(false) => out.push(TAG_FALSE),
        V::Bool(true) => out.push(TAG_TRUE),
        V::Int(_) | V::Num(_) => {
            let x = value.number().unwrap_or(0.0);
            // Adding 0.0 turns -0.0 into 0.0 and changes nothing else.
            let bits = (x + 0.0).to_bits();
            out.push(TAG_NUMBER);
            out.extend_from_slice(&bits.to_le_bytes());
        }
        V::Str(s) => {
            let len = u32::try_from(s.len()).map_err(|_| RejectReason::TooLarge)?.to_le_bytes();
            out.reserve(5 + s.len());
            out.extend_from_slice(&[TAG_STRING, len[0], len[1], len[2], len[3]]);
            if s.len() <= 16 {
                // Short keys (state codes, formats) byte by byte: cheaper than a call to memcpy.
                out.extend(s.iter().copied());
            } else {
                out.extend_from_slice(s);
            }
        }
        V::Object | V::Array => return Err(RejectReason::WrongType),
    }
    Ok(())
}

/// The values of an encoded key, in order (the encoding is this module's own, so a malformed
/// one cannot occur; what cannot be read becomes NULL rather than a panic).
pub fn decode_key(mut bytes: &[u8]) -> Vec<Cell> {
    let mut cells = Vec::new();
    while let Some((&tag, rest)) = bytes.split_first() {
        let (cell, rest) = match tag {
            TAG_FALSE => (Cell::Bool(false), rest),
            TAG_TRUE => (Cell::Bool(true), rest),
            TAG_NUMBER if rest.len() >= 8 => {
                let (bits, rest) = rest.split_at(8);
                let bits = u64::from_le_bytes(bits.try_into().unwrap_or([0; 8]));
                (Cell::Double(f64::from_bits(bits)), rest)
            }
            TAG_STRING if rest.len() >= 4 => {
                let (len, rest) = rest.split_at(4);
                let len = u32::from_le_bytes(len.try_into().unwrap_or([0; 4])) as usize;
                let (text, rest) = rest.split_at(len.min(rest.len()));
                (Cell::Str(String::from_utf8_lossy(text).into_owned()), rest)
            }
            _ => (Cell::Null, rest),
        };
        cells.push(cell);
        bytes = rest;
    }
    cells
}

/// Byte equality eight bytes at a time: keys and literal runs are short, and a call to
/// `memcmp` costs more than comparing them.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        bytes.get(at..at + 8).map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
    };
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last eight bytes, overlapping what was compared already.
    word(a, n - 8) == word(b, n - 8)
}

/// The 64-bit identity of a scalar value for `count(DISTINCT …)`: XXH3 of its key encoding
/// (`buffer` is scratch space). Two distinct values share one with probability 2⁻⁶⁴ per pair.
#[inline]
pub fn hash_value(value: V<'_>, buffer: &mut Vec<u8>) -> Result<u64, RejectReason> {
    buffer.clear();
    encode_key(value, buffer)?;
    Ok(xxhash_rust::xxh3::xxh3_64(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(values: &[V<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        values.iter().for_each(|v| encode_key(*v, &mut out).unwrap());
        out
    }

    #[test]
    fn keys_round_trip_and_equal_values_encode_equally() {
        let values = [V::Null, V::Bool(true), V::Num(-2.5), V::Str(b"CA"), V::Str(b""), V::Bool(false)];
        let cells = decode_key(&key(&values));
        let expected = [
            Cell::Null,
            Cell::Bool(true),
            Cell::Double(-2.5),
            Cell::Str("CA".into()),
            Cell::Str("".into()),
            Cell::Bool(false),
        ];
        assert_eq!(cells, expected);
        assert_eq!(key(&[V::Num(-0.0)]), key(&[V::Num(0.0)]));
        assert_eq!(key(&[V::Int(3)]), key(&[V::Num(3.0)]));
        assert_ne!(key(&[V::Str(b"1")]), key(&[V::Num(1.0)]));
        assert_eq!(encode_key(V::Object, &mut Vec::new()), Err(RejectReason::WrongType));
    }

    #[test]
    fn cells_sort_nulls_first_then_by_type_and_value() {
        let mut cells =
            vec![Cell::Str("b".into()), Cell::Int(3), Cell::Null, Cell::Double(2.5), Cell::Bool(true)];
        cells.sort_by(compare_cells);
        let expected = [Cell::Null, Cell::Bool(true), Cell::Double(2.5), Cell::Int(3), Cell::Str("b".into())];
        assert_eq!(cells, expected);
    }

    #[test]
    fn distinct_hashes_identify_values() {
        let mut buffer = Vec::new();
        let a = hash_value(V::Num(1.0), &mut buffer).unwrap();
        assert_eq!(a, hash_value(V::Int(1), &mut buffer).unwrap());
        assert_ne!(a, hash_value(V::Str(b"1"), &mut buffer).unwrap());
        assert_eq!(hash_value(V::Array, &mut buffer), Err(RejectReason::WrongType));
    }
}
