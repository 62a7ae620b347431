//! The scripting engine: one Lua 5.1 interpreter for the server, as Redis has, running `EVAL`
//! scripts and `FUNCTION` libraries one at a time.
//!
//! ```text
//! vm.rs        the interpreter: sandbox, the `redis` API, the libraries Redis loads
//! convert.rs   Lua values <-> replies (RESP2 and RESP3), as Redis converts them
//! functions.rs `#!lua name=...` libraries and `redis.register_function`
//! libs.rs      `bit`, `cjson` and Redis's `math.random`
//! cmsgpack.rs  `cmsgpack` (MessagePack), lua_struct.rs `struct` (binary records)
//! native.rs    arguments and error texts of Lua C functions, for the Rust-written libraries
//! ```
//!
//! A script runs with every other client held off (the exclusive side of [`crate::isolation`]),
//! and off the async workers (the connection hands it to a blocking thread), so a long script
//! never freezes the runtime: past `busy-reply-threshold` other clients are answered `-BUSY` and
//! may `SCRIPT KILL` it. The [`RunState`] is what they read; it lives outside the interpreter's
//! lock, which the running script holds.

mod cmsgpack;
mod convert;
mod functions;
mod libs;
mod lua_struct;
mod native;
mod vm;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

pub use functions::Library;
pub use vm::{CallContext, Vm};

/// What other clients can see of the script running now: when it started, whether it wrote, and
/// whether someone asked to kill it. Read without the interpreter's lock.
#[derive(Debug)]
pub struct RunState {
    epoch: Instant,
    /// Milliseconds since `epoch` when the running script started, plus one; 0 when none runs.
    started: AtomicU64,
    /// The running script is a function (`FCALL`), not an `EVAL`.
    function: AtomicBool,
    /// The running script has run a write command: `SCRIPT KILL` no longer stops it.
    wrote: AtomicBool,
    /// `SCRIPT KILL`/`FUNCTION KILL` asked (or `SHUTDOWN NOSAVE`): the next hook call raises.
    kill: AtomicBool,
    /// A deadline for the running code in milliseconds since `epoch` (plus one), 0 for none:
    /// `FUNCTION LOAD` runs a library's top level under one.
    deadline: AtomicU64,
    /// The hook runs at every instruction, to stop code that was killed.
    tight_hook: AtomicBool,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            epoch: Instant::now(),
            started: AtomicU64::new(0),
            function: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            deadline: AtomicU64::new(0),
            tight_hook: AtomicBool::new(false),
        }
    }
}

/// Why `SCRIPT KILL` did not kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillRefusal {
    /// No script runs.
    NotBusy,
    /// It wrote already.
    Unkillable,
    /// `SCRIPT KILL` of a function, or `FUNCTION KILL` of a script.
    WrongKind,
}

impl RunState {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Marks a script (or function) as running from now.
    pub fn begin(&self, function: bool) {
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.function.store(function, Ordering::Relaxed);
        self.started.store(self.now(), Ordering::Release);
    }

    /// Marks the running script as finished.
    pub fn end(&self) {
        self.started.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
    }

    /// Whether a script runs now.
    pub fn running(&self) -> bool {
        self.started.load(Ordering::Acquire) != 0
    }

    /// Whether a script has run longer than `threshold_ms`: other clients then get `-BUSY`.
    /// Some(true) for a function, Some(false) for an `EVAL`.
    pub fn busy(&self, threshold_ms: u64) -> Option<bool> {
        let started = self.started.load(Ordering::Acquire);
        (started != 0 && self.now().saturating_sub(started) >= threshold_ms)
            .then(|| self.function.load(Ordering::Relaxed))
    }

    /// Notes that the running script wrote.
    pub fn wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// Whether the running script wrote.
    pub fn has_written(&self) -> bool {
        self.wrote.load(Ordering::Relaxed)
    }

