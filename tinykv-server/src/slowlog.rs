//! The slow log (`SLOWLOG GET|LEN|RESET`): commands that took at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them.
//!
//! Deciding costs the request path one comparison of the command's duration (which the server
//! measures anyway, for `INFO commandstats`) against the threshold; the lock is taken only to add a
//! slow command, or by `SLOWLOG` itself.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use tinykv_proto::table::CommandSpec;
use tinykv_proto::Reply;

/// Arguments kept per entry; the last one kept says how many more there were (Redis's
/// `SLOWLOG_ENTRY_MAX_ARGC`).
const MAX_ARGC: usize = 32;
/// Bytes kept per argument; the rest is counted (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
const MAX_STRING: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    /// Unix seconds when it was logged.
    time: i64,
    micros: u64,
    argv: Vec<Bytes>,
    peer: String,
    name: Bytes,
}

/// The log, newest entry first.
#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl SlowLog {
    /// Logs a command that took `micros`, its arguments shortened as Redis shortens them and its
    /// secrets redacted, then keeps the newest `max_len` entries.
    pub fn push(&self, spec: &CommandSpec, args: &[Bytes], micros: u64, peer: &str, name: Bytes, max_len: usize) {
        let argv = shorten(&redact(spec, args));
        let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let mut inner = self.inner.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push_front(Entry { id, time, micros, argv, peer: peer.to_owned(), name });
        inner.entries.truncate(max_len);
    }

    /// Drops all but the newest `max_len` entries.
    pub fn trim(&self, max_len: usize) {
        self.inner.lock().entries.truncate(max_len);
    }

    /// `SLOWLOG LEN`.
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `SLOWLOG RESET` (entry ids keep counting up, as in Redis).
    pub fn reset(&self) {
        self.inner.lock().entries.clear();
    }

    /// `SLOWLOG GET [count]`: the newest `count` entries (all for `None`), each
    /// `[id, unix time, microseconds, [args...], "ip:port", name]`.
    pub fn get(&self, count: Option<usize>) -> Reply {
        let inner = self.inner.lock();
        let count = count.unwrap_or(inner.entries.len());
        let entry = |e: &Entry| {
            Reply::Array(vec![
                Reply::Integer(e.id as i64),
                Reply::Integer(e.time),
                Reply::Integer(e.micros as i64),
                Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                Reply::Bulk(Bytes::copy_from_slice(e.peer.as_bytes())),
                Reply::Bulk(e.name.clone()),
            ])
        };
        Reply::Array(inner.entries.iter().take(count).map(entry).collect())
    }
}

/// What Redis hides from the slow log: `AUTH`'s arguments, `HELLO ... AUTH`'s user and password,
/// `CONFIG SET requirepass`'s value.
fn redact(spec: &CommandSpec, args: &[Bytes]) -> Vec<Bytes> {
    const REDACTED: Bytes = Bytes::from_static(b"(redacted)");
    let mut argv = args.to_vec();
    match spec.name {
        "AUTH" => argv.iter_mut().skip(1).for_each(|arg| *arg = REDACTED),
        "HELLO" => {
            if let Some(at) = argv.iter().position(|arg| arg.eq_ignore_ascii_case(b"AUTH")) {
                argv.iter_mut().skip(at + 1).take(2).for_each(|arg| *arg = REDACTED);
            }
        }
        "CONFIG" if argv.get(1).is_some_and(|sub| sub.eq_ignore_ascii_case(b"SET")) => {
            for pair in argv[2..].chunks_mut(2) {
                if let [name, value] = pair {
                    if name.eq_ignore_ascii_case(b"requirepass") {
                        *value = REDACTED;
                    }
                }
            }
        }
        _ => {}
    }
    argv
}

/// Redis's limits on an entry: at most [`MAX_ARGC`] arguments, the last saying how many were left
/// out, and at most [`MAX_STRING`] bytes of each, followed by how many were cut.
fn shorten(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGC);
    let mut argv = Vec::with_capacity(kept);
    for (i, arg) in args.iter().take(kept).enumerate() {
        if kept < args.len() && i == kept - 1 {
            argv.push(Bytes::from(format!("... ({} more arguments)", args.len() - kept + 1)));
        } else if arg.len() > MAX_STRING {
            let mut cut = arg[..MAX_STRING].to_vec();
            cut.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_STRING).as_bytes());
            argv.push(Bytes::from(cut));
        } else {
            // A copy: the argument is a slice of the connection's read buffer, which the log must not pin.
            argv.push(Bytes::copy_from_slice(arg));
        }
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Bytes> {
        text.split(' ').map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn long_commands_are_shortened_as_redis_shortens_them() {
        let mut args = words("mset");
        args.extend((0..40).map(|i| Bytes::from(i.to_string())));
        let argv = shorten(&args);
        assert_eq!(argv.len(), 32);
        assert_eq!(argv[31], "... (10 more arguments)");
        let long = vec![Bytes::from("k"), Bytes::from(vec![b'a'; 200])];
        let argv = shorten(&long);
        assert_eq!(argv[1].len(), 128 + "... (72 more bytes)".len());
        assert!(argv[1].ends_with(b"... (72 more bytes)"));
    }

    #[test]
    fn secrets_are_redacted() {
        let auth = tinykv_proto::table::lookup(b"AUTH").unwrap();
        assert_eq!(redact(auth, &words("auth user pass")), words("auth (redacted) (redacted)"));
        let hello = tinykv_proto::table::lookup(b"HELLO").unwrap();
        assert_eq!(
            redact(hello, &words("hello 3 AUTH u p SETNAME n")),
            words("hello 3 AUTH (redacted) (redacted) SETNAME n")
        );
        let config = tinykv_proto::table::lookup(b"CONFIG").unwrap();
        assert_eq!(
            redact(config, &words("config set timeout 1 REQUIREPASS secret")),
            words("config set timeout 1 REQUIREPASS (redacted)")
        );
    }

    #[test]
    fn newest_first_and_capped() {
        let log = SlowLog::default();
        let get = tinykv_proto::table::lookup(b"GET").unwrap();
        for i in 0..5 {
            log.push(get, &words(&format!("get k{i}")), 10, "127.0.0.1:1", Bytes::new(), 3);
        }
        assert_eq!(log.len(), 3);
        let Reply::Array(entries) = log.get(Some(1)) else { panic!() };
        let Reply::Array(fields) = &entries[0] else { panic!() };
        assert_eq!(fields[0], Reply::Integer(4));
        assert_eq!(fields[3], Reply::Array(vec![Reply::bulk("get"), Reply::bulk("k4")]));
        log.reset();
        assert!(log.is_empty());
    }
}
