//! A key's access data survives a snapshot and `RESTORE` (issue 9), as Redis's does: under an LRU
//! policy its idle time (`OBJECT IDLETIME`, RDB's `IDLE`), under an LFU policy its frequency
//! (`OBJECT FREQ`, RDB's `FREQ`), set by `RESTORE ... IDLETIME|FREQ`, written by `SAVE`, read back at
//! start — by TinyKV from its own file and from redis-server's.

use std::path::PathBuf;

use tinykv_tests::differential::Redis;
use tinykv_tests::{fresh_dir, Server};

fn dir(name: &str) -> PathBuf {
    fresh_dir(&format!("access-{name}"))
}

fn start(dir: &std::path::Path, policy: &str) -> Server {
    Server::start_with(&[
        "--no-greeting",
        "--dir",
        dir.to_str().unwrap(),
        "--dbfilename",
        "dump.rdb",
        "--save",
        "",
        "--maxmemory-policy",
        policy,
    ])
}

fn object(con: &mut redis::Connection, what: &str, key: &str) -> i64 {
    redis::cmd("OBJECT").arg(what).arg(key).query(con).unwrap()
}

/// `RESTORE`s `key` (a string) with `option value`, from a DUMP of the same server.
fn restore_with(con: &mut redis::Connection, key: &str, option: &str, value: i64) {
    let _: () = redis::cmd("SET").arg("source").arg("v").query(con).unwrap();
    let payload: Vec<u8> = redis::cmd("DUMP").arg("source").query(con).unwrap();
    let _: () = redis::cmd("RESTORE").arg(key).arg(0).arg(payload).arg(option).arg(value).query(con).unwrap();
}

#[test]
fn idle_time_survives_restore_and_a_snapshot_under_lru() {
    let dir = dir("lru");
    let server = start(&dir, "allkeys-lru");
    let mut con = server.redis();
    restore_with(&mut con, "old", "IDLETIME", 5000);
    assert!((5000..5010).contains(&object(&mut con, "IDLETIME", "old")));
    assert!(object(&mut con, "IDLETIME", "source") < 10);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(con);
    drop(server);
    let server = start(&dir, "allkeys-lru");
    let mut con = server.redis();
    assert!((5000..5030).contains(&object(&mut con, "IDLETIME", "old")));
    assert!(object(&mut con, "IDLETIME", "source") < 30);
}

#[test]
fn frequency_survives_restore_and_a_snapshot_under_lfu() {
    let dir = dir("lfu");
    let server = start(&dir, "allkeys-lfu");
    let mut con = server.redis();
    restore_with(&mut con, "hot", "FREQ", 77);
    assert_eq!(object(&mut con, "FREQ", "hot"), 77);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(con);
    drop(server);
    let server = start(&dir, "allkeys-lfu");
    assert_eq!(object(&mut server.redis(), "FREQ", "hot"), 77);
}

#[test]
fn redis_servers_idle_times_and_frequencies_load() {
    for (policy, option, value, what) in
        [("allkeys-lru", "IDLETIME", 4000, "IDLETIME"), ("allkeys-lfu", "FREQ", 42, "FREQ")]
    {
        let dir = dir(&format!("from-redis-{policy}"));
        let Some(redis) = Redis::start_with(&["--dir", dir.to_str().unwrap(), "--maxmemory-policy", policy]) else {
            return;
        };
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port())).unwrap();
        let mut con = client.get_connection().unwrap();
        restore_with(&mut con, "k", option, value);
        let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
        drop(redis);
        let server = start(&dir, policy);
        let got = object(&mut server.redis(), what, "k");
        assert!((value..value + 30).contains(&got), "{policy}: {what} {got}, Redis saved {value}");
    }
}
