//! Differential test of the keyspace and database commands (`SELECT`, `COPY`, `MOVE`, `SWAPDB`,
//! `RENAMENX`, `TOUCH`, `EXPIRETIME`, `PEXPIRETIME`, `RANDOMKEY`, `FLUSHDB`) against a real
//! redis-server: random sequences over a few keys in a few databases, replies compared byte for byte.

use tinykv_tests::differential::{self, agree, Rng};

const SEEDS: u64 = 12;
const STEPS: usize = 400;

const KEYS: &[&str] = &["a", "b", "c", "n"];
const DATABASES: &[&str] = &["0", "1", "2", "15", "16", "-1", "x", "2147483648", ""];
const VALUES: &[&str] = &["1", "hello", "", "-7"];
const TTLS: &[&str] = &["100", "5000", "99999999999"];

fn random_command(rng: &mut Rng) -> Vec<String> {
    let key = |rng: &mut Rng| rng.pick(KEYS).to_owned();
    let db = |rng: &mut Rng| rng.pick(DATABASES).to_owned();
    let mut words: Vec<String> = match rng.below(16) {
        0 | 1 => vec!["SET".into(), key(rng), rng.pick(VALUES).into()],
        2 => vec!["EXPIRE".into(), key(rng), rng.pick(TTLS).into()],
        3 => {
            let mut words = vec!["COPY".into(), key(rng), key(rng)];
            for _ in 0..rng.below(3) {
                match rng.below(4) {
                    0 => words.push("REPLACE".into()),
                    1 | 2 => words.extend(["DB".into(), db(rng)]),
                    _ => words.push(rng.pick(&["DB", "bogus", "replace"]).into()),
                }
            }
            words
        }
        4 => vec!["MOVE".into(), key(rng), db(rng)],
        5 => vec!["SWAPDB".into(), db(rng), db(rng)],
        6 => vec!["RENAMENX".into(), key(rng), key(rng)],
        7 => vec!["TOUCH".into(), key(rng), key(rng), key(rng)],
        8 => vec![rng.pick(&["EXPIRETIME", "PEXPIRETIME"]).into(), key(rng)],
        9 => vec!["RANDOMKEY".into()],
        10 | 11 => vec!["SELECT".into(), db(rng)],
        12 => vec!["DBSIZE".into()],
        13 => vec!["GET".into(), key(rng)],
        14 => vec!["KEYS".into(), "*".into()],
        _ => match rng.below(6) {
            0 => vec!["FLUSHDB".into()],
            1 => vec!["RENAME".into(), key(rng), key(rng)],
            _ => vec!["TTL".into(), key(rng)],
        },
    };
    if rng.chance(3) && words.len() > 1 {
        words.pop();
    }
    words
}

/// `RANDOMKEY` may pick any key: both must answer a key, or both null. Everything else as the
/// common rules say.
fn agree_random(words: &[String], ours: &[u8], theirs: &[u8]) -> bool {
    if words.len() == 1 && words[0] == "RANDOMKEY" {
        let kind = |reply: &[u8]| (reply.starts_with(b"$-1") || reply.starts_with(b"_"), reply.first().copied());
        return kind(ours) == kind(theirs);
    }
    agree(words, ours, theirs)
}

#[test]
fn keyspace_and_database_commands_match_real_redis() {
    let Some(compared) = differential::run(&[], SEEDS, STEPS, random_command, agree_random) else { return };
    eprintln!("differential (keyspace): {compared} replies compared against redis-server");
}
