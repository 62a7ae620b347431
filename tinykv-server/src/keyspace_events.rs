//! Keyspace notifications (`notify-keyspace-events`): Pub/Sub messages on `__keyspace@<db>__:<key>`
//! and `__keyevent@<db>__:<event>` for every change of a key, with Redis's event names.
//!
//! Redis calls its notifier from inside each command. TinyKV derives the events instead from the
//! one place every change of a key already passes ([`crate::db`]'s accounting of a slot, which also
//! tells `WATCH`ers): while a command runs with notifications on, each change is logged on the
//! running thread as (database, key, existed before, exists after), and expirations and evictions
//! as such. After the command the log is turned into events: the command's own event for each key
//! it changed (named from the command and the key's place in its arguments, so `LMOVE src dst
//! RIGHT LEFT` is `rpop` on `src` and `lpush` on `dst`), `new` for a key it created, and `del` for
//! one it emptied. So every command, of every family, notifies without code of its own.
//!
//! With notifications off (the default) a change costs one thread-local check, and a command one
//! relaxed load of the setting.

use std::borrow::Cow;
use std::cell::RefCell;

use bytes::Bytes;
use tinykv_proto::table::CommandSpec;

use crate::shared::Shared;
use tinykv_proto::command::SubscriptionKind;

/// Redis's class bits (`NOTIFY_*` in its server.h), as `notify-keyspace-events` stores them.
pub mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (`DEL`, `EXPIRE`, `RENAME`, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: a key expired.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: a key was evicted under `maxmemory`.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: a read missed.
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 13;
    /// `n`: a key was created.
    pub const NEW: u32 = 1 << 14;
    /// `A`: every class but key misses, new keys and the `K`/`E` switches.
    pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// One change seen while a command ran.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Logged {
    /// The key was written (or deleted) by the command.
    Write { db: usize, key: Box<[u8]>, existed: bool, exists: bool },
    /// The key's time was up and it was removed.
    Expired { db: usize, key: Box<[u8]> },
    /// The key was evicted to make room.
    Evicted { db: usize, key: Box<[u8]> },
}

thread_local! {
    /// The changes of the command running on this thread, while someone collects them.
    static LOG: RefCell<Option<Vec<Logged>>> = const { RefCell::new(None) };
}

fn log(entry: impl FnOnce() -> Logged) {
    LOG.with(|log| {
        if let Some(log) = log.borrow_mut().as_mut() {
            log.push(entry());
        }
    });
}

/// A key of database `db` was written: it existed before or not, and exists now or not.
pub(crate) fn written(db: usize, key: &[u8], existed: bool, exists: bool) {
    log(|| Logged::Write { db, key: key.into(), existed, exists });
}

/// A key of database `db` expired (its removal is not also a write).
pub(crate) fn expired(db: usize, key: &[u8]) {
    log(|| Logged::Expired { db, key: key.into() });
}

/// A key of database `db` was evicted (its removal is not also a write).
pub(crate) fn evicted(db: usize, key: &[u8]) {
    log(|| Logged::Evicted { db, key: key.into() });
}

/// Runs `f` with the changes it makes not logged as writes: for removals that are logged as an
/// expiration or an eviction instead.
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let outer = LOG.with(|log| log.borrow_mut().take());
    let result = f();
    LOG.with(|log| *log.borrow_mut() = outer);
    result
}

/// Collects the changes made on this thread from its start until [`Collector::publish`] (or until
/// dropped, which discards them). Collectors nest: an inner one sees only its own changes.
#[must_use]
pub struct Collector {
    outer: Option<Option<Vec<Logged>>>,
}

impl Collector {
    /// Starts collecting when notifications are on (`flags` publish something), else does nothing.
    /// Inlined, as are [`Collector::publish`]'s and the drop's first check: with notifications off
    /// (the usual case) every command pays three tests, not three calls.
    #[inline]
    pub fn start(flags: u32) -> Collector {
        if flags & (class::KEYSPACE | class::KEYEVENT) == 0 || flags & !(class::KEYSPACE | class::KEYEVENT) == 0 {
            return Collector { outer: None };
        }
        Collector::start_collecting()
    }

