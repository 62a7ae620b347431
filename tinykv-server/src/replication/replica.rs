//! The replica's side: this server's link to its primary (`REPLICAOF host port`, `--replicaof`).
//!
//! ```text
//! connect ─► PING ─► [AUTH] ─► REPLCONF listening-port ─► REPLCONF capa eof capa psync2 ─► PSYNC <replid> <offset+1>
//!   +CONTINUE [id]        ─► apply the stream from where we were
//!   +FULLRESYNC id off    ─► $EOF:<mark> / $<len>: the RDB into a temporary file in --dir,
//!                            loaded on a blocking thread into fresh databases (clients get -LOADING),
//!                            swapped in only once complete: a broken transfer leaves the data untouched
//! stream  ─► each command through the ordinary command path (as the primary's: expired keys are
//!            its to delete), relayed to our own backlog and replicas, counted in the offset;
//!            REPLCONF ACK <offset> every second and on REPLCONF GETACK
//! error   ─► logged, shown in INFO (master_link_status:down, master_link_last_error), retried with back-off
//! ```

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use tinykv_proto::codec::encode_request;
use tinykv_proto::{Limits, Request, RequestDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clients::ClientInfo;
use crate::db::{applying_primary_stream, now_ms, Db};
use crate::execute::{self, Session};
use crate::shared::Shared;

/// Longest line of the handshake (`+FULLRESYNC <40> <offset>`, an error text).
const MAX_LINE: usize = 64 * 1024;
/// First wait before reconnecting; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the replica acknowledges its offset (Redis: every second).
const ACK_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes read from the primary per read.
const READ_CHUNK: usize = 64 * 1024;
/// Length of the `$EOF:` mark.
const EOF_MARK_LEN: usize = 40;

/// The link's state, as `ROLE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting to connect.
    Connect,
    /// Connected, in the handshake.
    Connecting,
    /// Receiving or loading the RDB.
    Sync,
    /// Applying the stream.
    Connected,
}

impl LinkState {
    /// The name `ROLE` gives it.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// What `INFO replication` and `ROLE` show of the link.
#[derive(Debug, Clone)]
pub struct LinkView {
    /// The primary.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Where the link is.
    pub state: LinkState,
    /// Whether the stream is flowing (`master_link_status:up`).
    pub up: bool,
    /// Seconds since the last byte from the primary, `None` before any.
    pub last_io_secs: Option<u64>,
    /// Seconds the link has been down (-1: never up).
    pub down_secs: i64,
    /// A full sync's RDB is being received or loaded.
    pub syncing: bool,
    /// Its size, when known.
    pub sync_total: u64,
    /// Bytes of it read so far.
    pub sync_read: u64,
    /// Why the link last failed.
    pub last_error: Option<String>,
}

struct Status {
    target: Option<(String, u16)>,
    state: LinkState,
    last_io: Option<Instant>,
    down_since: Option<Instant>,
    sync_total: u64,
    sync_read: u64,
    last_error: Option<String>,
}

/// The configured primary and the link's state; `REPLICAOF` changes the target and the link task
/// follows.
pub struct Links {
    status: Mutex<Status>,
    changed: Notify,
    /// A full sync's RDB is being loaded: clients get `-LOADING`.
    loading: AtomicBool,
    /// Bumped by every `REPLICAOF`, so a link of an old target never reports into the new one.
    generation: AtomicU64,
    /// The database the primary's stream had selected when the link dropped: a `+CONTINUE`
    /// resumes the stream there (as Redis keeps its cached master client).
    stream_db: AtomicUsize,
}

impl Links {
    /// Links with `target` as the primary (`--replicaof`), or none.
    pub fn new(target: Option<(String, u16)>) -> Links {
        let status = Status {
            target,
            state: LinkState::Connect,
            last_io: None,
            down_since: None,
            sync_total: 0,
            sync_read: 0,
            last_error: None,
        };
        Links {
            status: Mutex::new(status),
            changed: Notify::new(),
            loading: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            stream_db: AtomicUsize::new(0),
        }
    }

