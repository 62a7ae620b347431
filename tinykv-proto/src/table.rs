//! The one table of every command TinyKV knows.
//!
//! Each row carries the command's parser, so a command cannot be in the table without one, and the
//! table is the only place a command name is matched. The server checks arity and flags against it
//! and answers `COMMAND` from it; the CLI completes command names, shows argument hints and prints
//! `help` from it. Adding a command is one row here, one parser in [`crate::parse`], one variant
//! of [`Command`], and one function in the server's family file.

use std::sync::OnceLock;

use crate::command::{Args, Command};
use crate::parse;
use crate::parse_sort;
use crate::parse_zset;
use crate::CommandError;

/// Turns a command's arguments (after its name, and after the subcommand's for a subcommand) into a
/// [`Command`], or the error Redis gives for them.
pub type Parser = fn(&mut Args) -> Result<Command, CommandError>;

/// One of Redis's command flags, as `COMMAND INFO` names them; the server's gates read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Flag {
    /// Changes the data set: logged to the append-only file, refused on a read-only replica.
    Write,
    /// Only reads the data set.
    ReadOnly,
    /// May grow memory: refused over `--maxmemory` when nothing can be evicted.
    DenyOom,
    /// An administrative command.
    Admin,
    /// A pub/sub command.
    PubSub,
    /// Not allowed from a script.
    NoScript,
    /// May block the client.
    Blocking,
    /// Allowed while the data set loads.
    Loading,
    /// Allowed on a replica with stale data.
    Stale,
    /// Not shown by `MONITOR`.
    SkipMonitor,
    /// Not recorded in the slow log.
    SkipSlowlog,
    /// Constant or O(log n) time.
    Fast,
    /// Allowed before `AUTH`.
    NoAuth,
    /// May replicate even though it does not write.
    MayReplicate,
    /// Not allowed inside `MULTI`.
    NoMulti,
    /// Allowed while a script runs too long (the server answers `BUSY` to the rest).
    AllowBusy,
    /// Refused unless a start-up option allows it (`DEBUG` and `--enable-debug-command`). Redis keeps
    /// this flag out of `COMMAND INFO`, so it is not in [`Flag::ALL`].
    Protected,
}

impl Flag {
    /// Every flag, in the order `COMMAND INFO` lists them (Redis's order).
    const ALL: [Flag; 16] = [
        Flag::Write,
        Flag::ReadOnly,
        Flag::DenyOom,
        Flag::Admin,
        Flag::PubSub,
        Flag::NoScript,
        Flag::Blocking,
        Flag::Loading,
        Flag::Stale,
        Flag::SkipMonitor,
        Flag::SkipSlowlog,
        Flag::Fast,
        Flag::NoAuth,
        Flag::MayReplicate,
        Flag::NoMulti,
        Flag::AllowBusy,
    ];

    /// The name `COMMAND INFO` gives the flag.
    pub const fn name(self) -> &'static str {
        match self {
            Flag::Write => "write",
            Flag::ReadOnly => "readonly",
            Flag::DenyOom => "denyoom",
            Flag::Admin => "admin",
            Flag::PubSub => "pubsub",
            Flag::NoScript => "noscript",
            Flag::Blocking => "blocking",
            Flag::Loading => "loading",
            Flag::Stale => "stale",
            Flag::SkipMonitor => "skip_monitor",
            Flag::SkipSlowlog => "skip_slowlog",
            Flag::Fast => "fast",
            Flag::NoAuth => "no_auth",
            Flag::MayReplicate => "may_replicate",
            Flag::NoMulti => "no_multi",
            Flag::AllowBusy => "allow_busy",
            Flag::Protected => "protected",
        }
    }
}

/// A set of [`Flag`]s: one word, so a gate's check is one AND on the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u32);

impl Flags {
    /// The set of the flags listed.
    pub const fn of(flags: &[Flag]) -> Flags {
        let mut bits = 0;
        let mut i = 0;
        while i < flags.len() {
            bits |= 1 << flags[i] as u8;
            i += 1;
        }
        Flags(bits)
    }

    /// Whether `flag` is in the set.
    pub const fn has(self, flag: Flag) -> bool {
        self.0 & (1 << flag as u8) != 0
    }

    /// The flags in the set, in `COMMAND INFO` order.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.into_iter().filter(move |&flag| self.has(flag))
    }
}

/// What a command looks like from outside (enough for arity checks, `COMMAND INFO`/`DOCS`, and the
/// CLI's completion, hints and help) and the parser that turns its arguments into a [`Command`].
#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Upper-case name, e.g. `"SET"`; for a subcommand, just the subcommand (`"SETNAME"`).
    pub name: &'static str,
    /// Redis's arity convention: `n` means exactly `n` words (name included), `-n` at least `n`.
    pub arity: i64,
    /// Parses the arguments; for a container command, finds the subcommand and runs its parser.
    pub parse: Parser,
    /// The arguments after the name, in Redis's documentation syntax; the CLI's hint.
    pub args: &'static str,
    /// One line on what the command is for.
    pub summary: &'static str,
    /// Redis's command group (`string`, `generic`, `connection`, `server`).
    pub group: &'static str,
    /// Redis's flags, for the gates and `COMMAND INFO`.
    pub flags: Flags,
    /// Key positions for `COMMAND INFO` and the append-only file: first key, last key (negative
    /// counts from the end), step.
    pub keys: (i64, i64, i64),
    /// The Redis version that introduced the command, for `COMMAND DOCS`.
    pub since: &'static str,
    /// Subcommands of a container command (`CLIENT`, `CONFIG`, `COMMAND`); empty otherwise.
    pub subcommands: &'static [CommandSpec],
}

impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSpec").field("name", &self.name).field("arity", &self.arity).finish_non_exhaustive()
    }
}

impl PartialEq for CommandSpec {
    /// Rows are unique by name within their list, and two rows are only compared from the same list.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.arity == other.arity && self.group == other.group
    }
}

impl CommandSpec {
    /// Whether `words` (name included) is a valid number of words for this command.
    pub fn arity_ok(&self, words: usize) -> bool {
        let words = words as i64;
        if self.arity >= 0 {
            words == self.arity
        } else {
            words >= -self.arity
        }
    }

    /// The subcommand named `name` (any case).
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.subcommands.iter().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The lower-case name Redis uses in error texts: `get`, or `client|setname` for a subcommand.
    pub fn full_name(&self, parent: Option<&CommandSpec>) -> String {
        match parent {
            Some(parent) => format!("{}|{}", parent.name, self.name).to_ascii_lowercase(),
            None => self.name.to_ascii_lowercase(),
        }
    }

    /// Whether the command has `flag`.
    pub fn has(&self, flag: Flag) -> bool {
        self.flags.has(flag)
    }
}

/// Longest command name the lookup map holds; anything longer is unknown without hashing it.
const MAX_NAME: usize = 32;

/// A command name of at most 8 bytes as one little-endian word with every byte `| 0x20`: letters
/// fold to lower case, the unused bytes stay 0. For a table name made of letters only, two names
/// match in any case exactly when their words are equal, so most lookups (GET, SET, HSET...) compare
/// one word instead of a byte loop. `None` for longer names.
fn folded_word(name: &[u8]) -> Option<u64> {
    let mut word = [0u8; 8];
    word.get_mut(..name.len())?.copy_from_slice(name);
    let fold = if name.is_empty() { 0 } else { 0x2020_2020_2020_2020u64 >> (8 * (8 - name.len())) };
    Some(u64::from_le_bytes(word) | fold)
}

/// A hash of a command name that ignores ASCII case (`| 0x20` folds letters; other bytes may
/// collide, which the comparison after the probe settles): a multiply of the [`folded_word`] for
/// short names, FNV-1a over the folded bytes for longer ones, so a lookup needs neither an
/// upper-cased copy of the name nor a general-purpose hasher.
fn name_hash(name: &[u8], word: Option<u64>) -> usize {
    if let Some(word) = word {
        return (word.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in name {
        hash = (hash ^ u64::from(byte | 0x20)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash ^ (hash >> 32)) as usize
}

/// Every command and subcommand numbered once, so the server can keep a counter per command in a
/// plain array (`INFO commandstats`) and find it without hashing a name twice: top-level commands
/// are numbered by their position in [`COMMANDS`], and each container's subcommands follow all of
/// them, in the container's order.
struct Index {
    /// An open-addressed table of top-level numbers plus one (0: empty), probed linearly from
    /// [`name_hash`]; a quarter full at most, so a probe ends within a step or two. For [`lookup`].
    by_name: Vec<u16>,
    /// For each top-level number, its name's [`folded_word`] when the name is letters only and at
    /// most 8 bytes (then word equality is a case-insensitive match), else `None`.
    words: Vec<Option<u64>>,
    /// For each top-level number, the number of its first subcommand.
    first_sub: Vec<usize>,
    /// Number -> the lower-case full name (`get`, `client|list`), as Redis's stats name it.
    names: Vec<String>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_name = vec![0u16; (COMMANDS.len() * 4).next_power_of_two()];
        let mask = by_name.len() - 1;
        for (number, spec) in COMMANDS.iter().enumerate() {
            let name = spec.name.as_bytes();
            let mut at = name_hash(name, folded_word(name)) & mask;
            while by_name[at] != 0 {
                at = (at + 1) & mask;
            }
            by_name[at] = u16::try_from(number + 1).expect("fewer than 65,535 commands");
        }
        let mut names: Vec<String> = COMMANDS.iter().map(|spec| spec.full_name(None)).collect();
        let mut first_sub = Vec::with_capacity(COMMANDS.len());
        for spec in COMMANDS {
            first_sub.push(names.len());
            names.extend(spec.subcommands.iter().map(|sub| sub.full_name(Some(spec))));
        }
        let words = COMMANDS
            .iter()
            .map(|spec| {
                folded_word(spec.name.as_bytes()).filter(|_| spec.name.bytes().all(|b| b.is_ascii_alphabetic()))
            })
            .collect();
        Index { by_name, words, first_sub, names }
    })
}

/// Looks up a command by name, in any case, without allocating: one hash of the upper-cased name.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    lookup_numbered(name).map(|(_, spec)| spec)
}

