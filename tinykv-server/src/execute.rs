//! `execute(Command, &Shared, &mut Session) -> Reply`: what each command does.
//!
//! Execution never touches the socket and never awaits: it takes a parsed command and the shared
//! state, and returns the reply. The connection decides when replies are written.
//!
//! [`handle`] is the whole path of one request, in Redis's order of checks:
//!
//! ```text
//! look up the name and check arity (table)  ->  -ERR unknown command / wrong number of arguments
//! gate: authenticated? (flag no_auth)       ->  -NOAUTH Authentication required.
//! gate: over maxmemory? (flag denyoom)      ->  -OOM command not allowed when used memory > 'maxmemory'.
//! gate: AOF failing? (flag write, PING)     ->  -MISCONF Errors writing to the AOF file: <strerror>
//! gate: BGSAVE failing, with save rules?    ->  -MISCONF Redis is configured to save RDB snapshots, ...
//! parse the arguments                       ->  -ERR syntax error, ...
//! execute
//! ```
//!
//! The commands live by family: [`strings`] (values), [`keys`] (the keyspace and expiry),
//! [`object`] (`OBJECT` and `MEMORY`: how one key is stored), [`server`] (connection, server and
//! introspection commands).

mod bits;
mod keys;
mod lcs;
mod long_double;
mod object;
mod persistence;
mod server;
mod strings;

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use bytes::Bytes;
use tinykv_proto::table::{CommandSpec, Flag};
use tinykv_proto::{Command, CommandError, Protocol, Reply, Request};

use crate::access;
use crate::aof::{Aof, Effect};
use crate::shared::Shared;

/// The Redis version TinyKV answers as, for clients that look at it to decide what to send.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// Most commands one transaction may queue: as many as one request may carry arguments. Their
/// total size is capped at `--proto-max-bulk-len`, so a transaction holds no more than one request could.
const MAX_QUEUED: usize = tinykv_proto::Limits::DEFAULT_MAX_ELEMENTS;

/// What the server knows about one connection.
#[derive(Debug, Default)]
pub struct Session {
    /// Unique id, as `CLIENT ID` reports.
    pub id: u64,
    /// The name set by `CLIENT SETNAME` or `HELLO ... SETNAME`.
    pub name: Option<Bytes>,
    /// The protocol version replies are encoded in.
    pub protocol: Protocol,
    /// The database the client works in (`SELECT`).
    pub db: usize,
    /// Whether the client has authenticated (always true when no password is set).
    pub authenticated: bool,
    /// Set by `QUIT`: the connection closes after this reply is sent.
    pub quit: bool,
    /// Set by `SHUTDOWN`: the connection closes without sending this reply, as Redis's does.
    pub close_without_reply: bool,
    /// Whether writes were recorded in the append-only file that the connection has not committed:
    /// it commits them before the replies leave.
    pub unlogged: bool,
    /// The open transaction, between `MULTI` and `EXEC`/`DISCARD`.
    transaction: Option<Transaction>,
    /// Keys `WATCH`ed (database, key), with their versions when watched: `EXEC` runs only if none changed.
    watching: HashMap<(usize, Bytes), u64>,
}

/// Commands queued by `MULTI`, and whether one of them was refused as it was queued (which makes
/// `EXEC` discard them all, as Redis does).
#[derive(Debug, Default)]
struct Transaction {
    queued: Vec<Request>,
    /// Bytes of arguments queued, capped like one request's largest argument.
    queued_bytes: usize,
    refused: bool,
}

impl Session {
    /// A new session; authenticated from the start when the server has no password.
    pub fn new(id: u64, shared: &Shared) -> Session {
        Session { id, authenticated: shared.config.requirepass.is_none(), ..Session::default() }
    }
}

/// Looks up, gates, parses and executes one request: everything between the decoder and the encoder.
/// Inside `MULTI` a request is checked and queued instead; `EXEC` runs the queue with every other
/// client held off.
pub fn handle(request: Request, shared: &Shared, session: &mut Session) -> Reply {
    if session.transaction.is_some() {
        return queue(request, shared, session);
    }
    // Shared with every other command; exclusive only for an `EXEC`.
    let _isolation = shared.isolation.shared();
    run(request, shared, session)
}

