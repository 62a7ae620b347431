//! Eviction under `--maxmemory` (issue 8): the policies make room for writes, keep the memory
//! estimate at the limit, prefer what they should, log evictions to the append-only file, and
//! `noeviction` keeps refusing with Redis's text. redis-cli's `--memkeys` and `--hotkeys` run against
//! TinyKV.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;

use tinykv_tests::{call_str, read_reply, resp, retry_until, run_with_deadline, Server};

const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
const MAXMEMORY: u64 = 2 << 20;
/// How far past the limit the estimate may be after a write: the room is made before each command,
/// so by at most one 1 KiB entry, plus a table that doubled its buckets for it.
const SLACK: u64 = 64 << 10;

/// A field of `INFO`, as a number.
fn info(stream: &mut TcpStream, field: &str) -> u64 {
    let text = call_str(stream, &["INFO"]);
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO:\n{text}"))
}

/// Sends every command at once and reads the replies (raw), in order.
fn pipeline(stream: &mut TcpStream, commands: &[Vec<String>]) -> Vec<String> {
    let mut out = Vec::new();
    for words in commands {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        out.extend_from_slice(&resp(&args));
    }
    stream.write_all(&out).expect("write");
    commands.iter().map(|_| String::from_utf8_lossy(&read_reply(stream)).into_owned()).collect()
}

fn set(key: &str, value: &str) -> Vec<String> {
    vec!["SET".into(), key.into(), value.into()]
}

fn count_existing(stream: &mut TcpStream, keys: &[String]) -> usize {
    let commands: Vec<Vec<String>> = keys.iter().map(|key| vec!["EXISTS".into(), key.clone()]).collect();
    pipeline(stream, &commands).iter().filter(|reply| *reply == ":1\r\n").count()
}

