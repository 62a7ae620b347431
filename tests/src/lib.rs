//! Support for the end-to-end tests: start the real binaries on port 0, talk to them, stop them.
//!
//! Tests never sleep to wait for a server: [`Server::start`] reads the `listening on` log line, and
//! every socket has a read timeout so a hung server fails a test instead of hanging it.

pub mod blocking;
pub mod differential;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The greeting of the original protocol, the server's own constant: a default server (`--greeting auto`)
/// sends it before the first reply to an inline request, or after 100 ms to a client that sent nothing.
pub use tinykv_proto::GREETING;

/// The path of a workspace binary (`tinykv-server`, `tinykv-cli`), built once per test process in the
/// profile the tests themselves were built in, so `cargo test --workspace` alone is enough.
pub fn binary(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir").to_path_buf();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = Command::new(cargo);
        command.args(["build", "--quiet", "--bins", "-p", "tinykv-server", "-p", "tinykv-cli"]);
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    });
    profile_dir.join(name)
}

/// A running `tinykv-server`, killed when dropped if not stopped first.
pub struct Server {
    child: Child,
    /// The address it listens on (the real port, read from its log).
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts a server with the default settings (`--greeting auto`), on a free port.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server on a free port with extra command-line arguments.
    pub fn start_with(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// Starts a server with extra arguments and environment variables. `--port 0` is added unless the
    /// arguments or environment choose a port.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(binary("tinykv-server"));
        let chooses_port =
            args.iter().any(|a| *a == "--port" || *a == "-p") || env.iter().any(|(k, _)| *k == "TINYKV_PORT");
        if !chooses_port {
            command.args(["--port", "0"]);
        }
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        Server::spawn(command)
    }

    /// Starts a server from a prepared command (e.g. `sh -c 'ulimit -n 64; exec tinykv-server "$@"'`),
    /// which must end up running `tinykv-server` and choose its port; its log is read as usual.
    pub fn spawn(mut command: Command) -> Server {
        if !command.get_envs().any(|(key, _)| key == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn tinykv-server");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(DEADLINE) {
            Ok(addr) => addr.parse().unwrap_or_else(|_| panic!("bad address in log: {addr}")),
            Err(_) => {
                let _ = child.kill();
                panic!("server did not log 'listening on'; log:\n{}", log.lock().unwrap());
            }
        };
        Server { child, addr, log }
    }

    /// The real port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A raw TCP connection with read and write timeouts. Does not read the greeting.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// A raw connection whose greeting has been read and checked. Under the default `--greeting auto` the
    /// greeting comes after 100 ms of silence, so this takes that long; the caller then speaks inline or RESP.
    pub fn connect_greeted(&self) -> TcpStream {
        let mut stream = self.connect();
        assert_eq!(read_exact_bytes(&mut stream, GREETING.len()), GREETING);
        stream
    }

    /// A `redis` crate client. It speaks RESP as soon as it connects, so a default server never greets it;
    /// under `--greeting always` its first reply would be the greeting.
    pub fn redis(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://{}/", self.addr)).expect("redis url");
        client.get_connection_with_timeout(DEADLINE).expect("redis connect")
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped); no memory is shared.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit, up to `limit`; `None` if it is still running then.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Stops the server with SIGTERM and returns how it exited.
    pub fn stop(mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_for_exit(DEADLINE).expect("server did not exit after SIGTERM")
    }

    /// Resident set size of the server, in KiB, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The server's `used_memory` (its own estimate of the bytes its data takes), from `INFO memory`.
pub fn used_memory(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(con).expect("INFO memory");
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("used_memory in INFO memory")
}

/// Resident set size of process `pid`, in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc status")
}

/// Reads exactly `n` bytes (or fails the test on timeout or close).
pub fn read_exact_bytes(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// Sends `request` and asserts the reply is exactly `expected`, byte for byte.
pub fn roundtrip(stream: &mut TcpStream, request: &[u8], expected: &[u8]) {
    stream.write_all(request).expect("write");
    let got = read_exact_bytes(stream, expected.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "reply to {:?}",
        String::from_utf8_lossy(request)
    );
}

/// Reads until the peer closes the connection (or fails after [`DEADLINE`]); returns what came.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    stream.read_to_end(&mut out).expect("read to close");
    out
}

/// Encodes words as one RESP array, as a Redis client would.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    tinykv_proto::codec::encode_request(args, &mut out);
    out.to_vec()
}

/// Retries `attempt` (every 10 ms) until it returns `Some`, failing the test after [`DEADLINE`].
/// For waiting on a state change without a fixed sleep.
pub fn retry_until<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Like [`read_to_close`], but a connection reset also counts as the close. A server that closes a
/// socket with unread input in it makes the kernel send RST instead of FIN; what it wrote before
/// the close is still delivered first and is returned here.
pub fn read_to_close_or_reset(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("reading to close after {} bytes: {e}", out.len()),
        }
    }
}

/// Reads one line up to and including `\r\n` (one byte at a time, so nothing after it is consumed).
pub fn read_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).unwrap_or_else(|e| panic!("reading a line after {line:?}: {e}"));
        line.push(byte[0]);
    }
    line
}

/// A `kB` field (`VmRSS`, `VmSize`, `VmHWM`, ...) of `/proc/<pid>/status`.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Runs a command to completion with its output captured, killing it and failing the test if it
/// takes longer than [`DEADLINE`]. `None` if the program is not installed.
pub fn run_with_deadline(command: &mut Command) -> Option<std::process::Output> {
    run_with_input(command, b"")
}

