//! Incremental parsing of requests in both forms TinyKV accepts.
//!
//! ```text
//! inline:  SET greeting hello world\r\n          (or \n; the original TinyKV protocol)
//!          SET k "hello world" EX 10\r\n       (quotes split as Redis splits inline requests)
//! RESP:    *3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$11\r\nhello world\r\n
//! ```
//!
//! The decoder keeps its place between calls: an inline line resumes its newline scan where it
//! stopped, and each complete bulk string of a RESP array is split off the buffer as soon as it is
//! whole, so a request that arrives in pieces is never re-scanned. Every length is checked against
//! [`Limits`] before it is trusted, and nothing is reserved on a client's say-so: a `$2000000000`
//! header allocates nothing; the buffer only grows as bytes really arrive.

use bytes::{Buf, Bytes, BytesMut};

use crate::ProtocolError;

/// Caps on what a client may send, checked before any memory is spent on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest inline line (and longest `*`/`$` header line) without a newline.
    pub max_inline: usize,
    /// Most elements in one RESP array.
    pub max_elements: usize,
    /// Longest bulk string.
    pub max_bulk: usize,
}

impl Limits {
    /// 64 KiB inline lines, as the original protocol allows.
    pub const DEFAULT_MAX_INLINE: usize = 64 * 1024;
    /// 1,048,576 elements per array, as Redis allows.
    pub const DEFAULT_MAX_ELEMENTS: usize = 1024 * 1024;
    /// 512 MiB per bulk string, as Redis's default `proto-max-bulk-len`.
    pub const DEFAULT_MAX_BULK: usize = 512 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_inline: Self::DEFAULT_MAX_INLINE,
            max_elements: Self::DEFAULT_MAX_ELEMENTS,
            max_bulk: Self::DEFAULT_MAX_BULK,
        }
    }
}

/// One request: the command name followed by its arguments, as raw bytes.
///
/// Arguments are slices of the connection's read buffer (no copy); whoever keeps one beyond the
/// request (a stored key or value) copies it, so the read buffer is never pinned by the keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `args[0]` is the command name; never empty.
    pub args: Vec<Bytes>,
}

/// Most arguments a request may have to take the one-pass path; longer ones go the resumable way.
const FAST_ARGS: usize = 8;

/// Where the decoder stands inside the request it is reading.
#[derive(Debug, Default)]
enum State {
    /// Between requests.
    #[default]
    Idle,
    /// Reading an inline line; `buf[..scanned]` holds no newline.
    Inline { scanned: usize },
    /// Reading the `*<n>` header; `buf[..scanned]` holds no newline.
    ArrayHeader { scanned: usize },
    /// Reading the elements of an array.
    Array {
        /// Elements still to come, the one in progress included.
        remaining: usize,
        /// Elements complete so far.
        args: Vec<Bytes>,
        /// Length of the bulk in progress once its `$<len>` header is read.
        bulk_len: Option<usize>,
        /// How far the current `$<len>` header line has been scanned for a newline.
        scanned: usize,
    },
}

/// The resumable request parser behind [`ServerCodec`](crate::ServerCodec).
#[derive(Debug, Default)]
pub struct RequestDecoder {
    limits: Limits,
    state: State,
    /// An emptied argument list handed back by [`RequestDecoder::recycle`], for the next request
    /// the one-pass path reads: a connection allocates no list per request.
    spare: Vec<Bytes>,
}

/// Largest argument list [`RequestDecoder::recycle`] keeps (in elements): the one-pass path's
/// requests fit, and a connection never holds on to the list of a huge `MSET`.
const SPARE_CAPACITY: usize = 16;

