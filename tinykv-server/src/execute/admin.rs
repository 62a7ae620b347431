//! The server family: `CLIENT`, `CONFIG` (but `GET`/`SET`, which live with the settings),
//! `SLOWLOG`, `TIME`, `DEBUG`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tinykv_proto::command::{ClientCommand, ClientType, DebugCommand, SlowlogCommand};
use tinykv_proto::Reply;

use super::server::help_reply;
use super::Session;
use crate::clients::PauseKind;
use crate::shared::Shared;

/// `CLIENT ...`.
pub(super) fn client(sub: ClientCommand, shared: &Shared, session: &mut Session) -> Reply {
    match sub {
        ClientCommand::Id => Reply::Integer(session.id as i64),
        ClientCommand::GetName => session.name.clone().map_or(Reply::Null, Reply::Bulk),
        ClientCommand::SetName(name) => {
            // A copy: the argument is a slice of the read buffer, which the name must not pin.
            session.set_name((!name.is_empty()).then(|| Bytes::copy_from_slice(&name)));
            Reply::ok()
        }
        ClientCommand::SetInfo { attribute, .. } => {
            if attribute.eq_ignore_ascii_case(b"lib-name") || attribute.eq_ignore_ascii_case(b"lib-ver") {
                Reply::ok()
            } else {
                Reply::error(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(&attribute)))
            }
        }
        ClientCommand::Info => Reply::Verbatim(Bytes::from(session.client.line(CLIENT_INFO_ARGV) + "\n")),
        ClientCommand::List { kind, ids } => client_list(shared, session, kind, ids),
        ClientCommand::Kill(kill) => {
            let mut killed = 0;
            for client in shared.clients.all() {
                if !client.matches(&kill, session.id) {
                    continue;
                }
                if client.id == session.id {
                    // The caller gets its reply first, then the connection closes.
                    client.close_after_reply();
                    session.quit = true;
                } else {
                    client.kill();
                }
                killed += 1;
            }
            match (kill.old_form, killed) {
                (true, 0) => Reply::error("ERR No such client"),
                (true, _) => Reply::ok(),
                (false, n) => Reply::Integer(n),
            }
        }
        ClientCommand::NoEvict(on) => {
            session.client.set_no_evict(on);
            Reply::ok()
        }
        ClientCommand::NoTouch(on) => {
            session.client.set_no_touch(on);
            Reply::ok()
        }
        ClientCommand::Reply(mode) => {
            session.set_reply_mode(mode);
            Reply::ok()
        }
        ClientCommand::Pause { millis, all } => {
            let now = Instant::now();
            // A timeout too far to represent is as good as forever.
            let until = now.checked_add(Duration::from_millis(millis as u64)).unwrap_or(now + FOREVER);
            shared.clients.pause.pause(if all { PauseKind::All } else { PauseKind::Write }, until);
            Reply::ok()
        }
        ClientCommand::Unpause => {
            shared.clients.pause.unpause();
            Reply::ok()
        }
        ClientCommand::Help => help_reply("CLIENT", CLIENT_HELP),
        // --- lists ---
        ClientCommand::Unblock { id, error } => {
            let reply =
                if error { Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK") } else { Reply::NullArray };
            Reply::Integer(i64::from(u64::try_from(id).is_ok_and(|id| shared.blocking.unblock(id, reply))))
        }
    }
}

/// The bytes of `CLIENT INFO` (or `CLIENT LIST`) as arguments: `argv-mem` of the client asking.
const CLIENT_INFO_ARGV: usize = "CLIENT".len() + "INFO".len();

/// A pause whose end cannot be represented.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `CLIENT LIST`: one line per client (all, those of a type, or those with the ids given, in that
/// order), each ending in a newline; verbatim text in RESP3.
fn client_list(shared: &Shared, session: &Session, kind: Option<ClientType>, ids: Option<Vec<i64>>) -> Reply {
    // The caller's `argv-mem` is this command's size: worked out from what it asked, rather than
    // measured on every request.
    let argv_mem = CLIENT_INFO_ARGV
        + kind.map_or(0, |kind| "TYPE".len() + format!("{kind:?}").len())
        + ids.as_ref().map_or(0, |ids| "ID".len() + ids.iter().map(|id| id.to_string().len()).sum::<usize>());
    let clients = match ids {
        Some(ids) => {
            ids.into_iter().filter_map(|id| u64::try_from(id).ok().and_then(|id| shared.clients.get(id))).collect()
        }
        None => shared.clients.all(),
    };
    let mut text = String::new();
    for client in clients.iter().filter(|client| kind.is_none_or(|kind| kind == client.kind())) {
        let argv_mem = if client.id == session.id { argv_mem } else { 0 };
        text.push_str(&client.line(argv_mem));
        text.push('\n');
    }
    Reply::Verbatim(Bytes::from(text))
}

/// `CLIENT HELP`: Redis 7's text for the subcommands TinyKV has.
const CLIENT_HELP: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
];

/// `CONFIG HELP`, Redis 7's text.
pub(super) fn config_help() -> Reply {
    help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}

/// `CONFIG RESETSTAT`: the counters `INFO` reports go back to zero (the slow log stays).
pub(super) fn config_resetstat(shared: &Shared) -> Reply {
    shared.command_stats.reset();
    shared.stats.total_connections_received.store(0, Ordering::Relaxed);
    shared.stats.rejected_connections.store(0, Ordering::Relaxed);
    shared.ops_samples.lock().clear();
    Reply::ok()
}

