//! Real Redis clients against `tinykv-server` started with no flags (SPEC §2, §3; `--greeting auto` keeps
//! the greeting from clients that speak RESP first): the `redis` crate with binary-safe keys and values, a
//! 1 MiB value, pipelines and 200 concurrent clients; `redis-cli` and `redis-benchmark` when they are
//! installed.

use std::process::Command;
use std::sync::Barrier;

use tinykv_tests::{run_with_deadline, Server, DEADLINE};

fn server() -> Server {
    Server::start()
}

fn connect(server: &Server) -> redis::Connection {
    let con = server.redis();
    con.set_read_timeout(Some(DEADLINE)).unwrap();
    con.set_write_timeout(Some(DEADLINE)).unwrap();
    con
}

fn set(con: &mut redis::Connection, key: &[u8], value: &[u8]) {
    let reply: String = redis::cmd("SET").arg(key).arg(value).query(con).expect("SET");
    assert_eq!(reply, "OK");
}

fn get(con: &mut redis::Connection, key: &[u8]) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(con).expect("GET")
}

/// Bytes that are not text: every byte value, with protocol delimiters where they hurt most.
fn binary_value(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn binary_keys_and_values_round_trip() {
    let server = server();
    let mut con = connect(&server);
    let cases: &[(&[u8], &[u8])] = &[
        (b"crlf", b"line one\r\nline two\r\n"),
        (b"nul", b"\0"),
        (b"key with \r\n and \0 inside", b"\0\r\n\0$5\r\n*1\r\n"),
        (b"\xff\xfe not utf-8", b"\x80\x81\xc3\x28"),
        (b"empty", b""),
        (b"resp-looking", b"+OK\r\n"),
    ];
    for (key, value) in cases {
        set(&mut con, key, value);
    }
    let all: Vec<u8> = (0..=255).collect();
    set(&mut con, &all, &all);
    for (key, value) in cases {
        assert_eq!(get(&mut con, key).as_deref(), Some(*value), "key {key:?}");
    }
    assert_eq!(get(&mut con, &all), Some(all.clone()));
    // A key that differs only after a NUL is a different key.
    assert_eq!(get(&mut con, b"nul\0"), None);
    let deleted: i64 = redis::cmd("DEL").arg(&b"nul"[..]).arg(&all).arg(&b"absent"[..]).query(&mut con).unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(get(&mut con, &all), None);
    server.stop();
}

#[test]
fn one_mebibyte_value_round_trips() {
    let server = server();
    let mut con = connect(&server);
    let value = binary_value(1 << 20, 7);
    set(&mut con, b"big", &value);
    let got = get(&mut con, b"big").expect("big value present");
    assert_eq!(got.len(), value.len());
    assert!(got == value, "1 MiB value came back different");
    // Overwrite with a different big value: no stale bytes.
    let other = binary_value((1 << 20) + 3, 99);
    set(&mut con, b"big", &other);
    assert!(get(&mut con, b"big").unwrap() == other);
    // The connection is still in step after the big replies.
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    server.stop();
}

#[test]
fn pipeline_replies_in_order() {
    let server = server();
    let mut con = connect(&server);
    let (ok, value, deleted, gone): (String, Vec<u8>, i64, Option<Vec<u8>>) = redis::pipe()
        .cmd("SET")
        .arg("p")
        .arg(&b"piped\r\n\0"[..])
        .cmd("GET")
        .arg("p")
        .cmd("DEL")
        .arg("p")
        .cmd("GET")
        .arg("p")
        .query(&mut con)
        .expect("pipeline");
    assert_eq!((ok.as_str(), value.as_slice(), deleted, gone), ("OK", &b"piped\r\n\0"[..], 1, None));

    // A long pipeline: 1,000 SETs then 1,000 GETs, replies matched one to one.
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(format!("v{i}")).ignore();
    }
    for i in (0..1000).rev() {
        pipe.cmd("GET").arg(format!("k{i}"));
    }
    let values: Vec<String> = pipe.query(&mut con).expect("long pipeline");
    let expected: Vec<String> = (0..1000).rev().map(|i| format!("v{i}")).collect();
    assert_eq!(values, expected);
    server.stop();
}

