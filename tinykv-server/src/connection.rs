//! One client: read a batch of requests, execute them all, write all their replies with one flush.
//!
//! ```text
//! loop:
//!   decode every complete request in the read buffer, execute, encode into the write buffer,
//!     stopping early once unsent replies pass the high-water mark
//!   write the whole write buffer (one syscall in the common case)
//!   read more (only when no complete request is left), with the idle timeout and shutdown in view
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

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tinykv_proto::{Limits, Reply, Request, RequestDecoder, GREETING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::config::Greeting;
use crate::execute::{self, Session};
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
    Timeout,
    Shutdown,
    Protocol(tinykv_proto::ProtocolError),
    Io(std::io::Error),
}

/// Serves one client until it leaves, errs, idles out or the server shuts down.
pub async fn serve(stream: TcpStream, peer: SocketAddr, shared: &Shared, shutdown: CancellationToken) {
    let _ = stream.set_nodelay(true);
    let mut connection = Connection::new(stream, shared);
    let end = connection.run(&shutdown).await;
    execute::unwatch(shared, &mut connection.session);
    tracing::debug!(%peer, ?end, "connection closed");
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
    idle_timeout: Option<Duration>,
    /// The stream offset of the append-only file this batch's writes reach, if it has any.
    commit_upto: Option<u64>,
    /// Where those writes' replies are in `write_buf`, to be replaced if the commit fails.
    unlogged: Vec<Span>,
}

impl<'a> Connection<'a> {
    fn new(stream: TcpStream, shared: &'a Shared) -> Self {
        let config = &shared.config;
        let limits = Limits { max_bulk: config.proto_max_bulk_len as usize, ..Limits::default() };
        Connection {
            stream,
            shared,
            requests: RequestDecoder::new(limits),
            session: Session::new(shared.next_client_id(), shared),
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(READ_CHUNK),
            high_water: config.output_high_water.max(1) as usize,
            idle_timeout: (config.timeout > 0).then(|| Duration::from_secs(config.timeout)),
            commit_upto: None,
            unlogged: Vec::new(),
        }
    }

