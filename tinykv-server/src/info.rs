//! `INFO [section ...]`: the server's facts and counters in Redis's text format, so that humans,
//! redis-cli and monitoring tools that read Redis's `INFO` read TinyKV's too.
//!
//! ```text
//! # Server\r\n
//! redis_version:7.2.0\r\n
//! ...
//! \r\n
//! # Keyspace\r\n
//! db0:keys=3,expires=1,avg_ttl=0\r\n
//! ```
//!
//! A bulk string in RESP2, a verbatim string in RESP3, as Redis sends it.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tinykv_proto::Reply;

use crate::aof::Aof;
use crate::execute::REDIS_COMPAT_VERSION;
use crate::shared::Shared;

/// The sections in the order Redis prints them; `INFO` with no argument, `default`, `all` and
/// `everything` print them all.
const SECTIONS: &[&str] = &["server", "clients", "memory", "persistence", "stats", "keyspace"];
/// Seconds in a day, for `uptime_in_days`.
const SECONDS_PER_DAY: u64 = 24 * 60 * 60;
/// The window `instantaneous_ops_per_sec` averages over, like Redis's 16 samples 100 ms apart.
const OPS_WINDOW: Duration = Duration::from_millis(1600);
/// Samples closer together than this are not kept, so a burst of `INFO` calls keeps a useful window.
const OPS_MIN_SAMPLE_GAP: Duration = Duration::from_millis(100);

/// `INFO`'s reply for the requested sections (lower-cased); unknown sections are left out.
pub fn info(shared: &Shared, requested: &[String]) -> Reply {
    let all = requested.is_empty() || requested.iter().any(|s| matches!(s.as_str(), "all" | "default" | "everything"));
    let mut text = String::new();
    for section in SECTIONS.iter().filter(|section| all || requested.iter().any(|s| s == *section)) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let mut title = section.to_string();
        title[..1].make_ascii_uppercase();
        let _ = write!(text, "# {title}\r\n");
        for (key, value) in section_fields(shared, section) {
            let _ = write!(text, "{key}:{value}\r\n");
        }
        if *section == "keyspace" {
            // One line per database that holds keys, as Redis prints them.
            for (index, db) in shared.dbs.iter().enumerate().filter(|(_, db)| !db.is_empty()) {
                let _ = write!(text, "db{index}:keys={},expires={},avg_ttl=0\r\n", db.len(), db.volatile_len());
            }
        }
    }
    Reply::Verbatim(Bytes::from(text))
}

/// The `key:value` lines of one section.
fn section_fields(shared: &Shared, section: &str) -> Vec<(&'static str, String)> {
    let stats = &shared.stats;
    let config = &shared.config;
    match section {
        "server" => {
            let uptime = shared.started.elapsed().as_secs();
            let now_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
            vec![
                ("redis_version", REDIS_COMPAT_VERSION.to_owned()),
                ("tinykv_version", env!("CARGO_PKG_VERSION").to_owned()),
                ("redis_mode", "standalone".to_owned()),
                ("os", format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)),
                ("arch_bits", (usize::BITS).to_string()),
                ("process_id", std::process::id().to_string()),
                ("tcp_port", shared.port.to_string()),
                ("server_time_usec", now_us.to_string()),
                ("uptime_in_seconds", uptime.to_string()),
                ("uptime_in_days", (uptime / SECONDS_PER_DAY).to_string()),
            ]
        }
        "clients" => vec![
            ("connected_clients", stats.connected_clients.load(Ordering::Relaxed).to_string()),
            ("maxclients", config.max_clients.to_string()),
            ("blocked_clients", "0".to_owned()),
        ],
        "memory" => {
            let used = shared.used_memory() as u64;
            let rss = resident_set_bytes();
            vec![
                ("used_memory", used.to_string()),
                ("used_memory_human", bytes_to_human(used)),
                ("used_memory_rss", rss.to_string()),
                ("used_memory_rss_human", bytes_to_human(rss)),
                ("maxmemory", config.maxmemory.to_string()),
                ("maxmemory_human", bytes_to_human(config.maxmemory)),
                ("maxmemory_policy", shared.counters.tracking.policy().name().to_owned()),
            ]
        }
        "persistence" => {
            let rdb = &shared.rdb;
            let mut fields = vec![
                ("loading", "0".to_owned()),
                ("rdb_changes_since_last_save", rdb.changes_since_last_save().to_string()),
                ("rdb_bgsave_in_progress", u8::from(rdb.bgsave_in_progress()).to_string()),
                ("rdb_last_save_time", rdb.last_save().to_string()),
                ("rdb_last_bgsave_status", if rdb.last_bgsave_ok() { "ok" } else { "err" }.to_owned()),
            ];
            fields.extend(Aof::info_fields(shared.aof.as_ref()));
            fields
        }
        "stats" => {
            let total = stats.total_commands_processed.load(Ordering::Relaxed);
            vec![
                ("total_connections_received", stats.total_connections_received.load(Ordering::Relaxed).to_string()),
                ("total_commands_processed", total.to_string()),
                ("instantaneous_ops_per_sec", ops_per_sec(shared, total).to_string()),
                ("rejected_connections", stats.rejected_connections.load(Ordering::Relaxed).to_string()),
                ("expired_keys", shared.counters.expired_keys().to_string()),
                ("evicted_keys", shared.counters.evicted_keys().to_string()),
            ]
        }
        _ => Vec::new(),
    }
}

/// Formats a byte count as Redis's `bytesToHuman` does: `512B`, `1.50K`, `2.00M`, `1.00G`.
fn bytes_to_human(bytes: u64) -> String {
    const UNITS: &[char] = &['K', 'M', 'G', 'T', 'P'];
    const STEP: f64 = 1024.0;
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / STEP;
    let mut unit = 0;
    while value >= STEP && unit + 1 < UNITS.len() {
        value /= STEP;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

/// The process's resident set size in bytes, from `VmRSS` in `/proc/self/status` (kB there, so no page
/// size is needed); 0 where `/proc` is not available.
fn resident_set_bytes() -> u64 {
    const BYTES_PER_KB: u64 = 1024;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * BYTES_PER_KB)
}

/// Commands per second over roughly the last [`OPS_WINDOW`]: the rate since the oldest sample kept
/// (or since start, the first time). Computed on demand, so an idle server does no work for it.
fn ops_per_sec(shared: &Shared, total: u64) -> u64 {
    let now = Instant::now();
    let mut samples = shared.ops_samples.lock();
    // Keep the newest sample older than the window as the baseline, drop the ones before it.
    while samples.len() > 1 && samples.get(1).is_some_and(|(at, _)| now - *at >= OPS_WINDOW) {
        samples.pop_front();
    }
    let (since, base) = samples.front().copied().unwrap_or((shared.started, 0));
    if samples.back().is_none_or(|(at, _)| now - *at >= OPS_MIN_SAMPLE_GAP) {
        samples.push_back((now, total));
    }
    let elapsed = (now - since).as_secs_f64();
    if elapsed <= 0.0 {
        return 0;
    }
    (total.saturating_sub(base) as f64 / elapsed).round() as u64
}

#[cfg(test)]
mod tests {
    use super::bytes_to_human;

    #[test]
    fn human_sizes_read_like_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1536), "1.50K");
        assert_eq!(bytes_to_human(256 << 20), "256.00M");
        assert_eq!(bytes_to_human(3 << 30), "3.00G");
    }
}
