//! What the server does with bad, huge or greedy clients (SPEC §2 limits, §3 back-pressure): every
//! malformed request gets `-ERR Protocol error: ...` and a close, HTTP requests are dropped silently,
//! announced lengths cost no memory, `--max-clients`, `--timeout`, and a slow consumer whose unsent
//! replies stay bounded while other clients are served. After each, the server still answers another
//! client with its data intact.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tinykv_tests::{
    call, proc_status_kib, read_line, read_to_close, read_to_close_or_reset, resp, retry_until, roundtrip, Server,
    DEADLINE, GREETING,
};

const CANARY_VALUE: &[u8] = b"intact \r\n\0 value";

fn server() -> Server {
    Server::start_with(&["--no-greeting"])
}

/// Stores the canary key and returns the connection that did it, kept open to check later that the
/// bad client did not disturb other connections.
fn plant_canary(server: &Server) -> TcpStream {
    let mut stream = server.connect();
    roundtrip(&mut stream, &resp(&[b"SET", b"canary", CANARY_VALUE]), b"+OK\r\n");
    stream
}

/// The long-lived connection and a fresh one both still read the canary.
fn check_canary(server: &Server, old: &mut TcpStream) {
    let expected = [format!("${}\r\n", CANARY_VALUE.len()).as_bytes(), CANARY_VALUE, b"\r\n"].concat();
    roundtrip(old, &resp(&[b"GET", b"canary"]), &expected);
    let mut fresh = server.connect();
    roundtrip(&mut fresh, b"GET canary\r\n", &expected);
}

/// Asserts `reply` is exactly one `-ERR Protocol error: <what>\r\n` line and returns it.
fn assert_one_protocol_error(reply: &[u8], input: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let shown = String::from_utf8_lossy(&input[..input.len().min(80)]).into_owned();
    assert!(
        text.starts_with("-ERR Protocol error: ") && text.len() > "-ERR Protocol error: \r\n".len(),
        "reply to {shown:?} should be a protocol error, got {text:?}"
    );
    assert!(text.ends_with("\r\n") && text.matches("\r\n").count() == 1, "one error line for {shown:?}, got {text:?}");
    text
}

/// Sends `input` on a fresh connection; it must get one protocol error and be closed. The canary
/// is checked before and after.
fn expect_protocol_error(server: &Server, input: &[u8]) -> String {
    let mut canary = plant_canary(server);
    let mut stream = server.connect();
    stream.write_all(input).unwrap();
    let reply = read_to_close_or_reset(&mut stream);
    let error = assert_one_protocol_error(&reply, input);
    check_canary(server, &mut canary);
    error
}

#[test]
fn non_numeric_array_count() {
    let server = server();
    expect_protocol_error(&server, b"*abc\r\n");
    expect_protocol_error(&server, b"*3x\r\n$3\r\nSET\r\n");
    server.stop();
}

#[test]
fn nonsense_after_star() {
    let server = server();
    for input in [&b"*-\r\n"[..], b"*-abc\r\n", b"*--1\r\n", b"*\r\n", b"*1.5\r\n", b"* 1\r\n"] {
        expect_protocol_error(&server, input);
    }
    server.stop();
}

#[test]
fn array_count_over_the_element_limit() {
    let server = server();
    expect_protocol_error(&server, b"*3000000\r\n");
    expect_protocol_error(&server, b"*1048577\r\n");
    expect_protocol_error(&server, b"*99999999999999999999999\r\n");
    // The limit itself is allowed: DEL with 1,048,575 keys (7 MiB of request) gets its answer.
    let mut canary = plant_canary(&server);
    let mut stream = server.connect();
    let mut request = b"*1048576\r\n$3\r\nDEL\r\n".to_vec();
    request.extend_from_slice(&b"$1\r\nx\r\n".repeat(1_048_575));
    stream.write_all(&request).unwrap();
    assert_eq!(read_line(&mut stream), b":0\r\n");
    roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
    check_canary(&server, &mut canary);
    server.stop();
}

#[test]
fn negative_bulk_length() {
    let server = server();
    expect_protocol_error(&server, b"*1\r\n$-5\r\n");
    server.stop();
}

