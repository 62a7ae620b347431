//! Typed commands: a [`Request`]'s words checked against the command table and turned into one
//! variant per command, so the server executes values it can trust.
//!
//! Parsing never fails the connection: every problem is a [`CommandError`] reply.

use bytes::Bytes;
use smallvec::SmallVec;

use crate::table::{self, CommandSpec};

use crate::{CommandError, Request};

/// The condition of a conditional `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCondition {
    /// `NX`: only when the key does not exist.
    IfAbsent,
    /// `XX`: only when the key exists.
    IfPresent,
}

/// What a write does to the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Expire at this Unix time in milliseconds (`EX`, `PX`, `EXAT`, `PXAT` all become this).
    At(i64),
    /// Relative: expire this many milliseconds from now; resolved by the server at execution.
    In(i64),
    /// `KEEPTTL`: keep the key's current time to live.
    Keep,
}

/// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// The key.
    pub key: Bytes,
    /// The new value.
    pub value: Bytes,
    /// `NX` or `XX`, if given.
    pub condition: Option<SetCondition>,
    /// `GET`: reply with the old value instead of `OK`.
    pub get: bool,
    /// The time to live; `None` clears any existing one, as a plain `SET` does.
    pub expiry: Option<Expiry>,
    /// The lower-case command name (`set`, `setex`, `psetex`), for `ERR invalid expire time in '<command>' command`.
    pub command: &'static str,
}

/// What `GETEX` does to the key's time to live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetExAction {
    /// No option: a plain `GET`.
    Keep,
    /// `PERSIST`: remove the time to live.
    Persist,
    /// `EX`/`PX`/`EXAT`/`PXAT`. Redis checks the amount only once it found the key (a missing key answers
    /// null however bad the amount), so a bad amount is carried here as its error, for the server to answer.
    Expire(Result<Expiry, CommandError>),
}

/// The options of `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LcsOptions {
    /// `LEN`: only the length of the longest common subsequence.
    pub len: bool,
    /// `IDX`: the matching ranges and the length, as a map.
    pub idx: bool,
    /// `MINMATCHLEN`: ranges shorter than this are left out of `IDX` (negative counts as 0).
    pub min_match_len: u64,
    /// `WITHMATCHLEN`: each `IDX` range also gives its length.
    pub with_match_len: bool,
}

/// Whether a bit command's range counts bytes (the default) or bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitUnit {
    /// `BYTE`.
    #[default]
    Byte,
    /// `BIT`.
    Bit,
}

/// The range of `BITCOUNT key [start end [BYTE|BIT]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitCountRange {
    /// No range: the whole string.
    Whole,
    /// Two negative indexes in the wrong order: Redis answers 0 before it even reads `BYTE|BIT`.
    Empty,
    /// `start end [BYTE|BIT]`, indexes as given (negative ones count from the end).
    Range { start: i64, end: i64, unit: BitUnit },
}

/// The range of `BITPOS key bit [start [end [BYTE|BIT]]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitPosRange {
    /// No range: the whole string, padded with zeros on the right when looking for a 0.
    Whole,
    /// `start [end [BYTE|BIT]]`; with an explicit `end`, a 0 is looked for only inside the range.
    From { start: i64, end: Option<i64>, unit: BitUnit },
}

/// The operation of `BITOP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOperation {
    /// `AND`.
    And,
    /// `OR`.
    Or,
    /// `XOR`.
    Xor,
    /// `NOT` (one source only).
    Not,
}

/// What `BITFIELD` does when an `INCRBY` or `SET` does not fit the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// `WRAP` (the default): modular arithmetic, two's complement for signed fields.
    #[default]
    Wrap,
    /// `SAT`: stop at the field's minimum or maximum.
    Sat,
    /// `FAIL`: change nothing and answer null for that operation.
    Fail,
}

/// One operation of `BITFIELD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitFieldOp {
    /// `GET`, `SET value` or `INCRBY increment`.
    pub kind: BitFieldKind,
    /// Whether the field is signed (`i<bits>`) or unsigned (`u<bits>`).
    pub signed: bool,
    /// The field's width: 1 to 64 bits signed, 1 to 63 unsigned (Redis cannot reply an unsigned 64-bit value).
    pub bits: u32,
    /// The field's first bit (a `#n` offset already multiplied by the width).
    pub offset: u64,
    /// The `OVERFLOW` mode in force for this operation.
    pub overflow: Overflow,
}

/// What one `BITFIELD` operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitFieldKind {
    /// `GET`.
    Get,
    /// `SET value`: replies the old value.
    Set(i64),
    /// `INCRBY increment`: replies the new value.
    IncrBy(i64),
}

/// `BITFIELD key [GET|SET|INCRBY|OVERFLOW ...]` and `BITFIELD_RO key [GET ...]`.
///
/// Redis checks each offset against `--proto-max-bulk-len` as it reads it, so an offset past the limit
/// is reported before any error later in the arguments. Only the server knows the limit: the parser
/// keeps the operations read before an error, and the error itself (with the offset read just before
/// it, if any), and the server checks those offsets first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitField {
    /// The key.
    pub key: Bytes,
    /// The operations, in order.
    pub ops: Vec<BitFieldOp>,
    /// The first error in the arguments, if any, with the offset read in the same operation before it.
    pub error: Option<(Option<u64>, CommandError)>,
}

/// `CLIENT` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// `CLIENT ID`.
    Id,
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT SETNAME name`.
    SetName(Bytes),
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value`.
    SetInfo { attribute: Bytes, value: Bytes },
    /// `CLIENT HELP`.
    Help,
    /// `CLIENT INFO`: this connection's line of `CLIENT LIST`.
    Info,
    /// `CLIENT LIST [TYPE type] [ID id ...]`: every connection, or those of one type, or those with
    /// the ids given (an id that is not connected is left out).
    List { kind: Option<ClientType>, ids: Option<Vec<i64>> },
    /// `CLIENT KILL ...`.
    Kill(ClientKill),
    /// `CLIENT NO-EVICT ON|OFF`.
    NoEvict(bool),
    /// `CLIENT NO-TOUCH ON|OFF`: the client's commands leave keys' LRU/LFU as they were.
    NoTouch(bool),
    /// `CLIENT REPLY ON|OFF|SKIP`.
    Reply(ReplyMode),
    /// `CLIENT PAUSE timeout [WRITE|ALL]`: `millis` from now; `all` false for `WRITE`.
    Pause { millis: i64, all: bool },
    /// `CLIENT UNPAUSE`.
    Unpause,
    // --- lists ---
    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: `error` for `ERROR`.
    Unblock { id: i64, error: bool },
}

/// A kind of client, as `CLIENT LIST TYPE` and `CLIENT KILL TYPE` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// An ordinary client.
    Normal,
    /// The primary this server replicates from.
    Master,
    /// A replica of this server (`REPLICA` or `SLAVE`).
    Replica,
    /// A client in pub/sub mode.
    PubSub,
}

impl ClientType {
    /// The type named `name` (any case), as Redis's `getClientTypeByName` reads it.
    pub fn from_name(name: &[u8]) -> Option<ClientType> {
        match name.to_ascii_lowercase().as_slice() {
            b"normal" => Some(ClientType::Normal),
            b"master" => Some(ClientType::Master),
            b"replica" | b"slave" => Some(ClientType::Replica),
            b"pubsub" => Some(ClientType::PubSub),
            _ => None,
        }
    }
}

