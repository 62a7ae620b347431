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
/// The COUNT each step asks for.
const COUNT: usize = 10;

/// What a scan walks: a key of one type, or the keyspace, with the commands that fill, thin and scan it.
struct Walked {
    name: &'static str,
    add: &'static str,
    remove: &'static str,
    scan: &'static str,
}

const WALKED: [Walked; 4] = [
    Walked { name: "set", add: "SADD", remove: "SREM", scan: "SSCAN" },
    Walked { name: "hash", add: "HSET", remove: "HDEL", scan: "HSCAN" },
    Walked { name: "zset", add: "ZADD", remove: "ZREM", scan: "ZSCAN" },
    Walked { name: "keys", add: "MSET", remove: "DEL", scan: "SCAN" },
];

impl Walked {
    /// `verb`, naming the key unless this is the keyspace.
    fn command(&self, verb: &str, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd(verb);
        if self.name != "keys" {
            cmd.arg(key);
        }
        cmd
    }

    /// Adds `names` (as members, fields with a value, members with a score, or keys with a value).
    fn add(&self, key: &str, names: &[String]) -> redis::Cmd {
        let mut cmd = self.command(self.add, key);
        for (i, name) in names.iter().enumerate() {
            match self.name {
                "set" => cmd.arg(name),
                "zset" => cmd.arg(i).arg(name),
                _ => cmd.arg(name).arg("v"),
            };
        }
        cmd
    }

    /// Removes `names`.
    fn remove(&self, key: &str, names: &[String]) -> redis::Cmd {
        let mut cmd = self.command(self.remove, key);
        cmd.arg(names);
        cmd
    }

    /// One step of the scan: the next cursor and the names it returned.
    fn step(&self, con: &mut redis::Connection, key: &str, cursor: u64) -> (u64, Vec<String>) {
        let reply: (String, Vec<String>) =
            self.command(self.scan, key).arg(cursor).arg("COUNT").arg(COUNT).query(con).expect("scan step");
        let (next, items) = reply;
        // A hash's and a zset's replies pair each name with its value or score.
        let names = match self.name {
            "hash" | "zset" => items.into_iter().step_by(2).collect(),
            _ => items,
        };
        (next.parse().expect("a numeric cursor"), names)
    }
}

#[test]
fn every_scan_takes_short_steps_and_misses_nothing_while_the_table_changes() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.redis();
    let mut other = server.redis();
    for walked in &WALKED {
        let kind = walked.name;
        let key = format!("big-{kind}");
        let names: Vec<String> = (0..SIZE).map(|i| format!("{kind}:{i}")).collect();
        for batch in names.chunks(1000) {
            walked.add(&key, batch).query::<()>(&mut con).expect("fill");
        }
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut steps, mut longest, mut returned, mut added) = (0, 0, 0, 0, 0);
        loop {
            let (next, names) = walked.step(&mut con, &key, cursor);
            longest = longest.max(names.len());
            returned += names.len();
            seen.extend(names);
            steps += 1;
            let new: Vec<String> = (added..added + ADDED_PER_STEP).map(|i| format!("new-{kind}:{i}")).collect();
            walked.add(&key, &new).query::<()>(&mut other).expect("grow");
            // Odd originals go, leaving tombstones in the table: the even ones must still be seen.
            let gone: Vec<String> = (steps * REMOVED_PER_STEP..(steps + 1) * REMOVED_PER_STEP)
                .map(|i| format!("{kind}:{}", 2 * i + 1))
                .filter(|_| (steps + 1) * REMOVED_PER_STEP * 2 <= SIZE)
                .collect();
            if !gone.is_empty() {
                walked.remove(&key, &gone).query::<()>(&mut other).expect("shrink");
            }
            added += ADDED_PER_STEP;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let missed = (0..SIZE).step_by(2).filter(|i| !seen.contains(&format!("{kind}:{i}"))).count();
        eprintln!(
            "{kind}: {steps} steps, {returned} returned, longest {longest}, {added} added meanwhile, {missed} missed"
        );
        assert_eq!(missed, 0, "{kind}: present throughout, yet not returned");
        // About COUNT a step, as Redis's: the whole-table design returned a 64th of a collection a
        // step (300 here) and a 16th of a keyspace shard (30 on average).
        assert!(longest <= 10 * COUNT, "{kind}: a step of COUNT {COUNT} returned {longest}");
        assert!(returned <= 2 * COUNT * steps, "{kind}: {returned} returned in {steps} steps");
    }
}
