//! Function libraries reach a TinyKV replica (issue 12), from a TinyKV primary and from a
//! redis-server 7.0 primary: a library loaded before the replica attaches travels in the primary's
//! RDB, one loaded (or replaced, or deleted) after travels in the command stream; `FCALL_RO` runs
//! on the replica, a writing `FCALL` is refused there, and `FUNCTION LIST` of every library is the
//! same on both sides.

use std::net::TcpStream;

use tinykv_tests::differential::Redis;
use tinykv_tests::{call, call_str, retry_until, Server, DEADLINE};

const BEFORE: &str = "#!lua name=before\nredis.register_function{function_name='getk', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
const AFTER: &str = "#!lua name=after\nredis.register_function{function_name='lenk', callback=function(keys) return redis.call('STRLEN', keys[1]) end, flags={'no-writes'}, description='length'}";
const REPLACED: &str = "#!lua name=before\nredis.register_function{function_name='getk', callback=function(keys) return 'v2:' .. redis.call('GET', keys[1]) end, flags={'no-writes'}}";
const WRITER: &str =
    "#!lua name=writer\nredis.register_function('setk', function(keys, args) return redis.call('SET', keys[1], args[1]) end)";
const DROPPED: &str = "#!lua name=dropped\nredis.register_function('gone', function() return 1 end)";
const STALE: &str = "#!lua name=stale\nredis.register_function('old', function() return 1 end)";

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream
}

/// `master_link_status` of `INFO replication`.
fn link_up(stream: &mut TcpStream) -> bool {
    let text = String::from_utf8_lossy(&call(stream, &[b"INFO", b"replication"])).into_owned();
    text.lines().any(|line| line.trim_end() == "master_link_status:up")
}

/// `FUNCTION LIST WITHCODE LIBRARYNAME name`: one library, so the reply has one order.
fn listed(stream: &mut TcpStream, library: &str) -> Vec<u8> {
    call(stream, &[b"FUNCTION", b"LIST", b"WITHCODE", b"LIBRARYNAME", library.as_bytes()])
}

/// Loads libraries on `primary` before a TinyKV replica attaches and after, and checks the replica.
fn replica_gets_the_libraries(primary_port: u16) {
    let mut primary = connect(primary_port);
    assert_eq!(call_str(&mut primary, &["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(call_str(&mut primary, &["FUNCTION", "LOAD", BEFORE]), "$6\r\nbefore\r\n");
    assert_eq!(call_str(&mut primary, &["FUNCTION", "LOAD", DROPPED]), "$7\r\ndropped\r\n");
    assert_eq!(call_str(&mut primary, &["SET", "k", "value"]), "+OK\r\n");

    // The replica had a library of its own: the full sync replaces its set with the primary's.
    let replica = Server::start_with(&["--no-greeting"]);
    let mut r = connect(replica.port());
    assert_eq!(call_str(&mut r, &["FUNCTION", "LOAD", STALE]), "$5\r\nstale\r\n");
    assert_eq!(call_str(&mut r, &["REPLICAOF", "127.0.0.1", &primary_port.to_string()]), "+OK\r\n");
    retry_until("the link to be up", || link_up(&mut r).then_some(()));
    // From the RDB of the full sync.
    retry_until("the RDB's library", || (listed(&mut r, "before") == listed(&mut primary, "before")).then_some(()));
    assert_eq!(listed(&mut r, "stale"), b"*0\r\n");
    assert_eq!(call_str(&mut r, &["FCALL_RO", "getk", "1", "k"]), "$5\r\nvalue\r\n");

    // From the command stream.
    assert_eq!(call_str(&mut primary, &["FUNCTION", "LOAD", AFTER]), "$5\r\nafter\r\n");
    assert_eq!(call_str(&mut primary, &["FUNCTION", "LOAD", "REPLACE", REPLACED]), "$6\r\nbefore\r\n");
    assert_eq!(call_str(&mut primary, &["FUNCTION", "LOAD", WRITER]), "$6\r\nwriter\r\n");
    assert_eq!(call_str(&mut primary, &["FUNCTION", "DELETE", "dropped"]), "+OK\r\n");
    retry_until("the streamed libraries", || {
        let same = ["after", "before", "writer", "dropped"]
            .iter()
            .all(|library| listed(&mut r, library) == listed(&mut primary, library));
        same.then_some(())
    });
    assert_eq!(listed(&mut r, "dropped"), b"*0\r\n");
    assert_eq!(call_str(&mut r, &["FCALL_RO", "lenk", "1", "k"]), ":5\r\n");
    assert_eq!(call_str(&mut r, &["FCALL_RO", "getk", "1", "k"]), "$8\r\nv2:value\r\n");
    assert_eq!(call_str(&mut r, &["FCALL", "gone", "0"]), "-ERR Function not found\r\n");
    // A replica is read-only: a function that writes is refused there, and runs on the primary.
    let refused = call_str(&mut r, &["FCALL", "setk", "1", "k", "x"]);
    assert!(refused.starts_with("-READONLY"), "{refused}");
    assert_eq!(call_str(&mut primary, &["FCALL", "setk", "1", "k", "new"]), "+OK\r\n");
    retry_until("the function's write", || (call_str(&mut r, &["GET", "k"]) == "$3\r\nnew\r\n").then_some(()));
}

#[test]
fn a_tinykv_replica_gets_a_tinykv_primarys_functions() {
    let primary = Server::start_with(&["--no-greeting"]);
    replica_gets_the_libraries(primary.port());
}

#[test]
fn a_tinykv_replica_gets_a_redis_primarys_functions() {
    let Some(primary) = Redis::start() else { return };
    replica_gets_the_libraries(primary.port());
}
