//! What the Rust-written libraries (`cmsgpack`, `struct`) need to behave as Lua C functions do:
//! their arguments by position, and errors worded and located as `luaL_error`/`luaL_argerror`
//! word and locate them, since scripts (and Redis's tests) match on those texts.
//!
//! They are plain Rust functions (C functions to Lua), so `return cmsgpack.pack(x)` keeps the
//! script's frame as a C function does (a Lua wrapper would be tail-called and lose it). One cost:
//! mlua reads an argument within 2^-52 of zero as the integer 0 (numbers inside tables are read
//! back exactly).

use mlua::{Lua, MultiValue, Value};

use super::libs::format_g14;

/// Lua 5.1's `LUAI_MAXCSTACK`: the most slots a C function may use on the Lua stack. Redis's
/// libraries fail with "stack overflow (...)" past it; these count their slots the same way.
pub const MAX_C_STACK: usize = 8000;

/// The bound a Rust function's results are counted against (`struct.unpack`: its values, then one
/// more for the next position; `cmsgpack.unpack`: its arguments and values): mlua needs some of
/// Lua's slots for itself, how many
/// depending on what ran before (with 8 kept back, 7,990 values failed with mlua's own "not enough
/// stack slots" as a fresh interpreter's first script, and passed once a big return had grown the
/// stack): 100 kept back make the limit the same whatever ran before.
pub const MAX_RESULTS: usize = MAX_C_STACK - 100;

/// Most strings or tables a Rust function returns at once: each is a handle in mlua's
/// auxiliary stack (about 8,000 for the whole interpreter, which panics past it).
pub const MAX_HANDLES: usize = 2000;

/// Whether holding `value` in Rust takes one of mlua's handles.
pub fn holds_handle(value: &Value) -> bool {
    !matches!(value, Value::Nil | Value::Boolean(_) | Value::Integer(_) | Value::Number(_) | Value::LightUserData(_))
}

/// Stack levels from the Rust function: 0 is itself (named by the call), 1 its caller.
const SELF_LEVEL: usize = 0;
const CALLER_LEVEL: usize = 1;

/// `luaL_error`: `msg` with the caller's `source:line: ` in front when the caller is Lua code.
pub fn error(lua: &Lua, msg: impl std::fmt::Display) -> mlua::Error {
    let place = lua
        .inspect_stack(CALLER_LEVEL)
        .and_then(|frame| {
            let line = frame.curr_line();
            let source = frame.source().short_src.map(|s| s.into_owned());
            source.filter(|_| line > 0).map(|source| format!("{source}:{line}: "))
        })
        .unwrap_or_default();
    mlua::Error::RuntimeError(format!("{place}{msg}"))
}

/// An error Lua raises without a location (as `lua_settable`'s "table index is nil").
pub fn plain_error(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// `luaL_argerror`: "bad argument #n to 'name' (msg)", or "calling 'name' on bad self" for a
/// method's receiver.
pub fn arg_error(lua: &Lua, narg: usize, msg: &str) -> mlua::Error {
    let (name, method) = lua.inspect_stack(SELF_LEVEL).map_or((None, false), |frame| {
        let names = frame.names();
        (names.name.map(|n| n.into_owned()), names.name_what == Some("method"))
    });
    let mut narg = narg;
    if method {
        narg = narg.saturating_sub(1);
        if narg == 0 {
            return error(lua, format!("calling '{}' on bad self ({msg})", name.unwrap_or_default()));
        }
    }
    error(lua, format!("bad argument #{narg} to '{}' ({msg})", name.as_deref().unwrap_or("?")))
}

/// A function's arguments by position (from 1).
pub struct Args {
    values: Vec<Value>,
}

impl Args {
    /// The arguments a call passed.
    pub fn new(values: MultiValue) -> Args {
        Args { values: values.into_iter().collect() }
    }

    /// The arguments, then a nil: what `struct.pack` sees past its last argument (the separator
    /// it pushes once it has its format).
    pub fn with_nil(values: MultiValue) -> Args {
        let mut args = Args::new(values);
        if !args.values.is_empty() {
            args.values.push(Value::Nil);
        }
        args
    }

    /// How many arguments the function was called with (`lua_gettop`).
    pub fn count(&self) -> usize {
        self.values.len()
    }

    /// Argument `i`: `None` past the last one ("no value"), else its value (maybe nil).
    pub fn get(&self, i: usize) -> Option<Value> {
        i.checked_sub(1).and_then(|at| self.values.get(at)).cloned()
    }

    /// Argument `i` as a number, when it is one.
    pub fn exact_number(&self, i: usize) -> Option<f64> {
        match self.get(i) {
            Some(Value::Integer(n)) => Some(n as f64),
            Some(Value::Number(n)) => Some(n),
            _ => None,
        }
    }

    /// `luaL_checknumber`: a number, or a string Lua converts to one.
    pub fn number(&self, lua: &Lua, i: usize) -> mlua::Result<f64> {
        match self.get(i) {
            Some(Value::Integer(_) | Value::Number(_)) => {
                self.exact_number(i).ok_or_else(|| arg_error(lua, i, "number expected, got number"))
            }
            Some(Value::String(s)) => match lua.coerce_number(Value::String(s))? {
                Some(n) => Ok(n),
                None => Err(arg_error(lua, i, "number expected, got string")),
            },
            other => Err(arg_error(lua, i, &format!("number expected, got {}", type_name(other.as_ref())))),
        }
    }

    /// `luaL_checkinteger`: the number truncated toward zero.
    pub fn integer(&self, lua: &Lua, i: usize) -> mlua::Result<i64> {
        Ok(self.number(lua, i)? as i64)
    }

    /// `luaL_optinteger`: `default` when the argument is absent or nil.
    pub fn opt_integer(&self, lua: &Lua, i: usize, default: i64) -> mlua::Result<i64> {
        match self.get(i) {
            None | Some(Value::Nil) => Ok(default),
            Some(_) => self.integer(lua, i),
        }
    }

    /// `luaL_checklstring`: a string, or a number as Lua prints it (`%.14g`).
    pub fn string(&self, lua: &Lua, i: usize) -> mlua::Result<Vec<u8>> {
        match self.get(i) {
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            Some(Value::Integer(_) | Value::Number(_)) => {
                Ok(format_g14(self.exact_number(i).unwrap_or_default()).into_bytes())
            }
            other => Err(arg_error(lua, i, &format!("string expected, got {}", type_name(other.as_ref())))),
        }
    }
}

/// Lua's `typename` of a value (`no value` for a missing argument).
pub fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}
