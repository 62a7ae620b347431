//! Compacting the append-only file online: no fork, clients never stopped, memory of one chunk.
//!
//! ```text
//! start    (writer lock, no I/O but a rename and a directory fsync)
//!          pending records -> the old file; new records -> a fresh increment named in the manifest
//! walk     (no lock but one shard's, one chunk at a time) every live key -> temp base, fsynced
//! switch   (manifest: temp + fsync + rename + directory fsync) base = the new one, increments
//!          from the fresh one on; the old base and increments become history and are deleted
//! ```
//!
//! Why the result is exact although the walk is not a point-in-time image: records are the
//! *effect* of writes (a key's whole state, read back after the write under the record lock), and
//! the fresh increment holds every record from the switch point on. A key whose last record came
//! before the switch was not changed after it, so the walk (which starts after the switch) copies
//! its final state. A key changed after the switch has its final state as its last record in the
//! increment; whatever the walk copied for it (an older or newer state) is in the base, which loads
//! first, so the increment's last record wins. `FLUSHDB`/`FLUSHALL` in the increment clear what the
//! base held and the keys written after them follow them. Only `SWAPDB` can fool a walk (a database
//! copied twice, another never), so a swap during the walk makes the rewrite start again.
//!
//! A crash at any point leaves a manifest that loads every acknowledged write: before the switch
//! it lists the old base and every increment, the fresh one included; after it, the new base and
//! the fresh increment. Files are deleted only once a manifest no longer lists them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tinykv_proto::codec::encode_request;
use tinykv_proto::score::format_g17;
use tokio::sync::Notify;

use super::manifest::{FileInfo, FileType, Manifest, FILE_PREFIX, MANIFEST_NAME};
use super::{Aof, AofError, Layout, LogFile};
use crate::collections::Collection;
use crate::db::Db;
use crate::entry::Entry;
use crate::rdb::encode::{write_frozen_snapshot, Thaw, WriteFailure, WriteOptions};

/// Keys copied out of a shard per lock hold while the base is written.
pub const REWRITE_CHUNK: usize = 1024;
/// Write buffer of the base file.
const WRITE_BUFFER: usize = 1 << 20;
/// A rewrite a `SWAPDB` interrupted starts again at most this many times in a row.
const SWAP_RETRIES: usize = 3;
/// After a failed rewrite, the growth rule waits this long before trying again (as Redis's
/// `AOF_REWRITE_RETRY_DELAY`-like back-off), so a full disk is not hammered once a second.
const AUTO_RETRY_DELAY_SECS: u64 = 60;
/// Redis's name for a rewrite's base while it is written (`temp-rewriteaof-bg-<pid>.aof`).
const TEMP_BASE_PREFIX: &str = "temp-rewriteaof-bg-";
/// The manifest while it is written, before it is renamed over the real one.
const TEMP_MANIFEST: &str = "temp-appendonly.aof.manifest";

/// Items per `HSET`/`SADD` record when a collection is written whole: small enough that no record
/// comes near a request's limits, large enough that a big collection is not mostly command names
/// (Redis's rewrite uses 64 too, `AOF_REWRITE_ITEMS_PER_CMD`).
pub const ITEMS_PER_RECORD: usize = 64;

/// Appends to `out` the records that rebuild one key as it is, whatever its type. The one place a
/// rewrite says how a key is written (the replay side runs these through the ordinary commands):
///
/// ```text
/// string   SET key value [PXAT ms]
/// hash     HSET key field value ... (64 pairs a record)      [PEXPIREAT key ms]
/// set      SADD key member ... (64 members a record)         [PEXPIREAT key ms]
/// list     RPUSH key element ... (64 elements a record)      [PEXPIREAT key ms]
/// zset     ZADD key score member ... (64 pairs a record)      [PEXPIREAT key ms]
/// ```
pub fn rebuild_key(entry: &Entry, out: &mut BytesMut) {
    let key = entry.key();
    let at = entry.expires_at().map(|at| at.to_string());
    match (entry.string(), entry.collection()) {
        (Some(value), _) => match &at {
            None => encode_request(&[&b"SET"[..], key, value], out),
            Some(at) => encode_request(&[&b"SET"[..], key, value, b"PXAT", at.as_bytes()], out),
        },
        (None, Some(Collection::Hash(hash))) => {
            let items = hash.iter().flat_map(|(field, value)| [field, value]);
            encode_chunked(&[b"HSET", key], items, 2 * ITEMS_PER_RECORD, out);
        }
        (None, Some(Collection::Set(set))) => encode_chunked(&[b"SADD", key], set.iter(), ITEMS_PER_RECORD, out),
        // --- lists ---
        (None, Some(Collection::List(list))) => encode_chunked(&[b"RPUSH", key], list.iter(), ITEMS_PER_RECORD, out),
        // --- sorted sets ---
        (None, Some(Collection::ZSet(zset))) => encode_zadd(key, zset.iter(), out),
        (None, None) => {}
    }
    if let (Some(at), None) = (&at, entry.string()) {
        encode_request(&[&b"PEXPIREAT"[..], key, at.as_bytes()], out);
    }
}

