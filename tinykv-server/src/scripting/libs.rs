//! The libraries Redis loads that the Lua 5.1 distribution lacks: `bit` (LuaBitOp) and `cjson`
//! (encode/decode), and Redis's random number generator behind `math.random`.

use mlua::{Function, Lua, Table, Value, Variadic};

/// Redis's `redisLrand48`: the 48-bit linear congruential generator of `rand48`, from `rand48`'s
/// initial state, so scripts get Redis's sequence.
#[derive(Debug, Clone, Copy)]
pub struct Rand48(u64);

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

impl Default for Rand48 {
    fn default() -> Self {
        Rand48(0x1234_ABCD_330E)
    }
}

impl Rand48 {
    /// `srand48(seed)`.
    pub fn seeded(seed: i32) -> Self {
        Rand48(((u64::from(seed as u32) << 16) | 0x330E) & MASK)
    }

    /// `lrand48()`: the next 31-bit number.
    pub fn next(&mut self) -> i64 {
        self.0 = (A.wrapping_mul(self.0).wrapping_add(C)) & MASK;
        (self.0 >> 17) as i64
    }
}

/// LuaBitOp's normalisation: a Lua number to a 32-bit integer (modulo 2^32).
fn tobit(n: f64) -> i32 {
    let n = n % 4_294_967_296.0;
    (n as i64) as u32 as i32
}

/// The `bit` table.
pub fn bit(lua: &Lua) -> mlua::Result<Table> {
    let bit = lua.create_table()?;
    bit.set("tobit", lua.create_function(|_, n: f64| Ok(tobit(n)))?)?;
    bit.set("bnot", lua.create_function(|_, n: f64| Ok(!tobit(n)))?)?;
    bit.set("band", lua.create_function(|_, ns: Variadic<f64>| Ok(ns.iter().fold(-1i32, |acc, &n| acc & tobit(n))))?)?;
    bit.set("bor", lua.create_function(|_, ns: Variadic<f64>| Ok(ns.iter().fold(0i32, |acc, &n| acc | tobit(n))))?)?;
    bit.set("bxor", lua.create_function(|_, ns: Variadic<f64>| Ok(ns.iter().fold(0i32, |acc, &n| acc ^ tobit(n))))?)?;
    bit.set(
        "lshift",
        lua.create_function(|_, (n, s): (f64, f64)| Ok(((tobit(n) as u32) << (tobit(s) as u32 & 31)) as i32))?,
    )?;
    bit.set(
        "rshift",
        lua.create_function(|_, (n, s): (f64, f64)| Ok(((tobit(n) as u32) >> (tobit(s) as u32 & 31)) as i32))?,
    )?;
    bit.set("arshift", lua.create_function(|_, (n, s): (f64, f64)| Ok(tobit(n) >> (tobit(s) as u32 & 31)))?)?;
    bit.set(
        "rol",
        lua.create_function(|_, (n, s): (f64, f64)| Ok((tobit(n) as u32).rotate_left(tobit(s) as u32 & 31) as i32))?,
    )?;
    bit.set(
        "ror",
        lua.create_function(|_, (n, s): (f64, f64)| Ok((tobit(n) as u32).rotate_right(tobit(s) as u32 & 31) as i32))?,
    )?;
    bit.set("bswap", lua.create_function(|_, n: f64| Ok((tobit(n) as u32).swap_bytes() as i32))?)?;
    bit.set(
        "tohex",
        lua.create_function(|_, (n, digits): (f64, Option<f64>)| {
            let value = tobit(n) as u32;
            let digits = digits.map_or(8, |d| d as i32);
            let (upper, count) = (digits < 0, digits.unsigned_abs().clamp(1, 8) as usize);
            let text = format!("{value:08x}");
            let text = &text[8 - count..];
            Ok(if upper { text.to_ascii_uppercase() } else { text.to_owned() })
        })?,
    )?;
    Ok(bit)
}

/// Deepest nesting `cjson` encodes or decodes, as its default `encode_max_depth`.
const CJSON_MAX_DEPTH: usize = 1000;

