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
//! Every command that passes the gates is timed (one clock read, see [`crate::clock`]) and counted for
//! `INFO commandstats`, and logged when slow enough (`SLOWLOG`).
//!
//! The commands live by family: [`strings`] (values), [`keys`] (the keyspace and expiry),
//! [`object`] (`OBJECT` and `MEMORY`: how one key is stored), [`server`] (connection and
//! introspection commands), [`admin`] (`CONFIG`, `CLIENT`, `SLOWLOG`, `DEBUG` and the other server
//! commands).

/// The `Ok` value, or returns the error as the reply: for command functions, which answer a
/// `Reply` whatever happens.
macro_rules! or_reply {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(err) => return tinykv_proto::Reply::from(err),
        }
    };
}

mod admin;
mod bits;
mod hashes;
mod keys;
mod lcs;
// --- lists ---
mod lists;
mod long_double;
mod object;
mod persistence;
mod pubsub;
mod replication;
mod server;
mod sets;
mod strings;
// --- sorted sets ---
mod zsets;
// --- sort ---
mod sort;
// --- scripting ---
mod scripting;

pub use scripting::is_script_call;

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tinykv_proto::command::{Found, ReplyMode};
use tinykv_proto::table::{self, Flag};
use tinykv_proto::{Command, CommandError, Protocol, Reply, Request};

use crate::access;
use crate::aof::{Aof, Effect, Effects};
use crate::clients::{ClientInfo, PauseKind};
use crate::clock;
use crate::config::DebugCommandAccess;
use crate::db::{Db, ReadLookups};
use crate::execute::hashes::Part;
use crate::keyspace_events;
use crate::shared::Shared;

pub use pubsub::{unsubscribe_all, Subscriptions};

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
    /// This connection as `CLIENT LIST` shows it; the session mirrors its changes there.
    pub client: Arc<ClientInfo>,
    /// `CLIENT REPLY OFF`: replies are not sent.
    replies_off: bool,
    /// `CLIENT REPLY SKIP`: how many of the next replies are not sent (this one and the next).
    replies_skipped: u8,
    /// Key lookups of read commands not yet added to the shared `keyspace_hits`/`keyspace_misses`:
    /// added once per batch (and before `INFO`), not once per command.
    keyspace_hits: u64,
    keyspace_misses: u64,
    /// When the previous command of this batch ended: the next one's start, so timing a command
    /// costs one clock read, not two. `None` after waiting for the network (see [`Session::new_batch`]).
    last_end: Option<u64>,
    /// Set by a command that Redis would have blocked (`WAIT` for replicas there are not): Redis
    /// leaves a command that timed out blocked out of the slow log, and so does TinyKV.
    would_block: bool,
    /// What the client subscribes to, once it has subscribed to anything.
    subscriptions: Option<Box<Subscriptions>>,
    // --- lists ---
    /// While `EXEC` runs its queue: blocking commands do not block, and pushes wake blocked
    /// clients only once the transaction ends.
    in_exec: bool,
    /// Set by a blocking command that found nothing: the connection waits on it before it runs
    /// anything else of this client's.
    blocked: Option<Blocked>,
    // --- scripting ---
    /// Set while a script flagged `allow-oom` runs: its writes pass the maxmemory gate.
    allow_oom: bool,
    // --- replication ---
    /// What a replica said about itself with `REPLCONF`, for when it asks for `PSYNC`.
    pub replconf: crate::replication::primary::Replconf,
    /// Set by `PSYNC`/`SYNC`: the connection hands itself over to the primary side.
    pub handover: Option<crate::replication::primary::Handover>,
    /// Set by a `WAIT` that must wait: the connection waits, then answers it.
    pub wait: Option<crate::replication::primary::WaitFor>,
}

// --- lists ---
/// A client blocked in a blocking command: what it waits on, and until when.
#[derive(Debug)]
pub struct Blocked {
    /// Its place in the registry.
    pub waiter: Arc<crate::blocking::Waiter>,
    /// When it gives up (`None`: never).
    pub deadline: Option<tokio::time::Instant>,
}

impl Session {
    /// The blocked command the last request left, if it blocked: the connection waits on it.
    pub fn take_blocked(&mut self) -> Option<Blocked> {
        self.blocked.take()
    }

    /// Blocks the client on `waiter` (registered) until `timeout` (0: forever); the placeholder
    /// reply is replaced by what the wait ends with.
    fn block(&mut self, waiter: Arc<crate::blocking::Waiter>, timeout: tinykv_proto::command::BlockTimeout) -> Reply {
        let deadline =
            (timeout.0 > 0).then(|| tokio::time::Instant::now() + std::time::Duration::from_millis(timeout.0));
        self.blocked = Some(Blocked { waiter, deadline });
        self.would_block = true;
        Reply::NullArray
    }
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
    /// A new session of a client not in the registry (tests, tools); authenticated from the start
    /// when the server has no password.
    pub fn new(id: u64, shared: &Shared) -> Session {
        Session::for_client(Arc::new(ClientInfo::new(id, None, None, -1)), shared)
    }

    /// The session of a connected client.
    pub fn for_client(client: Arc<ClientInfo>, shared: &Shared) -> Session {
        Session { id: client.id, authenticated: !shared.settings.requires_auth(), client, ..Session::default() }
    }

    /// Called by the connection before it waits for the network: the next command's time starts
    /// afresh, not at the end of the last one, and the batch's key lookups are counted.
    /// Returns when the batch's last command ended, if one ran: the time of the flush that follows.
    pub fn new_batch(&mut self, shared: &Shared) -> Option<u64> {
        self.count_lookups(shared);
        self.last_end.take()
    }

    /// The clock reading (`clock::monotonic_us`) taken when the batch's bytes arrived: the first
    /// command's start, which saves that command a clock read of its own.
    pub fn batch_arrived_at(&mut self, monotonic_us: u64) {
        self.last_end = Some(monotonic_us);
    }