/// Encodes `prefix items...` as commands of at most `per_record` items each.
pub(super) fn encode_chunked<'i>(
    prefix: &[&[u8]],
    items: impl IntoIterator<Item = &'i [u8]>,
    per_record: usize,
    out: &mut BytesMut,
) {
    let mut args: Vec<&[u8]> = prefix.to_vec();
    for item in items {
        args.push(item);
        if args.len() >= prefix.len() + per_record {
            encode_request(&args, out);
            args.truncate(prefix.len());
        }
    }
    if args.len() > prefix.len() {
        encode_request(&args, out);
    }
}

/// Encodes `ZADD key score member ...` for `entries`, at most [`ITEMS_PER_RECORD`] pairs a record,
/// each score in `%.17g`, which reads back as exactly the same double.
pub(super) fn encode_zadd<'i>(key: &[u8], entries: impl IntoIterator<Item = (&'i [u8], f64)>, out: &mut BytesMut) {
    let mut entries = entries.into_iter().peekable();
    while entries.peek().is_some() {
        let chunk: Vec<(String, &[u8])> =
            entries.by_ref().take(ITEMS_PER_RECORD).map(|(member, score)| (format_g17(score), member)).collect();
        let mut args: Vec<&[u8]> = Vec::with_capacity(2 + 2 * chunk.len());
        args.extend([&b"ZADD"[..], key]);
        for (score, member) in &chunk {
            args.extend([score.as_bytes(), member]);
        }
        encode_request(&args, out);
    }
}

/// Why writing a base stopped.
#[derive(Debug)]
pub(super) enum BaseFailure {
    /// Writing the file failed.
    Io(io::Error),
    /// The server is stopping.
    Aborted,
    /// A `SWAPDB` ran during the walk: the copy may hold a database twice.
    Swapped,
}

/// What a base holds.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct BaseWritten {
    pub keys: u64,
}

/// Writes every live key of `dbs`, frozen at the instant the increment began (see
/// [`Db::freeze_all_then`]), to `out`: `SELECT n` before each database that has keys, then
/// [`rebuild_key`]'s records, a cell of about [`REWRITE_CHUNK`] keys at a time copied out under one
/// short hold of a shard's lock, so neither clients nor memory notice.
pub(super) fn write_base(
    dbs: &[Db],
    out: &mut impl Write,
    swaps_at_start: u64,
    abort: &dyn Fn() -> bool,
) -> Result<BaseWritten, BaseFailure> {
    let mut written = BaseWritten::default();
    let mut records = BytesMut::new();
    let swapped = || dbs.first().is_some_and(|db| db.swaps() != swaps_at_start);
    for (index, db) in dbs.iter().enumerate() {
        let mut selected = false;
        for shard in 0..db.shard_count() {
            db.for_each_frozen_chunk(shard, |entries| {
                if abort() {
                    return Err(BaseFailure::Aborted);
                }
                if swapped() {
                    return Err(BaseFailure::Swapped);
                }
                if entries.is_empty() {
                    return Ok(());
                }
                if !selected {
                    encode_request(&[&b"SELECT"[..], index.to_string().as_bytes()], &mut records);
                    selected = true;
                }
                for entry in entries {
                    rebuild_key(entry, &mut records);
                }
                written.keys += entries.len() as u64;
                out.write_all(&records).map_err(BaseFailure::Io)?;
                records.clear();
                Ok(())
            })?;
        }
    }
    // A swap during the last chunk's copy shows here (it counts while holding every shard lock).
    if swapped() {
        return Err(BaseFailure::Swapped);
    }
    Ok(written)
}