/// [`lookup`], with the command's number (see [`command_count`]).
pub fn lookup_numbered(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    if name.len() > MAX_NAME {
        return None;
    }
    let index = index();
    let mask = index.by_name.len() - 1;
    let word = folded_word(name);
    let mut at = name_hash(name, word) & mask;
    loop {
        let number = usize::from(index.by_name[at]).checked_sub(1)?;
        let spec = &COMMANDS[number];
        let matches = match (word, index.words[number]) {
            (Some(word), Some(table_word)) => word == table_word,
            // Table names are upper case: one comparison a byte.
            _ => {
                spec.name.len() == name.len()
                    && spec.name.bytes().zip(name).all(|(upper, &b)| upper == b.to_ascii_uppercase())
            }
        };
        if matches {
            return Some((number, spec));
        }
        at = (at + 1) & mask;
    }
}

/// The subcommand `name` (any case) of the container numbered `number`, with its own number.
pub fn subcommand_numbered(number: usize, name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    let parent = COMMANDS.get(number)?;
    let position = parent.subcommands.iter().position(|sub| sub.name.as_bytes().eq_ignore_ascii_case(name))?;
    Some((index().first_sub[number] + position, &parent.subcommands[position]))
}

/// How many numbers [`lookup_numbered`] and [`subcommand_numbered`] hand out: commands plus subcommands.
pub fn command_count() -> usize {
    index().names.len()
}

/// The lower-case full name of the command numbered `number` (`get`, `client|list`), as
/// `INFO commandstats` and `CLIENT LIST` print it.
pub fn numbered_name(number: usize) -> &'static str {
    index().names.get(number).map_or("", String::as_str)
}

#[allow(clippy::too_many_arguments)] // a positional row per command keeps the table readable
const fn spec(
    name: &'static str,
    arity: i64,
    parse: Parser,
    args: &'static str,
    summary: &'static str,
    group: &'static str,
    flags: Flags,
    keys: (i64, i64, i64),
    since: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, parse, args, summary, group, flags, keys, since, subcommands: &[] }
}

const NO_KEYS: (i64, i64, i64) = (0, 0, 0);
const ONE_KEY: (i64, i64, i64) = (1, 1, 1);
const ALL_KEYS: (i64, i64, i64) = (1, -1, 1);
const TWO_KEYS: (i64, i64, i64) = (1, 2, 1);
const WRITE: Flags = Flags::of(&[Flag::Write, Flag::DenyOom]);
const WRITE_FAST: Flags = Flags::of(&[Flag::Write, Flag::DenyOom, Flag::Fast]);
const DELETE: Flags = Flags::of(&[Flag::Write]);
const DELETE_FAST: Flags = Flags::of(&[Flag::Write, Flag::Fast]);
const READ: Flags = Flags::of(&[Flag::ReadOnly]);
const READ_FAST: Flags = Flags::of(&[Flag::ReadOnly, Flag::Fast]);
const CONN: Flags = Flags::of(&[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Fast]);
const CONN_NOAUTH: Flags = Flags::of(&[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Fast, Flag::NoAuth]);
const ADMIN: Flags = Flags::of(&[Flag::Admin, Flag::NoScript, Flag::Loading, Flag::Stale]);
const INTROSPECT: Flags = Flags::of(&[Flag::Loading, Flag::Stale]);
const CONTAINER: Flags = Flags::of(&[]);
const TRANSACTION: Flags = Flags::of(&[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Fast]);
const TRANSACTION_SLOW: Flags = Flags::of(&[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::SkipSlowlog]);
const CONN_SLOW: Flags = Flags::of(&[Flag::NoScript, Flag::Loading, Flag::Stale]);
const CONN_ADMIN: Flags = Flags::of(&[Flag::Admin, Flag::NoScript, Flag::Loading, Flag::Stale]);
const SERVER_FAST: Flags = Flags::of(&[Flag::Loading, Flag::Stale, Flag::Fast]);
const SLOWLOG_FLAGS: Flags = Flags::of(&[Flag::Admin, Flag::Loading, Flag::Stale]);
/// `SUBSCRIBE` and its kin: they change what the connection is, so not from a script.
const SUBSCRIBE: Flags = Flags::of(&[Flag::PubSub, Flag::NoScript, Flag::Loading, Flag::Stale]);
/// `PUBLISH`: replicated in Redis, so `CLIENT PAUSE WRITE` holds it back.
const PUBLISH: Flags = Flags::of(&[Flag::PubSub, Flag::Loading, Flag::Stale, Flag::Fast, Flag::MayReplicate]);
const PUBSUB_INFO: Flags = Flags::of(&[Flag::PubSub, Flag::Loading, Flag::Stale]);
const RESET: Flags =
    Flags::of(&[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Fast, Flag::NoAuth, Flag::AllowBusy]);
// --- lists ---
const LIST_MPOP: Flags = Flags::of(&[Flag::Write]);
const LIST_BLOCKING_POP: Flags = Flags::of(&[Flag::Write, Flag::NoScript, Flag::Blocking]);
const LIST_BLOCKING_MOVE: Flags = Flags::of(&[Flag::Write, Flag::DenyOom, Flag::NoScript, Flag::Blocking]);
const LIST_BLOCKING_MPOP: Flags = Flags::of(&[Flag::Write, Flag::Blocking]);
const BLOCKING_KEYS: (i64, i64, i64) = (1, -2, 1);
// --- replication ---
const REPL_SYNC: Flags = Flags::of(&[Flag::Admin, Flag::NoScript, Flag::NoMulti]);
const REPL_OF: Flags = Flags::of(&[Flag::Admin, Flag::NoScript, Flag::Stale]);
const DEBUG_FLAGS: Flags = Flags::of(&[Flag::Admin, Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Protected]);

/// Subcommands, for the container's parser.
pub(crate) const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "ID",
        2,
        parse::client_id,
        "",
        "Returns the unique client ID of the connection.",
        "connection",
        CONN,
        NO_KEYS,
        "5.0.0",
    ),
    spec(
        "GETNAME",
        2,
        parse::client_getname,
        "",
        "Returns the name of the connection.",
        "connection",
        CONN,
        NO_KEYS,
        "2.6.9",
    ),
    spec(
        "SETNAME",
        3,
        parse::client_setname,
        "connection-name",
        "Sets the connection name.",
        "connection",
        CONN,
        NO_KEYS,
        "2.6.9",
    ),
    spec(
        "SETINFO",
        4,
        parse::client_setinfo,
        "LIB-NAME libname|LIB-VER libver",
        "Sets information specific to the client or connection.",
        "connection",
        CONN,
        NO_KEYS,
        "7.2.0",
    ),
    spec(
        "HELP",
        2,
        parse::client_help,
        "",
        "Returns helpful text about the different subcommands.",
        "connection",
        CONN,
        NO_KEYS,
        "5.0.0",
    ),
    spec(
        "INFO",
        2,
        parse::client_info,
        "",
        "Returns information about the connection.",
        "connection",
        CONN_SLOW,
        NO_KEYS,
        "6.2.0",
    ),
    spec(
        "LIST",
        -2,
        parse::client_list,
        "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id]",
        "Lists open connections.",
        "connection",
        CONN_ADMIN,
        NO_KEYS,
        "2.4.0",
    ),
    spec(
        "KILL",
        -3,
        parse::client_kill,
        "ip:port|[ID client-id] [TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES|NO]",
        "Terminates open connections.",
        "connection",
        CONN_ADMIN,
        NO_KEYS,
        "2.4.0",
    ),
    spec(
        "NO-EVICT",
        3,
        parse::client_no_evict,
        "ON|OFF",
        "Sets the client eviction mode of the connection.",
        "connection",
        CONN_ADMIN,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "NO-TOUCH",
        3,
        parse::client_no_touch,
        "ON|OFF",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        "connection",
        CONN_SLOW,
        NO_KEYS,
        "7.2.0",
    ),
    spec(
        "REPLY",
        3,
        parse::client_reply,
        "ON|OFF|SKIP",
        "Instructs the server whether to reply to commands.",
        "connection",
        CONN_SLOW,
        NO_KEYS,
        "3.2.0",
    ),
    spec(
        "PAUSE",
        -3,
        parse::client_pause,
        "timeout [WRITE|ALL]",
        "Suspends commands processing.",
        "connection",
        CONN_ADMIN,
        NO_KEYS,
        "3.0.0",
    ),
    spec(
        "UNPAUSE",
        2,
        parse::client_unpause,
        "",
        "Resumes processing commands from paused clients.",
        "connection",
        CONN_ADMIN,
        NO_KEYS,
        "6.2.0",
    ),
    // --- lists ---
    spec(
        "UNBLOCK",
        -3,
        parse::client_unblock,
        "client-id [TIMEOUT|ERROR]",
        "Unblock a client blocked in a blocking command from a different connection",
        "connection",
        CONN_ADMIN,
        NO_KEYS,
        "5.0.0",
    ),
];

