//! Sorted sets end to end: they survive an append-only-file restart (before and after a rewrite:
//! `ZINCRBY` replays as the score it produced, a pop as the members it removed, a store as its
//! result) and a `SAVE` and restart; `used_memory` follows their contents; bad input (huge indexes,
//! huge counts, NaN) is answered without allocating on the client's say-so.

use std::path::PathBuf;

use tinykv_tests::{call_str, fresh_dir, retry_until, used_memory, Server};

fn temp_dir(name: &str) -> PathBuf {
    fresh_dir(&format!("zsets-{name}"))
}

/// Every zset the test writes, with its entries as the server prints them, and `pop`'s TTL bucket.
type Snapshot = Vec<(String, Vec<String>)>;

fn zrange(con: &mut redis::Connection, key: &str) -> Vec<String> {
    redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES").query(con).unwrap()
}

fn snapshot(con: &mut redis::Connection) -> Snapshot {
    ["scores", "big", "pool", "union", "range", "gone"].iter().map(|key| (key.to_string(), zrange(con, key))).collect()
}

/// Writes zsets with every kind of write, and returns what the client saw.
fn write_zsets(con: &mut redis::Connection) -> Snapshot {
    let run = |con: &mut redis::Connection, words: &[&str]| -> redis::Value {
        let mut cmd = redis::cmd(words[0]);
        for word in &words[1..] {
            cmd.arg(*word);
        }
        cmd.query(con).unwrap()
    };
    run(con, &["ZADD", "scores", "1", "a", "2", "b", "inf", "c", "-inf", "d"]);
    run(con, &["ZINCRBY", "scores", "0.1", "a"]);
    run(con, &["ZADD", "scores", "INCR", "0.2", "a"]);
    run(con, &["ZADD", "scores", "GT", "CH", "1", "b", "5", "e"]);
    let mut big = redis::cmd("ZADD");
    big.arg("big");
    for i in 0..1000 {
        big.arg(i % 97).arg(format!("member:{i}"));
    }
    big.arg("-0").arg("negative zero");
    let _: i64 = big.query(con).unwrap();
    run(con, &["ZREMRANGEBYRANK", "big", "10", "19"]);
    run(con, &["ZREMRANGEBYSCORE", "big", "(90", "+inf"]);
    let mut pool = redis::cmd("ZADD");
    pool.arg("pool");
    for i in 0..300 {
        pool.arg(i).arg(format!("job:{i}"));
    }
    let _: i64 = pool.query(con).unwrap();
    let popped: Vec<String> = redis::cmd("ZPOPMIN").arg("pool").arg(25).query(con).unwrap();
    assert_eq!(popped.len(), 50);
    run(con, &["ZPOPMAX", "pool"]);
    run(con, &["ZMPOP", "2", "missing", "pool", "MAX", "COUNT", "3"]);
    run(con, &["ZRANDMEMBER", "pool", "5"]);
    run(con, &["ZUNIONSTORE", "union", "2", "scores", "pool", "WEIGHTS", "2", "0.5", "AGGREGATE", "MAX"]);
    run(con, &["ZRANGESTORE", "range", "big", "(5", "20", "BYSCORE", "LIMIT", "3", "40"]);
    run(con, &["ZADD", "gone", "1", "x"]);
    run(con, &["ZREM", "gone", "x"]);
    run(con, &["EXPIRE", "pool", "1000"]);
    let seen = snapshot(con);
    assert_eq!(seen[0].1[..2], ["d".to_owned(), "-inf".to_owned()]);
    assert_eq!(seen[0].1[2..4], ["a".to_owned(), "1.3".to_owned()]);
    assert_eq!(seen[2].1.len(), 2 * (300 - 25 - 1 - 3));
    assert!(seen[5].1.is_empty());
    seen
}

fn check(con: &mut redis::Connection, expected: &Snapshot) {
    assert_eq!(&snapshot(con), expected);
    let ttl: i64 = redis::cmd("TTL").arg("pool").query(con).unwrap();
    assert!(ttl > 900 && ttl <= 1000, "{ttl}");
    let encoding: String = redis::cmd("OBJECT").arg("ENCODING").arg("big").query(con).unwrap();
    assert_eq!(encoding, "skiplist");
    let kind: String = redis::cmd("TYPE").arg("scores").query(con).unwrap();
    assert_eq!(kind, "zset");
}