#[test]
fn non_numeric_bulk_length() {
    let server = server();
    expect_protocol_error(&server, b"*1\r\n$abc\r\n");
    expect_protocol_error(&server, b"*2\r\n$3\r\nGET\r\n$\r\n");
    server.stop();
}

#[test]
fn array_element_that_is_not_a_bulk_string() {
    let server = server();
    expect_protocol_error(&server, b"*1\r\n+PING\r\n");
    expect_protocol_error(&server, b"*1\r\n:1\r\n");
    // Nested arrays are not accepted from clients.
    expect_protocol_error(&server, b"*1\r\n*1\r\n$4\r\nPING\r\n");
    server.stop();
}

#[test]
fn bulk_string_without_crlf() {
    let server = server();
    expect_protocol_error(&server, b"*1\r\n$4\r\nPINGxx");
    expect_protocol_error(&server, b"*2\r\n$3\r\nGET\r\n$1\r\nkey\r\n");
    server.stop();
}

#[test]
fn header_line_without_newline_is_refused_once_too_long() {
    let server = server();
    let mut long_count = b"*".to_vec();
    long_count.extend(std::iter::repeat_n(b'1', 100 * 1024));
    expect_protocol_error(&server, &long_count);
    let mut long_bulk = b"*1\r\n$".to_vec();
    long_bulk.extend(std::iter::repeat_n(b'1', 100 * 1024));
    expect_protocol_error(&server, &long_bulk);
    server.stop();
}

#[test]
fn replies_before_a_malformed_request_are_still_sent() {
    let server = server();
    let mut stream = server.connect();
    stream.write_all(b"PING\r\nSET a 1\r\n*abc\r\nGET a\r\n").unwrap();
    let reply = read_to_close_or_reset(&mut stream);
    let rest =
        reply.strip_prefix(b"+PONG\r\n+OK\r\n").unwrap_or_else(|| panic!("{:?}", String::from_utf8_lossy(&reply)));
    // The request after the bad one is not executed: the stream can't be trusted past it.
    assert_one_protocol_error(rest, b"*abc\r\n");
    server.stop();
}

#[test]
fn bulk_over_proto_max_bulk_len() {
    let server = Server::start_with(&["--no-greeting", "--proto-max-bulk-len", "1kb"]);
    // Refused from the header alone, before the bytes are sent.
    expect_protocol_error(&server, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n");
    // Even when the bytes do come along.
    let mut full = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n".to_vec();
    full.extend(std::iter::repeat_n(b'v', 1025));
    full.extend_from_slice(b"\r\n");
    expect_protocol_error(&server, &full);
    // The limit itself is fine.
    let value = vec![b'v'; 1024];
    let mut stream = server.connect();
    roundtrip(&mut stream, &resp(&[b"SET", b"k", &value]), b"+OK\r\n");
    roundtrip(&mut stream, b"GET k\r\n", &[&b"$1024\r\n"[..], &value, b"\r\n"].concat());
    server.stop();
}

/// Resident and virtual size of the server, in KiB.
fn memory(server: &Server) -> (u64, u64) {
    (proc_status_kib(server.pid(), "VmRSS"), proc_status_kib(server.pid(), "VmSize"))
}

/// Gets the server's allocator and worker threads going, so later growth is the test's doing.
fn warm_up(server: &Server) {
    std::thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                let mut stream = server.connect();
                for i in 0..200 {
                    let key = format!("warm:{t}:{i}");
                    roundtrip(&mut stream, &resp(&[b"SET", key.as_bytes(), &[b'w'; 100]]), b"+OK\r\n");
                }
            });
        }
    });
}

