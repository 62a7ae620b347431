//! Redis Sentinel over TinyKV: three sentinels watch one TinyKV primary and two TinyKV replicas. The
//! primary is killed (SIGKILL) under a stream of writes: Sentinel promotes a replica, repoints the
//! other, and the old primary, restarted, comes back as a replica. Then the new primary is killed too,
//! this time with every write confirmed by `WAIT 1`. The acknowledged writes lost at each failover are
//! printed. redis-py's `Sentinel` client then finds the primary and writes through it.
//!
//! Sentinel is `redis-sentinel` (Debian's package), or `redis-server --sentinel` (the same program);
//! without either the test prints why and passes.

use std::collections::HashSet;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tinykv_tests::{call_str, free_port, retry_until, run_redis_py, try_call, Daemon, Server, DEADLINE};

/// The program and its first argument that run a sentinel, if installed.
fn sentinel_program() -> Option<(&'static str, bool)> {
    let installed = |name: &str| Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success());
    if installed("redis-sentinel") {
        Some(("redis-sentinel", false))
    } else if installed("redis-server") {
        Some(("redis-server", true))
    } else {
        None
    }
}

fn start_sentinel(dir: &std::path::Path, index: usize, primary: u16) -> Daemon {
    let (program, server_mode) = sentinel_program().expect("checked");
    let port = free_port();
    let conf = dir.join(format!("sentinel-{index}.conf"));
    let text = format!(
        "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\nsentinel monitor mymaster 127.0.0.1 {primary} 2\n\
         sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 6000\n",
        dir.display(),
        sentinel_log(dir, index).display()
    );
    std::fs::write(&conf, text).expect("write sentinel.conf");
    let mut command = Command::new(program);
    command.arg(&conf);
    if server_mode {
        command.arg("--sentinel");
    }
    Daemon::start(command, port, program).expect("a sentinel")
}