/// `CLIENT KILL`'s filters; a client is killed when it matches every filter given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientKill {
    /// `CLIENT KILL ip:port` (the old form, which replies `OK` or an error instead of a count).
    pub old_form: bool,
    /// `ADDR ip:port`: the peer's address.
    pub addr: Option<Bytes>,
    /// `LADDR ip:port`: the local address the client connected to.
    pub laddr: Option<Bytes>,
    /// `ID client-id`.
    pub id: Option<u64>,
    /// `TYPE type`.
    pub kind: Option<ClientType>,
    /// `USER username` (only `default` exists).
    pub user: Option<Bytes>,
    /// `SKIPME yes|no`: whether the calling client is spared (yes by default, no in the old form).
    pub skipme: bool,
}

/// `CLIENT REPLY`'s modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent (the default).
    On,
    /// No replies are sent, this one included, until `CLIENT REPLY ON`.
    Off,
    /// No reply to this command nor to the next one.
    Skip,
}

/// `SLOWLOG` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowlogCommand {
    /// `SLOWLOG GET [count]`: the newest `count` entries (10 by default); `None` for all (`-1`).
    Get(Option<usize>),
    /// `SLOWLOG LEN`.
    Len,
    /// `SLOWLOG RESET`.
    Reset,
    /// `SLOWLOG HELP`.
    Help,
}

/// `DEBUG` subcommands TinyKV has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebugCommand {
    /// `DEBUG SLEEP seconds`, in microseconds (decimals allowed; what C's `strtod` cannot read is 0,
    /// and a negative or non-finite time sleeps not at all).
    Sleep { micros: u64 },
    /// `DEBUG SET-ACTIVE-EXPIRE 0|1`: whether the background sweep removes expired keys.
    SetActiveExpire(bool),
    /// `DEBUG OBJECT key`: a line of low-level facts about the value.
    Object(Bytes),
    /// `DEBUG CHANGE-REPL-ID`: a new replication id.
    ChangeReplId,
    /// `DEBUG RELOAD [NOFLUSH] [NOSAVE]`: save the snapshot, empty the databases, load it back; a
    /// round trip that proves writer and reader agree (Redis's own tests call it after many cases).
    Reload { flush: bool, save: bool },
    /// `DEBUG HELP`.
    Help,
}

/// `COMMAND` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandCommand {
    /// Bare `COMMAND`: every command's info.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND DOCS [name ...]` (empty: all).
    Docs(Vec<Bytes>),
    /// `COMMAND INFO [name ...]` (empty: all).
    Info(Vec<Bytes>),
    /// `COMMAND HELP`.
    Help,
}

/// `HELLO [protover [AUTH username password] [SETNAME name]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The protocol version asked for, if any (validated by the server: 2 or 3).
    pub protover: Option<i64>,
    /// `AUTH username password`.
    pub auth: Option<(Bytes, Bytes)>,
    /// `SETNAME name`.
    pub setname: Option<Bytes>,
}

/// The `NX`/`XX`/`GT`/`LT` options of the `EXPIRE` family (Redis 7). `XX` may combine with `GT` or `LT`;
/// the parser rejects the combinations Redis rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireCondition {
    /// `NX`: only when the key has no expiry.
    pub nx: bool,
    /// `XX`: only when the key has an expiry.
    pub xx: bool,
    /// `GT`: only when the new expiry is later than the current one (no expiry counts as infinite).
    pub gt: bool,
    /// `LT`: only when the new expiry is earlier than the current one (no expiry counts as infinite).
    pub lt: bool,
}

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT`: one shape, told apart by `when` and `command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expire {
    /// The key.
    pub key: Bytes,
    /// The new deadline, in milliseconds: relative (`In`) or absolute (`At`); never `Keep`.
    /// Unlike `SET EX`, zero and negative amounts are allowed: they delete the key.
    pub when: Expiry,
    /// The conditions given.
    pub condition: ExpireCondition,
    /// The lower-case command name, for `ERR invalid expire time in '<command>' command`.
    pub command: &'static str,
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Where to resume; 0 starts a new scan.
    pub cursor: u64,
    /// `MATCH`: only keys matching this glob pattern (`None` when absent or `*`).
    pub pattern: Option<Bytes>,
    /// `COUNT`: about how many keys to look at; `None` for the default.
    pub count: Option<u64>,
    /// `TYPE`: only keys holding this type.
    pub type_name: Option<Bytes>,
}

/// `COPY source destination [DB index] [REPLACE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyKey {
    /// The key copied.
    pub source: Bytes,
    /// The new key.
    pub destination: Bytes,
    /// Every `DB` value given, in order; the last is the destination's database. Redis checks each
    /// against the number of databases as it reads it, which only the server knows.
    pub dbs: Vec<i64>,
    /// An error in the options after a `DB` value, reported only if every value before it is in range.
    pub then: Option<CommandError>,
    /// `REPLACE`: overwrite an existing destination.
    pub replace: bool,
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shutdown {
    /// `SAVE` (`Some(true)`) or `NOSAVE` (`Some(false)`); `None`: as the save rules say.
    pub save: Option<bool>,
    /// `NOW`: do not wait for replicas (TinyKV has none yet, so it never waits).
    pub now: bool,
    /// `FORCE`: stop even if the final save fails.
    pub force: bool,
    /// `ABORT`: cancel a shutdown in progress.
    pub abort: bool,
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// The key to create.
    pub key: Bytes,
    /// Milliseconds to live (0: none), or a Unix time in ms with `ABSTTL`. Redis checks it only after
    /// finding the key free, so a bad TTL is kept here as the error it will be.
    pub ttl: Result<i64, CommandError>,
    /// The `DUMP` payload.
    pub payload: Bytes,
    /// `REPLACE`: overwrite an existing key.
    pub replace: bool,
    /// `ABSTTL`: `ttl` is an absolute Unix time in milliseconds.
    pub absttl: bool,
    /// `IDLETIME seconds`: the key's idle time under an LRU policy.
    pub idletime: Option<i64>,
    /// `FREQ frequency`: the key's LFU counter under an LFU policy.
    pub freq: Option<i64>,
}

/// `OBJECT` subcommands: what Redis tells about how it stores a key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectCommand {
    /// `OBJECT ENCODING key`: `int`, `embstr` or `raw` for a string.
    Encoding(Bytes),
    /// `OBJECT FREQ key`: the LFU counter (LFU policies only).
    Freq(Bytes),
    /// `OBJECT IDLETIME key`: seconds since the last access (non-LFU policies only).
    IdleTime(Bytes),
    /// `OBJECT REFCOUNT key`.
    RefCount(Bytes),
    /// `OBJECT HELP`.
    Help,
}

/// `MEMORY` subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryCommand {
    /// `MEMORY USAGE key [SAMPLES count]`: bytes the key and its value take. `samples` (0: all) is
    /// how many elements of an aggregate value to measure; a string is measured whole.
    Usage { key: Bytes, samples: u64 },
    /// `MEMORY HELP`.
    Help,
}

