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
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::TimeVal;
use tinykv_proto::Reply;

use crate::aof::Aof;
use crate::execute::REDIS_COMPAT_VERSION;
use crate::shared::Shared;

/// What `INFO` and `INFO default` print: all but `commandstats`, as Redis.
fn default_sections() -> impl Iterator<Item = &'static str> {
    SECTIONS.iter().copied().filter(|section| *section != "commandstats")
}

/// The sections in the order Redis prints them; `INFO all` and `INFO everything` print them all.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];
/// Seconds in a day, for `uptime_in_days`.
const SECONDS_PER_DAY: u64 = 24 * 60 * 60;
/// The window `instantaneous_ops_per_sec` averages over, like Redis's 16 samples 100 ms apart.
const OPS_WINDOW: Duration = Duration::from_millis(1600);
/// Samples closer together than this are not kept, so a burst of `INFO` calls keeps a useful window.
const OPS_MIN_SAMPLE_GAP: Duration = Duration::from_millis(100);

/// `INFO`'s reply for the requested sections (lower-cased): none or `default` for the default ones,
/// `all` or `everything` for all; unknown sections are left out.
pub fn info(shared: &Shared, requested: &[String]) -> Reply {
    let mut all = false;
    let mut wanted: Vec<&str> = Vec::new();
    if requested.is_empty() {
        default_sections().for_each(|section| wanted.push(section));
    }
    for section in requested {
        match section.as_str() {
            "default" => default_sections().for_each(|section| wanted.push(section)),
            "all" | "everything" => all = true,
            other => wanted.push(other),
        }
    }
    let mut text = String::new();
    for section in SECTIONS.iter().filter(|section| all || wanted.contains(section)) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let title = match *section {
            "cpu" => "CPU".to_owned(),
            other => {
                let mut title = other.to_owned();
                title[..1].make_ascii_uppercase();
                title
            }
        };
        let _ = write!(text, "# {title}\r\n");
        for (key, value) in section_fields(shared, section) {
            let _ = write!(text, "{key}:{value}\r\n");
        }
        match *section {
            // --- replication ---
            "replication" => {
                for (key, value) in crate::replication::info_fields(shared) {
                    let _ = write!(text, "{key}:{value}\r\n");
                }
            }
            // One line per database that holds keys, as Redis prints them.
            "keyspace" => {
                for (index, db) in shared.dbs.iter().enumerate().filter(|(_, db)| !db.is_empty()) {
                    let _ = write!(text, "db{index}:keys={},expires={},avg_ttl=0\r\n", db.len(), db.volatile_len());
                }
            }
            "commandstats" => {
                for command in shared.command_stats.commands() {
                    let per_call = if command.calls == 0 { 0.0 } else { command.micros as f64 / command.calls as f64 };
                    let _ = write!(
                        text,
                        "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                        command.name, command.calls, command.micros, command.rejected, command.failed
                    );
                }
            }
            "errorstats" => {
                for (code, count) in shared.command_stats.errors() {
                    let _ = write!(text, "errorstat_{code}:count={count}\r\n");
                }
            }
            _ => {}
        }
    }
    Reply::Verbatim(Bytes::from(text))
}

