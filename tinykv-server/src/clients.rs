//! Who is connected: the registry `CLIENT LIST` and `CLIENT KILL` read, and `CLIENT PAUSE`.
//!
//! Each connection owns an [`ClientInfo`] that it updates as it goes, with relaxed atomic stores into
//! its own cache lines (the last command, the database, buffer sizes) and a lock only for its name,
//! which only the client itself and `CLIENT LIST` take. The registry's lock is taken when a client
//! connects or leaves and by `CLIENT LIST`/`KILL`, never per request.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tinykv_proto::command::{ClientKill, ClientType};
use tinykv_proto::table;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A one-way wake-up for one connection (killed, or the server shutting down): an atomic flag and
/// a waker slot. Polling it is an atomic load and a waker registration, where a cancellation
/// token's poll takes a lock and a `Notify` registration (about 300 instructions;
/// `bench/results/PROFILE.md`), so the connection can watch it on every read.
#[derive(Debug, Default)]
pub struct Alarm {
    rung: AtomicBool,
    waker: futures::task::AtomicWaker,
}

impl Alarm {
    /// Rings it: whoever polls it from now on is ready, and whoever waits is woken.
    pub fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Ready once rung; otherwise the task is woken when it is.
    pub fn poll(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.rung.load(Ordering::Acquire) {
            return std::task::Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Rung between the load and the registration: `ring` may have found no waker to wake.
        if self.rung.load(Ordering::Acquire) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Bytes a client costs beyond its buffers (its task, session and this record), for `tot-mem`.
const CLIENT_OVERHEAD: u64 = 2048;

/// Flag bits of a client, shown by `CLIENT LIST` as letters.
const FLAG_NO_EVICT: u32 = 1 << 0;
const FLAG_NO_TOUCH: u32 = 1 << 1;
const FLAG_CLOSE_AFTER_REPLY: u32 = 1 << 2;
const FLAG_PUBSUB: u32 = 1 << 3;
// --- lists ---
const FLAG_BLOCKED: u32 = 1 << 4;
// --- replication ---
const FLAG_REPLICA: u32 = 1 << 5;
const FLAG_MASTER: u32 = 1 << 6;

/// One connected client, as `CLIENT LIST` shows it.
#[derive(Debug)]
pub struct ClientInfo {
    /// Unique id (`CLIENT ID`).
    pub id: u64,
    /// The peer's address, `ip:port`.
    pub addr: String,
    /// The local address it connected to, `ip:port`.
    pub laddr: String,
    /// The socket's file descriptor (a client moved to another thread gets a new one).
    fd: AtomicI64,
    /// When it connected.
    created: Instant,
    /// When it was last read from or written to, in [`crate::clock::monotonic_us`] milliseconds
    /// (one clock read a batch: `Instant::elapsed` cost ~200 instructions, `bench/results/PROFILE.md`).
    last_interaction: AtomicU64,
    /// The selected database.
    db: AtomicU32,
    /// The protocol version (2 or 3).
    resp: AtomicU8,
    /// `FLAG_*` bits.
    flags: AtomicU32,
    /// Commands queued by `MULTI`, or -1 outside a transaction.
    multi: AtomicI64,
    /// Bytes of the commands queued by `MULTI`.
    multi_mem: AtomicU64,
    /// The last command's number in the table plus one; 0 for none (`cmd=NULL`).
    last_command: AtomicU32,
    /// Unparsed bytes in the read buffer, and its free room.
    qbuf: AtomicU64,
    qbuf_free: AtomicU64,
    /// The reply buffer's size, its peak use, and what waits in it unsent.
    rbs: AtomicU64,
    rbp: AtomicU64,
    obl: AtomicU64,
    /// Channels, patterns and shard channels subscribed to (`sub=`, `psub=`, `ssub=`).
    subscriptions: [AtomicU32; 3],
    /// The name set by `CLIENT SETNAME` or `HELLO ... SETNAME`.
    name: Mutex<Option<Bytes>>,
    /// Cancelled by `CLIENT KILL`: the connection closes at once.
    kill: CancellationToken,
    /// Rung with `kill` and at shutdown: what the connection's read and flush watch.
    alarm: Alarm,
}

impl Default for ClientInfo {
    fn default() -> Self {
        ClientInfo::new(0, None, None, -1)
    }
}

impl ClientInfo {
    /// A client that connected just now from `peer` to `local` on descriptor `fd`.
    pub fn new(id: u64, peer: Option<SocketAddr>, local: Option<SocketAddr>, fd: i64) -> ClientInfo {
        let text = |addr: Option<SocketAddr>| addr.map_or_else(|| "?:0".to_owned(), |addr| addr.to_string());
        ClientInfo {
            id,
            addr: text(peer),
            laddr: text(local),
            fd: AtomicI64::new(fd),
            created: Instant::now(),
            last_interaction: AtomicU64::new(crate::clock::monotonic_us() / 1000),
            db: AtomicU32::new(0),
            resp: AtomicU8::new(2),
            flags: AtomicU32::new(0),
            multi: AtomicI64::new(-1),
            multi_mem: AtomicU64::new(0),
            last_command: AtomicU32::new(0),
            qbuf: AtomicU64::new(0),
            qbuf_free: AtomicU64::new(0),
            rbs: AtomicU64::new(0),
            rbp: AtomicU64::new(0),
            obl: AtomicU64::new(0),
            subscriptions: Default::default(),
            name: Mutex::new(None),
            kill: CancellationToken::new(),
            alarm: Alarm::default(),
        }
    }

    /// Whether the peer is on this machine (a loopback address), for `--enable-debug-command local`.
    pub fn is_local(&self) -> bool {
        self.addr.parse::<SocketAddr>().is_ok_and(|addr| addr.ip().is_loopback())
    }

    /// Notes activity now (a read or a write), for `idle=`.
    pub fn touch(&self) {
        self.touch_at(crate::clock::monotonic_us());
    }

    /// [`ClientInfo::touch`] with a reading of [`crate::clock::monotonic_us`] the caller already
    /// has: the connection reads the clock once per batch for this and for the first command's start.
    pub fn touch_at(&self, monotonic_us: u64) {
        self.last_interaction.store(monotonic_us / 1000, Ordering::Relaxed);
    }

    /// How long since the last read from or write to the client.
    pub fn idle(&self) -> Duration {
        let now = crate::clock::monotonic_us() / 1000;
        Duration::from_millis(now.saturating_sub(self.last_interaction.load(Ordering::Relaxed)))
    }

    /// Notes the command being run (its number in the table), or an unknown one.
    pub fn set_last_command(&self, number: Option<usize>) {
        let value = number.map_or(0, |n| n as u32 + 1);
        self.last_command.store(value, Ordering::Relaxed);
    }

    /// Notes the selected database.
    pub fn set_db(&self, db: usize) {
        self.db.store(db as u32, Ordering::Relaxed);
    }

    /// Notes the protocol version.
    pub fn set_resp(&self, version: i64) {
        self.resp.store(version as u8, Ordering::Relaxed);
    }

    /// Notes the name.
    pub fn set_name(&self, name: Option<Bytes>) {
        *self.name.lock() = name;
    }

    /// Notes the descriptor the client is served on now (`--threads N > 1` moves it to another thread
    /// on a duplicate of its socket), for `CLIENT LIST`.
    pub fn set_fd(&self, fd: i64) {
        self.fd.store(fd, Ordering::Relaxed);
    }

    /// Notes a transaction's size (`None` when there is none).
    pub fn set_multi(&self, queued: Option<(usize, usize)>) {
        let (count, bytes) = queued.map_or((-1, 0), |(count, bytes)| (count as i64, bytes as u64));
        self.multi.store(count, Ordering::Relaxed);
        self.multi_mem.store(bytes, Ordering::Relaxed);
    }

    /// Notes the connection's buffers: unparsed input and the read buffer's free room, the reply
    /// buffer's capacity and what waits in it.
    pub fn set_buffers(&self, qbuf: usize, qbuf_free: usize, rbs: usize, obl: usize) {
        self.qbuf.store(qbuf as u64, Ordering::Relaxed);
        self.qbuf_free.store(qbuf_free as u64, Ordering::Relaxed);
        self.rbs.store(rbs as u64, Ordering::Relaxed);
        self.obl.store(obl as u64, Ordering::Relaxed);
        // A plain load first: the peak rarely moves, and a read-modify-write on every call would be
        // a locked instruction per batch.
        if obl as u64 > self.rbp.load(Ordering::Relaxed) {
            self.rbp.fetch_max(obl as u64, Ordering::Relaxed);
        }
    }

    fn set_flag(&self, flag: u32, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    /// `CLIENT NO-EVICT ON|OFF`.
    pub fn set_no_evict(&self, on: bool) {
        self.set_flag(FLAG_NO_EVICT, on);
    }

    /// `CLIENT NO-TOUCH ON|OFF`.
    pub fn set_no_touch(&self, on: bool) {
        self.set_flag(FLAG_NO_TOUCH, on);
    }

    /// Whether the client's commands must leave keys' LRU/LFU as they were (`CLIENT NO-TOUCH ON`).
    pub fn no_touch(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & FLAG_NO_TOUCH != 0
    }

    /// Notes how many channels, patterns and shard channels the client subscribes to, and whether it
    /// is in pub/sub mode (flag `P`).
    pub fn set_subscriptions(&self, channels: usize, patterns: usize, shard: usize, pubsub_mode: bool) {
        for (slot, count) in self.subscriptions.iter().zip([channels, patterns, shard]) {
            slot.store(count as u32, Ordering::Relaxed);
        }
        if pubsub_mode {
            self.flags.fetch_or(FLAG_PUBSUB, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!FLAG_PUBSUB, Ordering::Relaxed);
        }
    }

    // --- lists ---
    /// Whether the client waits in a blocking command (flag `b`, `INFO`'s `blocked_clients`).
    pub fn set_blocked(&self, on: bool) {
        self.set_flag(FLAG_BLOCKED, on);
    }

    /// Whether the client waits in a blocking command now.
    pub fn is_blocked(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & FLAG_BLOCKED != 0
    }

    /// Marks the client to be closed once its current reply is sent (it killed itself).
    pub fn close_after_reply(&self) {
        self.set_flag(FLAG_CLOSE_AFTER_REPLY, true);
    }

    /// Marks the connection as a replica of this server (`CLIENT LIST` flag `S`, `CLIENT KILL TYPE
    /// replica`) once it asked for `PSYNC`/`SYNC`.
    pub fn set_replica(&self) {
        self.set_flag(FLAG_REPLICA, true);
    }

    /// Marks the connection as this server's link to its primary (flag `M`, `CLIENT KILL TYPE master`).
    pub fn set_master(&self) {
        self.set_flag(FLAG_MASTER, true);
    }

    /// Closes the connection at once, dropping unsent replies (`CLIENT KILL` from another client).
    pub fn kill(&self) {
        self.kill.cancel();
        self.alarm.ring();
    }

    /// Whether [`ClientInfo::alarmed`] would resolve at once: one atomic load.
    pub fn is_alarmed(&self) -> bool {
        self.alarm.rung.load(Ordering::Acquire)
    }

    /// Resolves when the client is killed or the server shuts down (tell them apart with
    /// [`ClientInfo::is_killed`]). Cheap to poll: see [`Alarm`].
    pub fn alarmed(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| self.alarm.poll(cx))
    }

    /// Whether the client was killed.
    pub fn is_killed(&self) -> bool {
        self.kill.is_cancelled()
    }

    /// Resolves when the client is killed.
    pub fn killed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.kill.cancelled()
    }

    /// The client's type for `TYPE` filters: `pubsub` for a subscriber speaking RESP2 (whose
    /// connection carries messages only), as Redis's `getClientType`; every other client is normal.
    pub fn kind(&self) -> ClientType {
        let flags = self.flags.load(Ordering::Relaxed);
        if flags & FLAG_REPLICA != 0 {
            ClientType::Replica
        } else if flags & FLAG_MASTER != 0 {
            ClientType::Master
        } else if flags & FLAG_PUBSUB != 0 && self.resp.load(Ordering::Relaxed) == 2 {
            ClientType::PubSub
        } else {
            ClientType::Normal
        }
    }

    /// The line `CLIENT LIST` and `CLIENT INFO` print for this client, in Redis 7.0's format (without
    /// the newline). `argv_mem` is the size of the command being run, for the client that asks.
    pub fn line(&self, argv_mem: usize) -> String {
        let flags = self.flags.load(Ordering::Relaxed);
        let multi = self.multi.load(Ordering::Relaxed);
        let mut letters = String::new();
        for (set, letter) in [
            (flags & FLAG_REPLICA != 0, 'S'),
            (flags & FLAG_MASTER != 0, 'M'),
            (flags & FLAG_PUBSUB != 0, 'P'),
            (multi >= 0, 'x'),
            (flags & FLAG_BLOCKED != 0, 'b'),
            (flags & FLAG_CLOSE_AFTER_REPLY != 0, 'c'),
            (flags & FLAG_NO_EVICT != 0, 'e'),
            (flags & FLAG_NO_TOUCH != 0, 'T'),
        ] {
            if set {
                letters.push(letter);
            }
        }
        if letters.is_empty() {
            letters.push('N');
        }
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let (qbuf, qbuf_free, rbs, obl) = (load(&self.qbuf), load(&self.qbuf_free), load(&self.rbs), load(&self.obl));
        let multi_mem = load(&self.multi_mem);
        let age = self.created.elapsed();
        let idle = self.idle();
        let name = self.name.lock().clone().unwrap_or_default();
        let command = match self.last_command.load(Ordering::Relaxed) {
            0 => "NULL",
            n => table::numbered_name(n as usize - 1),
        };
        let tot_mem = qbuf + qbuf_free + rbs + argv_mem as u64 + multi_mem + CLIENT_OVERHEAD;
        let mut line = String::with_capacity(320);
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
             qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll=0 omem=0 tot-mem={} events={} \
             cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd.load(Ordering::Relaxed),
            String::from_utf8_lossy(&name),
            age.as_secs(),
            idle.as_secs(),
            letters,
            self.db.load(Ordering::Relaxed),
            self.subscriptions[0].load(Ordering::Relaxed),
            self.subscriptions[1].load(Ordering::Relaxed),
            self.subscriptions[2].load(Ordering::Relaxed),
            multi,
            qbuf,
            qbuf_free,
            argv_mem,
            multi_mem,
            rbs,
            load(&self.rbp),
            obl,
            tot_mem,
            if obl > 0 { "rw" } else { "r" },
            command,
            self.resp.load(Ordering::Relaxed),
        );
        line
    }

    /// Whether `CLIENT KILL`'s filters (all of them) match this client; `me` is the caller's id.
    pub fn matches(&self, kill: &ClientKill, me: u64) -> bool {
        let same = |filter: &Option<Bytes>, value: &str| filter.as_ref().is_none_or(|f| f.as_ref() == value.as_bytes());
        same(&kill.addr, &self.addr)
            && same(&kill.laddr, &self.laddr)
            && kill.kind.is_none_or(|kind| kind == self.kind())
            && kill.id.is_none_or(|id| id == self.id)
            && !(kill.skipme && self.id == me)
    }
}

/// Every connected client, by id (so `CLIENT LIST` lists them in the order they connected).
#[derive(Default)]
pub struct Clients {
    registry: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    /// Set by [`Clients::shut_down`].
    shutting_down: AtomicBool,
    /// `CLIENT PAUSE`.
    pub pause: Pause,
}

impl Clients {
    /// Adds a client that just connected.
    pub fn register(&self, client: Arc<ClientInfo>) {
        self.registry.lock().insert(client.id, Arc::clone(&client));
        // Registered after (or while) the others were told of the shutdown: told now.
        if self.shutting_down.load(Ordering::Acquire) {
            client.alarm.ring();
        }
    }