    /// Adds the key lookups counted so far to the server's totals.
    fn count_lookups(&mut self, shared: &Shared) {
        if self.keyspace_hits + self.keyspace_misses > 0 {
            shared.command_stats.keyspace(self.keyspace_hits, self.keyspace_misses);
            (self.keyspace_hits, self.keyspace_misses) = (0, 0);
        }
    }

    /// Times a command: from the end of the previous one in the same batch (so the span also holds
    /// decoding this request and encoding the previous reply, well under a microsecond) or from now.
    fn clock_start(&mut self) -> u64 {
        self.last_end.take().unwrap_or_else(clock::monotonic_us)
    }

    /// The time since `start`, in microseconds; the end is the next command's start.
    fn clock_stop(&mut self, start: u64) -> u64 {
        let end = clock::monotonic_us();
        self.last_end = Some(end);
        end.saturating_sub(start)
    }

    /// Whether the next reply can be written to the connection's buffer while the command runs:
    /// it is not queued in a transaction, `CLIENT REPLY` sends it, and no pub/sub message can have
    /// to go before it.
    pub fn may_write_directly(&self) -> bool {
        self.transaction.is_none() && self.replies_skipped == 0 && !self.replies_off && self.subscriptions.is_none()
    }

    /// Whether the reply just made is to be sent, as `CLIENT REPLY` decided; called once per reply.
    pub fn reply_wanted(&mut self) -> bool {
        if self.replies_skipped > 0 {
            self.replies_skipped -= 1;
            return false;
        }
        !self.replies_off
    }

    /// `CLIENT REPLY ON|OFF|SKIP`.
    fn set_reply_mode(&mut self, mode: ReplyMode) {
        match mode {
            ReplyMode::On => (self.replies_off, self.replies_skipped) = (false, 0),
            ReplyMode::Off => self.replies_off = true,
            // This reply and the next; no effect while replies are off, as in Redis.
            ReplyMode::Skip if !self.replies_off => self.replies_skipped = 2,
            ReplyMode::Skip => {}
        }
    }

    /// Sets the name, here and in the registry.
    fn set_name(&mut self, name: Option<Bytes>) {
        self.client.set_name(name.clone());
        self.name = name;
    }

    /// Whether the client must still authenticate: it has not, and a password is set (read live, so a
    /// password removed by `CONFIG SET` frees clients that never authenticated, as in Redis).
    fn needs_auth(&self, shared: &Shared) -> bool {
        !self.authenticated && shared.settings.requires_auth()
    }

    fn set_transaction(&mut self, transaction: Option<Transaction>) {
        self.client.set_multi(transaction.as_ref().map(|t| (t.queued.len(), t.queued_bytes)));
        self.transaction = transaction;
    }

    /// Whether a `MULTI` is open: requests are queued, not run.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// Whether the open transaction queued a command that writes (for `CLIENT PAUSE WRITE`).
    fn transaction_writes(&self) -> bool {
        self.transaction.as_ref().is_some_and(|t| {
            t.queued.iter().any(|request| {
                Command::lookup(request).is_ok_and(|found| {
                    let spec = found.flags_spec();
                    spec.has(Flag::Write) || spec.has(Flag::MayReplicate)
                })
            })
        })
    }
}

/// Aggregate replies of more entries than this (pairs, for a map) are written in pieces of about the
/// high-water mark (`--output-high-water`), the rest of the reply kept as values, not bytes,
/// meanwhile (`Reply::into_stream`); see [`in_place`].
pub const STREAM_MIN_ITEMS: usize = 1024;

/// The connection's buffer, for a reply of `entries` entries (pairs, for a map) to be written in
/// place: only one that goes out whole (see [`STREAM_MIN_ITEMS`]); a bigger one is built as values
/// and sent in pieces.
fn in_place(out: Option<&mut BytesMut>, entries: usize) -> Option<&mut BytesMut> {
    out.filter(|_| entries <= STREAM_MIN_ITEMS)
}

/// Looks up, gates, parses and executes one request: everything between the decoder and the encoder.
/// Inside `MULTI` a request is checked and queued instead; `EXEC` runs the queue with every other
/// client held off.
pub fn handle(mut request: Request, shared: &Shared, session: &mut Session) -> Reply {
    handle_into(&mut request, shared, session, None)
}

/// [`handle`], given the connection's write buffer when the reply goes out as soon as it is made
/// (see [`Session::may_write_directly`]): the reads of values (`GET`, `MGET`, `LRANGE`, `HGETALL`,
/// `HKEYS`, `HVALS`, `SMEMBERS`, the `ZRANGE` family but `ZRANGESTORE`) then encode their replies
/// there straight from the keys' entries,
/// where otherwise they copy the values into a [`Reply`] first, and return [`Reply::written`].
///
/// The request is borrowed, so the connection can hand its argument list back to the decoder for the
/// next request (no allocation per request); a request queued by `MULTI` is taken out of it.
pub fn handle_into(request: &mut Request, shared: &Shared, session: &mut Session, out: Option<&mut BytesMut>) -> Reply {
    if session.transaction.is_some() {
        return queue(request, shared, session);
    }
    // A script call holds every other client off while it runs, as an `EXEC` does.
    if is_script_call(request) {
        // Script calls queue for their turn first, so only one at a time contends for the 64 slots.
        let Some(_turn) = shared.scripting.turn(|| script_busy(shared).is_some()) else {
            return busy(request, shared, session);
        };
        let exclusive = shared.isolation.exclusive_unless(|| script_busy(shared).is_some());
        // However long that took, the call's time starts now.
        session.last_end = None;
        let Some(_exclusive) = exclusive else {
            return busy(request, shared, session);
        };
        return run(request, shared, session);
    }
    // Shared with every other command; exclusive only for an `EXEC` or a script. Past the busy
    // threshold of a running script, the wait gives up: the client is answered `-BUSY`.
    // Held off by another client's `EXEC` or script, the command's time starts when it may run,
    // not when its bytes arrived (SLOWLOG, `INFO commandstats`).
    let isolation = shared.isolation.shared_unless(|| script_busy(shared).is_some(), || session.last_end = None);
    let Some(_isolation) = isolation else {
        return busy(request, shared, session);
    };
    run_into(request, shared, session, out)
}

