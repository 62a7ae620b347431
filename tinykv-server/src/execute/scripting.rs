//! `EVAL`, `EVALSHA`, `FCALL` (and their `_RO` forms), `SCRIPT` and `FUNCTION`.
//!
//! A script call runs with every other client held off (its caller took the isolation lock
//! exclusively: [`super::handle`] for a call, `EXEC` for one queued in a transaction). Each
//! `redis.call` goes through the same path as a client's command ([`super::run`]: lookup, gates,
//! parse, execute, the append-only record), after Redis's script checks: commands flagged
//! `noscript` are refused, writes are refused in read-only scripts and, over `maxmemory`, before the
//! first write. The writes of one script reach the append-only file between `MULTI` and `EXEC`, so
//! replay applies them whole.

use bytes::Bytes;
use tinykv_proto::command::{RestorePolicy, ScriptCall, ScriptCommand, ScriptTarget};
use tinykv_proto::table::Flag;
use tinykv_proto::{Command, CommandError, Protocol, Reply, Request};

use super::Session;
use crate::aof::Effects;
use crate::scripting::{CallContext, KillRefusal};
use crate::shared::Shared;

/// `BUSY` while an `EVAL` runs too long.
pub const BUSY_EVAL: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// `BUSY` while a function runs too long.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// `SCRIPT DEBUG YES|SYNC`: Redis's Lua debugger is not implemented.
pub const SCRIPT_DEBUG_UNSUPPORTED: &str =
    "ERR SCRIPT DEBUG is not supported: TinyKV has no Lua debugger (SCRIPT DEBUG NO is accepted)";

/// Runs one scripting command.
pub fn command(sub: ScriptCommand, shared: &Shared, session: &mut Session) -> Reply {
    let scripting = &shared.scripting;
    let result = match sub {
        ScriptCommand::Call(call) => return call_script(call, shared, session),
        ScriptCommand::Load { body } => {
            scripting.with_vm(|vm| vm.load_script(&body, true).map_or_else(Reply::error, Reply::bulk))
        }
        ScriptCommand::Exists { shas } => scripting
            .with_vm(|vm| Reply::Array(shas.iter().map(|sha| Reply::Integer(i64::from(vm.exists(sha)))).collect())),
        ScriptCommand::Flush => {
            scripting.flush_scripts();
            Ok(Reply::ok())
        }
        ScriptCommand::Kill { function } => Ok(kill(shared, function)),
        ScriptCommand::Help => Ok(help(SCRIPT_HELP)),
        // TinyKV has no Lua debugger (LDB): turning it on is refused rather than accepted and ignored.
        ScriptCommand::Debug { on: true } => Ok(Reply::error(SCRIPT_DEBUG_UNSUPPORTED)),
        ScriptCommand::Debug { on: false } => Ok(Reply::ok()),
        ScriptCommand::FunctionLoad { replace, code } => {
            scripting.with_vm(|vm| match vm.load_library(&code, replace) {
                Ok(name) => {
                    record(shared, session, &[b"FUNCTION", b"LOAD", b"REPLACE", &code]);
                    shared.rdb.set_functions(vm.library_codes());
                    Reply::bulk(name)
                }
                Err(err) => Reply::error(err),
            })
        }
        ScriptCommand::FunctionList { with_code, pattern } => {
            scripting.with_vm(|vm| vm.list_libraries(with_code, pattern.as_deref()))
        }
        ScriptCommand::FunctionDelete { library } => scripting.with_vm(|vm| {
            if vm.libraries.delete(&library) {
                record(shared, session, &[b"FUNCTION", b"DELETE", &library]);
                shared.rdb.set_functions(vm.library_codes());
                Reply::ok()
            } else {
                Reply::error("ERR Library not found")
            }
        }),
        ScriptCommand::FunctionFlush => scripting.with_vm(|vm| {
            vm.libraries.flush();
            record(shared, session, &[b"FUNCTION", b"FLUSH"]);
            shared.rdb.set_functions(Vec::new());
            Reply::ok()
        }),
        ScriptCommand::FunctionDump => scripting.with_vm(|vm| {
            let codes = vm.library_codes();
            Reply::bulk(crate::rdb::encode::function_dump(codes.iter().map(|c| &c[..]), shared.config.rdbcompression))
        }),
        ScriptCommand::FunctionRestore { payload, policy } => scripting.with_vm(|vm| {
            let codes = match crate::rdb::decode::function_restore(&payload) {
                Ok(codes) => codes,
                Err(text) => return Reply::error(text),
            };
            match vm.restore_libraries(codes, policy) {
                Ok(()) => {
                    if policy == RestorePolicy::Flush {
                        record(shared, session, &[b"FUNCTION", b"FLUSH"]);
                    }
                    for library in vm.libraries.iter() {
                        record(shared, session, &[b"FUNCTION", b"LOAD", b"REPLACE", &library.code]);
                    }
                    shared.rdb.set_functions(vm.library_codes());
                    Reply::ok()
                }
                Err(text) => Reply::error(text),
            }
        }),
        ScriptCommand::FunctionStats => scripting.with_vm(|vm| {
            let (libraries, functions) = vm.libraries.counts();
            Reply::Map(vec![
                (Reply::bulk("running_script"), Reply::Null),
                (
                    Reply::bulk("engines"),
                    Reply::Map(vec![(
                        Reply::bulk("LUA"),
                        Reply::Map(vec![
                            (Reply::bulk("libraries_count"), Reply::Integer(libraries as i64)),
                            (Reply::bulk("functions_count"), Reply::Integer(functions as i64)),
                        ]),
                    )]),
                ),
            ])
        }),
        ScriptCommand::FunctionHelp => Ok(help(FUNCTION_HELP)),
    };
    result.unwrap_or_else(Reply::error)
}

