//! `cmsgpack`: MessagePack as Redis's bundled lua-cmsgpack 0.4.0 packs and unpacks it, so a
//! script's bytes are the same on TinyKV and Redis.
//!
//! What Redis's library does and this one follows: a number whose value is a 64-bit integer packs
//! as the smallest integer form, any other as a 32-bit float when that loses nothing, else a
//! double; a table whose keys are exactly 1..n packs as an array, any other as a map; tables
//! nested deeper than 16 pack as nil; values that have no MessagePack form (functions,
//! `cjson.null`, ...) pack as nil. Unpacking knows the forms it packs (no `bin`/`ext`), counts
//! Lua stack slots as the C code uses them so it fails where Redis fails ("stack overflow (...)",
//! instead of a C stack overflow on hostile nesting), and never allocates on a length it read
//! before the bytes are there.

use mlua::{Lua, MultiValue, Table, Value};

use super::native::{self, Args, MAX_C_STACK};

/// Tables nested deeper than this pack as nil (`LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;

/// `cmsgpack.pack`, `unpack`, `unpack_one` and `unpack_limit` (the prelude adds `_NAME` and the
/// other fields); `max_output` caps what one `pack` may build (the interpreter's memory limit).
pub fn functions(lua: &Lua, max_output: usize) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table
        .set("pack", lua.create_function(move |lua, values: MultiValue| pack(lua, &Args::new(values), max_output))?)?;
    table.set(
        "unpack",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(values);
            unpack(lua, &args, 0, 0, args.count())
        })?,
    )?;
    table.set(
        "unpack_one",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(values);
            let offset = args.opt_integer(lua, 2, 0)?;
            unpack(lua, &args, 1, offset, 1)
        })?,
    )?;
    table.set(
        "unpack_limit",
        lua.create_function(|lua, values: MultiValue| {
            let args = Args::new(values);
            let limit = args.integer(lua, 2)?;
            let offset = args.opt_integer(lua, 3, 0)?;
            unpack(lua, &args, limit, offset, 1)
        })?,
    )?;
    Ok(table)
}

/// `cmsgpack.pack(...)`: every argument packed, concatenated.
fn pack(lua: &Lua, args: &Args, max_output: usize) -> mlua::Result<mlua::String> {
    if args.count() == 0 {
        return Err(native::arg_error(lua, 0, "MessagePack pack needs input."));
    }
    let mut out = Encoder { out: Vec::new(), max: max_output };
    for i in 1..=args.count() {
        let value = args.get(i).unwrap_or(Value::Nil);
        let number = args.exact_number(i);
        out.value(&value, number, 0)?;
    }
    lua.create_string(&out.out)
}

struct Encoder {
    out: Vec<u8>,
    max: usize,
}

