//! What the blocking-command tests share: scenarios run side by side against TinyKV and a real
//! redis-server, each writing down what its clients saw, and waits for clients to be blocked that
//! poll `INFO clients` instead of sleeping.

use std::io::Write;
use std::net::TcpStream;

use crate::differential::Redis;
use crate::{call_str, read_reply, resp, retry_until, Server};

/// Opens connections to one server.
pub type Connect<'a> = &'a dyn Fn() -> TcpStream;

/// Sends one command without waiting for its reply.
pub fn send(stream: &mut TcpStream, args: &[&str]) {
    let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
    stream.write_all(&resp(&args)).expect("write");
}

/// Reads one reply, as text.
pub fn reply(stream: &mut TcpStream) -> String {
    String::from_utf8_lossy(&read_reply(stream)).into_owned()
}

/// Waits until `n` clients are blocked.
pub fn blocked(admin: &mut TcpStream, n: usize) {
    let wanted = format!("blocked_clients:{n}\r\n");
    retry_until(&wanted, || call_str(admin, &["INFO", "clients"]).contains(&wanted).then_some(()));
}

/// Runs `scenario` on both servers (fresh data each) and requires the same transcript; returns it.
pub fn both(tinykv: &Server, redis: &Redis, scenario: fn(Connect) -> Vec<String>) -> Vec<String> {
    let ours_connect = || tinykv.connect();
    let theirs_connect = || redis.connect();
    let flush = |connect: Connect| assert_eq!(call_str(&mut connect(), &["FLUSHALL"]), "+OK\r\n");
    flush(&ours_connect);
    flush(&theirs_connect);
    let ours = scenario(&ours_connect);
    let theirs = scenario(&theirs_connect);
    assert_eq!(ours, theirs, "TinyKV and redis-server disagree");
    ours
}
