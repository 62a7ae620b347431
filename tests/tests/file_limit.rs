//! Out of file descriptors: `--max-clients` is lowered at start to what `ulimit -n` allows, so
//! clients past it are refused with Redis's error instead of hanging unaccepted.

use std::process::Command;

use tinykv_tests::{binary, call_str, read_to_close_or_reset, Server};

#[test]
fn max_clients_is_lowered_to_fit_the_open_file_limit_and_the_rest_are_refused() {
    // `ulimit -n` in sh sets the hard limit too, so the server cannot raise it again.
    let mut command = Command::new("sh");
    command.args(["-c", r#"ulimit -n 64 && exec "$0" "$@""#]).arg(binary("tinykv-server"));
    command.args(["--port", "0", "--no-greeting"]);
    let server = Server::spawn(command);
    let mut clients: Vec<_> = (0..32).map(|_| server.connect()).collect();
    for client in &mut clients {
        assert_eq!(call_str(client, &["PING"]), "+PONG\r\n");
    }
    let mut extra = server.connect();
    assert_eq!(String::from_utf8_lossy(&read_to_close_or_reset(&mut extra)), "-ERR max number of clients reached\r\n");
    // 64 descriptors, 32 of them kept for the server, as Redis does; said once in the log.
    let log = server.log();
    assert!(log.contains("lowered max clients") && log.contains("max_clients=32"), "log:\n{log}");
    let maxclients = call_str(&mut clients[0], &["CONFIG", "GET", "maxclients"]);
    assert!(maxclients.ends_with("$2\r\n32\r\n"), "{maxclients:?}");
    drop(clients);
    assert!(server.stop().success());
}
