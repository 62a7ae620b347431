//! Keyspace notifications (issue 11), side by side with redis-server: one connection subscribes to
//! every keyspace and keyevent channel, another runs a script of writes of every family (and reads
//! that find keys expired), and the subscriber's whole stream of messages — which events, in which
//! order, on which channels — is compared byte for byte, in RESP2 and RESP3, under several
//! `notify-keyspace-events` settings.
//!
//! Active expiry is off on both servers (`DEBUG SET-ACTIVE-EXPIRE 0`) so keys expire only when a
//! command finds them, at the same step on both. The end of the stream is a message on a channel of
//! its own, published after the script, so the test never waits on a clock.

use std::io::Write;
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

use tinykv_tests::differential::Redis;
use tinykv_tests::{call, call_str, read_reply, resp, Server};

/// Writes and reads whose events are compared; `SLEEP` pauses (for keys to expire).
const SCRIPT: &[&[&str]] = &[
    // strings
    &["SET", "s", "1"],
    &["SET", "s", "2", "EX", "100"],
    &["SET", "nx", "v", "NX"],
    &["SET", "nx", "w", "NX"],
    &["SETEX", "se", "100", "v"],
    &["PSETEX", "pse", "100000", "v"],
    &["SETNX", "snx", "v"],
    &["MSET", "m1", "a", "m2", "b"],
    &["MSETNX", "m3", "a", "m1", "b"],
    &["GETSET", "m1", "c"],
    &["INCR", "n"],
    &["INCRBY", "n", "5"],
    &["DECR", "n"],
    &["DECRBY", "n", "2"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["APPEND", "s", "x"],
    &["SETRANGE", "s", "3", "yy"],
    &["SETBIT", "b", "7", "1"],
    &["BITFIELD", "bf", "SET", "u8", "0", "255"],
    &["BITOP", "OR", "dest", "b", "bf"],
    &["BITOP", "AND", "dest", "nokey"],
    &["GETDEL", "m2"],
    &["GETEX", "m1", "EX", "100"],
    &["GETEX", "m1", "PERSIST"],
    &["GETEX", "m1"],
    &["GET", "s"],
    // generic
    &["EXPIRE", "s", "100"],
    &["PEXPIRE", "s", "100000"],
    &["EXPIREAT", "s", "99999999999"],
    &["PERSIST", "s"],
    &["PERSIST", "s"],
    &["RENAME", "s", "s2"],
    &["RENAMENX", "s2", "m1"],
    &["RENAMENX", "s2", "s3"],
    &["COPY", "s3", "c1"],
    &["COPY", "s3", "c1", "REPLACE"],
    &["MOVE", "c1", "1"],
    &["DEL", "s3", "nokey", "n"],
    &["UNLINK", "f"],
    &["EXPIRE", "se", "-1"],
    &["TOUCH", "m1"],
    // hashes
    &["HSET", "h", "a", "1", "b", "2"],
    &["HSETNX", "h", "a", "x"],
    &["HSETNX", "h", "c", "3"],
    &["HMSET", "h", "d", "4"],
    &["HINCRBY", "h", "a", "10"],
    &["HINCRBYFLOAT", "h", "a", "0.5"],
    &["HDEL", "h", "a", "nofield"],
    &["HDEL", "h", "b", "c", "d"],
    // sets
    &["SADD", "x", "1", "2", "3"],
    &["SADD", "y", "2", "3", "4"],
    &["SREM", "x", "1"],
    &["SMOVE", "x", "y", "2"],
    &["SMOVE", "x", "z", "3"],
    &["SINTERSTORE", "si", "y", "z"],
    &["SUNIONSTORE", "su", "y", "z"],
    &["SDIFFSTORE", "sd", "y", "y"],
    &["SINTERSTORE", "su", "nokey"],
    &["SPOP", "z"],
    // --- sorted sets ---
    &["ZADD", "zs", "1", "a", "2", "b", "3", "c", "4", "d"],
    &["ZADD", "zs", "1", "a"],
    &["ZADD", "zs", "XX", "INCR", "5", "a"],
    &["ZINCRBY", "zs", "1", "b"],
    &["ZREM", "zs", "nomember"],
    &["ZREM", "zs", "b"],
    &["ZPOPMIN", "zs"],
    &["ZPOPMAX", "zs", "1"],
    &["ZADD", "zt", "1", "a", "2", "b", "3", "c", "4", "d"],
    &["ZMPOP", "2", "nokey", "zt", "MAX"],
    &["ZREMRANGEBYRANK", "zt", "0", "0"],
    &["ZREMRANGEBYSCORE", "zt", "2", "2"],
    &["ZREMRANGEBYLEX", "zt", "-", "+"],
    &["ZADD", "zu", "1", "a", "2", "b"],
    &["ZUNIONSTORE", "zv", "2", "zu", "zs"],
    &["ZINTERSTORE", "zw", "1", "zu"],
    &["ZDIFFSTORE", "zx", "2", "zu", "zu"],
    &["ZRANGESTORE", "zy", "zu", "0", "0"],
    &["ZRANGESTORE", "zy", "nokey", "0", "-1"],
    &["SORT", "zu"],
    // expiry found by commands
    &["SET", "e1", "v", "PX", "1"],
    &["HSET", "e2", "f", "v"],
    &["PEXPIRE", "e2", "1"],
    &["SLEEP"],
    &["GET", "e1"],
    &["HSET", "e2", "g", "w"],
    // a transaction's commands notify as they run
    &["MULTI"],
    &["SET", "t", "1"],
    &["INCR", "t"],
    &["DEL", "t"],
    &["EXEC"],
    // whole-database commands send no key events
    &["SELECT", "1"],
    &["SET", "in1", "v"],
    &["FLUSHDB"],
    &["SELECT", "0"],
    &["SWAPDB", "0", "1"],
    &["SWAPDB", "0", "1"],
];

/// Runs the script on `connect()`ed connections and returns the subscriber's stream.
fn stream_of(connect: &dyn Fn() -> TcpStream, protocol: &str, flags: &str) -> Vec<String> {
    let mut writer = connect();
    let mut subscriber = connect();
    call(&mut writer, &[b"FLUSHALL"]);
    call(&mut writer, &[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]);
    assert_eq!(call_str(&mut writer, &["CONFIG", "SET", "notify-keyspace-events", flags]), "+OK\r\n");
    if protocol == "3" {
        call(&mut subscriber, &[b"HELLO", b"3"]);
    }
    subscriber.write_all(&resp(&[b"PSUBSCRIBE", b"__key*__:*"])).expect("write");
    read_reply(&mut subscriber);
    subscriber.write_all(&resp(&[b"SUBSCRIBE", b"end"])).expect("write");
    read_reply(&mut subscriber);
    let mut replies = Vec::new();
    for words in SCRIPT {
        if words == &["SLEEP"] {
            sleep(Duration::from_millis(20));
            continue;
        }
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        replies.push(format!("{words:?} -> {}", String::from_utf8_lossy(&call(&mut writer, &args))));
    }
    call(&mut writer, &[b"PUBLISH", b"end", b"done"]);
    let mut messages = replies;
    loop {
        let frame = String::from_utf8_lossy(&read_reply(&mut subscriber)).into_owned();
        if frame.contains("\r\nend\r\n") {
            break;
        }
        messages.push(frame);
    }
    call(&mut writer, &[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
    messages
}

#[test]
fn keyspace_events_match_redis() {
    let Some(redis) = Redis::start_with(&["--enable-debug-command", "yes"]) else { return };
    let tinykv = Server::start_with(&["--no-greeting", "--enable-debug-command", "yes"]);
    let ours = || tinykv.connect();
    let theirs = || redis.connect();
    for (protocol, flags) in [("2", "KEA"), ("3", "KEA"), ("2", "KA"), ("2", "Eg$"), ("3", "KEhsxn"), ("2", "Ex")] {
        let ours = stream_of(&ours, protocol, flags);
        let theirs = stream_of(&theirs, protocol, flags);
        let differ = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        if ours.len() != theirs.len() || differ.is_some() {
            let at = differ.unwrap_or(ours.len().min(theirs.len()));
            let from = at.saturating_sub(3);
            panic!(
                "RESP{protocol}, notify-keyspace-events {flags}: streams differ at {at}\nours:   {:#?}\ntheirs: {:#?}",
                &ours[from..(at + 4).min(ours.len())],
                &theirs[from..(at + 4).min(theirs.len())]
            );
        }
        assert!(flags == "KA" || ours.len() > SCRIPT.len(), "events were sent with {flags}");
    }
}

#[test]
fn active_expiry_and_eviction_publish_their_events() {
    let server = Server::start_with(&["--no-greeting", "--notify-keyspace-events", "Exe"]);
    let mut writer = server.connect();
    let mut subscriber = server.connect();
    assert_eq!(
        call_str(&mut writer, &["CONFIG", "GET", "notify-keyspace-events"]),
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nxeE\r\n"
    );
    subscriber.write_all(&resp(&[b"SUBSCRIBE", b"__keyevent@0__:expired", b"__keyevent@0__:evicted"])).expect("write");
    read_reply(&mut subscriber);
    read_reply(&mut subscriber);
    // Nobody reads the key: the server's own sweep finds it expired.
    call(&mut writer, &[b"SET", b"soon", b"v", b"PX", b"10"]);
    let frame = String::from_utf8_lossy(&read_reply(&mut subscriber)).into_owned();
    assert_eq!(frame, "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$4\r\nsoon\r\n");
    // Over maxmemory with allkeys-random, the next write evicts.
    call(&mut writer, &[b"SET", b"big", &vec![b'x'; 100_000]]);
    call(&mut writer, &[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-random"]);
    call(&mut writer, &[b"CONFIG", b"SET", b"maxmemory", b"1"]);
    call(&mut writer, &[b"SET", b"next", b"v"]);
    let frame = String::from_utf8_lossy(&read_reply(&mut subscriber)).into_owned();
    assert!(frame.starts_with("*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:evicted\r\n"), "{frame}");
    call(&mut writer, &[b"CONFIG", b"SET", b"maxmemory", b"0"]);
}
