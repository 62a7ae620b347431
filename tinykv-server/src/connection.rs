//! One client: read a batch of requests, execute them all, write all their replies with one flush.
//!
//! ```text
//! loop:
//!   decode every complete request in the read buffer, execute, encode into the write buffer,
//!     stopping early once unsent replies pass the high-water mark
//!   write the whole write buffer (one syscall in the common case)
//!   read more (only when no complete request is left), with shutdown and CLIENT KILL in view
//! ```
//!
//! While the write blocks because the client does not read, nothing more is read from it: memory
//! per client stays bounded by the high-water mark plus one reply, and other clients never wait.
//!
//! Writes reach the append-only file before their replies leave: the flush first commits the
//! records the batch's writes made. If that commit fails (a full disk), the reply of every write
//! in the batch is replaced, in place, by `-MISCONF Errors writing to the AOF file: ...`, and the
//! other replies are kept: one reply per request still, so a pipelining client stays in step, and
//! no write is acknowledged that is not in the file.
//!
//! The greeting (`--greeting auto`, the default) is decided once, before the loop, by the client's first
//! read: a RESP array (`*`) gets none, anything else gets it ahead of its first reply, and a client silent
//! for [`GREETING_DELAY`] gets it then. The timer lives only in that first wait, so requests after the
//! first cost exactly what they cost without a greeting.
//!
//! A request that a `CLIENT PAUSE` holds back waits (the replies before it are sent first), and a
//! `CLIENT KILL` from another client (or the idle sweep of `--timeout`) closes the connection at
//! whatever await it is in.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tinykv_proto::{request, Limits, Reply, ReplyStream, Request, RequestDecoder, GREETING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::blocking::{Blocking, Cancelled, Waiter};
use crate::clients::ClientInfo;
use crate::clock;
use crate::config::Greeting;
use crate::execute::{self, Session};
use crate::output_limits::ClientClass;
use crate::shared::Shared;

/// How long connections get to finish and flush at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// How long a connection may spend answering and flushing at shutdown: inside the server's grace,
/// so the process still exits in time.
const CONNECTION_GRACE: Duration = SHUTDOWN_GRACE.saturating_sub(Duration::from_millis(300));

/// Under `--greeting auto`, how long a client that has sent nothing waits for the greeting: short enough
/// that a person at telnet sees it at once, long enough that a client library (which speaks as soon as it
/// connects) has sent its first command by then.
pub const GREETING_DELAY: Duration = Duration::from_millis(100);

/// Read buffer size to keep free before each read.
const READ_CHUNK: usize = 16 * 1024;

/// How many requests ahead a pipelined batch's keys are warmed (see `Connection::prefetch_keys`):
/// enough misses in flight to overlap them, few enough that the lines are still cached when used.
const PREFETCH_KEYS: usize = 16;

/// Whether the warming can prefetch here: `Entry::prefetch` is an instruction on x86_64 only, and
/// elsewhere the peek and lookups would be paid for nothing.
const PREFETCH: bool = cfg!(target_arch = "x86_64");
/// Buffers that grew past this for one big request or reply are given back once empty.
const KEEP_CAPACITY: usize = 1024 * 1024;

/// Where the replies of writes not yet committed to the append-only file sit in the write buffer:
/// adjacent ones merge, so a pipeline of a thousand `SET`s is one span.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    replies: usize,
}

/// Why a connection ended; for the debug log.
#[derive(Debug)]
#[allow(dead_code)] // the fields are there to be logged through Debug
enum End {
    ClientClosed,
    Quit,
    Shutdown,
    /// `CLIENT KILL`, or idle past `--timeout`.
    Killed,
    Protocol(tinykv_proto::ProtocolError),
    Io(std::io::Error),
    /// Past `client-output-buffer-limit normal` while a big reply was written.
    OutputLimit,
    /// `PSYNC`/`SYNC`: the connection is a replica's now.
    Handover,
    // --- threads ---
    /// To be served on this thread from now on (`workers::hand_over_to`), on this duplicate of its
    /// socket.
    Move(usize, OwnedFd),
}

/// What [`Connection::process_buffered`] stopped at.
enum Processed {
    /// No complete request is left in the read buffer.
    Drained,
    /// Unsent replies passed the high-water mark.
    Full,
    /// A `CLIENT PAUSE` holds the next request (kept in `Connection::held`).
    Paused,
    // --- lists ---
    /// A blocking command waits (kept in `Connection::blocked`): nothing after it runs until it ends.
    Blocked,
    // --- scripting ---
    /// The next request is a script call: it runs on a blocking thread, the connection awaiting it.
    Script(Request),
    // --- replication ---
    /// A `WAIT` waits for replicas (kept in `Connection::session.wait`), its reply not yet made.
    Waiting,
}

