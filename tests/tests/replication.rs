//! Replication end to end, both ways: TinyKV as a primary of redis-server 7.0 and of TinyKV, TinyKV as
//! a replica of redis-server. Each starts from a data set of every type (and TTLs) in several
//! databases, streams 100,000 writes (the replica attaching while they run), cuts the link in the
//! middle (it must resume with `+CONTINUE`, not a second full sync), and compares the two data sets
//! key by key: SCAN + TYPE + value + PEXPIRETIME (the absolute expiry, which the stream carries).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tinykv_tests::differential::{Redis, Rng};
use tinykv_tests::{call, call_str, read_reply, resp, retry_until, Server, DEADLINE};

/// Databases the workload writes to.
const DATABASES: usize = 3;

/// A RESP2 value, parsed from a raw reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Value>),
}

fn parse(bytes: &[u8]) -> Value {
    fn line(bytes: &[u8], at: &mut usize) -> String {
        let end = bytes[*at..].windows(2).position(|w| w == b"\r\n").expect("a line") + *at;
        let text = String::from_utf8_lossy(&bytes[*at + 1..end]).into_owned();
        *at = end + 2;
        text
    }
    fn value(bytes: &[u8], at: &mut usize) -> Value {
        let tag = bytes[*at];
        let text = line(bytes, at);
        match tag {
            b'+' => Value::Text(text),
            b'-' => Value::Error(text),
            b':' => Value::Int(text.parse().expect("integer")),
            b'$' => match text.parse::<i64>().expect("length") {
                n if n < 0 => Value::Bulk(None),
                n => {
                    let body = bytes[*at..*at + n as usize].to_vec();
                    *at += n as usize + 2;
                    Value::Bulk(Some(body))
                }
            },
            b'*' => Value::Array((0..text.parse::<i64>().expect("count").max(0)).map(|_| value(bytes, at)).collect()),
            other => panic!("unexpected RESP tag {other}"),
        }
    }
    value(bytes, &mut 0)
}

fn bulks(value: Value) -> Vec<Vec<u8>> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Bulk(Some(bytes)) => bytes,
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn connect(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    // Speak first, so a connection left idle while the test waits on another server is not
    // greeted (`--greeting auto` greets a client silent for 100 ms); on a loaded machine even this
    // PING may come late, so a greeting before its reply is skipped.
    // A replica still loading its primary's snapshot answers `-LOADING`, as Redis's does: asked again.
    retry_until("a PONG, not -LOADING", || {
        stream.write_all(&resp(&[b"PING"])).expect("send PING");
        let mut reply = read_reply(&mut stream);
        if reply == b"+TinyKV ready\r\n" {
            reply = read_reply(&mut stream);
        }
        if reply.starts_with(b"-LOADING") {
            return None;
        }
        assert_eq!(reply, b"+PONG\r\n");
        Some(())
    });
    stream
}

/// One field of `INFO replication`.
fn info(stream: &mut TcpStream, field: &str) -> Option<String> {
    let Value::Bulk(Some(text)) = parse(&call(stream, &[b"INFO", b"replication"])) else { return None };
    let text = String::from_utf8_lossy(&text).into_owned();
    text.lines().find_map(|line| line.strip_prefix(&format!("{field}:")).map(str::to_owned))
}

/// What one key holds: type, value (collections sorted), expiry (PEXPIRETIME, -1 for none).
type Dump = BTreeMap<(usize, Vec<u8>), (String, Vec<Vec<u8>>, i64)>;

