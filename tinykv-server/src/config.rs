//! The server's configuration: command-line flags, each with a `TINYKV_<FLAG>` environment fallback.
//!
//! Every limit and default lives here and is passed down; no code path holds a magic number.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use thiserror::Error;

use crate::rdb::snapshot::{parse_save_rules, SaveRule, REDIS_DEFAULT_RULES};

/// How often the append-only file is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppendFsync {
    /// Before every reply: no acknowledged write is ever lost.
    Always,
    /// About once a second: at most a second of writes lost on power failure.
    Everysec,
    /// Never explicitly: the OS decides.
    No,
}

/// When the server sends the original protocol's greeting, `+TinyKV ready`.
///
/// A person at telnet or netcat expects it; a Redis client reads it as the answer to its first command
/// and goes out of step. `Auto` serves both from one server by watching what the client does first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Greeting {
    /// Not to a client whose first bytes are a RESP array (`*`); before the first reply of a client that
    /// sends an inline line; after 100 ms to a client that has sent nothing (a person at telnet).
    #[default]
    Auto,
    /// On connect, to every client: the original protocol's behaviour.
    Always,
    /// Never: what Redis does.
    Never,
}

/// Which keys make room when the data set is over `--maxmemory`, with Redis's names and meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[repr(u8)]
pub enum MaxmemoryPolicy {
    /// Evict nothing: writes that grow memory are refused with `-OOM`.
    Noeviction,
    /// The least recently used of all keys (sampled).
    AllkeysLru,
    /// The least recently used of the keys with a time to live (sampled).
    VolatileLru,
    /// The least frequently used of all keys (sampled, Redis's logarithmic counters).
    AllkeysLfu,
    /// The least frequently used of the keys with a time to live (sampled).
    VolatileLfu,
    /// Any key.
    AllkeysRandom,
    /// Any key with a time to live.
    VolatileRandom,
    /// The key with a time to live that expires soonest (sampled).
    VolatileTtl,
}

impl MaxmemoryPolicy {
    /// Every policy, in the order of the discriminants (so a stored `u8` maps back).
    pub const ALL: [MaxmemoryPolicy; 8] = [
        MaxmemoryPolicy::Noeviction,
        MaxmemoryPolicy::AllkeysLru,
        MaxmemoryPolicy::VolatileLru,
        MaxmemoryPolicy::AllkeysLfu,
        MaxmemoryPolicy::VolatileLfu,
        MaxmemoryPolicy::AllkeysRandom,
        MaxmemoryPolicy::VolatileRandom,
        MaxmemoryPolicy::VolatileTtl,
    ];

    /// The name Redis gives the policy (`CONFIG GET maxmemory-policy`, `INFO memory`).
    pub const fn name(self) -> &'static str {
        match self {
            MaxmemoryPolicy::Noeviction => "noeviction",
            MaxmemoryPolicy::AllkeysLru => "allkeys-lru",
            MaxmemoryPolicy::VolatileLru => "volatile-lru",
            MaxmemoryPolicy::AllkeysLfu => "allkeys-lfu",
            MaxmemoryPolicy::VolatileLfu => "volatile-lfu",
            MaxmemoryPolicy::AllkeysRandom => "allkeys-random",
            MaxmemoryPolicy::VolatileRandom => "volatile-random",
            MaxmemoryPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// The policy Redis calls `name` (any case), for `CONFIG SET maxmemory-policy`.
    pub fn from_name(name: &str) -> Option<MaxmemoryPolicy> {
        MaxmemoryPolicy::ALL.into_iter().find(|policy| policy.name().eq_ignore_ascii_case(name))
    }

    /// Whether keys keep LFU counters (else LRU clocks) in their access data.
    pub const fn is_lfu(self) -> bool {
        matches!(self, MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu)
    }

    /// Whether the policy evicts by last access (Redis's `MAXMEMORY_FLAG_LRU`): snapshots then keep
    /// each key's idle time.
    pub const fn is_lru(self) -> bool {
        matches!(self, MaxmemoryPolicy::AllkeysLru | MaxmemoryPolicy::VolatileLru)
    }

    /// Whether only keys with a time to live may be evicted.
    pub const fn is_volatile(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLru
                | MaxmemoryPolicy::VolatileLfu
                | MaxmemoryPolicy::VolatileRandom
                | MaxmemoryPolicy::VolatileTtl
        )
    }
}

