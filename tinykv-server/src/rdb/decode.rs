//! Reading: whole files into the keyspace ([`load`]) and `RESTORE` payloads ([`restore_payload`]).
//!
//! Every string encoding Redis 7.0 writes is read (plain, 8/16/32-bit integers, LZF). A length in
//! the data is only a claim: nothing is allocated for it beyond what has actually been read (strings
//! grow as their bytes arrive, LZF output grows as it is produced), and no string may claim more than
//! the 512 MiB a value may hold. A type TinyKV lacks, module data or any inconsistency is an error
//! naming what and where (the byte offset): the start stops, nothing is served half-loaded.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crc::{Digest, Table};
use thiserror::Error;
use tinykv_proto::Limits;

use super::{lzf, op, printable, type_name, Invalid, RdbError, CRC64, RDB_VERSION};
use crate::collections::{Collection, End, Hash, List, Set};
use crate::db::{now_ms, Db};
use crate::entry::Value;
use crate::zset::ZSet;

/// Longest string the data may claim: the longest value a client may send.
const MAX_STRING: u64 = Limits::DEFAULT_MAX_BULK as u64;
/// Strings up to this size are read into a buffer of their claimed size; longer ones grow as
/// their bytes arrive, so a lying length costs at most this much.
const TRUSTED_PREFIX: usize = 64 * 1024;
/// Read buffer for files.
const READ_BUFFER: usize = 1 << 20;

/// What a load found, for the start-up log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The file's format version.
    pub version: u32,
    /// Keys loaded.
    pub keys: u64,
    /// Keys left out because their time to live had run out.
    pub expired: u64,
    /// Function libraries skipped (Redis 7.0's release candidates wrote them in a format TinyKV does not read).
    pub functions_skipped: u64,
    // --- scripting ---
    /// The code of each `FUNCTION` library, in the file's order: the server loads them.
    pub functions: Vec<Vec<u8>>,
    /// The `redis-ver` field: which server wrote the file.
    pub written_by: Option<String>,
    /// The `repl-stream-db` field of an RDB sent to a replica: the database its primary's stream
    /// has selected where the stream it gets next begins.
    pub repl_stream_db: Option<usize>,
}

/// A problem found while decoding, before the file's path is attached.
#[derive(Debug)]
enum Failure {
    Io(io::Error),
    Invalid { offset: u64, what: Invalid },
}

type Decoded<T> = Result<T, Failure>;

/// A reader that counts the bytes it has read (for error offsets) and checksums them.
struct Source<R> {
    inner: R,
    offset: u64,
    digest: Digest<'static, u64, Table<16>>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }
}

/// A length, or the marker of a specially encoded string.
enum Length {
    Plain(u64),
    Encoded(u8),
}

impl<R: Read> Source<R> {
    fn new(inner: R) -> Self {
        Source { inner, offset: 0, digest: CRC64.digest() }
    }

    fn invalid<T>(&self, offset: u64, what: Invalid) -> Decoded<T> {
        Err(Failure::Invalid { offset, what })
    }

