//! `OBJECT ENCODING` of hashes and sorted sets either side of Redis 7.0's size limits (512 fields of a
//! hash, 128 members of a sorted set, 64 bytes an item), against a real `redis-server`: TinyKV
//! packs exactly what Redis keeps as a listpack. Skipped, with the reason printed, without
//! `redis-server`.

use std::io::Write;
use std::net::TcpStream;

use tinykv_tests::differential::Redis;
use tinykv_tests::{call_str, read_reply, resp, Server};

/// Sends every command at once, then reads their replies: none may be an error.
fn fill(stream: &mut TcpStream, commands: &[Vec<String>]) {
    let mut out = Vec::new();
    for words in commands {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        out.extend_from_slice(&resp(&args));
    }
    stream.write_all(&out).expect("write");
    for words in commands {
        let reply = read_reply(stream);
        assert!(!reply.starts_with(b"-"), "{words:?}: {}", String::from_utf8_lossy(&reply));
    }
}

#[test]
fn hashes_and_zsets_are_packed_where_redis_keeps_a_listpack() {
    let Some(redis) = Redis::start() else {
        eprintln!("redis-server not installed: skipped");
        return;
    };
    let server = Server::start_with(&["--no-greeting"]);
    let (mut ours, mut theirs) = (server.connect(), redis.connect());
    let mut compared = 0;
    for (kind, entries, item_len) in [
        ("hash", 128, 10),
        ("hash", 129, 10),
        ("hash", 512, 10),
        ("hash", 513, 10),
        ("hash", 300, 64),
        ("hash", 300, 65),
        ("zset", 128, 10),
        ("zset", 129, 10),
        ("zset", 100, 64),
        ("zset", 100, 65),
    ] {
        let key = format!("{kind}:{entries}:{item_len}");
        let name = |i: usize| format!("{i:0>width$}", width = item_len);
        let commands: Vec<Vec<String>> = (0..entries)
            .map(|i| match kind {
                "hash" => vec!["HSET".into(), key.clone(), name(i), "v".into()],
                _ => vec!["ZADD".into(), key.clone(), i.to_string(), name(i)],
            })
            .collect();
        for stream in [&mut ours, &mut theirs] {
            fill(stream, &commands);
        }
        let ask = |stream: &mut TcpStream| call_str(stream, &["OBJECT", "ENCODING", &key]);
        assert_eq!(ask(&mut ours), ask(&mut theirs), "{kind} of {entries} entries, items of {item_len} bytes");
        compared += 1;
        // Back down to a few entries: Redis keeps the big encoding, and so does TinyKV.
        let shrink: Vec<Vec<String>> = (3..entries)
            .map(|i| match kind {
                "hash" => vec!["HDEL".into(), key.clone(), name(i)],
                _ => vec!["ZREM".into(), key.clone(), name(i)],
            })
            .collect();
        for stream in [&mut ours, &mut theirs] {
            fill(stream, &shrink);
        }
        assert_eq!(ask(&mut ours), ask(&mut theirs), "{kind} shrunk from {entries} entries");
        compared += 1;
    }
    eprintln!("{compared} encodings compared with redis-server");
}
