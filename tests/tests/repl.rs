//! `tinykv-cli`'s interactive REPL, driven through a pseudo-terminal as a person would drive it: typing,
//! Tab, the Up arrow, Ctrl-C and Ctrl-D. Every wait is an `expect` with a deadline, never a sleep.

use std::path::Path;
use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::{spawn_command, PtySession};
use tinykv_tests::{binary, Server, DEADLINE};

const UP: &str = "\x1b[A";

/// Starts the REPL against `port` in a pty, with `home` as its home directory and `histfile` (if any) as
/// `TINYKV_HISTFILE`.
fn repl(port: u16, home: &Path, histfile: Option<&str>) -> PtySession {
    let mut command = Command::new(binary("tinykv-cli"));
    command.arg("-p").arg(port.to_string());
    command.env_remove("TINYKV_HOST").env_remove("TINYKV_PORT").env_remove("TINYKV_PASSWORD");
    // A terminal rustyline knows, so line editing (and so Tab, Up and hints) is on.
    command.env("TERM", "xterm").env("HOME", home);
    match histfile {
        Some(path) => command.env("TINYKV_HISTFILE", path),
        None => command.env_remove("TINYKV_HISTFILE"),
    };
    spawn_command(command, Some(DEADLINE.as_millis() as u64)).expect("spawn tinykv-cli in a pty")
}

fn prompt(port: u16) -> String {
    format!("127.0.0.1:{port}> ")
}

/// Types `line` and Enter, then waits for `reply` and the next prompt.
#[track_caller]
fn exchange(session: &mut PtySession, port: u16, line: &str, reply: &str) {
    session.send_line(line).expect("type a line");
    session.exp_string(reply).unwrap_or_else(|e| panic!("after {line:?}, expected {reply:?}: {e}"));
    session.exp_string(&prompt(port)).unwrap_or_else(|e| panic!("no prompt after {line:?}: {e}"));
}

