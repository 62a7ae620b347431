//! Blocking list commands end to end, with several clients, run side by side against TinyKV and a
//! real redis-server: every scenario writes down what each client saw, and the two transcripts must
//! be the same byte for byte (and what the scenario expects). Waiting for a client to be blocked is
//! done by polling `INFO clients`' `blocked_clients`, never by sleeping.

use std::io::Write;

use tinykv_tests::blocking::{blocked, both, reply, send, Connect};
use tinykv_tests::differential::Redis;
use tinykv_tests::{call_str, resp, Server};

fn fifo(connect: Connect) -> Vec<String> {
    let (mut first, mut second, mut writer) = (connect(), connect(), connect());
    send(&mut first, &["BLPOP", "q", "other", "0"]);
    blocked(&mut writer, 1);
    send(&mut second, &["BLPOP", "q", "0"]);
    blocked(&mut writer, 2);
    let pushed = call_str(&mut writer, &["RPUSH", "q", "a", "b", "c"]);
    let seen = vec![pushed, reply(&mut first), reply(&mut second), call_str(&mut writer, &["LRANGE", "q", "0", "-1"])];
    blocked(&mut writer, 0);
    seen
}

fn timeout(connect: Connect) -> Vec<String> {
    let mut client = connect();
    let mut seen =
        vec![call_str(&mut client, &["BLPOP", "q", "0.05"]), call_str(&mut client, &["BRPOPLPUSH", "q", "d", "0.01"])];
    call_str(&mut client, &["HELLO", "3"]);
    seen.push(call_str(&mut client, &["BLMPOP", "0.02", "1", "q", "LEFT"]));
    seen.push(call_str(&mut client, &["BLMOVE", "q", "d", "LEFT", "LEFT", "0.01"]));
    seen
}

fn disconnect(connect: Connect) -> Vec<String> {
    let mut writer = connect();
    {
        let mut gone = connect();
        send(&mut gone, &["BLPOP", "q", "0"]);
        blocked(&mut writer, 1);
    }
    // Its departure is noticed: nothing of it is left to take the element.
    blocked(&mut writer, 0);
    vec![call_str(&mut writer, &["RPUSH", "q", "x"]), call_str(&mut writer, &["LLEN", "q"])]
}

fn multi(connect: Connect) -> Vec<String> {
    let (mut waiter, mut writer) = (connect(), connect());
    send(&mut waiter, &["BRPOP", "q", "0"]);
    blocked(&mut writer, 1);
    let mut seen: Vec<String> = [&["MULTI"][..], &["RPUSH", "q", "a", "b"], &["LLEN", "q"], &["EXEC"]]
        .iter()
        .map(|args| call_str(&mut writer, args))
        .collect();
    seen.push(reply(&mut waiter));
    seen.push(call_str(&mut writer, &["LRANGE", "q", "0", "-1"]));
    // Inside MULTI a blocking command does not block.
    for args in [&["MULTI"][..], &["BLPOP", "empty", "0"], &["BLMOVE", "empty", "d", "LEFT", "LEFT", "0"], &["EXEC"]] {
        seen.push(call_str(&mut writer, args));
    }
    seen
}

fn chain(connect: Connect) -> Vec<String> {
    let (mut mover, mut popper, mut writer) = (connect(), connect(), connect());
    send(&mut mover, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]);
    blocked(&mut writer, 1);
    send(&mut popper, &["BLPOP", "b", "0"]);
    blocked(&mut writer, 2);
    let seen = vec![
        call_str(&mut writer, &["LPUSH", "a", "x"]),
        reply(&mut mover),
        reply(&mut popper),
        call_str(&mut writer, &["EXISTS", "a", "b"]),
    ];
    blocked(&mut writer, 0);
    seen
}

