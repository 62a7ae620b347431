//! The one execute-and-print path that one-shot, batch and REPL modes share.
//!
//! A [`Session`] owns the connection (opening it again when it was lost) and a [`Printer`] that renders
//! replies in the chosen [`Style`] and remembers whether anything failed, which becomes the exit code.

use std::fmt::Display;
use std::io::{self, BufWriter, Stdout, Write};
use std::sync::Arc;

use tinykv_proto::Reply;
use tokio::sync::mpsc;

use crate::args::SplitError;
use crate::client::{Connection, Incoming, Target};
use crate::format::{is_verbatim_command, render, render_verbatim, Style};
use crate::help::{self, Docs};

/// Renders replies to stdout and problems to stderr, and keeps score.
pub struct Printer {
    style: Style,
    /// One-shot raw mode also copies error replies to stderr, so scripts see them there.
    errors_to_stderr: bool,
    out: BufWriter<Stdout>,
    failed: bool,
    /// The first failure to write stdout (a closed pipe): after it nothing more is written.
    write_error: Option<io::Error>,
    /// `-e`: an error reply goes to stderr only and stops the run.
    exit_on_error: bool,
    /// Set once an error reply was seen under `exit_on_error`.
    stopped: bool,
    /// `--show-pushes`: whether RESP3 push frames that arrive between replies are printed.
    show_pushes: bool,
}

impl Printer {
    /// A printer in `style`; `errors_to_stderr` copies raw error replies to stderr as well.
    pub fn new(style: Style, errors_to_stderr: bool) -> Printer {
        let errors_to_stderr = errors_to_stderr && style == Style::Raw;
        Printer {
            style,
            errors_to_stderr,
            out: BufWriter::new(io::stdout()),
            failed: false,
            write_error: None,
            exit_on_error: false,
            stopped: false,
            show_pushes: false,
        }
    }

    /// redis-cli's `--show-pushes`: print push frames that arrive between replies (client tracking
    /// invalidations) instead of dropping them.
    pub fn set_show_pushes(&mut self, on: bool) {
        self.show_pushes = on;
    }

    /// Prints a push frame that arrived between replies, as redis-cli's push handler does: on a terminal
    /// an invalidation is one `-> invalidate: 'k1', 'k2'` line, anything else prints as a reply would in
    /// this style. Nothing when pushes are not shown; never a failure.
    pub fn push(&mut self, push: &Reply) {
        if !self.show_pushes {
            return;
        }
        match (self.style, invalidated_keys(push)) {
            (Style::Pretty, Some(keys)) => {
                let mut line = b"-> invalidate: ".to_vec();
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        line.extend_from_slice(b", ");
                    }
                    // redis-cli prints the key with `%s`: as it is, up to a NUL byte.
                    let end = key.iter().position(|&b| b == 0).unwrap_or(key.len());
                    line.push(b'\'');
                    line.extend_from_slice(&key[..end]);
                    line.push(b'\'');
                }
                line.push(b'\n');
                self.write(&line);
            }
            _ => self.write(&render(push, self.style)),
        }
    }

    /// redis-cli's `-e`: an error reply is printed on stderr only (not stdout), and [`Printer::stopped`]
    /// tells the caller to exit 1 at once.
    pub fn set_exit_on_error(&mut self, on: bool) {
        self.exit_on_error = on;
    }

    /// Whether `-e` saw an error reply, so nothing more should run.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The style replies are printed in.
    pub fn style(&self) -> Style {
        self.style
    }

    /// Prints one reply; an error reply marks the run as failed.
    pub fn reply(&mut self, reply: &Reply) {
        self.reply_as(reply, false);
    }

    /// Prints one reply, as redis-cli prints `INFO`-like text (`verbatim`: as it is, in every style) or
    /// in this printer's style.
    pub fn reply_as(&mut self, reply: &Reply, verbatim: bool) {
        if let Reply::Error(text) = reply {
            self.failed = true;
            if self.exit_on_error {
                self.stopped = true;
                self.flush();
                eprintln!("{text}");
                return;
            }
            if self.errors_to_stderr {
                self.flush();
                eprintln!("{text}");
            }
        }
        if verbatim {
            self.write(&render_verbatim(reply));
        } else {
            self.write(&render(reply, self.style));
        }
    }

    /// Prints text on stdout as is (help, in the REPL).
    pub fn text(&mut self, text: &str) {
        self.write(text.as_bytes());
    }

    /// Reports a local problem (no connection, a line that can't be split) on stderr and marks the run
    /// as failed. Stdout is flushed first so the two streams interleave in order on a terminal.
    pub fn problem(&mut self, message: impl Display) {
        self.failed = true;
        self.flush();
        eprintln!("{message}");
    }

    /// Whether any error reply or problem was seen.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Whether stdout still takes output (it stops when the reader of a pipe goes away).
    pub fn is_writable(&self) -> bool {
        self.write_error.is_none()
    }

    /// Pushes buffered output out.
    pub fn flush(&mut self) {
        if self.write_error.is_none() {
            if let Err(err) = self.out.flush() {
                self.write_error = Some(err);
            }
        }
    }

    /// Why writing stdout failed, if it did; a closed pipe (`| head`) is not worth reporting.
    pub fn write_error(&mut self) -> Option<io::Error> {
        self.write_error.take().filter(|err| err.kind() != io::ErrorKind::BrokenPipe)
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.write_error.is_none() {
            if let Err(err) = self.out.write_all(bytes) {
                self.write_error = Some(err);
            }
        }
    }
}