impl Encoder {
    fn put(&mut self, bytes: &[u8]) -> mlua::Result<()> {
        if self.out.len().saturating_add(bytes.len()) > self.max {
            return Err(mlua::Error::MemoryError("not enough memory".to_owned()));
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Packs `value` (`number` is its exact value when it is a number) at nesting `level`.
    fn value(&mut self, value: &Value, number: Option<f64>, level: usize) -> mlua::Result<()> {
        match value {
            Value::String(s) => self.bytes(&s.as_bytes()),
            Value::Boolean(b) => self.put(&[if *b { 0xc3 } else { 0xc2 }]),
            Value::Integer(i) => self.number(number.unwrap_or(*i as f64)),
            Value::Number(n) => self.number(number.unwrap_or(*n)),
            Value::Table(table) if level < MAX_NESTING => self.table(table, level),
            _ => self.put(&[0xc0]),
        }
    }

    fn bytes(&mut self, s: &[u8]) -> mlua::Result<()> {
        let len = s.len();
        if len < 32 {
            self.put(&[0xa0 | len as u8])?;
        } else if len <= 0xff {
            self.put(&[0xd9, len as u8])?;
        } else if len <= 0xffff {
            self.put(&[0xda])?;
            self.put(&(len as u16).to_be_bytes())?;
        } else {
            self.put(&[0xdb])?;
            self.put(&(len as u32).to_be_bytes())?;
        }
        self.put(s)
    }

    fn number(&mut self, n: f64) -> mlua::Result<()> {
        // C's `(int64_t)n == n`: on x86 an out-of-range conversion gives INT64_MIN, so only
        // -2^63 of the values outside the range compares equal.
        if n.is_finite() && n.trunc() == n && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
            return self.integer(n as i64);
        }
        let single = n as f32;
        if f64::from(single) == n {
            self.put(&[0xca])?;
            self.put(&single.to_be_bytes())
        } else {
            self.put(&[0xcb])?;
            self.put(&n.to_be_bytes())
        }
    }

    fn integer(&mut self, n: i64) -> mlua::Result<()> {
        if n >= 0 {
            match n {
                0..=127 => self.put(&[n as u8]),
                128..=0xff => self.put(&[0xcc, n as u8]),
                0x100..=0xffff => {
                    self.put(&[0xcd])?;
                    self.put(&(n as u16).to_be_bytes())
                }
                0x1_0000..=0xffff_ffff => {
                    self.put(&[0xce])?;
                    self.put(&(n as u32).to_be_bytes())
                }
                _ => {
                    self.put(&[0xcf])?;
                    self.put(&(n as u64).to_be_bytes())
                }
            }
        } else {
            match n {
                -32..=-1 => self.put(&[n as i8 as u8]),
                -128..=-33 => self.put(&[0xd0, n as i8 as u8]),
                -32768..=-129 => {
                    self.put(&[0xd1])?;
                    self.put(&(n as i16).to_be_bytes())
                }
                -2_147_483_648..=-32769 => {
                    self.put(&[0xd2])?;
                    self.put(&(n as i32).to_be_bytes())
                }
                _ => {
                    self.put(&[0xd3])?;
                    self.put(&n.to_be_bytes())
                }
            }
        }
    }

    fn header(&mut self, n: usize, fix: u8, wide16: u8, wide32: u8) -> mlua::Result<()> {
        if n <= 15 {
            self.put(&[fix | n as u8])
        } else if n <= 0xffff {
            self.put(&[wide16])?;
            self.put(&(n as u16).to_be_bytes())
        } else {
            self.put(&[wide32])?;
            self.put(&(n as u32).to_be_bytes())
        }
    }

    fn table(&mut self, table: &Table, level: usize) -> mlua::Result<()> {
        if let Some(len) = array_length(table)? {
            self.header(len, 0x90, 0xdc, 0xdd)?;
            for i in 1..=len {
                let item: Value = table.get(i)?;
                let exact = exact(table, &Value::Integer(i as i64), &item);
                self.value(&item, exact, level + 1)?;
            }
            return Ok(());
        }
        let count = table.pairs::<Value, Value>().count();
        self.header(count, 0x80, 0xde, 0xdf)?;
        for pair in table.pairs::<Value, Value>() {
            let (key, item) = pair?;
            self.value(&key, None, level + 1)?;
            let exact = exact(table, &key, &item);
            self.value(&item, exact, level + 1)?;
        }
        Ok(())
    }
}

/// The exact value of `item` (stored under `key`) when it is a number: mlua reads numbers within
/// 2^-52 of zero as the integer 0.
fn exact(table: &Table, key: &Value, item: &Value) -> Option<f64> {
    match item {
        Value::Integer(0) => table.raw_get::<f64>(key.clone()).ok(),
        _ => None,
    }
}

/// The array length when every key is an integer in 1..=n (n the number of keys, a C `int`), as
/// lua-cmsgpack's `table_is_an_array`; `None` for a map.
fn array_length(table: &Table) -> mlua::Result<Option<usize>> {
    let (mut count, mut max) = (0usize, 0usize);
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(i) if (1..=i64::from(i32::MAX)).contains(&i) => i as usize,
            Value::Number(n) if n >= 1.0 && n <= f64::from(i32::MAX) && n.trunc() == n => n as usize,
            _ => return Ok(None),
        };
        max = max.max(index);
        count += 1;
    }
    Ok((max == count).then_some(count))
}

