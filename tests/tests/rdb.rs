//! RDB snapshots and `DUMP`/`RESTORE`, against the real thing: TinyKV's `dump.rdb` passes
//! `redis-check-rdb` and loads into redis-server with the same keys, values and TTLs; redis-server's
//! loads into TinyKV; `DUMP` payloads are byte-equal both ways; damaged files stop the start with the
//! byte offset; `BGSAVE` runs while clients write; save rules and shutdown save as Redis does.
//!
//! Tests that need `redis-server` or `redis-check-rdb` print why and pass when they are missing.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Commands;
use tinykv_tests::{
    binary, call, call_str, fresh_dir, read_to_close, retry_until, run_with_deadline, Server, DEADLINE,
};

fn dir(name: &str) -> PathBuf {
    fresh_dir(&format!("rdb-{name}"))
}

fn start(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--no-greeting", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

/// A real redis-server in `dir`, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one serving (and loading) `dir/dump.rdb`, or `None` with the reason printed.
    fn start(dir: &Path, extra: &[&str]) -> Option<Redis> {
        let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut args = vec!["--port".to_owned(), port.to_string(), "--bind".into(), "127.0.0.1".into()];
        for arg in ["--dir", dir.to_str()?, "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", ""] {
            args.push(arg.to_owned());
        }
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        let child = match Command::new("redis-server").args(&args).stdin(Stdio::null()).stdout(Stdio::null()).spawn() {
            Ok(child) => child,
            Err(err) => {
                eprintln!("skipping: cannot run redis-server ({err})");
                return None;
            }
        };
        let redis = Redis { child, port };
        // Connected and done loading: PING answers PONG, not -LOADING.
        retry_until("redis-server to serve", || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
            stream.set_read_timeout(Some(DEADLINE)).ok()?;
            (call_str(&mut stream, &["PING"]) == "+PONG\r\n").then_some(())
        });
        Some(redis)
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis-server");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    fn redis(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap();
        client.get_connection_with_timeout(DEADLINE).unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic bytes that LZF cannot shrink.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Values covering every encoding: integers of each width, integer-looking text that is not one,
/// empty, binary, and long values (> 64 bytes) that compress and that do not.
fn values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("int:0", b"0".to_vec()),
        ("int:8", b"-128".to_vec()),
        ("int:16", b"30000".to_vec()),
        ("int:32", b"-2000000000".to_vec()),
        ("int:64", b"9223372036854775807".to_vec()),
        ("int:lead0", b"007".to_vec()),
        ("int:plus", b"+5".to_vec()),
        ("empty", Vec::new()),
        ("short", b"hello".to_vec()),
        ("binary", b"\x00\r\n\xff\xfe binary \x00".to_vec()),
        ("long:compressible", b"abcdefgh".repeat(40)),
        ("long:noise", noise(200, 7)),
        ("long:mixed", [b"header:".to_vec(), b"x".repeat(100), noise(50, 3)].concat()),
        ("long:21", b"aaaaaaaaaaaaaaaaaaaaa".to_vec()),
    ]
}

/// Key, value, and TTL (ms) of every key of databases 0, 1 and 15: what both servers must agree on.
type Keyspace = BTreeMap<(u8, Vec<u8>), (Vec<u8>, i64)>;

