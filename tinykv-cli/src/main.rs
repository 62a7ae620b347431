//! `tinykv-cli`: TinyKV's command-line client.
//!
//! ```text
//! tinykv-cli [-h HOST] [-p PORT] [-a PASSWORD] [--raw|--no-raw] [-r N] [-i SECS] [-x] [COMMAND [ARG...]]
//! ```
//!
//! With a COMMAND it runs it and exits (one-shot); with none it reads commands from stdin (batch) or, on a
//! terminal, starts an interactive REPL. Every mode goes through [`session::Session`], the one
//! execute-and-print path.

mod args;
mod client;
mod format;
mod help;
mod repl;
mod session;

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgAction, Parser};
use tokio::sync::mpsc;

use crate::args::SplitError;
use crate::client::Target;
use crate::format::Style;
use crate::session::{Printer, Session};

/// How many parsed batch lines may wait for the network before stdin reading pauses.
const BATCH_QUEUE: usize = 4096;

/// Command-line flags, as redis-cli spells them: `-h` is the host, so help is `--help` only.
#[derive(Debug, Parser)]
#[command(name = "tinykv-cli", version, about = "TinyKV's command-line client", disable_help_flag = true)]
struct Cli {
    /// Server host name or address.
    #[arg(short = 'h', long, env = "TINYKV_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short, long, env = "TINYKV_PORT", default_value_t = 4040)]
    port: u16,
    /// Password, sent with AUTH after connecting.
    #[arg(short = 'a', long = "pass", env = "TINYKV_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Print replies raw (the default when stdout is not a terminal).
    #[arg(long, overrides_with = "no_raw")]
    raw: bool,
    /// Print replies formatted for people even when stdout is not a terminal.
    #[arg(long = "no-raw", overrides_with = "raw")]
    no_raw: bool,
    /// Run the command N times (-1: until interrupted).
    #[arg(short = 'r', value_name = "N", default_value_t = 1, allow_negative_numbers = true)]
    repeat: i64,
    /// Wait SECS seconds (fractions allowed) between repeats.
    #[arg(short = 'i', value_name = "SECS", value_parser = parse_interval)]
    interval: Option<Duration>,
    /// Read the command's last argument from stdin (all of it, bytes as they are).
    #[arg(short = 'x')]
    last_arg_from_stdin: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// The command and its arguments; without one, commands come from stdin or the REPL.
    #[arg(value_name = "COMMAND", trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.parse().map_err(|_| format!("not a number of seconds: {text}"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a usable number of seconds: {text}"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` gives the whole context chain on one line, without anyhow's backtrace.
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Picks the output style and the mode, runs it, and turns the outcome into the exit code.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let style = if cli.raw {
        Style::Raw
    } else if cli.no_raw || io::stdout().is_terminal() {
        Style::Pretty
    } else {
        Style::Raw
    };
    let target = Target { host: cli.host.clone(), port: cli.port, password: cli.password.clone() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;

    if !cli.command.is_empty() {
        let mut args: Vec<Vec<u8>> = cli.command.iter().map(|arg| arg.clone().into_encoded_bytes()).collect();
        if cli.last_arg_from_stdin {
            let mut last = Vec::new();
            io::stdin().read_to_end(&mut last).context("reading the last argument from stdin")?;
            args.push(last);
        }
        let mut session = Session::new(target, Printer::new(style, true));
        runtime.block_on(one_shot(&mut session, &args, cli.repeat, cli.interval));
        finish(session.printer, true)
    } else if cli.last_arg_from_stdin {
        bail!("-x needs a command to append stdin to");
    } else if io::stdin().is_terminal() {
        let session = Session::new(target, Printer::new(style, false));
        let session = repl::run(&runtime, session, history_path())?;
        // Error replies in a REPL were answered on screen; leaving it normally is success, as in redis-cli.
        finish(session.printer, false)
    } else {
        let mut session = Session::new(target, Printer::new(style, false));
        runtime.block_on(session.batch(read_stdin_lines()));
        finish(session.printer, true)
    }
}

/// Flushes the output and picks the exit code: 1 if stdout failed, or if `errors_fail` and an error reply
/// or a connection problem was seen.
fn finish(mut printer: Printer, errors_fail: bool) -> anyhow::Result<ExitCode> {
    printer.flush();
    if let Some(err) = printer.write_error() {
        return Err(err).context("writing to stdout");
    }
    Ok(if errors_fail && printer.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Runs one command `repeat` times (forever if negative), `interval` apart; stops early if the
/// connection cannot be made or is lost.
async fn one_shot(session: &mut Session, args: &[Vec<u8>], repeat: i64, interval: Option<Duration>) {
    let mut done = 0;
    while repeat < 0 || done < repeat {
        if done > 0 {
            if let Some(interval) = interval {
                tokio::time::sleep(interval).await;
            }
        }
        session.run(args).await;
        if !session.is_connected() {
            return;
        }
        done += 1;
    }
}

/// Reads stdin line by line on its own thread (stdin reads block) and hands over each non-blank line,
/// split into arguments, in order. A bounded queue keeps a huge input from being read ahead of the network.
fn read_stdin_lines() -> mpsc::Receiver<Result<Vec<Vec<u8>>, SplitError>> {
    let (tx, rx) = mpsc::channel(BATCH_QUEUE);
    std::thread::spawn(move || {
        for line in io::stdin().lock().split(b'\n') {
            let mut line = match line {
                Ok(line) => line,
                Err(err) => {
                    eprintln!("Error reading stdin: {err}");
                    break;
                }
            };
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let item = args::split(&line);
            if matches!(&item, Ok(words) if words.is_empty()) {
                continue;
            }
            if tx.blocking_send(item).is_err() {
                break; // the session ended (the connection failed): nothing more to send
            }
        }
    });
    rx
}

/// `TINYKV_HISTFILE` if set (empty: no history file), else `~/.tinykv_history`.
fn history_path() -> Option<PathBuf> {
    match std::env::var_os("TINYKV_HISTFILE") {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| PathBuf::from(home).join(".tinykv_history")),
    }
}
