//! Redis's `long double` arithmetic, emulated exactly, for `INCRBYFLOAT`.
//!
//! Redis parses both numbers with `strtold`, adds them as x87 80-bit extended floats (64-bit mantissa,
//! 15-bit exponent), and prints the sum with `printf("%.17Lf")` minus trailing zeros. Rust has no such
//! type, and doing the sum in `f64` gives visibly different answers (`10.5 + 0.1` would print
//! `10.59999999999999964`, not `10.6`). So the value is kept as an integer mantissa and a binary
//! exponent, every step is rounded as the x87 rounds (to nearest, ties to even, at 64 bits of
//! mantissa, with the same subnormal range), and parsing and printing go through exact big-integer
//! arithmetic, as glibc's do.
//!
//! ```text
//! value = (-1)^negative * mantissa * 2^exponent        mantissa < 2^64, exponent >= -16445
//! ```

use std::cmp::Ordering;

/// Longest text Redis parses as a long double (`MAX_LONG_DOUBLE_CHARS`); longer is not a float.
const MAX_CHARS: usize = 5 * 1024;
/// Bits of mantissa of an x87 extended float.
const MANTISSA_BITS: i64 = 64;
/// The weight of the lowest mantissa bit of the smallest subnormal: 2^-16445.
const MIN_EXPONENT: i64 = -16445;
/// The weight of the top mantissa bit of the largest finite value: 2^16383.
const MAX_TOP_EXPONENT: i64 = 16383;
/// Digits after the point that `%.17Lf` prints.
const FRACTION_DIGITS: u32 = 17;

/// An x87 extended-precision number, as Redis computes with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongDouble {
    /// A finite value (a zero mantissa is a zero).
    Finite { negative: bool, mantissa: u64, exponent: i64 },
    /// `inf` or `-inf`, which `strtold` accepts (and any sum with it is refused).
    Infinite { negative: bool },
}

impl LongDouble {
    /// Zero: what a missing key counts as.
    pub const ZERO: LongDouble = LongDouble::Finite { negative: false, mantissa: 0, exponent: 0 };