    fn fill(&mut self, buf: &mut [u8]) -> Decoded<()> {
        let at = self.offset;
        self.read_exact(buf).map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof => Failure::Invalid { offset: at, what: Invalid::Truncated },
            _ => Failure::Io(err),
        })
    }

    fn array<const N: usize>(&mut self) -> Decoded<[u8; N]> {
        let mut buf = [0; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    fn byte(&mut self) -> Decoded<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn length(&mut self) -> Decoded<Length> {
        let at = self.offset;
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Length::Plain(u64::from(first & 0x3f)),
            1 => Length::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.byte()?)),
            3 => Length::Encoded(first),
            _ if first == op::LEN_32 => Length::Plain(u64::from(u32::from_be_bytes(self.array()?))),
            _ if first == op::LEN_64 => Length::Plain(u64::from_be_bytes(self.array()?)),
            _ => return self.invalid(at, Invalid::LengthEncoding(first)),
        })
    }

    fn plain_length(&mut self) -> Decoded<u64> {
        let at = self.offset;
        match self.length()? {
            Length::Plain(len) => Ok(len),
            Length::Encoded(byte) => self.invalid(at, Invalid::LengthEncoding(byte)),
        }
    }

    /// A length that claims the size of a string, checked against [`MAX_STRING`].
    fn string_length(&mut self) -> Decoded<usize> {
        let at = self.offset;
        let len = self.plain_length()?;
        self.capped(at, len)
    }

    fn capped(&self, at: u64, len: u64) -> Decoded<usize> {
        match usize::try_from(len) {
            Ok(len) if len as u64 <= MAX_STRING => Ok(len),
            _ => self.invalid(at, Invalid::TooLong(len)),
        }
    }

    /// `len` bytes, allocated as they arrive beyond the first [`TRUSTED_PREFIX`].
    fn raw(&mut self, len: usize) -> Decoded<Vec<u8>> {
        if len <= TRUSTED_PREFIX {
            let mut buf = vec![0; len];
            self.fill(&mut buf)?;
            return Ok(buf);
        }
        let at = self.offset;
        let mut buf = Vec::with_capacity(TRUSTED_PREFIX);
        self.by_ref().take(len as u64).read_to_end(&mut buf).map_err(Failure::Io)?;
        if buf.len() < len {
            return self.invalid(at, Invalid::Truncated);
        }
        Ok(buf)
    }

    /// A string in any of its encodings; integers come back as their decimal text.
    fn string(&mut self) -> Decoded<Vec<u8>> {
        let at = self.offset;
        match self.length()? {
            Length::Plain(len) => {
                let len = self.capped(at, len)?;
                self.raw(len)
            }
            Length::Encoded(op::ENC_INT8) => Ok((self.array::<1>()?[0] as i8).to_string().into_bytes()),
            Length::Encoded(op::ENC_INT16) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            Length::Encoded(op::ENC_INT32) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            Length::Encoded(op::ENC_LZF) => {
                let compressed_len = self.string_length()?;
                let len = self.string_length()?;
                let compressed = self.raw(compressed_len)?;
                lzf::decompress(&compressed, len).or_else(|err| self.invalid(at, Invalid::Lzf(err)))
            }
            Length::Encoded(byte) => self.invalid(at, Invalid::StringEncoding(byte)),
        }
    }

    /// A value of RDB type `type_byte` (one TinyKV reads: see [`readable`]); `Err(what)` inside the
    /// `Ok` for a collection whose contents do not hold together, for the caller to name the key.
    fn value(&mut self, type_byte: u8) -> Decoded<Result<Value, String>> {
        Ok(match type_byte {
            op::TYPE_STRING => Ok(Value::String(self.string()?)),
            op::TYPE_SET => {
                let len = self.plain_length()?;
                let mut set = Set::default();
                let mut duplicate = false;
                // The length is only a claim: members are read (and memory spent) one by one.
                for _ in 0..len {
                    duplicate |= !set.insert(&self.string()?);
                }
                if duplicate {
                    Err("a set member appears twice".to_owned())
                } else {
                    Ok(Value::Collection(Collection::Set(set)))
                }
            }
            op::TYPE_HASH => {
                let len = self.plain_length()?;
                let mut hash = Hash::default();
                let mut duplicate = false;
                for _ in 0..len {
                    let field = self.string()?;
                    duplicate |= !hash.insert(&field, &self.string()?);
                }
                if duplicate {
                    Err("a hash field appears twice".to_owned())
                } else {
                    Ok(Value::Collection(Collection::Hash(hash)))
                }
            }
            op::TYPE_SET_INTSET => {
                let blob = self.string()?;
                intset(&blob).map(|set| Value::Collection(Collection::Set(set)))
            }
            op::TYPE_HASH_LISTPACK => {
                let blob = self.string()?;
                listpack(&blob).and_then(|items| {
                    if items.len() % 2 != 0 {
                        return Err("a hash listpack holds an odd number of items".to_owned());
                    }
                    let mut hash = Hash::default();
                    for pair in items.chunks_exact(2) {
                        if !hash.insert(&pair[0], &pair[1]) {
                            return Err("a hash field appears twice".to_owned());
                        }
                    }
                    Ok(Value::Collection(Collection::Hash(hash)))
                })
            }
            // --- lists ---
            op::TYPE_LIST => {
                let len = self.plain_length()?;
                let mut list = List::default();
                for _ in 0..len {
                    list.push(End::Right, &self.string()?);
                }
                if list.is_empty() {
                    Err("a list with no elements".to_owned())
                } else {
                    Ok(Value::Collection(Collection::List(Box::new(list))))
                }
            }
            op::TYPE_LIST_QUICKLIST_2 => {
                let nodes = self.plain_length()?;
                let mut list = List::default();
                let mut damaged = None;
                for _ in 0..nodes {
                    let container = self.plain_length()?;
                    let blob = self.string()?;
                    match container {
                        QUICKLIST_NODE_PLAIN => list.push(End::Right, &blob),
                        QUICKLIST_NODE_PACKED => match listpack(&blob) {
                            Ok(items) if !items.is_empty() => items.iter().for_each(|item| list.push(End::Right, item)),
                            Ok(_) => damaged = Some("an empty quicklist node".to_owned()),
                            Err(err) => damaged = Some(err),
                        },
                        _ => damaged = Some(format!("quicklist node container {container}")),
                    }
                }
                match damaged {
                    Some(err) => Err(err),
                    None if list.is_empty() => Err("a list with no elements".to_owned()),
                    None => Ok(Value::Collection(Collection::List(Box::new(list)))),
                }
            }
            // --- sorted sets ---
            op::TYPE_ZSET | op::TYPE_ZSET_2 => {
                let len = self.plain_length()?;
                // The length is only a claim: entries are read (and memory spent) one by one.
                let mut entries = Vec::new();
                for _ in 0..len {
                    let member = self.string()?;
                    let score = if type_byte == op::TYPE_ZSET_2 {
                        f64::from_le_bytes(self.array()?)
                    } else {
                        self.text_score()?
                    };
                    entries.push((member, score));
                }
                zset_of(entries.iter().map(|(member, score)| (&member[..], *score)).collect())
            }
            op::TYPE_ZSET_LISTPACK => {
                let blob = self.string()?;
                listpack(&blob).and_then(|items| zset_of_pairs(&items))
            }
            _ => Err(format!("RDB type {type_byte} cannot be read")),
        })
    }

    /// A score of the old zset type: a length byte (253 NaN, 254 inf, 255 -inf) and ASCII.
    fn text_score(&mut self) -> Decoded<f64> {
        let len = self.byte()?;
        Ok(match len {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            len => {
                let text = self.raw(usize::from(len))?;
                tinykv_proto::score::parse_score(&text).unwrap_or(f64::NAN)
            }
        })
    }
}

