//! Replies written in place (issue 14): `GET`, `MGET`, `LRANGE`, `HGETALL`, `HKEYS`, `HVALS`,
//! `SMEMBERS` and the `ZRANGE` family write their reply straight into the connection's buffer when it
//! goes out at once and whole (up to 1,024 entries, pairs for a map, items for a flat reply with
//! scores); otherwise (inside `MULTI`, or bigger, sent in pieces) they build it as values.
//! Both sides of that limit, in RESP2 and RESP3, pipelined in one write, must give Redis's bytes
//! (when redis-server is installed), and a transaction's copy of each reply must be byte for byte
//! the one written in place (always).

use std::io::Write;
use std::net::TcpStream;

use tinykv_tests::differential::{decode, sorted, sorted_pairs, Redis, Resp};
use tinykv_tests::{call, read_reply, resp, Server};

/// Elements around the one-digit length shortcut (0, 9, 10 bytes), with CR and LF inside, and long.
fn element(i: usize) -> Vec<u8> {
    match i % 6 {
        0 => Vec::new(),
        1 => b"123456789".to_vec(),
        2 => b"0123456789".to_vec(),
        3 => b"a\r\nb".to_vec(),
        4 => vec![b'x'; 200],
        _ => i.to_string().into_bytes(),
    }
}

/// How a reply is compared with Redis's: a set's members and a hash's fields come in each server's
/// own order.
#[derive(Clone, Copy)]
enum Order {
    Exact,
    Members,
    Pairs,
}

fn load(stream: &mut TcpStream) {
    let elements: Vec<Vec<u8>> = (0..1030).map(element).collect();
    let mut push: Vec<&[u8]> = vec![b"RPUSH", b"list"];
    push.extend(elements.iter().map(Vec::as_slice));
    assert_eq!(call(stream, &push), b":1030\r\n");
    let names: Vec<String> = (0..1030).map(|i| format!("s:{i}")).collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for (name, value) in names.iter().zip(&elements) {
        mset.extend([name.as_bytes(), value]);
    }
    assert_eq!(call(stream, &mset), b"+OK\r\n");
    for (key, fields) in [("h:small", 10), ("h:1024", 1024), ("h:1025", 1025)] {
        let fields: Vec<String> = (0..fields).map(|i| format!("f{i}")).collect();
        let mut hset: Vec<&[u8]> = vec![b"HSET", key.as_bytes()];
        for (field, value) in fields.iter().zip(&elements) {
            hset.extend([field.as_bytes(), value]);
        }
        assert!(call(stream, &hset).starts_with(b":"));
    }
    for (key, members) in [("set:small", 5), ("set:1024", 1024), ("set:1025", 1025)] {
        let members: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
        let mut sadd: Vec<&[u8]> = vec![b"SADD", key.as_bytes()];
        sadd.extend(members.iter().map(String::as_bytes));
        assert!(call(stream, &sadd).starts_with(b":"));
    }
    // Scores of every shape Redis prints: integers, fractions, `%.17g`'s long forms, exponents,
    // negative zero, the infinities. 512 entries with scores are 1,024 items in RESP2; 513 are past.
    for (key, members) in [("z:small", 6), ("z:512", 512), ("z:513", 513), ("z:1025", 1025)] {
        let scores = ["0", "1.5", "0.1", "-0", "1e20", "inf", "-inf", "-7", "123456789012345678", "2.5e-5"];
        let entries: Vec<(String, Vec<u8>)> = (0..members)
            .map(|i| (if i < 10 { scores[i].to_owned() } else { format!("{}", i % 300) }, element(i)))
            .collect();
        let mut zadd: Vec<&[u8]> = vec![b"ZADD", key.as_bytes()];
        for (score, member) in &entries {
            zadd.extend([score.as_bytes(), member]);
        }
        assert!(call(stream, &zadd).starts_with(b":"), "{key}");
    }
    let mut zadd: Vec<&[u8]> = vec![b"ZADD", b"z:lex"];
    let names: Vec<String> = (0..40).map(|i| format!("m{i:02}")).collect();
    names.iter().for_each(|name| zadd.extend([&b"0"[..], name.as_bytes()]));
    assert_eq!(call(stream, &zadd), b":40\r\n");
}