/// [`run_with_deadline`] with `stdin` fed to the program (on its own thread, so a large input never
/// blocks on a full pipe while the output waits to be read).
pub fn run_with_input(command: &mut Command, stdin: &[u8]) -> Option<std::process::Output> {
    let mut child = match command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("spawn {command:?}: {e}"),
    };
    let mut input = child.stdin.take().expect("stdin piped");
    let stdin = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = tx.send(());
        output
    });
    if rx.recv_timeout(DEADLINE).is_err() {
        // SAFETY: kill(2) on the child we spawned; the waiter thread has not reaped it yet.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        let _ = waiter.join();
        panic!("{command:?} did not finish within {DEADLINE:?}");
    }
    Some(waiter.join().expect("waiter thread").unwrap_or_else(|e| panic!("wait for {command:?}: {e}")))
}

/// Reads exactly one RESP2 or RESP3 reply, nested ones included, and returns its raw bytes. For
/// byte-exact checks of replies whose length is not known in advance.
pub fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    read_reply_into(stream, &mut out);
    out
}

fn read_reply_into(stream: &mut TcpStream, out: &mut Vec<u8>) {
    let line = read_line(stream);
    let tag = line[0];
    let number = || -> i64 {
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        text.parse().unwrap_or_else(|_| panic!("bad RESP header {text:?}"))
    };
    let (bodies, children) = match tag {
        b'$' | b'=' | b'!' => (number().max(0) as usize, 0),
        b'*' | b'~' | b'>' => (0, number().max(0) as usize),
        b'%' | b'|' => (0, 2 * number().max(0) as usize),
        _ => (0, 0),
    };
    let null_bulk = matches!(tag, b'$' | b'=' | b'!') && number() < 0;
    out.extend_from_slice(&line);
    if matches!(tag, b'$' | b'=' | b'!') && !null_bulk {
        out.extend_from_slice(&read_exact_bytes(stream, bodies + 2));
    }
    for _ in 0..children {
        read_reply_into(stream, out);
    }
}

/// Sends one command as a RESP array and returns the raw bytes of its reply.
pub fn call(stream: &mut TcpStream, args: &[&[u8]]) -> Vec<u8> {
    stream.write_all(&resp(args)).expect("write");
    read_reply(stream)
}

/// [`call`] with text arguments, returning the reply as (lossy) text: handy in assertions.
pub fn call_str(stream: &mut TcpStream, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
    String::from_utf8_lossy(&call(stream, &args)).into_owned()
}

/// Whether process `pid` has a handler installed for `signal` (its bit in `SigCgt` of `/proc/<pid>/status`).
pub fn catches_signal(pid: u32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("SigCgt in /proc status");
    mask & (1 << (signal - 1)) != 0
}

// --- replication ---
/// [`call_str`] for a connection that may die under the test (a killed primary, a proxy that closes
/// on a command it does not pass on): the reply as text, or `None` when the connection failed.
pub fn try_call(stream: &mut TcpStream, args: &[&str]) -> Option<String> {
    let words: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
    stream.write_all(&resp(&words)).ok()?;
    let mut out = Vec::new();
    try_read_reply(stream, &mut out)?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn try_read_reply(stream: &mut TcpStream, out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let mut byte = [0u8; 1];
    while !out[start..].ends_with(b"\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        out.push(byte[0]);
    }
    let header = String::from_utf8_lossy(&out[start + 1..out.len() - 2]).into_owned();
    let number: i64 = header.parse().unwrap_or(-1);
    match out[start] {
        b'$' if number >= 0 => {
            let mut body = vec![0; number as usize + 2];
            stream.read_exact(&mut body).ok()?;
            out.extend_from_slice(&body);
        }
        b'*' => {
            for _ in 0..number.max(0) {
                try_read_reply(stream, out)?;
            }
        }
        _ => {}
    }
    Some(())
}

/// Runs a Python script (`python3 -c`) with `args`, for checks through redis-py; `None`, with the
/// reason printed, when python3 or redis-py is not installed. Fails the test when the script fails.
pub fn run_redis_py(script: &str, args: &[String]) -> Option<String> {
    let output = match Command::new("python3").arg("-c").arg(script).args(args).output() {
        Ok(output) => output,
        Err(err) => {
            eprintln!("redis-py check skipped: no python3 ({err})");
            return None;
        }
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if stderr.contains("No module named 'redis'") {
        eprintln!("redis-py check skipped: redis-py not installed");
        return None;
    }
    assert!(output.status.success(), "redis-py: {stdout}{stderr}");
    Some(stdout.into_owned())
}

/// A program a test runs beside the servers (redis-server, a sentinel, a proxy), on a port of its
/// own, killed when dropped.
pub struct Daemon {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Daemon {
    /// Runs `command` with its output discarded and waits until `port` accepts connections; `None`,
    /// with the reason printed, when `what` cannot be run (not installed: the test skips).
    pub fn start(mut command: Command, port: u16, what: &str) -> Option<Daemon> {
        let spawned = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(err) => {
                eprintln!("skipped: cannot run {what} ({err})");
                return None;
            }
        };
        let daemon = Daemon { child, port };
        retry_until(&format!("{what} to accept connections"), || TcpStream::connect(("127.0.0.1", port)).ok());
        Some(daemon)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 now, for a program that does not take `--port 0`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// An empty directory for one test's files, under the system's temp dir, named after `name` and this
/// test process (so parallel test binaries and reruns never share one); whatever a previous run left
/// there is removed first.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tinykv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test directory");
    dir
}