/// The keys of a client tracking invalidation, `>2 invalidate [k1, k2]` (not the `>2 invalidate _`
/// of a flush, which prints as any other push), or `None`.
fn invalidated_keys(push: &Reply) -> Option<Vec<&[u8]>> {
    let Reply::Push(items) = push else { return None };
    let [Reply::Bulk(kind), Reply::Array(keys)] = items.as_slice() else { return None };
    if !kind.starts_with(b"invalidate") {
        return None;
    }
    keys.iter()
        .map(|key| match key {
            Reply::Bulk(key) => Some(key.as_ref()),
            _ => None,
        })
        .collect()
}

/// A server to talk to, the connection to it if one is open, and where the output goes.
pub struct Session {
    target: Target,
    conn: Option<Connection>,
    /// Output and the failure score.
    pub printer: Printer,
    /// Whether Ctrl-C ends a reading mode (`SUBSCRIBE`, `MONITOR`) and returns: true in the REPL. In
    /// one-shot mode Ctrl-C ends the process, as in redis-cli.
    pub interruptible: bool,
    /// The server's `COMMAND DOCS`, fetched once (when the REPL connects, or the first time help needs a
    /// command TinyKV's table lacks); shared with the REPL's completion and hints.
    docs: Docs,
}

/// The commands after which the server sends messages unasked until told to stop (or Ctrl-C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`: announced with `Reading messages...`.
    Messages,
    /// `MONITOR`: every command the server runs, one line each.
    Monitor,
}

impl Reading {
    fn of(args: &[Vec<u8>]) -> Option<Reading> {
        let name = args.first()?.to_ascii_lowercase();
        match name.as_slice() {
            b"subscribe" | b"psubscribe" | b"ssubscribe" => Some(Reading::Messages),
            b"monitor" => Some(Reading::Monitor),
            _ => None,
        }
    }
}

impl Session {
    /// A session that connects on first use.
    pub fn new(target: Target, printer: Printer) -> Session {
        Session { target, conn: None, printer, interruptible: false, docs: Docs::default() }
    }