    fn start_collecting() -> Collector {
        let outer = LOG.with(|log| log.borrow_mut().replace(Vec::new()));
        Collector { outer: Some(outer) }
    }

    /// Stops collecting and publishes the events of what `command` (its spec and arguments; `None`
    /// for the server's own work such as active expiry) changed, from database `db`.
    #[inline]
    pub fn publish(mut self, shared: &Shared, command: Option<(&CommandSpec, &[Bytes])>, db: usize) {
        if self.outer.is_some() {
            self.publish_collected(shared, command, db);
        }
    }

    fn publish_collected(&mut self, shared: &Shared, command: Option<(&CommandSpec, &[Bytes])>, db: usize) {
        let Some(logged) = self.stop() else { return };
        if logged.is_empty() {
            return;
        }
        let flags = shared.settings.notify_keyspace_events();
        let command = command.map(|(spec, args)| (Command { name: spec.name, group: spec.group }, args));
        for event in events(&logged, command, db) {
            publish(shared, flags, &event);
        }
    }

    fn stop(&mut self) -> Option<Vec<Logged>> {
        let outer = self.outer.take()?;
        LOG.with(|log| std::mem::replace(&mut *log.borrow_mut(), outer))
    }
}

impl Drop for Collector {
    #[inline]
    fn drop(&mut self) {
        if self.outer.is_some() {
            self.stop();
        }
    }
}

/// One notification to send.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    db: usize,
    class: u32,
    name: Cow<'static, str>,
    key: Box<[u8]>,
}

fn publish(shared: &Shared, flags: u32, event: &Event) {
    if flags & event.class == 0 {
        return;
    }
    if flags & class::KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{}__:", event.db).into_bytes();
        channel.extend_from_slice(&event.key);
        let payload = Bytes::copy_from_slice(event.name.as_bytes());
        shared.pubsub.publish(SubscriptionKind::Channel, &Bytes::from(channel), &payload);
    }
    if flags & class::KEYEVENT != 0 {
        let channel = Bytes::from(format!("__keyevent@{}__:{}", event.db, event.name));
        shared.pubsub.publish(SubscriptionKind::Channel, &channel, &Bytes::copy_from_slice(&event.key));
    }
}

/// The events of a command's logged changes, in the order Redis sends them: per key, in the order
/// the keys were first changed, `new` (if the command created it), the command's own events, then
/// `del` (if the command emptied it). Expirations and evictions come where they happened.
fn events(logged: &[Logged], command: Option<(Command, &[Bytes])>, session_db: usize) -> Vec<Event> {
    let mut out = Vec::new();
    for (i, entry) in logged.iter().enumerate() {
        match entry {
            Logged::Expired { db, key } => out.push(Event::new(*db, class::EXPIRED, "expired", key)),
            Logged::Evicted { db, key } => out.push(Event::new(*db, class::EVICTED, "evicted", key)),
            Logged::Write { db, key, existed, .. } => {
                let same = |other: &Logged| matches!(other, Logged::Write { db: d, key: k, .. } if d == db && k == key);
                if logged[..i].iter().any(same) {
                    continue; // the key's events were made at its first change
                }
                let exists = logged[i..]
                    .iter()
                    .rev()
                    .find_map(|other| match other {
                        Logged::Write { db: d, key: k, exists, .. } if d == db && k == key => Some(*exists),
                        _ => None,
                    })
                    .unwrap_or(false);
                let change = Change { db: *db, key, existed: *existed, exists, session_db };
                if let Some((spec, args)) = &command {
                    change.events(spec, args, &mut out);
                }
            }
        }
    }
    out
}

impl Event {
    fn new(db: usize, class: u32, name: impl Into<Cow<'static, str>>, key: &[u8]) -> Event {
        Event { db, class, name: name.into(), key: key.into() }
    }
}

/// The command whose changes are turned into events: its table name and Redis's group.
struct Command {
    name: &'static str,
    group: &'static str,
}

