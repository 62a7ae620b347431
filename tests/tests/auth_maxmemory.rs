//! `--requirepass` (SPEC §3, §4 AUTH) and `--maxmemory`: the gates every command passes, with
//! Redis's error texts.

use tinykv_tests::{call_str, Server, DEADLINE};

const NOAUTH: &str = "-NOAUTH Authentication required.\r\n";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

#[test]
fn until_authenticated_only_auth_hello_and_quit_run() {
    let server = Server::start_with(&["--no-greeting", "--requirepass", "s3cret"]);
    let mut s = server.connect();
    for args in [&["GET", "k"][..], &["SET", "k", "v"], &["PING"], &["INFO"], &["DBSIZE"], &["CONFIG", "GET", "*"]] {
        assert_eq!(call_str(&mut s, args), NOAUTH, "{args:?}");
    }
    // As in Redis, an unknown command or a wrong arity is reported before authentication.
    assert!(call_str(&mut s, &["NOSUCH"]).starts_with("-ERR unknown command 'NOSUCH'"));
    assert_eq!(call_str(&mut s, &["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(call_str(&mut s, &["AUTH", "wrong"]), WRONGPASS);
    assert_eq!(call_str(&mut s, &["AUTH", "default", "wrong"]), WRONGPASS);
    assert_eq!(call_str(&mut s, &["AUTH", "admin", "s3cret"]), WRONGPASS);
    assert!(call_str(&mut s, &["HELLO", "3"])
        .starts_with("-NOAUTH HELLO must be called with the client already authenticated"));
    assert_eq!(call_str(&mut s, &["HELLO", "3", "AUTH", "default", "nope"]), WRONGPASS);
    assert_eq!(call_str(&mut s, &["GET", "k"]), NOAUTH);
    assert_eq!(call_str(&mut s, &["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["SET", "k", "v"]), "+OK\r\n");
    // A failed attempt later does not log the client out.
    assert_eq!(call_str(&mut s, &["AUTH", "wrong"]), WRONGPASS);
    assert_eq!(call_str(&mut s, &["GET", "k"]), "$1\r\nv\r\n");

    let mut other = server.connect();
    assert_eq!(call_str(&mut other, &["AUTH", "default", "s3cret"]), "+OK\r\n");
    assert_eq!(call_str(&mut other, &["GET", "k"]), "$1\r\nv\r\n");

    let mut hello = server.connect();
    assert!(call_str(&mut hello, &["HELLO", "3", "AUTH", "default", "s3cret"]).starts_with("%7\r\n"));
    assert_eq!(call_str(&mut hello, &["GET", "k"]), "$1\r\nv\r\n");

    let mut quitter = server.connect();
    assert_eq!(call_str(&mut quitter, &["QUIT"]), "+OK\r\n");
}

#[test]
fn the_password_can_come_from_the_environment_and_the_redis_crate_uses_it() {
    let server = Server::start_with_env(&["--no-greeting"], &[("TINYKV_REQUIREPASS", "envpass")]);
    let url = format!("redis://:envpass@{}/", server.addr);
    let mut con = redis::Client::open(url).unwrap().get_connection_with_timeout(DEADLINE).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let value: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(value, "v");

    let mut anonymous = server.redis();
    let err = redis::cmd("GET").arg("k").query::<Option<String>>(&mut anonymous).unwrap_err();
    assert!(err.to_string().contains("Authentication required"), "{err}");
    let wrong = redis::Client::open(format!("redis://:nope@{}/", server.addr)).unwrap();
    let err = wrong.get_connection_with_timeout(DEADLINE).err().expect("a wrong password must be refused");
    // A refused password, not any failure (the crate maps WRONGPASS to this kind).
    assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");
}

#[test]
fn without_a_password_auth_says_so_as_redis_does() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut s = server.connect();
    assert_eq!(call_str(&mut s, &["GET", "k"]), "$-1\r\n");
    assert!(call_str(&mut s, &["AUTH", "x"]).starts_with("-ERR AUTH <password> called without any password configured"));
    assert_eq!(call_str(&mut s, &["AUTH", "default", "x"]), "+OK\r\n");
    assert!(call_str(&mut s, &["HELLO", "3", "AUTH", "default", "x"]).starts_with("%7\r\n"));
}

#[test]
fn over_maxmemory_writes_that_grow_are_refused_and_the_rest_works() {
    let server = Server::start_with(&["--no-greeting", "--maxmemory", "1mb"]);
    let mut s = server.connect();
    assert_eq!(call_str(&mut s, &["CONFIG", "GET", "maxmemory"]), "*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n");
    let value = "x".repeat(10_000);
    let mut stored = 0;
    loop {
        let reply = call_str(&mut s, &["SET", &format!("k{stored}"), &value]);
        if reply == OOM {
            break;
        }
        assert_eq!(reply, "+OK\r\n");
        stored += 1;
        assert!(stored < 1000, "never refused");
    }
    assert!(stored >= 100, "refused too early, after {stored} keys of 10 kB");
    // Every command flagged denyoom in the table is refused...
    for args in [
        &["SET", "small", "1"][..],
        &["SETNX", "small", "1"],
        &["SETEX", "small", "10", "1"],
        &["PSETEX", "small", "10", "1"],
        &["GETSET", "k0", "1"],
        &["MSET", "a", "1"],
        &["MSETNX", "a", "1"],
        &["INCR", "n"],
        &["DECRBY", "n", "1"],
        &["APPEND", "k0", "more"],
    ] {
        assert_eq!(call_str(&mut s, args), OOM, "{args:?}");
    }
    // ...and reads, deletes, expiry and admin commands work.
    assert_eq!(call_str(&mut s, &["GET", "k0"]).len(), 10_000 + "$10000\r\n\r\n".len());
    assert_eq!(call_str(&mut s, &["STRLEN", "k0"]), ":10000\r\n");
    assert_eq!(call_str(&mut s, &["EXISTS", "k0"]), ":1\r\n");
    assert_eq!(call_str(&mut s, &["EXPIRE", "k1", "100"]), ":1\r\n");
    assert_eq!(call_str(&mut s, &["PERSIST", "k1"]), ":1\r\n");
    assert_eq!(call_str(&mut s, &["RENAME", "k1", "renamed"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["GETDEL", "renamed"]).len(), 10_000 + "$10000\r\n\r\n".len());
    assert_eq!(call_str(&mut s, &["PING"]), "+PONG\r\n");
    assert!(call_str(&mut s, &["INFO", "memory"]).contains("maxmemory:1048576\r\n"));
    // Deleting makes room again.
    let keys: Vec<String> = (0..stored / 2).map(|i| format!("k{i}")).collect();
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    // Every k0..k{stored/2-1} exists but k1, renamed and then taken by GETDEL above.
    assert_eq!(call_str(&mut s, &del), format!(":{}\r\n", stored / 2 - 1));
    assert_eq!(call_str(&mut s, &["SET", "small", "1"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["FLUSHALL"]), "+OK\r\n");
    assert_eq!(call_str(&mut s, &["INCR", "n"]), ":1\r\n");
}