/// Writes the test data set through `con`: several databases, keys with and without expiry, long
/// and integer-looking keys.
fn populate(con: &mut redis::Connection) {
    let set = |con: &mut redis::Connection, key: &[u8], value: &[u8], px: Option<u64>| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        if let Some(px) = px {
            cmd.arg("PX").arg(px);
        }
        let _: () = cmd.query(con).unwrap();
    };
    let select = |con: &mut redis::Connection, db: u8| {
        let _: () = redis::cmd("SELECT").arg(db).query(con).unwrap();
    };
    select(con, 0);
    for (key, value) in values() {
        set(con, key.as_bytes(), &value, None);
        set(con, format!("ttl:{key}").as_bytes(), &value, Some(600_000));
    }
    set(con, b"12345", b"an integer-looking key", None);
    set(con, &b"long key ".repeat(20), b"v", Some(900_000));
    // Hashes and sets in every encoding redis-server 7.0 writes: listpack (small), hash table (many
    // fields or long values), intset (small integers), hash table sets (strings, or many integers).
    let query = |con: &mut redis::Connection, cmd: &mut redis::Cmd| {
        let _: redis::Value = cmd.query(con).unwrap();
    };
    query(con, redis::cmd("HSET").arg("hash:small").arg("name").arg("ada").arg("n").arg(-7).arg("e").arg(""));
    let mut big = redis::cmd("HSET");
    big.arg("hash:big");
    for i in 0..200 {
        big.arg(format!("field:{i}")).arg(i * 1000);
    }
    query(con, &mut big);
    query(con, redis::cmd("HSET").arg("hash:long").arg("f").arg(noise(100, 5)).arg("g").arg(b"y".repeat(300)));
    query(con, redis::cmd("HSET").arg("hash:ttl").arg("f").arg("v"));
    query(con, redis::cmd("PEXPIRE").arg("hash:ttl").arg(700_000));
    query(con, redis::cmd("SADD").arg("set:ints").arg(1).arg(-2).arg(70000).arg(-5_000_000_000i64));
    query(con, redis::cmd("SADD").arg("set:strings").arg("a").arg("").arg(noise(80, 9)));
    let mut many = redis::cmd("SADD");
    many.arg("set:many");
    for i in 0..600 {
        many.arg(i * 3);
    }
    query(con, &mut many);
    // --- lists ---
    // Lists: one small (one listpack node), one of many nodes (compressed in the middle when the
    // server runs with --list-compress-depth), integers and long elements among them, one with a TTL.
    query(con, redis::cmd("RPUSH").arg("list:small").arg("a").arg(-12).arg("").arg(noise(70, 3)));
    let mut long = redis::cmd("RPUSH");
    long.arg("list:long");
    for i in 0..3000 {
        long.arg(if i % 7 == 0 { format!("{i}") } else { format!("element:{i}:{}", "z".repeat(i % 90)) });
    }
    query(con, &mut long);
    query(con, redis::cmd("LPUSH").arg("list:ttl").arg("x").arg(b"w".repeat(5000)));
    query(con, redis::cmd("PEXPIRE").arg("list:ttl").arg(800_000));
    // Sorted sets in both encodings redis-server 7.0 writes: listpack (type 17) and skiplist (type 5),
    // with scores that test the doubles' round trip (0.1, inf, -inf, -0 in a skiplist, huge, tiny).
    query(con, redis::cmd("ZADD").arg("zset:small").arg("1.5").arg("a").arg("-inf").arg("b").arg("0.1").arg("c"));
    let mut big = redis::cmd("ZADD");
    big.arg("zset:big");
    for i in 0..200 {
        big.arg(format!("{}", f64::from(i) / 3.0)).arg(format!("member:{i}"));
    }
    big.arg("inf").arg("top").arg("-0").arg("zero").arg("1e300").arg("huge").arg("5e-324").arg("tiny");
    query(con, &mut big);
    query(con, redis::cmd("ZADD").arg("zset:long").arg("2").arg(noise(90, 4)).arg("3").arg("x"));
    query(con, redis::cmd("ZADD").arg("zset:ttl").arg("1").arg("m"));
    query(con, redis::cmd("PEXPIRE").arg("zset:ttl").arg(800_000));
    select(con, 1);
    set(con, b"db1", b"one", Some(300_000));
    set(con, b"db1:plain", &b"value in database one ".repeat(5), None);
    select(con, 15);
    set(con, b"db15", b"fifteen", None);
    select(con, 0);
}

