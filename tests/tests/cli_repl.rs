//! The REPL's newer behaviour through a pseudo-terminal: help, completion and hints from the server's
//! `COMMAND DOCS`, group listings, the `[db]` prompt after `SELECT`, `SUBSCRIBE` reading messages until
//! Ctrl-C returns to the prompt, and client tracking invalidations shown between replies under `-3`. Parts that need a real `redis-server` print why and are skipped when it is missing.

use std::net::TcpStream;
use std::process::Command;

use rexpect::session::{spawn_command, PtySession};
use tinykv_tests::differential::Redis;
use tinykv_tests::{binary, call_str, retry_until, Server, DEADLINE};

fn repl(port: u16) -> PtySession {
    repl_with(port, &[])
}

fn repl_with(port: u16, args: &[&str]) -> PtySession {
    let mut command = Command::new(binary("tinykv-cli"));
    command.arg("-p").arg(port.to_string()).args(args);
    command.env_remove("TINYKV_HOST").env_remove("TINYKV_PORT").env_remove("TINYKV_PASSWORD");
    command.env("TERM", "xterm").env("TINYKV_HISTFILE", "");
    spawn_command(command, Some(DEADLINE.as_millis() as u64)).expect("spawn tinykv-cli in a pty")
}

#[track_caller]
fn exchange(session: &mut PtySession, prompt: &str, line: &str, reply: &str) {
    session.send_line(line).expect("type a line");
    session.exp_string(reply).unwrap_or_else(|e| panic!("after {line:?}, expected {reply:?}: {e}"));
    session.exp_string(prompt).unwrap_or_else(|e| panic!("no prompt after {line:?}: {e}"));
}

#[test]
fn groups_and_the_database_prompt_against_tinykv() {
    let server = Server::start();
    let port = server.port();
    let prompt = format!("127.0.0.1:{port}> ");
    let mut cli = repl(port);
    cli.exp_string(&prompt).expect("first prompt");
    exchange(&mut cli, &prompt, "help @transactions", "\r\n  MULTI");
    // The overview no longer runs a long group name into its first command.
    exchange(&mut cli, &prompt, "help", "@transactions ");
    // Groups TinyKV lacks are looked up in the server's documentation; TinyKV has none for them yet.
    exchange(&mut cli, &prompt, "help @geo", "No group '@geo'");
    exchange(&mut cli, &prompt, "help @pubsub", "\r\n  SUBSCRIBE channel [channel ...]");
    let prompt3 = format!("127.0.0.1:{port}[3]> ");
    exchange(&mut cli, &prompt3, "select 3", "OK");
    exchange(&mut cli, &prompt3, "set k v", "OK");
    cli.send_control('d').unwrap();
    cli.exp_eof().expect("Ctrl-D leaves");
    let mut conn = server.connect();
    assert_eq!(call_str(&mut conn, &["SELECT", "3"]), "+OK\r\n");
    assert_eq!(call_str(&mut conn, &["GET", "k"]), "$1\r\nv\r\n");
    server.stop();
}

