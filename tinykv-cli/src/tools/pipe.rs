//! `--pipe`: stdin (RESP, or inline commands, one per line) goes to the server as it is, while the replies
//! are read and counted at the same time; error replies are printed on stderr. After stdin ends, an `ECHO`
//! of 20 random bytes is sent: its answer proves every earlier reply has arrived. Then, as redis-cli:
//!
//! ```text
//! All data transferred. Waiting for the last reply...
//! Last reply received from server.
//! errors: 0, replies: 10000
//! ```
//!
//! Exit 1 if any reply was an error, or if no reply came for `--pipe-timeout` seconds after stdin ended.

use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use tinykv_proto::Reply;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{out, Fail, Options};
use crate::client::Connection;

/// How much of stdin is read (and written) at a time.
const CHUNK: usize = 16 * 1024;
/// Chunks read ahead of the socket.
const QUEUE: usize = 64;

pub async fn run(conn: Connection, options: &Options) -> Result<ExitCode, Fail> {
    let (mut replies, mut writer) = conn.into_parts();
    let input = read_stdin();
    let magic = magic();
    let (eof_tx, eof_rx) = oneshot::channel::<()>();

    let send = async move {
        let mut input = input;
        while let Some(chunk) = input.recv().await {
            writer.write_all(&chunk?).await.map_err(|err| Fail(format!("Error writing to the server: {err}")))?;
        }
        out("All data transferred. Waiting for the last reply...\n")?;
        // The leading CRLF is an empty inline line, ignored by the server, so that garbage at the end of
        // stdin (a request cut short) is less likely to swallow the ECHO.
        let mut echo = b"\r\n*2\r\n$4\r\nECHO\r\n$20\r\n".to_vec();
        echo.extend_from_slice(&magic);
        echo.extend_from_slice(b"\r\n");
        writer.write_all(&echo).await.map_err(|err| Fail(format!("Error writing to the server: {err}")))?;
        let _ = eof_tx.send(());
        // Keep the write half open until the replies are read: closing it could end the connection early.
        std::future::pending::<()>().await;
        Ok::<(), Fail>(())
    };

    let timeout = Duration::from_secs(options.pipe_timeout);
    let receive = async {
        let (mut errors, mut replies_count) = (0u64, 0u64);
        let mut eof_rx = eof_rx;
        let mut eof = false;
        let mut last_read = Instant::now();
        loop {
            let deadline = last_read + timeout;
            tokio::select! {
                _ = &mut eof_rx, if !eof => {
                    eof = true;
                    last_read = Instant::now();
                }
                reply = replies.next() => {
                    let reply = reply.map_err(|_| Fail("Error reading replies from server".to_owned()))?;
                    last_read = Instant::now();
                    match reply {
                        Reply::Error(text) => {
                            eprintln!("{text}");
                            errors += 1;
                        }
                        // Not guarded by `eof`: the ECHO's answer can be read in the same turn
                        // as the end-of-input signal, before it (a 1-in-40 hang of 30 s in CI), and
                        // no input can hold the 20 random bytes anyway.
                        Reply::Bulk(bytes) if bytes[..] == magic[..] => {
                            out("Last reply received from server.\n")?;
                            break;
                        }
                        _ => {}
                    }
                    replies_count += 1;
                }
                _ = tokio::time::sleep_until(deadline), if eof && !timeout.is_zero() => {
                    eprintln!("No replies for {} seconds: exiting.", options.pipe_timeout);
                    errors += 1;
                    break;
                }
            }
        }
        Ok::<(u64, u64), Fail>((errors, replies_count))
    };

    tokio::pin!(receive);
    let (errors, replies) = tokio::select! {
        counts = &mut receive => counts?,
        Err(fail) = send => return Err(fail),
    };
    out(format!("errors: {errors}, replies: {replies}\n"))?;
    Ok(if errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Reads stdin in chunks on its own thread (stdin reads block), a bounded queue ahead of the socket.
fn read_stdin() -> mpsc::Receiver<Result<Vec<u8>, Fail>> {
    let (tx, rx) = mpsc::channel(QUEUE);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut chunk = vec![0; CHUNK];
            match stdin.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    let _ = tx.blocking_send(Err(Fail(format!("Error reading from stdin: {err}"))));
                    break;
                }
            }
        }
    });
    rx
}

/// 20 bytes no input will echo by chance: the std hasher's random keys, mixed with the clock and pid.
fn magic() -> [u8; 20] {
    let mut bytes = [0u8; 20];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(i);
        hasher.write_u32(std::process::id());
        hasher
            .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        let value = hasher.finish().to_le_bytes();
        chunk.copy_from_slice(&value[..chunk.len()]);
    }
    bytes
}