/// Lookup, gates, parse, execute, and the append-only record of what a write changed.
fn run(request: Request, shared: &Shared, session: &mut Session) -> Reply {
    let spec = match Command::lookup(&request) {
        Ok(spec) => spec,
        Err(err) => return err.into(),
    };
    if let Some(refusal) = gate(spec, shared, session) {
        return refusal;
    }
    let effect = shared.aof.as_ref().and_then(|_| Aof::effect_of(spec, &request, session.db));
    let reply = match Command::parse_as(spec, request) {
        Ok(command) => execute(command, shared, session),
        Err(err) => err.into(),
    };
    // Counted for the `--save` rules: one atomic add per write that did not fail.
    if spec.has(Flag::Write) && !reply.is_error() {
        shared.rdb.changed(1);
    }
    if let (Some(aof), Some(effect)) = (&shared.aof, effect) {
        if !reply.is_error() {
            // Reading back what the write left is not an access of the keys.
            access::untouched(|| aof.record(&shared.dbs, &effect));
            session.unlogged = true;
        }
    }
    reply
}

/// A request inside `MULTI`: `EXEC`, `DISCARD` and `QUIT` act at once, `MULTI` is refused, and
/// anything else is checked (name, arity, gates) and queued. A refused command spoils the
/// transaction, as in Redis.
fn queue(request: Request, shared: &Shared, session: &mut Session) -> Reply {
    let checked = Command::lookup(&request).map_err(Reply::from).and_then(|spec| match gate(spec, shared, session) {
        Some(refusal) => Err(refusal),
        None => Ok(spec),
    });
    let Some(transaction) = session.transaction.as_mut() else { return run(request, shared, session) };
    let spec = match checked {
        Ok(spec) => spec,
        Err(refusal) => {
            transaction.refused = true;
            return refusal;
        }
    };
    match spec.name {
        "EXEC" => exec(shared, session),
        "DISCARD" => {
            session.transaction = None;
            unwatch(shared, session);
            Reply::ok()
        }
        "QUIT" => run(request, shared, session),
        "MULTI" => Reply::error("ERR MULTI calls can not be nested"),
        "WATCH" => Reply::error("ERR WATCH inside MULTI is not allowed"),
        _ if spec.has(Flag::NoMulti) => {
            transaction.refused = true;
            Reply::error("ERR Command not allowed inside a transaction")
        }
        _ => {
            let bytes: usize = request.args.iter().map(Bytes::len).sum();
            let max_bytes = shared.config.proto_max_bulk_len as usize;
            if transaction.queued.len() >= MAX_QUEUED || transaction.queued_bytes + bytes > max_bytes {
                transaction.refused = true;
                return Reply::error("ERR transaction too large: too many or too long queued commands");
            }
            transaction.queued_bytes += bytes;
            transaction.queued.push(request);
            Reply::status("QUEUED")
        }
    }
}

/// `EXEC`: every queued command's reply, in order, with no other client's command in between.
/// Reached without the shared isolation lock whenever a transaction is open (see [`handle`]), so
/// taking it exclusively here cannot deadlock.
fn exec(shared: &Shared, session: &mut Session) -> Reply {
    let Some(transaction) = session.transaction.take() else { return Reply::error("ERR EXEC without MULTI") };
    let reply = if transaction.refused {
        CommandError::ExecAbort.into()
    } else {
        let _exclusive = shared.isolation.exclusive();
        // Checked under the exclusive lock: nothing can change a watched key between check and run.
        let changed =
            session.watching.iter().any(|((db, key), version)| shared.db(*db).watched_version(key) != *version);
        if changed {
            Reply::NullArray
        } else {
            Reply::Array(transaction.queued.into_iter().map(|request| run(request, shared, session)).collect())
        }
    };
    unwatch(shared, session);
    reply
}