#[test]
fn two_hundred_concurrent_clients_keep_their_own_keys() {
    const CLIENTS: usize = 200;
    const KEYS: usize = 10;
    let server = server();
    let barrier = Barrier::new(CLIENTS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (server, barrier) = (&server, &barrier);
                scope.spawn(move || {
                    let mut con = connect(server);
                    // Everyone connected before anyone writes: all 200 are open at once.
                    barrier.wait();
                    for i in 0..KEYS {
                        let value = format!("client {client} value {i} {}", "x".repeat(client + i));
                        set(&mut con, format!("c{client}:k{i}").as_bytes(), value.as_bytes());
                    }
                    // Shared key everyone overwrites: must hold some client's whole value at the end.
                    set(&mut con, b"shared", format!("written by {client}").as_bytes());
                    for i in 0..KEYS {
                        let value = format!("client {client} value {i} {}", "x".repeat(client + i));
                        let got = get(&mut con, format!("c{client}:k{i}").as_bytes());
                        assert_eq!(got.as_deref(), Some(value.as_bytes()), "client {client} key {i}");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("client thread");
        }
    });

    // Afterwards every key is there, seen from a fresh connection.
    let mut con = connect(&server);
    let mut pipe = redis::pipe();
    for client in 0..CLIENTS {
        for i in 0..KEYS {
            pipe.cmd("GET").arg(format!("c{client}:k{i}"));
        }
    }
    let values: Vec<Option<String>> = pipe.query(&mut con).unwrap();
    for (n, value) in values.iter().enumerate() {
        let (client, i) = (n / KEYS, n % KEYS);
        assert_eq!(value.as_deref(), Some(format!("client {client} value {i} {}", "x".repeat(client + i)).as_str()));
    }
    let shared = String::from_utf8(get(&mut con, b"shared").unwrap()).unwrap();
    let writer: usize = shared.strip_prefix("written by ").unwrap().parse().unwrap();
    assert!(writer < CLIENTS);
    server.stop();
}

#[test]
fn redis_cli_set_and_get() {
    let server = server();
    let port = server.port().to_string();
    let cli = |args: &[&str]| run_with_deadline(Command::new("redis-cli").args(["-p", &port]).args(args));
    let Some(stored) = cli(&["set", "a", "b"]) else {
        eprintln!("SKIPPED: redis-cli is not installed (apt-get install redis-tools)");
        return;
    };
    assert!(stored.status.success(), "redis-cli set: {stored:?}");
    assert_eq!(String::from_utf8_lossy(&stored.stdout).trim_end(), "OK");
    let got = cli(&["get", "a"]).unwrap();
    assert!(got.status.success(), "redis-cli get: {got:?}");
    assert_eq!(String::from_utf8_lossy(&got.stdout), "b\n");
    // The value redis-cli wrote is the one another client reads.
    let mut con = connect(&server);
    assert_eq!(get(&mut con, b"a").as_deref(), Some(&b"b"[..]));
    let missing = cli(&["get", "nope"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "\n");
    let del = cli(&["del", "a", "nope"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&del.stdout), "1\n");
    // Nothing redis-cli complains about on stderr (a greeting or a broken handshake would show here).
    for output in [&stored, &got, &missing, &del] {
        assert!(output.stderr.is_empty(), "redis-cli stderr: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(get(&mut con, b"a"), None);
    server.stop();
}

#[test]
fn redis_benchmark_completes() {
    let server = server();
    let port = server.port().to_string();
    let args = format!("-p {port} -t set,get,ping -n 2000 -c 10 -q");
    let Some(output) = run_with_deadline(Command::new("redis-benchmark").args(args.split(' '))) else {
        eprintln!("SKIPPED: redis-benchmark is not installed (apt-get install redis-tools)");
        return;
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "redis-benchmark failed: {output:?}");
    eprintln!("{}", stdout.replace('\r', "\n"));
    // -q prints progress lines separated by \r; the final figure of each test ends its line.
    let finals: Vec<&str> = stdout.lines().map(|line| line.rsplit('\r').next().unwrap_or(line).trim()).collect();
    for test in ["PING_INLINE", "PING_MBULK", "SET", "GET"] {
        let line = finals
            .iter()
            .find(|line| line.starts_with(&format!("{test}: ")))
            .unwrap_or_else(|| panic!("no {test} result in:\n{stdout}\nstderr:\n{stderr}"));
        let rate: f64 = line
            .trim_start_matches(&format!("{test}: "))
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no rate in {line:?}"));
        assert!(rate > 0.0 && line.contains("requests per second"), "{line:?}");
    }
    assert!(!stdout.contains("ERR") && !stderr.contains("ERR"), "errors in benchmark output:\n{stdout}\n{stderr}");
    // Without -r, redis-benchmark's SET writes the literal key `key:__rand_int__`, a 3-byte value (-d 3).
    let mut con = connect(&server);
    assert_eq!(get(&mut con, b"key:__rand_int__").map(|value| value.len()), Some(3));
    server.stop();
}
