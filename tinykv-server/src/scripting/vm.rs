//! The interpreter: created once with Redis's sandbox (see `prelude.lua`), it compiles and caches
//! scripts, runs them under the error handler, and hands each `redis.call` to the server through
//! a [`CallContext`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use parking_lot::Mutex;
use tinykv_proto::{Protocol, Reply};

use super::functions::Libraries;
use super::libs::{self, Rand48};
use super::RunState;
use super::{cmsgpack, convert, lua_struct};

/// The sandbox and the `redis` API, in Lua.
const PRELUDE: &str = include_str!("prelude.lua");

/// Lua instructions between two checks for `SCRIPT KILL` and deadlines, as Redis's hook.
const HOOK_EVERY: u32 = 100_000;

/// `EVAL`-only scripts the cache keeps (the oldest go first, as Redis 7.4 does); scripts loaded
/// with `SCRIPT LOAD` stay until `SCRIPT FLUSH`, up to [`MAX_LOADED`].
const MAX_EVAL_SCRIPTS: usize = 500;
/// Most scripts `SCRIPT LOAD` may keep.
const MAX_LOADED: usize = 100_000;

/// How the server runs one `redis.call`/`redis.pcall` for the running script.
pub trait CallContext {
    /// Runs `args` as a command, its reply shaped for protocol `resp`; refusals are error replies.
    fn call(&mut self, args: Vec<Bytes>, resp: Protocol) -> Reply;
}

/// What a script's `#!lua flags=...` line or a function's registration allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// `no-writes`: write commands are refused.
    pub no_writes: bool,
    /// `allow-oom`: write commands run over maxmemory.
    pub allow_oom: bool,
    /// The script declared its flags (a shebang line), so Redis's stricter rules apply.
    pub declared: bool,
}

/// A script or function ready to run.
#[derive(Clone)]
pub struct Prepared {
    func: Function,
    /// The SHA1 (scripts) or function name, as errors name it.
    pub name: String,
    /// Its flags.
    pub flags: ScriptFlags,
    eval_mode: bool,
}

/// A cached script; its compiled function is in [`Vm`]'s `compiled` table, not held from Rust:
/// mlua has room for about 8,000 handles in all (and panics past it), the cache keeps more.
struct Cached {
    flags: ScriptFlags,
    /// Loaded by `SCRIPT LOAD`, not just run by `EVAL`: not evicted.
    loaded: bool,
}

/// The interpreter and what it holds: compiled scripts and function libraries.
pub struct Vm {
    lua: Lua,
    env: Table,
    base: Table,
    runner: Function,
    ctx: Table,
    /// The real `redis` table (scripts see a read-only view): `call` and `pcall` are set per run.
    redis: Table,
    /// Switches the `redis` scripts see between the script API and the library-loading one.
    set_loading: Function,
    scripts: HashMap<String, Cached>,
    /// The compiled scripts, by SHA1.
    compiled: Table,
    eval_order: VecDeque<String>,
    loaded: usize,
    /// The `FUNCTION` libraries.
    pub libraries: Libraries,
    state: Arc<RunState>,
    memory_limit: usize,
}