/// Whether a rewrite runs, was asked for, and how the last one went: for `BGREWRITEAOF`, the
/// growth rule and `INFO persistence`.
pub(super) struct Rewrites {
    /// A rewrite is running.
    pub in_progress: AtomicBool,
    /// A rewrite was asked for and has not started yet.
    pub scheduled: AtomicBool,
    /// Whether the last rewrite succeeded (true before any).
    pub last_ok: AtomicBool,
    /// Seconds the last rewrite took (-1 before any), Redis's `aof_last_rewrite_time_sec`.
    pub last_time_sec: AtomicI64,
    /// Unix seconds of the last failure, for the growth rule's back-off.
    pub last_failure: AtomicU64,
    /// Wakes the rewriter task.
    pub wanted: Notify,
    /// Growth rule: rewrite when the file grew by this percentage over its size after the last
    /// rewrite (0: never automatically).
    pub auto_percentage: AtomicU64,
    /// Growth rule: and only once it is at least this large.
    pub auto_min_size: AtomicU64,
}

impl Default for Rewrites {
    fn default() -> Self {
        Rewrites {
            in_progress: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_time_sec: AtomicI64::new(-1),
            last_failure: AtomicU64::new(0),
            wanted: Notify::new(),
            auto_percentage: AtomicU64::new(100),
            auto_min_size: AtomicU64::new(64 << 20),
        }
    }
}

/// Why `BGREWRITEAOF` was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteRefused {
    /// One is running or about to start.
    InProgress,
}

/// What a rewrite's start hands to the rest of it.
struct Started {
    /// The file records went to before the switch: fsynced off the lock (under `everysec` its tail
    /// may not be on the disk yet, and it stays listed until the switch).
    old_file: Arc<dyn LogFile>,
    /// The increment created at the start: it and every later one stay after the switch.
    first_incr: u64,
    /// `SWAPDB`s counted at the start.
    swaps: u64,
    /// Keys and volatile keys of each database at the instant the increment began, when the
    /// keyspace was frozen for the base.
    counts: Vec<(usize, usize)>,
}

impl Aof {
    /// Sets the growth rule (`--auto-aof-rewrite-percentage`, `--auto-aof-rewrite-min-size`).
    pub fn set_auto_rewrite(&self, percentage: u64, min_size: u64) {
        self.rewrites.auto_percentage.store(percentage, Ordering::Relaxed);
        self.rewrites.auto_min_size.store(min_size, Ordering::Relaxed);
    }

    /// `BGREWRITEAOF`: asks the rewriter task for a rewrite, unless one is running or asked for.
    pub fn request_rewrite(&self) -> Result<(), RewriteRefused> {
        if self.rewrites.in_progress.load(Ordering::Acquire) || self.rewrites.scheduled.swap(true, Ordering::AcqRel) {
            return Err(RewriteRefused::InProgress);
        }
        self.rewrites.wanted.notify_one();
        Ok(())
    }

    /// Waits until a rewrite is asked for; then [`Aof::rewrite`] should run.
    pub async fn rewrite_wanted(&self) {
        self.rewrites.wanted.notified().await;
    }

    /// Redis's growth rule, checked every 100 ms: the file is at least `--auto-aof-rewrite-min-size`
    /// and grew by `--auto-aof-rewrite-percentage` since the last rewrite (or the start), and no
    /// rewrite failed in the last minute.
    pub fn rewrite_due(&self, now_secs: u64) -> bool {
        let percentage = self.rewrites.auto_percentage.load(Ordering::Relaxed);
        let current = self.current_size();
        if percentage == 0 || current < self.rewrites.auto_min_size.load(Ordering::Relaxed) {
            return false;
        }
        if self.rewrites.in_progress.load(Ordering::Acquire) || self.rewrites.scheduled.load(Ordering::Acquire) {
            return false;
        }
        if !self.rewrites.last_ok.load(Ordering::Relaxed)
            && now_secs.saturating_sub(self.rewrites.last_failure.load(Ordering::Relaxed)) < AUTO_RETRY_DELAY_SECS
        {
            return false;
        }
        let base = self.base_size.load(Ordering::Relaxed).max(1);
        let growth = (u128::from(current) * 100 / u128::from(base)).saturating_sub(100);
        growth >= u128::from(percentage)
    }

    /// Bytes of every file replay would read: Redis's `aof_current_size`.
    pub fn current_size(&self) -> u64 {
        self.closed_len.load(Ordering::Relaxed) + self.current_len.load(Ordering::Relaxed)
    }

