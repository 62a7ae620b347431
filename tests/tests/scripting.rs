//! Scripting end to end: a busy script makes other clients get `-BUSY` past the threshold, on any
//! thread count; `SCRIPT KILL` frees the server from a script that has not written, a script that
//! wrote cannot be killed and only `SHUTDOWN NOSAVE` ends it; bad input (deep recursion, a huge
//! `string.rep`, a huge script, a huge reply) gets an error and leaves the server serving; and a
//! script's writes survive an append-only restart, replayed as the effects it had.

use std::io::{Read, Write};
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
    // Encoders asked to repeat one big string many times stop at the memory limit (the output
    // would be 1.6 GB), and the server goes on.
    let repeat = "local s = string.rep('x', 8 * 1024 * 1024) local t = {} for i = 1, 200 do t[i] = s end ";
    for encode in ["cjson.encode(t)", "cmsgpack.pack(t)", "struct.pack(string.rep('c0', 200), unpack(t))"] {
        let reply = call_str(&mut con, &["EVAL", &format!("{repeat}return #{encode}"), "0"]);
        assert!(reply.starts_with("-ERR") && reply.contains("memory"), "{encode}: {reply}");
    }
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

#[test]
fn a_million_item_nested_reply_is_whole_and_deeper_nesting_is_bounded() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.connect();
    let mut other = server.connect();
    let script = "local function mk(d) if d == 0 then return 1 end local t = {} for i = 1, 4 do t[i] = mk(d - 1) end return t end return mk(10)";
    send(&mut con, &[b"EVAL", script.as_bytes(), b"0"]);
    // 4^10 leaves under 10 levels of arrays: every header and every leaf is 4 bytes (`*4\r\n`,
    // `:1\r\n`), 5,592,404 bytes in all, the same bytes redis-server sends.
    let leaves = 4usize.pow(10);
    let mut reply = vec![0u8; 4 * ((leaves - 1) / 3 + leaves)];
    con.read_exact(&mut reply).expect("the whole reply");
    assert!(reply.starts_with(b"*4\r\n*4\r\n") && reply.ends_with(b":1\r\n"));
    assert_eq!(reply.iter().filter(|&&b| b == b':').count(), leaves);
    assert_eq!(call_str(&mut other, &["PING"]), "+PONG\r\n");
    assert_eq!(call_str(&mut con, &["PING"]), "+PONG\r\n");
    // Nested deeper than the limit (arrays, RESP3 maps and sets): an error in place of the value
    // that is too deep, as Redis's "reached lua stack limit", and the server goes on.
    for script in [
        "local t = {1} for i = 1, 100000 do t = {t} end return t",
        "redis.setresp(3) local t = {map={a=1}} for i = 1, 100000 do t = {map={a=t}} end return t",
        "redis.setresp(3) local t = {set={a=true}} for i = 1, 100000 do t = {set={[t]=true}} end return t",
    ] {
        for protocol in ["2", "3"] {
            assert!(!call_str(&mut con, &["HELLO", protocol]).starts_with('-'));
            let reply = call_str(&mut con, &["EVAL", script, "0"]);
            assert!(
                reply.ends_with("-ERR reached lua stack limit\r\n"),
                "{}",
                &reply[reply.len().saturating_sub(200)..]
            );
        }
        assert_eq!(call_str(&mut other, &["PING"]), "+PONG\r\n");
    }
}

#[test]
fn thousands_of_loaded_scripts_stay_runnable_and_function_count_is_bounded() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut con = server.connect();
    // More scripts than mlua has handles for (about 8,000): the cache keeps them in Lua.
    let mut shas = Vec::new();
    for i in 0..9000 {
        let sha = call_str(&mut con, &["SCRIPT", "LOAD", &format!("return {i}")]);
        shas.push(sha.lines().nth(1).unwrap_or_default().to_owned());
    }
    assert_eq!(call_str(&mut con, &["EVALSHA", &shas[4321], "0"]), ":4321\r\n");
    assert_eq!(call_str(&mut con, &["EVALSHA", &shas[8999], "0"]), ":8999\r\n");
    assert_eq!(call_str(&mut con, &["EVAL", "return 'fresh'", "0"]), "$5\r\nfresh\r\n");
    // A library registering more functions than TinyKV keeps is refused, and the server goes on.
    let many: Vec<String> =
        (0..1001).map(|i| format!("redis.register_function('f{i}', function() return {i} end)")).collect();
    let reply = call_str(&mut con, &["FUNCTION", "LOAD", &format!("#!lua name=many\n{}", many.join("\n"))]);
    assert!(reply.starts_with("-ERR Error registering functions: too many functions"), "{reply}");
    let some: Vec<String> =
        (0..1000).map(|i| format!("redis.register_function('f{i}', function() return {i} end)")).collect();
    assert_eq!(
        call_str(&mut con, &["FUNCTION", "LOAD", &format!("#!lua name=some\n{}", some.join("\n"))]),
        "$4\r\nsome\r\n"
    );
    assert_eq!(call_str(&mut con, &["FCALL", "f999", "0"]), ":999\r\n");
    assert_eq!(call_str(&mut con, &["SCRIPT", "FLUSH"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["EVALSHA", &shas[1], "0"]), "-NOSCRIPT No matching script. Please use EVAL.\r\n");
}

/// A command that waits for another client's script is timed from when it may run, not from when
/// its bytes arrived: the wait is the script's time, not the command's (`SLOWLOG`, `INFO
/// commandstats`), as in Redis. (Should the GET run before the script starts on a very slow
/// machine, this checks nothing new; it cannot fail for that.)
#[test]
fn a_command_held_off_by_a_script_is_not_timed_with_the_wait() {
    let server = Server::start_with(&["--no-greeting", "--slowlog-log-slower-than", "200000"]);
    let mut runner = server.connect();
    let mut other = server.connect();
    let spin = b"local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] \
        repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start > 1000000 return 1";
    send(&mut runner, &[b"EVAL", spin, b"0"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(call_str(&mut other, &["GET", "k"]), "$-1\r\n");
    assert_eq!(String::from_utf8_lossy(&read_reply(&mut runner)), ":1\r\n");
    let slowlog = call_str(&mut other, &["SLOWLOG", "GET"]);
    assert!(slowlog.contains("EVAL") && !slowlog.contains("\r\nGET\r\n"), "{slowlog}");
    let stats = call_str(&mut other, &["INFO", "commandstats"]);
    let usec: u64 = stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_get:calls=1,usec="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|usec| usec.parse().ok())
        .unwrap_or_else(|| panic!("{stats}"));
    assert!(usec < 200_000, "GET timed {usec} µs: {stats}");
}
