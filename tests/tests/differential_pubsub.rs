//! Differential test of pub/sub (issue 11): the same script of `SUBSCRIBE`, `PSUBSCRIBE`,
//! `SSUBSCRIBE`, their unsubscriptions, `PUBLISH`, `SPUBLISH`, `PUBSUB`, `PING`, `RESET` and refused
//! commands, from three connections, against TinyKV and a real redis-server, in RESP2 and RESP3.
//! Every reply and every message each connection receives is compared byte for byte.
//!
//! Each step says how many frames each connection is to receive, so the test never waits on a
//! clock; at the end every connection answers a `PING`, which shows nothing unexpected was left
//! before it. Steps whose order Redis takes from its hash tables (unsubscribing from several
//! channels at once, `PUBSUB CHANNELS` listing several, several patterns matching one message) are
//! left out: their order is not a contract.
//!
//! `MONITOR`'s lines are compared with the time and the client's address taken out.

use std::net::TcpStream;

use tinykv_tests::differential::Redis;
use tinykv_tests::{call, read_reply, resp, Server};

use std::io::Write;

/// `(connection, command, frames expected on connections a, b and c)`.
type Step = (usize, &'static [&'static str], [usize; 3]);

/// The script, in either protocol. In RESP2 a subscribed connection's refused commands are errors;
/// in RESP3 they run: either way one reply.
const SCRIPT: &[Step] = &[
    (0, &["SUBSCRIBE", "c1", "c2"], [2, 0, 0]),
    (0, &["PSUBSCRIBE", "news.*"], [1, 0, 0]),
    (0, &["PSUBSCRIBE", "c?"], [1, 0, 0]),
    (0, &["SSUBSCRIBE", "s1"], [1, 0, 0]),
    (0, &["SUBSCRIBE", "c1"], [1, 0, 0]),
    (0, &["GET", "x"], [1, 0, 0]),
    (0, &["CLIENT", "GETNAME"], [1, 0, 0]),
    (0, &["MULTI"], [1, 0, 0]),
    (0, &["EXEC"], [1, 0, 0]),
    (0, &["PING"], [1, 0, 0]),
    (0, &["PING", "hi"], [1, 0, 0]),
    (0, &["SUBSCRIBE"], [1, 0, 0]),
    (1, &["PUBLISH", "c1", "m1"], [2, 1, 0]),
    (1, &["PUBLISH", "news.today", "hello"], [1, 1, 0]),
    (1, &["PUBLISH", "nobody", "x"], [0, 1, 0]),
    (1, &["SPUBLISH", "s1", "m2"], [1, 1, 0]),
    (1, &["PUBLISH", "s1", "m3"], [0, 1, 0]),
    (1, &["SPUBLISH", "c1", "m3"], [0, 1, 0]),
    (1, &["PUBLISH", "c2", ""], [2, 1, 0]),
    (1, &["PUBSUB", "NUMSUB", "c1", "c2", "zz"], [0, 1, 0]),
    (1, &["PUBSUB", "NUMSUB"], [0, 1, 0]),
    (1, &["PUBSUB", "NUMPAT"], [0, 1, 0]),
    (1, &["PUBSUB", "CHANNELS", "c1"], [0, 1, 0]),
    (1, &["PUBSUB", "CHANNELS", "x*"], [0, 1, 0]),
    (1, &["PUBSUB", "SHARDCHANNELS"], [0, 1, 0]),
    (1, &["PUBSUB", "SHARDCHANNELS", "s[12]"], [0, 1, 0]),
    (1, &["PUBSUB", "SHARDNUMSUB", "s1", "c1"], [0, 1, 0]),
    (1, &["PUBSUB", "HELP"], [0, 1, 0]),
    (1, &["PUBSUB", "NOSUCH"], [0, 1, 0]),
    (1, &["PUBSUB", "NUMPAT", "extra"], [0, 1, 0]),
    (1, &["PUBSUB"], [0, 1, 0]),
    (1, &["PUBLISH", "c1"], [0, 1, 0]),
    (2, &["SUBSCRIBE", "c1"], [0, 0, 1]),
    (1, &["PUBLISH", "c1", "m4"], [2, 1, 1]),
    (1, &["PUBSUB", "NUMSUB", "c1"], [0, 1, 0]),
    (2, &["UNSUBSCRIBE"], [0, 0, 1]),
    (2, &["UNSUBSCRIBE"], [0, 0, 1]),
    (2, &["PUNSUBSCRIBE", "nothing"], [0, 0, 1]),
    (2, &["SUNSUBSCRIBE"], [0, 0, 1]),
    (2, &["PSUBSCRIBE", "h[ae]llo"], [0, 0, 1]),
    (1, &["PUBLISH", "hallo", "1"], [0, 1, 1]),
    (1, &["PUBLISH", "hillo", "2"], [0, 1, 0]),
    (1, &["PUBLISH", "hello", "3"], [0, 1, 1]),
    (2, &["PUNSUBSCRIBE"], [0, 0, 1]),
    (1, &["PUBLISH", "hello", "4"], [0, 1, 0]),
    (0, &["UNSUBSCRIBE", "c2", "nosuch"], [2, 0, 0]),
    (0, &["PUNSUBSCRIBE", "news.*"], [1, 0, 0]),
    (0, &["PUNSUBSCRIBE"], [1, 0, 0]),
    (0, &["UNSUBSCRIBE"], [1, 0, 0]),
    (0, &["GET", "x"], [1, 0, 0]),
    (0, &["SUNSUBSCRIBE", "s1"], [1, 0, 0]),
    (0, &["UNSUBSCRIBE"], [1, 0, 0]),
    (0, &["GET", "x"], [1, 0, 0]),
    (0, &["PING"], [1, 0, 0]),
    (1, &["PUBSUB", "NUMPAT"], [0, 1, 0]),
    (1, &["PUBSUB", "SHARDNUMSUB", "s1"], [0, 1, 0]),
    (0, &["MULTI"], [1, 0, 0]),
    (0, &["SUBSCRIBE", "q"], [1, 0, 0]),
    (0, &["EXEC"], [1, 0, 0]),
    (1, &["PUBLISH", "q", "in"], [1, 1, 0]),
    (0, &["CLIENT", "SETNAME", "n"], [1, 0, 0]),
    (0, &["RESET"], [1, 0, 0]),
    (0, &["CLIENT", "GETNAME"], [1, 0, 0]),
    (0, &["GET", "x"], [1, 0, 0]),
    (1, &["PUBLISH", "q", "gone"], [0, 1, 0]),
    (0, &["PUNSUBSCRIBE"], [1, 0, 0]),
    (0, &["RESET"], [1, 0, 0]),
];