    /// The link as `INFO` shows it; `None` when this server is a primary.
    pub fn status(&self) -> Option<LinkView> {
        let status = self.status.lock();
        let (host, port) = status.target.clone()?;
        Some(LinkView {
            host,
            port,
            state: status.state,
            up: status.state == LinkState::Connected,
            last_io_secs: status.last_io.map(|at| at.elapsed().as_secs()),
            down_secs: status.down_since.map_or(-1, |at| at.elapsed().as_secs() as i64),
            syncing: status.state == LinkState::Sync,
            sync_total: status.sync_total,
            sync_read: status.sync_read,
            last_error: status.last_error.clone(),
        })
    }

    /// The primary configured, if any.
    pub fn target(&self) -> Option<(String, u16)> {
        self.status.lock().target.clone()
    }

    /// Sets the primary (`None`: `REPLICAOF NO ONE`); the link task drops the current link and
    /// follows. Returns false when it was that target already.
    pub fn set_target(&self, target: Option<(String, u16)>) -> bool {
        let mut status = self.status.lock();
        if status.target == target {
            return false;
        }
        status.target = target;
        status.state = LinkState::Connect;
        status.down_since = None;
        status.last_error = None;
        status.last_io = None;
        self.generation.fetch_add(1, Ordering::SeqCst);
        drop(status);
        self.changed.notify_waiters();
        true
    }

    /// The database the primary's stream has selected at the point applied so far (a sub-replica's
    /// RDB says so as `repl-stream-db`).
    pub fn stream_db(&self) -> usize {
        self.stream_db.load(Ordering::Relaxed)
    }

    /// Whether a full sync's RDB is being loaded (clients get `-LOADING`).
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Relaxed)
    }

    /// Whether the stream from the primary flows (for `PSYNC` from our own replicas, and for
    /// `--replica-serve-stale-data no`).
    pub fn is_up(&self) -> bool {
        self.status.lock().state == LinkState::Connected
    }

    fn update(&self, generation: u64, change: impl FnOnce(&mut Status)) {
        let mut status = self.status.lock();
        if self.generation.load(Ordering::SeqCst) == generation {
            change(&mut status);
        }
    }

    fn failed(&self, generation: u64, error: &str) {
        self.update(generation, |status| {
            if status.state == LinkState::Connected || status.down_since.is_none() {
                status.down_since = Some(Instant::now());
            }
            status.state = LinkState::Connect;
            status.last_error = Some(error.to_owned());
        });
    }
}

/// Follows the configured primary for the server's life: connects, syncs, applies the stream, and
/// reconnects with back-off when the link fails; drops the link when `REPLICAOF` changes the target.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let links = &shared.replication.link;
    loop {
        let changed = links.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let generation = links.generation.load(Ordering::SeqCst);
        match links.target() {
            None => tokio::select! {
                () = changed => {}
                _ = shutdown.cancelled() => return,
            },
            Some((host, port)) => tokio::select! {
                () = follow(&shared, &host, port, generation, &shutdown) => {}
                () = changed => tracing::info!("the primary changed (REPLICAOF): link to {host}:{port} dropped"),
                _ = shutdown.cancelled() => return,
            },
        }
    }
}