/// A zset from a listpack's items: member, score, member, score, ...
fn zset_of_pairs(items: &[Vec<u8>]) -> Result<Value, String> {
    if items.len() % 2 != 0 {
        return Err("a sorted set listpack holds an odd number of items".to_owned());
    }
    let mut entries = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks_exact(2) {
        let score = tinykv_proto::score::parse_score(&pair[1]).ok_or("a sorted set score is not a number")?;
        entries.push((&pair[0][..], score));
    }
    zset_of(entries)
}

/// A zset value of these entries, as Redis loads one; refused when a score is NaN or a member repeats.
fn zset_of(entries: Vec<(&[u8], f64)>) -> Result<Value, String> {
    if entries.iter().any(|(_, score)| score.is_nan()) {
        return Err("a sorted set score is not a number".to_owned());
    }
    match ZSet::build(entries) {
        (zset, 0) => Ok(Value::Collection(Collection::ZSet(Box::new(zset)))),
        _ => Err("a sorted set member appears twice".to_owned()),
    }
}

/// A quicklist node holding one element as it is (a big one), and one holding a listpack.
const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;

/// The RDB types [`Source::value`] reads.
fn readable(type_byte: u8) -> bool {
    matches!(
        type_byte,
        op::TYPE_STRING
            | op::TYPE_SET
            | op::TYPE_HASH
            | op::TYPE_SET_INTSET
            | op::TYPE_HASH_LISTPACK
            | op::TYPE_LIST
            | op::TYPE_LIST_QUICKLIST_2
            | op::TYPE_ZSET
            | op::TYPE_ZSET_2
            | op::TYPE_ZSET_LISTPACK
    )
}

