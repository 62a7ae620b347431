//! Differential test of the server and connection commands (issue 8): `CONFIG SET|GET|RESETSTAT|
//! REWRITE|HELP`, `CLIENT` subcommands (their errors and the replies that do not depend on ids or
//! ports), `SLOWLOG LEN|RESET|HELP` and its errors, `TIME`, `WAIT`, `LASTSAVE`, and `DEBUG` (refused
//! on both: neither server enables it) against a real redis-server, in RESP2 and RESP3.
//!
//! Both servers start with `--slowlog-log-slower-than 0` and the generator only sets thresholds
//! that log everything or nothing, so `SLOWLOG LEN` is deterministic and compares which commands
//! each server counts as run (refusals at lookup are not logged, errors while running are).
//!
//! Compared byte for byte except: `CONFIG GET`, a map whose order is Redis's hash order, compared
//! as a set of pairs; `TIME` and `LASTSAVE`, compared by shape (and `TIME` within two seconds).
//! Left out: replies carrying ids, ports or timings (`CLIENT ID|INFO|LIST` of oneself, `SLOWLOG
//! GET` entries), `CLIENT HELP` (TinyKV lists only what it has), `CLIENT NO-TOUCH` (Redis 7.2),
//! `CLIENT REPLY ON|OFF|SKIP` and positive pauses (they stop the lockstep), and values where TinyKV
//! differs on purpose (`proto-max-bulk-len` above 512mb; `port`, `bind`, `appendonly`, `save`, `dir`,
//! `dbfilename`, `rdbcompression`, `rdbchecksum`, which TinyKV cannot change while running).

use tinykv_tests::differential::{self, agree, Rng};

/// Sequences run, each from its own seed, and commands per sequence.
const SEEDS: u64 = 12;
const STEPS: usize = 300;

/// Both servers log every command until the generator says otherwise.
const SLOWLOG_ALL: &[&str] = &["--slowlog-log-slower-than", "0"];

/// Settable parameters and values to set them to: good ones, bad ones, edge ones.
const SETTABLE: &[(&str, &[&str])] = &[
    ("maxmemory", &["0", "100mb", "1gb", "1GB", "4096", "kb", "abc", "-1", "1.5mb", " 5", "18446744073709551616"]),
    ("timeout", &["0", "300", "86400", "-1", "x", "2147483648", "007"]),
    ("maxclients", &["10", "100", "10000", "0", "-1", "x", "4294967296"]),
    ("proto-max-bulk-len", &["1mb", "512mb", "1048576", "1048575", "100mb", "x", "1kb", "-5"]),
    ("slowlog-log-slower-than", &["0", "-1", "1000000000", "-2", "x"]),
    ("slowlog-max-len", &["0", "1", "5", "128", "-1", "x"]),
    ("appendfsync", &["everysec", "always", "no", "EVERYSEC", "bad", ""]),
    ("notify-keyspace-events", &["", "KEA", "gxK$", "Ex", "q", "AKEm", "lshz", "KEA$n"]),
    ("maxmemory-policy", &["noeviction", "allkeys-lru", "volatile-ttl", "ALLKEYS-LFU", "bad", "volatile-random"]),
    ("maxmemory-samples", &["1", "5", "10", "0", "x"]),
    ("lfu-log-factor", &["0", "10", "100", "-1", "x"]),
    ("lfu-decay-time", &["0", "1", "60", "-1", "2147483648"]),
    ("requirepass", &["", "secret", "s p a c e"]),
    ("databases", &["16", "3"]),
    // Snapshot rules change at run time; a value is checked as Redis checks it.
    (
        "save",
        &[
            "",
            "3600 1",
            "100 2 200 3",
            " 900  5 ",
            "900 ",
            "0 5",
            "3600",
            "3600 x",
            "-1 1",
            "1 2 3",
            "+60 007",
            "60 1x",
        ],
    ),
    // Redis changes these at run time, TinyKV at start only: its own value again is accepted.
    ("appendonly", &["no"]),
    ("rdbcompression", &["yes"]),
    ("aof-use-rdb-preamble", &["yes"]),
    // Protected in Redis unless `enable-protected-configs`.
    ("dir", &["/tmp", "."]),
    ("dbfilename", &["other.rdb"]),
    ("enable-debug-command", &["yes", "no"]),
    ("nosuch", &["1"]),
    ("MaxMemory", &["0", "x"]),
    ("TIMEOUT", &["0"]),
];

/// Names and patterns `CONFIG GET` is asked for: each matches the same parameters on both servers.
const GETTABLE: &[&str] = &[
    "maxmemory",
    "MAXMEMORY",
    "timeout",
    "maxclients",
    "proto-max-bulk-len",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "appendfsync",
    "notify-keyspace-events",
    "maxmemory-policy",
    "maxmemory-samples",
    "lfu-log-factor",
    "lfu-decay-time",
    "lfu-*",
    "requirepass",
    "databases",
    "enable-debug-command",
    "bind",
    "save",
    "appendonly",
    "dbfilename",
    "rdbcompression",
    "RDBCHECKSUM",
    "rdb*sum",
    "slowlog-*",
    "SLOWLOG*",
    "maxmemory-p*",
    "maxmemory-sa*",
    "notify-*",
    "proto-max-*",
    "appendfsyn?",
    "maxclient[s]",
    "time*",
    "databas?s",
    "enable-debug-*",
    "requirepas[s]",
    "nosuch*",
    "nosuch",
];

