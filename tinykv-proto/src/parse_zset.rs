//! The parsers of the sorted-set commands (see [`crate::parse`] for the conventions): every check
//! Redis makes before it looks at a key, in Redis's order, with Redis's words.

use bytes::Bytes;

use crate::command::ArgList;
use crate::command::{
    parse_integer, upper, Aggregate, Args, BlockTimeout, Command, SetOperation, ZAdd, ZAddFlags, ZRange, ZRangeBy,
    ZSetOp, ZSetOpOptions,
};
use crate::parse::{collection_scan, mpop_with, random_count_with};
use crate::score::{parse_score, LexBound, ScoreBound};
use crate::CommandError;

type Parsed = Result<Command, CommandError>;

fn error(text: &str) -> CommandError {
    CommandError::Other(text.to_owned())
}

/// `ERR min or max is not a float`.
fn not_float_range() -> CommandError {
    error("ERR min or max is not a float")
}

/// `ERR min or max not valid string range item`.
fn not_lex_range() -> CommandError {
    error("ERR min or max not valid string range item")
}

fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), CommandError> {
    match (ScoreBound::parse(min), ScoreBound::parse(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(not_float_range()),
    }
}

fn lex_range(min: &Bytes, max: &Bytes) -> Result<(LexBound, LexBound), CommandError> {
    match (LexBound::parse(min), LexBound::parse(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(not_lex_range()),
    }
}

/// An integer in `min..`, with `message` for anything else (Redis's `getRangeLongFromObjectOrReply`
/// with a message uses it for both a non-integer and one out of range).
fn at_least(text: &[u8], min: i64, message: &str) -> Result<i64, CommandError> {
    parse_integer(text).ok().filter(|&n| n >= min).ok_or_else(|| error(message))
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`.
pub(crate) fn zadd(args: &mut Args) -> Parsed {
    zadd_with(args, ZAddFlags::default())
}

/// `ZINCRBY key increment member`: `ZADD key INCR increment member`, option words included (Redis
/// reads `ZINCRBY k nx m` as the option `NX` and one lone word, a syntax error).
pub(crate) fn zincrby(args: &mut Args) -> Parsed {
    zadd_with(args, ZAddFlags { incr: true, ..ZAddFlags::default() })
}

fn zadd_with(args: &mut Args, mut flags: ZAddFlags) -> Parsed {
    let key = args.take()?;
    // Options up to the first word that is none (the first score), read in place.
    while let Some(option) = args.peek() {
        let flag = match upper(option).as_slice() {
            b"NX" => &mut flags.nx,
            b"XX" => &mut flags.xx,
            b"CH" => &mut flags.ch,
            b"INCR" => &mut flags.incr,
            b"GT" => &mut flags.gt,
            b"LT" => &mut flags.lt,
            _ => break,
        };
        *flag = true;
        args.next_opt();
    }
    let pairs = args.remaining();
    if pairs == 0 || pairs % 2 != 0 {
        return Err(CommandError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(error("ERR XX and NX options at the same time are not compatible"));
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        return Err(error("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if flags.incr && pairs > 2 {
        return Err(error("ERR INCR option supports a single increment-element pair"));
    }
    let mut entries = Vec::with_capacity(pairs / 2);
    while let Some(score) = args.peek() {
        let score = parse_score(score).ok_or(CommandError::NotFloat)?;
        args.next_opt();
        entries.push((score, args.take()?));
    }
    Ok(Command::ZAdd(ZAdd { key, flags, entries }))
}

pub(crate) fn zrem(args: &mut Args) -> Parsed {
    Ok(Command::ZRem { key: args.take()?, members: args.rest() })
}

pub(crate) fn zcard(args: &mut Args) -> Parsed {
    Ok(Command::ZCard { key: args.take()? })
}

pub(crate) fn zcount(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let (min, max) = score_range(&args.take()?, &args.take()?)?;
    Ok(Command::ZCount { key, min, max })
}

pub(crate) fn zlexcount(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let (min, max) = lex_range(&args.take()?, &args.take()?)?;
    Ok(Command::ZLexCount { key, min, max })
}

pub(crate) fn zscore(args: &mut Args) -> Parsed {
    Ok(Command::ZScore { key: args.take()?, member: args.take()? })
}

pub(crate) fn zmscore(args: &mut Args) -> Parsed {
    Ok(Command::ZMScore { key: args.take()?, members: args.rest() })
}

pub(crate) fn zrank(args: &mut Args) -> Parsed {
    Ok(Command::ZRank { key: args.take()?, member: args.take()?, reverse: false })
}

pub(crate) fn zrevrank(args: &mut Args) -> Parsed {
    Ok(Command::ZRank { key: args.take()?, member: args.take()?, reverse: true })
}

/// What a range command fixes before its options are read (Redis's `ZRANGE_AUTO`, `_DIRECTION_AUTO`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Redis's `zrangeGenericCommand` up to the key lookup: options, their conflicts, then the range.
fn zrange_generic(args: &mut Args, store: bool, mut by: By, direction: Option<bool>) -> Parsed {
    let destination = if store { Some(args.take()?) } else { None };
    let key = args.take()?;
    let (mut min, mut max) = (args.take()?, args.take()?);
    let rest: Vec<Bytes> = args.rest();
    let (mut withscores, mut limit, mut reverse) = (false, None, direction);
    let mut at = 0;
    while let Some(option) = rest.get(at) {
        let left = rest.len() - at - 1;
        match upper(option).as_slice() {
            b"WITHSCORES" if !store => withscores = true,
            b"LIMIT" if left >= 2 => {
                limit = Some((parse_integer(&rest[at + 1])?, parse_integer(&rest[at + 2])?));
                at += 2;
            }
            b"REV" if reverse.is_none() => reverse = Some(true),
            b"BYLEX" if by == By::Auto => by = By::Lex,
            b"BYSCORE" if by == By::Auto => by = By::Score,
            _ => return Err(CommandError::Syntax),
        }
        at += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if by == By::Auto {
        by = By::Rank;
    }
    if limit.is_some_and(|(_, count)| count != -1) && by == By::Rank {
        return Err(error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if withscores && by == By::Lex {
        return Err(error("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    if reverse && by != By::Rank {
        // Given as max, min.
        std::mem::swap(&mut min, &mut max);
    }
    let by = match by {
        By::Score => {
            let (min, max) = score_range(&min, &max)?;
            ZRangeBy::Score(min, max)
        }
        By::Lex => {
            let (min, max) = lex_range(&min, &max)?;
            ZRangeBy::Lex(min, max)
        }
        By::Auto | By::Rank => {
            limit = None;
            ZRangeBy::Rank(parse_integer(&min)?, parse_integer(&max)?)
        }
    };
    Ok(Command::ZRange(ZRange { destination, key, by, reverse, limit, withscores }))
}

pub(crate) fn zrange(args: &mut Args) -> Parsed {
    zrange_generic(args, false, By::Auto, None)
}

pub(crate) fn zrangestore(args: &mut Args) -> Parsed {
    zrange_generic(args, true, By::Auto, None)
}

pub(crate) fn zrevrange(args: &mut Args) -> Parsed {
    zrange_generic(args, false, By::Rank, Some(true))
}

pub(crate) fn zrangebyscore(args: &mut Args) -> Parsed {
    zrange_generic(args, false, By::Score, Some(false))
}

pub(crate) fn zrevrangebyscore(args: &mut Args) -> Parsed {
    zrange_generic(args, false, By::Score, Some(true))
}

pub(crate) fn zrangebylex(args: &mut Args) -> Parsed {
    zrange_generic(args, false, By::Lex, Some(false))
}

pub(crate) fn zrevrangebylex(args: &mut Args) -> Parsed {
    zrange_generic(args, false, By::Lex, Some(true))
}

/// `ZPOPMIN`/`ZPOPMAX key [count]`: a count is a non-negative integer.
fn zpop(args: &mut Args, max: bool) -> Parsed {
    let key = args.take()?;
    let count = match args.next_opt() {
        None => None,
        Some(_) if !args.is_empty() => return Err(CommandError::Syntax),
        Some(count) => Some(at_least(&count, 0, "ERR value is out of range, must be positive")? as u64),
    };
    Ok(Command::ZPop { keys: smallvec::smallvec![key], max, count, multi: false, timeout: None })
}

pub(crate) fn zpopmin(args: &mut Args) -> Parsed {
    zpop(args, false)
}

pub(crate) fn zpopmax(args: &mut Args) -> Parsed {
    zpop(args, true)
}

/// `MIN` or `MAX` (any case): whether it is `MAX`.
fn min_or_max(word: &[u8]) -> Result<bool, CommandError> {
    match upper(word).as_slice() {
        b"MIN" => Ok(false),
        b"MAX" => Ok(true),
        _ => Err(CommandError::Syntax),
    }
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`.
pub(crate) fn zmpop(args: &mut Args) -> Parsed {
    let (keys, max, count) = mpop_with(args, min_or_max)?;
    Ok(Command::ZPop { keys: keys.into(), max, count: Some(count), multi: true, timeout: None })
}

/// `BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]`: the timeout is read last, as Redis does.
pub(crate) fn bzmpop(args: &mut Args) -> Parsed {
    let timeout = args.take()?;
    let (keys, max, count) = mpop_with(args, min_or_max)?;
    let timeout = Some(BlockTimeout::parse(&timeout)?);
    Ok(Command::ZPop { keys: keys.into(), max, count: Some(count), multi: true, timeout })
}

/// `BZPOPMIN`/`BZPOPMAX key [key ...] timeout`.
fn bzpop(args: &mut Args, max: bool) -> Parsed {
    let mut keys: ArgList = args.rest();
    let timeout = keys.pop().ok_or(CommandError::Syntax)?;
    Ok(Command::ZPop { keys, max, count: None, multi: false, timeout: Some(BlockTimeout::parse(&timeout)?) })
}

pub(crate) fn bzpopmin(args: &mut Args) -> Parsed {
    bzpop(args, false)
}

pub(crate) fn bzpopmax(args: &mut Args) -> Parsed {
    bzpop(args, true)
}

pub(crate) fn zremrangebyrank(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let (start, stop) = (args.integer()?, args.integer()?);
    Ok(Command::ZRemRange { key, by: ZRangeBy::Rank(start, stop) })
}

pub(crate) fn zremrangebyscore(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let (min, max) = score_range(&args.take()?, &args.take()?)?;
    Ok(Command::ZRemRange { key, by: ZRangeBy::Score(min, max) })
}

pub(crate) fn zremrangebylex(args: &mut Args) -> Parsed {
    let key = args.take()?;
    let (min, max) = lex_range(&args.take()?, &args.take()?)?;
    Ok(Command::ZRemRange { key, by: ZRangeBy::Lex(min, max) })
}

/// Redis's `zunionInterDiffGenericCommand` up to the key lookups: the key count and keys; the options
/// are read (and their error kept) for after the keys' types are checked.
fn zsetop(args: &mut Args, name: &str, operation: SetOperation, store: bool, cardinality: bool) -> Parsed {
    let destination = if store { Some(args.take()?) } else { None };
    let numkeys = args.integer()?;
    if numkeys < 1 {
        return Err(error(&format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    if numkeys > args.remaining() as i64 {
        return Err(CommandError::Syntax);
    }
    let keys: Vec<Bytes> = (0..numkeys).filter_map(|_| args.next_opt()).collect();
    let rest: Vec<Bytes> = args.rest();
    let options = (|| {
        let mut options = ZSetOpOptions::default();
        let mut at = 0;
        while let Some(option) = rest.get(at) {
            let remaining = rest.len() - at;
            let plain = operation != SetOperation::Diff && !cardinality;
            match upper(option).as_slice() {
                b"WEIGHTS" if plain && remaining > keys.len() => {
                    let weights = rest[at + 1..at + 1 + keys.len()]
                        .iter()
                        .map(|weight| parse_score(weight).ok_or_else(|| error("ERR weight value is not a float")));
                    options.weights = Some(weights.collect::<Result<_, _>>()?);
                    at += 1 + keys.len();
                }
                b"AGGREGATE" if plain && remaining >= 2 => {
                    options.aggregate = match upper(&rest[at + 1]).as_slice() {
                        b"SUM" => Aggregate::Sum,
                        b"MIN" => Aggregate::Min,
                        b"MAX" => Aggregate::Max,
                        _ => return Err(CommandError::Syntax),
                    };
                    at += 2;
                }
                b"WITHSCORES" if !store && !cardinality => {
                    options.withscores = true;
                    at += 1;
                }
                b"LIMIT" if cardinality && remaining >= 2 => {
                    options.limit = at_least(&rest[at + 1], 0, "ERR LIMIT can't be negative")? as u64;
                    at += 2;
                }
                _ => return Err(CommandError::Syntax),
            }
        }
        Ok(options)
    })();
    Ok(Command::ZSetOp(ZSetOp { operation, destination, keys, options, cardinality }))
}

pub(crate) fn zunion(args: &mut Args) -> Parsed {
    zsetop(args, "zunion", SetOperation::Union, false, false)
}

pub(crate) fn zunionstore(args: &mut Args) -> Parsed {
    zsetop(args, "zunionstore", SetOperation::Union, true, false)
}

pub(crate) fn zinter(args: &mut Args) -> Parsed {
    zsetop(args, "zinter", SetOperation::Inter, false, false)
}

pub(crate) fn zinterstore(args: &mut Args) -> Parsed {
    zsetop(args, "zinterstore", SetOperation::Inter, true, false)
}

pub(crate) fn zintercard(args: &mut Args) -> Parsed {
    zsetop(args, "zintercard", SetOperation::Inter, false, true)
}

pub(crate) fn zdiff(args: &mut Args) -> Parsed {
    zsetop(args, "zdiff", SetOperation::Diff, false, false)
}

pub(crate) fn zdiffstore(args: &mut Args) -> Parsed {
    zsetop(args, "zdiffstore", SetOperation::Diff, true, false)
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`, checked as `HRANDFIELD`.
pub(crate) fn zrandmember(args: &mut Args) -> Parsed {
    let key = args.take()?;
    Ok(Command::ZRandMember { key, count: random_count_with(args, b"WITHSCORES")? })
}

pub(crate) fn zscan(args: &mut Args) -> Parsed {
    Ok(Command::ZScan(collection_scan(args)?))
}