/// Who may run `DEBUG` (`--enable-debug-command`), as Redis's `enable-debug-command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DebugCommandAccess {
    /// Nobody (the default): `DEBUG` can stop or crash a server.
    No,
    /// Every client.
    Yes,
    /// Clients connected from the same machine (a loopback address).
    Local,
}

/// Everything `tinykv-server` can be told at start.
#[derive(Debug, Clone, Parser)]
#[command(name = "tinykv-server", version, about = "TinyKV: a small in-memory key-value server that speaks RESP")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TINYKV_BIND", default_value = "127.0.0.1")]
    pub bind: String,

    /// Port to listen on (0 picks a free one; the log says which).
    #[arg(short, long, env = "TINYKV_PORT", default_value_t = 4040)]
    pub port: u16,

    /// When to send `+TinyKV ready`, the original protocol's greeting [default: auto]
    // `None` when not given, so `Config::greeting` can tell it apart from `--no-greeting`.
    #[arg(long, env = "TINYKV_GREETING", value_enum, value_name = "WHEN")]
    pub greeting: Option<Greeting>,

    /// The older spelling of `--greeting never`, kept so existing scripts and environments still work.
    #[arg(long, env = "TINYKV_NO_GREETING", value_parser = clap::builder::FalseyValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub no_greeting: bool,

    /// Most simultaneous clients; one more is told so and closed. Lowered at start to what the
    /// open-file limit allows (`ulimit -n` minus 32 kept for the server), as Redis does.
    #[arg(long, env = "TINYKV_MAX_CLIENTS", default_value_t = 10_000)]
    pub max_clients: usize,

    /// Connections the kernel may queue before they are accepted (capped by net.core.somaxconn).
    #[arg(long, env = "TINYKV_TCP_BACKLOG", default_value_t = 511)]
    pub tcp_backlog: u32,

    /// Close clients idle for this many seconds (0: never).
    #[arg(long, env = "TINYKV_TIMEOUT", default_value_t = 0)]
    pub timeout: u64,

    /// Require clients to AUTH with this password.
    #[arg(long, env = "TINYKV_REQUIREPASS")]
    pub requirepass: Option<String>,

    /// Refuse writes that grow memory once the data set passes this size (b, kb, mb, gb; 0: no limit).
    #[arg(long, env = "TINYKV_MAXMEMORY", default_value = "0", value_parser = parse_memory)]
    pub maxmemory: u64,

    /// What makes room over `--maxmemory`: noeviction (refuse writes with -OOM), allkeys-lru,
    /// volatile-lru, allkeys-lfu, volatile-lfu, allkeys-random, volatile-random, volatile-ttl.
    #[arg(long, env = "TINYKV_MAXMEMORY_POLICY", value_enum, default_value_t = MaxmemoryPolicy::Noeviction)]
    pub maxmemory_policy: MaxmemoryPolicy,

    /// Keys sampled per database for each eviction (more: closer to true LRU/LFU, more CPU), 1 to 64.
    #[arg(long, env = "TINYKV_MAXMEMORY_SAMPLES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub maxmemory_samples: u32,

    /// How slowly LFU counters grow: a counter at n is incremented with probability 1/((n-5)*factor+1).
    #[arg(long, env = "TINYKV_LFU_LOG_FACTOR", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub lfu_log_factor: u32,

    /// Minutes after which an idle key's LFU counter is decremented (0: never).
    #[arg(long, env = "TINYKV_LFU_DECAY_TIME", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=i32::MAX as i64))]
    pub lfu_decay_time: u32,

    /// Append every write to PATH and replay it at start. A file (or a new path) is one log, turned
    /// into Redis 7's directory layout at its first rewrite; a directory is that layout.
    #[arg(long, env = "TINYKV_APPENDONLY", value_name = "PATH")]
    pub appendonly: Option<PathBuf>,

    /// Rewrite the append-only file when it grew by this percentage since the last rewrite (0: never).
    #[arg(long, env = "TINYKV_AUTO_AOF_REWRITE_PERCENTAGE", default_value_t = 100)]
    pub auto_aof_rewrite_percentage: u64,

    /// ... and only once it is at least this large (b, kb, mb, gb).
    #[arg(long, env = "TINYKV_AUTO_AOF_REWRITE_MIN_SIZE", default_value = "64mb", value_parser = parse_memory)]
    pub auto_aof_rewrite_min_size: u64,

    /// When to fsync the append-only file.
    #[arg(long, env = "TINYKV_APPENDFSYNC", value_enum, default_value_t = AppendFsync::Everysec)]
    pub appendfsync: AppendFsync,

    /// Longest bulk string a client may send (b, kb, mb, gb), at most 512mb.
    #[arg(long, env = "TINYKV_PROTO_MAX_BULK_LEN", default_value = "512mb", value_parser = parse_bulk_limit)]
    pub proto_max_bulk_len: u64,

    /// Stop reading a client's requests while this many bytes of its replies are unsent.
    #[arg(long, env = "TINYKV_OUTPUT_HIGH_WATER", default_value = "1mb", value_parser = parse_memory)]
    pub output_high_water: u64,

    /// How far a pub/sub subscriber may fall behind: `<hard> <soft> <soft-seconds>` (b, kb, mb, gb),
    /// as Redis's `client-output-buffer-limit pubsub`. Unsent messages past the hard limit, or past the
    /// soft one for that many seconds, disconnect the subscriber; 0 turns a limit off.
    #[arg(long, env = "TINYKV_CLIENT_OUTPUT_BUFFER_LIMIT_PUBSUB", default_value = "32mb 8mb 60",
          value_parser = parse_output_limit, value_name = "HARD SOFT SECONDS")]
    pub client_output_buffer_limit_pubsub: OutputLimit,

    /// The same for ordinary clients, counting what a big reply has yet to send (Redis's default:
    /// `0 0 0`, no limit): a client that stops reading a reply of millions of elements is then
    /// disconnected instead of holding it in the server's memory.
    #[arg(long, env = "TINYKV_CLIENT_OUTPUT_BUFFER_LIMIT_NORMAL", default_value = "0 0 0",
          value_parser = parse_output_limit, value_name = "HARD SOFT SECONDS")]
    pub client_output_buffer_limit_normal: OutputLimit,

    /// Number of databases (`SELECT 0` to `SELECT N-1`), as Redis's `databases`.
    #[arg(long, env = "TINYKV_DATABASES", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub databases: u16,

    /// Log commands that take at least this many microseconds in the slow log (`SLOWLOG GET`); -1: never.
    #[arg(long, env = "TINYKV_SLOWLOG_LOG_SLOWER_THAN", default_value_t = 10_000, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-1..))]
    pub slowlog_log_slower_than: i64,

    /// Entries the slow log keeps (the oldest go first).
    #[arg(long, env = "TINYKV_SLOWLOG_MAX_LEN", default_value_t = 128, value_parser = clap::value_parser!(u64).range(..=i64::MAX as u64))]
    pub slowlog_max_len: u64,

    /// Keyspace notifications to publish, as Redis's class characters (`KEA`: all; `Ex`: expired
    /// keys' events); empty (the default) publishes none.
    #[arg(long, env = "TINYKV_NOTIFY_KEYSPACE_EVENTS", default_value = "", value_parser = parse_keyspace_events)]
    pub notify_keyspace_events: u32,

    /// Who may run DEBUG: no (nobody), yes (everyone), local (clients on a loopback address).
    #[arg(long, env = "TINYKV_ENABLE_DEBUG_COMMAND", value_enum, default_value_t = DebugCommandAccess::No)]
    pub enable_debug_command: DebugCommandAccess,

    // --- scripting ---
    /// Milliseconds a script may run before other clients get `-BUSY` (and `SCRIPT KILL` works);
    /// Redis's `busy-reply-threshold`, formerly `lua-time-limit`.
    #[arg(long, alias = "lua-time-limit", env = "TINYKV_BUSY_REPLY_THRESHOLD", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(..=i64::MAX as u64))]
    pub busy_reply_threshold: u64,

    /// Most memory the Lua interpreter may use (bytes, or with kb/mb/gb): past it a script fails
    /// with an error instead of growing the server without bound.
    #[arg(long, env = "TINYKV_LUA_MEMORY_LIMIT", default_value = "256mb", value_parser = parse_memory)]
    pub lua_memory_limit: u64,

    /// Threads serving clients, each a single-threaded runtime (0: one per core but one; 1: as Redis).
    /// Clients fill the first thread and move to another only while it is saturated (`workers.rs`).
    #[arg(long, env = "TINYKV_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Directory of the RDB snapshot (and of its temporary file while one is written).
    #[arg(long, env = "TINYKV_DIR", default_value = ".")]
    pub dir: PathBuf,

    /// File name of the RDB snapshot in `--dir` (default `dump.rdb`); loaded at start when no
    /// `--appendonly` is set. Giving it turns on Redis's default `--save` rules.
    #[arg(long, env = "TINYKV_DBFILENAME", value_parser = parse_dbfilename)]
    pub dbfilename: Option<String>,

    /// Snapshot rules, "<seconds> <changes> ...": save when that many writes happened in that many
    /// seconds; "" for none. Default: none, or "3600 1 300 100 60 10000" when --dbfilename is given.
    #[arg(long, env = "TINYKV_SAVE", value_parser = parse_save)]
    pub save: Option<String>,

    /// LZF-compress strings in snapshots and DUMP payloads (yes|no).
    #[arg(long, env = "TINYKV_RDBCOMPRESSION", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub rdbcompression: bool,

    /// Write the append-only file's base as an RDB snapshot at each rewrite, as Redis does (yes|no);
    /// no: as commands.
    #[arg(long, env = "TINYKV_AOF_USE_RDB_PREAMBLE", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub aof_use_rdb_preamble: bool,

    /// End snapshots with a CRC-64 checksum, and check it at load (yes|no).
    #[arg(long, env = "TINYKV_RDBCHECKSUM", default_value = "yes", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub rdbchecksum: bool,

    // --- replication ---
    /// Bytes of the replication stream kept for replicas that reconnect, so they get only what they
    /// missed (`+CONTINUE`) instead of a full resync (b, kb, mb, gb); Redis's `repl-backlog-size`.
    #[arg(long, env = "TINYKV_REPL_BACKLOG_SIZE", default_value = "1mb", value_parser = parse_backlog_size)]
    pub repl_backlog_size: u64,

    /// Seconds between the PINGs a primary sends down the replication stream, so replicas can tell
    /// a quiet primary from a dead link.
    #[arg(long, env = "TINYKV_REPL_PING_REPLICA_PERIOD", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub repl_ping_replica_period: u64,

    /// Seconds without a byte from the primary (or, on a primary, an ACK from a replica) after which
    /// the link is considered dead and dropped; Redis's `repl-timeout`.
    #[arg(long, env = "TINYKV_REPL_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub repl_timeout: u64,

    /// Refuse writes (`-NOREPLICAS`) unless at least this many replicas acknowledged within
    /// `--min-replicas-max-lag` seconds (0: never refuse).
    #[arg(long, env = "TINYKV_MIN_REPLICAS_TO_WRITE", default_value_t = 0)]
    pub min_replicas_to_write: u64,

    /// The lag, in seconds since its last ACK, under which a replica counts for `--min-replicas-to-write`.
    #[arg(long, env = "TINYKV_MIN_REPLICAS_MAX_LAG", default_value_t = 10)]
    pub min_replicas_max_lag: u64,

    /// Start as a replica of this primary: "HOST PORT" (or HOST:PORT), as `REPLICAOF HOST PORT`.
    #[arg(long, env = "TINYKV_REPLICAOF", value_parser = parse_replicaof, value_name = "HOST PORT")]
    pub replicaof: Option<(String, u16)>,

    /// The password a replica gives its primary (`AUTH`) when the primary has `requirepass`.
    #[arg(long, env = "TINYKV_MASTERAUTH")]
    pub masterauth: Option<String>,

    /// The user a replica authenticates as with `--masterauth` (`AUTH user password`).
    #[arg(long, env = "TINYKV_MASTERUSER")]
    pub masteruser: Option<String>,

    /// Whether a replica whose link to its primary is down still answers reads with the data it has
    /// (yes), or answers `-MASTERDOWN` (no).
    #[arg(long, env = "TINYKV_REPLICA_SERVE_STALE_DATA", default_value = "yes", value_parser = parse_yes_no)]
    pub replica_serve_stale_data: bool,

    /// The replica's priority that Sentinel reads from `INFO` (lower is promoted first, 0 never).
    #[arg(long, env = "TINYKV_REPLICA_PRIORITY", default_value_t = 100)]
    pub replica_priority: u64,

    /// The address a replica reports to its primary (`REPLCONF ip-address`), when it is reached
    /// through another address than the one it connects from (NAT, containers).
    #[arg(long, env = "TINYKV_REPLICA_ANNOUNCE_IP")]
    pub replica_announce_ip: Option<String>,

    // --- threads ---
    /// Tests only: with `--threads N > 1`, every this many batches on a thread the connection that
    /// ran the last one moves to the next thread, so that every hand-over path is exercised (0: only
    /// when a thread is saturated).
    #[arg(long, hide = true, default_value_t = 0)]
    pub debug_hand_over_every: u64,
}

