//! Replies and their encoding.
//!
//! One [`Reply`] value encodes to RESP2 or RESP3 depending on what the connection negotiated, so
//! command code never thinks about the protocol version. RESP2 has no map, set, double, boolean or
//! null type of its own; those fall back the way Redis 7 falls back:
//!
//! ```text
//! reply            RESP2                       RESP3
//! Null             $-1\r\n                     _\r\n
//! Map [(k, v)]     *2\r\n k v                  %1\r\n k v
//! Set [a]          *1\r\n a                    ~1\r\n a
//! Double 1.5       $3\r\n1.5\r\n               ,1.5\r\n
//! Boolean true     :1\r\n                      #t\r\n
//! Verbatim "x"     $1\r\nx\r\n                 =5\r\ntxt:x\r\n
//! ```

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

/// The greeting's text, written once: the status text and the wire bytes are both built from it.
macro_rules! greeting_text {
    () => {
        "TinyKV ready"
    };
}

/// The greeting of the original TinyKV protocol, as it goes on the wire: a status line.
///
/// ```text
/// +TinyKV ready\r\n
/// ```
///
/// The server sends it, the CLI recognises and drops it, the tests expect it: one constant, so the three
/// can never disagree on a byte.
pub const GREETING: &[u8] = concat!("+", greeting_text!(), "\r\n").as_bytes();

/// The text of [`GREETING`]'s status line (without `+` and `\r\n`): what a reply decoder sees.
pub const GREETING_TEXT: &str = greeting_text!();

/// The protocol version a connection speaks: RESP2 until the client sends `HELLO 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, what every client gets by default.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl Protocol {
    /// The number `HELLO` reports for this version.
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// One reply, in the terms of RESP3; encoding narrows it to RESP2 where needed.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A simple string: `+OK`.
    Status(Cow<'static, str>),
    /// An error line; the text starts with its code (`ERR`, `WRONGTYPE`, ...).
    Error(Cow<'static, str>),
    /// `:<n>`.
    Integer(i64),
    /// A binary-safe string.
    Bulk(Bytes),
    /// The absence of a value (a missing key).
    Null,
    /// The absence of an array: what an `EXEC` aborted by `WATCH` answers (`*-1` in RESP2).
    NullArray,
    /// An ordered list of replies.
    Array(Vec<Reply>),
    /// Key/value pairs (`HELLO`, `CONFIG GET` in RESP3).
    Map(Vec<(Reply, Reply)>),
    /// An unordered collection (`~` in RESP3).
    Set(Vec<Reply>),
    /// A floating-point number (`,` in RESP3).
    Double(f64),
    /// `#t` / `#f` in RESP3.
    Boolean(bool),
    /// Text meant for humans, such as `INFO` (`=` with a `txt:` prefix in RESP3).
    Verbatim(Bytes),
    /// Out-of-band data the server sends on its own (`>` in RESP3, an array in RESP2): pub/sub
    /// messages and subscription confirmations.
    Push(Vec<Reply>),
    /// Several replies, one after another, answering one command: `SUBSCRIBE a b` confirms each
    /// channel with a frame of its own, as Redis does. Never nested in a client's view.
    Frames(Vec<Reply>),
}

impl Reply {
    /// `+OK`, the most common reply.
    pub const fn ok() -> Reply {
        Reply::Status(Cow::Borrowed("OK"))
    }

    /// A status reply from static text.
    pub const fn status(text: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(text))
    }

    /// An error reply; `text` starts with the error code, e.g. `"ERR syntax error"`.
    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string copied from a byte slice.
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(bytes.as_ref()))
    }

    /// The reply of a command that wrote its answer to the connection's buffer itself (see
    /// [`encode_bulk`]): nothing more to encode. An empty [`Reply::Frames`], so every consumer of a
    /// reply already handles it; it counts as a success.
    pub const fn written() -> Reply {
        Reply::Frames(Vec::new())
    }

    /// Whether this is [`Reply::written`]: nothing left to encode.
    #[inline]
    pub fn is_written(&self) -> bool {
        matches!(self, Reply::Frames(frames) if frames.is_empty())
    }

    /// Whether this is the greeting ([`GREETING`]) as a decoded reply. No command answers this status, so a
    /// client can drop it when it comes first without ever eating a real reply.
    pub fn is_greeting(&self) -> bool {
        matches!(self, Reply::Status(text) if text == GREETING_TEXT)
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the wire form of this reply for `protocol` to `dst`.
    pub fn encode(&self, protocol: Protocol, dst: &mut BytesMut) {
        match self {
            // The most common reply of all, in one copy.
            Reply::Status(text) if text == "OK" => dst.extend_from_slice(b"+OK\r\n"),
            Reply::Status(text) => line(dst, b'+', text.as_bytes()),
            Reply::Error(text) => line(dst, b'-', text.as_bytes()),
            Reply::Integer(n) => header(dst, b':', *n),
            Reply::Bulk(bytes) => bulk(dst, b'$', bytes),
            Reply::Null => match protocol {
                Protocol::Resp2 => dst.put_slice(b"$-1\r\n"),
                Protocol::Resp3 => dst.put_slice(b"_\r\n"),
            },
            Reply::NullArray => match protocol {
                Protocol::Resp2 => dst.put_slice(b"*-1\r\n"),
                Protocol::Resp3 => dst.put_slice(b"_\r\n"),
            },
            Reply::Array(items) => {
                encode_aggregate_header(dst, protocol, Shape::Array, items.len());
                items.iter().for_each(|item| item.encode(protocol, dst));
            }
            Reply::Set(items) => {
                encode_aggregate_header(dst, protocol, Shape::Set, items.len());
                items.iter().for_each(|item| item.encode(protocol, dst));
            }
            Reply::Map(pairs) => {
                encode_aggregate_header(dst, protocol, Shape::Map, pairs.len());
                for (key, value) in pairs {
                    key.encode(protocol, dst);
                    value.encode(protocol, dst);
                }
            }
            Reply::Double(value) => encode_double(dst, protocol, *value),
            Reply::Boolean(value) => match protocol {
                Protocol::Resp2 => header(dst, b':', i64::from(*value)),
                Protocol::Resp3 => dst.put_slice(if *value { b"#t\r\n" } else { b"#f\r\n" }),
            },
            Reply::Push(items) => {
                let tag = if protocol == Protocol::Resp3 { b'>' } else { b'*' };
                header(dst, tag, items.len() as i64);
                items.iter().for_each(|item| item.encode(protocol, dst));
            }
            Reply::Frames(replies) => replies.iter().for_each(|reply| reply.encode(protocol, dst)),
            Reply::Verbatim(text) => match protocol {
                Protocol::Resp2 => bulk(dst, b'$', text),
                Protocol::Resp3 => {
                    header(dst, b'=', text.len() as i64 + 4);
                    dst.put_slice(b"txt:");
                    dst.put_slice(text);
                    dst.put_slice(b"\r\n");
                }
            },
        }
    }
}

