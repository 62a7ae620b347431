//! The two clocks every command reads: Unix milliseconds (expiry) and a monotonic microsecond
//! count (command durations for `SLOWLOG` and `INFO commandstats`).
//!
//! Both are one vDSO `clock_gettime` and a little integer arithmetic. `SystemTime` and `Instant`
//! read the same clocks but go through checked `Duration` arithmetic that cost about 90
//! instructions a call on the request path (`bench/results/PROFILE.md`, issue 14).

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
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map_or(0, |now| now.tv_sec() as u64 * 1_000_000 + now.tv_nsec() as u64 / 1000)
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
    fn monotonic_us_moves_forward() {
        let first = monotonic_us();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_us() >= first + 2000);
    }
}
