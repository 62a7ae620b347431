//! SPEC §4: every command's happy path, Redis's error texts and edge cases, through raw RESP (byte
//! for byte) and through the `redis` crate.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tinykv_tests::{call_str, Server};

fn server() -> Server {
    Server::start_with(&["--no-greeting"])
}

/// Sends each `(command, expected reply)` in turn on one connection and checks the replies exactly.
fn expect_all(server: &Server, cases: &[(&[&str], &str)]) {
    let mut stream = server.connect();
    for (args, expected) in cases {
        assert_eq!(call_str(&mut stream, args), *expected, "reply to {args:?}");
    }
}

#[test]
fn string_commands_happy_paths() {
    let server = server();
    expect_all(
        &server,
        &[
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["GET", "k"], "$1\r\nv\r\n"),
            (&["GETSET", "k", "w"], "$1\r\nv\r\n"),
            (&["GETSET", "fresh", "x"], "$-1\r\n"),
            (&["GETDEL", "k"], "$1\r\nw\r\n"),
            (&["GETDEL", "k"], "$-1\r\n"),
            (&["GET", "k"], "$-1\r\n"),
            (&["MSET", "a", "1", "b", "2", "a", "3"], "+OK\r\n"),
            (&["MGET", "a", "b", "missing", "a"], "*4\r\n$1\r\n3\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n"),
            (&["MSETNX", "a", "9", "c", "9"], ":0\r\n"),
            (&["GET", "c"], "$-1\r\n"),
            (&["MSETNX", "c", "9", "d", "8"], ":1\r\n"),
            (&["MGET", "c", "d"], "*2\r\n$1\r\n9\r\n$1\r\n8\r\n"),
            (&["SETNX", "c", "x"], ":0\r\n"),
            (&["SETNX", "e", "x"], ":1\r\n"),
            (&["APPEND", "e", "yz"], ":3\r\n"),
            (&["APPEND", "new", "abc"], ":3\r\n"),
            (&["GET", "e"], "$3\r\nxyz\r\n"),
            (&["STRLEN", "e"], ":3\r\n"),
            (&["STRLEN", "nothing"], ":0\r\n"),
            (&["SETEX", "s", "100", "v"], "+OK\r\n"),
            (&["TTL", "s"], ":100\r\n"),
            (&["PSETEX", "p", "100000", "v"], "+OK\r\n"),
            (&["TTL", "p"], ":100\r\n"),
            (&["GET", "p"], "$1\r\nv\r\n"),
        ],
    );
}

#[test]
fn set_options_and_their_conflicts() {
    let server = server();
    expect_all(
        &server,
        &[
            (&["SET", "k", "v", "XX"], "$-1\r\n"),
            (&["SET", "k", "v", "NX"], "+OK\r\n"),
            (&["SET", "k", "w", "NX"], "$-1\r\n"),
            (&["SET", "k", "w", "XX", "GET"], "$1\r\nv\r\n"),
            (&["SET", "k", "x", "NX", "GET"], "$1\r\nw\r\n"),
            (&["SET", "none", "x", "GET"], "$-1\r\n"),
            (&["SET", "k", "v", "NX", "XX"], "-ERR syntax error\r\n"),
            (&["SET", "k", "v", "EX", "10", "PX", "100"], "-ERR syntax error\r\n"),
            (&["SET", "k", "v", "KEEPTTL", "EX", "10"], "-ERR syntax error\r\n"),
            (&["SET", "k", "v", "EX"], "-ERR syntax error\r\n"),
            (&["SET", "k", "v", "BOGUS"], "-ERR syntax error\r\n"),
            (&["SET", "k", "v", "EX", "ten"], "-ERR value is not an integer or out of range\r\n"),
            (&["SET", "k", "v", "EX", "0"], "-ERR invalid expire time in 'set' command\r\n"),
            (&["SET", "k", "v", "PX", "-5"], "-ERR invalid expire time in 'set' command\r\n"),
            (&["SET", "k", "v", "EX", "9223372036854775807"], "-ERR invalid expire time in 'set' command\r\n"),
            (&["SET", "k", "v", "EX", "100"], "+OK\r\n"),
            (&["SET", "k", "v2", "KEEPTTL"], "+OK\r\n"),
            (&["TTL", "k"], ":100\r\n"),
            (&["SET", "k", "v3"], "+OK\r\n"),
            (&["TTL", "k"], ":-1\r\n"),
            (&["SET", "k", "v", "EXAT", "1"], "+OK\r\n"),
            (&["EXISTS", "k"], ":0\r\n"),
            (&["SET", "k", "v", "PXAT", "99999999999999"], "+OK\r\n"),
            (&["EXISTS", "k"], ":1\r\n"),
            (&["SET", "k", "v", "NX", "NX", "GET", "GET"], "$1\r\nv\r\n"),
        ],
    );
}