/// Subcommands, for the container's parser.
pub(crate) const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "GET",
        -3,
        parse::config_get,
        "parameter [parameter ...]",
        "Returns the effective values of configuration parameters.",
        "server",
        ADMIN,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "HELP",
        2,
        parse::config_help,
        "",
        "Returns helpful text about the different subcommands.",
        "server",
        ADMIN,
        NO_KEYS,
        "5.0.0",
    ),
    spec(
        "SET",
        -4,
        parse::config_set,
        "parameter value [parameter value ...]",
        "Sets configuration parameters in-flight.",
        "server",
        ADMIN,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "RESETSTAT",
        2,
        parse::config_resetstat,
        "",
        "Resets the server's statistics.",
        "server",
        ADMIN,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "REWRITE",
        2,
        parse::config_rewrite,
        "",
        "Persists the effective configuration to file.",
        "server",
        ADMIN,
        NO_KEYS,
        "2.8.0",
    ),
];

/// Subcommands, for the container's parser.
pub(crate) const SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "GET",
        -2,
        parse::slowlog_get,
        "[count]",
        "Returns the slow log's entries.",
        "server",
        SLOWLOG_FLAGS,
        NO_KEYS,
        "2.2.12",
    ),
    spec(
        "LEN",
        2,
        parse::slowlog_len,
        "",
        "Returns the number of entries in the slow log.",
        "server",
        SLOWLOG_FLAGS,
        NO_KEYS,
        "2.2.12",
    ),
    spec(
        "RESET",
        2,
        parse::slowlog_reset,
        "",
        "Clears all entries from the slow log.",
        "server",
        SLOWLOG_FLAGS,
        NO_KEYS,
        "2.2.12",
    ),
    spec(
        "HELP",
        2,
        parse::slowlog_help,
        "",
        "Show helpful text about the different subcommands",
        "server",
        INTROSPECT,
        NO_KEYS,
        "6.2.0",
    ),
];

/// Read-only, keyed by the argument after the subcommand: `OBJECT ENCODING key`, `MEMORY USAGE key`.
const SUB_KEY: (i64, i64, i64) = (2, 2, 1);
/// `OBJECT HELP` and `MEMORY HELP`, as Redis flags them.
const HELP: Flags = Flags::of(&[Flag::Loading, Flag::Stale]);

/// Subcommands, for the container's parser.
pub(crate) const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "ENCODING",
        3,
        parse::object_encoding,
        "key",
        "Returns the internal encoding of a Redis object.",
        "generic",
        READ,
        SUB_KEY,
        "2.2.3",
    ),
    spec(
        "FREQ",
        3,
        parse::object_freq,
        "key",
        "Returns the logarithmic access frequency counter of a Redis object.",
        "generic",
        READ,
        SUB_KEY,
        "4.0.0",
    ),
    spec(
        "IDLETIME",
        3,
        parse::object_idletime,
        "key",
        "Returns the time since the last access to a Redis object.",
        "generic",
        READ,
        SUB_KEY,
        "2.2.3",
    ),
    spec(
        "REFCOUNT",
        3,
        parse::object_refcount,
        "key",
        "Returns the reference count of a value of a key.",
        "generic",
        READ,
        SUB_KEY,
        "2.2.3",
    ),
    spec(
        "HELP",
        2,
        parse::object_help,
        "",
        "Returns helpful text about the different subcommands.",
        "generic",
        HELP,
        NO_KEYS,
        "6.2.0",
    ),
];

/// Subcommands, for the container's parser.
pub(crate) const MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "USAGE",
        -3,
        parse::memory_usage,
        "key [SAMPLES count]",
        "Estimates the memory usage of a key.",
        "server",
        READ,
        SUB_KEY,
        "4.0.0",
    ),
    spec(
        "HELP",
        2,
        parse::memory_help,
        "",
        "Returns helpful text about the different subcommands.",
        "server",
        HELP,
        NO_KEYS,
        "4.0.0",
    ),
];

/// Subcommands, for the container's parser.
pub(crate) const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    spec("COUNT", 2, parse::command_count, "", "Returns a count of commands.", "server", CONN, NO_KEYS, "2.8.13"),
    spec(
        "DOCS",
        -2,
        parse::command_docs,
        "[command-name [command-name ...]]",
        "Returns documentary information about one, multiple or all commands.",
        "server",
        CONN,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "INFO",
        -2,
        parse::command_info,
        "[command-name [command-name ...]]",
        "Returns information about one, multiple or all commands.",
        "server",
        CONN,
        NO_KEYS,
        "2.8.13",
    ),
    spec(
        "HELP",
        2,
        parse::command_help,
        "",
        "Returns helpful text about the different subcommands.",
        "server",
        CONN,
        NO_KEYS,
        "5.0.0",
    ),
];