/// The `MATCH` and `COUNT` options of `HSCAN` and `SSCAN`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanOptions {
    /// `MATCH`: only fields or members matching this glob pattern (`None` when absent or `*`).
    pub pattern: Option<Bytes>,
    /// `COUNT`: about how many entries to look at; `None` for the default.
    pub count: Option<u64>,
}

/// `HSCAN`/`SSCAN key cursor [MATCH pattern] [COUNT count]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionScan {
    /// The key.
    pub key: Bytes,
    /// Where to resume; 0 starts a new scan. A bad cursor is an error before the key is looked at.
    pub cursor: u64,
    /// The options: Redis reads them only once it found the key (of the right type), so a bad one is
    /// carried as its error.
    pub options: Result<ScanOptions, CommandError>,
}

/// What `SINTER`, `SUNION`, `SDIFF` and their `STORE` forms compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOperation {
    /// Members in every set.
    Inter,
    /// Members in any set.
    Union,
    /// Members of the first set in none of the others.
    Diff,
}

// --- sorted sets ---

/// The options of `ZADD` (`ZINCRBY` is `ZADD ... INCR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZAddFlags {
    /// `NX`: only add new members.
    pub nx: bool,
    /// `XX`: only update existing members.
    pub xx: bool,
    /// `GT`: only raise scores.
    pub gt: bool,
    /// `LT`: only lower scores.
    pub lt: bool,
    /// `CH`: count changed members, not only added ones.
    pub ch: bool,
    /// `INCR`: add to the score and reply with the result.
    pub incr: bool,
}

/// `ZADD`'s key, options and (score, member) pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct ZAdd {
    /// The key.
    pub key: Bytes,
    /// The options.
    pub flags: ZAddFlags,
    /// The pairs, scores parsed (never NaN).
    pub entries: Vec<(f64, Bytes)>,
}

// Scores and bounds are never NaN (the parsers refuse it), so equality is an equivalence.
impl Eq for ZAdd {}
impl Eq for ZRangeBy {}
impl Eq for ZRange {}
impl Eq for ZSetOpOptions {}
impl Eq for ZSetOp {}

/// What a `ZRANGE`-like command selects.
#[derive(Debug, Clone, PartialEq)]
pub enum ZRangeBy {
    /// By position: `start` and `stop`, negative counting from the end.
    Rank(i64, i64),
    /// By score: the lower and the upper end (already swapped back for the `REV` forms).
    Score(crate::score::ScoreBound, crate::score::ScoreBound),
    /// By member: the lower and the upper end (already swapped back for the `REV` forms).
    Lex(crate::score::LexBound, crate::score::LexBound),
}

/// `ZRANGE`, `ZRANGESTORE`, `ZREVRANGE`, `Z[REV]RANGEBYSCORE`, `Z[REV]RANGEBYLEX`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZRange {
    /// `ZRANGESTORE`'s destination.
    pub destination: Option<Bytes>,
    /// The source.
    pub key: Bytes,
    /// What to select.
    pub by: ZRangeBy,
    /// Highest scores first.
    pub reverse: bool,
    /// `LIMIT offset count` (`count` negative: no limit); only with `BYSCORE`/`BYLEX`.
    pub limit: Option<(i64, i64)>,
    /// `WITHSCORES`.
    pub withscores: bool,
}

/// How `ZUNION`/`ZINTER` combine the scores of a member found in several inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// Their (weighted) sum.
    #[default]
    Sum,
    /// The smallest.
    Min,
    /// The largest.
    Max,
}

/// The options of `ZUNION`, `ZINTER`, `ZDIFF`, their `STORE` forms and `ZINTERCARD`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSetOpOptions {
    /// `WEIGHTS`: one per input (`None`: all 1).
    pub weights: Option<Vec<f64>>,
    /// `AGGREGATE`.
    pub aggregate: Aggregate,
    /// `WITHSCORES`.
    pub withscores: bool,
    /// `ZINTERCARD`'s `LIMIT` (0: none).
    pub limit: u64,
}

/// `ZUNION`/`ZINTER`/`ZDIFF numkeys key ... [options]`, their `STORE` forms and `ZINTERCARD`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZSetOp {
    /// Which operation.
    pub operation: SetOperation,
    /// Where a `STORE` form puts the result.
    pub destination: Option<Bytes>,
    /// The inputs (sorted sets or sets).
    pub keys: Vec<Bytes>,
    /// Redis reads the options after it has checked the inputs' types, so a bad one is carried.
    pub options: Result<ZSetOpOptions, CommandError>,
    /// `ZINTERCARD`: only the size of the result.
    pub cardinality: bool,
}

// --- sort ---

/// `SORT`/`SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// The list, set or sorted set to sort.
    pub key: Bytes,
    /// `BY pattern` (the last one given): sort by the values of other keys (`*` replaced by an
    /// element, `->field` for a hash field).
    pub by: Option<Bytes>,
    /// Whether any `BY` pattern lacked a `*`, which means no sorting (even if a later `BY` has one,
    /// as in Redis).
    pub nosort: bool,
    /// `LIMIT offset count`.
    pub limit: Option<(i64, i64)>,
    /// `GET pattern`s: what to answer for each element (`#`: the element itself).
    pub gets: Vec<Bytes>,
    /// `DESC`.
    pub desc: bool,
    /// `ALPHA`: compare as strings, not numbers.
    pub alpha: bool,
    /// `STORE destination` (a list).
    pub store: Option<Bytes>,
}

