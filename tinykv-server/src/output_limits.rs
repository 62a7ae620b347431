//! `client-output-buffer-limit`: Redis's three client classes (`normal`, `replica`, `pubsub`), each
//! with a hard limit, a soft limit and the seconds the soft one may be exceeded.
//!
//! ```text
//! CONFIG SET client-output-buffer-limit "pubsub 32mb 8mb 60"
//! CONFIG GET client-output-buffer-limit  ->  normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60
//! ```
//!
//! The `pubsub` class is enforced by [`crate::pubsub`] (subscribers and `MONITOR` clients, read live
//! on every delivery), `normal` by the connection while a big reply is written in pieces (counting
//! what is not encoded yet); `replica` is parsed, stored and reported as Redis does. The values are atomics: a publisher
//! reads the limit without a lock, and a torn read between the three fields during a `CONFIG SET` is
//! harmless (the next delivery sees the new values).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::config::OutputLimit;
use crate::settings::memtoull;

/// Redis's client classes, in the order `CONFIG GET` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum ClientClass {
    /// Ordinary clients (Redis's default: no limit).
    Normal,
    /// Replicas (`slave` or `replica` on input, `slave` on output, as Redis 7.0 prints it).
    Replica,
    /// Pub/sub subscribers.
    Pubsub,
}

impl ClientClass {
    /// Redis's `getClientTypeByName`, without `master` (which the limit refuses).
    fn from_name(name: &[u8]) -> Option<ClientClass> {
        match name.to_ascii_lowercase().as_slice() {
            b"normal" => Some(ClientClass::Normal),
            b"slave" | b"replica" => Some(ClientClass::Replica),
            b"pubsub" => Some(ClientClass::Pubsub),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ClientClass::Normal => "normal",
            ClientClass::Replica => "slave",
            ClientClass::Pubsub => "pubsub",
        }
    }
}

const CLASSES: [ClientClass; 3] = [ClientClass::Normal, ClientClass::Replica, ClientClass::Pubsub];

/// One class's limit, readable without a lock.
#[derive(Debug, Default)]
struct LiveLimit {
    hard: AtomicU64,
    soft: AtomicU64,
    /// Redis keeps this as a C `int` read with `strtoll`: stored as that `int`'s value.
    soft_seconds: AtomicU64,
}

impl LiveLimit {
    fn get(&self) -> OutputLimit {
        OutputLimit {
            hard: self.hard.load(Ordering::Relaxed),
            soft: self.soft.load(Ordering::Relaxed),
            soft_seconds: self.soft_seconds.load(Ordering::Relaxed),
        }
    }

    fn set(&self, limit: OutputLimit) {
        self.hard.store(limit.hard, Ordering::Relaxed);
        self.soft.store(limit.soft, Ordering::Relaxed);
        self.soft_seconds.store(limit.soft_seconds, Ordering::Relaxed);
    }
}

/// The three classes' limits as they are now (all zero by default: [`OutputLimits::new`] sets Redis's).
#[derive(Debug, Default)]
pub struct OutputLimits {
    classes: [LiveLimit; 3],
}

/// Redis's default for replicas: `slave 256mb 64mb 60`.
const REPLICA_DEFAULT: OutputLimit = OutputLimit { hard: 256 << 20, soft: 64 << 20, soft_seconds: 60 };

/// The whole value is refused with one of Redis's three reasons.
const WRONG_COUNT: &str = "Wrong number of arguments in buffer limit configuration.";
const BAD_CLASS: &str = "Invalid client class specified in buffer limit configuration.";
const BAD_NUMBER: &str = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";

impl OutputLimits {
    /// Redis's defaults, with `pubsub` and `normal` as `--client-output-buffer-limit-pubsub` and
    /// `-normal` give them.
    pub fn new(pubsub: OutputLimit, normal: OutputLimit) -> OutputLimits {
        let limits = OutputLimits { classes: Default::default() };
        limits.set(ClientClass::Normal, normal);
        limits.set(ClientClass::Replica, REPLICA_DEFAULT);
        limits.set(ClientClass::Pubsub, pubsub);
        limits
    }

    /// A class's limit now (one relaxed load per field).
    pub fn get(&self, class: ClientClass) -> OutputLimit {
        self.classes[class as usize].get()
    }

    fn set(&self, class: ClientClass, limit: OutputLimit) {
        self.classes[class as usize].set(limit);
    }

    /// `CONFIG GET`'s text: every class, `normal 0 0 0 slave 268435456 67108864 60 pubsub ...`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = CLASSES
            .iter()
            .map(|&class| {
                let limit = self.get(class);
                format!("{} {} {} {}", class.name(), limit.hard, limit.soft, limit.soft_seconds)
            })
            .collect();
        parts.join(" ")
    }

    /// Applies a value [`parse`] accepted: the classes it names change, the others keep theirs.
    pub fn apply(&self, changes: &[(ClientClass, OutputLimit)]) {
        for &(class, limit) in changes {
            self.set(class, limit);
        }
    }
}