    /// `INFO persistence`'s AOF fields, in Redis's order and with its names; `aof` is `None` when
    /// the server runs without `--appendonly` (Redis still prints the rewrite fields then).
    pub fn info_fields(aof: Option<&Aof>) -> Vec<(&'static str, String)> {
        let ok = |ok: bool| if ok { "ok" } else { "err" }.to_owned();
        let Some(aof) = aof else {
            return vec![
                ("aof_enabled", "0".to_owned()),
                ("aof_rewrite_in_progress", "0".to_owned()),
                ("aof_rewrite_scheduled", "0".to_owned()),
                ("aof_last_rewrite_time_sec", "-1".to_owned()),
                ("aof_last_bgrewrite_status", "ok".to_owned()),
                ("aof_last_write_status", "ok".to_owned()),
            ];
        };
        let flag = |b: &AtomicBool| u8::from(b.load(Ordering::Relaxed)).to_string();
        let rewrites = &aof.rewrites;
        vec![
            ("aof_enabled", "1".to_owned()),
            ("aof_rewrite_in_progress", flag(&rewrites.in_progress)),
            ("aof_rewrite_scheduled", flag(&rewrites.scheduled)),
            ("aof_last_rewrite_time_sec", rewrites.last_time_sec.load(Ordering::Relaxed).to_string()),
            ("aof_last_bgrewrite_status", ok(rewrites.last_ok.load(Ordering::Relaxed))),
            ("aof_last_write_status", ok(!aof.is_failing())),
            ("aof_current_size", aof.current_size().to_string()),
            ("aof_base_size", aof.base_size.load(Ordering::Relaxed).to_string()),
            ("aof_pending_rewrite", flag(&rewrites.scheduled)),
            ("aof_buffer_length", aof.pending_len().to_string()),
            ("aof_pending_bio_fsync", u8::from(aof.fsync_started_ms.load(Ordering::Relaxed) != 0).to_string()),
            ("aof_delayed_fsync", aof.delayed_fsyncs().to_string()),
        ]
    }

    /// Runs one rewrite to the end (on a blocking thread: it writes the whole keyspace), retrying
    /// when a `SWAPDB` interrupted the walk. `abort` says the server is stopping: the rewrite stops
    /// between chunks and leaves the files as they were (plus an increment), which load fine.
    pub fn rewrite(&self, dbs: &[Db], abort: &dyn Fn() -> bool) -> Result<(), AofError> {
        // In this order, so `INFO` never shows neither while one is asked for.
        self.rewrites.in_progress.store(true, Ordering::Release);
        self.rewrites.scheduled.store(false, Ordering::Release);
        let started = Instant::now();
        let mut result = Err(AofError::Interrupted);
        for _ in 0..SWAP_RETRIES {
            result = self.rewrite_once(dbs, abort);
            if !matches!(result, Err(AofError::Interrupted)) || abort() {
                break;
            }
            tracing::info!("a SWAPDB ran during the append-only file rewrite; starting it again");
        }
        let elapsed = started.elapsed().as_secs() as i64;
        self.rewrites.last_time_sec.store(elapsed, Ordering::Relaxed);
        self.rewrites.last_ok.store(result.is_ok(), Ordering::Relaxed);
        match &result {
            Ok(()) => tracing::info!(
                path = %self.path.display(),
                bytes = self.current_size(),
                millis = started.elapsed().as_millis() as u64,
                "background append only file rewriting terminated with success"
            ),
            Err(err) => {
                self.rewrites.last_failure.store(crate::db::now_ms() / 1000, Ordering::Relaxed);
                tracing::error!(%err, "background append only file rewriting failed");
            }
        }
        self.rewrites.in_progress.store(false, Ordering::Release);
        result
    }

