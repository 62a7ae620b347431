//! `tinykv-cli` in one-shot and batch modes, driven as a script would drive it: arguments, stdin, stdout,
//! stderr and the exit code. Stdout is a pipe here, so output is raw unless `--no-raw` is given.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use tinykv_tests::differential::Redis;
use tinykv_tests::{binary, run_with_input, Server, DEADLINE};

/// Runs `tinykv-cli -p <port> args...` with `stdin` as its input and waits for it, failing the test if it
/// takes longer than [`DEADLINE`].
fn run_cli(port: u16, args: &[&str], stdin: &[u8]) -> Output {
    run_cli_env(port, args, stdin, &[])
}

fn run_cli_env(port: u16, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary("tinykv-cli"));
    command.arg("-p").arg(port.to_string()).args(args);
    command.env_remove("TINYKV_HOST").env_remove("TINYKV_PORT").env_remove("TINYKV_PASSWORD");
    for (key, value) in env {
        command.env(key, value);
    }
    run(command, stdin)
}

fn run(mut command: Command, stdin: &[u8]) -> Output {
    run_with_input(&mut command, stdin).expect("tinykv-cli is built")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts exit code, stdout and stderr at once, so a failure shows all three.
#[track_caller]
fn check(output: &Output, code: i32, out: &str, err: &str) {
    assert_eq!(
        (output.status.code(), stdout(output).as_str(), stderr(output).as_str()),
        (Some(code), out, err),
        "exit code, stdout, stderr"
    );
}

#[test]
fn one_shot_raw_prints_each_reply_kind() {
    let server = Server::start();
    let port = server.port();
    check(&run_cli(port, &["set", "greeting", "hello world"], b""), 0, "OK\n", "");
    check(&run_cli(port, &["get", "greeting"], b""), 0, "hello world\n", "");
    check(&run_cli(port, &["get", "nope"], b""), 0, "\n", "");
    check(&run_cli(port, &["del", "greeting"], b""), 0, "1\n", "");
    check(&run_cli(port, &["config", "get", "no-such-parameter"], b""), 0, "\n", "");

    // An error reply: `ERR ...` on stdout, again on stderr, exit 1.
    let output = run_cli(port, &["nosuchcommand", "x"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("ERR unknown command"), "{}", stdout(&output));
    assert_eq!(stdout(&output), stderr(&output));

    // A nested array, one element per line, and a null element as an empty line.
    let output = run_cli(port, &["command", "info", "get", "nosuch"], b"");
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.starts_with("get\n2\nreadonly\nfast\n1\n1\n1\n"), "{text}");
    assert!(text.ends_with("\n\n"), "the null element is an empty line: {text:?}");
    server.stop();
}

#[test]
fn one_shot_pretty_prints_each_reply_kind() {
    let server = Server::start();
    let port = server.port();
    let pretty = |args: &[&str]| run_cli(port, &[&["--no-raw"], args].concat(), b"");
    check(&pretty(&["set", "greeting", "hello world"]), 0, "OK\n", "");
    check(&pretty(&["get", "greeting"]), 0, "\"hello world\"\n", "");
    check(&pretty(&["get", "nope"]), 0, "(nil)\n", "");
    check(&pretty(&["del", "greeting"]), 0, "(integer) 1\n", "");
    check(&pretty(&["ping"]), 0, "PONG\n", "");
    check(&pretty(&["config", "get", "no-such-parameter"]), 0, "(empty array)\n", "");

    let output = pretty(&["nosuchcommand"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("(error) ERR unknown command 'nosuchcommand'"), "{}", stdout(&output));
    assert_eq!(stderr(&output), "", "pretty errors go to stdout only");

    // Nested arrays indent under their number, as redis-cli prints them.
    let output = pretty(&["command", "info", "get", "nosuch"]);
    let text = stdout(&output);
    assert!(text.starts_with("1)  1) \"get\"\n    2) (integer) 2\n    3) 1) readonly\n       2) fast\n"), "{text}");
    assert!(text.ends_with("\n2) (nil)\n"), "{text}");

    // Control and invalid bytes are escaped; UTF-8 is shown as is.
    check(&run_cli(port, &["-x", "set", "bin"], "é\u{1}\n\t\"".as_bytes()), 0, "OK\n", "");
    check(&pretty(&["get", "bin"]), 0, "\"é\\x01\\n\\t\\\"\"\n", "");
    server.stop();
}

#[test]
fn binary_values_round_trip_raw() {
    let server = Server::start();
    let port = server.port();
    check(&run_cli(port, &[], b"set bin \"\\xff\\x00\\r\\n\"\n"), 0, "OK\n", "");
    let output = run_cli(port, &["get", "bin"], b"");
    assert_eq!(output.stdout, b"\xff\x00\r\n\n");
    check(&run_cli(port, &["--no-raw", "get", "bin"], b""), 0, "\"\\xff\\x00\\r\\n\"\n", "");
    server.stop();
}

#[test]
fn connection_refused_is_reported_on_stderr() {
    // A port that was free a moment ago and has nobody listening now.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = run_cli(port, &["get", "foo"], b"");
    check(&output, 1, "", &format!("Could not connect to 127.0.0.1:{port}: Connection refused\n"));
    // Batch mode says the same.
    let output = run_cli(port, &[], b"get foo\n");
    check(&output, 1, "", &format!("Could not connect to 127.0.0.1:{port}: Connection refused\n"));
}

#[test]
fn batch_of_five_commands_prints_replies_in_order() {
    let server = Server::start();
    let input = b"set a 1\n\nget a\nset b \"two words\"\r\nget b\nget nope\n";
    check(&run_cli(server.port(), &[], input), 0, "OK\n1\nOK\ntwo words\n\n", "");
    let pretty = run_cli(server.port(), &["--no-raw"], input);
    check(&pretty, 0, "OK\n\"1\"\nOK\n\"two words\"\n(nil)\n", "");
    server.stop();
}

#[test]
fn batch_exits_1_on_an_error_reply_or_a_bad_line() {
    let server = Server::start();
    let output = run_cli(server.port(), &[], b"set a 1\nnosuchcommand\nget a\n");
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.starts_with("OK\nERR unknown command"), "{text}");
    assert!(text.ends_with("\n1\n"), "later commands still run: {text}");

    // An unbalanced quote is reported and not sent; the lines around it are.
    let output = run_cli(server.port(), &[], b"set a 2\nset b \"open\nget a\n");
    check(&output, 1, "OK\n2\n", "Invalid argument(s): unbalanced quotes\n");
    server.stop();
}

#[test]
fn batch_of_ten_thousand_commands_is_pipelined() {
    let server = Server::start();
    let mut input = String::new();
    let mut expected = String::new();
    for i in 0..10_000 {
        input.push_str(&format!("echo value-{i}\n"));
        expected.push_str(&format!("value-{i}\n"));
    }
    let started = Instant::now();
    let output = run_cli(server.port(), &[], input.as_bytes());
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output) == expected, "replies missing or out of order");
    // One round trip per command would take far longer on a loaded machine; pipelined it is well under this.
    assert!(took.as_secs() < 10, "10,000 commands took {took:?}");
    server.stop();
}

