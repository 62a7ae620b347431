//! Writes that would make a string longer than `--proto-max-bulk-len` (512 MiB by default, as Redis's
//! cap) are refused with Redis's error before the server allocates anything: `SETRANGE` past the cap,
//! bit offsets past 2^32 (`SETBIT`, `GETBIT`, `BITFIELD`), and `LCS` tables over the cap. The server's
//! resident memory is read from `/proc/<pid>/status` before and after a burst of them; one accepted
//! request of that size would add hundreds of MiB.

use std::net::TcpStream;

use tinykv_tests::{call_str, Server};

const STRING_TOO_LONG: &str = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
const BIT_OFFSET: &str = "-ERR bit offset is not an integer or out of range\r\n";
/// RSS may move this much for reasons of its own (a connection's buffers, allocator bookkeeping); any
/// allocation of a value at the cap would be far more.
const RSS_SLACK_KIB: u64 = 16 * 1024;

fn check(stream: &mut TcpStream, args: &[&str], expected: &str) {
    assert_eq!(call_str(stream, args), expected, "{args:?}");
}

#[test]
fn writes_past_the_default_cap_are_refused_without_allocating() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut stream = server.connect();
    check(&mut stream, &["SET", "small", "abc"], "+OK\r\n");
    let before = server.rss_kib();
    for _ in 0..20 {
        // 512 MiB exactly is allowed; one byte more is not, on a new key or an existing one.
        check(&mut stream, &["SETRANGE", "k", "536870912", "x"], STRING_TOO_LONG);
        check(&mut stream, &["SETRANGE", "k", "536870911", "xy"], STRING_TOO_LONG);
        check(&mut stream, &["SETRANGE", "small", "536870912", "x"], STRING_TOO_LONG);
        check(&mut stream, &["SETRANGE", "k", "9223372036854775807", "x"], STRING_TOO_LONG);
        // Bits: 2^32 is the first bit past 512 MiB.
        check(&mut stream, &["SETBIT", "k", "4294967296", "1"], BIT_OFFSET);
        check(&mut stream, &["SETBIT", "small", "9223372036854775807", "1"], BIT_OFFSET);
        check(&mut stream, &["GETBIT", "small", "4294967296"], BIT_OFFSET);
        check(&mut stream, &["BITFIELD", "k", "SET", "u8", "4294967296", "1"], BIT_OFFSET);
        check(&mut stream, &["BITFIELD", "k", "INCRBY", "i64", "#67108864", "1"], BIT_OFFSET);
        check(&mut stream, &["BITFIELD", "k", "SET", "u8", "#536870912", "1"], BIT_OFFSET);
    }
    // An LCS table of (2^20 + 1)^2 cells would be 4 TiB.
    check(&mut stream, &["SETRANGE", "a", "1048575", "x"], ":1048576\r\n");
    check(&mut stream, &["SETRANGE", "b", "1048575", "y"], ":1048576\r\n");
    check(
        &mut stream,
        &["LCS", "a", "b", "LEN"],
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n",
    );
    check(&mut stream, &["DEL", "a", "b"], ":2\r\n");
    let after = server.rss_kib();
    assert!(after <= before + RSS_SLACK_KIB, "RSS grew from {before} KiB to {after} KiB");
    check(&mut stream, &["EXISTS", "k"], ":0\r\n");
    check(&mut stream, &["GET", "small"], "$3\r\nabc\r\n");
}

#[test]
fn a_lower_cap_moves_the_limit_to_the_byte() {
    let server = Server::start_with(&["--no-greeting", "--proto-max-bulk-len", "1mb"]);
    let mut stream = server.connect();
    check(&mut stream, &["SETRANGE", "k", "1048575", "x"], ":1048576\r\n");
    check(&mut stream, &["SETRANGE", "k", "1048576", "x"], STRING_TOO_LONG);
    check(&mut stream, &["SETRANGE", "k", "1048575", "xy"], STRING_TOO_LONG);
    // Nothing to write: the length, even past the cap, as Redis answers.
    check(&mut stream, &["SETRANGE", "k", "99999999999", ""], ":1048576\r\n");
    check(&mut stream, &["SETBIT", "bits", "8388607", "1"], ":0\r\n");
    check(&mut stream, &["STRLEN", "bits"], ":1048576\r\n");
    check(&mut stream, &["SETBIT", "bits", "8388608", "1"], BIT_OFFSET);
    // The offset is checked before the bit value, as in Redis.
    check(&mut stream, &["SETBIT", "bits", "8388608", "7"], BIT_OFFSET);
    check(&mut stream, &["SETBIT", "bits", "8388607", "7"], "-ERR bit is not an integer or out of range\r\n");
    check(&mut stream, &["GETBIT", "bits", "8388607"], ":1\r\n");
    check(&mut stream, &["GETBIT", "bits", "8388608"], BIT_OFFSET);
    // A field may start on the last byte and reach 7 bytes past it, as in Redis.
    check(&mut stream, &["BITFIELD", "f", "SET", "i64", "8388607", "-1"], "*1\r\n:0\r\n");
    check(&mut stream, &["STRLEN", "f"], ":1048584\r\n");
    check(&mut stream, &["BITFIELD", "f", "GET", "u8", "8388608"], BIT_OFFSET);
    // Offsets are checked in order, before an error later in the arguments.
    check(&mut stream, &["BITFIELD", "f", "GET", "u8", "8388608", "GET", "x8", "0"], BIT_OFFSET);
    check(
        &mut stream,
        &["BITFIELD", "f", "GET", "x8", "0", "GET", "u8", "8388608"],
        "-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.\r\n",
    );
}