/// Keeps a link to `host:port` up, retrying with back-off.
async fn follow(shared: &Arc<Shared>, host: &str, port: u16, generation: u64, shutdown: &CancellationToken) {
    let links = &shared.replication.link;
    let mut backoff = FIRST_BACKOFF;
    loop {
        tracing::info!(primary = %format!("{host}:{port}"), "connecting to the primary");
        let started = Instant::now();
        let error = match link(shared, host, port, generation, shutdown).await {
            Ok(()) => "the primary closed the connection".to_owned(),
            Err(err) => err,
        };
        tracing::warn!(primary = %format!("{host}:{port}"), error = %error, "replication link failed; retrying");
        links.failed(generation, &error);
        // A link that stayed up a while is retried at once, a failing one less and less often.
        if started.elapsed() > MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The bytes read from the primary and not yet used.
struct Wire {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Wire {
    async fn fill(&mut self) -> Result<(), String> {
        self.buf.reserve(READ_CHUNK);
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf)).await {
            Err(_) => Err(format!("timeout: nothing from the primary for {} seconds", self.timeout.as_secs())),
            Ok(Ok(0)) => Err("the primary closed the connection".to_owned()),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(format!("reading from the primary: {err}")),
        }
    }

    /// One `\r\n`-terminated line (without it), capped at [`MAX_LINE`]. Bare newlines before it are
    /// a primary's keep-alives while it prepares the RDB (before `+FULLRESYNC` and before the RDB).
    async fn line(&mut self) -> Result<String, String> {
        loop {
            let newlines = self.buf.iter().take_while(|&&b| b == b'\n').count();
            self.buf.advance(newlines);
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(at);
                self.buf.advance(2);
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err("the primary sent a line longer than 64 KiB: not a Redis server?".to_owned());
            }
            self.fill().await?;
        }
    }

    async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut out = BytesMut::new();
        encode_request(args, &mut out);
        self.stream.write_all(&out).await.map_err(|err| format!("writing to the primary: {err}"))
    }

    /// Sends a handshake command and reads its one-line reply; `-` replies are errors unless `allow`ed.
    async fn call(&mut self, args: &[&[u8]], allow: &[&str]) -> Result<String, String> {
        self.send(args).await?;
        let reply = self.line().await?;
        let name = String::from_utf8_lossy(args[0]);
        match reply.as_bytes().first() {
            Some(b'+') => Ok(reply),
            Some(b'-') if allow.iter().any(|prefix| reply[1..].starts_with(prefix)) => Ok(reply),
            Some(b'-') => Err(format!("the primary refused {name}: {}", &reply[1..])),
            _ => Err(format!("unexpected reply to {name} ({reply:?}): is this a Redis server?")),
        }
    }
}

/// One link: handshake, sync, stream. Returns when it ends.
async fn link(
    shared: &Arc<Shared>,
    host: &str,
    port: u16,
    generation: u64,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let links = &shared.replication.link;
    let timeout = Duration::from_secs(shared.config.repl_timeout);
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| "timeout connecting to the primary".to_owned())?
        .map_err(|err| format!("connecting to the primary: {err}"))?;
    let _ = stream.set_nodelay(true);
    if is_self(&stream, shared.port) {
        return Err("REPLICAOF points at this server itself".to_owned());
    }
    links.update(generation, |status| status.state = LinkState::Connecting);
    let mut wire = Wire { stream, buf: BytesMut::with_capacity(READ_CHUNK), timeout };
    wire.call(&[b"PING"], &["NOAUTH", "ERR operation not permitted"]).await?;
    if let Some(password) = &shared.config.masterauth {
        match &shared.config.masteruser {
            Some(user) => wire.call(&[b"AUTH", user.as_bytes(), password.as_bytes()], &[]).await?,
            None => wire.call(&[b"AUTH", password.as_bytes()], &[]).await?,
        };
    }
    let listening = shared.port.to_string();
    wire.call(&[b"REPLCONF", b"listening-port", listening.as_bytes()], &[]).await?;
    if let Some(ip) = &shared.config.replica_announce_ip {
        wire.call(&[b"REPLCONF", b"ip-address", ip.as_bytes()], &[]).await?;
    }
    wire.call(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"], &[]).await?;
    let (replid, _, _) = shared.replication.ids();
    let next = (shared.replication.offset() + 1).to_string();
    let reply = wire.call(&[b"PSYNC", replid.as_bytes(), next.as_bytes()], &[]).await?;
    let words: Vec<&str> = reply[1..].split_whitespace().collect();
    match words.as_slice() {
        ["FULLRESYNC", id, offset] => {
            let offset: u64 = offset.parse().map_err(|_| format!("bad offset in '{reply}'"))?;
            links.update(generation, |status| {
                status.state = LinkState::Sync;
                status.sync_read = 0;
                status.sync_total = 0;
            });
            tracing::info!(replid = %id, offset, "full resync from the primary: receiving its RDB");
            let path = receive_rdb(&mut wire, shared, generation).await?;
            let loaded = load_rdb(shared, &path).await;
            let _ = std::fs::remove_file(&path);
            let (keys, stream_db) = loaded?;
            tracing::info!(keys, "primary's RDB loaded; applying its stream");
            // Our own replicas hold the old data: they sync again.
            shared.replication.adopt(id, offset);
            links.stream_db.store(stream_db.unwrap_or(0), Ordering::Relaxed);
            if let Some(aof) = &shared.aof {
                // The append-only file must describe the new data set, as Redis rewrites it after a sync.
                let _ = aof.request_rewrite();
            }
        }
        ["CONTINUE"] => tracing::info!("partial resync accepted by the primary"),
        ["CONTINUE", id] => {
            shared.replication.continue_as(id);
            tracing::info!(replid = %id, "partial resync accepted by the primary");
        }
        _ => return Err(format!("unexpected reply to PSYNC: {reply}")),
    }
    links.update(generation, |status| {
        status.state = LinkState::Connected;
        status.down_since = None;
        status.last_io = Some(Instant::now());
    });
    apply_stream(shared, wire, generation, shutdown).await
}

