//! The configuration as it is now: every parameter `CONFIG GET` lists, the ones `CONFIG SET` may
//! change while the server runs, and the live values the server reads.
//!
//! [`Config`] is what the server was started with; [`Settings`] holds what can change since. Code that
//! must see a change (the OOM gate, `AUTH`, the idle timeout, the slow log...) reads the live value
//! from here: a relaxed atomic load for a number, so the request path takes no lock. Strings (only
//! `requirepass` today) sit behind a lock that only `AUTH`, a new connection and `CONFIG` take.
//!
//! Adding a runtime parameter is one [`Setting`] variant and one row of [`PARAMS`] (its name, its kind,
//! which decides how a value is read, checked and printed, its start-up value, and an optional hook
//! run after a change). A parameter whose live value another part keeps (the eviction settings, in
//! the keyspace's counters) is one row with [`Store::Elsewhere`]; one fixed at start, with
//! [`Store::Fixed`].
//!
//! `CONFIG SET` follows Redis 7: every name is checked first (unknown, immutable, duplicate), then
//! every value, then the values are stored and the hooks run; the first failure restores every old
//! value and answers Redis's error for it, so a multi-parameter `CONFIG SET` is all or nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;
use tinykv_proto::Reply;

use crate::config::{AppendFsync, Config, DebugCommandAccess, MaxmemoryPolicy};
use crate::glob;
use crate::keyspace_events::class;
use crate::output_limits;
use crate::rdb::snapshot::parse_save_rules;
use crate::shared::Shared;

/// Every parameter that can change at run time; the index of its live value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Setting {
    /// `maxmemory`: bytes the data set may use before writes are refused (or keys evicted); 0 = no limit.
    Maxmemory,
    /// `timeout`: seconds a client may idle before it is closed; 0 = never.
    Timeout,
    /// `maxclients`: most clients connected at once.
    Maxclients,
    /// `proto-max-bulk-len`: the longest bulk string a client may send.
    ProtoMaxBulkLen,
    /// `requirepass`: the password of the default user; empty = none.
    Requirepass,
    /// `appendfsync`: an index into [`APPENDFSYNC`].
    Appendfsync,
    /// `slowlog-log-slower-than`: microseconds from which a command is logged; negative = never.
    SlowlogLogSlowerThan,
    /// `slowlog-max-len`: entries the slow log keeps.
    SlowlogMaxLen,
    /// `notify-keyspace-events`: the classes of keyspace events to publish, as Redis's flag bits.
    NotifyKeyspaceEvents,
    // --- scripting ---
    /// `busy-reply-threshold` (alias `lua-time-limit`): milliseconds a script runs before other
    /// clients get `-BUSY`; 0 = at once.
    BusyReplyThreshold,
}

/// How many [`Setting`]s there are.
const SETTINGS: usize = Setting::BusyReplyThreshold as usize + 1;

/// `maxmemory-policy`'s values, in Redis's order (its error message lists them so).
pub const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
/// `appendfsync`'s values, in Redis's order.
pub const APPENDFSYNC: &[&str] = &["everysec", "always", "no"];
/// `enable-debug-command`'s values, in Redis's order.
const DEBUG_COMMAND: &[&str] = &["no", "yes", "local"];