/// One pseudo-random command.
fn random_command(rng: &mut Rng) -> Vec<String> {
    let words = |items: &[&str]| items.iter().map(|w| (*w).to_owned()).collect::<Vec<String>>();
    let mut command: Vec<String> = match rng.below(20) {
        0..=4 => {
            let mut command = words(&["CONFIG", "SET"]);
            for _ in 0..1 + rng.below(3) {
                let (name, values) = SETTABLE[rng.below(SETTABLE.len())];
                command.push(name.to_owned());
                command.push(rng.pick(values).to_owned());
            }
            // Now and then an odd number of arguments.
            if rng.chance(5) {
                command.push("timeout".to_owned());
            }
            command
        }
        5..=7 => {
            let mut command = words(&["CONFIG", "GET"]);
            for _ in 0..1 + rng.below(3) {
                command.push(rng.pick(GETTABLE).to_owned());
            }
            command
        }
        8 => words(match rng.below(6) {
            0 => &["CONFIG", "RESETSTAT"],
            1 => &["CONFIG", "REWRITE"],
            2 => &["CONFIG", "HELP"],
            3 => &["CONFIG", "BOGUS"],
            4 => &["CONFIG", "REWRITE", "now"],
            _ => &["CONFIG"],
        }),
        9..=12 => words(rng.pick_list(&[
            &["CLIENT", "SETNAME", "worker-1"],
            &["CLIENT", "SETNAME", "bad name"],
            &["CLIENT", "SETNAME", ""],
            &["CLIENT", "GETNAME"],
            &["CLIENT", "NO-EVICT", "on"],
            &["CLIENT", "NO-EVICT", "OFF"],
            &["CLIENT", "NO-EVICT", "maybe"],
            &["CLIENT", "REPLY", "maybe"],
            &["CLIENT", "REPLY"],
            &["CLIENT", "PAUSE", "0"],
            &["CLIENT", "PAUSE", "0", "WRITE"],
            &["CLIENT", "PAUSE", "0", "all"],
            &["CLIENT", "PAUSE", "0", "bogus"],
            &["CLIENT", "PAUSE", "-1"],
            &["CLIENT", "PAUSE", "x", "WRITE"],
            &["CLIENT", "PAUSE", "0", "write", "extra"],
            &["CLIENT", "PAUSE"],
            &["CLIENT", "UNPAUSE"],
            &["CLIENT", "UNPAUSE", "now"],
            &["CLIENT", "KILL", "1.2.3.4:5"],
            &["CLIENT", "KILL", "ID", "999999"],
            &["CLIENT", "KILL", "ID", "0"],
            &["CLIENT", "KILL", "ID", "abc"],
            &["CLIENT", "KILL", "ADDR", "1.2.3.4:5"],
            &["CLIENT", "KILL", "LADDR", "1.2.3.4:5", "SKIPME", "no"],
            &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"],
            &["CLIENT", "KILL", "TYPE", "bogus"],
            &["CLIENT", "KILL", "USER", "nobody"],
            &["CLIENT", "KILL", "USER", "default"],
            &["CLIENT", "KILL", "SKIPME", "maybe"],
            &["CLIENT", "KILL", "foo", "bar"],
            &["CLIENT", "KILL", "ID", "5", "extra"],
            &["CLIENT", "KILL", "MAXAGE", "10"],
            &["CLIENT", "KILL"],
            &["CLIENT", "LIST", "TYPE", "master"],
            &["CLIENT", "LIST", "TYPE", "replica"],
            &["CLIENT", "LIST", "TYPE", "SLAVE"],
            &["CLIENT", "LIST", "TYPE", "pubsub"],
            &["CLIENT", "LIST", "TYPE", "bogus"],
            &["CLIENT", "LIST", "TYPE", "normal", "extra"],
            &["CLIENT", "LIST", "ID", "999999"],
            &["CLIENT", "LIST", "ID", "999999", "x"],
            &["CLIENT", "LIST", "ID"],
            &["CLIENT", "LIST", "foo"],
            &["CLIENT", "INFO", "extra"],
            &["CLIENT", "ID", "extra"],
            &["CLIENT", "BOGUS"],
            &["CLIENT"],
        ])),
        13..=14 => words(rng.pick_list(&[
            &["SLOWLOG", "LEN"],
            &["SLOWLOG", "LEN"],
            &["SLOWLOG", "RESET"],
            &["SLOWLOG", "GET", "0"],
            &["SLOWLOG", "GET", "x"],
            &["SLOWLOG", "GET", "-2"],
            &["SLOWLOG", "GET", "1", "2"],
            &["SLOWLOG", "HELP"],
            &["SLOWLOG", "LEN", "x"],
            &["SLOWLOG", "BOGUS"],
            &["SLOWLOG"],
        ])),
        15 => words(rng.pick_list(&[&["TIME"], &["TIME", "x"], &["LASTSAVE"], &["LASTSAVE", "x"]])),
        16 => words(rng.pick_list(&[
            &["WAIT", "0", "0"],
            &["WAIT", "-1", "0"],
            &["WAIT", "1", "10"],
            &["WAIT", "x", "0"],
            &["WAIT", "0", "x"],
            &["WAIT", "0", "-1"],
            &["WAIT", "0"],
        ])),
        17 => words(rng.pick_list(&[
            &["DEBUG", "SLEEP", "0"],
            &["DEBUG", "OBJECT", "k"],
            &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
            &["DEBUG", "BOGUS"],
            &["DEBUG"],
        ])),
        // No writes: with a small `maxmemory` they would compare memory accounting, not these commands.
        _ => words(rng.pick_list(&[&["PING"], &["GET", "k"], &["DEL", "k"], &["ECHO", "x"]])),
    };
    // Now and then, one argument too few; but not when that leaves a command whose reply carries ids,
    // ports or timings.
    if rng.chance(2) && command.len() > 1 {
        let last = command.pop();
        let shortened: Vec<String> = command.iter().map(|w| w.to_ascii_uppercase()).collect();
        let uncomparable = matches!(
            shortened.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
            ["SLOWLOG", "GET", ..]
                | ["CLIENT", "LIST"]
                | ["CLIENT", "LIST", "TYPE", "NORMAL"]
                | ["CLIENT", "INFO"]
                | ["CLIENT", "ID"]
        );
        if uncomparable {
            command.extend(last);
        }
    }
    command
}