/// Serves one client until it leaves, errs, idles out, is killed or the server shuts down; or, with
/// `--threads N > 1`, until it is to move to another thread: then it returns what that thread
/// needs to go on ([`resume`]).
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    shutdown: CancellationToken,
) -> Option<Moving> {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let client = Arc::new(ClientInfo::new(shared.next_client_id(), Some(peer), local, i64::from(stream.as_raw_fd())));
    client.touch();
    shared.clients.register(Arc::clone(&client));
    serve_registered(Connection::new(stream, shared, client), peer, shared, shutdown, true).await
}

/// [`serve`] once the client is in the registry (`greet`: a new client, not one handed over).
async fn serve_registered(
    connection: Connection<'_>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    shutdown: CancellationToken,
    greet: bool,
) -> Option<Moving> {
    // Leaves the registry however the connection ends, a panic included (not when it moves on).
    let mut registered = Registered { shared, id: connection.session.client.id, moved: false };
    let mut connection = connection;
    let end = if greet { connection.run().await } else { connection.batches().await };
    // --- threads ---
    if let End::Move(to, socket) = end {
        tracing::debug!(%peer, to, "connection handed over to another thread");
        registered.moved = true;
        return Some(connection.into_moving(to, socket, peer));
    }
    tracing::debug!(%peer, ?end, "connection closed");
    // --- replication ---
    if let (End::Handover, Some(handover)) = (&end, connection.session.handover.take()) {
        let read_buf = std::mem::take(&mut connection.read_buf);
        let client = Arc::clone(&connection.session.client);
        let replconf = connection.session.replconf.clone();
        let stream = &mut connection.stream;
        crate::replication::primary::serve(stream, read_buf, shared, &client, &replconf, handover, &shutdown).await;
    }
    None
}

// --- threads ---
/// A connection between two batches on its way to another thread (`--threads N > 1`, see
/// `workers.rs`): its socket, out of the old thread's epoll (a duplicate descriptor, which `CLIENT
/// LIST`'s `fd` shows from then on), and what the next batch needs. Nothing is owed
/// when it leaves: every reply was sent and every write committed.
pub struct Moving {
    /// The thread it goes to.
    pub to: usize,
    stream: std::net::TcpStream,
    peer: SocketAddr,
    session: Session,
    requests: RequestDecoder,
    read_buf: BytesMut,
}

/// Goes on serving a client handed over by another thread, on the calling thread's runtime, as
/// [`serve`] does (and may hand it over again).
pub async fn resume(moving: Moving, shared: &Arc<Shared>, shutdown: CancellationToken) -> Option<Moving> {
    let Moving { stream, peer, mut session, requests, read_buf, .. } = moving;
    // A duplicate of a non-blocking socket: it shares the flag, so it registers as it is.
    let stream = match TcpStream::from_std(stream) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::warn!(%peer, %err, "a thread could not take over a connection");
            execute::unwatch(shared, &mut session);
            execute::unsubscribe_all(shared, &mut session);
            shared.clients.deregister(session.client.id);
            return None;
        }
    };
    session.client.set_fd(i64::from(stream.as_raw_fd()));
    tracing::debug!(%peer, thread = std::thread::current().name(), "connection resumed");
    let mut connection = Connection::new(stream, shared, Arc::clone(&session.client));
    connection.session = session;
    // The hop is not the first command's time (SLOWLOG, `INFO commandstats`).
    connection.session.batch_arrived_at(clock::monotonic_us());
    connection.requests = requests;
    connection.requests.set_max_bulk(connection.max_bulk);
    connection.read_buf = read_buf;
    serve_registered(connection, peer, shared, shutdown, false).await
}

impl Connection<'_> {
    /// Whether the connection may move to another thread now: every reply sent, every write
    /// committed, nothing held or being written in pieces.
    fn owes_nothing(&self) -> bool {
        self.write_buf.is_empty() && self.streaming.is_none() && self.commit_upto.is_none() && self.held.is_none()
    }

    /// The connection as a [`Moving`] to thread `to` on `socket`, a duplicate of its own; dropping
    /// this one takes the socket out of this thread's epoll.
    fn into_moving(mut self, to: usize, socket: OwnedFd, peer: SocketAddr) -> Moving {
        Moving {
            to,
            stream: std::net::TcpStream::from(socket),
            peer,
            session: std::mem::take(&mut self.session),
            requests: std::mem::take(&mut self.requests),
            read_buf: std::mem::take(&mut self.read_buf),
        }
    }
}