/// Every key of databases 0, 1 and 15 with its value and PTTL, via SCAN, GET and PTTL.
fn keyspace(con: &mut redis::Connection) -> Keyspace {
    let mut all = Keyspace::new();
    for db in [0u8, 1, 15] {
        let _: () = redis::cmd("SELECT").arg(db).query(con).unwrap();
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(100).query(con).unwrap();
            for key in keys {
                let value = value_of(con, &key);
                let ttl: i64 = redis::cmd("PTTL").arg(&key).query(con).unwrap();
                all.insert((db, key), (value, ttl));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(con).unwrap();
    all
}

/// A key's value of any type, as bytes both servers must agree on: a string as it is, a hash's
/// pairs and a set's members sorted, after the type's name.
fn value_of(con: &mut redis::Connection, key: &[u8]) -> Vec<u8> {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).unwrap();
    let mut items: Vec<Vec<u8>> = match kind.as_str() {
        "string" => return redis::cmd("GET").arg(key).query(con).unwrap(),
        "hash" => {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL").arg(key).query(con).unwrap();
            pairs.into_iter().map(|(field, value)| [field, b"=".to_vec(), value].concat()).collect()
        }
        "set" => redis::cmd("SMEMBERS").arg(key).query(con).unwrap(),
        // --- lists ---
        "list" => {
            let items: Vec<Vec<u8>> = redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query(con).unwrap();
            return [b"list:".to_vec(), items.join(&b"\n"[..])].concat();
        }
        // In order, with the scores as the server prints them.
        "zset" => {
            let entries: Vec<Vec<u8>> =
                redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES").query(con).unwrap();
            return [kind.into_bytes(), b":".to_vec(), entries.join(&b"\n"[..])].concat();
        }
        other => panic!("unexpected type {other}"),
    };
    items.sort();
    [kind.into_bytes(), b":".to_vec(), items.join(&b"\n"[..])].concat()
}

/// The same keys and values, and TTLs that agree within a few seconds (the two reads are apart).
fn assert_same(expected: &Keyspace, got: &Keyspace) {
    let keys = |k: &Keyspace| k.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(expected), keys(got), "the same keys");
    for (key, (value, ttl)) in expected {
        let (got_value, got_ttl) = &got[key];
        assert_eq!(value, got_value, "value of {key:?}");
        if *ttl < 0 {
            assert_eq!(ttl, got_ttl, "no TTL on {key:?}");
        } else {
            assert!(*got_ttl > 0 && (ttl - got_ttl).abs() < 10_000, "TTL of {key:?}: {ttl} vs {got_ttl}");
        }
    }
}

/// `redis-check-rdb`'s verdict on a file, or `None` when it is not installed.
fn check_rdb(path: &Path) -> Option<(bool, String)> {
    let output = run_with_deadline(Command::new("redis-check-rdb").arg(path))?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Some((output.status.success() && text.contains("RDB looks OK"), text))
}

#[test]
fn tinykv_snapshot_passes_redis_check_rdb_and_loads_into_redis_server() {
    let dir = dir("to-redis");
    let server = start(&dir, &[]);
    let mut con = server.redis();
    populate(&mut con);
    let expected = keyspace(&mut con);
    assert_eq!(expected.len(), 2 * values().len() + 19);
    let reply: String = redis::cmd("SAVE").query(&mut con).unwrap();
    assert_eq!(reply, "OK");
    assert!(server.stop().success());

    let path = dir.join("dump.rdb");
    match check_rdb(&path) {
        None => eprintln!("skipping the redis-check-rdb step: it is not installed"),
        Some((ok, text)) => {
            assert!(ok, "redis-check-rdb refused the file:\n{text}");
            assert!(text.contains(&format!("{} keys read", expected.len())), "{text}");
        }
    }
    let Some(redis) = Redis::start(&dir, &[]) else { return };
    assert_same(&expected, &keyspace(&mut redis.redis()));
}

#[test]
fn redis_server_snapshot_loads_into_tinykv() {
    let dir = dir("from-redis");
    let Some(redis) = Redis::start(&dir, &["--rdbcompression", "yes", "--list-compress-depth", "1"]) else { return };
    let mut con = redis.redis();
    populate(&mut con);
    let expected = keyspace(&mut con);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    drop(redis);
    // Compressed: the 320-byte repetitive value is an LZF string (0xC3, its length, then 320 as 0x4140).
    let file = std::fs::read(dir.join("dump.rdb")).unwrap();
    assert!(file.windows(4).any(|w| w[0] == 0xc3 && w[2..] == [0x41, 0x40]), "an LZF string in the file");

    let server = start(&dir, &[]);
    assert_same(&expected, &keyspace(&mut server.redis()));
    assert!(server.log().contains("RDB snapshot loaded"), "{}", server.log());
}