/// `WATCH key ...`: remembers each key's version for the next `EXEC`.
fn watch(shared: &Shared, session: &mut Session, keys: Vec<Bytes>) -> Reply {
    let db = session.db;
    for key in keys {
        // Once per key, however often it is watched: repeated WATCHes must not grow the session.
        // A copy: the argument is a slice of the read buffer, which a watch must not pin.
        if let Entry::Vacant(vacant) = session.watching.entry((db, Bytes::copy_from_slice(&key))) {
            vacant.insert(shared.db(db).watch(&key));
        }
    }
    Reply::ok()
}

/// Forgets every key the session watches: after `EXEC`, `DISCARD`, `UNWATCH`, and when the
/// connection ends.
pub fn unwatch(shared: &Shared, session: &mut Session) {
    for ((db, key), _) in session.watching.drain() {
        shared.db(db).unwatch(&key);
    }
}

/// Whether a command may run at all, judged from its table flags: `Some(error)` when the client has
/// not authenticated yet, when it would grow a data set that is over `--maxmemory` and the policy
/// can evict nothing more, or when it would change data that the failing append-only file could not
/// log. Over the limit, keys are evicted first (before any command, as Redis does). Reads, deletes
/// and expiry changes have no `denyoom` flag, so they keep working when full.
pub fn gate(spec: &CommandSpec, shared: &Shared, session: &Session) -> Option<Reply> {
    if !session.authenticated && !spec.has(Flag::NoAuth) {
        return Some(CommandError::NoAuth.into());
    }
    let maxmemory = shared.config.maxmemory;
    if maxmemory > 0
        && shared.used_memory() as u64 > maxmemory
        && !make_room(shared, maxmemory)
        && spec.has(Flag::DenyOom)
    {
        return Some(CommandError::Oom.into());
    }
    // A write that cannot be logged is refused before it runs, so it is neither applied nor queued
    // for the file. PING too, as in Redis, so a health check sees the failure; reads go on.
    if spec.has(Flag::Write) || spec.name == "PING" {
        if let Some(refusal) = shared.aof.as_ref().and_then(|aof| aof.write_refusal()) {
            return Some(refusal.into());
        }
        // And while snapshots the save rules ask for keep failing, as Redis's stop-writes-on-bgsave-error.
        if let Some(refusal) = shared.rdb.write_refusal() {
            return Some(Reply::error(refusal));
        }
    }
    None
}

/// Evicts keys until memory is at most `maxmemory`; false when the policy can evict nothing more.
/// Each eviction is an effect like any write's: `SELECT db` + `DEL key` in the append-only file, ahead
/// of the record of the command that needed the room. (The records are committed with the next
/// batch's, like every record: a crash before that loses a deletion no client was told of.)
fn make_room(shared: &Shared, maxmemory: u64) -> bool {
    shared.evictor.make_room(&shared.dbs, &shared.counters, maxmemory, |db, key| {
        if let Some(aof) = &shared.aof {
            let effect = Effect::Keys(vec![(db, Bytes::copy_from_slice(key))]);
            access::untouched(|| aof.record(&shared.dbs, &effect));
        }
    })
}