impl Config {
    /// Parses the command line (with the environment as fallback) and checks what clap cannot: on a
    /// contradiction it prints the error and exits with status 2, as clap does for its own errors.
    pub fn parse_checked() -> Config {
        let config = Config::parse();
        if let Err(message) = config.check() {
            <Config as clap::CommandFactory>::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit();
        }
        config
    }

    /// Refuses settings that contradict each other, rather than silently picking one.
    pub fn check(&self) -> Result<(), String> {
        match self.greeting {
            Some(when @ (Greeting::Auto | Greeting::Always)) if self.no_greeting => {
                let when = if when == Greeting::Auto { "auto" } else { "always" };
                Err(format!("--no-greeting (TINYKV_NO_GREETING) contradicts --greeting {when} (TINYKV_GREETING)"))
            }
            _ => Ok(()),
        }
    }

    /// When to greet: `--greeting` if given, else `never` under `--no-greeting`, else `auto`.
    pub fn greeting(&self) -> Greeting {
        match (self.greeting, self.no_greeting) {
            (Some(when), _) => when,
            (None, true) => Greeting::Never,
            (None, false) => Greeting::Auto,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["tinykv-server"])
    }
}

/// File descriptors kept for the server itself (listener, append-only file, the runtime's own, a
/// refused client's brief socket), as Redis's `CONFIG_MIN_RESERVED_FDS`.
pub const RESERVED_FDS: u64 = 32;

