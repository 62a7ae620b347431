//! The original TinyKV protocol as a telnet or netcat user sees it (SPEC §2, §3): the greeting, the
//! seed transcript byte for byte, inline parsing rules (quotes split as Redis splits them), error replies
//! that keep the connection open, pipelining of inline commands, inline and RESP on one connection,
//! `--no-greeting`, and `QUIT`. How the greeting is decided is in `greeting.rs`.

use std::io::Write;

use tinykv_tests::{
    read_exact_bytes, read_line, read_to_close, read_to_close_or_reset, resp, roundtrip, Server, GREETING,
};

/// The seed transcript: each request with the reply it must get, byte for byte.
const SEED: &[(&str, &str)] =
    &[("SET foo bar", "+OK\r\n"), ("GET foo", "$3\r\nbar\r\n"), ("DEL foo", ":1\r\n"), ("GET foo", "$-1\r\n")];

#[test]
fn seed_transcript_with_crlf() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    for (request, reply) in SEED {
        roundtrip(&mut stream, format!("{request}\r\n").as_bytes(), reply.as_bytes());
    }
    server.stop();
}

#[test]
fn seed_transcript_with_bare_lf() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    for (request, reply) in SEED {
        roundtrip(&mut stream, format!("{request}\n").as_bytes(), reply.as_bytes());
    }
    server.stop();
}

#[test]
fn seed_transcript_pasted_at_once_gives_exact_byte_stream() {
    // What a user pasting the transcript into netcat gets: the greeting, then every reply, nothing else.
    let server = Server::start();
    let mut stream = server.connect();
    let requests: String = SEED.iter().map(|(request, _)| format!("{request}\r\n")).collect();
    stream.write_all(requests.as_bytes()).unwrap();
    stream.write_all(b"QUIT\r\n").unwrap();
    let mut expected = GREETING.to_vec();
    for (_, reply) in SEED {
        expected.extend_from_slice(reply.as_bytes());
    }
    expected.extend_from_slice(b"+OK\r\n");
    assert_eq!(String::from_utf8_lossy(&read_to_close(&mut stream)), String::from_utf8_lossy(&expected));
    server.stop();
}

#[test]
fn inline_set_value_keeps_spaces() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    roundtrip(&mut stream, b"SET greeting hello world\r\n", b"+OK\r\n");
    roundtrip(&mut stream, b"GET greeting\r\n", b"$11\r\nhello world\r\n");
    // Inner runs of spaces are part of the value; the line's leading and trailing whitespace is not.
    roundtrip(&mut stream, b"  SET spaced a  b   c  \r\n", b"+OK\r\n");
    roundtrip(&mut stream, b"\tGET spaced \r\n", b"$8\r\na  b   c\r\n");
    // A RESP client sees the same stored bytes.
    roundtrip(&mut stream, &resp(&[b"GET", b"greeting"]), b"$11\r\nhello world\r\n");
    server.stop();
}

#[test]
fn inline_quotes_split_as_redis_splits_them() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    // A quoted SET follows Redis: the options after the value are options.
    roundtrip(&mut stream, b"SET k \"hello world\" EX 100\r\n", b"+OK\r\n");
    roundtrip(&mut stream, b"TTL k\r\n", b":100\r\n");
    roundtrip(&mut stream, b"GET k\r\n", b"$11\r\nhello world\r\n");
    // Empty quotes are an empty argument; escapes in double quotes; only \' in single quotes.
    roundtrip(&mut stream, b"MSET e \"\" x \"\\x41\\tB\\\"\" y 'it\\'s \\n'\r\n", b"+OK\r\n");
    roundtrip(&mut stream, b"MGET e x y\r\n", b"*3\r\n$0\r\n\r\n$4\r\nA\tB\"\r\n$7\r\nit's \\n\r\n");
    // A quote may open mid-word, and the other kind of quote inside is plain text.
    roundtrip(&mut stream, b"ECHO a\"b 'c'\"\n", b"$6\r\nab 'c'\r\n");
    // Without quotes, SET keeps the rest of the line as the value, as the original protocol always did.
    roundtrip(&mut stream, b"SET plain v EX 100\r\n", b"+OK\r\n");
    roundtrip(&mut stream, b"GET plain\r\n", b"$8\r\nv EX 100\r\n");
    roundtrip(&mut stream, b"TTL plain\r\n", b":-1\r\n");
    // A RESP client sees the same stored bytes.
    roundtrip(&mut stream, &resp(&[b"GET", b"x"]), b"$4\r\nA\tB\"\r\n");
    server.stop();
}

