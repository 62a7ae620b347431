//! Taking snapshots: `SAVE` (on the caller's thread), `BGSAVE` and the `--save` rules (on a
//! blocking thread, driven by [`saver`]), the last save's time and outcome, the count of changes
//! since, and a save at shutdown.
//!
//! A snapshot is written to `temp-<pid>.rdb` in `--dir`, synced, renamed over `--dbfilename` and
//! the directory synced, so a crash at any moment leaves either the old file or the new one whole.
//! No fork: the walk copies the keyspace a chunk at a time under short shard locks (see
//! [`write_snapshot`] for what that gives), so memory grows by one chunk, not by the data set.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::encode::{write_snapshot, WriteFailure, WriteOptions, Written};
use super::RdbError;
use crate::db::{now_ms, Db};

/// How often the `--save` rules are checked (Redis checks them in its 100 ms cron).
const RULES_CHECK: Duration = Duration::from_millis(100);
/// After a failed background save, rules wait this long before trying again (Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`).
const RETRY_DELAY_SECS: u64 = 5;
/// Redis's reply to writes while snapshots fail (`stop-writes-on-bgsave-error yes`, its default).
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to \
disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during \
writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about \
the RDB error.";
/// How often a snapshot starts again when `SWAPDB`s keep interrupting it.
const SWAP_RETRIES: usize = 5;
/// Write buffer of a snapshot file.
const WRITE_BUFFER: usize = 1 << 20;

/// One `--save` rule: snapshot when at least `changes` writes happened and more than `seconds`
/// passed since the last successful save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveRule {
    /// Seconds since the last save.
    pub seconds: u64,
    /// Writes since the last save.
    pub changes: u64,
}

/// Redis's rules when it runs without a configuration file: `3600 1 300 100 60 10000`.
pub const REDIS_DEFAULT_RULES: [SaveRule; 3] = [
    SaveRule { seconds: 3600, changes: 1 },
    SaveRule { seconds: 300, changes: 100 },
    SaveRule { seconds: 60, changes: 10_000 },
];

/// Parses `--save`: pairs of `<seconds> <changes>` separated by spaces; `""` means no rules.
pub fn parse_save_rules(text: &str) -> Result<Vec<SaveRule>, String> {
    let numbers: Vec<u64> = text
        .split_whitespace()
        .map(|word| word.parse::<u64>().map_err(|_| format!("'{word}' is not a number of seconds or changes")))
        .collect::<Result<_, _>>()?;
    if numbers.len() % 2 != 0 {
        return Err("expected pairs of <seconds> <changes>, e.g. \"3600 1 300 100\"".to_owned());
    }
    Ok(numbers.chunks_exact(2).map(|pair| SaveRule { seconds: pair[0], changes: pair[1] }).collect())
}

/// How a `SHUTDOWN` asked the server to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownRequest {
    /// `SAVE` (`Some(true)`), `NOSAVE` (`Some(false)`), or as the `--save` rules say (`None`).
    pub save: Option<bool>,
    /// `FORCE`: exit even if the final save fails.
    pub force: bool,
}

/// Where snapshots go, when they are taken, and how the last one went. One per server, in `Shared`.
pub struct Snapshots {
    dir: PathBuf,
    path: PathBuf,
    /// The `--save` rules, as `CONFIG SET save` last set them.
    rules: Mutex<Vec<SaveRule>>,
    /// Whether `rules` is not empty, read without the lock (a write checks it while saves fail).
    has_rules: AtomicBool,
    options: WriteOptions,
    /// Writes since the last successful save (Redis's `dirty`).
    changes: AtomicU64,
    /// Unix seconds of the last successful save; the start time until then, as Redis's `LASTSAVE`.
    last_save: AtomicU64,
    /// Unix seconds of the last background save attempt.
    last_bgsave_try: AtomicU64,
    /// Whether the last background save succeeded (true before any).
    last_bgsave_ok: AtomicBool,
    /// A `SAVE` or a background save is running; only one at a time.
    saving: AtomicBool,
    /// Whether the running save is a background one (for `INFO`'s `rdb_bgsave_in_progress`).
    background: AtomicBool,
    /// `BGSAVE` asked the saver task for a save.
    bgsave_wanted: Notify,
    /// The saver task has stopped (the server is stopping): a `BGSAVE` now would never run.
    saver_gone: AtomicBool,
    /// Tells a background save to stop: the server is shutting down and saves in the foreground.
    abort: AtomicBool,
    /// `SHUTDOWN` was received: the server stops, saving as asked.
    shutdown: CancellationToken,
    shutdown_request: Mutex<Option<ShutdownRequest>>,
    // --- scripting ---
    /// The code of every `FUNCTION` library, written into each snapshot (kept current by the
    /// scripting commands, so a save needs no lock of the interpreter).
    functions: Mutex<Vec<bytes::Bytes>>,
}