/// The subcommands of `PUBSUB`.
pub(crate) const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "CHANNELS",
        -2,
        parse::pubsub_channels,
        "[pattern]",
        "Returns the active channels.",
        "pubsub",
        PUBSUB_INFO,
        NO_KEYS,
        "2.8.0",
    ),
    spec(
        "HELP",
        2,
        parse::pubsub_help,
        "",
        "Returns helpful text about the different subcommands.",
        "pubsub",
        INTROSPECT,
        NO_KEYS,
        "6.2.0",
    ),
    spec(
        "NUMPAT",
        2,
        parse::pubsub_numpat,
        "",
        "Returns a count of unique pattern subscriptions.",
        "pubsub",
        PUBSUB_INFO,
        NO_KEYS,
        "2.8.0",
    ),
    spec(
        "NUMSUB",
        -2,
        parse::pubsub_numsub,
        "[channel [channel ...]]",
        "Returns a count of subscribers to channels.",
        "pubsub",
        PUBSUB_INFO,
        NO_KEYS,
        "2.8.0",
    ),
    spec(
        "SHARDCHANNELS",
        -2,
        parse::pubsub_shardchannels,
        "[pattern]",
        "Returns the active shard channels.",
        "pubsub",
        PUBSUB_INFO,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "SHARDNUMSUB",
        -2,
        parse::pubsub_shardnumsub,
        "[shardchannel [shardchannel ...]]",
        "Returns the count of subscribers of shard channels.",
        "pubsub",
        PUBSUB_INFO,
        NO_KEYS,
        "7.0.0",
    ),
];

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "SET",
        -3,
        parse::set,
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "string",
        WRITE,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "GET",
        2,
        parse::get, "key", "Returns the string value of a key.", "string", READ_FAST, ONE_KEY, "1.0.0"),
    spec(
        "DEL",
        -2,
        parse::del, "key [key ...]", "Deletes one or more keys.", "generic", DELETE, ALL_KEYS, "1.0.0"),
    spec(
        "PING",
        -1,
        parse::ping, "[message]", "Returns the server's liveliness response.", "connection", Flags::of(&[Flag::Fast]), NO_KEYS, "1.0.0"),
    spec(
        "ECHO",
        2,
        parse::echo, "message", "Returns the given string.", "connection", SERVER_FAST, NO_KEYS, "1.0.0"),
    spec(
        "QUIT",
        -1,
        parse::quit, "", "Closes the connection.", "connection", CONN_NOAUTH, NO_KEYS, "1.0.0"),
    spec(
        "GETDEL",
        2,
        parse::getdel,
        "key",
        "Returns the string value of a key after deleting the key.",
        "string",
        DELETE_FAST,
        ONE_KEY,
        "6.2.0",
    ),
    spec(
        "GETSET",
        3,
        parse::getset,
        "key value",
        "Returns the previous string value of a key after setting it to a new value.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "MGET",
        -2,
        parse::mget, "key [key ...]", "Atomically returns the string values of one or more keys.", "string", READ_FAST, ALL_KEYS, "1.0.0"),
    spec(
        "MSET",
        -3,
        parse::mset,
        "key value [key value ...]",
        "Atomically creates or modifies the string values of one or more keys.",
        "string",
        WRITE,
        (1, -1, 2),
        "1.0.1",
    ),
    spec(
        "MSETNX",
        -3,
        parse::msetnx,
        "key value [key value ...]",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        "string",
        WRITE,
        (1, -1, 2),
        "1.0.1",
    ),
    spec(
        "SETNX",
        3,
        parse::setnx,
        "key value",
        "Set the string value of a key only when the key doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SETEX",
        4,
        parse::setex,
        "key seconds value",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        "string",
        WRITE,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "PSETEX",
        4,
        parse::psetex,
        "key milliseconds value",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        "string",
        WRITE,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "UNLINK",
        -2,
        parse::unlink,
        "key [key ...]",
        "Asynchronously deletes one or more keys.",
        "generic",
        DELETE_FAST,
        ALL_KEYS,
        "4.0.0",
    ),
    spec(
        "EXISTS",
        -2,
        parse::exists, "key [key ...]", "Determines whether one or more keys exist.", "generic", READ_FAST, ALL_KEYS, "1.0.0"),
    spec(
        "INCR",
        2,
        parse::incr,
        "key",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "DECR",
        2,
        parse::decr,
        "key",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "INCRBY",
        3,
        parse::incrby,
        "key increment",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "DECRBY",
        3,
        parse::decrby,
        "key decrement",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "APPEND",
        3,
        parse::append,
        "key value",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "STRLEN",
        2,
        parse::strlen, "key", "Returns the length of a string value.", "string", READ_FAST, ONE_KEY, "2.2.0"),
    spec(
        "GETEX",
        -2,
        parse::getex,
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        "Returns the string value of a key after setting its expiration time.",
        "string",
        Flags::of(&[Flag::Write, Flag::Fast]),
        ONE_KEY,
        "6.2.0",
    ),
    spec(
        "GETRANGE",
        4,
        parse::getrange,
        "key start end",
        "Returns a substring of the string stored at a key.",
        "string",
        READ,
        ONE_KEY,
        "2.4.0",
    ),
    spec(
        "SUBSTR",
        4,
        parse::substr,
        "key start end",
        "Returns a substring from a string value.",
        "string",
        READ,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SETRANGE",
        4,
        parse::setrange,
        "key offset value",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        "string",
        WRITE,
        ONE_KEY,
        "2.2.0",
    ),
    spec(
        "INCRBYFLOAT",
        3,
        parse::incrbyfloat,
        "key increment",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "LCS",
        -3,
        parse::lcs,
        "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
        "Finds the longest common substring.",
        "string",
        READ,
        TWO_KEYS,
        "7.0.0",
    ),
    spec(
        "SETBIT",
        4,
        parse::setbit,
        "key offset value",
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        "bitmap",
        WRITE,
        ONE_KEY,
        "2.2.0",
    ),
    spec(
        "GETBIT",
        3,
        parse::getbit,
        "key offset",
        "Returns a bit value by offset.",
        "bitmap",
        READ_FAST,
        ONE_KEY,
        "2.2.0",
    ),
    spec(
        "BITCOUNT",
        -2,
        parse::bitcount,
        "key [start end [BYTE|BIT]]",
        "Counts the number of set bits (population counting) in a string.",
        "bitmap",
        READ,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "BITPOS",
        -3,
        parse::bitpos,
        "key bit [start [end [BYTE|BIT]]]",
        "Finds the first set (1) or clear (0) bit in a string.",
        "bitmap",
        READ,
        ONE_KEY,
        "2.8.7",
    ),
    spec(
        "BITOP",
        -4,
        parse::bitop,
        "operation destkey key [key ...]",
        "Performs bitwise operations on multiple strings, and stores the result.",
        "bitmap",
        WRITE,
        (2, -1, 1),
        "2.6.0",
    ),
    spec(
        "BITFIELD",
        -2,
        parse::bitfield,
        "key [GET encoding offset] [SET encoding offset value] [INCRBY encoding offset increment] [OVERFLOW WRAP|SAT|FAIL]",
        "Performs arbitrary bitfield integer operations on strings.",
        "bitmap",
        WRITE,
        ONE_KEY,
        "3.2.0",
    ),
    spec(
        "BITFIELD_RO",
        -2,
        parse::bitfield_ro,
        "key [GET encoding offset [GET encoding offset]]",
        "Performs arbitrary read-only bitfield integer operations on strings.",
        "bitmap",
        READ_FAST,
        ONE_KEY,
        "6.0.0",
    ),
    spec(
        "HSET",
        -4,
        parse::hset,
        "key field value [field value ...]",
        "Set the string value of a hash field",
        "hash",
        WRITE_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HSETNX",
        4,
        parse::hsetnx,
        "key field value",
        "Set the value of a hash field, only if the field does not exist",
        "hash",
        WRITE_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HGET",
        3,
        parse::hget,
        "key field",
        "Get the value of a hash field",
        "hash",
        READ_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HMGET",
        -3,
        parse::hmget,
        "key field [field ...]",
        "Get the values of all the given hash fields",
        "hash",
        READ_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HMSET",
        -4,
        parse::hmset,
        "key field value [field value ...]",
        "Set multiple hash fields to multiple values",
        "hash",
        WRITE_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HDEL",
        -3,
        parse::hdel,
        "key field [field ...]",
        "Delete one or more hash fields",
        "hash",
        DELETE_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HLEN",
        2,
        parse::hlen,
        "key",
        "Get the number of fields in a hash",
        "hash",
        READ_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HSTRLEN",
        3,
        parse::hstrlen,
        "key field",
        "Get the length of the value of a hash field",
        "hash",
        READ_FAST,
        ONE_KEY,
        "3.2.0",
    ),
    spec(
        "HEXISTS",
        3,
        parse::hexists,
        "key field",
        "Determine if a hash field exists",
        "hash",
        READ_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HKEYS",
        2,
        parse::hkeys,
        "key",
        "Get all the fields in a hash",
        "hash",
        READ,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HVALS",
        2,
        parse::hvals,
        "key",
        "Get all the values in a hash",
        "hash",
        READ,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HGETALL",
        2,
        parse::hgetall,
        "key",
        "Get all the fields and values in a hash",
        "hash",
        READ,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HINCRBY",
        4,
        parse::hincrby,
        "key field increment",
        "Increment the integer value of a hash field by the given number",
        "hash",
        WRITE_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "HINCRBYFLOAT",
        4,
        parse::hincrbyfloat,
        "key field increment",
        "Increment the float value of a hash field by the given amount",
        "hash",
        WRITE_FAST,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "HSCAN",
        -3,
        parse::hscan,
        "key cursor [MATCH pattern] [COUNT count]",
        "Incrementally iterate hash fields and associated values",
        "hash",
        READ,
        ONE_KEY,
        "2.8.0",
    ),
    spec(
        "HRANDFIELD",
        -2,
        parse::hrandfield,
        "key [count [WITHVALUES]]",
        "Get one or multiple random fields from a hash",
        "hash",
        READ,
        ONE_KEY,
        "6.2.0",
    ),
    spec(
        "SADD",
        -3,
        parse::sadd,
        "key member [member ...]",
        "Add one or more members to a set",
        "set",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SREM",
        -3,
        parse::srem,
        "key member [member ...]",
        "Remove one or more members from a set",
        "set",
        DELETE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SISMEMBER",
        3,
        parse::sismember,
        "key member",
        "Determine if a given value is a member of a set",
        "set",
        READ_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SMISMEMBER",
        -3,
        parse::smismember,
        "key member [member ...]",
        "Returns the membership associated with the given elements for a set",
        "set",
        READ_FAST,
        ONE_KEY,
        "6.2.0",
    ),
    spec(
        "SMEMBERS",
        2,
        parse::smembers,
        "key",
        "Get all the members in a set",
        "set",
        READ,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SCARD",
        2,
        parse::scard,
        "key",
        "Get the number of members in a set",
        "set",
        READ_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SPOP",
        -2,
        parse::spop,
        "key [count]",
        "Remove and return one or multiple random members from a set",
        "set",
        DELETE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SRANDMEMBER",
        -2,
        parse::srandmember,
        "key [count]",
        "Get one or multiple random members from a set",
        "set",
        READ,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SMOVE",
        4,
        parse::smove,
        "source destination member",
        "Move a member from one set to another",
        "set",
        DELETE_FAST,
        TWO_KEYS,
        "1.0.0",
    ),
    spec(
        "SINTER",
        -2,
        parse::sinter,
        "key [key ...]",
        "Intersect multiple sets",
        "set",
        READ,
        ALL_KEYS,
        "1.0.0",
    ),
    spec(
        "SINTERCARD",
        -3,
        parse::sintercard,
        "numkeys key [key ...] [LIMIT limit]",
        "Intersect multiple sets and return the cardinality of the result",
        "set",
        READ,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "SINTERSTORE",
        -3,
        parse::sinterstore,
        "destination key [key ...]",
        "Intersect multiple sets and store the resulting set in a key",
        "set",
        WRITE,
        ALL_KEYS,
        "1.0.0",
    ),
    spec(
        "SUNION",
        -2,
        parse::sunion,
        "key [key ...]",
        "Add multiple sets",
        "set",
        READ,
        ALL_KEYS,
        "1.0.0",
    ),
    spec(
        "SUNIONSTORE",
        -3,
        parse::sunionstore,
        "destination key [key ...]",
        "Add multiple sets and store the resulting set in a key",
        "set",
        WRITE,
        ALL_KEYS,
        "1.0.0",
    ),
    spec(
        "SDIFF",
        -2,
        parse::sdiff,
        "key [key ...]",
        "Subtract multiple sets",
        "set",
        READ,
        ALL_KEYS,
        "1.0.0",
    ),
    spec(
        "SDIFFSTORE",
        -3,
        parse::sdiffstore,
        "destination key [key ...]",
        "Subtract multiple sets and store the resulting set in a key",
        "set",
        WRITE,
        ALL_KEYS,
        "1.0.0",
    ),
    spec(
        "SSCAN",
        -3,
        parse::sscan,
        "key cursor [MATCH pattern] [COUNT count]",
        "Incrementally iterate Set elements",
        "set",
        READ,
        ONE_KEY,
        "2.8.0",
    ),
    spec(
        "EXPIRE",
        -3,
        parse::expire,
        "key seconds [NX|XX|GT|LT]",
        "Sets the expiration time of a key in seconds.",
        "generic",
        DELETE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "PEXPIRE",
        -3,
        parse::pexpire,
        "key milliseconds [NX|XX|GT|LT]",
        "Sets the expiration time of a key in milliseconds.",
        "generic",
        DELETE_FAST,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "EXPIREAT",
        -3,
        parse::expireat,
        "key unix-time-seconds [NX|XX|GT|LT]",
        "Sets the expiration time of a key to a Unix timestamp.",
        "generic",
        DELETE_FAST,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "PEXPIREAT",
        -3,
        parse::pexpireat,
        "key unix-time-milliseconds [NX|XX|GT|LT]",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        "generic",
        DELETE_FAST,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "TTL",
        2,
        parse::ttl, "key", "Returns the expiration time in seconds of a key.", "generic", READ_FAST, ONE_KEY, "1.0.0"),
    spec(
        "PTTL",
        2,
        parse::pttl, "key", "Returns the expiration time in milliseconds of a key.", "generic", READ_FAST, ONE_KEY, "2.6.0"),
    spec(
        "PERSIST",
        2,
        parse::persist, "key", "Removes the expiration time of a key.", "generic", DELETE_FAST, ONE_KEY, "2.2.0"),
    spec(
        "TYPE",
        2,
        parse::type_of, "key", "Determines the type of value stored at a key.", "generic", READ_FAST, ONE_KEY, "1.0.0"),
    CommandSpec {
        subcommands: OBJECT_SUBCOMMANDS,
        ..spec(
            "OBJECT",
            -2,
            parse::object,
            "ENCODING|FREQ|IDLETIME|REFCOUNT key",
            "A container for object introspection commands.",
            "generic",
            CONTAINER,
            NO_KEYS,
            "2.2.3",
        )
    },
    CommandSpec {
        subcommands: MEMORY_SUBCOMMANDS,
        ..spec(
            "MEMORY",
            -2,
            parse::memory,
            "USAGE key [SAMPLES count]",
            "A container for memory diagnostics commands.",
            "server",
            CONTAINER,
            NO_KEYS,
            "4.0.0",
        )
    },
    spec(
        "RENAME",
        3,
        parse::rename, "key newkey", "Renames a key and overwrites the destination.", "generic", DELETE, TWO_KEYS, "1.0.0"),
    spec(
        "RENAMENX",
        3,
        parse::renamenx,
        "key newkey",
        "Renames a key only when the target key name doesn't exist.",
        "generic",
        DELETE_FAST,
        TWO_KEYS,
        "1.0.0",
    ),
    spec(
        "COPY",
        -3,
        parse::copy,
        "source destination [DB destination-db] [REPLACE]",
        "Copies the value of a key to a new key.",
        "generic",
        WRITE,
        TWO_KEYS,
        "6.2.0",
    ),
    spec("MOVE", 3, parse::move_key, "key db", "Moves a key to another database.", "generic", DELETE_FAST, ONE_KEY, "1.0.0"),
    spec("SWAPDB", 3, parse::swapdb, "index1 index2", "Swaps two Redis databases.", "server", DELETE_FAST, NO_KEYS, "4.0.0"),
    spec(
        "TOUCH",
        -2,
        parse::touch,
        "key [key ...]",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        "generic",
        READ_FAST,
        ALL_KEYS,
        "3.2.1",
    ),
    spec(
        "EXPIRETIME",
        2,
        parse::expiretime,
        "key",
        "Returns the expiration time of a key as a Unix timestamp.",
        "generic",
        READ_FAST,
        ONE_KEY,
        "7.0.0",
    ),
    spec(
        "PEXPIRETIME",
        2,
        parse::pexpiretime,
        "key",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        "generic",
        READ_FAST,
        ONE_KEY,
        "7.0.0",
    ),
    spec("RANDOMKEY", 1, parse::randomkey, "", "Returns a random key name from the database.", "generic", READ, NO_KEYS, "1.0.0"),
    spec(
        "KEYS",
        2,
        parse::keys, "pattern", "Returns all key names that match a pattern.", "generic", READ, NO_KEYS, "1.0.0"),
    spec(
        "SCAN",
        -2,
        parse::scan,
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        "Iterates over the key names in the database.",
        "generic",
        READ,
        NO_KEYS,
        "2.8.0",
    ),
    spec(
        "DBSIZE",
        1,
        parse::dbsize, "", "Returns the number of keys in the database.", "server", READ_FAST, NO_KEYS, "1.0.0"),
    spec(
        "SAVE",
        1,
        parse::save,
        "",
        "Synchronously saves the database(s) to disk.",
        "server",
        Flags::of(&[Flag::Admin, Flag::NoScript, Flag::NoMulti]),
        NO_KEYS,
        "1.0.0",
    ),
    spec(
        "BGSAVE",
        -1,
        parse::bgsave,
        "[SCHEDULE]",
        "Asynchronously saves the database(s) to disk.",
        "server",
        Flags::of(&[Flag::Admin, Flag::NoScript]),
        NO_KEYS,
        "1.0.0",
    ),
    spec(
        "BGREWRITEAOF",
        1,
        parse::bgrewriteaof,
        "",
        "Asynchronously rewrites the append-only file to disk.",
        "server",
        Flags::of(&[Flag::Admin, Flag::NoScript]),
        NO_KEYS,
        "1.0.0",
    ),
    spec(
        "LASTSAVE",
        1,
        parse::lastsave,
        "",
        "Returns the Unix timestamp of the last successful save to disk.",
        "server",
        Flags::of(&[Flag::Loading, Flag::Stale, Flag::Fast]),
        NO_KEYS,
        "1.0.0",
    ),
    spec(
        "SHUTDOWN",
        -1,
        parse::shutdown,
        "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        "server",
        Flags::of(&[Flag::Admin, Flag::NoScript, Flag::Loading, Flag::Stale, Flag::NoMulti, Flag::AllowBusy]),
        NO_KEYS,
        "1.0.0",
    ),
    spec(
        "DUMP",
        2,
        parse::dump,
        "key",
        "Returns a serialized representation of the value stored at a key.",
        "generic",
        READ,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "RESTORE",
        -4,
        parse::restore,
        "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
        "Creates a key from the serialized representation of a value.",
        "generic",
        WRITE,
        ONE_KEY,
        "2.6.0",
    ),
    spec(
        "FLUSHDB",
        -1,
        parse::flushdb, "[ASYNC|SYNC]", "Removes all keys from the current database.", "server", DELETE, NO_KEYS, "1.0.0"),
    spec(
        "FLUSHALL",
        -1,
        parse::flushall, "[ASYNC|SYNC]", "Removes all keys from all databases.", "server", DELETE, NO_KEYS, "1.0.0"),
    spec(
        "AUTH",
        -2,
        parse::auth, "[username] password", "Authenticates the connection.", "connection", CONN_NOAUTH, NO_KEYS, "1.0.0"),
    spec(
        "SELECT",
        2,
        parse::select, "index", "Changes the selected database.", "connection", SERVER_FAST, NO_KEYS, "1.0.0"),
    spec(
        "INFO",
        -1,
        parse::info,
        "[section [section ...]]",
        "Returns information and statistics about the server.",
        "server",
        INTROSPECT,
        NO_KEYS,
        "1.0.0",
    ),
    CommandSpec {
        subcommands: COMMAND_SUBCOMMANDS,
        ..spec(
        "COMMAND",
        -1,
        parse::command,
            "[COUNT|DOCS [command-name ...]|INFO [command-name ...]]",
            "Returns detailed information about all commands.",
            "server",
            INTROSPECT,
            NO_KEYS,
            "2.8.13",
        )
    },
    CommandSpec {
        subcommands: CONFIG_SUBCOMMANDS,
        ..spec(
        "CONFIG",
        -2,
        parse::config,
            "GET parameter [parameter ...]|SET parameter value [parameter value ...]|RESETSTAT|REWRITE",
            "A container for server configuration commands.",
            "server",
            CONTAINER,
            NO_KEYS,
            "2.0.0",
        )
    },
    CommandSpec {
        subcommands: CLIENT_SUBCOMMANDS,
        ..spec(
        "CLIENT",
        -2,
        parse::client,
            "ID|INFO|LIST|KILL|GETNAME|SETNAME connection-name|SETINFO attr value|NO-EVICT|NO-TOUCH|REPLY|PAUSE|UNPAUSE",
            "A container for client connection commands.",
            "connection",
            CONTAINER,
            NO_KEYS,
            "2.4.0",
        )
    },
    spec(
        "MULTI",
        1,
        parse::multi,
        "",
        "Starts a transaction: later commands are queued until EXEC.",
        "transactions",
        TRANSACTION,
        NO_KEYS,
        "1.2.0",
    ),
    spec(
        "EXEC",
        1,
        parse::exec,
        "",
        "Executes all commands in a transaction, with no other client's command in between.",
        "transactions",
        TRANSACTION_SLOW,
        NO_KEYS,
        "1.2.0",
    ),
    spec(
        "DISCARD",
        1,
        parse::discard,
        "",
        "Discards a transaction.",
        "transactions",
        TRANSACTION,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "WATCH",
        -2,
        parse::watch,
        "key [key ...]",
        "Makes the next EXEC run only if none of the keys changed in the meantime.",
        "transactions",
        TRANSACTION,
        ALL_KEYS,
        "2.2.0",
    ),
    spec(
        "UNWATCH",
        1,
        parse::unwatch,
        "",
        "Forgets the keys watched by WATCH.",
        "transactions",
        TRANSACTION,
        NO_KEYS,
        "2.2.0",
    ),
    spec(
        "HELLO",
        -1,
        parse::hello,
        "[protover [AUTH username password] [SETNAME clientname]]",
        "Handshakes with the server, optionally switching the protocol version (2 or 3).",
        "connection",
        CONN_NOAUTH,
        NO_KEYS,
        "6.0.0",
    ),
    spec(
        "RESET",
        1,
        parse::reset,
        "",
        "Resets the connection.",
        "connection",
        RESET,
        NO_KEYS,
        "6.2.0",
    ),
    spec(
        "MONITOR",
        1,
        parse::monitor,
        "",
        "Listens for all requests received by the server in real-time.",
        "server",
        CONN_ADMIN,
        NO_KEYS,
        "1.0.0",
    ),
    spec(
        "SUBSCRIBE",
        -2,
        parse::subscribe,
        "channel [channel ...]",
        "Listens for messages published to channels.",
        "pubsub",
        SUBSCRIBE,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "UNSUBSCRIBE",
        -1,
        parse::unsubscribe,
        "[channel [channel ...]]",
        "Stops listening to messages posted to channels.",
        "pubsub",
        SUBSCRIBE,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "PSUBSCRIBE",
        -2,
        parse::psubscribe,
        "pattern [pattern ...]",
        "Listens for messages published to channels that match one or more patterns.",
        "pubsub",
        SUBSCRIBE,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "PUNSUBSCRIBE",
        -1,
        parse::punsubscribe,
        "[pattern [pattern ...]]",
        "Stops listening to messages published to channels that match one or more patterns.",
        "pubsub",
        SUBSCRIBE,
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "PUBLISH",
        3,
        parse::publish,
        "channel message",
        "Posts a message to a channel.",
        "pubsub",
        PUBLISH,
        NO_KEYS,
        "2.0.0",
    ),
    CommandSpec {
        subcommands: PUBSUB_SUBCOMMANDS,
        ..spec(
            "PUBSUB",
            -2,
            parse::pubsub,
            "CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB|HELP",
            "A container for Pub/Sub commands.",
            "pubsub",
            CONTAINER,
            NO_KEYS,
            "2.8.0",
        )
    },
    spec(
        "SSUBSCRIBE",
        -2,
        parse::ssubscribe,
        "shardchannel [shardchannel ...]",
        "Listens for messages published to shard channels.",
        "pubsub",
        SUBSCRIBE,
        ALL_KEYS,
        "7.0.0",
    ),
    spec(
        "SUNSUBSCRIBE",
        -1,
        parse::sunsubscribe,
        "[shardchannel [shardchannel ...]]",
        "Stops listening to messages posted to shard channels.",
        "pubsub",
        SUBSCRIBE,
        ALL_KEYS,
        "7.0.0",
    ),
    spec(
        "SPUBLISH",
        3,
        parse::spublish,
        "shardchannel message",
        "Post a message to a shard channel",
        "pubsub",
        PUBLISH,
        ONE_KEY,
        "7.0.0",
    ),
    CommandSpec {
        subcommands: SLOWLOG_SUBCOMMANDS,
        ..spec(
            "SLOWLOG",
            -2,
            parse::slowlog,
            "GET [count]|LEN|RESET",
            "A container for slow log commands.",
            "server",
            CONTAINER,
            NO_KEYS,
            "2.2.12",
        )
    },
    spec("TIME", 1, parse::time, "", "Returns the server time.", "server", SERVER_FAST, NO_KEYS, "2.6.0"),
    spec(
        "WAIT",
        3,
        parse::wait,
        "numreplicas timeout",
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        "generic",
        Flags::of(&[Flag::NoScript]),
        NO_KEYS,
        "3.0.0",
    ),
    spec(
        "DEBUG",
        -2,
        parse::debug,
        "SLEEP seconds|SET-ACTIVE-EXPIRE 0|1|OBJECT key|RELOAD [NOFLUSH] [NOSAVE]|CHANGE-REPL-ID|HELP",
        "A container for debugging commands.",
        "server",
        DEBUG_FLAGS,
        NO_KEYS,
        "1.0.0",
    ),
    // --- lists ---
    spec(
        "LPUSH",
        -3,
        parse::lpush,
        "key element [element ...]",
        "Prepend one or multiple elements to a list",
        "list",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "RPUSH",
        -3,
        parse::rpush,
        "key element [element ...]",
        "Append one or multiple elements to a list",
        "list",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LPUSHX",
        -3,
        parse::lpushx,
        "key element [element ...]",
        "Prepend an element to a list, only if the list exists",
        "list",
        WRITE_FAST,
        ONE_KEY,
        "2.2.0",
    ),
    spec(
        "RPUSHX",
        -3,
        parse::rpushx,
        "key element [element ...]",
        "Append an element to a list, only if the list exists",
        "list",
        WRITE_FAST,
        ONE_KEY,
        "2.2.0",
    ),
    spec(
        "LPOP",
        -2,
        parse::lpop,
        "key [count]",
        "Remove and get the first elements in a list",
        "list",
        DELETE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "RPOP",
        -2,
        parse::rpop,
        "key [count]",
        "Remove and get the last elements in a list",
        "list",
        DELETE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LLEN",
        2,
        parse::llen,
        "key",
        "Get the length of a list",
        "list",
        READ_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LRANGE",
        4,
        parse::lrange,
        "key start stop",
        "Get a range of elements from a list",
        "list",
        READ,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LINDEX",
        3,
        parse::lindex,
        "key index",
        "Get an element from a list by its index",
        "list",
        READ,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LSET",
        4,
        parse::lset,
        "key index element",
        "Set the value of an element in a list by its index",
        "list",
        WRITE,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LINSERT",
        5,
        parse::linsert,
        "key BEFORE|AFTER pivot element",
        "Insert an element before or after another element in a list",
        "list",
        WRITE,
        ONE_KEY,
        "2.2.0",
    ),
    spec(
        "LREM",
        4,
        parse::lrem,
        "key count element",
        "Remove elements from a list",
        "list",
        DELETE,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LTRIM",
        4,
        parse::ltrim,
        "key start stop",
        "Trim a list to the specified range",
        "list",
        DELETE,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "LPOS",
        -3,
        parse::lpos,
        "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
        "Return the index of matching elements on a list",
        "list",
        READ,
        ONE_KEY,
        "6.0.6",
    ),
    spec(
        "LMOVE",
        5,
        parse::lmove,
        "source destination LEFT|RIGHT LEFT|RIGHT",
        "Pop an element from a list, push it to another list and return it",
        "list",
        WRITE,
        TWO_KEYS,
        "6.2.0",
    ),
    spec(
        "RPOPLPUSH",
        3,
        parse::rpoplpush,
        "source destination",
        "Remove the last element in a list, prepend it to another list and return it",
        "list",
        WRITE,
        TWO_KEYS,
        "1.2.0",
    ),
    spec(
        "LMPOP",
        -4,
        parse::lmpop,
        "numkeys key [key ...] LEFT|RIGHT [COUNT count]",
        "Pop elements from a list",
        "list",
        LIST_MPOP,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "BLPOP",
        -3,
        parse::blpop,
        "key [key ...] timeout",
        "Remove and get the first element in a list, or block until one is available",
        "list",
        LIST_BLOCKING_POP,
        BLOCKING_KEYS,
        "2.0.0",
    ),
    spec(
        "BRPOP",
        -3,
        parse::brpop,
        "key [key ...] timeout",
        "Remove and get the last element in a list, or block until one is available",
        "list",
        LIST_BLOCKING_POP,
        BLOCKING_KEYS,
        "2.0.0",
    ),
    spec(
        "BLMOVE",
        6,
        parse::blmove,
        "source destination LEFT|RIGHT LEFT|RIGHT timeout",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
        "list",
        LIST_BLOCKING_MOVE,
        TWO_KEYS,
        "6.2.0",
    ),
    spec(
        "BRPOPLPUSH",
        4,
        parse::brpoplpush,
        "source destination timeout",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
        "list",
        LIST_BLOCKING_MOVE,
        TWO_KEYS,
        "2.2.0",
    ),
    spec(
        "BLMPOP",
        -5,
        parse::blmpop,
        "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]",
        "Pop elements from a list, or block until one is available",
        "list",
        LIST_BLOCKING_MPOP,
        NO_KEYS,
        "7.0.0",
    ),
    // --- sorted sets ---
    spec(
        "ZADD",
        -4,
        parse_zset::zadd,
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
        "Add one or more members to a sorted set, or update its score if it already exists",
        "sorted-set",
        WRITE_FAST,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZINCRBY",
        4,
        parse_zset::zincrby,
        "key increment member",
        "Increment the score of a member in a sorted set",
        "sorted-set",
        WRITE_FAST,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZREM",
        -3,
        parse_zset::zrem,
        "key member [member ...]",
        "Remove one or more members from a sorted set",
        "sorted-set",
        DELETE_FAST,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZCARD",
        2,
        parse_zset::zcard,
        "key",
        "Get the number of members in a sorted set",
        "sorted-set",
        READ_FAST,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZCOUNT",
        4,
        parse_zset::zcount,
        "key min max",
        "Count the members in a sorted set with scores within the given values",
        "sorted-set",
        READ_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "ZLEXCOUNT",
        4,
        parse_zset::zlexcount,
        "key min max",
        "Count the number of members in a sorted set between a given lexicographical range",
        "sorted-set",
        READ_FAST,
        ONE_KEY,
        "2.8.9",
    ),
    spec(
        "ZSCORE",
        3,
        parse_zset::zscore,
        "key member",
        "Get the score associated with the given member in a sorted set",
        "sorted-set",
        READ_FAST,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZMSCORE",
        -3,
        parse_zset::zmscore,
        "key member [member ...]",
        "Get the score associated with the given members in a sorted set",
        "sorted-set",
        READ_FAST,
        ONE_KEY,
        "6.2.0",
    ),
    spec(
        "ZRANK",
        3,
        parse_zset::zrank,
        "key member",
        "Determine the index of a member in a sorted set",
        "sorted-set",
        READ_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "ZREVRANK",
        3,
        parse_zset::zrevrank,
        "key member",
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
        "sorted-set",
        READ_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "ZRANGE",
        -4,
        parse_zset::zrange,
        "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
        "Return a range of members in a sorted set",
        "sorted-set",
        READ,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZRANGESTORE",
        -5,
        parse_zset::zrangestore,
        "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]",
        "Store a range of members from sorted set into another key",
        "sorted-set",
        WRITE,
        TWO_KEYS,
        "6.2.0",
    ),
    spec(
        "ZREVRANGE",
        -4,
        parse_zset::zrevrange,
        "key start stop [WITHSCORES]",
        "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        "sorted-set",
        READ,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZRANGEBYSCORE",
        -4,
        parse_zset::zrangebyscore,
        "key min max [WITHSCORES] [LIMIT offset count]",
        "Return a range of members in a sorted set, by score",
        "sorted-set",
        READ,
        ONE_KEY,
        "1.0.5",
    ),
    spec(
        "ZREVRANGEBYSCORE",
        -4,
        parse_zset::zrevrangebyscore,
        "key max min [WITHSCORES] [LIMIT offset count]",
        "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        "sorted-set",
        READ,
        ONE_KEY,
        "2.2.0",
    ),
    spec(
        "ZRANGEBYLEX",
        -4,
        parse_zset::zrangebylex,
        "key min max [LIMIT offset count]",
        "Return a range of members in a sorted set, by lexicographical range",
        "sorted-set",
        READ,
        ONE_KEY,
        "2.8.9",
    ),
    spec(
        "ZREVRANGEBYLEX",
        -4,
        parse_zset::zrevrangebylex,
        "key max min [LIMIT offset count]",
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
        "sorted-set",
        READ,
        ONE_KEY,
        "2.8.9",
    ),
    spec(
        "ZPOPMIN",
        -2,
        parse_zset::zpopmin,
        "key [count]",
        "Remove and return members with the lowest scores in a sorted set",
        "sorted-set",
        DELETE_FAST,
        ONE_KEY,
        "5.0.0",
    ),
    spec(
        "ZPOPMAX",
        -2,
        parse_zset::zpopmax,
        "key [count]",
        "Remove and return members with the highest scores in a sorted set",
        "sorted-set",
        DELETE_FAST,
        ONE_KEY,
        "5.0.0",
    ),
    spec(
        "ZMPOP",
        -4,
        parse_zset::zmpop,
        "numkeys key [key ...] MIN|MAX [COUNT count]",
        "Remove and return members with scores in a sorted set",
        "sorted-set",
        DELETE,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "ZREMRANGEBYRANK",
        4,
        parse_zset::zremrangebyrank,
        "key start stop",
        "Remove all members in a sorted set within the given indexes",
        "sorted-set",
        DELETE,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "ZREMRANGEBYSCORE",
        4,
        parse_zset::zremrangebyscore,
        "key min max",
        "Remove all members in a sorted set within the given scores",
        "sorted-set",
        DELETE,
        ONE_KEY,
        "1.2.0",
    ),
    spec(
        "ZREMRANGEBYLEX",
        4,
        parse_zset::zremrangebylex,
        "key min max",
        "Remove all members in a sorted set between the given lexicographical range",
        "sorted-set",
        DELETE,
        ONE_KEY,
        "2.8.9",
    ),
    spec(
        "ZUNION",
        -3,
        parse_zset::zunion,
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
        "Add multiple sorted sets",
        "sorted-set",
        READ,
        NO_KEYS,
        "6.2.0",
    ),
    spec(
        "ZUNIONSTORE",
        -4,
        parse_zset::zunionstore,
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
        "Add multiple sorted sets and store the resulting sorted set in a new key",
        "sorted-set",
        WRITE,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "ZINTER",
        -3,
        parse_zset::zinter,
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
        "Intersect multiple sorted sets",
        "sorted-set",
        READ,
        NO_KEYS,
        "6.2.0",
    ),
    spec(
        "ZINTERSTORE",
        -4,
        parse_zset::zinterstore,
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        "sorted-set",
        WRITE,
        ONE_KEY,
        "2.0.0",
    ),
    spec(
        "ZINTERCARD",
        -3,
        parse_zset::zintercard,
        "numkeys key [key ...] [LIMIT limit]",
        "Intersect multiple sorted sets and return the cardinality of the result",
        "sorted-set",
        READ,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "ZDIFF",
        -3,
        parse_zset::zdiff,
        "numkeys key [key ...] [WITHSCORES]",
        "Subtract multiple sorted sets",
        "sorted-set",
        READ,
        NO_KEYS,
        "6.2.0",
    ),
    spec(
        "ZDIFFSTORE",
        -4,
        parse_zset::zdiffstore,
        "destination numkeys key [key ...]",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        "sorted-set",
        WRITE,
        ONE_KEY,
        "6.2.0",
    ),
    spec(
        "ZRANDMEMBER",
        -2,
        parse_zset::zrandmember,
        "key [count [WITHSCORES]]",
        "Get one or multiple random elements from a sorted set",
        "sorted-set",
        READ,
        ONE_KEY,
        "6.2.0",
    ),
    spec(
        "ZSCAN",
        -3,
        parse_zset::zscan,
        "key cursor [MATCH pattern] [COUNT count]",
        "Incrementally iterate sorted sets elements and associated scores",
        "sorted-set",
        READ,
        ONE_KEY,
        "2.8.0",
    ),
    // --- sort ---
    spec(
        "SORT",
        -2,
        parse_sort::sort,
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]",
        "Sort the elements in a list, set or sorted set",
        "generic",
        WRITE,
        ONE_KEY,
        "1.0.0",
    ),
    spec(
        "SORT_RO",
        -2,
        parse_sort::sort_ro,
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        "generic",
        READ,
        ONE_KEY,
        "7.0.0",
    ),
    // --- blocking sorted-set pops ---
    spec(
        "BZPOPMIN",
        -3,
        parse_zset::bzpopmin,
        "key [key ...] timeout",
        "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
        "sorted-set",
        Flags::of(&[Flag::Write, Flag::NoScript, Flag::Blocking, Flag::Fast]),
        BLOCKING_KEYS,
        "5.0.0",
    ),
    spec(
        "BZPOPMAX",
        -3,
        parse_zset::bzpopmax,
        "key [key ...] timeout",
        "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
        "sorted-set",
        Flags::of(&[Flag::Write, Flag::NoScript, Flag::Blocking, Flag::Fast]),
        BLOCKING_KEYS,
        "5.0.0",
    ),
    spec(
        "BZMPOP",
        -5,
        parse_zset::bzmpop,
        "timeout numkeys key [key ...] MIN|MAX [COUNT count]",
        "Remove and return members with scores in a sorted set or block until one is available",
        "sorted-set",
        LIST_BLOCKING_MPOP,
        NO_KEYS,
        "7.0.0",
    ),
    // --- scripting ---
    spec("EVAL", -3, parse::eval, "script numkeys [key [key ...]] [arg [arg ...]]", "Executes a server-side Lua script.", "scripting", SCRIPT_CALL, NO_KEYS, "2.6.0"),
    spec("EVALSHA", -3, parse::evalsha, "sha1 numkeys [key [key ...]] [arg [arg ...]]", "Executes a server-side Lua script by SHA1 digest.", "scripting", SCRIPT_CALL, NO_KEYS, "2.6.0"),
    spec("EVAL_RO", -3, parse::eval_ro, "script numkeys [key [key ...]] [arg [arg ...]]", "Executes a read-only server-side Lua script.", "scripting", SCRIPT_CALL_RO, NO_KEYS, "7.0.0"),
    spec("EVALSHA_RO", -3, parse::evalsha_ro, "sha1 numkeys [key [key ...]] [arg [arg ...]]", "Executes a read-only server-side Lua script by SHA1 digest.", "scripting", SCRIPT_CALL_RO, NO_KEYS, "7.0.0"),
    spec("FCALL", -3, parse::fcall, "function numkeys [key [key ...]] [arg [arg ...]]", "Invokes a function.", "scripting", SCRIPT_CALL, NO_KEYS, "7.0.0"),
    spec("FCALL_RO", -3, parse::fcall_ro, "function numkeys [key [key ...]] [arg [arg ...]]", "Invokes a read-only function.", "scripting", SCRIPT_CALL_RO, NO_KEYS, "7.0.0"),
    CommandSpec {
        subcommands: SCRIPT_SUBCOMMANDS,
        ..spec("SCRIPT", -2, parse::script, "LOAD|EXISTS|FLUSH|KILL|HELP", "A container for Lua scripts management commands.", "scripting", CONTAINER, NO_KEYS, "2.6.0")
    },
    CommandSpec {
        subcommands: FUNCTION_SUBCOMMANDS,
        ..spec("FUNCTION", -2, parse::function, "LOAD|LIST|DELETE|FLUSH|DUMP|RESTORE|KILL|STATS|HELP", "A container for function commands.", "scripting", CONTAINER, NO_KEYS, "7.0.0")
    },
    // --- replication ---
    spec(
        "PSYNC",
        -3,
        parse::psync,
        "replicationid offset",
        "An internal command used in replication.",
        "server",
        REPL_SYNC,
        NO_KEYS,
        "2.8.0",
    ),
    spec("SYNC", 1, parse::sync, "", "An internal command used in replication.", "server", REPL_SYNC, NO_KEYS, "1.0.0"),
    spec(
        "REPLCONF",
        -1,
        parse::replconf,
        "",
        "An internal command for configuring the replication stream.",
        "server",
        Flags::of(&[Flag::Admin, Flag::NoScript, Flag::Loading, Flag::Stale, Flag::AllowBusy]),
        NO_KEYS,
        "3.0.0",
    ),
    spec(
        "REPLICAOF",
        3,
        parse::replicaof,
        "host port|NO ONE",
        "Configures a server as replica of another, or promotes it to a master.",
        "server",
        REPL_OF,
        NO_KEYS,
        "5.0.0",
    ),
    spec(
        "SLAVEOF",
        3,
        parse::replicaof,
        "host port|NO ONE",
        "Sets a Redis server as a replica of another, or promotes it to being a master.",
        "server",
        REPL_OF,
        NO_KEYS,
        "1.0.0",
    ),
    spec(
        "ROLE",
        1,
        parse::role,
        "",
        "Returns the replication role.",
        "server",
        Flags::of(&[Flag::NoScript, Flag::Loading, Flag::Stale, Flag::Fast]),
        NO_KEYS,
        "2.8.12",
    ),
];

