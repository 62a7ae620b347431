//! Pub/sub end to end (issue 11): a subscriber that never reads is disconnected once its backlog
//! passes `--client-output-buffer-limit-pubsub` (or the limit `CONFIG SET client-output-buffer-limit`
//! gave it while running) while the other subscribers keep receiving every message, and a subscriber that leaves, however it leaves, is gone from `PUBSUB NUMSUB`/`NUMPAT`.

use std::io::Write;
use std::net::TcpStream;
use std::thread;

use tinykv_tests::{call, call_str, read_reply, resp, retry_until, Server};

/// The messages' size: big enough that the kernel's socket buffers fill in a few hundred.
const PAYLOAD: usize = 64 * 1024;
/// Enough messages to fill any loopback socket's buffers (a few MB each way) and pass the limit.
const MAX_MESSAGES: usize = 2000;

fn subscribe(stream: &mut TcpStream, channel: &str) {
    let confirmation = call(stream, &[b"SUBSCRIBE", channel.as_bytes()]);
    assert!(confirmation.starts_with(b"*3\r\n$9\r\nsubscribe\r\n"), "{}", String::from_utf8_lossy(&confirmation));
}

fn numsub(stream: &mut TcpStream, channel: &str) -> String {
    call_str(stream, &["PUBSUB", "NUMSUB", channel])
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected_past_the_hard_limit_and_others_keep_receiving() {
    let server = Server::start_with(&["--no-greeting", "--client-output-buffer-limit-pubsub", "256kb 0 0"]);
    slow_subscriber_is_cut_off_while_others_receive(&server);
}

#[test]
fn config_set_changes_the_subscriber_limit_while_running() {
    // Started with Redis's default (32mb): the limit set afterwards is the one that cuts the subscriber off.
    let server = Server::start_with(&["--no-greeting"]);
    let mut admin = server.connect();
    assert_eq!(
        call_str(&mut admin, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 256kb 0 0 normal 1mb 512kb 10"]),
        "+OK\r\n"
    );
    assert_eq!(
        call_str(&mut admin, &["CONFIG", "GET", "client-output-buffer-limit"]),
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$70\r\nnormal 1048576 524288 10 slave 268435456 67108864 60 pubsub 262144 0 0\r\n"
    );
    slow_subscriber_is_cut_off_while_others_receive(&server);
}

/// Subscribes one client that never reads and one that reads everything, publishes 64 KiB messages
/// until the server reports the slow one disconnected, and checks the fast one received every message.
fn slow_subscriber_is_cut_off_while_others_receive(server: &Server) {
    let mut slow = server.connect();
    subscribe(&mut slow, "feed");
    let mut fast = server.connect();
    subscribe(&mut fast, "feed");
    // The fast subscriber reads in its own thread until the closing message.
    let reader = thread::spawn(move || {
        let mut received = 0usize;
        loop {
            let frame = read_reply(&mut fast);
            if frame.ends_with(b"$3\r\nend\r\n") {
                return received;
            }
            assert!(frame.starts_with(b"*3\r\n$7\r\nmessage\r\n$4\r\nfeed\r\n"));
            received += 1;
        }
    });
    let mut publisher = server.connect();
    let payload = vec![b'x'; PAYLOAD];
    let mut published = 0;
    while published < MAX_MESSAGES {
        call(&mut publisher, &[b"PUBLISH", b"feed", &payload]);
        published += 1;
        if call_str(&mut publisher, &["INFO", "stats"]).contains("client_output_buffer_limit_disconnections:1") {
            break;
        }
    }
    assert!(published < MAX_MESSAGES, "the slow subscriber was never disconnected");
    // It is gone from the registry; the fast one is still there and got every message.
    retry_until("the slow subscriber to leave the channel", || {
        (numsub(&mut publisher, "feed") == "*2\r\n$4\r\nfeed\r\n:1\r\n").then_some(())
    });
    assert_eq!(call_str(&mut publisher, &["PUBLISH", "feed", "end"]), ":1\r\n");
    assert_eq!(reader.join().expect("fast subscriber"), published);
    // The slow one's socket was closed by the server: after what the buffers held, the end.
    slow.set_read_timeout(Some(tinykv_tests::DEADLINE)).expect("timeout");
    assert!(tinykv_tests::read_to_close_or_reset(&mut slow).len() < published * (PAYLOAD + 64));
    // The server wrote the line before it closed the socket; the reader of its log may lag behind.
    retry_until("the log to tell of the cut-off", || {
        server.log().contains("past its output buffer limit").then_some(())
    });
}

#[test]
fn a_subscriber_that_disconnects_leaves_nothing_behind() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut observer = server.connect();
    for how in ["close", "quit", "kill"] {
        let mut subscriber = server.connect();
        subscribe(&mut subscriber, "a");
        let psub = call(&mut subscriber, &[b"PSUBSCRIBE", b"p*"]);
        assert!(psub.ends_with(b":2\r\n"), "{}", String::from_utf8_lossy(&psub));
        assert!(call(&mut subscriber, &[b"SSUBSCRIBE", b"s"]).ends_with(b":1\r\n"));
        assert_eq!(numsub(&mut observer, "a"), "*2\r\n$1\r\na\r\n:1\r\n");
        let info = call_str(&mut observer, &["CLIENT", "LIST"]);
        assert!(info.contains(" flags=P db=0 sub=1 psub=1 ssub=1 "), "{info}");
        match how {
            "close" => drop(subscriber),
            "quit" => {
                subscriber.write_all(&resp(&[b"QUIT"])).expect("write");
                assert_eq!(read_reply(&mut subscriber), b"+OK\r\n");
            }
            _ => assert_eq!(call_str(&mut observer, &["CLIENT", "KILL", "TYPE", "pubsub"]), ":1\r\n"),
        }
        retry_until("the subscriber's subscriptions to go", || {
            let gone = numsub(&mut observer, "a") == "*2\r\n$1\r\na\r\n:0\r\n"
                && call_str(&mut observer, &["PUBSUB", "NUMPAT"]) == ":0\r\n"
                && call_str(&mut observer, &["PUBSUB", "SHARDNUMSUB", "s"]) == "*2\r\n$1\r\ns\r\n:0\r\n"
                && call_str(&mut observer, &["PUBSUB", "CHANNELS"]) == "*0\r\n";
            gone.then_some(())
        });
        assert_eq!(call_str(&mut observer, &["PUBLISH", "a", "x"]), ":0\r\n", "{how}");
    }
}