    /// Parses `text` as Redis's `string2ld` does: all of it must be a number `strtold` reads (decimal or
    /// hex, with an exponent, `inf`/`infinity`), with no leading space; `nan`, and numbers too large or too
    /// small to be anything but infinity or zero, are refused. `None` means `ERR value is not a valid float`.
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_CHARS {
            return None;
        }
        let (negative, unsigned) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
            return Some(LongDouble::Infinite { negative });
        }
        let exact = match unsigned {
            [b'0', b'x' | b'X', hex @ ..] => parse_hex(hex)?,
            _ => parse_decimal(unsigned)?,
        };
        match exact {
            Exact::Zero => Some(LongDouble::Finite { negative, mantissa: 0, exponent: 0 }),
            Exact::Overflow | Exact::Underflow => None,
            Exact::Value(mantissa, exponent) => match round(mantissa, exponent, negative) {
                // strtold reports a result rounded to zero or infinity as out of range.
                LongDouble::Finite { mantissa: 0, .. } | LongDouble::Infinite { .. } => None,
                value => Some(value),
            },
        }
    }

    /// The sum, rounded as the x87 rounds it; `None` when it is infinite or not a number, which Redis
    /// refuses with `ERR increment would produce NaN or Infinity`.
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let (
            LongDouble::Finite { negative: a_negative, mantissa: a, exponent: a_exponent },
            LongDouble::Finite { negative: b_negative, mantissa: b, exponent: b_exponent },
        ) = (self, other)
        else {
            return None;
        };
        if a == 0 || b == 0 {
            // x + 0 is x exactly; the sign of a zero sum never shows in the printed text.
            return Some(if a == 0 { other } else { self });
        }
        // Normalised, the larger exponent holds the larger magnitude.
        let (a_exponent, a) = (a_exponent - i64::from(a.leading_zeros()), a << a.leading_zeros());
        let (b_exponent, b) = (b_exponent - i64::from(b.leading_zeros()), b << b.leading_zeros());
        let ((high_negative, high, high_exponent), (low_negative, low, low_exponent)) = if a_exponent >= b_exponent {
            ((a_negative, a, a_exponent), (b_negative, b, b_exponent))
        } else {
            ((b_negative, b, b_exponent), (a_negative, a, a_exponent))
        };
        // The larger at bits 63..127 of a u128; the smaller below it, its shifted-out bits folded into
        // bit 0 (a "sticky" bit), which is far enough below the rounding point to round exactly.
        let base = high_exponent - 63;
        let high = u128::from(high) << 63;
        let distance = high_exponent - low_exponent;
        let low = if distance <= 63 {
            u128::from(low) << (63 - distance)
        } else if distance - 63 < 64 {
            let shift = distance - 63;
            u128::from(low >> shift) | u128::from(low & ((1u64 << shift) - 1) != 0)
        } else {
            1
        };
        let sum = if high_negative == low_negative {
            round(high + low, base, high_negative)
        } else if high >= low {
            match high - low {
                0 => LongDouble::ZERO,
                difference => round(difference, base, high_negative),
            }
        } else {
            round(low - high, base, low_negative)
        };
        matches!(sum, LongDouble::Finite { .. }).then_some(sum)
    }

    /// The text Redis stores and replies: `%.17Lf` (seventeen digits after the point, rounded to nearest,
    /// ties to even), then trailing zeros and a bare point removed, and `-0` written `0`.
    pub fn to_human(self) -> String {
        let (negative, mantissa, exponent) = match self {
            LongDouble::Finite { negative, mantissa, exponent } => (negative, mantissa, exponent),
            LongDouble::Infinite { negative } => return if negative { "-inf" } else { "inf" }.to_owned(),
        };
        // mantissa * 2^exponent * 10^17, rounded to an integer: the digits of %.17Lf without the point.
        let mut scaled = Big::from_u128(u128::from(mantissa));
        scaled.mul_pow10(FRACTION_DIGITS);
        let digits = if exponent >= 0 {
            scaled.shl(exponent.unsigned_abs())
        } else {
            let shift = exponent.unsigned_abs();
            let mut whole = scaled.shr(shift);
            let half = scaled.bit(shift - 1);
            let below_half = scaled.low_bits_nonzero(shift - 1);
            if half && (below_half || whole.bit(0)) {
                whole.add_small(1);
            }
            whole
        };
        let mut digits = digits.to_decimal();
        let width = FRACTION_DIGITS as usize + 1;
        if digits.len() < width {
            digits.insert_str(0, &"0".repeat(width - digits.len()));
        }
        let (whole, fraction) = digits.split_at(digits.len() - FRACTION_DIGITS as usize);
        let fraction = fraction.trim_end_matches('0');
        let mut text = String::with_capacity(digits.len() + 2);
        if negative {
            text.push('-');
        }
        text.push_str(whole);
        if !fraction.is_empty() {
            text.push('.');
            text.push_str(fraction);
        }
        if text == "-0" {
            text.remove(0);
        }
        text
    }
}

/// A parsed number before rounding.
enum Exact {
    Zero,
    /// Surely larger than the largest finite value.
    Overflow,
    /// Surely nearer zero than half the smallest subnormal.
    Underflow,
    /// `mantissa * 2^exponent`, bit 0 of the mantissa set when nonzero bits were cut below it.
    Value(u128, i64),
}

/// Decimal digits with an optional point and exponent: `12`, `1.5`, `.5`, `5.`, `1e-3`, `2E+10`.
fn parse_decimal(text: &[u8]) -> Option<Exact> {
    let (mantissa, rest) = split_digits(text, u8::is_ascii_digit);
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(point) => (&mantissa[..point], &mantissa[point + 1..]),
        None => (mantissa, &b""[..]),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = parse_exponent(rest, b'e')?;
    let digits: Vec<u8> = whole.iter().chain(fraction).map(|d| d - b'0').collect();
    // Leading zeros change nothing; trailing ones only the exponent.
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else { return Some(Exact::Zero) };
    let last = digits.iter().rposition(|&d| d != 0).unwrap_or(first);
    let trailing_zeros = (digits.len() - 1 - last) as i64;
    let digits = &digits[first..=last];
    let exponent = exponent - fraction.len() as i64 + trailing_zeros;
    // value = digits * 10^exponent, in [10^(magnitude-1), 10^magnitude).
    let magnitude = exponent + digits.len() as i64;
    if magnitude - 1 > 4933 {
        return Some(Exact::Overflow); // past 1.19e4932, the largest finite value
    }
    if magnitude < -4951 {
        return Some(Exact::Underflow); // below 1e-4951, less than half of 2^-16445
    }
    if (-19..0).contains(&exponent) && digits.len() <= 19 {
        // Both below 2^64 (most inputs: `0.5`, `10.75`): the same quotient by `u128` division.
        let number = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d));
        return Some(small_quotient(number, 10u64.pow(exponent.unsigned_abs() as u32)));
    }
    let mut number = Big::default();
    for chunk in digits.chunks(9) {
        let value = chunk.iter().fold(0u32, |n, &d| n * 10 + u32::from(d));
        number.mul_small(10u32.pow(chunk.len() as u32));
        number.add_small(value);
    }
    if exponent >= 0 {
        number.mul_pow10(exponent as u32);
        return Some(top_bits(&number, 0));
    }
    let mut divisor = Big::default();
    divisor.add_small(1);
    divisor.mul_pow10(exponent.unsigned_abs() as u32);
    Some(big_quotient(number, divisor))
}

