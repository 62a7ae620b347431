//! The connection and introspection family: `AUTH`, `HELLO`, `COMMAND`.

use std::borrow::Cow;

use bytes::Bytes;
use tinykv_proto::command::{CommandCommand, Hello};
use tinykv_proto::syntax;
use tinykv_proto::table::{self, CommandSpec, COMMANDS};
use tinykv_proto::{Protocol, Reply};

use super::{Session, REDIS_COMPAT_VERSION};
use crate::auth;
use crate::shared::Shared;

/// `AUTH [username] password`: `OK` and an authenticated session, or Redis's error.
pub(super) fn auth(shared: &Shared, session: &mut Session, username: Option<&[u8]>, password: &[u8]) -> Reply {
    let checked = match username {
        None => auth::check(shared, password),
        Some(username) => auth::check_user(shared, username, password),
    };
    match checked {
        Ok(()) => {
            session.authenticated = true;
            Reply::ok()
        }
        // A failed attempt leaves an already authenticated session as it was, as in Redis.
        Err(reply) => reply,
    }
}

/// `HELLO [protover [AUTH username password] [SETNAME name]]`: switches the protocol and answers with
/// the server's facts, a map (a flat array in RESP2).
pub(super) fn hello(hello: Hello, shared: &Shared, session: &mut Session) -> Reply {
    let protocol = match hello.protover {
        None => session.protocol,
        Some(2) => Protocol::Resp2,
        Some(3) => Protocol::Resp3,
        Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
    };
    if let Some((username, password)) = &hello.auth {
        if let Err(reply) = auth::check_user(shared, username, password) {
            return reply;
        }
        session.authenticated = true;
    }
    if session.needs_auth(shared) {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = hello.setname {
        // A copy: the argument is a slice of the read buffer, which the name must not pin.
        session.set_name(Some(Bytes::copy_from_slice(&name)));
    }
    session.protocol = protocol;
    session.client.set_resp(protocol.version());
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

/// A `HELP` subcommand's reply: one status line per line of text.
pub(super) fn help_lines(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::status(line)).collect())
}

/// A `HELP` subcommand's reply as Redis's `addReplyHelp` builds it: a header naming the command,
/// one status line per line of text, and the lines for `HELP` itself.
pub(super) fn help_reply(command: &str, lines: &[&'static str]) -> Reply {
    let mut reply = Vec::with_capacity(lines.len() + 3);
    reply
        .push(Reply::Status(Cow::Owned(format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"))));
    reply.extend(lines.iter().map(|line| Reply::status(line)));
    reply.push(Reply::status("HELP"));
    reply.push(Reply::status("    Prints this help."));
    Reply::Array(reply)
}

/// `COMMAND INFO`'s array for one command, in Redis 7's shape.
fn command_info(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let (first, last, step) = spec.keys;
    Reply::Array(vec![
        Reply::bulk(spec.full_name(parent)),
        Reply::Integer(spec.arity),
        Reply::Set(spec.flags.iter().map(|flag| Reply::status(flag.name())).collect()),
        Reply::Integer(first),
        Reply::Integer(last),
        Reply::Integer(step),
        Reply::Set(vec![Reply::Status(Cow::Owned(format!("@{}", spec.group)))]),
        // Tips and key specifications: none given, as sets, the type Redis 7 uses for both.
        Reply::Set(Vec::new()),
        Reply::Set(Vec::new()),
        Reply::Array(spec.subcommands.iter().map(|sub| command_info(sub, Some(spec))).collect()),
    ])
}

/// `COMMAND DOCS`'s map for one command.
fn command_docs(spec: &CommandSpec) -> Reply {
    let mut fields = vec![
        (Reply::bulk("summary"), Reply::bulk(spec.summary)),
        (Reply::bulk("since"), Reply::bulk(spec.since)),
        (Reply::bulk("group"), Reply::bulk(spec.group)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec.subcommands.iter().map(|sub| (Reply::bulk(sub.full_name(Some(spec))), command_docs(sub)));
        fields.push((Reply::bulk("subcommands"), Reply::Map(subs.collect())));
    } else if !spec.args.is_empty() {
        let arguments = syntax::parse(spec.args).iter().map(argument_docs).collect();
        fields.push((Reply::bulk("arguments"), Reply::Array(arguments)));
    }
    Reply::Map(fields)
}

/// One argument in `COMMAND DOCS`'s shape: what redis-cli builds its hints from. Names, types and
/// tokens are bulk strings and flags are simple strings, exactly as Redis sends them: redis-cli
/// asserts on the types.
fn argument_docs(argument: &syntax::Argument) -> Reply {
    let mut fields = vec![
        (Reply::bulk("name"), Reply::bulk(&argument.name)),
        (Reply::bulk("type"), Reply::bulk(argument.kind.redis_name())),
    ];
    if let Some(token) = &argument.token {
        fields.push((Reply::bulk("token"), Reply::bulk(token)));
    }
    let flags: Vec<Reply> =
        [(argument.optional, "optional"), (argument.multiple, "multiple"), (argument.multiple_token, "multiple_token")]
            .into_iter()
            .filter(|(set, _)| *set)
            .map(|(_, flag)| Reply::status(flag))
            .collect();
    if !flags.is_empty() {
        fields.push((Reply::bulk("flags"), Reply::Set(flags)));
    }
    if !argument.arguments.is_empty() {
        fields.push((Reply::bulk("arguments"), Reply::Array(argument.arguments.iter().map(argument_docs).collect())));
    }
    Reply::Map(fields)
}

/// `COMMAND [COUNT|DOCS|INFO|HELP]`, answered from the one command table.
pub(super) fn command_command(sub: CommandCommand) -> Reply {
    match sub {
        CommandCommand::All => Reply::Array(COMMANDS.iter().map(|spec| command_info(spec, None)).collect()),
        CommandCommand::Count => Reply::Integer(COMMANDS.len() as i64),
        CommandCommand::Info(names) if names.is_empty() => command_command(CommandCommand::All),
        CommandCommand::Info(names) => Reply::Array(
            names.iter().map(|name| table::lookup(name).map_or(Reply::Null, |spec| command_info(spec, None))).collect(),
        ),
        CommandCommand::Docs(names) => {
            let specs: Vec<&CommandSpec> = if names.is_empty() {
                COMMANDS.iter().collect()
            } else {
                names.iter().filter_map(|name| table::lookup(name)).collect()
            };
            Reply::Map(specs.into_iter().map(|spec| (Reply::bulk(spec.full_name(None)), command_docs(spec))).collect())
        }
        CommandCommand::Help => help_reply(
            "COMMAND",
            &[
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
            ],
        ),
    }
}
