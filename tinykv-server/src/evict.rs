//! Making room under `--maxmemory`: Redis's sampled approximation of LRU, LFU and TTL order.
//!
//! Before a command runs while the memory estimate is over the limit, keys are evicted until it is
//! under again (`performEvictions` in Redis):
//!
//! ```text
//! lru / lfu / ttl policies:
//!   for every database: sample `maxmemory-samples` keys (keys with a TTL only, for volatile-*)
//!     and offer each to the pool: 16 candidates kept in order of score (idle ms, 255 - LFU
//!     frequency, or time to expiry reversed), the worst dropped when a better one comes
//!   take the best candidate; if it no longer exists (a "ghost"), the next best; evict it
//! random policies:
//!   the next database in turn with a key to offer: one key at random; evict it
//! nothing found in any database (every shard of each looked at): -OOM for commands that grow memory
//! ```
//!
//! The pool persists between evictions, so candidates accumulate and the approximation improves
//! with every eviction, exactly as in Redis. One evictor runs at a time (a mutex): a client that
//! finds memory over the limit while another is evicting waits for it and usually finds room.

use parking_lot::Mutex;

use crate::config::MaxmemoryPolicy;
use crate::db::{now_ms, Counters, Db};
use crate::entry::Entry;

/// Candidates the pool keeps (Redis's `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// A key offered for eviction, with how good a candidate it was when sampled.
#[derive(Debug)]
struct Candidate {
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// The best candidates for eviction seen so far, in ascending order of score (best last).
#[derive(Debug, Default)]
pub struct Pool {
    candidates: Vec<Candidate>,
}

impl Pool {
    /// Offers `key` of database `db`: kept when the pool has room or the key beats the worst
    /// candidate (which then leaves). The key is copied only when it is kept.
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        let at = self.candidates.partition_point(|candidate| candidate.score < score);
        let candidate = Candidate { score, db, key: Box::from(key) };
        if self.candidates.len() < POOL_SIZE {
            self.candidates.insert(at, candidate);
        } else if at > 0 {
            self.candidates.remove(0);
            self.candidates.insert(at - 1, candidate);
        }
    }

    /// Takes the best candidate out: its database and key.
    pub fn take_best(&mut self) -> Option<(usize, Box<[u8]>)> {
        self.candidates.pop().map(|candidate| (candidate.db, candidate.key))
    }

    /// How many candidates the pool holds.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }

    /// Whether the pool holds no candidate.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }
}

/// What the evictor keeps between evictions.
struct State {
    pool: Pool,
    /// xorshift64 state for sampling.
    random: u64,
    /// Where the random policies look next, so every database gives up keys in turn.
    next_db: usize,
}

/// The one evictor of a server.
pub struct Evictor {
    state: Mutex<State>,
}

impl Default for Evictor {
    fn default() -> Self {
        let seed = now_ms().wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        Evictor { state: Mutex::new(State { pool: Pool::default(), random: seed, next_db: 0 }) }
    }
}

impl Evictor {
    /// Evicts keys from `dbs` until the memory estimate is at most `maxmemory`, calling `evicted`
    /// with the database and key of each one removed (for the append-only file). Returns false when
    /// memory is still over the limit and the policy allows nothing more to go (`noeviction`, or no
    /// key a volatile policy may take): the caller refuses commands that grow memory with `-OOM`.
    pub fn make_room(
        &self,
        dbs: &[Db],
        counters: &Counters,
        maxmemory: u64,
        mut evicted: impl FnMut(usize, &[u8]),
    ) -> bool {
        let over = || counters.used_memory() as u64 > maxmemory;
        if !over() {
            return true;
        }
        let policy = counters.tracking.policy();
        if policy == MaxmemoryPolicy::Noeviction {
            return false;
        }
        let mut state = self.state.lock();
        while over() {
            match state.evict_one(dbs, counters, policy) {
                Some((db, key)) => evicted(db, &key),
                None => return false,
            }
        }
        true
    }
}

