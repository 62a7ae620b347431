//! `tinykv-cli`: TinyKV's command-line client, with redis-cli's flags and output.
//!
//! ```text
//! tinykv-cli [-h HOST] [-p PORT] [-a PASSWORD] [--user USER] [-n DB] [-u URL] [-2|-3] [-e]
//!            [--raw|--no-raw|--csv|--json|--quoted-json] [-r N] [-i SECS] [-x]
//!            [--scan [--pattern P] [--count N] [--type T]] [--bigkeys] [--memkeys] [--stat]
//!            [--latency|--latency-history|--latency-dist [--mono]] [--hotkeys] [--show-pushes yn]
//!            [--pipe [--pipe-timeout SECS]] [COMMAND [ARG...]]
//! ```
//!
//! With a COMMAND it runs it and exits (one-shot); with none it reads commands from stdin (batch) or, on a
//! terminal, starts an interactive REPL. Every mode goes through [`session::Session`], the one
//! execute-and-print path; the tool modes (`--scan`, `--bigkeys`, ...) live in [`tools`]. A flag it does
//! not know is an error (exit 2): it is never sent to the server as a command.

mod args;
mod client;
mod format;
mod help;
mod repl;
mod session;
mod tools;
mod url;

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgAction, Parser};
use tokio::sync::mpsc;

use crate::args::SplitError;
use crate::client::{Resp3, Target};
use crate::format::Style;
use crate::session::{Printer, Session};

/// How many parsed batch lines may wait for the network before stdin reading pauses.
const BATCH_QUEUE: usize = 4096;

/// The port when neither a flag, a URL nor the environment names one.
const DEFAULT_PORT: u16 = 4040;

