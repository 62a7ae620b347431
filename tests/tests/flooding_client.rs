//! A client whose requests never stop arriving is still reachable by `CLIENT KILL` and by a
//! shutdown: the connection's read watches the client's alarm before the socket (`biased`), so a
//! read that always finds bytes cannot keep the news out. (On this machine the flood below still
//! lets the read wait now and then, so it guards the outcome, not that order alone.)

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use tinykv_tests::{call_str, catches_signal, resp, retry_until, Server};

/// How long the flood may go on after the kill or signal before the test calls it ignored: far
/// more than the few milliseconds either takes, so only a connection that never looks fails.
const NOTICE_LIMIT: Duration = Duration::from_secs(20);

/// Starts a client that writes pipelined `PING`s without pause and reads the replies on another
/// thread. Returns its client id and a receiver that gets a message when its connection ends.
fn flood(server: &Server) -> (i64, mpsc::Receiver<()>, Arc<AtomicBool>) {
    let mut stream = server.connect();
    let id = call_str(&mut stream, &["CLIENT", "ID"]);
    let id: i64 = id.trim_start_matches(':').trim().parse().expect("CLIENT ID is an integer");
    let stop = Arc::new(AtomicBool::new(false));
    let batch = resp(&[b"PING"]).repeat(512);
    let mut writer = stream.try_clone().expect("clone the stream");
    let writer_stop = Arc::clone(&stop);
    std::thread::spawn(move || while !writer_stop.load(Ordering::Relaxed) && writer.write_all(&batch).is_ok() {});
    let (ended, ended_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        let _ = ended.send(());
    });
    // The flood is under way when replies have been counted for a while.
    std::thread::sleep(Duration::from_millis(200));
    (id, ended_rx, stop)
}

#[test]
fn client_kill_reaches_a_client_that_never_pauses() {
    let server = Server::start_with(&["--no-greeting"]);
    let (id, ended, stop) = flood(&server);
    let mut admin = server.connect();
    assert_eq!(call_str(&mut admin, &["CLIENT", "KILL", "ID", &id.to_string()]), ":1\r\n");
    let noticed = ended.recv_timeout(NOTICE_LIMIT);
    stop.store(true, Ordering::Relaxed);
    assert!(noticed.is_ok(), "the flooding client's connection was still open {NOTICE_LIMIT:?} after CLIENT KILL");
    // The server goes on serving others.
    assert_eq!(call_str(&mut admin, &["PING"]), "+PONG\r\n");
}

#[test]
fn shutdown_reaches_a_client_that_never_pauses() {
    let mut server = Server::start_with(&["--no-greeting"]);
    let (_id, ended, stop) = flood(&server);
    retry_until("the signal handler", || catches_signal(server.pid(), libc::SIGTERM).then_some(()));
    server.signal(libc::SIGTERM);
    let noticed = ended.recv_timeout(NOTICE_LIMIT);
    stop.store(true, Ordering::Relaxed);
    assert!(noticed.is_ok(), "the flooding client's connection was still open {NOTICE_LIMIT:?} after SIGTERM");
    assert!(server.wait_for_exit(NOTICE_LIMIT).is_some_and(|status| status.success()), "no clean exit");
}