fn commands() -> Vec<(Vec<Vec<u8>>, Order)> {
    let words = |words: &[&str]| words.iter().map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>();
    let mut commands = Vec::new();
    for (start, stop) in [("0", "1023"), ("0", "1024"), ("1", "1025"), ("0", "-1"), ("-3", "-1"), ("5", "2")] {
        for key in ["list", "missing", "s:1"] {
            commands.push((words(&["LRANGE", key, start, stop]), Order::Exact));
        }
    }
    // MGET of strings, missing keys and a list, 1,024 and 1,025 keys.
    for count in [3, 1024, 1025] {
        let mut mget = words(&["MGET", "missing", "list"]);
        mget.extend((0..count - 2).map(|i| format!("s:{}", i * 7 % 1100).into_bytes()));
        commands.push((mget, Order::Exact));
    }
    for key in ["h:small", "h:1024", "h:1025", "missing", "list"] {
        commands.push((words(&["HGETALL", key]), Order::Pairs));
        commands.push((words(&["HKEYS", key]), Order::Members));
        commands.push((words(&["HVALS", key]), Order::Members));
    }
    for key in ["set:small", "set:1024", "set:1025", "missing", "list"] {
        commands.push((words(&["SMEMBERS", key]), Order::Members));
    }
    for key in ["s:2", "missing", "list"] {
        commands.push((words(&["GET", key]), Order::Exact));
    }
    for key in ["z:small", "z:512", "z:513", "z:1025", "missing", "list"] {
        for range in [
            &["ZRANGE", key, "0", "-1"][..],
            &["ZRANGE", key, "0", "-1", "WITHSCORES"],
            &["ZRANGE", key, "2", "-3", "REV", "WITHSCORES"],
            &["ZREVRANGE", key, "0", "511", "WITHSCORES"],
            &["ZRANGE", key, "(1", "+inf", "BYSCORE", "LIMIT", "1", "600", "WITHSCORES"],
            &["ZRANGEBYSCORE", key, "-inf", "+inf", "WITHSCORES"],
            &["ZREVRANGEBYSCORE", key, "200", "(5", "WITHSCORES", "LIMIT", "0", "-1"],
            &["ZRANGE", key, "5", "2"],
        ] {
            commands.push((words(range), Order::Exact));
        }
    }
    for range in [
        &["ZRANGEBYLEX", "z:lex", "[m05", "(m30"][..],
        &["ZREVRANGEBYLEX", "z:lex", "+", "-", "LIMIT", "3", "10"],
        &["ZRANGE", "z:lex", "+", "-", "BYLEX", "REV"],
        &["ZRANGE", "z:lex", "(m30", "[m05", "BYLEX", "REV", "LIMIT", "2", "5"],
    ] {
        commands.push((words(range), Order::Exact));
    }
    commands
}

/// Every command's reply, pipelined in one write, then the same commands in one transaction (each
/// reply inside `EXEC`'s, checked against the one written in place).
fn replies(stream: &mut TcpStream, commands: &[(Vec<Vec<u8>>, Order)]) -> Vec<Vec<u8>> {
    let requests: Vec<Vec<u8>> =
        commands.iter().map(|(words, _)| resp(&words.iter().map(Vec::as_slice).collect::<Vec<_>>())).collect();
    stream.write_all(&requests.concat()).unwrap();
    let replies: Vec<Vec<u8>> = commands.iter().map(|_| read_reply(stream)).collect();
    assert_eq!(call(stream, &[b"MULTI"]), b"+OK\r\n");
    stream.write_all(&requests.concat()).unwrap();
    for _ in commands {
        assert_eq!(read_reply(stream), b"+QUEUED\r\n");
    }
    let exec = call(stream, &[b"EXEC"]);
    let mut expected = format!("*{}\r\n", commands.len()).into_bytes();
    replies.iter().for_each(|reply| expected.extend_from_slice(reply));
    assert!(expected == exec, "EXEC's replies are not the ones written in place");
    replies
}

fn normalized(reply: &[u8], order: Order) -> Resp {
    match order {
        Order::Exact => decode(reply),
        Order::Members => sorted(decode(reply)),
        Order::Pairs => sorted_pairs(decode(reply)),
    }
}

#[test]
fn replies_written_in_place_match_real_redis_and_their_transaction_copies() {
    let tinykv = Server::start_with(&["--no-greeting"]);
    let redis = Redis::start();
    let commands = commands();
    let mut ours = tinykv.connect();
    let mut theirs = redis.as_ref().map(Redis::connect);
    load(&mut ours);
    theirs.iter_mut().for_each(load);
    for protocol in [&b"2"[..], b"3"] {
        for stream in std::iter::once(&mut ours).chain(theirs.as_mut()) {
            assert!(!call(stream, &[b"HELLO", protocol]).starts_with(b"-"));
        }
        let a = replies(&mut ours, &commands);
        let Some(theirs) = theirs.as_mut() else { continue };
        let b = replies(theirs, &commands);
        for (((words, order), ours), theirs) in commands.iter().zip(&a).zip(&b) {
            let name = format!("{} {}", String::from_utf8_lossy(&words[0]), String::from_utf8_lossy(&words[1]));
            assert!(
                ours == theirs || normalized(ours, *order) == normalized(theirs, *order),
                "RESP{} {name} ({} arguments):\n tinykv: {:?}\n  redis: {:?}",
                String::from_utf8_lossy(protocol),
                words.len(),
                String::from_utf8_lossy(&ours[..ours.len().min(300)]),
                String::from_utf8_lossy(&theirs[..theirs.len().min(300)])
            );
        }
    }
    let Some(theirs) = theirs.as_mut() else { return };
    // Redis counts a keyspace hit for every key that exists, one of another type too.
    let stats = |stream: &mut TcpStream| {
        assert_eq!(call(stream, &[b"CONFIG", b"RESETSTAT"]), b"+OK\r\n");
        call(stream, &[b"MGET", b"missing", b"list", b"s:1", b"s:2", b"s:1"]);
        call(stream, &[b"MULTI"]);
        call(stream, &[b"MGET", b"missing", b"list", b"s:1"]);
        call(stream, &[b"EXEC"]);
        let info = String::from_utf8(call(stream, &[b"INFO", b"stats"])).unwrap();
        info.lines().filter(|line| line.starts_with("keyspace_")).collect::<Vec<_>>().join(" ")
    };
    assert_eq!(stats(&mut ours), stats(theirs));
}
