//! `--latency` and `--latency-history`: PING round trips, in whole milliseconds as redis-cli measures them.
//!
//! On a terminal the figures are redrawn in place (`min: 0, max: 1, avg: 0.12 (523 samples)`) until
//! Ctrl-C. Otherwise (`--raw`, `--csv`, `--json`, or a pipe) `--latency` samples for `-i` seconds (default 1),
//! prints one line and exits; `--latency-history` prints a line per sample and starts a new range every `-i`
//! seconds (default 15).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{out, Fail, Options};
use crate::client::Connection;
use crate::format::Style;

/// The pause between two PINGs.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

pub async fn run(mut conn: Connection, options: &Options) -> Result<ExitCode, Fail> {
    let history_range = options.interval.unwrap_or(Duration::from_secs(15));
    let sampling = options.interval.unwrap_or(Duration::from_secs(1));
    let (mut min, mut max, mut total, mut count) = (0u128, 0u128, 0u128, 0u128);
    let mut range_start = Instant::now();
    loop {
        let start = Instant::now();
        conn.execute(&["PING"]).await?;
        let latency = start.elapsed().as_millis();
        count += 1;
        if count == 1 {
            (min, max, total) = (latency, latency, latency);
        } else {
            min = min.min(latency);
            max = max.max(latency);
            total += latency;
        }
        let avg = total as f64 / count as f64;
        if options.style == Style::Pretty {
            out("\x1b[0G\x1b[2K")?;
            out(figures(options.style, min, max, avg, count))?;
        } else if options.history {
            out(figures(options.style, min, max, avg, count))?;
        } else if range_start.elapsed() > sampling {
            out(figures(options.style, min, max, avg, count))?;
            return Ok(ExitCode::SUCCESS);
        }
        if options.history && range_start.elapsed() > history_range {
            out(format!(" -- {:.2} seconds range\n", range_start.elapsed().as_secs_f64()))?;
            range_start = Instant::now();
            (min, max, total, count) = (0, 0, 0, 0);
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// One report in redis-cli's format for `style` (`--quoted-json` prints nothing, as in redis-cli).
fn figures(style: Style, min: u128, max: u128, avg: f64, count: u128) -> String {
    match style {
        Style::Pretty => format!("min: {min}, max: {max}, avg: {avg:.2} ({count} samples)"),
        Style::Csv => format!("{min},{max},{avg:.2},{count}\n"),
        Style::Raw => format!("{min} {max} {avg:.2} {count}\n"),
        Style::Json => format!("{{\"min\": {min}, \"max\": {max}, \"avg\": {avg:.2}, \"count\": {count}}}\n"),
        Style::QuotedJson => String::new(),
    }
}
