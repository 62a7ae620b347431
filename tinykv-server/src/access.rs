//! Per-key access data, kept as Redis keeps it, and the eviction settings that can change at run time.
//!
//! Every key carries 24 bits that say how recently or how often it was used (the first three bytes of
//! its allocation: see [`crate::entry`]). Which of two meanings they have depends on the policy, as in
//! Redis:
//!
//! ```text
//! LRU policies, noeviction, random, ttl:  [ 24-bit clock: Unix seconds mod 2^24 ]  (wraps in 194 days)
//! LFU policies:                           [ 16-bit minutes of last decrement | 8-bit log counter ]
//! ```
//!
//! A lookup stores the current clock (LRU) or bumps the counter (LFU): the counter grows with
//! probability `1 / ((counter - 5) * lfu-log-factor + 1)`, so it counts about a million accesses in 8
//! bits, and loses one for every `lfu-decay-time` minutes the key was not touched. A new key starts
//! at 5, so it is not the first to go before it had a chance to be read. After a policy change at
//! run time the old meaning lingers until keys are touched again, exactly as in Redis.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use crate::config::{Config, MaxmemoryPolicy};

/// The largest LRU clock value: the clock is 24 bits and wraps.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Milliseconds per tick of the LRU clock (Redis's `LRU_CLOCK_RESOLUTION`).
pub const LRU_CLOCK_RESOLUTION_MS: u64 = 1000;
/// The LFU counter of a new key (Redis's `LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u8 = 5;
/// Milliseconds per tick of the LFU decrement time.
const MINUTE_MS: u64 = 60_000;
/// The LFU decrement time is 16 bits of minutes.
const LFU_TIME_MAX: u32 = u16::MAX as u32;

/// The eviction settings every lookup and every eviction reads: atomics, so `CONFIG SET` can change
/// them while clients run, and a read costs a plain load.
#[derive(Debug)]
pub struct Tracking {
    policy: AtomicU8,
    samples: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
}

impl Default for Tracking {
    /// Redis's defaults: `noeviction`, 5 samples, log factor 10, decay time 1 minute.
    fn default() -> Self {
        Tracking {
            policy: AtomicU8::new(MaxmemoryPolicy::Noeviction as u8),
            samples: AtomicU32::new(5),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
        }
    }
}

impl Tracking {
    /// The settings the server was started with.
    pub fn new(config: &Config) -> Tracking {
        Tracking {
            policy: AtomicU8::new(config.maxmemory_policy as u8),
            samples: AtomicU32::new(config.maxmemory_samples.max(1)),
            lfu_log_factor: AtomicU32::new(config.lfu_log_factor),
            lfu_decay_time: AtomicU32::new(config.lfu_decay_time),
        }
    }

    /// The eviction policy now.
    pub fn policy(&self) -> MaxmemoryPolicy {
        let stored = self.policy.load(Ordering::Relaxed) as usize;
        MaxmemoryPolicy::ALL.get(stored).copied().unwrap_or(MaxmemoryPolicy::Noeviction)
    }

    /// Changes the policy (`CONFIG SET maxmemory-policy`).
    pub fn set_policy(&self, policy: MaxmemoryPolicy) {
        self.policy.store(policy as u8, Ordering::Relaxed);
    }

    /// Keys sampled per database for one eviction (`maxmemory-samples`).
    pub fn samples(&self) -> usize {
        self.samples.load(Ordering::Relaxed).max(1) as usize
    }

    /// Changes `maxmemory-samples` (the caller checks Redis's range, 1 to 64).
    pub fn set_samples(&self, samples: u32) {
        self.samples.store(samples.max(1), Ordering::Relaxed);
    }

    /// `lfu-log-factor`.
    pub fn lfu_log_factor(&self) -> u32 {
        self.lfu_log_factor.load(Ordering::Relaxed)
    }

    /// Changes `lfu-log-factor`.
    pub fn set_lfu_log_factor(&self, factor: u32) {
        self.lfu_log_factor.store(factor, Ordering::Relaxed);
    }

    /// `lfu-decay-time`, in minutes.
    pub fn lfu_decay_time(&self) -> u32 {
        self.lfu_decay_time.load(Ordering::Relaxed)
    }

    /// Changes `lfu-decay-time`.
    pub fn set_lfu_decay_time(&self, minutes: u32) {
        self.lfu_decay_time.store(minutes, Ordering::Relaxed);
    }

    /// Whether keys count accesses (LFU) rather than remember the last one (LRU).
    pub fn is_lfu(&self) -> bool {
        self.policy().is_lfu()
    }

