//! The two clocks every command reads: Unix milliseconds (expiry) and a monotonic microsecond
//! count (command durations for `SLOWLOG` and `INFO commandstats`).
//!
//! Both are one vDSO `clock_gettime` and a little integer arithmetic. `SystemTime` and `Instant`
//! read the same clocks but go through checked `Duration` arithmetic that cost about 90
//! instructions a call on the request path (`bench/results/PROFILE.md`, issue 14).
//!
//! A command reads the clock once: the monotonic reading that starts its timing also gives the Unix
//! time its key lookups judge expiry by ([`CommandTime`], [`command_now_ms`]). As in Redis 7.0, that
//! time is the outermost command's: a script's calls and a transaction's commands all see the keys
//! as of when the `EVAL` or `EXEC` started, so no key expires halfway through one. A read costs about
//! 24 ns on this machine's TSC clock, a few per cent of a pipelined `GET`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::time::{clock_gettime, ClockId};

/// Now, in milliseconds since the Unix epoch (0 if the clock cannot be read).
#[inline]
pub fn now_ms() -> u64 {
    clock_gettime(ClockId::CLOCK_REALTIME)
        .map_or(0, |now| now.tv_sec() as u64 * 1000 + now.tv_nsec() as u64 / 1_000_000)
}

/// Microseconds on a clock that never goes back, from an arbitrary start: for durations.
#[inline]
pub fn monotonic_us() -> u64 {
    micros(ClockId::CLOCK_MONOTONIC)
}

/// `clock` in microseconds (0 if it cannot be read).
#[inline]
fn micros(clock: ClockId) -> u64 {
    clock_gettime(clock).map_or(0, |now| now.tv_sec() as u64 * 1_000_000 + now.tv_nsec() as u64 / 1000)
}

/// Unix microseconds minus monotonic microseconds, as last sampled (0: not yet). Resampled ten
/// times a second by the expiry sweep ([`sample_wall_offset`]), so a step of the system clock
/// reaches the commands' view of time within 100 ms.
static WALL_OFFSET_US: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The Unix milliseconds of the command running on this thread, 0 when none is.
    static COMMAND_MS: Cell<u64> = const { Cell::new(0) };
}

/// Samples the distance between the Unix clock and the monotonic one (see [`WALL_OFFSET_US`]).
pub fn sample_wall_offset() -> u64 {
    let offset = micros(ClockId::CLOCK_REALTIME).saturating_sub(monotonic_us()).max(1);
    WALL_OFFSET_US.store(offset, Ordering::Relaxed);
    offset
}

/// The time a command runs at, for as long as this guard lives: key lookups on this thread judge
/// expiry by it ([`command_now_ms`]) instead of reading the clock again. A command nested in
/// another (a script's calls, a transaction's commands) keeps the outer command's time.
#[must_use = "the command time is cleared when the guard is dropped"]
pub struct CommandTime {
    outer: u64,
}

impl CommandTime {
    /// Starts a command whose timing began at `monotonic_us` ([`monotonic_us`]), unless it runs
    /// inside another, whose time it keeps.
    pub fn enter(monotonic_us: u64) -> CommandTime {
        let outer = COMMAND_MS.get();
        if outer == 0 {
            let offset = match WALL_OFFSET_US.load(Ordering::Relaxed) {
                0 => sample_wall_offset(),
                offset => offset,
            };
            COMMAND_MS.set((monotonic_us + offset) / 1000);
        }
        CommandTime { outer }
    }
}

impl Drop for CommandTime {
    fn drop(&mut self) {
        COMMAND_MS.set(self.outer);
    }
}

/// Unix milliseconds for expiry: the running command's time ([`CommandTime`]), or the clock's
/// when no command runs on this thread (the expiry sweep, loading, eviction in the background).
#[inline]
pub fn command_now_ms() -> u64 {
    match COMMAND_MS.get() {
        0 => now_ms(),
        ms => ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn now_ms_agrees_with_system_time() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let ours = now_ms();
        let after = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        assert!(before <= ours && ours <= after, "{before} <= {ours} <= {after}");
    }

    #[test]
    fn a_command_reads_the_time_it_started_at_and_nested_ones_keep_it() {
        assert!(now_ms().abs_diff(command_now_ms()) <= 1, "no command: the clock");
        let outer = CommandTime::enter(monotonic_us());
        let started = command_now_ms();
        assert!(now_ms().abs_diff(started) <= 2, "{} against {started}", now_ms());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(command_now_ms(), started, "frozen while the command runs");
        {
            let _inner = CommandTime::enter(monotonic_us());
            assert_eq!(command_now_ms(), started, "a nested command keeps the outer one's time");
        }
        assert_eq!(command_now_ms(), started, "still the outer command's time");
        drop(outer);
        assert!(command_now_ms() >= started + 20, "no command: the clock again");
    }

    #[test]
    fn monotonic_us_moves_forward() {
        let first = monotonic_us();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_us() >= first + 2000);
    }
}