impl State {
    /// Evicts one key as `policy` chooses; `None` when no database has a key it may take.
    fn evict_one(&mut self, dbs: &[Db], counters: &Counters, policy: MaxmemoryPolicy) -> Option<(usize, Box<[u8]>)> {
        let volatile = policy.is_volatile();
        if matches!(policy, MaxmemoryPolicy::AllkeysRandom | MaxmemoryPolicy::VolatileRandom) {
            return self.evict_random(dbs, volatile);
        }
        let samples = counters.tracking.samples();
        loop {
            let now = now_ms();
            let State { pool, random, .. } = self;
            let mut offer = |db: usize, entry: &Entry| {
                let score = match policy {
                    MaxmemoryPolicy::VolatileTtl => u64::MAX - entry.expires_at().unwrap_or(u64::MAX),
                    _ => counters.tracking.score(entry.access(), now),
                };
                pool.offer(score, db, entry.key());
            };
            let mut found = 0;
            for (index, db) in dbs.iter().enumerate() {
                found += db.sample(&mut || xorshift(random), volatile, samples, 1, |entry| offer(index, entry));
            }
            if found == 0 {
                // The shards looked at were empty: look at all of them before saying there is nothing.
                for (index, db) in dbs.iter().enumerate() {
                    found +=
                        db.sample(&mut || xorshift(random), volatile, samples, usize::MAX, |entry| offer(index, entry));
                }
                if found == 0 {
                    return None;
                }
            }
            while let Some((db, key)) = self.pool.take_best() {
                if dbs.get(db).is_some_and(|d| d.evict(&key, volatile)) {
                    return Some((db, key));
                }
                // A ghost: deleted (or made persistent) since it was sampled. Try the next best.
            }
        }
    }

    /// One key at random from the next database in turn that has one.
    fn evict_random(&mut self, dbs: &[Db], volatile: bool) -> Option<(usize, Box<[u8]>)> {
        for thorough in [false, true] {
            let shards_to_try = if thorough { usize::MAX } else { 1 };
            for _ in 0..dbs.len() {
                self.next_db = (self.next_db + 1) % dbs.len();
                let db = &dbs[self.next_db];
                let mut picked: Option<Box<[u8]>> = None;
                let random = &mut self.random;
                db.sample(&mut || xorshift(random), volatile, 1, shards_to_try, |entry| {
                    picked = Some(Box::from(entry.key()));
                });
                if let Some(key) = picked {
                    if db.evict(&key, volatile) {
                        return Some((self.next_db, key));
                    }
                }
            }
        }
        None
    }
}