/// The members of an intset blob: `encoding (u32 LE: 2, 4 or 8) length (u32 LE)` then `length`
/// little-endian integers of `encoding` bytes.
fn intset(blob: &[u8]) -> Result<Set, String> {
    let bad = || "damaged intset".to_owned();
    let header = blob.get(..8).ok_or_else(bad)?;
    let width = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width * len {
        return Err(bad());
    }
    let mut set = Set::default();
    for chunk in blob[8..].chunks_exact(width) {
        let mut bytes = [0u8; 8];
        bytes[..width].copy_from_slice(chunk);
        // Sign-extend from the encoding's width.
        let shift = 64 - 8 * width as u32;
        let value = (i64::from_le_bytes(bytes) << shift) >> shift;
        if !set.insert(value.to_string().as_bytes()) {
            return Err("an intset member appears twice".to_owned());
        }
    }
    Ok(set)
}

/// The items of a listpack blob, integers as their decimal text:
///
/// ```text
/// total bytes (u32 LE)  count (u16 LE)  entry*  0xFF
/// entry    encoding [data] backlen (1 to 5 bytes, the size of encoding + data)
/// 0xxxxxxx              7-bit unsigned integer
/// 10xxxxxx data         string of up to 63 bytes
/// 110xxxxx x            13-bit signed integer
/// 1110xxxx x data       string of up to 4095 bytes
/// 11110000 len32 data   string
/// 0xF1 / F2 / F3 / F4   16-, 24-, 32-, 64-bit signed integer, little-endian
/// ```
fn listpack(blob: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let bad = || "damaged listpack".to_owned();
    if blob.len() < 7 || u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize != blob.len() {
        return Err(bad());
    }
    let mut items = Vec::new();
    let mut at = 6;
    loop {
        let &first = blob.get(at).ok_or_else(bad)?;
        if first == 0xFF {
            return if at + 1 == blob.len() { Ok(items) } else { Err(bad()) };
        }
        let take = |from: usize, len: usize| blob.get(from..from + len).ok_or_else(bad);
        let int = |bytes: &[u8]| {
            let mut full = [0u8; 8];
            full[..bytes.len()].copy_from_slice(bytes);
            let shift = 64 - 8 * bytes.len() as u32;
            ((i64::from_le_bytes(full) << shift) >> shift).to_string().into_bytes()
        };
        let (item, size) = match first {
            0x00..=0x7F => (i64::from(first).to_string().into_bytes(), 1),
            0x80..=0xBF => {
                let len = usize::from(first & 0x3F);
                (take(at + 1, len)?.to_vec(), 1 + len)
            }
            0xC0..=0xDF => {
                let raw = (i64::from(first & 0x1F) << 8) | i64::from(*take(at + 1, 1)?.first().ok_or_else(bad)?);
                let value = if raw >= 1 << 12 { raw - (1 << 13) } else { raw };
                (value.to_string().into_bytes(), 2)
            }
            0xE0..=0xEF => {
                let len = (usize::from(first & 0x0F) << 8) | usize::from(*take(at + 1, 1)?.first().ok_or_else(bad)?);
                (take(at + 2, len)?.to_vec(), 2 + len)
            }
            0xF0 => {
                let len = take(at + 1, 4)?;
                let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
                (take(at + 5, len)?.to_vec(), 5 + len)
            }
            0xF1 => (int(take(at + 1, 2)?), 3),
            0xF2 => (int(take(at + 1, 3)?), 4),
            0xF3 => (int(take(at + 1, 4)?), 5),
            0xF4 => (int(take(at + 1, 8)?), 9),
            _ => return Err(bad()),
        };
        let backlen = match size {
            0..=127 => 1,
            128..=16_382 => 2,
            16_383..=2_097_150 => 3,
            2_097_151..=268_435_454 => 4,
            _ => 5,
        };
        at += size + backlen;
        items.push(item);
    }
}