    /// Tells every connection that the server is shutting down (each then answers what it has
    /// read and leaves), and every one that connects from now on.
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for client in self.registry.lock().values() {
            client.alarm.ring();
        }
    }

    /// Removes a client that left.
    pub fn deregister(&self, id: u64) {
        self.registry.lock().remove(&id);
    }

    /// The clients connected now (killed ones, on their way out, left out).
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.registry.lock().values().filter(|client| !client.is_killed()).cloned().collect()
    }

    /// Closes every client idle for longer than `timeout` (`--timeout`, `CONFIG SET timeout`), as
    /// Redis's client cron does; returns how many. A client blocked in `BLPOP` and friends is not
    /// idle: its own timeout governs it, as in Redis.
    pub fn close_idle(&self, timeout: Duration) -> usize {
        let idle: Vec<Arc<ClientInfo>> = self
            .registry
            .lock()
            .values()
            .filter(|client| client.idle() > timeout && !client.is_blocked())
            .cloned()
            .collect();
        for client in &idle {
            tracing::debug!(id = client.id, addr = %client.addr, "closing an idle client");
            client.kill();
        }
        idle.len()
    }

    /// The client with this id, if connected.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.registry.lock().get(&id).filter(|client| !client.is_killed()).cloned()
    }
}

/// What `CLIENT PAUSE` holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseKind {
    /// Commands that write (or may replicate).
    Write,
    /// Every command.
    All,
}