/// xorshift64: the sampling needs speed and spread, not secrecy.
fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn pool_keeps_the_best_candidates_in_order() {
        let mut pool = Pool::default();
        for score in [5u64, 1, 9, 3] {
            pool.offer(score, 0, format!("k{score}").as_bytes());
        }
        assert_eq!(pool.len(), 4);
        assert_eq!(pool.take_best(), Some((0, Box::from(&b"k9"[..]))));
        // Fill it up: the worst go as better ones come; a worse one than all is not even copied in.
        for score in 10..30u64 {
            pool.offer(score, 1, format!("k{score}").as_bytes());
        }
        assert_eq!(pool.len(), POOL_SIZE);
        pool.offer(0, 2, b"worst");
        assert!(pool.candidates.iter().all(|c| c.db != 2));
        let scores: Vec<u64> = pool.candidates.iter().map(|c| c.score).collect();
        assert_eq!(scores, (14..30).collect::<Vec<_>>());
        pool.offer(20, 3, b"middle");
        assert_eq!(pool.candidates[0].score, 15);
        assert!(pool.candidates.windows(2).all(|w| w[0].score <= w[1].score));
        let mut taken = 0;
        while pool.take_best().is_some() {
            taken += 1;
        }
        assert_eq!((taken, pool.is_empty()), (POOL_SIZE, true));
    }

    fn dbs(count: usize, policy: MaxmemoryPolicy) -> (Vec<Db>, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        counters.tracking.set_policy(policy);
        let dbs = (0..count).map(|_| Db::with_counters(8, Arc::clone(&counters))).collect();
        (dbs, counters)
    }

    fn put(db: &Db, key: &str, expires_at: Option<u64>) {
        db.with_key(key.as_bytes(), |slot| slot.put(&[b'v'; 100], expires_at));
    }

    #[test]
    fn evicts_until_under_the_limit_from_every_database() {
        let (dbs, counters) = dbs(4, MaxmemoryPolicy::AllkeysRandom);
        for (i, db) in dbs.iter().enumerate() {
            for k in 0..100 {
                put(db, &format!("{i}:{k}"), None);
            }
        }
        let limit = counters.used_memory() as u64 / 2;
        let mut evicted = Vec::new();
        assert!(Evictor::default().make_room(&dbs, &counters, limit, |db, key| evicted.push((db, key.to_vec()))));
        assert!(counters.used_memory() as u64 <= limit);
        assert_eq!(counters.evicted_keys(), evicted.len() as u64);
        // Every database gave up keys, and each evicted key is gone.
        for (index, db) in dbs.iter().enumerate() {
            assert!(evicted.iter().any(|(d, _)| *d == index));
            assert!(db.len() < 100);
        }
        assert!(evicted.iter().all(|(db, key)| dbs[*db].get(key).is_none()));
    }

    #[test]
    fn volatile_policies_take_only_keys_with_a_ttl_and_then_give_up() {
        for policy in [
            MaxmemoryPolicy::VolatileLru,
            MaxmemoryPolicy::VolatileLfu,
            MaxmemoryPolicy::VolatileRandom,
            MaxmemoryPolicy::VolatileTtl,
        ] {
            let (dbs, counters) = dbs(2, policy);
            let later = now_ms() + 3_600_000;
            for k in 0..50 {
                put(&dbs[0], &format!("persistent:{k}"), None);
                put(&dbs[1], &format!("volatile:{k}"), Some(later + k));
            }
            let mut evicted = Vec::new();
            assert!(!Evictor::default().make_room(&dbs, &counters, 1, |db, key| evicted.push((db, key.to_vec()))));
            assert_eq!((evicted.len(), dbs[0].len(), dbs[1].len()), (50, 50, 0), "{policy:?}");
            assert!(evicted.iter().all(|(db, _)| *db == 1));
        }
    }

    #[test]
    fn noeviction_evicts_nothing() {
        let (dbs, counters) = dbs(1, MaxmemoryPolicy::Noeviction);
        put(&dbs[0], "k", None);
        assert!(!Evictor::default().make_room(&dbs, &counters, 1, |_, _| panic!("nothing may go")));
        assert!(Evictor::default().make_room(&dbs, &counters, u64::MAX, |_, _| panic!("nothing needs to go")));
        assert_eq!(dbs[0].len(), 1);
    }

    #[test]
    fn volatile_ttl_evicts_the_soonest_to_expire_first() {
        let (dbs, counters) = dbs(1, MaxmemoryPolicy::VolatileTtl);
        let base = now_ms() + 3_600_000;
        for k in 0..200u64 {
            put(&dbs[0], &format!("k{k}"), Some(base + k * 1000));
        }
        // Room for about half: the survivors should be mostly the late ones.
        let limit = counters.used_memory() as u64 / 2;
        assert!(Evictor::default().make_room(&dbs, &counters, limit, |_, _| {}));
        let late = (100..200).filter(|k| dbs[0].get(format!("k{k}").as_bytes()).is_some()).count();
        let early = (0..100).filter(|k| dbs[0].get(format!("k{k}").as_bytes()).is_some()).count();
        assert!(late > 2 * early, "late {late}, early {early}");
    }

    #[test]
    fn lfu_keeps_frequently_read_keys() {
        let (dbs, counters) = dbs(1, MaxmemoryPolicy::AllkeysLfu);
        counters.tracking.set_lfu_log_factor(0); // every access counts: deterministic counters
        for k in 0..200 {
            put(&dbs[0], &format!("k{k}"), None);
        }
        for _ in 0..20 {
            for k in 0..50 {
                dbs[0].get(format!("k{k}").as_bytes());
            }
        }
        let limit = counters.used_memory() as u64 / 2;
        assert!(Evictor::default().make_room(&dbs, &counters, limit, |_, _| {}));
        let hot = (0..50).filter(|k| dbs[0].get(format!("k{k}").as_bytes()).is_some()).count();
        assert!(hot >= 45, "only {hot} of 50 hot keys survived");
    }
}
