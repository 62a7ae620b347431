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
