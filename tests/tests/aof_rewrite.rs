//! The append-only file compacts itself online: `BGREWRITEAOF` while another client keeps writing,
//! the growth rule, Redis 7's directory layout (manifest, base, increments), a single file written
//! by an earlier version, and damaged files that must stop the start naming the file and offset.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tinykv_tests::differential::Redis;
use tinykv_tests::{binary, call_str, retry_until, Server};

/// A fresh path (not created) for an append-only file or directory, unique to this test.
fn fresh_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tinykv-aof-rewrite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_file(&path);
    path
}

/// A server on `path` whose rewrites write the base as commands (`--aof-use-rdb-preamble no`), which
/// these tests read back record by record; [`an_rdb_base_is_a_snapshot_that_tinykv_and_redis_load`]
/// covers the default snapshot base.
fn start(path: &Path, extra: &[&str]) -> Server {
    let mut args =
        vec!["--appendonly", path.to_str().unwrap(), "--appendfsync", "always", "--aof-use-rdb-preamble", "no"];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

/// `INFO persistence`'s fields, read in one reply.
fn persistence(con: &mut redis::Connection) -> HashMap<String, String> {
    let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
    info.lines().filter_map(|line| line.split_once(':')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// One `INFO persistence` field.
fn info_field(con: &mut redis::Connection, field: &str) -> String {
    persistence(con).remove(field).unwrap_or_else(|| panic!("no {field} in INFO persistence"))
}

/// Waits until no rewrite runs or is asked for (both read from one reply), and says whether the
/// last one succeeded.
fn wait_for_rewrite(con: &mut redis::Connection) -> String {
    retry_until("the rewrite to finish", || {
        let fields = persistence(con);
        let idle = fields["aof_rewrite_in_progress"] == "0" && fields["aof_rewrite_scheduled"] == "0";
        idle.then(|| fields["aof_last_bgrewrite_status"].clone())
    })
}

/// The manifest's lines as (file, seq, type), checking each is `file NAME seq N type T`.
fn manifest(dir: &Path) -> Vec<(String, u64, String)> {
    let text = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).expect("a manifest");
    text.lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            assert_eq!((words.len(), words[0], words[2], words[4]), (6, "file", "seq", "type"), "{line}");
            (words[1].to_owned(), words[3].parse().unwrap(), words[5].to_owned())
        })
        .collect()
}

/// The records of an AOF-format file, each as its words.
fn records(path: &Path) -> Vec<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).unwrap();
    let line = |at: &mut usize| {
        let end = *at + bytes[*at..].windows(2).position(|w| w == b"\r\n").expect("a CRLF");
        let text = &bytes[*at..end];
        *at = end + 2;
        std::str::from_utf8(&text[1..]).unwrap().parse::<usize>().unwrap()
    };
    let (mut at, mut out) = (0, Vec::new());
    while at < bytes.len() {
        assert_eq!(bytes[at], b'*');
        let n = line(&mut at);
        let mut words = Vec::new();
        for _ in 0..n {
            let len = line(&mut at);
            words.push(bytes[at..at + len].to_vec());
            at += len + 2;
        }
        out.push(words);
    }
    out
}

/// The base file named by the manifest, checked to exist along with every increment.
fn base_of(dir: &Path) -> PathBuf {
    let lines = manifest(dir);
    for (name, _, kind) in &lines {
        if kind != "h" {
            assert!(dir.join(name).is_file(), "the manifest names a missing file {name}");
        }
    }
    let bases: Vec<_> = lines.iter().filter(|(_, _, kind)| kind == "b").collect();
    assert_eq!(bases.len(), 1, "{lines:?}");
    dir.join(&bases[0].0)
}

/// Every SET of a base is of a different key: the base holds each live key once.
fn assert_compact(base: &Path) -> usize {
    let sets: Vec<_> = records(base).into_iter().filter(|r| r[0] == b"SET").map(|r| r[1].clone()).collect();
    let unique: HashSet<_> = sets.iter().collect();
    assert_eq!(unique.len(), sets.len(), "a key written twice in the base");
    sets.len()
}

/// How the server stops after (or during) the rewrite.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stop {
    Graceful,
    Kill9After,
    Kill9During,
}

/// What the other client was told: the last acknowledged state of each key it wrote, the counter's
/// last acknowledged value, and the write in flight when the server died (either state may be kept).
struct Acknowledged {
    keys: HashMap<String, Option<String>>,
    counter: i64,
    in_flight: Option<String>,
}

