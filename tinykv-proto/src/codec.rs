//! tokio-util codecs for both ends of a connection.
//!
//! [`ServerCodec`] decodes [`Request`]s and encodes [`Reply`]s in the connection's protocol version;
//! [`ClientCodec`] encodes argument lists as RESP arrays and decodes replies of either version.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::request::{Limits, Request, RequestDecoder};
use crate::{Protocol, ProtocolError, Reply};

/// The server's side: requests in, replies out.
#[derive(Debug, Default)]
pub struct ServerCodec {
    requests: RequestDecoder,
    protocol: Protocol,
}

impl ServerCodec {
    /// A codec enforcing `limits` on what the client sends.
    pub fn new(limits: Limits) -> Self {
        ServerCodec { requests: RequestDecoder::new(limits), protocol: Protocol::Resp2 }
    }

    /// Switches the encoding of later replies (after `HELLO 2` or `HELLO 3`).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// The protocol version replies are encoded in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether a request was begun but not finished.
    pub fn is_mid_request(&self) -> bool {
        self.requests.is_mid_request()
    }

    /// Changes the longest bulk string accepted, for requests not yet begun (`CONFIG SET
    /// proto-max-bulk-len`).
    pub fn set_max_bulk(&mut self, max_bulk: usize) {
        self.requests.set_max_bulk(max_bulk);
    }
}

impl Decoder for ServerCodec {
    type Item = Request;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        self.requests.decode(src)
    }
}

impl Encoder<&Reply> for ServerCodec {
    type Error = ProtocolError;

    fn encode(&mut self, reply: &Reply, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        reply.encode(self.protocol, dst);
        Ok(())
    }
}

/// The client's side: argument lists out as RESP arrays, replies in.
///
/// Replies of both versions decode to the same [`Reply`] values (`$-1`, `*-1` and `_` are all
/// [`Reply::Null`]). Lengths are capped as on the server, and nesting deeper than
/// [`ClientCodec::MAX_DEPTH`] is refused, so a hostile server can't exhaust the client either.
///
/// Like the server's decoder it keeps its place: each complete element is taken off the buffer as
/// soon as it arrives and aggregates under construction wait on a stack, so a huge reply arriving
/// in many reads (`KEYS *` on a big keyspace) is parsed once, not once per read.
#[derive(Debug, Default)]
pub struct ClientCodec {
    limits: Limits,
    /// Aggregates begun but not complete, outermost first.
    open: Vec<Aggregate>,
}

/// The kinds of aggregate reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggregateKind {
    Array,
    Set,
    Map,
    /// `|`: an attribute describing the reply that follows it; dropped.
    Attribute,
    /// `>`: a RESP3 push frame (a pub/sub message, a tracking invalidation), which a client must tell
    /// apart from the reply to its request.
    Push,
}

/// An aggregate reply under construction.
#[derive(Debug)]
struct Aggregate {
    kind: AggregateKind,
    /// Elements still to come (twice the pair count for maps and attributes).
    remaining: usize,
    items: Vec<Reply>,
}

impl Aggregate {
    fn finish(self) -> Reply {
        match self.kind {
            AggregateKind::Array | AggregateKind::Attribute => Reply::Array(self.items),
            AggregateKind::Set => Reply::Set(self.items),
            AggregateKind::Push => Reply::Push(self.items),
            AggregateKind::Map => {
                let mut pairs = Vec::with_capacity(self.items.len() / 2);
                let mut flat = self.items.into_iter();
                while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
                    pairs.push((key, value));
                }
                Reply::Map(pairs)
            }
        }
    }
}

/// One element read off the wire: a whole value, or the header of an aggregate.
enum Element {
    Value(Reply),
    Open(AggregateKind, usize),
}

impl ClientCodec {
    /// Deepest nesting of aggregate replies accepted.
    pub const MAX_DEPTH: usize = 64;

    /// A codec enforcing `limits` on replies.
    pub fn new(limits: Limits) -> Self {
        ClientCodec { limits, open: Vec::new() }
    }
}

impl<T: AsRef<[u8]>> Encoder<&[T]> for ClientCodec {
    type Error = ProtocolError;

    fn encode(&mut self, args: &[T], dst: &mut BytesMut) -> Result<(), ProtocolError> {
        encode_request(args, dst);
        Ok(())
    }
}

/// Appends `args` to `dst` as one RESP array of bulk strings: what every Redis client sends.
pub fn encode_request<T: AsRef<[u8]>>(args: &[T], dst: &mut BytesMut) {
    let mut digits = itoa::Buffer::new();
    dst.put_u8(b'*');
    dst.put_slice(digits.format(args.len()).as_bytes());
    dst.put_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        dst.reserve(arg.len() + 16);
        dst.put_u8(b'$');
        dst.put_slice(digits.format(arg.len()).as_bytes());
        dst.put_slice(b"\r\n");
        dst.put_slice(arg);
        dst.put_slice(b"\r\n");
    }
}

