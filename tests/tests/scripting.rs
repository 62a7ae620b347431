//! Scripting end to end: a busy script makes other clients get `-BUSY` past the threshold, on any
//! thread count; `SCRIPT KILL` frees the server from a script that has not written, a script that
//! wrote cannot be killed and only `SHUTDOWN NOSAVE` ends it; bad input (deep recursion, a huge
//! `string.rep`, a huge script, a huge reply) gets an error and leaves the server serving; and a
//! script's writes survive an append-only restart, replayed as the effects it had.

use std::io::Write;
use std::time::Duration;

use tinykv_tests::{call_str, read_reply, resp, retry_until, Server, DEADLINE};

const BUSY: &str = "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// Sends `args` without waiting for the reply.
fn send(stream: &mut std::net::TcpStream, args: &[&[u8]]) {
    stream.write_all(&resp(args)).expect("send");
}

fn busy_script_is_killed(threads: &str) {
    let server = Server::start_with(&["--no-greeting", "--busy-reply-threshold", "100", "--threads", threads]);
    let mut runner = server.connect();
    let mut other = server.connect();
    assert_eq!(call_str(&mut other, &["SCRIPT", "KILL"]), "-NOTBUSY No scripts in execution right now.\r\n");
    send(&mut runner, &[b"EVAL", b"while true do end", b"0"]);
    // Another client waits at first, then is told the server is busy (no clock: retried until then).
    retry_until("BUSY for another client", || (call_str(&mut other, &["GET", "k"]) == BUSY).then_some(()));
    assert_eq!(
        call_str(&mut other, &["FUNCTION", "KILL"]),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(call_str(&mut other, &["SCRIPT", "KILL"]), "+OK\r\n");
    let killed = String::from_utf8_lossy(&read_reply(&mut runner)).into_owned();
    assert!(killed.starts_with("-ERR Script killed by user with SCRIPT KILL..."), "{killed}");
    assert_eq!(call_str(&mut other, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(call_str(&mut runner, &["GET", "k"]), "$1\r\nv\r\n");
    // A pcall cannot catch the kill for long: the hook raises again.
    send(&mut runner, &[b"EVAL", b"while true do pcall(function() while true do end end) end", b"0"]);
    retry_until("BUSY again", || (call_str(&mut other, &["PING"]) == BUSY).then_some(()));
    assert_eq!(call_str(&mut other, &["SCRIPT", "KILL"]), "+OK\r\n");
    assert!(read_reply(&mut runner).starts_with(b"-"));
    assert_eq!(call_str(&mut other, &["PING"]), "+PONG\r\n");
}

#[test]
fn busy_script_on_one_thread() {
    busy_script_is_killed("1");
}

#[test]
fn busy_script_on_two_threads() {
    busy_script_is_killed("2");
}

#[test]
fn a_script_that_wrote_is_unkillable_and_shutdown_nosave_ends_it() {
    let mut server = Server::start_with(&["--no-greeting", "--busy-reply-threshold", "100"]);
    let mut runner = server.connect();
    let mut other = server.connect();
    send(&mut runner, &[b"EVAL", b"redis.call('SET', KEYS[1], 'x') while true do end", b"1", b"k"]);
    retry_until("BUSY", || (call_str(&mut other, &["GET", "k"]) == BUSY).then_some(()));
    assert_eq!(
        call_str(&mut other, &["SCRIPT", "KILL"]),
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n"
    );
    assert_eq!(call_str(&mut other, &["SHUTDOWN"]), BUSY);
    send(&mut other, &[b"SHUTDOWN", b"NOSAVE"]);
    assert!(server.wait_for_exit(DEADLINE).is_some(), "the server did not exit on SHUTDOWN NOSAVE");
}

#[test]
fn bad_scripts_get_errors_and_the_server_goes_on() {
    let server = Server::start_with(&["--no-greeting", "--lua-memory-limit", "64mb"]);
    let mut con = server.connect();
    let deep = call_str(&mut con, &["EVAL", "local function f(n) return f(n + 1) + 1 end return f(1)", "0"]);
    assert!(deep.starts_with("-ERR") && deep.contains("stack overflow"), "{deep}");
    let rep = call_str(&mut con, &["EVAL", "return string.rep('x', 1024 * 1024 * 1024)", "0"]);
    assert!(rep.starts_with("-ERR") && rep.contains("memory"), "{rep}");
    let table = call_str(&mut con, &["EVAL", "local t = {} for i = 1, 10000000 do t[i] = {i, {i}} end return t", "0"]);
    assert!(table.starts_with("-ERR") && table.contains("memory"), "{}", &table[..table.len().min(200)]);
    // A 100 MB script: compiled within the limit or refused, never the server's end.
    let huge = format!("return '{}'", "a".repeat(100 << 20));
    let reply = call_str(&mut con, &["EVAL", &huge, "0"]);
    assert!(reply.starts_with("-ERR") || reply.starts_with("$"), "{}", &reply[..reply.len().min(200)]);
    // A bounded nested reply converts.
    let nested = call_str(&mut con, &["EVAL", "local t = {1} for i = 1, 9 do t = {t, t} end return #t", "0"]);
    assert_eq!(nested, ":2\r\n");
    assert_eq!(call_str(&mut con, &["PING"]), "+PONG\r\n");
    let mut other = server.connect();
    other.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(call_str(&mut other, &["SET", "a", "1"]), "+OK\r\n");
}

#[test]
fn script_effects_and_functions_survive_an_aof_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let aof = dir.path().join("appendonly.aof");
    let aof = aof.to_str().expect("utf-8 path");
    let lib = "#!lua name=lib\nredis.register_function('bump', function(keys) return redis.call('INCR', keys[1]) end)";
    {
        let server = Server::start_with(&["--no-greeting", "--appendonly", aof]);
        let mut con = server.connect();
        // The time and a random member are effects: replay must not run the script again.
        let script = "redis.call('SADD', KEYS[1], 'a', 'b', 'c') local m = redis.call('SPOP', KEYS[1]) redis.call('SET', KEYS[2], m) redis.call('SELECT', 3) redis.call('SET', 'in3', 'x') return m";
        let popped = call_str(&mut con, &["EVAL", script, "2", "s", "popped"]);
        assert!(popped.starts_with("$1\r\n"), "{popped}");
        assert_eq!(call_str(&mut con, &["FUNCTION", "LOAD", lib]), "$3\r\nlib\r\n");
        assert_eq!(call_str(&mut con, &["FCALL", "bump", "1", "n"]), ":1\r\n");
        server.stop();
        let mut again = Server::start_with(&["--no-greeting", "--appendonly", aof]);
        let mut con = again.connect();
        assert_eq!(call_str(&mut con, &["GET", "popped"]), popped);
        assert_eq!(call_str(&mut con, &["SCARD", "s"]), ":2\r\n");
        assert_eq!(call_str(&mut con, &["SISMEMBER", "s", &popped[4..5]]), ":0\r\n");
        assert_eq!(call_str(&mut con, &["SELECT", "3"]), "+OK\r\n");
        assert_eq!(call_str(&mut con, &["GET", "in3"]), "$1\r\nx\r\n");
        assert_eq!(call_str(&mut con, &["SELECT", "0"]), "+OK\r\n");
        assert_eq!(call_str(&mut con, &["FCALL", "bump", "1", "n"]), ":2\r\n");
        again.signal(libc::SIGTERM);
        again.wait_for_exit(DEADLINE);
    }
}

#[test]
fn function_dump_restores_with_each_policy() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.connect();
    let lib = "#!lua name=dumped\nredis.register_function('hello', function() return 'hi' end)";
    assert_eq!(call_str(&mut con, &["FUNCTION", "LOAD", lib]), "$6\r\ndumped\r\n");
    let dump = tinykv_tests::call(&mut con, &[b"FUNCTION", b"DUMP"]);
    let start = dump.iter().position(|&b| b == b'\n').expect("a bulk reply") + 1;
    let payload = &dump[start..dump.len() - 2];
    assert_eq!(
        tinykv_tests::call(&mut con, &[b"FUNCTION", b"RESTORE", payload]),
        b"-ERR Library dumped already exists\r\n"
    );
    assert_eq!(tinykv_tests::call(&mut con, &[b"FUNCTION", b"RESTORE", payload, b"REPLACE"]), b"+OK\r\n");
    assert_eq!(call_str(&mut con, &["FUNCTION", "FLUSH"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["FCALL", "hello", "0"]), "-ERR Function not found\r\n");
    assert_eq!(tinykv_tests::call(&mut con, &[b"FUNCTION", b"RESTORE", payload]), b"+OK\r\n");
    assert_eq!(call_str(&mut con, &["FCALL", "hello", "0"]), "$2\r\nhi\r\n");
    assert_eq!(tinykv_tests::call(&mut con, &[b"FUNCTION", b"RESTORE", payload, b"FLUSH"]), b"+OK\r\n");
    assert_eq!(call_str(&mut con, &["FCALL", "hello", "0"]), "$2\r\nhi\r\n");
}

#[test]
fn a_write_from_a_script_over_maxmemory_is_oom_and_reads_go_on() {
    let server = Server::start_with(&["--no-greeting", "--maxmemory", "1"]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["SET", "x", "y"]), "+OK\r\n");
    assert_eq!(
        call_str(&mut con, &["EVAL", "return redis.call('set','a','b')", "0"]),
        "-OOM command not allowed when used memory > 'maxmemory'. script: ff967d0ae0e68b4f9e360fa91c54598bc25ad9b6, on @user_script:1.\r\n"
    );
    assert_eq!(
        call_str(&mut con, &["EVAL", "return redis.pcall('set','a','b')", "0"]),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(call_str(&mut con, &["EVAL", "return redis.call('get','x')", "0"]), "$1\r\ny\r\n");
    // A script that declares allow-oom may write.
    assert_eq!(
        call_str(&mut con, &["EVAL", "#!lua flags=allow-oom\nreturn redis.call('set','a','b')", "0"]),
        "+OK\r\n"
    );
}

#[test]
fn functions_survive_a_snapshot_both_ways_with_redis() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_str().expect("utf-8 path");
    let lib = "#!lua name=snap\nredis.register_function('twice', function(keys, args) return args[1] .. args[1] end)";
    // TinyKV writes, TinyKV and redis-server read.
    let server = Server::start_with(&["--no-greeting", "--dir", path, "--dbfilename", "tk.rdb"]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["FUNCTION", "LOAD", lib]), "$4\r\nsnap\r\n");
    assert_eq!(call_str(&mut con, &["SAVE"]), "+OK\r\n");
    server.stop();
    let server = Server::start_with(&["--no-greeting", "--dir", path, "--dbfilename", "tk.rdb"]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["FCALL", "twice", "0", "ab"]), "$4\r\nabab\r\n");
    server.stop();
    let Some(redis) = tinykv_tests::differential::Redis::start_with(&["--dir", path, "--dbfilename", "tk.rdb"]) else {
        return;
    };
    let mut theirs = redis.connect();
    assert_eq!(call_str(&mut theirs, &["FCALL", "twice", "0", "ab"]), "$4\r\nabab\r\n");
    // redis-server writes, TinyKV reads.
    assert_eq!(
        call_str(&mut theirs, &["FUNCTION", "LOAD", "REPLACE", &lib.replace("args[1] .. args[1]", "'r'")]),
        "$4\r\nsnap\r\n"
    );
    assert_eq!(call_str(&mut theirs, &["SAVE"]), "+OK\r\n");
    drop(redis);
    let server = Server::start_with(&["--no-greeting", "--dir", path, "--dbfilename", "tk.rdb"]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["FCALL", "twice", "0", "ab"]), "$1\r\nr\r\n");
    server.stop();
}
