//! LZF, the compression Redis applies to strings longer than 20 bytes in RDB files and `DUMP`
//! payloads.
//!
//! ```text
//! 000LLLLL <L+1 bytes>          a run of L+1 (1..=32) literal bytes
//! LLLooooo oooooooo             copy L+2 (3..=8) bytes from `offset + 1` back (offset < 8192)
//! 111ooooo LLLLLLLL oooooooo    copy L+9 (9..=264) bytes from `offset + 1` back
//! ```
//!
//! The compressor makes the same choices as liblzf 3.6 as Redis builds it (`HLOG 16`, `VERY_FAST`,
//! a hash of three bytes, two positions re-hashed after each match), so a value compresses to the
//! bytes redis-server produces and `DUMP` payloads of the two servers are byte-equal. liblzf leaves
//! its hash table uninitialised; an empty table here is the deterministic reading of the same
//! algorithm (stale slots can only ever point at earlier input, which the table never holds).

use thiserror::Error;

/// Bits of the hash table index.
const HASH_LOG: u32 = 16;
/// Slots in the hash table.
const HASH_SIZE: usize = 1 << HASH_LOG;
/// Longest literal run one control byte announces.
const MAX_LITERAL: usize = 1 << 5;
/// Farthest back a reference reaches.
const MAX_OFFSET: usize = 1 << 13;
/// Longest reference, in bytes beyond the two every reference has.
const MAX_REFERENCE: usize = (1 << 8) + (1 << 3);
/// Most bytes one input byte can expand to: a three-byte reference copies up to 264 bytes.
pub const MAX_EXPANSION: usize = (MAX_REFERENCE + 2).div_ceil(3);

/// Why compressed data could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LzfError {
    /// The data expands to more bytes than announced.
    #[error("LZF data expands past its announced length of {0} bytes")]
    TooLong(usize),
    /// The data ends inside a literal run or a reference.
    #[error("LZF data ends inside a run")]
    Truncated,
    /// A reference points before the start of the output.
    #[error("LZF back-reference points before the start of the data")]
    BadReference,
    /// The data expands to fewer bytes than announced.
    #[error("LZF data expands to {got} bytes, {expected} were announced")]
    TooShort {
        /// Bytes produced.
        got: usize,
        /// Bytes announced.
        expected: usize,
    },
}

/// A compressor with its hash table, reused across calls so that compressing many small strings
/// does not clear 256 KiB each time: only the slots a call touched are reset after it.
pub struct Compressor {
    /// Input position + 1 of the last three-byte sequence with each hash; 0 is empty.
    table: Box<[u32]>,
    /// Slots set by the current call.
    touched: Vec<u32>,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor { table: vec![0; HASH_SIZE].into_boxed_slice(), touched: Vec::new() }
    }
}

/// liblzf's hash step: the next three-byte window's hash from the previous one.
fn next_hash(hash: u32, input: &[u8], at: usize) -> u32 {
    (hash << 8) | u32::from(input[at + 2])
}

/// liblzf's first hash: the two bytes at `at`.
fn first_hash(input: &[u8], at: usize) -> u32 {
    (u32::from(input[at]) << 8) | u32::from(input[at + 1])
}

/// liblzf's `IDX` for `VERY_FAST`.
fn slot_of(hash: u32) -> usize {
    ((hash >> (3 * 8 - HASH_LOG)).wrapping_sub(hash.wrapping_mul(5)) as usize) & (HASH_SIZE - 1)
}

impl Compressor {
    /// Compresses `input` into at most `max_out` bytes; `None` when it does not fit (as liblzf
    /// returns 0), and then the caller stores the string as it is. Inputs of 4 GiB or more are
    /// never compressed (TinyKV's strings are at most 512 MiB).
    pub fn compress(&mut self, input: &[u8], max_out: usize) -> Option<Vec<u8>> {
        if input.is_empty() || max_out == 0 || u32::try_from(input.len()).is_err() {
            return None;
        }
        let result = self.compress_into(input, max_out);
        for slot in self.touched.drain(..) {
            self.table[slot as usize] = 0;
        }
        result
    }

    fn remember(&mut self, hash: u32, at: usize) {
        let slot = slot_of(hash);
        if self.table[slot] == 0 {
            self.touched.push(slot as u32);
        }
        // Fits: the input is shorter than 4 GiB.
        self.table[slot] = at as u32 + 1;
    }

