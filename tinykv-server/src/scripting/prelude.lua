-- The sandbox and the `redis` API, run once when the interpreter is created, with the real
-- globals. Rust leaves its primitives in `__tinykv`; this builds what scripts see and removes
-- everything else. Chunk name `@__redis__`: the error handler skips frames of this file.
local priv = __tinykv
__tinykv = nil
local ctx = priv.ctx
local raw_error, type, select, tostring, tonumber = error, type, select, tostring, tonumber
local setmetatable, setfenv, pairs, floor = setmetatable, setfenv, pairs, math.floor
local raw_loadstring, raw_pcall, unpack = loadstring, pcall, unpack

local function push_error(msg)
  return { err = priv.error_text(msg) }
end

local function raise(msg)
  raw_error(push_error(msg))
end

local redis = {}
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION = priv.version
redis.REDIS_VERSION_NUM = priv.version_num

function redis.error_reply(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return push_error('wrong number or type of arguments')
  end
  if e:sub(1, 1) ~= '-' then
    e = '-' .. e
  end
  return push_error(e)
end

function redis.status_reply(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return push_error('wrong number or type of arguments')
  end
  return { ok = s }
end

function redis.sha1hex(...)
  if select('#', ...) ~= 1 then
    raise('wrong number of arguments')
  end
  return priv.sha1hex(tostring((...)))
end

function redis.log(...)
  local n = select('#', ...)
  if n < 2 then
    raise('redis.log() requires two arguments or more.')
  end
  local level = ...
  if type(level) ~= 'number' and tonumber(level) == nil then
    raise('First argument must be a number (log level).')
  end
  level = tonumber(level)
  if level < 0 or level > 3 then
    raise('Invalid log level.')
  end
  local parts = {}
  for i = 2, n do
    local v = select(i, ...)
    if type(v) == 'string' or type(v) == 'number' then
      parts[#parts + 1] = tostring(v)
    end
  end
  priv.log(level, table.concat(parts, ' '))
end

function redis.setresp(...)
  if select('#', ...) ~= 1 then
    raise('redis.setresp() requires one argument.')
  end
  local resp = tonumber((...))
  if resp ~= 2 and resp ~= 3 then
    raise('RESP version must be 2 or 3.')
  end
  ctx.resp = resp
end

function redis.set_repl(...)
  if select('#', ...) ~= 1 then
    raise('redis.set_repl() requires one argument.')
  end
  local flags = tonumber((...)) or 0
  if flags < 0 or flags > 3 or flags ~= floor(flags) then
    raise('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.')
  end
end

function redis.replicate_commands()
  return true
end

redis.acl_check_cmd = priv.acl_check_cmd

-- Outside Redis's debugger (which TinyKV has not) both are no-ops, as in Redis.
function redis.breakpoint()
  return false
end

function redis.debug()
end

-- Only the library-loading `redis` has it (Redis's script API does not).
local function register_function(...)
  local collected = ctx.registering
  if not collected then
    raise('redis.register_function can only be called on FUNCTION LOAD command')
  end
  local name, callback, flags, description = ...
  if type(name) == 'table' then
    local t = name
    name, callback, flags, description = nil, nil, nil, nil
    for k, v in pairs(t) do
      if k == 'function_name' then
        name = v
      elseif k == 'callback' then
        callback = v
      elseif k == 'flags' then
        flags = v
      elseif k == 'description' then
        description = v
      else
        raise('unknown argument given to redis.register_function')
      end
    end
    if name == nil then
      raise('redis.register_function must get a function name argument')
    end
    if callback == nil then
      raise('redis.register_function must get a callback argument')
    end
  elseif select('#', ...) ~= 2 then
    raise('wrong number of arguments to redis.register_function')
  end
  if type(name) ~= 'string' then
    raise('function_name argument given to redis.register_function must be a string')
  end
  if type(callback) ~= 'function' then
    raise('callback argument given to redis.register_function must be a function')
  end
  if description ~= nil and type(description) ~= 'string' then
    raise('description argument given to redis.register_function must be a string')
  end
  local flag_list = {}
  if flags ~= nil then
    if type(flags) ~= 'table' then
      raise('flags argument to redis.register_function must be a table representing function flags')
    end
    for _, f in pairs(flags) do
      if f ~= 'no-writes' and f ~= 'allow-oom' and f ~= 'allow-stale' and f ~= 'no-cluster'
          and f ~= 'allow-cross-slot-keys' then
        raise('unknown flag given')
      end
      flag_list[#flag_list + 1] = f
    end
  end
  local err = priv.check_function_name(name)
  if err then
    raise(err)
  end
  collected[#collected + 1] = { name = name, callback = callback, flags = flag_list, description = description }
end

-- Redis's `math.random`: its own 48-bit generator, so every server gives the same sequence.
local math_copy = {}
for k, v in pairs(math) do
  math_copy[k] = v
end
math_copy.random = function(...)
  local r = (priv.lrand48() % 2147483647) / 2147483647
  local n = select('#', ...)
  if n == 0 then
    return r
  elseif n == 1 then
    local u = ...
    if not (1 <= u) then
      raw_error("bad argument #1 to 'random' (interval is empty)", 2)
    end
    return floor(r * u) + 1
  elseif n == 2 then
    local l, u = ...
    if not (l <= u) then
      raw_error("bad argument #2 to 'random' (interval is empty)", 2)
    end
    return floor(r * (u - l + 1)) + l
  end
  raw_error('wrong number of arguments', 2)
end
math_copy.randomseed = function(seed)
  priv.srand48(tonumber(seed) or 0)
end

-- Redis flags its tables read-only inside its Lua; plain Lua 5.1 cannot, so scripts get views:
-- empty tables that read through to the real one and refuse writes. `views` maps each view to its
-- table, so `rawget`, `rawset`, `next`, `pairs`, `ipairs`, `getmetatable` and `setmetatable`
-- (replaced below) see and protect the table behind it as Redis's do.
local READONLY = 'Attempt to modify a readonly table'
local views = {}
local function readonly(t)
  local view = setmetatable({}, {
    __index = t,
    __newindex = function()
      raw_error(READONLY, 2)
    end,
    __metatable = false,
  })
  views[view] = t
  return view
end

-- A read-only view of `t` where reading a name `t` lacks is Redis's missing-global error: what
-- scripts see as their globals, and as `redis` while a library loads.
local function strict_readonly(t)
  return setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      if v == nil then
        raw_error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = function()
      raw_error(READONLY, 2)
    end,
    __metatable = false,
  })
end

-- What scripts see: the allowed globals, read-only, and an error for any other name.
local base = {}
local env = strict_readonly(base)

for _, name in pairs({ 'xpcall', 'tostring', 'setmetatable', 'next', 'assert', 'tonumber', 'rawequal',
  'collectgarbage', 'getmetatable', 'rawset', 'type', 'select', 'unpack', 'gcinfo', 'pairs', 'rawget',
  'ipairs', '_VERSION', 'error' }) do
  base[name] = _G[name]
end
base.coroutine = readonly(coroutine)
base.string = readonly(string)
base.table = readonly(table)
base.math = readonly(math_copy)
views[env] = base

-- Lua's own check of a table argument, raised where the script called (`level` 3: past the
-- checker and the replaced function).
local function check_table(name, t, count)
  if type(t) ~= 'table' then
    local got = count == 0 and 'no value' or type(t)
    raw_error('bad argument #1 to \'' .. name .. '\' (table expected, got ' .. got .. ')', 3)
  end
end
local raw_rawset, raw_rawget, raw_next, raw_ipairs = rawset, rawget, next, ipairs
local raw_getmetatable, raw_setmetatable = getmetatable, setmetatable
base.rawset = function(...)
  local t, k, v = ...
  check_table('rawset', t, select('#', ...))
  if views[t] then
    raw_error(READONLY, 0)
  end
  return raw_rawset(t, k, v)
end
base.rawget = function(...)
  local t, k = ...
  check_table('rawget', t, select('#', ...))
  return raw_rawget(views[t] or t, k)
end
local function view_next(...)
  local t, k = ...
  check_table('next', t, select('#', ...))
  return raw_next(views[t] or t, k)
end
base.next = view_next
base.pairs = function(...)
  local t = ...
  check_table('pairs', t, select('#', ...))
  -- Lua's own `next` for ordinary tables: iterating them costs no extra call a step.
  return views[t] and view_next or raw_next, t, nil
end
base.ipairs = function(...)
  local t = ...
  check_table('ipairs', t, select('#', ...))
  return raw_ipairs(views[t] or t)
end
local env_metatable = readonly({})
base.getmetatable = function(...)
  local t = ...
  if select('#', ...) == 0 then
    raw_error('bad argument #1 to \'getmetatable\' (value expected)', 2)
  end
  if views[t] then
    return t == env and env_metatable or nil
  end
  return raw_getmetatable(t)
end
base.setmetatable = function(...)
  local t, mt = ...
  check_table('setmetatable', t, select('#', ...))
  if views[t] then
    raw_error(READONLY, 0)
  end
  if mt ~= nil and type(mt) ~= 'table' then
    raw_error('bad argument #2 to \'setmetatable\' (nil or table expected)', 2)
  end
  -- What is left to fail is a metatable with `__metatable` set.
  local ok, result = raw_pcall(raw_setmetatable, t, mt)
  if not ok then
    raw_error('cannot change a protected metatable', 2)
  end
  return result
end

base.bit = readonly(priv.bit)
base.cjson = readonly(priv.cjson)
base.redis = readonly(redis)

local cmsgpack = {
  _NAME = 'cmsgpack',
  _VERSION = 'lua-cmsgpack 0.4.0',
  _COPYRIGHT = 'Copyright (C) 2012, Salvatore Sanfilippo',
  _DESCRIPTION = 'MessagePack C implementation for Lua',
}
for name, f in pairs(priv.cmsgpack) do
  cmsgpack[name] = f
end
base.cmsgpack = readonly(cmsgpack)
base.struct = readonly(priv.struct)

-- Strings' metatable is shared by every script: its `__index` reads through the read-only view
-- of `string`, and `getmetatable('')` gives a read-only view of it.
local string_meta = getmetatable('')
string_meta.__index = base.string
string_meta.__metatable = readonly(string_meta)
base._G = env
base.__redis__err__handler = priv.handler

-- Chunks made inside a script run in the script's sandbox too.
base.loadstring = function(s, name)
  local f, e = raw_loadstring(s, name)
  if f then
    setfenv(f, env)
  end
  return f, e
end
base.load = function(fn, name)
  local f, e = load(fn, name)
  if f then
    setfenv(f, env)
  end
  return f, e
end

-- Redis 7's pcall: an error raised as a table is caught as its message.
base.pcall = function(f, ...)
  local result = { raw_pcall(f, ...) }
  if not result[1] then
    if type(result[2]) == 'table' and type(result[2].err) == 'string' then
      result[2] = result[2].err
    elseif type(result[2]) == 'userdata' then
      result[2] = priv.error_message(result[2])
    end
  end
  return unpack(result, 1, table.maxn(result))
end

-- Runs a compiled script (or a function with its keys and arguments) under the error handler.
local handler = priv.handler
local xpcall = xpcall
local function run(f, eval_mode, keys, args)
  if eval_mode then
    return xpcall(f, handler)
  end
  return xpcall(function()
    return f(keys, args)
  end, handler)
end

-- While a library loads, `redis` offers only what Redis's loading API has.
local load_api = {
  register_function = register_function,
  log = redis.log,
  setresp = redis.setresp,
  REDIS_VERSION = redis.REDIS_VERSION,
  REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
}
local load_redis = strict_readonly(load_api)
local script_redis = base.redis
local function set_loading(loading)
  base.redis = loading and load_redis or script_redis
end

return env, base, run, redis, set_loading