// --- scripting ---

/// `Some(is a function)` when a script has run past `busy-reply-threshold`.
fn script_busy(shared: &Shared) -> Option<bool> {
    shared.scripting.run.busy(shared.settings.busy_reply_threshold())
}

/// A request that arrived while a script is busy: `SCRIPT KILL`, `FUNCTION KILL|STATS` and
/// `SHUTDOWN NOSAVE` run (without the isolation lock, which the script holds); anything else is
/// answered `-BUSY`, as Redis answers it.
fn busy(request: &Request, shared: &Shared, session: &mut Session) -> Reply {
    // SHUTDOWN only with NOSAVE: saving would wait for the script.
    let allowed = Command::lookup(request).is_ok_and(|found| match found.spec.name {
        "SHUTDOWN" => request.args.iter().skip(1).any(|a| a.eq_ignore_ascii_case(b"NOSAVE")),
        _ => found.flags_spec().has(Flag::AllowBusy),
    });
    if allowed {
        if request.args.first().is_some_and(|name| name.eq_ignore_ascii_case(b"SHUTDOWN")) {
            shared.scripting.run.kill_for_shutdown();
        }
        return run(request, shared, session);
    }
    let function = script_busy(shared).unwrap_or(false);
    error_reply(shared, Reply::error(if function { scripting::BUSY_FUNCTION } else { scripting::BUSY_EVAL }))
}

/// Lookup, gates, parse, execute, and the append-only record of what a write changed. Counted
/// (`INFO commandstats`, `errorstats`) and timed (`SLOWLOG`) as Redis counts and times a command.
fn run(request: &Request, shared: &Shared, session: &mut Session) -> Reply {
    run_into(request, shared, session, None)
}

/// [`run`], with the connection's buffer for a reply written in place (see [`handle_into`]).
fn run_into(request: &Request, shared: &Shared, session: &mut Session, out: Option<&mut BytesMut>) -> Reply {
    let start = session.clock_start();
    // The command's keys are judged expired or not by the time it started, read once.
    let _time = clock::CommandTime::enter(start);
    let found = match Command::lookup(request) {
        Ok(found) => found,
        Err(err) => return refused(shared, session, request, err),
    };
    session.client.set_last_command(Some(found.number));
    // From here every change of a key is logged for the keyspace events, if they are on (the gate's
    // evictions included).
    let events = keyspace_events::Collector::start(shared.settings.notify_keyspace_events());
    if let Some(refusal) = gate(&found, shared, session).or_else(|| subscribed_refusal(&found, session)) {
        shared.command_stats.rejected(found.number);
        events.publish(shared, None, session.db);
        return error_reply(shared, refusal);
    }
    let effect = shared.aof.as_ref().and_then(|_| Aof::effect_of(found.spec, request, session.db));
    // --- replication ---
    let recording_db = session.db;
    let replication = replication::Recording::start(shared);
    let mut effects = Effects::with_replication(shared.aof.as_ref(), replication.partial(shared), session.db);
    // A read's key lookups count as keyspace hits and misses, wherever it makes them.
    let lookups = counts_lookups(&found, request).then(ReadLookups::start);
    let reply = match Command::parse_as(found.spec, request) {
        Ok(command) => execute(command, shared, session, &mut effects, out),
        Err(err) => err.into(),
    };
    if let Some((hits, misses)) = lookups.map(ReadLookups::finish) {
        session.keyspace_hits += hits;
        session.keyspace_misses += misses;
    }
    if effects.recorded() {
        session.unlogged = true;
    }
    // Counted for the `--save` rules: one atomic add per write that did not fail.
    if found.flags_spec().has(Flag::Write) && !reply.is_error() {
        shared.rdb.changed(1);
    }
    let micros = session.clock_stop(start);
    finish(&found, request, micros, &reply, shared, session);
    // One relaxed load unless someone runs `MONITOR`; administrative commands are not shown, as in Redis.
    if shared.pubsub.monitored() && !found.flags_spec().has(Flag::Admin) && !found.flags_spec().has(Flag::SkipMonitor) {
        pubsub::feed_monitors(shared, session, &request.args);
    }
    if let (Some(aof), Some(effect)) = (&shared.aof, effect) {
        if !reply.is_error() {
            // Reading back what the write left is not an access of the keys.
            access::untouched(|| aof.record(&shared.dbs, &effect));
            session.unlogged = true;
        }
    }
    if !reply.is_error() {
        replication.finish(shared, found.spec, request, recording_db);
    }
    events.publish(shared, Some((found.spec, &request.args)), session.db);
    // --- lists ---
    // A command of another family that can put a list where clients wait: they are served now (list
    // commands serve them themselves, under the key's lock).
    // --- sorted sets --- (and one that can put a sorted set there: BZPOPMIN & co. wait for those)
    let may_serve = || lists::may_put_a_list(found.spec.name) || zsets::may_put_a_zset(found.spec.name);
    if shared.blocking.any() && !session.in_exec && may_serve() && !reply.is_error() {
        session.unlogged |= lists::serve_all(shared);
    }
    reply
}

