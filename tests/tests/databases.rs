//! Sixteen databases, as Redis has: `SELECT` per connection, `MOVE`/`COPY ... DB`/`SWAPDB` between
//! them, per-database `INFO keyspace` lines, the append-only file keeping each key in its database
//! across a restart, and `redis-cli -n`.

use std::process::Command;

use tinykv_tests::{call_str, run_with_deadline, Server};

#[test]
fn each_connection_works_in_its_own_database() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut first = server.connect();
    let mut second = server.connect();
    assert_eq!(call_str(&mut first, &["SELECT", "3"]), "+OK\r\n");
    assert_eq!(call_str(&mut first, &["SET", "k", "in three"]), "+OK\r\n");
    assert_eq!(call_str(&mut second, &["GET", "k"]), "$-1\r\n");
    assert_eq!(call_str(&mut second, &["SELECT", "3"]), "+OK\r\n");
    assert_eq!(call_str(&mut second, &["GET", "k"]), "$8\r\nin three\r\n");
    assert_eq!(call_str(&mut first, &["SELECT", "16"]), "-ERR DB index is out of range\r\n");
    // The failed SELECT left the connection where it was.
    assert_eq!(call_str(&mut first, &["DBSIZE"]), ":1\r\n");

    // SWAPDB is seen by every client of either database at once.
    assert_eq!(call_str(&mut first, &["SWAPDB", "3", "0"]), "+OK\r\n");
    assert_eq!(call_str(&mut second, &["GET", "k"]), "$-1\r\n");
    assert_eq!(call_str(&mut second, &["SELECT", "0"]), "+OK\r\n");
    assert_eq!(call_str(&mut second, &["GET", "k"]), "$8\r\nin three\r\n");
    let info = call_str(&mut first, &["INFO", "keyspace"]);
    assert!(info.contains("db0:keys=1,expires=0"), "{info}");
    assert!(!info.contains("db3:"), "{info}");
}

#[test]
fn databases_flag_sets_how_many_there_are() {
    let server = Server::start_with(&["--no-greeting", "--databases", "2"]);
    let mut con = server.connect();
    assert_eq!(call_str(&mut con, &["SELECT", "1"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["SELECT", "2"]), "-ERR DB index is out of range\r\n");
    assert_eq!(call_str(&mut con, &["CONFIG", "GET", "databases"]), "*2\r\n$9\r\ndatabases\r\n$1\r\n2\r\n");
}

#[test]
fn append_only_file_keeps_each_key_in_its_database() {
    let dir = std::env::temp_dir().join(format!("tinykv-databases-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dbs.aof");
    let _ = std::fs::remove_file(&path);
    let args = ["--no-greeting", "--appendonly", path.to_str().unwrap(), "--appendfsync", "always"];

    let server = Server::start_with(&args);
    let mut con = server.connect();
    for (words, reply) in [
        (&["SET", "zero", "0"][..], "+OK\r\n"),
        (&["SELECT", "2"], "+OK\r\n"),
        (&["SET", "two", "2"], "+OK\r\n"),
        (&["SET", "moved", "m", "PX", "600000"], "+OK\r\n"),
        (&["MOVE", "moved", "5"], ":1\r\n"),
        (&["COPY", "two", "copied", "DB", "7"], ":1\r\n"),
        (&["SELECT", "9"], "+OK\r\n"),
        (&["SET", "flushed", "x"], "+OK\r\n"),
        (&["FLUSHDB"], "+OK\r\n"),
        (&["SWAPDB", "7", "8"], "+OK\r\n"),
    ] {
        assert_eq!(call_str(&mut con, words), reply, "{words:?}");
    }
    assert!(server.stop().success());

    let server = Server::start_with(&args);
    let mut con = server.connect();
    let get = |con: &mut std::net::TcpStream, db: &str, key: &str| {
        assert_eq!(call_str(con, &["SELECT", db]), "+OK\r\n");
        call_str(con, &["GET", key])
    };
    assert_eq!(get(&mut con, "0", "zero"), "$1\r\n0\r\n");
    assert_eq!(get(&mut con, "0", "two"), "$-1\r\n");
    assert_eq!(get(&mut con, "2", "two"), "$1\r\n2\r\n");
    assert_eq!(get(&mut con, "2", "moved"), "$-1\r\n");
    assert_eq!(get(&mut con, "5", "moved"), "$1\r\nm\r\n");
    let pttl = call_str(&mut con, &["PTTL", "moved"]);
    assert!(pttl.starts_with(':') && !pttl.starts_with(":-"), "the TTL moved with the key: {pttl}");
    assert_eq!(get(&mut con, "7", "copied"), "$-1\r\n");
    assert_eq!(get(&mut con, "8", "copied"), "$1\r\n2\r\n");
    assert_eq!(get(&mut con, "9", "flushed"), "$-1\r\n");
    assert!(server.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn redis_cli_n_selects_the_database() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        eprintln!("redis-cli not installed: skipped");
        return;
    }
    let server = Server::start_with(&["--no-greeting"]);
    let port = server.port().to_string();
    let cli = |args: &[&str]| {
        let output =
            run_with_deadline(Command::new("redis-cli").args(["-p", &port]).args(args)).expect("redis-cli ran");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(cli(&["-n", "3", "set", "k", "v"]), "OK\n");
    assert_eq!(cli(&["-n", "3", "get", "k"]), "v\n");
    assert_eq!(cli(&["get", "k"]), "\n");
}