impl Vm {
    /// A sandboxed interpreter; `state` is what its hook checks for kills and deadlines.
    pub fn new(state: Arc<RunState>, memory_limit: usize) -> mlua::Result<Vm> {
        let lua = Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::new())?;
        let private = lua.create_table()?;
        let ctx = lua.create_table()?;
        private.set("ctx", &ctx)?;
        private.set("version", crate::execute::REDIS_COMPAT_VERSION)?;
        private.set("version_num", version_num(crate::execute::REDIS_COMPAT_VERSION))?;
        private.set(
            "error_text",
            lua.create_function(|_, text: mlua::String| Ok(convert::error_text(&text.to_string_lossy())))?,
        )?;
        private.set("sha1hex", lua.create_function(|_, text: mlua::String| Ok(sha1hex(&text.as_bytes())))?)?;
        private.set(
            "log",
            lua.create_function(|_, (level, message): (i64, mlua::String)| {
                let message = message.to_string_lossy();
                match level {
                    3 => tracing::warn!(target: "script", "{message}"),
                    2 => tracing::info!(target: "script", "{message}"),
                    _ => tracing::debug!(target: "script", "{message}"),
                }
                Ok(())
            })?,
        )?;
        let rand = Arc::new(Mutex::new(Rand48::default()));
        let next = Arc::clone(&rand);
        private.set("lrand48", lua.create_function(move |_, ()| Ok(next.lock().next()))?)?;
        private.set(
            "srand48",
            lua.create_function(move |_, seed: f64| {
                *rand.lock() = Rand48::seeded(seed as i64 as i32);
                Ok(())
            })?,
        )?;
        private.set(
            "check_function_name",
            lua.create_function(|_, name: mlua::String| Ok(super::functions::check_name(&name.as_bytes()).err()))?,
        )?;
        private.set("bit", libs::bit(&lua)?)?;
        // What one encoder call may build: the memory limit (0, no limit, leaves them uncapped too).
        let output_cap = if memory_limit == 0 { usize::MAX } else { memory_limit };
        private.set("cjson", libs::cjson(&lua, output_cap)?)?;
        private.set("cmsgpack", cmsgpack::functions(&lua, output_cap)?)?;
        private.set("struct", lua_struct::functions(&lua, output_cap)?)?;
        private.set("handler", lua.create_function(error_handler)?)?;
        private.set("acl_check_cmd", lua.create_function(acl_check_cmd)?)?;
        private.set(
            "error_message",
            lua.create_function(|_, err: Value| {
                Ok(match err {
                    Value::Error(err) => raised_text(&err).unwrap_or_else(|| lua_error_text(&err)),
                    other => other.to_string().unwrap_or_default(),
                })
            })?,
        )?;
        lua.globals().set("__tinykv", private)?;
        let (env, base, runner, redis, set_loading): (Table, Table, Function, Table, Function) =
            lua.load(PRELUDE).set_name("@__redis__").eval()?;
        install_hook(&lua, &state, HOOK_EVERY);
        lua.set_memory_limit(memory_limit)?;
        let compiled = lua.create_table()?;
        Ok(Vm {
            lua,
            env,
            base,
            runner,
            ctx,
            redis,
            set_loading,
            scripts: HashMap::new(),
            compiled,
            eval_order: VecDeque::new(),
            loaded: 0,
            libraries: Libraries::default(),
            state,
            memory_limit,
        })
    }

    /// Bytes the interpreter holds.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Compiles `body` in the sandbox under `chunk` (`@user_script`, `@user_function`).
    pub(super) fn compile(&self, body: &[u8], chunk: &str) -> Result<Function, String> {
        self.lua.load(body).set_name(chunk).set_environment(self.env.clone()).into_function().map_err(|err| match err {
            mlua::Error::SyntaxError { message, .. } => message,
            mlua::Error::MemoryError(message) => message,
            other => other.to_string(),
        })
    }

    /// `SCRIPT LOAD` (`loaded`) or the first `EVAL` of `body`: compiled and cached under its SHA1.
    pub fn load_script(&mut self, body: &[u8], loaded: bool) -> Result<String, String> {
        let sha = sha1hex(body);
        if let Some(cached) = self.scripts.get_mut(&sha) {
            if loaded && !cached.loaded {
                cached.loaded = true;
                self.loaded += 1;
                self.eval_order.retain(|s| s != &sha);
            }
            return Ok(sha);
        }
        if loaded && self.loaded >= MAX_LOADED {
            return Err("ERR script cache is full: SCRIPT FLUSH frees it".to_owned());
        }
        let (flags, code) = shebang(body)?;
        let func = self
            .compile(&code, "@user_script")
            .map_err(|message| format!("ERR Error compiling script (new function): {message}"))?;
        if loaded {
            self.loaded += 1;
        } else {
            if self.eval_order.len() >= MAX_EVAL_SCRIPTS {
                if let Some(oldest) = self.eval_order.pop_front() {
                    self.scripts.remove(&oldest);
                    let _ = self.compiled.raw_set(oldest.as_str(), Value::Nil);
                }
            }
            self.eval_order.push_back(sha.clone());
        }
        self.compiled.raw_set(sha.as_str(), func).map_err(|err| format!("ERR {err}"))?;
        self.scripts.insert(sha.clone(), Cached { flags, loaded });
        Ok(sha)
    }

    /// Whether a script of this SHA1 (any case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        std::str::from_utf8(sha).is_ok_and(|sha| self.scripts.contains_key(&sha.to_ascii_lowercase()))
    }

    /// `SCRIPT FLUSH`: forgets every cached script, and collects the garbage they leave.
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
        let _ = self.compiled.clear();
        self.eval_order.clear();
        self.loaded = 0;
        let _ = self.lua.gc_collect();
    }

    /// The script `EVAL` runs (`body`) or `EVALSHA` names (`sha`); `-NOSCRIPT` when not cached.
    pub fn prepare_script(&mut self, name: &[u8], is_sha: bool) -> Result<Prepared, Reply> {
        let sha = if is_sha {
            String::from_utf8_lossy(name).to_ascii_lowercase()
        } else {
            self.load_script(name, false).map_err(Reply::error)?
        };
        let Some(cached) = self.scripts.get(&sha) else {
            return Err(Reply::error("NOSCRIPT No matching script. Please use EVAL."));
        };
        let func: Function = self.compiled.raw_get(sha.as_str()).map_err(|err| Reply::error(format!("ERR {err}")))?;
        Ok(Prepared { func, name: sha, flags: cached.flags, eval_mode: true })
    }

    /// The function `FCALL` names; `ERR Function not found` when there is none.
    pub fn prepare_function(&self, name: &[u8]) -> Result<Prepared, Reply> {
        let function = self.libraries.function(name).ok_or_else(|| Reply::error("ERR Function not found"))?;
        Ok(Prepared {
            func: function.callback.clone(),
            name: function.name.clone(),
            flags: function.flags,
            eval_mode: false,
        })
    }

    /// Runs a prepared script with `keys` and `args`, each `redis.call` through `ctx`; the reply is
    /// for a caller speaking `caller`.
    pub fn invoke(&mut self, prepared: &Prepared, keys: &[Bytes], args: &[Bytes], ctx: &mut dyn CallContext) -> Reply {
        let lua = &self.lua;
        let outcome = lua.scope(|scope| {
            // `ctx` is used by both functions, one call at a time (a command never runs a script).
            let state = std::rc::Rc::new((std::cell::RefCell::new(ctx), self.ctx.clone()));
            let for_call = std::rc::Rc::clone(&state);
            let call = scope.create_function(move |lua, argv: MultiValue| command(lua, argv, true, &for_call))?;
            let pcall = scope.create_function(move |lua, argv: MultiValue| command(lua, argv, false, &state))?;
            self.redis.raw_set("call", call)?;
            self.redis.raw_set("pcall", pcall)?;
            self.ctx.raw_set("resp", 2)?;
            let keys =
                lua.create_sequence_from(keys.iter().map(|k| lua.create_string(k)).collect::<mlua::Result<Vec<_>>>()?)?;
            let args =
                lua.create_sequence_from(args.iter().map(|a| lua.create_string(a)).collect::<mlua::Result<Vec<_>>>()?)?;
            if prepared.eval_mode {
                self.base.raw_set("KEYS", &keys)?;
                self.base.raw_set("ARGV", &args)?;
            }
            let (ok, value): (bool, Value) =
                self.runner.call((prepared.func.clone(), prepared.eval_mode, keys, args))?;
            let resp = match self.ctx.raw_get::<i64>("resp")? {
                3 => Protocol::Resp3,
                _ => Protocol::Resp2,
            };
            Ok(if ok { convert::lua_to_reply(&value, resp) } else { raised(&value, &prepared.name) })
        });
        if self.state.tight_hook.swap(false, std::sync::atomic::Ordering::Relaxed) {
            install_hook(&self.lua, &self.state, HOOK_EVERY);
        }
        // A script that failed for memory leaves garbage the next one must not pay for.
        if self.lua.used_memory() > self.memory_limit / 2 {
            let _ = self.lua.gc_collect();
        }
        let _ = self.redis.raw_set("call", Value::Nil);
        let _ = self.redis.raw_set("pcall", Value::Nil);
        let _ = self.base.raw_set("KEYS", Value::Nil);
        let _ = self.base.raw_set("ARGV", Value::Nil);
        outcome.unwrap_or_else(|err| {
            let text = rust_error_text(&err);
            Reply::error(format!(
                "ERR Error running script {}, {:.100}",
                prepared.name,
                text.trim_start_matches("ERR ")
            ))
        })
    }

    /// Runs a library's top level with `redis.register_function` collecting into a table, under
    /// Redis's 500 ms load deadline; returns the collected registrations.
    pub(super) fn run_library(&self, func: &Function) -> Result<Vec<Table>, String> {
        let collected = self.lua.create_table().map_err(|err| err.to_string())?;
        self.ctx.raw_set("registering", &collected).map_err(|err| err.to_string())?;
        self.state.set_deadline(Some(LOAD_TIMEOUT_MS));
        let _ = self.set_loading.call::<()>(true);
        let result: mlua::Result<(bool, Value)> = self.runner.call((func.clone(), true, Value::Nil, Value::Nil));
        let _ = self.set_loading.call::<()>(false);
        self.state.set_deadline(None);
        if self.state.tight_hook.swap(false, std::sync::atomic::Ordering::Relaxed) {
            install_hook(&self.lua, &self.state, HOOK_EVERY);
        }
        let _ = self.ctx.raw_set("registering", Value::Nil);
        match result {
            Ok((true, _)) if collected.raw_len() > super::functions::MAX_FUNCTIONS => Err(too_many_functions()),
            Ok((true, _)) => Ok(collected.sequence_values::<Table>().filter_map(Result::ok).collect()),
            Ok((false, value)) => Err(match raised(&value, "") {
                Reply::Error(text) => text.split(" script: ").next().unwrap_or_default().to_owned(),
                _ => "ERR unknown error".to_owned(),
            }),
            Err(err) => Err(rust_error_text(&err)),
        }
    }
}