#[test]
fn counters_are_64_bit_with_redis_errors() {
    let server = server();
    expect_all(
        &server,
        &[
            (&["INCR", "n"], ":1\r\n"),
            (&["INCRBY", "n", "41"], ":42\r\n"),
            (&["DECR", "n"], ":41\r\n"),
            (&["DECRBY", "n", "-9"], ":50\r\n"),
            (&["INCRBY", "n", "-100"], ":-50\r\n"),
            (&["GET", "n"], "$3\r\n-50\r\n"),
            (&["SET", "max", "9223372036854775807"], "+OK\r\n"),
            (&["INCR", "max"], "-ERR increment or decrement would overflow\r\n"),
            (&["GET", "max"], "$19\r\n9223372036854775807\r\n"),
            (&["SET", "min", "-9223372036854775808"], "+OK\r\n"),
            (&["DECR", "min"], "-ERR increment or decrement would overflow\r\n"),
            (&["DECRBY", "n", "-9223372036854775808"], "-ERR decrement would overflow\r\n"),
            (&["INCRBY", "n", "9223372036854775808"], "-ERR value is not an integer or out of range\r\n"),
            (&["INCRBY", "n", "1.5"], "-ERR value is not an integer or out of range\r\n"),
            (&["INCRBY", "n", "007"], "-ERR value is not an integer or out of range\r\n"),
            (&["SET", "text", "abc"], "+OK\r\n"),
            (&["INCR", "text"], "-ERR value is not an integer or out of range\r\n"),
            (&["SET", "spaced", " 1"], "+OK\r\n"),
            (&["INCR", "spaced"], "-ERR value is not an integer or out of range\r\n"),
            (&["SET", "ttl", "5", "EX", "100"], "+OK\r\n"),
            (&["INCR", "ttl"], ":6\r\n"),
            (&["TTL", "ttl"], ":100\r\n"),
            (&["INCR"], "-ERR wrong number of arguments for 'incr' command\r\n"),
        ],
    );
}

#[test]
fn keyspace_commands() {
    let server = server();
    expect_all(
        &server,
        &[
            (&["MSET", "a", "1", "b", "2"], "+OK\r\n"),
            (&["EXISTS", "a", "a", "b", "zz"], ":3\r\n"),
            (&["DEL", "a", "a", "zz"], ":1\r\n"),
            (&["UNLINK", "b", "zz"], ":1\r\n"),
            (&["DBSIZE"], ":0\r\n"),
            (&["TYPE", "a"], "+none\r\n"),
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["TYPE", "a"], "+string\r\n"),
            (&["RENAME", "nope", "x"], "-ERR no such key\r\n"),
            (&["RENAME", "nope", "nope"], "-ERR no such key\r\n"),
            (&["RENAME", "a", "a"], "+OK\r\n"),
            (&["EXPIRE", "a", "100"], ":1\r\n"),
            (&["SET", "dest", "old"], "+OK\r\n"),
            (&["RENAME", "a", "dest"], "+OK\r\n"),
            (&["GET", "dest"], "$1\r\n1\r\n"),
            (&["TTL", "dest"], ":100\r\n"),
            (&["EXISTS", "a"], ":0\r\n"),
            (&["PERSIST", "dest"], ":1\r\n"),
            (&["PERSIST", "dest"], ":0\r\n"),
            (&["PERSIST", "missing"], ":0\r\n"),
            (&["TTL", "dest"], ":-1\r\n"),
            (&["TTL", "missing"], ":-2\r\n"),
            (&["PTTL", "missing"], ":-2\r\n"),
            (&["PTTL", "dest"], ":-1\r\n"),
            (&["DBSIZE"], ":1\r\n"),
            (&["FLUSHDB"], "+OK\r\n"),
            (&["DBSIZE"], ":0\r\n"),
            (&["SET", "a", "1"], "+OK\r\n"),
            (&["FLUSHALL", "ASYNC"], "+OK\r\n"),
            (&["FLUSHALL", "SYNC"], "+OK\r\n"),
            (&["FLUSHDB", "LATER"], "-ERR syntax error\r\n"),
            (&["DBSIZE"], ":0\r\n"),
        ],
    );
}