/// Runs one parsed command and returns its reply. Does not gate: [`handle`] does that first.
pub fn execute(command: Command, shared: &Shared, session: &mut Session) -> Reply {
    let db = shared.db(session.db);
    match command {
        Command::Get { key } => strings::get(db, &key),
        Command::Set(set) => strings::set(db, set),
        Command::GetDel { key } => strings::getdel(db, &key),
        Command::GetSet { key, value } => strings::getset(db, &key, &value),
        Command::MGet { keys } => strings::mget(db, &keys),
        Command::MSet { pairs } => strings::mset(db, &pairs, false),
        Command::MSetNx { pairs } => strings::mset(db, &pairs, true),
        Command::SetNx { key, value } => strings::setnx(db, &key, &value),
        Command::IncrBy { key, delta } => strings::incr_by(db, &key, delta),
        Command::Append { key, value } => strings::append(db, &key, &value, shared.config.proto_max_bulk_len),
        Command::Strlen { key } => strings::strlen(db, &key),
        Command::GetEx { key, action } => strings::getex(db, &key, action),
        Command::GetRange { key, start, end } => strings::getrange(db, &key, start, end),
        Command::SetRange { key, offset, value } => {
            strings::setrange(db, &key, offset, &value, shared.config.proto_max_bulk_len)
        }
        Command::IncrByFloat { key, increment } => strings::incrbyfloat(db, &key, &increment),
        Command::Lcs { key1, key2, options } => lcs::lcs(db, &key1, &key2, options, shared.config.proto_max_bulk_len),
        Command::SetBit { key, offset, bit } => bits::setbit(db, &key, offset, bit, shared.config.proto_max_bulk_len),
        Command::GetBit { key, offset } => bits::getbit(db, &key, offset, shared.config.proto_max_bulk_len),
        Command::BitCount { key, range } => bits::bitcount(db, &key, range),
        Command::BitPos { key, bit, range } => bits::bitpos(db, &key, bit, range),
        Command::BitOp { operation, destination, sources } => bits::bitop(db, operation, &destination, &sources),
        Command::BitField(bitfield) => bits::bitfield(db, bitfield, shared.config.proto_max_bulk_len),

        Command::Del { keys } => keys::del(db, &keys),
        Command::Exists { keys } => keys::exists(db, &keys),
        Command::Expire(expire) => keys::expire(db, expire),
        Command::Ttl { key, millis } => keys::ttl(db, &key, millis),
        Command::Persist { key } => keys::persist(db, &key),
        Command::Type { key } => keys::type_of(db, &key),
        Command::Object(sub) => object::object(db, shared.config.maxmemory, sub),
        Command::Memory(sub) => object::memory(db, sub),
        Command::Rename { key, new_key } => keys::rename(db, &key, &new_key),
        Command::RenameNx { key, new_key } => keys::renamenx(db, &key, &new_key),
        Command::Copy(copy) => keys::copy(&shared.dbs, session.db, copy),
        Command::Move { key, db: target } => keys::move_key(&shared.dbs, session.db, &key, target),
        Command::SwapDb { first, second } => keys::swapdb(&shared.dbs, first, second),
        Command::Touch { keys } => keys::exists(db, &keys),
        Command::ExpireTime { key, millis } => keys::expire_time(db, &key, millis),
        Command::RandomKey => keys::randomkey(db),
        Command::Keys { pattern } => keys::keys(db, &pattern),
        Command::Scan(scan) => keys::scan(db, scan),
        Command::DbSize => Reply::Integer(db.len() as i64),
        Command::Save => persistence::save(shared),
        Command::BgSave { schedule } => persistence::bgsave(shared, schedule),
        Command::LastSave => persistence::lastsave(shared),
        Command::BgRewriteAof => persistence::bgrewriteaof(shared),
        Command::Shutdown(shutdown) => persistence::shutdown(shared, session, shutdown),
        Command::Dump { key } => persistence::dump(db, &key, shared.config.rdbcompression),
        Command::Restore(restore) => persistence::restore(db, restore),
        Command::FlushDb => {
            db.clear();
            Reply::ok()
        }
        Command::FlushAll => {
            shared.dbs.iter().for_each(crate::db::Db::clear);
            Reply::ok()
        }

        Command::Ping { message } => message.map_or(Reply::status("PONG"), Reply::Bulk),
        Command::Echo { message } => Reply::Bulk(message),
        Command::Quit => {
            session.quit = true;
            Reply::ok()
        }
        Command::Select { index } => match usize::try_from(index) {
            Ok(index) if index < shared.dbs.len() => {
                session.db = index;
                Reply::ok()
            }
            _ => CommandError::DbIndexOutOfRange.into(),
        },
        Command::Auth { username, password } => server::auth(shared, session, username.as_deref(), &password),
        Command::Hello(hello) => server::hello(hello, shared, session),
        Command::Info { sections } => crate::info::info(shared, &sections),
        Command::Command(sub) => server::command_command(sub),
        Command::ConfigGet { patterns } => server::config_get(&patterns, shared),
        Command::ConfigHelp => server::help_lines(&["CONFIG <subcommand> [<arg> ...]", "GET <pattern>"]),
        Command::Client(sub) => server::client(sub, session),
        Command::Multi => {
            session.transaction = Some(Transaction::default());
            Reply::ok()
        }
        Command::Exec => exec(shared, session),
        Command::Discard => Reply::error("ERR DISCARD without MULTI"),
        Command::Watch { keys } => watch(shared, session, keys),
        Command::Unwatch => {
            unwatch(shared, session);
            Reply::ok()
        }
    }
}

