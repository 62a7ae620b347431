//! Server and connection commands end to end (issue 8): `CONFIG SET` taking effect at run time,
//! `CLIENT LIST|KILL|PAUSE|REPLY`, `SLOWLOG`, `INFO commandstats`, and `DEBUG` behind its flag.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tinykv_tests::{call_str, read_exact_bytes, read_to_close_or_reset, resp, retry_until, Server};

const NOAUTH: &str = "-NOAUTH Authentication required.\r\n";
const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

fn server(args: &[&str]) -> Server {
    let mut all = vec!["--no-greeting"];
    all.extend_from_slice(args);
    Server::start_with(&all)
}

/// The text of a bulk or verbatim reply (`CLIENT LIST`, `INFO`), without its header.
fn text(reply: &str) -> &str {
    reply.split_once("\r\n").map_or(reply, |(_, body)| body)
}

#[test]
fn config_set_requirepass_applies_to_new_clients_and_can_be_removed() {
    let server = server(&[]);
    let mut admin = server.connect();
    assert_eq!(call_str(&mut admin, &["CONFIG", "SET", "requirepass", "s3cret"]), "+OK\r\n");
    // The client that set it was already in: it stays in, as in Redis.
    assert_eq!(call_str(&mut admin, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(call_str(&mut admin, &["CONFIG", "GET", "requirepass"]), "*2\r\n$11\r\nrequirepass\r\n$6\r\ns3cret\r\n");

    let mut late = server.connect();
    assert_eq!(call_str(&mut late, &["GET", "k"]), NOAUTH);
    assert_eq!(call_str(&mut late, &["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(call_str(&mut late, &["GET", "k"]), "$1\r\nv\r\n");

    let mut stranger = server.connect();
    assert_eq!(call_str(&mut stranger, &["GET", "k"]), NOAUTH);
    // No password any more: even a client that never authenticated may go on, as in Redis.
    assert_eq!(call_str(&mut admin, &["CONFIG", "SET", "requirepass", ""]), "+OK\r\n");
    assert_eq!(call_str(&mut stranger, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(call_str(&mut server.connect(), &["GET", "k"]), "$1\r\nv\r\n");
}

#[test]
fn config_set_maxmemory_makes_writes_oom_and_back() {
    let server = server(&[]);
    let mut s = server.connect();
    assert_eq!(call_str(&mut s, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SET", "k2", "v"]), OOM);
    assert_eq!(call_str(&mut s, &["GET", "k"]), "$1\r\nv\r\n");
    assert!(text(&call_str(&mut s, &["INFO", "memory"])).contains("maxmemory:1\r\n"));
    // Several at once, all or nothing: a bad second value leaves the first unchanged.
    assert_eq!(
        call_str(&mut s, &["CONFIG", "SET", "maxmemory", "0", "timeout", "x"]),
        "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer\r\n"
    );
    assert_eq!(call_str(&mut s, &["SET", "k2", "v"]), OOM);
    assert_eq!(call_str(&mut s, &["CONFIG", "SET", "maxmemory", "0", "timeout", "0"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SET", "k2", "v"]), "+OK\r\n");
}

#[test]
fn config_set_timeout_and_maxclients_apply_to_clients_already_connected() {
    let server = server(&[]);
    let mut admin = server.connect();
    let mut idle = server.connect();
    assert_eq!(call_str(&mut idle, &["PING"]), "+PONG\r\n");
    assert_eq!(call_str(&mut admin, &["CONFIG", "SET", "timeout", "1"]), "+OK\r\n");
    // The idle client is closed about a second after its last command; the busy one stays.
    let watcher = std::thread::spawn(move || read_to_close_or_reset(&mut idle));
    while !watcher.is_finished() {
        assert_eq!(call_str(&mut admin, &["PING"]), "+PONG\r\n");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(watcher.join().unwrap().is_empty());
    assert_eq!(call_str(&mut admin, &["CONFIG", "SET", "timeout", "0", "maxclients", "1"]), "+OK\r\n");
    let mut refused = server.connect();
    assert_eq!(read_to_close_or_reset(&mut refused), b"-ERR max number of clients reached\r\n");
    assert_eq!(call_str(&mut admin, &["CONFIG", "SET", "maxclients", "10"]), "+OK\r\n");
    assert_eq!(call_str(&mut server.connect(), &["PING"]), "+PONG\r\n");
}

#[test]
fn client_list_shows_each_client_with_its_name_and_database() {
    let server = server(&[]);
    let mut alpha = server.connect();
    let mut beta = server.connect();
    assert_eq!(call_str(&mut alpha, &["CLIENT", "SETNAME", "alpha"]), "+OK\r\n");
    assert_eq!(call_str(&mut alpha, &["SELECT", "3"]), "+OK\r\n");
    assert_eq!(call_str(&mut beta, &["CLIENT", "SETNAME", "beta"]), "+OK\r\n");
    let beta_id = call_str(&mut beta, &["CLIENT", "ID"]);

    let reply = call_str(&mut alpha, &["CLIENT", "LIST"]);
    let lines: Vec<&str> = text(&reply).trim_end_matches("\r\n").lines().collect();
    assert_eq!(lines.len(), 2, "{reply}");
    let alpha_line = lines.iter().find(|line| line.contains(" name=alpha ")).expect("alpha listed");
    let beta_line = lines.iter().find(|line| line.contains(" name=beta ")).expect("beta listed");
    assert!(alpha_line.contains(" db=3 ") && alpha_line.contains(" cmd=client|list "), "{alpha_line}");
    assert!(beta_line.contains(" db=0 ") && beta_line.contains(" cmd=client|id "), "{beta_line}");
    assert!(beta_line.starts_with(&format!("id={} addr=127.0.0.1:", beta_id.trim_start_matches(':').trim())));
    assert!(alpha_line.ends_with(" user=default redir=-1 resp=2"), "{alpha_line}");

    let info = call_str(&mut beta, &["CLIENT", "INFO"]);
    assert!(text(&info).starts_with("id=") && info.contains(" name=beta ") && info.ends_with("\n\r\n"), "{info}");
    let id = beta_id.trim_start_matches(':').trim();
    let only_beta = call_str(&mut alpha, &["CLIENT", "LIST", "ID", id, "999999"]);
    assert_eq!(text(&only_beta).trim_end().lines().count(), 1, "{only_beta}");
    assert_eq!(call_str(&mut alpha, &["CLIENT", "LIST", "TYPE", "pubsub"]), "$0\r\n\r\n");
}

#[test]
fn client_kill_closes_the_client_it_names() {
    let server = server(&[]);
    let mut killer = server.connect();
    let mut victim = server.connect();
    let id = call_str(&mut victim, &["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim();
    assert_eq!(call_str(&mut killer, &["CLIENT", "KILL", "ID", id]), ":1\r\n");
    assert!(read_to_close_or_reset(&mut victim).is_empty());
    assert_eq!(call_str(&mut killer, &["CLIENT", "KILL", "ID", id]), ":0\r\n");
    // The old form, by address; and a client may kill itself, getting its reply first.
    let mut other = server.connect();
    assert_eq!(call_str(&mut other, &["PING"]), "+PONG\r\n");
    let addr = other.local_addr().unwrap().to_string();
    assert_eq!(call_str(&mut killer, &["CLIENT", "KILL", &addr]), "+OK\r\n");
    assert!(read_to_close_or_reset(&mut other).is_empty());
    assert_eq!(call_str(&mut killer, &["CLIENT", "KILL", "USER", "default", "SKIPME", "no"]), ":1\r\n");
    assert!(read_to_close_or_reset(&mut killer).is_empty());
}

/// Sends `args` and returns the reply and how long it took.
fn timed(stream: &mut TcpStream, args: &[&str]) -> (String, Duration) {
    let start = Instant::now();
    let reply = call_str(stream, args);
    (reply, start.elapsed())
}

#[test]
fn client_pause_write_delays_writes_but_not_reads() {
    let server = server(&[]);
    let mut admin = server.connect();
    let mut worker = server.connect();
    assert_eq!(call_str(&mut admin, &["CLIENT", "PAUSE", "600", "WRITE"]), "+OK\r\n");
    let (reply, took) = timed(&mut worker, &["GET", "k"]);
    assert_eq!(reply, "$-1\r\n");
    assert!(took < Duration::from_millis(300), "a read waited {took:?}");
    let (reply, took) = timed(&mut worker, &["SET", "k", "v"]);
    assert_eq!(reply, "+OK\r\n");
    assert!(took >= Duration::from_millis(300), "a write ran during the pause, after {took:?}");

    // UNPAUSE lets a waiting write go at once.
    assert_eq!(call_str(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]), "+OK\r\n");
    let writer = std::thread::spawn(move || timed(&mut worker, &["SET", "k", "w"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(call_str(&mut admin, &["CLIENT", "UNPAUSE"]), "+OK\r\n");
    let (reply, took) = writer.join().unwrap();
    assert_eq!(reply, "+OK\r\n");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(call_str(&mut admin, &["GET", "k"]), "$1\r\nw\r\n");
}

#[test]
fn client_reply_off_and_skip_leave_replies_unsent() {
    let server = server(&[]);
    let mut s = server.connect();
    let mut requests = Vec::new();
    for args in [
        &["CLIENT", "REPLY", "OFF"][..],
        &["SET", "a", "1"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "ON"],
        &["CLIENT", "REPLY", "SKIP"],
        &["GET", "a"],
        &["ECHO", "seen"],
    ] {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        requests.extend(resp(&args));
    }
    s.write_all(&requests).unwrap();
    let expected = b"+OK\r\n$4\r\nseen\r\n";
    assert_eq!(read_exact_bytes(&mut s, expected.len()), expected);
    assert_eq!(call_str(&mut s, &["GET", "a"]), "$1\r\n1\r\n");
}

#[test]
fn slowlog_records_commands_when_the_threshold_is_zero() {
    let server = server(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "3"]);
    let mut s = server.connect();
    assert_eq!(call_str(&mut s, &["CLIENT", "SETNAME", "logger"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SET", "key", "value"]), "+OK\r\n");
    let entries = call_str(&mut s, &["SLOWLOG", "GET", "1"]);
    // [id, time, micros, [args], addr, name]
    assert!(entries.starts_with("*1\r\n*6\r\n:1\r\n:"), "{entries}");
    assert!(entries.contains("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n$"), "{entries}");
    assert!(entries.ends_with("$6\r\nlogger\r\n"), "{entries}");
    assert_eq!(call_str(&mut s, &["SLOWLOG", "LEN"]), ":3\r\n");
    assert_eq!(call_str(&mut s, &["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SLOWLOG", "LEN"]), ":1\r\n", "the RESET itself is logged after it ran");
    assert_eq!(call_str(&mut s, &["AUTH", "default", "nope"]), "+OK\r\n");
    let entries = call_str(&mut s, &["SLOWLOG", "GET", "1"]);
    assert!(entries.contains("$4\r\nAUTH\r\n$10\r\n(redacted)\r\n$10\r\n(redacted)\r\n"), "{entries}");
    assert_eq!(call_str(&mut s, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SLOWLOG", "LEN"]), ":0\r\n");
}

#[test]
fn info_counts_commands_errors_and_lookups() {
    let server = server(&[]);
    let mut s = server.connect();
    call_str(&mut s, &["SET", "k", "v"]);
    for _ in 0..3 {
        assert_eq!(call_str(&mut s, &["GET", "k"]), "$1\r\nv\r\n");
    }
    assert_eq!(call_str(&mut s, &["GET", "missing"]), "$-1\r\n");
    assert!(call_str(&mut s, &["GET"]).starts_with("-ERR wrong number"));
    assert!(call_str(&mut s, &["SET", "k", "v", "bogus"]).starts_with("-ERR syntax"));
    let stats = call_str(&mut s, &["INFO", "commandstats"]);
    assert!(stats.contains("\r\ncmdstat_get:calls=4,usec="), "{stats}");
    assert!(stats.contains(",rejected_calls=1,failed_calls=0\r\n"), "{stats}");
    assert!(stats.contains("\r\ncmdstat_set:calls=2,"), "{stats}");
    assert!(!call_str(&mut s, &["INFO"]).contains("# Commandstats"), "not a default section");
    let everything = call_str(&mut s, &["INFO", "everything"]);
    for section in ["# Persistence\r\n", "# Replication\r\n", "# CPU\r\n", "# Commandstats\r\n", "# Errorstats\r\n"] {
        assert!(everything.contains(section), "{section:?}");
    }
    assert!(everything.contains("\r\nerrorstat_ERR:count=2\r\n"), "{everything}");
    assert!(everything.contains("\r\nkeyspace_hits:3\r\nkeyspace_misses:1\r\n"), "{everything}");
    assert!(everything.contains("\r\nrole:master\r\n"));
    assert!(everything.contains("\r\nused_cpu_user:"));
    assert_eq!(call_str(&mut s, &["CONFIG", "RESETSTAT"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["INFO", "errorstats"]), "$14\r\n# Errorstats\r\n\r\n");
}

#[test]
fn debug_is_refused_by_default_and_runs_with_the_flag() {
    let refused = "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";
    let server_off = server(&[]);
    assert_eq!(call_str(&mut server_off.connect(), &["DEBUG", "SLEEP", "0"]), refused);

    for access in ["yes", "local"] {
        // DEBUG RELOAD saves a snapshot: into a directory of the test's own.
        let dir = std::env::temp_dir().join(format!("tinykv-admin-debug-{}-{access}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let server = server(&["--enable-debug-command", access, "--dir", dir.to_str().unwrap()]);
        let mut s = server.connect();
        assert_eq!(call_str(&mut s, &["DEBUG", "SLEEP", "0"]), "+OK\r\n");
        let (reply, took) = timed(&mut s, &["DEBUG", "SLEEP", "0.2"]);
        assert_eq!(reply, "+OK\r\n");
        assert!(took >= Duration::from_millis(200));
        assert_eq!(call_str(&mut s, &["SET", "n", "12"]), "+OK\r\n");
        let object = call_str(&mut s, &["DEBUG", "OBJECT", "n"]);
        assert!(object.starts_with("+Value at:0x") && object.contains(" refcount:1 encoding:int serializedlength:2 "));
        assert_eq!(call_str(&mut s, &["DEBUG", "OBJECT", "nope"]), "-ERR no such key\r\n");
        assert_eq!(
            call_str(&mut s, &["DEBUG", "NOSUCH"]),
            "-ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try DEBUG HELP.\r\n"
        );
        let replid = |s: &mut TcpStream| {
            let info = call_str(s, &["INFO", "replication"]);
            info.split("master_replid:").nth(1).map(|rest| rest[..40].to_owned()).expect("master_replid")
        };
        // A reload round trip through the snapshot keeps every key and its time to live.
        assert_eq!(call_str(&mut s, &["SET", "kept", "v", "PX", "600000"]), "+OK\r\n");
        assert_eq!(call_str(&mut s, &["DEBUG", "RELOAD"]), "+OK\r\n");
        assert_eq!(call_str(&mut s, &["GET", "kept"]), "$1\r\nv\r\n");
        assert!(call_str(&mut s, &["PTTL", "kept"]).starts_with(":5"), "the TTL survives");
        assert_eq!(call_str(&mut s, &["GET", "n"]), "$2\r\n12\r\n");
        assert_eq!(call_str(&mut s, &["DEL", "kept"]), ":1\r\n");
        assert_eq!(
            call_str(&mut s, &["DEBUG", "RELOAD", "bogus"]),
            "-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n"
        );
        let before = replid(&mut s);
        assert_eq!(call_str(&mut s, &["DEBUG", "CHANGE-REPL-ID"]), "+OK\r\n");
        assert_ne!(replid(&mut s), before);

        // With the active sweep off, an expired key nobody touches stays counted.
        assert_eq!(call_str(&mut s, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
        assert_eq!(call_str(&mut s, &["SET", "t", "v", "PX", "50"]), "+OK\r\n");
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(call_str(&mut s, &["DBSIZE"]), ":2\r\n");
        assert_eq!(call_str(&mut s, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), "+OK\r\n");
        retry_until("the sweep to remove the expired key", || {
            (call_str(&mut s, &["DBSIZE"]) == ":1\r\n").then_some(())
        });
    }
}

#[test]
fn time_wait_and_lastsave() {
    let server = server(&[]);
    let mut s = server.connect();
    let reply = call_str(&mut s, &["TIME"]);
    let parts: Vec<&str> = reply.split("\r\n").collect();
    assert_eq!(parts[0], "*2");
    let seconds: u64 = parts[2].parse().unwrap();
    let micros: u64 = parts[4].parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(seconds.abs_diff(now) <= 2 && micros < 1_000_000, "{reply}");
    assert_eq!(call_str(&mut s, &["WAIT", "0", "0"]), ":0\r\n");
    assert_eq!(call_str(&mut s, &["WAIT", "1", "100"]), ":0\r\n");
    assert_eq!(call_str(&mut s, &["WAIT", "1", "-1"]), "-ERR timeout is negative\r\n");
    let lastsave: u64 = call_str(&mut s, &["LASTSAVE"]).trim_start_matches(':').trim().parse().unwrap();
    assert!(lastsave <= now && now - lastsave < 60);
}
