//! The primary's side: a replica's connection, handed over by the connection after `PSYNC`/`SYNC`.
//!
//! ```text
//! +FULLRESYNC <replid> <offset>\r\n          (PSYNC only; SYNC gets the RDB straight away)
//! $EOF:<40 random bytes>\r\n <RDB> <same 40>  (a replica that said REPLCONF capa eof: streamed, size unknown)
//! $<len>\r\n <RDB>                            (otherwise: the RDB is built in memory first)
//! the stream from <offset> on                 (SELECT, effect records, PING, REPLCONF GETACK *)
//!
//! +CONTINUE <replid>\r\n                      (PSYNC within the backlog) then the stream from its offset
//! ```
//!
//! The RDB is written by the snapshot writer on a blocking thread, chunk by chunk into a bounded
//! channel, so a slow replica slows the walk instead of filling memory. While it is written, the
//! replica's feed collects the stream (up to [`super::REPLICA_OUTPUT_LIMIT`]). From the replica
//! only `REPLCONF ACK <offset>` is expected; anything else is logged and the link closed.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tinykv_proto::{Limits, Request, RequestDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{random_hex_id, Feed, FeedState, Sync};
use crate::clients::ClientInfo;
use crate::rdb::encode::{write_live_snapshot, WriteFailure, WriteOptions};
use crate::shared::Shared;

/// Bytes of RDB per message from the walk to the socket.
const RDB_CHUNK: usize = 64 * 1024;
/// RDB chunks in flight between the walk and the socket.
const RDB_CHANNEL: usize = 16;
/// The longest request a replica may send (`REPLCONF ACK <offset>` is tens of bytes).
const REPLICA_REQUEST_LIMIT: usize = 4096;

/// What a replica told about itself with `REPLCONF` before `PSYNC`.
#[derive(Debug, Default, Clone)]
pub struct Replconf {
    /// `listening-port`: where it accepts clients (shown in `INFO`, used by Sentinel).
    pub listening_port: u16,
    /// `ip-address`: the address it announces, instead of the one it connects from.
    pub ip: Option<String>,
    /// `capa eof`: it reads an RDB of unknown size (`$EOF:` framing).
    pub capa_eof: bool,
    /// `capa psync2`: it understands `+CONTINUE <new replid>`.
    pub capa_psync2: bool,
}

/// What the connection hands over after `PSYNC`/`SYNC`.
#[derive(Debug, Clone)]
pub enum Handover {
    /// `PSYNC replid offset` (`offset` is the first byte wanted; `? -1` asks for a full sync).
    Psync { replid: String, offset: i64 },
    /// `SYNC`: a full sync without the `+FULLRESYNC` line.
    Sync,
}

/// A `WAIT` the connection waits out before answering it.
#[derive(Debug, Clone, Copy)]
pub struct WaitFor {
    /// Replicas wanted.
    pub replicas: usize,
    /// The stream offset they must have acknowledged.
    pub offset: u64,
    /// How long to wait at most (`None`: for ever, `WAIT n 0`).
    pub timeout: Option<Duration>,
}

/// Waits until `wait.replicas` replicas acknowledged `wait.offset`, or the timeout; returns how
/// many had (Redis's `WAIT` reply).
pub async fn wait(shared: &Shared, wait: WaitFor) -> i64 {
    let replication = &shared.replication;
    let deadline = wait.timeout.map(|timeout| tokio::time::Instant::now() + timeout);
    loop {
        let arrived = replication.ack_arrived();
        let acked = replication.acked(wait.offset);
        if acked >= wait.replicas {
            return acked as i64;
        }
        match deadline {
            Some(deadline) => tokio::select! {
                () = arrived => {}
                () = tokio::time::sleep_until(deadline) => return replication.acked(wait.offset) as i64,
            },
            None => arrived.await,
        }
    }
}