/// How an unpack failed: Redis's texts for truncated and unknown input.
enum Failure {
    Eof,
    BadFormat,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(err: mlua::Error) -> Failure {
        Failure::Lua(err)
    }
}

/// `unpack`, `unpack_one` and `unpack_limit` (`limit` values from `offset`; both 0: all, without
/// the next offset). `slots` is how many stack slots the C function holds before decoding.
fn unpack(lua: &Lua, args: &Args, limit: i64, offset: i64, slots: usize) -> mlua::Result<mlua::MultiValue> {
    let data = args.string(lua, 1)?;
    let len = data.len();
    if offset < 0 || limit < 0 {
        return Err(native::error(
            lua,
            format!("Invalid request to unpack with offset of {} and limit of {}.", offset as i32, len as i32),
        ));
    }
    if offset as u64 > len as u64 {
        return Err(native::error(
            lua,
            format!("Start offset {} greater than input length {}.", offset as i32, len as i32),
        ));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::from(i32::MAX) } else { limit };
    let mut cursor = Cursor { data: &data, pos: offset as usize };
    let nest = Nest { tables: lua.create_table()?, keys: lua.create_table()? };
    let mut values = Vec::new();
    let mut handles = 0;
    while cursor.left() > 0 && (values.len() as i64) < limit {
        if slots + values.len() + 1 > native::MAX_RESULTS {
            return Err(native::error(lua, format!("stack overflow ({TOO_MANY})")));
        }
        match decode(lua, &nest, &mut cursor, slots + values.len()) {
            Ok(value) => {
                handles += native::holds_handle(&value) as usize;
                if handles > native::MAX_HANDLES {
                    return Err(native::error(lua, format!("stack overflow ({TOO_MANY})")));
                }
                values.push(value)
            }
            Err(Failure::Eof) => return Err(native::error(lua, "Missing bytes in input.")),
            Err(Failure::BadFormat) => return Err(native::error(lua, "Bad data format in input.")),
            Err(Failure::Lua(err)) => return Err(err),
        }
    }
    if !decode_all {
        if slots + values.len() + 1 > MAX_C_STACK {
            return Err(native::error(lua, "stack overflow (in function mp_unpack_full)"));
        }
        let next = if cursor.left() == 0 { -1 } else { cursor.pos as i64 };
        values.insert(0, Value::Integer(next));
    }
    Ok(values.into_iter().collect())
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, consumed; `Eof` when fewer are left.
    fn take(&mut self, n: usize) -> Result<&[u8], Failure> {
        if self.left() < n {
            return Err(Failure::Eof);
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..start + n])
    }

    fn be(&mut self, n: usize) -> Result<u64, Failure> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// A table being filled while its items are decoded. The tables themselves wait in a Lua table
/// (`Nest`), not in Rust handles: mlua has room for about 8,000 handles at once, fewer than the
/// nesting Redis accepts.
enum Open {
    Array { next: i64, left: u64 },
    Map { left: u64, key: Key },
}

/// A map's key while its value is decoded.
#[derive(PartialEq)]
enum Key {
    Pending,
    Nil,
    Stored,
}

/// The open tables (`tables[depth]`) and maps' keys (`keys[depth]`).
struct Nest {
    tables: Table,
    keys: Table,
}

/// Stack overflow when decoding a value with `used` slots taken (`luaL_checkstack(L, 1, ...)`).
fn check_slots(lua: &Lua, used: usize, what: &str) -> Result<(), Failure> {
    if used + 1 > MAX_C_STACK {
        return Err(Failure::Lua(native::error(lua, format!("stack overflow ({what})"))));
    }
    Ok(())
}

const TOO_MANY: &str = "too many return values at once; use unpack_one or unpack_limit instead.";