#[test]
fn works_with_and_without_the_greeting() {
    // Greets on connect; never greets; the default greets only clients that don't speak RESP first.
    let greeting = Server::start_with(&["--greeting", "always"]);
    let silent = Server::start_with(&["--no-greeting"]);
    let default = Server::start();
    for server in [&greeting, &silent, &default] {
        let port = server.port();
        check(&run_cli(port, &["ping"], b""), 0, "PONG\n", "");
        check(&run_cli(port, &["set", "k", "v"], b""), 0, "OK\n", "");
        check(&run_cli(port, &["--no-raw", "get", "k"], b""), 0, "\"v\"\n", "");
        check(&run_cli(port, &[], b"echo one\necho two\n"), 0, "one\ntwo\n", "");
    }
    // Nothing was left unread: the greeting server really did greet a raw connection.
    let mut raw = greeting.connect_greeted();
    tinykv_tests::roundtrip(&mut raw, &tinykv_tests::resp(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    greeting.stop();
    silent.stop();
    default.stop();
}

#[test]
fn dash_x_reads_the_last_argument_from_stdin() {
    let server = Server::start();
    let port = server.port();
    check(&run_cli(port, &["-x", "set", "poem"], b"roses\nare red\n"), 0, "OK\n", "");
    check(&run_cli(port, &["--no-raw", "get", "poem"], b""), 0, "\"roses\\nare red\\n\"\n", "");
    check(&run_cli(port, &["-x"], b"x"), 1, "", "Error: -x needs a command to append stdin to\n");
    server.stop();
}

#[test]
fn repeat_and_interval() {
    let server = Server::start();
    check(&run_cli(server.port(), &["-r", "3", "-i", "0.01", "ping"], b""), 0, "PONG\nPONG\nPONG\n", "");
    check(&run_cli(server.port(), &["-r", "0", "ping"], b""), 0, "", "");
    server.stop();
}

#[test]
fn environment_supplies_host_port_and_password() {
    let server = Server::start_with(&["--requirepass", "s3cret"]);
    let port = server.port().to_string();
    let mut command = Command::new(binary("tinykv-cli"));
    command.args(["set", "k", "v"]).env("TINYKV_HOST", "127.0.0.1").env("TINYKV_PORT", &port);
    command.env("TINYKV_PASSWORD", "s3cret");
    check(&run(command, b""), 0, "OK\n", "");
    // TINYKV_HOST is really read: a host that does not resolve is named in the failure.
    let mut command = Command::new(binary("tinykv-cli"));
    command.args(["ping"]).env("TINYKV_HOST", "nohost.invalid").env("TINYKV_PORT", &port);
    let output = run(command, b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nohost.invalid"), "{output:?}");
    // Without the password the server refuses.
    let output = run_cli(server.port(), &["get", "k"], b"");
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("NOAUTH"), "{}", stdout(&output));
    // A password on the command line gets redis-cli's warning (one from the environment does not).
    let warning = "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.\n";
    check(&run_cli(server.port(), &["-a", "s3cret", "get", "k"], b""), 0, "v\n", warning);
    check(&run_cli(server.port(), &["--no-auth-warning", "-a", "s3cret", "get", "k"], b""), 0, "v\n", "");
    server.stop();
}

#[test]
fn help_and_version() {
    let output = run(
        {
            let mut command = Command::new(binary("tinykv-cli"));
            command.arg("--help");
            command
        },
        b"",
    );
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for flag in ["-h, --host", "-p, --port", "-a, --pass", "--raw", "--no-raw", "-r <N>", "-i <SECS>", "-x"] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
    let output = run(
        {
            let mut command = Command::new(binary("tinykv-cli"));
            command.arg("--version");
            command
        },
        b"",
    );
    check(&output, 0, &format!("tinykv-cli {}\n", env!("CARGO_PKG_VERSION")), "");
}

#[test]
fn works_against_a_real_redis() {
    let Some(redis) = Redis::start() else { return };
    check(&run_cli(redis.port(), &["ping"], b""), 0, "PONG\n", "");
    check(&run_cli(redis.port(), &[], b"set a 1\nincr a\nget a\n"), 0, "OK\n2\n2\n", "");
    check(&run_cli(redis.port(), &[], b"del l\nrpush l a \"b c\"\n"), 0, "0\n2\n", "");
    check(&run_cli(redis.port(), &["--no-raw", "lrange", "l", "0", "-1"], b""), 0, "1) \"a\"\n2) \"b c\"\n", "");
}

#[test]
fn batch_stops_quietly_when_stdout_is_closed() {
    use std::io::{BufRead, BufReader};
    let server = Server::start();
    let mut command = Command::new(binary("tinykv-cli"));
    command.arg("-p").arg(server.port().to_string());
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn tinykv-cli");
    let mut input = child.stdin.take().unwrap();
    // Far more input than the reader will look at, written as long as the CLI accepts it.
    std::thread::spawn(move || {
        let line = b"echo some-reply-text\n".repeat(1000);
        for _ in 0..1000 {
            if input.write_all(&line).is_err() {
                break;
            }
        }
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(first, "some-reply-text\n");
    // The reader has gone (like `| head -1`): the CLI notices, stops, and says nothing about it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx.recv_timeout(DEADLINE).expect("tinykv-cli stopped").unwrap();
    assert_eq!((output.status.code(), stderr(&output).as_str()), (Some(0), ""));
    server.stop();
}
