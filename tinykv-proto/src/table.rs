//! The one table of every command TinyKV knows.
//!
//! The server checks arity against it and answers `COMMAND` from it; the CLI completes command
//! names, shows argument hints and prints `help` from it. Adding a command starts here.

/// What a command looks like from outside: enough for arity checks, `COMMAND INFO`/`DOCS`, and the
/// CLI's completion, hints and help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// Upper-case name, e.g. `"SET"`; for a subcommand, just the subcommand (`"SETNAME"`).
    pub name: &'static str,
    /// Redis's arity convention: `n` means exactly `n` words (name included), `-n` at least `n`.
    pub arity: i64,
    /// The arguments after the name, in Redis's documentation syntax; the CLI's hint.
    pub args: &'static str,
    /// One line on what the command is for.
    pub summary: &'static str,
    /// Redis's command group (`string`, `generic`, `connection`, `server`).
    pub group: &'static str,
    /// Redis's flags for `COMMAND INFO` (`write`, `readonly`, `fast`, `denyoom`, ...).
    pub flags: &'static [&'static str],
    /// Key positions for `COMMAND INFO`: first key, last key (negative counts from the end), step.
    pub keys: (i64, i64, i64),
    /// The Redis version that introduced the command, for `COMMAND DOCS`.
    pub since: &'static str,
    /// Subcommands of a container command (`CLIENT`, `CONFIG`, `COMMAND`); empty otherwise.
    pub subcommands: &'static [CommandSpec],
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
}

/// Looks up a command by name, in any case, without allocating.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

#[allow(clippy::too_many_arguments)] // a positional row per command keeps the table readable
const fn spec(
    name: &'static str,
    arity: i64,
    args: &'static str,
    summary: &'static str,
    group: &'static str,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    since: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, args, summary, group, flags, keys, since, subcommands: &[] }
}