/// One command, parsed and checked; one variant per command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `GET key`.
    Get { key: Bytes },
    /// `SET ...`.
    Set(Set),
    /// `DEL key [key ...]`, and `UNLINK`, which is the same thing in a store that frees memory at once.
    Del { keys: ArgList },
    /// `GETDEL key`.
    GetDel { key: Bytes },
    /// `GETSET key value`.
    GetSet { key: Bytes, value: Bytes },
    /// `MGET key [key ...]`.
    MGet { keys: ArgList },
    /// `MSET key value [key value ...]`.
    MSet { pairs: Vec<(Bytes, Bytes)> },
    /// `MSETNX key value [key value ...]`.
    MSetNx { pairs: Vec<(Bytes, Bytes)> },
    /// `SETNX key value` (replies 1 or 0, unlike `SET NX`). `SETEX` and `PSETEX` parse to [`Command::Set`].
    SetNx { key: Bytes, value: Bytes },
    /// `EXISTS key [key ...]`: counts a key named twice twice.
    Exists { keys: ArgList },
    /// `INCR`, `DECR`, `INCRBY`, `DECRBY`: all add a signed 64-bit `delta`.
    IncrBy { key: Bytes, delta: i64 },
    /// `APPEND key value`.
    Append { key: Bytes, value: Bytes },
    /// `STRLEN key`.
    Strlen { key: Bytes },
    /// `GETEX key [EX seconds|PX milliseconds|EXAT unix-time|PXAT unix-time-ms|PERSIST]`.
    GetEx { key: Bytes, action: GetExAction },
    /// `GETRANGE key start end`, and `SUBSTR`, its old name.
    GetRange { key: Bytes, start: i64, end: i64 },
    /// `SETRANGE key offset value`; the offset is known not to be negative. The server checks the result
    /// against `--proto-max-bulk-len` before it allocates anything.
    SetRange { key: Bytes, offset: u64, value: Bytes },
    /// `INCRBYFLOAT key increment`. The increment is read by the server, after the key's value, as Redis
    /// does: a bad value is reported before a bad increment.
    IncrByFloat { key: Bytes, increment: Bytes },
    /// `LCS key1 key2 [...]`. Redis reads the options after looking at the keys, so their error is
    /// carried for the server to answer in that order.
    Lcs { key1: Bytes, key2: Bytes, options: Result<LcsOptions, CommandError> },
    /// `SETBIT key offset value`. The offset is checked against `--proto-max-bulk-len` by the server,
    /// before the value, so a bad value is carried as its error.
    SetBit { key: Bytes, offset: u64, bit: Result<bool, CommandError> },
    /// `GETBIT key offset`; the server checks the offset against `--proto-max-bulk-len`.
    GetBit { key: Bytes, offset: u64 },
    /// `BITCOUNT key [start end [BYTE|BIT]]`. A missing key answers 0 whatever the range says, so a bad
    /// range is carried as its error.
    BitCount { key: Bytes, range: Result<BitCountRange, CommandError> },
    /// `BITPOS key bit [start [end [BYTE|BIT]]]`; a bad range is carried as for `BITCOUNT`.
    BitPos { key: Bytes, bit: bool, range: Result<BitPosRange, CommandError> },
    /// `BITOP AND|OR|XOR|NOT destkey key [key ...]`.
    BitOp { operation: BitOperation, destination: Bytes, sources: Vec<Bytes> },
    /// `BITFIELD` and `BITFIELD_RO`.
    BitField(BitField),
    /// `HSET key field value [field value ...]`, and `HMSET` (`hmset: true`), which answers `OK`.
    HSet { key: Bytes, pairs: Vec<(Bytes, Bytes)>, hmset: bool },
    /// `HSETNX key field value`.
    HSetNx { key: Bytes, field: Bytes, value: Bytes },
    /// `HGET key field`.
    HGet { key: Bytes, field: Bytes },
    /// `HMGET key field [field ...]`.
    HMGet { key: Bytes, fields: ArgList },
    /// `HDEL key field [field ...]`.
    HDel { key: Bytes, fields: ArgList },
    /// `HLEN key`.
    HLen { key: Bytes },
    /// `HSTRLEN key field`.
    HStrlen { key: Bytes, field: Bytes },
    /// `HEXISTS key field`.
    HExists { key: Bytes, field: Bytes },
    /// `HKEYS key`.
    HKeys { key: Bytes },
    /// `HVALS key`.
    HVals { key: Bytes },
    /// `HGETALL key`.
    HGetAll { key: Bytes },
    /// `HINCRBY key field increment`.
    HIncrBy { key: Bytes, field: Bytes, delta: i64 },
    /// `HINCRBYFLOAT key field increment`: the increment is read by the server (in `long double`),
    /// before the key is looked at, as Redis does.
    HIncrByFloat { key: Bytes, field: Bytes, increment: Bytes },
    /// `HSCAN key cursor [MATCH pattern] [COUNT count]`.
    HScan(CollectionScan),
    /// `HRANDFIELD key [count [WITHVALUES]]`: `count` is `(count, withvalues)`, checked as Redis
    /// checks it before looking at the key.
    HRandField { key: Bytes, count: Option<(i64, bool)> },
    /// `SADD key member [member ...]`.
    SAdd { key: Bytes, members: ArgList },
    /// `SREM key member [member ...]`.
    SRem { key: Bytes, members: ArgList },
    /// `SISMEMBER key member`.
    SIsMember { key: Bytes, member: Bytes },
    /// `SMISMEMBER key member [member ...]`.
    SMIsMember { key: Bytes, members: ArgList },
    /// `SMEMBERS key`.
    SMembers { key: Bytes },
    /// `SCARD key`.
    SCard { key: Bytes },
    /// `SPOP key [count]`.
    SPop { key: Bytes, count: Option<u64> },
    /// `SRANDMEMBER key [count]`: a negative count allows repeats.
    SRandMember { key: Bytes, count: Option<i64> },
    /// `SMOVE source destination member`.
    SMove { source: Bytes, destination: Bytes, member: Bytes },
    /// `SINTER`, `SUNION`, `SDIFF` (no destination) and `SINTERSTORE`, `SUNIONSTORE`, `SDIFFSTORE`.
    SetAlgebra { operation: SetOperation, destination: Option<Bytes>, keys: Vec<Bytes> },
    /// `SINTERCARD numkeys key [key ...] [LIMIT limit]` (limit 0: none).
    SInterCard { keys: Vec<Bytes>, limit: u64 },
    /// `SSCAN key cursor [MATCH pattern] [COUNT count]`.
    SScan(CollectionScan),
    // --- sorted sets ---
    /// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...`, and `ZINCRBY` (`INCR`).
    ZAdd(ZAdd),
    /// `ZREM key member [member ...]`.
    ZRem { key: Bytes, members: ArgList },
    /// `ZCARD key`.
    ZCard { key: Bytes },
    /// `ZCOUNT key min max`.
    ZCount { key: Bytes, min: crate::score::ScoreBound, max: crate::score::ScoreBound },
    /// `ZLEXCOUNT key min max`.
    ZLexCount { key: Bytes, min: crate::score::LexBound, max: crate::score::LexBound },
    /// `ZSCORE key member`.
    ZScore { key: Bytes, member: Bytes },
    /// `ZMSCORE key member [member ...]`.
    ZMScore { key: Bytes, members: ArgList },
    /// `ZRANK` and (`reverse`) `ZREVRANK`.
    ZRank { key: Bytes, member: Bytes, reverse: bool },
    /// The `ZRANGE` family and `ZRANGESTORE`.
    ZRange(ZRange),
    /// `ZPOPMIN`/`ZPOPMAX key [count]` (`multi: false`) and `ZMPOP numkeys key ... MIN|MAX [COUNT n]`;
    /// with a timeout, their blocking forms `BZPOPMIN`/`BZPOPMAX key ... timeout` (`count: None`)
    /// and `BZMPOP`.
    ZPop { keys: ArgList, max: bool, count: Option<u64>, multi: bool, timeout: Option<BlockTimeout> },
    /// `ZREMRANGEBYRANK`, `ZREMRANGEBYSCORE`, `ZREMRANGEBYLEX`.
    ZRemRange { key: Bytes, by: ZRangeBy },
    /// `ZUNION`, `ZINTER`, `ZDIFF`, their `STORE` forms, `ZINTERCARD`.
    ZSetOp(ZSetOp),
    /// `ZRANDMEMBER key [count [WITHSCORES]]`.
    ZRandMember { key: Bytes, count: Option<(i64, bool)> },
    /// `ZSCAN key cursor [MATCH pattern] [COUNT count]`.
    ZScan(CollectionScan),
    // --- sort ---
    /// `SORT` and `SORT_RO`.
    Sort(Sort),
    /// The `EXPIRE` family.
    Expire(Expire),
    /// `TTL key` (`millis: false`) and `PTTL key` (`millis: true`).
    Ttl { key: Bytes, millis: bool },
    /// `PERSIST key`.
    Persist { key: Bytes },
    /// `TYPE key`.
    Type { key: Bytes },
    /// `OBJECT ...`.
    Object(ObjectCommand),
    /// `MEMORY ...`.
    Memory(MemoryCommand),
    /// `RENAME key newkey`.
    Rename { key: Bytes, new_key: Bytes },
    /// `RENAMENX key newkey`: `RENAME` only when `newkey` does not exist.
    RenameNx { key: Bytes, new_key: Bytes },
    /// `COPY source destination [DB index] [REPLACE]`.
    Copy(CopyKey),
    /// `MOVE key db`.
    Move { key: Bytes, db: i64 },
    /// `SWAPDB index1 index2`.
    SwapDb { first: i64, second: i64 },
    /// `TOUCH key [key ...]`: counts existing keys (a key named twice twice), marking them used.
    Touch { keys: ArgList },
    /// `EXPIRETIME key` (`millis: false`) and `PEXPIRETIME key` (`millis: true`).
    ExpireTime { key: Bytes, millis: bool },
    /// `RANDOMKEY`.
    RandomKey,
    /// `KEYS pattern`.
    Keys { pattern: Bytes },
    /// `SCAN ...`.
    Scan(Scan),
    /// `DBSIZE`.
    DbSize,
    /// `SAVE`: a snapshot now, in the foreground.
    Save,
    /// `BGSAVE [SCHEDULE]`: a snapshot in the background.
    BgSave { schedule: bool },
    /// `LASTSAVE`: the Unix time of the last successful snapshot.
    LastSave,
    /// `BGREWRITEAOF`: compacts the append-only file in the background.
    BgRewriteAof,
    /// `SHUTDOWN ...`.
    Shutdown(Shutdown),
    /// `DUMP key`: the value in Redis's serialization format.
    Dump { key: Bytes },
    /// `RESTORE ...`.
    Restore(Restore),
    /// `FLUSHDB`: empties the selected database.
    FlushDb,
    /// `FLUSHALL`: empties every database.
    FlushAll,
    /// `AUTH [username] password`; a missing username means `default`.
    Auth { username: Option<Bytes>, password: Bytes },
    /// `INFO [section ...]`, section names lower-cased.
    Info { sections: Vec<String> },
    /// `PING [message]`.
    Ping { message: Option<Bytes> },
    /// `ECHO message`.
    Echo { message: Bytes },
    /// `QUIT`.
    Quit,
    /// `SELECT index`.
    Select { index: i64 },
    /// `HELLO ...`.
    Hello(Hello),
    /// `COMMAND ...`.
    Command(CommandCommand),
    /// `CONFIG GET pattern [pattern ...]`.
    ConfigGet { patterns: Vec<Bytes> },
    /// `CONFIG HELP`.
    ConfigHelp,
    /// `CLIENT ...`.
    Client(ClientCommand),
    /// `MULTI`: start queueing.
    Multi,
    /// `EXEC`: run the queue.
    Exec,
    /// `DISCARD`: drop the queue.
    Discard,
    /// `WATCH key [key ...]`.
    Watch { keys: Vec<Bytes> },
    /// `UNWATCH`.
    Unwatch,
    /// `CONFIG SET parameter value [parameter value ...]`: all or nothing.
    ConfigSet { pairs: Vec<(Bytes, Bytes)> },
    /// `CONFIG RESETSTAT`.
    ConfigResetStat,
    /// `CONFIG REWRITE`.
    ConfigRewrite,
    /// `SLOWLOG ...`.
    Slowlog(SlowlogCommand),
    /// `TIME`.
    Time,
    /// `WAIT numreplicas timeout` (milliseconds, 0 for none).
    Wait { numreplicas: i64, timeout: i64 },
    /// `DEBUG ...`.
    Debug(DebugCommand),
    /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` with their channels (or patterns).
    Subscribe { kind: SubscriptionKind, channels: Vec<Bytes> },
    /// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE`; no channels means all of that kind.
    Unsubscribe { kind: SubscriptionKind, channels: Vec<Bytes> },
    /// `PUBLISH channel message` ([`SubscriptionKind::Channel`]) or `SPUBLISH` ([`SubscriptionKind::Shard`]).
    Publish { kind: SubscriptionKind, channel: Bytes, message: Bytes },
    /// `PUBSUB ...`.
    PubSub(PubSubCommand),
    /// `RESET`: the connection back to its state at connect.
    Reset,
    /// `MONITOR`: every command other clients run, as a line, from now on.
    Monitor,
    // --- lists ---
    /// `LPUSH`/`RPUSH` (`existing: false`) and `LPUSHX`/`RPUSHX` (`existing: true`).
    Push { key: Bytes, end: ListEnd, elements: ArgList, existing: bool },
    /// `LPOP`/`RPOP key [count]`.
    Pop { key: Bytes, end: ListEnd, count: Option<u64> },
    /// `LLEN key`.
    LLen { key: Bytes },
    /// `LRANGE key start stop`.
    LRange { key: Bytes, start: i64, stop: i64 },
    /// `LINDEX key index`: the index is read after the key is looked up, as Redis does.
    LIndex { key: Bytes, index: Bytes },
    /// `LSET key index element`: the index is read after the key is looked up, as Redis does.
    LSet { key: Bytes, index: Bytes, element: Bytes },
    /// `LINSERT key BEFORE|AFTER pivot element`.
    LInsert { key: Bytes, after: bool, pivot: Bytes, element: Bytes },
    /// `LREM key count element`.
    LRem { key: Bytes, count: i64, element: Bytes },
    /// `LTRIM key start stop`.
    LTrim { key: Bytes, start: i64, stop: i64 },
    /// `LPOS key element [RANK rank] [COUNT num] [MAXLEN len]`: `count` None without `COUNT`
    /// (a single reply), Some(0) for every match.
    LPos { key: Bytes, element: Bytes, rank: i64, count: Option<u64>, maxlen: u64 },
    /// `LMOVE`, `RPOPLPUSH` (no timeout) and `BLMOVE`, `BRPOPLPUSH` (a timeout).
    LMove { source: Bytes, destination: Bytes, from: ListEnd, to: ListEnd, timeout: Option<BlockTimeout> },
    /// `LMPOP` (no timeout) and `BLMPOP`: up to `count` elements from the first non-empty list.
    LMPop { keys: Vec<Bytes>, end: ListEnd, count: u64, timeout: Option<BlockTimeout> },
    /// `BLPOP`/`BRPOP key [key ...] timeout`.
    BPop { keys: ArgList, end: ListEnd, timeout: BlockTimeout },
    // --- scripting ---
    /// `EVAL`, `EVALSHA`, `FCALL`, their `_RO` forms, and the `SCRIPT` and `FUNCTION` subcommands.
    Script(ScriptCommand),
    // --- replication ---
    /// `PSYNC replicationid offset`: a replica asks for the stream from `offset` (`? -1`: all of it).
    Psync { replid: Bytes, offset: Bytes },
    /// `SYNC`: a replica (of before Redis 2.8) asks for a full copy and the stream.
    Sync,
    /// `REPLCONF option value ...`: a replica describes itself, or acknowledges an offset.
    Replconf { pairs: Vec<(Bytes, Bytes)> },
    /// `REPLICAOF host port` / `SLAVEOF`; `None` for `NO ONE`.
    ReplicaOf { target: Option<(Bytes, Bytes)> },
    /// `ROLE`.
    Role,
}