/// Records a library change in the append-only file and the replication stream (each if there is one).
fn record(shared: &Shared, session: &mut Session, args: &[&[u8]]) {
    // Replicas get the library change too, as Redis propagates FUNCTION LOAD/DELETE/FLUSH/RESTORE.
    let replication = super::replication::live_feed(shared);
    let mut effects = Effects::with_replication(shared.aof.as_ref(), replication, session.db);
    effects.record(args);
    if effects.recorded() {
        session.unlogged = true;
    }
}

/// `SCRIPT KILL` / `FUNCTION KILL`: allowed while a script is busy, so run without the isolation lock.
fn kill(shared: &Shared, function: bool) -> Reply {
    match shared.scripting.run.kill(function) {
        Ok(()) => Reply::ok(),
        Err(KillRefusal::NotBusy) => Reply::error("NOTBUSY No scripts in execution right now."),
        Err(KillRefusal::Unkillable) => Reply::error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."),
        Err(KillRefusal::WrongKind) => Reply::error(if function { BUSY_EVAL } else { BUSY_FUNCTION }),
    }
}

/// `EVAL`/`EVALSHA`/`FCALL` and their `_RO` forms. The caller holds the isolation lock exclusively.
fn call_script(call: ScriptCall, shared: &Shared, session: &mut Session) -> Reply {
    let function = call.target == ScriptTarget::Function;
    let outcome = shared.scripting.with_vm(|vm| {
        let prepared = match if function {
            vm.prepare_function(&call.name)
        } else {
            vm.prepare_script(&call.name, call.target == ScriptTarget::Sha)
        } {
            Ok(prepared) => prepared,
            Err(reply) => return reply,
        };
        if call.read_only && prepared.flags.declared && !prepared.flags.no_writes {
            return Reply::error("ERR Can not execute a script with write flag using *_ro command.");
        }
        let run = &shared.scripting.run;
        run.begin(function);
        let (db, protocol) = (session.db, session.protocol);
        let mut context = Context {
            shared,
            session: &mut *session,
            read_only: call.read_only || prepared.flags.no_writes,
            allow_oom: prepared.flags.allow_oom,
            multi_open: false,
        };
        // As inside `EXEC`: blocking commands answer at once, and clients blocked on lists the
        // script fills are served when it ends, before anyone else runs.
        let in_exec = std::mem::replace(&mut context.session.in_exec, true);
        let reply = vm.invoke(&prepared, &call.keys, &call.args, &mut context);
        context.session.in_exec = in_exec;
        if context.multi_open {
            record(shared, session, &[b"EXEC"]);
        }
        if !in_exec && shared.blocking.any() {
            session.unlogged |= super::lists::serve_all(shared);
        }
        // SELECT and the protocol of a script are its own.
        session.db = db;
        session.client.set_db(db);
        session.protocol = protocol;
        run.end();
        reply
    });
    outcome.unwrap_or_else(Reply::error)
}

/// What `redis.call` needs: the server, the caller's session, and the script's restrictions.
struct Context<'a> {
    shared: &'a Shared,
    session: &'a mut Session,
    read_only: bool,
    allow_oom: bool,
    /// A `MULTI` was written to the append-only file ahead of the script's first write.
    multi_open: bool,
}

impl CallContext for Context<'_> {
    fn call(&mut self, args: Vec<Bytes>, resp: Protocol) -> Reply {
        let request = Request { args };
        let found = match Command::lookup(&request) {
            Ok(found) => found,
            Err(CommandError::WrongArity(_)) => {
                return Reply::error("ERR Wrong number of args calling Redis command from script")
            }
            Err(_) => return Reply::error("ERR Unknown Redis command called from script"),
        };
        let spec = found.flags_spec();
        if spec.has(Flag::NoScript) || found.spec.has(Flag::NoScript) {
            return Reply::error("ERR This Redis command is not allowed from script");
        }
        let run = &self.shared.scripting.run;
        if spec.has(Flag::Write) {
            if self.read_only {
                return Reply::error("ERR Write commands are not allowed from read-only scripts.");
            }
            let maxmemory = self.shared.settings.maxmemory();
            if !self.allow_oom
                && !run.has_written()
                && spec.has(Flag::DenyOom)
                && maxmemory > 0
                && self.shared.used_memory() as u64 > maxmemory
            {
                return CommandError::Oom.into();
            }
            run.wrote();
            if !self.multi_open && self.shared.aof.is_some() {
                record(self.shared, self.session, &[b"MULTI"]);
                self.multi_open = true;
            }
        }
        self.session.protocol = resp;
        self.session.allow_oom = self.allow_oom;
        let reply = super::run(&request, self.shared, self.session);
        self.session.allow_oom = false;
        reply
    }
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (Notice that the operation isn't atomic).",
    "HELP",
    "    Prints this help.",
];

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::status(line)).collect())
}

/// Whether a request is a script call (`EVAL`, `EVALSHA`, `FCALL` and the `_RO` forms): such a
/// request takes the isolation lock exclusively, and the connection runs it off the async worker.
/// A few byte comparisons, so every other command pays next to nothing.
pub fn is_script_call(request: &Request) -> bool {
    let Some(name) = request.args.first() else { return false };
    if !(4..=10).contains(&name.len()) || !matches!(name[0], b'e' | b'E' | b'f' | b'F') {
        return false;
    }
    ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}