impl Decoder for ClientCodec {
    type Item = Reply;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Reply>, ProtocolError> {
        loop {
            let mut cursor = Cursor { buf: src, pos: 0, limits: &self.limits };
            let Some(element) = cursor.element()? else { return Ok(None) };
            let used = cursor.pos;
            src.advance(used);
            let mut value = match element {
                Element::Value(reply) => reply,
                Element::Open(kind, 0) => Aggregate { kind, remaining: 0, items: Vec::new() }.finish(),
                Element::Open(kind, remaining) => {
                    if self.open.len() >= Self::MAX_DEPTH {
                        return Err(ProtocolError::InvalidReply("nesting too deep"));
                    }
                    let items = Vec::with_capacity(remaining.min(1024));
                    self.open.push(Aggregate { kind, remaining, items });
                    continue;
                }
            };
            // Hand the finished value to the aggregate it belongs to, closing every aggregate it completes.
            loop {
                let Some(parent) = self.open.last_mut() else { return Ok(Some(value)) };
                parent.items.push(value);
                parent.remaining -= 1;
                if parent.remaining > 0 {
                    break;
                }
                let Some(done) = self.open.pop() else { break };
                if done.kind == AggregateKind::Attribute {
                    // Attributes annotate the next reply; the CLI has no use for them.
                    break;
                }
                value = done.finish();
            }
        }
    }
}

/// A read position in a reply buffer; every method returns `Ok(None)` when the element is incomplete.
struct Cursor<'a> {
    buf: &'a BytesMut,
    pos: usize,
    limits: &'a Limits,
}