/// How a parameter's value is read from `CONFIG SET`, checked, stored and printed by `CONFIG GET`.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A number; `memory` takes units as Redis's `memtoull` does (`1kb`, `5mb`), otherwise an integer
    /// as `string2ll` reads it. Bounds are checked as unsigned when `unsigned` (Redis's `unsigned long
    /// long` and `unsigned int` parameters), else as signed, with Redis's message for each.
    Number { memory: bool, unsigned: bool, min: i64, max: i64 },
    /// One of the names, stored as its index.
    Enum(&'static [&'static str]),
    /// Any string.
    Text,
    /// `notify-keyspace-events` classes, stored as flag bits.
    KeyspaceEvents,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>` groups, checked as Redis checks
    /// them ([`crate::output_limits::parse`]), stored as the text.
    OutputBufferLimits,
    /// `save`: `<seconds> <changes>` pairs, or none; stored as the text.
    SaveRules,
}

/// Where a parameter's value lives.
#[derive(Clone, Copy)]
pub enum Store {
    /// Changes at run time: a live [`Setting`], its start-up value, and a hook run after a change
    /// (an error from it undoes the whole `CONFIG SET`).
    Live { setting: Setting, initial: fn(&Config) -> Value, hook: Option<Hook> },
    /// Changes at run time, kept by another part of the server: how to read and write it there.
    Elsewhere { get: fn(&Shared) -> Value, set: fn(&Shared, &Value) },
    /// Fixed at start: how `CONFIG SET` answers is the [`Fixed`].
    Fixed(fn(&Shared) -> String, Fixed),
}

/// How `CONFIG SET` answers for a parameter fixed at start.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fixed {
    /// Redis cannot change it either: "can't set immutable config".
    Immutable,
    /// Redis refuses it unless started with `enable-protected-configs`: "can't set protected config".
    Protected,
    /// Redis changes it at run time, TinyKV only at start: the value it already has is accepted
    /// (as a no-op, so setup scripts that state it pass), any other refused.
    AtStart,
}

/// Runs after a `CONFIG SET` stored new values, to make them take effect; `Err` is the reason the
/// change is refused (the old values are restored).
pub type Hook = fn(&Shared) -> Result<(), String>;

/// One parameter.
#[derive(Clone, Copy)]
pub struct Param {
    /// Its name, lower-case, as Redis spells it.
    pub name: &'static str,
    /// How values are read and printed.
    pub kind: Kind,
    /// Where the value lives.
    pub store: Store,
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A number, an enum index or flag bits (signed numbers stored as their two's complement).
    Number(u64),
    /// A string.
    Text(Bytes),
}

impl Value {
    /// The number (0 for text, which no numeric parameter holds).
    fn number(&self) -> u64 {
        match self {
            Value::Number(n) => *n,
            Value::Text(_) => 0,
        }
    }
}

const fn number(min: i64, max: i64) -> Kind {
    Kind::Number { memory: false, unsigned: false, min, max }
}

/// Redis's `INT_MAX`, the top of its `int` parameters.
const INT_MAX: i64 = i32::MAX as i64;
/// The smallest `proto-max-bulk-len` Redis accepts.
const MIN_BULK_LIMIT: i64 = 1024 * 1024;

/// Every parameter `CONFIG GET` knows, in the order it lists them.
pub static PARAMS: &[Param] = &[
    Param {
        name: "maxmemory",
        kind: Kind::Number { memory: true, unsigned: true, min: 0, max: -1 },
        store: Store::Live {
            setting: Setting::Maxmemory,
            initial: |c| Value::Number(c.maxmemory),
            hook: Some(warn_maxmemory),
        },
    },
    Param {
        name: "maxmemory-policy",
        kind: Kind::Enum(MAXMEMORY_POLICIES),
        store: Store::Elsewhere {
            get: |s| {
                let name = s.counters.tracking.policy().name();
                Value::Number(MAXMEMORY_POLICIES.iter().position(|p| *p == name).unwrap_or(0) as u64)
            },
            set: |s, value| {
                let name = MAXMEMORY_POLICIES.get(value.number() as usize).copied().unwrap_or("noeviction");
                s.counters.tracking.set_policy(MaxmemoryPolicy::from_name(name).unwrap_or(MaxmemoryPolicy::Noeviction));
            },
        },
    },
    Param {
        name: "maxmemory-samples",
        kind: number(1, INT_MAX),
        store: Store::Elsewhere {
            get: |s| Value::Number(s.counters.tracking.samples() as u64),
            set: |s, value| s.counters.tracking.set_samples(value.number() as u32),
        },
    },
    Param {
        name: "lfu-log-factor",
        kind: number(0, INT_MAX),
        store: Store::Elsewhere {
            get: |s| Value::Number(u64::from(s.counters.tracking.lfu_log_factor())),
            set: |s, value| s.counters.tracking.set_lfu_log_factor(value.number() as u32),
        },
    },
    Param {
        name: "lfu-decay-time",
        kind: number(0, INT_MAX),
        store: Store::Elsewhere {
            get: |s| Value::Number(u64::from(s.counters.tracking.lfu_decay_time())),
            set: |s, value| s.counters.tracking.set_lfu_decay_time(value.number() as u32),
        },
    },
    Param {
        name: "timeout",
        kind: number(0, INT_MAX),
        store: Store::Live { setting: Setting::Timeout, initial: |c| Value::Number(c.timeout), hook: None },
    },
    Param {
        name: "maxclients",
        kind: Kind::Number { memory: false, unsigned: true, min: 1, max: u32::MAX as i64 },
        store: Store::Live {
            setting: Setting::Maxclients,
            initial: |c| Value::Number(c.max_clients as u64),
            hook: Some(raise_file_limit),
        },
    },
    Param {
        name: "proto-max-bulk-len",
        // Redis's bounds (and errors); the hook refuses what passes TinyKV's own cap.
        kind: Kind::Number { memory: true, unsigned: false, min: MIN_BULK_LIMIT, max: i64::MAX },
        store: Store::Live {
            setting: Setting::ProtoMaxBulkLen,
            initial: |c| Value::Number(c.proto_max_bulk_len),
            hook: Some(cap_bulk_limit),
        },
    },
    Param {
        name: "requirepass",
        kind: Kind::Text,
        store: Store::Live {
            setting: Setting::Requirepass,
            initial: |c| Value::Text(c.requirepass.clone().map(Bytes::from).unwrap_or_default()),
            hook: None,
        },
    },
    Param {
        name: "appendfsync",
        kind: Kind::Enum(APPENDFSYNC),
        store: Store::Live {
            setting: Setting::Appendfsync,
            initial: |c| Value::Number(fsync_index(c.appendfsync)),
            hook: Some(apply_appendfsync),
        },
    },
    Param {
        name: "slowlog-log-slower-than",
        kind: number(-1, i64::MAX),
        store: Store::Live {
            setting: Setting::SlowlogLogSlowerThan,
            initial: |c| Value::Number(c.slowlog_log_slower_than as u64),
            hook: None,
        },
    },
    Param {
        name: "slowlog-max-len",
        kind: number(0, i64::MAX),
        store: Store::Live {
            setting: Setting::SlowlogMaxLen,
            initial: |c| Value::Number(c.slowlog_max_len),
            hook: Some(trim_slowlog),
        },
    },
    Param {
        name: "notify-keyspace-events",
        kind: Kind::KeyspaceEvents,
        store: Store::Live {
            setting: Setting::NotifyKeyspaceEvents,
            initial: |c| Value::Number(u64::from(c.notify_keyspace_events)),
            hook: None,
        },
    },
    // --- scripting ---
    Param {
        name: "busy-reply-threshold",
        kind: number(0, i64::MAX),
        store: Store::Live {
            setting: Setting::BusyReplyThreshold,
            initial: |c| Value::Number(c.busy_reply_threshold),
            hook: None,
        },
    },
    Param {
        name: "lua-time-limit",
        kind: number(0, i64::MAX),
        store: Store::Live {
            setting: Setting::BusyReplyThreshold,
            initial: |c| Value::Number(c.busy_reply_threshold),
            hook: None,
        },
    },
    Param { name: "bind", kind: Kind::Text, store: Store::Fixed(|s| s.config.bind.clone(), Fixed::AtStart) },
    Param { name: "port", kind: number(0, 65535), store: Store::Fixed(|s| s.port.to_string(), Fixed::AtStart) },
    Param {
        name: "databases",
        kind: number(1, INT_MAX),
        store: Store::Fixed(|s| s.config.databases.to_string(), Fixed::Immutable),
    },
    Param {
        name: "aof-use-rdb-preamble",
        kind: Kind::Enum(&["no", "yes"]),
        store: Store::Fixed(|s| if s.config.aof_use_rdb_preamble { "yes" } else { "no" }.to_owned(), Fixed::AtStart),
    },
    Param {
        name: "appendonly",
        kind: Kind::Enum(&["no", "yes"]),
        store: Store::Fixed(|s| if s.config.appendonly.is_some() { "yes" } else { "no" }.to_owned(), Fixed::AtStart),
    },
    Param {
        name: "save",
        kind: Kind::SaveRules,
        store: Store::Elsewhere {
            get: |s| {
                let rules: Vec<String> =
                    s.rdb.rules().iter().map(|rule| format!("{} {}", rule.seconds, rule.changes)).collect();
                Value::Text(Bytes::from(rules.join(" ")))
            },
            // Only text `parse` accepted arrives here.
            set: |s, value| {
                if let Value::Text(text) = value {
                    s.rdb.set_rules(parse_save_rules(&String::from_utf8_lossy(text)).unwrap_or_default());
                }
            },
        },
    },
    Param {
        name: "dir",
        kind: Kind::Text,
        // Absolute, as Redis reports its working directory.
        store: Store::Fixed(
            |s| std::fs::canonicalize(&s.config.dir).unwrap_or_else(|_| s.config.dir.clone()).display().to_string(),
            Fixed::Protected,
        ),
    },
    Param {
        name: "dbfilename",
        kind: Kind::Text,
        store: Store::Fixed(|s| s.config.dbfilename().to_owned(), Fixed::Protected),
    },
    Param {
        name: "rdbcompression",
        kind: Kind::Enum(&["no", "yes"]),
        store: Store::Fixed(|s| if s.config.rdbcompression { "yes" } else { "no" }.to_owned(), Fixed::AtStart),
    },
    Param {
        name: "rdbchecksum",
        kind: Kind::Enum(&["no", "yes"]),
        store: Store::Fixed(|s| if s.config.rdbchecksum { "yes" } else { "no" }.to_owned(), Fixed::Immutable),
    },
    Param {
        name: "enable-debug-command",
        kind: Kind::Enum(DEBUG_COMMAND),
        store: Store::Fixed(
            |s| {
                match s.config.enable_debug_command {
                    DebugCommandAccess::No => "no",
                    DebugCommandAccess::Yes => "yes",
                    DebugCommandAccess::Local => "local",
                }
                .to_owned()
            },
            Fixed::Immutable,
        ),
    },
    // --- client-output-buffer-limit ---
    Param {
        name: "client-output-buffer-limit",
        kind: Kind::OutputBufferLimits,
        store: Store::Elsewhere {
            get: |s| Value::Text(Bytes::from(s.pubsub.output_limits().describe())),
            // Only values `parse` accepted (or `get` printed) arrive here.
            set: |s, value| {
                if let Value::Text(text) = value {
                    if let Ok(changes) = output_limits::parse(text) {
                        s.pubsub.output_limits().apply(&changes);
                    }
                }
            },
        },
    },
];

fn fsync_index(fsync: AppendFsync) -> u64 {
    match fsync {
        AppendFsync::Everysec => 0,
        AppendFsync::Always => 1,
        AppendFsync::No => 2,
    }
}

/// The live values.
pub struct Settings {
    numbers: [AtomicU64; SETTINGS],
    texts: RwLock<[Bytes; SETTINGS]>,
}

impl Settings {
    /// The start-up values, from the command line.
    pub fn new(config: &Config) -> Settings {
        let settings = Settings { numbers: Default::default(), texts: RwLock::new(Default::default()) };
        for param in PARAMS {
            if let Store::Live { setting, initial, .. } = param.store {
                settings.store(setting, initial(config));
            }
        }
        settings
    }

    /// A numeric setting, as stored (one relaxed load).
    pub fn number(&self, setting: Setting) -> u64 {
        self.numbers[setting as usize].load(Ordering::Relaxed)
    }

    /// A text setting.
    pub fn text(&self, setting: Setting) -> Bytes {
        self.texts.read()[setting as usize].clone()
    }

    fn value(&self, setting: Setting, kind: Kind) -> Value {
        match kind {
            Kind::Text => Value::Text(self.text(setting)),
            _ => Value::Number(self.number(setting)),
        }
    }

    fn store(&self, setting: Setting, value: Value) {
        match value {
            Value::Number(n) => self.numbers[setting as usize].store(n, Ordering::Relaxed),
            Value::Text(text) => self.texts.write()[setting as usize] = text,
        }
    }

    /// `maxmemory` in bytes; 0 = no limit.
    pub fn maxmemory(&self) -> u64 {
        self.number(Setting::Maxmemory)
    }

    /// `timeout` in seconds; 0 = never.
    pub fn timeout(&self) -> u64 {
        self.number(Setting::Timeout)
    }

    /// `maxclients`.
    pub fn maxclients(&self) -> usize {
        self.number(Setting::Maxclients) as usize
    }

    /// `proto-max-bulk-len` in bytes.
    pub fn proto_max_bulk_len(&self) -> usize {
        self.number(Setting::ProtoMaxBulkLen) as usize
    }

    /// `slowlog-log-slower-than` in microseconds; negative = the slow log is off.
    pub fn slowlog_log_slower_than(&self) -> i64 {
        self.number(Setting::SlowlogLogSlowerThan) as i64
    }

    /// `notify-keyspace-events` as Redis's class bits ([`crate::keyspace_events::class`]).
    pub fn notify_keyspace_events(&self) -> u32 {
        self.number(Setting::NotifyKeyspaceEvents) as u32
    }

    // --- scripting ---
    /// `busy-reply-threshold` in milliseconds.
    pub fn busy_reply_threshold(&self) -> u64 {
        self.number(Setting::BusyReplyThreshold)
    }

    /// `slowlog-max-len`.
    pub fn slowlog_max_len(&self) -> usize {
        usize::try_from(self.number(Setting::SlowlogMaxLen)).unwrap_or(usize::MAX)
    }

    /// `appendfsync`.
    pub fn appendfsync(&self) -> AppendFsync {
        match self.number(Setting::Appendfsync) {
            1 => AppendFsync::Always,
            2 => AppendFsync::No,
            _ => AppendFsync::Everysec,
        }
    }

    /// The password of the default user, if one is set.
    pub fn requirepass(&self) -> Option<Bytes> {
        Some(self.text(Setting::Requirepass)).filter(|pass| !pass.is_empty())
    }

    /// Whether a client must authenticate: a password is set.
    pub fn requires_auth(&self) -> bool {
        !self.texts.read()[Setting::Requirepass as usize].is_empty()
    }
}

/// Finds a parameter by name, in any case.
fn find(name: &[u8]) -> Option<&'static Param> {
    PARAMS.iter().find(|param| param.name.as_bytes().eq_ignore_ascii_case(name))
}

/// A parameter's current value, as `CONFIG GET` prints it.
pub fn current(shared: &Shared, param: &Param) -> Bytes {
    match param.store {
        Store::Fixed(get, _) => Bytes::from(get(shared)),
        Store::Live { setting, .. } => format(param.kind, &shared.settings.value(setting, param.kind)),
        Store::Elsewhere { get, .. } => format(param.kind, &get(shared)),
    }
}

/// A changeable parameter's value now (`None` for one fixed at start).
fn read(shared: &Shared, param: &Param) -> Option<Value> {
    match param.store {
        Store::Live { setting, .. } => Some(shared.settings.value(setting, param.kind)),
        Store::Elsewhere { get, .. } => Some(get(shared)),
        Store::Fixed(..) => None,
    }
}

/// Stores a changeable parameter's value.
fn write(shared: &Shared, param: &Param, value: Value) {
    match param.store {
        Store::Live { setting, .. } => shared.settings.store(setting, value),
        Store::Elsewhere { set, .. } => set(shared, &value),
        Store::Fixed(..) => {}
    }
}

/// A value as `CONFIG GET` prints it.
fn format(kind: Kind, value: &Value) -> Bytes {
    match (kind, value) {
        (_, Value::Text(text)) => text.clone(),
        (Kind::Number { memory: true, unsigned: true, .. }, Value::Number(n)) => Bytes::from(n.to_string()),
        (Kind::Number { .. }, Value::Number(n)) => Bytes::from((*n as i64).to_string()),
        (Kind::Enum(names), Value::Number(n)) => {
            Bytes::from_static(names.get(*n as usize).copied().unwrap_or("").as_bytes())
        }
        (Kind::KeyspaceEvents, Value::Number(n)) => Bytes::from(keyspace_events_to_string(*n as u32)),
        (Kind::Text | Kind::OutputBufferLimits | Kind::SaveRules, Value::Number(n)) => Bytes::from(n.to_string()),
    }
}

/// `CONFIG GET pattern [pattern ...]`: every parameter named or matched (case-insensitively, glob
/// patterns as Redis's), each once, a map (a flat array in RESP2). A name without glob characters
/// is answered under the spelling it was asked with, as Redis does.
pub fn config_get(shared: &Shared, patterns: &[Bytes]) -> Reply {
    let mut found: Vec<(Bytes, &'static Param)> = Vec::new();
    let seen = |found: &[(Bytes, &Param)], param: &Param| found.iter().any(|(_, p)| p.name == param.name);
    for pattern in patterns {
        if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
            if let Some(param) = find(pattern).filter(|param| !seen(&found, param)) {
                found.push((pattern.clone(), param));
            }
            continue;
        }
        let pattern = pattern.to_ascii_lowercase();
        for param in PARAMS {
            if !seen(&found, param) && glob::matches(&pattern, param.name.as_bytes()) {
                found.push((Bytes::from_static(param.name.as_bytes()), param));
            }
        }
    }
    Reply::Map(
        found.into_iter().map(|(name, param)| (Reply::Bulk(name), Reply::Bulk(current(shared, param)))).collect(),
    )
}

/// Why a `CONFIG SET` was refused.
enum Refusal {
    /// No such parameter: `ERR Unknown option or number of arguments for CONFIG SET - '<name>'`.
    Unknown(Bytes),
    /// `ERR CONFIG SET failed (possibly related to argument '<name>') - <reason>`.
    Failed(String, String),
}

impl Refusal {
    fn reply(self) -> Reply {
        match self {
            Refusal::Unknown(name) => Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(&name)
            )),
            Refusal::Failed(name, reason) => {
                Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"))
            }
        }
    }
}

/// `CONFIG SET parameter value [parameter value ...]`, all or nothing, with Redis 7's checks in
/// Redis 7's order.
pub fn config_set(shared: &Shared, pairs: &[(Bytes, Bytes)]) -> Reply {
    match try_set(shared, pairs) {
        Ok(()) => Reply::ok(),
        Err(refusal) => refusal.reply(),
    }
}

fn try_set(shared: &Shared, pairs: &[(Bytes, Bytes)]) -> Result<(), Refusal> {
    // Names first: the first unknown, immutable or repeated one is the error.
    let mut chosen: Vec<(&'static Param, &Bytes)> = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        let Some(param) = find(name) else { return Err(Refusal::Unknown(name.clone())) };
        let typed = || String::from_utf8_lossy(name).into_owned();
        match param.store {
            Store::Fixed(_, Fixed::Immutable) => {
                return Err(Refusal::Failed(typed(), "can't set immutable config".to_owned()))
            }
            Store::Fixed(_, Fixed::Protected) => {
                return Err(Refusal::Failed(typed(), "can't set protected config".to_owned()))
            }
            _ => {}
        }
        if chosen.iter().any(|(p, _)| p.name == param.name) {
            return Err(Refusal::Failed(typed(), "duplicate parameter".to_owned()));
        }
        chosen.push((param, value));
    }
    // Then every value.
    let mut parsed = Vec::with_capacity(chosen.len());
    for (param, text) in &chosen {
        let value = parse(param.kind, text).map_err(|reason| Refusal::Failed(param.name.to_owned(), reason))?;
        if let Store::Fixed(get, _) = param.store {
            // Fixed at start: its own value again is a no-op, anything else is refused.
            if format(param.kind, &value) != get(shared).as_bytes() {
                let reason = format!("TinyKV sets it at start only (--{})", param.name);
                return Err(Refusal::Failed(param.name.to_owned(), reason));
            }
            continue;
        }
        parsed.push((*param, value));
    }
    // Store them all, then make them take effect; a hook's refusal puts every old value back.
    let old: Vec<Option<Value>> = parsed.iter().map(|(param, _)| read(shared, param)).collect();
    let mut hooks: Vec<(&'static str, Hook)> = Vec::new();
    for ((param, value), before) in parsed.iter().zip(&old) {
        let changed = before.as_ref() != Some(value);
        write(shared, param, value.clone());
        if let Store::Live { hook: Some(hook), .. } = param.store {
            if changed && !hooks.iter().any(|(_, h)| *h as usize == hook as usize) {
                hooks.push((param.name, hook));
            }
        }
    }
    for (name, hook) in &hooks {
        if let Err(reason) = hook(shared) {
            tracing::warn!(parameter = name, %reason, "CONFIG SET refused; restoring the previous settings");
            for ((param, _), value) in parsed.iter().zip(old) {
                if let Some(value) = value {
                    write(shared, param, value);
                }
            }
            for (_, hook) in &hooks {
                let _ = hook(shared);
            }
            return Err(Refusal::Failed((*name).to_owned(), reason));
        }
    }
    Ok(())
}

/// `CONFIG SET save`'s value read as Redis 7.0 reads it, as the rules' text: "" for none, else
/// words split at each single space (so an empty word reads as 0, as `strtoll` reads it), in
/// `<seconds> <changes>` pairs, seconds at least 1 and changes at least 0.
fn save_rules_from(text: &[u8]) -> Option<String> {
    if text.is_empty() {
        return Some(String::new());
    }
    let words: Vec<&[u8]> = text.split(|&b| b == b' ').collect();
    let numbers = words.iter().map(|word| strtoll(word));
    let numbers: Vec<i64> = numbers.collect::<Option<_>>()?;
    let valid = numbers.len() % 2 == 0 && numbers.chunks(2).all(|pair| pair[0] >= 1 && pair[1] >= 0);
    valid.then(|| numbers.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
}

/// A word as C's `strtoll` reads a whole one in base 10, as Redis reads `save`'s: leading
/// whitespace, a sign, digits and nothing after (an empty word is 0); past `i64` it clamps.
fn strtoll(word: &[u8]) -> Option<i64> {
    if word.is_empty() {
        return Some(0);
    }
    let start = word.iter().position(|b| !b" \t\n\x0b\x0c\r".contains(b)).unwrap_or(word.len());
    let (negative, digits) = match &word[start..] {
        [b'-', digits @ ..] => (true, digits),
        [b'+', digits @ ..] => (false, digits),
        digits => (false, digits),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i128, |n, d| (n * 10 + i128::from(d - b'0')).min(1 << 64));
    let value = if negative { -magnitude } else { magnitude };
    Some(value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Reads a `CONFIG SET` value as Redis reads one of this kind, or the reason it is refused.
fn parse(kind: Kind, text: &[u8]) -> Result<Value, String> {
    match kind {
        Kind::Text => Ok(Value::Text(Bytes::copy_from_slice(text))),
        Kind::Enum(names) => names
            .iter()
            .position(|name| name.as_bytes().eq_ignore_ascii_case(text))
            .map(|i| Value::Number(i as u64))
            .ok_or_else(|| format!("argument(s) must be one of the following: {}", names.join(", "))),
        Kind::SaveRules => save_rules_from(text)
            .map(|rules| Value::Text(Bytes::from(rules)))
            .ok_or_else(|| "Invalid save parameters".to_owned()),
        Kind::OutputBufferLimits => {
            output_limits::parse(text).map(|_| Value::Text(Bytes::copy_from_slice(text))).map_err(str::to_owned)
        }
        Kind::KeyspaceEvents => keyspace_events_from(text)
            .map(|flags| Value::Number(u64::from(flags)))
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_owned()),
        Kind::Number { memory, unsigned, min, max } => {
            let n = if memory {
                memtoull(text).ok_or_else(|| "argument must be a memory value".to_owned())?
            } else {
                tinykv_proto::command::parse_integer(text)
                    .map_err(|_| "argument couldn't be parsed into an integer".to_owned())? as u64
            };
            let in_range =
                if unsigned { n >= min as u64 && n <= max as u64 } else { n as i64 >= min && n as i64 <= max };
            if !in_range {
                return Err(if unsigned {
                    format!("argument must be between {} and {} inclusive", min as u64, max as u64)
                } else {
                    format!("argument must be between {min} and {max} inclusive")
                });
            }
            Ok(Value::Number(n))
        }
    }
}

/// Redis's `memtoull`: digits and an optional unit (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, any case).
/// As in Redis, no digits reads as 0, a number past 2^64 saturates, the product wraps, and 128 digits
/// or more (past its buffer) are refused.
pub fn memtoull(text: &[u8]) -> Option<u64> {
    /// The size of Redis's digit buffer: this many digits do not fit with the terminating NUL.
    const MEMTOULL_DIGITS: usize = 128;
    if text.first() == Some(&b'-') {
        return None;
    }
    let split = text.iter().position(|b| !b.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.len() >= MEMTOULL_DIGITS {
        return None;
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1_000,
        b"kb" => 1 << 10,
        b"m" => 1_000_000,
        b"mb" => 1 << 20,
        b"g" => 1_000_000_000,
        b"gb" => 1 << 30,
        _ => return None,
    };
    let value = digits.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    Some(value.unwrap_or(u64::MAX).wrapping_mul(multiplier))
}

/// Keyspace event classes: Redis's flag bit of each class character.
const EVENT_CLASSES: &[(u8, u32)] = &[
    (b'K', class::KEYSPACE),
    (b'E', class::KEYEVENT),
    (b'g', class::GENERIC),
    (b'$', class::STRING),
    (b'l', class::LIST),
    (b's', class::SET),
    (b'h', class::HASH),
    (b'z', class::ZSET),
    (b'x', class::EXPIRED),
    (b'e', class::EVICTED),
    (b't', class::STREAM),
    (b'm', class::KEY_MISS),
    (b'd', class::MODULE),
    (b'n', class::NEW),
];

/// Redis's `keyspaceEventsStringToFlags`: `None` for a character that names no class.
pub fn keyspace_events_from(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0, |flags, &c| match c {
        b'A' => Some(flags | class::ALL),
        _ => EVENT_CLASSES.iter().find(|(name, _)| *name == c).map(|(_, bit)| flags | bit),
    })
}

/// Redis's `keyspaceEventsFlagsToString`: the classes in Redis's canonical order (`AKE`, `g$xK`).
pub fn keyspace_events_to_string(flags: u32) -> String {
    let mut text = String::new();
    if flags & class::ALL == class::ALL {
        text.push('A');
    } else {
        for c in "g$lshzxetdn".chars() {
            if EVENT_CLASSES.iter().any(|(name, bit)| *name == c as u8 && flags & bit != 0) {
                text.push(c);
            }
        }
    }
    for c in "KEm".chars() {
        if EVENT_CLASSES.iter().any(|(name, bit)| *name == c as u8 && flags & bit != 0) {
            text.push(c);
        }
    }
    text
}

// ---- hooks ---------------------------------------------------------------------------------------

/// Redis warns when the new limit is below what is already used (eviction, if any, does the rest).
fn warn_maxmemory(shared: &Shared) -> Result<(), String> {
    let maxmemory = shared.settings.maxmemory();
    let used = shared.used_memory() as u64;
    if maxmemory > 0 && used > maxmemory {
        tracing::warn!(maxmemory, used, "the new maxmemory is smaller than the memory already used");
    }
    Ok(())
}

/// Open files the server needs beside its clients: the listener, the log, the append-only file and a margin.
const RESERVED_FDS: u64 = 32;

/// Raises the open-file limit so `maxclients` connections fit, or refuses as Redis does when the
/// system will not allow it.
fn raise_file_limit(shared: &Shared) -> Result<(), String> {
    let wanted = shared.settings.maxclients() as u64 + RESERVED_FDS;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit >= wanted => Ok(()),
        Ok(limit) => Err(format!(
            "The operating system is not able to handle the specified number of clients, try with {}",
            limit.saturating_sub(RESERVED_FDS)
        )),
        Err(err) => Err(format!("The operating system is not able to handle the specified number of clients ({err})")),
    }
}

/// TinyKV's requests hold bulk strings of at most 512 MiB (Redis allows more).
fn cap_bulk_limit(shared: &Shared) -> Result<(), String> {
    let cap = tinykv_proto::Limits::DEFAULT_MAX_BULK;
    if shared.settings.proto_max_bulk_len() > cap {
        return Err(format!("TinyKV caps bulk strings at {cap} bytes"));
    }
    Ok(())
}

/// The append-only file (if any) fsyncs with the new policy from its next write on.
fn apply_appendfsync(shared: &Shared) -> Result<(), String> {
    if let Some(aof) = &shared.aof {
        aof.set_fsync_policy(shared.settings.appendfsync());
    }
    Ok(())
}

/// A shorter slow log drops its oldest entries at once (Redis trims at its next command, which is
/// this `CONFIG SET` itself).
fn trim_slowlog(shared: &Shared) -> Result<(), String> {
    if shared.settings.slowlog_log_slower_than() >= 0 {
        shared.slowlog.trim(shared.settings.slowlog_max_len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_in_table_order() {
        // Every live setting has exactly one row (besides Redis's old names for it).
        const ALIASES: &[&str] = &["lua-time-limit"];
        for i in 0..SETTINGS {
            let rows = PARAMS
                .iter()
                .filter(|p| !ALIASES.contains(&p.name))
                .filter(|p| matches!(p.store, Store::Live { setting, .. } if setting as usize == i))
                .count();
            assert_eq!(rows, 1, "setting {i}");
        }
    }

    #[test]
    fn memory_values_read_as_redis_memtoull() {
        assert_eq!(memtoull(b"1KB"), Some(1024));
        assert_eq!(memtoull(b"1k"), Some(1000));
        assert_eq!(memtoull(b"kb"), Some(0));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"99999999999999999999"), Some(u64::MAX));
        assert_eq!(memtoull(b"17179869184gb"), Some(0));
        assert_eq!(memtoull(&[b'1'; 127]), Some(u64::MAX));
        assert_eq!(memtoull(&[b'0'; 128]), None);
        for bad in [&b"-1"[..], b" 5", b"5 ", b"+5", b"1.5mb", b"0x10"] {
            assert_eq!(memtoull(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keyspace_events_round_trip_in_redis_order() {
        let flags = |s: &str| keyspace_events_from(s.as_bytes()).unwrap();
        assert_eq!(keyspace_events_to_string(flags("KEA")), "AKE");
        assert_eq!(keyspace_events_to_string(flags("gxK$")), "g$xK");
        assert_eq!(keyspace_events_to_string(flags("")), "");
        assert_eq!(keyspace_events_from(b"q"), None);
    }

    #[test]
    fn numbers_are_bounded_as_redis_bounds_them() {
        let maxclients = find(b"maxclients").unwrap().kind;
        assert_eq!(parse(maxclients, b"-1").unwrap_err(), "argument must be between 1 and 4294967295 inclusive");
        let timeout = find(b"timeout").unwrap().kind;
        assert_eq!(parse(timeout, b"x").unwrap_err(), "argument couldn't be parsed into an integer");
        assert_eq!(parse(timeout, b"-1").unwrap_err(), "argument must be between 0 and 2147483647 inclusive");
        let maxmemory = find(b"maxmemory").unwrap().kind;
        assert_eq!(parse(maxmemory, b"18446744073709551615"), Ok(Value::Number(u64::MAX)));
        assert_eq!(parse(maxmemory, b"-1").unwrap_err(), "argument must be a memory value");
    }
}
