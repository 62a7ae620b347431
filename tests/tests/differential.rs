//! Differential test: the same pseudo-random command sequences against TinyKV and a real
//! `redis-server`, replies compared byte for byte through raw RESP, in RESP2 and in RESP3.
//!
//! Replies that legitimately differ are normalised first: `KEYS` is sorted (order is unspecified),
//! `TTL` may differ by one second and `PTTL` by a little (the two servers run each command at slightly
//! different times), and `DBSIZE` may be lower than Redis's while Redis still counts a key set with a
//! past `EXAT` that nothing can see. `INFO` and `SCAN` cursors are not compared. When `redis-server` is not installed
//! the test prints why and passes.

use tinykv_tests::differential::{self, agree, Rng};

/// Sequences run, each from its own seed, and commands per sequence.
const SEEDS: u64 = 20;
const STEPS: usize = 600;

const KEYS: &[&str] = &["k0", "k1", "k2", "k3", "k4", "num", "text"];
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "42",
    "007",
    "-0",
    "+5",
    " 5",
    "3.5",
    "",
    "abc",
    "hello world",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
];
const INTEGERS: &[&str] =
    &["0", "1", "-1", "5", "100", "007", "x", "", "9223372036854775807", "-9223372036854775808", "9223372036854775808"];
/// Expiry amounts that never run out during a test run, or are already past: never racy.
const SECONDS: &[&str] = &["0", "-5", "1000", "2000", "5000", "x", "9223372036854775807", "-9223372036854775808"];
const MILLIS: &[&str] = &["0", "-5", "1000000", "3000000", "x", "9223372036854775807"];
const AT_SECONDS: &[&str] = &["1", "0", "99999999999", "99999999990", "x"];
const AT_MILLIS: &[&str] = &["1", "99999999999000", "99999999990000"];
const EXPIRE_OPTIONS: &[&str] = &["NX", "XX", "GT", "LT", "nx", "gt", "BAD"];
const PATTERNS: &[&str] = &["*", "k?", "k[0-2]", "k[^0]", "n*", "*e*", "\\k0", "nothing"];

/// One pseudo-random command.
fn random_command(rng: &mut Rng) -> Vec<String> {
    let key = |rng: &mut Rng| rng.pick(KEYS).to_owned();
    let value = |rng: &mut Rng| rng.pick(VALUES).to_owned();
    let mut words: Vec<String> = match rng.below(31) {
        0..=2 => {
            let mut words = vec!["SET".to_owned(), key(rng), value(rng)];
            for _ in 0..rng.below(4) {
                match rng.below(9) {
                    0 => words.push("NX".into()),
                    1 => words.push("XX".into()),
                    2 => words.push("GET".into()),
                    3 => words.extend(["EX".into(), rng.pick(SECONDS).into()]),
                    4 => words.extend(["PX".into(), rng.pick(MILLIS).into()]),
                    5 => words.extend(["EXAT".into(), rng.pick(AT_SECONDS).into()]),
                    6 => words.extend(["PXAT".into(), rng.pick(AT_MILLIS).into()]),
                    7 => words.push("KEEPTTL".into()),
                    _ => words.push("EX".into()),
                }
            }
            words
        }
        3 => vec!["GET".into(), key(rng)],
        4 => vec!["GETDEL".into(), key(rng)],
        5 => vec!["GETSET".into(), key(rng), value(rng)],
        6 => vec!["MGET".into(), key(rng), key(rng), key(rng)],
        7 => vec!["MSET".into(), key(rng), value(rng), key(rng), value(rng)],
        8 => vec!["MSETNX".into(), key(rng), value(rng), key(rng), value(rng)],
        9 => vec!["SETNX".into(), key(rng), value(rng)],
        10 => vec!["SETEX".into(), key(rng), rng.pick(SECONDS).into(), value(rng)],
        11 => vec!["PSETEX".into(), key(rng), rng.pick(MILLIS).into(), value(rng)],
        12 => vec!["DEL".into(), key(rng), key(rng)],
        13 => vec!["UNLINK".into(), key(rng)],
        14 => vec!["EXISTS".into(), key(rng), key(rng), key(rng)],
        15 => vec!["INCR".into(), key(rng)],
        16 => vec!["DECR".into(), key(rng)],
        17 => vec!["INCRBY".into(), key(rng), rng.pick(INTEGERS).into()],
        18 => vec!["DECRBY".into(), key(rng), rng.pick(INTEGERS).into()],
        19 => vec!["APPEND".into(), key(rng), value(rng)],
        20 => vec!["STRLEN".into(), key(rng)],
        21 | 22 => {
            let (name, amounts) = match rng.below(4) {
                0 => ("EXPIRE", SECONDS),
                1 => ("PEXPIRE", MILLIS),
                2 => ("EXPIREAT", AT_SECONDS),
                _ => ("PEXPIREAT", AT_MILLIS),
            };
            let mut words = vec![name.to_owned(), key(rng), rng.pick(amounts).to_owned()];
            for _ in 0..rng.below(3) {
                words.push(rng.pick(EXPIRE_OPTIONS).to_owned());
            }
            words
        }
        23 => vec!["TTL".into(), key(rng)],
        24 => vec!["PTTL".into(), key(rng)],
        25 => vec!["PERSIST".into(), key(rng)],
        26 => vec!["TYPE".into(), key(rng)],
        27 => vec!["RENAME".into(), key(rng), key(rng)],
        28 => vec!["KEYS".into(), rng.pick(PATTERNS).into()],
        29 => vec!["DBSIZE".into()],
        _ => match rng.below(4) {
            0 => vec!["SELECT".into(), rng.pick(&["0", "1", "15", "16", "x", "-1", "2147483648"]).into()],
            1 => vec!["ECHO".into(), value(rng)],
            2 => vec!["PING".into()],
            _ => vec!["FLUSHDB".into()],
        },
    };
    // Now and then, a wrong number of arguments.
    if rng.chance(3) && words.len() > 1 {
        words.pop();
    }
    words
}

#[test]
fn random_command_sequences_match_real_redis() {
    let Some(compared) = differential::run(&[], SEEDS, STEPS, random_command, agree) else { return };
    eprintln!("differential: {compared} replies compared against redis-server");
}