/// A trait-free helper: `Rng::pick` for lists of word lists.
trait PickList {
    fn pick_list<'a>(&mut self, items: &[&'a [&'a str]]) -> &'a [&'a str];
}

impl PickList for Rng {
    fn pick_list<'a>(&mut self, items: &[&'a [&'a str]]) -> &'a [&'a str] {
        items[self.below(items.len())]
    }
}

/// The elements of a flat RESP reply: each line that is not a header of an aggregate or a bulk string.
fn elements(reply: &[u8]) -> Vec<Vec<u8>> {
    let text: Vec<&[u8]> = reply.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line)).collect();
    let mut out = Vec::new();
    let mut lines = text.iter().skip(1);
    while let Some(line) = lines.next() {
        match line.first() {
            Some(b'$') => out.push(lines.next().map(|l| l.to_vec()).unwrap_or_default()),
            Some(_) => out.push(line.to_vec()),
            None => {}
        }
    }
    out
}

/// `CONFIG GET`'s map as a sorted list of pairs, whatever its order and protocol.
fn config_pairs(reply: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    if !(reply.starts_with(b"*") || reply.starts_with(b"%")) {
        return None;
    }
    let items = elements(reply);
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = items.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
    pairs.sort();
    Some(pairs)
}

/// Byte equality, or the shapes the module doc allows.
fn agree_admin(words: &[String], ours: &[u8], theirs: &[u8]) -> bool {
    if agree(words, ours, theirs) {
        return true;
    }
    let upper: Vec<String> = words.iter().take(2).map(|w| w.to_ascii_uppercase()).collect();
    match upper.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["CONFIG", "GET"] => config_pairs(ours).is_some_and(|pairs| Some(pairs) == config_pairs(theirs)),
        ["TIME"] => {
            let seconds = |reply: &[u8]| -> Option<(i64, i64)> {
                let items = elements(reply);
                let parse = |item: &Vec<u8>| std::str::from_utf8(item).ok()?.parse::<i64>().ok();
                (reply.starts_with(b"*2\r\n$") && items.len() == 2).then_some(())?;
                Some((parse(&items[0])?, parse(&items[1])?))
            };
            matches!((seconds(ours), seconds(theirs)), (Some((a, ua)), Some((b, ub)))
                if (a - b).abs() <= 2 && (0..1_000_000).contains(&ua) && (0..1_000_000).contains(&ub))
        }
        ["LASTSAVE"] => differential::integer(ours).is_some() && differential::integer(theirs).is_some(),
        _ => false,
    }
}

#[test]
fn admin_commands_match_real_redis() {
    // Save rules set at run time make each server write a snapshot where it runs when it stops:
    // into a directory of the test's own.
    let dir = tinykv_tests::fresh_dir("differential-admin");
    let dir = dir.to_str().expect("a UTF-8 temporary directory");
    let args = [SLOWLOG_ALL, &["--dir", dir]].concat();
    let Some(compared) = differential::run_with(&args, &args, SEEDS, STEPS, random_command, agree_admin) else {
        return;
    };
    eprintln!("differential (admin): {compared} replies compared against redis-server");
}