    fn rewrite_once(&self, dbs: &[Db], abort: &dyn Fn() -> bool) -> Result<(), AofError> {
        // Held for the whole rewrite: only rewrites change the layout, one at a time.
        let mut layout = self.layout.lock();
        // The base is a point-in-time walk: one at a time (a BGSAVE in progress finishes first),
        // taken before the writer lock so commits never wait for another walk.
        let _walk = dbs.first().map(Db::exclusive_walk);
        let swaps = dbs.first().map_or(0, Db::swaps);
        let start = self.begin_rewrite(&mut layout, swaps, dbs)?;
        // The keyspace is frozen from the switch on: whatever ends the rewrite frees what was kept.
        let _thaw = Thaw(dbs);
        let dir = self.path.clone();
        // What was written to the old file before the switch is still listed; make it as durable
        // as the policy promised, without any lock.
        if let Err(source) = start.old_file.sync() {
            tracing::warn!(error = %source, "fsync of the previous append-only file failed");
        }
        let temp = dir.join(format!("{TEMP_BASE_PREFIX}{}.aof", std::process::id()));
        let rdb_base = *self.rdb_base.lock();
        let written = match write_base_file(&temp, dbs, &start, rdb_base, abort) {
            Ok(written) => written,
            Err(err) => {
                let _ = fs::remove_file(&temp);
                return Err(err);
            }
        };
        let Layout::Dir(manifest) = &*layout else {
            let _ = fs::remove_file(&temp);
            return Err(AofError::Interrupted);
        };
        let base = if rdb_base.is_some() { manifest.next_rdb_base() } else { manifest.next_base() };
        let base_path = dir.join(&base.name);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AofError::Io { path, source }
        };
        fs::rename(&temp, &base_path).map_err(io(&base_path))?;
        let base_len = fs::metadata(&base_path).map_err(io(&base_path))?.len();
        let mut next = manifest.rewritten(base, start.first_incr);
        write_manifest(&dir, &next)?;
        // The switch is safe on disk: the old files are history now.
        let kept_incrs: u64 = next
            .incrs
            .iter()
            .filter(|info| Some(info.seq) != next.incrs.last().map(|last| last.seq))
            .map(|info| fs::metadata(dir.join(&info.name)).map_or(0, |m| m.len()))
            .sum();
        self.closed_len.store(base_len + kept_incrs, Ordering::Relaxed);
        self.base_size.store(self.current_size(), Ordering::Relaxed);
        tracing::debug!(keys = written.keys, bytes = base_len, "append-only base written");
        delete_history(&dir, &mut next);
        *layout = Layout::Dir(next);
        Ok(())
    }

    /// The switch point: what was recorded so far goes to the old file, what is recorded from now
    /// on to a fresh increment that the manifest already names. The increment and the manifest are
    /// prepared first, holding nothing; then, under the writer lock (commits wait for this, reads
    /// never), pending records are written, the manifest renamed into place and the directory
    /// fsynced, and the file handle swapped. A single file (the layout of earlier versions) becomes
    /// the directory layout here: the file is the first base.
    fn begin_rewrite(&self, layout: &mut Layout, swaps: u64, dbs: &[Db]) -> Result<Started, AofError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AofError::Io { path, source }
        };
        let (next, staging) = match &*layout {
            Layout::Dir(manifest) => {
                let mut next = manifest.clone();
                next.incrs.push(manifest.next_incr());
                (next, None)
            }
            Layout::Single => {
                let staging = migrating_dir(&self.path);
                if staging.exists() {
                    fs::remove_dir_all(&staging).map_err(io(&staging))?;
                }
                fs::create_dir(&staging).map_err(io(&staging))?;
                let base = FileInfo { name: format!("{FILE_PREFIX}.1.base.aof"), seq: 1, kind: FileType::Base };
                let mut next = Manifest { base: Some(base), ..Manifest::default() };
                next.incrs.push(next.next_incr());
                (next, Some(staging))
            }
        };
        let Some(incr) = next.incrs.last().cloned() else { return Err(AofError::Interrupted) };
        let dir = staging.clone().unwrap_or_else(|| self.path.clone());
        let incr_path = dir.join(&incr.name);
        let cleanup = || {
            let _ = fs::remove_file(&incr_path);
            let _ = fs::remove_file(dir.join(TEMP_MANIFEST));
            if let Some(staging) = &staging {
                let _ = fs::remove_dir_all(staging);
            }
        };
        let prepared = (|| {
            let file = OpenOptions::new().create(true).write(true).truncate(true).open(&incr_path);
            let file = file.map_err(io(&incr_path))?;
            write_temp_manifest(&dir, &next)?;
            sync_dir(&dir)?;
            Ok::<_, AofError>(file)
        })();
        let new_file: Arc<dyn LogFile> = match prepared {
            Ok(file) => Arc::new(file),
            Err(err) => {
                cleanup();
                return Err(err);
            }
        };

        let mut writer = self.writer.lock();
        // The switch of the record stream and the freeze of the keyspace for the base happen at one
        // instant, under every shard lock: a change recorded before it is in the old files and in
        // the base, one recorded after it in the new increment only (see `Db::freeze_all_then`).
        // So replaying base then increment applies every change once, even changes that are not
        // idempotent (a list push).
        let (counts, end) = Db::freeze_all_then(dbs, REWRITE_CHUNK, || {
            let mut buffer = self.buffer.lock();
            std::mem::swap(&mut buffer.pending, &mut writer.out);
            // The fresh file starts with a `SELECT`, as every file does.
            buffer.selected = usize::MAX;
            self.recorded.load(Ordering::Acquire)
        });
        let cleanup = || {
            Db::thaw_all(dbs);
            cleanup();
        };
        if let Err(err) = self.write_out(&mut writer, end) {
            drop(writer);
            cleanup();
            return Err(err);
        }
        let switched = match &staging {
            None => {
                let manifest = self.path.join(MANIFEST_NAME);
                fs::rename(self.path.join(TEMP_MANIFEST), &manifest)
                    .map_err(io(&manifest))
                    .and_then(|()| sync_dir(&self.path))
            }
            // The manifest takes its real name before the directory takes the file's place: a stop or
            // crash before the new base is written must find it (and the old file as base), or the
            // start would see a directory without a manifest, that is, an empty data set.
            Some(staging) => fs::rename(staging.join(TEMP_MANIFEST), staging.join(MANIFEST_NAME))
                .map_err(io(&staging.join(MANIFEST_NAME)))
                .and_then(|()| migrate(&self.path, staging, next.base.as_ref().map_or("", |b| b.name.as_str()))),
        };
        if let Err(err) = switched {
            drop(writer);
            cleanup();
            return Err(err);
        }
        let old_file = std::mem::replace(&mut *self.current.lock(), new_file);
        self.closed_len.fetch_add(writer.file_len, Ordering::Relaxed);
        writer.file_len = 0;
        self.current_len.store(0, Ordering::Relaxed);
        drop(writer);
        tracing::info!(path = %self.path.display(), incr = %incr.name, "background append only file rewriting started");
        *layout = Layout::Dir(next);
        Ok(Started { old_file, first_incr: incr.seq, swaps, counts })
    }
}