#[test]
fn allkeys_lru_keeps_memory_at_the_limit_and_recently_read_keys() {
    let server = Server::start_with(&["--no-greeting", "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut s = server.connect();
    let value = "v".repeat(1024);

    // 1.2 MB in: 600 keys never read again, 600 read after the LRU clock (seconds) has ticked.
    let cold: Vec<String> = (0..600).map(|i| format!("cold:{i}")).collect();
    let hot: Vec<String> = (0..600).map(|i| format!("hot:{i}")).collect();
    let writes: Vec<Vec<String>> = cold.iter().chain(&hot).map(|key| set(key, &value)).collect();
    assert!(pipeline(&mut s, &writes).iter().all(|reply| reply == "+OK\r\n"));
    // The clock counts seconds and the writes may straddle a tick: wait on the last key written, so
    // every read below lands on a later tick than every write above.
    retry_until("the LRU clock to tick", || {
        (call_str(&mut s, &["OBJECT", "IDLETIME", "hot:599"]) != ":0\r\n").then_some(())
    });
    let reads: Vec<Vec<String>> = hot.iter().map(|key| vec!["GET".into(), key.clone()]).collect();
    pipeline(&mut s, &reads);
    // 1 MB more: about 250 keys must go, fewer than there are cold ones, which are strictly older
    // than everything else. The approximation may miss a few, never many.
    let writes: Vec<Vec<String>> = (0..1000).map(|i| set(&format!("new:{i}"), &value)).collect();
    assert!(pipeline(&mut s, &writes).iter().all(|reply| reply == "+OK\r\n"));
    let evicted = info(&mut s, "evicted_keys");
    let (hot_alive, cold_alive) = (count_existing(&mut s, &hot), count_existing(&mut s, &cold));
    eprintln!("evicted {evicted}: hot keys alive {hot_alive} of 600, cold keys alive {cold_alive} of 600");
    assert!(evicted >= 100, "evicted {evicted}");
    assert!(
        hot_alive >= 570 && cold_alive + 100 <= 600,
        "evicted {evicted}: hot keys alive {hot_alive} of 600, cold keys alive {cold_alive} of 600"
    );

    // 10 MB of new keys, five times what fits: every write succeeds and the estimate stays at the limit.
    for batch in 0..100 {
        let writes: Vec<Vec<String>> = (0..100).map(|i| set(&format!("flood:{batch}:{i}"), &value)).collect();
        assert!(pipeline(&mut s, &writes).iter().all(|reply| reply == "+OK\r\n"), "a write was refused");
        let used = info(&mut s, "used_memory");
        assert!(used <= MAXMEMORY + SLACK, "used_memory {used} after batch {batch}");
    }
    assert!(info(&mut s, "evicted_keys") > evicted + 9000);
    assert!(call_str(&mut s, &["INFO", "memory"]).contains("maxmemory_policy:allkeys-lru\r\n"));
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl_and_then_refuse() {
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        let server = Server::start_with(&["--no-greeting", "--maxmemory", "1mb", "--maxmemory-policy", policy]);
        let mut s = server.connect();
        let value = "v".repeat(1024);
        let persistent: Vec<String> = (0..300).map(|i| format!("keep:{i}")).collect();
        let writes: Vec<Vec<String>> = persistent.iter().map(|key| set(key, &value)).collect();
        assert!(pipeline(&mut s, &writes).iter().all(|reply| reply == "+OK\r\n"));
        // 2 MB of keys with a TTL into 1 MB: the volatile ones make room for each other.
        let volatile: Vec<Vec<String>> = (0..2000)
            .map(|i| vec!["SET".into(), format!("ttl:{i}"), value.clone(), "EX".into(), "3600".into()])
            .collect();
        assert!(pipeline(&mut s, &volatile).iter().all(|reply| reply == "+OK\r\n"), "{policy}");
        assert!(info(&mut s, "evicted_keys") > 0, "{policy}");
        assert_eq!(count_existing(&mut s, &persistent), 300, "{policy} evicted a key without a TTL");
        // More persistent keys take the room of the rest of the volatile ones, then: -OOM.
        let mut refused = None;
        for i in 0..3000 {
            let reply = call_str(&mut s, &["SET", &format!("more:{i}"), &value]);
            if reply != "+OK\r\n" {
                refused = Some(reply);
                break;
            }
        }
        assert_eq!(refused.as_deref(), Some(OOM), "{policy}");
        assert!(call_str(&mut s, &["INFO", "keyspace"]).contains(",expires=0,"), "{policy}");
        assert_eq!(count_existing(&mut s, &persistent), 300, "{policy}");
        // Reads and deletes still work when full.
        assert_eq!(call_str(&mut s, &["GET", "keep:0"]).len(), 1024 + "$1024\r\n\r\n".len());
        assert_eq!(call_str(&mut s, &["DEL", "keep:0"]), ":1\r\n");
    }
}

#[test]
fn noeviction_refuses_growing_writes_with_redis_text() {
    let server = Server::start_with(&["--no-greeting", "--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    let mut s = server.connect();
    let value = "v".repeat(1024);
    let mut refused = None;
    for i in 0..3000 {
        let reply = call_str(&mut s, &["SET", &format!("k{i}"), &value]);
        if reply != "+OK\r\n" {
            refused = Some((i, reply));
            break;
        }
    }
    let (stored, reply) = refused.expect("never refused");
    assert_eq!(reply, OOM);
    assert!(stored > 500, "refused after {stored} keys of 1 KiB");
    assert_eq!(info(&mut s, "evicted_keys"), 0);
    assert_eq!(call_str(&mut s, &["DBSIZE"]), format!(":{stored}\r\n"));
    assert!(call_str(&mut s, &["CONFIG", "GET", "maxmemory-policy"]).contains("noeviction"));
}

#[test]
fn evictions_reach_the_append_only_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("evict.aof");
    let path = path.to_str().expect("utf-8 path");
    let server = Server::start_with(&[
        "--no-greeting",
        "--appendonly",
        path,
        "--maxmemory",
        "1mb",
        "--maxmemory-policy",
        "allkeys-random",
    ]);
    let mut s = server.connect();
    let value = "v".repeat(1024);
    // In two databases, so the records must name theirs.
    for db in ["0", "3"] {
        assert_eq!(call_str(&mut s, &["SELECT", db]), "+OK\r\n");
        let writes: Vec<Vec<String>> = (0..1500).map(|i| set(&format!("k{i}"), &value)).collect();
        assert!(pipeline(&mut s, &writes).iter().all(|reply| reply == "+OK\r\n"));
    }
    let evicted = info(&mut s, "evicted_keys");
    assert!(evicted > 1000, "evicted {evicted}");
    let keys = |s: &mut TcpStream, db: &str| {
        assert_eq!(call_str(s, &["SELECT", db]), "+OK\r\n");
        let mut keys: Vec<String> =
            call_str(s, &["KEYS", "*"]).split("\r\n").filter(|line| line.starts_with('k')).map(str::to_owned).collect();
        keys.sort();
        keys
    };
    let before = (keys(&mut s, "0"), keys(&mut s, "3"));
    assert_eq!(before.0.len() + before.1.len() + evicted as usize, 3000);
    drop(s);
    assert!(server.stop().success());
    let log = std::fs::read(path).expect("read the append-only file");
    let dels = log.windows(13).filter(|w| *w == b"*2\r\n$3\r\nDEL\r\n").count();
    assert_eq!(dels as u64, evicted, "one DEL record per eviction");

    // Replayed without a limit, the data set is what it was: the evicted keys stay gone.
    let server = Server::start_with(&["--no-greeting", "--appendonly", path]);
    let mut s = server.connect();
    assert_eq!((keys(&mut s, "0"), keys(&mut s, "3")), before);
}

/// Runs redis-cli against `server` with `args`; `None` (reason printed) when it is not installed.
fn redis_cli(server: &Server, args: &[&str]) -> Option<String> {
    let port = server.port().to_string();
    let output = run_with_deadline(Command::new("redis-cli").args(["-p", &port]).args(args));
    match output {
        None => {
            eprintln!("skipping: redis-cli is not installed");
            None
        }
        Some(output) => {
            assert!(output.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
            Some(String::from_utf8_lossy(&output.stdout).into_owned())
        }
    }
}

#[test]
fn redis_cli_memkeys_and_hotkeys_work_against_tinykv() {
    let server = Server::start_with(&["--no-greeting", "--maxmemory-policy", "allkeys-lfu"]);
    let mut s = server.connect();
    let writes: Vec<Vec<String>> = (0..100).map(|i| set(&format!("key:{i}"), &"x".repeat(100 * i + 1))).collect();
    assert!(pipeline(&mut s, &writes).iter().all(|reply| reply == "+OK\r\n"));
    let reads: Vec<Vec<String>> = (0..30).map(|_| vec!["GET".into(), "key:7".into()]).collect();
    pipeline(&mut s, &reads);
    let used = info(&mut s, "used_memory");

    let Some(memkeys) = redis_cli(&server, &["--memkeys"]) else { return };
    // "100 strings with 512345 bytes (100.00% of keys, avg size 5123.45)"; sizes 100 bytes apart, so
    // each key is in its own allocator size class and the biggest is key:99 by MEMORY USAGE too.
    let line = memkeys.lines().find(|line| line.contains(" strings with ")).expect("a strings summary line");
    let bytes: u64 = line.split(" strings with ").nth(1).and_then(|rest| rest.split(' ').next()?.parse().ok()).unwrap();
    assert!(line.starts_with("100 strings"), "{line}");
    assert!(bytes <= used && bytes >= used / 2, "--memkeys sums to {bytes} bytes, used_memory is {used}");
    assert!(memkeys.contains("Biggest string found '\"key:99\"'"), "{memkeys}");

    let hotkeys = redis_cli(&server, &["--hotkeys"]).expect("redis-cli ran a moment ago");
    let summary = hotkeys.split("-------- summary -------").nth(1).expect("a summary");
    assert!(summary.contains("Sampled 100 keys"), "{hotkeys}");
    assert!(summary.contains("keyname: \"key:7\""), "the key read 30 times is hot:\n{hotkeys}");
}
