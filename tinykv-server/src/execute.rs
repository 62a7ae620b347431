//! `execute(Command, &Shared, &mut Session) -> Reply`: what each command does.
//!
//! Execution never touches the socket and never awaits: it takes a parsed command and the shared
//! state, and returns the reply. The connection decides when replies are written.

use std::borrow::Cow;

use bytes::Bytes;
use tinykv_proto::command::{ClientCommand, CommandCommand, Expiry, Hello, Set, SetCondition};
use tinykv_proto::table::{self, CommandSpec, COMMANDS};
use tinykv_proto::{Command, Protocol, Reply};

use crate::glob;
use crate::server::Shared;

/// The Redis version TinyKV answers as, for clients that look at it to decide what to send.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// What the server knows about one connection.
#[derive(Debug, Default)]
pub struct Session {
    /// Unique id, as `CLIENT ID` reports.
    pub id: u64,
    /// The name set by `CLIENT SETNAME` or `HELLO ... SETNAME`.
    pub name: Option<Bytes>,
    /// The protocol version replies are encoded in.
    pub protocol: Protocol,
    /// Whether the client has authenticated (always true when no password is set).
    pub authenticated: bool,
    /// Set by `QUIT`: the connection closes after this reply is sent.
    pub quit: bool,
}

impl Session {
    /// A new session; authenticated from the start when the server has no password.
    pub fn new(id: u64, shared: &Shared) -> Session {
        Session { id, authenticated: shared.config.requirepass.is_none(), ..Session::default() }
    }
}

/// Runs one command and returns its reply.
pub fn execute(command: Command, shared: &Shared, session: &mut Session) -> Reply {
    match command {
        Command::Get { key } => shared.db.get(&key).map_or(Reply::Null, Reply::Bulk),
        Command::Set(set) => execute_set(set, shared),
        Command::Del { keys } => {
            let removed = keys.iter().filter(|key| shared.db.with_key(key, |slot| slot.remove()).is_some()).count();
            Reply::Integer(removed as i64)
        }
        Command::Ping { message } => message.map_or(Reply::status("PONG"), Reply::Bulk),
        Command::Echo { message } => Reply::Bulk(message),
        Command::Quit => {
            session.quit = true;
            Reply::ok()
        }
        Command::Select { index: 0 } => Reply::ok(),
        Command::Select { .. } => Reply::error("ERR DB index is out of range"),
        Command::Hello(hello) => execute_hello(hello, shared, session),
        Command::Command(sub) => execute_command_command(sub),
        Command::ConfigGet { patterns } => config_get(&patterns, shared),
        Command::ConfigHelp => help_lines(&["CONFIG <subcommand> [<arg> ...]", "GET <pattern>"]),
        Command::Client(sub) => execute_client(sub, session),
    }
}

/// Resolves a write's expiry to an absolute deadline; `Err` when it overflows, as Redis refuses.
fn deadline(expiry: Option<Expiry>, now: u64, current: Option<u64>, command: &str) -> Result<Option<u64>, Reply> {
    let invalid = || Reply::error(format!("ERR invalid expire time in '{command}' command"));
    match expiry {
        None => Ok(None),
        Some(Expiry::Keep) => Ok(current),
        Some(Expiry::At(at)) => u64::try_from(at).map(Some).map_err(|_| invalid()),
        Some(Expiry::In(ms)) => {
            let at = (now as i64).checked_add(ms).ok_or_else(invalid)?;
            u64::try_from(at).map(Some).map_err(|_| invalid())
        }
    }
}

fn execute_set(set: Set, shared: &Shared) -> Reply {
    shared.db.with_key(&set.key, |slot| {
        let old_value = set.get.then(|| slot.value().map(Bytes::copy_from_slice));
        let exists = slot.exists();
        let allowed = match set.condition {
            None => true,
            Some(SetCondition::IfAbsent) => !exists,
            Some(SetCondition::IfPresent) => exists,
        };
        if allowed {
            let current = slot.expires_at().flatten();
            let expires_at = match deadline(set.expiry, slot.now(), current, "set") {
                Ok(at) => at,
                Err(reply) => return reply,
            };
            if expires_at.is_some_and(|at| at <= slot.now()) {
                // A deadline already past: the key is set and gone at once.
                slot.remove();
            } else {
                slot.put(&set.value, expires_at);
            }
        }
        match (old_value, allowed) {
            (Some(old), _) => old.map_or(Reply::Null, Reply::Bulk),
            (None, true) => Reply::ok(),
            (None, false) => Reply::Null,
        }
    })
}

fn execute_hello(hello: Hello, shared: &Shared, session: &mut Session) -> Reply {
    let protocol = match hello.protover {
        None => session.protocol,
        Some(2) => Protocol::Resp2,
        Some(3) => Protocol::Resp3,
        Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
    };
    if let Some((_user, password)) = &hello.auth {
        if let Err(reply) = crate::auth::check(shared, password) {
            return reply;
        }
        session.authenticated = true;
    }
    if !session.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = hello.setname {
        session.name = Some(name);
    }
    session.protocol = protocol;
    let text = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
    Reply::Map(vec![
        (text("server"), text("redis")),
        (text("version"), text(REDIS_COMPAT_VERSION)),
        (text("proto"), Reply::Integer(protocol.version())),
        (text("id"), Reply::Integer(session.id as i64)),
        (text("mode"), text("standalone")),
        (text("role"), text("master")),
        (text("modules"), Reply::Array(Vec::new())),
    ])
}