#[test]
fn dump_payloads_are_byte_equal_and_restore_both_ways() {
    let dir = dir("dump");
    let Some(redis) = Redis::start(&dir, &[]) else { return };
    let server = start(&dir, &[]);
    let (mut ours, mut theirs) = (server.connect(), redis.connect());
    for (key, value) in values() {
        for stream in [&mut ours, &mut theirs] {
            assert_eq!(call(stream, &[b"SET", key.as_bytes(), &value]), b"+OK\r\n");
        }
        let our_dump = call(&mut ours, &[b"DUMP", key.as_bytes()]);
        let their_dump = call(&mut theirs, &[b"DUMP", key.as_bytes()]);
        assert_eq!(our_dump, their_dump, "DUMP of {key}");
        // The payload, out of its bulk-string frame.
        let start = our_dump.iter().position(|&b| b == b'\n').unwrap() + 1;
        let payload = &their_dump[start..their_dump.len() - 2];
        let copy = format!("{key}:restored");
        for stream in [&mut ours, &mut theirs] {
            assert_eq!(call(stream, &[b"RESTORE", copy.as_bytes(), b"0", payload]), b"+OK\r\n");
            assert_eq!(call(stream, &[b"GET", copy.as_bytes()]), call(stream, &[b"GET", key.as_bytes()]));
        }
    }
    // Hashes and sets: not byte-equal (Redis packs small ones as listpacks and intsets, TinyKV writes
    // the plain encodings), but each server restores the other's payload to the same value.
    let collections: [&[&[u8]]; 7] = [
        // --- lists ---
        &[b"RPUSH", b"lst", b"a", b"1", b"", b"-99"],
        &[b"HSET", b"h", b"f", b"1", b"g", b"two"],
        &[b"HSET", b"hbig", b"f", &[b'x'; 100]],
        &[b"SADD", b"ints", b"1", b"2", b"-300"],
        &[b"SADD", b"strs", b"a", b"b", b""],
        &[b"ZADD", b"zsmall", b"1", b"a", b"0.1", b"b", b"-inf", b"c", b"7", b"12345"],
        &[b"ZADD", b"zbig", b"1", b"a", b"-0", b"b", b"2.5", &[b'x'; 100]],
    ];
    for command in collections {
        let key = command[1];
        for stream in [&mut ours, &mut theirs] {
            assert!(!call(stream, command).starts_with(b"-"));
        }
        let restored = [key, b":restored"].concat();
        let payload = |dump: Vec<u8>| {
            let start = dump.iter().position(|&b| b == b'\n').unwrap() + 1;
            dump[start..dump.len() - 2].to_vec()
        };
        let (our_payload, their_payload) =
            (payload(call(&mut ours, &[b"DUMP", key])), payload(call(&mut theirs, &[b"DUMP", key])));
        assert_eq!(call(&mut theirs, &[b"RESTORE", &restored, b"0", &our_payload, b"REPLACE"]), b"+OK\r\n");
        assert_eq!(call(&mut ours, &[b"RESTORE", &restored, b"0", &their_payload, b"REPLACE"]), b"+OK\r\n");
        let (mut a, mut b) = (server.redis(), redis.redis());
        assert_eq!(value_of(&mut a, &restored), value_of(&mut b, key));
        assert_eq!(value_of(&mut b, &restored), value_of(&mut a, key));
    }
    // Errors, word for word, in Redis's order of checks.
    let payload = {
        let dump = call(&mut theirs, &[b"DUMP", b"short"]);
        let start = dump.iter().position(|&b| b == b'\n').unwrap() + 1;
        dump[start..dump.len() - 2].to_vec()
    };
    let mut corrupt = payload.clone();
    corrupt[1] ^= 0x10;
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"RESTORE", b"short", b"0", &payload],
        vec![b"RESTORE", b"short", b"-5", &payload],
        vec![b"RESTORE", b"fresh", b"-5", &payload],
        vec![b"RESTORE", b"fresh", b"soon", &payload],
        vec![b"RESTORE", b"fresh", b"0", &corrupt],
        vec![b"RESTORE", b"fresh", b"0", b"too short"],
        vec![b"RESTORE", b"fresh", b"0", &payload, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"fresh", b"0", &payload, b"FREQ", b"256"],
        vec![b"RESTORE", b"fresh", b"0", &payload, b"FREQ", b"5", b"IDLETIME", b"5"],
        vec![b"RESTORE", b"fresh", b"0", &payload, b"BOGUS"],
        vec![b"RESTORE", b"short", b"0", &payload, b"REPLACE", b"IDLETIME", b"100"],
        vec![b"RESTORE", b"fresh", b"1", &payload, b"ABSTTL"],
        vec![b"EXISTS", b"fresh"],
        vec![b"RESTORE", b"fresh", b"60000", &payload, b"FREQ", b"10"],
        vec![b"EXISTS", b"fresh"],
        vec![b"DUMP", b"missing"],
        vec![b"BGSAVE", b"NOW"],
        vec![b"SHUTDOWN", b"SAVE", b"NOSAVE"],
        vec![b"SHUTDOWN", b"ABORT"],
        // Not inside a transaction, which they spoil.
        vec![b"MULTI"],
        vec![b"SAVE"],
        vec![b"SHUTDOWN", b"NOSAVE"],
        vec![b"BGSAVE"],
        vec![b"EXEC"],
    ];
    for case in cases {
        let (a, b) = (call(&mut ours, &case), call(&mut theirs, &case));
        assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{:?}", String::from_utf8_lossy(case[0]));
    }
    let ttl = |stream: &mut TcpStream| {
        let reply = call_str(stream, &["PTTL", "fresh"]);
        reply.trim_start_matches(':').trim_end().parse::<i64>().unwrap()
    };
    assert!((ttl(&mut ours) - ttl(&mut theirs)).abs() < 5_000);
}