/// A bulk string reply from text.
fn bulk_str(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use tinykv_proto::Request;

    use super::*;
    use crate::config::Config;

    fn run(shared: &Shared, session: &mut Session, words: &[&str]) -> Reply {
        let args = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        handle(Request { args }, shared, session)
    }

    #[test]
    fn noauth_comes_after_lookup_and_arity_and_before_arguments() {
        let shared = Shared::open(Config::parse_from(["tinykv-server", "--requirepass", "pw"]), 0)
            .expect("no append-only file to open");
        let mut session = Session::new(1, &shared);
        let noauth = Reply::error("NOAUTH Authentication required.");
        assert!(
            matches!(run(&shared, &mut session, &["nosuch"]), Reply::Error(e) if e.starts_with("ERR unknown command"))
        );
        assert!(matches!(run(&shared, &mut session, &["get"]), Reply::Error(e) if e.starts_with("ERR wrong number")));
        assert_eq!(run(&shared, &mut session, &["set", "k", "v", "bogus"]), noauth);
        assert_eq!(run(&shared, &mut session, &["auth", "pw"]), Reply::ok());
        assert_eq!(run(&shared, &mut session, &["set", "k", "v", "bogus"]), Reply::error("ERR syntax error"));
    }

    #[test]
    fn oom_refuses_only_denyoom_commands() {
        let shared = Shared::open(Config::parse_from(["tinykv-server", "--maxmemory", "1"]), 0)
            .expect("no append-only file to open");
        let mut session = Session::new(1, &shared);
        assert_eq!(run(&shared, &mut session, &["set", "k", "v"]), Reply::ok());
        let oom = Reply::error("OOM command not allowed when used memory > 'maxmemory'.");
        assert_eq!(run(&shared, &mut session, &["set", "k2", "v"]), oom);
        assert_eq!(run(&shared, &mut session, &["incr", "n"]), oom);
        assert_eq!(run(&shared, &mut session, &["get", "k"]), Reply::bulk("v"));
        assert_eq!(run(&shared, &mut session, &["expire", "k", "100"]), Reply::Integer(1));
        assert_eq!(run(&shared, &mut session, &["del", "k"]), Reply::Integer(1));
        // The emptied table still holds its buckets, which count (as a Redis dict's do).
        assert_eq!(run(&shared, &mut session, &["set", "k", "v"]), oom);
        assert_eq!(run(&shared, &mut session, &["flushall"]), Reply::ok());
        assert_eq!(run(&shared, &mut session, &["set", "k", "v"]), Reply::ok());
    }

    #[test]
    fn over_maxmemory_an_eviction_policy_makes_room_and_counts_it() {
        let config = ["tinykv-server", "--maxmemory", "100kb", "--maxmemory-policy", "allkeys-lru"];
        let shared = Shared::open(Config::parse_from(config), 0).expect("no append-only file to open");
        let mut session = Session::new(1, &shared);
        let value = "x".repeat(1000);
        for i in 0..1000 {
            assert_eq!(run(&shared, &mut session, &["set", &format!("k{i}"), &value]), Reply::ok());
            // Room is made before each write: over the limit by at most the last write.
            assert!(shared.used_memory() <= 100 * 1024 + 2048, "{}", shared.used_memory());
        }
        let evicted = shared.counters.evicted_keys();
        let kept: usize = shared.dbs.iter().map(|db| db.len()).sum();
        assert!(evicted > 800 && evicted as usize + kept == 1000, "evicted {evicted}, kept {kept}");
    }
}
