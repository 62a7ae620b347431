//! Replication, Redis's protocol both ways: TinyKV as a primary that redis-server 7.0 (or another
//! TinyKV) replicates, and TinyKV as a replica of either.
//!
//! ```text
//! primary   writes -> effect records (the AOF's, see aof::Effect) -> the stream -> backlog + each replica
//!           PSYNC ? -1 / SYNC     ->  +FULLRESYNC <replid> <offset>, an RDB, then the stream from <offset>
//!           PSYNC <replid> <off>  ->  +CONTINUE <replid>, then the stream from <off> (out of the backlog)
//! replica   REPLICAOF host port   ->  a link task: handshake, load the RDB into fresh databases, swap
//!                                     them in, apply the stream through the command path, ACK each second
//! ```
//!
//! The stream is one sequence of RESP commands numbered by byte offsets (`master_repl_offset`);
//! every replica of a server reads the same bytes at the same offsets, so a replica that reconnects
//! names the offset it reached and gets the rest from the [`backlog`]. A replica passes the bytes it
//! receives on verbatim to its own backlog and replicas, so its offsets are its primary's: after a
//! failover the other replicas continue from the promoted one with `+CONTINUE`.
//!
//! [`primary`] serves a replica's connection after `PSYNC`/`SYNC`; [`replica`] is this server's
//! link to its primary.

pub mod backlog;
pub mod primary;
pub mod replica;

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use parking_lot::Mutex;
use tinykv_proto::codec::encode_request;
use tokio::sync::Notify;

use crate::aof::Sink;
use crate::db::now_ms;
use backlog::Backlog;

/// Unsent stream bytes a replica may fall behind by before it is disconnected: Redis's
/// `client-output-buffer-limit replica 256mb` hard limit. It covers a full sync's transfer time.
pub const REPLICA_OUTPUT_LIMIT: usize = 256 << 20;

/// What `master_replid2` reads when there is no previous replication history, as in Redis.
pub const NO_REPLICATION_ID: &str = "0000000000000000000000000000000000000000";

/// Where a replica of this server is in its synchronisation, as `INFO replication` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FeedState {
    /// Waiting for its RDB to start.
    WaitBgsave,
    /// Receiving its RDB.
    SendBulk,
    /// Receiving the stream.
    Online,
}

impl FeedState {
    fn name(self) -> &'static str {
        match self {
            FeedState::WaitBgsave => "wait_bgsave",
            FeedState::SendBulk => "send_bulk",
            FeedState::Online => "online",
        }
    }
}

/// One replica of this server: the stream bytes not yet sent to it, and what it acknowledged.
pub struct Feed {
    /// Its client id.
    pub id: u64,
    /// Its address as seen by this server (or `REPLCONF ip-address`).
    pub ip: String,
    /// The port it listens on (`REPLCONF listening-port`), which `INFO` and Sentinel report.
    pub port: AtomicU16,
    state: AtomicU8,
    /// The stream offset it acknowledged (`REPLCONF ACK`).
    pub ack: AtomicU64,
    /// Unix ms of its last ACK.
    pub last_ack_ms: AtomicU64,
    pending: Mutex<Pending>,
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    bytes: BytesMut,
    /// The replica fell more than [`REPLICA_OUTPUT_LIMIT`] behind: it is disconnected.
    overflowed: bool,
}

/// The replica fell too far behind: its connection must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflowed;

impl Feed {
    fn new(id: u64, ip: String, port: u16, start: &[u8]) -> Feed {
        Feed {
            id,
            ip,
            port: AtomicU16::new(port),
            state: AtomicU8::new(FeedState::WaitBgsave as u8),
            ack: AtomicU64::new(0),
            last_ack_ms: AtomicU64::new(now_ms()),
            pending: Mutex::new(Pending { bytes: BytesMut::from(start), overflowed: false }),
            wake: Notify::new(),
        }
    }

    fn push(&self, data: &[u8]) {
        {
            let mut pending = self.pending.lock();
            if pending.overflowed {
                return;
            }
            if pending.bytes.len() + data.len() > REPLICA_OUTPUT_LIMIT {
                pending.overflowed = true;
                pending.bytes = BytesMut::new();
            } else {
                pending.bytes.extend_from_slice(data);
            }
        }
        self.wake.notify_one();
    }

