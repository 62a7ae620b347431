//! `SCAN`, `SSCAN`, `HSCAN` and `ZSCAN` over a big keyspace or collection: each step returns about
//! `COUNT` entries, as Redis's do (a step once returned a sixty-fourth of the collection, 15,000
//! members of a million-member set in one reply), and a whole scan still returns everything present
//! from start to end while another client grows the table and removes from it under it.

use tinykv_tests::Server;

/// Entries filled: the tables then double at least once while the scan adds to them.
const SIZE: usize = 20_000;
/// Entries another client adds after each step: the table doubles during the scan.
const ADDED_PER_STEP: usize = 16;
/// Entries there from the start that another client removes after each step, leaving tombstones.
const REMOVED_PER_STEP: usize = 8;

/// The command that adds `names` to `key` of `kind` (or, for the keyspace, sets them as keys).
fn add(kind: &str, key: &str, names: &[String]) -> redis::Cmd {
    let mut cmd = redis::cmd(match kind {
        "set" => "SADD",
        "hash" => "HSET",
        "zset" => "ZADD",
        _ => "MSET",
    });
    if kind != "keys" {
        cmd.arg(key);
    }
    for (i, name) in names.iter().enumerate() {
        match kind {
            "set" => cmd.arg(name),
            "zset" => cmd.arg(i).arg(name),
            _ => cmd.arg(name).arg("v"),
        };
    }
    cmd
}

/// The command that removes `names` from `key` of `kind` (or, for the keyspace, deletes them).
fn remove(kind: &str, key: &str, names: &[String]) -> redis::Cmd {
    let mut cmd = redis::cmd(match kind {
        "set" => "SREM",
        "hash" => "HDEL",
        "zset" => "ZREM",
        _ => "DEL",
    });
    if kind != "keys" {
        cmd.arg(key);
    }
    cmd.arg(names);
    cmd
}

/// One step of the scan of `kind`: the next cursor and the names it returned.
fn step(con: &mut redis::Connection, kind: &str, key: &str, cursor: u64) -> (u64, Vec<String>) {
    let mut cmd = redis::cmd(match kind {
        "set" => "SSCAN",
        "hash" => "HSCAN",
        "zset" => "ZSCAN",
        _ => "SCAN",
    });
    if kind != "keys" {
        cmd.arg(key);
    }
    let (next, items): (String, Vec<String>) = cmd.arg(cursor).arg("COUNT").arg(10).query(con).expect("scan step");
    // A hash's and a zset's replies pair each name with its value or score.
    let names = if kind == "hash" || kind == "zset" { items.into_iter().step_by(2).collect() } else { items };
    (next.parse().expect("a numeric cursor"), names)
}

#[test]
fn every_scan_takes_short_steps_and_misses_nothing_while_the_table_changes() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.redis();
    let mut other = server.redis();
    for kind in ["set", "hash", "zset", "keys"] {
        let key = format!("big-{kind}");
        let names: Vec<String> = (0..SIZE).map(|i| format!("{kind}:{i}")).collect();
        for batch in names.chunks(1000) {
            add(kind, &key, batch).query::<()>(&mut con).expect("fill");
        }
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut steps, mut longest, mut added) = (0, 0, 0, 0);
        loop {
            let (next, names) = step(&mut con, kind, &key, cursor);
            longest = longest.max(names.len());
            seen.extend(names);
            steps += 1;
            let new: Vec<String> = (added..added + ADDED_PER_STEP).map(|i| format!("new-{kind}:{i}")).collect();
            add(kind, &key, &new).query::<()>(&mut other).expect("grow");
            // Odd originals go, leaving tombstones in the table: the even ones must still be seen.
            let gone: Vec<String> = (steps * REMOVED_PER_STEP..(steps + 1) * REMOVED_PER_STEP)
                .map(|i| format!("{kind}:{}", 2 * i + 1))
                .filter(|_| (steps + 1) * REMOVED_PER_STEP * 2 <= SIZE)
                .collect();
            if !gone.is_empty() {
                remove(kind, &key, &gone).query::<()>(&mut other).expect("shrink");
            }
            added += ADDED_PER_STEP;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let missed = (0..SIZE).step_by(2).filter(|i| !seen.contains(&format!("{kind}:{i}"))).count();
        eprintln!("{kind}: {steps} steps, longest {longest}, {added} added meanwhile, {missed} missed");
        assert_eq!(missed, 0, "{kind}: present throughout, yet not returned");
        assert!(longest <= 100, "{kind}: a step of COUNT 10 returned {longest}");
        assert!(steps >= SIZE / 100, "{kind}: {steps} steps");
    }
}