/// Starts `tinykv-server` on `dir` expecting it to refuse: returns its log.
fn refused_start(dir: &Path) -> String {
    let output =
        run_with_deadline(Command::new(binary("tinykv-server")).args(["--port", "0", "--dir", dir.to_str().unwrap()]))
            .expect("tinykv-server runs");
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "started from a bad file:\n{log}");
    assert!(!log.contains("listening on"), "served a bad file:\n{log}");
    log
}

#[test]
fn damaged_snapshots_stop_the_start_with_the_offset() {
    let dir = dir("damaged");
    let server = start(&dir, &[]);
    let mut con = server.redis();
    populate(&mut con);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    assert!(server.stop().success());
    let path = dir.join("dump.rdb");
    let good = std::fs::read(&path).unwrap();

    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let log = refused_start(&dir);
    assert!(log.contains("truncated") && log.contains("at byte offset"), "{log}");

    let mut flipped = good.clone();
    let at = good.len() - 20;
    flipped[at] ^= 0x01;
    std::fs::write(&path, &flipped).unwrap();
    let log = refused_start(&dir);
    assert!(log.contains("checksum") || log.contains("LZF"), "{log}");

    let mut newer = good.clone();
    newer[5..9].copy_from_slice(b"0011");
    std::fs::write(&path, &newer).unwrap();
    assert!(refused_start(&dir).contains("RDB format version 11 is not supported"));

    // A string that claims 512 MiB and holds a few bytes: refused as truncated at once, without
    // allocating what it claims (the loader's unit tests count the bytes).
    std::fs::write(&path, b"REDIS0010\xfe\x00\x00\x03key\x80\x1f\xff\xff\xffonly a few bytes").unwrap();
    let started = Instant::now();
    let log = refused_start(&dir);
    assert!(log.contains("truncated") && log.contains("at byte offset 21"), "{log}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn types_tinykv_lacks_stop_the_start_and_functions_load() {
    // (Hashes, sets and lists load: see redis_server_snapshot_loads_into_tinykv.)
    let dir = dir("types");
    let Some(redis) = Redis::start(&dir, &[]) else { return };
    let mut con = redis.redis();
    let _: () = redis::cmd("SET").arg("plain").arg("v").query(&mut con).unwrap();
    let library = "#!lua name=mylib\nredis.register_function('answer', function() return 42 end)";
    let _: String = redis::cmd("FUNCTION").arg("LOAD").arg(library).query(&mut con).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let server = start(&dir, &[]);
    assert_eq!(server.redis().get::<_, String>("plain").unwrap(), "v");
    // The library came with the snapshot.
    assert_eq!(redis::cmd("FCALL").arg("answer").arg(0).query::<i64>(&mut server.redis()).unwrap(), 42);
    drop(server);

    let _: String = redis::cmd("XADD").arg("jobs").arg("*").arg("f").arg("one").query(&mut con).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let log = refused_start(&dir);
    assert!(log.contains("key 'jobs' in database 0 is a stream"), "{log}");
}

fn lastsave(con: &mut redis::Connection) -> u64 {
    redis::cmd("LASTSAVE").query(con).unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn bgsave_runs_while_clients_write() {
    const KEYS: usize = 200_000;
    let dir = dir("bgsave");
    let server = start(&dir, &[]);
    let mut con = server.redis();
    for batch in 0..KEYS / 10_000 {
        let mut mset = redis::cmd("MSET");
        for i in batch * 10_000..(batch + 1) * 10_000 {
            mset.arg(format!("key:{i}")).arg(format!("value {i} {}", "x".repeat(i % 50)));
        }
        let _: () = mset.query(&mut con).unwrap();
    }
    let before = lastsave(&mut con);
    // LASTSAVE counts seconds: let one pass so the save's is a later one.
    retry_until("the next second", || (unix_now() > before).then_some(()));

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let mut con = server.redis();
        std::thread::spawn(move || {
            let (mut ops, mut slowest) = (0u64, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let _: () = redis::cmd("SET").arg(format!("live:{}", ops % 1000)).arg(ops).query(&mut con).unwrap();
                let _: i64 = redis::cmd("INCR").arg("counter").query(&mut con).unwrap();
                slowest = slowest.max(started.elapsed());
                ops += 1;
            }
            (ops, slowest)
        })
    };
    let started = Instant::now();
    let reply: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    assert_eq!(reply, "Background saving started");
    let again = redis::cmd("BGSAVE").query::<String>(&mut con);
    assert!(again.as_ref().map_or_else(|e| e.to_string().contains("already in progress"), |s| s.contains("started")));
    let saved = retry_until("LASTSAVE to move", || {
        let now = lastsave(&mut con);
        (now > before).then_some(now)
    });
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (ops, slowest) = writer.join().unwrap();
    eprintln!("BGSAVE of {KEYS} keys: {took:?}; the writer meanwhile: {ops} rounds, slowest {slowest:?}");
    assert!(saved >= before);
    assert!(ops > 0, "the server kept answering during the save");
    assert!(slowest < Duration::from_secs(2), "no client waited for the disk: slowest {slowest:?}");
    assert!(server.stop().success());

    let server = start(&dir, &[]);
    let mut con = server.redis();
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert!(size >= KEYS, "every key present throughout the save is in the file: {size}");
    for i in [0, 1, KEYS / 2, KEYS - 1] {
        let value: String = con.get(format!("key:{i}")).unwrap();
        assert!(value.starts_with(&format!("value {i} ")));
    }
}

#[test]
fn save_rules_save_by_themselves() {
    let dir = dir("rules");
    let server = start(&dir, &["--save", "1 1"]);
    let mut con = server.redis();
    let before = lastsave(&mut con);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    retry_until("the rule's save", || dir.join("dump.rdb").exists().then_some(()));
    retry_until("LASTSAVE to move", || (lastsave(&mut con) > before).then_some(()));
    assert!(server.stop().success());
    let server = start(&dir, &[]);
    assert_eq!(server.redis().get::<_, String>("k").unwrap(), "v");
}

#[test]
fn config_set_save_changes_the_rules_at_run_time() {
    // Started with rules: `CONFIG SET save ""` (the usual way to turn snapshots off) means a stop
    // saves nothing.
    let dir1 = dir("config-set-save-off");
    let server = start(&dir1, &["--save", "3600 1"]);
    let mut con = server.redis();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("save").arg("").query(&mut con).unwrap();
    let save: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("save").query(&mut con).unwrap();
    assert_eq!(save, ["save", ""]);
    let _: () = con.set("k", "v").unwrap();
    assert!(server.stop().success());
    assert!(!dir1.join("dump.rdb").exists(), "no rules, no save at the stop");

    // Started without: a rule set at run time saves by itself.
    let dir2 = dir("config-set-save-on");
    let server = start(&dir2, &[]);
    let mut con = server.redis();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("save").arg("1 1").query(&mut con).unwrap();
    let _: () = con.set("k", "v").unwrap();
    retry_until("the new rule's save", || dir2.join("dump.rdb").exists().then_some(()));
    assert!(server.stop().success());
    assert_eq!(start(&dir2, &[]).redis().get::<_, String>("k").unwrap(), "v");
}

#[test]
fn shutdown_saves_as_redis_does() {
    let file = |dir: &Path| dir.join("dump.rdb");

    // A --dbfilename brings Redis's default rules, and with rules SIGTERM saves.
    let dir1 = dir("sigterm");
    let server = start(&dir1, &["--dbfilename", "dump.rdb"]);
    let _: () = server.redis().set("k", "sigterm").unwrap();
    assert!(server.stop().success());
    assert!(file(&dir1).exists());
    assert_eq!(start(&dir1, &[]).redis().get::<_, String>("k").unwrap(), "sigterm");

    // No rules: a stop does not save, SHUTDOWN SAVE does, and the client gets no reply.
    let dir2 = dir("shutdown-save");
    let server = start(&dir2, &[]);
    let _: () = server.redis().set("k", "v").unwrap();
    let mut stream = server.connect();
    std::io::Write::write_all(&mut stream, b"*2\r\n$8\r\nSHUTDOWN\r\n$4\r\nSAVE\r\n").unwrap();
    assert_eq!(read_to_close(&mut stream), b"");
    let mut server = server;
    assert!(server.wait_for_exit(DEADLINE).expect("exits after SHUTDOWN").success());
    assert!(file(&dir2).exists());

    let dir3 = dir("nosave");
    let server = start(&dir3, &["--save", "3600 1"]);
    let _: () = server.redis().set("k", "v").unwrap();
    let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut server.redis());
    let mut server = server;
    assert!(server.wait_for_exit(DEADLINE).expect("exits after SHUTDOWN").success());
    assert!(!file(&dir3).exists(), "NOSAVE saves nothing");

    // With an append-only file, it is what loads; the snapshot is not read.
    let server = start(&dir2, &["--appendonly", dir2.join("aof").to_str().unwrap()]);
    assert_eq!(server.redis().get::<_, Option<String>>("k").unwrap(), None);
}