/// Only in RESP3: a subscribed connection runs any command, and a message it publishes to itself
/// arrives before the count.
const RESP3_SCRIPT: &[Step] = &[
    (0, &["SUBSCRIBE", "self"], [1, 0, 0]),
    (0, &["PUBLISH", "self", "me"], [2, 0, 0]),
    (0, &["SET", "k", "v"], [1, 0, 0]),
    (0, &["GET", "k"], [1, 0, 0]),
    (0, &["PING"], [1, 0, 0]),
    (1, &["PUBLISH", "self", "you"], [1, 1, 0]),
    (0, &["UNSUBSCRIBE"], [1, 0, 0]),
    (0, &["DEL", "k"], [1, 0, 0]),
];

/// Runs `script` on three connections to one server and returns every frame each received, labelled.
fn transcript(streams: &mut [TcpStream; 3], script: &[Step]) -> Vec<String> {
    let mut out = Vec::new();
    for (who, words, expected) in script {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        streams[*who].write_all(&resp(&args)).expect("write");
        for (i, stream) in streams.iter_mut().enumerate() {
            for n in 0..expected[i] {
                let frame = read_reply(stream);
                out.push(format!("{words:?} -> conn {i} frame {n}: {}", String::from_utf8_lossy(&frame)));
            }
        }
    }
    // Nothing else is waiting: each connection's next frame is its PING's answer.
    for (i, stream) in streams.iter_mut().enumerate() {
        out.push(format!("final PING on {i}: {}", String::from_utf8_lossy(&call(stream, &[b"PING"]))));
    }
    out
}

