//! `tinykv-floor PORT`: the least a RESP server on TinyKV's runtime can do per request, for
//! `bench/compare` to measure TinyKV against (issue 14).
//!
//! Same shape as TinyKV's connection loop on one thread (TinyKV's default on two cores): a
//! current-thread tokio runtime, one task per connection, read what arrived, answer every complete
//! request in it, write the replies with one call. No keyspace, no command table, no statistics:
//! `PING` answers `+PONG`, `GET` a constant 3-byte value, anything else `+OK`. What TinyKV spends
//! beyond this, on the same load, is its own cost: decoding, lookup, locks, the hash probe, encoding.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest header or bulk length line accepted: requests here are redis-benchmark's.
const MAX_LINE: usize = 64 * 1024;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(4041);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!("listening on {}", listener.local_addr()?);
        loop {
            let (socket, _) = listener.accept().await?;
            tokio::spawn(serve(socket));
        }
    })
}

async fn serve(mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let mut input = BytesMut::with_capacity(16 * 1024);
    let mut output = Vec::with_capacity(16 * 1024);
    loop {
        match socket.read_buf(&mut input).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let Some(reply) = next_request(&mut input) {
            output.extend_from_slice(reply);
        }
        if input.len() > MAX_LINE * 16 && !input.starts_with(b"*") {
            return; // not RESP: nothing to answer
        }
        if !output.is_empty() {
            if socket.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
    }
}

/// Takes one complete request (a RESP array of bulk strings, or an inline line) off `input` and
/// returns its reply, or `None` when the request is not complete yet.
fn next_request(input: &mut BytesMut) -> Option<&'static [u8]> {
    if input.first() != Some(&b'*') {
        let end = input.iter().position(|&b| b == b'\n')?;
        let line = input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]);
        let reply = reply_to(line.split(|&b| b == b' ').next().unwrap_or_default());
        input.advance(end + 1);
        return Some(reply);
    }
    let mut at = 0;
    let count = number(input, &mut at)?;
    let mut name = 0..0;
    for i in 0..count {
        if input.get(at) != Some(&b'$') {
            return None;
        }
        let len = number(input, &mut at)?;
        if input.len() < at + len + 2 {
            return None;
        }
        if i == 0 {
            name = at..at + len;
        }
        at += len + 2;
    }
    let reply = reply_to(&input[name]);
    input.advance(at);
    Some(reply)
}

/// Reads `<tag><digits>\r\n` at `*at`, moving `*at` past it.
fn number(input: &[u8], at: &mut usize) -> Option<usize> {
    let line = &input[*at..];
    let end = line.iter().take(MAX_LINE).position(|&b| b == b'\r')?;
    if line.len() < end + 2 {
        return None;
    }
    let value = std::str::from_utf8(&line[1..end]).ok()?.parse().ok()?;
    *at += end + 2;
    Some(value)
}

fn reply_to(name: &[u8]) -> &'static [u8] {
    if name.eq_ignore_ascii_case(b"PING") {
        b"+PONG\r\n"
    } else if name.eq_ignore_ascii_case(b"GET") {
        b"$3\r\nbar\r\n"
    } else {
        b"+OK\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_complete_requests_and_waits_for_the_rest() {
        let mut input =
            BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*3\r\n$3\r\nSET\r\n$1"[..]);
        assert_eq!(next_request(&mut input), Some(&b"+PONG\r\n"[..]));
        assert_eq!(next_request(&mut input), Some(&b"$3\r\nbar\r\n"[..]));
        assert_eq!(next_request(&mut input), None);
        input.extend_from_slice(b"\r\nk\r\n$1\r\nv\r\nPING\r\n");
        assert_eq!(next_request(&mut input), Some(&b"+OK\r\n"[..]));
        assert_eq!(next_request(&mut input), Some(&b"+PONG\r\n"[..]));
        assert!(input.is_empty());
    }
}