    async fn run(&mut self, shutdown: &CancellationToken) -> End {
        // One registration with the token for the connection's life, not one per read.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        match self.shared.config.greeting() {
            Greeting::Always => self.write_buf.extend_from_slice(GREETING),
            Greeting::Never => {}
            Greeting::Auto => match self.greet_unless_resp(cancelled.as_mut()).await {
                Ok(()) => {}
                Err(End::Shutdown) => return self.finish().await,
                Err(end) => return end,
            },
        }
        loop {
            let drained = match self.process_buffered() {
                Ok(drained) => drained,
                Err(end) => {
                    let _ = self.flush_within(SHUTDOWN_GRACE).await;
                    return end;
                }
            };
            if !self.write_buf.is_empty() {
                let flushed = tokio::select! {
                    flushed = self.flush() => flushed,
                    // Shutdown while waiting for a slow reader: it still gets what it was owed, for
                    // as long as the grace allows (`flush` is cancel-safe, so nothing is sent twice).
                    _ = &mut cancelled => return self.finish().await,
                };
                if let Err(err) = flushed {
                    return End::Io(err);
                }
            }
            if !drained {
                // Stopped at the high-water mark: more complete requests wait in the buffer.
                continue;
            }
            self.release_big_buffers();
            match self.read_more(cancelled.as_mut()).await {
                Ok(0) => return End::ClientClosed,
                Ok(_) => {}
                Err(End::Shutdown) => return self.finish().await,
                Err(end) => return end,
            }
        }
    }

    /// `--greeting auto`: waits up to [`GREETING_DELAY`] for the client's first bytes and queues the
    /// greeting unless they start a RESP array. A client silent that long gets it with nothing after it, so
    /// the main loop's flush sends it at once. The timer is dropped here, decided either way.
    async fn greet_unless_resp(&mut self, cancelled: Pin<&mut WaitForCancellationFuture<'_>>) -> Result<(), End> {
        // `read_more` is cancel-safe: when the timer wins, no byte has been taken from the socket.
        match tokio::time::timeout(GREETING_DELAY, self.read_more(cancelled)).await {
            Ok(Ok(0)) => return Err(End::ClientClosed),
            Ok(Ok(_)) if self.read_buf.first() == Some(&b'*') => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(end)) => return Err(end),
            Err(_silent) => tracing::trace!("client silent: greeting it"),
        }
        self.write_buf.extend_from_slice(GREETING);
        Ok(())
    }

    /// At shutdown: answers every complete request already read and flushes the replies, giving up
    /// when the grace runs out (a client that never reads must not hold up the exit).
    async fn finish(&mut self) -> End {
        let deadline = tokio::time::Instant::now() + CONNECTION_GRACE;
        loop {
            let drained = self.process_buffered().unwrap_or(true);
            match tokio::time::timeout_at(deadline, self.flush()).await {
                Ok(Ok(())) if !drained => continue,
                _ => return End::Shutdown,
            }
        }
    }

    /// Decodes and executes every complete request in the read buffer, encoding the replies, until
    /// the buffer has no complete request (returns `Ok(true)`) or the unsent replies pass the
    /// high-water mark (`Ok(false)`). `Err` ends the connection once what is buffered is flushed.
    fn process_buffered(&mut self) -> Result<bool, End> {
        while self.write_buf.len() < self.high_water {
            let request = match self.requests.decode(&mut self.read_buf) {
                Ok(Some(request)) => request,
                Ok(None) => return Ok(true),
                Err(err) => {
                    if err.deserves_reply() {
                        let reply = Reply::error(format!("ERR Protocol error: {err}"));
                        reply.encode(self.session.protocol, &mut self.write_buf);
                    }
                    self.read_buf.clear();
                    return Err(End::Protocol(err));
                }
            };
            let start = self.write_buf.len();
            let reply = self.handle(request);
            if self.session.close_without_reply {
                return Err(End::Quit);
            }
            reply.encode(self.session.protocol, &mut self.write_buf);
            if std::mem::take(&mut self.session.unlogged) {
                self.note_unlogged(start);
            }
            if self.session.quit {
                return Err(End::Quit);
            }
        }
        Ok(false)
    }

    /// Parses and executes one request.
    fn handle(&mut self, request: Request) -> Reply {
        self.shared.stats.total_commands_processed.fetch_add(1, Ordering::Relaxed);
        execute::handle(request, self.shared, &mut self.session)
    }

    /// Remembers that the reply just encoded from `start` on answers a write whose records are not
    /// in the append-only file yet.
    fn note_unlogged(&mut self, start: usize) {
        let Some(aof) = &self.shared.aof else { return };
        // Read after the write recorded, so it covers this write's records (and perhaps a few of
        // another client's: committing those too is harmless).
        self.commit_upto = Some(aof.recorded());
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
            let written = self.stream.write(&self.write_buf).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.write_buf.advance(written);
        }
        Ok(())
    }

    async fn flush_within(&mut self, limit: Duration) -> std::io::Result<()> {
        match tokio::time::timeout(limit, self.flush()).await {
            Ok(result) => result,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    async fn read_more(&mut self, mut cancelled: Pin<&mut WaitForCancellationFuture<'_>>) -> Result<usize, End> {
        if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 4 {
            self.read_buf.reserve(READ_CHUNK);
        }
        let read = self.stream.read_buf(&mut self.read_buf);
        let result = match self.idle_timeout {
            Some(limit) => tokio::select! {
                _ = &mut cancelled => return Err(End::Shutdown),
                read = tokio::time::timeout(limit, read) => match read {
                    Ok(read) => read,
                    Err(_) => return Err(End::Timeout),
                },
            },
            None => tokio::select! {
                _ = &mut cancelled => return Err(End::Shutdown),
                read = read => read,
            },
        };
        result.map_err(End::Io)
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
