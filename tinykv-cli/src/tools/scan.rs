//! `--scan`: every key matching `--pattern` (and `--type`), one per line, SCAN batch after SCAN batch.
//! On a terminal (or `--no-raw`) keys are quoted as redis-cli quotes them (`"user:1"`), else printed raw.

use std::process::ExitCode;

use super::{out, scan_batch, Fail, Options};
use crate::client::Connection;
use crate::format::{repr, Style};

pub async fn run(mut conn: Connection, options: &Options) -> Result<ExitCode, Fail> {
    let mut cursor = b"0".to_vec();
    loop {
        let (next, keys) = scan_batch(&mut conn, &cursor, options, true).await?;
        let mut text = Vec::new();
        for key in keys {
            if options.style == Style::Pretty {
                repr(&key, &mut text);
            } else {
                text.extend_from_slice(&key);
            }
            text.push(b'\n');
        }
        out(text)?;
        if let Some(interval) = options.interval {
            tokio::time::sleep(interval).await;
        }
        if next == b"0" {
            return Ok(ExitCode::SUCCESS);
        }
        cursor = next;
    }
}
