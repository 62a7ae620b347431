//! RDB snapshots in Redis 7.0's format (RDB version 10), and the `DUMP`/`RESTORE` payloads built
//! from the same value encoding.
//!
//! ```text
//! file     "REDIS0010"  AUX*  ( SELECTDB db  RESIZEDB keys volatile  pair* )*  EOF  crc64 (8 bytes LE)
//! AUX      0xFA string string                       redis-ver, redis-bits, ctime, used-mem, aof-base
//! SELECTDB 0xFE length
//! RESIZEDB 0xFB length length                       a sizing hint, ignored at load
//! pair     [0xFC expiry (u64 LE, Unix ms)] type key value
//! value    type 0 (string)   string
//!          type 2 (set)      length member*                    written and read
//!          type 4 (hash)     length (field value)*             written and read
//!          type 11 (intset)  string: enc (u32 LE) len (u32 LE) integer*      read (Redis writes it)
//!          type 16 (hash as listpack) string: listpack of field, value, ...  read (Redis writes it)
//!          type 5 (zset)     length (member score)*, score a binary double (f64 LE)   written and read
//!          type 3 (old zset) length (member score)*, score as text: u8 len + ASCII    read
//!          type 17 (zset as listpack) string: listpack of member, score, ...    read (Redis writes it)
//! EOF      0xFF
//!
//! length   00xxxxxx                  6 bits
//!          01xxxxxx xxxxxxxx         14 bits, big-endian
//!          0x80 u32 BE | 0x81 u64 BE
//! string   length bytes
//!          0xC0 i8 | 0xC1 i16 LE | 0xC2 i32 LE           an integer, written as its decimal text
//!          0xC3 length(compressed) length(plain) LZF     see [`lzf`]
//!
//! DUMP     type value  version (u16 LE, 10)  crc64 (u64 LE) of everything before it
//! ```
//!
//! The CRC is Redis's CRC-64 (Jones polynomial, reflected, no final xor): the `crc` crate's
//! `CRC_64_REDIS`. [`encode`] writes, [`decode`] reads; [`snapshot`] holds the `SAVE`/`BGSAVE`
//! machinery and the save rules.

pub mod decode;
pub mod encode;
pub mod lzf;
pub mod snapshot;

use std::path::PathBuf;

use crc::{Crc, Table, CRC_64_REDIS};
use thiserror::Error;

pub use decode::{load, restore_payload, Loaded, RestoreError};
pub use encode::{dump_entry, dump_payload, write_snapshot, Written};
pub use snapshot::{SaveRule, Snapshots};

/// The RDB version written, and the newest read: Redis 7.0's.
pub const RDB_VERSION: u16 = 10;

/// Redis's CRC-64, slice-by-16 (32 KiB of tables) because a snapshot checksums every byte it writes.
pub static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// Type bytes and opcodes, as `rdb.h` numbers them.
pub(crate) mod op {
    pub const TYPE_STRING: u8 = 0;
    pub const TYPE_SET: u8 = 2;
    /// A list as a plain sequence of strings (Redis's `RDB_TYPE_LIST`): every Redis loads it.
    pub const TYPE_LIST: u8 = 1;
    pub const TYPE_HASH: u8 = 4;
    pub const TYPE_ZSET: u8 = 3;
    pub const TYPE_ZSET_2: u8 = 5;
    pub const TYPE_ZSET_LISTPACK: u8 = 17;
    pub const TYPE_SET_INTSET: u8 = 11;
    pub const TYPE_HASH_LISTPACK: u8 = 16;
    /// A list as quicklist nodes, each a listpack or one plain element (Redis 7.0 writes these).
    pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;

    /// Length encodings (the top bits of the first byte) and special string encodings.
    pub const LEN_32: u8 = 0x80;
    pub const LEN_64: u8 = 0x81;
    pub const ENC_INT8: u8 = 0xC0;
    pub const ENC_INT16: u8 = 0xC1;
    pub const ENC_INT32: u8 = 0xC2;
    pub const ENC_LZF: u8 = 0xC3;
}

/// What a type byte holds, for the error that names a key TinyKV cannot load.
pub fn type_name(type_byte: u8) -> Option<&'static str> {
    Some(match type_byte {
        0 => "string",
        1 | 10 | 14 | 18 => "list",
        2 | 11 => "set",
        3 | 5 | 12 | 17 => "zset",
        4 | 9 | 13 | 16 => "hash",
        6 | 7 => "module",
        15 | 19 => "stream",
        _ => return None,
    })
}