impl Drop for Connection<'_> {
    /// Forgets the client's watched keys and subscriptions however the connection ends, a panic
    /// included, so nothing of a gone client is left in the shared registries.
    fn drop(&mut self) {
        execute::unwatch(self.shared, &mut self.session);
        execute::unsubscribe_all(self.shared, &mut self.session);
        // --- lists ---
        if let Some(blocked) = self.blocked.take() {
            let _ = blocked.waiter.cancel();
            self.shared.blocking.remove(&blocked.waiter);
        }
    }
}

// --- lists ---
/// How much a blocked client may send before it is no longer read (Redis buffers what a blocked
/// client sends, up to its query buffer limit).
const BLOCKED_READ_LIMIT: usize = 1024 * 1024;

/// A blocked client's place among the waiters, given back however the wait ends.
struct LeaveRegistry<'a> {
    registry: &'a Blocking,
    waiter: Arc<Waiter>,
    client: Arc<ClientInfo>,
}

impl Drop for LeaveRegistry<'_> {
    fn drop(&mut self) {
        // A wait abandoned (disconnect, shutdown, kill) must not be served any more.
        let _ = self.waiter.cancel();
        self.registry.remove(&self.waiter);
        self.client.set_blocked(false);
    }
}

/// A client's place in the registry, given back on drop.
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
    /// The client moved to another thread: it stays in the registry.
    moved: bool,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if !self.moved {
            self.shared.clients.deregister(self.id);
        }
    }
}

struct Connection<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    /// The request decoder; replies are encoded in `session.protocol`, the one place the version lives.
    requests: RequestDecoder,
    session: Session,
    read_buf: BytesMut,
    write_buf: BytesMut,
    high_water: usize,
    /// The bulk-string limit the decoder enforces, compared with `proto-max-bulk-len` before each batch.
    max_bulk: usize,
    /// A request a `CLIENT PAUSE` holds back, to run first once the pause ends.
    held: Option<Request>,
    /// The stream offset of the append-only file this batch's writes reach, if it has any.
    commit_upto: Option<u64>,
    /// Where those writes' replies are in `write_buf`, to be replaced if the commit fails.
    unlogged: Vec<Span>,
    // --- lists ---
    /// The blocking command this client waits in, if any.
    blocked: Option<execute::Blocked>,
    /// A big reply being written a piece at a time: nothing else is encoded until it is done.
    streaming: Option<ReplyStream>,
    /// Since when the unsent output has been past the `normal` class's soft limit.
    over_soft_since: Option<Instant>,
    /// When the batch being flushed ended (`clock::monotonic_us`), for the flush's first note of
    /// activity: one clock read a batch fewer.
    flush_clock: Option<u64>,
}

/// Why a client's alarm rang: it was killed, or else the server is shutting down.
fn alarm_end(client: &ClientInfo) -> End {
    if client.is_killed() {
        End::Killed
    } else {
        End::Shutdown
    }
}

impl<'a> Connection<'a> {
    fn new(stream: TcpStream, shared: &'a Shared, client: Arc<ClientInfo>) -> Self {
        let max_bulk = shared.settings.proto_max_bulk_len();
        let limits = Limits { max_bulk, ..Limits::default() };
        Connection {
            stream,
            shared,
            requests: RequestDecoder::new(limits),
            session: Session::for_client(client, shared),
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(READ_CHUNK),
            high_water: shared.config.output_high_water.max(1) as usize,
            max_bulk,
            held: None,
            commit_upto: None,
            unlogged: Vec::new(),
            blocked: None,
            streaming: None,
            over_soft_since: None,
            flush_clock: None,
        }
    }

    /// Kill and shutdown reach every wait here through the client's alarm (`ClientInfo::alarmed`),
    /// rung by `CLIENT KILL` and by `Clients::shut_down`: one cheap thing to watch.
    async fn run(&mut self) -> End {
        match self.shared.config.greeting() {
            Greeting::Always => self.write_buf.extend_from_slice(GREETING),
            Greeting::Never => {}
            Greeting::Auto => match self.greet_unless_resp().await {
                Ok(()) => {}
                Err(End::Shutdown) => return self.finish().await,
                Err(end) => return end,
            },
        }
        self.batches().await
    }