/// A big aggregate reply taken apart, to be encoded a piece at a time: the server writes what it has
/// encoded and yields before encoding more, so a reply of millions of elements never sits in memory
/// twice (as values and as bytes) and other clients are served between its pieces.
#[derive(Debug)]
pub struct ReplyStream {
    protocol: Protocol,
    items: std::vec::IntoIter<Reply>,
    /// About how many bytes the elements not yet encoded take on the wire.
    remaining: usize,
}

impl Reply {
    /// When this is an aggregate (array, set, map, push, or several frames) of more than `min_items`
    /// elements: appends its header to `dst` and returns the rest as a [`ReplyStream`]. Anything else
    /// comes back unchanged, to be encoded whole.
    pub fn into_stream(self, protocol: Protocol, dst: &mut BytesMut, min_items: usize) -> Result<ReplyStream, Reply> {
        let len = match &self {
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Frames(items) => items.len(),
            Reply::Map(pairs) => pairs.len(),
            _ => return Err(self),
        };
        if len <= min_items {
            return Err(self);
        }
        let items = match self {
            Reply::Array(items) => {
                encode_aggregate_header(dst, protocol, Shape::Array, len);
                items
            }
            Reply::Set(items) => {
                encode_aggregate_header(dst, protocol, Shape::Set, len);
                items
            }
            Reply::Push(items) => {
                header(dst, if protocol == Protocol::Resp3 { b'>' } else { b'*' }, len as i64);
                items
            }
            Reply::Frames(items) => items,
            Reply::Map(pairs) => {
                encode_aggregate_header(dst, protocol, Shape::Map, len);
                pairs.into_iter().flat_map(|(key, value)| [key, value]).collect()
            }
            other => return Err(other),
        };
        let remaining = items.iter().map(Reply::wire_len_estimate).sum();
        Ok(ReplyStream { protocol, items: items.into_iter(), remaining })
    }

