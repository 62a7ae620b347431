//! `struct`: Roberto Ierusalimschy's binary packing library as Redis bundles it (`struct.pack`,
//! `struct.unpack`, `struct.size`), so scripts that build or parse binary records get Redis's
//! bytes and errors.
//!
//! Formats: `>`/`<` endianness (native, little, by default), `![n]` maximum alignment (default
//! 8), `x` a zero byte, `b B h H l L T` integers of 1, 2, 8, 8 bytes, `i[n] I[n]` integers of `n`
//! bytes (default 4, at most 32), `f d` floats, `c[n]` `n` chars (packing `c0` takes the whole
//! string; unpacking `c0` takes the previous number as the length), `s` a zero-terminated string,
//! spaces ignored. Integers wider than 8 bytes carry 64 bits, as Redis's `long` does on x86-64.

use mlua::{Lua, MultiValue, Table, Value};

use super::native::{self, Args, MAX_C_STACK};

/// Widest integer format (`MAXINTSIZE`).
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the platform's largest alignment.
const MAX_ALIGN: usize = 8;

/// The `struct` table: `pack`, `unpack` and `size`; one `pack` builds at most `max_output` bytes
/// (the interpreter's memory limit: `c0` of the same big string many times would build more).
pub fn functions(lua: &Lua, max_output: usize) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set(
        "pack",
        lua.create_function(move |lua, values: MultiValue| pack(lua, &Args::with_nil(values), max_output))?,
    )?;
    table.set("unpack", lua.create_function(|lua, values: MultiValue| unpack(lua, &Args::new(values)))?)?;
    table.set("size", lua.create_function(|lua, values: MultiValue| size(lua, &Args::new(values)))?)?;
    Ok(table)
}

/// Where the format is and what it has set so far.
struct Format {
    bytes: Vec<u8>,
    pos: usize,
    little: bool,
    align: usize,
}

impl Format {
    fn new(lua: &Lua, args: &Args) -> mlua::Result<Format> {
        let mut bytes = args.string(lua, 1)?;
        // The C code reads the format as a C string: it ends at the first zero byte.
        if let Some(end) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(end);
        }
        Ok(Format { bytes, pos: 0, little: true, align: 1 })
    }

    fn next(&mut self) -> Option<u8> {
        let opt = self.bytes.get(self.pos).copied();
        self.pos += 1;
        opt
    }

    /// A number in the format, or `default` when none follows.
    fn number(&mut self, lua: &Lua, default: usize) -> mlua::Result<usize> {
        if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: i32 = 0;
        while let Some(&d) = self.bytes.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let digit = i32::from(d - b'0');
            if n > i32::MAX / 10 || n * 10 > i32::MAX - digit {
                return Err(native::error(lua, "integral size overflow"));
            }
            n = n * 10 + digit;
            self.pos += 1;
        }
        Ok(n as usize)
    }

    /// The size of option `opt` (reading its count), 0 for options that take no room.
    fn size(&mut self, lua: &Lua, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(lua, 1)?,
            b'i' | b'I' => {
                let size = self.number(lua, 4)?;
                if size > MAX_INT_SIZE {
                    return Err(native::error(
                        lua,
                        format!("integral size {size} is larger than limit of {MAX_INT_SIZE}"),
                    ));
                }
                size
            }
            _ => 0,
        })
    }

    /// Padding before an item of `size` bytes at offset `at` (`gettoalign`, for any `size`).
    fn padding(&self, at: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        size.wrapping_sub(at & (size - 1)) & (size - 1)
    }

    /// `>`, `<`, `!n` and spaces; any other option is an error.
    fn control(&mut self, lua: &Lua, opt: u8) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let align = self.number(lua, MAX_ALIGN)?;
                if !align.is_power_of_two() {
                    return Err(native::error(lua, format!("alignment {align} is not a power of 2")));
                }
                self.align = align;
            }
            other => {
                let text = format!("invalid format option '{}'", char::from(other));
                return Err(native::arg_error(lua, 1, &text));
            }
        }
        Ok(())
    }
}