    /// Takes the bytes waiting to be sent (swapping in `spare`, an emptied buffer, to reuse it).
    pub fn take(&self, spare: BytesMut) -> Result<BytesMut, Overflowed> {
        let mut pending = self.pending.lock();
        if pending.overflowed {
            return Err(Overflowed);
        }
        Ok(std::mem::replace(&mut pending.bytes, spare))
    }

    /// Resolves when bytes were pushed since the last [`Feed::take`] (at once if some were meanwhile).
    pub async fn pushed(&self) {
        self.wake.notified().await;
    }

    /// Disconnects the replica: its connection closes at its next wake-up.
    fn close(&self) {
        self.pending.lock().overflowed = true;
        self.wake.notify_one();
    }

    /// Sets where it is in its synchronisation.
    pub fn set_state(&self, state: FeedState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    /// Where it is in its synchronisation.
    pub fn state(&self) -> FeedState {
        match self.state.load(Ordering::Relaxed) {
            x if x == FeedState::Online as u8 => FeedState::Online,
            x if x == FeedState::SendBulk as u8 => FeedState::SendBulk,
            _ => FeedState::WaitBgsave,
        }
    }

    /// Seconds since its last ACK.
    pub fn lag_secs(&self) -> u64 {
        now_ms().saturating_sub(self.last_ack_ms.load(Ordering::Relaxed)) / 1000
    }
}

/// The stream: its ids, its offset, the backlog and the replicas it goes to.
struct Stream {
    replid: String,
    replid2: String,
    /// The offset up to which `replid2`'s history is ours (`second_repl_offset`), -1 for none.
    second_offset: i64,
    /// Bytes of stream so far (`master_repl_offset`).
    offset: u64,
    /// Created when the first replica connects, as Redis does; kept afterwards.
    backlog: Option<Backlog>,
    backlog_size: usize,
    /// The database the stream's last record was of (`usize::MAX`: none, so the next one selects).
    selected: usize,
    /// One record being encoded, before it goes to the backlog and the replicas.
    scratch: BytesMut,
    feeds: Vec<Arc<Feed>>,
}

/// What a `PSYNC` gets.
pub enum Sync {
    /// `+CONTINUE <replid>`: the replica's feed starts with what it missed.
    Continue { replid: String, feed: Arc<Feed> },
    /// `+FULLRESYNC <replid> <offset>`: an RDB first, then the feed from `offset`.
    Full { replid: String, offset: u64, feed: Arc<Feed>, walk: WalkGuard },
}

/// Held while a full sync's RDB walk runs: until it drops, writes record each touched key's whole
/// state in the stream (see [`Replication::whole_keys`]).
pub struct WalkGuard(Arc<Core>);

impl Drop for WalkGuard {
    fn drop(&mut self) {
        self.0.whole_keys.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Core {
    /// Records go to the stream: this server is a primary with a backlog.
    feeding: AtomicBool,
    /// Full syncs whose RDB walk is running (see [`Replication::whole_keys`]).
    whole_keys: AtomicUsize,
    stream: Mutex<Stream>,
    /// Woken by every `REPLCONF ACK`, for `WAIT`.
    acked: Notify,
    /// This server is a replica: the stream comes from its primary, not from its own writes.
    replica: AtomicBool,
    /// On a replica, held (exclusively) by a sub-replica's full sync from before its feed starts
    /// until its RDB walk ends, and (shared) by the link while it applies a batch of the primary's
    /// stream: the replica's data stands still for the walk, so the RDB is a point-in-time image of
    /// the stream at the feed's offset (the relayed stream cannot switch to whole-key records).
    frozen: Arc<tokio::sync::RwLock<()>>,
}

/// Held while a replica's data stands still for a sub-replica's RDB walk.
pub type Frozen = tokio::sync::OwnedRwLockWriteGuard<()>;

/// Replication state shared by every connection: the stream (as a primary) and the link (as a replica).
pub struct Replication {
    core: Arc<Core>,
    /// This process's `run_id` (`INFO server`): Sentinel tells instances apart by it.
    run_id: String,
    /// This server's link to its primary, when it is a replica.
    pub link: replica::Links,
}

impl Replication {
    /// Replication state with a fresh replication id, a backlog of `backlog_size` bytes once a
    /// replica connects, and (with `--replicaof`) a primary to connect to.
    pub fn new(backlog_size: u64, replicaof: Option<(String, u16)>) -> Replication {
        let stream = Stream {
            replid: random_hex_id(),
            replid2: NO_REPLICATION_ID.to_owned(),
            second_offset: -1,
            offset: 0,
            backlog: None,
            backlog_size: usize::try_from(backlog_size).unwrap_or(usize::MAX),
            selected: usize::MAX,
            scratch: BytesMut::new(),
            feeds: Vec::new(),
        };
        let core = Core {
            feeding: AtomicBool::new(false),
            whole_keys: AtomicUsize::new(0),
            stream: Mutex::new(stream),
            acked: Notify::new(),
            replica: AtomicBool::new(replicaof.is_some()),
            frozen: Arc::new(tokio::sync::RwLock::new(())),
        };
        Replication { core: Arc::new(core), run_id: random_hex_id(), link: replica::Links::new(replicaof) }
    }

    /// This process's run id, for `INFO server`.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether this server's writes go to a replication stream (it is a primary with a backlog).
    /// One relaxed load: without replicas, replication costs nothing more.
    pub fn feeding(&self) -> bool {
        self.core.feeding.load(Ordering::Relaxed)
    }

    /// Whether a full sync's RDB walk is running. The walk is not a point-in-time image (it copies
    /// shards chunk by chunk while clients write), so while it runs every write records the whole
    /// state of each key it names, read back under the key's lock after the command, after the
    /// partial records a collection command makes (`HSET k f v`, `LPUSH k e`), which it supersedes.
    ///
    /// Why base + stream is then exact: the replica's feed starts at offset O, taken (under the
    /// stream lock) before the walk starts. A key that no write touches after O is copied by the walk
    /// in its final state. A key touched after O has, after its last change, a whole-state record
    /// in the stream (`DEL` + `SET`/`HSET`/`SADD` + `PEXPIREAT`, or `DEL`) read back after that
    /// change, which replaces whatever the walk copied, older or newer. A command that began before
    /// O with partial records re-checks this flag after it ran and adds the whole-state record (see
    /// `execute::run`), so no change that lands in the feed is only partial. Once the walk ended,
    /// the replica's data equals this server's at that point, and partial records apply exactly.
    /// (One gap: a blocked `BLMOVE` that a write serves during the walk pushes to a key the write
    /// does not name; that push is recorded only partially.)
    /// `FLUSHDB`/`FLUSHALL` records clear what the walk copied before them; a `SWAPDB` during the
    /// walk could show a database twice, so it fails that sync and the replica starts again.
    pub fn whole_keys(&self) -> bool {
        self.core.whole_keys.load(Ordering::SeqCst) > 0
    }

    /// On a replica: stops applying the primary's stream until the guard drops (see `Core::frozen`).
    pub async fn freeze(&self) -> Frozen {
        Arc::clone(&self.core.frozen).write_owned().await
    }

    /// On a replica: held while a batch of the primary's stream is applied.
    pub async fn applying(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.core.frozen.read().await
    }

    /// Whether this server is (configured as) a replica.
    pub fn is_replica(&self) -> bool {
        self.core.replica.load(Ordering::Relaxed)
    }

    /// The replication ids and second offset: (`master_replid`, `master_replid2`, `second_repl_offset`).
    pub fn ids(&self) -> (String, String, i64) {
        let stream = self.core.stream.lock();
        (stream.replid.clone(), stream.replid2.clone(), stream.second_offset)
    }

    /// `DEBUG CHANGE-REPL-ID`: a new replication id, and no secondary one.
    pub fn change_id(&self) {
        let mut stream = self.core.stream.lock();
        stream.replid = random_hex_id();
        stream.replid2 = NO_REPLICATION_ID.to_owned();
        stream.second_offset = -1;
    }

    /// The stream offset reached (`master_repl_offset`).
    pub fn offset(&self) -> u64 {
        self.core.stream.lock().offset
    }

    /// `INFO replication`'s backlog fields: (active, size, first byte offset, histlen).
    pub fn backlog_info(&self) -> (bool, usize, u64, usize) {
        let stream = self.core.stream.lock();
        match &stream.backlog {
            Some(backlog) => (true, backlog.capacity(), backlog.first(), backlog.histlen()),
            None => (false, stream.backlog_size, 0, 0),
        }
    }

    /// Changes the backlog's size (`CONFIG SET repl-backlog-size`).
    pub fn set_backlog_size(&self, size: usize) {
        let mut stream = self.core.stream.lock();
        stream.backlog_size = size;
        if let Some(backlog) = &mut stream.backlog {
            backlog.resize(size);
        }
    }

    /// The replicas connected now.
    pub fn feeds(&self) -> Vec<Arc<Feed>> {
        self.core.stream.lock().feeds.clone()
    }

    /// Replicas online whose last ACK is at most `max_lag` seconds old (`--min-replicas-*`).
    pub fn good_replicas(&self, max_lag: u64) -> usize {
        self.feeds().iter().filter(|f| f.state() == FeedState::Online && f.lag_secs() <= max_lag).count()
    }

    /// Replicas that acknowledged at least `offset`.
    pub fn acked(&self, offset: u64) -> usize {
        self.feeds().iter().filter(|f| f.ack.load(Ordering::Acquire) >= offset).count()
    }

    /// Records a replica's `REPLCONF ACK`, waking `WAIT`ers.
    pub fn note_ack(&self, feed: &Feed, offset: u64) {
        feed.ack.fetch_max(offset, Ordering::AcqRel);
        feed.last_ack_ms.store(now_ms(), Ordering::Relaxed);
        self.core.acked.notify_waiters();
    }

    /// Resolves at the next `REPLCONF ACK` from any replica (register before checking, as
    /// [`Notify::notified`] asks).
    pub fn ack_arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.core.acked.notified()
    }

    /// Answers a replica's `PSYNC replid offset` (`offset` is the first byte it wants), or `SYNC`
    /// (`None`): registers its feed in the same lock hold that decides, so no record falls between.
    pub fn begin_sync(&self, id: u64, ip: String, port: u16, asked: Option<(&str, i64)>) -> Sync {
        let mut stream = self.core.stream.lock();
        let stream = &mut *stream;
        if stream.backlog.is_none() {
            stream.backlog = Some(Backlog::new(stream.backlog_size, stream.offset));
        }
        self.core.feeding.store(!self.is_replica(), Ordering::Relaxed);
        if let Some((replid, offset)) = asked {
            let known = replid == stream.replid || (replid == stream.replid2 && offset <= stream.second_offset);
            let missed = u64::try_from(offset).ok().and_then(|o| stream.backlog.as_ref()?.since(o));
            if let (true, Some(missed)) = (known, missed) {
                let feed = Arc::new(Feed::new(id, ip, port, &missed));
                feed.set_state(FeedState::Online);
                stream.feeds.push(Arc::clone(&feed));
                return Sync::Continue { replid: stream.replid.clone(), feed };
            }
        }
        let feed = Arc::new(Feed::new(id, ip, port, &[]));
        stream.feeds.push(Arc::clone(&feed));
        // The replica's data will be the RDB's: the next record names its database.
        stream.selected = usize::MAX;
        self.core.whole_keys.fetch_add(1, Ordering::SeqCst);
        let walk = WalkGuard(Arc::clone(&self.core));
        Sync::Full { replid: stream.replid.clone(), offset: stream.offset, feed, walk }
    }

    /// Forgets a replica whose connection ended.
    pub fn end_feed(&self, feed: &Arc<Feed>) {
        self.core.stream.lock().feeds.retain(|f| !Arc::ptr_eq(f, feed));
        self.core.acked.notify_waiters();
    }

    fn append(&self, db: Option<usize>, write: &mut dyn FnMut(&mut BytesMut)) {
        self.core.append(db, write);
    }

    /// Appends a command outside any database (`PING`, `REPLCONF GETACK *`) when feeding replicas.
    pub fn append_command(&self, args: &[&[u8]]) {
        if self.feeding() {
            self.append(None, &mut |out| encode_request(args, out));
        }
    }

    /// What the databases call for a key this primary expired or evicted: replicas never expire keys themselves, they delete
    /// what their primary deletes. Called with the key's shard locked, so the `DEL` is in order
    /// with the key's other records.
    pub fn delete_hook(&self) -> crate::db::DeleteHook {
        let core = Arc::clone(&self.core);
        Box::new(move |db, key| {
            if core.feeding.load(Ordering::Relaxed) {
                core.append(Some(db), &mut |out| encode_request(&[&b"DEL"[..], key], out));
            }
        })
    }

    /// On a replica: bytes of its primary's stream, applied, passed on verbatim to its own backlog
    /// and replicas (so their offsets are the primary's).
    pub fn relay(&self, bytes: &[u8]) {
        let mut stream = self.core.stream.lock();
        stream.publish(bytes);
    }

    /// On a replica, after a full sync from a primary: its id and offset become ours, and our own
    /// replicas (which hold older data) must sync again.
    pub fn adopt(&self, replid: &str, offset: u64) {
        let mut stream = self.core.stream.lock();
        stream.replid = replid.to_owned();
        stream.replid2 = NO_REPLICATION_ID.to_owned();
        stream.second_offset = -1;
        stream.offset = offset;
        let size = stream.backlog_size;
        stream.backlog = Some(Backlog::new(size, offset));
        let feeds = std::mem::take(&mut stream.feeds);
        feeds.iter().for_each(|feed| feed.close());
    }

    /// On a replica whose primary answered `+CONTINUE <replid>` with a new id (it was promoted):
    /// our history goes on under that id.
    pub fn continue_as(&self, replid: &str) {
        let mut stream = self.core.stream.lock();
        if stream.replid != replid {
            stream.replid2 = std::mem::replace(&mut stream.replid, replid.to_owned());
            stream.second_offset = stream.offset as i64 + 1;
        }
    }

    /// Becomes a replica (`REPLICAOF host port`): writes stop feeding the stream.
    pub fn become_replica(&self) {
        self.core.replica.store(true, Ordering::Relaxed);
        self.core.feeding.store(false, Ordering::Relaxed);
    }

    /// Becomes a primary (`REPLICAOF NO ONE`): a new replication id, the old one kept as the second
    /// so our replicas (and the other replicas of our old primary) continue with `+CONTINUE`.
    pub fn become_primary(&self) {
        let mut stream = self.core.stream.lock();
        if self.core.replica.swap(false, Ordering::Relaxed) {
            stream.replid2 = std::mem::replace(&mut stream.replid, random_hex_id());
            stream.second_offset = stream.offset as i64 + 1;
        }
        stream.selected = usize::MAX;
        self.core.feeding.store(stream.backlog.is_some(), Ordering::Relaxed);
    }

    /// Disconnects the replicas still receiving their RDB (they sync again): a `SWAPDB` ran.
    pub fn drop_syncing_feeds(&self) {
        let mut stream = self.core.stream.lock();
        stream.feeds.retain(|feed| {
            let syncing = feed.state() != FeedState::Online;
            if syncing {
                feed.close();
            }
            !syncing
        });
    }

    /// Disconnects every replica (they reconnect and sync again): when our data was replaced.
    pub fn drop_feeds(&self) {
        let feeds = std::mem::take(&mut self.core.stream.lock().feeds);
        feeds.iter().for_each(|feed| feed.close());
    }
}

impl Core {
    /// Appends one record (after a `SELECT` when `db` differs from the last record's) to the stream.
    fn append(&self, db: Option<usize>, write: &mut dyn FnMut(&mut BytesMut)) {
        let mut stream = self.stream.lock();
        let stream = &mut *stream;
        if let Some(db) = db {
            if stream.selected != db {
                encode_request(&[&b"SELECT"[..], db.to_string().as_bytes()], &mut stream.scratch);
                stream.selected = db;
            }
        }
        write(&mut stream.scratch);
        let record = std::mem::take(&mut stream.scratch);
        stream.publish(&record);
        stream.scratch = record;
        stream.scratch.clear();
    }
}

impl Stream {
    /// Appends bytes to the stream: backlog, offset, every replica's feed.
    fn publish(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.offset += bytes.len() as u64;
        if let Some(backlog) = &mut self.backlog {
            backlog.push(bytes);
        }
        for feed in &self.feeds {
            feed.push(bytes);
        }
    }
}

impl Sink for Replication {
    fn append_record(&self, db: Option<usize>, write: &mut dyn FnMut(&mut BytesMut)) {
        self.append(db, write);
    }
}

/// A random 40-hex-character id, as Redis's replication ids. From the standard library's randomly
/// keyed hasher: unpredictable enough for an id, which is no secret.
pub fn random_hex_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let state = RandomState::new();
    let mut id = String::with_capacity(NO_REPLICATION_ID.len());
    let mut round = 0u64;
    while id.len() < NO_REPLICATION_ID.len() {
        let word = state.hash_one((round, std::time::Instant::now()));
        id.push_str(&format!("{word:016x}"));
        round += 1;
    }
    id.truncate(NO_REPLICATION_ID.len());
    id
}

/// The lines `INFO replication` shows, in Redis's order and with its names.
pub fn info_fields(shared: &crate::shared::Shared) -> Vec<(String, String)> {
    let replication = &shared.replication;
    let (replid, replid2, second) = replication.ids();
    let offset = replication.offset();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut field = |name: &str, value: String| fields.push((name.to_owned(), value));
    match replication.link.status() {
        Some(link) => {
            field("role", "slave".to_owned());
            field("master_host", link.host.clone());
            field("master_port", link.port.to_string());
            field("master_link_status", if link.up { "up" } else { "down" }.to_owned());
            field("master_last_io_seconds_ago", link.last_io_secs.map_or(-1, |s| s as i64).to_string());
            field("master_sync_in_progress", u8::from(link.syncing).to_string());
            field("slave_read_repl_offset", offset.to_string());
            field("slave_repl_offset", offset.to_string());
            if link.syncing {
                field("master_sync_total_bytes", link.sync_total.to_string());
                field("master_sync_read_bytes", link.sync_read.to_string());
                field("master_sync_left_bytes", link.sync_total.saturating_sub(link.sync_read).to_string());
                let perc =
                    if link.sync_total > 0 { 100.0 * link.sync_read as f64 / link.sync_total as f64 } else { 0.0 };
                field("master_sync_perc", format!("{perc:.2}"));
                field("master_sync_last_io_seconds_ago", link.last_io_secs.unwrap_or(0).to_string());
            }
            if !link.up {
                field("master_link_down_since_seconds", link.down_secs.to_string());
            }
            if let Some(error) = &link.last_error {
                field("master_link_last_error", error.clone());
            }
            field("slave_priority", shared.config.replica_priority.to_string());
            field("slave_read_only", "1".to_owned());
            field("replica_announced", "1".to_owned());
        }
        None => field("role", "master".to_owned()),
    }
    let feeds = replication.feeds();
    field("connected_slaves", feeds.len().to_string());
    for (i, feed) in feeds.iter().enumerate() {
        let line = format!(
            "ip={},port={},state={},offset={},lag={}",
            feed.ip,
            feed.port.load(Ordering::Relaxed),
            feed.state().name(),
            feed.ack.load(Ordering::Relaxed),
            feed.lag_secs()
        );
        field(&format!("slave{i}"), line);
    }
    if shared.config.min_replicas_to_write > 0 && !replication.is_replica() {
        field("min_slaves_good_slaves", replication.good_replicas(shared.config.min_replicas_max_lag).to_string());
    }
    field("master_failover_state", "no-failover".to_owned());
    field("master_replid", replid);
    field("master_replid2", replid2);
    field("master_repl_offset", offset.to_string());
    field("second_repl_offset", second.to_string());
    let (active, size, first, histlen) = replication.backlog_info();
    field("repl_backlog_active", u8::from(active).to_string());
    field("repl_backlog_size", size.to_string());
    field("repl_backlog_first_byte_offset", first.to_string());
    field("repl_backlog_histlen", histlen.to_string());
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(feed: &Feed) -> Vec<u8> {
        feed.take(BytesMut::new()).expect("not overflowed").to_vec()
    }

    #[test]
    fn records_go_to_the_backlog_and_feeds_with_a_select_when_the_database_changes() {
        let replication = Replication::new(1 << 20, None);
        assert!(!replication.feeding());
        // Without replicas nothing is recorded.
        replication.append_command(&[b"PING"]);
        assert_eq!(replication.offset(), 0);
        let Sync::Full { offset, feed, walk, .. } = replication.begin_sync(1, "127.0.0.1".into(), 6380, None) else {
            panic!("a first sync is full")
        };
        assert_eq!(offset, 0);
        assert!(replication.feeding() && replication.whole_keys());
        drop(walk);
        assert!(!replication.whole_keys());
        replication.append_record(Some(2), &mut |out| encode_request(&[&b"SET"[..], b"k", b"v"], out));
        replication.append_record(Some(2), &mut |out| encode_request(&[&b"DEL"[..], b"k"], out));
        let sent = drain(&feed);
        assert_eq!(
            sent,
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n"
        );
        assert_eq!(replication.offset(), sent.len() as u64);
    }

    #[test]
    fn psync_continues_within_the_backlog_and_under_the_previous_id() {
        let replication = Replication::new(16 * 1024, None);
        let Sync::Full { .. } = replication.begin_sync(1, "a".into(), 1, None) else { panic!("full") };
        replication.append_command(&[b"PING"]);
        let (replid, _, _) = replication.ids();
        let half = replication.offset();
        replication.append_command(&[b"PING"]);
        match replication.begin_sync(2, "b".into(), 2, Some((&replid, half as i64 + 1))) {
            Sync::Continue { feed, .. } => assert_eq!(drain(&feed), b"*1\r\n$4\r\nPING\r\n"),
            Sync::Full { .. } => panic!("within the backlog: +CONTINUE"),
        }
        assert!(matches!(replication.begin_sync(3, "c".into(), 3, Some(("other", 1))), Sync::Full { .. }));
        // Past what was ever written, or fallen out of the backlog: a full sync.
        let past = replication.offset() as i64 + 2;
        assert!(matches!(replication.begin_sync(4, "d".into(), 4, Some((&replid, past))), Sync::Full { .. }));
        for _ in 0..2000 {
            replication.append_command(&[b"PING"]);
        }
        assert!(matches!(replication.begin_sync(5, "e".into(), 5, Some((&replid, 1))), Sync::Full { .. }));
        // A replica promoted keeps the old id as its second: the old id continues up to the switch.
        replication.become_replica();
        replication.become_primary();
        let (new_id, old_id, second) = replication.ids();
        assert_eq!((old_id.as_str(), second), (replid.as_str(), replication.offset() as i64 + 1));
        assert_ne!(new_id, replid);
        let at = replication.offset() as i64 + 1;
        assert!(matches!(replication.begin_sync(6, "f".into(), 6, Some((&replid, at))), Sync::Continue { .. }));
    }

    #[test]
    fn a_replica_too_far_behind_is_cut_off() {
        let replication = Replication::new(16 * 1024, None);
        let Sync::Full { feed, .. } = replication.begin_sync(1, "a".into(), 1, None) else { panic!("full") };
        let big = vec![b'x'; REPLICA_OUTPUT_LIMIT / 2 + 1];
        replication.append_record(None, &mut |out| out.extend_from_slice(&big));
        replication.append_record(None, &mut |out| out.extend_from_slice(&big));
        assert_eq!(feed.take(BytesMut::new()).map(|b| b.len()), Err(Overflowed));
    }
}