/// Checks for a kill or a deadline every `every` instructions. Once the running code is to stop,
/// the hook runs at every instruction (as Redis's turns to every line), so a `pcall` cannot catch
/// the error and carry on.
fn install_hook(lua: &Lua, state: &Arc<RunState>, every: u32) {
    let hook_state = Arc::clone(state);
    lua.set_hook(HookTriggers::new().every_nth_instruction(every), move |lua, debug| match hook_state.interrupted() {
        // Never inside the API's own Lua (the wrapper that catches the error must return it).
        Some(_) if debug.source().source.is_some_and(|source| source.starts_with("@__redis__")) => {
            Ok(VmState::Continue)
        }
        Some(text) => {
            if every != 1 {
                install_hook(lua, &hook_state, 1);
                hook_state.tight_hook.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(mlua::Error::runtime(text))
        }
        None => Ok(VmState::Continue),
    });
}

/// Why a library was refused for its number of functions.
pub(super) fn too_many_functions() -> String {
    format!("too many functions: TinyKV keeps at most {} in all", super::functions::MAX_FUNCTIONS)
}

/// How long a library's top level may run at `FUNCTION LOAD`, as Redis's.
const LOAD_TIMEOUT_MS: u64 = 500;

/// The reply for an error a script raised: `{err=..., source=..., line=...}` from the handler.
fn raised(value: &Value, name: &str) -> Reply {
    let Value::Table(table) = value else {
        let text = match value {
            Value::String(s) => s.to_string_lossy(),
            Value::Error(err) => rust_error_text(err),
            _ => "execution failure".to_owned(),
        };
        return Reply::error(format!("ERR Error running script {name}, {text:.100}"));
    };
    let message = match table.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => String::new(),
    };
    let source = table.raw_get::<Option<mlua::String>>("source").ok().flatten();
    let line = table.raw_get::<Option<i64>>("line").ok().flatten();
    let text = match (source, line) {
        (Some(source), Some(line)) if !name.is_empty() => {
            format!("{message} script: {name}, on {}:{line}.", source.to_string_lossy())
        }
        _ => message,
    };
    Reply::Error(text.replace(['\r', '\n'], " ").into())
}