    /// The access data of a key created at `now_ms`.
    pub fn initial(&self, now_ms: u64) -> u32 {
        if self.is_lfu() {
            (lfu_minutes(now_ms) << 8) | u32::from(LFU_INIT_VAL)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The access data of a key read or written at `now_ms` whose data was `access`.
    pub fn touched(&self, access: u32, now_ms: u64) -> u32 {
        if self.is_lfu() {
            let counter = self.frequency(access, now_ms);
            let counter = lfu_log_incr(counter, self.lfu_log_factor(), random_unit());
            (lfu_minutes(now_ms) << 8) | u32::from(counter)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The LFU counter of `access` at `now_ms`, less one per `lfu-decay-time` minutes since its last
    /// decrement time (Redis's `LFUDecrAndReturn`: the stored data is not changed).
    pub fn frequency(&self, access: u32, now_ms: u64) -> u8 {
        let counter = (access & 0xff) as u8;
        let decay = self.lfu_decay_time();
        if decay == 0 {
            return counter;
        }
        let periods = lfu_elapsed(access >> 8, lfu_minutes(now_ms)) / decay;
        counter.saturating_sub(u8::try_from(periods).unwrap_or(u8::MAX))
    }

    /// The access data of a key loaded or restored with an idle time (`IDLETIME`, RDB's `IDLE`: under
    /// an LRU policy) or a frequency (`FREQ`, RDB's `FREQ`: under an LFU policy), as Redis's
    /// `objectSetLRUOrLFU`; `None` when the policy keeps neither (the key keeps its default).
    pub fn restored(&self, idle_seconds: Option<u64>, freq: Option<u8>, now_ms: u64) -> Option<u32> {
        if self.is_lfu() {
            freq.map(|freq| (lfu_minutes(now_ms) << 8) | u32::from(freq))
        } else if self.policy().is_lru() {
            idle_seconds.map(|idle| lru_clock(now_ms.saturating_sub(idle.saturating_mul(1000))))
        } else {
            None
        }
    }

    /// How good a candidate for eviction a key with `access` is under an LRU or LFU policy: higher
    /// goes first. Milliseconds idle (LRU), or 255 less the frequency (LFU).
    pub fn score(&self, access: u32, now_ms: u64) -> u64 {
        if self.is_lfu() {
            255 - u64::from(self.frequency(access, now_ms))
        } else {
            idle_ms(access, now_ms)
        }
    }
}

/// The LRU clock at `now_ms`: seconds, in 24 bits.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / LRU_CLOCK_RESOLUTION_MS) & u64::from(LRU_CLOCK_MAX)) as u32
}

/// Milliseconds since the LRU clock `access` (at the clock's resolution), the wrap counted once,
/// as Redis's `estimateObjectIdleTime`.
pub fn idle_ms(access: u32, now_ms: u64) -> u64 {
    let now = u64::from(lru_clock(now_ms));
    let then = u64::from(access & LRU_CLOCK_MAX);
    let ticks = if now >= then { now - then } else { now + (u64::from(LRU_CLOCK_MAX) - then) };
    ticks * LRU_CLOCK_RESOLUTION_MS
}

/// Minutes at `now_ms`, in 16 bits: the LFU decrement time.
fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / MINUTE_MS) & u64::from(LFU_TIME_MAX)) as u32
}

/// Minutes from `then` to `now`, both 16-bit, the wrap counted once (Redis's `LFUTimeElapsed`).
fn lfu_elapsed(then: u32, now: u32) -> u32 {
    if now >= then {
        now - then
    } else {
        LFU_TIME_MAX - then + now
    }
}

/// Redis's `LFULogIncr`: one more with probability `1 / ((counter - 5) * factor + 1)`, saturating at
/// 255; `random` is uniform in `[0, 1)`.
pub fn lfu_log_incr(counter: u8, factor: u32, random: f64) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(factor) + 1.0);
    if random < p {
        counter + 1
    } else {
        counter
    }
}

thread_local! {
    /// xorshift64 state for the LFU increments: per thread, so a read never shares a cache line.
    static RANDOM: Cell<u64> = Cell::new(seed());
    /// Set while a `CLIENT NO-TOUCH` client's command runs (see [`untouched`]).
    static UNTOUCHED: Cell<bool> = const { Cell::new(false) };
}

/// A per-thread seed: the thread's stack address mixed with the time, never zero.
fn seed() -> u64 {
    let local = 0u8;
    let address = &local as *const u8 as u64;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    (address ^ nanos.rotate_left(17)) | 1
}

/// A uniform number in `[0, 1)`.
fn random_unit() -> f64 {
    RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        // 53 random bits: exactly representable, below 1.
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Runs `f` with key lookups on this thread leaving access data as it is: the hook for
/// `CLIENT NO-TOUCH`, whose commands (but `TOUCH`) must not change what eviction sees. Commands never
/// await, so the flag cannot leak to another client's command on the same thread.
pub fn untouched<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the flag even if `f` panics (a panic is contained to one client).
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            UNTOUCHED.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(UNTOUCHED.with(|flag| flag.replace(true)));
    f()
}