/// Loads the RDB file at `path` into `dbs` (empty, at start); `Ok(None)` when there is no file.
///
/// Keys whose time to live ran out are left out. Aux fields are logged or skipped, function
/// libraries are collected for the server to load (those of Redis 7.0's release candidates are skipped with a warning); a key of another type than
/// string, module data, a database past `dbs`, a duplicate key, a checksum that does not match or a
/// file cut short is an error naming the byte offset, and the caller stops the start.
pub fn load(path: &Path, dbs: &[Db]) -> Result<Option<Loaded>, RdbError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RdbError::Io { path: path.to_owned(), source }),
    };
    let mut source = Source::new(BufReader::with_capacity(READ_BUFFER, file));
    load_from(&mut source, dbs, now_ms()).map(Some).map_err(|failure| match failure {
        Failure::Io(source) => RdbError::Io { path: path.to_owned(), source },
        Failure::Invalid { offset, what } => RdbError::Invalid { path: path.to_owned(), offset, what },
    })
}

/// [`load`] from any reader, for tests of what a file can make the loader do; `now` (Unix ms)
/// decides which keys have expired. Errors name the byte offset; the path is the caller's.
pub fn load_reader(reader: impl Read, dbs: &[Db], now: u64) -> Result<Loaded, (Option<u64>, String)> {
    load_from(&mut Source::new(reader), dbs, now).map_err(|failure| match failure {
        Failure::Io(err) => (None, err.to_string()),
        Failure::Invalid { offset, what } => (Some(offset), what.to_string()),
    })
}

fn load_from<R: Read>(source: &mut Source<R>, dbs: &[Db], now: u64) -> Decoded<Loaded> {
    let header: [u8; 9] = source.array()?;
    let version = match (&header[..5], std::str::from_utf8(&header[5..]).ok().and_then(|v| v.parse::<u32>().ok())) {
        (b"REDIS", Some(version)) => version,
        _ => return source.invalid(0, Invalid::Signature),
    };
    if version == 0 || version > u32::from(RDB_VERSION) {
        return source.invalid(5, Invalid::Version(version));
    }
    let mut loaded = Loaded { version, ..Loaded::default() };
    let mut db_index = 0u64;
    let mut expires_at: Option<i64> = None;
    // The next key's eviction hints (Redis writes them under LRU and LFU policies).
    let (mut idle, mut freq): (Option<u64>, Option<u8>) = (None, None);
    loop {
        let at = source.offset;
        match source.byte()? {
            op::EXPIRETIME_MS => expires_at = Some(i64::from_le_bytes(source.array()?)),
            op::EXPIRETIME => expires_at = Some(i64::from(i32::from_le_bytes(source.array()?)) * 1000),
            // Eviction hints, kept when the policy uses them (as Redis's `objectSetLRUOrLFU`).
            op::FREQ => freq = Some(source.byte()?),
            op::IDLE => idle = Some(source.plain_length()?),
            op::EOF => break,
            op::SELECTDB => {
                db_index = source.plain_length()?;
                if db_index >= dbs.len() as u64 {
                    return source.invalid(at, Invalid::Database { db: db_index, databases: dbs.len() });
                }
            }
            op::RESIZEDB => {
                // Only a sizing hint; trusting it would allocate what the file merely claims.
                source.plain_length()?;
                source.plain_length()?;
            }
            op::AUX => {
                let key = source.string()?;
                let value = source.string()?;
                aux_field(&key, &value, &mut loaded);
            }
            op::MODULE_AUX => {
                let id = source.plain_length()?;
                return source.invalid(at, Invalid::ModuleAux(module_name(id)));
            }
            op::FUNCTION2 => loaded.functions.push(source.string()?),
            op::FUNCTION_PRE_GA => {
                // Redis 7.0 rc1/rc2: name, engine, [description], code.
                let name = source.string()?;
                source.string()?;
                if source.plain_length()? != 0 {
                    source.string()?;
                }
                source.string()?;
                skip_function(&name, &mut loaded);
            }
            type_byte if readable(type_byte) => {
                let key = source.string()?;
                let value = match source.value(type_byte)? {
                    Ok(value) => value,
                    Err(what) => return source.invalid(at, Invalid::BadValue { key: printable(&key), what }),
                };
                let Some(db) = dbs.get(db_index as usize) else {
                    return source.invalid(at, Invalid::Database { db: db_index, databases: dbs.len() });
                };
                let empty = matches!(&value, Value::Collection(collection) if collection.is_empty());
                let (idle, freq) = (idle.take(), freq.take());
                match expires_at.take() {
                    // Redis skips empty collections too: no key may hold one.
                    _ if empty => {}
                    Some(deadline) if deadline <= now as i64 => loaded.expired += 1,
                    deadline => {
                        let deadline = deadline.map(|d| d as u64);
                        let fresh = db.with_key(&key, |slot| {
                            let fresh = !slot.exists();
                            if fresh {
                                slot.put_value(value, deadline);
                                if let Some(access) = db.tracking().restored(idle, freq, now) {
                                    slot.set_access(access);
                                }
                            }
                            fresh
                        });
                        if !fresh {
                            return source.invalid(at, Invalid::Duplicate { key: printable(&key), db: db_index });
                        }
                        loaded.keys += 1;
                    }
                }
            }
            other => {
                let Some(type_name) = type_name(other) else { return source.invalid(at, Invalid::UnknownType(other)) };
                // Read the key to name it; the value is not read.
                let key = source.string()?;
                let what = Invalid::UnsupportedType { key: printable(&key), db: db_index, type_name, type_byte: other };
                return source.invalid(at, what);
            }
        }
    }
    if version >= 5 {
        let computed = source.digest.clone().finalize();
        let at = source.offset;
        let stored = u64::from_le_bytes(source.array()?);
        if stored == 0 {
            tracing::warn!("the RDB file was saved with its checksum turned off: it was not checked");
        } else if stored != computed {
            return source.invalid(at, Invalid::Checksum { stored, computed });
        }
    }
    Ok(loaded)
}

