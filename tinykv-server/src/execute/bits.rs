//! The bitmap family: `SETBIT`, `GETBIT`, `BITCOUNT`, `BITPOS`, `BITOP`, `BITFIELD`, `BITFIELD_RO`.
//!
//! A string is a bitmap whose bit 0 is the most significant bit of its first byte. Offsets are checked
//! against `--proto-max-bulk-len` before anything is allocated, as Redis checks them against its 512 MiB,
//! so no request can make the server reserve more than one value may hold.

use bytes::Bytes;
use tinykv_proto::command::{
    BitCountRange, BitField, BitFieldKind, BitFieldOp, BitOperation, BitPosRange, BitUnit, Overflow,
};
use tinykv_proto::{CommandError, Reply};

use crate::db::Db;

/// Redis's check of a bit offset: its byte must lie within `--proto-max-bulk-len`.
fn check_offset(offset: u64, limit: u64) -> Result<(), CommandError> {
    if offset >> 3 >= limit {
        return Err(CommandError::BitOffset);
    }
    Ok(())
}

/// `SETBIT key offset value`: the bit's old value. Grows the string (zero-padded) as needed.
pub(super) fn setbit(db: &Db, key: &[u8], offset: u64, bit: Result<bool, CommandError>, limit: u64) -> Reply {
    if let Err(err) = check_offset(offset, limit) {
        return err.into();
    }
    let bit = match bit {
        Ok(bit) => bit,
        Err(err) => return err.into(),
    };
    // Within the limit, so the byte index fits in memory's address space.
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    db.with_key(key, |slot| {
        or_reply!(slot.modify(byte + 1, |bytes| {
            let old = bytes[byte] & mask != 0;
            if old != bit {
                bytes[byte] ^= mask;
            }
            (Reply::Integer(i64::from(old)), old != bit)
        }))
    })
}

/// `GETBIT key offset`: 0 past the end of the string or for a missing key.
pub(super) fn getbit(db: &Db, key: &[u8], offset: u64, limit: u64) -> Reply {
    if let Err(err) = check_offset(offset, limit) {
        return err.into();
    }
    db.with_key(key, |slot| {
        let value = or_reply!(slot.string()).unwrap_or_default();
        let byte = usize::try_from(offset >> 3).unwrap_or(usize::MAX);
        let bit = value.get(byte).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0);
        Reply::Integer(i64::from(bit))
    })
}

/// A range of bytes of a string, with the bits of its first and last byte that lie outside a bit range.
struct ByteRange {
    start: usize,
    end: usize,
    /// Bits of the first byte before the range (a mask of them).
    first_outside: u8,
    /// Bits of the last byte after the range.
    last_outside: u8,
}

/// Redis's range arithmetic for `BITCOUNT` and `BITPOS`: negative indexes count from the end, both ends
/// are clamped to the string, and a bit range becomes its bytes and the edge bits to leave out. `None`
/// for an empty range.
fn byte_range(len: usize, start: i64, end: i64, unit: BitUnit) -> Option<ByteRange> {
    let mut total = len as i64;
    if unit == BitUnit::Bit {
        total <<= 3;
    }
    let start = if start < 0 { (total + start).max(0) } else { start };
    let end = if end < 0 { (total + end).max(0) } else { end };
    let end = end.min(total - 1);
    if start > end {
        return None;
    }
    let (start, end, first_outside, last_outside) = match unit {
        BitUnit::Byte => (start, end, 0, 0),
        BitUnit::Bit => {
            let first_outside = !(0xffu8 >> (start & 7));
            let last_outside = (1u8 << (7 - (end & 7))).wrapping_sub(1);
            (start >> 3, end >> 3, first_outside, last_outside)
        }
    };
    Some(ByteRange { start: start as usize, end: end as usize, first_outside, last_outside })
}

/// `BITCOUNT key [start end [BYTE|BIT]]`: the set bits in the range, 0 for a missing key.
pub(super) fn bitcount(db: &Db, key: &[u8], range: Result<BitCountRange, CommandError>) -> Reply {
    db.with_key(key, |slot| {
        let Some(value) = or_reply!(slot.string()) else { return Reply::Integer(0) };
        let range = match range {
            Ok(BitCountRange::Whole) => byte_range(value.len(), 0, -1, BitUnit::Byte),
            Ok(BitCountRange::Empty) => None,
            Ok(BitCountRange::Range { start, end, unit }) => byte_range(value.len(), start, end, unit),
            Err(err) => return err.into(),
        };
        let Some(range) = range else { return Reply::Integer(0) };
        let count = popcount(&value[range.start..=range.end])
            - popcount(&[value[range.start] & range.first_outside, value[range.end] & range.last_outside]);
        Reply::Integer(count as i64)
    })
}

