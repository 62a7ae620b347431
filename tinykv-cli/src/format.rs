//! Printing a [`Reply`] for people (pretty) or for scripts (raw), as redis-cli does.
//!
//! Pretty, for a terminal:
//!
//! ```text
//! OK                        status
//! "bar"                     bulk string: UTF-8 as is, control and invalid bytes escaped (\n, \x00)
//! (nil)                     null
//! (integer) 1               integer
//! (error) ERR ...           error
//! 1) "a"                    array, numbered; nested arrays indented under their number
//! 2) 1) "b"
//!    2) "c"
//! (empty array)             empty array
//! 1# "proto" => (integer) 3 map (RESP3)
//! 1~ "a"                    set (RESP3)
//! (double) 1.5              double (RESP3)
//! (true)                    boolean (RESP3)
//! ```
//!
//! Raw, for pipes: the bare bytes of a bulk string, `OK`, the integer, an empty line for null, one element per
//! line for arrays (a map's key and value on one line, separated by a space), errors as `ERR ...`.
//!
//! CSV (`--csv`) and JSON (`--json`, `--quoted-json`) are redis-cli's, byte for byte, one reply per line:
//!
//! ```text
//! CSV:   "f1","v1","f2","v2"   NULL   ERROR,"ERR ..."   1.5   true      (strings as C-escaped "\xc3\xa9")
//! JSON:  {"f1":"v1"}   null   error:"ERR ..."   ["a","b"]   true       (UTF-8 as is, controls as \u0001)
//! ```

use std::sync::OnceLock;

use tinykv_proto::reply::format_double;
use tinykv_proto::Reply;

/// How replies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// For people at a terminal.
    Pretty,
    /// For scripts and pipes.
    Raw,
    /// `--csv`: one line per reply, aggregates flattened, strings quoted as redis-cli quotes them.
    Csv,
    /// `--json`: one JSON value per reply; RESP3 maps become objects.
    Json,
    /// `--quoted-json`: JSON whose strings are ASCII only (`\\xc3\\xa9`).
    QuotedJson,
}

/// redis-cli's `-d` and `-D`: what raw output puts between the elements of an aggregate, and
/// after each reply (both a newline unless set).
static RAW_DELIMITERS: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();

/// Sets the raw delimiters once, from the command line.
pub fn set_raw_delimiters(element: &[u8], reply: &[u8]) {
    let _ = RAW_DELIMITERS.set((element.to_vec(), reply.to_vec()));
}

fn raw_delimiters() -> (&'static [u8], &'static [u8]) {
    RAW_DELIMITERS.get().map_or((b"\n", b"\n"), |(element, reply)| (element, reply))
}

/// Renders `reply` in `style`, ending in a newline (raw: in `-D`'s delimiter).
pub fn render(reply: &Reply, style: Style) -> Vec<u8> {
    let mut out = Vec::new();
    match style {
        Style::Pretty => pretty(reply, "", &mut out),
        Style::Raw => {
            raw(reply, &mut out);
            out.extend_from_slice(raw_delimiters().1);
        }
        Style::Csv => {
            csv(reply, &mut out);
            out.push(b'\n');
        }
        Style::Json | Style::QuotedJson => {
            json(reply, style == Style::QuotedJson, &mut out);
            out.push(b'\n');
        }
    }
    out
}

/// The commands whose reply is text for people (`INFO`, `CLIENT LIST`, ...): redis-cli prints their reply
/// as it is in every style, without quotes and without adding a newline (the text ends in its own).
pub fn is_verbatim_command(args: &[Vec<u8>]) -> bool {
    let word = |i: usize| args.get(i).map(|w| w.to_ascii_lowercase()).unwrap_or_default();
    let (name, sub) = (word(0), word(1));
    let n = args.len();
    match name.as_slice() {
        b"info" | b"lolwut" => true,
        b"debug" => n >= 2 && matches!(sub.as_slice(), b"htstats" | b"htstats-key" | b"client-eviction"),
        b"memory" => n >= 2 && matches!(sub.as_slice(), b"malloc-stats" | b"doctor"),
        b"cluster" => n == 2 && matches!(sub.as_slice(), b"nodes" | b"info"),
        b"client" => n >= 2 && matches!(sub.as_slice(), b"list" | b"info"),
        b"latency" => (n == 3 && sub == b"graph") || (n == 2 && sub == b"doctor"),
        b"proxy" => n >= 2 && sub == b"info",
        _ => false,
    }
}