/// Writes the base to `temp` and fsyncs it.
fn write_base_file(
    temp: &Path,
    dbs: &[Db],
    start: &Started,
    rdb_base: Option<WriteOptions>,
    abort: &dyn Fn() -> bool,
) -> Result<BaseWritten, AofError> {
    let io = |source| AofError::Io { path: temp.to_owned(), source };
    let file = File::create(temp).map_err(io)?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let written = match rdb_base {
        // Redis's default (`aof-use-rdb-preamble yes`): the base is a snapshot.
        // The libraries follow the base as records (see `server::aof_rewriter`).
        Some(options) => write_frozen_snapshot(dbs, &[], &start.counts, start.swaps, &mut out, options, abort)
            .map(|written| BaseWritten { keys: written.keys })
            .map_err(|failure| match failure {
                WriteFailure::Io(source) => io(source),
                WriteFailure::Aborted => AofError::Aborted,
                WriteFailure::Interrupted => AofError::Interrupted,
            })?,
        None => write_base(dbs, &mut out, start.swaps, abort).map_err(|failure| match failure {
            BaseFailure::Io(source) => io(source),
            BaseFailure::Aborted => AofError::Aborted,
            BaseFailure::Swapped => AofError::Interrupted,
        })?,
    };
    let file = out.into_inner().map_err(|err| io(err.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(written)
}

/// The directory a single file is turned into the directory layout in, before it takes the file's
/// place: `<PATH>.migrating`.
pub(super) fn migrating_dir(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".migrating");
    path.with_file_name(name)
}

/// Moves the single file at `path` into `staging` as its base and `staging` to `path`, syncing both
/// directories. A crash between the two renames leaves no file at `path` and a complete `staging`,
/// which [`super::recover_migration`] finishes at the next start.
fn migrate(path: &Path, staging: &Path, base_name: &str) -> Result<(), AofError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| AofError::Io { path, source }
    };
    let base = staging.join(base_name);
    fs::rename(path, &base).map_err(io(path))?;
    if let Err(err) = fs::rename(staging, path) {
        // Put the file back: the old layout stays in use.
        let _ = fs::rename(&base, path);
        return Err(io(path)(err));
    }
    sync_dir(path)?;
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => sync_dir(Path::new(".")),
    }
}