/// Why the server cannot serve anyone under its open-file limit.
#[derive(Debug, Error)]
#[error(
    "the open-file limit of {limit} leaves no room for clients ({RESERVED_FDS} are kept for the server); raise it with ulimit -n"
)]
pub struct FileLimitError {
    /// The limit the process runs under.
    pub limit: u64,
}

/// How many clients fit in `open_files` descriptors: `max_clients`, or fewer when the limit is too
/// low, so that clients past the limit are refused with Redis's error instead of hanging unaccepted.
pub fn clients_within(open_files: u64, max_clients: usize) -> Result<usize, FileLimitError> {
    let room = open_files.saturating_sub(RESERVED_FDS);
    if room == 0 {
        return Err(FileLimitError { limit: open_files });
    }
    Ok(usize::try_from(room).map_or(max_clients, |room| room.min(max_clients)))
}

// --- replication ---
/// `--replicaof`: "HOST PORT" or "HOST:PORT".
fn parse_replicaof(text: &str) -> Result<(String, u16), String> {
    let text = text.trim();
    let (host, port) = text
        .rsplit_once(char::is_whitespace)
        .or_else(|| text.rsplit_once(':'))
        .ok_or_else(|| format!("'{text}' is not HOST PORT"))?;
    let port = port.trim().parse::<u16>().map_err(|_| format!("'{port}' is not a port"))?;
    Ok((host.trim().to_owned(), port))
}