/// Serves a replica on `stream` (whose unread bytes are `read_buf`) until it leaves, falls too far
/// behind, is killed, or the server stops. Errors are logged here; the caller closes the socket.
pub async fn serve(
    stream: &mut TcpStream,
    read_buf: BytesMut,
    shared: &Arc<Shared>,
    client: &ClientInfo,
    replconf: &Replconf,
    handover: Handover,
    shutdown: &CancellationToken,
) {
    client.set_replica();
    let peer_ip = client.addr.rsplit_once(':').map_or(client.addr.as_str(), |(ip, _)| ip).to_owned();
    let ip = replconf.ip.clone().unwrap_or(peer_ip);
    let port = replconf.listening_port;
    let asked = match &handover {
        Handover::Psync { replid, offset } => Some((replid.as_str(), *offset)),
        Handover::Sync => None,
    };
    // A replica's data stands still from the feed's start to the walk's end (see `Replication::freeze`).
    let frozen = match shared.replication.is_replica() {
        true => Some(shared.replication.freeze().await),
        false => None,
    };
    let stream_db = shared.replication.link.stream_db();
    // Read before the feed starts: a SWAPDB from here to the walk's end fails this sync (see
    // `Replication::whole_keys`).
    let swaps = shared.dbs.first().map_or(0, crate::db::Db::swaps);
    let sync = shared.replication.begin_sync(client.id, ip.clone(), port, asked);
    let feed = match &sync {
        Sync::Continue { feed, .. } | Sync::Full { feed, .. } => Arc::clone(feed),
    };
    let result = tokio::select! {
        result = serve_sync(stream, read_buf, shared, replconf, &handover, sync, (frozen, stream_db, swaps)) => result,
        _ = shutdown.cancelled() => Ok(()),
        _ = client.killed() => Err("killed (CLIENT KILL)".to_owned()),
    };
    shared.replication.end_feed(&feed);
    match result {
        Ok(()) => tracing::info!(replica = %format!("{ip}:{port}"), "connection with replica closed"),
        Err(err) => tracing::warn!(replica = %format!("{ip}:{port}"), error = %err, "connection with replica lost"),
    }
}

async fn serve_sync(
    stream: &mut TcpStream,
    read_buf: BytesMut,
    shared: &Arc<Shared>,
    replconf: &Replconf,
    handover: &Handover,
    sync: Sync,
    (frozen, stream_db, swaps): (Option<super::Frozen>, usize, u64),
) -> Result<(), String> {
    let io = |err: io::Error| err.to_string();
    // After an `$EOF:` RDB, a Redis replica looks for the mark at the end of what it read, so
    // nothing may follow it until the replica's first ACK says it has loaded (as Redis's
    // `repl_put_online_on_ack`).
    let mut hold = false;
    let feed = match sync {
        Sync::Continue { replid, feed } => {
            drop(frozen);
            let line =
                if replconf.capa_psync2 { format!("+CONTINUE {replid}\r\n") } else { "+CONTINUE\r\n".to_owned() };
            stream.write_all(line.as_bytes()).await.map_err(io)?;
            tracing::info!(replica_port = replconf.listening_port, "partial resynchronization accepted");
            feed
        }
        Sync::Full { replid, offset, feed, walk } => {
            tracing::info!(replica_port = replconf.listening_port, offset, "starting a full resynchronization");
            if let Handover::Psync { .. } = handover {
                stream.write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes()).await.map_err(io)?;
            }
            feed.set_state(FeedState::SendBulk);
            let bytes = send_rdb(stream, shared, replconf.capa_eof, (walk, frozen), (stream_db, swaps)).await?;
            tracing::info!(bytes, "synchronization with replica succeeded: RDB sent, streaming");
            feed.set_state(FeedState::Online);
            hold = replconf.capa_eof;
            feed
        }
    };
    stream_to(stream, read_buf, shared, &feed, hold).await
}

/// Sends the RDB: written by the snapshot writer on a blocking thread into a channel, with the
/// stream's database at the feed's start as `repl-stream-db` (the replica's stream starts there).
/// Returns its size. The walk guards (and the replica's freeze) drop when the walk ends.
async fn send_rdb(
    stream: &mut TcpStream,
    shared: &Arc<Shared>,
    eof: bool,
    walk: (super::WalkGuard, Option<super::Frozen>),
    (stream_db, swaps): (usize, u64),
) -> Result<u64, String> {
    let (sender, mut chunks) = mpsc::channel::<Vec<u8>>(RDB_CHANNEL);
    let state = Arc::clone(shared);
    let writer = tokio::task::spawn_blocking(move || {
        // The walk's end: from here on the stream's records may be partial again.
        let _walk = walk;
        let options = WriteOptions { compression: state.config.rdbcompression, checksum: true, aof_base: false };
        let mut out = ChannelWriter { sender, buf: Vec::with_capacity(RDB_CHUNK) };
        let stream_db = stream_db.to_string();
        let aux = [("repl-stream-db", stream_db.as_str())];
        let functions = state.rdb.functions();
        match write_live_snapshot(&state.dbs, &functions, swaps, &mut out, options, &aux, &|| false) {
            Ok(written) => Ok(written.bytes),
            Err(WriteFailure::Io(err)) => Err(format!("the replica stopped reading the RDB: {err}")),
            Err(WriteFailure::Aborted | WriteFailure::Interrupted) => {
                Err("a SWAPDB ran during the RDB walk: the replica must sync again".to_owned())
            }
        }
    });
    let io = |err: io::Error| err.to_string();
    let mark = random_hex_id();
    let mut held = Vec::new();
    if eof {
        stream.write_all(format!("$EOF:{mark}\r\n").as_bytes()).await.map_err(io)?;
    }
    while let Some(chunk) = chunks.recv().await {
        if eof {
            stream.write_all(&chunk).await.map_err(io)?;
        } else {
            held.extend_from_slice(&chunk);
        }
    }
    let bytes = writer.await.map_err(|err| format!("the RDB writer failed: {err}"))??;
    if eof {
        stream.write_all(mark.as_bytes()).await.map_err(io)?;
    } else {
        stream.write_all(format!("${}\r\n", held.len()).as_bytes()).await.map_err(io)?;
        stream.write_all(&held).await.map_err(io)?;
    }
    Ok(bytes)
}

