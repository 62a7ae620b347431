//! `tinykv-cli`'s redis-cli flags and tool modes, from outside: `-n`, unknown flags, `--scan`, `--bigkeys`,
//! `--hotkeys`, `--latency-dist`, `--pipe`, `--csv`, `-3`, `--show-pushes` (client tracking invalidations
//! between replies), and `SUBSCRIBE`. Where `redis-cli` is installed its output for the same command
//! against the same server is the expected output, byte for byte; where it (or `redis-server`) is missing
//! those comparisons print why and are skipped.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use tinykv_tests::differential::Redis;
use tinykv_tests::{binary, call_str, run_with_input, Server, DEADLINE};

/// Runs `program -p <port> args...` with `stdin`, failing the test if it takes longer than the deadline.
fn run_program(program: &str, port: u16, args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new(program);
    command.arg("-p").arg(port.to_string()).args(args);
    command.env_remove("TINYKV_HOST").env_remove("TINYKV_PORT").env_remove("TINYKV_PASSWORD").env_remove("TINYKV_URL");
    run_with_input(&mut command, stdin).unwrap_or_else(|| panic!("{program} is not installed"))
}

fn cli(port: u16, args: &[&str]) -> Output {
    run_program(binary("tinykv-cli").to_str().expect("utf-8 path"), port, args, b"")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Whether `redis-cli` can be run; if not, says so (the comparison is skipped).
fn redis_cli_installed() -> bool {
    let installed = Command::new("redis-cli").arg("--version").output().is_ok_and(|out| out.status.success());
    if !installed {
        println!("skipped the comparison with redis-cli: it is not installed");
    }
    installed
}

/// Asserts that tinykv-cli prints exactly what redis-cli prints for `args` against the server on `port`.
#[track_caller]
fn same_stdout_as_redis_cli(port: u16, args: &[&str]) {
    let ours = cli(port, args);
    let theirs = run_program("redis-cli", port, args, b"");
    assert_eq!(stdout(&ours), stdout(&theirs), "stdout of {args:?}; our stderr: {}", stderr(&ours));
}

/// `INFO stats`' `total_commands_processed`, read over a raw connection.
fn commands_processed(server: &Server) -> i64 {
    let mut conn = server.connect();
    let info = call_str(&mut conn, &["INFO", "stats"]);
    info.lines()
        .find_map(|line| line.trim_end().strip_prefix("total_commands_processed:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total_commands_processed in {info:?}"))
}

#[test]
fn dash_n_selects_the_database_and_a_refused_select_sends_nothing() {
    let server = Server::start();
    let port = server.port();
    let set = cli(port, &["-n", "3", "set", "k", "v"]);
    assert_eq!((set.status.code(), stdout(&set).as_str()), (Some(0), "OK\n"), "{}", stderr(&set));
    assert_eq!(stdout(&cli(port, &["-n", "3", "get", "k"])), "v\n");
    assert_eq!(stdout(&cli(port, &["get", "k"])), "\n", "the key is in db 3, not db 0");
    // A URL's path is the database too.
    let url = format!("redis://127.0.0.1:{port}/3");
    assert_eq!(stdout(&cli(port, &["-u", &url, "get", "k"])), "v\n");

    // redis-cli 7.0 reports the refused SELECT and then runs the command in db 0 anyway; we stop.
    let refused = cli(port, &["-n", "99", "set", "other", "v"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(stdout(&refused), "");
    assert_eq!(stderr(&refused), "SELECT 99 failed: ERR DB index is out of range\n");
    assert_eq!(stdout(&cli(port, &["exists", "other"])), "0\n");
    server.stop();
}

#[test]
fn an_unknown_flag_exits_2_and_sends_nothing() {
    let server = Server::start();
    let port = server.port();
    // The count read twice with nothing in between: what reading it costs by itself.
    let (first, second) = (commands_processed(&server), commands_processed(&server));
    let output = cli(port, &["-z", "set", "k", "v"]);
    let third = commands_processed(&server);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr(&output).contains("'-z'"), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    assert_eq!(third - second, second - first, "the CLI sent something to the server");
    // Flags after the command name are its arguments, as in redis-cli.
    assert_eq!(stdout(&cli(port, &["set", "k", "-1"])), "OK\n");
    assert_eq!(stdout(&cli(port, &["get", "k"])), "-1\n");
    server.stop();
}

#[test]
fn scan_lists_the_keys_matching_the_pattern() {
    let server = Server::start();
    let port = server.port();
    let mut conn = server.connect();
    for key in ["user:1", "user:2", "user:3", "order:1", "usr"] {
        call_str(&mut conn, &["SET", key, "v"]);
    }
    let output = cli(port, &["--scan", "--pattern", "user:*"]);
    assert_eq!(output.status.code(), Some(0));
    let mut keys: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    keys.sort();
    assert_eq!(keys, ["user:1", "user:2", "user:3"]);
    let all = cli(port, &["--scan", "--count", "2"]);
    assert_eq!(stdout(&all).lines().count(), 5);
    if redis_cli_installed() {
        same_stdout_as_redis_cli(port, &["--scan", "--pattern", "user:*"]);
        same_stdout_as_redis_cli(port, &["--no-raw", "--scan"]);
    }
    server.stop();
}

#[test]
fn bigkeys_and_memkeys_print_what_redis_cli_prints() {
    let server = Server::start();
    let port = server.port();
    let mut conn = server.connect();
    call_str(&mut conn, &["SET", "short", "ab"]);
    call_str(&mut conn, &["SET", "long key", "a much longer value"]);
    call_str(&mut conn, &["SET", "mid", "abcdef"]);
    let output = cli(port, &["--bigkeys"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.contains("Sampled 3 keys in the keyspace!\n"), "{text}");
    assert!(text.contains("Biggest string found '\"long key\"' has 19 bytes\n"), "{text}");
    assert!(text.contains("3 strings with 27 bytes (100.00% of keys, avg size 9.00)\n"), "{text}");
    if redis_cli_installed() {
        same_stdout_as_redis_cli(port, &["--bigkeys"]);
        // Sizes from MEMORY USAGE (a server without it gets a warning per key and 0 bytes, in both clients).
        same_stdout_as_redis_cli(port, &["--memkeys"]);
    }
    server.stop();
}

#[test]
fn pipe_sends_ten_thousand_commands_and_counts_the_replies() {
    let server = Server::start();
    let port = server.port();
    let mut input = Vec::new();
    for i in 0..10_000 {
        let key = format!("key:{i}");
        input.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nv\r\n", key.len()).as_bytes());
    }
    let output = run_program(binary("tinykv-cli").to_str().expect("utf-8 path"), port, &["--pipe"], &input);
    assert_eq!(
        (output.status.code(), stdout(&output).as_str(), stderr(&output).as_str()),
        (
            Some(0),
            "All data transferred. Waiting for the last reply...\nLast reply received from server.\n\
             errors: 0, replies: 10000\n",
            ""
        )
    );
    assert_eq!(stdout(&cli(port, &["dbsize"])), "10000\n");

    // Inline commands work too; error replies are counted and printed on stderr, and fail the run.
    let output =
        run_program(binary("tinykv-cli").to_str().expect("utf-8 path"), port, &["--pipe"], b"SET a 1\nNOSUCH\nGET a\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).ends_with("errors: 1, replies: 3\n"), "{}", stdout(&output));
    assert!(stderr(&output).starts_with("ERR unknown command 'NOSUCH'"), "{}", stderr(&output));
    server.stop();
}

#[test]
fn csv_json_and_resp3_output_match_redis_cli() {
    let server = Server::start();
    let port = server.port();
    let mut conn = server.connect();
    call_str(&mut conn, &["SET", "text", "h\u{e9}llo \"quoted\"\n"]);
    call_str(&mut conn, &["SET", "n", "41"]);
    assert_eq!(
        stdout(&cli(port, &["--csv", "mget", "text", "nope", "n"])),
        "\"h\\xc3\\xa9llo \\\"quoted\\\"\\n\",NULL,\"41\"\n"
    );
    assert_eq!(stdout(&cli(port, &["--json", "mget", "text", "nope"])), "[\"h\u{e9}llo \\\"quoted\\\"\\n\",null]\n");
    assert_eq!(stdout(&cli(port, &["-3", "--no-raw", "get", "nope"])), "(nil)\n");
    if !redis_cli_installed() {
        return;
    }
    let cases: &[&[&str]] = &[
        &["--csv", "mget", "text", "nope", "n"],
        &["--csv", "strlen", "n"],
        &["--csv", "config", "get", "maxmemory"],
        &["--csv", "-3", "config", "get", "maxmemory"],
        &["--json", "mget", "text", "nope"],
        &["--json", "config", "get", "maxmemory"],
        &["--json", "-2", "config", "get", "maxmemory"],
        &["--quoted-json", "get", "text"],
        &["-3", "--no-raw", "config", "get", "maxmemory"],
        &["-3", "--no-raw", "get", "nope"],
        // Not `text`: pretty output shows UTF-8 as is (the contract), where redis-cli escapes it (`h\xc3\xa9llo`).
        &["-3", "--no-raw", "mget", "n", "nope"],
        &["-3", "config", "get", "maxmemory"],
        &["--no-raw", "info", "keyspace"],
        &["info", "keyspace"],
        &["-d", ",", "mget", "n", "nope", "n"],
        &["--raw", "-d", "::", "-D", "|", "mget", "n", "text"],
        &["-D", "", "get", "n"],
        &["-3", "-d", ";", "config", "get", "maxmemory"],
    ];
    for args in cases {
        same_stdout_as_redis_cli(port, args);
    }
    server.stop();

    // RESP3 types TinyKV does not produce yet, against a real Redis.
    let Some(redis) = Redis::start() else { return };
    let mut conn = TcpStream::connect(("127.0.0.1", redis.port())).expect("connect to redis-server");
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    call_str(&mut conn, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    call_str(&mut conn, &["SADD", "s", "a"]);
    call_str(&mut conn, &["ZADD", "z", "1.5", "m"]);
    let cases: &[&[&str]] = &[
        &["-3", "--no-raw", "hgetall", "h"],
        &["-3", "--no-raw", "smembers", "s"],
        &["-3", "--no-raw", "zscore", "z", "m"],
        &["-3", "--no-raw", "eval", "redis.setresp(3); return true", "0"],
        &["-3", "--no-raw", "command", "docs", "get"],
        &["--csv", "-3", "hgetall", "h"],
        &["--json", "hgetall", "h"],
        &["--json", "zscore", "z", "m"],
        &["-3", "hgetall", "h"],
    ];
    for args in cases {
        same_stdout_as_redis_cli(redis.port(), args);
    }
}

#[test]
fn exit_on_error_prints_the_error_on_stderr_only() {
    let server = Server::start();
    let output = cli(server.port(), &["-e", "nosuch"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).starts_with("ERR unknown command 'nosuch'"), "{}", stderr(&output));
    server.stop();
}

/// Starts `tinykv-cli args...` against `port` and returns it with a reader of its stdout lines.
fn spawn_reader(port: u16, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    spawn_program_reader(binary("tinykv-cli").to_str().expect("utf-8 path"), port, args)
}

/// Starts `program -p <port> args...` and returns it with a reader of its stdout lines.
fn spawn_program_reader(program: &str, port: u16, args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(program)
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tinykv-cli");
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next `n` lines, failing the test if they do not come within [`DEADLINE`].
fn lines(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    (0..n).map(|_| rx.recv_timeout(DEADLINE).expect("a line from tinykv-cli")).collect()
}

#[test]
fn subscribe_shows_messages_as_they_arrive() {
    let Some(redis) = Redis::start() else { return };
    let mut publisher = TcpStream::connect(("127.0.0.1", redis.port())).expect("connect to redis-server");
    publisher.set_read_timeout(Some(DEADLINE)).unwrap();
    for (args, expected) in [
        (
            &["--no-raw", "subscribe", "news"][..],
            vec!["Reading messages... (press Ctrl-C to quit)", "1) \"subscribe\"", "2) \"news\"", "3) (integer) 1"],
        ),
        (
            &["-3", "--no-raw", "psubscribe", "ne*"][..],
            vec!["Reading messages... (press Ctrl-C to quit)", "1) \"psubscribe\"", "2) \"ne*\"", "3) (integer) 1"],
        ),
        (&["subscribe", "news"][..], vec!["subscribe", "news", "1"]),
    ] {
        let (mut child, rx) = spawn_reader(redis.port(), args);
        assert_eq!(lines(&rx, expected.len()), expected, "{args:?}");
        // Subscribed once the confirmation is printed: a message published now must be shown.
        assert_eq!(call_str(&mut publisher, &["PUBLISH", "news", "hello world"]), ":1\r\n");
        let expected: Vec<&str> = match args {
            ["subscribe", ..] => vec!["message", "news", "hello world"],
            [.., "psubscribe", _] => vec!["1) \"pmessage\"", "2) \"ne*\"", "3) \"news\"", "4) \"hello world\""],
            _ => vec!["1) \"message\"", "2) \"news\"", "3) \"hello world\""],
        };
        assert_eq!(lines(&rx, expected.len()), expected, "{args:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn pushes_between_replies_show_as_redis_cli_shows_them() {
    // TinyKV has no CLIENT TRACKING yet: a real redis-server sends the invalidations. The connection's
    // own SET invalidates the key it read (tracking without NOLOOP), and FLUSHALL sends `invalidate _`.
    let Some(redis) = Redis::start() else { return };
    if !redis_cli_installed() {
        return;
    }
    let script = b"client tracking on\nget k\nset k 1\nget k\nset k 2\nflushall\nget k\nflushall\n";
    for args in [
        &["-3", "--no-raw", "--show-pushes", "y"][..],
        &["-3", "--no-raw", "--show-pushes", "no"],
        &["-3", "--no-raw"],
        &["-3", "--show-pushes", "yes"],
        &["-3", "--csv", "--show-pushes", "Y"],
        &["-3", "--json", "--show-pushes", "y"],
    ] {
        let ours = run_program(binary("tinykv-cli").to_str().expect("utf-8 path"), redis.port(), args, script);
        let theirs = run_program("redis-cli", redis.port(), args, script);
        assert_eq!(stdout(&ours), stdout(&theirs), "{args:?}; our stderr: {}", stderr(&ours));
    }
    let shown = run_program(
        binary("tinykv-cli").to_str().expect("utf-8 path"),
        redis.port(),
        &["-3", "--no-raw", "--show-pushes", "y"],
        script,
    );
    assert_eq!(
        stdout(&shown),
        "OK\n(nil)\nOK\n-> invalidate: 'k'\n\"1\"\nOK\n-> invalidate: 'k'\nOK\n1) \"invalidate\"\n2) (nil)\n(nil)\nOK\n"
    );
    // Not a terminal: pushes are off unless asked for, and never taken for a reply.
    let hidden =
        run_program(binary("tinykv-cli").to_str().expect("utf-8 path"), redis.port(), &["-3", "--no-raw"], script);
    assert_eq!(stdout(&hidden), "OK\n(nil)\nOK\n\"1\"\nOK\nOK\n(nil)\nOK\n");
    let bad = run_program(
        binary("tinykv-cli").to_str().expect("utf-8 path"),
        redis.port(),
        &["--show-pushes", "maybe", "ping"],
        b"",
    );
    assert_eq!(stderr(&bad), "Unknown --show-pushes value 'maybe' (valid: '[y]es', '[n]o')\n");
    assert_eq!(stdout(&bad), "PONG\n");
}

/// Keys `hot:0` .. `hot:19`, `hot:i` read `i` times: with `lfu-log-factor 0` every access counts, and
/// with `lfu-decay-time 0` nothing decays, so the counters (5 + i) are the same for every client.
fn hot_keys(stream: &mut TcpStream) {
    for i in 0..20 {
        let key = format!("hot:{i}");
        assert_eq!(call_str(stream, &["SET", &key, "v"]), "+OK\r\n");
        for _ in 0..i {
            call_str(stream, &["GET", &key]);
        }
    }
}

const LFU: &[&str] = &["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0", "--lfu-decay-time", "0"];

#[test]
fn hotkeys_print_what_redis_cli_prints() {
    let server = Server::start_with(LFU);
    let mut conn = server.connect();
    hot_keys(&mut conn);
    let output = cli(server.port(), &["--hotkeys"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("\n# Scanning the entire keyspace to find hot keys as well as\n"), "{text}");
    assert!(text.contains("\n-------- summary -------\n\nSampled 20 keys in the keyspace!\n"), "{text}");
    // The 16 hottest, hottest first: hot:19 (counter 24) down to hot:4 (counter 9).
    let summary: Vec<&str> = text.lines().filter(|line| line.starts_with("hot key found")).collect();
    assert_eq!(summary.len(), 16, "{text}");
    assert_eq!(summary[0], "hot key found with counter: 24\tkeyname: \"hot:19\"");
    assert_eq!(summary[15], "hot key found with counter: 9\tkeyname: \"hot:4\"");
    if redis_cli_installed() {
        same_stdout_as_redis_cli(server.port(), &["--hotkeys"]);
        same_stdout_as_redis_cli(server.port(), &["--hotkeys", "--pattern", "hot:1*"]);
    }
    // Against Redis itself, the same keys read the same way give the same output from both clients.
    if let Some(redis) = Redis::start_with(LFU) {
        hot_keys(&mut redis.connect());
        if redis_cli_installed() {
            same_stdout_as_redis_cli(redis.port(), &["--hotkeys"]);
        }
    }
    server.stop();
}

#[test]
fn hotkeys_refuse_without_an_lfu_policy_as_redis_cli_does() {
    let server = Server::start();
    let mut conn = server.connect();
    assert_eq!(call_str(&mut conn, &["SET", "k", "v"]), "+OK\r\n");
    let ours = cli(server.port(), &["--hotkeys"]);
    assert_eq!(ours.status.code(), Some(1));
    assert!(
        stderr(&ours).starts_with("Error: ERR An LFU maxmemory policy is not selected, access frequency not tracked."),
        "{}",
        stderr(&ours)
    );
    if redis_cli_installed() {
        let theirs = run_program("redis-cli", server.port(), &["--hotkeys"], b"");
        assert_eq!(
            (ours.status.code(), stdout(&ours), stderr(&ours)),
            (theirs.status.code(), stdout(&theirs), stderr(&theirs))
        );
    }
    server.stop();
}

/// What is left of a `--latency-dist` line without its colour codes, and the colours it used.
fn strip_colours(line: &str) -> (String, Vec<u8>) {
    let mut text = String::new();
    let mut colours = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find('\x1b') {
        text.push_str(&rest[..at]);
        let end = rest[at..].find('m').expect("an escape sequence ends in m") + at;
        if let Some(colour) = rest[at..end].strip_prefix("\x1b[48;5;") {
            colours.push(colour.parse().expect("a colour number"));
        }
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    (text, colours)
}

#[test]
fn latency_dist_prints_redis_clis_legend_and_a_spectrum_line_per_period() {
    let server = Server::start();
    for mono in [false, true] {
        let mut args = vec!["--latency-dist", "-i", "0.1"];
        if mono {
            args.push("--mono");
        }
        let (mut child, rx) = spawn_reader(server.port(), &args);
        // The legend (8 lines), then one spectrum line per period.
        let got = lines(&rx, 10);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got[0], "---------------------------------------------");
        assert_eq!(got[1], ". - * #          .01 .125 .25 .5 milliseconds");
        assert_eq!(got[5], "K,L,M,N,O,P,Q,?  1,2,4,8,16,30,60,>60 seconds");
        let (legend, palette) = strip_colours(&got[6]);
        assert_eq!(legend, format!("From 0 to 100%: {}", " ".repeat(palette.len())));
        assert_eq!(palette.len(), if mono { 13 } else { 19 });
        assert_eq!(got[7], got[0]);
        for line in &got[8..] {
            let (characters, colours) = strip_colours(line);
            assert_eq!(characters, ".-*#123456789ABCDEFGHIJKLMNOPQ?", "{line:?}");
            // Every sample is in some bucket: at least one is coloured; the rest are black (0).
            assert_eq!(colours.len(), 31);
            assert!(colours.iter().any(|&colour| colour != 0), "{line:?}");
            assert!(colours.iter().all(|colour| palette.contains(colour)), "{line:?}");
        }
        if redis_cli_installed() {
            let (mut child, rx) = spawn_program_reader("redis-cli", server.port(), &args);
            let theirs = lines(&rx, 8);
            let _ = child.kill();
            let _ = child.wait();
            assert_eq!(got[..8], theirs[..], "the legend, mono: {mono}");
        }
    }
    server.stop();
}