#[test]
fn pubsub_replies_and_messages_match_redis_in_resp2_and_resp3() {
    let Some(redis) = Redis::start() else { return };
    let tinykv = Server::start_with(&["--no-greeting"]);
    for protocol in ["2", "3"] {
        let mut runs = Vec::new();
        let ours = || tinykv.connect();
        let theirs = || redis.connect();
        let servers: [&dyn Fn() -> TcpStream; 2] = [&ours, &theirs];
        for connect in servers {
            let mut streams = [connect(), connect(), connect()];
            for stream in &mut streams {
                // HELLO's own reply names the server and version: checked, not compared.
                assert!(!call(stream, &[b"HELLO", protocol.as_bytes()]).starts_with(b"-"));
            }
            // The RESP3 steps first: the main script ends with a RESET, back to RESP2.
            let mut frames = Vec::new();
            if protocol == "3" {
                frames.extend(transcript(&mut streams, RESP3_SCRIPT));
            }
            frames.extend(transcript(&mut streams, SCRIPT));
            runs.push(frames);
        }
        let (ours, theirs) = (&runs[0], &runs[1]);
        for (a, b) in ours.iter().zip(theirs) {
            assert_eq!(a, b, "RESP{protocol}: tinykv (left) and redis-server (right) differ");
        }
        assert_eq!(ours.len(), theirs.len());
    }
}

/// `MONITOR`'s lines with the time and the client's address (which differ by server) replaced.
fn monitor_lines(connect: &dyn Fn() -> TcpStream) -> Vec<String> {
    let (mut monitor, mut client) = (connect(), connect());
    assert_eq!(call(&mut monitor, &[b"MONITOR"]), b"+OK\r\n");
    let commands: &[&[&[u8]]] = &[
        &[b"SET", b"k", b"a b\"c\\\n\x01\xff\t"],
        &[b"AUTH", b"user", b"secret"],
        &[b"HELLO", b"2", b"AUTH", b"default", b"secret", b"SETNAME", b"x"],
        &[b"SELECT", b"2"],
        &[b"CONFIG", b"GET", b"maxmemory"],
        &[b"NOSUCH"],
        &[b"GET"],
        &[b"PUBLISH", b"c", b"m"],
        &[b"SELECT", b"0"],
        &[b"DEL", b"k"],
    ];
    for args in commands {
        call(&mut client, args);
    }
    // Shown: every command that ran, AUTH's and HELLO's credentials redacted (failed or not). Not
    // shown: CONFIG (administrative), an unknown command and a wrong arity (never ran).
    let mut lines = Vec::new();
    for _ in 0..commands.len() - 3 {
        let line = String::from_utf8_lossy(&read_reply(&mut monitor)).into_owned();
        let (stamp, rest) = line.split_once(" [").expect("a MONITOR line");
        let (db, rest) = rest.split_once(' ').expect("db");
        let (_addr, rest) = rest.split_once("] ").expect("addr");
        assert!(stamp.starts_with('+') && stamp[1..].split_once('.').is_some_and(|(_, micros)| micros.len() == 6));
        lines.push(format!("[{db}] {rest}"));
    }
    lines
}

#[test]
fn monitor_lines_match_redis() {
    let Some(redis) = Redis::start() else { return };
    let tinykv = Server::start_with(&["--no-greeting"]);
    let ours = monitor_lines(&|| tinykv.connect());
    let theirs = monitor_lines(&|| redis.connect());
    assert_eq!(ours, theirs);
}