/// The reply of an [`is_verbatim_command`] command, as redis-cli prints it: the raw form with no newline
/// added, but for an error, which gets one.
pub fn render_verbatim(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    raw(reply, &mut out);
    if matches!(reply, Reply::Error(_)) {
        out.push(b'\n');
    }
    out
}

/// Appends `bytes` as Redis's `sdscatrepr` does: in double quotes, `\\ \" \n \r \t \a \b` escaped, every
/// other byte that C's `isprint` refuses (UTF-8 included) as `\xNN`. CSV, `--scan` and `--bigkeys` print keys
/// this way, so their output matches redis-cli's byte for byte.
pub fn repr(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &byte in bytes {
        match byte {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', byte]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            b' '..=b'~' => out.push(byte),
            _ => out.extend_from_slice(format!("\\x{byte:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// redis-cli's `cliFormatReplyCSV`: scalars as they are, strings through [`repr`], aggregates (maps too) as one
/// comma-separated list.
fn csv(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Error(text) => {
            out.extend_from_slice(b"ERROR,");
            repr(text.as_bytes(), out);
        }
        Reply::Status(text) => repr(text.as_bytes(), out),
        Reply::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Reply::Double(value) => out.extend_from_slice(format_double(*value).as_bytes()),
        Reply::Bulk(bytes) | Reply::Verbatim(bytes) => repr(bytes, out),
        Reply::Null | Reply::NullArray => out.extend_from_slice(b"NULL"),
        Reply::Boolean(value) => out.extend_from_slice(if *value { b"true" } else { b"false" }),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Frames(items) => {
            join(items.iter(), out, csv)
        }
        Reply::Map(pairs) => join(pairs.iter().flat_map(|(k, v)| [k, v]), out, csv),
    }
}

fn join<'a>(items: impl Iterator<Item = &'a Reply>, out: &mut Vec<u8>, each: fn(&Reply, &mut Vec<u8>)) {
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(item, out);
    }
}

/// redis-cli's `cliFormatReplyJson`. Map keys that are not strings are turned into strings; errors are
/// `error:"..."`, as redis-cli prints them (not valid JSON, but what scripts written for it expect).
fn json(reply: &Reply, quoted: bool, out: &mut Vec<u8>) {
    match reply {
        Reply::Error(text) => {
            out.extend_from_slice(b"error:");
            json_string(text.as_bytes(), quoted, out);
        }
        Reply::Status(text) => json_string(text.as_bytes(), quoted, out),
        Reply::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Reply::Double(value) => out.extend_from_slice(format_double(*value).as_bytes()),
        Reply::Bulk(bytes) | Reply::Verbatim(bytes) => json_string(bytes, quoted, out),
        Reply::Null | Reply::NullArray => out.extend_from_slice(b"null"),
        Reply::Boolean(value) => out.extend_from_slice(if *value { b"true" } else { b"false" }),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Frames(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json(item, quoted, out);
            }
            out.push(b']');
        }
        Reply::Map(pairs) => {
            out.push(b'{');
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match key {
                    Reply::Error(_) | Reply::Status(_) | Reply::Bulk(_) | Reply::Verbatim(_) => json(key, quoted, out),
                    _ => {
                        let mut text = Vec::new();
                        json(key, quoted, &mut text);
                        if text.first() != Some(&b'"') {
                            out.push(b'"');
                            out.extend_from_slice(&text);
                            out.push(b'"');
                        } else {
                            out.extend_from_slice(&text);
                        }
                    }
                }
                out.push(b':');
                json(value, quoted, out);
            }
            out.push(b'}');
        }
    }
}