// --- scripting ---

/// What a script call names: a script's body (`EVAL`), its SHA1 (`EVALSHA`), or a function (`FCALL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptTarget {
    /// `EVAL script ...`.
    Body,
    /// `EVALSHA sha1 ...`.
    Sha,
    /// `FCALL function ...`.
    Function,
}

/// One call of a script or function, with its keys and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCall {
    /// What `name` is.
    pub target: ScriptTarget,
    /// The script's body, its SHA1, or the function's name.
    pub name: Bytes,
    /// The `_RO` forms: write commands are refused inside.
    pub read_only: bool,
    /// `KEYS` in the script.
    pub keys: Vec<Bytes>,
    /// `ARGV` in the script.
    pub args: Vec<Bytes>,
}

/// What `FUNCTION RESTORE` does with libraries that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestorePolicy {
    /// Refuse if any library exists already (the default).
    #[default]
    Append,
    /// Delete every library first.
    Flush,
    /// Replace libraries of the same name.
    Replace,
}

/// The scripting commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptCommand {
    /// `EVAL`/`EVALSHA`/`FCALL` and their `_RO` forms.
    Call(ScriptCall),
    /// `SCRIPT LOAD script`.
    Load { body: Bytes },
    /// `SCRIPT EXISTS sha1 ...`.
    Exists { shas: Vec<Bytes> },
    /// `SCRIPT FLUSH [ASYNC|SYNC]`.
    Flush,
    /// `SCRIPT KILL` (`function: false`) or `FUNCTION KILL` (`function: true`).
    Kill { function: bool },
    /// `SCRIPT HELP`.
    Help,
    /// `FUNCTION LOAD [REPLACE] code`.
    FunctionLoad { replace: bool, code: Bytes },
    /// `FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]`.
    FunctionList { with_code: bool, pattern: Option<Bytes> },
    /// `FUNCTION DELETE library`.
    FunctionDelete { library: Bytes },
    /// `FUNCTION FLUSH [ASYNC|SYNC]`.
    FunctionFlush,
    /// `FUNCTION DUMP`.
    FunctionDump,
    /// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`.
    FunctionRestore { payload: Bytes, policy: RestorePolicy },
    /// `FUNCTION STATS`.
    FunctionStats,
    /// `FUNCTION HELP`.
    FunctionHelp,
    // --- scripting2 ---
    /// `SCRIPT DEBUG YES|SYNC` (`on`) or `SCRIPT DEBUG NO`.
    Debug { on: bool },
}

