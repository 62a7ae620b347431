//! Lists end to end: after `kill -9` the append-only file rebuilds the same lists (blocking pops,
//! `LMPOP` and moves recorded as the pops that happened), so does a rewritten file, and `used_memory`
//! follows a list's contents; counts from the wire allocate nothing on their own.

use std::path::PathBuf;

use tinykv_tests::{call_str, fresh_dir, read_reply, resp, retry_until, Server};

fn temp_dir(name: &str) -> PathBuf {
    fresh_dir(&format!("lists-{name}"))
}

fn lrange(con: &mut redis::Connection, key: &str) -> Vec<String> {
    redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query(con).unwrap()
}

const KEYS: &[&str] = &["queue", "done", "big", "rot", "moved", "waited"];

/// Every list written by [`write_lists`], as the client sees it.
fn snapshot(con: &mut redis::Connection) -> Vec<Vec<String>> {
    KEYS.iter().map(|key| lrange(con, key)).collect()
}

/// Writes lists with every kind of write, a served blocking pop among them.
fn write_lists(server: &Server) -> Vec<Vec<String>> {
    let mut con = server.redis();
    let q = |con: &mut redis::Connection, cmd: &mut redis::Cmd| {
        let _: redis::Value = cmd.query(con).unwrap();
    };
    q(&mut con, redis::cmd("RPUSH").arg("queue").arg(&["a", "b", "c", "d", "e", "f"]));
    q(&mut con, redis::cmd("LPUSH").arg("queue").arg("z"));
    q(&mut con, redis::cmd("LPOP").arg("queue").arg(2));
    q(&mut con, redis::cmd("RPOPLPUSH").arg("queue").arg("done"));
    q(&mut con, redis::cmd("LMOVE").arg("queue").arg("done").arg("LEFT").arg("RIGHT"));
    q(&mut con, redis::cmd("LINSERT").arg("queue").arg("BEFORE").arg("c").arg("pivot"));
    q(&mut con, redis::cmd("LSET").arg("queue").arg(-1).arg("last"));
    q(&mut con, redis::cmd("LMPOP").arg(2).arg("nothing").arg("done").arg("RIGHT").arg("COUNT").arg(1));
    let mut big = redis::cmd("RPUSH");
    big.arg("big");
    for i in 0..5000 {
        big.arg(format!("item:{i}:{}", "q".repeat(i % 30)));
    }
    q(&mut con, &mut big);
    q(&mut con, redis::cmd("LREM").arg("big").arg(-3).arg("item:4999:qqqqqqqqq"));
    q(&mut con, redis::cmd("LTRIM").arg("big").arg(10).arg(-20));
    q(&mut con, redis::cmd("RPUSH").arg("rot").arg("only"));
    q(&mut con, redis::cmd("LMOVE").arg("rot").arg("rot").arg("LEFT").arg("RIGHT"));
    // A blocked BLMOVE served by a push: recorded as the pop and the push that happened.
    let mut waiter = server.connect();
    std::io::Write::write_all(&mut waiter, &resp(&[b"BLMOVE", b"waited", b"moved", b"RIGHT", b"LEFT", b"0"])).unwrap();
    retry_until("the client to block", || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
        info.contains("blocked_clients:1").then_some(())
    });
    q(&mut con, redis::cmd("RPUSH").arg("waited").arg("w1").arg("w2"));
    assert_eq!(read_reply(&mut waiter), b"$2\r\nw2\r\n");
    snapshot(&mut con)
}

#[test]
fn lists_survive_kill_9_with_the_append_only_file() {
    let dir = temp_dir("aof");
    let path = dir.join("lists.aof");
    let args = ["--no-greeting", "--appendonly", path.to_str().unwrap(), "--appendfsync", "always"];
    let server = Server::start_with(&args);
    let expected = write_lists(&server);
    assert_eq!(expected[4], ["w2"]);
    assert_eq!(expected[5], ["w1"]);
    server.signal(libc::SIGKILL);
    drop(server);
    let log = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(!log.contains("BLMOVE") && !log.contains("LMPOP"), "blocking pops and LMPOP are logged as pops");
    let server = Server::start_with(&args);
    assert_eq!(snapshot(&mut server.redis()), expected);

    // The rewritten file rebuilds the same lists.
    let mut con = server.redis();
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    retry_until("the rewrite to finish", || {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
        info.contains("aof_rewrite_in_progress:0").then_some(())
    });
    drop(con);
    assert!(server.stop().success());
    let server = Server::start_with(&args);
    assert_eq!(snapshot(&mut server.redis()), expected);
}

#[test]
fn used_memory_follows_a_list_and_counts_allocate_nothing() {
    let server = Server::start_with(&["--no-greeting"]);
    let mut stream = server.connect();
    let used = |stream: &mut std::net::TcpStream| -> i64 {
        let info = call_str(stream, &["INFO", "memory"]);
        info.lines().find_map(|line| line.strip_prefix("used_memory:")).and_then(|n| n.trim().parse().ok()).unwrap()
    };
    let before = used(&mut stream);
    let elements: Vec<String> = (0..20_000).map(|i| format!("{i:016}")).collect();
    let mut args = vec!["RPUSH", "l"];
    args.extend(elements.iter().map(String::as_str));
    assert_eq!(call_str(&mut stream, &args), ":20000\r\n");
    let grown = used(&mut stream) - before;
    assert!((20_000 * 17..20_000 * 22).contains(&grown), "{grown} bytes for 20000 16-byte elements");
    // Huge counts and ranges are bounded by the list, not by the number asked for.
    let huge = "9223372036854775807";
    assert!(call_str(&mut stream, &["LRANGE", "l", "-9223372036854775808", huge]).starts_with("*20000\r\n"));
    assert!(call_str(&mut stream, &["LPOS", "l", "x", "COUNT", huge, "MAXLEN", huge]).starts_with("*0\r\n"));
    assert!(call_str(&mut stream, &["LPOP", "l", huge]).starts_with("*20000\r\n"));
    assert_eq!(call_str(&mut stream, &["EXISTS", "l"]), ":0\r\n");
    retry_until("memory to be given back", || (used(&mut stream) - before < 1024).then_some(()));
}