// --- scripting ---

/// `EVAL` and its kin: a script may do anything, so Redis marks them neither read nor write.
const SCRIPT_CALL: Flags = Flags::of(&[Flag::NoScript, Flag::Stale, Flag::SkipMonitor]);
/// The `_RO` forms.
const SCRIPT_CALL_RO: Flags = Flags::of(&[Flag::ReadOnly, Flag::NoScript, Flag::Stale, Flag::SkipMonitor]);
const NOSCRIPT_ONLY: Flags = Flags::of(&[Flag::NoScript]);
const HELP_FLAGS: Flags = Flags::of(&[Flag::Loading, Flag::Stale]);
/// `SCRIPT KILL`, `FUNCTION KILL|STATS`: what a client may still run while a script is busy.
const KILL_FLAGS: Flags = Flags::of(&[Flag::NoScript, Flag::AllowBusy]);
const SCRIPT_LOAD_FLAGS: Flags = Flags::of(&[Flag::NoScript, Flag::Stale]);
const FUNCTION_WRITE: Flags = Flags::of(&[Flag::Write, Flag::NoScript]);
const FUNCTION_WRITE_OOM: Flags = Flags::of(&[Flag::Write, Flag::DenyOom, Flag::NoScript]);

/// The subcommands of `SCRIPT`.
pub(crate) const SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "EXISTS",
        -3,
        parse::script_exists,
        "sha1 [sha1 ...]",
        "Determines whether server-side Lua scripts exist in the script cache.",
        "scripting",
        NOSCRIPT_ONLY,
        NO_KEYS,
        "2.6.0",
    ),
    spec(
        "FLUSH",
        -2,
        parse::script_flush,
        "[ASYNC|SYNC]",
        "Removes all server-side Lua scripts from the script cache.",
        "scripting",
        NOSCRIPT_ONLY,
        NO_KEYS,
        "2.6.0",
    ),
    spec(
        "HELP",
        2,
        parse::script_help,
        "",
        "Returns helpful text about the different subcommands.",
        "scripting",
        HELP_FLAGS,
        NO_KEYS,
        "5.0.0",
    ),
    spec(
        "KILL",
        2,
        parse::script_kill,
        "",
        "Terminates a server-side Lua script during execution.",
        "scripting",
        KILL_FLAGS,
        NO_KEYS,
        "2.6.0",
    ),
    spec(
        "LOAD",
        3,
        parse::script_load,
        "script",
        "Loads a server-side Lua script to the script cache.",
        "scripting",
        SCRIPT_LOAD_FLAGS,
        NO_KEYS,
        "2.6.0",
    ),
    // --- scripting2 ---
    spec(
        "DEBUG",
        3,
        parse::script_debug,
        "YES|SYNC|NO",
        "Sets the debug mode of server-side Lua scripts.",
        "scripting",
        NOSCRIPT_ONLY,
        NO_KEYS,
        "3.2.0",
    ),
];