/// A `Write` that sends full chunks down a channel (blocking the walk while the socket is slow).
struct ChannelWriter {
    sender: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(RDB_CHUNK));
        self.sender.blocking_send(chunk).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= RDB_CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// Sends the stream as it grows, and reads the replica's `REPLCONF ACK`s.
async fn stream_to(
    stream: &mut TcpStream,
    mut read_buf: BytesMut,
    shared: &Shared,
    feed: &Feed,
    mut hold: bool,
) -> Result<(), String> {
    let limits = Limits { max_bulk: REPLICA_REQUEST_LIMIT, ..Limits::default() };
    let mut decoder = RequestDecoder::new(limits);
    let mut out = BytesMut::new();
    let timeout = Duration::from_secs(shared.config.repl_timeout);
    let (mut reader, mut writer) = stream.split();
    loop {
        if handle_replies(&mut decoder, &mut read_buf, shared, feed)? {
            hold = false;
        }
        if !hold {
            out.clear();
            out = feed.take(out).map_err(|_| "the replica fell too far behind (output buffer limit)".to_owned())?;
            if !out.is_empty() {
                writer.write_all(&out).await.map_err(|err| err.to_string())?;
                continue;
            }
        }
        tokio::select! {
            () = feed.pushed(), if !hold => {}
            read = reader.read_buf(&mut read_buf) => match read {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) => return Err(err.to_string()),
            },
            () = tokio::time::sleep(timeout) => {
                if feed.lag_secs() >= timeout.as_secs() {
                    return Err(format!("no ACK from the replica for {} seconds (--repl-timeout)", timeout.as_secs()));
                }
            }
        }
    }
}

/// Handles what the replica sent: `REPLCONF ACK <offset> [FACK <offset>]`; anything else is not
/// what a replica sends, and ends the link. Returns whether an ACK came.
fn handle_replies(
    decoder: &mut RequestDecoder,
    read_buf: &mut BytesMut,
    shared: &Shared,
    feed: &Feed,
) -> Result<bool, String> {
    let mut acked = false;
    loop {
        let request: Request = match decoder.decode(read_buf) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(acked),
            Err(err) => return Err(format!("protocol error from the replica: {err}")),
        };
        let args = &request.args;
        let is_ack =
            args.len() >= 3 && args[0].eq_ignore_ascii_case(b"REPLCONF") && args[1].eq_ignore_ascii_case(b"ACK");
        let offset =
            std::str::from_utf8(args.get(2).map_or(&[][..], |a| &a[..])).ok().and_then(|t| t.parse::<u64>().ok());
        match offset {
            Some(offset) if is_ack => {
                shared.replication.note_ack(feed, offset);
                acked = true;
            }
            _ => {
                let words: Vec<String> = args.iter().take(3).map(|a| crate::rdb::printable(a)).collect();
                return Err(format!("unexpected command from the replica: {}", words.join(" ")));
            }
        }
    }
}

/// Feeds a PING into the stream every `--repl-ping-replica-period` while there are replicas, so they
/// can tell a quiet primary from a dead link.
pub async fn pinger(shared: Arc<Shared>, shutdown: CancellationToken) {
    let period = Duration::from_secs(shared.config.repl_ping_replica_period);
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        if shared.replication.feeding() && !shared.replication.feeds().is_empty() {
            shared.replication.append_command(&[b"PING"]);
        }
    }
}