/// Whether lookups on this thread update access data now (false inside [`untouched`]).
pub fn touching() -> bool {
    !UNTOUCHED.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracking(policy: MaxmemoryPolicy) -> Tracking {
        let tracking = Tracking::default();
        tracking.set_policy(policy);
        tracking
    }

    #[test]
    fn lru_clock_counts_seconds_and_idle_time_survives_the_wrap() {
        let now = 1_700_000_000_123;
        assert_eq!(idle_ms(lru_clock(now), now), 0);
        assert_eq!(idle_ms(lru_clock(now - 5_000), now), 5_000);
        // The clock wraps every 2^24 seconds; an access just before the wrap is still recent.
        let wrap_ms = u64::from(LRU_CLOCK_MAX + 1) * 1000;
        let before_wrap = (now / wrap_ms + 1) * wrap_ms - 2_000;
        assert_eq!(lru_clock(before_wrap), LRU_CLOCK_MAX - 1);
        // Redis counts the wrap as LRU_CLOCK_MAX ticks, not LRU_CLOCK_MAX + 1: one second short.
        assert_eq!(idle_ms(lru_clock(before_wrap), before_wrap + 10_000), 9_000);
    }

    #[test]
    fn lfu_counter_grows_logarithmically() {
        // At or below the initial value every access counts.
        assert_eq!(lfu_log_incr(0, 10, 0.999), 1);
        assert_eq!(lfu_log_incr(LFU_INIT_VAL, 10, 0.999), LFU_INIT_VAL + 1);
        // Above it, with probability 1/((n-5)*factor+1).
        assert_eq!(lfu_log_incr(6, 10, 1.0 / 11.0 - 1e-9), 7);
        assert_eq!(lfu_log_incr(6, 10, 1.0 / 11.0), 6);
        assert_eq!(lfu_log_incr(255, 0, 0.0), 255);
        // A factor of 0 counts every access.
        assert_eq!(lfu_log_incr(100, 0, 0.999), 101);
        // Statistically: 10,000 accesses with the default factor reach about 2 + sqrt(2*10000/10)+5.
        let mut counter = LFU_INIT_VAL;
        for i in 0..10_000u32 {
            let random = f64::from(i.wrapping_mul(2_654_435_761) >> 8) / f64::from(1u32 << 24);
            counter = lfu_log_incr(counter, 10, random);
        }
        assert!((40..=60).contains(&counter), "{counter}");
    }

    #[test]
    fn lfu_counter_decays_per_period_of_idleness() {
        let t = tracking(MaxmemoryPolicy::AllkeysLfu);
        let now = 1_700_000_000_000;
        let access = (lfu_minutes(now) << 8) | 20;
        assert_eq!(t.frequency(access, now), 20);
        assert_eq!(t.frequency(access, now + 3 * MINUTE_MS), 17);
        assert_eq!(t.frequency(access, now + 300 * MINUTE_MS), 0);
        t.set_lfu_decay_time(2);
        assert_eq!(t.frequency(access, now + 3 * MINUTE_MS), 19);
        t.set_lfu_decay_time(0);
        assert_eq!(t.frequency(access, now + 300 * MINUTE_MS), 20);
        // The 16-bit minutes wrap once.
        assert_eq!(lfu_elapsed(LFU_TIME_MAX - 1, 3), 4);
    }

    #[test]
    fn new_keys_and_touches_follow_the_policy() {
        let now = 1_700_000_000_000;
        let lfu = tracking(MaxmemoryPolicy::VolatileLfu);
        let fresh = lfu.initial(now);
        assert_eq!(lfu.frequency(fresh, now), LFU_INIT_VAL);
        // The first access of a new key always counts, as in Redis (OBJECT FREQ 5, then 6).
        assert_eq!(lfu.frequency(lfu.touched(fresh, now), now), LFU_INIT_VAL + 1);
        assert_eq!(lfu.score(fresh, now), 250);
        let lru = tracking(MaxmemoryPolicy::AllkeysLru);
        let old = lru.initial(now - 7_000);
        assert_eq!(lru.score(old, now), 7_000);
        assert_eq!(lru.score(lru.touched(old, now), now), 0);
    }

    #[test]
    fn untouched_is_scoped_and_survives_a_panic() {
        assert!(touching());
        untouched(|| assert!(!touching()));
        assert!(touching());
        let caught = std::panic::catch_unwind(|| untouched(|| panic!("contained")));
        assert!(caught.is_err());
        assert!(touching());
    }

    #[test]
    fn random_unit_is_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