    /// The connection's loop of batches, from the first (or from where another thread left it).
    async fn batches(&mut self) -> End {
        let client = Arc::clone(&self.session.client);
        loop {
            let processed = match self.process_buffered(true) {
                Ok(processed) => processed,
                Err(end) => {
                    let _ = self.flush_within(SHUTDOWN_GRACE).await;
                    return end;
                }
            };
            // Whatever comes next waits for the network: the next command's time starts afresh.
            let batch_end = self.session.new_batch(self.shared);
            if self.past_output_limit() {
                return End::OutputLimit;
            }
            // Messages published to this client go out with the replies, up to the high-water mark
            // (never into the middle of a reply being written in pieces).
            let mail_left = self.streaming.is_none() && self.deliver_messages();
            if !self.write_buf.is_empty() {
                // Before the flush, so `CLIENT LIST` sees the reply buffer's peak (not an interaction:
                // the read before and the write after are).
                self.note_buffer_sizes();
                self.flush_clock = batch_end;
                let flushed = tokio::select! {
                    biased;
                    flushed = self.flush() => flushed,
                    // Shutdown while waiting for a slow reader: it still gets what it was owed, for
                    // as long as the grace allows (`flush` is cancel-safe, so nothing is sent twice).
                    () = client.alarmed() => return self.on_alarm().await,
                };
                if let Err(err) = flushed {
                    return End::Io(err);
                }
                self.note_buffer_sizes();
                if let Some(mailbox) = self.session.mailbox() {
                    mailbox.set_unsent(0);
                }
            }
            if mail_left {
                continue;
            }
            match processed {
                // Stopped at the high-water mark: more complete requests wait in the buffer.
                Processed::Full => continue,
                Processed::Paused => {
                    let shared = self.shared;
                    let held = self.held.as_ref();
                    let session = &self.session;
                    let still_paused =
                        |_| held.is_some_and(|request| execute::paused(request, shared, session).is_some());
                    tokio::select! {
                        _ = shared.clients.pause.wait_while(still_paused) => continue,
                        () = client.alarmed() => return self.on_alarm().await,
                    }
                }
                // --- lists ---
                Processed::Blocked => match self.wait_blocked().await {
                    Ok(()) => continue,
                    Err(End::Shutdown) => {
                        let _ = self.flush_within(CONNECTION_GRACE).await;
                        return End::Shutdown;
                    }
                    Err(end) => return end,
                },
                Processed::Waiting => {
                    let Some(wait) = self.session.wait.take() else { continue };
                    let acked = tokio::select! {
                        acked = crate::replication::primary::wait(self.shared, wait) => acked,
                        () = client.alarmed() => return self.on_alarm().await,
                    };
                    if self.session.reply_wanted() {
                        Reply::Integer(acked).encode(self.session.protocol, &mut self.write_buf);
                    }
                    continue;
                }
                Processed::Drained => {}
                // --- scripting ---
                Processed::Script(request) => {
                    let start = self.write_buf.len();
                    let reply = self.run_script(request).await;
                    if let Err(end) = self.answer(start, reply) {
                        let _ = self.flush_within(SHUTDOWN_GRACE).await;
                        return end;
                    }
                    continue;
                }
            }
            self.release_big_buffers();
            // A subscriber also wakes for messages; every other client waits for its socket alone.
            let read = match self.session.mailbox().map(Arc::clone) {
                Some(mailbox) => tokio::select! {
                    read = self.read_more() => read,
                    () = mailbox.notified() => continue,
                },
                None => self.read_more().await,
            };
            match read {
                Ok(0) => return End::ClientClosed,
                Ok(_) => {
                    let now = clock::monotonic_us();
                    self.session.client.touch_at(now);
                    self.note_buffer_sizes();
                    self.session.batch_arrived_at(now);
                    // --- threads ---
                    // A batch read, the last one answered: where a connection moves to another
                    // thread if asked (the batch is then answered there).
                    if self.owes_nothing() {
                        if let Some(to) = crate::workers::hand_over_to() {
                            // The socket is duplicated first: if that fails (out of descriptors),
                            // the client stays here and its batch is answered as usual.
                            match self.stream.as_fd().try_clone_to_owned() {
                                Ok(socket) => return End::Move(to, socket),
                                Err(err) => tracing::debug!(%err, "a connection stays on its thread"),
                            }
                        }
                    }
                }
                Err(End::Shutdown) => return self.finish().await,
                Err(end) => return end,
            }
        }
    }