#[test]
fn expire_family_follows_redis_7() {
    let server = server();
    expect_all(
        &server,
        &[
            (&["EXPIRE", "missing", "100"], ":0\r\n"),
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["EXPIRE", "k", "100", "XX"], ":0\r\n"),
            (&["EXPIRE", "k", "100", "GT"], ":0\r\n"),
            (&["EXPIRE", "k", "100", "NX"], ":1\r\n"),
            (&["EXPIRE", "k", "200", "NX"], ":0\r\n"),
            (&["EXPIRE", "k", "50", "GT"], ":0\r\n"),
            (&["EXPIRE", "k", "200", "GT"], ":1\r\n"),
            (&["TTL", "k"], ":200\r\n"),
            (&["EXPIRE", "k", "300", "LT"], ":0\r\n"),
            (&["EXPIRE", "k", "150", "xx", "lt"], ":1\r\n"),
            (&["TTL", "k"], ":150\r\n"),
            (&["PEXPIRE", "k", "5000000"], ":1\r\n"),
            (&["TTL", "k"], ":5000\r\n"),
            (&["EXPIREAT", "k", "99999999999"], ":1\r\n"),
            (&["PEXPIREAT", "k", "99999999999000", "GT"], ":0\r\n"),
            (&["SET", "nottl", "v"], "+OK\r\n"),
            (&["EXPIRE", "nottl", "100", "LT"], ":1\r\n"),
            (
                &["EXPIRE", "k", "1", "NX", "XX"],
                "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
            ),
            (
                &["EXPIRE", "k", "1", "NX", "GT"],
                "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
            ),
            (&["EXPIRE", "k", "1", "GT", "LT"], "-ERR GT and LT options at the same time are not compatible\r\n"),
            (&["EXPIRE", "k", "1", "SOON"], "-ERR Unsupported option SOON\r\n"),
            (&["EXPIRE", "k", "soon"], "-ERR value is not an integer or out of range\r\n"),
            (&["EXPIRE", "k", "9223372036854775807"], "-ERR invalid expire time in 'expire' command\r\n"),
            (&["PEXPIRE", "k", "9223372036854775807"], "-ERR invalid expire time in 'pexpire' command\r\n"),
            (&["EXPIRE"], "-ERR wrong number of arguments for 'expire' command\r\n"),
            // A time already past deletes the key and still answers 1.
            (&["EXPIRE", "k", "0"], ":1\r\n"),
            (&["EXISTS", "k"], ":0\r\n"),
            (&["EXPIRE", "nottl", "-10"], ":1\r\n"),
            (&["GET", "nottl"], "$-1\r\n"),
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["PEXPIREAT", "k", "1"], ":1\r\n"),
            (&["DBSIZE"], ":0\r\n"),
        ],
    );
}