/// Whether `stream` connected this server to itself.
/// (Our own port on our own address: no other server can listen there.)
fn is_self(stream: &TcpStream, own_port: u16) -> bool {
    match (stream.peer_addr(), stream.local_addr()) {
        (Ok(peer), Ok(local)) => peer.port() == own_port && peer.ip() == local.ip(),
        _ => false,
    }
}

/// Receives the RDB into a temporary file in `--dir`; returns its path.
async fn receive_rdb(wire: &mut Wire, shared: &Shared, generation: u64) -> Result<PathBuf, String> {
    let links = &shared.replication.link;
    let header = wire.line().await?;
    let mark = header.strip_prefix("$EOF:").map(str::to_owned);
    let size = match &mark {
        Some(mark) if mark.len() == EOF_MARK_LEN => None,
        Some(_) => return Err(format!("bad RDB header from the primary: {header:?}")),
        None => Some(
            header
                .strip_prefix('$')
                .and_then(|len| len.parse::<u64>().ok())
                .ok_or_else(|| format!("expected the RDB's length from the primary, got {header:?}"))?,
        ),
    };
    let path = shared.config.dir.join(format!("temp-{}.{}.rdb", std::process::id(), now_ms()));
    let mut file = std::fs::File::create(&path).map_err(|err| format!("creating {}: {err}", path.display()))?;
    let result = receive_into(wire, &mut file, size, mark.as_deref(), |read| {
        links.update(generation, |status| {
            status.sync_read = read;
            status.sync_total = size.unwrap_or(0);
            status.last_io = Some(Instant::now());
        })
    })
    .await
    .and_then(|()| file.sync_all().map_err(|err| format!("writing {}: {err}", path.display())));
    match result {
        Ok(()) => Ok(path),
        Err(err) => {
            let _ = std::fs::remove_file(&path);
            Err(format!("RDB transfer failed: {err}; the data set is left as it was"))
        }
    }
}