impl Cursor<'_> {
    fn line(&mut self) -> Result<Option<&[u8]>, ProtocolError> {
        let rest = &self.buf[self.pos..];
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(end) => {
                self.pos += end + 2;
                Ok(Some(&rest[..end]))
            }
            None if rest.len() > self.limits.max_inline => Err(ProtocolError::InvalidReply("line too long")),
            None => Ok(None),
        }
    }

    fn number(&mut self) -> Result<Option<i64>, ProtocolError> {
        let Some(line) = self.line()? else { return Ok(None) };
        let text = std::str::from_utf8(line).map_err(|_| ProtocolError::InvalidReply("bad number"))?;
        text.parse().map(Some).map_err(|_| ProtocolError::InvalidReply("bad number"))
    }

    fn text(&mut self) -> Result<Option<String>, ProtocolError> {
        Ok(self.line()?.map(|line| String::from_utf8_lossy(line).into_owned()))
    }

    fn blob(&mut self) -> Result<Option<Option<Bytes>>, ProtocolError> {
        let Some(len) = self.number()? else { return Ok(None) };
        if len < 0 {
            return Ok(Some(None));
        }
        if len as u64 > self.limits.max_bulk as u64 {
            return Err(ProtocolError::InvalidBulkLength);
        }
        let len = len as usize;
        if self.buf.len() - self.pos < len + 2 {
            return Ok(None);
        }
        if &self.buf[self.pos + len..self.pos + len + 2] != b"\r\n" {
            return Err(ProtocolError::MissingCrlf);
        }
        let bytes = Bytes::copy_from_slice(&self.buf[self.pos..self.pos + len]);
        self.pos += len + 2;
        Ok(Some(Some(bytes)))
    }

    /// The count of an aggregate header; `None` inside for a null aggregate (`*-1`).
    fn count(&mut self) -> Result<Option<Option<usize>>, ProtocolError> {
        let Some(n) = self.number()? else { return Ok(None) };
        if n < 0 {
            return Ok(Some(None));
        }
        if n as u64 > self.limits.max_elements as u64 {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        Ok(Some(Some(n as usize)))
    }

    fn element(&mut self) -> Result<Option<Element>, ProtocolError> {
        let Some(&tag) = self.buf.get(self.pos) else { return Ok(None) };
        self.pos += 1;
        macro_rules! need {
            ($e:expr) => {
                match $e? {
                    Some(v) => v,
                    None => return Ok(None),
                }
            };
        }
        let aggregate = |kind, count: Option<usize>, pairs: bool| match count {
            Some(n) => Element::Open(kind, if pairs { n.saturating_mul(2) } else { n }),
            None => Element::Value(Reply::Null),
        };
        let reply = match tag {
            b'+' => Reply::Status(need!(self.text()).into()),
            b'-' => Reply::Error(need!(self.text()).into()),
            b':' => Reply::Integer(need!(self.number())),
            b'(' => Reply::Bulk(Bytes::from(need!(self.text()))),
            b',' => {
                let text = need!(self.text());
                let value = match text.as_str() {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" => f64::NAN,
                    other => other.parse().map_err(|_| ProtocolError::InvalidReply("bad double"))?,
                };
                Reply::Double(value)
            }
            b'#' => match need!(self.line()) {
                b"t" => Reply::Boolean(true),
                b"f" => Reply::Boolean(false),
                _ => return Err(ProtocolError::InvalidReply("bad boolean")),
            },
            b'_' => {
                need!(self.line());
                Reply::Null
            }
            b'$' => need!(self.blob()).map_or(Reply::Null, Reply::Bulk),
            b'!' => match need!(self.blob()) {
                Some(text) => Reply::Error(String::from_utf8_lossy(&text).into_owned().into()),
                None => Reply::Null,
            },
            b'=' => match need!(self.blob()) {
                // Drop the three-letter format and its colon: `txt:`.
                Some(text) if text.len() >= 4 => Reply::Verbatim(text.slice(4..)),
                Some(text) => Reply::Verbatim(text),
                None => Reply::Null,
            },
            b'*' => return Ok(Some(aggregate(AggregateKind::Array, need!(self.count()), false))),
            b'>' => return Ok(Some(aggregate(AggregateKind::Push, need!(self.count()), false))),
            b'~' => return Ok(Some(aggregate(AggregateKind::Set, need!(self.count()), false))),
            b'%' => return Ok(Some(aggregate(AggregateKind::Map, need!(self.count()), true))),
            b'|' => return Ok(Some(aggregate(AggregateKind::Attribute, need!(self.count()), true))),
            _ => return Err(ProtocolError::InvalidReply("unknown type byte")),
        };
        Ok(Some(Element::Value(reply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_decodes_every_resp2_and_resp3_type() {
        let mut codec = ClientCodec::default();
        let mut buf = BytesMut::from(
            &b"+OK\r\n-ERR x\r\n:5\r\n$3\r\nbar\r\n$-1\r\n*-1\r\n_\r\n*2\r\n:1\r\n*1\r\n$1\r\na\r\n%1\r\n+k\r\n#t\r\n~1\r\n,1.5\r\n=7\r\ntxt:a:1\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"[..],
        );
        let mut got = Vec::new();
        while let Some(reply) = codec.decode(&mut buf).unwrap() {
            got.push(reply);
        }
        assert_eq!(
            got,
            vec![
                Reply::ok(),
                Reply::error("ERR x"),
                Reply::Integer(5),
                Reply::bulk("bar"),
                Reply::Null,
                Reply::Null,
                Reply::Null,
                Reply::Array(vec![Reply::Integer(1), Reply::Array(vec![Reply::bulk("a")])]),
                Reply::Map(vec![(Reply::ok_like("k"), Reply::Boolean(true))]),
                Reply::Set(vec![Reply::Double(1.5)]),
                Reply::Verbatim(Bytes::from_static(b"a:1")),
                Reply::Push(vec![Reply::bulk("invalidate"), Reply::Array(vec![Reply::bulk("k")])]),
            ]
        );
    }

    impl Reply {
        fn ok_like(text: &'static str) -> Reply {
            Reply::status(text)
        }
    }

    #[test]
    fn client_waits_for_incomplete_replies_at_every_split() {
        let input = b"*2\r\n$3\r\nfoo\r\n:42\r\n";
        for split in 0..input.len() {
            let mut codec = ClientCodec::default();
            let mut buf = BytesMut::from(&input[..split]);
            assert_eq!(codec.decode(&mut buf).unwrap(), None, "split at {split}");
            buf.extend_from_slice(&input[split..]);
            let reply = codec.decode(&mut buf).unwrap().unwrap();
            assert_eq!(reply, Reply::Array(vec![Reply::bulk("foo"), Reply::Integer(42)]));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn client_refuses_deep_nesting() {
        let mut codec = ClientCodec::default();
        let mut buf = BytesMut::from("*1\r\n".repeat(100).as_bytes());
        assert!(codec.decode(&mut buf).is_err());
    }

    fn arb_args() -> impl Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8)
    }

    fn arb_reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            "[a-zA-Z0-9 ]{0,20}".prop_map(|s| Reply::Status(s.into())),
            "ERR [a-z ]{0,20}".prop_map(|s| Reply::Error(s.into())),
            any::<i64>().prop_map(Reply::Integer),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Reply::Bulk(b.into())),
            Just(Reply::Null),
            any::<bool>().prop_map(Reply::Boolean),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Reply::Map),
            ]
        })
    }

    proptest! {
        /// What the client encodes, the server decodes to the same arguments, whatever the bytes and
        /// however the stream is cut.
        #[test]
        fn requests_round_trip(batch in proptest::collection::vec(arb_args(), 1..5), cut in any::<prop::sample::Index>()) {
            let mut wire = BytesMut::new();
            let mut client = ClientCodec::default();
            for args in &batch {
                client.encode(args.as_slice(), &mut wire).unwrap();
            }
            let cut = cut.index(wire.len() + 1);
            let mut server = ServerCodec::default();
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(request) = server.decode(&mut buf).unwrap() {
                got.push(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
            buf.extend_from_slice(&wire[cut..]);
            while let Some(request) = server.decode(&mut buf).unwrap() {
                got.push(request.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
            prop_assert_eq!(got, batch);
        }

        /// What the server encodes in RESP3, the client decodes to the same reply.
        #[test]
        fn replies_round_trip(reply in arb_reply()) {
            let mut wire = BytesMut::new();
            let mut server = ServerCodec::default();
            server.set_protocol(Protocol::Resp3);
            server.encode(&reply, &mut wire).unwrap();
            let mut client = ClientCodec::default();
            prop_assert_eq!(client.decode(&mut wire).unwrap(), Some(reply));
            prop_assert!(wire.is_empty());
        }
    }
}