impl RequestDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        RequestDecoder { limits, state: State::Idle, spare: Vec::new() }
    }

    /// Takes back a request that has run: its argument list, emptied (so the read buffer is not
    /// pinned by it), is reused for the next request instead of a new allocation. A smaller list
    /// than the one kept (one `MULTI` took the arguments out of) does not replace it.
    pub fn recycle(&mut self, request: Request) {
        let mut args = request.args;
        if args.capacity() <= SPARE_CAPACITY && args.capacity() >= self.spare.capacity() {
            args.clear();
            self.spare = args;
        }
    }

    /// Changes the longest bulk string accepted from the next length header on (`CONFIG SET
    /// proto-max-bulk-len`); a bulk already announced keeps the limit it was checked against.
    pub fn set_max_bulk(&mut self, max_bulk: usize) {
        self.limits.max_bulk = max_bulk;
    }

    /// Whether a request has been started but not finished: at shutdown, or when the peer closes,
    /// this tells a clean end from a cut-off request.
    pub fn is_mid_request(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Takes the next complete request off the front of `buf`, or returns `None` when more bytes are
    /// needed. After an error the stream can't be trusted; the caller answers and closes.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        loop {
            match &mut self.state {
                State::Idle => match buf.first() {
                    None => return Ok(None),
                    Some(b'*') => {
                        if let Some(request) = self.whole_array(buf) {
                            return checked(request).map(Some);
                        }
                        self.state = State::ArrayHeader { scanned: 1 };
                    }
                    Some(_) => self.state = State::Inline { scanned: 0 },
                },
                State::Inline { scanned } => {
                    let Some(newline) = find_newline(buf, scanned) else {
                        if buf.len() > self.limits.max_inline {
                            return Err(ProtocolError::InlineTooBig);
                        }
                        return Ok(None);
                    };
                    if newline > self.limits.max_inline {
                        return Err(ProtocolError::InlineTooBig);
                    }
                    self.state = State::Idle;
                    let line = buf.split_to(newline + 1).freeze();
                    if let Some(request) = parse_inline(line)? {
                        return Ok(Some(request));
                    }
                }
                State::ArrayHeader { scanned } => {
                    let Some(newline) = find_newline(buf, scanned) else {
                        return self.header_incomplete(buf);
                    };
                    let count = parse_header_number(&buf[1..newline])
                        .filter(|&n| n <= self.limits.max_elements as i64)
                        .ok_or(ProtocolError::InvalidMultibulkLength)?;
                    buf.advance(newline + 1);
                    self.state = if count <= 0 {
                        // Redis ignores empty and negative arrays; so do we.
                        State::Idle
                    } else {
                        let count = count as usize;
                        State::Array {
                            remaining: count,
                            // Capacity for what is likely, not for what was announced.
                            args: Vec::with_capacity(count.min(16)),
                            bulk_len: None,
                            scanned: 1,
                        }
                    };
                }
                State::Array { remaining, args, bulk_len, scanned } => {
                    let len = match *bulk_len {
                        Some(len) => len,
                        None => {
                            match buf.first() {
                                None => return Ok(None),
                                Some(b'$') => {}
                                Some(&other) => return Err(ProtocolError::ExpectedBulk(other)),
                            }
                            let Some(newline) = find_newline(buf, scanned) else {
                                if buf.len() > self.limits.max_inline {
                                    return Err(ProtocolError::HeaderTooBig);
                                }
                                return Ok(None);
                            };
                            let len = parse_header_number(&buf[1..newline])
                                .filter(|&n| n >= 0 && n <= self.limits.max_bulk as i64)
                                .ok_or(ProtocolError::InvalidBulkLength)?
                                as usize;
                            buf.advance(newline + 1);
                            *bulk_len = Some(len);
                            *scanned = 1;
                            len
                        }
                    };
                    if buf.len() < len + 2 {
                        return Ok(None);
                    }
                    if &buf[len..len + 2] != b"\r\n" {
                        return Err(ProtocolError::MissingCrlf);
                    }
                    args.push(buf.split_to(len).freeze());
                    buf.advance(2);
                    *bulk_len = None;
                    *remaining -= 1;
                    if *remaining == 0 {
                        let args = std::mem::take(args);
                        self.state = State::Idle;
                        return checked(Request { args }).map(Some);
                    }
                }
            }
        }
    }

    /// The common case in one pass: a complete, well-formed array of at most [`FAST_ARGS`] arguments
    /// at the front of `buf` is split off as one frame and its arguments sliced out of it. Anything
    /// else (incomplete, malformed, longer) returns `None` and goes the resumable way, which also
    /// words every error, so the two paths cannot disagree.
    fn whole_array(&mut self, buf: &mut BytesMut) -> Option<Request> {
        let (count, mut at) = short_header(buf, 0, b'*')?;
        if count == 0 || count > FAST_ARGS {
            return None;
        }
        let mut ranges = [(0usize, 0usize); FAST_ARGS];
        for range in ranges.iter_mut().take(count) {
            let (start, end) = bulk_at(buf, at)?;
            if end - start > self.limits.max_bulk {
                return None;
            }
            *range = (start, end);
            at = end + 2;
        }
        let frame = buf.split_to(at).freeze();
        let mut args = std::mem::take(&mut self.spare);
        args.extend(ranges[..count].iter().map(|&(start, end)| frame.slice(start..end)));
        Some(Request { args })
    }

    fn header_incomplete(&self, buf: &BytesMut) -> Result<Option<Request>, ProtocolError> {
        if buf.len() > self.limits.max_inline {
            Err(ProtocolError::HeaderTooBig)
        } else {
            Ok(None)
        }
    }
}

/// Most elements an array may have for [`first_keys`] to read past it (an `MSET` of 500 pairs).
const PEEK_ELEMENTS: usize = 1024;

/// The first key (second element) of each of the next complete arrays at the front of `buf`, for
/// warming the cache lines a pipelined batch will touch before it runs. It looks at up to
/// `keys.len()` arrays and returns `(arrays, found)`: how many arrays it looked at and how many of
/// them had a key, written in order into `keys` as ranges of `buf` (an array of one element, `PING`,
/// has none). Every array looked at counts, keyed or not, so a caller moving on by `arrays` reads
/// each byte once. A peek: it never consumes, stops at the first array it cannot take whole
/// (inline, incomplete, longer than [`PEEK_ELEMENTS`], malformed), and trusts no length beyond
/// what the buffer holds.
pub fn first_keys(buf: &[u8], keys: &mut [(usize, usize)]) -> (usize, usize) {
    let (mut at, mut arrays, mut found) = (0, 0, 0);
    while arrays < keys.len() {
        let Some((count, mut next)) = short_header(buf, at, b'*') else { break };
        if count == 0 || count > PEEK_ELEMENTS {
            break;
        }
        let mut key = None;
        for element in 0..count {
            let Some((start, end)) = bulk_at(buf, next) else { return (arrays, found) };
            if element == 1 {
                key = Some((start, end));
            }
            next = end + 2;
        }
        if let Some(key) = key {
            keys[found] = key;
            found += 1;
        }
        arrays += 1;
        at = next;
    }
    (arrays, found)
}

