//! Differential test of `OBJECT` and `MEMORY`: random string commands interleaved with `OBJECT
//! ENCODING|REFCOUNT|FREQ|IDLETIME|HELP` and `MEMORY USAGE|HELP` (wrong arities, unknown subcommands,
//! bad `SAMPLES` included), against TinyKV and a real `redis-server` with the same configuration:
//!
//! - the defaults (`noeviction`, no maxmemory): encodings and shared-integer refcounts exact, `FREQ`'s
//!   error exact, `IDLETIME` any non-negative number (Redis shares one clock among keys holding the
//!   same small integer, so it legitimately differs);
//! - `allkeys-lru` with a maxmemory (no shared integers): `IDLETIME` within a second;
//! - `allkeys-lfu` with `lfu-log-factor 0` and `lfu-decay-time 0`, so counters are deterministic:
//!   `FREQ` exact, which checks that every command counts accesses exactly as Redis's does.
//!
//! `MEMORY USAGE` sizes differ by design (another allocator and layout): both must be positive
//! numbers, or the same null or error. Skipped, with the reason printed, without `redis-server`.

use tinykv_tests::differential::{self, agree, integer, Rng};

/// Sequences per configuration, each from its own seed (odd seeds RESP3), and commands per sequence.
const SEEDS: u64 = 8;
const STEPS: usize = 400;

const KEYS: &[&str] = &["k0", "k1", "k2", "num", "text"];
const VALUES: &[&str] = &[
    "0",
    "1",
    "100",
    "9999",
    "10000",
    "-1",
    "-0",
    "007",
    "3.5",
    "",
    "abc",
    "12345678901234567890",
    "9223372036854775807",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];
const SAMPLES: &[&str] = &["0", "5", "100", "-1", "x", "9223372036854775808"];

/// One pseudo-random command: mostly writes and reads that change encodings and count accesses,
/// a third introspection.
fn random_command(rng: &mut Rng) -> Vec<String> {
    let key = |rng: &mut Rng| rng.pick(KEYS).to_owned();
    let value = |rng: &mut Rng| rng.pick(VALUES).to_owned();
    let words: Vec<String> = match rng.below(30) {
        0..=2 => {
            let mut words = vec!["SET".to_owned(), key(rng), value(rng)];
            match rng.below(6) {
                0 => words.push("GET".into()),
                1 => words.extend(["EX".into(), "1000".into()]),
                2 => words.push("NX".into()),
                3 => words.push("KEEPTTL".into()),
                _ => {}
            }
            words
        }
        3 => vec!["GET".into(), key(rng)],
        4 => vec!["APPEND".into(), key(rng), value(rng)],
        5 => vec!["INCR".into(), key(rng)],
        6 => vec!["INCRBY".into(), key(rng), rng.pick(&["5000", "-20000", "1"]).into()],
        7 => vec!["DEL".into(), key(rng)],
        8 => vec!["EXISTS".into(), key(rng)],
        9 => vec!["TYPE".into(), key(rng)],
        10 => vec!["TTL".into(), key(rng)],
        11 => vec!["EXPIRE".into(), key(rng), "1000".into()],
        12 => vec!["PERSIST".into(), key(rng)],
        13 => vec!["STRLEN".into(), key(rng)],
        14 => vec!["MSET".into(), key(rng), value(rng), key(rng), value(rng)],
        15 => vec!["MGET".into(), key(rng), key(rng)],
        16 => vec!["RENAME".into(), key(rng), key(rng)],
        17 => vec!["GETSET".into(), key(rng), value(rng)],
        18 => vec!["SETNX".into(), key(rng), value(rng)],
        19 => match rng.below(6) {
            0 => vec!["MSETNX".into(), key(rng), value(rng), key(rng), value(rng)],
            1 => vec!["SETRANGE".into(), key(rng), rng.pick(&["0", "2", "40"]).into(), value(rng)],
            2 => vec!["SETBIT".into(), key(rng), rng.pick(&["0", "7", "300"]).into(), rng.pick(&["0", "1"]).into()],
            3 => vec!["INCRBYFLOAT".into(), key(rng), rng.pick(&["0.5", "1", "-2.25", "0.5"]).into()],
            4 => vec!["GETEX".into(), key(rng)],
            _ => vec!["GETRANGE".into(), key(rng), "0".into(), "3".into()],
        },
        20..=24 => {
            let sub = rng.pick(&["ENCODING", "REFCOUNT", "FREQ", "IDLETIME", "encoding", "freq", "idletime"]);
            vec!["OBJECT".into(), sub.into(), key(rng)]
        }
        25 => match rng.below(7) {
            0 => vec!["OBJECT".into(), "HELP".into()],
            1 => vec!["OBJECT".into(), "help".into(), "extra".into()],
            2 => vec!["OBJECT".into()],
            3 => vec!["OBJECT".into(), "NOSUCH".into(), key(rng)],
            4 => vec!["OBJECT".into(), "ENCODING".into()],
            5 => vec!["OBJECT".into(), "REFCOUNT".into(), key(rng), key(rng)],
            _ => vec!["OBJECT".into(), "Freq".into()],
        },
        26..=27 => {
            let mut words = vec!["MEMORY".into(), "USAGE".into(), key(rng)];
            match rng.below(5) {
                0 => words.extend(["SAMPLES".into(), rng.pick(SAMPLES).into()]),
                1 => words.extend(["samples".into(), rng.pick(SAMPLES).into(), "SAMPLES".into(), "1".into()]),
                2 => words.push("SAMPLES".into()),
                3 => words.extend(["BAD".into(), "1".into()]),
                _ => {}
            }
            words
        }
        _ => match rng.below(4) {
            0 => vec!["MEMORY".into(), "HELP".into(), "extra".into()],
            1 => vec!["MEMORY".into()],
            2 => vec!["MEMORY".into(), "usage".into()],
            _ => vec!["MEMORY".into(), "NOSUCH".into()],
        },
    };
    words
}

/// The general rules, then: `MEMORY USAGE` sizes both positive; `OBJECT IDLETIME` within
/// `idle_tolerance` seconds.
fn agree_object(words: &[String], ours: &[u8], theirs: &[u8], idle_tolerance: i64) -> bool {
    if agree(words, ours, theirs) {
        return true;
    }
    let sub = words.get(1).map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    match (words[0].as_str(), sub.as_str(), integer(ours), integer(theirs)) {
        ("MEMORY", "USAGE", Some(a), Some(b)) => a > 0 && b > 0,
        ("OBJECT", "IDLETIME", Some(a), Some(b)) => a >= 0 && b >= 0 && (a - b).abs() <= idle_tolerance,
        _ => false,
    }
}

fn check(config: &[&str], idle_tolerance: i64) {
    let compared = differential::run_with(config, config, SEEDS, STEPS, random_command, |words, ours, theirs| {
        agree_object(words, ours, theirs, idle_tolerance)
    });
    match compared {
        Some(n) => eprintln!("OBJECT/MEMORY with {config:?}: {n} replies compared"),
        None => eprintln!("skipped: no redis-server"),
    }
}

#[test]
fn object_and_memory_match_redis_with_the_defaults() {
    // Shared integers: a key's idle time is that of every key holding the same small integer.
    check(&[], i64::MAX);
}

#[test]
fn idle_times_match_redis_under_allkeys_lru() {
    check(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"], 1);
}

#[test]
fn lfu_counters_match_redis_access_for_access() {
    let config =
        ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0", "--lfu-decay-time", "0"];
    check(&config, 1);
}
