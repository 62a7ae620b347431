//! The one execute-and-print path that one-shot, batch and REPL modes share.
//!
//! A [`Session`] owns the connection (opening it again when it was lost) and a [`Printer`] that renders
//! replies in the chosen [`Style`] and remembers whether anything failed, which becomes the exit code.

use std::fmt::Display;
use std::io::{self, BufWriter, Stdout, Write};

use tinykv_proto::Reply;
use tokio::sync::mpsc;

use crate::args::SplitError;
use crate::client::{Connection, Target};
use crate::format::{render, Style};

/// Renders replies to stdout and problems to stderr, and keeps score.
pub struct Printer {
    style: Style,
    /// One-shot raw mode also copies error replies to stderr, so scripts see them there.
    errors_to_stderr: bool,
    out: BufWriter<Stdout>,
    failed: bool,
    /// The first failure to write stdout (a closed pipe): after it nothing more is written.
    write_error: Option<io::Error>,
}

impl Printer {
    /// A printer in `style`; `errors_to_stderr` copies raw error replies to stderr as well.
    pub fn new(style: Style, errors_to_stderr: bool) -> Printer {
        let errors_to_stderr = errors_to_stderr && style == Style::Raw;
        Printer { style, errors_to_stderr, out: BufWriter::new(io::stdout()), failed: false, write_error: None }
    }

    /// Prints one reply; an error reply marks the run as failed.
    pub fn reply(&mut self, reply: &Reply) {
        if let Reply::Error(text) = reply {
            self.failed = true;
            if self.errors_to_stderr {
                self.flush();
                eprintln!("{text}");
            }
        }
        self.write(&render(reply, self.style));
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

/// A server to talk to, the connection to it if one is open, and where the output goes.
pub struct Session {
    target: Target,
    conn: Option<Connection>,
    /// Output and the failure score.
    pub printer: Printer,
}

impl Session {
    /// A session that connects on first use.
    pub fn new(target: Target, printer: Printer) -> Session {
        Session { target, conn: None, printer }
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
    pub async fn run(&mut self, args: &[Vec<u8>]) {
        let Some(conn) = self.connect().await else { return };
        match conn.execute(args).await {
            Ok(reply) => {
                self.printer.reply(&reply);
                self.printer.flush();
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
            self.printer.reply(reply);
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
            .pipeline(lines, |outcome, more| {
                match outcome {
                    Ok(reply) => printer.reply(&reply),
                    Err(err) => printer.problem(format_args!("Invalid argument(s): {err}")),
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