#[test]
fn zsets_survive_an_append_only_file_restart_and_a_rewrite() {
    let dir = temp_dir("aof");
    let path = dir.join("zsets.aof");
    let args = ["--no-greeting", "--appendonly", path.to_str().unwrap()];
    let server = Server::start_with(&args);
    let expected = write_zsets(&mut server.redis());
    assert!(server.stop().success());
    let log = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    for (absent, why) in [
        ("ZINCRBY", "ZINCRBY is logged as the score it produced"),
        ("ZPOPMIN", "pops are logged as the members removed"),
        ("ZMPOP", "pops are logged as the members removed"),
        ("ZRANDMEMBER", "reads are not logged"),
        ("ZUNIONSTORE", "stores are logged as their result"),
        ("INCR", "ZADD INCR is logged as the score it produced"),
    ] {
        assert!(!log.contains(absent), "{why}");
    }
    assert!(log.contains("ZREM") && log.contains("1.1000000000000001"), "ZREM and exact scores in the log");

    let server = Server::start_with(&args);
    let mut con = server.redis();
    check(&mut con, &expected);
    // Again after a rewrite: the base holds each zset as ZADDs.
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    retry_until("the rewrite to finish", || {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).ok()?;
        let idle = info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0");
        (idle && info.contains("aof_last_bgrewrite_status:ok")).then_some(())
    });
    assert!(server.stop().success());
    let server = Server::start_with(&args);
    check(&mut server.redis(), &expected);
}

#[test]
fn zsets_survive_save_and_restart() {
    let dir = temp_dir("rdb");
    let args = ["--no-greeting", "--dir", dir.to_str().unwrap()];
    let server = Server::start_with(&args);
    let mut con = server.redis();
    let expected = write_zsets(&mut con);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    assert!(server.stop().success());
    let server = Server::start_with(&args);
    check(&mut server.redis(), &expected);
}

#[test]
fn used_memory_follows_zsets_and_bad_input_allocates_nothing() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.redis();
    let before = used_memory(&mut con);
    for chunk in 0..20 {
        let mut zadd = redis::cmd("ZADD");
        zadd.arg("z");
        for i in 0..1000 {
            zadd.arg(i).arg(format!("member:{chunk}:{i}:{}", "x".repeat(40)));
        }
        let _: i64 = zadd.query(&mut con).unwrap();
    }
    let grown = used_memory(&mut con) - before;
    // 20,000 members of over 50 bytes: at least a megabyte, and not wildly more.
    assert!(grown > 1_000_000 && grown < 5_000_000, "{grown}");
    let _: i64 = redis::cmd("ZREMRANGEBYRANK").arg("z").arg(0).arg(-1).query(&mut con).unwrap();
    // Only the keyspace's own table may have kept a few buckets.
    let left = used_memory(&mut con) - before;
    assert!(left < 1_000, "an emptied zset is gone with its memory: {left} bytes left");

    let _: i64 = redis::cmd("ZADD").arg("z").arg(1).arg("a").arg(2).arg("b").query(&mut con).unwrap();
    let mut stream = server.connect();
    let refused = "-ERR count is too large: a reply holds at most 1048576 random picks\r\n";
    assert_eq!(call_str(&mut stream, &["ZRANDMEMBER", "z", "-9223372036854775807"]), refused);
    assert_eq!(call_str(&mut stream, &["ZRANDMEMBER", "z", "-4611686018427387903", "WITHSCORES"]), refused);
    assert_eq!(
        call_str(&mut stream, &["ZRANGE", "z", "-9223372036854775808", "9223372036854775807"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        call_str(&mut stream, &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "9223372036854775807"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        call_str(&mut stream, &["ZPOPMIN", "z", "9223372036854775807"]),
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(call_str(&mut stream, &["ZADD", "z", "nan", "a"]), "-ERR value is not a valid float\r\n");
    assert_eq!(call_str(&mut stream, &["ZADD", "z", "inf", "a"]), ":1\r\n");
    assert_eq!(call_str(&mut stream, &["ZINCRBY", "z", "-inf", "a"]), "-ERR resulting score is not a number (NaN)\r\n");
    assert!(server.rss_kib() < 500_000, "nothing was allocated for the huge counts");
}
