//! Differential test of the string and bit commands: `GETEX`, `GETRANGE`, `SUBSTR`, `SETRANGE`,
//! `INCRBYFLOAT`, `LCS`, `SETBIT`, `GETBIT`, `BITCOUNT`, `BITPOS`, `BITOP`, `BITFIELD`, `BITFIELD_RO`,
//! mixed with the plain string commands that feed and read them, against a real `redis-server`, replies
//! compared byte for byte in RESP2 and RESP3 (the harness alternates by seed).
//!
//! Arguments are drawn to hit the edges: negative and out-of-range indexes, non-numbers, bad options
//! and types, wrong arity, offsets around and far past the size limit. Both servers run with
//! `proto-max-bulk-len` at 1 MiB (Redis's smallest), so the limit is reached with small values and
//! offsets past it are errors on both sides instead of 512 MiB allocations. `TTL`/`PTTL` may differ by
//! the harness's tolerance. When `redis-server` is not installed the test prints why and passes.

use tinykv_tests::differential::{self, agree, Rng};

/// Sequences run, each from its own seed, and commands per sequence.
const SEEDS: u64 = 16;
const STEPS: usize = 400;
/// The shared `proto-max-bulk-len`: 1 MiB, so 8 Mi bits.
const LIMIT: &[&str] = &["--proto-max-bulk-len", "1mb"];

const KEYS: &[&str] = &["s0", "s1", "s2", "b0", "b1", "f"];
const VALUES: &[&str] = &[
    "",
    "a",
    "hello",
    "foobar",
    "ohmytext",
    "mynewtext",
    "\u{ff}\u{f0}",
    "\0\0\u{1}",
    "0",
    "10",
    "-7",
    "10.5",
    "3.0e3",
    "0x1p3",
    "1e4932",
    " 1",
    "inf",
    "abcabcbbxyzzy",
];
/// Indexes for ranges: in range, negative, past either end, extreme, not integers.
const INDEXES: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "7",
    "8",
    "12",
    "100",
    "-1",
    "-2",
    "-3",
    "-8",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
    "",
    "1.5",
    "01",
];
/// SETRANGE offsets: small, at the 1 MiB limit, past it, negative, huge, not integers.
const BYTE_OFFSETS: &[&str] = &[
    "0",
    "1",
    "3",
    "10",
    "64",
    "1048570",
    "1048575",
    "1048576",
    "4294967296",
    "9223372036854775807",
    "-1",
    "x",
    "1e3",
];
/// Bit offsets: small, around the 8 Mi-bit limit, 2^32, negative, `#n` (only BITFIELD reads it), junk.
const BIT_OFFSETS: &[&str] = &[
    "0",
    "1",
    "5",
    "7",
    "8",
    "13",
    "31",
    "100",
    "8388600",
    "8388607",
    "8388608",
    "4294967295",
    "4294967296",
    "-1",
    "#0",
    "#1",
    "#3",
    "#1048575",
    "#288230376151711745",
    "x",
];
const BITS: &[&str] = &["0", "1", "1", "2", "-1", "x"];
const FLOATS: &[&str] = &[
    "0.1",
    "-0.3",
    "1",
    "-1",
    "10",
    "1.5e-5",
    "5.0e3",
    "0x10",
    "1e4932",
    "-1e4932",
    "1e5000",
    "5e-4951",
    "inf",
    "nan",
    "abc",
    "",
    " 1",
    "1 ",
    ".5",
    "7.",
    "123456789012345678901234567890",
];
const TYPES: &[&str] =
    &["i1", "i5", "i8", "u8", "u2", "i16", "u15", "i63", "i64", "u63", "u64", "i65", "u0", "I8", "i08", "x", ""];
const FIELD_VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "100",
    "127",
    "128",
    "-129",
    "255",
    "300",
    "-300",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
];

