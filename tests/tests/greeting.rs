//! When the server greets (SPEC §3): `--greeting auto` (the default) keeps `+TinyKV ready` from every
//! client that speaks RESP first, gives it to inline clients before their first reply and to silent ones
//! (a person at telnet) after 100 ms; `always` greets on connect, `never` and the old `--no-greeting` not
//! at all. Also: the greeting's wait does not hold up shutdown or the idle timeout, and `redis-cli` against
//! a server started with no flags prints only its reply.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use tinykv_tests::{
    binary, read_exact_bytes, read_to_close, read_to_close_or_reset, resp, retry_until, roundtrip, run_with_deadline,
    Server, DEADLINE, GREETING,
};

/// The server waits this long for a client's first bytes. A request written within half of it after the
/// connect reaches the server before its timer can fire, whatever the scheduling on the server side.
const PROMPT: Duration = Duration::from_millis(50);

/// Connects and writes `request` at once. `None` when this thread was held up so long between the connect
/// and the end of the write that the server might fairly have timed out first (a loaded machine): the
/// attempt proves nothing, and the caller tries again.
fn connect_and_send_promptly(server: &Server, request: &[u8]) -> Option<TcpStream> {
    let started = Instant::now();
    let mut stream = server.connect();
    stream.write_all(request).expect("write");
    (started.elapsed() < PROMPT).then_some(stream)
}

/// Asserts that nothing arrives on `stream` for a while (longer than the greeting's 100 ms), then restores
/// the usual read timeout. A negative can only be shown by waiting; this is the one wait these tests make.
fn assert_silent(stream: &mut TcpStream, what: &str) {
    stream.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(0) => panic!("{what}: connection closed"),
        Ok(_) => panic!("{what}: the server sent {:?} unasked", byte[0] as char),
        Err(e) => panic!("{what}: {e}"),
    }
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
}

#[test]
fn a_resp_client_on_a_default_server_never_sees_the_greeting() {
    let server = Server::start();
    let ping = resp(&[b"PING"]);
    let mut stream = retry_until("a connect and write within 50 ms", || connect_and_send_promptly(&server, &ping));
    // Had the greeting been sent, it would come before the reply.
    assert_eq!(String::from_utf8_lossy(&read_exact_bytes(&mut stream, 7)), "+PONG\r\n");
    // Not later either: the timer ended with the decision. Later inline requests get no greeting.
    assert_silent(&mut stream, "a RESP client after its first reply");
    roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
    roundtrip(&mut stream, &resp(&[b"ECHO", b"x"]), b"$1\r\nx\r\n");
    server.stop();
}

#[test]
fn an_inline_client_gets_the_greeting_before_its_first_reply() {
    let server = Server::start();
    let mut stream = server.connect();
    // The nc user's transcript: the lines arrive with (or before) the greeting's moment; either way the
    // greeting leads, once.
    stream.write_all(b"SET foo bar\nGET foo\n").unwrap();
    stream.write_all(&resp(&[b"DEL", b"foo"])).unwrap();
    stream.write_all(b"QUIT\r\n").unwrap();
    let mut expected = GREETING.to_vec();
    expected.extend_from_slice(b"+OK\r\n$3\r\nbar\r\n:1\r\n+OK\r\n");
    assert_eq!(String::from_utf8_lossy(&read_to_close(&mut stream)), String::from_utf8_lossy(&expected));

    // Sent promptly, so the first bytes decided it, not the timer.
    let mut stream =
        retry_until("a connect and write within 50 ms", || connect_and_send_promptly(&server, b"PING\r\n"));
    let mut expected = GREETING.to_vec();
    expected.extend_from_slice(b"+PONG\r\n");
    assert_eq!(read_exact_bytes(&mut stream, expected.len()), expected);
    roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
    server.stop();
}

#[test]
fn a_silent_client_gets_the_greeting_after_a_moment() {
    let server = Server::start();
    let mut stream = server.connect();
    // A person at telnet types nothing yet: the greeting comes anyway (the read waits up to DEADLINE).
    assert_eq!(read_exact_bytes(&mut stream, GREETING.len()), GREETING);
    // Once, and then the connection is an ordinary one for either protocol.
    roundtrip(&mut stream, &resp(&[b"PING"]), b"+PONG\r\n");
    roundtrip(&mut stream, b"GET nothing\r\n", b"$-1\r\n");
    server.stop();
}