fn popcount(bytes: &[u8]) -> u64 {
    bytes.iter().map(|b| u64::from(b.count_ones())).sum()
}

/// The position of the first bit equal to `bit` in `bytes`; when there is none, -1 looking for a 1, and
/// the first bit past the end looking for a 0 (a string is zero-padded on the right), as Redis's
/// `redisBitpos`.
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    for (i, &byte) in bytes.iter().enumerate() {
        let found = if bit { byte.leading_zeros() } else { byte.leading_ones() };
        if found < 8 {
            return 8 * i as i64 + i64::from(found);
        }
    }
    if bit {
        -1
    } else {
        8 * bytes.len() as i64
    }
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: the first bit equal to `bit`, or -1.
pub(super) fn bitpos(db: &Db, key: &[u8], bit: bool, range: Result<BitPosRange, CommandError>) -> Reply {
    db.with_key(key, |slot| {
        // A missing key is an endless run of zeros.
        let Some(value) = or_reply!(slot.string()) else { return Reply::Integer(if bit { -1 } else { 0 }) };
        let (range, end_given) = match range {
            Ok(BitPosRange::Whole) => (byte_range(value.len(), 0, -1, BitUnit::Byte), false),
            Ok(BitPosRange::From { start, end, unit }) => {
                (byte_range(value.len(), start, end.unwrap_or(-1), unit), end.is_some())
            }
            Err(err) => return err.into(),
        };
        let Some(range) = range else { return Reply::Integer(-1) };
        Reply::Integer(bitpos_in(value, &range, bit, end_given))
    })
}

