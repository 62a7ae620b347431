//! One parser per command, named after it and referenced by its row of the [command table](crate::table).
//!
//! A parser gets the arguments after the command's name (and after the subcommand's, for a
//! subcommand); arity was checked against the table before, so a parser only checks what arity
//! cannot: option names, numbers, contradictions. Every error is Redis's text for the same case.

use bytes::Bytes;

use crate::command::{
    expiry_from, parse_integer, upper, Args, BitCountRange, BitField, BitFieldKind, BitFieldOp, BitOperation,
    BitPosRange, BitUnit, ClientCommand, ClientKill, ClientType, CollectionScan, Command, CommandCommand, CopyKey,
    DebugCommand, Expire, ExpireCondition, Expiry, GetExAction, Hello, LcsOptions, MemoryCommand, ObjectCommand,
    Overflow, PubSubCommand, ReplyMode, Restore, Scan, ScanOptions, Set, SetCondition, SetOperation, Shutdown,
    SlowlogCommand, SubscriptionKind, Upper, MILLIS_PER_SECOND,
};
// --- lists ---
use crate::command::{ArgList, BlockTimeout, ListEnd};
// --- scripting ---
use crate::command::{RestorePolicy, ScriptCall, ScriptCommand, ScriptTarget};
use crate::table::{self, CommandSpec};
use crate::CommandError;

type Parsed = Result<Command, CommandError>;

// ---- strings -------------------------------------------------------------------------------------

pub(crate) fn get(args: &mut Args) -> Parsed {
    Ok(Command::Get { key: args.take()? })
}

pub(crate) fn set(args: &mut Args) -> Parsed {
    Ok(Command::Set(parse_set(args)?))
}

pub(crate) fn getdel(args: &mut Args) -> Parsed {
    Ok(Command::GetDel { key: args.take()? })
}

pub(crate) fn getset(args: &mut Args) -> Parsed {
    Ok(Command::GetSet { key: args.take()?, value: args.take()? })
}

pub(crate) fn mget(args: &mut Args) -> Parsed {
    Ok(Command::MGet { keys: args.rest() })
}

pub(crate) fn mset(args: &mut Args) -> Parsed {
    Ok(Command::MSet { pairs: pairs("mset", args)? })
}

pub(crate) fn msetnx(args: &mut Args) -> Parsed {
    Ok(Command::MSetNx { pairs: pairs("msetnx", args)? })
}

pub(crate) fn setnx(args: &mut Args) -> Parsed {
    Ok(Command::SetNx { key: args.take()?, value: args.take()? })
}

pub(crate) fn setex(args: &mut Args) -> Parsed {
    set_with_expiry(args, b"EX", "setex")
}

pub(crate) fn psetex(args: &mut Args) -> Parsed {
    set_with_expiry(args, b"PX", "psetex")
}

/// `SETEX key seconds value` and `PSETEX key milliseconds value` are a `SET` with an expiry.
fn set_with_expiry(args: &mut Args, unit: &[u8], command: &'static str) -> Parsed {
    let key = args.take()?;
    let amount = args.integer()?;
    let expiry = Some(expiry_from(unit, amount, command)?);
    Ok(Command::Set(Set { key, value: args.take()?, condition: None, get: false, expiry, command }))
}

pub(crate) fn incr(args: &mut Args) -> Parsed {
    Ok(Command::IncrBy { key: args.take()?, delta: 1 })
}

pub(crate) fn decr(args: &mut Args) -> Parsed {
    Ok(Command::IncrBy { key: args.take()?, delta: -1 })
}

pub(crate) fn incrby(args: &mut Args) -> Parsed {
    Ok(Command::IncrBy { key: args.take()?, delta: args.integer()? })
}

pub(crate) fn decrby(args: &mut Args) -> Parsed {
    let key = args.take()?;
    // Negating i64::MIN overflows, and Redis says so in its own words.
    let delta = args.integer()?.checked_neg().ok_or(CommandError::Other("ERR decrement would overflow".into()))?;
    Ok(Command::IncrBy { key, delta })
}

pub(crate) fn append(args: &mut Args) -> Parsed {
    Ok(Command::Append { key: args.take()?, value: args.take()? })
}

pub(crate) fn strlen(args: &mut Args) -> Parsed {
    Ok(Command::Strlen { key: args.take()? })
}