/// One pseudo-random command.
fn random_command(rng: &mut Rng) -> Vec<String> {
    let key = |rng: &mut Rng| rng.pick(KEYS).to_owned();
    let index = |rng: &mut Rng| rng.pick(INDEXES).to_owned();
    let w = |text: &str| text.to_owned();
    let mut words: Vec<String> = match rng.below(30) {
        0..=2 => vec![w("SET"), key(rng), rng.pick(VALUES).into()],
        3 => vec![w("GET"), key(rng)],
        4 => vec![w("STRLEN"), key(rng)],
        5 => vec![w(rng.pick(&["TTL", "PTTL"])), key(rng)],
        6 | 7 => {
            let mut words = vec![w("GETEX"), key(rng)];
            for _ in 0..rng.below(3) {
                match rng.below(8) {
                    0 => words.push(w(rng.pick(&["PERSIST", "persist"]))),
                    1 => words.extend([w("EX"), w(rng.pick(&["1000", "2000", "0", "-5", "x", "9223372036854775807"]))]),
                    2 => words.extend([w("PX"), w(rng.pick(&["1000000", "0", "9223372036854775807", "y"]))]),
                    3 => words.extend([w("EXAT"), w(rng.pick(&["1", "99999999999", "0"]))]),
                    4 => words.extend([w("PXAT"), w(rng.pick(&["1", "99999999999000", "-1"]))]),
                    5 => words.push(w(rng.pick(&["KEEPTTL", "NX", "GET", "BAD"]))),
                    _ => words.push(w("ex")),
                }
            }
            words
        }
        8 | 9 => vec![w(rng.pick(&["GETRANGE", "SUBSTR"])), key(rng), index(rng), index(rng)],
        10 | 11 => {
            let value = rng.pick(&["x", "abc", "", "hello world", "\0"]);
            vec![w("SETRANGE"), key(rng), rng.pick(BYTE_OFFSETS).into(), value.into()]
        }
        12 | 13 => vec![w("INCRBYFLOAT"), rng.pick(&["f", "f", "s0", "b0"]).into(), rng.pick(FLOATS).into()],
        14 => {
            let mut words = vec![w("LCS"), key(rng), key(rng)];
            for _ in 0..rng.below(4) {
                match rng.below(6) {
                    0 => words.push(w("LEN")),
                    1 | 2 => words.push(w(rng.pick(&["IDX", "idx"]))),
                    3 => words.push(w("WITHMATCHLEN")),
                    4 => words.extend([w("MINMATCHLEN"), w(rng.pick(&["0", "1", "2", "4", "-3", "x"]))]),
                    _ => words.push(w(rng.pick(&["MINMATCHLEN", "BAD"]))),
                }
            }
            words
        }
        15 | 16 => vec![w("SETBIT"), key(rng), rng.pick(BIT_OFFSETS).into(), rng.pick(BITS).into()],
        17 => vec![w("GETBIT"), key(rng), rng.pick(BIT_OFFSETS).into()],
        18 | 19 => {
            let mut words = vec![w("BITCOUNT"), key(rng)];
            match rng.below(5) {
                0 => {}
                1 => words.push(index(rng)),
                2 => words.extend([index(rng), index(rng)]),
                3 => words.extend([index(rng), index(rng), w(rng.pick(&["BIT", "BYTE", "bit", "nibble"]))]),
                _ => words.extend([index(rng), index(rng), w("BIT"), w("extra")]),
            }
            words
        }
        20 | 21 => {
            let mut words = vec![w("BITPOS"), key(rng), w(rng.pick(&["0", "1", "1", "0", "2", "-1", "x"]))];
            let extra = rng.below(6);
            for i in 0..extra.min(4) {
                words.push(if i == 2 { w(rng.pick(&["BIT", "BYTE", "bit", "bad"])) } else { index(rng) });
            }
            words
        }
        22 | 23 => {
            let operation = rng.pick(&["AND", "OR", "XOR", "NOT", "and", "not", "NAND"]);
            let mut words = vec![w("BITOP"), w(operation), key(rng)];
            for _ in 0..1 + rng.below(3) {
                words.push(rng.pick(&["s0", "s1", "s2", "b0", "b1", "missing"]).into());
            }
            words
        }
        24..=26 => bitfield(rng, "BITFIELD"),
        27 => bitfield(rng, "BITFIELD_RO"),
        28 => vec![w("DEL"), key(rng)],
        _ => vec![w(rng.pick(&["EXPIRE", "PEXPIRE"])), key(rng), w("100000")],
    };
    // Now and then, a wrong number of arguments.
    if rng.chance(3) && words.len() > 1 {
        words.pop();
    }
    words
}

/// `BITFIELD` or `BITFIELD_RO` with a few random operations, some of them malformed.
fn bitfield(rng: &mut Rng, name: &str) -> Vec<String> {
    let mut words = vec![name.to_owned(), rng.pick(KEYS).to_owned()];
    for _ in 0..rng.below(4) {
        let field = |rng: &mut Rng| [rng.pick(TYPES).to_owned(), rng.pick(BIT_OFFSETS).to_owned()];
        match rng.below(8) {
            0 | 1 => {
                words.push(rng.pick(&["GET", "get"]).into());
                words.extend(field(rng));
            }
            2 | 3 => {
                words.push(rng.pick(&["SET", "INCRBY"]).into());
                words.extend(field(rng));
                words.push(rng.pick(FIELD_VALUES).into());
            }
            4 => {
                words.push("INCRBY".into());
                words.push(rng.pick(&["u2", "i3", "u8", "i8"]).into());
                words.push(rng.pick(&["0", "3", "100", "#2"]).into());
                words.push(rng.pick(&["1", "-1", "5", "200", "-200"]).into());
            }
            5 => words.extend(["OVERFLOW".to_owned(), rng.pick(&["WRAP", "SAT", "FAIL", "fail", "sat", "BAD"]).into()]),
            6 => words.push(rng.pick(&["OVERFLOW", "GET", "SET", "FOO"]).into()),
            _ => words.extend(["GET".to_owned(), rng.pick(TYPES).into()]),
        }
    }
    words
}

#[test]
fn random_string_and_bit_commands_match_real_redis() {
    let Some(compared) = differential::run_with(LIMIT, LIMIT, SEEDS, STEPS, random_command, agree) else { return };
    eprintln!("differential (strings and bits): {compared} replies compared against redis-server");
}