/// Redis's search of a byte range whose first and last bytes may be cut by a bit range: the edge bytes
/// are masked so bits outside the range never match, the middle is searched whole.
fn bitpos_in(value: &[u8], range: &ByteRange, bit: bool, end_given: bool) -> i64 {
    // Sets the outside bits to what is not looked for.
    let masked = |byte: u8, outside: u8| if bit { byte & !outside } else { byte | outside };
    let mut start = range.start;
    let mut bytes = range.end - range.start + 1;
    let pos = 'search: {
        if range.first_outside != 0 {
            let mut byte = masked(value[start], range.first_outside);
            if range.last_outside != 0 && bytes == 1 {
                byte = masked(byte, range.last_outside);
            }
            let pos = first_bit(&[byte], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            bytes -= 1;
        }
        let middle = bytes - usize::from(range.last_outside != 0);
        if middle > 0 {
            let pos = first_bit(&value[start..start + middle], bit);
            if bytes == middle || (pos != -1 && pos != 8 * middle as i64) {
                break 'search pos;
            }
            start += middle;
            bytes -= middle;
        }
        first_bit(&[masked(value[range.end], range.last_outside)], bit)
    };
    // Past an explicit end there is no zero padding to find a 0 in.
    if end_given && !bit && pos == 8 * bytes as i64 {
        return -1;
    }
    if pos == -1 {
        -1
    } else {
        pos + 8 * start as i64
    }
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: the length of the result, stored at `destkey` (without
/// a time to live), or deleted when every source is empty. Shorter sources count as zero-padded.
pub(super) fn bitop(db: &Db, operation: BitOperation, destination: &[u8], sources: &[Bytes]) -> Reply {
    let mut keys: Vec<&[u8]> = Vec::with_capacity(sources.len() + 1);
    keys.push(destination);
    keys.extend(sources.iter().map(|key| &key[..]));
    db.with_keys(&keys, |locked| {
        let mut longest = 0;
        for i in 1..locked.len() {
            longest = longest.max(or_reply!(locked.slot(i).string()).map_or(0, <[u8]>::len));
        }
        if longest == 0 {
            locked.slot(0).remove();
            return Reply::Integer(0);
        }
        let mut result = vec![0u8; longest];
        for i in 1..locked.len() {
            let slot = locked.slot(i);
            let source = slot.string().ok().flatten().unwrap_or_default();
            if i == 1 {
                result[..source.len()].copy_from_slice(source);
                if operation == BitOperation::Not {
                    result.iter_mut().for_each(|byte| *byte = !*byte);
                }
                continue;
            }
            match operation {
                BitOperation::And => {
                    result.iter_mut().enumerate().for_each(|(j, byte)| *byte &= source.get(j).copied().unwrap_or(0))
                }
                BitOperation::Or => result.iter_mut().zip(source).for_each(|(byte, other)| *byte |= other),
                BitOperation::Xor => result.iter_mut().zip(source).for_each(|(byte, other)| *byte ^= other),
                BitOperation::Not => {}
            }
        }
        locked.slot(0).put(&result, None);
        Reply::Integer(longest as i64)
    })
}

/// `BITFIELD` and `BITFIELD_RO`: one reply per operation, in order (null for an `INCRBY` or `SET` refused
/// by `OVERFLOW FAIL`). Offsets are checked against the limit in the order Redis reads them, before any
/// error found later in the arguments. Writes first grow the string to the farthest bit written.
pub(super) fn bitfield(db: &Db, bitfield: BitField, limit: u64) -> Reply {
    let BitField { key, ops, error } = bitfield;
    let offsets = ops.iter().map(|op| op.offset).chain(error.as_ref().and_then(|(offset, _)| *offset));
    for offset in offsets {
        if let Err(err) = check_offset(offset, limit) {
            return err.into();
        }
    }
    if let Some((_, err)) = error {
        return err.into();
    }
    let farthest =
        ops.iter().filter(|op| op.kind != BitFieldKind::Get).map(|op| op.offset + u64::from(op.bits) - 1).max();
    db.with_key(&key, |slot| {
        let Some(farthest) = farthest else {
            let value = or_reply!(slot.string()).unwrap_or_default();
            return Reply::Array(ops.iter().map(|op| Reply::Integer(get_field(value, op))).collect());
        };
        // Offsets passed the limit check, so the farthest byte is within the limit plus 8 bytes.
        or_reply!(slot.modify((farthest >> 3) as usize + 1, |bytes| {
            let mut changed = false;
            let replies = ops.iter().map(|op| apply_field(bytes, op, &mut changed)).collect();
            (Reply::Array(replies), changed)
        }))
    })
}

/// The field `op` reads, from a value zero-padded on the right.
fn get_field(value: &[u8], op: &BitFieldOp) -> i64 {
    let raw = read_bits(value, op.offset, op.bits);
    if op.signed {
        sign_extend(raw, op.bits)
    } else {
        raw as i64
    }
}

/// Runs one operation on a string already long enough for it; `changed` is set if a field changed.
fn apply_field(bytes: &mut [u8], op: &BitFieldOp, changed: &mut bool) -> Reply {
    let old = get_field(bytes, op);
    let (new, reply) = match op.kind {
        BitFieldKind::Get => return Reply::Integer(old),
        BitFieldKind::Set(value) => match fit(value, 0, op) {
            Some(new) => (new, old),
            None => return Reply::Null,
        },
        BitFieldKind::IncrBy(increment) => match fit(old, increment, op) {
            Some(new) => (new, new),
            None => return Reply::Null,
        },
    };
    write_bits(bytes, op.offset, op.bits, new as u64);
    *changed |= new != old;
    Reply::Integer(reply)
}

/// `value + increment` as the field of `op` holds it under its `OVERFLOW` mode; `None` when `FAIL`
/// refuses it. Mirrors Redis's `checkSignedBitfieldOverflow`/`checkUnsignedBitfieldOverflow`, including
/// that an unsigned `SET` of a negative value counts as too large.
fn fit(value: i64, increment: i64, op: &BitFieldOp) -> Option<i64> {
    let bits = op.bits;
    let overflows = if op.signed {
        let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
        let min = -max - 1;
        let max_increment = max.wrapping_sub(value);
        let min_increment = min.wrapping_sub(value);
        if value > max
            || (bits != 64 && increment > max_increment)
            || (value >= 0 && increment > 0 && increment > max_increment)
        {
            Some(max)
        } else if value < min
            || (bits != 64 && increment < min_increment)
            || (value < 0 && increment < 0 && increment < min_increment)
        {
            Some(min)
        } else {
            None
        }
    } else {
        let max = (1u64 << bits) - 1; // at most 63 bits
        let value = value as u64;
        let max_increment = max.wrapping_sub(value) as i64;
        let min_increment = value.wrapping_neg() as i64;
        if value > max || (increment > 0 && increment > max_increment) {
            Some(max as i64)
        } else if increment < 0 && increment < min_increment {
            Some(0)
        } else {
            None
        }
    };
    let Some(saturated) = overflows else { return Some(value.wrapping_add(increment)) };
    match op.overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(saturated),
        Overflow::Wrap => {
            let sum = (value as u64).wrapping_add(increment as u64);
            Some(if op.signed { sign_extend(sum & mask(bits), bits) } else { (sum & mask(bits)) as i64 })
        }
    }
}

/// The low `bits` bits set.
fn mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

/// A `bits`-wide two's complement field as an `i64`.
fn sign_extend(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

/// Reads `bits` bits (at most 64) from bit `offset`, most significant first; bits past the end are 0.
fn read_bits(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (offset..offset + u64::from(bits)).fold(0, |value, bit| {
        let byte = usize::try_from(bit >> 3).ok().and_then(|i| bytes.get(i)).copied().unwrap_or(0);
        (value << 1) | u64::from(byte >> (7 - (bit & 7)) & 1)
    })
}

/// Writes the low `bits` bits of `value` at bit `offset`, most significant first, into a string long
/// enough to hold them.
fn write_bits(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let bit = offset + i;
        let set = value >> (u64::from(bits) - 1 - i) & 1 == 1;
        if let Some(byte) = usize::try_from(bit >> 3).ok().and_then(|i| bytes.get_mut(i)) {
            let mask = 0x80 >> (bit & 7);
            if set {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(signed: bool, bits: u32, kind: BitFieldKind, overflow: Overflow) -> BitFieldOp {
        BitFieldOp { kind, signed, bits, offset: 0, overflow }
    }

    #[test]
    fn fields_read_and_write_most_significant_bit_first() {
        // Redis's own example: u5 = 23 at offset 7 of a zeroed string is 00000001 01110000.
        let mut bytes = [0u8; 2];
        write_bits(&mut bytes, 7, 5, 23);
        assert_eq!(bytes, [0b0000_0001, 0b0111_0000]);
        assert_eq!(read_bits(&bytes, 7, 5), 23);
        assert_eq!(read_bits(&bytes, 8, 64), 0b0111_0000 << 56, "zero-padded past the end");
        assert_eq!(sign_extend(0b11111, 5), -1);
        assert_eq!(sign_extend(u64::MAX, 64), -1);
    }

    #[test]
    fn overflow_modes_follow_redis() {
        use BitFieldKind::{IncrBy, Set};
        use Overflow::{Fail, Sat, Wrap};
        let cases = [
            // signed, bits, value, increment, mode, result
            (true, 8, 127, 1, Wrap, Some(-128)),
            (true, 8, 127, 1, Sat, Some(127)),
            (true, 8, 127, 1, Fail, None),
            (true, 8, -128, -1, Wrap, Some(127)),
            (true, 8, -128, -1, Sat, Some(-128)),
            (true, 64, i64::MAX, 1, Wrap, Some(i64::MIN)),
            (true, 64, i64::MAX, 1, Sat, Some(i64::MAX)),
            (true, 64, i64::MIN, -1, Sat, Some(i64::MIN)),
            (true, 64, -5, i64::MAX, Sat, Some(i64::MAX - 5)),
            (false, 8, 255, 1, Wrap, Some(0)),
            (false, 8, 255, 1, Sat, Some(255)),
            (false, 8, 0, -1, Sat, Some(0)),
            (false, 8, 0, -1, Wrap, Some(255)),
            (false, 8, 0, -1, Fail, None),
            (false, 63, 0, i64::MAX, Wrap, Some(i64::MAX)),
            (false, 2, 3, i64::MIN, Wrap, Some(3)),
        ];
        for (signed, bits, value, increment, mode, expected) in cases {
            let got = fit(value, increment, &op(signed, bits, IncrBy(increment), mode));
            assert_eq!(got, expected, "{signed} {bits} {value} {increment} {mode:?}");
        }
        // An unsigned SET of a negative value is too large: SAT gives the maximum, WRAP the low bits.
        assert_eq!(fit(-1, 0, &op(false, 8, Set(-1), Sat)), Some(255));
        assert_eq!(fit(-2, 0, &op(false, 8, Set(-2), Wrap)), Some(254));
        assert_eq!(fit(300, 0, &op(true, 8, Set(300), Wrap)), Some(44));
    }

    #[test]
    fn bit_ranges_and_positions_as_redis() {
        let value = [0xff, 0xf0, 0x00];
        // Whole string: the first 0 is bit 12; no 1 after bit 8+4.
        let whole = byte_range(3, 0, -1, BitUnit::Byte).unwrap();
        assert_eq!(bitpos_in(&value, &whole, false, false), 12);
        assert_eq!(bitpos_in(&value, &whole, true, false), 0);
        // Bits 2..=5 are all ones: no 0 inside an explicit range.
        let bits = byte_range(3, 2, 5, BitUnit::Bit).unwrap();
        assert_eq!(bitpos_in(&value, &bits, false, true), -1);
        assert_eq!(bitpos_in(&value, &bits, true, true), 2);
        // All ones and no explicit end: the first bit past the range.
        let ones = [0xffu8];
        let from = byte_range(1, 0, -1, BitUnit::Byte).unwrap();
        assert_eq!(bitpos_in(&ones, &from, false, false), 8);
        assert_eq!(first_bit(&[], true), -1);
        assert_eq!(first_bit(&[0, 0], false), 0);
        assert!(byte_range(0, 0, -1, BitUnit::Byte).is_none());
        assert!(byte_range(3, -1, -3, BitUnit::Byte).is_none());
    }
}