impl Snapshots {
    /// Snapshots written to `dir/dbfilename` under `rules` (empty: only on request).
    pub fn new(dir: &Path, dbfilename: &str, rules: Vec<SaveRule>, options: WriteOptions) -> Snapshots {
        let now = now_ms() / 1000;
        Snapshots {
            dir: dir.to_owned(),
            path: dir.join(dbfilename),
            has_rules: AtomicBool::new(!rules.is_empty()),
            rules: Mutex::new(rules),
            options,
            changes: AtomicU64::new(0),
            last_save: AtomicU64::new(now),
            last_bgsave_try: AtomicU64::new(0),
            last_bgsave_ok: AtomicBool::new(true),
            saving: AtomicBool::new(false),
            background: AtomicBool::new(false),
            bgsave_wanted: Notify::new(),
            saver_gone: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            shutdown_request: Mutex::new(None),
            functions: Mutex::new(Vec::new()),
        }
    }

    /// The function libraries' code as snapshots write it (for a replica's full sync too).
    pub fn functions(&self) -> Vec<bytes::Bytes> {
        self.functions.lock().clone()
    }

    /// Sets the libraries the next snapshots hold.
    pub fn set_functions(&self, codes: Vec<bytes::Bytes>) {
        *self.functions.lock() = codes;
    }

    /// The snapshot file: `--dir` joined with `--dbfilename`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `--save` rules in force.
    pub fn rules(&self) -> Vec<SaveRule> {
        self.rules.lock().clone()
    }

    /// Puts `rules` in force (`CONFIG SET save`): the next check of the rules uses them.
    pub fn set_rules(&self, rules: Vec<SaveRule>) {
        let mut held = self.rules.lock();
        self.has_rules.store(!rules.is_empty(), Ordering::Relaxed);
        *held = rules;
    }

    fn has_rules(&self) -> bool {
        self.has_rules.load(Ordering::Relaxed)
    }

    /// Counts `n` writes toward the `--save` rules. One atomic add: it is on every write's path.
    pub fn changed(&self, n: u64) {
        self.changes.fetch_add(n, Ordering::Relaxed);
    }