fn execute_client(sub: ClientCommand, session: &mut Session) -> Reply {
    match sub {
        ClientCommand::Id => Reply::Integer(session.id as i64),
        ClientCommand::GetName => session.name.clone().map_or(Reply::Null, Reply::Bulk),
        ClientCommand::SetName(name) => {
            session.name = (!name.is_empty()).then_some(name);
            Reply::ok()
        }
        ClientCommand::SetInfo { attribute, .. } => {
            if attribute.eq_ignore_ascii_case(b"lib-name") || attribute.eq_ignore_ascii_case(b"lib-ver") {
                Reply::ok()
            } else {
                Reply::error(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(&attribute)))
            }
        }
        ClientCommand::Help => help_lines(&[
            "CLIENT <subcommand> [<arg> ...]",
            "ID",
            "GETNAME",
            "SETNAME <name>",
            "SETINFO <option> <value>",
        ]),
    }
}

fn help_lines(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::status(line)).collect())
}

fn bulk_str(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// `COMMAND INFO`'s array for one command, in Redis 7's shape.
fn command_info(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let (first, last, step) = spec.keys;
    Reply::Array(vec![
        bulk_str(&spec.full_name(parent)),
        Reply::Integer(spec.arity),
        Reply::Set(spec.flags.iter().map(|flag| Reply::status(flag)).collect()),
        Reply::Integer(first),
        Reply::Integer(last),
        Reply::Integer(step),
        Reply::Set(vec![Reply::Status(Cow::Owned(format!("@{}", spec.group)))]),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(spec.subcommands.iter().map(|sub| command_info(sub, Some(spec))).collect()),
    ])
}

/// `COMMAND DOCS`'s map for one command.
fn command_docs(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let mut fields = vec![
        (bulk_str("summary"), bulk_str(spec.summary)),
        (bulk_str("since"), bulk_str(spec.since)),
        (bulk_str("group"), bulk_str(spec.group)),
    ];
    if !spec.subcommands.is_empty() {
        let subs =
            spec.subcommands.iter().map(|sub| (bulk_str(&sub.full_name(Some(spec))), command_docs(sub, Some(spec))));
        fields.push((bulk_str("subcommands"), Reply::Map(subs.collect())));
    }
    let _ = parent;
    Reply::Map(fields)
}

fn execute_command_command(sub: CommandCommand) -> Reply {
    match sub {
        CommandCommand::All => Reply::Array(COMMANDS.iter().map(|spec| command_info(spec, None)).collect()),
        CommandCommand::Count => Reply::Integer(COMMANDS.len() as i64),
        CommandCommand::Info(names) if names.is_empty() => execute_command_command(CommandCommand::All),
        CommandCommand::Info(names) => Reply::Array(
            names.iter().map(|name| table::lookup(name).map_or(Reply::Null, |spec| command_info(spec, None))).collect(),
        ),
        CommandCommand::Docs(names) => {
            let specs: Vec<&CommandSpec> = if names.is_empty() {
                COMMANDS.iter().collect()
            } else {
                names.iter().filter_map(|name| table::lookup(name)).collect()
            };
            Reply::Map(
                specs.into_iter().map(|spec| (bulk_str(&spec.full_name(None)), command_docs(spec, None))).collect(),
            )
        }
        CommandCommand::Help => help_lines(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]",
            "(no subcommand)",
            "COUNT",
            "DOCS [<command-name> ...]",
            "INFO [<command-name> ...]",
        ]),
    }
}

/// `CONFIG GET`: the parameters a client may ask about, with Redis's names.
fn config_get(patterns: &[Bytes], shared: &Shared) -> Reply {
    let config = &shared.config;
    let params: Vec<(&str, String)> = vec![
        ("bind", config.bind.clone()),
        ("port", config.port.to_string()),
        ("maxclients", config.max_clients.to_string()),
        ("timeout", config.timeout.to_string()),
        ("maxmemory", config.maxmemory.to_string()),
        ("maxmemory-policy", "noeviction".to_owned()),
        ("proto-max-bulk-len", config.proto_max_bulk_len.to_string()),
        ("appendonly", if config.appendonly.is_some() { "yes" } else { "no" }.to_owned()),
        ("appendfsync", format!("{:?}", config.appendfsync).to_ascii_lowercase()),
        ("save", String::new()),
        ("databases", "1".to_owned()),
        ("requirepass", config.requirepass.clone().unwrap_or_default()),
    ];
    let pairs = params
        .into_iter()
        .filter(|(name, _)| {
            patterns.iter().any(|pattern| glob::matches(&pattern.to_ascii_lowercase(), name.as_bytes()))
        })
        .map(|(name, value)| (bulk_str(name), bulk_str(&value)))
        .collect();
    Reply::Map(pairs)
}