/// Logs what an aux field says about the file, as redis-server does; fields not known are skipped,
/// as the format asks.
fn aux_field(key: &[u8], value: &[u8], loaded: &mut Loaded) {
    let text = String::from_utf8_lossy(value);
    match key {
        b"redis-ver" => loaded.written_by = Some(text.into_owned()),
        b"repl-stream-db" => loaded.repl_stream_db = text.parse().ok(),
        b"ctime" => {
            if let Ok(ctime) = text.parse::<u64>() {
                tracing::info!(age_secs = (now_ms() / 1000).saturating_sub(ctime), "RDB file age");
            }
        }
        _ if key.first() == Some(&b'%') => tracing::info!("RDB '{}': {text}", String::from_utf8_lossy(key)),
        _ => tracing::debug!(field = %String::from_utf8_lossy(key), value = %text, "RDB aux field"),
    }
}

fn skip_function(code_or_name: &[u8], loaded: &mut Loaded) {
    loaded.functions_skipped += 1;
    let first_line = code_or_name.split(|&b| b == b'\n').next().unwrap_or_default();
    tracing::warn!(
        library = %printable(first_line),
        "the RDB file holds a function library in a pre-release format TinyKV does not read; it was skipped"
    );
}

/// The nine-character name of a module type from its id, as Redis derives it.
fn module_name(id: u64) -> String {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = id >> 10;
    (0..9).rev().map(|i| char::from(CHARSET[((bits >> (6 * i)) & 63) as usize])).collect()
}

/// Why `RESTORE` refused a payload; the `Display` text is Redis's error reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    /// Too short, from a newer RDB version, or the checksum does not match.
    #[error("ERR DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The checksum matched but the value does not decode.
    #[error("ERR Bad data format")]
    BadFormat,
    /// A value of a type TinyKV does not have yet.
    #[error("ERR Bad data format: TinyKV cannot restore a {0} value yet")]
    Unsupported(&'static str),
}

