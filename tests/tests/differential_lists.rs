//! Differential test of the list commands (blocking ones included, with timeouts short enough to
//! expire or keys that hold elements) against a real `redis-server`, in RESP2 and RESP3 (the harness
//! alternates by seed), byte for byte. Keys of every type are in play, so WRONGTYPE and the
//! missing/emptied-key paths are hit; bad input too: huge and negative indexes and counts, `LPOS RANK
//! 0`, `LINSERT` with a missing pivot, malformed timeouts.

use tinykv_tests::differential::{self, agree, Rng};

const SEEDS: u64 = 12;
const STEPS: usize = 500;

const LISTS: &[&str] = &["l0", "l1", "l2"];
/// Keys any command may use: lists, a string, a hash, a set and a missing key.
const KEYS: &[&str] = &["l0", "l1", "l2", "str", "h", "s", "none"];
const ELEMENTS: &[&str] = &["a", "b", "c", "1", "2", "", "x y", "-7", "9223372036854775807", "long-element-value"];
const INDEXES: &[&str] =
    &["0", "1", "-1", "2", "-2", "5", "-100", "100", "9223372036854775807", "-9223372036854775808", "x", "1.5", ""];
const COUNTS: &[&str] = &["0", "1", "2", "3", "10", "-1", "9223372036854775807", "x", ""];
/// Timeouts: short, malformed or negative; never 0 on a key that may stay empty, nor `inf`
/// (redis-server 7.0 crashes on it).
const TIMEOUTS: &[&str] = &["0.01", "0.001", "-1", "x", "", "-0.5", "1e400", "99999999999999999999"];

fn key(rng: &mut Rng) -> String {
    if rng.chance(80) { rng.pick(LISTS) } else { rng.pick(KEYS) }.to_owned()
}

fn element(rng: &mut Rng) -> String {
    rng.pick(ELEMENTS).to_owned()
}

fn end(rng: &mut Rng) -> String {
    rng.pick(&["LEFT", "RIGHT", "left", "right", "middle"]).to_owned()
}

/// One pseudo-random command.
fn random_command(rng: &mut Rng) -> Vec<String> {
    let w = |text: &str| text.to_owned();
    let mut words: Vec<String> = match rng.below(40) {
        0..=5 => {
            let mut words = vec![w(rng.pick(&["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"])), key(rng)];
            words.extend((0..1 + rng.below(4)).map(|_| element(rng)));
            words
        }
        6..=8 => {
            let mut words = vec![w(rng.pick(&["LPOP", "RPOP"])), key(rng)];
            if rng.chance(50) {
                words.push(w(rng.pick(COUNTS)));
            }
            words
        }
        9 => vec![w("LLEN"), key(rng)],
        10..=12 => vec![w("LRANGE"), key(rng), w(rng.pick(INDEXES)), w(rng.pick(INDEXES))],
        13 => vec![w("LINDEX"), key(rng), w(rng.pick(INDEXES))],
        14 => vec![w("LSET"), key(rng), w(rng.pick(INDEXES)), element(rng)],
        15 => vec![
            w("LINSERT"),
            key(rng),
            w(rng.pick(&["BEFORE", "AFTER", "after", "inside"])),
            element(rng),
            element(rng),
        ],
        16 | 17 => vec![w("LREM"), key(rng), w(rng.pick(&["0", "1", "-1", "2", "-2", "x"])), element(rng)],
        18 => vec![w("LTRIM"), key(rng), w(rng.pick(INDEXES)), w(rng.pick(INDEXES))],
        19 | 20 => {
            let mut words = vec![w("LPOS"), key(rng), element(rng)];
            for _ in 0..rng.below(3) {
                match rng.below(4) {
                    0 => words.extend([w("RANK"), w(rng.pick(&["1", "-1", "2", "-2", "0", "x"]))]),
                    1 => words.extend([w("COUNT"), w(rng.pick(&["0", "1", "2", "-1", "x"]))]),
                    2 => words.extend([w("MAXLEN"), w(rng.pick(&["0", "1", "3", "-1"]))]),
                    _ => words.push(w(rng.pick(&["RANK", "BOGUS"]))),
                }
            }
            words
        }
        21 | 22 => vec![w("LMOVE"), key(rng), key(rng), end(rng), end(rng)],
        23 => vec![w("RPOPLPUSH"), key(rng), key(rng)],
        24 | 25 => {
            let keys = 1 + rng.below(3);
            let mut words = vec![w("LMPOP"), w(rng.pick(&["1", "2", "3", "0", "-1", "x", "9"]))];
            words.extend((0..keys).map(|_| key(rng)));
            words.push(end(rng));
            if rng.chance(50) {
                words.extend([w(rng.pick(&["COUNT", "count", "BAD"])), w(rng.pick(COUNTS))]);
            }
            words
        }
        26 | 27 => {
            let mut words = vec![w(rng.pick(&["BLPOP", "BRPOP"]))];
            words.extend((0..1 + rng.below(3)).map(|_| key(rng)));
            words.push(w(rng.pick(TIMEOUTS)));
            words
        }
        28 => vec![w("BLMOVE"), key(rng), key(rng), end(rng), end(rng), w(rng.pick(TIMEOUTS))],
        29 => vec![w("BRPOPLPUSH"), key(rng), key(rng), w(rng.pick(TIMEOUTS))],
        30 => {
            let mut words = vec![w("BLMPOP"), w(rng.pick(TIMEOUTS)), w(rng.pick(&["1", "2", "0", "x"]))];
            words.extend((0..1 + rng.below(2)).map(|_| key(rng)));
            words.push(end(rng));
            if rng.chance(50) {
                words.extend([w("COUNT"), w(rng.pick(COUNTS))]);
            }
            words
        }
        // Other families on the same keys.
        31 => vec![w(rng.pick(&["TYPE", "OBJECT", "GET", "EXISTS", "SCARD", "HLEN"])), key(rng)],
        32 => vec![w(rng.pick(&["RENAME", "COPY"])), key(rng), key(rng)],
        33 => vec![w("DEL"), key(rng)],
        34 => vec![w("SCAN"), w("0"), w("COUNT"), w("1000"), w("TYPE"), w(rng.pick(&["list", "string", "hash"]))],
        35 => vec![w("SET"), w("str"), element(rng)],
        36 => vec![w("HSET"), w("h"), w("f"), element(rng)],
        37 => vec![w("SADD"), w("s"), element(rng)],
        38 => vec![w("OBJECT"), w("ENCODING"), key(rng)],
        // Now and then a long list, past one chunk.
        _ => {
            let mut words = vec![w("RPUSH"), w(rng.pick(LISTS))];
            words.extend((0..300).map(|i| format!("bulk:{}:{}", i, "y".repeat(i % 40))));
            words
        }
    };
    // Now and then, a wrong number of arguments.
    if rng.chance(3) && words.len() > 1 {
        words.pop();
    }
    words
}

