//! Counters for `INFO commandstats`, `INFO errorstats` and the stats tools read
//! (`total_commands_processed`, `keyspace_hits`, `keyspace_misses`, `total_error_replies`).
//!
//! Per-command counters are an array indexed by the command's number in the table (no name is
//! hashed, no lock taken), and there is one array per thread slot, each on its own cache lines: a
//! request adds to counters only its own worker thread writes, so threads never contend for them.
//! `INFO` sums the slots. Error counts go to a small map under a lock, taken only for error replies.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tinykv_proto::table;

use crate::isolation::thread_slot;

/// Thread slots with counters of their own (threads beyond this share).
const SLOTS: usize = 16;
/// Distinct error codes counted, as Redis's `ERROR_STATS_NUMBER`: past it, new codes are not
/// added (their replies still count in the total), so clients cannot grow the table without bound.
const MAX_ERROR_CODES: usize = 128;
/// An error reply with no space in its first bytes counts as `ERR`, as in Redis.
const ERROR_CODE_SCAN: usize = 32;

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    micros: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

/// One thread slot's counters, on cache lines of its own.
#[repr(align(128))]
struct Slot {
    commands: Box<[Counters]>,
    keyspace_hits: AtomicU64,
    keyspace_misses: AtomicU64,
    error_replies: AtomicU64,
}

/// One command's totals, for `INFO commandstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTotals {
    /// The lower-case full name (`get`, `client|list`).
    pub name: &'static str,
    /// Times it ran.
    pub calls: u64,
    /// Microseconds it ran in all.
    pub micros: u64,
    /// Times it was refused before running (arity, authentication, memory).
    pub rejected: u64,
    /// Times it ran and answered an error.
    pub failed: u64,
}

/// The counters.
pub struct CommandStats {
    slots: Box<[Slot]>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Default for CommandStats {
    fn default() -> Self {
        let commands = table::command_count();
        let slot = || Slot {
            commands: (0..commands).map(|_| Counters::default()).collect(),
            keyspace_hits: AtomicU64::new(0),
            keyspace_misses: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
        };
        CommandStats { slots: (0..SLOTS).map(|_| slot()).collect(), errors: Mutex::default() }
    }
}

impl CommandStats {
    fn slot(&self) -> &Slot {
        &self.slots[thread_slot() % SLOTS]
    }

    /// A command (numbered `number` in the table) ran for `micros`; `failed` if it answered an error.
    pub fn call(&self, number: usize, micros: u64, failed: bool) {
        if let Some(counters) = self.slot().commands.get(number) {
            counters.calls.fetch_add(1, Ordering::Relaxed);
            counters.micros.fetch_add(micros, Ordering::Relaxed);
            if failed {
                counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A command was refused before it ran.
    pub fn rejected(&self, number: usize) {
        if let Some(counters) = self.slot().commands.get(number) {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Key lookups by read commands: `hits` found their key, `misses` did not.
    pub fn keyspace(&self, hits: u64, misses: u64) {
        let slot = self.slot();
        if hits > 0 {
            slot.keyspace_hits.fetch_add(hits, Ordering::Relaxed);
        }
        if misses > 0 {
            slot.keyspace_misses.fetch_add(misses, Ordering::Relaxed);
        }
    }

    /// An error reply was sent: counted under its code (the text up to the first space).
    pub fn error_reply(&self, text: &str) {
        self.slot().error_replies.fetch_add(1, Ordering::Relaxed);
        let head = &text.as_bytes()[..text.len().min(ERROR_CODE_SCAN)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(end) => &text[..end],
            None => "ERR",
        };
        let mut errors = self.errors.lock();
        if let Some(count) = errors.get_mut(code) {
            *count += 1;
        } else if errors.len() < MAX_ERROR_CODES {
            errors.insert(code.to_owned(), 1);
        }
    }

    fn sum(&self, field: impl Fn(&Slot) -> &AtomicU64) -> u64 {
        self.slots.iter().map(|slot| field(slot).load(Ordering::Relaxed)).sum()
    }

    /// Commands run since start (or `CONFIG RESETSTAT`).
    pub fn total_commands(&self) -> u64 {
        self.slots
            .iter()
            .flat_map(|slot| slot.commands.iter())
            .map(|counters| counters.calls.load(Ordering::Relaxed))
            .sum()
    }

    /// `keyspace_hits`.
    pub fn keyspace_hits(&self) -> u64 {
        self.sum(|slot| &slot.keyspace_hits)
    }

    /// `keyspace_misses`.
    pub fn keyspace_misses(&self) -> u64 {
        self.sum(|slot| &slot.keyspace_misses)
    }

    /// `total_error_replies`.
    pub fn error_replies(&self) -> u64 {
        self.sum(|slot| &slot.error_replies)
    }

    /// Every command that ran or was refused, in table order.
    pub fn commands(&self) -> Vec<CommandTotals> {
        (0..table::command_count())
            .map(|number| {
                let total = |field: fn(&Counters) -> &AtomicU64| -> u64 {
                    self.slots.iter().map(|slot| field(&slot.commands[number]).load(Ordering::Relaxed)).sum()
                };
                CommandTotals {
                    name: table::numbered_name(number),
                    calls: total(|c| &c.calls),
                    micros: total(|c| &c.micros),
                    rejected: total(|c| &c.rejected),
                    failed: total(|c| &c.failed),
                }
            })
            .filter(|totals| totals.calls + totals.rejected + totals.failed > 0)
            .collect()
    }

    /// Error replies by code, in code order.
    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors.lock().iter().map(|(code, count)| (code.clone(), *count)).collect()
    }

    /// `CONFIG RESETSTAT`: every counter back to zero.
    pub fn reset(&self) {
        for slot in self.slots.iter() {
            for counters in slot.commands.iter() {
                for field in [&counters.calls, &counters.micros, &counters.rejected, &counters.failed] {
                    field.store(0, Ordering::Relaxed);
                }
            }
            for field in [&slot.keyspace_hits, &slot.keyspace_misses, &slot.error_replies] {
                field.store(0, Ordering::Relaxed);
            }
        }
        self.errors.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_reset() {
        let stats = CommandStats::default();
        let (get, _) = table::lookup_numbered(b"GET").unwrap();
        let (client, _) = table::lookup_numbered(b"CLIENT").unwrap();
        let (list, _) = table::subcommand_numbered(client, b"list").unwrap();
        stats.call(get, 5, false);
        stats.call(get, 7, true);
        stats.rejected(get);
        stats.call(list, 1, false);
        stats.error_reply("ERR syntax error");
        stats.error_reply("WRONGTYPE Operation against a key holding the wrong kind of value");
        stats.error_reply("ERR x");
        stats.error_reply("NOSPACEINTHEFIRSTTHIRTYTWOBYTESATALL");
        let commands = stats.commands();
        assert_eq!(commands[0], CommandTotals { name: "get", calls: 2, micros: 12, rejected: 1, failed: 1 });
        assert_eq!(commands[1].name, "client|list");
        assert_eq!(stats.total_commands(), 3);
        assert_eq!(stats.errors(), vec![("ERR".to_owned(), 3), ("WRONGTYPE".to_owned(), 1)]);
        assert_eq!(stats.error_replies(), 4);
        stats.reset();
        assert!(stats.commands().is_empty() && stats.errors().is_empty());
    }
}