/// Decodes one value, with `base` stack slots already used; nesting is kept on the heap.
fn decode(lua: &Lua, nest: &Nest, cursor: &mut Cursor<'_>, base: usize) -> Result<Value, Failure> {
    let mut open: Vec<Open> = Vec::new();
    let mut used = base;
    loop {
        if cursor.left() == 0 {
            return Err(Failure::Eof);
        }
        check_slots(lua, used, TOO_MANY)?;
        let tag = cursor.take(1)?[0];
        let mut value = match tag {
            0xcc => Value::Number(cursor.be(1)? as f64),
            0xcd => Value::Number(cursor.be(2)? as f64),
            0xce => Value::Number(cursor.be(4)? as f64),
            0xcf => Value::Number(cursor.be(8)? as i64 as f64),
            0xd0 => Value::Number(f64::from(cursor.be(1)? as u8 as i8)),
            0xd1 => Value::Number(f64::from(cursor.be(2)? as u16 as i16)),
            0xd2 => Value::Number(f64::from(cursor.be(4)? as u32 as i32)),
            0xd3 => Value::Number(cursor.be(8)? as i64 as f64),
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xca => Value::Number(f64::from(f32::from_bits(cursor.be(4)? as u32))),
            0xcb => Value::Number(f64::from_bits(cursor.be(8)?)),
            0xd9 | 0xda | 0xdb | 0xa0..=0xbf => {
                let len = match tag {
                    0xd9 => cursor.be(1)?,
                    0xda => cursor.be(2)?,
                    0xdb => cursor.be(4)?,
                    _ => u64::from(tag & 0x1f),
                };
                let len = usize::try_from(len).map_err(|_| Failure::Eof)?;
                Value::String(lua.create_string(cursor.take(len)?)?)
            }
            0xdc | 0xdd | 0x90..=0x9f | 0xde | 0xdf | 0x80..=0x8f => {
                let len = match tag {
                    0xdc | 0xde => cursor.be(2)?,
                    0xdd | 0xdf => cursor.be(4)?,
                    _ => u64::from(tag & 0x0f),
                };
                let table = lua.create_table()?;
                let array = matches!(tag, 0xdc | 0xdd | 0x90..=0x9f);
                if array {
                    check_slots(lua, used + 1, "in function mp_decode_to_lua_array")?;
                }
                if len == 0 {
                    Value::Table(table)
                } else {
                    nest.tables.raw_set(open.len() + 1, table)?;
                    if array {
                        open.push(Open::Array { next: 1, left: len });
                        used += 2;
                    } else {
                        open.push(Open::Map { left: len, key: Key::Pending });
                        used += 1;
                    }
                    continue;
                }
            }
            0x00..=0x7f => Value::Number(f64::from(tag)),
            0xe0..=0xff => Value::Number(f64::from(tag as i8)),
            _ => return Err(Failure::BadFormat),
        };
        // Hand the finished value to the tables it completes.
        loop {
            let depth = open.len();
            let table: Table = match open.last_mut() {
                None => return Ok(value),
                Some(Open::Array { next, left }) => {
                    let table: Table = nest.tables.raw_get(depth)?;
                    table.raw_set(*next, value)?;
                    *next += 1;
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    used -= 2;
                    table
                }
                Some(Open::Map { left, key }) => {
                    if *key == Key::Pending {
                        *key = if value == Value::Nil { Key::Nil } else { Key::Stored };
                        nest.keys.raw_set(depth, value)?;
                        used += 1;
                        break;
                    }
                    if *key == Key::Nil {
                        return Err(Failure::Lua(native::plain_error("table index is nil")));
                    }
                    let k: Value = nest.keys.raw_get(depth)?;
                    if matches!(k, Value::Number(n) if n.is_nan()) {
                        return Err(Failure::Lua(native::plain_error("table index is NaN")));
                    }
                    let table: Table = nest.tables.raw_get(depth)?;
                    table.raw_set(k, value)?;
                    nest.keys.raw_set(depth, Value::Nil)?;
                    *key = Key::Pending;
                    used -= 1;
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    used -= 1;
                    table
                }
            };
            nest.tables.raw_set(depth, Value::Nil)?;
            open.pop();
            value = Value::Table(table);
        }
    }
}
