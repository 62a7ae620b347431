//! The differential harness: the same pseudo-random command sequences against TinyKV and a real
//! `redis-server`, replies compared byte for byte through raw RESP, in RESP2 and in RESP3.
//!
//! Each command family has its own test file with a generator of random commands; [`run`] drives it.
//! When `redis-server` is not installed the tests print why and pass.

use std::net::{TcpListener, TcpStream};
use std::process::Command;

use crate::{call, Daemon, Server, DEADLINE};

/// How far apart the two servers' `TTL` and `PTTL` answers may be.
const TTL_TOLERANCE: i64 = 1;
const PTTL_TOLERANCE: i64 = 2_000;

/// A real `redis-server` on a free port, killed when dropped.
pub struct Redis {
    daemon: Daemon,
}

impl Redis {
    /// Starts one, or `None` (with the reason printed) if it is not installed.
    pub fn start() -> Option<Redis> {
        Redis::start_with(&[])
    }

    /// Starts one with extra configuration arguments (`--proto-max-bulk-len 1mb`), or `None` (with
    /// the reason printed) if it is not installed.
    pub fn start_with(args: &[&str]) -> Option<Redis> {
        // redis-server does not take --port 0: find a free port by binding one and letting it go.
        let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut command = Command::new("redis-server");
        command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        command.args(args);
        Daemon::start(command, port, "redis-server").map(|daemon| Redis { daemon })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.daemon.port
    }

    /// A raw connection, with a read timeout.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.daemon.port)).expect("connect to redis-server");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
    }
}

/// xorshift64*: a few lines instead of a dependency, and the same sequence on every machine.
pub struct Rng(pub u64);

impl Rng {
    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Parses `:<n>\r\n`.
pub fn integer(reply: &[u8]) -> Option<i64> {
    std::str::from_utf8(reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?).ok()?.parse().ok()
}

/// A flat array of bulk strings, re-encoded with its elements sorted.
pub fn sorted_array(reply: &[u8]) -> Vec<u8> {
    let text = reply.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line)).collect::<Vec<_>>();
    // *n, then ($len, bytes) pairs; keys here never hold CR or LF.
    let mut items: Vec<&[u8]> = text.iter().skip(2).step_by(2).copied().filter(|line| !line.is_empty()).collect();
    items.sort();
    crate::resp(&items)
}

/// Whether two replies to `words` agree, allowing only the differences that are not bugs: `KEYS`
/// order, `TTL`/`PTTL` a little apart (the servers run a command at slightly different times), and a
/// `DBSIZE` lower than Redis's while Redis still counts a key set with a past `EXAT` that nothing can see.
pub fn agree(words: &[String], ours: &[u8], theirs: &[u8]) -> bool {
    if ours == theirs {
        return true;
    }
    let name = words[0].as_str();
    match (name, integer(ours), integer(theirs)) {
        ("TTL", Some(a), Some(b)) if a >= 0 && b >= 0 => (a - b).abs() <= TTL_TOLERANCE,
        ("PTTL", Some(a), Some(b)) if a >= 0 && b >= 0 => (a - b).abs() <= PTTL_TOLERANCE,
        ("EXPIRETIME", Some(a), Some(b)) if a >= 0 && b >= 0 => (a - b).abs() <= TTL_TOLERANCE,
        ("PEXPIRETIME", Some(a), Some(b)) if a >= 0 && b >= 0 => (a - b).abs() <= PTTL_TOLERANCE,
        // Redis stores a key SET with an EXAT/PXAT already past and counts it until its expiry cycle
        // reclaims it (no command can see it); TinyKV never stores it. So Redis may count more.
        ("DBSIZE", Some(a), Some(b)) => a <= b,
        _ if name == "KEYS" && ours.starts_with(b"*") => sorted_array(ours) == sorted_array(theirs),
        _ => false,
    }
}

/// Runs `seeds` sequences of `steps` commands from `generate` against TinyKV (started with `args`)
/// and a real redis-server, and fails at the first reply on which `agree` (given the command and the
/// two replies) says no. Odd seeds speak RESP3, even ones RESP2. The key sets (`KEYS *`, sorted) must
/// match at the end of each sequence. Returns how many replies were compared, or `None` (with the
/// reason printed) without a redis-server.
pub fn run(
    args: &[&str],
    seeds: u64,
    steps: usize,
    generate: impl Fn(&mut Rng) -> Vec<String>,
    agree: impl Fn(&[String], &[u8], &[u8]) -> bool,
) -> Option<usize> {
    run_with(args, &[], seeds, steps, generate, agree)
}