/// Writes until done or until the server goes away.
fn keep_writing(mut con: redis::Connection, keys: usize) -> Acknowledged {
    let mut acked = Acknowledged { keys: HashMap::new(), counter: 0, in_flight: None };
    for i in 0..4000usize {
        let key = format!("key:{}", (i * 7919) % keys);
        acked.in_flight = Some(key.clone());
        let state = if i % 5 == 0 { None } else { Some(format!("new:{i}")) };
        let result = match &state {
            None => redis::cmd("DEL").arg(&key).query::<i64>(&mut con).map(drop),
            Some(value) => redis::cmd("SET").arg(&key).arg(value).query::<()>(&mut con),
        };
        if result.is_err() {
            return acked;
        }
        acked.keys.insert(key, state);
        acked.in_flight = Some("counter".to_owned());
        match redis::cmd("INCR").arg("counter").query::<i64>(&mut con) {
            Ok(n) => acked.counter = n,
            Err(_) => return acked,
        }
    }
    acked.in_flight = None;
    acked
}

fn rewrite_while_another_client_writes(stop: Stop) {
    let path = fresh_path(&format!("under-writes-{stop:?}"));
    let mut server = start(&path, &[]);
    let mut con = server.redis();
    const KEYS: usize = 20_000;
    for batch in 0..KEYS / 1000 {
        let mut pipe = redis::pipe();
        for i in batch * 1000..(batch + 1) * 1000 {
            pipe.cmd("SET").arg(format!("key:{i}")).arg(format!("value:{i}")).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    for _ in 0..3 {
        let _: () = redis::cmd("SET").arg("rewritten").arg("many times").query(&mut con).unwrap();
    }

    // Another client keeps writing through the rewrite: overwrites, deletes, a counter.
    let writer = {
        let con = server.redis();
        std::thread::spawn(move || keep_writing(con, KEYS))
    };
    let started: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(started, "Background append only file rewriting started");
    if stop == Stop::Kill9During {
        // Killed at once: the rewrite is somewhere between its start and its end.
        server.signal(libc::SIGKILL);
        assert!(server.wait_for_exit(Duration::from_secs(20)).is_some());
    } else {
        // A second one while the first runs is refused with Redis's error (or starts if the first ended).
        match redis::cmd("BGREWRITEAOF").query::<String>(&mut con) {
            Ok(reply) => assert_eq!(reply, "Background append only file rewriting started"),
            Err(err) => {
                assert!(err.to_string().contains("Background append only file rewriting already in progress"), "{err}")
            }
        }
        assert_eq!(wait_for_rewrite(&mut con), "ok");
    }
    let acked = writer.join().unwrap();

    if stop != Stop::Kill9During {
        // The single file became the directory layout, compact: one SET per live key in the base.
        assert!(path.is_dir(), "PATH is now Redis 7's appendonlydir");
        assert!(assert_compact(&base_of(&path)) <= KEYS + 2);
    }
    match stop {
        Stop::Graceful => assert!(server.stop().success()),
        Stop::Kill9After => {
            server.signal(libc::SIGKILL);
            assert!(server.wait_for_exit(Duration::from_secs(20)).is_some());
        }
        Stop::Kill9During => {}
    }
    let server = start(&path, &[]);
    let mut con = server.redis();
    let get =
        |con: &mut redis::Connection, key: &str| -> Option<String> { redis::cmd("GET").arg(key).query(con).unwrap() };
    for i in 0..KEYS {
        let key = format!("key:{i}");
        if acked.in_flight.as_deref() == Some(key.as_str()) {
            continue;
        }
        let expected = acked.keys.get(&key).cloned().unwrap_or_else(|| Some(format!("value:{i}")));
        assert_eq!(get(&mut con, &key), expected, "{key}");
    }
    let counter: i64 = get(&mut con, "counter").map_or(0, |n| n.parse().unwrap());
    let in_flight = i64::from(acked.in_flight.as_deref() == Some("counter"));
    assert!(counter == acked.counter || counter == acked.counter + in_flight, "{counter} vs {}", acked.counter);
    assert_eq!(get(&mut con, "rewritten").as_deref(), Some("many times"));

    // A rewrite with nothing writing: the base is exactly the live keys.
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(wait_for_rewrite(&mut con), "ok");
    assert_eq!(assert_compact(&base_of(&path)), dbsize);
    let lines = manifest(&path);
    assert_eq!(lines.iter().filter(|(_, _, kind)| kind == "i").count(), 1, "{lines:?}");
    assert!(!lines.iter().any(|(_, _, kind)| kind == "h"), "history is deleted: {lines:?}");
    let files = std::fs::read_dir(&path).unwrap().count();
    assert_eq!(files, 3, "base, increment and manifest only");
    drop(server);
}

#[test]
fn a_rewrite_under_writes_keeps_every_acknowledged_write_across_a_graceful_stop() {
    rewrite_while_another_client_writes(Stop::Graceful);
}

#[test]
fn a_rewrite_under_writes_keeps_every_acknowledged_write_across_kill_9() {
    rewrite_while_another_client_writes(Stop::Kill9After);
}

#[test]
fn a_kill_9_during_a_rewrite_loses_no_acknowledged_write() {
    rewrite_while_another_client_writes(Stop::Kill9During);
}

#[test]
fn growth_triggers_a_rewrite() {
    let path = fresh_path("auto");
    let server = start(&path, &["--auto-aof-rewrite-min-size", "64kb", "--auto-aof-rewrite-percentage", "100"]);
    let mut con = server.redis();
    let value = "x".repeat(100);
    // 3,000 writes of about 140 bytes over 20 keys: the log passes 64 KiB; the data is 3 KiB.
    for round in 0..150 {
        let mut pipe = redis::pipe();
        for key in 0..20 {
            pipe.cmd("SET").arg(format!("k{key}")).arg(format!("{value}{round}")).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    retry_until("the automatic rewrite", || path.join("appendonly.aof.manifest").is_file().then_some(()));
    assert_eq!(wait_for_rewrite(&mut con), "ok");
    // The rule's thresholds move with each rewrite (and with how far writes got during it), so the
    // final size is not pinned; the base a rewrite left is: one SET for each of the 20 keys.
    assert_eq!(assert_compact(&base_of(&path)), 20);
    let size: u64 = info_field(&mut con, "aof_current_size").parse().unwrap();
    let base: u64 = info_field(&mut con, "aof_base_size").parse().unwrap();
    assert!(base > 0 && base <= size, "{base} {size}");
    retry_until("the log to tell of the automatic rewrite", || {
        server.log().contains("starting automatic rewriting of the append only file").then_some(())
    });
    assert!(server.stop().success());
    let server = start(&path, &[]);
    let got: Option<String> = redis::cmd("GET").arg("k7").query(&mut server.redis()).unwrap();
    assert_eq!(got, Some(format!("{value}149")));
}

#[test]
fn a_single_file_from_an_earlier_version_loads_and_is_converted_at_its_first_rewrite() {
    let path = fresh_path("old.aof");
    // What TinyKV wrote before the directory layout: effect records in one file.
    let mut old = Vec::new();
    for words in [
        &["SELECT", "0"][..],
        &["SET", "a", "1"],
        &["SET", "b", "2", "PXAT", "99999999999999"],
        &["SET", "c", "3"],
        &["DEL", "c"],
        &["SELECT", "2"],
        &["SET", "d", "4"],
    ] {
        old.extend(tinykv_tests::resp(&words.iter().map(|w| w.as_bytes()).collect::<Vec<_>>()));
    }
    std::fs::write(&path, &old).unwrap();
    let server = start(&path, &[]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["GET", "a"]), "$1\r\n1\r\n");
    assert_eq!(call_str(&mut con, &["EXISTS", "c"]), ":0\r\n");
    assert!(path.is_file(), "no rewrite yet: still the single file");
    assert_eq!(call_str(&mut con, &["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
    assert_eq!(wait_for_rewrite(&mut server.redis()), "ok");
    assert!(path.is_dir());
    assert_compact(&base_of(&path));
    assert_eq!(call_str(&mut con, &["SET", "e", "5"]), "+OK\r\n");
    assert!(server.stop().success());

    let server = start(&path, &[]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["MGET", "a", "b", "c", "e"]), "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$1\r\n5\r\n");
    assert_eq!(call_str(&mut con, &["SELECT", "2"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["GET", "d"]), "$1\r\n4\r\n");
}

#[test]
fn a_stop_right_after_the_first_rewrite_starts_loses_nothing() {
    // The first rewrite turns the single file into the directory layout at once and writes the base
    // later: a stop (or crash) in between must find a manifest naming the old file as the base.
    // Found with the sorted-set tests: the start used to see a directory without a manifest, empty.
    for round in 0..3 {
        let path = fresh_path(&format!("stopped-{round}.aof"));
        let server = start(&path, &["--no-greeting"]);
        let mut con = server.connect();
        for i in 0..200 {
            assert_eq!(call_str(&mut con, &["SET", &format!("k{i}"), "v"]), "+OK\r\n");
        }
        assert_eq!(call_str(&mut con, &["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
        assert!(server.stop().success());
        let server = start(&path, &["--no-greeting"]);
        assert_eq!(call_str(&mut server.connect(), &["DBSIZE"]), ":200\r\n", "round {round}");
    }
}

/// Starts the server on `path` expecting it to refuse, and returns what it said.
fn refused_start(path: &Path) -> String {
    let output = Command::new(binary("tinykv-server"))
        .args(["--port", "0", "--appendonly", path.to_str().unwrap()])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "started on a damaged file: {stderr}");
    assert!(!stderr.contains("listening on"), "must not serve a damaged data set: {stderr}");
    stderr
}

#[test]
fn damaged_files_stop_the_start_naming_the_file_and_offset() {
    let path = fresh_path("damaged");
    std::fs::create_dir(&path).unwrap();
    let server = start(&path, &[]);
    let mut con = server.redis();
    for i in 0..10 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut con).unwrap();
    }
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(wait_for_rewrite(&mut con), "ok");
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut con).unwrap();
    assert!(server.stop().success());
    let base = base_of(&path);
    let good = std::fs::read(&base).unwrap();

    // A flipped byte at the start of the third record of the base.
    let third = {
        let mut starts = good.windows(3).enumerate().filter(|(_, w)| w[0] == b'*' && w[2] == b'\r').map(|(i, _)| i);
        starts.nth(2).unwrap()
    };
    let mut bad = good.clone();
    bad[third] = b'X';
    std::fs::write(&base, &bad).unwrap();
    let stderr = refused_start(&path);
    let name = base.file_name().unwrap().to_str().unwrap();
    assert!(stderr.contains(name) && stderr.contains(&format!("offset {third}")), "{stderr}");

    // A base cut short is not a crash's torn tail (it was fsynced before it was listed): refused.
    std::fs::write(&base, &good[..good.len() - 3]).unwrap();
    let stderr = refused_start(&path);
    assert!(stderr.contains(name) && stderr.contains("ends inside a record"), "{stderr}");
    std::fs::write(&base, &good).unwrap();

    // A manifest naming a file that is not there.
    let manifest_path = path.join("appendonly.aof.manifest");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(&manifest_path, format!("{text}file appendonly.aof.9.incr.aof seq 9 type i\n")).unwrap();
    let stderr = refused_start(&path);
    assert!(stderr.contains("appendonly.aof.9.incr.aof"), "{stderr}");

    // A manifest that is not one.
    std::fs::write(&manifest_path, "file appendonly.aof.1.incr.aof seq one type i\n").unwrap();
    let stderr = refused_start(&path);
    assert!(stderr.contains("manifest") && stderr.contains("line 1"), "{stderr}");

    // Repaired, it loads everything.
    std::fs::write(&manifest_path, &text).unwrap();
    let server = start(&path, &[]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["DBSIZE"]), ":11\r\n");
}

/// Bonus: an `appendonlydir` written by redis-server 7 (strings, an expiry, two databases) loads,
/// with an AOF-format base and with Redis's default RDB-preamble base.
#[test]
fn an_appendonlydir_written_by_redis_loads() {
    for preamble in ["no", "yes"] {
        let dir = fresh_path(&format!("redis-dir-{preamble}"));
        std::fs::create_dir_all(&dir).unwrap();
        let Some(redis) = Redis::start_with(&[
            "--appendonly",
            "yes",
            "--dir",
            dir.to_str().unwrap(),
            "--aof-use-rdb-preamble",
            preamble,
            "--appendfsync",
            "always",
        ]) else {
            return;
        };
        let mut con = redis.connect();
        for words in [&["SET", "a", "1"][..], &["SET", "t", "v", "EX", "1000"], &["SELECT", "3"], &["SET", "b", "2"]] {
            call_str(&mut con, words);
        }
        assert_eq!(call_str(&mut con, &["BGREWRITEAOF"]), "+Background append only file rewriting started\r\n");
        retry_until("redis's rewrite", || {
            let info = call_str(&mut con, &["INFO", "persistence"]);
            (info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")).then_some(())
        });
        drop(con);
        drop(redis);
        let server = start(&dir.join("appendonlydir"), &[]);
        let mut con = server.connect();
        assert_eq!(call_str(&mut con, &["GET", "a"]), "$1\r\n1\r\n", "preamble {preamble}");
        let ttl = call_str(&mut con, &["TTL", "t"]);
        let ttl: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
        assert!(0 < ttl && ttl <= 1000, "preamble {preamble}: {ttl}");
        assert_eq!(call_str(&mut con, &["SELECT", "3"]), "+OK\r\n");
        assert_eq!(call_str(&mut con, &["GET", "b"]), "$1\r\n2\r\n");
    }
}

#[test]
fn an_rdb_base_is_a_snapshot_that_tinykv_and_redis_load() {
    let path = fresh_path("rdb-base");
    let server = Server::start_with(&["--appendonly", path.to_str().unwrap(), "--appendfsync", "always"]);
    let mut con = server.redis();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(format!("value:{i}")).ignore();
    }
    pipe.cmd("SET").arg("ttl").arg("v").arg("EX").arg(1000).ignore();
    pipe.cmd("HSET").arg("h").arg("f").arg("v").ignore();
    pipe.cmd("SADD").arg("s").arg("m").ignore();
    pipe.cmd("SELECT").arg(2).ignore().cmd("SET").arg("in2").arg("x").ignore().cmd("SELECT").arg(0).ignore();
    let _: () = pipe.query(&mut con).unwrap();
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    assert_eq!(wait_for_rewrite(&mut con), "ok");
    // Written after the switch: in the increment.
    let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut con).unwrap();
    let base = base_of(&path);
    assert!(base.to_string_lossy().ends_with(".base.rdb"), "{}", base.display());
    let bytes = std::fs::read(&base).unwrap();
    assert!(bytes.starts_with(b"REDIS0010"), "the base is an RDB file");
    drop(con);
    drop(server);

    // TinyKV loads base and increment.
    let check = |con: &mut redis::Connection, who: &str| {
        let get = |con: &mut redis::Connection, key: &str| -> Option<String> {
            redis::cmd("GET").arg(key).query(con).unwrap()
        };
        assert_eq!(get(con, "key:1999").as_deref(), Some("value:1999"), "{who}");
        assert_eq!(get(con, "after").as_deref(), Some("1"), "{who}");
        let ttl: i64 = redis::cmd("TTL").arg("ttl").query(con).unwrap();
        assert!(0 < ttl && ttl <= 1000, "{who}: {ttl}");
        let field: Option<String> = redis::cmd("HGET").arg("h").arg("f").query(con).unwrap();
        assert_eq!(field.as_deref(), Some("v"), "{who}");
        let member: bool = redis::cmd("SISMEMBER").arg("s").arg("m").query(con).unwrap();
        assert!(member, "{who}");
        let dbsize: usize = redis::cmd("DBSIZE").query(con).unwrap();
        assert_eq!(dbsize, 2004, "{who}");
        let _: () = redis::cmd("SELECT").arg(2).query(con).unwrap();
        assert_eq!(get(con, "in2").as_deref(), Some("x"), "{who}");
    };
    let server = Server::start_with(&["--appendonly", path.to_str().unwrap()]);
    check(&mut server.redis(), "tinykv");
    drop(server);

    // And so does redis-server, from a copy of the directory.
    let dir = fresh_path("rdb-base-redis");
    std::fs::create_dir_all(dir.join("appendonlydir")).unwrap();
    for file in std::fs::read_dir(&path).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), dir.join("appendonlydir").join(file.file_name())).unwrap();
    }
    let Some(redis) = Redis::start_with(&["--appendonly", "yes", "--dir", dir.to_str().unwrap()]) else { return };
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port())).unwrap();
    let mut con = retry_until("redis-server to load", || {
        let mut con = client.get_connection().ok()?;
        redis::cmd("PING").query::<String>(&mut con).ok().map(|_| con)
    });
    check(&mut con, "redis-server");
}