// --- lists ---
/// An end of a list: `LEFT` (the head) or `RIGHT` (the tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListEnd {
    /// The head: `LPUSH`, `LPOP`, `LEFT`.
    Left,
    /// The tail: `RPUSH`, `RPOP`, `RIGHT`.
    Right,
}

impl ListEnd {
    /// `LEFT`/`RIGHT` in any case; anything else is Redis's syntax error.
    pub fn parse(word: &[u8]) -> Result<ListEnd, CommandError> {
        if word.eq_ignore_ascii_case(b"LEFT") {
            Ok(ListEnd::Left)
        } else if word.eq_ignore_ascii_case(b"RIGHT") {
            Ok(ListEnd::Right)
        } else {
            Err(CommandError::Syntax)
        }
    }

    /// The word for this end, as the append-only file records `LMOVE`.
    pub fn word(self) -> &'static [u8] {
        match self {
            ListEnd::Left => b"LEFT",
            ListEnd::Right => b"RIGHT",
        }
    }
}

/// How long a blocking command may wait, in milliseconds; 0 is forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTimeout(pub u64);

impl BlockTimeout {
    /// Reads seconds as Redis's `getTimeoutFromObjectOrReply` does: a float (`long double` there),
    /// truncated to whole milliseconds, so `-0.0001` is 0 (forever); negative (and too big to fit,
    /// which Redis's cast turns negative) is refused.
    pub fn parse(bytes: &[u8]) -> Result<BlockTimeout, CommandError> {
        const MAX_CHARS: usize = 5 * 1024;
        let not_float = || CommandError::Other("ERR timeout is not a float or out of range".into());
        if bytes.is_empty() || bytes.len() >= MAX_CHARS || bytes[0].is_ascii_whitespace() {
            return Err(not_float());
        }
        let text = std::str::from_utf8(bytes).map_err(|_| not_float())?;
        let seconds: f64 = text.parse().map_err(|_| not_float())?;
        if seconds.is_nan() {
            return Err(not_float());
        }
        let millis = (seconds * 1000.0).trunc();
        // Past i64, Redis's conversion yields i64::MIN: negative.
        // 2^63 milliseconds; NaN was refused above.
        if !(0.0..9.223_372_036_854_776e18).contains(&millis) {
            return Err(CommandError::Other("ERR timeout is negative".into()));
        }
        let millis = millis as u64;
        // Redis adds the time now and refuses what would overflow.
        if millis > (i64::MAX as u64) / 2 {
            return Err(CommandError::Other("ERR timeout is out of range".into()));
        }
        Ok(BlockTimeout(millis))
    }
}

/// What a subscription names: a channel, a glob pattern of channels, or a shard channel. Each kind has
/// its own commands, messages (`message`, `pmessage`, `smessage`) and registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionKind {
    /// `SUBSCRIBE`/`UNSUBSCRIBE`/`PUBLISH`.
    Channel,
    /// `PSUBSCRIBE`/`PUNSUBSCRIBE`: glob patterns matched against `PUBLISH`'s channel.
    Pattern,
    /// `SSUBSCRIBE`/`SUNSUBSCRIBE`/`SPUBLISH`.
    Shard,
}

impl SubscriptionKind {
    /// The command name a confirmation starts with, lower case as Redis sends it.
    pub fn subscribe_name(self) -> &'static str {
        match self {
            SubscriptionKind::Channel => "subscribe",
            SubscriptionKind::Pattern => "psubscribe",
            SubscriptionKind::Shard => "ssubscribe",
        }
    }

    /// The name an unsubscription's confirmation starts with.
    pub fn unsubscribe_name(self) -> &'static str {
        match self {
            SubscriptionKind::Channel => "unsubscribe",
            SubscriptionKind::Pattern => "punsubscribe",
            SubscriptionKind::Shard => "sunsubscribe",
        }
    }
}

/// The subcommands of `PUBSUB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubCommand {
    /// `PUBSUB CHANNELS [pattern]` (`SHARDCHANNELS` with [`SubscriptionKind::Shard`]).
    Channels { kind: SubscriptionKind, pattern: Option<Bytes> },
    /// `PUBSUB NUMSUB [channel ...]` (`SHARDNUMSUB` with [`SubscriptionKind::Shard`]).
    NumSub { kind: SubscriptionKind, channels: Vec<Bytes> },
    /// `PUBSUB NUMPAT`.
    NumPat,
    /// `PUBSUB HELP`.
    Help,
}

