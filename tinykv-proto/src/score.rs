//! Sorted-set scores and ranges as Redis 7.0 reads and writes them.
//!
//! Redis reads a score with C's `strtod` under two sets of rules, and prints one with `%.17g`:
//!
//! ```text
//! ZADD/ZINCRBY/WEIGHTS  all of the text, no leading space, not NaN, not out of range ("1e400")
//!                       -> else "value is not a valid float" (or the command's own words)
//! ZRANGEBYSCORE bounds  "(" for exclusive, then strtod: leading space skipped, the rest must be
//!                       empty, "1e400" is inf, "" is 0 -> else "min or max is not a float"
//! lex bounds            "-" "+" "(member" "[member"  -> else "min or max not valid string range item"
//! replies               %.17g: 1.5, 3, 0.10000000000000001, 1e+20, inf, -inf
//! ```

use std::cmp::Ordering;

/// Whether `byte` is white space to C's `isspace`.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What `strtod` made of a prefix of its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    /// The value read (0 when nothing was).
    pub value: f64,
    /// Bytes consumed, leading white space included; 0 when no number was found.
    pub consumed: usize,
    /// Whether strtod would set `ERANGE` with a result of zero or infinity (the number is too small
    /// or too large for a double).
    pub out_of_range: bool,
}

/// Reads the longest prefix of `text` that glibc's `strtod` reads: white space, a sign, then
/// `inf`/`infinity`/`nan[(chars)]` (any case), a hex float (`0x1.8p3`), or a decimal one.
pub fn strtod(text: &[u8]) -> Strtod {
    let none = Strtod { value: 0.0, consumed: 0, out_of_range: false };
    let (negative, at) = sign(text, text.iter().take_while(|&&b| is_space(b)).count());
    let sign = if negative { -1.0 } else { 1.0 };
    // A plain integer of up to 15 digits (most scores) is below 2^53, so exact as an f64: read
    // without the float parser, the same value, before any word or hex prefix is looked for (`0x`
    // is not one: its `x` stops it).
    let whole = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if (1..=15).contains(&whole) && !matches!(text.get(at + whole), Some(b'.' | b'e' | b'E' | b'x' | b'X')) {
        let n = text[at..at + whole].iter().fold(0u64, |n, &digit| n * 10 + u64::from(digit - b'0'));
        return Strtod { value: sign * n as f64, consumed: at + whole, out_of_range: false };
    }
    let rest = &text[at..];
    let starts = |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return Strtod { value: sign * f64::INFINITY, consumed: at + 8, out_of_range: false };
    }
    if starts(b"inf") {
        return Strtod { value: sign * f64::INFINITY, consumed: at + 3, out_of_range: false };
    }
    if starts(b"nan") {
        let mut end = at + 3;
        if text.get(end) == Some(&b'(') {
            let inner = text[end + 1..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
            if text.get(end + 1 + inner) == Some(&b')') {
                end += inner + 2;
            }
        }
        return Strtod { value: f64::NAN, consumed: end, out_of_range: false };
    }
    if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((value, used)) = hex(&rest[2..]) {
            let value = sign * value;
            let out_of_range = value.is_infinite() || value == 0.0 && !is_zero_hex(&rest[2..2 + used]);
            return Strtod { value, consumed: at + 2 + used, out_of_range };
        }
    }
    // Decimal: digits [. digits] (at least one digit), then [eE [+-] digits] if digits follow.
    let digits = |from: usize| text[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut end = at;
    let whole = digits(end);
    end += whole;
    let mut fraction = 0;
    if text.get(end) == Some(&b'.') {
        fraction = digits(end + 1);
        if whole + fraction > 0 {
            end += 1 + fraction;
        }
    }
    if whole + fraction == 0 {
        return none;
    }
    let mantissa_end = end;
    if matches!(text.get(end), Some(b'e' | b'E')) {
        let mut exp = end + 1;
        if matches!(text.get(exp), Some(b'+' | b'-')) {
            exp += 1;
        }
        let exp_digits = digits(exp);
        if exp_digits > 0 {
            end = exp + exp_digits;
        }
    }
    let Ok(number) = std::str::from_utf8(&text[at..end]).unwrap_or("x").parse::<f64>() else { return none };
    let nonzero = text[at..mantissa_end].iter().any(|b| (b'1'..=b'9').contains(b));
    let out_of_range = number.is_infinite() || (number == 0.0 && nonzero);
    Strtod { value: sign * number, consumed: end, out_of_range }
}