/// The `key:value` lines of one section.
fn section_fields(shared: &Shared, section: &str) -> Vec<(&'static str, String)> {
    let stats = &shared.stats;
    let settings = &shared.settings;
    let zero = || "0".to_owned();
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
                ("run_id", shared.replication.run_id().to_owned()),
                ("tcp_port", shared.port.to_string()),
                ("server_time_usec", now_us.to_string()),
                ("uptime_in_seconds", uptime.to_string()),
                ("uptime_in_days", (uptime / SECONDS_PER_DAY).to_string()),
                ("config_file", String::new()),
            ]
        }
        "clients" => vec![
            ("connected_clients", stats.connected_clients.load(Ordering::Relaxed).to_string()),
            ("cluster_connections", zero()),
            ("maxclients", settings.maxclients().to_string()),
            ("blocked_clients", shared.blocking.len().to_string()),
            ("tracking_clients", zero()),
            ("clients_in_timeout_table", zero()),
        ],
        "memory" => {
            let used = shared.used_memory() as u64;
            let rss = resident_set_bytes();
            let maxmemory = settings.maxmemory();
            vec![
                ("used_memory", used.to_string()),
                ("used_memory_human", bytes_to_human(used)),
                ("used_memory_rss", rss.to_string()),
                ("used_memory_rss_human", bytes_to_human(rss)),
                ("maxmemory", maxmemory.to_string()),
                ("maxmemory_human", bytes_to_human(maxmemory)),
                ("maxmemory_policy", shared.counters.tracking.policy().name().to_owned()),
                ("lazyfree_pending_objects", crate::lazyfree::pending().to_string()),
                ("lazyfreed_objects", crate::lazyfree::freed().to_string()),
            ]
        }
        "persistence" => {
            let never = || "-1".to_owned();
            let status = |ok: bool| if ok { "ok" } else { "err" }.to_owned();
            let rdb = &shared.rdb;
            let mut fields = vec![
                ("loading", zero()),
                ("async_loading", zero()),
                ("current_cow_peak", zero()),
                ("current_cow_size", zero()),
                ("current_cow_size_age", zero()),
                ("current_fork_perc", "0.00".to_owned()),
                ("current_save_keys_processed", zero()),
                ("current_save_keys_total", zero()),
                ("rdb_changes_since_last_save", rdb.changes_since_last_save().to_string()),
                ("rdb_bgsave_in_progress", u8::from(rdb.bgsave_in_progress()).to_string()),
                ("rdb_last_save_time", rdb.last_save().to_string()),
                ("rdb_last_bgsave_status", status(rdb.last_bgsave_ok())),
                ("rdb_last_bgsave_time_sec", never()),
                ("rdb_current_bgsave_time_sec", never()),
                ("rdb_saves", zero()),
                ("rdb_last_cow_size", zero()),
                ("rdb_last_load_keys_expired", zero()),
                ("rdb_last_load_keys_loaded", zero()),
            ];
            fields.extend(Aof::info_fields(shared.aof.as_ref()));
            fields.extend([("module_fork_in_progress", zero()), ("module_fork_last_cow_size", zero())]);
            fields
        }
        "stats" => {
            let commands = &shared.command_stats;
            let total = commands.total_commands();
            vec![
                ("total_connections_received", stats.total_connections_received.load(Ordering::Relaxed).to_string()),
                ("total_commands_processed", total.to_string()),
                ("instantaneous_ops_per_sec", ops_per_sec(shared, total).to_string()),
                ("rejected_connections", stats.rejected_connections.load(Ordering::Relaxed).to_string()),
                ("sync_full", zero()),
                ("sync_partial_ok", zero()),
                ("sync_partial_err", zero()),
                ("expired_keys", shared.counters.expired_keys().to_string()),
                ("evicted_keys", shared.counters.evicted_keys().to_string()),
                ("evicted_clients", zero()),
                ("keyspace_hits", commands.keyspace_hits().to_string()),
                ("keyspace_misses", commands.keyspace_misses().to_string()),
                ("pubsub_channels", shared.pubsub.channel_count().to_string()),
                ("pubsub_patterns", shared.pubsub.numpat().to_string()),
                ("pubsubshard_channels", shared.pubsub.shard_channel_count().to_string()),
                ("latest_fork_usec", zero()),
                ("total_forks", zero()),
                ("unexpected_error_replies", zero()),
                ("total_error_replies", commands.error_replies().to_string()),
                // Redis 7.2's name: subscribers closed for their backlog (`--client-output-buffer-limit-pubsub`).
                ("client_output_buffer_limit_disconnections", shared.pubsub.disconnections().to_string()),
            ]
        }
        // Its lines have names made at run time (`slave0`): written by the caller.
        "replication" => Vec::new(),
        "cpu" => {
            let (own_sys, own_user) = cpu_times(UsageWho::RUSAGE_SELF);
            let (children_sys, children_user) = cpu_times(UsageWho::RUSAGE_CHILDREN);
            vec![
                ("used_cpu_sys", own_sys),
                ("used_cpu_user", own_user),
                ("used_cpu_sys_children", children_sys),
                ("used_cpu_user_children", children_user),
            ]
        }
        "cluster" => vec![("cluster_enabled", zero())],
        _ => Vec::new(),
    }
}

/// System and user CPU seconds from `getrusage`, as Redis prints them (`0.225150`).
fn cpu_times(who: UsageWho) -> (String, String) {
    let seconds = |time: TimeVal| format!("{}.{:06}", time.tv_sec(), time.tv_usec());
    match getrusage(who) {
        Ok(usage) => (seconds(usage.system_time()), seconds(usage.user_time())),
        Err(_) => ("0.000000".to_owned(), "0.000000".to_owned()),
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