fn unblock(connect: Connect) -> Vec<String> {
    let (mut client, mut admin) = (connect(), connect());
    let id = call_str(&mut client, &["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim_end().to_owned();
    let mut seen = Vec::new();
    for reason in [None, Some("TIMEOUT"), Some("ERROR")] {
        send(&mut client, &["BLPOP", "q", "0"]);
        blocked(&mut admin, 1);
        let mut args = vec!["CLIENT", "UNBLOCK", id.as_str()];
        args.extend(reason);
        seen.push(call_str(&mut admin, &args));
        seen.push(reply(&mut client));
    }
    seen.push(call_str(&mut admin, &["CLIENT", "UNBLOCK", &id]));
    seen.push(call_str(&mut admin, &["CLIENT", "UNBLOCK", &id, "MAYBE"]));
    seen
}

fn pipelined(connect: Connect) -> Vec<String> {
    let (mut client, mut writer) = (connect(), connect());
    let mut batch = resp(&[b"BLPOP", b"q", b"0"]);
    batch.extend(resp(&[b"LLEN", b"q"]));
    batch.extend(resp(&[b"PING"]));
    client.write_all(&batch).expect("write");
    blocked(&mut writer, 1);
    // While it waits, the commands after BLPOP have not run: the list is still missing.
    let seen = vec![
        call_str(&mut writer, &["RPUSH", "q", "a", "b"]),
        reply(&mut client),
        reply(&mut client),
        reply(&mut client),
    ];
    seen
}

fn wrongtype(connect: Connect) -> Vec<String> {
    let (mut client, mut writer) = (connect(), connect());
    call_str(&mut writer, &["SET", "str", "v"]);
    let mut seen = vec![call_str(&mut client, &["BLPOP", "empty", "str", "0"])];
    send(&mut client, &["BLMOVE", "src", "str", "LEFT", "LEFT", "0"]);
    blocked(&mut writer, 1);
    seen.push(call_str(&mut writer, &["RPUSH", "src", "x"]));
    seen.push(reply(&mut client));
    seen.push(call_str(&mut writer, &["LRANGE", "src", "0", "-1"]));
    // A RENAME onto a key someone waits on serves them.
    send(&mut client, &["BLPOP", "target", "0"]);
    blocked(&mut writer, 1);
    seen.push(call_str(&mut writer, &["RENAME", "src", "target"]));
    seen.push(reply(&mut client));
    seen.push(call_str(&mut writer, &["EXISTS", "target"]));
    seen
}

fn moved(connect: Connect) -> Vec<String> {
    let (mut client, mut writer) = (connect(), connect());
    send(&mut client, &["BLPOP", "target", "0"]);
    blocked(&mut writer, 1);
    let mut seen: Vec<String> = [&["SELECT", "1"][..], &["RPUSH", "target", "m1", "m2"], &["MOVE", "target", "0"]]
        .iter()
        .map(|args| call_str(&mut writer, args))
        .collect();
    seen.push(reply(&mut client));
    seen.push(call_str(&mut client, &["LRANGE", "target", "0", "-1"]));
    seen
}

#[test]
fn blocking_pops_behave_as_in_redis() {
    let Some(redis) = Redis::start() else { return };
    let tinykv = Server::start_with(&["--no-greeting"]);
    let seen = both(&tinykv, &redis, fifo);
    assert_eq!(seen[1], "*2\r\n$1\r\nq\r\n$1\r\na\r\n", "the first to block is served first");
    assert_eq!(seen[2], "*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    assert_eq!(both(&tinykv, &redis, timeout)[..2], ["*-1\r\n", "*-1\r\n"]);
    assert_eq!(both(&tinykv, &redis, disconnect), [":1\r\n", ":1\r\n"]);
    let seen = both(&tinykv, &redis, multi);
    assert_eq!(seen[3], "*2\r\n:2\r\n:2\r\n", "the transaction saw both elements: nobody was served inside it");
    assert_eq!(seen[4], "*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    assert_eq!(both(&tinykv, &redis, chain)[..3], [":1\r\n", "$1\r\nx\r\n", "*2\r\n$1\r\nb\r\n$1\r\nx\r\n"]);
    let seen = both(&tinykv, &redis, unblock);
    assert_eq!(seen[5], "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n");
    let seen = both(&tinykv, &redis, pipelined);
    assert_eq!(seen[2], ":1\r\n", "LLEN ran after BLPOP was served");
    both(&tinykv, &redis, wrongtype);
    assert_eq!(
        both(&tinykv, &redis, moved)[3],
        "*2\r\n$6\r\ntarget\r\n$2\r\nm1\r\n",
        "MOVE onto a waited key serves it"
    );
}

#[test]
fn a_blocked_client_does_not_hold_up_shutdown() {
    let mut tinykv = Server::start_with(&["--no-greeting"]);
    let mut client = tinykv.connect();
    send(&mut client, &["BLPOP", "q", "0"]);
    blocked(&mut tinykv.connect(), 1);
    tinykv.signal(libc::SIGTERM);
    assert!(tinykv.wait_for_exit(std::time::Duration::from_secs(10)).is_some(), "the server exits");
}
