//! Lua values and replies, converted both ways exactly as Redis converts them.
//!
//! ```text
//! command reply -> Lua (redis.call)        Lua -> script reply
//! integer       -> number                  number         -> integer (truncated)
//! bulk          -> string                  string         -> bulk
//! null (RESP2)  -> false                   false          -> null (RESP2) / #f (RESP3)
//! null (RESP3)  -> nil                     true           -> :1 (RESP2) / #t (RESP3)
//! status        -> {ok=...}                {ok=...}       -> status
//! error         -> {err=...}               {err=...}      -> error
//! array         -> table                   table          -> array up to the first nil
//! RESP3 map/set/double -> {map=}/{set=}/{double=}, and back
//! ```

use bytes::Bytes;
use mlua::{Lua, Table, Value};
use tinykv_proto::{Protocol, Reply};

/// Deepest nesting converted (maps and sets count double): past it the reply is an error in
/// place of the value, as Redis's Lua stack limit gives one (Redis's limit is near 8,000 array
/// levels; this one keeps the recursion within a 2 MiB thread stack in a debug build).
const MAX_DEPTH: usize = 1000;

/// A reply of a command run by `redis.call`, as the script sees it under protocol `resp`.
pub fn reply_to_lua(lua: &Lua, reply: Reply, resp: Protocol) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Integer(n) => Value::Number(n as f64),
        Reply::Bulk(bytes) => Value::String(lua.create_string(&bytes)?),
        Reply::Verbatim(bytes) => match resp {
            Protocol::Resp2 => Value::String(lua.create_string(&bytes)?),
            Protocol::Resp3 => {
                let inner = lua.create_table()?;
                inner.raw_set("string", lua.create_string(&bytes)?)?;
                inner.raw_set("format", "txt")?;
                single(lua, "verbatim_string", Value::Table(inner))?
            }
        },
        Reply::Null | Reply::NullArray => match resp {
            Protocol::Resp2 => Value::Boolean(false),
            Protocol::Resp3 => Value::Nil,
        },
        Reply::Status(text) => single(lua, "ok", Value::String(lua.create_string(text.as_bytes())?))?,
        Reply::Error(text) => error_table(lua, &format!("-{text}"))?,
        Reply::Boolean(value) => match resp {
            Protocol::Resp2 => Value::Number(f64::from(u8::from(value))),
            Protocol::Resp3 => Value::Boolean(value),
        },
        Reply::Double(value) => match resp {
            Protocol::Resp2 => Value::String(lua.create_string(tinykv_proto::reply::format_double(value).as_bytes())?),
            Protocol::Resp3 => single(lua, "double", Value::Number(value))?,
        },
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp)?,
        Reply::Frames(mut items) => match items.is_empty() {
            true => Value::Nil,
            false => reply_to_lua(lua, items.swap_remove(0), resp)?,
        },
        Reply::Set(items) => match resp {
            Protocol::Resp2 => array(lua, items, resp)?,
            Protocol::Resp3 => {
                let set = lua.create_table()?;
                for item in items {
                    set.raw_set(reply_to_lua(lua, item, resp)?, true)?;
                }
                single(lua, "set", Value::Table(set))?
            }
        },
        Reply::Map(pairs) => match resp {
            Protocol::Resp2 => array(lua, pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(), resp)?,
            Protocol::Resp3 => {
                let map = lua.create_table()?;
                for (key, value) in pairs {
                    map.raw_set(reply_to_lua(lua, key, resp)?, reply_to_lua(lua, value, resp)?)?;
                }
                single(lua, "map", Value::Table(map))?
            }
        },
    })
}

fn array(lua: &Lua, items: Vec<Reply>, resp: Protocol) -> mlua::Result<Value> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        table.raw_set(i + 1, reply_to_lua(lua, item, resp)?)?;
    }
    Ok(Value::Table(table))
}

fn single(lua: &Lua, field: &str, value: Value) -> mlua::Result<Value> {
    let table = lua.create_table()?;
    table.raw_set(field, value)?;
    Ok(Value::Table(table))
}

