//! `--threads N`: clients served by different threads at once still see their own replies in order,
//! and what one client does reaches the others (blocked pops, pub/sub, `WATCH`, `CLIENT KILL`) and
//! the shutdown, whichever thread serves them. Clients fill the first thread and move to another
//! only when it is saturated: these tests force the moves (`--debug-hand-over-every`), so every
//! client crosses threads between its batches throughout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use tinykv_tests::blocking::{blocked, reply, send};
use tinykv_tests::{call_str, fresh_dir, read_reply, read_to_close_or_reset, resp, retry_until, Server};

/// Threads in every test, and how many clients play each part.
const THREADS: usize = 3;

fn server(extra: &[&str]) -> Server {
    let threads = THREADS.to_string();
    // Every second batch on a thread moves its client to the next thread.
    let mut args = vec!["--no-greeting", "--threads", &threads, "--debug-hand-over-every", "2"];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

/// `n` connections.
fn connections(server: &Server, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| server.connect()).collect()
}

#[test]
fn many_clients_at_once_each_get_their_own_replies_in_order() {
    const CLIENTS: usize = 12;
    const ROUNDS: usize = 20;
    let server = server(&[]);
    let streams = connections(&server, CLIENTS);
    let clients: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(client, mut stream)| {
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    // A pipelined batch of writes and reads of this client's own keys...
                    let mut requests = Vec::new();
                    let mut expected = Vec::new();
                    for i in 0..50 {
                        let (key, value) = (format!("c{client}:k{i}"), format!("c{client}:r{round}:v{i}"));
                        requests.extend_from_slice(&resp(&[b"SET", key.as_bytes(), value.as_bytes()]));
                        expected.extend_from_slice(b"+OK\r\n");
                        requests.extend_from_slice(&resp(&[b"GET", key.as_bytes()]));
                        expected.extend_from_slice(format!("${}\r\n{value}\r\n", value.len()).as_bytes());
                    }
                    stream.write_all(&requests).unwrap();
                    let mut got = vec![0u8; expected.len()];
                    stream.read_exact(&mut got).unwrap();
                    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected), "client {client}");
                    // ...and one request at a time.
                    let counter = format!("c{client}:n");
                    let n = call_str(&mut stream, &["INCR", &counter]);
                    assert_eq!(n, format!(":{}\r\n", round + 1), "client {client}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client saw a wrong reply");
    }
}

#[test]
fn blpops_are_woken_by_lpushes_from_other_clients() {
    let server = server(&[]);
    // Each pusher pushes to another pair's blocker.
    let mut blockers = connections(&server, THREADS);
    let mut pushers = connections(&server, THREADS);
    let mut admin = server.connect();
    for (i, blocker) in blockers.iter_mut().enumerate() {
        send(blocker, &["BLPOP", &format!("list{i}"), "0"]);
    }
    blocked(&mut admin, THREADS);
    for (i, pusher) in pushers.iter_mut().enumerate() {
        let list = format!("list{}", (i + 1) % THREADS);
        assert_eq!(call_str(pusher, &["LPUSH", &list, &format!("from{i}")]), ":1\r\n");
    }
    for (i, blocker) in blockers.iter_mut().enumerate() {
        let from = (i + THREADS - 1) % THREADS;
        let want = format!("*2\r\n$5\r\nlist{i}\r\n$5\r\nfrom{from}\r\n");
        assert_eq!(reply(blocker), want);
    }
    blocked(&mut admin, 0);
}