    /// `SCRIPT KILL` (`function: false`) or `FUNCTION KILL`.
    pub fn kill(&self, function: bool) -> Result<(), KillRefusal> {
        if !self.running() {
            return Err(KillRefusal::NotBusy);
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Err(KillRefusal::Unkillable);
        }
        if self.function.load(Ordering::Relaxed) != function {
            return Err(KillRefusal::WrongKind);
        }
        self.kill.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `SHUTDOWN NOSAVE` while a script runs: it stops even if it wrote, so the server can exit.
    pub fn kill_for_shutdown(&self) {
        if self.running() {
            self.kill.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the hook should stop the running code, and with what error text.
    fn interrupted(&self) -> Option<&'static str> {
        if self.kill.load(Ordering::Relaxed) {
            return Some("ERR Script killed by user with SCRIPT KILL...");
        }
        let deadline = self.deadline.load(Ordering::Relaxed);
        if deadline != 0 && self.now() > deadline {
            return Some("ERR FUNCTION LOAD timeout");
        }
        None
    }

    /// Sets (or with `None` clears) the deadline of the code about to run.
    fn set_deadline(&self, millis: Option<u64>) {
        self.deadline.store(millis.map_or(0, |ms| self.now() + ms), Ordering::Relaxed);
    }
}

/// The engine as the server holds it: the interpreter behind its lock, the run state beside it.
pub struct Scripting {
    /// Created on first use, so a server that never runs a script never pays for one.
    vm: Mutex<Option<Vm>>,
    /// What other clients read while a script runs.
    pub run: Arc<RunState>,
    memory_limit: usize,
    /// Script calls wait here for their turn before taking the isolation lock.
    queue: Mutex<()>,
}

impl Scripting {
    /// An engine whose interpreter may use at most `memory_limit` bytes.
    pub fn new(memory_limit: u64) -> Scripting {
        Scripting {
            vm: Mutex::new(None),
            run: Arc::new(RunState::default()),
            memory_limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
            queue: Mutex::new(()),
        }
    }

    /// A script call's turn: held while it takes the isolation lock and runs. `None` when
    /// `give_up` says so while waiting (the running script is busy: the caller answers `-BUSY`).
    pub fn turn(&self, give_up: impl Fn() -> bool) -> Option<parking_lot::MutexGuard<'_, ()>> {
        loop {
            if let Some(guard) = self.queue.try_lock_for(std::time::Duration::from_millis(10)) {
                return Some(guard);
            }
            if give_up() {
                return None;
            }
        }
    }

    /// Runs `f` with the interpreter (created on first use). Errors creating it are Redis-style
    /// error replies.
    pub fn with_vm<R>(&self, f: impl FnOnce(&mut Vm) -> R) -> Result<R, String> {
        let mut guard = self.vm.lock();
        if guard.is_none() {
            *guard = Some(Vm::new(Arc::clone(&self.run), self.memory_limit).map_err(|err| {
                tracing::error!(%err, "could not create the Lua interpreter");
                format!("ERR could not create the Lua interpreter: {err}")
            })?);
        }
        match guard.as_mut() {
            Some(vm) => Ok(f(vm)),
            None => Err("ERR no Lua interpreter".to_owned()),
        }
    }

    /// `SCRIPT FLUSH`: a new interpreter (the old one's memory is freed), keeping the libraries.
    pub fn flush_scripts(&self) {
        let mut guard = self.vm.lock();
        if let Some(vm) = guard.as_mut() {
            vm.flush_scripts();
        }
    }

    /// Rebuilds the libraries from the append-only file's `FUNCTION` records, in order.
    pub fn replay_functions(&self, records: &[tinykv_proto::Request]) {
        for record in records {
            let args = &record.args;
            let outcome = self.with_vm(|vm| match args.get(1).map(|sub| sub.to_ascii_uppercase()).as_deref() {
                Some(b"LOAD") => match args.last() {
                    Some(code) if args.len() >= 3 => vm.load_library(code, true).map(drop),
                    _ => Err("FUNCTION LOAD without code".to_owned()),
                },
                Some(b"DELETE") => {
                    args.get(2).map(|name| vm.libraries.delete(name));
                    Ok(())
                }
                Some(b"FLUSH") => {
                    vm.libraries.flush();
                    Ok(())
                }
                _ => Err("unknown FUNCTION record".to_owned()),
            });
            if let Err(err) | Ok(Err(err)) = outcome {
                tracing::warn!(%err, "a FUNCTION record of the append-only file was not applied");
            }
        }
    }

    /// Loads the libraries an RDB snapshot held.
    pub fn load_libraries(&self, codes: &[Vec<u8>]) {
        for code in codes {
            let code = bytes::Bytes::copy_from_slice(code);
            if let Err(err) | Ok(Err(err)) = self.with_vm(|vm| vm.load_library(&code, true).map(drop)) {
                tracing::warn!(%err, "a function library of the RDB snapshot was not loaded");
            }
        }
    }

    /// A replica's full sync: its libraries become those of the primary's RDB (as Redis empties
    /// its functions with its data before loading); returns the codes now loaded.
    pub fn replace_libraries(&self, codes: &[Vec<u8>]) -> Vec<bytes::Bytes> {
        if let Err(err) = self.with_vm(|vm| vm.libraries.flush()) {
            tracing::warn!(%err, "the libraries could not be emptied before the primary's were loaded");
        }
        self.load_libraries(codes);
        self.library_codes()
    }

    /// The code of every library, for the append-only file's rewrite and snapshots (none before
    /// the interpreter exists).
    pub fn library_codes(&self) -> Vec<bytes::Bytes> {
        self.vm.lock().as_ref().map_or_else(Vec::new, Vm::library_codes)
    }

    /// Bytes the interpreter uses, for `INFO memory`'s `used_memory_lua`.
    pub fn used_memory(&self) -> usize {
        self.vm.try_lock().and_then(|vm| vm.as_ref().map(Vm::used_memory)).unwrap_or(0)
    }
}