/// `--repl-backlog-size`: a memory size of at least 16kb, as Redis's minimum.
fn parse_backlog_size(text: &str) -> Result<u64, String> {
    let size = parse_memory(text).map_err(|err| err.to_string())?;
    Ok(size.max(16 * 1024))
}

/// A memory size that could not be read.
#[derive(Debug, Error)]
#[error("invalid memory size '{0}': use a number with an optional unit b, k, kb, m, mb, g, gb")]
pub struct MemoryParseError(String);

/// Parses a memory size as Redis does: `100`, `1k` (1000), `1kb` (1024), `256mb`, `2gb`, any case.
pub fn parse_memory(text: &str) -> Result<u64, MemoryParseError> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return Err(MemoryParseError(text.to_owned())),
    };
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(multiplier)).ok_or_else(|| MemoryParseError(text.to_owned()))
}

fn parse_bulk_limit(text: &str) -> Result<u64, String> {
    let limit = parse_memory(text).map_err(|e| e.to_string())?;
    if limit == 0 || limit > tinykv_proto::Limits::DEFAULT_MAX_BULK as u64 {
        return Err(format!("must be between 1 and 512mb, got '{text}'"));
    }
    Ok(limit)
}

impl Config {
    /// The snapshot's file name: `--dbfilename`, or Redis's `dump.rdb`.
    pub fn dbfilename(&self) -> &str {
        self.dbfilename.as_deref().unwrap_or(DEFAULT_DBFILENAME)
    }

