//! `BGSAVE` is a point-in-time snapshot without fork (issue 9): while clients keep writing, the file
//! holds the keyspace of one instant. Writers keep invariants that only a single instant satisfies —
//! pairs of keys in different shards set together by one `MSET`, and keys created by `MSET` together
//! with a counter of how many exist — and the saved file, loaded into a fresh server, must satisfy
//! every one of them. A walk that copied shards at different moments breaks them within a few saves.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tinykv_tests::{fresh_dir, retry_until, Server};

const PAIRS: usize = 200;

fn dir(name: &str) -> PathBuf {
    fresh_dir(&format!("pit-{name}"))
}

fn start(dir: &Path) -> Server {
    Server::start_with(&["--no-greeting", "--dir", dir.to_str().unwrap(), "--dbfilename", "dump.rdb", "--save", ""])
}

fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(con).unwrap();
    info.lines().find_map(|line| line.strip_prefix(&format!("{field}:"))).unwrap_or_default().to_owned()
}

/// Writes until `stop`: `MSET a:i v b:i v` for random pairs, and `MSET item:n x count n` growing a
/// run of items with its count.
fn write(server_addr: String, stop: Arc<AtomicBool>, seed: u64) {
    let mut con = redis::Client::open(server_addr).unwrap().get_connection().unwrap();
    let mut state = seed;
    let mut items = 0u64;
    let mut serial = 0u64;
    while !stop.load(Ordering::Relaxed) {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let i = (state >> 33) as usize % PAIRS;
        serial += 1;
        let value = format!("{seed}:{serial}");
        let _: () = redis::cmd("MSET")
            .arg(format!("a:{i}"))
            .arg(&value)
            .arg(format!("b:{i}"))
            .arg(&value)
            .query(&mut con)
            .unwrap();
        if serial % 4 == 0 {
            items += 1;
            let _: () = redis::cmd("MSET")
                .arg(format!("item:{seed}:{items}"))
                .arg("x")
                .arg(format!("count:{seed}"))
                .arg(items)
                .query(&mut con)
                .unwrap();
        }
    }
}

#[test]
fn bgsave_under_multi_key_writes_saves_one_instant() {
    let dir = dir("multi-key");
    let server = start(&dir);
    let mut con = server.redis();
    // Enough keys that the walk takes many chunks.
    for batch in 0..20 {
        let mut pipe = redis::pipe();
        for i in 0..5000 {
            pipe.cmd("SET").arg(format!("filler:{batch}:{i}")).arg("0123456789abcdef").ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (1..=2)
        .map(|seed| {
            let (addr, stop) = (format!("redis://{}/", server.addr), Arc::clone(&stop));
            std::thread::spawn(move || write(addr, stop, seed))
        })
        .collect();
    for round in 0..5 {
        std::thread::sleep(Duration::from_millis(50));
        let started: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
        assert_eq!(started, "Background saving started");
        retry_until("the BGSAVE to finish", || (info_field(&mut con, "rdb_bgsave_in_progress") == "0").then_some(()));
        assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");

        // The file as another server loads it.
        let copy = dir.join(format!("round-{round}"));
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(dir.join("dump.rdb"), copy.join("dump.rdb")).unwrap();
        let loaded = start(&copy);
        let mut check = loaded.redis();
        for i in 0..PAIRS {
            let (a, b): (Option<String>, Option<String>) =
                redis::cmd("MGET").arg(format!("a:{i}")).arg(format!("b:{i}")).query(&mut check).unwrap();
            assert_eq!(a, b, "round {round}: pair {i} was saved half written");
        }
        for seed in 1..=2 {
            let count: Option<u64> = redis::cmd("GET").arg(format!("count:{seed}")).query(&mut check).unwrap();
            let count = count.unwrap_or(0);
            let items: Vec<String> = redis::cmd("KEYS").arg(format!("item:{seed}:*")).query(&mut check).unwrap();
            assert_eq!(items.len() as u64, count, "round {round}: writer {seed}'s items and count are of one instant");
        }
        let filler: Vec<String> = redis::cmd("KEYS").arg("filler:*").query(&mut check).unwrap();
        assert_eq!(filler.len(), 100_000);
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bgsave_and_an_aof_rewrite_at_once_each_keep_every_key() {
    let dir = dir("both");
    let aof = dir.join("appendonlydir");
    let args = ["--no-greeting", "--dir", dir.to_str().unwrap(), "--save", "", "--appendonly", aof.to_str().unwrap()];
    let mut server = Server::start_with(&args);
    let mut con = server.redis();
    const KEYS: usize = 100_000;
    for batch in 0..KEYS / 5000 {
        let mut pipe = redis::pipe();
        for i in batch * 5000..(batch + 1) * 5000 {
            pipe.cmd("SET").arg(format!("key:{i}")).arg("0123456789abcdef").ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    for round in 0..3 {
        // Both walks at once, in either order.
        let (first, second) = if round % 2 == 0 { ("BGSAVE", "BGREWRITEAOF") } else { ("BGREWRITEAOF", "BGSAVE") };
        let _: String = redis::cmd(first).query(&mut con).unwrap();
        let _: String = redis::cmd(second).query(&mut con).unwrap();
        retry_until("both to finish", || {
            let idle = info_field(&mut con, "rdb_bgsave_in_progress") == "0"
                && info_field(&mut con, "aof_rewrite_in_progress") == "0"
                && info_field(&mut con, "aof_rewrite_scheduled") == "0";
            idle.then_some(())
        });
        assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
        assert_eq!(info_field(&mut con, "aof_last_bgrewrite_status"), "ok");
    }
    server.signal(libc::SIGKILL);
    assert!(server.wait_for_exit(Duration::from_secs(20)).is_some());
    // The append-only file (its base written during a BGSAVE) has every key...
    let restarted = Server::start_with(&args);
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut restarted.redis()).unwrap();
    assert_eq!(dbsize, KEYS, "keys lost from the append-only file");
    drop(restarted);
    // ...and so has the snapshot.
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(dir.join("dump.rdb"), copy.join("dump.rdb")).unwrap();
    let loaded = start(&copy);
    let dbsize: usize = redis::cmd("DBSIZE").query(&mut loaded.redis()).unwrap();
    assert_eq!(dbsize, KEYS, "keys lost from the snapshot");
}