/// Where sentinel `index` logs: its failover decisions, printed when the test fails.
fn sentinel_log(dir: &std::path::Path, index: usize) -> std::path::PathBuf {
    dir.join(format!("sentinel-{index}.log"))
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// The primary's port as a sentinel sees it.
fn primary_port(sentinel: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", sentinel)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let reply = call_str(&mut stream, &["SENTINEL", "get-master-addr-by-name", "mymaster"]);
    reply.lines().nth(4)?.parse().ok()
}

/// How many entries a sentinel lists for `what` (`replicas`, `sentinels`) of `mymaster`.
fn listed(sentinel: u16, what: &str) -> usize {
    let mut stream = connect(sentinel);
    let reply = call_str(&mut stream, &["SENTINEL", what, "mymaster"]);
    reply.lines().filter(|line| *line == "name").count()
}

/// Writes `SET <prefix>:<n> 1` to whatever the sentinel names as the primary, reconnecting on
/// failure, until stopped; with `wait`, a write counts as acknowledged only once `WAIT 1 1000` says a
/// replica has it. Adds the acknowledged numbers to `acked`.
fn writer(sentinel: u16, prefix: &'static str, wait: bool, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<u64>>>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let connected = primary_port(sentinel).and_then(|port| TcpStream::connect(("127.0.0.1", port)).ok());
        let Some(mut stream) = connected else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let key = format!("{prefix}:{n}");
            if try_call(&mut stream, &["SET", &key, "1"]).as_deref() != Some("+OK\r\n") {
                break;
            }
            if wait && try_call(&mut stream, &["WAIT", "1", "1000"]).as_deref() != Some(":1\r\n") {
                break;
            }
            acked.lock().expect("lock").push(n);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the current primary under writes and waits for the failover; returns (new primary's port,
/// acknowledged writes lost).
fn fail_over(sentinel: u16, servers: &mut [Option<Server>], prefix: &'static str, wait: bool) -> (u16, usize) {
    let old = primary_port(sentinel).expect("a primary");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let thread = std::thread::spawn({
        let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
        move || writer(sentinel, prefix, wait, stop, acked)
    });
    retry_until("some writes", || (acked.lock().expect("lock").len() > 200).then_some(()));
    let index = servers.iter().position(|s| s.as_ref().is_some_and(|s| s.port() == old)).expect("the primary");
    if let Some(server) = &servers[index] {
        server.signal(libc::SIGKILL);
    }
    servers[index] = None;
    let new = retry_until("Sentinel to promote a replica", || primary_port(sentinel).filter(|&p| p != old));
    let before = acked.lock().expect("lock").len();
    retry_until("writes to the new primary", || (acked.lock().expect("lock").len() > before + 200).then_some(()));
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("writer");
    let acked = acked.lock().expect("lock").clone();
    let mut stream = connect(new);
    let missing: HashSet<u64> = acked
        .iter()
        .copied()
        .filter(|n| call_str(&mut stream, &["EXISTS", &format!("{prefix}:{n}")]) != ":1\r\n")
        .collect();
    eprintln!(
        "failover {old} -> {new} ({}): {} writes acknowledged, {} of them lost",
        if wait { "each write confirmed by WAIT 1" } else { "no WAIT" },
        acked.len(),
        missing.len()
    );
    (new, missing.len())
}

/// The last lines a server logged, headed by its port: what it did when a failover went astray.
fn log_tail(server: &Server) -> String {
    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    format!("server {}'s log, last lines:\n{}\n", server.port(), lines[lines.len().saturating_sub(20)..].join("\n"))
}

fn role(port: u16) -> String {
    call_str(&mut connect(port), &["ROLE"])
}

#[test]
fn sentinel_fails_over_between_tinykv_servers() {
    if sentinel_program().is_none() {
        eprintln!("skipped: neither redis-sentinel nor redis-server is installed");
        return;
    }
    let primary = Server::start();
    let replicas: Vec<Server> =
        (0..2).map(|_| Server::start_with(&["--replicaof", &format!("127.0.0.1 {}", primary.port())])).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let sentinels: Vec<Daemon> = (0..3).map(|i| start_sentinel(dir.path(), i, primary.port())).collect();
    let watcher = sentinels[0].port;
    retry_until("the sentinels to find the replicas and each other", || {
        (listed(watcher, "replicas") == 2 && listed(watcher, "sentinels") == 2).then_some(())
    });
    let ports: Vec<u16> = std::iter::once(primary.port()).chain(replicas.iter().map(Server::port)).collect();
    let mut servers: Vec<Option<Server>> =
        std::iter::once(Some(primary)).chain(replicas.into_iter().map(Some)).collect();

    // First failover, plain writes.
    let (new, _lost) = fail_over(watcher, &mut servers, "plain", false);
    assert!(role(new).starts_with("*3\r\n$6\r\nmaster\r\n"), "{}", role(new));
    let other = *ports.iter().find(|&&p| p != new && p != ports[0]).expect("the other replica");
    retry_until("the other replica to follow the new primary", || {
        role(other).contains(&format!(":{new}\r\n$9\r\nconnected\r\n")).then_some(())
    });
    // The old primary, restarted on its port, is turned into a replica of the new one.
    let restarted = Server::start_with(&["--port", &ports[0].to_string()]);
    // Sentinel looks at a known replica's INFO every 10 s and converts it 8 s after it reports being
    // a primary: up to about 20 s, more on a loaded machine, so this wait is longer than the others.
    // It follows whichever server Sentinel names now: on a loaded machine Sentinel may have failed
    // over once more meanwhile (a CI run saw the old primary follow the other replica).
    let converted = || {
        primary_port(watcher)
            .filter(|&p| p != ports[0])
            .is_some_and(|primary| role(ports[0]).contains(&format!(":{primary}\r\n$9\r\nconnected\r\n")))
    };
    let start = std::time::Instant::now();
    while !converted() {
        assert!(
            start.elapsed() < 4 * DEADLINE,
            "the old primary never became a replica: {}\nsentinel 0's log:\n{}\n{}",
            role(ports[0]),
            std::fs::read_to_string(sentinel_log(dir.path(), 0)).unwrap_or_default(),
            servers.iter().flatten().chain([&restarted]).map(log_tail).collect::<String>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let primary_now = primary_port(watcher);
    if primary_now != Some(new) {
        eprintln!("Sentinel failed over once more meanwhile: the primary is now {primary_now:?}, not {new}");
        // A slow machine may do that; a primary that died may not.
        let mut stream = connect(new);
        assert_eq!(call_str(&mut stream, &["PING"]), "+PONG\r\n", "the first failover's primary died");
    }
    servers[0] = Some(restarted);

    // Second failover, each write confirmed by WAIT 1.
    let (newer, _lost) = fail_over(watcher, &mut servers, "waited", true);
    assert!(role(newer).starts_with("*3\r\n$6\r\nmaster\r\n"), "{}", role(newer));
    let mut stream = connect(newer);
    assert_eq!(call_str(&mut stream, &["SET", "after", "failovers"]), "+OK\r\n");

    redis_py_finds_the_primary(&sentinels, newer);
}

/// redis-py's `Sentinel` finds the primary the sentinels name and writes through it.
fn redis_py_finds_the_primary(sentinels: &[Daemon], primary: u16) {
    let script = r#"
import sys
from redis.sentinel import Sentinel
ports = [int(p) for p in sys.argv[1:-1]]
sentinel = Sentinel([("127.0.0.1", p) for p in ports], socket_timeout=2, protocol=2)
host, port = sentinel.discover_master("mymaster")
assert port == int(sys.argv[-1]), (port, sys.argv[-1])
master = sentinel.master_for("mymaster", socket_timeout=2, protocol=2)
master.set("from-redis-py", "yes")
assert master.get("from-redis-py") == b"yes"
print("redis-py: primary", host, port)
"#;
    let mut args: Vec<String> = sentinels.iter().map(|s| s.port.to_string()).collect();
    args.push(primary.to_string());
    run_redis_py(script, &args);
}