/// The bulk string whose `$<n>\r\n` header is at `at`, there whole with its CRLF: where its bytes
/// start and end. No length is trusted past what `buf` holds (the sums are checked).
#[inline(always)]
fn bulk_at(buf: &[u8], at: usize) -> Option<(usize, usize)> {
    let (len, start) = short_header(buf, at, b'$')?;
    let end = start.checked_add(len)?;
    (buf.get(end..end.checked_add(2)?)? == b"\r\n").then_some((start, end))
}

/// The fast path's reading of a `*<n>\r\n` or `$<n>\r\n` header at `at`: the number and where the
/// line after it starts, in one pass over its bytes. Only the plain form (`tag`, 1 to 18 digits,
/// CRLF) is read; anything else (a sign, a bare LF, a partial line, junk) is `None`, and the
/// resumable path reads it and words the error.
#[inline(always)]
fn short_header(buf: &[u8], at: usize, tag: u8) -> Option<(usize, usize)> {
    let line = buf.get(at..)?;
    if *line.first()? != tag {
        return None;
    }
    // Most headers have one or two digits (`*3`, `$16`): matched whole, without the loop.
    match *line {
        [_, digit @ b'0'..=b'9', b'\r', b'\n', ..] => return Some((usize::from(digit - b'0'), at + 4)),
        [_, tens @ b'1'..=b'9', ones @ b'0'..=b'9', b'\r', b'\n', ..] => {
            return Some((usize::from(tens - b'0') * 10 + usize::from(ones - b'0'), at + 5))
        }
        _ => {}
    }
    let mut value = 0usize;
    let mut i = at + 1;
    loop {
        let byte = *buf.get(i)?;
        if !byte.is_ascii_digit() {
            break;
        }
        value = value * 10 + usize::from(byte - b'0');
        i += 1;
        if i - at > 18 {
            return None;
        }
    }
    // A leading zero (`$04`) is left to the resumable path, which refuses it as Redis does.
    if i == at + 1 || (buf[at + 1] == b'0' && i > at + 2) || buf.get(i..i + 2)? != b"\r\n" {
        return None;
    }
    Some((value, i + 2))
}

/// Finds the first `\n` at or after `*scanned`, remembering how far it looked when there is none.
fn find_newline(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let start = (*scanned).min(buf.len());
    match buf[start..].iter().position(|&b| b == b'\n') {
        Some(offset) => Some(start + offset),
        None => {
            *scanned = buf.len();
            None
        }
    }
}

/// Parses the decimal number of a `*<n>` or `$<n>` header line (without the tag, with its `\r`).
/// Hand-rolled: it runs for every argument of every request.
fn parse_header_number(line: &[u8]) -> Option<i64> {
    let digits = line.strip_suffix(b"\r")?;
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    // 18 digits always fit in an i64; no legitimate length is longer.
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    // Redis's `string2ll`: no leading zeros (`$04`), no `-0`.
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(if negative { -value } else { value })
}

/// Splits one inline line (its `\n` or `\r\n` included) into arguments, or `None` for a blank line.
///
/// What is left without the line ending is split as Redis splits inline requests (`sdssplitargs`), so the
/// same line means the same command to TinyKV and to Redis:
///
/// ```text
/// DEL a  b\tc              -> [DEL] [a] [b] [c]          blanks separate
/// SET k "hello world"      -> [SET] [k] [hello world]    "double": \n \r \t \b \a \\ \" \xHH
/// SET k 'it\'s'            -> [SET] [k] [it's]           'single': only \' is an escape
/// SET k ""                 -> [SET] [k] []               an empty argument
/// SET k a"b c"             -> [SET] [k] [ab c]           a quote may open mid-word
/// GET "k   GET "k"x        -> unbalanced quotes in request (then the connection is closed)
/// ```
///
/// One rule is TinyKV's own, from the original protocol: on a line with no quote character at all,
/// `SET <key> <value>` keeps the rest of the line after the key as the value, inner blanks included
/// (`SET greeting hello  world` stores `hello  world`). A line with a quote is split as Redis splits it,
/// SET included, so `SET k "v" EX 10` sets an expiry.
///
/// A NUL byte is an ordinary byte here. (Redis looks for the newline with `strchr`, so a line holding a NUL
/// never completes there; there is no Redis behaviour worth copying.)
fn parse_inline(line: Bytes) -> Result<Option<Request>, ProtocolError> {
    let content = line.strip_suffix(b"\n").unwrap_or(&line);
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    let line = line.slice(..content.len());
    let args = match unquoted_set(&line) {
        Some(args) => args,
        None => split_args(&line)?,
    };
    if args.is_empty() {
        return Ok(None);
    }
    checked(Request { args }).map(Some)
}

/// Why a line could not be split into arguments (an inline request: `-ERR Protocol error: unbalanced quotes
/// in request` for both, as Redis answers; a line typed at `tinykv-cli`: nothing is sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A quote was opened and never closed.
    #[error("unbalanced quotes")]
    UnbalancedQuotes,
    /// A closing quote was followed by something other than a blank (`"a"b`).
    #[error("a closing quote must be followed by a space")]
    TextAfterQuote,
}

impl From<SplitError> for ProtocolError {
    fn from(_: SplitError) -> Self {
        ProtocolError::UnbalancedQuotes
    }
}

