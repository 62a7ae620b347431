//! Hashes and sets end to end: they survive an append-only-file restart (a `SPOP` replays as the
//! members the client saw removed) and a `SAVE` and restart; `used_memory` counts their contents;
//! random picks with a huge negative count are refused before anything is allocated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use tinykv_tests::{call_str, fresh_dir, used_memory, Server};

fn temp_dir(name: &str) -> PathBuf {
    fresh_dir(&format!("types-{name}"))
}

type Hash = BTreeMap<String, String>;
type Set = BTreeSet<String>;

fn hgetall(con: &mut redis::Connection, key: &str) -> Hash {
    redis::cmd("HGETALL").arg(key).query(con).unwrap()
}

fn smembers(con: &mut redis::Connection, key: &str) -> Set {
    redis::cmd("SMEMBERS").arg(key).query(con).unwrap()
}

/// Writes hashes and sets, pops members at random, and returns what the client saw.
fn write_collections(con: &mut redis::Connection) -> (Hash, Set, Set) {
    let _: i64 = redis::cmd("HSET").arg("user").arg("name").arg("ada").arg("visits").arg(1).query(con).unwrap();
    let _: i64 = redis::cmd("HINCRBY").arg("user").arg("visits").arg(41).query(con).unwrap();
    let _: String = redis::cmd("HINCRBYFLOAT").arg("user").arg("score").arg("0.1").query(con).unwrap();
    let mut big = redis::cmd("HSET");
    big.arg("big");
    for i in 0..500 {
        big.arg(format!("f{i}")).arg(i);
    }
    let _: i64 = big.query(con).unwrap();
    let members: Vec<String> = (0..200).map(|i| format!("member:{i}")).collect();
    let _: i64 = redis::cmd("SADD").arg("pool").arg(&members).query(con).unwrap();
    let popped: Set = redis::cmd("SPOP").arg("pool").arg(50).query(con).unwrap();
    let one: String = redis::cmd("SPOP").arg("pool").query(con).unwrap();
    let _: i64 = redis::cmd("SADD").arg("popped").arg(popped.iter().collect::<Vec<_>>()).arg(&one).query(con).unwrap();
    let _: i64 = redis::cmd("EXPIRE").arg("popped").arg(1000).query(con).unwrap();
    let user = hgetall(con, "user");
    assert_eq!(user.get("visits").map(String::as_str), Some("42"));
    assert_eq!(user.get("score").map(String::as_str), Some("0.1"));
    let pool = smembers(con, "pool");
    assert_eq!(pool.len(), 149);
    assert!(!pool.contains(&one) && popped.iter().all(|m| !pool.contains(m)));
    (user, pool, smembers(con, "popped"))
}

fn check_collections(con: &mut redis::Connection, expected: &(Hash, Set, Set)) {
    assert_eq!(&hgetall(con, "user"), &expected.0);
    assert_eq!(&smembers(con, "pool"), &expected.1, "the pool holds what the client saw after the pops");
    assert_eq!(&smembers(con, "popped"), &expected.2);
    assert_eq!(hgetall(con, "big").len(), 500);
    let ttl: i64 = redis::cmd("TTL").arg("popped").query(con).unwrap();
    assert!(ttl > 900 && ttl <= 1000, "{ttl}");
    let kind: String = redis::cmd("TYPE").arg("pool").query(con).unwrap();
    assert_eq!(kind, "set");
}

#[test]
fn hashes_and_sets_survive_an_append_only_file_restart() {
    let dir = temp_dir("aof");
    let path = dir.join("types.aof");
    let args = ["--no-greeting", "--appendonly", path.to_str().unwrap()];
    let server = Server::start_with(&args);
    let expected = write_collections(&mut server.redis());
    assert!(server.stop().success());
    let log = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(log.contains("SREM") && !log.contains("SPOP"), "SPOP is logged as the members it removed");
    let server = Server::start_with(&args);
    check_collections(&mut server.redis(), &expected);
}

#[test]
fn hashes_and_sets_survive_save_and_restart() {
    let dir = temp_dir("rdb");
    let args = ["--no-greeting", "--dir", dir.to_str().unwrap()];
    let server = Server::start_with(&args);
    let mut con = server.redis();
    let expected = write_collections(&mut con);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    assert!(server.stop().success());
    let server = Server::start_with(&args);
    check_collections(&mut server.redis(), &expected);
}

#[test]
fn used_memory_counts_collection_contents_and_huge_random_counts_are_refused() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.redis();
    let before = used_memory(&mut con);
    for i in 0..100 {
        let mut hset = redis::cmd("HSET");
        hset.arg(format!("h{i}"));
        for f in 0..100 {
            hset.arg(format!("field:{f}")).arg("x".repeat(100));
        }
        let _: i64 = hset.query(&mut con).unwrap();
    }
    let grown = used_memory(&mut con) - before;
    // 10,000 fields of over 100 bytes each: at least a megabyte, and not wildly more.
    assert!(grown > 1_000_000 && grown < 4_000_000, "{grown}");
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    assert_eq!(used_memory(&mut con), before);

    let _: i64 = redis::cmd("SADD").arg("s").arg("a").arg("b").query(&mut con).unwrap();
    let _: i64 = redis::cmd("HSET").arg("h").arg("a").arg("b").query(&mut con).unwrap();
    let mut stream = server.connect();
    let refused = "-ERR count is too large: a reply holds at most 1048576 random picks\r\n";
    assert_eq!(call_str(&mut stream, &["SRANDMEMBER", "s", "-9223372036854775807"]), refused);
    assert_eq!(call_str(&mut stream, &["HRANDFIELD", "h", "-9223372036854775807"]), refused);
    assert_eq!(call_str(&mut stream, &["HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES"]), refused);
    assert_eq!(
        call_str(&mut stream, &["SRANDMEMBER", "s", "-9223372036854775808"]),
        "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
    );
    assert!(call_str(&mut stream, &["SRANDMEMBER", "s", "-3"]).starts_with("*3\r\n"));
    assert!(server.rss_kib() < 500_000, "nothing was allocated for the refused counts");
}