/// The subcommands of `FUNCTION`.
pub(crate) const FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "DELETE",
        3,
        parse::function_delete,
        "library-name",
        "Deletes a library and its functions.",
        "scripting",
        FUNCTION_WRITE,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "DUMP",
        2,
        parse::function_dump,
        "",
        "Dumps all libraries into a serialized binary payload.",
        "scripting",
        NOSCRIPT_ONLY,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "FLUSH",
        -2,
        parse::function_flush,
        "[ASYNC|SYNC]",
        "Deletes all libraries and functions.",
        "scripting",
        FUNCTION_WRITE,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "HELP",
        2,
        parse::function_help,
        "",
        "Returns helpful text about the different subcommands.",
        "scripting",
        HELP_FLAGS,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "KILL",
        2,
        parse::function_kill,
        "",
        "Terminates a function during execution.",
        "scripting",
        KILL_FLAGS,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "LIST",
        -2,
        parse::function_list,
        "[LIBRARYNAME library-name-pattern] [WITHCODE]",
        "Returns information about all libraries.",
        "scripting",
        NOSCRIPT_ONLY,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "LOAD",
        -3,
        parse::function_load,
        "[REPLACE] function-code",
        "Creates a library.",
        "scripting",
        FUNCTION_WRITE_OOM,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "RESTORE",
        -3,
        parse::function_restore,
        "serialized-value [FLUSH|APPEND|REPLACE]",
        "Restores all libraries from a payload.",
        "scripting",
        FUNCTION_WRITE_OOM,
        NO_KEYS,
        "7.0.0",
    ),
    spec(
        "STATS",
        2,
        parse::function_stats,
        "",
        "Returns information about a function during execution.",
        "scripting",
        KILL_FLAGS,
        NO_KEYS,
        "7.0.0",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_upper_case_and_found_in_any_case() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert!(COMMANDS[i + 1..].iter().all(|other| other.name != spec.name), "{} twice", spec.name);
            assert_eq!(lookup(spec.name.to_ascii_lowercase().as_bytes()), Some(spec));
        }
        assert_eq!(lookup(b"nosuch"), None);
    }

    /// The one-word comparison must match a name in every case mix and nothing else: not a prefix,
    /// not a longer name, not a byte that only agrees with a letter in bit 0x20 (`_` and DEL fold
    /// to the same byte, so names with such bytes fall back to the byte loop).
    #[test]
    fn lookup_matches_exactly_the_name_in_any_case() {
        for spec in COMMANDS {
            let mixed: Vec<u8> = spec
                .name
                .bytes()
                .enumerate()
                .map(|(i, b)| if i % 2 == 0 { b.to_ascii_lowercase() } else { b })
                .collect();
            assert_eq!(lookup(&mixed), Some(spec));
            assert_eq!(lookup(spec.name.as_bytes()), Some(spec));
            let shorter = &spec.name.as_bytes()[..spec.name.len() - 1];
            assert_ne!(lookup(shorter), Some(spec));
            let mut longer = spec.name.as_bytes().to_vec();
            longer.push(b'A');
            assert_ne!(lookup(&longer), Some(spec));
            for at in 0..spec.name.len() {
                let mut flipped = spec.name.as_bytes().to_vec();
                // The byte that shares all bits but 0x20 with a letter's upper case is its lower
                // case; for `_` (0x5f) it is DEL (0x7f), which must not match.
                flipped[at] ^= 0x20;
                let expected = flipped[at].is_ascii_alphabetic().then_some(spec);
                assert_eq!(lookup(&flipped), expected, "{} with byte {at} flipped", spec.name);
            }
        }
        assert_eq!(lookup(b""), None);
        assert_eq!(lookup(b"GETGETGET"), None);
        assert_eq!(lookup(b"g\x00t"), None);
    }

    #[test]
    fn arity_follows_redis_convention() {
        let get = lookup(b"get").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(1) && !get.arity_ok(3));
        let del = lookup(b"del").unwrap();
        assert!(del.arity_ok(2) && del.arity_ok(10) && !del.arity_ok(1));
        let client = lookup(b"client").unwrap();
        let setname = client.subcommand(b"setname").unwrap();
        assert_eq!(setname.full_name(Some(client)), "client|setname");
    }
}