/// A JSON string: `--json` keeps bytes as they are (escaping quotes, backslashes and control characters, as
/// redis-cli's `escapeJsonString`); `--quoted-json` first escapes as [`repr`] does and then doubles each
/// backslash, so the string is plain ASCII.
fn json_string(bytes: &[u8], quoted: bool, out: &mut Vec<u8>) {
    if quoted {
        let mut escaped = Vec::new();
        repr(bytes, &mut escaped);
        for byte in escaped {
            if byte == b'\\' {
                out.extend_from_slice(b"\\\\");
            } else {
                out.push(byte);
            }
        }
        return;
    }
    out.push(b'"');
    for &byte in bytes {
        match byte {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', byte]),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0..=0x1f => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

/// Appends the pretty form of `reply`; `prefix` is the indentation of elements after the first in any array
/// nested inside it (the first sits after its parent's number).
fn pretty(reply: &Reply, prefix: &str, out: &mut Vec<u8>) {
    match reply {
        Reply::Status(text) => line(out, text.as_bytes()),
        Reply::Error(text) => {
            out.extend_from_slice(b"(error) ");
            line(out, text.as_bytes());
        }
        Reply::Integer(n) => line(out, format!("(integer) {n}").as_bytes()),
        Reply::Bulk(bytes) => {
            quote(bytes, out);
            out.push(b'\n');
        }
        Reply::Null | Reply::NullArray => line(out, b"(nil)"),
        Reply::Double(value) => line(out, format!("(double) {}", format_double(*value)).as_bytes()),
        Reply::Boolean(value) => line(out, if *value { b"(true)" } else { b"(false)" }),
        Reply::Verbatim(text) => line(out, text),
        // A push frame prints as an array does; the server-side `Frames` too.
        Reply::Array(items) | Reply::Frames(items) => {
            aggregate(items.iter().map(Entry::Item), items.len(), ')', "(empty array)", prefix, out)
        }
        Reply::Push(items) => aggregate(items.iter().map(Entry::Item), items.len(), ')', "(empty push)", prefix, out),
        Reply::Set(items) => aggregate(items.iter().map(Entry::Item), items.len(), '~', "(empty set)", prefix, out),
        Reply::Map(pairs) => {
            aggregate(pairs.iter().map(|(k, v)| Entry::Pair(k, v)), pairs.len(), '#', "(empty hash)", prefix, out)
        }
    }
}

/// One numbered entry of an aggregate: an element, or a map's key and value.
enum Entry<'a> {
    Item(&'a Reply),
    Pair(&'a Reply, &'a Reply),
}

/// Numbered entries, the numbers right-aligned to the widest: ` 9) ...` then `10) ...`.
fn aggregate<'a>(
    entries: impl Iterator<Item = Entry<'a>>,
    len: usize,
    mark: char,
    empty: &str,
    prefix: &str,
    out: &mut Vec<u8>,
) {
    if len == 0 {
        line(out, empty.as_bytes());
        return;
    }
    let width = len.to_string().len();
    // Nested aggregates line up under the first character after this level's `N) `.
    let inner = format!("{prefix}{}", " ".repeat(width + 2));
    for (i, entry) in entries.enumerate() {
        if i > 0 {
            out.extend_from_slice(prefix.as_bytes());
        }
        out.extend_from_slice(format!("{:>width$}{mark} ", i + 1).as_bytes());
        match entry {
            Entry::Item(item) => pretty(item, &inner, out),
            Entry::Pair(key, value) => {
                pretty(key, &inner, out);
                out.pop(); // the key's newline: the value follows on the same line
                out.extend_from_slice(b" => ");
                if is_nonempty_aggregate(value) {
                    // A nested aggregate starts on its own line, every entry indented (redis-cli does the same).
                    out.push(b'\n');
                    out.extend_from_slice(inner.as_bytes());
                }
                pretty(value, &inner, out);
            }
        }
    }
}

fn is_nonempty_aggregate(reply: &Reply) -> bool {
    match reply {
        Reply::Array(items) | Reply::Set(items) => !items.is_empty(),
        Reply::Map(pairs) => !pairs.is_empty(),
        _ => false,
    }
}

fn line(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.push(b'\n');
}

/// Appends `bytes` in double quotes: valid UTF-8 as is, except control characters, quotes and backslashes,
/// which are escaped; bytes that are not valid UTF-8 as `\xNN`.
pub fn quote(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\x07' => out.extend_from_slice(b"\\a"),
                '\x08' => out.extend_from_slice(b"\\b"),
                c if c.is_control() => {
                    let mut utf8 = [0; 4];
                    for byte in c.encode_utf8(&mut utf8).bytes() {
                        out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
                    }
                }
                c => {
                    let mut utf8 = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        for byte in chunk.invalid() {
            out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
        }
    }
    out.push(b'"');
}

/// Appends the raw form of `reply`, without the final newline.
fn raw(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Status(text) | Reply::Error(text) => out.extend_from_slice(text.as_bytes()),
        Reply::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Reply::Bulk(bytes) | Reply::Verbatim(bytes) => out.extend_from_slice(bytes),
        Reply::Null | Reply::NullArray => {}
        Reply::Double(value) => out.extend_from_slice(format_double(*value).as_bytes()),
        Reply::Boolean(value) => out.extend_from_slice(if *value { b"(true)" } else { b"(false)" }),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Frames(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(raw_delimiters().0);
                }
                raw(item, out);
            }
        }
        Reply::Map(pairs) => {
            for (i, (key, value)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(raw_delimiters().0);
                }
                raw(key, out);
                out.push(b' ');
                raw(value, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn pretty(reply: &Reply) -> String {
        String::from_utf8(render(reply, Style::Pretty)).unwrap()
    }

    fn raw(reply: &Reply) -> Vec<u8> {
        render(reply, Style::Raw)
    }

    fn strings(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(Reply::bulk).collect())
    }

    #[test]
    fn pretty_scalars() {
        assert_eq!(pretty(&Reply::ok()), "OK\n");
        assert_eq!(pretty(&Reply::bulk("bar")), "\"bar\"\n");
        assert_eq!(pretty(&Reply::Null), "(nil)\n");
        assert_eq!(pretty(&Reply::Integer(1)), "(integer) 1\n");
        assert_eq!(pretty(&Reply::Integer(-42)), "(integer) -42\n");
        assert_eq!(pretty(&Reply::error("ERR unknown command 'foo'")), "(error) ERR unknown command 'foo'\n");
        assert_eq!(pretty(&Reply::Double(1.5)), "(double) 1.5\n");
        assert_eq!(pretty(&Reply::Double(3.0)), "(double) 3\n");
        assert_eq!(pretty(&Reply::Double(f64::NEG_INFINITY)), "(double) -inf\n");
        assert_eq!(pretty(&Reply::Boolean(true)), "(true)\n");
        assert_eq!(pretty(&Reply::Boolean(false)), "(false)\n");
        assert_eq!(pretty(&Reply::Verbatim(Bytes::from_static(b"# Server\r\nversion:1"))), "# Server\r\nversion:1\n");
    }

    #[test]
    fn pretty_bulk_shows_utf8_and_escapes_the_rest() {
        assert_eq!(pretty(&Reply::bulk("héllo wörld ✓")), "\"héllo wörld ✓\"\n");
        assert_eq!(pretty(&Reply::bulk("a\nb\r\t\"q\"\\")), "\"a\\nb\\r\\t\\\"q\\\"\\\\\"\n");
        assert_eq!(pretty(&Reply::bulk(b"\x00\x01\x7f\x07\x08")), "\"\\x00\\x01\\x7f\\a\\b\"\n");
        assert_eq!(pretty(&Reply::bulk(b"ok\xff\xfe\xc3")), "\"ok\\xff\\xfe\\xc3\"\n");
        assert_eq!(pretty(&Reply::bulk("")), "\"\"\n");
    }

    #[test]
    fn pretty_arrays() {
        assert_eq!(pretty(&strings(&["a", "b"])), "1) \"a\"\n2) \"b\"\n");
        assert_eq!(pretty(&Reply::Array(vec![])), "(empty array)\n");
        let mixed = Reply::Array(vec![Reply::Integer(1), Reply::Null, Reply::ok(), Reply::error("ERR x")]);
        assert_eq!(pretty(&mixed), "1) (integer) 1\n2) (nil)\n3) OK\n4) (error) ERR x\n");
    }

    #[test]
    fn pretty_numbers_align_past_nine() {
        let ten: Vec<String> = (1..=10).map(|n| n.to_string()).collect();
        let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
        let text = pretty(&strings(&ten));
        assert!(text.starts_with(" 1) \"1\"\n 2) \"2\"\n"), "{text}");
        assert!(text.ends_with(" 9) \"9\"\n10) \"10\"\n"), "{text}");
    }

    #[test]
    fn pretty_nested_arrays_indent_like_redis_cli() {
        // SCAN 0 as redis-cli prints it.
        let scan = Reply::Array(vec![Reply::bulk("0"), strings(&["l", "a"])]);
        assert_eq!(pretty(&scan), "1) \"0\"\n2) 1) \"l\"\n   2) \"a\"\n");
        // Three levels, with a two-digit outer count.
        let mut outer: Vec<Reply> = (0..9).map(Reply::Integer).collect();
        outer.push(Reply::Array(vec![Reply::bulk("x"), Reply::Array(vec![Reply::bulk("y"), Reply::bulk("z")])]));
        outer.push(Reply::Array(vec![]));
        let text = pretty(&Reply::Array(outer));
        assert!(text.ends_with("10) 1) \"x\"\n    2) 1) \"y\"\n       2) \"z\"\n11) (empty array)\n"), "{text}");
        // The first element of a nested array sits on its parent's line.
        let first = Reply::Array(vec![strings(&["a", "b"]), strings(&["c"])]);
        assert_eq!(pretty(&first), "1) 1) \"a\"\n   2) \"b\"\n2) 1) \"c\"\n");
    }

    #[test]
    fn pretty_resp3_aggregates() {
        let map = Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("tinykv")),
            (Reply::bulk("proto"), Reply::Integer(3)),
            (Reply::bulk("modules"), Reply::Array(vec![])),
        ]);
        assert_eq!(
            pretty(&map),
            "1# \"server\" => \"tinykv\"\n2# \"proto\" => (integer) 3\n3# \"modules\" => (empty array)\n"
        );
        let nested =
            Reply::Map(vec![(Reply::bulk("get"), Reply::Map(vec![(Reply::bulk("since"), Reply::bulk("1.0.0"))]))]);
        assert_eq!(pretty(&nested), "1# \"get\" => \n   1# \"since\" => \"1.0.0\"\n");
        let set = Reply::Set(vec![Reply::bulk("a"), Reply::bulk("b")]);
        assert_eq!(pretty(&set), "1~ \"a\"\n2~ \"b\"\n");
        assert_eq!(pretty(&Reply::Set(vec![])), "(empty set)\n");
        assert_eq!(pretty(&Reply::Map(vec![])), "(empty hash)\n");
    }

    #[test]
    fn raw_scalars() {
        assert_eq!(raw(&Reply::ok()), b"OK\n");
        assert_eq!(raw(&Reply::bulk("bar")), b"bar\n");
        assert_eq!(raw(&Reply::bulk(b"\x00\xff\n")), b"\x00\xff\n\n");
        assert_eq!(raw(&Reply::Null), b"\n");
        assert_eq!(raw(&Reply::Integer(7)), b"7\n");
        assert_eq!(raw(&Reply::error("ERR bad")), b"ERR bad\n");
        assert_eq!(raw(&Reply::Double(2.5)), b"2.5\n");
        assert_eq!(raw(&Reply::Boolean(true)), b"(true)\n");
        assert_eq!(raw(&Reply::Verbatim(Bytes::from_static(b"a:1"))), b"a:1\n");
    }

    #[test]
    fn raw_aggregates_one_element_per_line() {
        assert_eq!(raw(&strings(&["a", "b", "c d"])), b"a\nb\nc d\n");
        assert_eq!(raw(&Reply::Array(vec![])), b"\n");
        let nested = Reply::Array(vec![Reply::bulk("0"), strings(&["x", "y"]), Reply::Null]);
        assert_eq!(raw(&nested), b"0\nx\ny\n\n");
        let map = Reply::Map(vec![(Reply::bulk("proto"), Reply::Integer(3)), (Reply::bulk("id"), Reply::Integer(9))]);
        assert_eq!(raw(&map), b"proto 3\nid 9\n");
    }
}