    /// The `--save` rules in force: as given; else Redis's defaults when `--dbfilename` was given
    /// (asking for a snapshot file means wanting it kept up to date); else none, so a server
    /// started without persistence flags writes nothing unless told to (`SAVE`, `BGSAVE`).
    pub fn save_rules(&self) -> Vec<SaveRule> {
        match &self.save {
            Some(text) => parse_save_rules(text).unwrap_or_default(),
            None if self.dbfilename.is_some() => REDIS_DEFAULT_RULES.to_vec(),
            None => Vec::new(),
        }
    }
}

/// Redis's snapshot file name.
pub const DEFAULT_DBFILENAME: &str = "dump.rdb";

fn parse_save(text: &str) -> Result<String, String> {
    parse_save_rules(text).map(|_| text.to_owned())
}

/// A file name, not a path, as Redis requires of `dbfilename`.
fn parse_dbfilename(text: &str) -> Result<String, String> {
    if text.is_empty() || text.contains('/') || text == "." || text == ".." {
        return Err("dbfilename can't be a path, just a filename".to_owned());
    }
    Ok(text.to_owned())
}

/// Redis's boolean settings: `yes` or `no`, any case.
/// `--notify-keyspace-events`: Redis's class characters, as `CONFIG SET` reads them.
fn parse_keyspace_events(text: &str) -> Result<u32, String> {
    crate::settings::keyspace_events_from(text.as_bytes())
        .ok_or_else(|| "invalid event class character: use the characters of 'Ag$lshzxeKEtmdn'".to_owned())
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("argument must be 'yes' or 'no', got '{text}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let config = Config::parse_from(["tinykv-server"]);
        assert_eq!(config.bind, "127.0.0.1");
        assert_eq!(config.port, 4040);
        assert_eq!(config.greeting(), Greeting::Auto);
        assert_eq!(config.max_clients, 10_000);
        assert_eq!(config.timeout, 0);
        assert_eq!(config.appendfsync, AppendFsync::Everysec);
        assert_eq!((config.slowlog_log_slower_than, config.slowlog_max_len), (10_000, 128));
        assert_eq!(config.enable_debug_command, DebugCommandAccess::No);
        let config = Config::parse_from(["tinykv-server", "--slowlog-log-slower-than", "-1"]);
        assert_eq!(config.slowlog_log_slower_than, -1);
        assert_eq!(config.tcp_backlog, 511);
        assert_eq!((config.dir.as_os_str(), config.dbfilename()), (std::ffi::OsStr::new("."), "dump.rdb"));
        assert!(config.save_rules().is_empty(), "no snapshots unless asked for");
        assert!(config.rdbcompression && config.rdbchecksum);
        assert_eq!(config.maxmemory_policy, MaxmemoryPolicy::Noeviction);
        assert_eq!((config.maxmemory_samples, config.lfu_log_factor, config.lfu_decay_time), (5, 10, 1));
    }

    #[test]
    fn clients_fit_the_open_file_limit_less_what_the_server_keeps() {
        assert_eq!(clients_within(20_000, 10_000).unwrap(), 10_000);
        assert_eq!(clients_within(10_032, 10_000).unwrap(), 10_000);
        assert_eq!(clients_within(256, 10_000).unwrap(), 224);
        assert_eq!(clients_within(64, 10_000).unwrap(), 32);
        assert_eq!(clients_within(u64::MAX, 7).unwrap(), 7);
        assert!(clients_within(32, 10_000).is_err());
        assert!(clients_within(0, 1).is_err());
    }

    #[test]
    fn greeting_flags_and_the_old_spelling() {
        let parse = |args: &[&str]| Config::parse_from(std::iter::once("tinykv-server").chain(args.iter().copied()));
        assert_eq!(parse(&["--greeting", "always"]).greeting(), Greeting::Always);
        assert_eq!(parse(&["--greeting", "never"]).greeting(), Greeting::Never);
        assert_eq!(parse(&["--greeting", "auto"]).greeting(), Greeting::Auto);
        assert_eq!(parse(&["--no-greeting"]).greeting(), Greeting::Never);
        assert!(parse(&["--no-greeting", "--greeting", "never"]).check().is_ok());
        let contradiction = parse(&["--no-greeting", "--greeting", "always"]).check().unwrap_err();
        assert!(contradiction.contains("--greeting always"), "{contradiction}");
        assert!(parse(&["--no-greeting", "--greeting", "auto"]).check().is_err());
        assert!(Config::try_parse_from(["tinykv-server", "--greeting", "sometimes"]).is_err());
    }

    #[test]
    fn save_rules_default_to_redis_once_a_dbfilename_is_given() {
        let rules = |args: &[&str]| Config::parse_from([&["tinykv-server"], args].concat()).save_rules();
        assert_eq!(rules(&["--dbfilename", "x.rdb"]), REDIS_DEFAULT_RULES.to_vec());
        assert_eq!(rules(&["--dbfilename", "x.rdb", "--save", ""]), vec![]);
        assert_eq!(rules(&["--save", "10 2"]), vec![SaveRule { seconds: 10, changes: 2 }]);
        assert!(Config::try_parse_from(["tinykv-server", "--save", "10"]).is_err());
        assert!(Config::try_parse_from(["tinykv-server", "--dbfilename", "a/b.rdb"]).is_err());
        assert!(Config::try_parse_from(["tinykv-server", "--rdbcompression", "maybe"]).is_err());
        let off = Config::parse_from(["tinykv-server", "--rdbcompression", "no", "--aof-use-rdb-preamble", "no"]);
        assert!(!off.rdbcompression && !off.aof_use_rdb_preamble && off.rdbchecksum);
    }

    #[test]
    fn policies_have_redis_names_on_the_command_line_and_in_config() {
        for policy in MaxmemoryPolicy::ALL {
            let config = Config::parse_from(["tinykv-server", "--maxmemory-policy", policy.name()]);
            assert_eq!(config.maxmemory_policy, policy);
            assert_eq!(MaxmemoryPolicy::from_name(&policy.name().to_ascii_uppercase()), Some(policy));
            assert_eq!(MaxmemoryPolicy::ALL[policy as usize], policy);
        }
        assert!(Config::try_parse_from(["tinykv-server", "--maxmemory-policy", "lru"]).is_err());
        assert!(Config::try_parse_from(["tinykv-server", "--maxmemory-samples", "0"]).is_err());
        assert!(Config::try_parse_from(["tinykv-server", "--maxmemory-samples", "65"]).is_err());
    }

    #[test]
    fn memory_units_follow_redis() {
        assert_eq!(parse_memory("100").unwrap(), 100);
        assert_eq!(parse_memory("1k").unwrap(), 1000);
        assert_eq!(parse_memory("1KB").unwrap(), 1024);
        assert_eq!(parse_memory("256mb").unwrap(), 256 << 20);
        assert_eq!(parse_memory("2gb").unwrap(), 2 << 30);
        assert!(parse_memory("12xb").is_err());
        assert!(parse_memory("").is_err());
    }
}

/// A client output buffer limit: `hard soft soft-seconds`, as Redis's `client-output-buffer-limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimit {
    /// Bytes past which the client is disconnected at once (0: no limit).
    pub hard: u64,
    /// Bytes past which, for `soft_seconds` in a row, the client is disconnected (0: no limit).
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_seconds: u64,
}

/// Parses `--client-output-buffer-limit-pubsub`: three words, two sizes and seconds.
pub fn parse_output_limit(text: &str) -> Result<OutputLimit, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [hard, soft, seconds] = words[..] else {
        return Err("expected three values: <hard> <soft> <soft-seconds>, e.g. \"32mb 8mb 60\"".to_owned());
    };
    let size = |word: &str| parse_memory(word).map_err(|err| format!("{word}: {err}"));
    let soft_seconds = seconds.parse::<u64>().map_err(|_| format!("{seconds}: not a number of seconds"))?;
    Ok(OutputLimit { hard: size(hard)?, soft: size(soft)?, soft_seconds })
}