    /// Where this session connects.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Whether a connection is open (as far as is known).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The open connection, opening it first if needed; a failure is reported on stderr (and
    /// counts as a failure for the exit code) and gives `None`.
    pub async fn connect(&mut self) -> Option<&mut Connection> {
        if self.conn.is_none() {
            match Connection::open(&self.target).await {
                Ok(conn) => self.conn = Some(conn),
                Err(err) => {
                    self.printer.problem(err);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }

    /// Sends one command and prints its reply (an error reply counts as a failure for the exit
    /// code). A lost connection is reported and forgotten; the next command connects again.
    ///
    /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` and `MONITOR` switch to a reading mode: every message is
    /// printed as it arrives, until an error reply, a lost connection or (in the REPL) Ctrl-C. A successful
    /// `SELECT` is remembered, so a reconnect returns to that database and the prompt shows it.
    pub async fn run(&mut self, args: &[Vec<u8>]) {
        if let Some(reading) = Reading::of(args) {
            return self.read_messages(args, reading).await;
        }
        if self.connect().await.is_none() {
            return;
        }
        let Session { conn: Some(conn), printer, .. } = self else { return };
        match conn.execute_with_pushes(args, |push| printer.push(&push)).await {
            Ok(reply) => {
                self.remember_db(args, &reply);
                self.printer.reply_as(&reply, is_verbatim_command(args));
                self.printer.flush();
            }
            Err(err) => {
                self.conn = None;
                self.printer.problem(err);
            }
        }
    }

    /// The database a successful `SELECT n` (or `RESET`: 0) moved this connection to.
    fn remember_db(&mut self, args: &[Vec<u8>], reply: &Reply) {
        if matches!(reply, Reply::Error(_)) {
            return;
        }
        let name = args.first().map(|name| name.to_ascii_lowercase()).unwrap_or_default();
        match (name.as_slice(), args.get(1)) {
            (b"select", Some(db)) if args.len() == 2 => {
                if let Some(db) = std::str::from_utf8(db).ok().and_then(|db| db.parse().ok()) {
                    self.target.db = db;
                }
            }
            (b"reset", None) => self.target.db = 0,
            _ => {}
        }
    }

    /// Sends a subscribing command (or `MONITOR`) and prints what the server sends from then on, as
    /// redis-cli does: `Reading messages... (press Ctrl-C to quit)` first (not in raw output, and not for
    /// `MONITOR`), then each confirmation and message, flushed at once so a `grep` downstream sees it.
    async fn read_messages(&mut self, args: &[Vec<u8>], reading: Reading) {
        let Some(conn) = self.connect().await else { return };
        if let Err(err) = conn.send(args).await {
            self.conn = None;
            self.printer.problem(err);
            return;
        }
        if reading == Reading::Messages && self.printer.style() != Style::Raw {
            self.printer.text("Reading messages... (press Ctrl-C to quit)\n");
            self.printer.flush();
        }
        let interruptible = self.interruptible;
        loop {
            let Some(conn) = self.conn.as_mut() else { return };
            let next = tokio::select! {
                next = conn.read() => next,
                // Only the REPL listens for Ctrl-C; elsewhere it ends the process, as in redis-cli.
                _ = tokio::signal::ctrl_c(), if interruptible => {
                    // The connection is still subscribed (or monitoring): drop it and start a fresh one.
                    self.conn = None;
                    self.printer.text("\n");
                    self.printer.flush();
                    self.connect().await;
                    return;
                }
            };
            match next {
                // MONITOR keeps redis-cli's push handler (subscribing modes read pushes as messages).
                Ok(push @ Reply::Push(_)) if reading == Reading::Monitor => {
                    self.printer.push(&push);
                    self.printer.flush();
                }
                Ok(reply) => {
                    let error = matches!(reply, Reply::Error(_));
                    self.printer.reply(&reply);
                    self.printer.flush();
                    if error || !self.printer.is_writable() {
                        return;
                    }
                }
                Err(err) => {
                    self.conn = None;
                    self.printer.problem(err);
                    return;
                }
            }
        }
    }

    /// The help text for the words after `help`: TinyKV's own table first, then (for commands and groups
    /// it lacks) the connected server's `COMMAND DOCS`, fetched once per session.
    pub async fn help(&mut self, words: &[String]) -> String {
        if let Some(text) = help::local_help(words) {
            return text;
        }
        if self.docs.get().is_none() && self.connect().await.is_some() {
            self.fetch_docs().await;
        }
        help::server_help(words, self.docs.get().map(Vec::as_slice).unwrap_or_default())
    }

    /// The server's documentation, once fetched: the REPL's completion and hints read it.
    pub fn docs(&self) -> Docs {
        Arc::clone(&self.docs)
    }

    /// Fetches `COMMAND DOCS` once per session if connected (a server without it gives an empty list,
    /// not asked again); not connected, or a lost connection, leaves it to the next call.
    pub async fn fetch_docs(&mut self) {
        if self.docs.get().is_some() {
            return;
        }
        let Session { conn: Some(conn), printer, .. } = self else { return };
        match conn.execute_with_pushes(&["COMMAND", "DOCS"], |push| printer.push(&push)).await {
            Ok(reply) => {
                let _ = self.docs.set(help::parse_docs(&reply));
            }
            Err(err) => {
                self.conn = None;
                self.printer.problem(err);
            }
        }
    }

    /// Notices a connection the server has closed (so the prompt can say so) and prints anything the
    /// server sent unasked. Used by the REPL before each prompt and each command.
    pub async fn check(&mut self) {
        let Some(conn) = self.conn.as_mut() else { return };
        let unasked = match conn.probe().await {
            Ok(unasked) => unasked,
            Err((_closed, unasked)) => {
                self.conn = None;
                unasked
            }
        };
        for reply in &unasked {
            match reply {
                Reply::Push(_) => self.printer.push(reply),
                _ => self.printer.reply(reply),
            }
        }
        self.printer.flush();
    }

    /// Pipelines every command from `lines` and prints each reply in order; a line that could not be
    /// split is reported in its place. A failed connection is reported like any other failure.
    pub async fn batch(&mut self, lines: mpsc::Receiver<Result<Vec<Vec<u8>>, SplitError>>) {
        if self.connect().await.is_none() {
            return;
        }
        let Session { conn: Some(conn), printer, .. } = self else { return };
        let result = conn
            .pipeline(lines, |incoming, more| {
                match incoming {
                    Incoming::Reply(Ok(reply)) => printer.reply(&reply),
                    Incoming::Reply(Err(err)) => printer.problem(format_args!("Invalid argument(s): {err}")),
                    Incoming::Push(push) => printer.push(&push),
                }
                // Caught up with the input: show what we have (stdin may be a slow producer).
                if !more {
                    printer.flush();
                }
                printer.is_writable()
            })
            .await;
        self.printer.flush();
        if let Err(err) = result {
            self.conn = None;
            self.printer.problem(err);
        }
    }
}