/// Command-line flags, as redis-cli spells them: `-h` is the host, so help is `--help` only.
#[derive(Debug, Parser)]
#[command(name = "tinykv-cli", version, about = "TinyKV's command-line client", disable_help_flag = true)]
struct Cli {
    /// Server host name or address [env: TINYKV_HOST] [default: 127.0.0.1].
    #[arg(short = 'h', long)]
    host: Option<String>,
    /// Server port [env: TINYKV_PORT] [default: 4040].
    #[arg(short, long)]
    port: Option<u16>,
    /// Password, sent with AUTH after connecting [env: TINYKV_PASSWORD].
    #[arg(short = 'a', long = "pass")]
    password: Option<String>,
    /// ACL user name, sent as `AUTH user password` (needs a password).
    #[arg(long)]
    user: Option<String>,
    /// Don't warn that a password on the command line may be seen by others.
    #[arg(long = "no-auth-warning")]
    no_auth_warning: bool,
    /// Server URI: redis://[user:password@]host[:port][/db] [env: TINYKV_URL]; -h, -p, -a, -n given
    /// as flags win over its parts.
    #[arg(short = 'u', value_name = "URL")]
    url: Option<String>,
    /// Database number, selected after connecting.
    #[arg(short = 'n', value_name = "DB", allow_negative_numbers = true)]
    db: Option<i64>,
    /// Speak RESP2 (the default; with --json, keeps replies RESP2-shaped).
    #[arg(short = '2', conflicts_with = "resp3")]
    resp2: bool,
    /// Switch to RESP3 with HELLO 3 after connecting.
    #[arg(short = '3')]
    resp3: bool,
    /// One-shot: on an error reply, print it on stderr only and exit 1 at once (as redis-cli -e).
    /// Without -e an error reply is printed on stdout (and stderr when raw) and the exit code is 1 too.
    #[arg(short = 'e')]
    exit_on_error: bool,
    /// Print replies raw (the default when stdout is not a terminal).
    #[arg(long, overrides_with_all = ["no_raw", "csv", "json", "quoted_json"])]
    raw: bool,
    /// Print replies formatted for people even when stdout is not a terminal.
    #[arg(long = "no-raw", overrides_with_all = ["raw", "csv", "json", "quoted_json"])]
    no_raw: bool,
    /// Print replies as CSV.
    #[arg(long, overrides_with_all = ["raw", "no_raw", "json", "quoted_json"])]
    csv: bool,
    /// Print replies as JSON (asks for RESP3 so maps become objects; -2 keeps RESP2).
    #[arg(long, overrides_with_all = ["raw", "no_raw", "csv", "quoted_json"])]
    json: bool,
    /// Like --json, with ASCII-only strings.
    #[arg(long = "quoted-json", overrides_with_all = ["raw", "no_raw", "csv", "json"])]
    quoted_json: bool,
    /// Raw output: what separates the elements of an array (redis-cli's `-d`).
    #[arg(short = 'd', value_name = "DELIMITER", default_value = "\n")]
    element_delimiter: String,
    /// Raw output: what follows each reply (redis-cli's `-D`).
    #[arg(short = 'D', value_name = "DELIMITER", default_value = "\n")]
    reply_delimiter: String,
    /// Run the command N times (-1: until interrupted).
    #[arg(short = 'r', value_name = "N", default_value_t = 1, allow_negative_numbers = true)]
    repeat: i64,
    /// Wait SECS seconds (fractions allowed) between repeats; the period of --stat and --scan, and of
    /// --bigkeys/--memkeys per 100 SCANs.
    #[arg(short = 'i', value_name = "SECS", value_parser = parse_interval)]
    interval: Option<Duration>,
    /// Read the command's last argument from stdin (all of it, bytes as they are).
    #[arg(short = 'x')]
    last_arg_from_stdin: bool,
    /// List every key with SCAN.
    #[arg(long)]
    scan: bool,
    /// The key pattern for --scan, --bigkeys and --memkeys.
    #[arg(long, value_name = "PATTERN")]
    pattern: Option<String>,
    /// SCAN's COUNT hint for --scan, --bigkeys and --memkeys.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Only keys of this type, for --scan (SCAN ... TYPE).
    #[arg(long = "type", value_name = "TYPE")]
    key_type: Option<String>,
    /// Sample the keyspace for the keys with the most elements.
    #[arg(long)]
    bigkeys: bool,
    /// Sample the keyspace for the keys using the most memory (MEMORY USAGE).
    #[arg(long)]
    memkeys: bool,
    /// With --memkeys: how many elements MEMORY USAGE samples.
    #[arg(long = "memkeys-samples", value_name = "N")]
    memkeys_samples: Option<u64>,
    /// Print rolling stats about the server every -i seconds (default 1).
    #[arg(long)]
    stat: bool,
    /// Sample the round-trip latency of PING.
    #[arg(long)]
    latency: bool,
    /// Like --latency, starting a new line every -i seconds (default 15).
    #[arg(long = "latency-history")]
    latency_history: bool,
    /// Send stdin (RESP or inline commands) to the server as it is; count the replies.
    #[arg(long)]
    pipe: bool,
    /// With --pipe: give up if no reply comes for SECS seconds after stdin ended (0: wait for ever).
    #[arg(long = "pipe-timeout", value_name = "SECS", default_value_t = 30)]
    pipe_timeout: u64,
    /// Sample the keyspace for the most frequently used keys (OBJECT FREQ: needs an LFU maxmemory-policy).
    #[arg(long)]
    hotkeys: bool,
    /// Show PING latency as a spectrum, one line every -i seconds (default 1); needs 256 xterm colours.
    #[arg(long = "latency-dist")]
    latency_dist: bool,
    /// With --latency-dist: a grey palette instead of colours.
    #[arg(long)]
    mono: bool,
    /// Whether RESP3 push frames that arrive between replies (client tracking invalidations) are
    /// printed: y[es] or n[o] [default: yes on a terminal, no otherwise].
    #[arg(long = "show-pushes", value_name = "yn")]
    show_pushes: Option<String>,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// The command and its arguments; without one, commands come from stdin or the REPL.
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
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

/// Where to connect: flags win, then the URL (`-u` or `TINYKV_URL`), then `TINYKV_*`, then the defaults.
fn target(cli: &Cli) -> anyhow::Result<Target> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let url = match cli.url.clone().or_else(|| env("TINYKV_URL")) {
        Some(url) => Some(url::parse(&url)?),
        None => None,
    };
    let url = url.unwrap_or_default();
    let port = match cli.port.or(url.port) {
        Some(port) => port,
        None => match env("TINYKV_PORT") {
            Some(port) => port.parse().with_context(|| format!("TINYKV_PORT is not a port: {port}"))?,
            None => DEFAULT_PORT,
        },
    };
    let resp3 = if cli.resp3 {
        Resp3::Required
    } else if (cli.json || cli.quoted_json) && !cli.resp2 {
        Resp3::Preferred
    } else {
        Resp3::Off
    };
    Ok(Target {
        host: cli.host.clone().or(url.host).or_else(|| env("TINYKV_HOST")).unwrap_or_else(|| "127.0.0.1".to_owned()),
        port,
        user: cli.user.clone().or(url.user),
        password: cli.password.clone().or(url.password).or_else(|| env("TINYKV_PASSWORD")),
        db: cli.db.or(url.db).unwrap_or(0),
        resp3,
    })
}

