//! Crash loop (issue 9): `kill -9` at random moments, many cycles, with `--appendfsync always`.
//! Three clients write strings, counters, hashes, sets and deletions, each keeping a model of what
//! the server acknowledged; at a random moment the main thread may start an AOF rewrite or a
//! BGSAVE, and at another random moment kills the server. After each restart from the same
//! directory every acknowledged write must be there, and nothing that was not written may appear:
//! each key equals its model, except the one key a client was writing when the server died, which
//! may hold its value from before or after that write.
//!
//! CI runs a few cycles (`TINYKV_CRASH_CYCLES`, default 6; the seed is printed and can be set with
//! `TINYKV_CRASH_SEED`); `TINYKV_CRASH_CYCLES=200 cargo test -p tinykv-tests --test crash_loop`
//! is the long version.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tinykv_tests::differential::Rng;
use tinykv_tests::{fresh_dir, Server};

/// What a key holds, as a client's model has it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    Hash(BTreeMap<String, String>),
    Set(BTreeSet<String>),
}

/// One client's keys and, while a write is out, the key it touches.
#[derive(Debug, Default)]
struct Model {
    keys: BTreeMap<String, Value>,
    in_flight: Option<String>,
}

const KEYS_PER_CLIENT: usize = 64;
const CLIENTS: usize = 3;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn start(dir: &Path) -> Server {
    let aof = dir.join("appendonlydir");
    Server::start_with(&[
        "--appendonly",
        aof.to_str().unwrap(),
        "--appendfsync",
        "always",
        "--dir",
        dir.to_str().unwrap(),
        "--dbfilename",
        "dump.rdb",
        "--save",
        "",
        // Small, so rewrites also start by themselves now and then.
        "--auto-aof-rewrite-min-size",
        "256kb",
        "--auto-aof-rewrite-percentage",
        "50",
    ])
}

/// Reads a key back as the model would hold it.
fn read(con: &mut redis::Connection, key: &str) -> Option<Value> {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).expect("TYPE");
    match kind.as_str() {
        "none" => None,
        "string" => Some(Value::Str(redis::cmd("GET").arg(key).query(con).expect("GET"))),
        "hash" => Some(Value::Hash(redis::cmd("HGETALL").arg(key).query(con).expect("HGETALL"))),
        "set" => Some(Value::Set(redis::cmd("SMEMBERS").arg(key).query(con).expect("SMEMBERS"))),
        other => panic!("{key} has type {other}, which no client wrote"),
    }
}

/// One write: the command, and the key's value after it according to the model.
fn next_write(rng: &mut Rng, client: usize, model: &Model, serial: u64) -> (redis::Cmd, String, Option<Value>) {
    let n = rng.below(KEYS_PER_CLIENT);
    let before = |key: &str| model.keys.get(key).cloned();
    match rng.below(10) {
        0..=2 => {
            let key = format!("c{client}:s{n}");
            let value = format!("v{serial}");
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(&value);
            (cmd, key, Some(Value::Str(value)))
        }
        3 => {
            let key = format!("c{client}:n{n}");
            let now = match before(&key) {
                Some(Value::Str(text)) => text.parse::<i64>().expect("a counter") + 1,
                _ => 1,
            };
            let mut cmd = redis::cmd("INCR");
            cmd.arg(&key);
            (cmd, key, Some(Value::Str(now.to_string())))
        }
        4..=5 => {
            let key = format!("c{client}:h{n}");
            let field = format!("f{}", rng.below(8));
            let value = format!("v{serial}");
            let mut fields = match before(&key) {
                Some(Value::Hash(fields)) => fields,
                _ => BTreeMap::new(),
            };
            fields.insert(field.clone(), value.clone());
            let mut cmd = redis::cmd("HSET");
            cmd.arg(&key).arg(field).arg(value);
            (cmd, key, Some(Value::Hash(fields)))
        }
        6..=7 => {
            let key = format!("c{client}:t{n}");
            let member = format!("m{}", rng.below(12));
            let mut members = match before(&key) {
                Some(Value::Set(members)) => members,
                _ => BTreeSet::new(),
            };
            let mut cmd = if rng.chance(30) && members.contains(&member) {
                members.remove(&member);
                redis::cmd("SREM")
            } else {
                members.insert(member.clone());
                redis::cmd("SADD")
            };
            cmd.arg(&key).arg(member);
            let after = (!members.is_empty()).then_some(Value::Set(members));
            (cmd, key, after)
        }
        _ => {
            let kinds = ["s", "n", "h", "t"];
            let key = format!("c{client}:{}{n}", kinds[rng.below(kinds.len())]);
            let mut cmd = redis::cmd("DEL");
            cmd.arg(&key);
            (cmd, key, None)
        }
    }
}