/// [`run`], with `redis_args` given to redis-server: for a limit both servers must share, such as
/// `--proto-max-bulk-len 1mb` (the same words mean the same to both).
pub fn run_with(
    args: &[&str],
    redis_args: &[&str],
    seeds: u64,
    steps: usize,
    generate: impl Fn(&mut Rng) -> Vec<String>,
    agree: impl Fn(&[String], &[u8], &[u8]) -> bool,
) -> Option<usize> {
    let redis = Redis::start_with(redis_args)?;
    let mut server_args = vec!["--no-greeting"];
    server_args.extend_from_slice(args);
    let tinykv = Server::start_with(&server_args);
    let mut ours = tinykv.connect();
    let mut theirs = redis.connect();
    let mut compared = 0;
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        // HELLO's own reply names the version and the server, so it is checked, not compared.
        let protocol: &[u8] = if seed % 2 == 1 { b"3" } else { b"2" };
        for stream in [&mut ours, &mut theirs] {
            assert!(!call(stream, &[b"HELLO", protocol]).starts_with(b"-"));
            assert_eq!(call(stream, &[b"FLUSHALL"]), b"+OK\r\n");
            assert_eq!(call(stream, &[b"SELECT", b"0"]), b"+OK\r\n");
        }
        let mut history: Vec<String> = Vec::new();
        for step in 0..steps {
            let words = generate(&mut rng);
            let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            let a = call(&mut ours, &args);
            let b = call(&mut theirs, &args);
            history.push(format!("{words:?}"));
            assert!(
                a == b || agree(&words, &a, &b),
                "seed {seed} step {step}: {words:?}\n tinykv: {:?}\n  redis: {:?}\nlast commands:\n{}",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                history[history.len().saturating_sub(40)..].join("\n"),
            );
            compared += 1;
        }
        let keys = |stream: &mut TcpStream| sorted_array(&call(stream, &[b"KEYS", b"*"]));
        assert_eq!(keys(&mut ours), keys(&mut theirs), "seed {seed}: final key sets");
    }
    Some(compared)
}

// --- reply normalization, for replies whose order or contents may rightly differ ---

/// A decoded RESP reply: a leaf (type byte and text) or an aggregate (type byte and children).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resp {
    /// A string, number, error or null: its type byte and text.
    Leaf(u8, Vec<u8>),
    /// An array, set, map or push: its type byte and children.
    Aggregate(u8, Vec<Resp>),
}

fn line(bytes: &[u8], at: &mut usize) -> Vec<u8> {
    let end = bytes[*at..].windows(2).position(|w| w == b"\r\n").map_or(bytes.len(), |i| *at + i);
    let text = bytes[*at..end].to_vec();
    *at = (end + 2).min(bytes.len());
    text
}

fn parse(bytes: &[u8], at: &mut usize) -> Resp {
    let tag = bytes[*at];
    *at += 1;
    let head = line(bytes, at);
    let n: i64 = std::str::from_utf8(&head).ok().and_then(|t| t.parse().ok()).unwrap_or(-1);
    match tag {
        b'$' | b'=' if n >= 0 => {
            let text = bytes[*at..*at + n as usize].to_vec();
            *at += n as usize + 2;
            Resp::Leaf(tag, text)
        }
        b'*' | b'~' | b'>' if n >= 0 => Resp::Aggregate(tag, (0..n).map(|_| parse(bytes, at)).collect()),
        b'%' if n >= 0 => Resp::Aggregate(tag, (0..2 * n).map(|_| parse(bytes, at)).collect()),
        _ => Resp::Leaf(tag, head),
    }
}

/// Decodes one whole reply (RESP2 or RESP3).
pub fn decode(bytes: &[u8]) -> Resp {
    parse(bytes, &mut 0)
}

/// Children sorted: the reply as a multiset.
pub fn sorted(reply: Resp) -> Resp {
    match reply {
        Resp::Aggregate(tag, mut items) => {
            items.sort();
            Resp::Aggregate(tag, items)
        }
        leaf => leaf,
    }
}

/// Children taken in pairs (field, value) and the pairs sorted.
pub fn sorted_pairs(reply: Resp) -> Resp {
    match reply {
        Resp::Aggregate(tag, items) => {
            let mut pairs: Vec<Resp> = items.chunks(2).map(|pair| Resp::Aggregate(b'p', pair.to_vec())).collect();
            pairs.sort();
            Resp::Aggregate(tag, pairs)
        }
        leaf => leaf,
    }
}

/// A scan reply `[cursor, [items]]` with its items normalized; cursors must both be 0 (small
/// collections come whole) or both not.
pub fn scan_items(reply: Resp, pairs: bool) -> Resp {
    match reply {
        Resp::Aggregate(tag, mut parts) if parts.len() == 2 => {
            let items = parts.pop().unwrap();
            let cursor = parts.pop().unwrap();
            let done = Resp::Leaf(b'$', b"0".to_vec());
            let cursor = if cursor == done { done } else { Resp::Leaf(b'$', b"more".to_vec()) };
            Resp::Aggregate(tag, vec![cursor, if pairs { sorted_pairs(items) } else { sorted(items) }])
        }
        other => other,
    }
}

/// The shape of a random pick: kinds and counts, leaves blanked.
pub fn shape(reply: &Resp) -> Resp {
    match reply {
        Resp::Leaf(tag, _) => Resp::Leaf(*tag, Vec::new()),
        Resp::Aggregate(tag, items) => Resp::Aggregate(*tag, items.iter().map(shape).collect()),
    }
}