#[test]
fn huge_announced_bulk_allocates_nothing() {
    let server = server();
    warm_up(&server);
    let mut canary = plant_canary(&server);
    let (rss0, vm0) = memory(&server);

    // Over the 512 MiB limit: refused, and nothing reserved for it.
    expect_protocol_error(&server, b"*1\r\n$2000000000\r\n");
    let (rss1, vm1) = memory(&server);

    // At the limit: accepted, but memory only grows as bytes really arrive (here 1 MiB of 512 MiB).
    let mut stream = server.connect();
    stream.write_all(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$536870912\r\n").unwrap();
    stream.write_all(&vec![b'x'; 1 << 20]).unwrap();
    roundtrip(&mut canary, b"PING\r\n", b"+PONG\r\n"); // the server has had time to read it all
    let (rss2, vm2) = memory(&server);
    eprintln!("RSS KiB {rss0} -> {rss1} -> {rss2}; VmSize KiB {vm0} -> {vm1} -> {vm2}");
    // A server that reserved the announced length would grow by ~1.9 GiB or 512 MiB of address space.
    for (rss, vm) in [(rss1, vm1), (rss2, vm2)] {
        assert!(rss < rss0 + 32 * 1024, "RSS grew from {rss0} to {rss} KiB");
        assert!(vm < vm0 + 256 * 1024, "VmSize grew from {vm0} to {vm} KiB");
    }
    drop(stream);
    check_canary(&server, &mut canary);
    // The abandoned half-sent SET stored nothing.
    roundtrip(&mut canary, b"GET big\r\n", b"$-1\r\n");
    server.stop();
}

#[test]
fn ten_mebibyte_inline_line_without_newline() {
    let server = server();
    warm_up(&server);
    let mut canary = plant_canary(&server);
    let rss0 = server.rss_kib();
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    // The server closes mid-write, so the write fails (EPIPE or reset); only the reply matters.
    let sender = std::thread::spawn(move || {
        let line = vec![b'a'; 10 << 20];
        let _ = writer.write_all(&line);
    });
    let reply = read_to_close_or_reset(&mut stream);
    assert_one_protocol_error(&reply, b"aaaa... (10 MiB, no newline)");
    sender.join().unwrap();
    let peak = proc_status_kib(server.pid(), "VmHWM");
    eprintln!("RSS KiB before {rss0}, peak {peak}, after {}", server.rss_kib());
    // The line is refused once it passes 64 KiB; it is never buffered whole.
    // 8 MiB of slack for allocator noise: a server that buffered the 10 MiB line would pass it.
    assert!(peak < rss0 + 8 * 1024, "peak RSS {peak} KiB vs {rss0} KiB before");
    check_canary(&server, &mut canary);
    server.stop();
}

#[test]
fn inline_line_just_under_64_kib_is_accepted() {
    let server = server();
    let value = "v".repeat(64 * 1024 - 100);
    let mut stream = server.connect();
    roundtrip(&mut stream, format!("SET long {value}\r\n").as_bytes(), b"+OK\r\n");
    roundtrip(&mut stream, &resp(&[b"GET", b"long"]), format!("${}\r\n{value}\r\n", value.len()).as_bytes());
    server.stop();
}

#[test]
fn http_requests_are_closed_without_a_reply() {
    let server = server();
    let mut canary = plant_canary(&server);
    for input in [
        &b"POST / HTTP/1.1\r\nHost: localhost:4040\r\nContent-Length: 15\r\n\r\nSET canary evil"[..],
        b"post /x HTTP/1.0\n\n",
        b"Host: example.com\r\n\r\n",
    ] {
        let mut stream = server.connect();
        stream.write_all(input).unwrap();
        let reply = read_to_close_or_reset(&mut stream);
        assert!(
            reply.is_empty(),
            "reply to {:?}: {:?}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&reply)
        );
    }
    // A browser's GET is a (wrong-arity) GET, then its Host: line ends the connection, as in Redis.
    let mut stream = server.connect();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nSET canary evil\r\n\r\n").unwrap();
    let reply = read_to_close_or_reset(&mut stream);
    assert_eq!(String::from_utf8_lossy(&reply), "-ERR wrong number of arguments for 'get' command\r\n");
    // Nothing after the HTTP line was executed.
    check_canary(&server, &mut canary);
    server.stop();
}

#[test]
fn max_clients_overflow_is_refused_and_a_freed_slot_is_reused() {
    let server = Server::start_with(&["--max-clients", "2"]);
    let refusal = b"-ERR max number of clients reached\r\n";
    let mut first = server.connect_greeted();
    let second = server.connect_greeted();
    let mut third = server.connect();
    assert_eq!(String::from_utf8_lossy(&read_to_close_or_reset(&mut third)), String::from_utf8_lossy(refusal));
    // The two admitted clients are unaffected.
    roundtrip(&mut first, b"SET seat taken\r\n", b"+OK\r\n");

    drop(second);
    let mut replacement = retry_until("a freed client slot", || {
        let mut stream = server.connect();
        let line = read_line(&mut stream);
        if line == GREETING {
            return Some(stream);
        }
        assert_eq!(line, refusal, "unexpected first line");
        assert_eq!(read_to_close_or_reset(&mut stream), b"", "refused connection not closed");
        None
    });
    roundtrip(&mut replacement, b"GET seat\r\n", b"$5\r\ntaken\r\n");
    // Full again: the limit still holds after the churn.
    let mut fourth = server.connect();
    assert_eq!(read_to_close_or_reset(&mut fourth), refusal);
    roundtrip(&mut first, b"PING\r\n", b"+PONG\r\n");
    server.stop();
}

#[test]
fn idle_client_is_closed_after_timeout_while_an_active_one_stays() {
    let server = Server::start_with(&["--timeout", "1"]);
    let mut idle = server.connect_greeted();
    // The idle clock starts at the greeting (a write is activity, as in Redis), which under the default
    // `--greeting auto` comes 100 ms after the connect: time from there, not from the next client's.
    let start = Instant::now();
    let mut active = server.connect_greeted();
    let watcher = std::thread::spawn(move || {
        let rest = read_to_close(&mut idle);
        (rest, start.elapsed())
    });
    // Keep the active client busy (well inside the 1 s timeout) until the idle one is gone and the
    // active one has lived well past the timeout.
    let mut pings = 0;
    while !watcher.is_finished() || start.elapsed() < Duration::from_millis(2500) {
        assert!(start.elapsed() < DEADLINE, "idle client was not closed within {DEADLINE:?}");
        roundtrip(&mut active, b"PING\r\n", b"+PONG\r\n");
        pings += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let (rest, closed_after) = watcher.join().unwrap();
    eprintln!("idle client closed after {closed_after:?}; active client sent {pings} pings");
    assert!(rest.is_empty(), "idle client got {:?} before the close", String::from_utf8_lossy(&rest));
    assert!(closed_after >= Duration::from_millis(900), "closed after {closed_after:?}, before the 1 s timeout");
    roundtrip(&mut active, b"SET still here\r\n", b"+OK\r\n");
    server.stop();
}

/// Bytes waiting to be read on `stream` (FIONREAD).
fn unread_bytes(stream: &TcpStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "ioctl FIONREAD");
    n as usize
}

#[test]
fn slow_consumer_memory_stays_bounded_and_others_are_served() {
    const GETS: usize = 100_000;
    const VALUE_LEN: usize = 16 * 1024;
    let server = server();
    warm_up(&server);
    let value: Vec<u8> = (0..VALUE_LEN).map(|i| (i % 251) as u8).collect();
    let mut other = server.connect();
    roundtrip(&mut other, &resp(&[b"SET", b"k", &value]), b"+OK\r\n");
    let baseline = server.rss_kib();

    let mut slow = server.connect();
    let mut writer = slow.try_clone().unwrap();
    // The writes block once the server stops reading, so they run on their own thread.
    let sender = std::thread::spawn(move || writer.write_all(&b"GET k\r\n".repeat(GETS)));

    // Wait until the server is stuck on this client: replies have piled up unread and stopped coming.
    let mut peak = baseline;
    let mut last = (0, Instant::now());
    retry_until("the slow client's replies to stop growing", || {
        peak = peak.max(server.rss_kib());
        let unread = unread_bytes(&slow);
        if unread != last.0 {
            last = (unread, Instant::now());
            return None;
        }
        (unread > 0 && last.1.elapsed() > Duration::from_millis(300)).then_some(())
    });
    // Meanwhile another client is served normally.
    let reply = [&b"$16384\r\n"[..], &value, b"\r\n"].concat();
    for i in 0..20 {
        peak = peak.max(server.rss_kib());
        roundtrip(&mut other, format!("SET other {i}\r\n").as_bytes(), b"+OK\r\n");
        roundtrip(&mut other, b"GET k\r\n", &reply);
    }
    peak = peak.max(server.rss_kib());
    let stuck_at = unread_bytes(&slow);
    // The server stopped reading the slow client: far fewer of its GETs have run than it sent.
    let stats = String::from_utf8_lossy(&call(&mut other, &[b"INFO", b"stats"])).into_owned();
    let processed: usize = stats
        .lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("total_commands_processed in INFO stats");
    eprintln!(
        "slow consumer: baseline RSS {baseline} KiB, peak sampled while stuck {peak} KiB (+{} KiB), {stuck_at} reply \
         bytes unread at the client",
        peak - baseline
    );
    assert!(peak < baseline + 128 * 1024, "RSS {peak} KiB while stuck, baseline {baseline} KiB");
    assert!(processed < GETS / 2, "the server kept executing a client that does not read: {processed} commands");

    // Now drain every reply: all 100,000 arrive, complete and in step.
    let total = GETS * reply.len();
    let mut chunk = vec![0u8; 1 << 20];
    let mut pos = 0;
    while pos < total {
        let want = chunk.len().min(total - pos);
        let n = slow.read(&mut chunk[..want]).expect("read slow replies");
        assert!(n > 0, "closed after {pos} of {total} bytes");
        // Compare reply-aligned segments (memcmp, not a byte loop: this is 1.6 GB).
        let mut done = 0;
        while done < n {
            let at = (pos + done) % reply.len();
            let len = (reply.len() - at).min(n - done);
            assert!(chunk[done..done + len] == reply[at..at + len], "reply {} differs", (pos + done) / reply.len());
            done += len;
        }
        pos += n;
    }
    sender.join().unwrap().expect("all requests written");
    roundtrip(&mut slow, b"PING\r\n", b"+PONG\r\n");
    let hwm = proc_status_kib(server.pid(), "VmHWM");
    eprintln!("slow consumer: process peak RSS (VmHWM) {hwm} KiB over the whole test");
    assert!(hwm < baseline + 128 * 1024, "VmHWM {hwm} KiB, baseline {baseline} KiB");
    roundtrip(&mut other, b"GET other\r\n", b"$2\r\n19\r\n");
    server.stop();
}

/// Length headers are read as Redis's `string2ll` reads them: no leading zeros, no `-0` (`*0` is an
/// empty array, skipped). The same bytes to redis-server get the same reply, byte for byte.
#[test]
fn leading_zeros_and_minus_zero_in_headers_are_refused_as_redis_refuses_them() {
    let server = server();
    let redis = tinykv_tests::differential::Redis::start();
    let cases: [(&[u8], &str); 5] = [
        (b"*1\r\n$04\r\nPING\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*01\r\n$4\r\nPING\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*-0\r\n*1\r\n$4\r\nPING\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$-0\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*0\r\n*1\r\n$4\r\nPING\r\n", "+PONG\r\n"),
    ];
    for (input, expected) in cases {
        let mut stream = server.connect();
        stream.write_all(input).unwrap();
        let ours = String::from_utf8_lossy(&read_to_close_or_reset_within(&mut stream)).into_owned();
        assert_eq!(ours, expected, "TinyKV's reply to {:?}", String::from_utf8_lossy(input));
        if let Some(redis) = &redis {
            let mut stream = redis.connect();
            stream.write_all(input).unwrap();
            let theirs = String::from_utf8_lossy(&read_to_close_or_reset_within(&mut stream)).into_owned();
            assert_eq!(ours, theirs, "TinyKV and redis-server differ on {:?}", String::from_utf8_lossy(input));
        }
    }
    server.stop();
}

/// What arrives until the server closes the connection or is quiet for half a second (a request
/// that was answered leaves the connection open).
fn read_to_close_or_reset_within(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}
