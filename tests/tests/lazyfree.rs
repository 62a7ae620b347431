//! Big values are freed off the request path (issue 10): a list of 2,000,000 elements and a set of
//! 300,000 members, deleted with `DEL` or `FLUSHALL`, are handed to the lazy-free thread (counted in
//! `INFO memory`'s `lazyfreed_objects`, as Redis counts them) and really freed: filled and deleted over and over, the server's RSS stays near one filling (the allocator
//! reuses what the thread gave back) instead of growing by one filling per round. How long other
//! clients wait meanwhile is measured in bench/, not asserted here.

use tinykv_tests::{retry_until, Server};

fn fill(con: &mut redis::Connection) {
    for batch in 0..200 {
        let mut pipe = redis::pipe();
        let elements: Vec<String> = (0..10_000).map(|i| format!("element:{batch}:{i}")).collect();
        pipe.cmd("RPUSH").arg("big:list").arg(&elements).ignore();
        if batch < 30 {
            pipe.cmd("SADD").arg("big:set").arg(&elements).ignore();
        }
        let _: () = pipe.query(con).unwrap();
    }
}

#[test]
fn deleted_big_collections_are_freed() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.redis();
    let empty = server.rss_kib();
    let mut first_full = 0;
    for (round, way) in ["DEL", "FLUSHALL", "DEL", "FLUSHALL", "DEL"].iter().enumerate() {
        fill(&mut con);
        let full = server.rss_kib();
        if round == 0 {
            first_full = full;
            assert!(full > empty + 20 * 1024, "the collections take memory: {empty} -> {full} KiB");
        }
        // Not one filling more per round: what was deleted was freed and is reused.
        let growth = first_full - empty;
        assert!(
            full < first_full + growth / 2,
            "round {round}: RSS {full} KiB after a fill, the first fill {first_full}"
        );
        if *way == "DEL" {
            let deleted: i64 = redis::cmd("DEL").arg("big:list").arg("big:set").query(&mut con).unwrap();
            assert_eq!(deleted, 2);
        } else {
            let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        }
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(dbsize, 0);
        // Both collections went to the lazy-free thread (INFO memory's `lazyfreed_objects`, Redis's
        // field), which freed them: two more each round.
        retry_until("the lazy-free thread to free both collections", || {
            let info: String = redis::cmd("INFO").arg("memory").query(&mut con).ok()?;
            let freed: usize = info.lines().find_map(|l| l.strip_prefix("lazyfreed_objects:"))?.trim().parse().ok()?;
            (freed == 2 * (round + 1)).then_some(())
        });
        // The estimate drops at once, as Redis's does.
        retry_until("used_memory to drop", || {
            let info: String = redis::cmd("INFO").arg("memory").query(&mut con).ok()?;
            let used: u64 = info.lines().find_map(|l| l.strip_prefix("used_memory:"))?.trim().parse().ok()?;
            (used < 10 << 20).then_some(())
        });
        // Time for the lazy-free thread to give the memory back before the next fill.
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