    /// Writes since the last successful save (`rdb_changes_since_last_save`).
    pub fn changes_since_last_save(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// Unix seconds of the last successful save, or of the start (`LASTSAVE`, `rdb_last_save_time`).
    pub fn last_save(&self) -> u64 {
        self.last_save.load(Ordering::Relaxed)
    }

    /// Whether a background save is running (`rdb_bgsave_in_progress`).
    pub fn bgsave_in_progress(&self) -> bool {
        self.saving.load(Ordering::Acquire) && self.background.load(Ordering::Relaxed)
    }

    /// Whether the last background save succeeded (`rdb_last_bgsave_status`).
    pub fn last_bgsave_ok(&self) -> bool {
        self.last_bgsave_ok.load(Ordering::Relaxed)
    }

    /// Redis's refusal of writes while snapshots fail: with save rules set and the last background
    /// save failed, a write would be acknowledged but not persisted as configured. Clears when a save
    /// succeeds (the rules retry every few seconds). `None` when writes may go on.
    pub fn write_refusal(&self) -> Option<String> {
        (!self.last_bgsave_ok() && self.has_rules()).then(|| MISCONF.to_owned())
    }

    /// Claims the right to save; false when a save is already running.
    fn begin(&self, background: bool) -> bool {
        let claimed = self.saving.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if claimed {
            self.background.store(background, Ordering::Relaxed);
        }
        claimed
    }

    fn end(&self) {
        self.saving.store(false, Ordering::Release);
    }

    /// `SAVE`: writes a snapshot now, on this thread. `Err(RdbError::InProgress)` while another
    /// save runs.
    pub fn save(&self, dbs: &[Db]) -> Result<Written, RdbError> {
        if !self.begin(false) {
            return Err(RdbError::InProgress);
        }
        let result = self.write_file(dbs, &|| false);
        self.end();
        result
    }

    /// `BGSAVE`: asks the saver task for a snapshot and returns at once. `Err(RdbError::InProgress)`
    /// while another save runs.
    pub fn request_bgsave(&self) -> Result<(), RdbError> {
        if !self.begin(true) {
            return Err(RdbError::InProgress);
        }
        // Checked after claiming: either this sees the saver gone, or the saver, leaving, sees the claim.
        if self.saver_gone.load(Ordering::SeqCst) {
            self.end();
            return Err(RdbError::Aborted);
        }
        self.bgsave_wanted.notify_one();
        Ok(())
    }

    /// Whether a `--save` rule is due now (Redis's cron test, retrying a failed save after 5 s).
    fn rules_due(&self) -> bool {
        let now = now_ms() / 1000;
        let changes = self.changes_since_last_save();
        let since_save = now.saturating_sub(self.last_save());
        let may_retry = self.last_bgsave_ok()
            || now.saturating_sub(self.last_bgsave_try.load(Ordering::Relaxed)) > RETRY_DELAY_SECS;
        may_retry && self.rules.lock().iter().any(|rule| changes >= rule.changes && since_save > rule.seconds)
    }

    /// Writes the file: temp file, buffered write, fsync, rename, fsync of the directory. On success
    /// the changes counted before it started are settled and `LASTSAVE` moves.
    fn write_file(&self, dbs: &[Db], abort: &dyn Fn() -> bool) -> Result<Written, RdbError> {
        let started = Instant::now();
        let changes_before = self.changes_since_last_save();
        let temp = self.dir.join(format!("temp-{}.rdb", std::process::id()));
        let mut result = self.write_to(&temp, dbs, abort);
        // A SWAPDB during the walk: start again (each try is a new instant).
        for _ in 0..SWAP_RETRIES {
            if !matches!(result, Err(RdbError::Interrupted)) {
                break;
            }
            tracing::info!("a SWAPDB ran during the snapshot; starting it again");
            result = self.write_to(&temp, dbs, abort);
        }
        match &result {
            Ok(written) => {
                self.changes.fetch_sub(changes_before, Ordering::Relaxed);
                self.last_save.store(now_ms() / 1000, Ordering::Relaxed);
                // Any successful save, SAVE's too, lifts the refusal of writes (as in Redis).
                self.last_bgsave_ok.store(true, Ordering::Relaxed);
                tracing::info!(
                    path = %self.path.display(),
                    keys = written.keys,
                    bytes = written.bytes,
                    millis = started.elapsed().as_millis() as u64,
                    "DB saved on disk"
                );
            }
            Err(err) => {
                let _ = std::fs::remove_file(&temp);
                tracing::error!(%err, "saving the RDB snapshot failed");
            }
        }
        result
    }

    fn write_to(&self, temp: &Path, dbs: &[Db], abort: &dyn Fn() -> bool) -> Result<Written, RdbError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RdbError::Io { path, source }
        };
        let file = File::create(temp).map_err(io(temp))?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
        let functions = self.functions.lock().clone();
        let written =
            write_snapshot(dbs, &functions, &mut out, self.options, abort).map_err(|failure| match failure {
                WriteFailure::Io(source) => RdbError::Io { path: temp.to_owned(), source },
                WriteFailure::Aborted => RdbError::Aborted,
                WriteFailure::Interrupted => RdbError::Interrupted,
            })?;
        let file = out.into_inner().map_err(|err| io(temp)(err.into_error()))?;
        file.sync_all().map_err(io(temp))?;
        drop(file);
        std::fs::rename(temp, &self.path).map_err(io(&self.path))?;
        // The rename itself must survive a power cut: sync the directory that records it.
        File::open(&self.dir).and_then(|dir| dir.sync_all()).map_err(io(&self.dir))?;
        Ok(written)
    }

    /// `SHUTDOWN`: asks the server to stop, saving as `request` says.
    pub fn request_shutdown(&self, request: ShutdownRequest) {
        *self.shutdown_request.lock() = Some(request);
        self.shutdown.cancel();
    }

    /// Resolves once `SHUTDOWN` was received; the accept loop waits on it beside the signals.
    pub async fn shutdown_requested(&self) {
        self.shutdown.cancelled().await;
    }

    /// The final save of a stopping server: when `SHUTDOWN SAVE` asked for it, or when `--save`
    /// rules are set and `SHUTDOWN NOSAVE` did not say otherwise (SIGTERM and SIGINT included), as
    /// redis-server does. A running background save is stopped first. A failure is an error unless
    /// `SHUTDOWN ... FORCE` was given.
    pub fn save_at_shutdown(&self, dbs: &[Db]) -> Result<(), RdbError> {
        let request = self.shutdown_request.lock().unwrap_or_default();
        if !request.save.unwrap_or_else(|| self.has_rules()) {
            return Ok(());
        }
        self.abort.store(true, Ordering::Relaxed);
        while !self.begin(false) {
            // A background save notices `abort` within one chunk.
            std::thread::sleep(Duration::from_millis(5));
        }
        let result = self.write_file(dbs, &|| false);
        self.end();
        match result {
            Err(err) if request.force => {
                tracing::error!(%err, "the final save failed; exiting anyway (SHUTDOWN FORCE)");
                Ok(())
            }
            result => result.map(drop),
        }
    }
}