/// Copies the RDB from the wire into `file`: `size` bytes, or up to the `$EOF:` mark. Bytes after
/// it stay in the wire's buffer: they are the stream.
async fn receive_into(
    wire: &mut Wire,
    file: &mut std::fs::File,
    size: Option<u64>,
    mark: Option<&str>,
    progress: impl Fn(u64),
) -> Result<(), String> {
    let write =
        |file: &mut std::fs::File, bytes: &[u8]| file.write_all(bytes).map_err(|err| format!("writing the RDB: {err}"));
    let mut read = 0u64;
    match (size, mark) {
        (Some(size), _) => {
            while read < size {
                if wire.buf.is_empty() {
                    wire.fill().await?;
                }
                let take = (wire.buf.len() as u64).min(size - read) as usize;
                write(file, &wire.buf[..take])?;
                wire.buf.advance(take);
                read += take as u64;
                progress(read);
            }
            Ok(())
        }
        (None, Some(mark)) => loop {
            if let Some(at) = wire.buf.windows(EOF_MARK_LEN).position(|w| w == mark.as_bytes()) {
                write(file, &wire.buf[..at])?;
                wire.buf.advance(at + EOF_MARK_LEN);
                return Ok(());
            }
            // Keep what could be the start of the mark.
            let safe = wire.buf.len().saturating_sub(EOF_MARK_LEN - 1);
            write(file, &wire.buf[..safe])?;
            wire.buf.advance(safe);
            read += safe as u64;
            progress(read);
            wire.fill().await?;
        },
        (None, None) => Err("no RDB size and no mark".to_owned()),
    }
}

/// Loads the RDB at `path` into fresh databases on a blocking thread (clients get `-LOADING`), and
/// swaps them in only once complete. Returns the keys loaded and the stream's database.
async fn load_rdb(shared: &Arc<Shared>, path: &Path) -> Result<(u64, Option<usize>), String> {
    let state = Arc::clone(shared);
    let path = path.to_owned();
    state.replication.link.loading.store(true, Ordering::Relaxed);
    let loaded = tokio::task::spawn_blocking(move || {
        let fresh: Vec<Db> =
            (0..state.dbs.len()).map(|_| Db::with_counters(Shared::SHARDS, Arc::clone(&state.counters))).collect();
        let file = std::fs::File::open(&path).map_err(|err| format!("opening {}: {err}", path.display()))?;
        let result = crate::rdb::decode::load_reader(BufReader::with_capacity(1 << 20, file), &fresh, now_ms());
        match result {
            Ok(loaded) => {
                for (live, new) in state.dbs.iter().zip(&fresh) {
                    Db::swap(live, new);
                }
                // What was ours before goes, off the request path.
                fresh.iter().for_each(Db::clear);
                // --- scripting ---
                // The primary's function libraries replace ours, as its keys did.
                state.rdb.set_functions(state.scripting.replace_libraries(&loaded.functions));
                Ok((loaded.keys, loaded.repl_stream_db))
            }
            Err((offset, what)) => {
                fresh.iter().for_each(Db::clear);
                let at = offset.map_or(String::new(), |o| format!(" at byte offset {o}"));
                Err(format!("the primary's RDB could not be loaded{at}: {what}; the data set is left as it was"))
            }
        }
    })
    .await;
    shared.replication.link.loading.store(false, Ordering::Relaxed);
    loaded.map_err(|err| format!("the RDB loader failed: {err}"))?
}

/// Applies the primary's stream until the link fails.
async fn apply_stream(
    shared: &Arc<Shared>,
    mut wire: Wire,
    generation: u64,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let client = Arc::new(ClientInfo::new(
        shared.next_client_id(),
        wire.stream.peer_addr().ok(),
        wire.stream.local_addr().ok(),
        -1,
    ));
    client.set_master();
    shared.clients.register(Arc::clone(&client));
    let result = apply_registered(shared, &mut wire, &client, generation, shutdown).await;
    shared.clients.deregister(client.id);
    result
}

async fn apply_registered(
    shared: &Arc<Shared>,
    wire: &mut Wire,
    client: &Arc<ClientInfo>,
    generation: u64,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let links = &shared.replication.link;
    let mut session = Session::for_client(Arc::clone(client), shared);
    session.authenticated = true;
    session.db = links.stream_db.load(Ordering::Relaxed);
    let result = apply_requests(shared, wire, &mut session, generation, shutdown).await;
    links.stream_db.store(session.db, Ordering::Relaxed);
    result
}

