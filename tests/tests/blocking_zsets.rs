//! Blocking sorted-set pops (`BZPOPMIN`, `BZPOPMAX`, `BZMPOP`) end to end, with several clients,
//! side by side against TinyKV and a real redis-server: each scenario writes down what every client
//! saw, and the two transcripts must be the same byte for byte (and what the scenario expects).
//! Also: a served blocking pop is logged as the `ZREM` that happened, and replays so.

use tinykv_tests::blocking::{blocked, both, reply, send, Connect};
use tinykv_tests::differential::Redis;
use tinykv_tests::{call_str, Server};

fn fifo(connect: Connect) -> Vec<String> {
    let (mut first, mut second, mut writer) = (connect(), connect(), connect());
    send(&mut first, &["BZPOPMIN", "q", "other", "0"]);
    blocked(&mut writer, 1);
    send(&mut second, &["BZPOPMAX", "q", "0"]);
    blocked(&mut writer, 2);
    let added = call_str(&mut writer, &["ZADD", "q", "1", "a", "2.5", "b", "3", "c"]);
    let seen = vec![
        added,
        reply(&mut first),
        reply(&mut second),
        call_str(&mut writer, &["ZRANGE", "q", "0", "-1", "WITHSCORES"]),
    ];
    blocked(&mut writer, 0);
    seen
}

fn timeout(connect: Connect) -> Vec<String> {
    let mut client = connect();
    let mut seen = vec![
        call_str(&mut client, &["BZPOPMIN", "q", "0.05"]),
        call_str(&mut client, &["BZMPOP", "0.01", "1", "q", "MIN"]),
    ];
    call_str(&mut client, &["HELLO", "3"]);
    seen.push(call_str(&mut client, &["BZPOPMAX", "q", "0.02"]));
    seen.push(call_str(&mut client, &["BZMPOP", "0.01", "2", "q", "r", "MAX", "COUNT", "3"]));
    // Bad arguments, in Redis's order of checks.
    for args in [
        &["BZPOPMIN", "q", "-1"][..],
        &["BZPOPMIN", "q", "x"],
        &["BZMPOP", "x", "1", "q", "MIN"],
        &["BZMPOP", "0", "0", "q", "MIN"],
        &["BZMPOP", "0", "1", "q", "MIDDLE"],
        &["BZMPOP", "0", "1", "q", "MIN", "COUNT", "0"],
    ] {
        seen.push(call_str(&mut client, args));
    }
    seen
}

fn served_at_once(connect: Connect) -> Vec<String> {
    let mut client = connect();
    let mut seen = Vec::new();
    for args in [
        &["ZADD", "z", "1", "a", "2", "b", "3", "c"][..],
        &["SET", "str", "v"],
        &["BZPOPMIN", "empty", "z", "0"],
        &["BZPOPMAX", "empty", "z", "0"],
        &["BZMPOP", "0", "2", "empty", "z", "MIN", "COUNT", "5"],
        &["EXISTS", "z"],
        &["BZPOPMIN", "empty", "str", "0"],
        &["BZMPOP", "0", "1", "str", "MAX"],
        &["HELLO", "3"],
        &["ZADD", "z", "1.5", "x", "inf", "y"],
        &["BZPOPMAX", "z", "0"],
        &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "1"],
    ] {
        // HELLO's reply names the server: switched to, not compared.
        let reply = call_str(&mut client, args);
        if args[0] != "HELLO" {
            seen.push(reply);
        }
    }
    seen
}

fn multi(connect: Connect) -> Vec<String> {
    let (mut waiter, mut writer) = (connect(), connect());
    send(&mut waiter, &["BZPOPMAX", "q", "0"]);
    blocked(&mut writer, 1);
    let mut seen: Vec<String> = [&["MULTI"][..], &["ZADD", "q", "1", "a", "2", "b"], &["ZCARD", "q"], &["EXEC"]]
        .iter()
        .map(|args| call_str(&mut writer, args))
        .collect();
    seen.push(reply(&mut waiter));
    seen.push(call_str(&mut writer, &["ZRANGE", "q", "0", "-1"]));
    // Inside MULTI a blocking pop does not block.
    for args in [&["MULTI"][..], &["BZPOPMIN", "empty", "0"], &["BZMPOP", "0", "1", "empty", "MAX"], &["EXEC"]] {
        seen.push(call_str(&mut writer, args));
    }
    seen
}