/// The value in a `DUMP` payload (a string, set or hash), after checking its RDB version (at most 10)
/// and CRC-64, as redis-server's `RESTORE` does.
pub fn restore_payload(payload: &[u8]) -> Result<Value, RestoreError> {
    let Some(body_len) = payload.len().checked_sub(10) else { return Err(RestoreError::VersionOrChecksum) };
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let stored = u64::from_le_bytes(footer[2..].try_into().map_err(|_| RestoreError::VersionOrChecksum)?);
    if version > RDB_VERSION || CRC64.checksum(&payload[..body_len + 2]) != stored {
        return Err(RestoreError::VersionOrChecksum);
    }
    let mut source = Source::new(&payload[..body_len]);
    match source.byte() {
        Ok(type_byte) if readable(type_byte) => match source.value(type_byte) {
            Ok(Ok(Value::Collection(collection))) if collection.is_empty() => Err(RestoreError::BadFormat),
            Ok(Ok(value)) => Ok(value),
            _ => Err(RestoreError::BadFormat),
        },
        Ok(other) => Err(type_name(other).map_or(RestoreError::BadFormat, RestoreError::Unsupported)),
        Err(_) => Err(RestoreError::BadFormat),
    }
}

// --- scripting ---
/// The library codes in a `FUNCTION DUMP` payload, after checking its RDB version and CRC-64.
pub fn function_restore(payload: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    const WRONG: &str = "ERR DUMP payload version or checksum are wrong";
    let Some(body_len) = payload.len().checked_sub(10) else { return Err(WRONG) };
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let stored = u64::from_le_bytes(footer[2..].try_into().map_err(|_| WRONG)?);
    if version > RDB_VERSION || CRC64.checksum(&payload[..body_len + 2]) != stored {
        return Err(WRONG);
    }
    let mut source = Source::new(&payload[..body_len]);
    let mut codes = Vec::new();
    while source.offset < body_len as u64 {
        match source.byte() {
            Ok(op::FUNCTION2) => codes.push(source.string().map_err(|_| "ERR given type is not a function")?),
            _ => return Err("ERR given type is not a function"),
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::encode::{dump_payload, write_snapshot, WriteOptions};

    fn dbs(n: usize) -> Vec<Db> {
        (0..n).map(|_| Db::new(4)).collect()
    }

    fn snapshot(dbs: &[Db], options: WriteOptions) -> Vec<u8> {
        let mut file = Vec::new();
        write_snapshot(dbs, &[], &mut file, options, &|| false).expect("in-memory write");
        file
    }

    fn load_bytes(bytes: &[u8], dbs: &[Db]) -> Result<Loaded, (Option<u64>, String)> {
        load_reader(bytes, dbs, now_ms())
    }

    #[test]
    fn a_snapshot_loads_back_with_every_encoding() {
        let source = dbs(3);
        let long: Vec<u8> = b"compressible ".repeat(50);
        let values: [&[u8]; 9] = [b"", b"0", b"-1", b"300", b"70000", b"9999999999", b"007", b"\x00\r\nbin\xff", &long];
        for (i, value) in values.iter().enumerate() {
            source[0].with_key(format!("k{i}").as_bytes(), |slot| slot.put(value, None));
            source[2].with_key(&long, |slot| slot.put(value, Some(now_ms() + 60_000)));
        }
        source[2].with_key(b"expiring", |slot| slot.put(b"x", Some(now_ms() + 5_000)));
        for options in [WriteOptions::default(), WriteOptions { compression: false, checksum: false, aof_base: false }]
        {
            let file = snapshot(&source, options);
            let target = dbs(3);
            // Loaded ten seconds later: the key that expires in five is gone.
            let loaded = load_reader(&file[..], &target, now_ms() + 10_000).unwrap();
            assert_eq!((loaded.keys, loaded.expired), (10, 1));
            for (i, value) in values.iter().enumerate() {
                assert_eq!(target[0].get(format!("k{i}").as_bytes()).as_deref(), Some(*value));
            }
            assert_eq!(target[2].get(&long).as_deref(), Some(values[8]));
            assert!(target[2].with_key(&long, |slot| slot.expires_at()).flatten().is_some());
            assert!(target[1].is_empty());
        }
    }

    #[test]
    fn damage_is_reported_with_its_offset() {
        let source = dbs(1);
        source[0].with_key(b"key", |slot| slot.put(&b"value ".repeat(20), None));
        let file = snapshot(&source, WriteOptions::default());
        // Every cut is an error, never a panic or a partial success.
        for cut in 0..file.len() {
            let err = load_bytes(&file[..cut], &dbs(1)).unwrap_err();
            assert!(err.1.contains("truncated") || err.1.contains("not an RDB file"), "cut {cut}: {err:?}");
        }
        // A flipped byte in the value is caught by the checksum (or the LZF check), at or before its end.
        let mut flipped = file.clone();
        let at = file.len() - 12;
        flipped[at] ^= 0x40;
        let err = load_bytes(&flipped, &dbs(1)).unwrap_err();
        assert!(err.1.contains("checksum") || err.1.contains("LZF"), "{err:?}");
        let mut newer = file.clone();
        newer[5..9].copy_from_slice(b"0011");
        assert_eq!(load_bytes(&newer, &dbs(1)).unwrap_err().0, Some(5));
    }

    #[test]
    fn lying_lengths_allocate_nothing_they_claim() {
        let mut file = b"REDIS0010\xfe\x00\x00".to_vec();
        // A 64-bit length far past the cap, then a 32-bit one just under it with no bytes behind it.
        let mut huge = file.clone();
        huge.extend_from_slice(b"\x81\x7f\xff\xff\xff\xff\xff\xff\xff");
        let err = load_bytes(&huge, &dbs(1)).unwrap_err();
        assert_eq!(err.0, Some(12));
        assert!(err.1.contains("more than the 512 MiB"), "{err:?}");
        file.extend_from_slice(b"\x03key\x80\x1f\xff\xff\xffonly a few bytes");
        let err = load_bytes(&file, &dbs(1)).unwrap_err();
        assert!(err.1.contains("truncated"), "{err:?}");
        // LZF claiming 500 MiB of output from 3 bytes.
        let lzf = b"REDIS0010\xfe\x00\x00\x03key\xc3\x03\x80\x1f\x40\x00\x00\x00a\x00";
        assert!(load_bytes(lzf, &dbs(1)).unwrap_err().1.contains("LZF"));
    }

    #[test]
    fn other_types_and_modules_stop_the_load_by_name() {
        let stream = b"REDIS0010\xfe\x01\x13\x04jobs\x00\xff";
        let err = load_bytes(stream, &dbs(2)).unwrap_err();
        assert_eq!(err.0, Some(11));
        assert!(err.1.contains("key 'jobs' in database 1 is a stream (RDB type 19)"), "{err:?}");
        let module = b"REDIS0010\xf7\x81\x00\x00\x00\x00\x00\x00\x04\x00\x02\x02";
        assert!(load_bytes(module, &dbs(1)).unwrap_err().1.contains("module"));
        let out_of_range = b"REDIS0010\xfe\x10";
        assert!(load_bytes(out_of_range, &dbs(16)).unwrap_err().1.contains("database 16 is out of range"));
        let duplicate = b"REDIS0010\x00\x01k\x01v\x00\x01k\x01w\xff\x00\x00\x00\x00\x00\x00\x00\x00";
        assert!(load_bytes(duplicate, &dbs(1)).unwrap_err().1.contains("appears twice"));
        let function = b"REDIS0010\xf5\x05#!lua\x00\x01k\x01v\xff\x00\x00\x00\x00\x00\x00\x00\x00";
        let loaded = load_bytes(function, &dbs(1)).unwrap();
        assert_eq!((loaded.keys, loaded.functions.len()), (1, 1));
    }

    #[test]
    fn module_names_follow_redis() {
        // "ReJSON-RL" encoded as Redis encodes module type names, version 3 in the low 10 bits.
        let charset = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let id = b"ReJSON-RL".iter().fold(0u64, |id, c| id << 6 | charset.iter().position(|x| x == c).unwrap() as u64);
        assert_eq!(module_name(id << 10 | 3), "ReJSON-RL");
    }

    #[test]
    fn restore_checks_version_checksum_and_type() {
        let payload = dump_payload(b"hello", true);
        assert_eq!(restore_payload(&payload), Ok(Value::String(b"hello".to_vec())));
        let mut bad = payload.clone();
        bad[2] ^= 1;
        assert_eq!(restore_payload(&bad), Err(RestoreError::VersionOrChecksum));
        assert_eq!(restore_payload(b"short"), Err(RestoreError::VersionOrChecksum));
        let mut stream = vec![19u8, 0];
        stream.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&stream);
        stream.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(restore_payload(&stream), Err(RestoreError::Unsupported("stream")));
    }
}