/// The background saver: runs each `BGSAVE` and each save the `--save` rules call for, on a
/// blocking thread, until `shutdown`. `parts` finds the snapshots and the keyspace in the shared
/// state (which this module cannot name without a cycle).
pub async fn saver<S: Send + Sync + 'static>(
    state: Arc<S>,
    parts: fn(&S) -> (&Snapshots, &[Db]),
    shutdown: CancellationToken,
) {
    let mut rules_check = tokio::time::interval(RULES_CHECK);
    rules_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        {
            let (snapshots, _) = parts(&state);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    // A BGSAVE asked for but not started never will be: release it for the final save.
                    snapshots.saver_gone.store(true, Ordering::SeqCst);
                    if snapshots.bgsave_in_progress() {
                        snapshots.end();
                    }
                    return;
                }
                () = snapshots.bgsave_wanted.notified() => {}
                _ = rules_check.tick() => {
                    if !snapshots.rules_due() || !snapshots.begin(true) {
                        continue;
                    }
                    tracing::info!(changes = snapshots.changes_since_last_save(), "saving: a --save rule is due");
                }
            }
            snapshots.last_bgsave_try.store(now_ms() / 1000, Ordering::Relaxed);
            tracing::info!("background saving started");
        }
        let worker = Arc::clone(&state);
        let mut job = tokio::task::spawn_blocking(move || {
            let (snapshots, dbs) = parts(&worker);
            snapshots.write_file(dbs, &|| snapshots.abort.load(Ordering::Relaxed))
        });
        let result = tokio::select! {
            result = &mut job => result,
            _ = shutdown.cancelled() => {
                parts(&state).0.abort.store(true, Ordering::Relaxed);
                job.await
            }
        };
        let (snapshots, _) = parts(&state);
        let ok = matches!(result, Ok(Ok(_)));
        if !ok && !matches!(result, Ok(Err(RdbError::Aborted))) {
            snapshots.last_bgsave_ok.store(false, Ordering::Relaxed);
            if snapshots.has_rules() {
                tracing::error!(
                    "background saving failed: write commands are refused with MISCONF until a save succeeds"
                );
            }
        }
        snapshots.end();
        if ok {
            tracing::info!("background saving terminated with success");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_rules_parse_as_redis_writes_them() {
        assert_eq!(parse_save_rules("").unwrap(), vec![]);
        assert_eq!(parse_save_rules("3600 1 300 100 60 10000").unwrap(), REDIS_DEFAULT_RULES.to_vec());
        assert!(parse_save_rules("3600").is_err());
        assert!(parse_save_rules("3600 x").is_err());
        assert!(parse_save_rules("-1 1").is_err());
    }

    #[test]
    fn save_writes_the_file_and_settles_the_changes() {
        let dir = std::env::temp_dir().join(format!("tinykv-rdb-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let snapshots = Snapshots::new(&dir, "unit.rdb", vec![], WriteOptions::default());
        let dbs = [Db::new(4)];
        dbs[0].with_key(b"k", |slot| slot.put(b"v", None));
        snapshots.changed(3);
        assert!(snapshots.begin(true));
        assert!(matches!(snapshots.save(&dbs), Err(RdbError::InProgress)));
        snapshots.end();
        assert_eq!(snapshots.save(&dbs).unwrap().keys, 1);
        assert_eq!(snapshots.changes_since_last_save(), 0);
        let loaded = [Db::new(4)];
        assert_eq!(crate::rdb::load(snapshots.path(), &loaded).unwrap().map(|l| l.keys), Some(1));
        assert!(!dir.join(format!("temp-{}.rdb", std::process::id())).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
