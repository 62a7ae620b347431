//! `--latency-dist`: PING round trips, in microseconds, counted into 31 buckets (mostly logarithmic:
//! `.` up to 10 µs, `1`-`9` milliseconds, `A`-`E` tens of ms, `F`-`J` tenths of a second, `K`-`Q`
//! seconds up to a minute, `?` above), printed every `-i` seconds (default 1) as one line of the 31
//! characters on backgrounds whose brightness is each bucket's share of the samples, with redis-cli's
//! legend every 20 lines. Like redis-cli it writes xterm-256 colour codes whatever stdout is, and runs
//! until interrupted; `--mono` uses greys.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{out, Fail, Options};
use crate::client::Connection;

/// The pause between two PINGs (redis-cli's `LATENCY_SAMPLE_RATE`).
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The period when `-i` is not given.
const DEFAULT_PERIOD: Duration = Duration::from_secs(1);

/// A spectrum line is preceded by the legend every this many lines.
const LEGEND_EVERY: u64 = 20;

/// Background colours from 0% to 100% of the samples.
const COLOR_PALETTE: &[u8] =
    &[0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 144, 143, 142, 184, 226, 214, 208, 202, 196];
const MONO_PALETTE: &[u8] = &[0, 233, 234, 235, 237, 239, 241, 243, 245, 247, 249, 251, 253];

/// Each bucket's upper bound in microseconds (0: everything above the previous one) and its character.
const BUCKETS: [(u64, u8); 31] = [
    (10, b'.'),
    (125, b'-'),
    (250, b'*'),
    (500, b'#'),
    (1_000, b'1'),
    (2_000, b'2'),
    (3_000, b'3'),
    (4_000, b'4'),
    (5_000, b'5'),
    (6_000, b'6'),
    (7_000, b'7'),
    (8_000, b'8'),
    (9_000, b'9'),
    (10_000, b'A'),
    (20_000, b'B'),
    (30_000, b'C'),
    (40_000, b'D'),
    (50_000, b'E'),
    (100_000, b'F'),
    (200_000, b'G'),
    (300_000, b'H'),
    (400_000, b'I'),
    (500_000, b'J'),
    (1_000_000, b'K'),
    (2_000_000, b'L'),
    (4_000_000, b'M'),
    (8_000_000, b'N'),
    (16_000_000, b'O'),
    (30_000_000, b'P'),
    (60_000_000, b'Q'),
    (0, b'?'),
];

pub async fn run(mut conn: Connection, options: &Options) -> Result<ExitCode, Fail> {
    let palette = if options.mono { MONO_PALETTE } else { COLOR_PALETTE };
    // redis-cli compares whole milliseconds: a line once more than the period's milliseconds have passed.
    // `-i 0` is no interval at all for redis-cli: the default.
    let period = options.interval.filter(|interval| !interval.is_zero()).unwrap_or(DEFAULT_PERIOD);
    let period_ms = period.as_millis();
    let mut counts = [0u64; BUCKETS.len()];
    let (mut total, mut lines) = (0u64, 0u64);
    let mut window = Instant::now();
    loop {
        let start = Instant::now();
        conn.execute(&["PING"]).await?;
        counts[bucket(start.elapsed())] += 1;
        total += 1;
        if window.elapsed().as_millis() > period_ms {
            if lines % LEGEND_EVERY == 0 {
                out(legend(palette))?;
            }
            lines += 1;
            out(spectrum(&counts, total, palette))?;
            counts = [0; BUCKETS.len()];
            total = 0;
            window = Instant::now();
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}

/// The bucket of a round trip: the first whose bound it does not pass.
fn bucket(latency: Duration) -> usize {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    BUCKETS.iter().position(|&(max, _)| max == 0 || micros <= max).unwrap_or(BUCKETS.len() - 1)
}

/// One line: every bucket's character, black on the palette colour of its share of `total` (rounded up).
fn spectrum(counts: &[u64], total: u64, palette: &[u8]) -> String {
    let mut line = String::from("\x1b[38;5;0m");
    for (&count, &(_, character)) in counts.iter().zip(BUCKETS.iter()) {
        let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
        let index = ((share * (palette.len() - 1) as f64).ceil() as usize).min(palette.len() - 1);
        line.push_str(&format!("\x1b[48;5;{}m{}", palette[index], character as char));
    }
    line.push_str("\x1b[0m\n");
    line
}

/// What the characters and colours mean, as redis-cli words it.
fn legend(palette: &[u8]) -> String {
    let mut text = String::from(
        "---------------------------------------------\n\
         . - * #          .01 .125 .25 .5 milliseconds\n\
         1,2,3,...,9      from 1 to 9     milliseconds\n\
         A,B,C,D,E        10,20,30,40,50  milliseconds\n\
         F,G,H,I,J        .1,.2,.3,.4,.5       seconds\n\
         K,L,M,N,O,P,Q,?  1,2,4,8,16,30,60,>60 seconds\n\
         From 0 to 100%: ",
    );
    for colour in palette {
        text.push_str(&format!("\x1b[48;5;{colour}m "));
    }
    text.push_str("\x1b[0m\n---------------------------------------------\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fall_in_redis_cli_buckets() {
        let at = |micros| BUCKETS[bucket(Duration::from_micros(micros))].1 as char;
        assert_eq!(at(0), '.');
        assert_eq!(at(10), '.');
        assert_eq!(at(11), '-');
        assert_eq!(at(999), '1');
        assert_eq!(at(1_000), '1');
        assert_eq!(at(1_001), '2');
        assert_eq!(at(45_000), 'E');
        assert_eq!(at(60_000_000), 'Q');
        assert_eq!(at(60_000_001), '?');
    }

    #[test]
    fn the_spectrum_colours_each_bucket_by_its_share() {
        let mut counts = [0u64; BUCKETS.len()];
        counts[1] = 3;
        counts[4] = 1;
        let line = spectrum(&counts, 4, COLOR_PALETTE);
        // 75% of 18 is 13.5, rounded up to 14 (226); 25% is 4.5 -> 5 (239); nothing -> 0.
        assert!(line.starts_with("\x1b[38;5;0m\x1b[48;5;0m.\x1b[48;5;226m-\x1b[48;5;0m*\x1b[48;5;0m#\x1b[48;5;239m1"));
        assert!(line.ends_with("\x1b[48;5;0m?\x1b[0m\n"));
        assert_eq!(line.matches("\x1b[48;5;").count(), 31);
        let all = spectrum(&[1; 31], 31, MONO_PALETTE);
        assert_eq!(all.matches("\x1b[48;5;233m").count(), 31);
    }

    #[test]
    fn the_legend_shows_the_palette() {
        let text = legend(MONO_PALETTE);
        assert!(text.contains("From 0 to 100%: \x1b[48;5;0m \x1b[48;5;233m "));
        assert_eq!(text.lines().count(), 8);
    }
}