#[test]
fn failing_saves_refuse_writes_until_one_succeeds() {
    let dir = dir("misconf");
    let missing = dir.join("not-there");
    let log = refused_start(&missing);
    assert!(log.contains("not-there") && log.contains("not an existing directory"), "{log}");

    let server = start(&dir, &["--save", "1 1"]);
    // Saves fail while their temporary file's name is taken by a directory.
    let blocker = dir.join(format!("temp-{}.rdb", server.pid()));
    std::fs::create_dir(&blocker).unwrap();
    let mut stream = server.connect();
    assert_eq!(call_str(&mut stream, &["SET", "k", "v"]), "+OK\r\n");
    // The rule's save fails; from then on writes (and PING) are refused, reads go on.
    let refusal = retry_until("the failed save to refuse writes", || {
        let reply = call_str(&mut stream, &["SET", "k", "v"]);
        reply.starts_with("-MISCONF").then_some(reply)
    });
    assert!(refusal.starts_with("-MISCONF Redis is configured to save RDB snapshots"), "{refusal}");
    assert!(call_str(&mut stream, &["PING"]).starts_with("-MISCONF"));
    assert_eq!(call_str(&mut stream, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(call_str(&mut stream, &["SAVE"]), "-ERR\r\n");
    // The way clear again: the rule retries (after 5 s, as Redis) and writes come back by themselves.
    std::fs::remove_dir(&blocker).unwrap();
    retry_until("writes to come back", || (call_str(&mut stream, &["SET", "k", "w"]) == "+OK\r\n").then_some(()));
    assert!(dir.join("dump.rdb").exists());
}