/// An optional sign at `at`: whether it is `-`, and where the rest starts.
fn sign(text: &[u8], at: usize) -> (bool, usize) {
    match text.get(at) {
        Some(b'-') => (true, at + 1),
        Some(b'+') => (false, at + 1),
        _ => (false, at),
    }
}

/// A hex float's digits after `0x`: the value and the bytes used, or `None` when no digit follows.
fn hex(text: &[u8]) -> Option<(f64, usize)> {
    let hex_digits = |from: usize| text[from..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let whole = hex_digits(0);
    let mut end = whole;
    let mut fraction = 0;
    if text.get(end) == Some(&b'.') {
        fraction = hex_digits(end + 1);
        if whole + fraction > 0 {
            end += 1 + fraction;
        }
    }
    if whole + fraction == 0 {
        return None;
    }
    // The mantissa as an integer (top 60 bits kept), scaled by the binary exponent.
    let mut mantissa: u64 = 0;
    let mut scale: i64 = 0;
    for &b in text[..end].iter().filter(|b| **b != b'.') {
        let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
        if mantissa >> 56 == 0 {
            mantissa = mantissa << 4 | digit;
        } else {
            scale += 4;
            mantissa |= u64::from(digit != 0); // sticky bit
        }
    }
    scale -= 4 * fraction as i64;
    if matches!(text.get(end), Some(b'p' | b'P')) {
        let (negative, exp) = sign(text, end + 1);
        let count = text[exp..].iter().take_while(|b| b.is_ascii_digit()).count();
        if count > 0 {
            let value = text[exp..exp + count].iter().fold(0i64, |v, b| (v * 10 + i64::from(b - b'0')).min(1 << 20));
            scale += if negative { -value } else { value };
            end = exp + count;
        }
    }
    let value = (mantissa as f64) * 2f64.powi(scale.clamp(-2000, 2000) as i32);
    Some((value, end))
}

fn is_zero_hex(text: &[u8]) -> bool {
    text.iter().take_while(|b| **b != b'p' && **b != b'P').all(|b| *b == b'0' || *b == b'.')
}

/// A score as `ZADD`, `ZINCRBY` and `WEIGHTS` read it (Redis's `getDoubleFromObject`): all of the
/// text, no leading white space, not NaN, neither overflowing nor underflowing to zero.
pub fn parse_score(text: &[u8]) -> Option<f64> {
    if text.is_empty() || is_space(text[0]) {
        return None;
    }
    let read = strtod(text);
    (read.consumed == text.len() && !read.out_of_range && !read.value.is_nan()).then_some(read.value)
}

/// One end of a score range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    /// The bound.
    pub value: f64,
    /// Whether the bound itself is left out (`(1.5`).
    pub exclusive: bool,
}

// Never NaN (the parser refuses it), so equality is an equivalence.
impl Eq for ScoreBound {}

impl ScoreBound {
    /// Reads a bound as Redis's `zslParseRange` does: `(` for an exclusive one, then `strtod`, which
    /// may skip leading white space and must leave nothing but a NUL behind; NaN is refused.
    pub fn parse(text: &[u8]) -> Option<ScoreBound> {
        let (exclusive, number) = match text.first() {
            Some(b'(') => (true, &text[1..]),
            _ => (false, text),
        };
        let read = strtod(number);
        let rest = &number[read.consumed..];
        (rest.first().is_none_or(|&b| b == 0) && !read.value.is_nan())
            .then_some(ScoreBound { value: read.value, exclusive })
    }

    /// Whether `score` lies below this bound taken as a minimum (so before the range).
    pub fn below_min(&self, score: f64) -> bool {
        if self.exclusive {
            score <= self.value
        } else {
            score < self.value
        }
    }

    /// Whether `score` lies within this bound taken as a maximum (so not after the range).
    pub fn within_max(&self, score: f64) -> bool {
        if self.exclusive {
            score < self.value
        } else {
            score <= self.value
        }
    }
}

