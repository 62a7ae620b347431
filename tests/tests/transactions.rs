//! Transactions: `MULTI` queues, `EXEC` runs the queue as one step, `DISCARD` drops it, and a command
//! refused while queueing spoils the transaction, with Redis's replies, through raw RESP and the
//! `redis` crate's atomic pipelines (redis-py's default pipeline is the same MULTI/EXEC).

use tinykv_tests::{call_str, resp, roundtrip, Server};

#[test]
fn multi_queues_and_exec_runs_in_order() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.connect();
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"SET", b"k", b"1"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"INCR", b"k"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"GET", b"k"]), b"+QUEUED\r\n");
    // A type error at run time is one element of the reply; the others still run.
    roundtrip(&mut con, &resp(&[b"INCRBY", b"k", b"x"]), b"+QUEUED\r\n");
    // Another client sees nothing until EXEC.
    let mut other = server.connect();
    assert_eq!(call_str(&mut other, &["GET", "k"]), "$-1\r\n");
    roundtrip(
        &mut con,
        &resp(&[b"EXEC"]),
        b"*4\r\n+OK\r\n:2\r\n$1\r\n2\r\n-ERR value is not an integer or out of range\r\n",
    );
    assert_eq!(call_str(&mut other, &["GET", "k"]), "$1\r\n2\r\n");
}

#[test]
fn discard_and_the_errors_redis_gives() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.connect();
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"-ERR EXEC without MULTI\r\n");
    roundtrip(&mut con, &resp(&[b"DISCARD"]), b"-ERR DISCARD without MULTI\r\n");
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"-ERR MULTI calls can not be nested\r\n");
    roundtrip(&mut con, &resp(&[b"SET", b"a", b"1"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"DISCARD"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"GET", b"a"]), b"$-1\r\n");

    // A command refused as it is queued (unknown, wrong arity) spoils the whole transaction.
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"SET", b"a", b"1"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"GET"]), b"-ERR wrong number of arguments for 'get' command\r\n");
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    roundtrip(&mut con, &resp(&[b"GET", b"a"]), b"$-1\r\n");
    // And the connection is out of the transaction afterwards.
    roundtrip(&mut con, &resp(&[b"SET", b"a", b"2"]), b"+OK\r\n");
}

#[test]
fn redis_crate_atomic_pipeline() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.redis();
    let (a, b): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("counter")
        .arg(10)
        .ignore()
        .cmd("INCRBY")
        .arg("counter")
        .arg(5)
        .cmd("DECR")
        .arg("counter")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b), (15, 14));
}

#[test]
fn transactions_survive_a_restart_with_the_append_only_file() {
    let dir = std::env::temp_dir().join(format!("tinykv-transactions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("multi.aof");
    let _ = std::fs::remove_file(&path);
    let args = ["--no-greeting", "--appendonly", path.to_str().unwrap(), "--appendfsync", "always"];
    let server = Server::start_with(&args);
    let mut con = server.connect();
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"SET", b"x", b"1"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"APPEND", b"x", b"23"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"*2\r\n+OK\r\n:3\r\n");
    assert!(server.stop().success());
    let server = Server::start_with(&args);
    assert_eq!(call_str(&mut server.connect(), &["GET", "x"]), "$3\r\n123\r\n");
    assert!(server.stop().success());
}

/// With several worker threads, another client's writes never land between a transaction's commands
/// (every client moved to the next thread after each batch, so they run on different threads at once).
#[test]
fn exec_is_isolated_from_other_clients_on_many_threads() {
    let server = Server::start_with(&["--no-greeting", "--threads", "4", "--debug-hand-over-every", "1"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let mut con = server.connect();
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert_eq!(call_str(&mut con, &["SET", "k", "1000"]), "+OK\r\n");
                }
            })
        })
        .collect();
    let mut con = server.connect();
    let mut transaction = resp(&[b"MULTI"]);
    transaction.extend(resp(&[b"SET", b"k", b"0"]));
    for _ in 0..50 {
        transaction.extend(resp(&[b"INCR", b"k"]));
    }
    transaction.extend(resp(&[b"GET", b"k"]));
    transaction.extend(resp(&[b"EXEC"]));
    let mut expected = b"+OK\r\n".to_vec();
    expected.extend(b"+QUEUED\r\n".repeat(52));
    expected.extend(b"*52\r\n+OK\r\n");
    for i in 1..=50 {
        expected.extend(format!(":{i}\r\n").as_bytes());
    }
    expected.extend(b"$2\r\n50\r\n");
    for _ in 0..20 {
        roundtrip(&mut con, &transaction, &expected);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writers.into_iter().for_each(|writer| writer.join().unwrap());
}