#[test]
fn prompt_and_pretty_output_of_each_reply_kind() {
    let server = Server::start();
    let port = server.port();
    let home = tempfile::tempdir().unwrap();
    let mut cli = repl(port, home.path(), Some(""));
    cli.exp_string(&prompt(port)).expect("first prompt");

    exchange(&mut cli, port, r#"set greeting "hello world""#, "\r\nOK\r\n");
    exchange(&mut cli, port, "get greeting", "\r\n\"hello world\"\r\n");
    exchange(&mut cli, port, "get nope", "\r\n(nil)\r\n");
    exchange(&mut cli, port, "del greeting", "\r\n(integer) 1\r\n");
    exchange(&mut cli, port, "nosuchcommand", "\r\n(error) ERR unknown command 'nosuchcommand'");
    exchange(&mut cli, port, "config get no-such-parameter", "\r\n(empty array)\r\n");
    // A nested array, indented as redis-cli indents it, ending in a null element.
    cli.send_line("command info get nosuch").unwrap();
    cli.exp_string("\r\n1)  1) \"get\"\r\n    2) (integer) 2\r\n    3) 1) readonly\r\n       2) fast\r\n")
        .expect("nested array");
    cli.exp_string("\r\n2) (nil)\r\n").expect("end of the nested array");
    cli.exp_string(&prompt(port)).unwrap();
    exchange(&mut cli, port, r#"echo "tab\there \xff""#, "\r\n\"tab\\there \\xff\"\r\n");

    // An unbalanced quote is reported and nothing is sent.
    exchange(&mut cli, port, r#"set broken "no end"#, "Invalid argument(s): unbalanced quotes");
    exchange(&mut cli, port, "get broken", "\r\n(nil)\r\n");

    cli.send_control('d').unwrap();
    cli.exp_eof().expect("Ctrl-D leaves");
    // Error replies were answered on screen: leaving the REPL is still a success.
    assert!(matches!(cli.process().wait(), Ok(WaitStatus::Exited(_, 0))), "REPL exit status");
    server.stop();
}

#[test]
fn help_completion_hints_and_ctrl_c() {
    let server = Server::start_with(&["--no-greeting"]);
    let port = server.port();
    let home = tempfile::tempdir().unwrap();
    let mut cli = repl(port, home.path(), Some(""));
    cli.exp_string(&prompt(port)).expect("first prompt");

    exchange(&mut cli, port, "help set", "SET key value [NX|XX]");
    exchange(&mut cli, port, "help", "@string");

    // Tab completes `se` to `set`: the command then runs as SET.
    cli.send("se").unwrap();
    cli.send("\t").unwrap();
    cli.send(" completed yes").unwrap();
    cli.send_line("").unwrap();
    cli.exp_string("\r\nOK\r\n").expect("the completed SET ran");
    cli.exp_string(&prompt(port)).unwrap();
    exchange(&mut cli, port, "get completed", "\"yes\"");

    // A hint of the arguments appears after `set `; Ctrl-C then drops the line unsent.
    cli.send("set ").unwrap();
    cli.flush().unwrap();
    // The last redraw of the line: `set `, then the hint in grey (ESC[90m). Matching this one, not an
    // earlier redraw, means the prompt awaited below can only be the one after Ctrl-C.
    cli.exp_string("set \x1b[90mkey value [NX|XX]").expect("greyed argument hint");
    cli.send_control('c').unwrap();
    cli.exp_string(&prompt(port)).expect("a fresh prompt after Ctrl-C");
    exchange(&mut cli, port, "echo after-ctrl-c", "\r\n\"after-ctrl-c\"\r\n");

    cli.send_line("quit").unwrap();
    cli.exp_eof().expect("quit leaves");
    server.stop();
}

#[test]
fn history_is_recalled_after_a_restart() {
    let server = Server::start();
    let port = server.port();
    let home = tempfile::tempdir().unwrap();

    let mut cli = repl(port, home.path(), None);
    cli.exp_string(&prompt(port)).unwrap();
    exchange(&mut cli, port, "set remembered fromlasttime", "OK");
    exchange(&mut cli, port, "get remembered", "\"fromlasttime\"");
    cli.send_control('d').unwrap();
    cli.exp_eof().unwrap();
    let history = std::fs::read_to_string(home.path().join(".tinykv_history")).expect("~/.tinykv_history written");
    assert!(history.contains("get remembered"), "{history}");

    // A new REPL: Up recalls the last command, Enter runs it again.
    let mut cli = repl(port, home.path(), None);
    cli.exp_string(&prompt(port)).unwrap();
    cli.send(UP).unwrap();
    cli.flush().unwrap();
    cli.exp_string("get remembered").expect("Up shows the last command");
    cli.send_line("").unwrap();
    cli.exp_string("\r\n\"fromlasttime\"\r\n").expect("the recalled command ran");
    cli.exp_string(&prompt(port)).unwrap();
    cli.send_control('d').unwrap();
    cli.exp_eof().unwrap();
    server.stop();
}

#[test]
fn histfile_variable_chooses_or_disables_the_file() {
    let server = Server::start();
    let port = server.port();
    let home = tempfile::tempdir().unwrap();
    let custom = home.path().join("custom_history");

    let mut cli = repl(port, home.path(), Some(custom.to_str().unwrap()));
    cli.exp_string(&prompt(port)).unwrap();
    exchange(&mut cli, port, "echo kept", "\"kept\"");
    exchange(&mut cli, port, "auth secret-password", "ERR");
    cli.send_control('d').unwrap();
    cli.exp_eof().unwrap();
    let history = std::fs::read_to_string(&custom).expect("TINYKV_HISTFILE written");
    assert!(history.contains("echo kept"), "{history}");
    assert!(!history.contains("secret-password"), "passwords stay out of history: {history}");

    let mut cli = repl(port, home.path(), Some(""));
    cli.exp_string(&prompt(port)).unwrap();
    exchange(&mut cli, port, "echo forgotten", "\"forgotten\"");
    cli.send_control('d').unwrap();
    cli.exp_eof().unwrap();
    assert!(!home.path().join(".tinykv_history").exists(), "an empty TINYKV_HISTFILE writes no file");
    server.stop();
}

#[test]
fn not_connected_after_the_server_stops_and_reconnects_after_restart() {
    let server = Server::start();
    let port = server.port();
    let home = tempfile::tempdir().unwrap();
    let mut cli = repl(port, home.path(), Some(""));
    cli.exp_string(&prompt(port)).unwrap();
    exchange(&mut cli, port, "ping", "PONG");

    server.stop();
    cli.send_line("ping").unwrap();
    cli.exp_string(&format!("Could not connect to 127.0.0.1:{port}: Connection refused")).expect("refused");
    cli.exp_string("not connected> ").expect("not connected prompt");
    cli.send_line("get k").unwrap();
    cli.exp_string("Could not connect").unwrap();
    cli.exp_string("not connected> ").unwrap();

    let port_arg = port.to_string();
    let again = Server::start_with(&["--port", &port_arg]);
    exchange(&mut cli, port, "set back again", "OK");
    exchange(&mut cli, port, "get back", "\"again\"");
    cli.send_control('d').unwrap();
    cli.exp_eof().unwrap();
    again.stop();
}

#[test]
fn starts_not_connected_when_nobody_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let home = tempfile::tempdir().unwrap();
    let mut cli = repl(port, home.path(), Some(""));
    cli.exp_string(&format!("Could not connect to 127.0.0.1:{port}: Connection refused")).unwrap();
    cli.exp_string("not connected> ").unwrap();
    // Help works without a server.
    cli.send_line("help get").unwrap();
    cli.exp_string("GET key").unwrap();
    cli.exp_string("not connected> ").unwrap();
    cli.send_line("exit").unwrap();
    cli.exp_eof().expect("exit leaves");
}