    /// The algorithm proper, with liblzf's pointers as indices: `ip` into `input`, `op` into `out`,
    /// where `out[op - lit - 1]` is the control byte of the literal run being built.
    fn compress_into(&mut self, input: &[u8], max_out: usize) -> Option<Vec<u8>> {
        let in_len = input.len();
        // One spare byte: liblzf may reserve a control byte at the very end before giving up.
        let mut out = vec![0u8; max_out + 1];
        let mut ip = 0usize;
        let mut op = 1usize; // a literal run starts, its control byte at 0
        let mut lit = 0usize;
        let mut hash = if in_len >= 2 { first_hash(input, 0) } else { 0 };

        while ip + 2 < in_len {
            hash = next_hash(hash, input, ip);
            let slot = slot_of(hash);
            let candidate = self.table[slot];
            self.remember(hash, ip);
            let reference = (candidate as usize).checked_sub(1);
            let matched = reference.filter(|&r| {
                r > 0
                    && r < ip
                    && ip - r - 1 < MAX_OFFSET
                    && input[r + 2] == input[ip + 2]
                    && input[r..r + 2] == input[ip..ip + 2]
            });
            let Some(r) = matched else {
                // One more literal byte.
                if op >= max_out {
                    return None;
                }
                lit += 1;
                out[op] = input[ip];
                op += 1;
                ip += 1;
                if lit == MAX_LITERAL {
                    out[op - lit - 1] = (lit - 1) as u8;
                    lit = 0;
                    op += 1;
                }
                continue;
            };
            let offset = ip - r - 1;
            let mut len = 2usize;
            let max_len = (in_len - ip - len).min(MAX_REFERENCE);
            if op + 3 + 1 >= max_out && op - usize::from(lit == 0) + 3 + 1 >= max_out {
                return None;
            }
            out[op - lit - 1] = lit.wrapping_sub(1) as u8; // stop the run
            op -= usize::from(lit == 0); // a run of nothing is undone
            len = match_length(input, r, ip, len, max_len);
            len -= 2; // now the number of bytes beyond two, minus one
            ip += 1;
            if len < 7 {
                out[op] = ((offset >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((offset >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = offset as u8;
            op += 1;
            lit = 0;
            op += 1; // a new literal run starts
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            // Hash the two positions before the new one, as liblzf's VERY_FAST mode does.
            ip -= 2;
            hash = first_hash(input, ip);
            hash = next_hash(hash, input, ip);
            self.remember(hash, ip);
            ip += 1;
            hash = next_hash(hash, input, ip);
            self.remember(hash, ip);
            ip += 1;
        }
        if op + 3 > max_out {
            return None;
        }
        while ip < in_len {
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LITERAL {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
        out[op - lit - 1] = lit.wrapping_sub(1) as u8; // end the run
        op -= usize::from(lit == 0);
        out.truncate(op);
        Some(out)
    }
}

/// How far the match of `input[ip..]` with `input[r..]` reaches, given that `len + 1` bytes are
/// known to match; liblzf's loop, whose first sixteen steps skip the `max_len` test when more than
/// sixteen bytes remain (and may so reach two bytes past `max_len`, which it then encodes).
fn match_length(input: &[u8], r: usize, ip: usize, mut len: usize, max_len: usize) -> usize {
    if max_len > 16 {
        for _ in 0..16 {
            len += 1;
            if input[r + len] != input[ip + len] {
                return len;
            }
        }
    }
    loop {
        len += 1;
        if !(len < max_len && input[r + len] == input[ip + len]) {
            return len;
        }
    }
}

/// Expands `input`, which must produce exactly `expected` bytes. Memory grows with the output
/// actually produced (at most [`MAX_EXPANSION`] times the input), never with `expected` alone.
pub fn decompress(input: &[u8], expected: usize) -> Result<Vec<u8>, LzfError> {
    let mut out: Vec<u8> = Vec::with_capacity(expected.min(input.len().saturating_mul(MAX_EXPANSION)));
    let mut ip = 0;
    while ip < input.len() {
        let control = usize::from(input[ip]);
        ip += 1;
        if control < MAX_LITERAL {
            let run = control + 1;
            if out.len() + run > expected {
                return Err(LzfError::TooLong(expected));
            }
            let literal = input.get(ip..ip + run).ok_or(LzfError::Truncated)?;
            out.extend_from_slice(literal);
            ip += run;
        } else {
            let mut len = control >> 5;
            let mut back = (control & 0x1f) << 8;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
                ip += 1;
            }
            back += usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
            ip += 1;
            let len = len + 2;
            if out.len() + len > expected {
                return Err(LzfError::TooLong(expected));
            }
            let start = out.len().checked_sub(back + 1).ok_or(LzfError::BadReference)?;
            // Byte by byte: the source may overlap what is being written (a run of one pattern).
            for i in start..start + len {
                out.push(out[i]);
            }
        }
    }
    if out.len() != expected {
        return Err(LzfError::TooShort { got: out.len(), expected });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(input: &[u8]) -> Option<Vec<u8>> {
        let compressed = Compressor::default().compress(input, input.len().saturating_sub(4))?;
        assert_eq!(decompress(&compressed, input.len()).unwrap(), input);
        Some(compressed)
    }

    #[test]
    fn compresses_runs_and_text_and_expands_them_back() {
        assert!(roundtrip(&[b'a'; 1000]).unwrap().len() < 20);
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog; ".repeat(40);
        assert!(roundtrip(&text).unwrap().len() < text.len() / 4);
        let mut long = Vec::new();
        for i in 0..100_000u32 {
            long.extend_from_slice(format!("{} ", i % 977).as_bytes());
        }
        roundtrip(&long).unwrap();
    }

    #[test]
    fn incompressible_input_does_not_fit() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let random: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(roundtrip(&random), None);
    }

    #[test]
    fn matches_liblzf_bytes() {
        // What redis-server 7.0 writes for these values (from `DUMP`, between the lengths and the footer).
        assert_eq!(roundtrip(&[b'a'; 100]).unwrap(), b"\x01aa\xe0W\x00\x01aa");
        assert_eq!(roundtrip(b"hello hello hello hello hello hello").unwrap(), b"\x06hello h\xe0\x11\x05\x01lo");
    }

    #[test]
    fn a_reused_compressor_gives_the_same_bytes() {
        let mut compressor = Compressor::default();
        let a = b"abcabcabcabcabcabcabcabcabcabcabcabc".repeat(3);
        let first = compressor.compress(&a, a.len() - 4);
        compressor.compress(&[b'z'; 500], 496);
        assert_eq!(compressor.compress(&a, a.len() - 4), first);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x00, b'a', 0x20, 0x05], 10), Err(LzfError::BadReference));
        assert_eq!(decompress(&[0x00, b'a', 0xe0], 10), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0x01, b'a', b'b'], 1), Err(LzfError::TooLong(1)));
        assert_eq!(decompress(&[0x00, b'a'], 2), Err(LzfError::TooShort { got: 1, expected: 2 }));
        assert_eq!(decompress(&[0x00, b'a', 0xe0, 0xff, 0x00], 3), Err(LzfError::TooLong(3)));
    }
}