#[test]
fn watch_aborts_exec_when_a_watched_key_changed() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.connect();
    let mut other = server.connect();
    roundtrip(&mut con, &resp(&[b"SET", b"k", b"1"]), b"+OK\r\n");

    // Changed by another client: EXEC answers a null array and runs nothing.
    roundtrip(&mut con, &resp(&[b"WATCH", b"k", b"unrelated"]), b"+OK\r\n");
    roundtrip(&mut other, &resp(&[b"INCR", b"k"]), b":2\r\n");
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"WATCH", b"k"]), b"-ERR WATCH inside MULTI is not allowed\r\n");
    roundtrip(&mut con, &resp(&[b"SET", b"k", b"mine"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"*-1\r\n");
    roundtrip(&mut con, &resp(&[b"GET", b"k"]), b"$1\r\n2\r\n");

    // EXEC forgot the watch: the next transaction runs whatever happened before it.
    roundtrip(&mut other, &resp(&[b"INCR", b"k"]), b":3\r\n");
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"SET", b"k", b"mine"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"*1\r\n+OK\r\n");

    // Unchanged (writes to other keys do not count), it runs; UNWATCH forgets; expiry and
    // deletion count as changes.
    roundtrip(&mut con, &resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    roundtrip(&mut other, &resp(&[b"SET", b"elsewhere", b"x"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"GET", b"k"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"*1\r\n$4\r\nmine\r\n");
    roundtrip(&mut con, &resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"UNWATCH"]), b"+OK\r\n");
    roundtrip(&mut other, &resp(&[b"DEL", b"k"]), b":1\r\n");
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"EXISTS", b"k"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"*1\r\n:0\r\n");
    roundtrip(&mut con, &resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    roundtrip(&mut other, &resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"DEL", b"k"]), b"+QUEUED\r\n");
    roundtrip(&mut con, &resp(&[b"DISCARD"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"GET", b"k"]), b"$1\r\nv\r\n");
}