const NO_KEYS: (i64, i64, i64) = (0, 0, 0);
const ONE_KEY: (i64, i64, i64) = (1, 1, 1);
const ALL_KEYS: (i64, i64, i64) = (1, -1, 1);
const WRITE: &[&str] = &["write", "denyoom"];
const WRITE_FAST: &[&str] = &["write", "denyoom", "fast"];
const DELETE: &[&str] = &["write"];
const DELETE_FAST: &[&str] = &["write", "fast"];
const READ: &[&str] = &["readonly"];
const READ_FAST: &[&str] = &["readonly", "fast"];
const CONN: &[&str] = &["fast", "noscript", "loading", "stale"];
const CONN_NOAUTH: &[&str] = &["noscript", "loading", "stale", "fast", "no_auth"];
const ADMIN: &[&str] = &["admin", "noscript", "loading", "stale"];

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    spec("ID", 2, "", "Returns the unique client ID of the connection.", "connection", CONN, NO_KEYS, "5.0.0"),
    spec("GETNAME", 2, "", "Returns the name of the connection.", "connection", CONN, NO_KEYS, "2.6.9"),
    spec("SETNAME", 3, "connection-name", "Sets the connection name.", "connection", CONN, NO_KEYS, "2.6.9"),
    spec(
        "SETINFO",
        4,
        "LIB-NAME libname|LIB-VER libver",
        "Sets information specific to the client or connection.",
        "connection",
        CONN,
        NO_KEYS,
        "7.2.0",
    ),
    spec("HELP", 2, "", "Returns helpful text about the different subcommands.", "connection", CONN, NO_KEYS, "5.0.0"),
];

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    spec(
        "GET",
        -3,
        "parameter [parameter ...]",
        "Returns the effective values of configuration parameters.",
        "server",
        ADMIN,
        NO_KEYS,
        "2.0.0",
    ),
    spec("HELP", 2, "", "Returns helpful text about the different subcommands.", "server", ADMIN, NO_KEYS, "5.0.0"),
];

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    spec("COUNT", 2, "", "Returns a count of commands.", "server", CONN, NO_KEYS, "2.8.13"),
    spec(
        "DOCS",
        -2,
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
        "[command-name [command-name ...]]",
        "Returns information about one, multiple or all commands.",
        "server",
        CONN,
        NO_KEYS,
        "2.8.13",
    ),
    spec("HELP", 2, "", "Returns helpful text about the different subcommands.", "server", CONN, NO_KEYS, "5.0.0"),
];

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        "SET",
        -3,
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "string",
        WRITE,
        ONE_KEY,
        "1.0.0",
    ),
    spec("GET", 2, "key", "Returns the string value of a key.", "string", READ_FAST, ONE_KEY, "1.0.0"),
    spec("DEL", -2, "key [key ...]", "Deletes one or more keys.", "generic", DELETE, ALL_KEYS, "1.0.0"),
    spec("PING", -1, "[message]", "Returns the server's liveliness response.", "connection", CONN, NO_KEYS, "1.0.0"),
    spec("ECHO", 2, "message", "Returns the given string.", "connection", CONN, NO_KEYS, "1.0.0"),
    spec("QUIT", -1, "", "Closes the connection.", "connection", CONN_NOAUTH, NO_KEYS, "1.0.0"),
    spec(
        "GETDEL",
        2,
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
        "key value",
        "Returns the previous string value of a key after setting it to a new value.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "1.0.0",
    ),
    spec("MGET", -2, "key [key ...]", "Atomically returns the string values of one or more keys.", "string", READ_FAST, ALL_KEYS, "1.0.0"),
    spec(
        "MSET",
        -3,
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
        "key [key ...]",
        "Asynchronously deletes one or more keys.",
        "generic",
        DELETE_FAST,
        ALL_KEYS,
        "4.0.0",
    ),
    spec("EXISTS", -2, "key [key ...]", "Determines whether one or more keys exist.", "generic", READ_FAST, ALL_KEYS, "1.0.0"),
    spec(
        "INCR",
        2,
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
        "key value",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        "string",
        WRITE_FAST,
        ONE_KEY,
        "2.0.0",
    ),
    spec("STRLEN", 2, "key", "Returns the length of a string value.", "string", READ_FAST, ONE_KEY, "2.2.0"),
    spec(
        "EXPIRE",
        -3,
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
        "key unix-time-milliseconds [NX|XX|GT|LT]",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        "generic",
        DELETE_FAST,
        ONE_KEY,
        "2.6.0",
    ),
    spec("TTL", 2, "key", "Returns the expiration time in seconds of a key.", "generic", READ_FAST, ONE_KEY, "1.0.0"),
    spec("PTTL", 2, "key", "Returns the expiration time in milliseconds of a key.", "generic", READ_FAST, ONE_KEY, "2.6.0"),
    spec("PERSIST", 2, "key", "Removes the expiration time of a key.", "generic", DELETE_FAST, ONE_KEY, "2.2.0"),
    spec("TYPE", 2, "key", "Determines the type of value stored at a key.", "generic", READ_FAST, ONE_KEY, "1.0.0"),
    spec("RENAME", 3, "key newkey", "Renames a key and overwrites the destination.", "generic", DELETE, (1, 2, 1), "1.0.0"),
    spec("KEYS", 2, "pattern", "Returns all key names that match a pattern.", "generic", READ, NO_KEYS, "1.0.0"),
    spec(
        "SCAN",
        -2,
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        "Iterates over the key names in the database.",
        "generic",
        READ,
        NO_KEYS,
        "2.8.0",
    ),
    spec("DBSIZE", 1, "", "Returns the number of keys in the database.", "server", READ_FAST, NO_KEYS, "1.0.0"),
    spec("FLUSHDB", -1, "[ASYNC|SYNC]", "Removes all keys from the current database.", "server", DELETE, NO_KEYS, "1.0.0"),
    spec("FLUSHALL", -1, "[ASYNC|SYNC]", "Removes all keys from all databases.", "server", DELETE, NO_KEYS, "1.0.0"),
    spec("AUTH", -2, "[username] password", "Authenticates the connection.", "connection", CONN_NOAUTH, NO_KEYS, "1.0.0"),
    spec("SELECT", 2, "index", "Changes the selected database.", "connection", CONN, NO_KEYS, "1.0.0"),
    spec(
        "INFO",
        -1,
        "[section [section ...]]",
        "Returns information and statistics about the server.",
        "server",
        &["loading", "stale"],
        NO_KEYS,
        "1.0.0",
    ),
    CommandSpec {
        subcommands: COMMAND_SUBCOMMANDS,
        ..spec(
            "COMMAND",
            -1,
            "[COUNT|DOCS [command-name ...]|INFO [command-name ...]]",
            "Returns detailed information about all commands.",
            "server",
            &["loading", "stale"],
            NO_KEYS,
            "2.8.13",
        )
    },
    CommandSpec {
        subcommands: CONFIG_SUBCOMMANDS,
        ..spec(
            "CONFIG",
            -2,
            "GET parameter [parameter ...]",
            "A container for server configuration commands.",
            "server",
            &[],
            NO_KEYS,
            "2.0.0",
        )
    },
    CommandSpec {
        subcommands: CLIENT_SUBCOMMANDS,
        ..spec(
            "CLIENT",
            -2,
            "ID|GETNAME|SETNAME connection-name|SETINFO attr value",
            "A container for client connection commands.",
            "connection",
            &[],
            NO_KEYS,
            "2.4.0",
        )
    },
    spec(
        "MULTI",
        1,
        "",
        "Starts a transaction: later commands are queued until EXEC.",
        "transactions",
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
        "1.2.0",
    ),
    spec(
        "EXEC",
        1,
        "",
        "Executes all commands in a transaction, with no other client's command in between.",
        "transactions",
        &["noscript", "loading", "stale"],
        NO_KEYS,
        "1.2.0",
    ),
    spec(
        "DISCARD",
        1,
        "",
        "Discards a transaction.",
        "transactions",
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
        "2.0.0",
    ),
    spec(
        "WATCH",
        -2,
        "key [key ...]",
        "Makes the next EXEC run only if none of the keys changed in the meantime.",
        "transactions",
        &["noscript", "loading", "stale", "fast"],
        ALL_KEYS,
        "2.2.0",
    ),
    spec(
        "UNWATCH",
        1,
        "",
        "Forgets the keys watched by WATCH.",
        "transactions",
        &["noscript", "loading", "stale", "fast"],
        NO_KEYS,
        "2.2.0",
    ),
    spec(
        "HELLO",
        -1,
        "[protover [AUTH username password] [SETNAME clientname]]",
        "Handshakes with the server, optionally switching the protocol version (2 or 3).",
        "connection",
        CONN_NOAUTH,
        NO_KEYS,
        "6.0.0",
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