/// After a command ran: its counters, its error (if any), and the slow log. The slow path (a slow
/// command) takes the slow log's lock; the fast path is a comparison.
fn finish(found: &Found, request: &Request, micros: u64, reply: &Reply, shared: &Shared, session: &mut Session) {
    shared.command_stats.call(found.number, micros, reply.is_error());
    if let Reply::Error(text) = reply {
        shared.command_stats.error_reply(text);
    }
    let blocked = std::mem::take(&mut session.would_block);
    let threshold = shared.settings.slowlog_log_slower_than();
    if threshold >= 0 && micros >= threshold as u64 && !found.flags_spec().has(Flag::SkipSlowlog) && !blocked {
        let name = session.name.clone().unwrap_or_default();
        let max_len = shared.settings.slowlog_max_len();
        shared.slowlog.push(found.spec, &request.args, micros, &session.client.addr, name, max_len);
    }
}

/// A request refused at lookup: an unknown command or subcommand (counted only as an error), or a
/// wrong number of arguments for a known one (also counted as that command's `rejected_calls`, and
/// shown as its last command, as Redis does).
fn refused(shared: &Shared, session: &Session, request: &Request, err: CommandError) -> Reply {
    let name = request.args.first().map_or(&[][..], |name| &name[..]);
    let number = table::lookup_numbered(name).and_then(|(number, spec)| match request.args.get(1) {
        Some(sub) if !spec.subcommands.is_empty() => table::subcommand_numbered(number, sub).map(|(n, _)| n),
        _ => Some(number),
    });
    session.client.set_last_command(number);
    if let (Some(number), CommandError::WrongArity(_)) = (number, &err) {
        shared.command_stats.rejected(number);
    }
    error_reply(shared, err.into())
}

/// Counts an error reply that no command's counters see (an unknown command, a refusal).
fn error_reply(shared: &Shared, reply: Reply) -> Reply {
    if let Reply::Error(text) = &reply {
        shared.command_stats.error_reply(text);
    }
    reply
}

/// A request inside `MULTI`: `EXEC`, `DISCARD` and `QUIT` act at once, `MULTI` is refused, and
/// anything else is checked (name, arity, gates) and queued. A refused command spoils the
/// transaction, as in Redis.
fn queue(request: &mut Request, shared: &Shared, session: &mut Session) -> Reply {
    let found = match Command::lookup(request) {
        Ok(found) => found,
        Err(err) => {
            if let Some(transaction) = session.transaction.as_mut() {
                transaction.refused = true;
            }
            return refused(shared, session, request, err);
        }
    };
    session.client.set_last_command(Some(found.number));
    if let Some(refusal) = gate(&found, shared, session) {
        shared.command_stats.rejected(found.number);
        if let Some(transaction) = session.transaction.as_mut() {
            transaction.refused = true;
        }
        return error_reply(shared, refusal);
    }
    let Some(transaction) = session.transaction.as_mut() else { return run(request, shared, session) };
    let start = clock::monotonic_us();
    session.last_end = None;
    let reply = match found.spec.name {
        "EXEC" => exec(shared, session),
        "DISCARD" => {
            session.set_transaction(None);
            unwatch(shared, session);
            Reply::ok()
        }
        "QUIT" | "RESET" => return run(request, shared, session),
        "MULTI" => Reply::error("ERR MULTI calls can not be nested"),
        "WATCH" => Reply::error("ERR WATCH inside MULTI is not allowed"),
        _ if found.flags_spec().has(Flag::NoMulti) => {
            // Refused, not run, as Redis's `rejectCommand`.
            transaction.refused = true;
            shared.command_stats.rejected(found.number);
            return error_reply(shared, Reply::error("ERR Command not allowed inside a transaction"));
        }
        _ => {
            let bytes: usize = request.args.iter().map(Bytes::len).sum();
            let max_bytes = shared.settings.proto_max_bulk_len();
            if transaction.queued.len() >= MAX_QUEUED || transaction.queued_bytes + bytes > max_bytes {
                transaction.refused = true;
                return error_reply(
                    shared,
                    Reply::error("ERR transaction too large: too many or too long queued commands"),
                );
            }
            transaction.queued_bytes += bytes;
            transaction.queued.push(Request { args: std::mem::take(&mut request.args) });
            session.client.set_multi(Some((transaction.queued.len(), transaction.queued_bytes)));
            // Queued, not run: counted when `EXEC` runs it, as in Redis.
            return Reply::status("QUEUED");
        }
    };
    let micros = session.clock_stop(start);
    finish(&found, request, micros, &reply, shared, session);
    reply
}