/// `CLIENT PAUSE`: until a deadline, the commands of one kind wait (without spinning: they sleep on
/// a notification and the deadline), then run.
#[derive(Default)]
pub struct Pause {
    /// Set while a pause may be in force: what the request path reads, so an unpaused server pays
    /// one relaxed load per command.
    active: AtomicBool,
    state: Mutex<Option<(PauseKind, Instant)>>,
    changed: Notify,
}

impl Pause {
    /// Whether a pause may be in force (cheap; [`Pause::current`] tells for sure).
    pub fn may_be_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// The pause in force now, if any.
    pub fn current(&self) -> Option<PauseKind> {
        let mut state = self.state.lock();
        match *state {
            Some((kind, until)) if until > Instant::now() => Some(kind),
            Some(_) => {
                *state = None;
                self.active.store(false, Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    /// Pauses `kind` commands until `until`; a pause already in force keeps the stricter kind and
    /// the later end, as Redis merges them.
    pub fn pause(&self, kind: PauseKind, until: Instant) {
        let mut state = self.state.lock();
        let merged = match *state {
            Some((old_kind, old_until)) if old_until > Instant::now() => (kind.max(old_kind), until.max(old_until)),
            _ => (kind, until),
        };
        *state = Some(merged);
        self.active.store(true, Ordering::Relaxed);
        drop(state);
        self.changed.notify_waiters();
    }

    /// `CLIENT UNPAUSE`: everything waiting runs.
    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.active.store(false, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    /// Waits while a pause that `holds` (given the pause's kind) is in force.
    pub async fn wait_while(&self, holds: impl Fn(PauseKind) -> bool) {
        loop {
            // Registered before looking, so an unpause between the look and the wait is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            // Copied out: `holds` may look at the pause itself.
            let state = *self.state.lock();
            let until = match state {
                Some((kind, until)) if until > Instant::now() && holds(kind) => until,
                _ => return,
            };
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_redis_fields_in_redis_order() {
        let client = ClientInfo::new(7, "127.0.0.1:5000".parse().ok(), "127.0.0.1:6379".parse().ok(), 9);
        client.set_name(Some(Bytes::from_static(b"worker")));
        client.set_db(3);
        let line = client.line(10);
        let keys: Vec<&str> = line.split(' ').map(|field| field.split('=').next().unwrap_or_default()).collect();
        assert_eq!(
            keys.join(" "),
            "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem rbs rbp \
             obl oll omem tot-mem events cmd user redir resp"
        );
        assert!(line
            .starts_with("id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=9 name=worker age=0 idle=0 flags=N db=3 "));
        assert!(line.ends_with(" cmd=NULL user=default redir=-1 resp=2"), "{line}");
        client.set_multi(Some((2, 20)));
        client.set_no_evict(true);
        assert!(client.line(0).contains(" flags=xe db=3 sub=0 psub=0 ssub=0 multi=2 "));
        assert!(client.is_local());
    }

    #[tokio::test]
    async fn a_pause_holds_its_kind_until_unpaused() {
        let pause = Pause::default();
        assert_eq!(pause.current(), None);
        pause.pause(PauseKind::Write, Instant::now() + Duration::from_secs(60));
        pause.pause(PauseKind::All, Instant::now() + Duration::from_millis(1));
        assert_eq!(pause.current(), Some(PauseKind::All), "the stricter kind and the later end");
        let waiting = pause.wait_while(|_| true);
        tokio::pin!(waiting);
        assert!(tokio::time::timeout(Duration::from_millis(20), waiting.as_mut()).await.is_err());
        pause.unpause();
        waiting.await;
        assert!(!pause.may_be_active());
    }
}
