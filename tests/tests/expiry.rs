//! Expiry (SPEC §4): an expired key is invisible to every command, and keys nobody touches are
//! reclaimed by the active sweep: DBSIZE falls and the memory is reused. Short TTLs, and waits are
//! retry loops with a deadline: nothing asserts how fast the server is.

use std::net::TcpStream;

use tinykv_tests::{call_str, retry_until, Server};

fn server() -> Server {
    Server::start_with(&["--no-greeting"])
}

/// Waits until `args` gets `expected`.
fn wait_for(stream: &mut TcpStream, args: &[&str], expected: &str) {
    retry_until(&format!("{args:?} to answer {expected:?}"), || (call_str(stream, args) == expected).then_some(()));
}

/// One field of `INFO`, as a number.
fn info_field(stream: &mut TcpStream, name: &str) -> u64 {
    let info = call_str(stream, &["INFO"]);
    info.split("\r\n")
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} in INFO"))
}

#[test]
fn an_expired_key_is_invisible_to_every_command() {
    let server = server();
    let mut s = server.connect();
    assert_eq!(call_str(&mut s, &["SET", "gone", "5", "PX", "30"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SET", "stays", "1"]), "+OK\r\n");
    wait_for(&mut s, &["PTTL", "gone"], ":-2\r\n");
    let cases: &[(&[&str], &str)] = &[
        (&["GET", "gone"], "$-1\r\n"),
        (&["EXISTS", "gone"], ":0\r\n"),
        (&["TTL", "gone"], ":-2\r\n"),
        (&["TYPE", "gone"], "+none\r\n"),
        (&["STRLEN", "gone"], ":0\r\n"),
        (&["MGET", "gone", "stays"], "*2\r\n$-1\r\n$1\r\n1\r\n"),
        (&["KEYS", "*"], "*1\r\n$5\r\nstays\r\n"),
        (&["SCAN", "0", "COUNT", "1000"], "*2\r\n$1\r\n0\r\n*1\r\n$5\r\nstays\r\n"),
        (&["RENAME", "gone", "x"], "-ERR no such key\r\n"),
        (&["PERSIST", "gone"], ":0\r\n"),
        (&["EXPIRE", "gone", "100"], ":0\r\n"),
        (&["DBSIZE"], ":1\r\n"),
    ];
    for (args, expected) in cases {
        assert_eq!(call_str(&mut s, args), *expected, "reply to {args:?}");
    }
    // Writes start from nothing.
    assert_eq!(call_str(&mut s, &["SET", "gone", "5", "PX", "30"]), "+OK\r\n");
    wait_for(&mut s, &["EXISTS", "gone"], ":0\r\n");
    assert_eq!(call_str(&mut s, &["INCR", "gone"]), ":1\r\n");
    assert_eq!(call_str(&mut s, &["TTL", "gone"]), ":-1\r\n");
    assert_eq!(call_str(&mut s, &["SET", "gone", "5", "PX", "30"]), "+OK\r\n");
    wait_for(&mut s, &["EXISTS", "gone"], ":0\r\n");
    assert_eq!(call_str(&mut s, &["MSETNX", "gone", "1", "other", "2"]), ":1\r\n");
    assert_eq!(call_str(&mut s, &["PSETEX", "gone", "30", "x"]), "+OK\r\n");
    wait_for(&mut s, &["EXISTS", "gone"], ":0\r\n");
    assert_eq!(call_str(&mut s, &["APPEND", "gone", "ab"]), ":2\r\n");
    assert_eq!(call_str(&mut s, &["SETNX", "gone", "x"]), ":0\r\n");
}

#[test]
fn ttl_counts_down_and_the_key_goes() {
    let server = server();
    let mut s = server.connect();
    assert_eq!(call_str(&mut s, &["SET", "k", "v", "EX", "100"]), "+OK\r\n");
    let ttl = call_str(&mut s, &["TTL", "k"]);
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
    let pttl: i64 = call_str(&mut s, &["PTTL", "k"]).trim_start_matches(':').trim_end().parse().unwrap();
    assert!(0 < pttl && pttl <= 100_000, "{pttl}");
    assert_eq!(call_str(&mut s, &["PEXPIRE", "k", "30"]), ":1\r\n");
    wait_for(&mut s, &["GET", "k"], "$-1\r\n");
    // EXPIRE on an existing key with a short time, then PERSIST before it runs out keeps it.
    assert_eq!(call_str(&mut s, &["SET", "p", "v"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["EXPIRE", "p", "100"]), ":1\r\n");
    assert_eq!(call_str(&mut s, &["PERSIST", "p"]), ":1\r\n");
    assert_eq!(call_str(&mut s, &["TTL", "p"]), ":-1\r\n");
    assert_eq!(call_str(&mut s, &["PEXPIRE", "p", "20"]), ":1\r\n");
    wait_for(&mut s, &["EXISTS", "p"], ":0\r\n");
}

#[test]
fn dbsize_falls_after_mass_expiry_without_touching_keys() {
    const KEYS: usize = 50_000;
    let server = server();
    let mut con = server.redis();
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("SET").arg(format!("temp:{i}")).arg("value").arg("PX").arg(200).ignore();
    }
    for i in 0..10 {
        pipe.cmd("SET").arg(format!("keep:{i}")).arg("value").ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    // Only DBSIZE and INFO from now on: nothing touches the expiring keys.
    let mut s = server.connect();
    wait_for(&mut s, &["DBSIZE"], ":10\r\n");
    assert!(info_field(&mut s, "expired_keys") >= KEYS as u64);
    let info = call_str(&mut s, &["INFO", "keyspace"]);
    assert!(info.contains("db0:keys=10,expires=0,avg_ttl=0"), "{info}");
}

#[test]
fn memory_of_expired_keys_is_reused() {
    const KEYS: usize = 100_000;
    const VALUE_LEN: usize = 200;
    let server = Server::start_with(&["--no-greeting", "--enable-debug-command", "yes"]);
    let mut con = server.redis();
    let value = "v".repeat(VALUE_LEN);
    let mut s = server.connect();
    let fill = |con: &mut redis::Connection, prefix: &str, ttl_ms: Option<u64>| {
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(10_000) {
            let mut pipe = redis::pipe();
            for i in chunk {
                let cmd = pipe.cmd("SET").arg(format!("{prefix}:{i}")).arg(&value);
                if let Some(ttl) = ttl_ms {
                    cmd.arg("PX").arg(ttl);
                }
                cmd.ignore();
            }
            pipe.query::<()>(con).unwrap();
        }
    };
    // The sweep held off while the keys go in, however slow the fill: on a loaded machine the first
    // keys had expired and gone before the last went in, and the memory was never all in use.
    assert_eq!(call_str(&mut s, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    fill(&mut con, "first", Some(1_000));
    let used_full = info_field(&mut s, "used_memory");
    assert!(used_full >= (KEYS * VALUE_LEN) as u64, "used_memory {used_full}");
    let rss_full = server.rss_kib();
    assert_eq!(call_str(&mut s, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), "+OK\r\n");
    wait_for(&mut s, &["DBSIZE"], ":0\r\n");
    assert_eq!(info_field(&mut s, "used_memory"), 0);
    // The same amount again fits in the memory the expired keys gave back.
    fill(&mut con, "second", None);
    let rss_again = server.rss_kib();
    assert!(
        rss_again <= rss_full + rss_full / 4,
        "RSS grew from {rss_full} KiB to {rss_again} KiB: expired memory not reused"
    );
    assert_eq!(call_str(&mut s, &["DBSIZE"]), format!(":{KEYS}\r\n"));
}

/// A transaction's commands and a script's calls judge their keys by the time the `EXEC` or `EVAL`
/// started, as Redis 7.0 does: a key whose deadline passes halfway through is still there for the
/// rest of it (and `PTTL` says 0 left), and gone for the next command. Checked against the literal
/// replies and, where redis-server is installed, against its replies to the same requests.
#[test]
fn a_transaction_or_script_sees_its_keys_as_of_when_it_started() {
    // The script runs off the async thread, where the expiry sweep (every 100 ms) could meet it:
    // busy for 250 ms, it outlasts two sweep turns, so a sweep that ignored it would take its key.
    let busy_250ms = "local s = redis.call('TIME') \
        repeat local n = redis.call('TIME') until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 250000 ";
    let script = format!(
        "redis.call('SET', KEYS[1], 'v', 'PX', 20) {busy_250ms} \
         return {{redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('EXISTS', KEYS[1])}}"
    );
    let steps: Vec<(Vec<&str>, &str)> = vec![
        // A database of its own, so KEYS, SCAN and RANDOMKEY see the one key.
        (vec!["SELECT", "9"], "+OK\r\n"),
        (vec!["MULTI"], "+OK\r\n"),
        (vec!["SET", "t", "v", "PX", "20"], "+QUEUED\r\n"),
        (vec!["DEBUG", "SLEEP", "0.06"], "+QUEUED\r\n"),
        (vec!["GET", "t"], "+QUEUED\r\n"),
        (vec!["KEYS", "t*"], "+QUEUED\r\n"),
        (vec!["SCAN", "0", "MATCH", "t*"], "+QUEUED\r\n"),
        (vec!["RANDOMKEY"], "+QUEUED\r\n"),
        (vec!["PTTL", "t"], "+QUEUED\r\n"),
        (
            vec!["EXEC"],
            "*7\r\n+OK\r\n+OK\r\n$1\r\nv\r\n*1\r\n$1\r\nt\r\n*2\r\n$1\r\n0\r\n*1\r\n$1\r\nt\r\n$1\r\nt\r\n:0\r\n",
        ),
        (vec!["RANDOMKEY"], "$-1\r\n"),
        (vec!["GET", "t"], "$-1\r\n"),
        (vec!["EVAL", &script, "1", "s"], "*3\r\n$1\r\nv\r\n:0\r\n:1\r\n"),
        (vec!["EXISTS", "s"], ":0\r\n"),
    ];
    let server = Server::start_with(&["--no-greeting", "--enable-debug-command", "yes"]);
    let mut ours = server.connect();
    let redis = tinykv_tests::differential::Redis::start_with(&["--enable-debug-command", "yes"]);
    let mut theirs = redis.as_ref().map(|redis| redis.connect());
    for (args, expected) in &steps {
        assert_eq!(call_str(&mut ours, args), *expected, "TinyKV's reply to {:?}", &args[..args.len().min(2)]);
        if let Some(theirs) = theirs.as_mut() {
            assert_eq!(call_str(theirs, args), *expected, "redis-server's reply to {:?}", &args[..args.len().min(2)]);
        }
    }
}