async fn apply_requests(
    shared: &Arc<Shared>,
    wire: &mut Wire,
    session: &mut Session,
    generation: u64,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let links = &shared.replication.link;
    let client = Arc::clone(&session.client);
    let mut decoder = RequestDecoder::new(Limits::default());
    let mut relay = BytesMut::new();
    let mut ack = tokio::time::interval(ACK_INTERVAL);
    ack.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Bytes of the request being decoded so far: counted in the offset once it is whole.
    let mut partial = 0u64;
    // A full sync is acknowledged at once: a Redis primary puts the replica online on this ACK.
    send_ack(wire, shared).await?;
    loop {
        let mut acks_wanted = false;
        let applying = shared.replication.applying().await;
        loop {
            let before = wire.buf.len();
            let decoded = decoder.decode(&mut wire.buf);
            partial += (before - wire.buf.len()) as u64;
            let request = match decoded {
                Ok(Some(request)) => request,
                Ok(None) => break,
                Err(err) => return Err(format!("protocol error in the primary's stream: {err}")),
            };
            let len = std::mem::take(&mut partial);
            // Passed on as RESP, which is what primaries send (so offsets stay the primary's).
            relay.clear();
            encode_request(&request.args, &mut relay);
            if relay.len() as u64 != len {
                tracing::warn!(len, relayed = relay.len(), "a request not in canonical RESP in the primary's stream");
            }
            if is_getack(&request) {
                acks_wanted = true;
            } else if !request.args[0].eq_ignore_ascii_case(b"PING") {
                let reply = applying_primary_stream(|| execute::handle(request, shared, session));
                if let tinykv_proto::Reply::Error(error) = reply {
                    note_refused(&error);
                }
            }
            shared.replication.relay(&relay);
            links.stream_db.store(session.db, Ordering::Relaxed);
        }
        drop(applying);
        session.new_batch(shared);
        if acks_wanted {
            send_ack(wire, shared).await?;
        }
        let timeout = wire.timeout;
        tokio::select! {
            read = tokio::time::timeout(timeout, wire.stream.read_buf(&mut wire.buf)) => match read {
                Err(_) => return Err(format!("timeout: nothing from the primary for {} seconds", timeout.as_secs())),
                Ok(Ok(0)) => return Err("the primary closed the connection".to_owned()),
                Ok(Ok(_)) => links.update(generation, |status| status.last_io = Some(Instant::now())),
                Ok(Err(err)) => return Err(format!("reading from the primary: {err}")),
            },
            _ = ack.tick() => send_ack(wire, shared).await?,
            _ = client.killed() => return Err("killed (CLIENT KILL TYPE master)".to_owned()),
            _ = shutdown.cancelled() => return Ok(()),
        }
        if wire.buf.capacity() - wire.buf.len() < READ_CHUNK / 4 {
            wire.buf.reserve(READ_CHUNK);
        }
    }
}

/// Logs a command of the primary's stream that failed here (a type TinyKV lacks, say): the data
/// sets differ from then on. At most a line per power of two failures, so a stream of them does not
/// flood the log.
fn note_refused(error: &str) {
    static REFUSED: AtomicU64 = AtomicU64::new(0);
    let count = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    if count.is_power_of_two() {
        tracing::warn!(count, %error, "a command of the primary's stream failed on this replica");
    }
}

fn is_getack(request: &Request) -> bool {
    request.args.len() >= 2
        && request.args[0].eq_ignore_ascii_case(b"REPLCONF")
        && request.args[1].eq_ignore_ascii_case(b"GETACK")
}

async fn send_ack(wire: &mut Wire, shared: &Shared) -> Result<(), String> {
    let offset = shared.replication.offset().to_string();
    wire.send(&[b"REPLCONF", b"ACK", offset.as_bytes()]).await
}
