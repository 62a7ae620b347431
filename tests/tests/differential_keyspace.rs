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

/// `INFO stats`' `keyspace_hits` and `keyspace_misses` count what Redis's `lookupKeyRead` counts: every
/// key a read command looks up (found, of any type: a hit; missing or expired: a miss), also inside
/// scripts and `MULTI`, and the first read of `GETDEL`, `GETSET`, `GETEX`, `SET ... GET` and `SORT`;
/// other writes and `MEMORY USAGE` count nothing. Compared after each command, so a difference
/// names it.
#[test]
fn keyspace_hits_and_misses_count_as_in_real_redis() {
    use tinykv_tests::{call_str, Server};

    let Some(redis) = differential::Redis::start() else { return };
    let tinykv = Server::start_with(&["--no-greeting"]);
    let (mut ours, mut theirs) = (tinykv.connect(), redis.connect());
    let setup: &[&[&str]] = &[
        &["SET", "s", "value"],
        &["RPUSH", "l", "a", "b"],
        &["HSET", "h", "f", "v"],
        &["SADD", "st", "m"],
        &["ZADD", "z", "1", "m"],
        &["SET", "gone", "v", "PX", "1"],
    ];
    for stream in [&mut ours, &mut theirs] {
        for words in setup {
            assert!(!call_str(stream, words).starts_with('-'), "{words:?}");
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    let commands: &[&[&str]] = &[
        &["GET", "s"],
        &["GET", "missing"],
        &["GET", "l"],
        &["GET", "gone"],
        &["MGET", "s", "missing", "l", "s"],
        &["STRLEN", "s"],
        &["GETRANGE", "s", "0", "1"],
        &["EXISTS", "s", "missing"],
        &["TYPE", "l"],
        &["TTL", "s"],
        &["PTTL", "missing"],
        &["LRANGE", "l", "0", "-1"],
        &["LRANGE", "missing", "0", "-1"],
        &["LLEN", "l"],
        &["LINDEX", "l", "0"],
        &["LPOS", "l", "a"],
        &["HGET", "h", "f"],
        &["HGET", "missing", "f"],
        &["HGETALL", "h"],
        &["HKEYS", "s"],
        &["HLEN", "h"],
        &["HEXISTS", "h", "f"],
        &["SMEMBERS", "st"],
        &["SISMEMBER", "st", "m"],
        &["SCARD", "missing"],
        &["SUNION", "st", "missing"],
        &[
            "SUNION", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st",
            "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st",
            "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st",
            "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "st", "missing", "missing", "st",
        ],
        &["ZRANGE", "z", "0", "-1"],
        &["ZSCORE", "z", "m"],
        &["ZRANK", "z", "m"],
        &["ZCARD", "missing"],
        &["DUMP", "s"],
        &["OBJECT", "ENCODING", "s"],
        &["TOUCH", "s", "missing"],
        &["MEMORY", "USAGE", "s"],
        &["MEMORY", "USAGE", "missing"],
        &["SORT", "l", "ALPHA"],
        &["SORT", "missing"],
        &["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "s"],
        &["EVAL", "return redis.call('EXISTS', KEYS[1], 'missing')", "1", "s"],
        &["SET", "s", "value", "GET"],
        &["SET", "new", "value", "GET"],
        &["GETEX", "s"],
        &["GETDEL", "s"],
        &["GETEX", "missing"],
        &["GETSET", "s", "again"],
        &["LPUSH", "l", "c"],
        &["INCR", "n"],
        &["SET", "s2", "v"],
        &["DEL", "st", "missing"],
        &["MULTI"],
        &["GET", "s"],
        &["LLEN", "missing"],
        &["EXEC"],
    ];
    let stats = |stream: &mut std::net::TcpStream| {
        let info = call_str(stream, &["INFO", "stats"]);
        info.lines().filter(|line| line.starts_with("keyspace_")).collect::<Vec<_>>().join(" ")
    };
    for words in commands {
        call_str(&mut ours, words);
        call_str(&mut theirs, words);
        assert_eq!(stats(&mut ours), stats(&mut theirs), "after {words:?}");
    }
}
