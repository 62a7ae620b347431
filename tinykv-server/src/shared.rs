//! State every connection shares: the keyspace, the configuration, counters and persistence handles.
//!
//! It sits below everything that serves clients (`server -> connection -> execute -> shared`) and
//! imports nothing above it, so a command family can be tested with a `Shared` and no server.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use thiserror::Error;

use crate::access::Tracking;
use crate::aof::{Aof, AofError};
use crate::clients::Clients;
use crate::config::Config;
use crate::db::{Counters, Db};
use crate::evict::Evictor;
use crate::isolation::Isolation;
use crate::pubsub::PubSub;
use crate::rdb::encode::WriteOptions;
use crate::rdb::{RdbError, Snapshots};
use crate::replication::Replication;
use crate::scripting::Scripting;
use crate::settings::Settings;
use crate::slowlog::SlowLog;
use crate::stats::CommandStats;

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The append-only file could not be replayed or opened.
    #[error(transparent)]
    Aof(#[from] AofError),
    /// The RDB snapshot could not be loaded at start, or the final save at shutdown failed.
    #[error(transparent)]
    Rdb(#[from] RdbError),
}

/// Counters for `INFO stats`, updated without locks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted since start, rejected ones included.
    pub total_connections_received: AtomicU64,
    /// Connections refused because `--max-clients` were connected.
    pub rejected_connections: AtomicU64,
    /// Clients connected now.
    pub connected_clients: AtomicUsize,
}

/// State every connection shares.
pub struct Shared {
    /// The databases (`--databases`, 16 by default); a client works in the one it `SELECT`ed.
    pub dbs: Box<[Db]>,
    /// What every database adds to (memory used, keys expired and evicted), and the eviction settings.
    pub counters: Arc<Counters>,
    /// Makes room under `--maxmemory` (the eviction pool).
    pub evictor: Evictor,
    /// What the server was started with.
    pub config: Config,
    /// Counters for `INFO`.
    pub stats: Stats,
    /// When the server started, for `INFO server`'s uptime.
    pub started: Instant,
    /// The port actually bound (differs from the config's when it asked for 0).
    pub port: u16,
    /// The append-only file, with `--appendonly`.
    pub aof: Option<Aof>,
    /// RDB snapshots: `SAVE`, `BGSAVE`, the `--save` rules, the final save.
    pub rdb: Snapshots,
    /// Every command holds this shared; `EXEC` holds it exclusively, so a transaction's commands run
    /// with no other client's in between, however many worker threads there are.
    pub isolation: Isolation,
    /// (when, total commands) samples taken by `INFO` for `instantaneous_ops_per_sec`.
    pub ops_samples: Mutex<VecDeque<(Instant, u64)>>,
    /// The configuration as it is now (`CONFIG SET` changes it); read this, not `config`, for
    /// anything that can change at run time.
    pub settings: Settings,
    /// Connected clients (`CLIENT LIST`, `CLIENT KILL`) and `CLIENT PAUSE`.
    pub clients: Clients,
    /// `SLOWLOG`.
    pub slowlog: SlowLog,
    /// Pub/sub subscriptions and the subscribers' mailboxes.
    pub pubsub: PubSub,
    /// Per-command, per-error and keyspace hit counters (`INFO commandstats`, `errorstats`, `stats`).
    pub command_stats: CommandStats,
    /// Whether the background sweep removes expired keys (`DEBUG SET-ACTIVE-EXPIRE`).
    pub active_expire: AtomicBool,
    /// Replication: the stream to this server's replicas, the link to its primary.
    pub replication: Replication,
    next_client_id: AtomicU64,
    // --- lists ---
    /// Clients blocked on lists (`BLPOP` and friends), by key, first come first served.
    pub blocking: crate::blocking::Blocking,
    // --- scripting ---
    /// The Lua interpreter and what other clients see of the script it runs.
    pub scripting: Scripting,
    /// The `Arc` this state lives in (set by [`crate::server::run`]): a connection hands a script to
    /// a blocking thread with it, so the async worker stays free.
    pub owner: std::sync::OnceLock<std::sync::Weak<Shared>>,
}