/// What [`Command::lookup`] found for a request: its table row and its number.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    /// The command's row; for a container (`CLIENT`, `CONFIG`, ...), the container's, whose parser
    /// finds the subcommand again.
    pub spec: &'static CommandSpec,
    /// The subcommand's row, when the request names one.
    pub sub: Option<&'static CommandSpec>,
    /// The number of the subcommand, or of the command when there is none (see
    /// [`table::command_count`]): the index of its counters.
    pub number: usize,
}

impl Found {
    /// The row whose flags apply: the subcommand's, if any.
    pub fn flags_spec(&self) -> &'static CommandSpec {
        self.sub.unwrap_or(self.spec)
    }
}

impl Command {
    /// Looks the name up in the table, checks arity, and parses the arguments.
    pub fn parse(request: Request) -> Result<Command, CommandError> {
        let found = Command::lookup(&request)?;
        Command::parse_as(found.spec, &request)
    }

    /// The first half of [`Command::parse`]: finds the request's command (and subcommand) in the table
    /// and checks their arity. The server checks authentication and memory between the halves, as
    /// Redis does: an unknown command or subcommand, or a wrong arity, is reported before `NOAUTH` or
    /// `OOM`, a bad option after.
    pub fn lookup(request: &Request) -> Result<Found, CommandError> {
        let name = request.args.first().map_or(&[][..], |name| &name[..]);
        let rest = request.args.get(1..).unwrap_or_default();
        let Some((number, spec)) = table::lookup_numbered(name) else {
            return Err(CommandError::unknown_command(name, rest));
        };
        if !spec.arity_ok(request.args.len()) {
            return Err(CommandError::WrongArity(spec.full_name(None)));
        }
        let mut found = Found { spec, sub: None, number };
        if let (false, Some(sub_name)) = (spec.subcommands.is_empty(), request.args.get(1)) {
            let Some((number, sub)) = table::subcommand_numbered(number, sub_name) else {
                return Err(CommandError::UnknownSubcommand {
                    command: spec.name.to_owned(),
                    sub: String::from_utf8_lossy(&sub_name[..sub_name.len().min(MAX_SUBCOMMAND_ECHO)]).into_owned(),
                });
            };
            if !sub.arity_ok(request.args.len()) {
                return Err(CommandError::WrongArity(sub.full_name(Some(spec))));
            }
            found = Found { spec, sub: Some(sub), number };
        }
        Ok(found)
    }

    /// The second half of [`Command::parse`]: parses the arguments of a request whose `spec` came
    /// from [`Command::lookup`], with the parser of its table row. The request is only borrowed, so
    /// it can still be logged (the slow log) after the command ran.
    pub fn parse_as(spec: &'static CommandSpec, request: &Request) -> Result<Command, CommandError> {
        let mut args = Args::new(request.args.get(1..).unwrap_or_default());
        (spec.parse)(&mut args)
    }
}

/// Longest unknown subcommand name an error repeats, as Redis's `%.128s`.
const MAX_SUBCOMMAND_ECHO: usize = 128;

/// Milliseconds in a second, for the commands that take seconds.
pub const MILLIS_PER_SECOND: i64 = 1000;

/// Turns `EX`/`PX`/`EXAT`/`PXAT` and an amount into an [`Expiry`], rejecting what Redis rejects.
pub fn expiry_from(unit: &[u8], amount: i64, command: &str) -> Result<Expiry, CommandError> {
    let invalid = || CommandError::InvalidExpire(command.to_owned());
    if amount <= 0 {
        return Err(invalid());
    }
    let millis = |secs: i64| secs.checked_mul(MILLIS_PER_SECOND).ok_or_else(invalid);
    Ok(match unit {
        b"EX" => Expiry::In(millis(amount)?),
        b"PX" => Expiry::In(amount),
        b"EXAT" => Expiry::At(millis(amount)?),
        _ => Expiry::At(amount),
    })
}

impl Expiry {
    /// The absolute deadline in Unix milliseconds: `At` as it is, `In` added to `now`. `None` when the
    /// sum overflows (Redis's "invalid expire time"), and for `Keep`, which has no deadline of its own.
    pub fn deadline(self, now: u64) -> Option<i64> {
        match self {
            Expiry::At(at) => Some(at),
            Expiry::In(ms) => i64::try_from(now).ok()?.checked_add(ms),
            Expiry::Keep => None,
        }
    }
}

/// Longest decimal text of an `i64` (`-9223372036854775808`); anything longer is not an integer.
const MAX_INTEGER_LEN: usize = 20;

/// Parses a decimal `i64` exactly as Redis's `string2ll` does: an optional `-`, then digits with no
/// leading zero (`0` alone is fine), nothing else: no spaces, no `+`, no `-0`, no `007`.
pub fn parse_integer(bytes: &[u8]) -> Result<i64, CommandError> {
    if bytes == b"0" {
        return Ok(0);
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let well_formed = bytes.len() <= MAX_INTEGER_LEN
        && digits.first().is_some_and(|d| (b'1'..=b'9').contains(d))
        && digits.iter().all(u8::is_ascii_digit);
    if !well_formed {
        return Err(CommandError::NotInteger);
    }
    // Digits only, so UTF-8; out-of-range values fail here.
    std::str::from_utf8(bytes).ok().and_then(|text| text.parse().ok()).ok_or(CommandError::NotInteger)
}

/// An argument upper-cased on the stack, for matching it against option names (`EX`, `WITHSCORES`):
/// reading an option allocates nothing. A word longer than [`Upper::ROOM`] reads as empty, which no
/// option name is, so it matches none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Upper {
    bytes: [u8; Upper::ROOM],
    len: u8,
}

impl Upper {
    /// Longer than any option name (`WITHMATCHLEN` is 12).
    const ROOM: usize = 16;

    /// The upper-cased word (empty if it was too long to be an option).
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// `word` upper-cased as an [`Upper`].
pub(crate) fn upper(word: &[u8]) -> Upper {
    let mut bytes = [0u8; Upper::ROOM];
    let Some(room) = bytes.get_mut(..word.len()) else { return Upper { bytes, len: 0 } };
    for (to, from) in room.iter_mut().zip(word) {
        *to = from.to_ascii_uppercase();
    }
    Upper { bytes, len: word.len() as u8 }
}

/// The keys, members or elements a command takes any number of. Most requests carry one (`SADD key
/// member`, `RPUSH key element`, `DEL key`): it is held inline, so parsing such a request allocates
/// no list (a `malloc` and a `free` on every `SADD`, ~5 % of its instructions).
pub type ArgList = SmallVec<[Bytes; 1]>;

/// A cursor over a command's arguments (after the name).
///
/// It borrows the request: taking an argument clones its `Bytes` (a reference count, no copy), so the
/// request is still whole after the command ran, for the slow log.
#[derive(Debug)]
pub struct Args<'a> {
    args: std::slice::Iter<'a, Bytes>,
}

impl<'a> Args<'a> {
    /// Wraps the arguments after the command name.
    pub fn new(args: &'a [Bytes]) -> Self {
        Args { args: args.iter() }
    }

    /// The next argument; arity was checked, so a missing one is a syntax error.
    pub fn take(&mut self) -> Result<Bytes, CommandError> {
        // A `match`, not `ok_or(CommandError::Syntax)`: that builds the error and drops it (a call
        // to its drop glue) on every argument taken.
        match self.args.next() {
            Some(arg) => Ok(arg.clone()),
            None => Err(CommandError::Syntax),
        }
    }