/// `SLOWLOG GET|LEN|RESET|HELP`.
pub(super) fn slowlog(sub: SlowlogCommand, shared: &Shared) -> Reply {
    match sub {
        SlowlogCommand::Get(count) => shared.slowlog.get(count),
        SlowlogCommand::Len => Reply::Integer(shared.slowlog.len() as i64),
        SlowlogCommand::Reset => {
            shared.slowlog.reset();
            Reply::ok()
        }
        SlowlogCommand::Help => help_reply(
            "SLOWLOG",
            &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ],
        ),
    }
}

/// `TIME`: Unix seconds and the microseconds within the second, as two bulk strings.
pub(super) fn time() -> Reply {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(now.as_secs().to_string())),
        Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
    ])
}

/// `DEBUG ...` (allowed by `--enable-debug-command`; the gate checked).
pub(super) fn debug(sub: DebugCommand, shared: &Shared, session: &Session) -> Reply {
    match sub {
        // Blocks the worker thread running this client, as Redis's blocks its one thread: with one
        // worker (the default on two cores) the whole server stops, as in Redis. The time counts in
        // the command's duration, so `SLOWLOG` and `INFO commandstats` see it.
        DebugCommand::Sleep { micros } => {
            std::thread::sleep(Duration::from_micros(micros));
            Reply::ok()
        }
        DebugCommand::SetActiveExpire(on) => {
            shared.active_expire.store(on, Ordering::Relaxed);
            Reply::ok()
        }
        DebugCommand::Object(key) => debug_object(shared, session, &key),
        DebugCommand::ChangeReplId => {
            tracing::warn!("changing the replication ids after DEBUG CHANGE-REPL-ID");
            shared.change_replication_id();
            Reply::ok()
        }
        DebugCommand::Reload { flush, save } => debug_reload(shared, flush, save),
        DebugCommand::Help => help_reply(
            "DEBUG",
            &[
                "CHANGE-REPL-ID",
                "    Change the replication IDs of the instance.",
                "    Dangerous: should be used only for testing the replication subsystem.",
                "OBJECT <key>",
                "RELOAD [NOFLUSH] [NOSAVE]",
                "    Save the RDB on disk and reload it back to memory. NOSAVE reloads the file as it",
                "    is; NOFLUSH loads it over the keys in memory (a key in both is an error).",
                "    Show low level info about `key` and associated value.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
    }
}

/// `DEBUG RELOAD`: saves the snapshot (unless `NOSAVE`), empties every database (unless `NOFLUSH`)
/// and loads the file back, with Redis's replies: a bare `-ERR` when the save fails, its own text
/// when the load does (the log says why). Runs on the executing thread like Redis's: with one worker
/// thread (the default on two cores) no other client sees the empty moment in between.
fn debug_reload(shared: &Shared, flush: bool, save: bool) -> Reply {
    if save {
        if let Err(err) = shared.rdb.save(&shared.dbs) {
            tracing::warn!(%err, "DEBUG RELOAD could not save");
            return Reply::error("ERR");
        }
    }
    if flush {
        shared.dbs.iter().for_each(crate::db::Db::clear);
    }
    match crate::rdb::load(shared.rdb.path(), &shared.dbs) {
        Ok(_) => {
            tracing::warn!("DB reloaded by DEBUG RELOAD");
            Reply::ok()
        }
        Err(err) => {
            tracing::warn!(%err, "DEBUG RELOAD could not load");
            Reply::error("ERR Error trying to load the RDB dump, check server logs.")
        }
    }
}

/// Longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;
/// Longest decimal text Redis turns into an `int` encoding.
const INT_MAX_LEN: usize = 20;
/// Redis's LRU clock wraps at 24 bits of seconds.
const LRU_CLOCK_MASK: u64 = (1 << 24) - 1;

/// `DEBUG OBJECT key`: Redis's line for a string value. TinyKV keeps no access time, so the key is
/// reported as just used.
fn debug_object(shared: &Shared, session: &Session, key: &[u8]) -> Reply {
    let facts = shared.db(session.db).with_key(key, |slot| {
        let value = slot.string().ok()??;
        let as_int = (value.len() <= INT_MAX_LEN).then(|| tinykv_proto::command::parse_integer(value).ok()).flatten();
        let encoding = match as_int {
            Some(_) => "int",
            None if value.len() <= EMBSTR_MAX => "embstr",
            None => "raw",
        };
        Some((value.as_ptr() as usize, encoding, serialized_length(value, as_int)))
    });
    let Some((address, encoding, length)) = facts else { return Reply::error("ERR no such key") };
    let lru = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) & LRU_CLOCK_MASK;
    Reply::Status(
        format!(
            "Value at:0x{address:x} refcount:1 encoding:{encoding} serializedlength:{length} lru:{lru} lru_seconds_idle:0"
        )
        .into(),
    )
}

/// The bytes a string takes in an RDB file (uncompressed): an integer in 1, 2 or 4 bytes plus a
/// type byte, else a length prefix and the bytes.
fn serialized_length(value: &[u8], as_int: Option<i64>) -> usize {
    match as_int {
        Some(n) if i8::try_from(n).is_ok() => 2,
        Some(n) if i16::try_from(n).is_ok() => 3,
        Some(n) if i32::try_from(n).is_ok() => 5,
        _ => {
            let prefix = match value.len() {
                0..64 => 1,
                64..16384 => 2,
                _ if u32::try_from(value.len()).is_ok() => 5,
                _ => 9,
            };
            prefix + value.len()
        }
    }
}