fn lists_agree(words: &[String], ours: &[u8], theirs: &[u8]) -> bool {
    // `SCAN TYPE` lists keys in each server's own order.
    if words[0] == "SCAN" && ours.starts_with(b"*2") && theirs.starts_with(b"*2") {
        let items = |reply: &[u8]| {
            let mut lines: Vec<&[u8]> = reply.split(|&b| b == b'\n').skip(4).step_by(2).collect();
            lines.sort();
            lines.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>()
        };
        return items(ours) == items(theirs);
    }
    agree(words, ours, theirs)
}

#[test]
fn random_list_commands_match_real_redis() {
    let Some(compared) = differential::run(&[], SEEDS, STEPS, random_command, lists_agree) else { return };
    eprintln!("differential (lists): {compared} replies compared against redis-server");
}

/// `LRANGE` writes its reply straight into the connection's buffer below 1,024 elements, and builds
/// it as values (sent in pieces) from there: both sides of that limit, elements around the one-digit
/// length shortcut (0, 9, 10 bytes, CR and LF inside), pipelined in one write and inside `MULTI`
/// (where the reply is queued, not written in place), give Redis's bytes in RESP2 and RESP3.
#[test]
fn lrange_around_the_in_place_limits_matches_real_redis() {
    use std::io::Write;
    use tinykv_tests::{call, read_reply, resp, Server};

    let Some(redis) = differential::Redis::start() else { return };
    let tinykv = Server::start_with(&["--no-greeting"]);
    let elements: Vec<Vec<u8>> = (0..1030)
        .map(|i| match i % 6 {
            0 => Vec::new(),
            1 => b"123456789".to_vec(),
            2 => b"0123456789".to_vec(),
            3 => b"a\r\nb".to_vec(),
            4 => vec![b'x'; 200],
            _ => i.to_string().into_bytes(),
        })
        .collect();
    let ranges: &[(&str, &str)] =
        &[("0", "1022"), ("0", "1023"), ("1", "1024"), ("0", "-1"), ("-3", "-1"), ("5", "2"), ("2000", "3000")];
    let mut replies = Vec::new();
    for mut stream in [tinykv.connect(), redis.connect()] {
        let mut push: Vec<&[u8]> = vec![b"RPUSH", b"list"];
        push.extend(elements.iter().map(Vec::as_slice));
        assert_eq!(call(&mut stream, &push), b":1030\r\n");
        let mut got = Vec::new();
        for protocol in [&b"2"[..], b"3"] {
            assert!(!call(&mut stream, &[b"HELLO", protocol]).starts_with(b"-"));
            let mut batch = Vec::new();
            let mut count = 0;
            for &(start, stop) in ranges {
                for key in [&b"list"[..], b"missing"] {
                    batch.extend(resp(&[b"LRANGE", key, start.as_bytes(), stop.as_bytes()]));
                    count += 1;
                }
            }
            batch.extend(resp(&[b"MULTI"]));
            batch.extend(resp(&[b"LRANGE", b"list", b"0", b"7"]));
            batch.extend(resp(&[b"LRANGE", b"list", b"0", b"1500"]));
            batch.extend(resp(&[b"EXEC"]));
            stream.write_all(&batch).unwrap();
            for _ in 0..count + 4 {
                got.push(read_reply(&mut stream));
            }
        }
        replies.push(got);
    }
    assert_eq!(replies[0].len(), replies[1].len());
    for (i, (ours, theirs)) in replies[0].iter().zip(&replies[1]).enumerate() {
        assert!(
            ours == theirs,
            "reply {i} differs:\n tinykv: {:?}\n  redis: {:?}",
            String::from_utf8_lossy(&ours[..ours.len().min(300)]),
            String::from_utf8_lossy(&theirs[..theirs.len().min(300)])
        );
    }
}