/// The `cjson` table: `encode`, `decode` and `null`, as lua-cjson's defaults behave; one `encode`
/// builds at most `max_output` bytes (the interpreter's memory limit: a table holding the same big
/// string many times would otherwise encode to many times the memory the script may use).
pub fn cjson(lua: &Lua, max_output: usize) -> mlua::Result<Table> {
    let cjson = lua.create_table()?;
    cjson.set("null", Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())))?;
    let next: Function = lua.globals().get("next")?;
    cjson.set(
        "encode",
        lua.create_function(move |lua, value: Value| {
            let mut out = Vec::new();
            encode(&next, &value, &mut out, max_output).map_err(|err| match err {
                Encode::Memory => mlua::Error::MemoryError("not enough memory".to_owned()),
                Encode::Invalid(text) => super::native::error(lua, text),
            })?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    cjson.set(
        "decode",
        lua.create_function(|lua, text: mlua::String| {
            let json: serde_json::Value = serde_json::from_slice(&text.as_bytes())
                .map_err(|err| mlua::Error::runtime(format!("Expected value but found invalid token: {err}")))?;
            decode(lua, &json, 0)
        })?,
    )?;
    Ok(cjson)
}

/// Why `cjson.encode` failed: lua-cjson's error texts, or the output cap.
enum Encode {
    Invalid(String),
    Memory,
}

impl From<String> for Encode {
    fn from(text: String) -> Encode {
        Encode::Invalid(text)
    }
}

/// A table being written: an array at its next index, or an object after its last key.
enum Open {
    Array { table: Table, next: usize, max: usize },
    Object { table: Table, key: Value, first: bool },
}

/// Writes `root` as JSON. Nesting is kept on the heap (a 1,000-level table recursing in Rust
/// overflowed a 2 MiB thread stack in a debug build); objects are walked with Lua's `next`.
fn encode(next: &Function, root: &Value, out: &mut Vec<u8>, cap: usize) -> Result<(), Encode> {
    let mut open: Vec<Open> = Vec::new();
    let mut pending = Some(root.clone());
    loop {
        if let Some(value) = pending.take() {
            if out.len() > cap {
                return Err(Encode::Memory);
            }
            match value {
                // lua-cjson counts tables: the 1,001st one inside others is refused.
                Value::Table(_) if open.len() >= CJSON_MAX_DEPTH => {
                    return Err("Cannot serialise, excessive nesting (1001)".to_owned().into());
                }
                Value::Table(table) => match array_length(&table)? {
                    Some(max) => {
                        out.push(b'[');
                        open.push(Open::Array { table, next: 1, max });
                    }
                    None => {
                        out.push(b'{');
                        open.push(Open::Object { table, key: Value::Nil, first: true });
                    }
                },
                scalar => encode_scalar(&scalar, out)?,
            }
        }
        match open.last_mut() {
            None => return Ok(()),
            Some(Open::Array { table, next, max }) => {
                if *next > *max {
                    out.push(b']');
                    open.pop();
                    continue;
                }
                if *next > 1 {
                    out.push(b',');
                }
                pending = Some(table.raw_get(*next).map_err(|err| err.to_string())?);
                *next += 1;
            }
            Some(Open::Object { table, key, first }) => {
                let (k, v): (Value, Value) = next.call((table.clone(), key.clone())).map_err(|err| err.to_string())?;
                if k == Value::Nil {
                    out.push(b'}');
                    open.pop();
                    continue;
                }
                if !*first {
                    out.push(b',');
                }
                *first = false;
                encode_key(&k, out)?;
                out.push(b':');
                *key = k;
                pending = Some(v);
            }
        }
    }
}

/// A value that is not a table.
fn encode_scalar(value: &Value, out: &mut Vec<u8>) -> Result<(), Encode> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(ud) if ud.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Number(n) => {
            if n.is_nan() || n.is_infinite() {
                return Err("Cannot serialise number: must not be NaN or Inf".to_owned().into());
            }
            out.extend_from_slice(format_g14(*n).as_bytes());
        }
        Value::String(s) => encode_string(&s.as_bytes(), out),
        other => return Err(format!("Cannot serialise {}: type not supported", other.type_name()).into()),
    }
    Ok(())
}

/// The highest index of a table whose keys are all positive integers (not too sparse), `None`
/// for an object (or an empty table).
fn array_length(table: &Table) -> Result<Option<usize>, Encode> {
    let mut max = 0usize;
    let mut count = 0usize;
    let mut array = true;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair.map_err(|err| err.to_string())?;
        count += 1;
        match key {
            Value::Integer(i) if i >= 1 => max = max.max(i as usize),
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
            _ => array = false,
        }
    }
    if array && count > 0 && max > count * 2 && max > 10 {
        return Err("Cannot serialise table: excessively sparse array".to_owned().into());
    }
    Ok((array && count > 0).then_some(max))
}

/// An object key: strings as they are, numbers as text.
fn encode_key(key: &Value, out: &mut Vec<u8>) -> Result<(), Encode> {
    match key {
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Integer(n) => encode_string(n.to_string().as_bytes(), out),
        Value::Number(n) => encode_string(format_g14(*n).as_bytes(), out),
        _ => return Err("Cannot serialise table: table key must be a number or string".to_owned().into()),
    }
    Ok(())
}

fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 || b == 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// C's `%.14g`, as lua-cjson and Lua's `tostring` print numbers.
pub fn format_g14(n: f64) -> String {
    format_g(n, 14)
}

/// C's `%.<precision>g`.
pub fn format_g(n: f64, precision: usize) -> String {
    if n == 0.0 {
        return if n.is_sign_negative() { "-0".to_owned() } else { "0".to_owned() };
    }
    if !n.is_finite() {
        return if n.is_nan() {
            "nan".to_owned()
        } else if n > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        };
    }
    let text = format!("{:.*e}", precision - 1, n);
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exp.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_zeros(&format!("{n:.decimals$}")).to_owned()
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

fn decode(lua: &Lua, json: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    if depth > CJSON_MAX_DEPTH {
        return Err(mlua::Error::runtime("Found too many nested data structures (1001)"));
    }
    Ok(match json {
        serde_json::Value::Null => Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, decode(lua, item, depth + 1)?)?;
            }
            Value::Table(table)
        }
        serde_json::Value::Object(map) => {
            let table = lua.create_table_with_capacity(0, map.len())?;
            for (key, item) in map {
                table.raw_set(key.as_str(), decode(lua, item, depth + 1)?)?;
            }
            Value::Table(table)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand48_gives_redis_sequence_and_numbers_print_as_c() {
        let mut rand = Rand48::default();
        // Redis 7.0's first `math.random(100)` on a fresh server is 40 (observed on redis-server).
        let r = (rand.next() % 2_147_483_647) as f64 / 2_147_483_647.0;
        assert_eq!((r * 100.0).floor() as i64 + 1, 40);
        assert_eq!(format_g14(1.5), "1.5");
        assert_eq!(format_g14(1e20), "1e+20");
        assert_eq!(format_g14(7.0 / 3.0), "2.3333333333333");
        assert_eq!(format_g14(100.0), "100");
    }
}