/// One end of a lexicographic range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[member` (inclusive) or `(member` (exclusive).
    Member { member: bytes::Bytes, exclusive: bool },
}

impl LexBound {
    /// Reads a bound as Redis's `zslParseLexRangeItem` does (`+` and `-` may be followed by a NUL
    /// only, as Redis reads them as C strings).
    pub fn parse(text: &bytes::Bytes) -> Option<LexBound> {
        match text.first() {
            Some(b'+') if text.get(1).is_none_or(|&b| b == 0) => Some(LexBound::Max),
            Some(b'-') if text.get(1).is_none_or(|&b| b == 0) => Some(LexBound::Min),
            Some(b'(') => Some(LexBound::Member { member: text.slice(1..), exclusive: true }),
            Some(b'[') => Some(LexBound::Member { member: text.slice(1..), exclusive: false }),
            _ => None,
        }
    }

    /// Where `member` is relative to this bound: `Less` when it sorts before it.
    fn compare(&self, member: &[u8]) -> Ordering {
        match self {
            LexBound::Min => Ordering::Greater,
            LexBound::Max => Ordering::Less,
            LexBound::Member { member: bound, .. } => member.cmp(bound),
        }
    }

    /// Whether `member` lies below this bound taken as a minimum.
    pub fn below_min(&self, member: &[u8]) -> bool {
        match (self.compare(member), self) {
            (Ordering::Less, _) => true,
            (Ordering::Equal, LexBound::Member { exclusive, .. }) => *exclusive,
            _ => false,
        }
    }

    /// Whether `member` lies within this bound taken as a maximum.
    pub fn within_max(&self, member: &[u8]) -> bool {
        match (self.compare(member), self) {
            (Ordering::Less, _) => true,
            (Ordering::Equal, LexBound::Member { exclusive, .. }) => !*exclusive,
            _ => false,
        }
    }
}

/// A double as C's `printf("%.17g")` prints it, which is how Redis 7.0 replies with a score:
/// 17 significant digits, trailing zeros dropped, an exponent (at least two digits) below 1e-4 or
/// from 1e17.
pub fn format_g17(value: f64) -> String {
    with_g17(value, |text| String::from_utf8_lossy(text).into_owned())
}

/// Hands [`format_g17`]'s text (ASCII) to `use_text`, built on the stack, not allocated: a reply
/// formats each score this way.
pub fn with_g17<R>(value: f64, use_text: impl FnOnce(&[u8]) -> R) -> R {
    if value.is_nan() {
        return use_text(b"nan");
    }
    if value.is_infinite() {
        return use_text(if value > 0.0 { b"inf" } else { b"-inf" });
    }
    if value == 0.0 {
        return use_text(if value.is_sign_negative() { b"-0" } else { b"0" });
    }
    // Integral values below 1e17 print as integers: the common case, without the float formatter
    // (the cast is exact below 1e17, and cheaper than `fract`, a call to `trunc`).
    if value.abs() < 1e17 && value == (value as i64) as f64 {
        return use_text(itoa::Buffer::new().format(value as i64).as_bytes());
    }
    let mut text = Text::default();
    fractional_g17(value, &mut text);
    use_text(&text.bytes[..text.len])
}

/// Room for any `%.17g` text: a sign, 17 digits, a point, `e-324` (a subnormal's).
const G17_MAX: usize = 32;

/// A short text built on the stack.
#[derive(Default)]
struct Text {
    bytes: [u8; G17_MAX],
    len: usize,
}

impl Text {
    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(G17_MAX);
        self.bytes[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.len + text.len() > G17_MAX {
            return Err(std::fmt::Error);
        }
        self.push(text.as_bytes());
        Ok(())
    }
}