/// What `redis.call` and `redis.pcall` share while a script runs: the server's side, and the
/// table holding the protocol the script asked for.
type CallState<'a> = std::rc::Rc<(std::cell::RefCell<&'a mut dyn CallContext>, Table)>;

/// One `redis.call` (`raise`) or `redis.pcall`.
fn command(lua: &Lua, argv: MultiValue, raise: bool, state: &CallState<'_>) -> mlua::Result<Value> {
    let resp = match state.1.raw_get::<i64>("resp") {
        Ok(3) => Protocol::Resp3,
        _ => Protocol::Resp2,
    };
    let reply = match command_args(argv) {
        Ok(args) => match state.0.try_borrow_mut() {
            Ok(mut ctx) => ctx.call(args, resp),
            Err(_) => Reply::error("ERR recursive redis.call"),
        },
        Err(text) => Reply::error(format!("ERR {text}")),
    };
    match reply {
        // Raised from Rust, so no Lua frame of ours hides the script's line.
        Reply::Error(text) if raise => Err(mlua::Error::external(Raised(convert::error_text(&format!("-{text}"))))),
        reply => convert::reply_to_lua(lua, reply, resp),
    }
}

/// `redis.acl_check_cmd(...)`: whether the user may run the command. TinyKV has no ACL users, so
/// every client is Redis's `default` user, allowed everything: true for any command TinyKV has
/// (with its subcommand, for a container), Redis's error for any other.
fn acl_check_cmd(_: &Lua, argv: MultiValue) -> mlua::Result<bool> {
    let raise = |text: &str| mlua::Error::external(Raised(convert::error_text(&format!("-{text}"))));
    let args = command_args(argv).map_err(|text| raise(&format!("ERR {text}")))?;
    let spec = tinykv_proto::table::lookup(&args[0]);
    let known = match (spec, args.get(1)) {
        (Some(spec), Some(sub)) if !spec.subcommands.is_empty() => spec.subcommand(sub).is_some(),
        (found, _) => found.is_some(),
    };
    if !known {
        return Err(raise("ERR Invalid command passed to redis.acl_check_cmd()"));
    }
    Ok(true)
}