/// Parses `SET`'s options exactly as Redis 7 does: every option is checked before the expiry amount is
/// read, a repeated `NX`, `GET` or `EX` is accepted (the last amount wins), and only contradictions
/// (`NX` with `XX`, two different expiry kinds, `KEEPTTL` with an expiry) are syntax errors.
fn parse_set(args: &mut Args) -> Result<Set, CommandError> {
    let key = args.take()?;
    let value = args.take()?;
    let mut set = Set { key, value, condition: None, get: false, expiry: None, command: "set" };
    let mut keep_ttl = false;
    // The expiry option's upper-case name and its amount, read after every option is known to be valid.
    let mut expire: Option<(Upper, Bytes)> = None;
    while let Some(option) = args.next_opt() {
        let option = upper(&option);
        let other_expiry = |name: &[u8]| keep_ttl || expire.as_ref().is_some_and(|(kind, _)| kind.as_slice() != name);
        match option.as_slice() {
            b"NX" if set.condition != Some(SetCondition::IfPresent) => set.condition = Some(SetCondition::IfAbsent),
            b"XX" if set.condition != Some(SetCondition::IfAbsent) => set.condition = Some(SetCondition::IfPresent),
            b"GET" => set.get = true,
            b"KEEPTTL" if expire.is_none() => keep_ttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !other_expiry(option.as_slice()) && !args.is_empty() => {
                let amount = args.take()?;
                expire = Some((option, amount));
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    if keep_ttl {
        set.expiry = Some(Expiry::Keep);
    }
    if let Some((unit, amount)) = expire {
        set.expiry = Some(expiry_from(unit.as_slice(), parse_integer(&amount)?, "set")?);
    }
    Ok(set)
}

/// `MSET`'s and `MSETNX`'s key/value pairs; an odd count is an arity error, as Redis words it.
fn pairs(command: &str, args: &mut Args) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
    if args.remaining() % 2 != 0 {
        return Err(CommandError::WrongArity(command.to_owned()));
    }
    let mut pairs = Vec::with_capacity(args.remaining() / 2);
    while let Some(key) = args.next_opt() {
        pairs.push((key, args.take()?));
    }
    Ok(pairs)
}

pub(crate) fn getex(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let mut persist = false;
    // The expiry option's upper-case name and its amount; a repeat of the same option is accepted.
    let mut expire: Option<(Upper, Bytes)> = None;
    while let Some(option) = args.next_opt() {
        let option = upper(&option);
        match option.as_slice() {
            b"PERSIST" if expire.is_none() => persist = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT"
                if !persist
                    && expire.as_ref().is_none_or(|(kind, _)| kind.as_slice() == option.as_slice())
                    && !args.is_empty() =>
            {
                expire = Some((option, args.take()?));
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    let action = match expire {
        Some((unit, amount)) => {
            GetExAction::Expire(parse_integer(&amount).and_then(|amount| expiry_from(unit.as_slice(), amount, "getex")))
        }
        None if persist => GetExAction::Persist,
        None => GetExAction::Keep,
    };
    Ok(Command::GetEx { key, action })
}

pub(crate) fn getrange(args: &mut Args) -> Parsed {
    Ok(Command::GetRange { key: args.take()?, start: args.integer()?, end: args.integer()? })
}

/// `SUBSTR` is `GETRANGE` under its name from Redis 1.0.
pub(crate) fn substr(args: &mut Args) -> Parsed {
    getrange(args)
}

pub(crate) fn setrange(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let offset = u64::try_from(args.integer()?).map_err(|_| CommandError::OutOfRange("offset is out of range"))?;
    Ok(Command::SetRange { key, offset, value: args.take()? })
}

pub(crate) fn incrbyfloat(args: &mut Args) -> Parsed {
    Ok(Command::IncrByFloat { key: args.take()?, increment: args.take()? })
}

pub(crate) fn lcs(args: &mut Args) -> Parsed {
    Ok(Command::Lcs { key1: args.take()?, key2: args.take()?, options: lcs_options(args) })
}

/// `LCS`'s options, in Redis's order of checks: each word, then the one contradiction.
fn lcs_options(args: &mut Args) -> Result<LcsOptions, CommandError> {
    let mut options = LcsOptions::default();
    while let Some(option) = args.next_opt() {
        match upper(&option).as_slice() {
            b"IDX" => options.idx = true,
            b"LEN" => options.len = true,
            b"WITHMATCHLEN" => options.with_match_len = true,
            b"MINMATCHLEN" if !args.is_empty() => options.min_match_len = args.integer()?.max(0).unsigned_abs(),
            _ => return Err(CommandError::Syntax),
        }
    }
    if options.len && options.idx {
        return Err(CommandError::Other("ERR If you want both the length and indexes, please just use IDX.".into()));
    }
    Ok(options)
}

pub(crate) fn setbit(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let offset = bit_offset(&args.take()?, None)?;
    let bit = match parse_integer(&args.take()?) {
        Ok(0) => Ok(false),
        Ok(1) => Ok(true),
        _ => Err(CommandError::BitValue),
    };
    Ok(Command::SetBit { key, offset, bit })
}

pub(crate) fn getbit(args: &mut Args) -> Parsed {
    Ok(Command::GetBit { key: args.take()?, offset: bit_offset(&args.take()?, None)? })
}

/// A bit offset as Redis reads one: a non-negative integer or `ERR bit offset ...`. With `width`
/// (`BITFIELD`), `#n` means the n-th field of that width; the product wraps on overflow as Redis's C
/// multiplication does, and a wrapped negative offset is refused like any negative one. The check
/// against `--proto-max-bulk-len` is the server's.
fn bit_offset(text: &[u8], width: Option<u32>) -> Result<u64, CommandError> {
    let (digits, width) = match (text.strip_prefix(b"#"), width) {
        (Some(digits), Some(width)) => (digits, i64::from(width)),
        _ => (text, 1),
    };
    let offset = parse_integer(digits).map_err(|_| CommandError::BitOffset)?.wrapping_mul(width);
    u64::try_from(offset).map_err(|_| CommandError::BitOffset)
}

pub(crate) fn bitcount(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let range = bitcount_range(&args.rest::<Vec<_>>());
    Ok(Command::BitCount { key, range })
}

/// `BITCOUNT`'s range, in Redis's order of checks: both indexes, the empty-range shortcut, the unit.
fn bitcount_range(words: &[Bytes]) -> Result<BitCountRange, CommandError> {
    let (start, end, unit) = match words {
        [] => return Ok(BitCountRange::Whole),
        [start, end] => (start, end, None),
        [start, end, unit] => (start, end, Some(unit)),
        _ => return Err(CommandError::Syntax),
    };
    let (start, end) = (parse_integer(start)?, parse_integer(end)?);
    if start < 0 && end < 0 && start > end {
        return Ok(BitCountRange::Empty);
    }
    Ok(BitCountRange::Range { start, end, unit: bit_unit(unit)? })
}

/// `BYTE` or `BIT`, in any case; absent means bytes.
fn bit_unit(word: Option<&Bytes>) -> Result<BitUnit, CommandError> {
    match word {
        None => Ok(BitUnit::Byte),
        Some(word) if word.eq_ignore_ascii_case(b"BYTE") => Ok(BitUnit::Byte),
        Some(word) if word.eq_ignore_ascii_case(b"BIT") => Ok(BitUnit::Bit),
        Some(_) => Err(CommandError::Syntax),
    }
}

pub(crate) fn bitpos(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let bit = match args.integer()? {
        0 => false,
        1 => true,
        _ => return Err(CommandError::Other("ERR The bit argument must be 1 or 0.".into())),
    };
    let range = bitpos_range(&args.rest::<Vec<_>>());
    Ok(Command::BitPos { key, bit, range })
}

/// `BITPOS`'s range, in Redis's order of checks: start, the unit, then end.
fn bitpos_range(words: &[Bytes]) -> Result<BitPosRange, CommandError> {
    let (start, end, unit) = match words {
        [] => return Ok(BitPosRange::Whole),
        [start] => (start, None, None),
        [start, end] => (start, Some(end), None),
        [start, end, unit] => (start, Some(end), Some(unit)),
        _ => return Err(CommandError::Syntax),
    };
    let start = parse_integer(start)?;
    let unit = bit_unit(unit)?;
    let end = end.map(|end| parse_integer(end)).transpose()?;
    Ok(BitPosRange::From { start, end, unit })
}

pub(crate) fn bitop(args: &mut Args) -> Parsed {
    let operation = args.take()?;
    let operation = match upper(&operation).as_slice() {
        b"AND" => BitOperation::And,
        b"OR" => BitOperation::Or,
        b"XOR" => BitOperation::Xor,
        b"NOT" => BitOperation::Not,
        _ => return Err(CommandError::Syntax),
    };
    let destination = args.take()?;
    let sources: Vec<Bytes> = args.rest();
    if operation == BitOperation::Not && sources.len() != 1 {
        return Err(CommandError::Other("ERR BITOP NOT must be called with a single source key.".into()));
    }
    Ok(Command::BitOp { operation, destination, sources })
}

pub(crate) fn bitfield(args: &mut Args) -> Parsed {
    Ok(Command::BitField(parse_bitfield(args)))
}

/// `BITFIELD_RO` takes only `GET`; anything else is refused once the arguments are known to be valid.
pub(crate) fn bitfield_ro(args: &mut Args) -> Parsed {
    let mut bitfield = parse_bitfield(args);
    if bitfield.error.is_none() && bitfield.ops.iter().any(|op| op.kind != BitFieldKind::Get) {
        bitfield.error = Some((None, CommandError::Other("ERR BITFIELD_RO only supports the GET subcommand".into())));
    }
    Ok(Command::BitField(bitfield))
}

/// Reads `BITFIELD`'s operations up to the first error, as Redis does: each operation's name and
/// argument count, its type, its offset, then its value.
fn parse_bitfield(args: &mut Args) -> BitField {
    let mut bitfield = BitField { key: Bytes::new(), ops: Vec::new(), error: None };
    let Ok(key) = args.take() else { return bitfield };
    bitfield.key = key;
    let mut overflow = Overflow::default();
    while let Some(name) = args.next_opt() {
        let remaining = args.remaining();
        let name = upper(&name);
        let kind = match name.as_slice() {
            b"GET" if remaining >= 2 => BitFieldKind::Get,
            b"SET" if remaining >= 3 => BitFieldKind::Set(0),
            b"INCRBY" if remaining >= 3 => BitFieldKind::IncrBy(0),
            b"OVERFLOW" if remaining >= 1 => {
                let mode = args.next_opt().unwrap_or_default();
                overflow = match upper(&mode).as_slice() {
                    b"WRAP" => Overflow::Wrap,
                    b"SAT" => Overflow::Sat,
                    b"FAIL" => Overflow::Fail,
                    _ => {
                        bitfield.error =
                            Some((None, CommandError::Other("ERR Invalid OVERFLOW type specified".into())));
                        return bitfield;
                    }
                };
                continue;
            }
            _ => {
                bitfield.error = Some((None, CommandError::Syntax));
                return bitfield;
            }
        };
        let (signed, bits) = match bitfield_type(&args.next_opt().unwrap_or_default()) {
            Ok(encoding) => encoding,
            Err(err) => {
                bitfield.error = Some((None, err));
                return bitfield;
            }
        };
        let offset = match bit_offset(&args.next_opt().unwrap_or_default(), Some(bits)) {
            Ok(offset) => offset,
            Err(err) => {
                bitfield.error = Some((None, err));
                return bitfield;
            }
        };
        let kind = match kind {
            BitFieldKind::Get => kind,
            _ => match parse_integer(&args.next_opt().unwrap_or_default()) {
                Ok(value) if matches!(kind, BitFieldKind::Set(_)) => BitFieldKind::Set(value),
                Ok(value) => BitFieldKind::IncrBy(value),
                Err(err) => {
                    bitfield.error = Some((Some(offset), err));
                    return bitfield;
                }
            },
        };
        bitfield.ops.push(BitFieldOp { kind, signed, bits, offset, overflow });
    }
    bitfield
}

/// A field type, `i1`..`i64` or `u1`..`u63` (lower case only, as in Redis).
fn bitfield_type(text: &[u8]) -> Result<(bool, u32), CommandError> {
    let invalid = || {
        CommandError::Other(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.".into(),
        )
    };
    let (signed, max) = match text.first() {
        Some(b'i') => (true, 64),
        Some(b'u') => (false, 63),
        _ => return Err(invalid()),
    };
    let bits = parse_integer(&text[1..]).map_err(|_| invalid())?;
    match u32::try_from(bits) {
        Ok(bits) if (1..=max).contains(&bits) => Ok((signed, bits)),
        _ => Err(invalid()),
    }
}

// ---- hashes --------------------------------------------------------------------------------------

pub(crate) fn hset(args: &mut Args) -> Parsed {
    let key = args.take()?;
    Ok(Command::HSet { key, pairs: pairs("hset", args)?, hmset: false })
}

pub(crate) fn hmset(args: &mut Args) -> Parsed {
    let key = args.take()?;
    Ok(Command::HSet { key, pairs: pairs("hmset", args)?, hmset: true })
}

pub(crate) fn hsetnx(args: &mut Args) -> Parsed {
    Ok(Command::HSetNx { key: args.take()?, field: args.take()?, value: args.take()? })
}

pub(crate) fn hget(args: &mut Args) -> Parsed {
    Ok(Command::HGet { key: args.take()?, field: args.take()? })
}

pub(crate) fn hmget(args: &mut Args) -> Parsed {
    Ok(Command::HMGet { key: args.take()?, fields: args.rest() })
}

pub(crate) fn hdel(args: &mut Args) -> Parsed {
    Ok(Command::HDel { key: args.take()?, fields: args.rest() })
}

pub(crate) fn hlen(args: &mut Args) -> Parsed {
    Ok(Command::HLen { key: args.take()? })
}

pub(crate) fn hstrlen(args: &mut Args) -> Parsed {
    Ok(Command::HStrlen { key: args.take()?, field: args.take()? })
}

pub(crate) fn hexists(args: &mut Args) -> Parsed {
    Ok(Command::HExists { key: args.take()?, field: args.take()? })
}

pub(crate) fn hkeys(args: &mut Args) -> Parsed {
    Ok(Command::HKeys { key: args.take()? })
}

pub(crate) fn hvals(args: &mut Args) -> Parsed {
    Ok(Command::HVals { key: args.take()? })
}

pub(crate) fn hgetall(args: &mut Args) -> Parsed {
    Ok(Command::HGetAll { key: args.take()? })
}

pub(crate) fn hincrby(args: &mut Args) -> Parsed {
    Ok(Command::HIncrBy { key: args.take()?, field: args.take()?, delta: args.integer()? })
}

pub(crate) fn hincrbyfloat(args: &mut Args) -> Parsed {
    Ok(Command::HIncrByFloat { key: args.take()?, field: args.take()?, increment: args.take()? })
}

pub(crate) fn hscan(args: &mut Args) -> Parsed {
    Ok(Command::HScan(collection_scan(args)?))
}

/// A count Redis reads with `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`: `i64::MIN` is refused
/// (its negation, the number of picks, does not fit).
pub(crate) fn random_count(text: &[u8]) -> Result<i64, CommandError> {
    match parse_integer(text)? {
        i64::MIN => Err(CommandError::Other(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807".into(),
        )),
        count => Ok(count),
    }
}

/// `HRANDFIELD key [count [WITHVALUES]]`.
pub(crate) fn hrandfield(args: &mut Args) -> Parsed {
    let key = args.take()?;
    Ok(Command::HRandField { key, count: random_count_with(args, b"WITHVALUES")? })
}

/// The `[count [flag]]` of `HRANDFIELD`/`ZRANDMEMBER` (flag `WITHVALUES`/`WITHSCORES`), with Redis's
/// order of checks: the count, the option, then the range a count with values may have (twice as
/// many replies must still be countable).
pub(crate) fn random_count_with(args: &mut Args, flag: &[u8]) -> Result<Option<(i64, bool)>, CommandError> {
    let Some(count) = args.next_opt() else { return Ok(None) };
    let count = random_count(&count)?;
    let with = match args.next_opt() {
        None => false,
        Some(option) if option.eq_ignore_ascii_case(flag) && args.is_empty() => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    if with && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CommandError::Other("ERR value is out of range".into()));
    }
    Ok(Some((count, with)))
}

/// The key and cursor of `HSCAN`/`SSCAN`, and their options (kept as an error when bad: Redis reads
/// them after it has looked at the key).
pub(crate) fn collection_scan(args: &mut Args) -> Result<CollectionScan, CommandError> {
    let key = args.take()?;
    let cursor = args.take()?;
    let cursor = parse_cursor(&cursor).ok_or(CommandError::Other("ERR invalid cursor".into()))?;
    let mut options = || {
        let mut options = ScanOptions::default();
        while let Some(option) = args.next_opt() {
            if args.is_empty() {
                return Err(CommandError::Syntax);
            }
            match upper(&option).as_slice() {
                b"COUNT" => {
                    let count = args.integer()?;
                    options.count = Some(u64::try_from(count).ok().filter(|&c| c >= 1).ok_or(CommandError::Syntax)?);
                }
                b"MATCH" => {
                    let pattern = args.take()?;
                    options.pattern = (pattern.as_ref() != b"*").then_some(pattern);
                }
                _ => return Err(CommandError::Syntax),
            }
        }
        Ok(options)
    };
    let options = options();
    Ok(CollectionScan { key, cursor, options })
}

// ---- sets ----------------------------------------------------------------------------------------

pub(crate) fn sadd(args: &mut Args) -> Parsed {
    Ok(Command::SAdd { key: args.take()?, members: args.rest() })
}

pub(crate) fn srem(args: &mut Args) -> Parsed {
    Ok(Command::SRem { key: args.take()?, members: args.rest() })
}

pub(crate) fn sismember(args: &mut Args) -> Parsed {
    Ok(Command::SIsMember { key: args.take()?, member: args.take()? })
}

pub(crate) fn smismember(args: &mut Args) -> Parsed {
    Ok(Command::SMIsMember { key: args.take()?, members: args.rest() })
}

pub(crate) fn smembers(args: &mut Args) -> Parsed {
    Ok(Command::SMembers { key: args.take()? })
}

pub(crate) fn scard(args: &mut Args) -> Parsed {
    Ok(Command::SCard { key: args.take()? })
}

/// `SPOP key [count]`: a count must be a non-negative integer, checked before the key is looked at.
pub(crate) fn spop(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let count = match args.next_opt() {
        None => None,
        Some(_) if !args.is_empty() => return Err(CommandError::Syntax),
        // Redis's getPositiveLong: anything but a non-negative integer gets the same words.
        Some(count) => Some(
            parse_integer(&count)
                .ok()
                .and_then(|count| u64::try_from(count).ok())
                .ok_or(CommandError::Other("ERR value is out of range, must be positive".into()))?,
        ),
    };
    Ok(Command::SPop { key, count })
}

pub(crate) fn srandmember(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let count = match args.next_opt() {
        None => None,
        Some(_) if !args.is_empty() => return Err(CommandError::Syntax),
        Some(count) => Some(random_count(&count)?),
    };
    Ok(Command::SRandMember { key, count })
}

pub(crate) fn smove(args: &mut Args) -> Parsed {
    Ok(Command::SMove { source: args.take()?, destination: args.take()?, member: args.take()? })
}

fn set_algebra(args: &mut Args, operation: SetOperation, store: bool) -> Parsed {
    let destination = if store { Some(args.take()?) } else { None };
    Ok(Command::SetAlgebra { operation, destination, keys: args.rest() })
}

pub(crate) fn sinter(args: &mut Args) -> Parsed {
    set_algebra(args, SetOperation::Inter, false)
}

pub(crate) fn sinterstore(args: &mut Args) -> Parsed {
    set_algebra(args, SetOperation::Inter, true)
}

pub(crate) fn sunion(args: &mut Args) -> Parsed {
    set_algebra(args, SetOperation::Union, false)
}

pub(crate) fn sunionstore(args: &mut Args) -> Parsed {
    set_algebra(args, SetOperation::Union, true)
}

pub(crate) fn sdiff(args: &mut Args) -> Parsed {
    set_algebra(args, SetOperation::Diff, false)
}

pub(crate) fn sdiffstore(args: &mut Args) -> Parsed {
    set_algebra(args, SetOperation::Diff, true)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`, with Redis's texts for a bad count or limit.
pub(crate) fn sintercard(args: &mut Args) -> Parsed {
    let numkeys = args.take()?;
    let numkeys = parse_integer(&numkeys)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or(CommandError::Other("ERR numkeys should be greater than 0".into()))?;
    if numkeys > args.remaining() as i64 {
        return Err(CommandError::Other("ERR Number of keys can't be greater than number of args".into()));
    }
    let keys: Vec<Bytes> = (0..numkeys).filter_map(|_| args.next_opt()).collect();
    let mut limit = 0;
    while let Some(option) = args.next_opt() {
        if !option.eq_ignore_ascii_case(b"LIMIT") || args.is_empty() {
            return Err(CommandError::Syntax);
        }
        let value = args.take()?;
        limit = parse_integer(&value)
            .ok()
            .and_then(|limit| u64::try_from(limit).ok())
            .ok_or(CommandError::Other("ERR LIMIT can't be negative".into()))?;
    }
    Ok(Command::SInterCard { keys, limit })
}

pub(crate) fn sscan(args: &mut Args) -> Parsed {
    Ok(Command::SScan(collection_scan(args)?))
}

// ---- keyspace ------------------------------------------------------------------------------------

pub(crate) fn del(args: &mut Args) -> Parsed {
    Ok(Command::Del { keys: args.rest() })
}

/// `UNLINK` is `DEL` in a store that frees memory at once.
pub(crate) fn unlink(args: &mut Args) -> Parsed {
    del(args)
}

pub(crate) fn exists(args: &mut Args) -> Parsed {
    Ok(Command::Exists { keys: args.rest() })
}

pub(crate) fn expire(args: &mut Args) -> Parsed {
    parse_expire(args, "expire", true, false)
}

pub(crate) fn pexpire(args: &mut Args) -> Parsed {
    parse_expire(args, "pexpire", false, false)
}

pub(crate) fn expireat(args: &mut Args) -> Parsed {
    parse_expire(args, "expireat", true, true)
}

pub(crate) fn pexpireat(args: &mut Args) -> Parsed {
    parse_expire(args, "pexpireat", false, true)
}

/// The `EXPIRE` family, in Redis's order of checks: options first, then the amount, then its range.
fn parse_expire(args: &mut Args, command: &'static str, seconds: bool, absolute: bool) -> Parsed {
    let key = args.take()?;
    let amount = args.take()?;
    let mut condition = ExpireCondition::default();
    while let Some(option) = args.next_opt() {
        match upper(&option).as_slice() {
            b"NX" => condition.nx = true,
            b"XX" => condition.xx = true,
            b"GT" => condition.gt = true,
            b"LT" => condition.lt = true,
            _ => {
                return Err(CommandError::Other(format!("ERR Unsupported option {}", String::from_utf8_lossy(&option))))
            }
        }
    }
    if condition.nx && (condition.xx || condition.gt || condition.lt) {
        return Err(CommandError::Other("ERR NX and XX, GT or LT options at the same time are not compatible".into()));
    }
    if condition.gt && condition.lt {
        return Err(CommandError::Other("ERR GT and LT options at the same time are not compatible".into()));
    }
    let amount = parse_integer(&amount)?;
    let millis = if seconds {
        amount.checked_mul(MILLIS_PER_SECOND).ok_or_else(|| CommandError::InvalidExpire(command.to_owned()))?
    } else {
        amount
    };
    let when = if absolute { Expiry::At(millis) } else { Expiry::In(millis) };
    Ok(Command::Expire(Expire { key, when, condition, command }))
}

pub(crate) fn ttl(args: &mut Args) -> Parsed {
    Ok(Command::Ttl { key: args.take()?, millis: false })
}

pub(crate) fn pttl(args: &mut Args) -> Parsed {
    Ok(Command::Ttl { key: args.take()?, millis: true })
}

pub(crate) fn persist(args: &mut Args) -> Parsed {
    Ok(Command::Persist { key: args.take()? })
}

pub(crate) fn type_of(args: &mut Args) -> Parsed {
    Ok(Command::Type { key: args.take()? })
}

pub(crate) fn rename(args: &mut Args) -> Parsed {
    Ok(Command::Rename { key: args.take()?, new_key: args.take()? })
}

pub(crate) fn renamenx(args: &mut Args) -> Parsed {
    Ok(Command::RenameNx { key: args.take()?, new_key: args.take()? })
}

/// `COPY`'s options in any order, each checked as it comes (a bad `DB` value before a bad option
/// after it), as Redis does; `REPLACE` may repeat. An error after a `DB` value is kept for the server,
/// which checks that value's range first.
pub(crate) fn copy(args: &mut Args) -> Parsed {
    let (source, destination) = (args.take()?, args.take()?);
    let mut copy = CopyKey { source, destination, dbs: Vec::new(), then: None, replace: false };
    while let Some(option) = args.next_opt() {
        let parsed = if option.eq_ignore_ascii_case(b"REPLACE") {
            copy.replace = true;
            Ok(())
        } else if option.eq_ignore_ascii_case(b"DB") && !args.is_empty() {
            int_arg(args).map(|db| copy.dbs.push(db))
        } else {
            Err(CommandError::Syntax)
        };
        if let Err(err) = parsed {
            if copy.dbs.is_empty() {
                return Err(err);
            }
            copy.then = Some(err);
            break;
        }
    }
    Ok(Command::Copy(copy))
}

pub(crate) fn move_key(args: &mut Args) -> Parsed {
    Ok(Command::Move { key: args.take()?, db: int_arg(args)? })
}

/// `SWAPDB`'s indexes: anything but a C `int` is Redis's "invalid first/second DB index".
pub(crate) fn swapdb(args: &mut Args) -> Parsed {
    let index = |args: &mut Args| args.integer().ok().filter(|&i| i32::try_from(i).is_ok());
    let first = index(args).ok_or_else(|| CommandError::Other("ERR invalid first DB index".into()))?;
    let second = index(args).ok_or_else(|| CommandError::Other("ERR invalid second DB index".into()))?;
    Ok(Command::SwapDb { first, second })
}

pub(crate) fn touch(args: &mut Args) -> Parsed {
    Ok(Command::Touch { keys: args.rest() })
}

pub(crate) fn expiretime(args: &mut Args) -> Parsed {
    Ok(Command::ExpireTime { key: args.take()?, millis: false })
}

pub(crate) fn pexpiretime(args: &mut Args) -> Parsed {
    Ok(Command::ExpireTime { key: args.take()?, millis: true })
}

pub(crate) fn randomkey(_: &mut Args) -> Parsed {
    Ok(Command::RandomKey)
}

pub(crate) fn keys(args: &mut Args) -> Parsed {
    Ok(Command::Keys { pattern: args.take()? })
}

/// `SCAN`'s cursor and options, with Redis's errors: a cursor that is not an unsigned number is
/// `ERR invalid cursor`, a `COUNT` below 1 a syntax error.
pub(crate) fn scan(args: &mut Args) -> Parsed {
    let cursor = args.take()?;
    let cursor = parse_cursor(&cursor).ok_or(CommandError::Other("ERR invalid cursor".into()))?;
    let mut scan = Scan { cursor, pattern: None, count: None, type_name: None };
    while let Some(option) = args.next_opt() {
        if args.is_empty() {
            return Err(CommandError::Syntax);
        }
        match upper(&option).as_slice() {
            b"COUNT" => {
                let count = args.integer()?;
                scan.count = Some(u64::try_from(count).ok().filter(|&c| c >= 1).ok_or(CommandError::Syntax)?);
            }
            b"MATCH" => {
                let pattern = args.take()?;
                scan.pattern = (pattern.as_ref() != b"*").then_some(pattern);
            }
            b"TYPE" => scan.type_name = Some(args.take()?),
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(Command::Scan(scan))
}

/// A SCAN cursor as Redis's `strtoul` reads it: decimal digits after an optional `+` or `-` (a
/// negative number wraps around, as `strtoul` makes `-1` the largest cursor), empty is 0.
fn parse_cursor(bytes: &[u8]) -> Option<u64> {
    let (negative, digits) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return (bytes.is_empty()).then_some(0);
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative { value.wrapping_neg() } else { value })
}

pub(crate) fn dbsize(_: &mut Args) -> Parsed {
    Ok(Command::DbSize)
}

pub(crate) fn flushdb(args: &mut Args) -> Parsed {
    flush_mode(args)?;
    Ok(Command::FlushDb)
}

pub(crate) fn flushall(args: &mut Args) -> Parsed {
    flush_mode(args)?;
    Ok(Command::FlushAll)
}

/// `ASYNC`/`SYNC` are accepted and ignored: memory is freed at once either way.
fn flush_mode(args: &mut Args) -> Result<(), CommandError> {
    let mode = args.next_opt();
    let known = mode.as_ref().is_none_or(|m| m.eq_ignore_ascii_case(b"ASYNC") || m.eq_ignore_ascii_case(b"SYNC"));
    if !known || !args.is_empty() {
        return Err(CommandError::Syntax);
    }
    Ok(())
}

pub(crate) fn object(args: &mut Args) -> Parsed {
    subcommand("OBJECT", table::OBJECT_SUBCOMMANDS, args)
}

pub(crate) fn object_encoding(args: &mut Args) -> Parsed {
    Ok(Command::Object(ObjectCommand::Encoding(args.take()?)))
}

pub(crate) fn object_freq(args: &mut Args) -> Parsed {
    Ok(Command::Object(ObjectCommand::Freq(args.take()?)))
}

pub(crate) fn object_idletime(args: &mut Args) -> Parsed {
    Ok(Command::Object(ObjectCommand::IdleTime(args.take()?)))
}

pub(crate) fn object_refcount(args: &mut Args) -> Parsed {
    Ok(Command::Object(ObjectCommand::RefCount(args.take()?)))
}

pub(crate) fn object_help(_: &mut Args) -> Parsed {
    Ok(Command::Object(ObjectCommand::Help))
}

pub(crate) fn memory(args: &mut Args) -> Parsed {
    subcommand("MEMORY", table::MEMORY_SUBCOMMANDS, args)
}

/// Elements an aggregate value's `MEMORY USAGE` measures when `SAMPLES` is not given (Redis's default).
const DEFAULT_MEMORY_SAMPLES: u64 = 5;

/// `MEMORY USAGE key [SAMPLES count]`, in Redis's order of checks: every option before the key is
/// looked up; a count that is not a number is `ERR value is not an integer`, a negative one or any
/// other word a syntax error; the last `SAMPLES` wins.
pub(crate) fn memory_usage(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let mut samples = DEFAULT_MEMORY_SAMPLES;
    while let Some(option) = args.next_opt() {
        if !option.eq_ignore_ascii_case(b"SAMPLES") || args.is_empty() {
            return Err(CommandError::Syntax);
        }
        samples = u64::try_from(args.integer()?).map_err(|_| CommandError::Syntax)?;
    }
    Ok(Command::Memory(MemoryCommand::Usage { key, samples }))
}

pub(crate) fn memory_help(_: &mut Args) -> Parsed {
    Ok(Command::Memory(MemoryCommand::Help))
}

// ---- connection and server -----------------------------------------------------------------------

pub(crate) fn auth(args: &mut Args) -> Parsed {
    match args.remaining() {
        1 => Ok(Command::Auth { username: None, password: args.take()? }),
        2 => Ok(Command::Auth { username: Some(args.take()?), password: args.take()? }),
        _ => Err(CommandError::Syntax),
    }
}

pub(crate) fn info(args: &mut Args) -> Parsed {
    Ok(Command::Info {
        sections: args.rest::<Vec<_>>().iter().map(|s| String::from_utf8_lossy(s).to_ascii_lowercase()).collect(),
    })
}

pub(crate) fn ping(args: &mut Args) -> Parsed {
    let message = args.next_opt();
    if !args.is_empty() {
        return Err(CommandError::WrongArity("ping".to_owned()));
    }
    Ok(Command::Ping { message })
}

pub(crate) fn echo(args: &mut Args) -> Parsed {
    Ok(Command::Echo { message: args.take()? })
}

pub(crate) fn quit(_: &mut Args) -> Parsed {
    Ok(Command::Quit)
}

pub(crate) fn select(args: &mut Args) -> Parsed {
    Ok(Command::Select { index: int_arg(args)? })
}

/// An argument Redis reads as a C `int`, with its generic range error past that.
fn int_arg(args: &mut Args) -> Result<i64, CommandError> {
    let value = args.integer()?;
    if i32::try_from(value).is_err() {
        return Err(CommandError::Other(format!(
            "ERR value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        )));
    }
    Ok(value)
}

pub(crate) fn hello(args: &mut Args) -> Parsed {
    let mut hello = Hello { protover: None, auth: None, setname: None };
    let Some(version) = args.next_opt() else { return Ok(Command::Hello(hello)) };
    hello.protover = Some(
        parse_integer(&version)
            .map_err(|_| CommandError::Other("ERR Protocol version is not an integer or out of range".into()))?,
    );
    while let Some(option) = args.next_opt() {
        if option.eq_ignore_ascii_case(b"AUTH") && args.remaining() >= 2 {
            hello.auth = Some((args.take()?, args.take()?));
        } else if option.eq_ignore_ascii_case(b"SETNAME") && args.remaining() >= 1 {
            hello.setname = Some(client_name(args.take()?)?);
        } else {
            return Err(CommandError::Other(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&option)
            )));
        }
    }
    Ok(Command::Hello(hello))
}

/// A connection name as `CLIENT SETNAME` and `HELLO ... SETNAME` accept it: printable, no spaces.
fn client_name(name: Bytes) -> Result<Bytes, CommandError> {
    if name.iter().any(|&b| b <= b' ' || b > b'~') {
        return Err(CommandError::Other(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        ));
    }
    Ok(name)
}

pub(crate) fn multi(_: &mut Args) -> Parsed {
    Ok(Command::Multi)
}

pub(crate) fn exec(_: &mut Args) -> Parsed {
    Ok(Command::Exec)
}

pub(crate) fn discard(_: &mut Args) -> Parsed {
    Ok(Command::Discard)
}

pub(crate) fn watch(args: &mut Args) -> Parsed {
    Ok(Command::Watch { keys: args.rest() })
}

pub(crate) fn unwatch(_: &mut Args) -> Parsed {
    Ok(Command::Unwatch)
}

pub(crate) fn time(_: &mut Args) -> Parsed {
    Ok(Command::Time)
}

/// `WAIT numreplicas timeout`, checked in Redis's order: the count, then the timeout.
pub(crate) fn wait(args: &mut Args) -> Parsed {
    let numreplicas = args.integer()?;
    let timeout = timeout_millis(&args.take()?)?;
    Ok(Command::Wait { numreplicas, timeout })
}

/// A timeout in milliseconds as Redis's `getTimeoutFromObjectOrReply` reads it.
fn timeout_millis(text: &[u8]) -> Result<i64, CommandError> {
    let millis =
        parse_integer(text).map_err(|_| CommandError::Other("ERR timeout is not an integer or out of range".into()))?;
    if millis < 0 {
        return Err(CommandError::Other("ERR timeout is negative".into()));
    }
    Ok(millis)
}

/// `DEBUG <subcommand> ...`. Not a container in Redis's table: the subcommand and its argument count
/// are checked here, with Redis's one error for both.
pub(crate) fn debug(args: &mut Args) -> Parsed {
    let name = args.take()?;
    let argc = args.remaining() + 2;
    let command = match (name.to_ascii_lowercase().as_slice(), argc) {
        (b"help", 2) => DebugCommand::Help,
        (b"sleep", 3) => DebugCommand::Sleep { micros: sleep_micros(&args.take()?) },
        (b"set-active-expire", 3) => DebugCommand::SetActiveExpire(c_atoi(&args.take()?) != 0),
        (b"object", 3) => DebugCommand::Object(args.take()?),
        (b"change-repl-id", 2) => DebugCommand::ChangeReplId,
        (b"reload", _) => debug_reload(args)?,
        _ => {
            let shown = String::from_utf8_lossy(&name[..name.len().min(MAX_ECHO)]).into_owned();
            return Err(CommandError::Other(format!(
                "ERR unknown subcommand or wrong number of arguments for '{shown}'. Try DEBUG HELP."
            )));
        }
    };
    Ok(Command::Debug(command))
}

/// `DEBUG RELOAD`'s options. `MERGE` is accepted as Redis accepts it; it only matters with `NOFLUSH`,
/// where Redis replaces a key in both the file and memory and TinyKV's loader refuses the load.
fn debug_reload(args: &mut Args) -> Result<DebugCommand, CommandError> {
    let (mut flush, mut save) = (true, true);
    while let Some(option) = args.next_opt() {
        match upper(&option).as_slice() {
            b"NOFLUSH" => flush = false,
            b"NOSAVE" => save = false,
            b"MERGE" => {}
            _ => {
                return Err(CommandError::Other(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.".into(),
                ))
            }
        }
    }
    Ok(DebugCommand::Reload { flush, save })
}

/// Longest argument an error message repeats, as Redis's `%.128s`.
const MAX_ECHO: usize = 128;
/// Longest prefix of a `DEBUG SLEEP` argument read as a number; longer numbers are not seconds anyone means.
const MAX_FLOAT_TEXT: usize = 64;
/// Microseconds in a second.
const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// `DEBUG SLEEP`'s seconds as C's `strtod` reads them (the longest leading number; nothing readable
/// is 0), in microseconds. Negative, NaN and infinite times do not sleep.
fn sleep_micros(text: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(&text[..text.len().min(MAX_FLOAT_TEXT)]).into_owned();
    let text = text.trim_start();
    let seconds = (1..=text.len())
        .rev()
        .filter(|&end| text.is_char_boundary(end))
        .find_map(|end| text[..end].parse::<f64>().ok())
        .unwrap_or(0.0);
    let micros = seconds * MICROS_PER_SECOND;
    if micros.is_finite() && micros > 0.0 {
        micros as u64
    } else {
        0
    }
}

/// C's `atoi`: optional blanks and sign, then as many digits as there are; anything else is 0.
fn c_atoi(text: &[u8]) -> i64 {
    let text = text.trim_ascii_start();
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = digits
        .iter()
        .take_while(|d| d.is_ascii_digit())
        .fold(0i64, |acc, d| acc.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    if negative {
        -value
    } else {
        value
    }
}

// ---- container commands --------------------------------------------------------------------------

/// Finds the subcommand after a container command's name, checks its arity, and runs its parser.
fn subcommand(parent: &str, subs: &'static [CommandSpec], args: &mut Args) -> Parsed {
    let name = args.take()?;
    let Some(sub) = subs.iter().find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(&name)) else {
        return Err(CommandError::UnknownSubcommand {
            command: parent.to_owned(),
            sub: String::from_utf8_lossy(&name).into_owned(),
        });
    };
    // Arity counts the parent's name and the subcommand's.
    if !sub.arity_ok(args.remaining() + 2) {
        return Err(CommandError::WrongArity(format!("{parent}|{}", sub.name).to_ascii_lowercase()));
    }
    (sub.parse)(args)
}

pub(crate) fn command(args: &mut Args) -> Parsed {
    if args.is_empty() {
        return Ok(Command::Command(CommandCommand::All));
    }
    subcommand("COMMAND", table::COMMAND_SUBCOMMANDS, args)
}

pub(crate) fn command_count(_: &mut Args) -> Parsed {
    Ok(Command::Command(CommandCommand::Count))
}

pub(crate) fn command_docs(args: &mut Args) -> Parsed {
    Ok(Command::Command(CommandCommand::Docs(args.rest())))
}

pub(crate) fn command_info(args: &mut Args) -> Parsed {
    Ok(Command::Command(CommandCommand::Info(args.rest())))
}

pub(crate) fn command_help(_: &mut Args) -> Parsed {
    Ok(Command::Command(CommandCommand::Help))
}

pub(crate) fn config(args: &mut Args) -> Parsed {
    subcommand("CONFIG", table::CONFIG_SUBCOMMANDS, args)
}

pub(crate) fn config_get(args: &mut Args) -> Parsed {
    Ok(Command::ConfigGet { patterns: args.rest() })
}

pub(crate) fn config_help(_: &mut Args) -> Parsed {
    Ok(Command::ConfigHelp)
}

/// `CONFIG SET parameter value [parameter value ...]`: the pairs; which parameters exist and which
/// values they take is the server's business.
pub(crate) fn config_set(args: &mut Args) -> Parsed {
    if args.remaining() % 2 != 0 {
        return Err(CommandError::Syntax);
    }
    let mut pairs = Vec::with_capacity(args.remaining() / 2);
    while let Some(name) = args.next_opt() {
        pairs.push((name, args.take()?));
    }
    Ok(Command::ConfigSet { pairs })
}

pub(crate) fn config_resetstat(_: &mut Args) -> Parsed {
    Ok(Command::ConfigResetStat)
}

pub(crate) fn config_rewrite(_: &mut Args) -> Parsed {
    Ok(Command::ConfigRewrite)
}

pub(crate) fn slowlog(args: &mut Args) -> Parsed {
    // `SLOWLOG GET` takes one count at most; Redis's error repeats the subcommand as typed.
    if let Some(name) = args.peek().filter(|name| name.eq_ignore_ascii_case(b"GET") && args.remaining() > 2) {
        return Err(subcommand_syntax(name, "SLOWLOG"));
    }
    subcommand("SLOWLOG", table::SLOWLOG_SUBCOMMANDS, args)
}

/// Redis's `addReplySubcommandSyntaxError`: a known subcommand with arguments its arity allows but
/// the command does not.
fn subcommand_syntax(name: &[u8], parent: &str) -> CommandError {
    let shown = String::from_utf8_lossy(&name[..name.len().min(MAX_ECHO)]).into_owned();
    CommandError::Other(format!(
        "ERR unknown subcommand or wrong number of arguments for '{shown}'. Try {parent} HELP."
    ))
}

/// `SLOWLOG GET [count]`: `-1` means every entry; more than one argument is Redis's catch-all error.
pub(crate) fn slowlog_get(args: &mut Args) -> Parsed {
    const DEFAULT_COUNT: usize = 10;
    let count = match args.remaining() {
        0 => Some(DEFAULT_COUNT),
        1 => {
            let error = || CommandError::Other("ERR count should be greater than or equal to -1".into());
            match parse_integer(&args.take()?).map_err(|_| error())? {
                -1 => None,
                n => Some(usize::try_from(n).map_err(|_| error())?),
            }
        }
        _ => return Err(subcommand_syntax(b"get", "SLOWLOG")),
    };
    Ok(Command::Slowlog(SlowlogCommand::Get(count)))
}

pub(crate) fn slowlog_len(_: &mut Args) -> Parsed {
    Ok(Command::Slowlog(SlowlogCommand::Len))
}

pub(crate) fn slowlog_reset(_: &mut Args) -> Parsed {
    Ok(Command::Slowlog(SlowlogCommand::Reset))
}

pub(crate) fn slowlog_help(_: &mut Args) -> Parsed {
    Ok(Command::Slowlog(SlowlogCommand::Help))
}

pub(crate) fn client(args: &mut Args) -> Parsed {
    // `CLIENT PAUSE` takes a mode at most; Redis's error repeats the subcommand as typed.
    if let Some(name) = args.peek().filter(|name| name.eq_ignore_ascii_case(b"PAUSE") && args.remaining() > 3) {
        return Err(subcommand_syntax(name, "CLIENT"));
    }
    subcommand("CLIENT", table::CLIENT_SUBCOMMANDS, args)
}

pub(crate) fn client_id(_: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::Id))
}

pub(crate) fn client_getname(_: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::GetName))
}

pub(crate) fn client_setname(args: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::SetName(client_name(args.take()?)?)))
}

pub(crate) fn client_setinfo(args: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::SetInfo { attribute: args.take()?, value: args.take()? }))
}

pub(crate) fn client_help(_: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::Help))
}

pub(crate) fn client_info(_: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::Info))
}

/// `CLIENT LIST [TYPE type] | [ID id [id ...]]`, with Redis's errors: exactly one `TYPE`, or `ID`
/// with at least one id; anything else is a syntax error.
pub(crate) fn client_list(args: &mut Args) -> Parsed {
    let option = args.next_opt();
    let list = match (option, args.remaining()) {
        (None, _) => ClientCommand::List { kind: None, ids: None },
        (Some(option), 1) if option.eq_ignore_ascii_case(b"TYPE") => {
            ClientCommand::List { kind: Some(client_type(&args.take()?)?), ids: None }
        }
        (Some(option), 1..) if option.eq_ignore_ascii_case(b"ID") => {
            let invalid = |_| CommandError::Other("ERR Invalid client ID".into());
            let ids =
                args.rest::<Vec<_>>().iter().map(|id| parse_integer(id).map_err(invalid)).collect::<Result<_, _>>()?;
            ClientCommand::List { kind: None, ids: Some(ids) }
        }
        _ => return Err(CommandError::Syntax),
    };
    Ok(Command::Client(list))
}

/// A client type name, or Redis's error naming it.
fn client_type(name: &[u8]) -> Result<ClientType, CommandError> {
    ClientType::from_name(name)
        .ok_or_else(|| CommandError::Other(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(name))))
}

/// The one user TinyKV has, as Redis's ACL names the user of `requirepass`.
const DEFAULT_USER: &[u8] = b"default";

/// `CLIENT KILL ip:port` (old form) or `CLIENT KILL <option> <value> ...`, options checked in order
/// with Redis's errors.
pub(crate) fn client_kill(args: &mut Args) -> Parsed {
    if args.remaining() == 1 {
        let addr = args.take()?;
        return Ok(Command::Client(ClientCommand::Kill(ClientKill {
            old_form: true,
            addr: Some(addr),
            ..Default::default()
        })));
    }
    let mut kill = ClientKill { skipme: true, ..ClientKill::default() };
    while let Some(option) = args.next_opt() {
        let Some(value) = args.next_opt() else { return Err(CommandError::Syntax) };
        match option.to_ascii_lowercase().as_slice() {
            b"id" => {
                let error = || CommandError::Other("ERR client-id should be greater than 0".into());
                let id = parse_integer(&value).map_err(|_| error())?;
                kill.id = Some(u64::try_from(id).ok().filter(|&id| id > 0).ok_or_else(error)?);
            }
            b"type" => kill.kind = Some(client_type(&value)?),
            b"addr" => kill.addr = Some(value),
            b"laddr" => kill.laddr = Some(value),
            b"user" => {
                if value.as_ref() != DEFAULT_USER {
                    return Err(CommandError::Other(format!("ERR No such user '{}'", String::from_utf8_lossy(&value))));
                }
                kill.user = Some(value);
            }
            b"skipme" => {
                kill.skipme = match value.to_ascii_lowercase().as_slice() {
                    b"yes" => true,
                    b"no" => false,
                    _ => return Err(CommandError::Syntax),
                }
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(Command::Client(ClientCommand::Kill(kill)))
}

/// `ON` or `OFF`, any case; anything else is a syntax error.
fn on_off(args: &mut Args) -> Result<bool, CommandError> {
    match args.take()?.to_ascii_lowercase().as_slice() {
        b"on" => Ok(true),
        b"off" => Ok(false),
        _ => Err(CommandError::Syntax),
    }
}

pub(crate) fn client_no_evict(args: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::NoEvict(on_off(args)?)))
}

pub(crate) fn client_no_touch(args: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::NoTouch(on_off(args)?)))
}

pub(crate) fn client_reply(args: &mut Args) -> Parsed {
    let mode = match args.take()?.to_ascii_lowercase().as_slice() {
        b"on" => ReplyMode::On,
        b"off" => ReplyMode::Off,
        b"skip" => ReplyMode::Skip,
        _ => return Err(CommandError::Syntax),
    };
    Ok(Command::Client(ClientCommand::Reply(mode)))
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`: Redis reads the mode before the timeout.
pub(crate) fn client_pause(args: &mut Args) -> Parsed {
    let timeout = args.take()?;
    let all = match (args.next_opt(), args.remaining()) {
        (None, _) => true,
        (Some(mode), 0) => match mode.to_ascii_lowercase().as_slice() {
            b"write" => false,
            b"all" => true,
            _ => return Err(CommandError::Other("ERR CLIENT PAUSE mode must be WRITE or ALL".into())),
        },
        _ => return Err(subcommand_syntax(b"pause", "CLIENT")),
    };
    Ok(Command::Client(ClientCommand::Pause { millis: timeout_millis(&timeout)?, all }))
}

pub(crate) fn client_unpause(_: &mut Args) -> Parsed {
    Ok(Command::Client(ClientCommand::Unpause))
}

// ---- persistence ---------------------------------------------------------------------------------

pub(crate) fn save(_: &mut Args) -> Parsed {
    Ok(Command::Save)
}

pub(crate) fn bgsave(args: &mut Args) -> Parsed {
    match args.next_opt() {
        None => Ok(Command::BgSave { schedule: false }),
        Some(option) if option.eq_ignore_ascii_case(b"SCHEDULE") && args.is_empty() => {
            Ok(Command::BgSave { schedule: true })
        }
        Some(_) => Err(CommandError::Syntax),
    }
}

pub(crate) fn lastsave(_: &mut Args) -> Parsed {
    Ok(Command::LastSave)
}

pub(crate) fn bgrewriteaof(_: &mut Args) -> Parsed {
    Ok(Command::BgRewriteAof)
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: any order; `ABORT` alone; not both saves.
pub(crate) fn shutdown(args: &mut Args) -> Parsed {
    let mut shutdown = Shutdown::default();
    let (mut nosave, mut save) = (false, false);
    while let Some(option) = args.next_opt() {
        match upper(&option).as_slice() {
            b"NOSAVE" => nosave = true,
            b"SAVE" => save = true,
            b"NOW" => shutdown.now = true,
            b"FORCE" => shutdown.force = true,
            b"ABORT" => shutdown.abort = true,
            _ => return Err(CommandError::Syntax),
        }
    }
    let flags = nosave || save || shutdown.now || shutdown.force;
    if (shutdown.abort && flags) || (nosave && save) {
        return Err(CommandError::Syntax);
    }
    shutdown.save = if save {
        Some(true)
    } else if nosave {
        Some(false)
    } else {
        None
    };
    Ok(Command::Shutdown(shutdown))
}

pub(crate) fn dump(args: &mut Args) -> Parsed {
    Ok(Command::Dump { key: args.take()? })
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`, checked
/// in Redis's order: the options first (`IDLETIME` and `FREQ` exclude each other), the TTL later.
pub(crate) fn restore(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let ttl = args.take()?;
    let payload = args.take()?;
    let mut restore =
        Restore { key, ttl: parse_integer(&ttl), payload, replace: false, absttl: false, idletime: None, freq: None };
    while let Some(option) = args.next_opt() {
        let has_value = args.remaining() >= 1;
        match upper(&option).as_slice() {
            b"REPLACE" => restore.replace = true,
            b"ABSTTL" => restore.absttl = true,
            b"IDLETIME" if has_value && restore.freq.is_none() => {
                let idletime = args.integer()?;
                if idletime < 0 {
                    return Err(CommandError::Other("ERR Invalid IDLETIME value, must be >= 0".into()));
                }
                restore.idletime = Some(idletime);
            }
            b"FREQ" if has_value && restore.idletime.is_none() => {
                let freq = args.integer()?;
                if !(0..=255).contains(&freq) {
                    return Err(CommandError::Other("ERR Invalid FREQ value, must be >= 0 and <= 255".into()));
                }
                restore.freq = Some(freq);
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(Command::Restore(restore))
}

// ---- pubsub --------------------------------------------------------------------------------------

pub(crate) fn subscribe(args: &mut Args) -> Parsed {
    Ok(Command::Subscribe { kind: SubscriptionKind::Channel, channels: args.rest() })
}

pub(crate) fn psubscribe(args: &mut Args) -> Parsed {
    Ok(Command::Subscribe { kind: SubscriptionKind::Pattern, channels: args.rest() })
}

pub(crate) fn ssubscribe(args: &mut Args) -> Parsed {
    Ok(Command::Subscribe { kind: SubscriptionKind::Shard, channels: args.rest() })
}

pub(crate) fn unsubscribe(args: &mut Args) -> Parsed {
    Ok(Command::Unsubscribe { kind: SubscriptionKind::Channel, channels: args.rest() })
}

pub(crate) fn punsubscribe(args: &mut Args) -> Parsed {
    Ok(Command::Unsubscribe { kind: SubscriptionKind::Pattern, channels: args.rest() })
}

pub(crate) fn sunsubscribe(args: &mut Args) -> Parsed {
    Ok(Command::Unsubscribe { kind: SubscriptionKind::Shard, channels: args.rest() })
}

pub(crate) fn publish(args: &mut Args) -> Parsed {
    Ok(Command::Publish { kind: SubscriptionKind::Channel, channel: args.take()?, message: args.take()? })
}

pub(crate) fn spublish(args: &mut Args) -> Parsed {
    Ok(Command::Publish { kind: SubscriptionKind::Shard, channel: args.take()?, message: args.take()? })
}

pub(crate) fn pubsub(args: &mut Args) -> Parsed {
    subcommand("PUBSUB", table::PUBSUB_SUBCOMMANDS, args)
}

pub(crate) fn pubsub_channels(args: &mut Args) -> Parsed {
    Ok(Command::PubSub(PubSubCommand::Channels { kind: SubscriptionKind::Channel, pattern: args.next_opt() }))
}

pub(crate) fn pubsub_shardchannels(args: &mut Args) -> Parsed {
    Ok(Command::PubSub(PubSubCommand::Channels { kind: SubscriptionKind::Shard, pattern: args.next_opt() }))
}

pub(crate) fn pubsub_numsub(args: &mut Args) -> Parsed {
    Ok(Command::PubSub(PubSubCommand::NumSub { kind: SubscriptionKind::Channel, channels: args.rest() }))
}

pub(crate) fn pubsub_shardnumsub(args: &mut Args) -> Parsed {
    Ok(Command::PubSub(PubSubCommand::NumSub { kind: SubscriptionKind::Shard, channels: args.rest() }))
}

pub(crate) fn pubsub_numpat(_: &mut Args) -> Parsed {
    Ok(Command::PubSub(PubSubCommand::NumPat))
}

pub(crate) fn pubsub_help(_: &mut Args) -> Parsed {
    Ok(Command::PubSub(PubSubCommand::Help))
}

pub(crate) fn reset(_: &mut Args) -> Parsed {
    Ok(Command::Reset)
}

pub(crate) fn monitor(_: &mut Args) -> Parsed {
    Ok(Command::Monitor)
}

// --- lists ---

/// A count Redis reads with `getPositiveLongFromObjectOrReply` (`LPOP`/`RPOP`).
fn positive_count(bytes: &[u8]) -> Result<u64, CommandError> {
    parse_integer(bytes)
        .ok()
        .and_then(|count| u64::try_from(count).ok())
        .ok_or(CommandError::Other("ERR value is out of range, must be positive".into()))
}

fn push(args: &mut Args, end: ListEnd, existing: bool) -> Parsed {
    Ok(Command::Push { key: args.take()?, end, elements: args.rest(), existing })
}

pub(crate) fn lpush(args: &mut Args) -> Parsed {
    push(args, ListEnd::Left, false)
}

pub(crate) fn rpush(args: &mut Args) -> Parsed {
    push(args, ListEnd::Right, false)
}

pub(crate) fn lpushx(args: &mut Args) -> Parsed {
    push(args, ListEnd::Left, true)
}

pub(crate) fn rpushx(args: &mut Args) -> Parsed {
    push(args, ListEnd::Right, true)
}

fn pop(args: &mut Args, end: ListEnd) -> Parsed {
    let key = args.take()?;
    let count = match args.next_opt() {
        None => None,
        Some(count) => Some(positive_count(&count)?),
    };
    if !args.is_empty() {
        let name = if end == ListEnd::Left { "lpop" } else { "rpop" };
        return Err(CommandError::WrongArity(name.into()));
    }
    Ok(Command::Pop { key, end, count })
}

pub(crate) fn lpop(args: &mut Args) -> Parsed {
    pop(args, ListEnd::Left)
}

pub(crate) fn rpop(args: &mut Args) -> Parsed {
    pop(args, ListEnd::Right)
}

pub(crate) fn llen(args: &mut Args) -> Parsed {
    Ok(Command::LLen { key: args.take()? })
}

pub(crate) fn lrange(args: &mut Args) -> Parsed {
    Ok(Command::LRange { key: args.take()?, start: args.integer()?, stop: args.integer()? })
}

pub(crate) fn lindex(args: &mut Args) -> Parsed {
    Ok(Command::LIndex { key: args.take()?, index: args.take()? })
}

pub(crate) fn lset(args: &mut Args) -> Parsed {
    Ok(Command::LSet { key: args.take()?, index: args.take()?, element: args.take()? })
}

pub(crate) fn linsert(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let place = args.take()?;
    let after = if place.eq_ignore_ascii_case(b"AFTER") {
        true
    } else if place.eq_ignore_ascii_case(b"BEFORE") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    Ok(Command::LInsert { key, after, pivot: args.take()?, element: args.take()? })
}

pub(crate) fn lrem(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let count = args.integer()?;
    Ok(Command::LRem { key, count, element: args.take()? })
}

pub(crate) fn ltrim(args: &mut Args) -> Parsed {
    Ok(Command::LTrim { key: args.take()?, start: args.integer()?, stop: args.integer()? })
}

pub(crate) fn lpos(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let element = args.take()?;
    let (mut rank, mut count, mut maxlen) = (1, None, 0);
    while let Some(option) = args.next_opt() {
        if args.is_empty() {
            return Err(CommandError::Syntax);
        }
        match upper(&option).as_slice() {
            b"RANK" => {
                rank = args.integer()?;
                if rank == 0 {
                    return Err(CommandError::Other(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into(),
                    ));
                }
            }
            // A non-integer gets the same words as a negative one, as in Redis.
            b"COUNT" => {
                let value = args.take()?;
                count = Some(
                    parse_integer(&value)
                        .ok()
                        .and_then(|value| u64::try_from(value).ok())
                        .ok_or(CommandError::Other("ERR COUNT can't be negative".into()))?,
                );
            }
            b"MAXLEN" => {
                let value = args.take()?;
                maxlen = parse_integer(&value)
                    .ok()
                    .and_then(|value| u64::try_from(value).ok())
                    .ok_or(CommandError::Other("ERR MAXLEN can't be negative".into()))?;
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(Command::LPos { key, element, rank, count, maxlen })
}

fn lmove_ends(args: &mut Args) -> Result<(Bytes, Bytes, ListEnd, ListEnd), CommandError> {
    let source = args.take()?;
    let destination = args.take()?;
    let from = ListEnd::parse(&args.take()?)?;
    let to = ListEnd::parse(&args.take()?)?;
    Ok((source, destination, from, to))
}

pub(crate) fn lmove(args: &mut Args) -> Parsed {
    let (source, destination, from, to) = lmove_ends(args)?;
    Ok(Command::LMove { source, destination, from, to, timeout: None })
}

pub(crate) fn blmove(args: &mut Args) -> Parsed {
    let (source, destination, from, to) = lmove_ends(args)?;
    let timeout = Some(BlockTimeout::parse(&args.take()?)?);
    Ok(Command::LMove { source, destination, from, to, timeout })
}

pub(crate) fn rpoplpush(args: &mut Args) -> Parsed {
    let (source, destination) = (args.take()?, args.take()?);
    Ok(Command::LMove { source, destination, from: ListEnd::Right, to: ListEnd::Left, timeout: None })
}

pub(crate) fn brpoplpush(args: &mut Args) -> Parsed {
    let (source, destination) = (args.take()?, args.take()?);
    let timeout = Some(BlockTimeout::parse(&args.take()?)?);
    Ok(Command::LMove { source, destination, from: ListEnd::Right, to: ListEnd::Left, timeout })
}

/// `LMPOP`'s arguments after any timeout, read in Redis's order: numkeys, the end, then `COUNT`.
fn mpop(args: &mut Args) -> Result<(Vec<Bytes>, ListEnd, u64), CommandError> {
    mpop_with(args, ListEnd::parse)
}

/// `numkeys key [key ...] <side> [COUNT count]` of `LMPOP`/`ZMPOP` and their blocking forms, with
/// Redis's texts; `side` reads the word after the keys (`LEFT|RIGHT`, `MIN|MAX`). The count is 1
/// when not given.
pub(crate) fn mpop_with<T>(
    args: &mut Args,
    side: impl FnOnce(&[u8]) -> Result<T, CommandError>,
) -> Result<(Vec<Bytes>, T, u64), CommandError> {
    let numkeys = args.take()?;
    let numkeys = parse_integer(&numkeys)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or(CommandError::Other("ERR numkeys should be greater than 0".into()))?;
    if numkeys >= args.remaining() as i64 {
        return Err(CommandError::Syntax);
    }
    let keys: Vec<Bytes> = (0..numkeys).filter_map(|_| args.next_opt()).collect();
    let side = side(&args.take()?)?;
    let mut count = None;
    while let Some(option) = args.next_opt() {
        if count.is_some() || !option.eq_ignore_ascii_case(b"COUNT") || args.is_empty() {
            return Err(CommandError::Syntax);
        }
        let value = args.take()?;
        count = Some(
            parse_integer(&value)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or(CommandError::Other("ERR count should be greater than 0".into()))? as u64,
        );
    }
    Ok((keys, side, count.unwrap_or(1)))
}

pub(crate) fn lmpop(args: &mut Args) -> Parsed {
    let (keys, end, count) = mpop(args)?;
    Ok(Command::LMPop { keys, end, count, timeout: None })
}

pub(crate) fn blmpop(args: &mut Args) -> Parsed {
    let timeout = args.take()?;
    let (keys, end, count) = mpop(args)?;
    let timeout = Some(BlockTimeout::parse(&timeout)?);
    Ok(Command::LMPop { keys, end, count, timeout })
}

fn bpop(args: &mut Args, end: ListEnd) -> Parsed {
    let mut keys: ArgList = args.rest();
    let timeout = keys.pop().ok_or(CommandError::Syntax)?;
    Ok(Command::BPop { keys, end, timeout: BlockTimeout::parse(&timeout)? })
}

pub(crate) fn blpop(args: &mut Args) -> Parsed {
    bpop(args, ListEnd::Left)
}

pub(crate) fn brpop(args: &mut Args) -> Parsed {
    bpop(args, ListEnd::Right)
}

pub(crate) fn client_unblock(args: &mut Args) -> Parsed {
    let id = args.integer()?;
    let error = match args.next_opt() {
        None => false,
        Some(reason) if reason.eq_ignore_ascii_case(b"TIMEOUT") && args.is_empty() => false,
        Some(reason) if reason.eq_ignore_ascii_case(b"ERROR") && args.is_empty() => true,
        Some(_) => return Err(CommandError::Other("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into())),
    };
    Ok(Command::Client(ClientCommand::Unblock { id, error }))
}

// --- replication ---
/// `PSYNC replicationid offset`: the server decides what the id and offset mean.
pub(crate) fn psync(args: &mut Args) -> Parsed {
    let replid = args.take()?;
    let offset = args.take()?;
    Ok(Command::Psync { replid, offset })
}

pub(crate) fn sync(_: &mut Args) -> Parsed {
    Ok(Command::Sync)
}

/// `REPLCONF option value ...`: pairs, as Redis checks them (an odd count is a syntax error).
pub(crate) fn replconf(args: &mut Args) -> Parsed {
    if args.remaining() % 2 != 0 {
        return Err(CommandError::Syntax);
    }
    let rest: Vec<Bytes> = args.rest();
    let pairs = rest.chunks(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
    Ok(Command::Replconf { pairs })
}

/// `REPLICAOF host port` or `REPLICAOF NO ONE`.
pub(crate) fn replicaof(args: &mut Args) -> Parsed {
    let host = args.take()?;
    let port = args.take()?;
    if host.eq_ignore_ascii_case(b"NO") && port.eq_ignore_ascii_case(b"ONE") {
        return Ok(Command::ReplicaOf { target: None });
    }
    Ok(Command::ReplicaOf { target: Some((host, port)) })
}

pub(crate) fn role(_: &mut Args) -> Parsed {
    Ok(Command::Role)
}

// --- scripting ---

/// `numkeys key ... arg ...` after the script or function name, with Redis's errors.
fn script_call(target: ScriptTarget, read_only: bool, args: &mut Args) -> Parsed {
    let name = args.take()?;
    let numkeys = args.integer()?;
    if numkeys < 0 {
        return Err(CommandError::Other("ERR Number of keys can't be negative".into()));
    }
    if numkeys as u64 > args.remaining() as u64 {
        return Err(CommandError::Other("ERR Number of keys can't be greater than number of args".into()));
    }
    let keys: Vec<Bytes> = (0..numkeys).filter_map(|_| args.next_opt()).collect();
    Ok(Command::Script(ScriptCommand::Call(ScriptCall { target, name, read_only, keys, args: args.rest() })))
}

pub(crate) fn eval(args: &mut Args) -> Parsed {
    script_call(ScriptTarget::Body, false, args)
}

pub(crate) fn eval_ro(args: &mut Args) -> Parsed {
    script_call(ScriptTarget::Body, true, args)
}

pub(crate) fn evalsha(args: &mut Args) -> Parsed {
    script_call(ScriptTarget::Sha, false, args)
}

pub(crate) fn evalsha_ro(args: &mut Args) -> Parsed {
    script_call(ScriptTarget::Sha, true, args)
}

pub(crate) fn fcall(args: &mut Args) -> Parsed {
    script_call(ScriptTarget::Function, false, args)
}

pub(crate) fn fcall_ro(args: &mut Args) -> Parsed {
    script_call(ScriptTarget::Function, true, args)
}

pub(crate) fn script(args: &mut Args) -> Parsed {
    subcommand("SCRIPT", table::SCRIPT_SUBCOMMANDS, args)
}

pub(crate) fn script_load(args: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::Load { body: args.take()? }))
}

pub(crate) fn script_exists(args: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::Exists { shas: args.rest() }))
}

pub(crate) fn script_flush(args: &mut Args) -> Parsed {
    flush_mode(args).map_err(|_| CommandError::Other("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into()))?;
    Ok(Command::Script(ScriptCommand::Flush))
}

pub(crate) fn script_kill(_: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::Kill { function: false }))
}

pub(crate) fn script_help(_: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::Help))
}

// --- scripting2 ---
pub(crate) fn script_debug(args: &mut Args) -> Parsed {
    let mode = args.take()?;
    let on = if mode.eq_ignore_ascii_case(b"YES") || mode.eq_ignore_ascii_case(b"SYNC") {
        true
    } else if mode.eq_ignore_ascii_case(b"NO") {
        false
    } else {
        return Err(CommandError::Other("ERR Use SCRIPT DEBUG YES/SYNC/NO".into()));
    };
    Ok(Command::Script(ScriptCommand::Debug { on }))
}

pub(crate) fn function(args: &mut Args) -> Parsed {
    subcommand("FUNCTION", table::FUNCTION_SUBCOMMANDS, args)
}

pub(crate) fn function_load(args: &mut Args) -> Parsed {
    let mut replace = false;
    while args.remaining() > 1 {
        let option = args.take()?;
        if option.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else {
            return Err(CommandError::Other(format!("ERR Unknown option given: {}", String::from_utf8_lossy(&option))));
        }
    }
    Ok(Command::Script(ScriptCommand::FunctionLoad { replace, code: args.take()? }))
}

pub(crate) fn function_list(args: &mut Args) -> Parsed {
    let (mut with_code, mut pattern) = (false, None);
    while let Some(option) = args.next_opt() {
        if option.eq_ignore_ascii_case(b"WITHCODE") && !with_code {
            with_code = true;
        } else if option.eq_ignore_ascii_case(b"LIBRARYNAME") && pattern.is_none() {
            pattern =
                Some(args.next_opt().ok_or(CommandError::Other("ERR library name argument was not given".into()))?);
        } else {
            return Err(CommandError::Other(format!("ERR Unknown argument {}", String::from_utf8_lossy(&option))));
        }
    }
    Ok(Command::Script(ScriptCommand::FunctionList { with_code, pattern }))
}

pub(crate) fn function_delete(args: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::FunctionDelete { library: args.take()? }))
}

pub(crate) fn function_flush(args: &mut Args) -> Parsed {
    flush_mode(args).map_err(|_| CommandError::Other("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into()))?;
    Ok(Command::Script(ScriptCommand::FunctionFlush))
}

pub(crate) fn function_dump(_: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::FunctionDump))
}

pub(crate) fn function_restore(args: &mut Args) -> Parsed {
    let payload = args.take()?;
    let policy = match args.next_opt() {
        None => RestorePolicy::Append,
        Some(word) if word.eq_ignore_ascii_case(b"APPEND") => RestorePolicy::Append,
        Some(word) if word.eq_ignore_ascii_case(b"FLUSH") => RestorePolicy::Flush,
        Some(word) if word.eq_ignore_ascii_case(b"REPLACE") => RestorePolicy::Replace,
        Some(_) => {
            return Err(CommandError::Other(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.".into(),
            ))
        }
    };
    if !args.is_empty() {
        return Err(CommandError::Other(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.".into(),
        ));
    }
    Ok(Command::Script(ScriptCommand::FunctionRestore { payload, policy }))
}

pub(crate) fn function_kill(_: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::Kill { function: true }))
}

pub(crate) fn function_stats(_: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::FunctionStats))
}

pub(crate) fn function_help(_: &mut Args) -> Parsed {
    Ok(Command::Script(ScriptCommand::FunctionHelp))
}

#[cfg(test)]
mod string_and_bit_tests {
    use super::*;
    use crate::Request;

    fn parse(words: &[&str]) -> Parsed {
        let args = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        Command::parse(Request { args })
    }

    #[test]
    fn getex_checks_options_now_and_the_amount_later() {
        assert_eq!(parse(&["getex", "k", "ex", "1", "persist"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["getex", "k", "persist", "px", "1"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["getex", "k", "ex"]), Err(CommandError::Syntax));
        assert_eq!(parse(&["getex", "k", "keepttl"]), Err(CommandError::Syntax));
        let Ok(Command::GetEx { action, .. }) = parse(&["getex", "k", "ex", "x"]) else { panic!() };
        assert_eq!(action, GetExAction::Expire(Err(CommandError::NotInteger)));
        let Ok(Command::GetEx { action, .. }) = parse(&["getex", "k", "ex", "1", "EX", "2"]) else { panic!() };
        assert_eq!(action, GetExAction::Expire(Ok(Expiry::In(2000))));
        let Ok(Command::GetEx { action, .. }) = parse(&["getex", "k", "persist", "persist"]) else { panic!() };
        assert_eq!(action, GetExAction::Persist);
    }

    #[test]
    fn bit_offsets_and_values() {
        assert_eq!(parse(&["setbit", "k", "-1", "1"]), Err(CommandError::BitOffset));
        assert_eq!(parse(&["getbit", "k", "#1"]), Err(CommandError::BitOffset));
        let Ok(Command::SetBit { offset, bit, .. }) = parse(&["setbit", "k", "4294967296", "2"]) else { panic!() };
        assert_eq!((offset, bit), (1 << 32, Err(CommandError::BitValue)));
        assert_eq!(bit_offset(b"#3", Some(8)), Ok(24));
        // Redis multiplies in wrapping C arithmetic: 2^58 + 1 fields of 64 bits wrap to bit 64.
        assert_eq!(bit_offset(b"#288230376151711745", Some(64)), Ok(64));
        assert_eq!(bit_offset(b"#9223372036854775807", Some(2)), Err(CommandError::BitOffset));
    }

    #[test]
    fn bitfield_keeps_what_it_read_before_an_error() {
        let Ok(Command::BitField(bitfield)) =
            parse(&["bitfield", "k", "set", "u8", "#2", "1", "incrby", "i5", "7", "x"])
        else {
            panic!()
        };
        assert_eq!(bitfield.ops.len(), 1);
        assert_eq!(bitfield.ops[0].offset, 16);
        assert_eq!(bitfield.error, Some((Some(7), CommandError::NotInteger)));
        let Ok(Command::BitField(bitfield)) = parse(&["bitfield", "k", "get", "u64", "0"]) else { panic!() };
        assert!(matches!(bitfield.error, Some((None, CommandError::Other(_)))));
        let Ok(Command::BitField(bitfield)) = parse(&["bitfield_ro", "k", "get", "i64", "0", "set", "u1", "0", "1"])
        else {
            panic!()
        };
        let Some((None, CommandError::Other(text))) = bitfield.error else { panic!() };
        assert_eq!(text, "ERR BITFIELD_RO only supports the GET subcommand");
    }

    #[test]
    fn ranges_are_carried_for_the_server() {
        let Ok(Command::BitCount { range, .. }) = parse(&["bitcount", "k", "-1", "-3", "nonsense"]) else { panic!() };
        assert_eq!(range, Ok(BitCountRange::Empty));
        let Ok(Command::BitCount { range, .. }) = parse(&["bitcount", "k", "0"]) else { panic!() };
        assert_eq!(range, Err(CommandError::Syntax));
        let Ok(Command::BitPos { range, .. }) = parse(&["bitpos", "k", "1", "0", "x", "nonsense"]) else { panic!() };
        assert_eq!(range, Err(CommandError::Syntax), "the unit is read before end");
        assert_eq!(parse(&["bitpos", "k", "2"]).unwrap_err().to_string(), "ERR The bit argument must be 1 or 0.");
        assert_eq!(
            parse(&["bitop", "not", "d", "a", "b"]).unwrap_err().to_string(),
            "ERR BITOP NOT must be called with a single source key."
        );
        let Ok(Command::Lcs { options, .. }) = parse(&["lcs", "a", "b", "len", "idx"]) else { panic!() };
        assert!(options.is_err());
        assert_eq!(parse(&["setrange", "k", "-1", "v"]).unwrap_err().to_string(), "ERR offset is out of range");
    }
}