/// [`format_g17`] of a finite, non-zero value that is not a small integer, into `out`.
fn fractional_g17(value: f64, out: &mut Text) {
    if value < 0.0 {
        out.push(b"-");
    }
    let magnitude = value.abs();
    if short_binary_fraction(magnitude, out) {
        return;
    }
    // The 17 significant digits, rounded as `printf` rounds them, and the exponent `%g` decides by.
    let mut scientific = Text::default();
    let _ = std::fmt::Write::write_fmt(&mut scientific, format_args!("{magnitude:.16e}"));
    let text = &scientific.bytes[..scientific.len];
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
        Some(e) => (&text[..e], &text[e + 1..]),
        None => (text, &b"0"[..]),
    };
    let exponent: i32 = std::str::from_utf8(exponent).ok().and_then(|e| e.parse().ok()).unwrap_or(0);
    // `d.dddddddddddddddd`: the 17 digits without the point.
    let (mut digits, mut count) = ([0u8; 17], 0);
    for &digit in mantissa.iter().filter(|b| b.is_ascii_digit()).take(17) {
        digits[count] = digit;
        count += 1;
    }
    let digits = &digits[..count];
    if !(-4..17).contains(&exponent) {
        let fraction = trim_trailing_zeros(&digits[1..]);
        out.push(&digits[..1]);
        if !fraction.is_empty() {
            out.push(b".");
            out.push(fraction);
        }
        out.push(if exponent < 0 { b"e-" } else { b"e+" });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push(b"0");
        }
        out.push(itoa::Buffer::new().format(magnitude).as_bytes());
    } else if exponent >= 0 {
        // Fixed, as `%.{16 - exponent}f` would print the same digits.
        let whole = exponent as usize + 1;
        out.push(&digits[..whole]);
        let fraction = trim_trailing_zeros(&digits[whole..]);
        if !fraction.is_empty() {
            out.push(b".");
            out.push(fraction);
        }
    } else {
        out.push(b"0.");
        for _ in 0..exponent.unsigned_abs() - 1 {
            out.push(b"0");
        }
        out.push(trim_trailing_zeros(digits));
    }
}

