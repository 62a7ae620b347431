//! Differential test of `CONFIG SET|GET client-output-buffer-limit` (issue 11) against a real
//! redis-server, in RESP2 and RESP3: every class name Redis reads (`normal`, `slave`, `replica`,
//! `pubsub`, any case; `master` refused), memory units, the seconds as `strtoll` reads them, the
//! value split on single spaces (two spaces are an empty word), several classes in one value, the
//! parameter beside others in one all-or-nothing `CONFIG SET`, and `CONFIG GET` after each change.
//! Both servers start with Redis's defaults, so every reply is compared byte for byte. The `normal` class
//! only gets limits Redis cannot cut the test's own connection off with: Redis enforces it, TinyKV stores it.

use tinykv_tests::differential::{self, agree, Rng};

/// Sequences run, each from its own seed, and commands per sequence.
const SEEDS: u64 = 10;
const STEPS: usize = 200;

const CLASSES: &[&str] = &["normal", "pubsub", "slave", "replica", "PUBSUB", "Normal", "master", "nosuch", ""];
const SIZES: &[&str] = &[
    "0",
    "1",
    "32mb",
    "8mb",
    "256kb",
    "1gb",
    "1k",
    "1KB",
    "5m",
    "2g",
    "b",
    "",
    "-1",
    "1.5mb",
    "1xb",
    "+5",
    "99999999999999999999",
    // 127 digits fit Redis's buffer (and saturate), 128 do not.
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
];
const SECONDS: &[&str] = &["0", "60", "10", "", "+7", "-1", "x", "5x", "2147483647", "4294967296", "2147483648"];
const WHOLE_VALUES: &[&str] = &[
    "",
    " ",
    "pubsub 32mb 8mb 60",
    "pubsub  32mb 8mb 60",
    "pubsub 32mb 8mb 60 ",
    "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60",
    "pubsub 1 2",
    "pubsub 1 2 3 normal",
    "master 1 2 3",
    "pubsub 1mb 1mb 1 pubsub 2mb 2mb 2",
    "normal 1 2 3 master 1 2 3",
];

/// Sizes that never make Redis cut off the test's own (normal) connection: no limit, huge ones, refused ones.
const NORMAL_SIZES: &[&str] = &["0", "", "b", "32mb", "1gb", "99999999999999999999", "-1", "1.5mb", "1xb", "+5"];

fn group(rng: &mut Rng) -> String {
    let class = rng.pick(CLASSES);
    // Redis enforces the `normal` class (TinyKV only stores it): a small one would close this very connection.
    let sizes = if class.eq_ignore_ascii_case("normal") { NORMAL_SIZES } else { SIZES };
    format!("{class} {} {} {}", rng.pick(sizes), rng.pick(sizes), rng.pick(SECONDS))
}

fn generate(rng: &mut Rng) -> Vec<String> {
    let name = rng.pick(&["client-output-buffer-limit", "CLIENT-OUTPUT-BUFFER-LIMIT"]).to_owned();
    let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect::<Vec<String>>();
    match rng.below(10) {
        0..=2 => words(&["CONFIG", "GET", &name]),
        3 => words(&["CONFIG", "SET", &name, rng.pick(WHOLE_VALUES)]),
        4 => {
            // Beside another parameter: all or nothing, the first bad one named.
            let other = rng.pick(&["timeout 0", "timeout x", "maxmemory 0"]);
            let (other_name, other_value) = other.split_once(' ').unwrap_or((other, ""));
            let value = group(rng);
            if rng.chance(50) {
                words(&["CONFIG", "SET", &name, &value, other_name, other_value])
            } else {
                words(&["CONFIG", "SET", other_name, other_value, &name, &value])
            }
        }
        5 => {
            let value = format!("{} {}", group(rng), group(rng));
            words(&["CONFIG", "SET", &name, &value])
        }
        6 => words(&["CONFIG", "SET", &name]),
        _ => {
            let value = group(rng);
            words(&["CONFIG", "SET", &name, &value])
        }
    }
}

#[test]
fn client_output_buffer_limit_agrees_with_redis() {
    if let Some(compared) = differential::run(&[], SEEDS, STEPS, generate, agree) {
        eprintln!("{compared} replies compared");
    }
}