/// A transaction holds no more than one request could: queued arguments are capped at
/// `--proto-max-bulk-len` in total, and going past it spoils the transaction.
#[test]
fn queued_commands_are_capped() {
    let server = Server::start_with(&["--no-greeting", "--proto-max-bulk-len", "1kb"]);
    let mut con = server.connect();
    let value = vec![b'v'; 600];
    roundtrip(&mut con, &resp(&[b"MULTI"]), b"+OK\r\n");
    roundtrip(&mut con, &resp(&[b"SET", b"a", &value]), b"+QUEUED\r\n");
    let refused = call_str(&mut con, &["SET", "b", std::str::from_utf8(&value).unwrap()]);
    assert!(refused.starts_with("-ERR transaction too large"), "{refused:?}");
    roundtrip(&mut con, &resp(&[b"EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    roundtrip(&mut con, &resp(&[b"EXISTS", b"a"]), b":0\r\n");
}

/// A flush or a swap changes a watched key only if the key was there before or after it, as in
/// Redis 7.0: an optimistic-lock loop on a key that does not exist yet is not made to retry by a
/// `FLUSHALL` elsewhere. Each case is run against TinyKV and, when installed, redis-server, and both
/// must give the literal replies.
#[test]
fn flushes_and_swaps_abort_only_watchers_of_keys_that_were_there() {
    let server = Server::start_with(&["--no-greeting"]);
    let redis = tinykv_tests::differential::Redis::start();
    if redis.is_none() {
        eprintln!("redis-server not installed: TinyKV checked alone");
    }
    let pairs = std::iter::once((server.connect(), server.connect()))
        .chain(redis.as_ref().map(|redis| (redis.connect(), redis.connect())));
    let ran = "*1\r\n+PONG\r\n";
    let aborted = "*-1\r\n";
    // (commands run first, the change another client makes, what EXEC answers)
    type Case<'a> = (&'a [&'a [&'a str]], &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        (&[], &["FLUSHALL"], ran),
        (&[], &["FLUSHDB"], ran),
        (&[], &["SWAPDB", "0", "1"], ran),
        (&[&["SELECT", "1"], &["SET", "other", "v"], &["SELECT", "0"]], &["SWAPDB", "0", "1"], ran),
        (&[&["SET", "w", "v"]], &["FLUSHDB"], aborted),
        (&[&["SET", "w", "v"]], &["FLUSHALL"], aborted),
        (&[&["SELECT", "1"], &["SET", "w", "v"], &["SELECT", "0"]], &["SWAPDB", "0", "1"], aborted),
        (&[&["SET", "w", "v"]], &["SWAPDB", "0", "1"], aborted),
    ];
    for (mut con, mut other) in pairs {
        for (setup, change, expected) in cases {
            assert_eq!(call_str(&mut other, &["FLUSHALL"]), "+OK\r\n");
            for command in *setup {
                assert!(!call_str(&mut other, command).starts_with('-'), "{command:?}");
            }
            assert_eq!(call_str(&mut con, &["WATCH", "w"]), "+OK\r\n");
            assert!(!call_str(&mut other, change).starts_with('-'));
            assert_eq!(call_str(&mut con, &["MULTI"]), "+OK\r\n");
            assert_eq!(call_str(&mut con, &["PING"]), "+QUEUED\r\n");
            assert_eq!(call_str(&mut con, &["EXEC"]), *expected, "after {setup:?} then {change:?}");
        }
    }
}

/// Redis 7.0's rules for a watched key already past its deadline, with the active expiry off so
/// the expired keys stay in place: a watch of a key that had already expired is not aborted when
/// the key is then flushed away, nor when a swap brings in an expired one; a key live when watched
/// that expires before the flush is a change. Literal replies, from TinyKV and redis-server alike.
#[test]
fn expired_watched_keys_follow_redis_through_flushes_and_swaps() {
    let server = Server::start_with(&["--no-greeting", "--enable-debug-command", "yes"]);
    let redis = tinykv_tests::differential::Redis::start_with(&["--enable-debug-command", "yes"]);
    if redis.is_none() {
        eprintln!("redis-server not installed: TinyKV checked alone");
    }
    let pairs = std::iter::once((server.connect(), server.connect()))
        .chain(redis.as_ref().map(|redis| (redis.connect(), redis.connect())));
    let pause = || std::thread::sleep(std::time::Duration::from_millis(30));
    for (mut con, mut other) in pairs {
        assert_eq!(call_str(&mut other, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
        let exec = |con: &mut std::net::TcpStream| {
            assert_eq!(call_str(con, &["MULTI"]), "+OK\r\n");
            assert_eq!(call_str(con, &["PING"]), "+QUEUED\r\n");
            call_str(con, &["EXEC"])
        };
        // Expired before the watch, then flushed: no change.
        assert_eq!(call_str(&mut other, &["SET", "w", "v", "PX", "1"]), "+OK\r\n");
        pause();
        assert_eq!(call_str(&mut con, &["WATCH", "w"]), "+OK\r\n");
        assert_eq!(call_str(&mut other, &["FLUSHDB"]), "+OK\r\n");
        assert_eq!(exec(&mut con), "*1\r\n+PONG\r\n", "expired, watched, flushed");
        // Live when watched, expired before the flush: a change.
        assert_eq!(call_str(&mut other, &["SET", "w", "v", "PX", "500"]), "+OK\r\n");
        assert_eq!(call_str(&mut con, &["WATCH", "w"]), "+OK\r\n");
        std::thread::sleep(std::time::Duration::from_millis(600));
        assert_eq!(call_str(&mut other, &["FLUSHDB"]), "+OK\r\n");
        assert_eq!(exec(&mut con), "*-1\r\n", "watched, expired, flushed");
        // Absent when watched, and a swap brings in an expired one: no change.
        assert_eq!(call_str(&mut other, &["SELECT", "1"]), "+OK\r\n");
        assert_eq!(call_str(&mut other, &["SET", "w", "v", "PX", "1"]), "+OK\r\n");
        pause();
        assert_eq!(call_str(&mut con, &["WATCH", "w"]), "+OK\r\n");
        assert_eq!(call_str(&mut other, &["SWAPDB", "0", "1"]), "+OK\r\n");
        assert_eq!(exec(&mut con), "*1\r\n+PONG\r\n", "absent, swapped for an expired one");
        assert_eq!(call_str(&mut other, &["FLUSHALL"]), "+OK\r\n");
        assert_eq!(call_str(&mut other, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), "+OK\r\n");
    }
}