/// Writes until the server goes away (or `stop`), keeping `model` to what was acknowledged.
fn keep_writing(server_addr: String, client: usize, mut model: Model, seed: u64, stop: Arc<AtomicBool>) -> Model {
    let mut rng = Rng(seed);
    let Ok(mut con) = redis::Client::open(server_addr).and_then(|c| c.get_connection()) else { return model };
    let mut serial = seed % 1_000_000 * 1_000_000;
    while !stop.load(Ordering::Relaxed) {
        serial += 1;
        let (cmd, key, after) = next_write(&mut rng, client, &model, serial);
        model.in_flight = Some(key.clone());
        if cmd.query::<redis::Value>(&mut con).is_err() {
            return model;
        }
        match after {
            Some(value) => model.keys.insert(key, value),
            None => model.keys.remove(&key),
        };
        model.in_flight = None;
    }
    model
}

/// Checks every key of every model against the restarted server; the in-flight key is taken as
/// the server has it (either side of its write), and the model follows.
fn verify(server: &Server, models: &mut [Model], cycle: u64) {
    let mut con = server.redis();
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    let mut expected_keys = 0;
    for model in models.iter_mut() {
        if let Some(key) = model.in_flight.take() {
            match read(&mut con, &key) {
                Some(value) => model.keys.insert(key, value),
                None => model.keys.remove(&key),
            };
        }
        for (key, value) in &model.keys {
            assert_eq!(read(&mut con, key).as_ref(), Some(value), "cycle {cycle}: {key} lost or changed");
        }
        expected_keys += model.keys.len();
    }
    assert_eq!(dbsize, expected_keys, "cycle {cycle}: keys nobody acknowledged appeared");
}

#[test]
fn kill_9_at_random_moments_loses_no_acknowledged_write() {
    let cycles = env_number("TINYKV_CRASH_CYCLES", 6);
    let seed = env_number("TINYKV_CRASH_SEED", std::process::id() as u64);
    println!("crash loop: {cycles} cycles, TINYKV_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = fresh_dir("crash-loop");
    let mut models: Vec<Model> = (0..CLIENTS).map(|_| Model::default()).collect();
    for cycle in 0..cycles {
        let mut server = start(&dir);
        verify(&server, &mut models, cycle);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = std::mem::take(&mut models)
            .into_iter()
            .enumerate()
            .map(|(client, model)| {
                let (addr, stop, seed) = (format!("redis://{}/", server.addr), Arc::clone(&stop), rng.next_u64());
                std::thread::spawn(move || keep_writing(addr, client, model, seed, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rng.below(300) as u64));
        let mut con = server.redis();
        let during = match rng.below(4) {
            0 => "BGREWRITEAOF",
            1 => "BGSAVE",
            2 => "BGSAVE+BGREWRITEAOF",
            _ => "writes",
        };
        for command in during.split('+').filter(|c| *c != "writes") {
            // Refused when one is already running: the kill still lands during it.
            let _ = redis::cmd(command).query::<redis::Value>(&mut con);
        }
        std::thread::sleep(Duration::from_millis(rng.below(100) as u64));
        server.signal(libc::SIGKILL);
        assert!(server.wait_for_exit(Duration::from_secs(20)).is_some(), "kill -9 ended the server");
        stop.store(true, Ordering::Relaxed);
        models = writers.into_iter().map(|w| w.join().expect("writer")).collect();
        let acknowledged: usize = models.iter().map(|m| m.keys.len()).sum();
        println!("cycle {cycle}: killed during {during}, {acknowledged} keys in the models");
    }
    let server = start(&dir);
    verify(&server, &mut models, cycles);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