/// Why an RDB file could not be read or written.
#[derive(Debug, Error)]
pub enum RdbError {
    /// Opening, reading, writing, syncing or renaming failed.
    #[error("RDB file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file holds something TinyKV cannot load, found at this byte offset. Nothing of the file
    /// is served: the start stops.
    #[error("RDB file {path}: {what} (at byte offset {offset})")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where the problem starts.
        offset: u64,
        /// What is wrong there.
        what: Invalid,
    },
    /// `SAVE` or `BGSAVE` while another save runs.
    #[error("a save is already in progress")]
    InProgress,
    /// A save was stopped because the server is shutting down (a `BGSAVE` overtaken by the final save).
    #[error("RDB save aborted: the server is shutting down")]
    Aborted,
    /// `SWAPDB`s kept moving databases while the snapshot was walked.
    #[error("RDB save interrupted by SWAPDB")]
    Interrupted,
}

/// What is wrong in an RDB file or `DUMP` payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Invalid {
    /// The data ends before the structure it started is complete.
    #[error("unexpected end of data (the file is truncated)")]
    Truncated,
    /// The first bytes are not `REDIS` and four digits.
    #[error("not an RDB file (it does not start with \"REDIS\" and a version)")]
    Signature,
    /// A format version this server does not read.
    #[error("RDB format version {0} is not supported (this server reads versions 1 to 10, as Redis 7.0)")]
    Version(u32),
    /// A length whose first byte is none of the encodings.
    #[error("unknown length encoding 0x{0:02x}")]
    LengthEncoding(u8),
    /// A string encoding byte that is not an integer or LZF.
    #[error("unknown string encoding 0x{0:02x}")]
    StringEncoding(u8),
    /// A string longer than TinyKV's 512 MiB limit on one value.
    #[error("a string claims {0} bytes, more than the 512 MiB a string may hold")]
    TooLong(u64),
    /// LZF data that does not expand to what it announced.
    #[error("invalid LZF-compressed string: {0}")]
    Lzf(#[from] lzf::LzfError),
    /// A type byte or opcode that is not in the format.
    #[error("unknown type or opcode {0}")]
    UnknownType(u8),
    /// A collection's encoding is damaged (a listpack or intset that does not hold together, a
    /// member twice).
    #[error("key '{key}': {what}")]
    BadValue {
        /// The key, lossily as text.
        key: String,
        /// What is wrong.
        what: String,
    },
    /// A key of a type TinyKV does not have yet.
    #[error(
        "key '{key}' in database {db} is a {type_name} (RDB type {type_byte}), which TinyKV cannot load yet; \
         remove such keys (or start without this file) and try again"
    )]
    UnsupportedType {
        /// The key, lossily as text.
        key: String,
        /// Its database.
        db: u64,
        /// The type's name.
        type_name: &'static str,
        /// The type byte.
        type_byte: u8,
    },
    /// Data of a module (`MODULE_AUX`): TinyKV has no modules to hand it to.
    #[error("auxiliary data of module '{0}', and TinyKV has no modules")]
    ModuleAux(String),
    /// `SELECTDB` past `--databases`.
    #[error("database {db} is out of range: the server has {databases} (--databases)")]
    Database {
        /// The index in the file.
        db: u64,
        /// How many the server has.
        databases: usize,
    },
    /// The same key twice in one database.
    #[error("key '{key}' appears twice in database {db}")]
    Duplicate {
        /// The key, lossily as text.
        key: String,
        /// Its database.
        db: u64,
    },
    /// The checksum at the end does not match the content.
    #[error("wrong RDB checksum: the file says {stored:016x}, the content gives {computed:016x}")]
    Checksum {
        /// The checksum the file ends with.
        stored: u64,
        /// The checksum of what was read.
        computed: u64,
    },
}

/// A key as text for messages: lossy, and cut so a huge key cannot make a huge log line.
pub(crate) fn printable(key: &[u8]) -> String {
    const MAX: usize = 128;
    let text = String::from_utf8_lossy(&key[..key.len().min(MAX)]).into_owned();
    if key.len() > MAX {
        format!("{text}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis_jones_crc() {
        // The check value of Redis's crc64.c test ("123456789") and a checksum redis-server 7.0
        // put in `DUMP` of the string "123" (int-encoded): \x00\xc0{ then version 10.
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let body = b"\x00\xc0{\x0a\x00";
        assert_eq!(CRC64.checksum(body).to_le_bytes(), *b"H\xe2S\xe1\x00zg\xb9");
    }
}