/// Every live key of the first [`DATABASES`] databases.
fn dump(stream: &mut TcpStream) -> Dump {
    let mut all = Dump::new();
    for db in 0..DATABASES {
        assert_eq!(call_str(stream, &["SELECT", &db.to_string()]), "+OK\r\n");
        let mut cursor = b"0".to_vec();
        loop {
            let Value::Array(reply) = parse(&call(stream, &[b"SCAN", &cursor, b"COUNT", b"1000"])) else {
                panic!("SCAN reply")
            };
            let mut reply = reply.into_iter();
            let Some(Value::Bulk(Some(next))) = reply.next() else { panic!("SCAN cursor") };
            for key in bulks(reply.next().expect("SCAN keys")) {
                let Value::Text(kind) = parse(&call(stream, &[b"TYPE", &key])) else { panic!("TYPE") };
                let mut value = match kind.as_str() {
                    "string" => vec![match parse(&call(stream, &[b"GET", &key])) {
                        Value::Bulk(Some(bytes)) => bytes,
                        _ => continue, // expired between SCAN and GET
                    }],
                    "hash" => {
                        let flat = bulks(parse(&call(stream, &[b"HGETALL", &key])));
                        flat.chunks(2).map(|pair| [pair[0].clone(), b"=".to_vec(), pair[1].clone()].concat()).collect()
                    }
                    "set" => bulks(parse(&call(stream, &[b"SMEMBERS", &key]))),
                    // In order: a list's order is its content.
                    "list" => {
                        let mut items = bulks(parse(&call(stream, &[b"LRANGE", &key, b"0", b"-1"])));
                        items.insert(0, b"list:".to_vec());
                        items
                    }
                    "none" => continue,
                    other => panic!("unexpected type {other}"),
                };
                if kind != "list" {
                    value.sort();
                }
                // The absolute time, which replicas get as such: comparable however long the dumps take.
                let Value::Int(pttl) = parse(&call(stream, &[b"PEXPIRETIME", &key])) else { panic!("PEXPIRETIME") };
                all.insert((db, key), (kind, value, pttl));
            }
            if next == b"0" {
                break;
            }
            cursor = next;
        }
    }
    all
}

/// The first difference between two dumps; `None` when they agree.
fn difference(primary: &Dump, replica: &Dump) -> Option<String> {
    for (key, (kind, value, pttl)) in primary {
        let Some((their_kind, their_value, their_pttl)) = replica.get(key) else {
            return Some(format!("{key:?} missing on the replica"));
        };
        if kind != their_kind || value != their_value {
            let show = |v: &Vec<Vec<u8>>| {
                v.iter().map(|x| String::from_utf8_lossy(x).into_owned()).collect::<Vec<_>>().join(",")
            };
            return Some(format!(
                "{key:?}: {kind} [{}] on the primary, {their_kind} [{}] on the replica",
                show(value),
                show(their_value)
            ));
        }
        if pttl != their_pttl {
            return Some(format!("{key:?}: PEXPIRETIME {pttl} on the primary, {their_pttl} on the replica"));
        }
    }
    replica.keys().find(|key| !primary.contains_key(*key)).map(|key| format!("{key:?} only on the replica"))
}