    /// About how many bytes this reply takes on the wire (exact for strings and numbers up to their
    /// header's digits): for output limits, which need the size of what is not encoded yet.
    pub fn wire_len_estimate(&self) -> usize {
        const HEADER: usize = 16;
        match self {
            Reply::Status(text) | Reply::Error(text) => text.len() + 3,
            Reply::Bulk(bytes) | Reply::Verbatim(bytes) => bytes.len() + HEADER,
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) | Reply::Frames(items) => {
                HEADER + items.iter().map(Reply::wire_len_estimate).sum::<usize>()
            }
            Reply::Map(pairs) => {
                HEADER + pairs.iter().map(|(k, v)| k.wire_len_estimate() + v.wire_len_estimate()).sum::<usize>()
            }
            _ => HEADER,
        }
    }
}

impl ReplyStream {
    /// Encodes elements into `dst` until it holds at least `until` bytes or none are left; returns
    /// whether some are left.
    pub fn encode_some(&mut self, dst: &mut BytesMut, until: usize) -> bool {
        while dst.len() < until {
            let Some(item) = self.items.next() else { return false };
            self.remaining = self.remaining.saturating_sub(item.wire_len_estimate());
            item.encode(self.protocol, dst);
        }
        self.items.len() > 0
    }

    /// About how many bytes the elements not yet encoded will take.
    pub fn remaining_bytes(&self) -> usize {
        self.remaining
    }
}

impl From<crate::CommandError> for Reply {
    fn from(err: crate::CommandError) -> Reply {
        Reply::Error(Cow::Owned(err.to_string()))
    }
}

/// Formats a double the way Redis 7.0 prints one (`%.17g`: `1.5`, `3`, `0.10000000000000001`, `1e+20`,
/// `inf`). Shared with the CLI's printer, so both ends print a double the same way.
pub fn format_double(value: f64) -> String {
    crate::score::format_g17(value)
}

/// A double as [`Reply::Double`] is: a bulk string in RESP2, a `,` frame in RESP3.
fn encode_double(dst: &mut BytesMut, protocol: Protocol, value: f64) {
    crate::score::with_g17(value, |text| match protocol {
        Protocol::Resp2 => bulk(dst, b'$', text),
        Protocol::Resp3 => line(dst, b',', text),
    });
}

/// Encodes `len` sorted-set entries as Redis 7.0 answers `ZRANGE`: members only, or with
/// `withscores` each followed by its score (RESP2: one flat array) or paired with it (RESP3: an
/// array of two-element arrays), written straight from the set instead of built as a [`Reply`] first;
/// `entries` yields exactly `len` of them.
pub fn encode_scored<'a>(
    dst: &mut BytesMut,
    protocol: Protocol,
    len: usize,
    withscores: bool,
    entries: impl Iterator<Item = (&'a [u8], f64)>,
) {
    match (withscores, protocol) {
        (false, _) => encode_bulks(dst, protocol, Shape::Array, len, entries.map(|(member, _)| member)),
        (true, Protocol::Resp2) => {
            header(dst, b'*', 2 * len as i64);
            for (member, score) in entries {
                bulk(dst, b'$', member);
                encode_double(dst, protocol, score);
            }
        }
        (true, Protocol::Resp3) => {
            header(dst, b'*', len as i64);
            for (member, score) in entries {
                dst.extend_from_slice(b"*2\r\n");
                bulk(dst, b'$', member);
                encode_double(dst, protocol, score);
            }
        }
    }
}

/// `<tag><text>\r\n`. Simple strings and errors cannot hold CR or LF; they are replaced by spaces so a
/// message built from client input can never split into two replies.
fn line(dst: &mut BytesMut, tag: u8, text: &[u8]) {
    dst.reserve(text.len() + 3);
    dst.put_u8(tag);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        dst.extend(text.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    } else {
        dst.put_slice(text);
    }
    dst.put_slice(b"\r\n");
}

/// `<tag><n>\r\n`.
fn header(dst: &mut BytesMut, tag: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n).as_bytes();
    dst.reserve(digits.len() + 3);
    dst.put_u8(tag);
    dst.put_slice(digits);
    dst.put_slice(b"\r\n");
}