/// `struct.pack(fmt, ...)`.
fn pack(lua: &Lua, args: &Args, max_output: usize) -> mlua::Result<mlua::String> {
    let mut fmt = Format::new(lua, args)?;
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 2;
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size(lua, opt)?;
        let pad = fmt.padding(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = args.number(lua, arg)?;
                arg += 1;
                let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = vec![0u8; size];
                for i in 0..size {
                    let at = if fmt.little { i } else { size - 1 - i };
                    bytes[at] = value as u8;
                    value >>= 8;
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = args.number(lua, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if fmt.little { f.to_le_bytes() } else { f.to_be_bytes() });
            }
            b'd' => {
                let d = args.number(lua, arg)?;
                arg += 1;
                out.extend_from_slice(&if fmt.little { d.to_le_bytes() } else { d.to_be_bytes() });
            }
            b'c' | b's' => {
                let s = args.string(lua, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(native::arg_error(lua, arg, "string too short"));
                }
                if out.len().saturating_add(size) > max_output {
                    return Err(mlua::Error::MemoryError("not enough memory".to_owned()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            other => fmt.control(lua, other)?,
        }
    }
    lua.create_string(&out)
}

/// An integer of `bytes` (`signed` sign-extends from its top bit, with x86's shift rules past 8
/// bytes), as a Lua number.
fn integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let fold = |acc: u64, &b: &u8| (acc << 8) | u64::from(b);
    let value = if little { bytes.iter().rev().fold(0, fold) } else { bytes.iter().fold(0, fold) };
    if !signed {
        return value as f64;
    }
    let mask = u64::MAX.wrapping_shl((bytes.len() * 8).wrapping_sub(1) as u32);
    let value = if value & mask != 0 { value | mask } else { value };
    value as i64 as f64
}

/// `struct.unpack(fmt, data [, pos])`: the values, then the position after them.
fn unpack(lua: &Lua, args: &Args) -> mlua::Result<MultiValue> {
    let mut fmt = Format::new(lua, args)?;
    let data = args.string(lua, 2)?;
    let len = data.len();
    let start = args.opt_integer(lua, 3, 1)?;
    if start == 0 {
        return Err(native::arg_error(lua, 3, "offset must be 1 or greater"));
    }
    // A `size_t` in C: a negative start is a huge one, which no data is long enough for.
    let mut pos = (start as u64 as usize).wrapping_sub(1);
    let mut results: Vec<Value> = Vec::new();
    // Results holding a Lua handle (the strings), counted as they come: recounting them per option
    // was quadratic in the format's length.
    let mut handles = 0usize;
    let too_short = |lua: &Lua| native::arg_error(lua, 2, "data string too short");
    while let Some(opt) = fmt.next() {
        let mut size = fmt.size(lua, opt)?;
        pos = pos.wrapping_add(fmt.padding(pos, opt, size));
        if size > len || pos > len - size {
            return Err(too_short(lua));
        }
        if args.count() + results.len() + 2 > MAX_C_STACK
            || results.len() + 1 > native::MAX_RESULTS
            || handles >= native::MAX_HANDLES
        {
            return Err(native::error(lua, "stack overflow (too many results)"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = integer(&data[pos..pos + size], fmt.little, opt.is_ascii_lowercase());
                results.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut raw = [0u8; 4];
                raw.copy_from_slice(&data[pos..pos + 4]);
                let f = if fmt.little { f32::from_le_bytes(raw) } else { f32::from_be_bytes(raw) };
                results.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&data[pos..pos + 8]);
                results.push(Value::Number(if fmt.little { f64::from_le_bytes(raw) } else { f64::from_be_bytes(raw) }));
            }
            b'c' => {
                if size == 0 {
                    let previous = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::String(s)) => lua.coerce_number(Value::String(s.clone()))?,
                        _ => None,
                    };
                    let Some(n) = previous else {
                        return Err(native::error(lua, "format 'c0' needs a previous size"));
                    };
                    // `(size_t)n`: negative sizes are huge.
                    size = if n < 0.0 { usize::MAX } else { n as usize };
                    if results.pop().is_some_and(|popped| native::holds_handle(&popped)) {
                        handles -= 1;
                    }
                    if size > len || pos > len - size {
                        return Err(too_short(lua));
                    }
                }
                results.push(Value::String(lua.create_string(&data[pos..pos + size])?));
                handles += 1;
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(native::error(lua, "unfinished string in data"));
                };
                results.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                handles += 1;
                size = end + 1;
            }
            other => fmt.control(lua, other)?,
        }
        pos = pos.wrapping_add(size);
    }
    results.push(Value::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(results.into_iter().collect())
}

/// `struct.size(fmt)`: the bytes `pack` makes of a fixed-size format.
fn size(lua: &Lua, args: &Args) -> mlua::Result<f64> {
    let mut fmt = Format::new(lua, args)?;
    let mut pos = 0usize;
    while let Some(opt) = fmt.next() {
        let size = fmt.size(lua, opt)?;
        pos = pos.wrapping_add(fmt.padding(pos, opt, size));
        if opt == b's' {
            return Err(native::arg_error(lua, 1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(native::arg_error(lua, 1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            fmt.control(lua, opt)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos as f64)
}