#[test]
fn greeting_always_greets_every_client_on_connect() {
    for server in
        [Server::start_with(&["--greeting", "always"]), Server::start_with_env(&[], &[("TINYKV_GREETING", "always")])]
    {
        // A RESP client too, however fast it speaks: the original protocol's behaviour.
        let mut stream = server.connect();
        stream.write_all(&resp(&[b"PING"])).unwrap();
        let mut expected = GREETING.to_vec();
        expected.extend_from_slice(b"+PONG\r\n");
        assert_eq!(
            String::from_utf8_lossy(&read_exact_bytes(&mut stream, expected.len())),
            String::from_utf8_lossy(&expected)
        );
        server.stop();
    }
}

#[test]
fn greeting_never_and_the_old_no_greeting_stay_silent() {
    let servers = [
        Server::start_with(&["--greeting", "never"]),
        Server::start_with(&["--no-greeting"]),
        Server::start_with_env(&[], &[("TINYKV_GREETING", "never")]),
        Server::start_with_env(&[], &[("TINYKV_NO_GREETING", "1")]),
    ];
    for server in servers {
        // An inline client's first reply is its own.
        let mut stream = server.connect();
        roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
        // A silent client hears nothing.
        let mut silent = server.connect();
        assert_silent(&mut silent, "a silent client under --greeting never");
        roundtrip(&mut silent, b"PING\r\n", b"+PONG\r\n");
        server.stop();
    }
}

#[test]
fn a_false_no_greeting_variable_leaves_the_default() {
    let server = Server::start_with_env(&[], &[("TINYKV_NO_GREETING", "0")]);
    let mut stream = server.connect();
    stream.write_all(b"PING\r\n").unwrap();
    let mut expected = GREETING.to_vec();
    expected.extend_from_slice(b"+PONG\r\n");
    assert_eq!(read_exact_bytes(&mut stream, expected.len()), expected);
    server.stop();
}

#[test]
fn contradictory_greeting_flags_are_refused() {
    let output = run_with_deadline(Command::new(binary("tinykv-server")).args([
        "--port",
        "0",
        "--no-greeting",
        "--greeting",
        "always",
    ]))
    .expect("tinykv-server runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--no-greeting") && stderr.contains("--greeting always"), "{stderr}");

    let output =
        run_with_deadline(Command::new(binary("tinykv-server")).args(["--port", "0", "--greeting", "sometimes"]))
            .expect("tinykv-server runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("auto"), "{output:?}");
}

#[test]
fn shutdown_is_not_held_up_by_a_client_still_being_waited_for() {
    let mut server = Server::start();
    // Connected, silent, greeting not yet decided (or just sent): either way SIGTERM ends it promptly.
    let mut waiting = server.connect();
    retry_until("the server to install its signal handler", || {
        tinykv_tests::catches_signal(server.pid(), libc::SIGTERM).then_some(())
    });
    server.signal(libc::SIGTERM);
    let status = server.wait_for_exit(Duration::from_secs(5)).expect("exit after SIGTERM");
    assert!(status.success(), "{status:?}");
    let rest = read_to_close_or_reset(&mut waiting);
    assert!(rest.is_empty() || rest == GREETING, "got {:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn the_idle_timeout_still_closes_a_silent_client() {
    let server = Server::start_with(&["--timeout", "1"]);
    let mut silent = server.connect();
    let start = Instant::now();
    // The greeting after 100 ms, then nothing until the idle timeout closes the connection.
    assert_eq!(read_exact_bytes(&mut silent, GREETING.len()), GREETING);
    assert_eq!(read_to_close(&mut silent), b"");
    assert!(start.elapsed() >= Duration::from_millis(900), "closed after {:?}", start.elapsed());
    server.stop();
}

#[test]
fn redis_cli_against_a_default_server_prints_only_its_reply() {
    let server = Server::start();
    let port = server.port().to_string();
    let cli = |args: &[&str]| run_with_deadline(Command::new("redis-cli").args(["-p", &port]).args(args));
    let Some(set) = cli(&["set", "a", "b"]) else {
        eprintln!("SKIPPED: redis-cli is not installed (apt-get install redis-tools)");
        return;
    };
    let get = cli(&["get", "a"]).expect("redis-cli runs");
    let ping = cli(&["ping"]).expect("redis-cli runs");
    for (output, expected) in [(&set, "OK\n"), (&get, "b\n"), (&ping, "PONG\n")] {
        assert!(output.status.success(), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
        assert!(output.stderr.is_empty(), "redis-cli stderr: {}", String::from_utf8_lossy(&output.stderr));
    }
    server.stop();
}