/// Writes `manifest` to the temporary manifest in `dir`, fsynced, ready to be renamed into place.
fn write_temp_manifest(dir: &Path, manifest: &Manifest) -> Result<(), AofError> {
    let temp = dir.join(TEMP_MANIFEST);
    let io = |source| AofError::Io { path: temp.clone(), source };
    let mut file = File::create(&temp).map_err(io)?;
    file.write_all(manifest.format().as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Replaces the manifest in `dir` atomically: temp file, fsync, rename, fsync of the directory.
pub(super) fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), AofError> {
    write_temp_manifest(dir, manifest)?;
    let path = dir.join(MANIFEST_NAME);
    fs::rename(dir.join(TEMP_MANIFEST), &path).map_err(|source| AofError::Io { path, source })?;
    sync_dir(dir)
}

/// fsyncs a directory, so the renames and creations in it survive a power cut.
pub(super) fn sync_dir(dir: &Path) -> Result<(), AofError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| AofError::Io { path: dir.to_owned(), source })
}

/// Deletes the history files of `manifest` and, once they are gone, writes it without them. Best
/// effort: a file left behind is deleted at the next start or rewrite.
pub(super) fn delete_history(dir: &Path, manifest: &mut Manifest) {
    if manifest.history.is_empty() {
        return;
    }
    manifest.history.retain(|info| match fs::remove_file(dir.join(&info.name)) {
        Ok(()) => false,
        Err(err) if err.kind() == io::ErrorKind::NotFound => false,
        Err(err) => {
            tracing::warn!(file = %info.name, error = %err, "could not delete an old append-only file");
            true
        }
    });
    if let Err(err) = write_manifest(dir, manifest) {
        tracing::warn!(%err, "could not write the manifest without the deleted files");
    }
}

/// Removes what an interrupted rewrite left in `dir`: its temporary base and manifest.
pub(super) fn remove_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_BASE_PREFIX) || name == TEMP_MANIFEST {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_has_one_record_per_live_key_and_a_select_per_database() {
        let dbs: Vec<Db> = (0..3).map(|_| Db::new(4)).collect();
        for i in 0..3000 {
            dbs[0].with_key(format!("k{i}").as_bytes(), |slot| slot.put(b"v", None));
        }
        dbs[2].with_key(b"t", |slot| slot.put(b"x", Some(crate::db::now_ms() + 60_000)));
        dbs[2].with_key(b"gone", |slot| slot.put(b"x", Some(1)));
        let mut out = Vec::new();
        Db::freeze_all(&dbs, REWRITE_CHUNK);
        let written = write_base(&dbs, &mut out, dbs[0].swaps(), &|| false).map_err(|_| ()).unwrap();
        assert_eq!(written.keys, 3001);
        let copy: Vec<Db> = (0..3).map(|_| Db::new(4)).collect();
        let path = std::env::temp_dir().join(format!("tinykv-base-unit-{}.aof", std::process::id()));
        fs::write(&path, &out).unwrap();
        let replayed = super::super::replay(&path, File::open(&path).unwrap(), &copy, false).unwrap();
        fs::remove_file(&path).unwrap();
        // One SET per key, one SELECT per database with keys.
        assert_eq!(replayed.records, 3001 + 2);
        assert_eq!(copy[0].len(), 3000);
        assert_eq!(copy[1].len(), 0);
        assert_eq!(copy[2].get(b"t").as_deref(), Some(&b"x"[..]));
        assert!(copy[2].with_key(b"t", |slot| slot.expires_at()).flatten().is_some());
    }

    #[test]
    fn a_swap_during_the_walk_interrupts_it() {
        let dbs: Vec<Db> = {
            let counters = Arc::new(crate::db::Counters::default());
            (0..2).map(|_| Db::with_counters(4, Arc::clone(&counters))).collect()
        };
        for i in 0..100 {
            dbs[0].with_key(format!("k{i}").as_bytes(), |slot| slot.put(b"v", None));
        }
        let swaps = dbs[0].swaps();
        Db::freeze_all(&dbs, REWRITE_CHUNK);
        let mut out = Vec::new();
        let first = std::cell::Cell::new(true);
        let result = write_base(&dbs, &mut out, swaps, &|| {
            if first.replace(false) {
                Db::swap(&dbs[0], &dbs[1]);
            }
            false
        });
        assert!(matches!(result, Err(BaseFailure::Swapped)));
    }
}