impl OutputLimit {
    /// Whether a client with `pending` bytes of output not yet sent must be disconnected: past the
    /// hard limit, or past the soft one for `soft_seconds` in a row (`over_soft_since` remembers since
    /// when, across calls). A limit of 0 is off.
    pub fn exceeded(&self, pending: u64, over_soft_since: &mut Option<Instant>) -> bool {
        let over_hard = self.hard > 0 && pending > self.hard;
        let over_soft = self.soft > 0 && pending > self.soft;
        let soft_expired = match (over_soft, *over_soft_since) {
            (false, _) => {
                *over_soft_since = None;
                false
            }
            (true, None) => {
                *over_soft_since = Some(Instant::now());
                self.soft_seconds == 0
            }
            (true, Some(since)) => since.elapsed() >= Duration::from_secs(self.soft_seconds),
        };
        over_hard || soft_expired
    }
}

/// Reads a `CONFIG SET client-output-buffer-limit` value as Redis 7.0 does: split on single spaces
/// (so two spaces make an empty word), groups of four words `<class> <hard> <soft> <soft-seconds>`,
/// every group checked before any is applied. A class named twice keeps the last. The error is Redis's
/// reason text.
pub fn parse(text: &[u8]) -> Result<Vec<(ClientClass, OutputLimit)>, &'static str> {
    // sdssplitlen: an empty value is no words; otherwise every single space separates.
    let words: Vec<&[u8]> = if text.is_empty() { Vec::new() } else { text.split(|&b| b == b' ').collect() };
    if words.len() % 4 != 0 {
        return Err(WRONG_COUNT);
    }
    let mut changes = Vec::with_capacity(words.len() / 4);
    for group in words.chunks_exact(4) {
        let class = ClientClass::from_name(group[0]).ok_or(BAD_CLASS)?;
        let hard = memtoull(group[1]).ok_or(BAD_NUMBER)?;
        let soft = memtoull(group[2]).ok_or(BAD_NUMBER)?;
        let seconds = strtoll_int(group[3]).ok_or(BAD_NUMBER)?;
        if seconds < 0 {
            return Err(BAD_NUMBER);
        }
        changes.push((class, OutputLimit { hard, soft, soft_seconds: seconds as u64 }));
    }
    Ok(changes)
}

/// C's `(int) strtoll(text, &end, 10)` with `*end == '\0'` required: leading whitespace and a sign are
/// allowed, no digits reads as 0, out-of-range saturates at `i64`'s bounds, and the result is cut to 32
/// bits as Redis's `int` keeps it. `None` when anything follows the number.
fn strtoll_int(text: &[u8]) -> Option<i32> {
    let start = text.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
    let rest = match start {
        Some(start) => &text[start..],
        // Empty: strtoll reads 0 and stops at the end. Only whitespace: it stops at the start.
        None => return if text.is_empty() { Some(0) } else { None },
    };
    let (negative, digits) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let end = digits.iter().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    if end == 0 {
        // No digits: strtoll leaves `end` at the start of the text, which is not its end (unless empty).
        return None;
    }
    if end != digits.len() {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        value = match value.checked_mul(10).and_then(|v| if negative { v.checked_sub(d) } else { v.checked_add(d) }) {
            Some(v) => v,
            None => {
                value = if negative { i64::MIN } else { i64::MAX };
                break;
            }
        };
    }
    Some(value as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_print_as_redis_prints_them() {
        let limits =
            OutputLimits::new(OutputLimit { hard: 32 << 20, soft: 8 << 20, soft_seconds: 60 }, OutputLimit::default());
        assert_eq!(limits.describe(), "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
    }

    #[test]
    fn values_change_only_the_classes_named() {
        let limits = OutputLimits::new(OutputLimit::default(), OutputLimit::default());
        limits.apply(&parse(b"pubsub 1mb 512kb 5 replica 1 2 3").unwrap());
        assert_eq!(limits.describe(), "normal 0 0 0 slave 1 2 3 pubsub 1048576 524288 5");
        assert_eq!(limits.get(ClientClass::Pubsub), OutputLimit { hard: 1 << 20, soft: 512 << 10, soft_seconds: 5 });
        assert_eq!(parse(b"").unwrap(), []);
    }

    #[test]
    fn bad_values_get_redis_reasons() {
        assert_eq!(parse(b"pubsub 1 2"), Err(WRONG_COUNT));
        assert_eq!(parse(b"pubsub  1 2 3"), Err(WRONG_COUNT));
        assert_eq!(parse(b"master 1 2 3"), Err(BAD_CLASS));
        assert_eq!(parse(b"pubsub 1 2 -1"), Err(BAD_NUMBER));
        assert_eq!(parse(b"pubsub -1 2 3"), Err(BAD_NUMBER));
        assert_eq!(parse(b"pubsub 1 2 3x"), Err(BAD_NUMBER));
        assert_eq!(parse(b"pubsub 1 2 x"), Err(BAD_NUMBER));
    }

    #[test]
    fn seconds_read_as_strtoll_into_an_int() {
        assert_eq!(strtoll_int(b"60"), Some(60));
        assert_eq!(strtoll_int(b"+7"), Some(7));
        assert_eq!(strtoll_int(b"\t7"), Some(7));
        assert_eq!(strtoll_int(b""), Some(0));
        assert_eq!(strtoll_int(b"4294967296"), Some(0));
        assert_eq!(strtoll_int(b"2147483648"), Some(i32::MIN));
        assert_eq!(strtoll_int(b"99999999999999999999"), Some(-1));
        assert_eq!(strtoll_int(b"-"), None);
        assert_eq!(strtoll_int(b"5 "), None);
        assert_eq!(strtoll_int(b"\t"), None);
    }
}