fn types(connect: Connect) -> Vec<String> {
    // A list waiter and a zset waiter on one key: each is served only by a value of its type.
    let (mut lister, mut zsetter, mut writer) = (connect(), connect(), connect());
    send(&mut lister, &["BLPOP", "k", "0"]);
    blocked(&mut writer, 1);
    send(&mut zsetter, &["BZMPOP", "0", "1", "k", "MAX", "COUNT", "2"]);
    blocked(&mut writer, 2);
    let mut seen = vec![call_str(&mut writer, &["ZADD", "k", "1", "a", "2", "b", "3", "c"]), reply(&mut zsetter)];
    blocked(&mut writer, 1);
    seen.push(call_str(&mut writer, &["DEL", "k"]));
    seen.push(call_str(&mut writer, &["RPUSH", "k", "x"]));
    seen.push(reply(&mut lister));
    // A store or a rename onto a waited key serves its waiter.
    send(&mut zsetter, &["BZPOPMIN", "dst", "0"]);
    blocked(&mut writer, 1);
    call_str(&mut writer, &["ZADD", "src", "5", "m", "6", "n"]);
    seen.push(call_str(&mut writer, &["ZUNIONSTORE", "dst", "1", "src"]));
    seen.push(reply(&mut zsetter));
    send(&mut zsetter, &["BZPOPMAX", "renamed", "0"]);
    blocked(&mut writer, 1);
    seen.push(call_str(&mut writer, &["RENAME", "src", "renamed"]));
    seen.push(reply(&mut zsetter));
    seen.push(call_str(&mut writer, &["ZRANGE", "renamed", "0", "-1", "WITHSCORES"]));
    seen
}

fn unblock_and_disconnect(connect: Connect) -> Vec<String> {
    let (mut client, mut admin) = (connect(), connect());
    let id = call_str(&mut client, &["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim_end().to_owned();
    let mut seen = Vec::new();
    for reason in [None, Some("ERROR")] {
        send(&mut client, &["BZPOPMIN", "q", "0"]);
        blocked(&mut admin, 1);
        let mut args = vec!["CLIENT", "UNBLOCK", id.as_str()];
        args.extend(reason);
        seen.push(call_str(&mut admin, &args));
        seen.push(reply(&mut client));
    }
    {
        let mut gone = connect();
        send(&mut gone, &["BZMPOP", "0", "1", "q", "MIN"]);
        blocked(&mut admin, 1);
    }
    // Its departure is noticed: nothing of it is left to take the member.
    blocked(&mut admin, 0);
    seen.push(call_str(&mut admin, &["ZADD", "q", "1", "a"]));
    seen.push(call_str(&mut admin, &["ZCARD", "q"]));
    seen
}

#[test]
fn blocking_zset_pops_behave_as_in_redis() {
    let Some(redis) = Redis::start() else { return };
    let tinykv = Server::start_with(&["--no-greeting"]);
    let seen = both(&tinykv, &redis, fifo);
    assert_eq!(seen[1], "*3\r\n$1\r\nq\r\n$1\r\na\r\n$1\r\n1\r\n", "the first to block is served first");
    assert_eq!(seen[2], "*3\r\n$1\r\nq\r\n$1\r\nc\r\n$1\r\n3\r\n");
    assert_eq!(both(&tinykv, &redis, timeout)[..4], ["*-1\r\n", "*-1\r\n", "_\r\n", "_\r\n"]);
    both(&tinykv, &redis, served_at_once);
    let seen = both(&tinykv, &redis, multi);
    assert_eq!(seen[4], "*3\r\n$1\r\nq\r\n$1\r\nb\r\n$1\r\n2\r\n", "served after EXEC");
    let seen = both(&tinykv, &redis, types);
    assert_eq!(seen[1], "*2\r\n$1\r\nk\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n");
    assert_eq!(seen[4], "*2\r\n$1\r\nk\r\n$1\r\nx\r\n", "the list waiter waited for a list");
    both(&tinykv, &redis, unblock_and_disconnect);
}

#[test]
fn a_served_blocking_pop_is_logged_as_the_members_removed() {
    let dir = std::env::temp_dir().join(format!("tinykv-bzpop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bzpop.aof");
    let args = ["--no-greeting", "--appendonly", path.to_str().unwrap()];
    let server = Server::start_with(&args);
    let (mut waiter, mut writer) = (server.connect(), server.connect());
    send(&mut waiter, &["BZPOPMIN", "q", "0"]);
    blocked(&mut writer, 1);
    assert_eq!(call_str(&mut writer, &["ZADD", "q", "1", "a", "2", "b"]), ":2\r\n");
    assert_eq!(reply(&mut waiter), "*3\r\n$1\r\nq\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert!(server.stop().success());
    let log = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(log.contains("ZREM") && !log.contains("BZPOPMIN"), "{log}");
    let server = Server::start_with(&args);
    assert_eq!(call_str(&mut server.connect(), &["ZRANGE", "q", "0", "-1"]), "*1\r\n$1\r\nb\r\n");
}