/// Encodes `bytes` as a bulk string (the same in RESP2 and RESP3), for a command that writes its
/// reply straight from where the value lives instead of building a [`Reply`].
pub fn encode_bulk(dst: &mut BytesMut, bytes: &[u8]) {
    bulk(dst, b'$', bytes);
}

/// Which aggregate a reply written in place is ([`encode_bulks`]): RESP3 tells them apart by their
/// header, RESP2 sends each as an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// [`Reply::Array`].
    Array,
    /// [`Reply::Set`].
    Set,
    /// [`Reply::Map`], its keys and values alternating.
    Map,
}

/// Encodes an aggregate of `len` entries (pairs, for a map) of bulk strings as `shape` is in
/// `protocol`, for a read that writes its reply straight from the collection instead of copying
/// each element into a [`Reply`] first; `items` yields exactly `len` strings (a map's keys and
/// values alternating, `2 * len`).
pub fn encode_bulks<'a>(
    dst: &mut BytesMut,
    protocol: Protocol,
    shape: Shape,
    len: usize,
    items: impl Iterator<Item = &'a [u8]>,
) {
    encode_aggregate_header(dst, protocol, shape, len);
    items.for_each(|item| bulk(dst, b'$', item));
}

/// The header of an aggregate of `len` entries (pairs, for a map): what [`Reply::encode`] writes
/// first, and what a reply written in place whose elements are not all bulk strings (`MGET`'s
/// nulls) starts with.
pub fn encode_aggregate_header(dst: &mut BytesMut, protocol: Protocol, shape: Shape, len: usize) {
    match (shape, protocol) {
        (Shape::Set, Protocol::Resp3) => header(dst, b'~', len as i64),
        (Shape::Map, Protocol::Resp3) => header(dst, b'%', len as i64),
        (Shape::Map, Protocol::Resp2) => header(dst, b'*', 2 * len as i64),
        _ => header(dst, b'*', len as i64),
    }
}