/// Waits until the replica has applied everything the primary streamed and both hold the same data.
fn assert_same_data(primary: u16, replica: u16) -> usize {
    let (mut primary, mut replica) = (connect(primary), connect(replica));
    let start = Instant::now();
    loop {
        let synced = info(&mut primary, "master_repl_offset") == info(&mut replica, "master_repl_offset")
            && info(&mut replica, "master_link_status").as_deref() == Some("up");
        let (ours, theirs) = (dump(&mut primary), dump(&mut replica));
        let diff = if synced { difference(&ours, &theirs) } else { Some("offsets differ".to_owned()) };
        match diff {
            None => return ours.len(),
            Some(diff) if start.elapsed() > DEADLINE => {
                panic!("the replica's (port {}) data differs: {diff}", replica.peer_addr().map_or(0, |a| a.port()))
            }
            Some(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A write of the workload: strings (some with TTLs, some expiring within 200 ms), hashes, sets,
/// lists, counters, deletes and expiry changes, over three databases.
fn write(rng: &mut Rng) -> Vec<String> {
    let n = rng.below(3000);
    let (h, t) = (format!("h:{}", n % 400), format!("t:{}", n % 400));
    let word = |rng: &mut Rng, prefix: &str, range: usize| format!("{prefix}{}", rng.below(range));
    let words: Vec<String> = match rng.below(27) {
        0..=3 => vec!["SET".into(), format!("s:{n}"), word(rng, "v", 1_000_000)],
        4 => {
            vec!["SET".into(), format!("s:{n}"), word(rng, "v", 1000), "EX".into(), (100 + rng.below(1000)).to_string()]
        }
        5 => vec!["SET".into(), format!("e:{n}"), "short".into(), "PX".into(), (1 + rng.below(200)).to_string()],
        6 | 7 => vec!["HSET".into(), h, word(rng, "f", 40), word(rng, "v", 1000)],
        8 => vec!["HDEL".into(), h, word(rng, "f", 40)],
        9 => vec!["HINCRBY".into(), h, "count".into(), "3".into()],
        10 | 11 => vec!["SADD".into(), t, word(rng, "m", 60), word(rng, "m", 60)],
        12 => vec!["SREM".into(), t, word(rng, "m", 60)],
        13 => vec!["SPOP".into(), t],
        14 => vec!["DEL".into(), rng.pick(&["s:", "h:", "t:"]).to_owned() + &(n % 400).to_string()],
        15 => vec!["EXPIRE".into(), h, (200 + rng.below(500)).to_string()],
        16 => vec!["PERSIST".into(), h],
        17 => vec!["INCR".into(), format!("c:{}", n % 50)],
        18 => vec!["APPEND".into(), format!("s:{n}"), "+".into()],
        19 => vec!["MSET".into(), format!("s:{n}"), "m1".into(), format!("s:{}", n + 1), "m2".into()],
        20 => vec!["SELECT".into(), rng.below(DATABASES).to_string()],
        21 => vec!["SINTERSTORE".into(), format!("t:{}", n % 7), t, format!("t:{}", (n + 1) % 400)],
        22 | 23 => vec![rng.pick(&["RPUSH", "LPUSH"]).into(), format!("l:{}", n % 200), word(rng, "e", 1000)],
        24 => vec![rng.pick(&["LPOP", "RPOP"]).into(), format!("l:{}", n % 200)],
        25 => vec![
            "LMOVE".into(),
            format!("l:{}", n % 200),
            format!("l:{}", (n + 7) % 200),
            "LEFT".into(),
            "RIGHT".into(),
        ],
        _ => vec!["LTRIM".into(), format!("l:{}", n % 200), "0".into(), "20".into()],
    };
    words
}

/// Sends `count` writes of the workload on `stream`, pipelined 500 at a time; `at` is called with
/// the number sent so far between batches (to cut the link mid-stream).
fn stream_writes(stream: &mut TcpStream, seed: u64, count: usize, mut at: impl FnMut(usize)) {
    let mut rng = Rng(seed);
    let mut sent = 0;
    while sent < count {
        let batch = 500.min(count - sent);
        let mut out = Vec::new();
        for _ in 0..batch {
            let words = write(&mut rng);
            let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            out.extend_from_slice(&resp(&args));
        }
        stream.write_all(&out).expect("write");
        for _ in 0..batch {
            let reply = read_reply(stream);
            assert!(!reply.starts_with(b"-ERR"), "{}", String::from_utf8_lossy(&reply));
        }
        sent += batch;
        at(sent);
    }
}

/// A data set of every type, with TTLs, in three databases: 6,000 strings, 300 hashes of 30 fields,
/// 300 sets of 30 members, 300 lists of 10 elements.
fn populate(port: u16) {
    let mut stream = connect(port);
    let mut out = Vec::new();
    for db in 0..DATABASES {
        out.extend_from_slice(&resp(&[b"SELECT", db.to_string().as_bytes()]));
        for i in 0..2000 {
            let key = format!("s:{i}");
            if i % 5 == 0 {
                out.extend_from_slice(&resp(&[b"SET", key.as_bytes(), b"value", b"EX", b"5000"]));
            } else {
                out.extend_from_slice(&resp(&[b"SET", key.as_bytes(), format!("value-{i}").as_bytes()]));
            }
        }
        for i in 0..100 {
            let (h, t) = (format!("h:{i}"), format!("t:{i}"));
            for j in 0..30 {
                out.extend_from_slice(&resp(&[b"HSET", h.as_bytes(), format!("f{j}").as_bytes(), b"v"]));
                out.extend_from_slice(&resp(&[b"SADD", t.as_bytes(), format!("m{j}").as_bytes()]));
            }
            if i % 4 == 0 {
                out.extend_from_slice(&resp(&[b"EXPIRE", h.as_bytes(), b"9000"]));
            }
            let l = format!("l:{i}");
            for j in 0..10 {
                out.extend_from_slice(&resp(&[b"RPUSH", l.as_bytes(), format!("e{j}").as_bytes()]));
            }
        }
    }
    let commands = out.windows(3).filter(|w| w == b"\r\n*").count() + 1;
    stream.write_all(&out).expect("write");
    for _ in 0..commands {
        read_reply(&mut stream);
    }
}

/// A redis-server replica's extra arguments: its own directory (a replica writes the RDB it
/// receives to disk), and the primary.
fn redis_replica(dir: &std::path::Path, primary: u16) -> Option<Redis> {
    let dir = dir.to_str().expect("utf-8 temp dir");
    Redis::start_with(&["--dir", dir, "--replicaof", "127.0.0.1", &primary.to_string()])
}

fn count(log: &str, what: &str) -> usize {
    log.matches(what).count()
}

#[test]
fn redis_server_replicates_a_tinykv_primary_through_a_cut_link() {
    let primary = Server::start();
    populate(primary.port());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut writer = connect(primary.port());
    // The replica attaches while the writes stream: its full sync runs under them.
    let mut replica = None;
    stream_writes(&mut writer, 7, 100_000, |sent| {
        if sent == 1000 {
            replica = redis_replica(dir.path(), primary.port());
        }
        if sent == 50_000 && replica.is_some() {
            // Cut the link mid-stream: Redis reconnects with PSYNC <replid> <offset>.
            let mut admin = connect(primary.port());
            retry_until("the replica to be online", || {
                info(&mut admin, "slave0").filter(|line| line.contains("state=online"))
            });
            assert_eq!(call_str(&mut admin, &["CLIENT", "KILL", "TYPE", "replica"]), ":1\r\n");
        }
    });
    let Some(replica) = replica else { return };
    let keys = assert_same_data(primary.port(), replica.port());
    assert!(keys > 6000, "{keys} keys compared");
    let log = primary.log();
    assert_eq!(count(&log, "starting a full resynchronization"), 1, "{log}");
    assert_eq!(count(&log, "partial resynchronization accepted"), 1, "{log}");
}

#[test]
fn tinykv_replicates_a_redis_server_primary() {
    let Some(primary) = Redis::start() else { return };
    populate(primary.port());
    let mut writer = connect(primary.port());
    let mut replica = None;
    stream_writes(&mut writer, 11, 100_000, |sent| {
        if sent == 1000 {
            replica = Some(Server::start_with(&["--replicaof", &format!("127.0.0.1 {}", primary.port())]));
        }
        if sent == 50_000 {
            let replica = replica.as_ref().expect("started");
            let mut admin = connect(replica.port());
            retry_until("the link to be up", || info(&mut admin, "master_link_status").filter(|s| s == "up"));
            assert_eq!(call_str(&mut admin, &["CLIENT", "KILL", "TYPE", "master"]), ":1\r\n");
        }
    });
    let replica = replica.expect("started");
    let keys = assert_same_data(primary.port(), replica.port());
    assert!(keys > 6000, "{keys} keys compared");
    let log = replica.log();
    assert_eq!(count(&log, "full resync from the primary"), 1, "{log}");
    assert_eq!(count(&log, "partial resync accepted by the primary"), 1, "{log}");
}

#[test]
fn tinykv_replicates_tinykv_and_a_chained_replica_follows() {
    let primary = Server::start();
    populate(primary.port());
    let mut writer = connect(primary.port());
    let mut replica = None;
    let mut chained = None;
    stream_writes(&mut writer, 13, 100_000, |sent| {
        if sent == 1000 {
            replica = Some(Server::start_with(&["--replicaof", &format!("127.0.0.1 {}", primary.port())]));
        }
        if sent == 20_000 {
            let port = replica.as_ref().expect("started").port();
            let mut admin = connect(port);
            retry_until("the link to be up", || info(&mut admin, "master_link_status").filter(|s| s == "up"));
            chained = Some(Server::start_with(&["--replicaof", &format!("127.0.0.1 {port}")]));
        }
        if sent == 50_000 {
            let mut admin = connect(primary.port());
            assert_eq!(call_str(&mut admin, &["CLIENT", "KILL", "TYPE", "replica"]), ":1\r\n");
        }
    });
    let (replica, chained) = (replica.expect("started"), chained.expect("started"));
    assert_same_data(primary.port(), replica.port());
    assert_same_data(primary.port(), chained.port());
    assert_eq!(count(&replica.log(), "full resync from the primary"), 1, "{}", replica.log());
    assert!(count(&replica.log(), "partial resync accepted by the primary") >= 1, "{}", replica.log());

    // The replica is read-only, answers ROLE, and its offset is the primary's.
    let mut stream = connect(replica.port());
    assert_eq!(call_str(&mut stream, &["SET", "k", "v"]), "-READONLY You can't write against a read only replica.\r\n");
    let role = call_str(&mut stream, &["ROLE"]);
    assert!(
        role.starts_with(&format!(
            "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:{}\r\n$9\r\nconnected\r\n:",
            primary.port()
        )),
        "{role}"
    );
}

#[test]
fn replicas_never_expire_keys_themselves_their_primary_deletes_them() {
    let primary = Server::start_with(&["--enable-debug-command", "yes"]);
    let replica = Server::start_with(&["--replicaof", &format!("127.0.0.1 {}", primary.port())]);
    let (mut p, mut r) = (connect(primary.port()), connect(replica.port()));
    retry_until("the link to be up", || info(&mut r, "master_link_status").filter(|s| s == "up"));
    assert_eq!(call_str(&mut p, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    assert_eq!(call_str(&mut p, &["SET", "soon", "v", "PX", "500"]), "+OK\r\n");
    retry_until("the key to reach the replica", || (call_str(&mut r, &["DBSIZE"]) == ":1\r\n").then_some(()));
    // Once expired it reads as gone on the replica, but stays until the primary deletes it.
    retry_until("the key to expire", || (call_str(&mut r, &["GET", "soon"]) == "$-1\r\n").then_some(()));
    assert_eq!(call_str(&mut r, &["DBSIZE"]), ":1\r\n");
    // The primary finds it expired (a lookup): its DEL reaches the replica.
    assert_eq!(call_str(&mut p, &["GET", "soon"]), "$-1\r\n");
    retry_until("the primary's DEL", || (call_str(&mut r, &["DBSIZE"]) == ":0\r\n").then_some(()));
}

#[test]
fn wait_counts_acknowledging_replicas_and_min_replicas_refuses_writes() {
    let primary = Server::start_with(&["--min-replicas-to-write", "1"]);
    let mut p = connect(primary.port());
    assert_eq!(call_str(&mut p, &["SET", "k", "v"]), "-NOREPLICAS Not enough good replicas to write.\r\n");
    assert_eq!(call_str(&mut p, &["WAIT", "0", "0"]), ":0\r\n");
    let replica = Server::start_with(&["--replicaof", &format!("127.0.0.1 {}", primary.port())]);
    retry_until("a good replica", || (call_str(&mut p, &["SET", "k", "v"]) == "+OK\r\n").then_some(()));
    assert_eq!(call_str(&mut p, &["WAIT", "1", "0"]), ":1\r\n");
    // Two asked for, one there: the timeout answers with the one.
    assert_eq!(call_str(&mut p, &["WAIT", "2", "50"]), ":1\r\n");
    let mut r = connect(replica.port());
    assert_eq!(call_str(&mut r, &["GET", "k"]), "$1\r\nv\r\n");
    assert!(call_str(&mut r, &["WAIT", "1", "10"]).starts_with("-ERR WAIT cannot be used with replica instances"));
    // Promoted, it takes writes and keeps its data; the old primary's replication id is its second.
    assert_eq!(call_str(&mut r, &["REPLICAOF", "NO", "ONE"]), "+OK\r\n");
    assert_eq!(call_str(&mut r, &["SET", "k2", "v2"]), "+OK\r\n");
    assert_eq!(info(&mut r, "master_replid2"), info(&mut p, "master_replid"));
    assert_eq!(call_str(&mut r, &["ROLE"]).lines().nth(1), Some("$6"));
}

/// A fake primary: answers the handshake, then does `after_psync` with the socket.
fn fake_primary(after_psync: impl FnOnce(&mut TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else { return };
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        for reply in ["+PONG\r\n", "+OK\r\n", "+OK\r\n"] {
            read_reply(&mut stream);
            stream.write_all(reply.as_bytes()).unwrap();
        }
        read_reply(&mut stream);
        stream.write_all(b"+FULLRESYNC 0123456789012345678901234567890123456789 0\r\n").unwrap();
        after_psync(&mut stream);
        // Further attempts are refused (the listener is gone): the replica keeps retrying.
    });
    port
}

#[test]
fn a_broken_primary_leaves_the_replica_data_untouched_and_is_retried() {
    let replica = Server::start();
    let mut r = connect(replica.port());
    assert_eq!(call_str(&mut r, &["SET", "mine", "1"]), "+OK\r\n");

    // An RDB cut off mid-transfer.
    let port = fake_primary(|stream| {
        stream.write_all(b"$1000\r\nREDIS0010").unwrap();
    });
    assert_eq!(call_str(&mut r, &["REPLICAOF", "127.0.0.1", &port.to_string()]), "+OK\r\n");
    retry_until("the failed transfer in the log", || replica.log().contains("RDB transfer failed").then_some(()));
    assert_eq!(call_str(&mut r, &["GET", "mine"]), "$1\r\n1\r\n");
    assert_eq!(info(&mut r, "master_link_status").as_deref(), Some("down"));

    // A corrupted RDB (a bad checksum), whole.
    let port = fake_primary(|stream| {
        let rdb = b"REDIS0010\xfe\x00\x00\x01k\x01v\xff\x01\x02\x03\x04\x05\x06\x07\x08";
        stream.write_all(format!("${}\r\n", rdb.len()).as_bytes()).unwrap();
        stream.write_all(rdb).unwrap();
    });
    assert_eq!(call_str(&mut r, &["REPLICAOF", "127.0.0.1", &port.to_string()]), "+OK\r\n");
    retry_until("the load failure in the log", || replica.log().contains("could not be loaded").then_some(()));
    assert_eq!(call_str(&mut r, &["GET", "mine"]), "$1\r\n1\r\n");
    assert_eq!(call_str(&mut r, &["GET", "k"]), "$-1\r\n");
    assert!(replica.log().contains("wrong RDB checksum"), "{}", replica.log());

    // A port that is not Redis: an HTTP server's answer.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    assert_eq!(call_str(&mut r, &["REPLICAOF", "127.0.0.1", &port.to_string()]), "+OK\r\n");
    retry_until("the refusal in the log", || replica.log().contains("is this a Redis server?").then_some(()));

    // Itself.
    assert_eq!(call_str(&mut r, &["REPLICAOF", "127.0.0.1", &replica.port().to_string()]), "+OK\r\n");
    retry_until("the refusal in the log", || replica.log().contains("points at this server itself").then_some(()));
    assert_eq!(call_str(&mut r, &["GET", "mine"]), "$1\r\n1\r\n");
    assert_eq!(call_str(&mut r, &["REPLICAOF", "NO", "ONE"]), "+OK\r\n");
    assert_eq!(call_str(&mut r, &["SET", "mine", "2"]), "+OK\r\n");
}

#[test]
fn a_replica_that_sends_junk_after_psync_is_dropped() {
    let primary = Server::start();
    let mut stream = connect(primary.port());
    assert_eq!(call_str(&mut stream, &["REPLCONF", "capa", "eof"]), "+OK\r\n");
    stream.write_all(&resp(&[b"PSYNC", b"?", b"-1"])).unwrap();
    let line = tinykv_tests::read_line(&mut stream);
    assert!(line.starts_with(b"+FULLRESYNC "), "{}", String::from_utf8_lossy(&line));
    stream.write_all(b"*1\r\n$3\r\nFOO\r\n").unwrap();
    retry_until("the log line", || primary.log().contains("unexpected command from the replica: FOO").then_some(()));
    let mut admin = connect(primary.port());
    retry_until("the replica to be gone", || {
        (info(&mut admin, "connected_slaves").as_deref() == Some("0")).then_some(())
    });
    assert_eq!(call_str(&mut admin, &["PING"]), "+PONG\r\n");
}
