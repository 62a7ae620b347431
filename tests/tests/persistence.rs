//! Persistence: `--appendonly PATH` keeps every acknowledged write across a graceful stop, a
//! `kill -9`, and a crash that cut the last record short; a corrupt file stops the start with an
//! error naming the byte offset.

use std::path::{Path, PathBuf};
use std::process::Command;

use tinykv_tests::{binary, Server};

/// A fresh path for an append-only file, unique to this test process and name.
fn aof_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tinykv-persistence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.aof"));
    let _ = std::fs::remove_file(&path);
    path
}

fn start(path: &Path, fsync: &str) -> Server {
    Server::start_with(&["--no-greeting", "--appendonly", path.to_str().unwrap(), "--appendfsync", fsync])
}

fn get(con: &mut redis::Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

#[test]
fn graceful_stop_loses_nothing() {
    let path = aof_path("graceful");
    let server = start(&path, "everysec");
    let mut con = server.redis();
    let binary_value: &[u8] = b"a\r\nb\0c";
    let _: () = redis::cmd("SET").arg("kept").arg(binary_value).query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("gone").arg("x").query(&mut con).unwrap();
    let _: i64 = redis::cmd("DEL").arg("gone").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("overwritten").arg("1").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("overwritten").arg("2").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("volatile").arg("v").arg("PX").arg(600_000).query(&mut con).unwrap();
    assert!(server.stop().success());

    let server = start(&path, "everysec");
    let mut con = server.redis();
    assert_eq!(get(&mut con, "kept").as_deref(), Some(binary_value));
    assert_eq!(get(&mut con, "gone"), None);
    assert_eq!(get(&mut con, "overwritten").as_deref(), Some(&b"2"[..]));
    assert_eq!(get(&mut con, "volatile").as_deref(), Some(&b"v"[..]));
    // The time to live survives as an absolute deadline, not restarted from the replay.
    let pttl: i64 = redis::cmd("PTTL").arg("volatile").query(&mut con).unwrap();
    assert!(0 < pttl && pttl <= 600_000, "pttl {pttl}");
    assert!(server.stop().success());
}

#[test]
fn acknowledged_writes_survive_kill_9_with_fsync_always() {
    let path = aof_path("kill9");
    let server = start(&path, "always");
    let mut con = server.redis();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();
    server.signal(libc::SIGKILL);
    drop(server);

    let server = start(&path, "always");
    let mut con = server.redis();
    for i in [0, 1, 250, 499] {
        assert_eq!(get(&mut con, &format!("key:{i}")), Some(i.to_string().into_bytes()));
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 500);
}

#[test]
fn cut_off_last_record_is_dropped_and_the_rest_loads() {
    let path = aof_path("truncated");
    let server = start(&path, "always");
    let mut con = server.redis();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("b").arg("2").query(&mut con).unwrap();
    assert!(server.stop().success());
    let whole = std::fs::metadata(&path).unwrap().len();

    // A crash in the middle of writing a third record.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nhel");
    std::fs::write(&path, &bytes).unwrap();

    let server = start(&path, "always");
    let mut con = server.redis();
    assert_eq!(get(&mut con, "a").as_deref(), Some(&b"1"[..]));
    assert_eq!(get(&mut con, "b").as_deref(), Some(&b"2"[..]));
    assert_eq!(get(&mut con, "c"), None);
    assert!(server.log().to_lowercase().contains("cut-off"), "warning expected in log:\n{}", server.log());
    // The file was cut back to its last whole record, so new writes follow a clean boundary.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
    let _: () = redis::cmd("SET").arg("c").arg("3").query(&mut con).unwrap();
    assert!(server.stop().success());
    let server = start(&path, "always");
    assert_eq!(get(&mut server.redis(), "c").as_deref(), Some(&b"3"[..]));
}

#[test]
fn corruption_stops_the_start_naming_the_offset() {
    let path = aof_path("corrupt");
    let server = start(&path, "always");
    let mut con = server.redis();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    assert!(server.stop().success());
    let good = std::fs::metadata(&path).unwrap().len();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"garbage\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    std::fs::write(&path, &bytes).unwrap();

    let output = Command::new(binary("tinykv-server"))
        .args(["--port", "0", "--no-greeting", "--appendonly", path.to_str().unwrap()])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("offset {good}")), "stderr: {stderr}");
    assert!(!stderr.contains("listening on"), "must not serve a corrupt data set: {stderr}");
}

#[test]
fn every_kind_of_write_replays_to_the_same_state() {
    let path = aof_path("effects");
    let server = start(&path, "everysec");
    let mut con = server.redis();
    let run = |con: &mut redis::Connection, words: &[&str]| {
        let mut cmd = redis::cmd(words[0]);
        for word in &words[1..] {
            cmd.arg(*word);
        }
        let _: redis::Value = cmd.query(con).unwrap();
    };
    run(&mut con, &["INCRBY", "counter", "41"]);
    run(&mut con, &["INCR", "counter"]);
    run(&mut con, &["APPEND", "text", "hello"]);
    run(&mut con, &["APPEND", "text", " world"]);
    run(&mut con, &["MSET", "m1", "a", "m2", "b"]);
    run(&mut con, &["RENAME", "m1", "renamed"]);
    run(&mut con, &["SET", "ttl", "x"]);
    run(&mut con, &["EXPIRE", "ttl", "600"]);
    run(&mut con, &["SET", "persisted", "y", "EX", "600"]);
    run(&mut con, &["PERSIST", "persisted"]);
    run(&mut con, &["SET", "short", "z", "PX", "1"]);
    run(&mut con, &["GETDEL", "m2"]);
    let snapshot = |con: &mut redis::Connection| -> Vec<(String, Option<String>, i64)> {
        ["counter", "text", "m1", "m2", "renamed", "ttl", "persisted"]
            .iter()
            .map(|key| {
                let value: Option<String> = redis::cmd("GET").arg(*key).query(con).unwrap();
                let ttl: i64 = redis::cmd("TTL").arg(*key).query(con).unwrap();
                // Whole minutes: the same deadline, whatever time passed in between.
                (key.to_string(), value, if ttl > 0 { (ttl + 59) / 60 } else { ttl })
            })
            .collect()
    };
    // A key whose deadline passed before the stop must not come back from its record.
    tinykv_tests::retry_until("the 1 ms key to expire", || {
        let value: Option<String> = redis::cmd("GET").arg("short").query(&mut con).unwrap();
        value.is_none().then_some(())
    });
    let before = snapshot(&mut con);
    assert_eq!(before[0].1.as_deref(), Some("42"));
    assert_eq!(before[5].2, 10, "ttl key expires in about ten minutes");
    assert!(server.stop().success());

    let server = start(&path, "everysec");
    let mut con = server.redis();
    assert_eq!(snapshot(&mut con), before);
    let short: Option<String> = redis::cmd("GET").arg("short").query(&mut con).unwrap();
    assert_eq!(short, None);
    assert!(server.stop().success());
}
