//! redis-cli's tool modes, each printing what redis-cli prints, line for line:
//!
//! ```text
//! --scan [--pattern P] [--count N] [--type T]   every matching key, one per line
//! --bigkeys / --memkeys                         the biggest key of each type, then a summary
//! --stat                                        a line of server figures every -i seconds
//! --hotkeys                                     the keys with the highest LFU counters (OBJECT FREQ)
//! --latency / --latency-history                 PING round trips: min, max, avg
//! --latency-dist [--mono]                       PING round trips as a coloured spectrum
//! --pipe                                        stdin sent as is; replies counted
//! ```
//!
//! Each runs on its own connection (opened as any other: AUTH, SELECT, HELLO 3) and decides its exit code.

mod bigkeys;
mod hotkeys;
mod latency;
mod latency_dist;
mod pipe;
mod scan;
mod stat;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crate::client::{Connection, Target};
use crate::format::Style;

/// Which tool to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `--scan`.
    Scan,
    /// `--bigkeys`.
    BigKeys,
    /// `--memkeys`.
    MemKeys,
    /// `--stat`.
    Stat,
    /// `--latency` and `--latency-history`.
    Latency,
    /// `--pipe`.
    Pipe,
    /// `--hotkeys`.
    HotKeys,
    /// `--latency-dist`.
    LatencyDist,
}

/// The flags the tools read.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output style: `--scan` quotes keys only when pretty; `--latency` has a line format per style.
    pub style: Style,
    /// `-i`.
    pub interval: Option<Duration>,
    /// `--pattern`.
    pub pattern: Option<String>,
    /// `--count`.
    pub count: Option<u64>,
    /// `--type`.
    pub key_type: Option<String>,
    /// `--memkeys-samples`.
    pub memkeys_samples: Option<u64>,
    /// `--latency-history`.
    pub history: bool,
    /// `--pipe-timeout`, seconds; 0 waits for ever.
    pub pipe_timeout: u64,
    /// `--mono`: `--latency-dist` in greys.
    pub mono: bool,
}

/// A tool's reason to stop with exit code 1; the message is printed on stderr as it is (redis-cli's words).
#[derive(Debug)]
pub struct Fail(pub String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(err: E) -> Self {
        Fail(err.to_string())
    }
}

/// Connects and runs `tool`; prints its failure, if any, and returns the exit code.
pub async fn run(tool: Tool, target: &Target, options: &Options) -> ExitCode {
    let conn = match Connection::open(target).await {
        Ok(conn) => conn,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match tool {
        Tool::Scan => scan::run(conn, options).await,
        Tool::BigKeys => bigkeys::run(conn, options, false).await,
        Tool::MemKeys => bigkeys::run(conn, options, true).await,
        Tool::Stat => stat::run(conn, options).await,
        Tool::Latency => latency::run(conn, options).await,
        Tool::Pipe => pipe::run(conn, options).await,
        Tool::HotKeys => hotkeys::run(conn, options).await,
        Tool::LatencyDist => latency_dist::run(conn, options).await,
    };
    let _ = std::io::stdout().flush();
    match outcome {
        Ok(code) => code,
        Err(Fail(message)) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout and flushes (a tool's output is watched as it comes); a closed pipe (`| head`) ends
/// the tool quietly, as it would end redis-cli.
fn out(text: impl AsRef<[u8]>) -> Result<(), Fail> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_ref()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(err) => Err(Fail(format!("Error writing to stdout: {err}"))),
    }
}

/// `DBSIZE`, with redis-cli's messages when it fails: the total the sampling tools' percentages use.
async fn dbsize(conn: &mut Connection) -> Result<u64, Fail> {
    use tinykv_proto::Reply;
    match conn.execute(&["DBSIZE"]).await? {
        Reply::Integer(n) => Ok(n.max(0) as u64),
        Reply::Error(text) => Err(Fail(format!("Couldn't determine DBSIZE: {text}"))),
        _ => Err(Fail("Non INTEGER response from DBSIZE!".to_owned())),
    }
}

/// A key as redis-cli's `sdscatrepr` quotes it in the sampling tools' lines: `"user:1"`.
fn quoted(key: &[u8]) -> String {
    let mut text = Vec::new();
    crate::format::repr(key, &mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// `SCAN cursor [MATCH p] [COUNT n] [TYPE t]`, with redis-cli's checks on the reply: the next cursor and
/// the keys of this batch.
async fn scan_batch(
    conn: &mut Connection,
    cursor: &[u8],
    options: &Options,
    with_type: bool,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), Fail> {
    use tinykv_proto::Reply;
    let mut args: Vec<Vec<u8>> = vec![b"SCAN".to_vec(), cursor.to_vec()];
    if let Some(pattern) = &options.pattern {
        args.extend([b"MATCH".to_vec(), pattern.clone().into_bytes()]);
    }
    if let Some(count) = options.count {
        args.extend([b"COUNT".to_vec(), count.to_string().into_bytes()]);
    }
    if let (Some(key_type), true) = (&options.key_type, with_type) {
        args.extend([b"TYPE".to_vec(), key_type.clone().into_bytes()]);
    }
    match conn.execute(&args).await? {
        Reply::Error(text) => Err(Fail(format!("SCAN error: {text}"))),
        Reply::Array(items) if items.len() == 2 => {
            let mut items = items.into_iter();
            let (Some(Reply::Bulk(cursor)), Some(Reply::Array(keys))) = (items.next(), items.next()) else {
                return Err(Fail("Invalid reply from SCAN!".to_owned()));
            };
            let keys = keys
                .into_iter()
                .map(|key| match key {
                    Reply::Bulk(bytes) => Ok(bytes.to_vec()),
                    _ => Err(Fail("Invalid reply from SCAN!".to_owned())),
                })
                .collect::<Result<_, _>>()?;
            Ok((cursor.to_vec(), keys))
        }
        Reply::Array(_) => Err(Fail("Invalid element count from SCAN!".to_owned())),
        _ => Err(Fail("Non ARRAY response from SCAN!".to_owned())),
    }
}