/// What one command did to one key, all its changes taken together.
struct Change<'a> {
    db: usize,
    key: &'a [u8],
    existed: bool,
    exists: bool,
    /// The database the command ran in: `MOVE` changes a key in another.
    session_db: usize,
}

/// Where the word after the keys of `LMPOP`/`ZMPOP numkeys key...` (or, blocking, `timeout numkeys
/// key...`) stands: the direction. Past the end when numkeys does not parse.
fn after_keys(name: &str, args: &[Bytes]) -> usize {
    let numkeys_at = if name.starts_with('B') { 2 } else { 1 };
    let numkeys = args.get(numkeys_at).and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
    numkeys.map_or(usize::MAX, |n| numkeys_at + 1 + n)
}

/// Commands whose only effect on a destination left empty is deleting it: Redis sends `del`
/// alone then, not the command's event.
const STORING: &[&str] = &[
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "ZUNIONSTORE",
    "ZINTERSTORE",
    "ZDIFFSTORE",
    "ZRANGESTORE",
    "SORT",
    "BITOP",
];

impl Change<'_> {
    fn events(&self, spec: &Command, args: &[Bytes], out: &mut Vec<Event>) {
        let name = spec.name;
        let start = out.len();
        let arg = |i: usize| args.get(i).map_or(&[][..], |arg| &arg[..]);
        // These delete what the destination held and add the key anew, as Redis's dbDelete +
        // dbAdd: a replaced key is `new` too.
        let replaced = match name {
            "RENAME" | "RENAMENX" | "COPY" => self.key == arg(2) && self.key != arg(1),
            "RESTORE" => true,
            "MOVE" => self.db != self.session_db,
            _ => false,
        };
        if self.exists && (!self.existed || replaced) {
            out.push(self.event(class::NEW, "new"));
        }
        let is = |i: usize, word: &str| arg(i).eq_ignore_ascii_case(word.as_bytes());
        let emptied = self.existed && !self.exists;
        match name {
            "FLUSHDB" | "FLUSHALL" | "SWAPDB" => return,
            "DEL" | "UNLINK" | "GETDEL" => {}
            "RENAME" | "RENAMENX" => {
                if self.key == arg(1) && !self.exists {
                    out.push(self.event(class::GENERIC, "rename_from"));
                    return;
                }
                out.push(self.event(class::GENERIC, "rename_to"));
            }
            "MOVE" => {
                let from = self.db == self.session_db;
                out.push(self.event(class::GENERIC, if from { "move_from" } else { "move_to" }));
                return;
            }
            "COPY" => out.push(self.event(class::GENERIC, "copy_to")),
            "RESTORE" => out.push(self.event(class::GENERIC, "restore")),
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" if self.exists => {
                out.push(self.event(class::GENERIC, "expire"))
            }
            "PERSIST" => out.push(self.event(class::GENERIC, "persist")),
            "GETEX" if self.exists => {
                let persist = args.iter().skip(2).any(|a| a.eq_ignore_ascii_case(b"PERSIST"));
                out.push(self.event(class::GENERIC, if persist { "persist" } else { "expire" }));
            }
            "SET" => {
                out.push(self.event(class::STRING, "set"));
                let expiring = ["EX", "PX", "EXAT", "PXAT"];
                if args.iter().skip(3).any(|a| expiring.iter().any(|w| a.eq_ignore_ascii_case(w.as_bytes()))) {
                    out.push(self.event(class::GENERIC, "expire"));
                }
            }
            "SETEX" | "PSETEX" => {
                out.push(self.event(class::STRING, "set"));
                out.push(self.event(class::GENERIC, "expire"));
            }
            "SETNX" | "MSET" | "MSETNX" | "GETSET" => out.push(self.event(class::STRING, "set")),
            "INCR" | "DECR" | "INCRBY" | "DECRBY" => out.push(self.event(class::STRING, "incrby")),
            "BITFIELD" => out.push(self.event(class::STRING, "setbit")),
            "BITOP" if self.exists => out.push(self.event(class::STRING, "set")),
            "HSET" | "HMSET" | "HSETNX" => out.push(self.event(class::HASH, "hset")),
            "LPUSHX" => out.push(self.event(class::LIST, "lpush")),
            "RPUSHX" => out.push(self.event(class::LIST, "rpush")),
            "BLPOP" => out.push(self.event(class::LIST, "lpop")),
            "BRPOP" => out.push(self.event(class::LIST, "rpop")),
            "LMPOP" | "BLMPOP" => {
                let left = is(after_keys(name, args), "LEFT");
                out.push(self.event(class::LIST, if left { "lpop" } else { "rpop" }));
            }
            "LMOVE" | "BLMOVE" | "RPOPLPUSH" | "BRPOPLPUSH" => {
                let (from_left, to_left) = match name {
                    "LMOVE" | "BLMOVE" => (is(3, "LEFT"), is(4, "LEFT")),
                    _ => (false, true),
                };
                if self.key == arg(1) {
                    out.push(self.event(class::LIST, if from_left { "lpop" } else { "rpop" }));
                }
                if self.key == arg(2) && self.exists {
                    out.push(self.event(class::LIST, if to_left { "lpush" } else { "rpush" }));
                }
            }
            "SMOVE" => {
                if self.key == arg(1) {
                    out.push(self.event(class::SET, "srem"));
                }
                if self.key == arg(2) && self.key != arg(1) {
                    out.push(self.event(class::SET, "sadd"));
                }
            }
            "ZADD" => {
                let options = ["NX", "XX", "GT", "LT", "CH", "INCR"];
                let option_args =
                    args.iter().skip(2).take_while(|a| options.iter().any(|o| a.eq_ignore_ascii_case(o.as_bytes())));
                let incr = option_args.clone().any(|a| a.eq_ignore_ascii_case(b"INCR"));
                out.push(self.event(class::ZSET, if incr { "zincr" } else { "zadd" }));
            }
            "ZINCRBY" => out.push(self.event(class::ZSET, "zincr")),
            "BZPOPMIN" => out.push(self.event(class::ZSET, "zpopmin")),
            "BZPOPMAX" => out.push(self.event(class::ZSET, "zpopmax")),
            "ZMPOP" | "BZMPOP" => {
                let min = is(after_keys(name, args), "MIN");
                out.push(self.event(class::ZSET, if min { "zpopmin" } else { "zpopmax" }));
            }
            "SORT" if self.exists => out.push(self.event(class::LIST, "sortstore")),
            _ if STORING.contains(&name) && !self.exists => {}
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "GETEX" | "BITOP" | "SORT" => {}
            _ => {
                let class = match spec.group {
                    "string" | "bitmap" => class::STRING,
                    "list" => class::LIST,
                    "set" => class::SET,
                    "hash" => class::HASH,
                    "sorted-set" => class::ZSET,
                    "stream" => class::STREAM,
                    _ => class::GENERIC,
                };
                out.push(self.event(class, name.to_ascii_lowercase()));
            }
        }
        let said_del = out[start..].iter().any(|event| event.name == "del");
        if emptied && !said_del {
            out.push(self.event(class::GENERIC, "del"));
        }
    }

    fn event(&self, class: u32, name: impl Into<Cow<'static, str>>) -> Event {
        Event::new(self.db, class, name, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The group of each command these tests use, as the table has it.
    fn group(name: &str) -> &'static str {
        match name {
            "SET" | "INCRBY" | "GETEX" => "string",
            "SREM" | "SUNIONSTORE" => "set",
            "HSET" => "hash",
            "LMOVE" | "LMPOP" => "list",
            "ZADD" => "sorted-set",
            _ => "generic",
        }
    }

    fn names(logged: &[Logged], args: &[&'static str]) -> Vec<(usize, String, String)> {
        let command = Command { name: args[0], group: group(args[0]) };
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from_static(a.as_bytes())).collect();
        events(logged, Some((command, &args)), 0)
            .into_iter()
            .map(|e| (e.db, e.name.into_owned(), String::from_utf8_lossy(&e.key).into_owned()))
            .collect()
    }

    fn write(key: &str, existed: bool, exists: bool) -> Logged {
        Logged::Write { db: 0, key: key.as_bytes().into(), existed, exists }
    }

    fn ev(name: &str, key: &str) -> (usize, String, String) {
        (0, name.to_owned(), key.to_owned())
    }

    #[test]
    fn a_created_key_gets_new_then_the_command_event() {
        assert_eq!(
            names(&[write("k", false, true)], &["SET", "k", "v", "EX", "10"]),
            [ev("new", "k"), ev("set", "k"), ev("expire", "k")]
        );
        assert_eq!(names(&[write("n", true, true)], &["INCRBY", "n", "2"]), [ev("incrby", "n")]);
    }

    #[test]
    fn an_emptied_collection_gets_its_event_then_del() {
        assert_eq!(names(&[write("s", true, false)], &["SREM", "s", "a"]), [ev("srem", "s"), ev("del", "s")]);
        assert_eq!(names(&[write("d", true, false)], &["SUNIONSTORE", "d", "x"]), [ev("del", "d")]);
        assert_eq!(names(&[write("k", true, false)], &["DEL", "k"]), [ev("del", "k")]);
        assert_eq!(names(&[write("k", true, false)], &["EXPIRE", "k", "-1"]), [ev("del", "k")]);
    }

    #[test]
    fn two_key_commands_name_each_side() {
        let logged = [write("a", true, false), write("b", false, true)];
        assert_eq!(
            names(&logged, &["RENAME", "a", "b"]),
            [ev("rename_from", "a"), ev("new", "b"), ev("rename_to", "b")]
        );
        let logged = [write("src", true, true), write("dst", true, true)];
        assert_eq!(names(&logged, &["LMOVE", "src", "dst", "RIGHT", "LEFT"]), [ev("rpop", "src"), ev("lpush", "dst")]);
        let logged = [write("l", true, true)];
        assert_eq!(names(&logged, &["LMOVE", "l", "l", "LEFT", "RIGHT"]), [ev("lpop", "l"), ev("rpush", "l")]);
    }

    #[test]
    fn a_key_changed_twice_is_one_change_and_expiry_comes_first() {
        let logged =
            [Logged::Expired { db: 0, key: b"k".as_slice().into() }, write("k", false, true), write("k", true, true)];
        assert_eq!(names(&logged, &["HSET", "k", "f", "v"]), [ev("expired", "k"), ev("new", "k"), ev("hset", "k")]);
    }

    #[test]
    fn options_pick_the_event_name() {
        assert_eq!(names(&[write("z", true, true)], &["ZADD", "z", "XX", "INCR", "1", "m"]), [ev("zincr", "z")]);
        assert_eq!(names(&[write("z", true, true)], &["ZADD", "z", "1", "incr"]), [ev("zadd", "z")]);
        assert_eq!(names(&[write("l", true, true)], &["LMPOP", "1", "l", "LEFT"]), [ev("lpop", "l")]);
        assert_eq!(names(&[write("k", true, true)], &["GETEX", "k", "PERSIST"]), [ev("persist", "k")]);
    }

    #[test]
    fn collectors_see_only_what_runs_under_them_and_nest() {
        assert!(LOG.with(|log| log.borrow().is_none()));
        written(0, b"ignored", false, true);
        let outer = Collector::start(class::KEYSPACE | class::ALL);
        written(0, b"a", false, true);
        {
            let mut inner = Collector::start(class::KEYSPACE | class::ALL);
            written(0, b"b", false, true);
            quietly(|| written(0, b"quiet", true, false));
            assert_eq!(inner.stop().map(|log| log.len()), Some(1));
        }
        written(0, b"c", false, true);
        let mut outer = outer;
        assert_eq!(outer.stop().map(|log| log.len()), Some(2));
        assert!(LOG.with(|log| log.borrow().is_none()));
        // Off: nothing collected.
        let mut off = Collector::start(class::ALL);
        written(0, b"d", false, true);
        assert_eq!(off.stop(), None);
    }
}