/// `number / divisor` as about 67 bits of quotient by long division, the remainder folded into bit 0
/// (sticky): `Exact::Value(quotient, -shift)` for the `shift` that scales `number` to give them.
fn big_quotient(number: Big, divisor: Big) -> Exact {
    let shift = 67 + divisor.bit_len() as i64 - number.bit_len() as i64;
    let (mut number, divisor) =
        if shift >= 0 { (number.shl(shift as u64), divisor) } else { (number, divisor.shl(shift.unsigned_abs())) };
    let mut quotient = 0u128;
    // `step` is `divisor << bit` at each turn: shifted once and halved in place (exactly: its low
    // `bit` bits are zero), not rebuilt, an allocation a bit.
    let mut step = divisor.shl(68);
    for bit in (0..=68).rev() {
        if number.cmp(&step) != Ordering::Less {
            number.sub_assign(&step);
            quotient |= 1 << bit;
        }
        step.halve();
    }
    Exact::Value(quotient | u128::from(!number.is_zero()), -shift)
}

/// [`big_quotient`] for a nonzero `number` and a `divisor` that fit 64 bits: long division in steps of
/// up to 64 bits (the remainder is below the divisor, so shifting it 64 still fits 128).
fn small_quotient(number: u64, divisor: u64) -> Exact {
    let bits = |n: u64| i64::from(64 - n.leading_zeros());
    let shift = 67 + bits(divisor) - bits(number);
    let divisor = u128::from(divisor);
    let (mut quotient, mut remainder) = (u128::from(number) / divisor, u128::from(number) % divisor);
    let mut left = shift;
    while left > 0 {
        let step = left.min(64);
        let widened = remainder << step;
        quotient = (quotient << step) | (widened / divisor);
        remainder = widened % divisor;
        left -= step;
    }
    Exact::Value(quotient | u128::from(remainder != 0), -shift)
}

/// Hex digits after `0x` with an optional point and a binary exponent: `1.8p3`, `.8`, `Ap-2`.
fn parse_hex(text: &[u8]) -> Option<Exact> {
    let (mantissa, rest) = split_digits(text, u8::is_ascii_hexdigit);
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(point) => (&mantissa[..point], &mantissa[point + 1..]),
        None => (mantissa, &b""[..]),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = parse_exponent(rest, b'p')? - 4 * fraction.len() as i64;
    let mut number = Big::default();
    for &digit in whole.iter().chain(fraction) {
        let value = (digit as char).to_digit(16).unwrap_or_default();
        number.mul_small(16);
        number.add_small(value);
    }
    if number.is_zero() {
        return Some(Exact::Zero);
    }
    let top = exponent + number.bit_len() as i64 - 1;
    if top > MAX_TOP_EXPONENT + 1 {
        return Some(Exact::Overflow);
    }
    if top < MIN_EXPONENT - 2 {
        return Some(Exact::Underflow);
    }
    Some(top_bits(&number, exponent))
}

/// Splits off the longest prefix of digits (as `is_digit` says) and at most one point.
fn split_digits(text: &[u8], is_digit: fn(&u8) -> bool) -> (&[u8], &[u8]) {
    let mut seen_point = false;
    let end = text
        .iter()
        .position(|b| {
            if *b == b'.' && !seen_point {
                seen_point = true;
                return false;
            }
            !is_digit(b)
        })
        .unwrap_or(text.len());
    text.split_at(end)
}