/// `<tag><len>\r\n<bytes>\r\n`.
fn bulk(dst: &mut BytesMut, tag: u8, bytes: &[u8]) {
    // One reservation for the whole frame.
    dst.reserve(bytes.len() + 25);
    let len = bytes.len();
    if len < 10 {
        // A short value (most of a collection's elements): no number to format, one copy for the head.
        dst.extend_from_slice(&[tag, b'0' + len as u8, b'\r', b'\n']);
    } else if len < 100 {
        dst.extend_from_slice(&[tag, b'0' + (len / 10) as u8, b'0' + (len % 10) as u8, b'\r', b'\n']);
    } else {
        let mut digits = itoa::Buffer::new();
        dst.put_u8(tag);
        dst.put_slice(digits.format(bytes.len()).as_bytes());
        dst.put_slice(b"\r\n");
    }
    dst.put_slice(bytes);
    dst.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(reply: &Reply, protocol: Protocol) -> Vec<u8> {
        let mut dst = BytesMut::new();
        reply.encode(protocol, &mut dst);
        dst.to_vec()
    }

    #[test]
    fn a_streamed_reply_is_the_same_bytes_as_a_whole_one() {
        let strings = |n: usize| (0..n).map(|i| Reply::bulk(format!("value:{i}"))).collect::<Vec<_>>();
        let replies = [
            Reply::Array(strings(5000)),
            Reply::Set(strings(3000)),
            Reply::Push(strings(2000)),
            Reply::Frames(strings(2000)),
            Reply::Map(strings(4000).into_iter().zip(strings(4000)).collect()),
            Reply::Array(vec![Reply::Array(strings(3)), Reply::Null, Reply::Integer(7)]),
        ];
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            for reply in &replies {
                let whole = encode(reply, protocol);
                let mut streamed = BytesMut::new();
                match reply.clone().into_stream(protocol, &mut streamed, 100) {
                    Ok(mut stream) => {
                        let mut pieces = 0;
                        let mut piece = BytesMut::new();
                        while stream.encode_some(&mut piece, 1000) {
                            assert!(piece.len() < 1000 + 100, "a piece stays near its bound");
                            streamed.extend_from_slice(&piece);
                            piece.clear();
                            pieces += 1;
                        }
                        streamed.extend_from_slice(&piece);
                        assert!(pieces > 10, "encoded in pieces");
                        assert_eq!(stream.remaining_bytes(), 0);
                    }
                    Err(small) => small.encode(protocol, &mut streamed),
                }
                assert_eq!(streamed.to_vec(), whole, "{protocol:?}");
            }
        }
    }

    #[test]
    fn seed_replies_are_byte_exact() {
        assert_eq!(encode(&Reply::ok(), Protocol::Resp2), b"+OK\r\n");
        assert_eq!(encode(&Reply::bulk("bar"), Protocol::Resp2), b"$3\r\nbar\r\n");
        assert_eq!(encode(&Reply::Null, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(encode(&Reply::Integer(1), Protocol::Resp2), b":1\r\n");
        assert_eq!(encode(&Reply::error("ERR unknown command"), Protocol::Resp2), b"-ERR unknown command\r\n");
    }

    #[test]
    fn bulks_written_in_place_are_the_bytes_of_the_reply_they_replace() {
        let items: Vec<Vec<u8>> = [0, 1, 9, 10, 11, 99, 100, 12345].iter().map(|&n| vec![b'v'; n]).collect();
        let bulks = || items.iter().map(Reply::bulk);
        let pairs = bulks().step_by(2).zip(bulks().skip(1).step_by(2)).collect();
        let replies = [
            (Shape::Array, Reply::Array(bulks().collect())),
            (Shape::Set, Reply::Set(bulks().collect())),
            (Shape::Map, Reply::Map(pairs)),
        ];
        for (shape, reply) in replies {
            for protocol in [Protocol::Resp2, Protocol::Resp3] {
                let mut written = BytesMut::new();
                let len = if shape == Shape::Map { items.len() / 2 } else { items.len() };
                encode_bulks(&mut written, protocol, shape, len, items.iter().map(Vec::as_slice));
                assert_eq!(written[..], encode(&reply, protocol)[..], "{shape:?} in {protocol:?}");
            }
        }
        // Around the one-digit shortcut, written out.
        for (value, frame) in [
            (&b""[..], &b"$0\r\n\r\n"[..]),
            (b"123456789", b"$9\r\n123456789\r\n"),
            (b"0123456789", b"$10\r\n0123456789\r\n"),
        ] {
            let mut one = BytesMut::new();
            encode_bulk(&mut one, value);
            assert_eq!(&one[..], frame);
        }
    }

    #[test]
    fn resp3_types_fall_back_in_resp2() {
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Integer(1))]);
        assert_eq!(encode(&map, Protocol::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(encode(&map, Protocol::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(encode(&Reply::Null, Protocol::Resp3), b"_\r\n");
        assert_eq!(encode(&Reply::NullArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(encode(&Reply::NullArray, Protocol::Resp3), b"_\r\n");
        assert_eq!(encode(&Reply::Double(1.5), Protocol::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(encode(&Reply::Double(1.5), Protocol::Resp3), b",1.5\r\n");
        assert_eq!(encode(&Reply::Boolean(true), Protocol::Resp3), b"#t\r\n");
        assert_eq!(encode(&Reply::Boolean(false), Protocol::Resp2), b":0\r\n");
        let set = Reply::Set(vec![Reply::bulk("x")]);
        assert_eq!(encode(&set, Protocol::Resp3), b"~1\r\n$1\r\nx\r\n");
        assert_eq!(encode(&set, Protocol::Resp2), b"*1\r\n$1\r\nx\r\n");
        let info = Reply::Verbatim(Bytes::from_static(b"a:1"));
        assert_eq!(encode(&info, Protocol::Resp3), b"=7\r\ntxt:a:1\r\n");
        assert_eq!(encode(&info, Protocol::Resp2), b"$3\r\na:1\r\n");
    }

    #[test]
    fn greeting_is_the_status_line_of_its_text() {
        assert_eq!(GREETING, b"+TinyKV ready\r\n");
        let greeting = Reply::status(GREETING_TEXT);
        assert_eq!(encode(&greeting, Protocol::Resp2), GREETING);
        assert!(greeting.is_greeting());
        assert!(!Reply::ok().is_greeting());
        assert!(!Reply::bulk(GREETING_TEXT).is_greeting());
    }

    #[test]
    fn line_breaks_cannot_split_a_status_or_error() {
        let reply = Reply::error("ERR bad\r\n+OK");
        assert_eq!(encode(&reply, Protocol::Resp2), b"-ERR bad  +OK\r\n");
    }
}