    /// Moves messages waiting in the client's mailbox (if it ever subscribed) into the write buffer,
    /// in the client's protocol, up to the high-water mark; returns whether some are left.
    fn deliver_messages(&mut self) -> bool {
        match self.session.mailbox() {
            Some(mailbox) => mailbox.drain_into(self.session.protocol, &mut self.write_buf, self.high_water),
            None => false,
        }
    }

    /// Tells the registry about the buffers, for `CLIENT LIST` (a few relaxed stores per read or flush).
    fn note_buffers(&self) {
        self.session.client.touch();
        self.note_buffer_sizes();
    }

    /// [`Connection::note_buffers`] without marking an interaction (`CLIENT LIST`'s `idle`).
    fn note_buffer_sizes(&self) {
        let free = self.read_buf.capacity() - self.read_buf.len();
        self.session.client.set_buffers(self.read_buf.len(), free, self.write_buf.capacity(), self.write_buf.len());
    }

    /// `--greeting auto`: waits up to [`GREETING_DELAY`] for the client's first bytes and queues the
    /// greeting unless they start a RESP array. A client silent that long gets it with nothing after it, so
    /// the main loop's flush sends it at once. The timer is dropped here, decided either way.
    async fn greet_unless_resp(&mut self) -> Result<(), End> {
        // `read_more` is cancel-safe: when the timer wins, no byte has been taken from the socket.
        match tokio::time::timeout(GREETING_DELAY, self.read_more()).await {
            Ok(Ok(0)) => return Err(End::ClientClosed),
            Ok(Ok(_)) if self.read_buf.first() == Some(&b'*') => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(end)) => return Err(end),
            Err(_silent) => tracing::trace!("client silent: greeting it"),
        }
        self.write_buf.extend_from_slice(GREETING);
        Ok(())
    }

    /// The client's alarm rang: killed (closed at once, unsent replies dropped), or the server is
    /// shutting down (what was read is answered first, see [`Connection::finish`]).
    async fn on_alarm(&mut self) -> End {
        match alarm_end(&self.session.client) {
            End::Shutdown => self.finish().await,
            end => end,
        }
    }

    /// At shutdown: answers every complete request already read and flushes the replies, giving up
    /// when the grace runs out (a client that never reads must not hold up the exit).
    async fn finish(&mut self) -> End {
        let deadline = tokio::time::Instant::now() + CONNECTION_GRACE;
        loop {
            // A `WAIT` cut short by the shutdown answers with the replicas that acknowledged so far.
            if let Some(wait) = self.session.wait.take() {
                let acked = self.shared.replication.acked(wait.offset) as i64;
                Reply::Integer(acked).encode(self.session.protocol, &mut self.write_buf);
            }
            // A pause does not hold requests back at shutdown: they run, so they are answered.
            let processed = self.process_buffered(false).unwrap_or(Processed::Drained);
            match tokio::time::timeout_at(deadline, self.flush()).await {
                // A blocked command is not waited for at shutdown (nor anything after it).
                Ok(Ok(())) if !matches!(processed, Processed::Drained | Processed::Blocked) => continue,
                _ => return End::Shutdown,
            }
        }
    }

    /// Decodes and executes every complete request in the read buffer, encoding the replies, until
    /// the buffer has no complete request, the unsent replies pass the high-water mark, or (with
    /// `honour_pause`) a `CLIENT PAUSE` holds the next request. `Err` ends the connection once what
    /// is buffered is flushed.
    fn process_buffered(&mut self, honour_pause: bool) -> Result<Processed, End> {
        // A big reply in progress: its next piece, and nothing else until it is all out.
        if let Some(stream) = self.streaming.as_mut() {
            if stream.encode_some(&mut self.write_buf, self.high_water) {
                return Ok(Processed::Full);
            }
            self.streaming = None;
        }
        // `CONFIG SET proto-max-bulk-len` applies to requests not yet begun.
        let max_bulk = self.shared.settings.proto_max_bulk_len();
        if max_bulk != self.max_bulk {
            self.requests.set_max_bulk(max_bulk);
            self.max_bulk = max_bulk;
        }
        // Requests decoded before the keys of the next ones are warmed again (the read buffer does
        // not grow during this call).
        let mut until_prefetch = 0usize;
        while self.write_buf.len() < self.high_water {
            let mut request = match self.held.take() {
                Some(request) => request,
                None => match self.requests.decode(&mut self.read_buf) {
                    Ok(Some(request)) => request,
                    Ok(None) => return Ok(Processed::Drained),
                    Err(err) => {
                        if err.deserves_reply() {
                            let reply = Reply::error(format!("ERR Protocol error: {err}"));
                            reply.encode(self.session.protocol, &mut self.write_buf);
                        }
                        self.read_buf.clear();
                        return Err(End::Protocol(err));
                    }
                },
            };
            // A pipelined batch: the keys of the requests after this one start loading now, PREFETCH_KEYS
            // at a time. A lone request (`-P 1`) leaves the buffer empty and costs a comparison.
            until_prefetch = until_prefetch.saturating_sub(1);
            if PREFETCH && until_prefetch == 0 && !self.read_buf.is_empty() {
                until_prefetch = match self.prefetch_keys() {
                    PREFETCH_KEYS => PREFETCH_KEYS,
                    // The peek stopped short (an inline command, an incomplete array): none for the
                    // rest of these bytes.
                    _ => usize::MAX,
                };
            }
            // One relaxed load when no pause is in force.
            if honour_pause
                && self.shared.clients.pause.may_be_active()
                && execute::paused(&request, self.shared, &self.session).is_some()
            {
                self.held = Some(request);
                return Ok(Processed::Paused);
            }
            // A script runs off the async worker (outside a transaction, where it is only queued).
            if execute::is_script_call(&request) && !self.session.in_transaction() {
                return Ok(Processed::Script(request));
            }
            let start = self.write_buf.len();
            // The buffer, for a reply written in place where it goes out at once (a read of values,
            // see `execute::handle_into`).
            let out = self.session.may_write_directly().then_some(&mut self.write_buf);
            let reply = execute::handle_into(&mut request, self.shared, &mut self.session, out);
            // Its argument list serves the next request.
            self.requests.recycle(request);
            if self.session.close_without_reply {
                return Err(End::Quit);
            }
            // --- lists ---
            if let Some(blocked) = self.session.take_blocked() {
                // The reply comes when the wait ends; the requests after it wait too.
                self.session.client.set_blocked(true);
                self.blocked = Some(blocked);
                return Ok(Processed::Blocked);
            }
            // --- replication ---
            if self.session.handover.is_some() {
                return Err(End::Handover);
            }
            if self.session.wait.is_some() {
                return Ok(Processed::Waiting);
            }
            if self.answer(start, reply)? {
                return Ok(Processed::Full);
            }
        }
        Ok(Processed::Full)
    }

    /// Starts loading the keys of the next requests in the read buffer (up to [`PREFETCH_KEYS`]
    /// requests), so their lookups' cache misses overlap; returns how many requests it looked at
    /// (`usize::MAX` for a client that has yet to authenticate: its requests will be refused).
    fn prefetch_keys(&self) -> usize {
        if !self.session.authenticated {
            // Not even the peek: none for the rest of these bytes.
            return usize::MAX;
        }
        let mut keys = [(0, 0); PREFETCH_KEYS];
        let (requests, found) = request::first_keys(&self.read_buf, &mut keys);
        let db = self.shared.db(self.session.db);
        let mut previous: &[u8] = &[];
        for &(start, end) in &keys[..found] {
            let key = &self.read_buf[start..end];
            // A key the request before uses too is warm by then (a pipeline on one list or set).
            if key != previous {
                db.prefetch(key);
            }
            previous = key;
        }
        requests
    }

    /// Whether the output not yet sent (the write buffer and what a big reply has yet to encode)
    /// passes the `normal` class's `client-output-buffer-limit`: the client is then disconnected, as
    /// Redis disconnects one that does not read, and counted in `INFO stats`.
    fn past_output_limit(&mut self) -> bool {
        let Some(stream) = &self.streaming else {
            self.over_soft_since = None;
            return false;
        };
        let limit = self.shared.pubsub.output_limits().get(ClientClass::Normal);
        let pending = (self.write_buf.len() + stream.remaining_bytes()) as u64;
        if !limit.exceeded(pending, &mut self.over_soft_since) {
            return false;
        }
        tracing::info!(client = self.session.client.id, addr = %self.session.client.addr, bytes = pending,
            "client closed: past its output buffer limit");
        self.shared.pubsub.count_disconnection();
        true
    }

    /// Encodes the reply of the request that started at `start` in the write buffer (with the
    /// messages that arrived before it): `Ok(true)` when a big reply goes out in pieces (nothing else
    /// runs until it is out), `Err` when the connection is to end after it.
    fn answer(&mut self, start: usize, reply: Reply) -> Result<bool, End> {
        if self.session.close_without_reply {
            return Err(End::Quit);
        }
        // Messages that arrived before this command ended go out before its reply, as Redis
        // writes them (a RESP3 client publishing to itself sees its message, then the count).
        if let Some(mailbox) = self.session.mailbox() {
            mailbox.drain_into(self.session.protocol, &mut self.write_buf, usize::MAX);
        }
        // `CLIENT REPLY OFF|SKIP` leave replies unsent.
        let wanted = self.session.reply_wanted();
        // A reply the command wrote itself (a read of values, see `execute::handle_into`) is
        // already there.
        if wanted && !reply.is_written() {
            // A big read reply goes out in pieces (see `streaming`). A write's reply is encoded
            // whole: if its records cannot be committed, it is replaced by `MISCONF`.
            let whole = if self.session.unlogged {
                Err(reply)
            } else {
                reply.into_stream(self.session.protocol, &mut self.write_buf, execute::STREAM_MIN_ITEMS)
            };
            match whole {
                Err(reply) => reply.encode(self.session.protocol, &mut self.write_buf),
                Ok(mut stream) => {
                    if stream.encode_some(&mut self.write_buf, self.high_water) {
                        self.streaming = Some(stream);
                        return Ok(true);
                    }
                }
            }
        }
        if std::mem::take(&mut self.session.unlogged) {
            self.note_unlogged(start, wanted);
        }
        if self.session.quit {
            return Err(End::Quit);
        }
        Ok(false)
    }

    // --- scripting ---
    /// Runs a script call on a blocking thread with this client's session, so however long it runs
    /// the async worker goes on serving others (who get `-BUSY` past the threshold).
    async fn run_script(&mut self, request: Request) -> Reply {
        let Some(shared) = self.shared.owned() else {
            return execute::handle(request, self.shared, &mut self.session);
        };
        let client = Arc::clone(&self.session.client);
        let mut session = std::mem::take(&mut self.session);
        let task = tokio::task::spawn_blocking(move || {
            let reply = execute::handle(request, &shared, &mut session);
            (reply, session)
        });
        match task.await {
            Ok((reply, session)) => {
                self.session = session;
                reply
            }
            Err(err) => {
                tracing::error!(%err, "a script's thread failed");
                self.session = Session::for_client(client, self.shared);
                Reply::error("ERR the script failed")
            }
        }
    }

    /// Remembers that the reply just encoded from `start` on (if `encoded`: `CLIENT REPLY` may have
    /// left it out) answers a write whose records are not in the append-only file yet.
    fn note_unlogged(&mut self, start: usize, encoded: bool) {
        let Some(aof) = &self.shared.aof else { return };
        // Read after the write recorded, so it covers this write's records (and perhaps a few of
        // another client's: committing those too is harmless).
        self.commit_upto = Some(aof.recorded());
        if !encoded {
            return;
        }
        let end = self.write_buf.len();
        match self.unlogged.last_mut() {
            Some(last) if last.end == start => {
                last.end = end;
                last.replies += 1;
            }
            _ => self.unlogged.push(Span { start, end, replies: 1 }),
        }
    }

    /// Commits the batch's writes to the append-only file. If that fails, each of their replies in
    /// the write buffer becomes the `MISCONF` error: the writes ran (they cannot be undone; other
    /// clients may have seen them) but are not acknowledged. Their records stay pending and reach
    /// the file, in order, once a retry succeeds, so memory and file agree again.
    fn commit(&mut self) {
        let Some(upto) = self.commit_upto.take() else { return };
        let Some(aof) = &self.shared.aof else { return };
        if let Err(err) = aof.commit(upto) {
            let mut refusal = BytesMut::new();
            Reply::from(err.misconf()).encode(self.session.protocol, &mut refusal);
            let mut replies = BytesMut::with_capacity(self.write_buf.len());
            let mut copied = 0;
            for span in &self.unlogged {
                replies.extend_from_slice(&self.write_buf[copied..span.start]);
                for _ in 0..span.replies {
                    replies.extend_from_slice(&refusal);
                }
                copied = span.end;
            }
            replies.extend_from_slice(&self.write_buf[copied..]);
            self.write_buf = replies;
        }
        self.unlogged.clear();
    }

    /// Writes the whole write buffer. Cancel-safe: bytes leave the buffer as soon as the socket
    /// takes them, so a flush abandoned half-way resumes where it stopped.
    async fn flush(&mut self) -> std::io::Result<()> {
        // Writes reach the append-only file before their replies reach the client. Spans are
        // offsets into `write_buf`, valid because nothing leaves it before this commit.
        self.commit();
        while !self.write_buf.is_empty() {
            // Progress on a slow reader is activity too: the idle timeout does not close it. A
            // batch's first write is tried at once; when the socket takes it, the batch's end is
            // its time (no clock read). Otherwise the write waits and the clock says when it ended.
            let (written, at) = match self.flush_clock.take() {
                Some(at) => match self.stream.try_write(&self.write_buf) {
                    Ok(written) => (written, at),
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(err) => return Err(err),
                },
                None => (self.stream.write(&self.write_buf).await?, clock::monotonic_us()),
            };
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.write_buf.advance(written);
            self.session.client.touch_at(at);
        }
        Ok(())
    }

    async fn flush_within(&mut self, limit: Duration) -> std::io::Result<()> {
        match tokio::time::timeout(limit, self.flush()).await {
            Ok(result) => result,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    async fn read_more(&mut self) -> Result<usize, End> {
        if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 4 {
            self.read_buf.reserve(READ_CHUNK);
        }
        // No timer per read: idle clients are closed by the server's sweep of the registry
        // (`--timeout`, read live so `CONFIG SET timeout` applies to clients already waiting).
        // The client's alarm (killed, or the server shutting down; see `run`): its flag is looked at
        // before every read, so a client whose bytes are always there still hears it, and it is only
        // registered with when the read has to wait.
        // Borrowed, not cloned: two atomic operations a read fewer.
        let client: &ClientInfo = &self.session.client;
        if client.is_alarmed() {
            return Err(alarm_end(client));
        }
        let result = tokio::select! {
            biased;
            read = self.stream.read_buf(&mut self.read_buf) => read,
            () = client.alarmed() => return Err(alarm_end(client)),
        };
        result.map_err(End::Io)
    }

    // --- lists ---
    /// Waits for the blocked command's reply: an element (a writer served it), its timeout, or
    /// `CLIENT UNBLOCK`. Meanwhile the socket is still read (up to a bound), so a client that
    /// leaves is noticed; what it sends waits in the buffer. However the wait ends, the client is
    /// out of the registry after it; the reply goes into the write buffer like any other.
    async fn wait_blocked(&mut self) -> Result<(), End> {
        let Some(blocked) = self.blocked.take() else { return Ok(()) };
        let client = Arc::clone(&self.session.client);
        let registry = &self.shared.blocking;
        let waiter = blocked.waiter;
        let _left = LeaveRegistry { registry, waiter: Arc::clone(&waiter), client: Arc::clone(&self.session.client) };
        let mut deadline = blocked.deadline;
        let reply = loop {
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let reading = self.read_buf.len() < BLOCKED_READ_LIMIT;
            tokio::select! {
                () = waiter.notified() => {
                    if let Some(reply) = waiter.take() {
                        break reply;
                    }
                }
                () = timer => match waiter.cancel() {
                    Cancelled::Nothing => break Reply::NullArray,
                    Cancelled::Served(reply) => break reply,
                    // A writer is completing a move for it: the reply is moments away.
                    Cancelled::Pending => deadline = None,
                },
                () = client.alarmed() => return Err(alarm_end(&client)),
                read = self.stream.read_buf(&mut self.read_buf), if reading => match read {
                    Ok(0) => return Err(End::ClientClosed),
                    Ok(_) => self.note_buffers(),
                    Err(err) => return Err(End::Io(err)),
                },
            }
        };
        let start = self.write_buf.len();
        let wanted = self.session.reply_wanted();
        if wanted {
            reply.encode(self.session.protocol, &mut self.write_buf);
        }
        // The pop was recorded by the writer that served it: committed before this reply leaves.
        self.note_unlogged(start, wanted);
        Ok(())
    }

    /// Gives back memory a single huge request or reply made a buffer take.
    fn release_big_buffers(&mut self) {
        if self.read_buf.is_empty() && self.read_buf.capacity() > KEEP_CAPACITY {
            self.read_buf = BytesMut::with_capacity(READ_CHUNK);
        }
        if self.write_buf.is_empty() && self.write_buf.capacity() > KEEP_CAPACITY {
            self.write_buf = BytesMut::with_capacity(READ_CHUNK);
        }
        if self.unlogged.capacity() * std::mem::size_of::<Span>() > KEEP_CAPACITY {
            self.unlogged = Vec::new();
        }
    }
}