/// An exponent part (`e-12`, `p+3`), which must be all that is left; an empty rest is exponent 0.
/// Saturates far beyond any finite value's range, where only the sign of the exponent still matters.
fn parse_exponent(rest: &[u8], marker: u8) -> Option<i64> {
    const SATURATED: i64 = 1 << 40;
    let Some((&first, rest)) = rest.split_first() else { return Some(0) };
    if first.to_ascii_lowercase() != marker {
        return None;
    }
    let (negative, digits) = match rest {
        [b'-', digits @ ..] => (true, digits),
        [b'+', digits @ ..] => (false, digits),
        digits => (false, digits),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0i64, |n, &d| (n * 10 + i64::from(d - b'0')).min(SATURATED));
    Some(if negative { -value } else { value })
}

/// The top 128 bits of `number * 2^exponent`, with any nonzero bits below them folded into bit 0.
fn top_bits(number: &Big, exponent: i64) -> Exact {
    let length = number.bit_len();
    if length <= 128 {
        return Exact::Value(number.low_u128(), exponent);
    }
    let cut = length - 128;
    let top = number.shr(cut).low_u128() | u128::from(number.low_bits_nonzero(cut));
    Exact::Value(top, exponent + cut as i64)
}

/// Rounds `value * 2^exponent` (`value` nonzero, bit 0 possibly a sticky bit) to the nearest x87
/// extended float, ties to even: 64 bits of mantissa, fewer for subnormals, infinity past the largest.
fn round(value: u128, exponent: i64, negative: bool) -> LongDouble {
    let length = i64::from(128 - value.leading_zeros());
    // The weight of the lowest bit kept.
    let lowest = (exponent + length - MANTISSA_BITS).max(MIN_EXPONENT);
    let shift = lowest - exponent;
    let mantissa = if shift <= 0 {
        value << shift.unsigned_abs()
    } else if shift > 128 {
        0 // less than half of the lowest bit: rounds to zero
    } else if shift == 128 {
        let half = 1u128 << 127;
        u128::from(value > half)
    } else {
        let kept = value >> shift;
        let cut = value & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        kept + u128::from(cut > half || (cut == half && kept & 1 == 1))
    };
    // Rounding up may carry into a 65th bit.
    let (mantissa, lowest) =
        if mantissa >> MANTISSA_BITS != 0 { (mantissa >> 1, lowest + 1) } else { (mantissa, lowest) };
    let top = lowest + i64::from(128 - mantissa.leading_zeros()) - 1;
    if mantissa != 0 && top > MAX_TOP_EXPONENT {
        return LongDouble::Infinite { negative };
    }
    LongDouble::Finite { negative, mantissa: mantissa as u64, exponent: lowest }
}