#[test]
fn keys_with_redis_glob_patterns() {
    let server = server();
    let mut stream = server.connect();
    for key in ["hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h[a]llo", "x"] {
        assert_eq!(call_str(&mut stream, &["SET", key, "1"]), "+OK\r\n");
    }
    let keys = |stream: &mut std::net::TcpStream, pattern: &str| -> Vec<String> {
        let reply = call_str(stream, &["KEYS", pattern]);
        let mut keys: Vec<String> =
            reply.split("\r\n").filter(|l| !l.is_empty() && !l.starts_with(['*', '$'])).map(str::to_owned).collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&mut stream, "h?llo"), ["h*llo", "hallo", "hello", "hxllo"]);
    assert_eq!(keys(&mut stream, "h*llo"), ["h*llo", "h[a]llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]);
    assert_eq!(keys(&mut stream, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys(&mut stream, "h[^e]llo"), ["h*llo", "hallo", "hxllo"]);
    assert_eq!(keys(&mut stream, "h[a-b]llo"), ["hallo"]);
    assert_eq!(keys(&mut stream, "h\\*llo"), ["h*llo"]);
    assert_eq!(keys(&mut stream, "h\\[a\\]llo"), ["h[a]llo"]);
    assert_eq!(keys(&mut stream, "*").len(), 8);
    assert_eq!(keys(&mut stream, "nomatch*"), Vec::<String>::new());
    assert_eq!(call_str(&mut stream, &["KEYS", "nomatch*"]), "*0\r\n");
}

/// Follows a SCAN to its end through the `redis` crate; returns every key seen (with repeats).
fn full_scan(con: &mut redis::Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_owned();
    let mut seen = Vec::new();
    loop {
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN").arg(&cursor).arg(extra).query(con).unwrap();
        seen.extend(keys);
        if next == "0" {
            return seen;
        }
        cursor = next;
    }
}

#[test]
fn scan_returns_everything_with_match_count_and_type() {
    let server = server();
    let mut con = server.redis();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
        pipe.cmd("SET").arg(format!("other:{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let all: HashSet<String> = full_scan(&mut con, &["COUNT", "37"]).into_iter().collect();
    assert_eq!(all.len(), 2000);
    let matched: HashSet<String> = full_scan(&mut con, &["MATCH", "key:1*"]).into_iter().collect();
    let expected: HashSet<String> = (0..1000).map(|i| format!("key:{i}")).filter(|k| k.starts_with("key:1")).collect();
    assert_eq!(matched, expected);
    assert_eq!(full_scan(&mut con, &["TYPE", "string"]).len(), 2000);
    assert!(full_scan(&mut con, &["TYPE", "hash"]).is_empty());

    let mut stream = server.connect();
    assert_eq!(call_str(&mut stream, &["SCAN", "x"]), "-ERR invalid cursor\r\n");
    // strtoul reads -1 as the largest cursor: the last bucket in the cursor's order, so redis-server
    // 7.0 answers the last step, cursor 0 with that bucket's few keys (none, one or two in six runs
    // of this data side by side; which ones depends on its hash seed).
    let last: (String, Vec<String>) = redis::cmd("SCAN").arg("-1").query(&mut con).unwrap();
    assert_eq!(last.0, "0");
    assert!(last.1.len() <= 10 && last.1.iter().all(|key| all.contains(key)), "{last:?}");
    assert_eq!(call_str(&mut stream, &["SCAN", "-x"]), "-ERR invalid cursor\r\n");
    assert_eq!(call_str(&mut stream, &["SCAN", "0", "COUNT", "0"]), "-ERR syntax error\r\n");
    assert_eq!(call_str(&mut stream, &["SCAN", "0", "COUNT", "x"]), "-ERR value is not an integer or out of range\r\n");
    assert_eq!(call_str(&mut stream, &["SCAN", "0", "MATCH"]), "-ERR syntax error\r\n");
    assert_eq!(call_str(&mut stream, &["SCAN", "0", "SIDEWAYS", "1"]), "-ERR syntax error\r\n");
    assert_eq!(call_str(&mut stream, &["FLUSHALL"]), "+OK\r\n");
    assert_eq!(call_str(&mut stream, &["SCAN", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
}

#[test]
fn scan_is_complete_under_concurrent_writes() {
    let server = server();
    let mut con = server.redis();
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("SET").arg(format!("stable:{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();

    // A writer adds and removes other keys (growing and shrinking the tables) while we scan.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let mut con = server.redis();
        std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut pipe = redis::pipe();
                for i in 0..500 {
                    pipe.cmd("SET").arg(format!("churn:{round}:{i}")).arg(i).ignore();
                }
                if round > 0 {
                    for i in 0..500 {
                        pipe.cmd("DEL").arg(format!("churn:{}:{i}", round - 1)).ignore();
                    }
                }
                pipe.query::<()>(&mut con).unwrap();
                round += 1;
            }
            round
        })
    };
    for _ in 0..3 {
        let seen: HashSet<String> = full_scan(&mut con, &["MATCH", "stable:*", "COUNT", "50"]).into_iter().collect();
        assert_eq!(seen.len(), 5000, "a key present throughout the scan was missed");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

#[test]
fn connection_and_server_commands() {
    let server = server();
    expect_all(
        &server,
        &[
            (&["PING"], "+PONG\r\n"),
            (&["PING", "hi"], "$2\r\nhi\r\n"),
            (&["ECHO", "e"], "$1\r\ne\r\n"),
            (&["SELECT", "0"], "+OK\r\n"),
            (&["SELECT", "16"], "-ERR DB index is out of range\r\n"),
            (&["SELECT", "x"], "-ERR value is not an integer or out of range\r\n"),
            (&["SELECT", "-1"], "-ERR DB index is out of range\r\n"),
            (&["AUTH", "pw"], "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
            (&["AUTH", "default", "anything"], "+OK\r\n"),
            (&["AUTH", "someone", "pw"], "-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
            (&["AUTH", "a", "b", "c"], "-ERR syntax error\r\n"),
            (&["CONFIG", "GET", "maxmemory"], "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"),
            (&["CLIENT", "SETNAME", "me"], "+OK\r\n"),
            (&["CLIENT", "GETNAME"], "$2\r\nme\r\n"),
            (&["COMMAND", "COUNT"], &format!(":{}\r\n", tinykv_proto::COMMANDS.len())),
            (&["NOSUCH", "a"], "-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n"),
            (&["GET", "a", "b"], "-ERR wrong number of arguments for 'get' command\r\n"),
            (&["MSET", "a"], "-ERR wrong number of arguments for 'mset' command\r\n"),
            (&["MSET", "a", "1", "b"], "-ERR wrong number of arguments for 'mset' command\r\n"),
            (&["QUIT"], "+OK\r\n"),
        ],
    );
}

#[test]
fn info_reads_like_redis() {
    let server = server();
    let mut stream = server.connect();
    call_str(&mut stream, &["SET", "a", "1"]);
    call_str(&mut stream, &["SET", "b", "1", "EX", "100"]);
    let reply = call_str(&mut stream, &["INFO"]);
    let (header, body) = reply.split_once("\r\n").unwrap();
    assert_eq!(header, format!("${}", body.len() - 2), "a bulk string");
    for section in ["# Server\r\n", "# Clients\r\n", "# Memory\r\n", "# Stats\r\n", "# Keyspace\r\n"] {
        assert!(body.contains(section), "{section:?} in {body}");
    }
    let field = |name: &str| -> String {
        body.split("\r\n")
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("{name} in INFO"))
            .to_owned()
    };
    assert_eq!(field("tcp_port"), server.port().to_string());
    assert_eq!(field("process_id"), server.pid().to_string());
    assert_eq!(field("connected_clients"), "1");
    assert_eq!(field("maxclients"), "10000");
    assert!(field("used_memory").parse::<u64>().unwrap() > 0);
    assert!(field("used_memory_rss").parse::<u64>().unwrap() > 0);
    // The two SETs; as in Redis, a command is counted once it ran, so INFO does not count itself.
    assert!(field("total_commands_processed").parse::<u64>().unwrap() >= 2);
    field("instantaneous_ops_per_sec").parse::<u64>().unwrap();
    field("uptime_in_seconds").parse::<u64>().unwrap();
    assert_eq!(field("db0"), "keys=2,expires=1,avg_ttl=0");
    assert!(field("redis_version").starts_with('7'));

    let keyspace = call_str(&mut stream, &["INFO", "keyspace"]);
    assert_eq!(keyspace, "$44\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n\r\n");
    let two = call_str(&mut stream, &["INFO", "CLIENTS", "stats"]);
    assert!(two.contains("# Clients\r\n") && two.contains("\r\n\r\n# Stats\r\n") && !two.contains("# Server"));
    assert_eq!(call_str(&mut stream, &["INFO", "nosuchsection"]), "$0\r\n\r\n");
    call_str(&mut stream, &["FLUSHALL"]);
    assert_eq!(call_str(&mut stream, &["INFO", "keyspace"]), "$12\r\n# Keyspace\r\n\r\n");
}

#[test]
fn the_redis_crate_uses_every_command() {
    let server = server();
    let mut con = server.redis();
    let q = |con: &mut redis::Connection, args: &[&str]| -> redis::Value {
        redis::cmd(args[0]).arg(&args[1..]).query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    use redis::Value::{Int, Nil, Okay};
    assert_eq!(q(&mut con, &["SET", "k", "1"]), Okay);
    assert_eq!(q(&mut con, &["INCRBY", "k", "5"]), Int(6));
    assert_eq!(q(&mut con, &["APPEND", "k", "0"]), Int(2));
    assert_eq!(q(&mut con, &["EXPIRE", "k", "60", "NX"]), Int(1));
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut con).unwrap();
    assert!((59..=60).contains(&ttl));
    let pttl: i64 = redis::cmd("PTTL").arg("k").query(&mut con).unwrap();
    assert!((1..=60_000).contains(&pttl));
    assert_eq!(q(&mut con, &["GETDEL", "nothing"]), Nil);
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&["k", "nope"]).query(&mut con).unwrap();
    assert_eq!(values, [Some("60".to_owned()), None]);
    let kind: String = redis::cmd("TYPE").arg("k").query(&mut con).unwrap();
    assert_eq!(kind, "string");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert_eq!(keys, ["k"]);
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 1);
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(info.starts_with("# Server\r\n"));
    let err = redis::cmd("INCR").arg("k").arg("extra").query::<i64>(&mut con).unwrap_err();
    assert!(err.to_string().contains("wrong number of arguments"), "{err}");
    assert_eq!(q(&mut con, &["FLUSHDB"]), Okay);
}

/// `COMMAND DOCS` carries each command's arguments in Redis's shape (bulk-string names, types and
/// tokens; simple-string flags), which is what redis-cli builds its hints from.
#[test]
fn command_docs_describe_arguments_as_redis_does() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.connect();
    let docs = call_str(&mut con, &["COMMAND", "DOCS", "get"]);
    assert!(
        docs.contains("$9\r\narguments\r\n*1\r\n*4\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n"),
        "{docs:?}"
    );
    let docs = call_str(&mut con, &["COMMAND", "DOCS", "expire"]);
    for part in ["$5\r\ntoken\r\n$2\r\nNX\r\n", "$5\r\nflags\r\n*1\r\n+optional\r\n", "$5\r\noneof\r\n"] {
        assert!(docs.contains(part), "{part:?} missing from {docs:?}");
    }
    // Where redis-cli is installed, its hint for SET is the table's syntax line.
    if std::process::Command::new("redis-cli").arg("--version").output().is_err() {
        eprintln!("redis-cli not installed: skipping its help check");
        return;
    }
    let help = std::process::Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "help", "set"])
        .output()
        .expect("run redis-cli");
    let help = String::from_utf8_lossy(&help.stdout);
    let syntax = tinykv_proto::table::lookup(b"SET").expect("SET in the table").args;
    // (redis-cli colours the command name, so look for the arguments alone.)
    assert!(help.contains(syntax), "{help}");
}