#[test]
fn unbalanced_quotes_are_a_protocol_error_and_a_close() {
    let server = Server::start_with(&["--greeting", "never"]);
    let reply = "-ERR Protocol error: unbalanced quotes in request\r\n";
    for line in [&b"GET \"k\r\n"[..], b"SET k 'it''s'\r\n", b"GET \"k\"x\n", b"SET name O'Brien\r\n"] {
        let mut stream = server.connect();
        // The requests before the bad line are answered; the one after it is never run.
        let mut batch = b"SET before 1\r\n".to_vec();
        batch.extend_from_slice(line);
        batch.extend_from_slice(b"SET after 1\r\n");
        stream.write_all(&batch).unwrap();
        let got = read_to_close_or_reset(&mut stream);
        assert_eq!(String::from_utf8_lossy(&got), format!("+OK\r\n{reply}"), "{:?}", String::from_utf8_lossy(line));
    }
    let mut stream = server.connect();
    roundtrip(&mut stream, b"GET after\r\n", b"$-1\r\n");
    roundtrip(&mut stream, b"GET before\r\n", b"$1\r\n1\r\n");
    server.stop();
}

#[test]
fn command_names_are_case_insensitive() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    roundtrip(&mut stream, b"set Foo bar\r\n", b"+OK\r\n");
    roundtrip(&mut stream, b"gEt Foo\r\n", b"$3\r\nbar\r\n");
    // Keys are not case-folded, only command names.
    roundtrip(&mut stream, b"Get foo\r\n", b"$-1\r\n");
    roundtrip(&mut stream, b"ping\r\n", b"+PONG\r\n");
    roundtrip(&mut stream, &resp(&[b"get", b"Foo"]), b"$3\r\nbar\r\n");
    roundtrip(&mut stream, b"dEl Foo\r\n", b":1\r\n");
    roundtrip(&mut stream, b"GET Foo\r\n", b"$-1\r\n");
    server.stop();
}

#[test]
fn unknown_command_is_an_error_and_the_connection_goes_on() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    roundtrip(&mut stream, b"SET kept 1\r\n", b"+OK\r\n");
    for request in [&b"FROBNICATE a b\r\n"[..], &resp(&[b"NOSUCHCMD", b"x"])] {
        stream.write_all(request).unwrap();
        let line = read_line(&mut stream);
        assert!(
            line.starts_with(b"-ERR unknown command"),
            "reply to {:?}: {:?}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&line)
        );
        roundtrip(&mut stream, b"GET kept\r\n", b"$1\r\n1\r\n");
    }
    server.stop();
}

#[test]
fn wrong_arity_has_the_redis_error_text_and_the_connection_goes_on() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    let arity = b"-ERR wrong number of arguments for 'get' command\r\n";
    roundtrip(&mut stream, b"GET\r\n", arity);
    roundtrip(&mut stream, b"GET a b\r\n", arity);
    roundtrip(&mut stream, &resp(&[b"GET"]), arity);
    roundtrip(&mut stream, &resp(&[b"get", b"a", b"b"]), arity);
    roundtrip(&mut stream, b"SET k\r\n", b"-ERR wrong number of arguments for 'set' command\r\n");
    roundtrip(&mut stream, b"DEL\r\n", b"-ERR wrong number of arguments for 'del' command\r\n");
    roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
    server.stop();
}