#[test]
fn help_from_command_docs_and_subscribe_against_redis() {
    let Some(redis) = Redis::start() else { return };
    let prompt = format!("127.0.0.1:{}> ", redis.port());
    let mut cli = repl(redis.port());
    cli.exp_string(&prompt).expect("first prompt");
    exchange(
        &mut cli,
        &prompt,
        "help hset",
        "\r\n  HSET key field value [field value ...]\r\n  summary: Set the string value of a hash field\r\n  since: 2.0.0\r\n  group: hash\r\n",
    );
    exchange(&mut cli, &prompt, "help @pubsub", "\r\n  PUBLISH channel message\r\n");

    cli.send_line("subscribe news").unwrap();
    cli.exp_string(
        "Reading messages... (press Ctrl-C to quit)\r\n1) \"subscribe\"\r\n2) \"news\"\r\n3) (integer) 1\r\n",
    )
    .expect("subscribed");
    let mut publisher = TcpStream::connect(("127.0.0.1", redis.port())).expect("connect to redis-server");
    publisher.set_read_timeout(Some(DEADLINE)).unwrap();
    assert_eq!(call_str(&mut publisher, &["PUBLISH", "news", "hi"]), ":1\r\n");
    cli.exp_string("1) \"message\"\r\n2) \"news\"\r\n3) \"hi\"\r\n").expect("the message, as it arrives");
    // Ctrl-C leaves the reading mode and returns to a working prompt (redis-cli would exit).
    cli.send_control('c').unwrap();
    cli.exp_string(&prompt).expect("the prompt after Ctrl-C");
    exchange(&mut cli, &prompt, "ping", "PONG");
    // The subscribed connection was closed, not left behind.
    retry_until("the subscriber to go", || {
        (call_str(&mut publisher, &["PUBSUB", "NUMSUB", "news"]) == "*2\r\n$4\r\nnews\r\n:0\r\n").then_some(())
    });
    cli.send_control('d').unwrap();
    cli.exp_eof().expect("Ctrl-D leaves");
}

#[test]
fn completion_and_hints_from_command_docs_against_redis() {
    // Redis has list and stream commands TinyKV's table lacks: they complete and hint from its docs.
    let Some(redis) = Redis::start() else { return };
    let prompt = format!("127.0.0.1:{}> ", redis.port());
    let mut cli = repl(redis.port());
    cli.exp_string(&prompt).expect("first prompt");
    cli.send("lpush").unwrap();
    cli.flush().unwrap();
    cli.exp_string("lpush\x1b[90m key element [element ...]").expect("LPUSH's hint from COMMAND DOCS");
    cli.send_control('c').unwrap();
    cli.exp_string(&prompt).expect("a fresh prompt after Ctrl-C");
    // Tab completes `rpo` to `rpop` (`rpoplpush` is the next candidate): the command then runs.
    cli.send("rpush l a b").unwrap();
    cli.send_line("").unwrap();
    cli.exp_string("(integer) 2").expect("RPUSH ran");
    cli.exp_string(&prompt).unwrap();
    cli.send("rpo").unwrap();
    cli.send("\t").unwrap();
    cli.send(" l").unwrap();
    cli.send_line("").unwrap();
    cli.exp_string("\r\n\"b\"\r\n").expect("the completed RPOP ran");
    cli.exp_string(&prompt).unwrap();
    // A subcommand only Redis documents.
    cli.send("xinfo st").unwrap();
    cli.send("\t").unwrap();
    cli.send(" ").unwrap();
    cli.flush().unwrap();
    cli.exp_string("xinfo stream \x1b[90mkey [FULL [COUNT count]]").expect("XINFO STREAM completed and hinted");
    cli.send_control('c').unwrap();
    cli.exp_string(&prompt).expect("a fresh prompt after Ctrl-C");
    cli.send_control('d').unwrap();
    cli.exp_eof().expect("Ctrl-D leaves");
}

#[test]
fn tracking_invalidations_show_between_replies_under_resp3() {
    let Some(redis) = Redis::start() else { return };
    let prompt = format!("127.0.0.1:{}> ", redis.port());
    let mut cli = repl_with(redis.port(), &["-3"]);
    cli.exp_string(&prompt).expect("first prompt");
    exchange(&mut cli, &prompt, "client tracking on", "OK");
    exchange(&mut cli, &prompt, "get watched", "(nil)");
    // Another client changes the key: the invalidation is shown as a `->` line, never as a reply.
    let mut other = TcpStream::connect(("127.0.0.1", redis.port())).expect("connect to redis-server");
    other.set_read_timeout(Some(DEADLINE)).unwrap();
    assert_eq!(call_str(&mut other, &["SET", "watched", "1"]), "+OK\r\n");
    exchange(&mut cli, &prompt, "ping", "-> invalidate: 'watched'\r\nPONG\r\n");
    exchange(&mut cli, &prompt, "get watched", "\"1\"");
    cli.send_control('d').unwrap();
    cli.exp_eof().expect("Ctrl-D leaves");
}
