//! SPEC §2: `HELLO 3` switches one connection to RESP3 with the types Redis 7 uses; `HELLO 2` and
//! clients that never send `HELLO` get RESP2.

use tinykv_tests::{call_str, Server};

fn server() -> Server {
    Server::start_with(&["--no-greeting"])
}

#[test]
fn hello_3_switches_this_connection_only() {
    let server = server();
    let mut resp3 = server.connect();
    let mut resp2 = server.connect();
    let hello = call_str(&mut resp3, &["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"), "{hello}");
    assert!(hello.ends_with("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"));
    assert_eq!(call_str(&mut resp3, &["GET", "missing"]), "_\r\n");
    assert_eq!(call_str(&mut resp2, &["GET", "missing"]), "$-1\r\n");

    let hello2 = call_str(&mut resp3, &["HELLO", "2"]);
    assert!(hello2.starts_with("*14\r\n$6\r\nserver\r\n"), "{hello2}");
    assert_eq!(call_str(&mut resp3, &["GET", "missing"]), "$-1\r\n");
    // HELLO without a version reports the current one and changes nothing.
    assert!(call_str(&mut resp3, &["HELLO"]).contains("$5\r\nproto\r\n:2\r\n"));
    assert_eq!(call_str(&mut resp3, &["HELLO", "4"]), "-NOPROTO unsupported protocol version\r\n");
    assert_eq!(call_str(&mut resp3, &["HELLO", "x"]), "-ERR Protocol version is not an integer or out of range\r\n");
    assert!(call_str(&mut resp3, &["HELLO", "3", "SETNAME", "conn"]).starts_with("%7\r\n"));
    assert_eq!(call_str(&mut resp3, &["CLIENT", "GETNAME"]), "$4\r\nconn\r\n");
}

#[test]
fn every_reply_type_in_resp3_as_redis_7_sends_it() {
    let server = server();
    let mut s = server.connect();
    call_str(&mut s, &["HELLO", "3"]);
    let cases: &[(&[&str], &str)] = &[
        (&["SET", "a", "1"], "+OK\r\n"),
        (&["SET", "a", "2", "NX"], "_\r\n"),
        (&["SET", "a", "2", "GET"], "$1\r\n1\r\n"),
        (&["MGET", "a", "nope"], "*2\r\n$1\r\n2\r\n_\r\n"),
        (&["GETDEL", "nope"], "_\r\n"),
        (&["GETSET", "nope", "x"], "_\r\n"),
        (&["INCR", "n"], ":1\r\n"),
        (&["EXISTS", "a", "n"], ":2\r\n"),
        (&["TTL", "a"], ":-1\r\n"),
        (&["TYPE", "a"], "+string\r\n"),
        (&["CONFIG", "GET", "maxmemory"], "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"),
        (&["CONFIG", "GET", "nosuch"], "%0\r\n"),
        (&["RENAME", "absent", "x"], "-ERR no such key\r\n"),
        (&["CLIENT", "GETNAME"], "_\r\n"),
        (&["PING"], "+PONG\r\n"),
        (&["DEL", "a", "n", "nope", "absent"], ":3\r\n"),
        (&["SCAN", "0", "MATCH", "zzz*"], "*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["KEYS", "zzz*"], "*0\r\n"),
        (&["COMMAND", "INFO", "nosuch"], "*1\r\n_\r\n"),
    ];
    for (args, expected) in cases {
        assert_eq!(call_str(&mut s, args), *expected, "reply to {args:?}");
    }
    // COMMAND INFO: flags and ACL categories are sets.
    let info = call_str(&mut s, &["COMMAND", "INFO", "get"]);
    assert!(info.starts_with(
        "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~1\r\n+@string\r\n"
    ));
    // COMMAND DOCS: a map of maps.
    let docs = call_str(&mut s, &["COMMAND", "DOCS", "get"]);
    // summary, since, group, arguments.
    assert!(docs.starts_with("%1\r\n$3\r\nget\r\n%4\r\n$7\r\nsummary\r\n"), "{docs}");
    // INFO: a verbatim string, `txt:` then the text.
    let info = call_str(&mut s, &["INFO", "server"]);
    let (header, body) = info.split_once("\r\n").unwrap();
    assert!(body.starts_with("txt:# Server\r\n"), "{info}");
    assert_eq!(header, format!("={}", body.len() - 2));
}

#[test]
fn clients_that_never_say_hello_stay_on_resp2() {
    let server = server();
    let mut s = server.connect();
    assert_eq!(call_str(&mut s, &["CONFIG", "GET", "maxmemory"]), "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    assert_eq!(call_str(&mut s, &["MGET", "nope"]), "*1\r\n$-1\r\n");
    assert!(call_str(&mut s, &["INFO", "server"]).starts_with("$"));
    let info = call_str(&mut s, &["COMMAND", "INFO", "get"]);
    assert!(info.starts_with("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n"), "{info}");
}

#[test]
fn the_redis_crate_speaks_resp3() {
    let server = server();
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", server.addr)).unwrap();
    let mut con = client.get_connection_with_timeout(tinykv_tests::DEADLINE).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&["k", "nope"]).query(&mut con).unwrap();
    assert_eq!(values, [Some("v".to_owned()), None]);
    let missing = redis::cmd("GET").arg("nope").query::<redis::Value>(&mut con).unwrap();
    assert_eq!(missing, redis::Value::Nil);
    let config = redis::cmd("CONFIG").arg("GET").arg("maxmemory").query::<redis::Value>(&mut con).unwrap();
    assert!(matches!(config, redis::Value::Map(_)), "{config:?}");
    let config: std::collections::HashMap<String, String> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory").query(&mut con).unwrap();
    assert_eq!(config.get("maxmemory").map(String::as_str), Some("0"));
    let info: String = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
    assert!(info.contains("db0:keys=1,expires=0"), "{info}");
    let (cursor, keys): (String, Vec<String>) = redis::cmd("SCAN").arg(0).query(&mut con).unwrap();
    assert_eq!((cursor.as_str(), keys), ("0", vec!["k".to_owned()]));
}
