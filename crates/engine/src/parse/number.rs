//! JSON numbers: the strict grammar, and the value converted while the digits are scanned,
//! shared by the seed's fast path and the queries' field extractor.
//!
//! The usual form (`-?digits[.digits]`, at most 15 digits, no exponent) makes an integer exact
//! in an `f64`, and dividing it by an exact power of ten rounds once, correctly (Clinger's fast
//! path), so the result is the general parser's. Longer numbers and exponents go through Rust's
//! float parser (correctly rounded; overflow gives infinity).

/// Powers of ten that are exact in an `f64`.
const EXACT_POWERS_OF_TEN: [f64; 16] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// Digits an `f64` holds exactly in its integer mantissa (10^15 < 2^53).
const MAX_EXACT_DIGITS: usize = 15;

/// The number in strict JSON grammar, `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`,
/// starting at `pos` of `bytes`: its value and where it ends, or `None` if there is none.
#[inline]
pub(crate) fn scan(bytes: &[u8], mut pos: usize) -> Option<(f64, usize)> {
    let start = pos;
    let negative = eat(bytes, &mut pos, b'-');
    let int_start = pos;
    let mut mantissa = 0u64;
    accumulate_digits(bytes, &mut pos, &mut mantissa);
    let int_digits = pos - int_start;
    // No digits, or a leading zero (`01`): not JSON.
    if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
        return None;
    }
    let mut fraction_digits = 0;
    if eat(bytes, &mut pos, b'.') {
        let fraction_start = pos;
        accumulate_digits(bytes, &mut pos, &mut mantissa);
        fraction_digits = pos - fraction_start;
        if fraction_digits == 0 {
            return None;
        }
    }
    let exponent = matches!(bytes.get(pos), Some(b'e' | b'E'));
    if !exponent && int_digits + fraction_digits <= MAX_EXACT_DIGITS {
        let value = mantissa as f64 / EXACT_POWERS_OF_TEN[fraction_digits];
        return Some((if negative { -value } else { value }, pos));
    }
    if exponent {
        pos += 1;
        if !eat(bytes, &mut pos, b'+') {
            eat(bytes, &mut pos, b'-');
        }
        let exponent_start = pos;
        accumulate_digits(bytes, &mut pos, &mut 0);
        if pos == exponent_start {
            return None;
        }
    }
    // The grammar above is a subset of what Rust's float parser accepts, so this cannot fail;
    // the bytes are ASCII digits and signs, hence UTF-8.
    let value = std::str::from_utf8(bytes.get(start..pos)?).ok()?.parse().ok()?;
    Some((value, pos))
}

/// Takes ASCII digits, folding them into `value` (wrapping: only used when there are few).
#[inline]
fn accumulate_digits(bytes: &[u8], pos: &mut usize, value: &mut u64) {
    while let Some(&b) = bytes.get(*pos) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        *value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        *pos += 1;
    }
}

#[inline]
fn eat(bytes: &[u8], pos: &mut usize, byte: u8) -> bool {
    let hit = bytes.get(*pos) == Some(&byte);
    *pos += usize::from(hit);
    hit
}