/// A magnitude with a short binary fraction (`x.5`, `x.25`, ... `x/1024`) whose exact decimal
/// expansion has at most 16 digits (below 2^53 once scaled to an integer) is what `%.17g` prints
/// whole, in its fixed form (such a magnitude is from 2^-10 to 9e14): written from integers, without
/// the float formatter. Whether it was one.
fn short_binary_fraction(magnitude: f64, out: &mut Text) -> bool {
    // A normal double is `significand * 2^(exponent - 1075)`, the significand 53 bits with its
    // leading one: `places` is how many binary digits it has after the point, so it is N / 2^places
    // with N odd.
    let bits = magnitude.to_bits();
    let significand = (bits & ((1 << 52) - 1)) | (1 << 52);
    let places = 1075 - ((bits >> 52) & 0x7ff) as i64 - i64::from(significand.trailing_zeros());
    if !(1..=10).contains(&places) {
        return false;
    }
    let places = places as usize;
    // N * 5^places, an integer, is exact as a product when below 2^53; its last digit is a 5 (N is
    // odd), so there is no trailing zero to trim.
    let scaled = magnitude * 10f64.powi(places as i32);
    if scaled >= 9_007_199_254_740_992.0 {
        return false;
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(scaled as u64).as_bytes();
    if digits.len() > places {
        out.push(&digits[..digits.len() - places]);
        out.push(b".");
    } else {
        out.push(b"0.");
        for _ in digits.len()..places {
            out.push(b"0");
        }
    }
    out.push(&digits[digits.len().saturating_sub(places)..]);
    true
}

/// `500` -> `5`, `000` -> ``.
fn trim_trailing_zeros(digits: &[u8]) -> &[u8] {
    let end = digits.iter().rposition(|&b| b != b'0').map_or(0, |last| last + 1);
    &digits[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_print_as_redis_prints_them() {
        for (value, text) in [
            (1.5, "1.5"),
            (3.0, "3"),
            (0.1, "0.10000000000000001"),
            (1e20, "1e+20"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (2.5e-300, "2.5e-300"),
            (0.3, "0.29999999999999999"),
            (-2.0, "-2"),
        ] {
            assert_eq!(format_g17(value), text, "{value}");
        }
    }

    /// `format_g17` against glibc's own `snprintf("%.17g")` (what Redis 7.0 calls): doubles of
    /// random bits, short binary fractions (`x.5`, `x.375`), decimal fractions and the edges of the
    /// fixed and exponent forms.
    #[test]
    fn scores_print_as_glibc_prints_them() {
        let glibc = |value: f64| {
            let mut buf = [0u8; 64];
            // SAFETY: the buffer is 64 bytes, its length is passed, the format takes one double.
            let len = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), value) };
            String::from_utf8_lossy(&buf[..len as usize]).into_owned()
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values = vec![
            1e-4,
            9.999999999999999e-5,
            1e16,
            0.5,
            1.0 / 1024.0,
            3.0 / 2048.0,
            1e-300,
            1e300,
            // The last short binary fraction below 2^53 once scaled, and the first past it.
            900719925474098.5,
            900719925474099.5,
            // An exact tie at the 17th digit (glibc rounds it to even), subnormals, the smallest normal.
            2f64.powi(-25),
            5e-324,
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MIN_POSITIVE,
            -9.999999999999999e16,
        ];
        for _ in 0..20_000 {
            let bits = f64::from_bits(next());
            if bits.is_finite() {
                values.push(bits);
            }
            let places = next() % 14;
            values.push((next() % (1 << 40)) as f64 / (1u64 << places) as f64);
            let decimals = next() % 8;
            values.push((next() % 100_000_000) as f64 / 10f64.powi(decimals as i32));
            values.push(-((next() % 1000) as f64 + 0.1 * (next() % 10) as f64));
        }
        for value in values {
            assert_eq!(format_g17(value), glibc(value), "{value:e}");
        }
    }

    #[test]
    fn scores_parse_as_strtod_reads_them() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1.8p1"), Some(3.0));
        assert_eq!(parse_score(b"1e5"), Some(1e5));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        assert_eq!(parse_score(b"1e-310"), Some(1e-310));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"x", b"1e", b"1\0", b"--1", b"."] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_score(b"0e-400"), Some(0.0));
    }

    /// Plain integers of up to 15 digits skip the float parser: the same value, sign (`-0`) and
    /// length read as through it, on both sides of the 15 digits and with what may follow them.
    #[test]
    fn plain_integers_read_as_the_float_parser_reads_them() {
        let mut texts: Vec<String> = ["0", "-0", "+7", "000000012345", "999999999999999", "1000000000000000"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 18 + 1) as u32;
            texts.push(format!("{}{}", ["", "-", "+"][(x % 3) as usize], x % 10u64.pow(digits)));
        }
        for text in &texts {
            for tail in ["", ".", ".5", "e", "e3", "x", " "] {
                let whole = format!("{text}{tail}");
                let ours = strtod(whole.as_bytes());
                let consumed = whole.len() - if matches!(tail, "" | ".5" | "e3" | ".") { 0 } else { tail.len() };
                let expected: f64 = whole[..consumed].parse().expect("a number");
                assert_eq!(ours.consumed, consumed, "{whole:?}");
                assert_eq!(ours.value.to_bits(), expected.to_bits(), "{whole:?}");
            }
        }
    }

    #[test]
    fn bounds_parse_as_redis_parses_ranges() {
        let bound = |text: &[u8]| ScoreBound::parse(text).map(|b| (b.value, b.exclusive));
        assert_eq!(bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(bound(b""), Some((0.0, false)));
        assert_eq!(bound(b"("), Some((0.0, true)));
        assert_eq!(bound(b" 1"), Some((1.0, false)));
        assert_eq!(bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(bound(b"1 "), None);
        assert_eq!(bound(b"nan"), None);
        assert_eq!(bound(b"((1"), None);
        let lex = |text: &'static [u8]| LexBound::parse(&bytes::Bytes::from_static(text));
        assert_eq!(lex(b"-"), Some(LexBound::Min));
        assert_eq!(lex(b"+"), Some(LexBound::Max));
        assert_eq!(lex(b"+a"), None);
        assert_eq!(lex(b"a"), None);
        assert_eq!(lex(b""), None);
        assert!(lex(b"[b").is_some_and(|b| b.below_min(b"a") && !b.below_min(b"b") && b.within_max(b"b")));
        assert!(lex(b"(b").is_some_and(|b| b.below_min(b"b") && !b.within_max(b"b")));
    }
}