/// An error `redis.call` raises: the text of the command's error, as Redis's `{err=...}`.
#[derive(Debug)]
struct Raised(String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// The text of a [`Raised`] error, however deep mlua wrapped it.
fn raised_text(err: &mlua::Error) -> Option<String> {
    match err {
        mlua::Error::CallbackError { cause, .. } => raised_text(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<Raised>().map(|raised| raised.0.clone()),
        _ => None,
    }
}

/// The Lua side of a Rust error: its root message, with `ERR` in front unless it has a code.
fn rust_error_text(err: &mlua::Error) -> String {
    match err {
        mlua::Error::CallbackError { cause, .. } => rust_error_text(cause),
        mlua::Error::RuntimeError(text) if text.starts_with("ERR ") => text.clone(),
        mlua::Error::RuntimeError(text) | mlua::Error::MemoryError(text) => format!("ERR {text}"),
        mlua::Error::SyntaxError { message, .. } => format!("ERR {message}"),
        other => format!("ERR {other}"),
    }
}

/// A Rust error as Lua code catching it sees it: the message a C function would have raised.
fn lua_error_text(err: &mlua::Error) -> String {
    match err {
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        mlua::Error::RuntimeError(text) | mlua::Error::MemoryError(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Redis's `__redis__err__handler`: turns whatever was raised into `{err=...}` and adds where the
/// script was (the first frame that is neither C nor the API's own Lua).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(table) => table,
        Value::String(s) => {
            let table = lua.create_table()?;
            table.raw_set("err", format!("ERR {}", s.to_string_lossy()))?;
            table
        }
        Value::Error(err) => {
            let table = lua.create_table()?;
            table.raw_set("err", raised_text(&err).unwrap_or_else(|| rust_error_text(&err)))?;
            table
        }
        other => {
            let table = lua.create_table()?;
            table.raw_set("err", format!("ERR {}", other.to_string().unwrap_or_default()))?;
            table
        }
    };
    for level in 1..64 {
        let Some(frame) = lua.inspect_stack(level) else { break };
        let source = frame.source();
        if source.what == "C" {
            continue;
        }
        let name = source.source.as_deref().unwrap_or_default().to_owned();
        if name.starts_with("@__redis__") {
            continue;
        }
        table.raw_set("source", name)?;
        table.raw_set("line", frame.curr_line())?;
        break;
    }
    Ok(table)
}

/// A `redis.call`'s arguments as a command: strings and numbers (as `%.17g`), as Redis's
/// `luaArgsToRedisArgv` takes them.
fn command_args(argv: MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if argv.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    argv.into_iter()
        .map(|value| match value {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => Ok(Bytes::from(n.to_string())),
            Value::Number(n) => Ok(Bytes::from(libs::format_g(n, 17))),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// `#!lua flags=...` on a script's first line: its flags, and the code without that line (a blank
/// line in its place, so line numbers stay).
fn shebang(body: &[u8]) -> Result<(ScriptFlags, Vec<u8>), String> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), body.to_vec()));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]).into_owned();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags { declared: true, ..ScriptFlags::default() };
    for word in words {
        let Some(list) = word.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {word}"));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    let mut code = Vec::with_capacity(body.len());
    code.extend_from_slice(&body[end..]);
    Ok((flags, code))
}

/// The hex SHA1 of `bytes`, as `redis.sha1hex` and the script cache name scripts.
pub fn sha1hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

/// `7.2.0` as `0x070200`, as `redis.REDIS_VERSION_NUM`.
fn version_num(version: &str) -> i64 {
    version.split('.').take(3).fold(0, |acc, part| (acc << 8) | part.parse::<i64>().unwrap_or(0))
}
