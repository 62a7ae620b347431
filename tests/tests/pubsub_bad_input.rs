//! Pub/sub under hostile input (issue 11): a 64 KiB pattern, 100,000 channels in one `SUBSCRIBE`,
//! and a 64 MiB message to a subscriber that does not read. Each gets its answer, the server's
//! memory stays bounded, and another client is answered meanwhile.

use std::io::Write;
use std::thread;

use tinykv_tests::{call, call_str, proc_status_kib, read_reply, resp, retry_until, Server};

/// A client that must keep being answered while the hostile one runs.
fn still_answers(server: &Server) {
    let mut other = server.connect();
    assert_eq!(call_str(&mut other, &["PING"]), "+PONG\r\n");
}

#[test]
fn a_64_kib_pattern_is_matched_and_other_clients_are_answered() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut subscriber = server.connect();
    // `*a*a*a...*b`: the classic exponential case for a naive backtracking matcher.
    let mut pattern = "*a".repeat(1024);
    pattern.push_str(&"*".repeat(64 * 1024 - 2048 - 2));
    pattern.push_str("*b");
    assert_eq!(pattern.len(), 64 * 1024);
    let confirmation = call(&mut subscriber, &[b"PSUBSCRIBE", pattern.as_bytes()]);
    assert!(confirmation.starts_with(b"*3\r\n$10\r\npsubscribe\r\n"));
    let mut publisher = server.connect();
    let channel = "a".repeat(1024);
    assert_eq!(call_str(&mut publisher, &["PUBLISH", &channel, "x"]), ":0\r\n");
    let matching = format!("{channel}b");
    assert_eq!(call_str(&mut publisher, &["PUBLISH", &matching, "y"]), ":1\r\n");
    let message = read_reply(&mut subscriber);
    assert!(message.ends_with(b"\r\n$1\r\ny\r\n"), "{}", String::from_utf8_lossy(&message));
    still_answers(&server);
}

#[test]
fn one_subscribe_of_100_000_channels_is_confirmed_channel_by_channel() {
    let server = Server::start_with(&["--no-greeting"]);
    let before = server.rss_kib();
    let mut subscriber = server.connect();
    let channels: Vec<String> = (0..100_000).map(|i| format!("channel:{i}")).collect();
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(channels.iter().map(|c| c.as_bytes()));
    subscriber.write_all(&resp(&args)).expect("write");
    for (i, channel) in channels.iter().enumerate() {
        let confirmation = read_reply(&mut subscriber);
        let expected = format!("*3\r\n$9\r\nsubscribe\r\n${}\r\n{channel}\r\n:{}\r\n", channel.len(), i + 1);
        assert_eq!(String::from_utf8_lossy(&confirmation), expected);
    }
    let mut other = server.connect();
    assert_eq!(call_str(&mut other, &["PUBSUB", "NUMSUB", "channel:99999"]), "*2\r\n$13\r\nchannel:99999\r\n:1\r\n");
    assert_eq!(call_str(&mut other, &["PUBLISH", "channel:5", "hi"]), ":1\r\n");
    assert!(read_reply(&mut subscriber).ends_with(b"$2\r\nhi\r\n"));
    // 100,000 subscriptions take a few MiB; what must not happen is a copy per channel of the request.
    let grown_mib = server.rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 256, "RSS grew by {grown_mib} MiB for 100,000 subscriptions");
    drop(subscriber);
    retry_until("the subscriptions to go with the client", || {
        (call_str(&mut other, &["PUBSUB", "NUMSUB", "channel:1"]) == "*2\r\n$9\r\nchannel:1\r\n:0\r\n").then_some(())
    });
}

#[test]
fn a_64_mib_message_to_a_subscriber_that_does_not_read_cuts_it_off_and_costs_one_copy() {
    const MESSAGE: usize = 64 << 20;
    let server = Server::start_with(&["--no-greeting"]);
    let mut slow = server.connect();
    let confirmation = call(&mut slow, &[b"SUBSCRIBE", b"big"]);
    assert!(confirmation.starts_with(b"*3\r\n$9\r\nsubscribe\r\n"));
    let peak_before = proc_status_kib(server.pid(), "VmHWM");
    let publisher = {
        let mut publisher = server.connect();
        thread::spawn(move || {
            let payload = vec![b'x'; MESSAGE];
            call_str(&mut publisher, &["PUBLISH", "big", std::str::from_utf8(&payload).expect("ascii")])
        })
    };
    // While the message is read and delivered, others are answered.
    still_answers(&server);
    assert_eq!(publisher.join().expect("publisher"), ":1\r\n", "the subscriber was reached");
    // Past the default hard limit (32mb): the subscriber is disconnected, not buffered for.
    let mut admin = server.connect();
    retry_until("the slow subscriber to be cut off", || {
        let info = call_str(&mut admin, &["INFO", "stats"]);
        info.contains("client_output_buffer_limit_disconnections:1").then_some(())
    });
    // Peak memory: the request as read and one shared copy delivered at most, not a copy per stage.
    let peak_mib = proc_status_kib(server.pid(), "VmHWM").saturating_sub(peak_before) / 1024;
    assert!(peak_mib < 3 * (MESSAGE >> 20) as u64, "peak RSS grew by {peak_mib} MiB for one 64 MiB message");
    still_answers(&server);
}