/// Picks the output style and the mode, runs it, and turns the outcome into the exit code.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let style = if cli.csv {
        Style::Csv
    } else if cli.json {
        Style::Json
    } else if cli.quoted_json {
        Style::QuotedJson
    } else if cli.raw {
        Style::Raw
    } else if cli.no_raw || io::stdout().is_terminal() {
        Style::Pretty
    } else {
        Style::Raw
    };
    format::set_raw_delimiters(cli.element_delimiter.as_bytes(), cli.reply_delimiter.as_bytes());
    let target = target(&cli)?;
    // redis-cli's warning, for a password others can read in `ps`; not for one from the environment.
    let password_in_argv = cli.password.is_some() || cli.url.as_deref().is_some_and(|url| url.contains('@'));
    if password_in_argv && !cli.no_auth_warning {
        eprintln!("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.");
    }
    let show_pushes = show_pushes(cli.show_pushes.as_deref(), io::stdout().is_terminal());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;

    let tool = tools::Options {
        style,
        interval: cli.interval,
        pattern: cli.pattern.clone(),
        count: cli.count,
        key_type: cli.key_type.clone(),
        memkeys_samples: cli.memkeys_samples,
        history: cli.latency_history,
        pipe_timeout: cli.pipe_timeout,
        mono: cli.mono,
    };
    // redis-cli's order when several are given: the first that applies runs.
    let chosen = if cli.latency || cli.latency_history {
        Some(tools::Tool::Latency)
    } else if cli.latency_dist {
        Some(tools::Tool::LatencyDist)
    } else if cli.pipe {
        Some(tools::Tool::Pipe)
    } else if cli.bigkeys {
        Some(tools::Tool::BigKeys)
    } else if cli.memkeys || cli.memkeys_samples.is_some() {
        Some(tools::Tool::MemKeys)
    } else if cli.hotkeys {
        Some(tools::Tool::HotKeys)
    } else if cli.stat {
        Some(tools::Tool::Stat)
    } else if cli.scan {
        Some(tools::Tool::Scan)
    } else {
        None
    };
    if let Some(tool_mode) = chosen {
        return Ok(runtime.block_on(tools::run(tool_mode, &target, &tool)));
    }

    if !cli.command.is_empty() {
        let mut args: Vec<Vec<u8>> = cli.command.iter().map(|arg| arg.clone().into_encoded_bytes()).collect();
        if cli.last_arg_from_stdin {
            let mut last = Vec::new();
            io::stdin().read_to_end(&mut last).context("reading the last argument from stdin")?;
            args.push(last);
        }
        let mut printer = Printer::new(style, true);
        printer.set_exit_on_error(cli.exit_on_error);
        printer.set_show_pushes(show_pushes);
        let mut session = Session::new(target, printer);
        runtime.block_on(one_shot(&mut session, &args, cli.repeat, cli.interval));
        finish(session.printer, true)
    } else if cli.last_arg_from_stdin {
        bail!("-x needs a command to append stdin to");
    } else if io::stdin().is_terminal() {
        let mut printer = Printer::new(style, false);
        printer.set_show_pushes(show_pushes);
        let mut session = Session::new(target, printer);
        session.interruptible = true;
        let session = repl::run(&runtime, session, history_path())?;
        // Error replies in a REPL were answered on screen; leaving it normally is success, as in redis-cli.
        finish(session.printer, false)
    } else {
        let mut printer = Printer::new(style, false);
        printer.set_show_pushes(show_pushes);
        let mut session = Session::new(target, printer);
        runtime.block_on(session.batch(read_stdin_lines()));
        finish(session.printer, true)
    }
}

/// redis-cli's `--show-pushes`: a value starting with `y` or `n` (any case) decides; anything else is
/// reported and the default stays (on when stdout is a terminal, as redis-cli's `isatty` check).
fn show_pushes(flag: Option<&str>, terminal: bool) -> bool {
    match flag.map(|value| value.chars().next().map(|c| c.to_ascii_lowercase())) {
        None => terminal,
        Some(Some('n')) => false,
        Some(Some('y')) => true,
        Some(_) => {
            eprintln!("Unknown --show-pushes value '{}' (valid: '[y]es', '[n]o')", flag.unwrap_or_default());
            terminal
        }
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
        if !session.is_connected() || session.printer.stopped() {
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