/// Just enough of an unsigned big integer for exact decimal/binary conversion: little-endian 32-bit
/// limbs, no leading zero limbs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut value: u128) -> Big {
        let mut limbs = Vec::new();
        while value != 0 {
            limbs.push(value as u32);
            value >>= 32;
        }
        Big(limbs)
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, addend: u32) {
        let mut carry = u64::from(addend);
        for limb in &mut self.0 {
            if carry == 0 {
                return;
            }
            let sum = u64::from(*limb) + carry;
            *limb = sum as u32;
            carry = sum >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut power: u32) {
        while power >= 9 {
            self.mul_small(1_000_000_000);
            power -= 9;
        }
        self.mul_small(10u32.pow(power));
    }

    fn bit_len(&self) -> u64 {
        self.0.last().map_or(0, |top| 32 * (self.0.len() as u64 - 1) + u64::from(32 - top.leading_zeros()))
    }

    fn bit(&self, index: u64) -> bool {
        let limb = (index / 32) as usize;
        self.0.get(limb).is_some_and(|limb| limb >> (index % 32) & 1 == 1)
    }

    /// Whether any of the lowest `bits` bits is set.
    fn low_bits_nonzero(&self, bits: u64) -> bool {
        let whole = ((bits / 32) as usize).min(self.0.len());
        if self.0[..whole].iter().any(|&limb| limb != 0) {
            return true;
        }
        let rest = bits % 32;
        rest != 0 && self.0.get(whole).is_some_and(|limb| limb & ((1 << rest) - 1) != 0)
    }

    fn low_u128(&self) -> u128 {
        self.0.iter().take(4).rev().fold(0u128, |n, &limb| (n << 32) | u128::from(limb))
    }

    fn shl(&self, bits: u64) -> Big {
        if self.is_zero() {
            return Big::default();
        }
        let (limbs, rest) = ((bits / 32) as usize, (bits % 32) as u32);
        let mut out = vec![0u32; limbs];
        out.reserve(self.0.len() + 1);
        let mut carry = 0u32;
        for &limb in &self.0 {
            if rest == 0 {
                out.push(limb);
            } else {
                out.push((limb << rest) | carry);
                carry = limb >> (32 - rest);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        Big(out)
    }

    fn shr(&self, bits: u64) -> Big {
        let (limbs, rest) = ((bits / 32) as usize, (bits % 32) as u32);
        if limbs >= self.0.len() {
            return Big::default();
        }
        let source = &self.0[limbs..];
        let mut out: Vec<u32> = if rest == 0 {
            source.to_vec()
        } else {
            (0..source.len())
                .map(|i| (source[i] >> rest) | source.get(i + 1).map_or(0, |next| next << (32 - rest)))
                .collect()
        };
        while out.last() == Some(&0) {
            out.pop();
        }
        Big(out)
    }

    /// `self >>= 1`, in place.
    fn halve(&mut self) {
        let mut carry = 0u32;
        for limb in self.0.iter_mut().rev() {
            let low = *limb & 1;
            *limb = (*limb >> 1) | (carry << 31);
            carry = low;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other`, for `self >= other`.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let difference = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(difference < 0);
            *limb = difference.rem_euclid(1 << 32) as u32;
        }
        self.trim();
    }

    /// Divides by `divisor` in place; returns the remainder.
    fn div_small(&mut self, divisor: u32) -> u32 {
        let mut remainder = 0u64;
        for limb in self.0.iter_mut().rev() {
            let current = (remainder << 32) | u64::from(*limb);
            *limb = (current / u64::from(divisor)) as u32;
            remainder = current % u64::from(divisor);
        }
        self.trim();
        remainder as u32
    }

    fn to_decimal(&self) -> String {
        let mut number = self.clone();
        let mut chunks = Vec::new();
        while !number.is_zero() {
            chunks.push(number.div_small(1_000_000_000));
        }
        let Some((first, rest)) = chunks.split_last() else { return "0".to_owned() };
        let mut text = first.to_string();
        for chunk in rest.iter().rev() {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `INCRBYFLOAT` stores for `value` plus `increment`, or `None` for either error.
    fn incr(value: &str, increment: &str) -> Option<String> {
        let sum = LongDouble::parse(value.as_bytes())?.checked_add(LongDouble::parse(increment.as_bytes())?)?;
        Some(sum.to_human())
    }

    /// Every expectation below was read from redis-server 7.0 (x86-64, glibc) by `SET k <value>` then
    /// `INCRBYFLOAT k <increment>`.
    #[test]
    fn sums_print_as_redis_prints_them() {
        let cases = [
            ("10.5", "0.1", "10.6"),
            ("0", "0.1", "0.1"),
            ("0.1", "0.2", "0.3"),
            ("3.0e3", "0", "3000"),
            ("1", "-1", "0"),
            ("-0", "0", "0"),
            ("123456789012345678901234567890", "0", "123456789012345678899921813504"),
            ("-0.0000000000000000001", "0", "0"),
            ("0x1.fp3", "0", "15.5"),
            ("+.5e1", "0", "5"),
            ("5.", "0", "5"),
            (".5", "0", "0.5"),
            ("00012", "0", "12"),
            ("0e99999999999999999999", "0", "0"),
            ("0x1p-16445", "0", "0"),
            ("0x1.8p-16446", "0", "0"),
            ("1e-4950", "0", "0"),
            ("5.0e3", "2.0e2", "5200"),
            ("1.23456789012345678", "0", "1.23456789012345678"),
            ("9223372036854775807", "1", "9223372036854775808"),
            ("0.1", "-0.3", "-0.2"),
        ];
        for (value, increment, expected) in cases {
            assert_eq!(incr(value, increment).as_deref(), Some(expected), "{value} + {increment}");
        }
        // Near the largest finite value every one of the 4933 integer digits is printed.
        let huge = incr("1e4932", "0").unwrap();
        assert_eq!(huge.len(), 4933);
        assert!(huge.starts_with("1000000000000000000006018949387963891323"));
        assert!(huge.ends_with("63141086538418113791886622720"));
        // %.17Lf rounds ties to even: 3 * 2^-18 = 0.0000114440917968750.
        assert_eq!(incr("0x3p-18", "0").as_deref(), Some("0.00001144409179688"));
    }

    #[test]
    fn refused_as_redis_refuses_them() {
        for bad in [
            "",
            " 1",
            "1 ",
            "1e-5000",
            "0x1p-16446",
            "1.2e4932",
            "1e5000",
            "-1e5000",
            "0x",
            "1e",
            "1e+",
            ".",
            "1_0",
            "infinit",
            "nan",
            "-nan",
            "NaN(1)",
            "1.5.5",
            "0x1p",
            "abc",
            "1\0",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(LongDouble::parse("1".repeat(MAX_CHARS).as_bytes()), None);
        // Infinities parse, and every sum with one is refused.
        for infinite in ["inf", "-infinity", "INF", "+Infinity"] {
            assert!(matches!(LongDouble::parse(infinite.as_bytes()), Some(LongDouble::Infinite { .. })));
            assert_eq!(incr(infinite, "1"), None);
        }
        // Overflow of the sum.
        assert_eq!(incr("1.1e4932", "1.1e4932"), None);
        assert!(incr("1.1e4932", "-1.1e4932").is_some());
    }

    #[test]
    fn rounding_handles_carries_and_subnormals() {
        // 2^64 - 1 rounds up to 2^64 as a 65-bit value would not fit.
        let value = round((1u128 << 65) - 1, 0, false);
        assert_eq!(value, LongDouble::Finite { negative: false, mantissa: 1 << 63, exponent: 2 });
        // Half the smallest subnormal rounds to zero (ties to even); a bit more rounds up to it.
        assert_eq!(
            round(1, MIN_EXPONENT - 1, false),
            LongDouble::Finite { negative: false, mantissa: 0, exponent: MIN_EXPONENT }
        );
        assert_eq!(
            round(3, MIN_EXPONENT - 2, false),
            LongDouble::Finite { negative: false, mantissa: 1, exponent: MIN_EXPONENT }
        );
    }

    #[test]
    fn the_small_quotient_is_the_long_divisions() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let number = (x % 10u64.pow((x >> 59) as u32 % 19 + 1)).max(1);
            let divisor = 10u64.pow((x >> 40) as u32 % 19 + 1);
            let big = big_quotient(Big::from_u128(u128::from(number)), Big::from_u128(u128::from(divisor)));
            let (Exact::Value(a, a_exp), Exact::Value(b, b_exp)) = (small_quotient(number, divisor), big) else {
                panic!("a nonzero quotient")
            };
            assert_eq!((a, a_exp), (b, b_exp), "{number} / {divisor}");
        }
    }

    /// The `u128` path's gate: 19 digits over 10^19 take it, 20 digits do not (they would not fit the
    /// `u64` the digits are folded into); both parse to what the long division gives.
    #[test]
    fn decimals_at_the_u128_paths_edges_parse_as_the_long_division_gives() {
        let big = |digits: &str, power: u32| {
            let mut number = Big::default();
            digits.bytes().for_each(|d| {
                number.mul_small(10);
                number.add_small(u32::from(d - b'0'));
            });
            let mut divisor = Big::default();
            divisor.add_small(1);
            divisor.mul_pow10(power);
            match big_quotient(number, divisor) {
                Exact::Value(value, exponent) => (value, exponent),
                _ => panic!("a nonzero quotient"),
            }
        };
        for (text, digits, power) in [
            ("0.1234567890123456789", "1234567890123456789", 19),
            ("9.8765432109876543211", "98765432109876543211", 19),
            ("99999999999999999999.5", "999999999999999999995", 1),
            ("0.0000000000000000001", "1", 19),
        ] {
            let Some(Exact::Value(value, exponent)) = parse_decimal(text.as_bytes()) else { panic!("{text}") };
            assert_eq!((value, exponent), big(digits, power), "{text}");
        }
    }

    #[test]
    fn big_integers_convert_exactly() {
        let mut n = Big::from_u128(1);
        n.mul_pow10(40);
        assert_eq!(n.to_decimal(), format!("1{}", "0".repeat(40)));
        assert_eq!(n.shl(3).shr(3), n);
        assert_eq!(Big::default().to_decimal(), "0");
        assert_eq!(Big::from_u128(u128::MAX).to_decimal(), u128::MAX.to_string());
    }
}