/// Splits `line` (no line ending) into arguments exactly as Redis's `sdssplitargs` does, the rules
/// [`parse_inline`] documents without TinyKV's SET rule, which belongs to the server's inline protocol only.
/// Blank input gives no arguments. `tinykv-cli` splits typed lines with it, so a line means the same thing
/// typed at the CLI, sent inline to TinyKV, or typed at redis-cli.
///
/// Unquoted words are slices of `line` (no copy); quoted ones are built from their parts.
pub fn split_args(line: &Bytes) -> Result<Vec<Bytes>, SplitError> {
    let mut args = Vec::new();
    let mut pos = 0;
    while let Some(word) = next_word(line, &mut pos)? {
        args.push(word);
    }
    Ok(args)
}

/// C's `isspace`: what Redis skips between arguments.
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// What ends an unquoted word: narrower than [`is_blank`], as in Redis (a vertical tab or form feed
/// inside a word is part of it).
fn ends_word(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_quote(byte: u8) -> bool {
    byte == b'"' || byte == b'\''
}

fn skip_blanks(line: &[u8], mut pos: usize) -> usize {
    while line.get(pos).is_some_and(|&b| is_blank(b)) {
        pos += 1;
    }
    pos
}

/// Where the unquoted run that starts at `pos` stops: at a blank that ends words, a quote, or the end.
fn plain_end(line: &[u8], mut pos: usize) -> usize {
    while line.get(pos).is_some_and(|&b| !ends_word(b) && !is_quote(b)) {
        pos += 1;
    }
    pos
}

/// The next argument at or after `*pos`, leaving `*pos` just past it; `None` at the end of the line.
/// A word without quotes is a slice of the line (no copy); a word with quotes is built from its parts.
fn next_word(line: &Bytes, pos: &mut usize) -> Result<Option<Bytes>, SplitError> {
    let start = skip_blanks(line, *pos);
    if start == line.len() {
        *pos = start;
        return Ok(None);
    }
    let end = plain_end(line, start);
    match line.get(end) {
        Some(&quote) if is_quote(quote) => {
            let mut word = line[start..end].to_vec();
            *pos = quoted(line, end + 1, quote, &mut word)?;
            Ok(Some(Bytes::from(word)))
        }
        _ => {
            *pos = end;
            Ok(Some(line.slice(start..end)))
        }
    }
}

/// Appends the inside of a quoted part whose content starts at `pos` to `word`, unescaping as Redis does;
/// returns the position after the closing quote. The closing quote ends the word: a byte other than a blank
/// right after it is an error, as is a line that ends inside the quotes.
fn quoted(line: &[u8], mut pos: usize, quote: u8, word: &mut Vec<u8>) -> Result<usize, SplitError> {
    loop {
        let &byte = line.get(pos).ok_or(SplitError::UnbalancedQuotes)?;
        let next = line.get(pos + 1).copied();
        if byte == quote {
            return match next {
                Some(after) if !is_blank(after) => Err(SplitError::TextAfterQuote),
                _ => Ok(pos + 1),
            };
        }
        match (quote, byte, next) {
            (b'"', b'\\', Some(escaped)) => {
                let hex = if escaped == b'x' { hex_byte(line.get(pos + 2..pos + 4)) } else { None };
                if let Some(value) = hex {
                    word.push(value);
                    pos += 4;
                    continue;
                }
                // Anything else after a backslash stands for itself (`\"`, `\\`, and `\xZZ` as `xZZ`).
                word.push(match escaped {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
                pos += 2;
            }
            (b'\'', b'\\', Some(b'\'')) => {
                word.push(b'\'');
                pos += 2;
            }
            _ => {
                word.push(byte);
                pos += 1;
            }
        }
    }
}

/// The byte two hex digits stand for (`\xHH`), either case.
fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    let &[high, low] = digits? else { return None };
    let digit = |d: u8| (d as char).to_digit(16);
    Some(((digit(high)? << 4) | digit(low)?) as u8)
}

/// TinyKV's own rule, the one thing the decoder adds to [`split_args`]: a line without quotes whose first
/// word is `SET` keeps the rest of the line after the key as the value. `None` for every other line.
fn unquoted_set(line: &Bytes) -> Option<Vec<Bytes>> {
    let start = skip_blanks(line, 0);
    let end = plain_end(line, start);
    if !line[start..end].eq_ignore_ascii_case(b"SET") || line.iter().any(|&b| is_quote(b)) {
        return None;
    }
    let mut args = Vec::with_capacity(3);
    args.push(line.slice(start..end));
    // Without quotes every word is a plain run.
    let key_start = skip_blanks(line, end);
    let key_end = plain_end(line, key_start);
    if key_end > key_start {
        args.push(line.slice(key_start..key_end));
        args.extend(rest_of_line(line, key_end));
    }
    Some(args)
}

/// The original protocol's SET value on a line without quotes: from the first word after the key to the
/// end of the last word, inner blanks included. `None` when nothing follows the key.
fn rest_of_line(line: &Bytes, pos: usize) -> Option<Bytes> {
    let start = skip_blanks(line, pos);
    let mut end = start;
    let mut at = start;
    while at < line.len() {
        at = plain_end(line, at);
        end = at;
        at = skip_blanks(line, at);
    }
    (end > start).then(|| line.slice(start..end))
}

/// Refuses a request whose command is `POST` or `Host:`, in either form: an HTTP request sent to
/// this port (a web page driving the server through a browser), which Redis also closes at once.
fn checked(request: Request) -> Result<Request, ProtocolError> {
    let name = &request.args[0];
    if name.eq_ignore_ascii_case(b"POST") || name.eq_ignore_ascii_case(b"Host:") {
        return Err(ProtocolError::CrossProtocol);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_argument_list_carries_the_next_request_and_a_huge_one_is_dropped() {
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\nv\r\n"[..]);
        let first = decoder.decode(&mut buf).unwrap().unwrap();
        let list = first.args.as_ptr();
        decoder.recycle(first);
        let second = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(second.args, ["SET", "b", "v"]);
        assert_eq!(second.args.as_ptr(), list, "the same allocation, emptied and refilled");
        // A list too big to keep is let go, and an emptier one does not replace the one kept.
        decoder.recycle(second);
        let kept = decoder.spare.capacity();
        assert!(kept >= 3);
        let big = Request { args: Vec::with_capacity(SPARE_CAPACITY + 1) };
        decoder.recycle(big);
        assert_eq!(decoder.spare.capacity(), kept);
        decoder.recycle(Request { args: Vec::new() });
        assert_eq!(decoder.spare.capacity(), kept);
    }

    #[test]
    fn first_keys_are_the_second_elements_of_the_complete_arrays_up_front() {
        let keys_of = |buf: &[u8], room: usize| {
            let mut ranges = vec![(0, 0); room];
            let (arrays, found) = first_keys(buf, &mut ranges);
            (arrays, ranges[..found].iter().map(|&(start, end)| buf[start..end].to_vec()).collect::<Vec<_>>())
        };
        let none = Vec::<Vec<u8>>::new();
        let pipeline = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$1\r\nv\r\n";
        assert_eq!(keys_of(pipeline, 16), (3, vec![b"k1".to_vec(), b"k2".to_vec()]));
        // No more arrays than there is room for: the keyless PING counts as one.
        assert_eq!(keys_of(pipeline, 1), (1, vec![b"k1".to_vec()]));
        assert_eq!(keys_of(pipeline, 2), (2, vec![b"k1".to_vec()]));
        // An incomplete array, an inline command, a malformed header: the peek stops there.
        assert_eq!(keys_of(&pipeline[..pipeline.len() - 1], 16), (2, vec![b"k1".to_vec()]));
        assert_eq!(keys_of(b"GET k1\r\n*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n", 16), (0, none.clone()));
        assert_eq!(keys_of(b"*2\r\n$3\r\nGET\r\n$-1\r\n", 16), (0, none.clone()));
        // A length past the buffer is not trusted, however large.
        assert_eq!(keys_of(b"*2\r\n$3\r\nGET\r\n$999999\r\nk\r\n", 16), (0, none.clone()));
        assert_eq!(keys_of(b"*1\r\n$99999999999999999\r\n", 16), (0, none.clone()));
        // What the decoder then reads is untouched.
        let mut buf = BytesMut::from(&pipeline[..]);
        let mut decoder = RequestDecoder::default();
        assert_eq!(decoder.decode(&mut buf).unwrap().unwrap().args[1], "k1");
    }

    /// Keyless arrays count toward the limit, so a caller moving on by what it looked at reads every
    /// array once: many `PING`s before a few keys are not read again for each window of keys.
    #[test]
    fn first_keys_reads_each_array_once_however_many_have_no_key() {
        let mut buf = b"*1\r\n$4\r\nPING\r\n".repeat(1000);
        for _ in 0..16 {
            buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        }
        let mut keys = [(0, 0); 16];
        let (mut at, mut arrays_seen, mut keys_seen, mut scans) = (0, 0, 0, 0);
        loop {
            let (arrays, found) = first_keys(&buf[at..], &mut keys);
            scans += 1;
            if arrays == 0 {
                break;
            }
            arrays_seen += arrays;
            keys_seen += found;
            // Move past exactly the arrays looked at, as the connection's decoder does.
            let mut decoder = RequestDecoder::default();
            let mut rest = BytesMut::from(&buf[at..]);
            for _ in 0..arrays {
                decoder.decode(&mut rest).unwrap().unwrap();
            }
            at = buf.len() - rest.len();
        }
        assert_eq!((arrays_seen, keys_seen), (1016, 16));
        assert_eq!(scans, 1016 / 16 + 1 + 1);
    }

    #[test]
    fn short_headers_of_every_width_read_as_the_digit_loop_reads_them() {
        // One and two digits take the slice patterns, three and more the loop.
        for (header, expected) in [
            (&b"$0\r\n"[..], Some((0, 4))),
            (b"$7\r\n", Some((7, 4))),
            (b"$10\r\n", Some((10, 5))),
            (b"$99\r\n", Some((99, 5))),
            (b"$100\r\n", Some((100, 6))),
            (b"$12345678901234567\r\n", Some((12_345_678_901_234_567, 20))),
            // Left to the resumable path, which words the errors.
            (b"$04\r\n", None),
            (b"$00\r\n", None),
            (b"$-1\r\n", None),
            (b"$1\n", None),
            (b"$12\r", None),
            (b"$\r\n", None),
            (b"*3\r\n", None),
            (b"$123456789012345678\r\n", None),
        ] {
            assert_eq!(short_header(header, 0, b'$'), expected, "{}", String::from_utf8_lossy(header));
        }
        // At an offset, as for every argument after the first.
        assert_eq!(short_header(b"xx$16\r\nkey", 2, b'$'), Some((16, 7)));
    }

    fn decode_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(request) = decoder.decode(&mut buf)? {
            out.push(request.args.iter().map(|a| a.to_vec()).collect());
        }
        Ok(out)
    }

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn inline_seed_commands() {
        let got = decode_all(b"SET foo bar\r\nGET foo\nDEL foo\r\n").unwrap();
        assert_eq!(got, vec![args(&["SET", "foo", "bar"]), args(&["GET", "foo"]), args(&["DEL", "foo"])]);
    }

    #[test]
    fn inline_set_keeps_spaces_in_value() {
        let got = decode_all(b"  set greeting   hello  world  \r\n").unwrap();
        assert_eq!(got, vec![args(&["set", "greeting", "hello  world"])]);
        let got = decode_all(b"DEL a  b\tc\n").unwrap();
        assert_eq!(got, vec![args(&["DEL", "a", "b", "c"])]);
    }

    fn split_words(line: &str) -> Result<Vec<Vec<u8>>, SplitError> {
        split_args(&Bytes::copy_from_slice(line.as_bytes())).map(|w| w.iter().map(|a| a.to_vec()).collect())
    }

    #[test]
    fn split_args_is_sdssplitargs_without_the_set_rule() {
        assert_eq!(split_words("SET greeting hello  world"), Ok(args(&["SET", "greeting", "hello", "world"])));
        assert_eq!(split_words(r#"set k "a b\x41\n" 'it\'s'"#), Ok(args(&["set", "k", "a bA\n", "it's"])));
        assert_eq!(split_words("  \t "), Ok(vec![]));
        assert_eq!(split_words(r#"get "open"#), Err(SplitError::UnbalancedQuotes));
        assert_eq!(split_words(r#"get "a"b"#), Err(SplitError::TextAfterQuote));
        // Both are one protocol error on the wire, worded as Redis words it.
        assert_eq!(ProtocolError::from(SplitError::TextAfterQuote), ProtocolError::UnbalancedQuotes);
    }

    #[test]
    fn split_args_slices_unquoted_words_out_of_the_line() {
        let line = Bytes::from_static(b"GET key");
        let words = split_args(&line).unwrap();
        assert_eq!(words[1].as_ptr(), line[4..].as_ptr(), "an unquoted word is not copied");
    }

    /// One inline line through the decoder: its arguments, or the error.
    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        let mut requests = decode_all(line)?;
        assert!(requests.len() <= 1, "one line gave {} requests", requests.len());
        Ok(requests.pop().unwrap_or_default())
    }

    #[test]
    fn inline_quotes_split_as_redis() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (br#"SET k "hello world""#, &[b"SET", b"k", b"hello world"]),
            (br#"SET k """#, &[b"SET", b"k", b""]),
            (br#"ECHO "" x"#, &[b"ECHO", b"", b"x"]),
            (br#"ECHO "a b"   'c d'"#, &[b"ECHO", b"a b", b"c d"]),
            (br#"ECHO "\x41\x4a\x6b""#, &[b"ECHO", b"AJk"]),
            (br#"ECHO "\n\r\t\b\a\\\"\q""#, &[b"ECHO", b"\n\r\t\x08\x07\\\"q"]),
            // Not a hex escape: the backslash goes, the rest stays.
            (br#"ECHO "\xZZ" "\x4""#, &[b"ECHO", b"xZZ", b"x4"]),
            (br"ECHO 'it\'s' 'a\nb' 'a\\b'", &[b"ECHO", b"it's", br"a\nb", br"a\\b"]),
            (br#"ECHO 'say "hi"' "it's""#, &[b"ECHO", b"say \"hi\"", b"it's"]),
            // A quote may open mid-word; its close ends the word.
            (br#"ECHO a"b c" d'e'"#, &[b"ECHO", b"ab c", b"de"]),
            (b"ECHO \"a\"\t\"b\"\x0b", &[b"ECHO", b"a", b"b"]),
            // Blanks are C's isspace between words, but only space, tab, CR and LF end an unquoted word.
            (b"\x0bECHO a\x0bb\x0c", &[b"ECHO", b"a\x0bb\x0c"]),
            (b"ECHO \"\x00\" a\x00b", &[b"ECHO", b"\x00", b"a\x00b"]),
            // Bytes that are not UTF-8 pass through, quoted or not.
            (b"ECHO \xff \"\xfe\"", &[b"ECHO", b"\xff", b"\xfe"]),
        ];
        for &(line, expected) in cases {
            let mut with_crlf = line.to_vec();
            with_crlf.extend_from_slice(b"\r\n");
            let expected: Vec<Vec<u8>> = expected.iter().map(|word| word.to_vec()).collect();
            assert_eq!(split(&with_crlf), Ok(expected), "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn unbalanced_quotes_are_protocol_errors() {
        for line in [
            &br#"GET "k"#[..],
            b"GET 'k",
            br#"GET "k"x"#,
            b"GET 'k'x",
            b"SET k 'it''s'",
            br#"SET k "a""b""#,
            br#"GET "ends in backslash\"#,
            br#"GET "\""#,
            b"SET name O'Brien",
        ] {
            let mut with_lf = line.to_vec();
            with_lf.push(b'\n');
            assert_eq!(split(&with_lf), Err(ProtocolError::UnbalancedQuotes), "{:?}", String::from_utf8_lossy(line));
        }
        assert_eq!(ProtocolError::UnbalancedQuotes.to_string(), "unbalanced quotes in request");
        assert!(ProtocolError::UnbalancedQuotes.deserves_reply());
    }

    #[test]
    fn the_line_ending_is_not_part_of_the_last_word() {
        assert_eq!(split(b"ECHO \"a\"\r\n"), Ok(args(&["ECHO", "a"])));
        assert_eq!(split(b"ECHO \"a\"\n"), Ok(args(&["ECHO", "a"])));
        // One CR is the line ending's; another is a blank, as in Redis.
        assert_eq!(split(b"ECHO \"a\"\r\r\n"), Ok(args(&["ECHO", "a"])));
        assert_eq!(split(b"ECHO a\r\r\n"), Ok(args(&["ECHO", "a"])));
    }

    #[test]
    fn set_without_quotes_keeps_the_rest_of_the_line_and_with_quotes_follows_redis() {
        assert_eq!(split(b"SET k v EX 10\r\n"), Ok(args(&["SET", "k", "v EX 10"])));
        assert_eq!(split(b"set k  a \t b \r\n"), Ok(args(&["set", "k", "a \t b"])));
        assert_eq!(split(b"SET k v\r\n"), Ok(args(&["SET", "k", "v"])));
        assert_eq!(split(b"SET k   \r\n"), Ok(args(&["SET", "k"])));
        assert_eq!(split(b"SET k \x0bv\x0b\r\n"), Ok(args(&["SET", "k", "v\x0b"])));
        assert_eq!(split(b"SET k \"v\" EX 10\r\n"), Ok(args(&["SET", "k", "v", "EX", "10"])));
        assert_eq!(split(b"SET \"k\" hello world\r\n"), Ok(args(&["SET", "k", "hello", "world"])));
        assert_eq!(split(b"SET k 'hello world'\r\n"), Ok(args(&["SET", "k", "hello world"])));
        // Other commands split on blanks even without quotes.
        assert_eq!(split(b"MSET a 1  b 2\r\n"), Ok(args(&["MSET", "a", "1", "b", "2"])));
    }

    #[test]
    fn quoted_lines_fed_a_byte_at_a_time_give_the_same_requests() {
        let input: &[u8] =
            b"SET k \"a b\\x41\" EX 100\r\nECHO 'it\\'s' \"\"\nSET plain a  b\r\n*1\r\n$4\r\nPING\r\nGET \"k\"\n";
        let whole = decode_all(input).unwrap();
        assert_eq!(
            whole,
            vec![
                args(&["SET", "k", "a bA", "EX", "100"]),
                args(&["ECHO", "it's", ""]),
                args(&["SET", "plain", "a  b"]),
                args(&["PING"]),
                args(&["GET", "k"]),
            ]
        );
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut one_by_one = Vec::new();
        for &byte in input {
            buf.extend_from_slice(&[byte]);
            while let Some(request) = decoder.decode(&mut buf).unwrap() {
                one_by_one.push(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
        }
        assert_eq!(one_by_one, whole);

        // An unbalanced line fed a byte at a time fails once its newline arrives, not before.
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::new();
        for &byte in b"PING\r\nGET \"k" {
            buf.extend_from_slice(&[byte]);
            while decoder.decode(&mut buf).unwrap().is_some() {}
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn blank_lines_are_skipped() {
        let got = decode_all(b"\r\n   \nPING\r\n").unwrap();
        assert_eq!(got, vec![args(&["PING"])]);
    }

    #[test]
    fn resp_array_is_binary_safe() {
        let got = decode_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\n\0\r\n").unwrap();
        assert_eq!(got, vec![vec![b"SET".to_vec(), b"k".to_vec(), b"a\r\n\0".to_vec()]]);
    }

    #[test]
    fn empty_and_negative_arrays_are_ignored() {
        let got = decode_all(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(got, vec![args(&["PING"])]);
    }

    #[test]
    fn malformed_requests_are_protocol_errors() {
        use ProtocolError::*;
        assert_eq!(decode_all(b"*abc\r\n"), Err(InvalidMultibulkLength));
        assert_eq!(decode_all(b"*2000000\r\n"), Err(InvalidMultibulkLength));
        assert_eq!(decode_all(b"*1\r\n$-5\r\n"), Err(InvalidBulkLength));
        assert_eq!(decode_all(b"*1\r\n$x\r\n"), Err(InvalidBulkLength));
        assert_eq!(decode_all(b"*1\r\n$600000000\r\n"), Err(InvalidBulkLength));
        assert_eq!(decode_all(b"*1\r\n+PING\r\n"), Err(ExpectedBulk(b'+')));
        assert_eq!(decode_all(b"*1\r\n$4\r\nPINGxx"), Err(MissingCrlf));
        assert_eq!(decode_all(b"POST / HTTP/1.1\r\n"), Err(CrossProtocol));
        assert_eq!(decode_all(b"host: example.com\r\n"), Err(CrossProtocol));
        assert_eq!(decode_all(b"*1\r\n$4\r\npost\r\n"), Err(CrossProtocol));
    }

    #[test]
    fn announced_bulk_allocates_nothing() {
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::from(&b"*1\r\n$500000000\r\nabc"[..]);
        let before = buf.capacity();
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert!(buf.capacity() <= before);
        assert!(decoder.is_mid_request());
    }

    #[test]
    fn oversize_inline_line_is_rejected_before_newline() {
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::from(&vec![b'a'; 70 * 1024][..]);
        assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::InlineTooBig));
        let mut buf = BytesMut::from(&vec![b'*'; 70 * 1024][..]);
        let mut decoder = RequestDecoder::default();
        assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::HeaderTooBig));
    }

    #[test]
    fn custom_bulk_limit_applies() {
        let limits = Limits { max_bulk: 10, ..Limits::default() };
        let mut decoder = RequestDecoder::new(limits);
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Err(ProtocolError::InvalidBulkLength));
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the decoder, and it never holds on to more than it was given:
        /// every call either yields a request, asks for more, or fails.
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..16)) {
            let mut decoder = RequestDecoder::new(Limits { max_inline: 256, max_elements: 8, max_bulk: 64 });
            let mut buf = BytesMut::new();
            'feed: for chunk in chunks {
                buf.extend_from_slice(&chunk);
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(request)) => proptest::prop_assert!(!request.args.is_empty()),
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// The one-pass path (a whole request in the buffer) and the resumable one (the same bytes
        /// fed one at a time) read the same requests, and the same error, from any bytes shaped
        /// like a pipeline of arrays (odd headers included: signs, leading zeros, bare LFs).
        #[test]
        fn whole_and_byte_by_byte_agree(
            requests in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..11), 1..4),
            header in proptest::prop_oneof![proptest::strategy::Just(""), proptest::strategy::Just("0"), proptest::strategy::Just("-"), proptest::strategy::Just("+")],
            bare_lf in proptest::prelude::any::<bool>(),
        ) {
            let eol: &[u8] = if bare_lf { b"\n" } else { b"\r\n" };
            let mut input = Vec::new();
            for args in &requests {
                input.extend_from_slice(format!("*{header}{}", args.len()).as_bytes());
                input.extend_from_slice(eol);
                for arg in args {
                    input.extend_from_slice(format!("${header}{}", arg.len()).as_bytes());
                    input.extend_from_slice(eol);
                    input.extend_from_slice(arg);
                    input.extend_from_slice(b"\r\n");
                }
            }
            let whole = decode_all(&input);
            let mut decoder = RequestDecoder::default();
            let mut buf = BytesMut::new();
            let mut fed = Vec::new();
            let mut error = None;
            'feed: for &byte in &input {
                buf.extend_from_slice(&[byte]);
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(request)) => fed.push(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>()),
                        Ok(None) => break,
                        Err(err) => {
                            error = Some(err);
                            break 'feed;
                        }
                    }
                }
            }
            match (whole, error) {
                (Ok(whole), None) => proptest::prop_assert_eq!(whole, fed),
                (Err(a), Some(b)) => proptest::prop_assert_eq!(a, b),
                (whole, error) => proptest::prop_assert!(false, "whole {:?}, byte by byte {:?} then {:?}", whole, fed, error),
            }
        }
    }

    proptest::proptest! {
        /// Any words, written as a person (or redis-cli) would quote them, come back as the same words:
        /// double quotes with `\xHH` for anything unprintable, or single quotes when that is enough.
        #[test]
        fn quoted_words_round_trip(words in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 1..6), single in proptest::prelude::any::<bool>()) {
            let mut line = b"ECHO".to_vec();
            for word in &words {
                line.push(b' ');
                // Single quotes can't hold a backslash before a quote or at the end (`'\'` reads as an
                // escaped quote, in Redis too), so words with a backslash take double quotes.
                let plain = word.iter().all(|&b| (b.is_ascii_graphic() || b == b' ') && b != b'\\');
                if single && plain {
                    line.push(b'\'');
                    for &byte in word {
                        if byte == b'\'' {
                            line.push(b'\\');
                        }
                        line.push(byte);
                    }
                    line.push(b'\'');
                } else {
                    line.push(b'"');
                    for &byte in word {
                        match byte {
                            b'"' | b'\\' => line.extend_from_slice(&[b'\\', byte]),
                            byte if byte.is_ascii_graphic() || byte == b' ' => line.push(byte),
                            byte => line.extend_from_slice(format!("\\x{byte:02x}").as_bytes()),
                        }
                    }
                    line.push(b'"');
                }
            }
            line.extend_from_slice(b"\r\n");
            let mut expected = vec![b"ECHO".to_vec()];
            expected.extend(words);
            proptest::prop_assert_eq!(split(&line), Ok(expected));
        }
    }

    /// Feeds `input` one byte at a time and split at every position; each must give the same requests
    /// as the whole input at once.
    #[test]
    fn every_split_gives_the_same_requests() {
        let input: &[u8] =
            b"SET a hello world\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\n*3\r\n$3\r\nSET\r\n$2\r\nb\n\r\n$0\r\n\r\n";
        let whole = decode_all(input).unwrap();
        assert_eq!(whole.len(), 4);

        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut one_by_one = Vec::new();
        for &byte in input {
            buf.extend_from_slice(&[byte]);
            while let Some(request) = decoder.decode(&mut buf).unwrap() {
                one_by_one.push(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
        }
        assert_eq!(one_by_one, whole);

        for split in 0..=input.len() {
            let mut decoder = RequestDecoder::default();
            let mut buf = BytesMut::from(&input[..split]);
            let mut got = Vec::new();
            while let Some(request) = decoder.decode(&mut buf).unwrap() {
                got.push(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
            buf.extend_from_slice(&input[split..]);
            while let Some(request) = decoder.decode(&mut buf).unwrap() {
                got.push(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
            assert_eq!(got, whole, "split at {split}");
        }
    }
}