    /// The next argument, if any.
    pub fn next_opt(&mut self) -> Option<Bytes> {
        self.args.next().cloned()
    }

    /// The next argument, left in place.
    pub fn peek(&self) -> Option<&'a Bytes> {
        self.args.as_slice().first()
    }

    /// The next argument as an integer.
    pub fn integer(&mut self) -> Result<i64, CommandError> {
        parse_integer(&self.take()?)
    }

    /// All remaining arguments, in a `Vec` or an [`ArgList`].
    pub fn rest<C: FromIterator<Bytes>>(&mut self) -> C {
        self.args.by_ref().cloned().collect()
    }

    /// How many arguments are left.
    pub fn remaining(&self) -> usize {
        self.args.len()
    }

    /// Whether none are left.
    pub fn is_empty(&self) -> bool {
        self.args.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Command, CommandError> {
        let args = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        Command::parse(Request { args })
    }

    #[test]
    fn options_are_upper_cased_on_the_stack_and_long_words_match_none() {
        assert_eq!(upper(b"withScores").as_slice(), b"WITHSCORES");
        assert_eq!(upper(b"").as_slice(), b"");
        assert_eq!(upper(&[b'x'; 16]).as_slice(), &[b'X'; 16]);
        // Too long to be an option: empty, which no option name is.
        assert_eq!(upper(&[b'x'; 17]).as_slice(), b"");
        assert_eq!(parse(&["set", "k", "v", "px", "100", "Ex", "1"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "KEEPTTLKEEPTTLKEEPTTL"]), Err(CommandError::Syntax));
        let Command::ZAdd(zadd) = parse(&["zadd", "z", "ch", "Gt", "1", "a", "2.5", "b"]).unwrap() else { panic!() };
        assert!(zadd.flags.ch && zadd.flags.gt && !zadd.flags.nx);
        assert_eq!(zadd.entries, [(1.0, Bytes::from("a")), (2.5, Bytes::from("b"))]);
        assert_eq!(parse(&["zadd", "z", "nx", "1"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["zadd", "z", "1", "a", "x", "b"]), Err(CommandError::NotFloat));
    }

    #[test]
    fn unknown_command_is_worded_as_redis() {
        let err = parse(&["FOO", "a", "b"]).unwrap_err();
        assert_eq!(err.to_string(), "ERR unknown command 'FOO', with args beginning with: 'a' 'b' ");
    }

    #[test]
    fn client_names_are_checked_in_client_setname_and_hello() {
        let error = "ERR Client names cannot contain spaces, newlines or special characters.";
        assert_eq!(parse(&["client", "setname", "a b"]).unwrap_err().to_string(), error);
        assert_eq!(parse(&["hello", "3", "setname", "a\nb"]).unwrap_err().to_string(), error);
        assert!(parse(&["hello", "3", "setname", "worker-1"]).is_ok());
    }

    #[test]
    fn arity_is_checked_from_the_table() {
        assert_eq!(parse(&["get"]).unwrap_err().to_string(), "ERR wrong number of arguments for 'get' command");
        assert_eq!(
            parse(&["client", "setname"]).unwrap_err().to_string(),
            "ERR wrong number of arguments for 'client|setname' command"
        );
    }

    #[test]
    fn set_options() {
        let Command::Set(set) = parse(&["set", "k", "v", "nx", "get", "px", "100"]).unwrap() else { panic!() };
        assert_eq!(set.condition, Some(SetCondition::IfAbsent));
        assert!(set.get);
        assert_eq!(set.expiry, Some(Expiry::In(100)));
        assert_eq!(parse(&["set", "k", "v", "nx", "xx"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "ex", "1", "px", "1"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "ex"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "ex", "x"]), Err(CommandError::NotInteger));
        assert_eq!(
            parse(&["set", "k", "v", "ex", "0"]).unwrap_err().to_string(),
            "ERR invalid expire time in 'set' command"
        );
    }

    #[test]
    fn integers_follow_redis_string2ll() {
        assert_eq!(parse_integer(b"0"), Ok(0));
        assert_eq!(parse_integer(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_integer(b"9223372036854775807"), Ok(i64::MAX));
        for bad in [&b""[..], b"-", b"-0", b"007", b"+1", b" 1", b"1 ", b"9223372036854775808", b"1e3", b"0x10"] {
            assert_eq!(parse_integer(bad), Err(CommandError::NotInteger), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn set_options_as_redis_7_accepts_them() {
        let Command::Set(set) = parse(&["set", "k", "v", "nx", "nx", "ex", "1", "ex", "2"]).unwrap() else { panic!() };
        assert_eq!((set.condition, set.expiry), (Some(SetCondition::IfAbsent), Some(Expiry::In(2000))));
        // Options are all checked before the amount is read.
        assert_eq!(parse(&["set", "k", "v", "ex", "x", "nx", "xx"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["set", "k", "v", "keepttl", "px", "1"]), Err(CommandError::Syntax));
        let Command::Set(set) = parse(&["setex", "k", "5", "v"]).unwrap() else { panic!() };
        assert_eq!((set.value.as_ref(), set.expiry), (&b"v"[..], Some(Expiry::In(5000))));
        assert_eq!(
            parse(&["psetex", "k", "0", "v"]).unwrap_err().to_string(),
            "ERR invalid expire time in 'psetex' command"
        );
    }

    #[test]
    fn expire_options_and_errors() {
        let Command::Expire(expire) = parse(&["pexpireat", "k", "-5", "xx", "GT"]).unwrap() else { panic!() };
        assert_eq!(expire.when, Expiry::At(-5));
        assert!(expire.condition.xx && expire.condition.gt && !expire.condition.nx);
        assert_eq!(
            parse(&["expire", "k", "1", "nx", "lt"]).unwrap_err().to_string(),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            parse(&["expire", "k", "1", "gt", "lt"]).unwrap_err().to_string(),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(parse(&["expire", "k", "1", "zz"]).unwrap_err().to_string(), "ERR Unsupported option zz");
        assert_eq!(
            parse(&["expire", "k", "9223372036854775807"]).unwrap_err().to_string(),
            "ERR invalid expire time in 'expire' command"
        );
    }

    #[test]
    fn multi_key_and_scan_arguments() {
        assert_eq!(
            parse(&["mset", "a", "1", "b"]).unwrap_err().to_string(),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            parse(&["decrby", "k", "-9223372036854775808"]).unwrap_err().to_string(),
            "ERR decrement would overflow"
        );
        assert_eq!(parse(&["scan", "x"]).unwrap_err().to_string(), "ERR invalid cursor");
        assert_eq!(parse(&["scan", "0", "count", "0"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["scan", "0", "match"]), Err(CommandError::Syntax));
        let Command::Scan(scan) = parse(&["scan", "17", "match", "*", "count", "5"]).unwrap() else { panic!() };
        assert_eq!((scan.cursor, scan.pattern, scan.count), (17, None, Some(5)));
        assert_eq!(parse(&["flushdb", "async"]), Ok(Command::FlushDb));
        assert_eq!(parse(&["flushall", "later"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["auth", "a", "b", "c"]), Err(CommandError::Syntax));
    }
}
