//! `--hotkeys`: SCAN the keyspace, ask each key's LFU counter (`OBJECT FREQ`, one pipelined round per
//! batch), keep the 16 highest as redis-cli's little eviction pool does, and print what redis-cli prints:
//!
//! ```text
//! [00.00%] Hot key '"page:1"' found so far with counter 12
//!
//! -------- summary -------
//!
//! Sampled 3 keys in the keyspace!
//! hot key found with counter: 12 (tab) keyname: "page:1"
//! ```
//!
//! The server refuses `OBJECT FREQ` unless its `maxmemory-policy` is an LFU one; its error is printed as
//! `Error: <text>` and the exit code is 1, as redis-cli does. Ctrl-C stops after the current batch and
//! prints the summary so far, its count prefixed with the progress (`[42.00%] Sampled ...`).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tinykv_proto::Reply;

use super::{dbsize, out, quoted, scan_batch, Fail, Options};
use crate::client::Connection;

/// How many keys the pool keeps (redis-cli's `HOTKEYS_SAMPLE`).
const POOL: usize = 16;

/// The hottest keys so far, coldest first, as redis-cli keeps them.
#[derive(Debug, Default)]
struct Pool {
    counters: [u64; POOL],
    keys: [Option<String>; POOL],
}

impl Pool {
    /// Offers a key with counter `freq`; returns the slot it took (its quoted name is `keys[slot]`), or
    /// `None` if it is colder than every key kept. redis-cli's insertion exactly: a key hotter than slot
    /// `k-1` only lands at `k-1`, pushing the colder ones down (the coldest falls out) unless that slot is
    /// the first or still empty.
    fn offer(&mut self, freq: u64, key: &[u8]) -> Option<usize> {
        let mut k = 0;
        while k < POOL && freq > self.counters[k] {
            k += 1;
        }
        if k == 0 {
            return None;
        }
        k -= 1;
        if k != 0 && self.counters[k] != 0 {
            self.counters.copy_within(1..=k, 0);
            self.keys[..=k].rotate_left(1);
        }
        self.counters[k] = freq;
        self.keys[k] = Some(quoted(key));
        Some(k)
    }

    /// The summary lines, hottest first.
    fn summary(&self) -> String {
        let mut text = String::new();
        for k in (0..POOL).rev() {
            if let (counter @ 1.., Some(key)) = (self.counters[k], &self.keys[k]) {
                text.push_str(&format!("hot key found with counter: {counter}\tkeyname: {key}\n"));
            }
        }
        text
    }
}

pub async fn run(mut conn: Connection, options: &Options) -> Result<ExitCode, Fail> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    let total_keys = dbsize(&mut conn).await?;
    out("\n# Scanning the entire keyspace to find hot keys as well as\n\
         # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
         # per 100 SCAN commands (not usually needed).\n\n")?;

    let mut pool = Pool::default();
    let (mut sampled, mut loops) = (0u64, 0u64);
    let mut pct;
    let mut cursor = b"0".to_vec();
    loop {
        pct = 100.0 * sampled as f64 / total_keys as f64;
        let (next, keys) = scan_batch(&mut conn, &cursor, options, false).await?;
        loops += 1;
        let freqs = key_freqs(&mut conn, &keys).await?;
        for (key, freq) in keys.iter().zip(freqs) {
            sampled += 1;
            if sampled % 1_000_000 == 0 {
                out(format!("[{pct:05.2}%] Sampled {sampled} keys so far\n"))?;
            }
            if let Some(slot) = pool.offer(freq, key) {
                let name = pool.keys[slot].as_deref().unwrap_or_default();
                out(format!("[{pct:05.2}%] Hot key '{name}' found so far with counter {freq}\n"))?;
            }
        }
        if let (Some(interval), 0) = (options.interval, loops % 100) {
            tokio::time::sleep(interval).await;
        }
        if next == b"0" || stop.load(Ordering::Relaxed) {
            break;
        }
        cursor = next;
    }
    ctrl_c.abort();

    let mut text = String::from("\n-------- summary -------\n\n");
    if stop.load(Ordering::Relaxed) {
        text.push_str(&format!("[{pct:05.2}%] "));
    }
    text.push_str(&format!("Sampled {sampled} keys in the keyspace!\n"));
    text.push_str(&pool.summary());
    out(text)?;
    Ok(ExitCode::SUCCESS)
}

/// `OBJECT FREQ` of every key in one round trip. An error reply (no LFU policy) ends the tool with
/// redis-cli's `Error: <text>`; any other non-integer (the key went away) warns and counts 0.
async fn key_freqs(conn: &mut Connection, keys: &[Vec<u8>]) -> Result<Vec<u64>, Fail> {
    let commands: Vec<Vec<Vec<u8>>> =
        keys.iter().map(|key| vec![b"OBJECT".to_vec(), b"FREQ".to_vec(), key.clone()]).collect();
    let mut freqs = Vec::with_capacity(keys.len());
    for (key, reply) in keys.iter().zip(conn.execute_all(&commands).await?) {
        match reply {
            Reply::Integer(freq) => freqs.push(freq.max(0) as u64),
            Reply::Error(text) => return Err(Fail(format!("Error: {text}"))),
            _ => {
                eprintln!("Warning: OBJECT freq on '{}' failed (may have been deleted)", quoted(key));
                freqs.push(0);
            }
        }
    }
    Ok(freqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_the_hottest_as_redis_cli_does() {
        let mut pool = Pool::default();
        assert_eq!(pool.offer(0, b"cold"), None);
        // The first key lands in the last slot that it beats: the top one, with every slot empty.
        assert_eq!(pool.offer(5, b"a"), Some(POOL - 1));
        assert_eq!(pool.offer(7, b"b"), Some(POOL - 1));
        // `a` (5) was pushed down a slot: the top slot was taken.
        assert_eq!(pool.counters[POOL - 2..], [5, 7]);
        assert_eq!(pool.offer(6, b"c"), Some(POOL - 2));
        assert_eq!(
            pool.summary(),
            "hot key found with counter: 7\tkeyname: \"b\"\nhot key found with counter: 6\tkeyname: \"c\"\n\
             hot key found with counter: 5\tkeyname: \"a\"\n"
        );
    }

    #[test]
    fn a_full_pool_drops_its_coldest() {
        let mut pool = Pool::default();
        for freq in (1..=POOL as u64).rev() {
            pool.offer(freq, format!("k{freq}").as_bytes());
        }
        assert_eq!(pool.counters, std::array::from_fn(|i| i as u64 + 1));
        assert_eq!(pool.offer(100, b"hot"), Some(POOL - 1));
        assert_eq!(pool.counters[0], 2);
        assert_eq!(pool.keys[POOL - 1].as_deref(), Some("\"hot\""));
    }
}