#[test]
fn publish_reaches_every_subscriber() {
    let server = server(&[]);
    let mut subscribers = connections(&server, THREADS);
    let mut publishers = connections(&server, THREADS);
    for subscriber in &mut subscribers {
        assert_eq!(call_str(subscriber, &["SUBSCRIBE", "news"]), "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    }
    for (i, publisher) in publishers.iter_mut().enumerate() {
        let message = format!("m{i}");
        assert_eq!(call_str(publisher, &["PUBLISH", "news", &message]), format!(":{THREADS}\r\n"));
        for subscriber in &mut subscribers {
            let got = String::from_utf8_lossy(&read_reply(subscriber)).into_owned();
            assert_eq!(got, format!("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\n{message}\r\n"));
        }
    }
}

#[test]
fn a_write_by_another_client_invalidates_watch() {
    let server = server(&[]);
    let mut clients = connections(&server, THREADS);
    for watcher in 0..THREADS {
        let writer = (watcher + 1) % THREADS;
        let key = format!("watched{watcher}");
        assert_eq!(call_str(&mut clients[watcher], &["WATCH", &key]), "+OK\r\n");
        assert_eq!(call_str(&mut clients[writer], &["SET", &key, "theirs"]), "+OK\r\n");
        assert_eq!(call_str(&mut clients[watcher], &["MULTI"]), "+OK\r\n");
        assert_eq!(call_str(&mut clients[watcher], &["SET", &key, "mine"]), "+QUEUED\r\n");
        assert_eq!(call_str(&mut clients[watcher], &["EXEC"]), "*-1\r\n");
        assert_eq!(call_str(&mut clients[watcher], &["GET", &key]), "$6\r\ntheirs\r\n");
    }
}

#[test]
fn client_kill_closes_each_client_it_names() {
    let server = server(&[]);
    let mut victims = connections(&server, THREADS);
    let ids: Vec<String> = victims
        .iter_mut()
        .map(|victim| call_str(victim, &["CLIENT", "ID"]).trim_start_matches(':').trim().to_owned())
        .collect();
    let mut killer = server.connect();
    for (victim, id) in victims.iter_mut().zip(&ids) {
        assert_eq!(call_str(&mut killer, &["CLIENT", "KILL", "ID", id]), ":1\r\n");
        assert!(read_to_close_or_reset(victim).is_empty());
    }
    let after = call_str(&mut killer, &["CLIENT", "LIST"]);
    assert_eq!(after.matches("id=").count(), 1, "only the killer is left: {after}");
}

/// Replies pending for each client at the signal: far more than the socket buffers hold.
const GETS: usize = 600;
/// How long the clients wait after the signal before they read: well inside the shutdown grace.
const READ_AFTER: Duration = Duration::from_millis(200);

#[test]
fn sigterm_flushes_every_client_and_saves() {
    let dir = fresh_dir("threads-sigterm");
    let start = |dir: &Path| server(&["--dir", dir.to_str().unwrap(), "--dbfilename", "dump.rdb"]);
    let mut server = start(&dir);
    let value: Vec<u8> = (0..16 * 1024).map(|i| (i % 253) as u8).collect();
    let mut setter = server.connect();
    assert_eq!(call_str(&mut setter, &["SET", "setter", "v"]), "+OK\r\n");
    // The setter is idle at the signal; the others are stalled, owed many replies each.
    let mut slow = connections(&server, THREADS - 1);
    let mut admin = server.connect();
    assert_eq!(String::from_utf8_lossy(&tinykv_tests::call(&mut admin, &[b"SET", b"big", &value])), "+OK\r\n");
    let big = [&b"$16384\r\n"[..], &value, b"\r\n"].concat();
    for (i, client) in slow.iter_mut().enumerate() {
        let key = format!("own{i}");
        let mut requests = resp(&[b"SET", key.as_bytes(), b"v"]);
        // Inline, 9 bytes each: all the requests fit in one segment and one read.
        requests.extend_from_slice(&b"GET big\r\n".repeat(GETS));
        client.write_all(&requests).unwrap();
        // The first reply byte means the server has read the requests.
        let mut first = [0u8; 1];
        assert_eq!(client.peek(&mut first).unwrap(), 1);
    }
    retry_until("the server to install its SIGTERM handler", || {
        tinykv_tests::catches_signal(server.pid(), libc::SIGTERM).then_some(())
    });
    server.signal(libc::SIGTERM);
    // Every client is owed every reply.
    let readers: Vec<_> = slow
        .into_iter()
        .map(|mut client| {
            std::thread::spawn(move || {
                // Not at once: a shutdown that did not wait for this client would have ended the
                // process by now, cutting the replies short.
                std::thread::sleep(READ_AFTER);
                read_to_close_or_reset(&mut client)
            })
        })
        .collect();
    let expected = [&b"+OK\r\n"[..], &big.repeat(GETS)].concat();
    for (i, reader) in readers.into_iter().enumerate() {
        let got = reader.join().unwrap();
        assert!(got == expected, "client {i} got {} of {} bytes; log:\n{}", got.len(), expected.len(), server.log());
    }
    // Idle clients are closed too.
    assert!(read_to_close_or_reset(&mut setter).is_empty());
    let status = server.wait_for_exit(Duration::from_secs(10)).expect("exit");
    assert!(status.success(), "{status:?}");

    let server = start(&dir);
    let mut con = server.connect();
    for i in 0..THREADS - 1 {
        assert_eq!(call_str(&mut con, &["GET", &format!("own{i}")]), "$1\r\nv\r\n");
    }
    assert_eq!(call_str(&mut con, &["GET", "setter"]), "$1\r\nv\r\n");
    assert_eq!(call_str(&mut con, &["STRLEN", "big"]), ":16384\r\n");
}

/// New clients placed on the other threads from the start (as while the first is saturated; the
/// test flag sends them round the threads) are served there like any other.
#[test]
fn new_clients_started_on_other_threads_are_served_there() {
    let threads = THREADS.to_string();
    // Batches almost never move here: each client stays where it was placed.
    let args = ["--no-greeting", "--threads", &threads, "--debug-hand-over-every", "100000"];
    let server = Server::start_with_env(&args, &[("RUST_LOG", "info,tinykv_server::server=debug")]);
    let mut clients: Vec<_> = (0..2 * THREADS).map(|_| server.connect()).collect();
    for (i, con) in clients.iter_mut().enumerate() {
        let key = format!("k{i}");
        assert_eq!(call_str(con, &["SET", &key, "v"]), "+OK\r\n");
        assert_eq!(call_str(con, &["INCR", "placed"]), format!(":{}\r\n", i + 1));
        assert_eq!(call_str(con, &["GET", &key]), "$1\r\nv\r\n");
    }
    retry_until("the log to show clients placed on other threads", || {
        (server.log().matches("new connection placed on another thread").count() >= 2 * (THREADS - 1)).then_some(())
    });
    // And served there: each extra thread logs the clients it took.
    retry_until("each extra thread to serve new clients", || {
        let log = server.log();
        let served_on = |n: usize| {
            log.lines()
                .filter(|line| line.contains("new connection served here"))
                .filter(|line| line.contains(&format!("thread=\"tinykv-worker-{n}\"")))
                .count()
        };
        (1..THREADS).all(|n| served_on(n) >= 2).then_some(())
    });
    let listed = call_str(&mut clients[0], &["CLIENT", "LIST"]);
    assert_eq!(listed.matches(" laddr=").count(), 2 * THREADS, "{listed}");
}

#[test]
fn a_client_handed_over_after_every_batch_keeps_its_session() {
    let threads = THREADS.to_string();
    let args = ["--no-greeting", "--threads", &threads, "--debug-hand-over-every", "1"];
    let server = Server::start_with_env(&args, &[("RUST_LOG", "info,tinykv_server::connection=debug")]);
    let mut con = server.connect();
    let mut other = server.connect();
    // Database 0's `w`, which the mover's transaction in database 3 must leave alone.
    assert_eq!(call_str(&mut other, &["SET", "w", "0"]), "+OK\r\n");
    let id = call_str(&mut con, &["CLIENT", "ID"]);
    // State kept by the session, each set in one batch and used in later ones, on other threads.
    assert_eq!(call_str(&mut con, &["SELECT", "3"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["CLIENT", "SETNAME", "mover"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["HELLO", "3"]).lines().next(), Some("%7"));
    assert_eq!(call_str(&mut con, &["WATCH", "w"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["MULTI"]), "+OK\r\n");
    assert_eq!(call_str(&mut con, &["SET", "w", "1"]), "+QUEUED\r\n");
    assert_eq!(call_str(&mut con, &["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(call_str(&mut con, &["EXEC"]), "*2\r\n+OK\r\n:1\r\n");
    assert_eq!(call_str(&mut con, &["CLIENT", "ID"]), id);
    assert_eq!(call_str(&mut con, &["CLIENT", "GETNAME"]), "$5\r\nmover\r\n");
    assert_eq!(call_str(&mut con, &["GET", "w"]), "$1\r\n1\r\n");
    assert_eq!(call_str(&mut other, &["GET", "w"]), "$1\r\n0\r\n", "the transaction ran in database 3");
    // Still RESP3 on other threads: a missing key is `_`, not RESP2's `$-1`.
    assert_eq!(call_str(&mut con, &["GET", "missing"]), "_\r\n");
    // A request split over two writes (the first half read on one thread) and a pipeline.
    let request = resp(&[b"SET", b"split", b"value"]);
    con.write_all(&request[..9]).unwrap();
    assert_eq!(call_str(&mut other, &["PING"]), "+PONG\r\n");
    con.write_all(&request[9..]).unwrap();
    assert_eq!(String::from_utf8_lossy(&read_reply(&mut con)), "+OK\r\n");
    let pipeline = [resp(&[b"INCR", b"n"]), resp(&[b"INCR", b"n"]), resp(&[b"GET", b"split"])].concat();
    con.write_all(&pipeline).unwrap();
    let replies: Vec<String> = (0..3).map(|_| String::from_utf8_lossy(&read_reply(&mut con)).into_owned()).collect();
    assert_eq!(replies, [":2\r\n", ":3\r\n", "$5\r\nvalue\r\n"]);
    // One registry entry each, as before.
    let list = call_str(&mut other, &["CLIENT", "LIST"]);
    assert_eq!(list.matches("id=").count(), 2, "{list}");
    assert_eq!(list.matches("name=mover ").count(), 1, "{list}");
    assert!(list.contains("db=3 "), "{list}");
    retry_until("the log to show hand-overs", || {
        (server.log().matches("connection handed over").count() >= 10).then_some(())
    });
    // And the other threads did serve it: the resumes are logged by the thread that took it.
    retry_until("the log to show resumes on the extra threads", || {
        let log = server.log();
        (1..THREADS).all(|n| log.contains(&format!("thread=\"tinykv-worker-{n}\""))).then_some(())
    });
}