#[test]
fn thousand_inline_commands_in_one_write_reply_in_order() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    let mut requests = String::new();
    let mut expected = String::new();
    for i in 0..400 {
        requests.push_str(&format!("SET key:{i} value {i}\r\n"));
        expected.push_str("+OK\r\n");
    }
    // Read them back in reverse, so a reordered reply stream cannot pass.
    for i in (0..400).rev() {
        let value = format!("value {i}");
        requests.push_str(&format!("GET key:{i}\n"));
        expected.push_str(&format!("${}\r\n{value}\r\n", value.len()));
    }
    for i in 0..100 {
        requests.push_str(&format!("DEL key:{i} missing:{i}\r\n"));
        expected.push_str(":1\r\n");
    }
    for i in 0..100 {
        requests.push_str(&format!("GET key:{}\r\n", i * 2));
        if i * 2 < 100 {
            expected.push_str("$-1\r\n");
        } else {
            let value = format!("value {}", i * 2);
            expected.push_str(&format!("${}\r\n{value}\r\n", value.len()));
        }
    }
    assert_eq!(requests.lines().count(), 1000);
    stream.write_all(requests.as_bytes()).unwrap();
    let got = read_exact_bytes(&mut stream, expected.len());
    assert_eq!(String::from_utf8_lossy(&got), expected);
    // Nothing extra after the last reply.
    roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
    server.stop();
}

#[test]
fn resp_and_inline_mix_on_one_connection() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    // One at a time.
    roundtrip(&mut stream, b"SET a inline value\r\n", b"+OK\r\n");
    roundtrip(&mut stream, &resp(&[b"GET", b"a"]), b"$12\r\ninline value\r\n");
    roundtrip(&mut stream, &resp(&[b"SET", b"b", b"bin\r\n\0ary"]), b"+OK\r\n");
    roundtrip(&mut stream, b"GET b\n", b"$9\r\nbin\r\n\0ary\r\n");
    // And interleaved in a single write.
    let mut batch = Vec::new();
    batch.extend_from_slice(b"DEL a\r\n");
    batch.extend_from_slice(&resp(&[b"GET", b"a"]));
    batch.extend_from_slice(b"SET c 3\n");
    batch.extend_from_slice(&resp(&[b"GET", b"c"]));
    batch.extend_from_slice(b"PING\r\n");
    batch.extend_from_slice(&resp(&[b"DEL", b"b", b"c"]));
    batch.extend_from_slice(b"GET b\r\n");
    roundtrip(&mut stream, &batch, b":1\r\n$-1\r\n+OK\r\n$1\r\n3\r\n+PONG\r\n:2\r\n$-1\r\n");
    server.stop();
}

#[test]
fn no_greeting_sends_nothing_before_the_first_reply() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut stream = server.connect();
    // Had anything been sent on connect, it would come before this reply.
    roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
    roundtrip(&mut stream, b"SET foo bar\r\n", b"+OK\r\n");
    roundtrip(&mut stream, &resp(&[b"GET", b"foo"]), b"$3\r\nbar\r\n");
    stream.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(read_to_close(&mut stream), b"+OK\r\n");
    server.stop();
}

#[test]
fn greeting_comes_to_a_client_that_has_sent_nothing() {
    let server = Server::start();
    let mut stream = server.connect();
    assert_eq!(read_exact_bytes(&mut stream, GREETING.len()), GREETING);
    roundtrip(&mut stream, b"PING\r\n", b"+PONG\r\n");
    server.stop();
}

#[test]
fn quit_replies_ok_and_closes() {
    let server = Server::start();
    let mut stream = server.connect_greeted();
    roundtrip(&mut stream, b"SET before 1\r\n", b"+OK\r\n");
    stream.write_all(b"quit\r\n").unwrap();
    assert_eq!(read_to_close(&mut stream), b"+OK\r\n");

    // Requests pipelined after QUIT are not executed, as in Redis.
    let mut stream = server.connect_greeted();
    let mut batch = resp(&[b"QUIT"]);
    batch.extend_from_slice(b"SET after 1\r\n");
    stream.write_all(&batch).unwrap();
    assert_eq!(read_to_close(&mut stream), b"+OK\r\n");

    let mut other = server.connect_greeted();
    roundtrip(&mut other, b"GET before\r\n", b"$1\r\n1\r\n");
    roundtrip(&mut other, b"GET after\r\n", b"$-1\r\n");
    server.stop();
}