impl Shared {
    /// Shared state for a server bound to `port`, with the append-only file (if configured)
    /// replayed into the keyspace.
    pub fn open(config: Config, port: u16) -> Result<Shared, ServerError> {
        let counters = Arc::new(Counters::new(Tracking::new(&config)));
        let dbs: Box<[Db]> = (0..config.databases.max(1))
            .map(|index| Db::with_counters(Self::SHARDS, Arc::clone(&counters)).numbered(usize::from(index)))
            .collect();
        let scripting = Scripting::new(config.lua_memory_limit);
        let aof = match &config.appendonly {
            Some(path) => {
                let (aof, replayed) = Aof::open(path, config.appendfsync, &dbs)?;
                scripting.replay_functions(&replayed.functions);
                aof.set_auto_rewrite(config.auto_aof_rewrite_percentage, config.auto_aof_rewrite_min_size);
                aof.set_rdb_base(config.aof_use_rdb_preamble.then_some(WriteOptions {
                    compression: config.rdbcompression,
                    checksum: config.rdbchecksum,
                    aof_base: true,
                }));
                let keys: usize = dbs.iter().map(Db::len).sum();
                tracing::info!(path = %path.display(), records = replayed.records, keys, "append-only file loaded");
                Some(aof)
            }
            None => None,
        };
        // As Redis, which cannot chdir there: a --dir that is not a directory stops the start, rather
        // than every save failing later.
        if !config.dir.is_dir() {
            let source = std::io::Error::new(std::io::ErrorKind::NotADirectory, "--dir is not an existing directory");
            return Err(RdbError::Io { path: config.dir.clone(), source }.into());
        }
        let options =
            WriteOptions { compression: config.rdbcompression, checksum: config.rdbchecksum, aof_base: false };
        let rdb = Snapshots::new(&config.dir, config.dbfilename(), config.save_rules(), options);
        // As Redis: with an append-only file, it is the source of truth and the snapshot is not read.
        if aof.is_none() {
            if let Some(loaded) = crate::rdb::load(rdb.path(), &dbs)? {
                tracing::info!(
                    path = %rdb.path().display(),
                    version = loaded.version,
                    written_by = loaded.written_by.as_deref().unwrap_or("unknown"),
                    keys = loaded.keys,
                    expired = loaded.expired,
                    "RDB snapshot loaded"
                );
                scripting.load_libraries(&loaded.functions);
            }
        }
        // --- scripting ---
        rdb.set_functions(scripting.library_codes());
        let settings = Settings::new(&config);
        let replication = Replication::new(config.repl_backlog_size, config.replicaof.clone());
        counters.set_replica(replication.is_replica());
        counters.on_delete(replication.delete_hook());
        Ok(Shared {
            dbs,
            counters,
            evictor: Evictor::default(),
            settings,
            clients: Clients::default(),
            slowlog: SlowLog::default(),
            pubsub: PubSub::new(config.client_output_buffer_limit_pubsub, config.client_output_buffer_limit_normal),
            command_stats: CommandStats::default(),
            active_expire: AtomicBool::new(true),
            replication,
            config,
            stats: Stats::default(),
            started: Instant::now(),
            port,
            aof,
            rdb,
            isolation: Isolation::default(),
            blocking: crate::blocking::Blocking::default(),
            ops_samples: Mutex::new(VecDeque::new()),
            next_client_id: AtomicU64::new(1),
            scripting,
            owner: std::sync::OnceLock::new(),
        })
    }

    /// Shards in the keyspace: a power of two, several per core, so two clients rarely wait for
    /// the same lock and no single table grows large enough for a resize to stall anyone.
    pub const SHARDS: usize = 64;

    /// Database `index`, which the caller has checked against `--databases` (`SELECT` does).
    pub fn db(&self, index: usize) -> &Db {
        &self.dbs[index.min(self.dbs.len() - 1)]
    }

    /// Estimated bytes held by keys and values in every database.
    pub fn used_memory(&self) -> usize {
        self.counters.used_memory()
    }

    /// The `Arc` holding this state, when a server runs it.
    pub fn owned(&self) -> Option<std::sync::Arc<Shared>> {
        self.owner.get().and_then(std::sync::Weak::upgrade)
    }

    /// A fresh client id.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// `DEBUG CHANGE-REPL-ID`: a new replication id, and no secondary one.
    pub fn change_replication_id(&self) {
        self.replication.change_id();
    }
}