/// `{err="CODE message"}`, as Redis's `luaPushErrorBuff` builds it: a leading `-` is dropped, a
/// message without a code gets `ERR`, and trailing line ends are trimmed.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    single(lua, "err", Value::String(lua.create_string(error_text(text).as_bytes())?))
}

/// The text of [`error_table`].
pub fn error_text(text: &str) -> String {
    let text = text.trim_end_matches(['\r', '\n']);
    match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, message)) => format!("{code} {message}"),
            None => format!("ERR {rest}"),
        },
        None => format!("ERR {text}"),
    }
}

/// The value a script returned, as the reply to its caller: `script_resp` is what the script set
/// with `redis.setresp` (it decides how booleans convert), the caller's protocol encodes the rest.
/// `name` (the script's SHA1 or the function's name) goes into the text of a raised error.
pub fn lua_to_reply(value: &Value, script_resp: Protocol) -> Reply {
    convert(value, script_resp, 0)
}

fn convert(value: &Value, resp: Protocol, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::error("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => match (resp, b) {
            (Protocol::Resp2, true) => Reply::Integer(1),
            (Protocol::Resp2, false) => Reply::Null,
            (Protocol::Resp3, b) => Reply::Boolean(*b),
        },
        Value::Integer(n) => Reply::Integer(*n),
        Value::Number(n) => Reply::Integer(truncate(*n)),
        Value::Table(table) => convert_table(table, resp, depth),
        _ => Reply::Null,
    }
}

/// `(long long)` of a Lua number, as C truncates (saturating where C would be undefined).
fn truncate(n: f64) -> i64 {
    if n.is_nan() {
        i64::MIN
    } else {
        n as i64
    }
}

/// A table with one of Redis's special fields (`err`, `ok`, `double`, `big_number`) as its reply.
/// Kept out of [`convert_table`], so the temporaries it needs are not in every frame of a deep
/// reply's recursion.
#[inline(never)]
fn special(table: &Table) -> Option<Reply> {
    if let Ok(Value::String(err)) = table.raw_get::<Value>("err") {
        return Some(Reply::Error(sanitize(&err.to_string_lossy()).into()));
    }
    if let Ok(Value::String(ok)) = table.raw_get::<Value>("ok") {
        return Some(Reply::Status(sanitize(&ok.to_string_lossy()).into()));
    }
    match table.raw_get::<Value>("double") {
        Ok(Value::Number(n)) => return Some(Reply::Double(n)),
        Ok(Value::Integer(n)) => return Some(Reply::Double(n as f64)),
        _ => {}
    }
    if let Ok(Value::String(n)) = table.raw_get::<Value>("big_number") {
        return Some(Reply::Bulk(Bytes::copy_from_slice(&n.as_bytes())));
    }
    None
}

/// The `map` or `set` field of a table, when it holds a table.
#[inline(never)]
fn field_table(table: &Table, name: &str) -> Option<Table> {
    match table.raw_get::<Value>(name) {
        Ok(Value::Table(inner)) => Some(inner),
        _ => None,
    }
}

fn convert_table(table: &Table, resp: Protocol, depth: usize) -> Reply {
    if let Some(reply) = special(table) {
        return reply;
    }
    // Plain loops, not iterator chains: nested replies recurse here once per level, and each
    // adapter would be one more stack frame per level in a debug build.
    if let Some(inner) = field_table(table, "map") {
        let mut pairs = Vec::new();
        for pair in inner.pairs::<Value, Value>() {
            let Ok((k, v)) = pair else { continue };
            // A map level takes about twice an array level's stack: it counts double.
            let key = convert(&k, resp, depth + 2);
            pairs.push((key, convert(&v, resp, depth + 2)));
        }
        return Reply::Map(pairs);
    }
    if let Some(inner) = field_table(table, "set") {
        let mut members = Vec::new();
        for pair in inner.pairs::<Value, Value>() {
            let Ok((k, _)) = pair else { continue };
            members.push(convert(&k, resp, depth + 2));
        }
        return Reply::Set(members);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match table.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(value) => items.push(convert(&value, resp, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// Status and error lines cannot hold line ends: Redis maps them to spaces.
fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}