/// `EXEC`: every queued command's reply, in order, with no other client's command in between.
/// Reached without the shared isolation lock whenever a transaction is open (see [`handle`]), so
/// taking it exclusively here cannot deadlock.
fn exec(shared: &Shared, session: &mut Session) -> Reply {
    let Some(transaction) = session.transaction.take() else { return Reply::error("ERR EXEC without MULTI") };
    session.client.set_multi(None);
    let reply = if transaction.refused {
        CommandError::ExecAbort.into()
    } else {
        let Some(_exclusive) = shared.isolation.exclusive_unless(|| script_busy(shared).is_some()) else {
            unwatch(shared, session);
            let function = script_busy(shared).unwrap_or(false);
            return Reply::error(if function { scripting::BUSY_FUNCTION } else { scripting::BUSY_EVAL });
        };
        // Every queued command judges its keys by the time the transaction runs (after the wait
        // for the lock), as in Redis.
        let _time = clock::CommandTime::enter(clock::monotonic_us());
        // Checked under the exclusive lock: nothing can change a watched key between check and run.
        let changed =
            session.watching.iter().any(|((db, key), version)| shared.db(*db).watched_version(key) != *version);
        if changed {
            Reply::NullArray
        } else {
            // --- lists ---
            session.in_exec = true;
            let replies = transaction.queued.into_iter().map(|request| run(&request, shared, session)).collect();
            session.in_exec = false;
            // Clients blocked on lists the transaction filled are served before anyone else runs.
            if shared.blocking.any() {
                session.unlogged |= lists::serve_all(shared);
            }
            Reply::Array(replies)
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

/// Whether a command may run at all, judged from its table flags, in Redis's order: `Some(error)`
/// for `DEBUG` when `--enable-debug-command` does not allow this client, when the client has not
/// authenticated yet, when the command would grow a data set that is over `maxmemory` and the
/// policy can evict nothing more, or when it would change data that the failing append-only file (or
/// failing snapshots) could not keep. Over the limit, keys are evicted first (before any command, as
/// Redis does). Reads, deletes and expiry changes have no `denyoom` flag, so they keep working when full.
pub fn gate(found: &Found, shared: &Shared, session: &Session) -> Option<Reply> {
    let spec = found.flags_spec();
    if spec.has(Flag::Protected) && !debug_allowed(shared, session) {
        return Some(Reply::error(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    if !spec.has(Flag::NoAuth) && session.needs_auth(shared) {
        return Some(CommandError::NoAuth.into());
    }
    let maxmemory = shared.settings.maxmemory();
    if maxmemory > 0
        && shared.used_memory() as u64 > maxmemory
        && !make_room(shared, maxmemory)
        && spec.has(Flag::DenyOom)
        && !session.allow_oom
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
    replication::gate(spec, shared, session)
}

/// In RESP2, a client that subscribes to anything reads messages on the connection it sends
/// commands on, so only the commands whose replies cannot be mistaken for messages are allowed
/// (Redis's list and error; an `EXEC` is refused in `EXECABORT`'s words, as Redis refuses it).
fn subscribed_refusal(found: &Found, session: &Session) -> Option<Reply> {
    if session.protocol != Protocol::Resp2 || !session.subscribed() {
        return None;
    }
    let spec = found.flags_spec();
    let allowed = matches!(
        found.spec.name,
        "SUBSCRIBE"
            | "UNSUBSCRIBE"
            | "PSUBSCRIBE"
            | "PUNSUBSCRIBE"
            | "SSUBSCRIBE"
            | "SUNSUBSCRIBE"
            | "PING"
            | "QUIT"
            | "RESET"
    );
    if allowed {
        return None;
    }
    let name = spec.full_name(found.sub.map(|_| found.spec));
    let text = format!(
        "Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    );
    Some(Reply::error(if found.spec.name == "EXEC" {
        format!("EXECABORT Transaction discarded because of: {text}")
    } else {
        format!("ERR {text}")
    }))
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

/// `--enable-debug-command`: whether this client may run `DEBUG`.
fn debug_allowed(shared: &Shared, session: &Session) -> bool {
    match shared.config.enable_debug_command {
        DebugCommandAccess::Yes => true,
        DebugCommandAccess::No => false,
        DebugCommandAccess::Local => session.client.is_local(),
    }
}

/// What a `CLIENT PAUSE` in force holds back of `request`, if anything: `None` when it may run now.
/// As in Redis, a command that would be refused anyway (unknown, wrong arity, a gate) is not held,
/// `WRITE` holds commands that write (and an `EXEC` of a transaction that does), `ALL` everything.
pub fn paused(request: &Request, shared: &Shared, session: &Session) -> Option<PauseKind> {
    let kind = shared.clients.pause.current()?;
    let found = Command::lookup(request).ok()?;
    if gate(&found, shared, session).is_some() {
        return None;
    }
    let spec = found.flags_spec();
    let writes =
        spec.has(Flag::Write) || spec.has(Flag::MayReplicate) || (spec.name == "EXEC" && session.transaction_writes());
    (kind == PauseKind::All || writes).then_some(kind)
}

/// Runs one parsed command and returns its reply; collection commands record their effects in
/// `effects`. Does not gate: [`handle`] does that first.
///
/// The most frequent commands are matched here, in a small match, before the one of every command
/// (`execute_any`): a few dozen instructions fewer a call than with `execute_any`'s cure alone
/// (`bench/results/PROFILE.md`).
pub fn execute(
    command: Command,
    shared: &Shared,
    session: &mut Session,
    effects: &mut Effects<'_>,
    out: Option<&mut BytesMut>,
) -> Reply {
    match command {
        Command::Get { key } => get(shared, session, &key, out),
        Command::Set(set) => strings::set(shared.db(session.db), set),
        Command::IncrBy { key, delta } => strings::incr_by(shared.db(session.db), &key, delta),
        // Reads whose replies can be written in place (see `handle_into`).
        Command::LRange { key, start, stop } => lists::lrange(shared.db(session.db), &key, start, stop, out),
        Command::MGet { keys } => mget(shared, session, &keys, out),
        Command::HGetAll { key } => hashes::hgetall(shared.db(session.db), &key, Part::Both, session.protocol, out),
        Command::HKeys { key } => hashes::hgetall(shared.db(session.db), &key, Part::Fields, session.protocol, out),
        Command::HVals { key } => hashes::hgetall(shared.db(session.db), &key, Part::Values, session.protocol, out),
        Command::SMembers { key } => sets::smembers(shared.db(session.db), &key, session.protocol, out),
        Command::ZRange(range) if range.destination.is_none() => {
            zsets::zrange(shared.db(session.db), range, session.protocol, effects, out)
        }
        command => execute_any(command, shared, session, effects),
    }
}

/// `GET`, written in place in `out` when the connection gave its buffer (see [`handle_into`]).
fn get(shared: &Shared, session: &mut Session, key: &[u8], out: Option<&mut BytesMut>) -> Reply {
    let db = shared.db(session.db);
    match out {
        Some(out) => strings::get_into(db, key, out),
        None => strings::get(db, key),
    }
}

/// `MGET`, written in place in `out` when the connection gave its buffer (see [`handle_into`]) and
/// the reply goes out whole.
fn mget(shared: &Shared, session: &mut Session, keys: &[Bytes], out: Option<&mut BytesMut>) -> Reply {
    strings::mget(shared.db(session.db), keys, session.protocol, in_place(out, keys.len()))
}

/// [`execute`] for any command.
///
/// `identity(command)` moves the command into a temporary the match consumes: matched as a variable, the
/// arms that move fields out of it made the compiler keep a drop flag for every field, stored on
/// every arm's way out (over 5,000 such stores in this function; about a hundred instructions a call).
#[inline(never)]
fn execute_any(command: Command, shared: &Shared, session: &mut Session, effects: &mut Effects<'_>) -> Reply {
    let db = shared.db(session.db);
    match std::convert::identity(command) {
        // Matched by `execute` itself; here only for the match to be whole.
        command @ (Command::Get { .. }
        | Command::Set(_)
        | Command::IncrBy { .. }
        | Command::LRange { .. }
        | Command::MGet { .. }
        | Command::HGetAll { .. }
        | Command::HKeys { .. }
        | Command::HVals { .. }
        | Command::SMembers { .. }) => execute(command, shared, session, effects, None),
        Command::GetDel { key } => strings::getdel(db, &key),
        Command::GetSet { key, value } => strings::getset(db, &key, &value),
        Command::MSet { pairs } => strings::mset(db, &pairs, false),
        Command::MSetNx { pairs } => strings::mset(db, &pairs, true),
        Command::SetNx { key, value } => strings::setnx(db, &key, &value),
        Command::Append { key, value } => {
            strings::append(db, &key, &value, shared.settings.proto_max_bulk_len() as u64)
        }
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
        command @ (Command::HSet { .. }
        | Command::HSetNx { .. }
        | Command::HGet { .. }
        | Command::HMGet { .. }
        | Command::HDel { .. }
        | Command::HLen { .. }
        | Command::HStrlen { .. }
        | Command::HExists { .. }
        | Command::HIncrBy { .. }
        | Command::HIncrByFloat { .. }
        | Command::HScan(_)
        | Command::HRandField { .. }
        | Command::SAdd { .. }
        | Command::SRem { .. }
        | Command::SIsMember { .. }
        | Command::SMIsMember { .. }
        | Command::SCard { .. }
        | Command::SPop { .. }
        | Command::SRandMember { .. }
        | Command::SMove { .. }
        | Command::SetAlgebra { .. }
        | Command::SInterCard { .. }
        | Command::SScan(_)) => collection_command(command, db, session.protocol, effects),
        // --- sorted sets ---
        command @ (Command::ZAdd(_)
        | Command::ZRem { .. }
        | Command::ZCard { .. }
        | Command::ZCount { .. }
        | Command::ZLexCount { .. }
        | Command::ZScore { .. }
        | Command::ZMScore { .. }
        | Command::ZRank { .. }
        | Command::ZRange(_)
        | Command::ZPop { timeout: None, .. }
        | Command::ZRemRange { .. }
        | Command::ZSetOp(_)
        | Command::ZRandMember { .. }
        | Command::ZScan(_)) => collection_command(command, db, session.protocol, effects),
        // --- sort ---
        Command::Sort(sort) => sort::sort(db, sort, effects),
        // --- blocking sorted-set pops ---
        Command::ZPop { keys, max, count, multi: _, timeout: Some(timeout) } => {
            let wake = lists::Wake { registry: &shared.blocking, db: session.db, now: !session.in_exec };
            match zsets::blocking(db, session.id, &wake, keys.into_vec(), max, count, effects) {
                Ok(reply) => reply,
                Err(waiter) => session.block(waiter, timeout),
            }
        }

        Command::Del { keys } => keys::del(db, &keys),
        Command::Exists { keys } => keys::exists(db, &keys),
        Command::Expire(expire) => keys::expire(db, expire),
        Command::Ttl { key, millis } => keys::ttl(db, &key, millis),
        Command::Persist { key } => keys::persist(db, &key),
        Command::Type { key } => keys::type_of(db, &key),
        Command::Object(sub) => object::object(db, shared.settings.maxmemory(), sub),
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

        // In RESP2 pub/sub mode, in the shape of a message, as Redis answers.
        Command::Ping { message } if session.protocol == Protocol::Resp2 && session.subscribed() => {
            Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(message.unwrap_or_default())])
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
                session.client.set_db(index);
                Reply::ok()
            }
            _ => CommandError::DbIndexOutOfRange.into(),
        },
        Command::Auth { username, password } => server::auth(shared, session, username.as_deref(), &password),
        Command::Hello(hello) => server::hello(hello, shared, session),
        Command::Info { sections } => {
            session.count_lookups(shared);
            crate::info::info(shared, &sections)
        }
        Command::Command(sub) => server::command_command(sub),
        Command::ConfigGet { patterns } => crate::settings::config_get(shared, &patterns),
        Command::ConfigSet { pairs } => crate::settings::config_set(shared, &pairs),
        Command::ConfigHelp => admin::config_help(),
        Command::ConfigResetStat => admin::config_resetstat(shared),
        Command::ConfigRewrite => Reply::error("ERR The server is running without a config file"),
        Command::Client(sub) => admin::client(sub, shared, session),
        Command::Slowlog(sub) => admin::slowlog(sub, shared),
        Command::Time => admin::time(),
        Command::Wait { numreplicas, timeout } => replication::wait(shared, session, numreplicas, timeout),
        Command::Debug(sub) => admin::debug(sub, shared, session),
        Command::Multi => {
            session.set_transaction(Some(Transaction::default()));
            Reply::ok()
        }
        Command::Exec => exec(shared, session),
        Command::Discard => Reply::error("ERR DISCARD without MULTI"),
        Command::Watch { keys } => watch(shared, session, keys),
        Command::Unwatch => {
            unwatch(shared, session);
            Reply::ok()
        }
        Command::Subscribe { kind, channels } => pubsub::subscribe(shared, session, kind, channels),
        Command::Unsubscribe { kind, channels } => pubsub::unsubscribe(shared, session, kind, channels),
        Command::Publish { kind, channel, message } => pubsub::publish(shared, kind, &channel, &message),
        Command::PubSub(sub) => pubsub::pubsub(shared, sub),
        Command::Reset => reset(shared, session),
        Command::Monitor => pubsub::monitor(shared, session),
        // --- lists ---
        command @ (Command::Push { .. }
        | Command::Pop { .. }
        | Command::LLen { .. }
        | Command::LIndex { .. }
        | Command::LSet { .. }
        | Command::LInsert { .. }
        | Command::LRem { .. }
        | Command::LTrim { .. }
        | Command::LPos { .. }
        | Command::LMove { timeout: None, .. }
        | Command::LMPop { timeout: None, .. }) => {
            let wake = lists::Wake { registry: &shared.blocking, db: session.db, now: !session.in_exec };
            lists::command(command, db, Some(&wake), effects)
        }
        command @ (Command::LMove { .. } | Command::LMPop { .. } | Command::BPop { .. }) => {
            let wake = lists::Wake { registry: &shared.blocking, db: session.db, now: !session.in_exec };
            match lists::blocking(command, db, session.id, &wake, effects) {
                Ok(reply) => reply,
                Err((waiter, timeout)) => session.block(waiter, timeout),
            }
        }
        // --- scripting ---
        Command::Script(sub) => scripting::command(sub, shared, session),
        // --- replication ---
        Command::Psync { replid, offset } => replication::psync(shared, session, &replid, &offset),
        Command::Sync => replication::sync(shared, session),
        Command::Replconf { pairs } => replication::replconf(session, &pairs),
        Command::ReplicaOf { target } => replication::replicaof(shared, target),
        Command::Role => replication::role(shared),
    }
}

/// `RESET`: the connection as it was when it connected, as Redis's `clearClientConnectionState`: no
/// transaction or watched keys, database 0, RESP2, no name, replies on, no subscriptions, and
/// unauthenticated again when a password is set.
fn reset(shared: &Shared, session: &mut Session) -> Reply {
    session.set_transaction(None);
    unwatch(shared, session);
    session.db = 0;
    session.client.set_db(0);
    session.protocol = Protocol::Resp2;
    session.client.set_resp(2);
    session.set_name(None);
    session.set_reply_mode(ReplyMode::On);
    unsubscribe_all(shared, session);
    session.authenticated = !shared.settings.requires_auth();
    Reply::status("RESET")
}

/// The hash and set commands: they need only their database (and, for replies shaped by the
/// protocol, its version), so replay runs them too.
fn collection_command(command: Command, db: &Db, protocol: Protocol, effects: &mut Effects<'_>) -> Reply {
    match command {
        Command::HSet { key, pairs, hmset } => hashes::hset(db, &key, &pairs, hmset, effects),
        Command::HSetNx { key, field, value } => hashes::hsetnx(db, &key, &field, &value, effects),
        Command::HGet { key, field } => hashes::hget(db, &key, &field),
        Command::HMGet { key, fields } => hashes::hmget(db, &key, &fields),
        Command::HDel { key, fields } => hashes::hdel(db, &key, &fields, effects),
        Command::HLen { key } => hashes::hlen(db, &key),
        Command::HStrlen { key, field } => hashes::hstrlen(db, &key, &field),
        Command::HExists { key, field } => hashes::hexists(db, &key, &field),
        Command::HIncrBy { key, field, delta } => hashes::hincrby(db, &key, &field, delta, effects),
        Command::HIncrByFloat { key, field, increment } => hashes::hincrbyfloat(db, &key, &field, &increment, effects),
        Command::HScan(scan) => hashes::hscan(db, scan),
        Command::HRandField { key, count } => hashes::hrandfield(db, &key, count, protocol),
        Command::SAdd { key, members } => sets::sadd(db, &key, &members, effects),
        Command::SRem { key, members } => sets::srem(db, &key, &members, effects),
        Command::SIsMember { key, member } => sets::sismember(db, &key, &member),
        Command::SMIsMember { key, members } => sets::smismember(db, &key, &members),
        Command::SCard { key } => sets::scard(db, &key),
        Command::SPop { key, count } => sets::spop(db, &key, count, effects),
        Command::SRandMember { key, count } => sets::srandmember(db, &key, count),
        Command::SMove { source, destination, member } => sets::smove(db, &source, &destination, &member, effects),
        Command::SetAlgebra { operation, destination, keys } => {
            sets::set_algebra(db, operation, destination.as_deref(), &keys, effects)
        }
        Command::SInterCard { keys, limit } => sets::sintercard(db, &keys, limit),
        Command::SScan(scan) => sets::sscan(db, scan),
        // --- sorted sets ---
        command => zsets::run(command, db, protocol, effects),
    }
}

/// Applies one record of the append-only file that is not one of the few it applies itself (see
/// `aof::apply`): a collection command, `PEXPIREAT` or `PERSIST`, through the ordinary command
/// functions. Anything else, or a record that fails, means the file is not what TinyKV wrote.
pub fn replay(request: Request, db: &Db) -> Result<(), String> {
    let name = String::from_utf8_lossy(request.args.first().map_or(&[][..], |name| &name[..])).into_owned();
    let command = Command::parse(request).map_err(|err| format!("record '{name}' does not parse: {err}"))?;
    let reply = match command {
        Command::Expire(expire) => keys::expire(db, expire),
        Command::Persist { key } => keys::persist(db, &key),
        // --- lists ---
        command @ (Command::Push { .. }
        | Command::Pop { .. }
        | Command::LSet { .. }
        | Command::LInsert { .. }
        | Command::LRem { .. }
        | Command::LTrim { .. }
        | Command::LMove { .. }) => lists::command(command, db, None, &mut Effects::none()),
        command => collection_command(command, db, Protocol::Resp2, &mut Effects::none()),
    };
    match reply {
        Reply::Error(err) => Err(format!("record '{name}' failed: {err}")),
        _ => Ok(()),
    }
}

/// Whether a command's key lookups count as `keyspace_hits` and `keyspace_misses`: those Redis
/// makes with `lookupKeyRead`, every read's and those of the writes that read a key first (`GETDEL`,
/// `GETSET`, `GETEX`, `SET ... GET`, `SORT`). Its `MEMORY USAGE` and `SCAN ... TYPE` look keys up
/// otherwise here: the first counts nothing, as in Redis; the second does not count what Redis counts.
fn counts_lookups(found: &Found, request: &Request) -> bool {
    let flags = found.flags_spec();
    flags.has(Flag::ReadOnly)
        || flags.has(Flag::Write)
            && match found.spec.name {
                "GETDEL" | "GETSET" | "GETEX" | "SORT" => true,
                // `GET` cannot be an option's argument (those are numbers), nor the key or value (first).
                "SET" => request.args.iter().skip(3).any(|arg| arg.eq_ignore_ascii_case(b"GET")),
                _ => false,
            }
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

    /// The reads of values write in place up to `STREAM_MIN_ITEMS` entries (items, for a flat
    /// RESP2 reply with scores) and build a reply past it, and what they write is the bytes of the reply they would build (the end-to-end test
    /// `differential_in_place` holds both to Redis's).
    #[test]
    fn reads_of_values_write_in_place_what_their_reply_would_be() {
        let shared = Shared::open(Config::parse_from(["tinykv-server"]), 0).expect("no append-only file to open");
        let mut session = Session::new(1, &shared);
        for n in [STREAM_MIN_ITEMS, STREAM_MIN_ITEMS + 1] {
            let (list, hash, set, zset) = (format!("l{n}"), format!("h{n}"), format!("s{n}"), format!("z{n}"));
            for i in 0..n {
                let (i, score) = (i.to_string(), format!("{}.5", i % 7));
                for write in [
                    &["rpush", &list, &i][..],
                    &["hset", &hash, &i, &i],
                    &["sadd", &set, &i],
                    &["set", &i, &i],
                    &["zadd", &zset, &score, &i],
                ] {
                    assert!(!run(&shared, &mut session, write).is_error());
                }
            }
            let keys: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let mut mget = vec!["mget"];
            mget.extend(keys.iter().map(String::as_str));
            let reads: [&[&str]; 10] = [
                &["get", "0"],
                &mget,
                &["lrange", &list, "0", "-1"],
                &["hgetall", &hash],
                &["hkeys", &hash],
                &["hvals", &hash],
                &["smembers", &set],
                &["zrange", &zset, "0", "-1"],
                // 512 entries with scores are 1,024 items in RESP2, 513 are past the limit there.
                &["zrange", &zset, "0", "511", "withscores"],
                &["zrevrangebyscore", &zset, "+inf", "-inf", "withscores", "limit", "0", "513"],
            ];
            for protocol in [Protocol::Resp2, Protocol::Resp3] {
                session.protocol = protocol;
                for words in reads {
                    let mut request =
                        Request { args: words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect() };
                    let mut written = BytesMut::new();
                    let reply = handle_into(&mut request, &shared, &mut session, Some(&mut written));
                    let entries = match words {
                        [_, _, _, "511", ..] => 512,
                        [.., "513"] => 513,
                        _ => n,
                    };
                    let scored = words.contains(&"withscores") && protocol == Protocol::Resp2;
                    let items = if scored { 2 * entries } else { entries };
                    let in_place = words[0] == "get" || items <= STREAM_MIN_ITEMS;
                    assert_eq!(reply.is_written(), in_place, "{} of {n}", words[0]);
                    if !in_place {
                        assert!(written.is_empty());
                        continue;
                    }
                    let mut encoded = BytesMut::new();
                    run(&shared, &mut session, words).encode(protocol, &mut encoded);
                    assert!(written == encoded, "{} of {n} in {protocol:?}", words[0]);
                }
            }
        }
    }

    /// The lookups Redis's `lookupKeyRead` counts, counted without a redis-server to compare with
    /// (`differential_keyspace` compares them with one).
    #[test]
    fn read_lookups_count_as_keyspace_hits_and_misses() {
        let shared = Shared::open(Config::parse_from(["tinykv-server"]), 0).expect("no append-only file to open");
        let mut session = Session::new(1, &shared);
        assert_eq!(run(&shared, &mut session, &["set", "s", "v"]), Reply::ok());
        assert_eq!(run(&shared, &mut session, &["sadd", "st", "m"]), Reply::Integer(1));
        let mut counted = |words: &[&str]| {
            let before = (session.keyspace_hits, session.keyspace_misses);
            run(&shared, &mut session, words);
            (session.keyspace_hits - before.0, session.keyspace_misses - before.1)
        };
        assert_eq!(counted(&["get", "s"]), (1, 0));
        assert_eq!(counted(&["get", "missing"]), (0, 1));
        assert_eq!(counted(&["get", "st"]), (1, 0), "a key of another type is a hit");
        assert_eq!(counted(&["mget", "s", "s", "missing"]), (2, 1));
        assert_eq!(counted(&["sunion", "st", "st"]), (2, 0), "each key once, though reached twice");
        assert_eq!(counted(&["exists", "s", "missing"]), (1, 1));
        assert_eq!(counted(&["memory", "usage", "s"]), (0, 0));
        assert_eq!(counted(&["set", "s", "w", "get"]), (1, 0));
        assert_eq!(counted(&["getdel", "missing"]), (0, 1));
        assert_eq!(counted(&["set", "t", "w"]), (0, 0));
        assert_eq!(counted(&["sadd", "st", "n"]), (0, 0));
        assert_eq!(counted(&["sort", "st", "alpha"]), (1, 0));
        // Past 64 keys too: SUNION reaches each key for its type, then for its members.
        let mut sunion = vec!["sunion"];
        sunion.extend(std::iter::repeat_n("st", 70).chain(std::iter::repeat_n("missing", 60)));
        assert_eq!(counted(&sunion), (70, 60));
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
