//! `--stat`: one line of server figures from `INFO` every `-i` seconds (default 1), under redis-cli's
//! header, repeated every 20 lines:
//!
//! ```text
//! ------- data ------ --------------------- load -------------------- - child -
//! keys       mem      clients blocked requests            connections
//! 3          1.02M    1       0       12 (+0)             4
//! ```
//!
//! Fields are found as redis-cli finds them (the first occurrence of the name, value up to `\r` or `,`),
//! so a field the server lacks shows as redis-cli shows it.

use std::process::ExitCode;
use std::time::Duration;

use tinykv_proto::Reply;

use super::{out, Fail, Options};
use crate::client::Connection;

/// What redis-cli's `getLongInfoField` answers for a missing field.
const MISSING: i64 = i64::MIN;

pub async fn run(mut conn: Connection, options: &Options) -> Result<ExitCode, Fail> {
    let interval = options.interval.filter(|i| !i.is_zero()).unwrap_or(Duration::from_secs(1));
    let mut previous_requests = 0;
    let mut lines = 0u64;
    loop {
        let info = match conn.execute(&["INFO"]).await? {
            Reply::Bulk(text) | Reply::Verbatim(text) => String::from_utf8_lossy(&text).into_owned(),
            Reply::Error(text) => return Err(Fail(format!("ERROR: {text}"))),
            _ => return Err(Fail("Non string reply to INFO!".to_owned())),
        };
        let (line, requests) = stat_line(&info, previous_requests);
        previous_requests = requests;
        if lines % 20 == 0 {
            out("------- data ------ --------------------- load -------------------- - child -\n\
                 keys       mem      clients blocked requests            connections          \n")?;
        }
        lines += 1;
        out(line)?;
        tokio::time::sleep(interval).await;
    }
}

/// One line of figures, and the request count for the next line's `(+n)`.
fn stat_line(info: &str, previous_requests: i64) -> (String, i64) {
    let keys: i64 = (0..20).map(|db| field(info, &format!("db{db}:keys"))).filter(|&k| k != MISSING).sum();
    let mut line = format!("{:<11}", keys.to_string());
    line.push_str(&format!("{:<8}", bytes_to_human(field(info, "used_memory"))));
    line.push_str(&format!(" {:<8}", field(info, "connected_clients")));
    line.push_str(&format!("{:<8}", field(info, "blocked_clients")));
    let requests = field(info, "total_commands_processed");
    let delta = if previous_requests == 0 { 0 } else { requests.wrapping_sub(previous_requests) };
    line.push_str(&format!("{:<19}", format!("{requests} (+{delta})")));
    line.push_str(&format!(" {:<12}", field(info, "total_connections_received")));
    let children = field(info, "bgsave_in_progress")
        | field(info, "aof_rewrite_in_progress").wrapping_shl(1)
        | field(info, "loading").wrapping_shl(2);
    line.push_str(match children {
        1 => "SAVE",
        2 => "AOF",
        3 => "SAVE+AOF",
        4 => "LOAD",
        _ => "",
    });
    line.push('\n');
    (line, requests)
}

/// redis-cli's `getLongInfoField`: the text after the first occurrence of `name` and one separator
/// character, up to `\r` or `,`, read as `strtol` reads it; [`MISSING`] if `name` does not occur.
fn field(info: &str, name: &str) -> i64 {
    let Some(at) = info.find(name) else { return MISSING };
    let rest = info.get(at + name.len() + 1..).unwrap_or("");
    let end = rest.find(['\r', ',']).unwrap_or(rest.len());
    let value = rest[..end].trim_start();
    let digits =
        value.char_indices().take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))).count();
    value[..digits].parse().unwrap_or(0)
}

/// redis-cli's `bytesToHuman`: `100B`, `4.00K`, `1.02M`, `2.00G`.
fn bytes_to_human(n: i64) -> String {
    let (sign, n) = if n < 0 { ("-", n.unsigned_abs()) } else { ("", n as u64) };
    let value = n as f64;
    let text = if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", value / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", value / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", value / (1024.0 * 1024.0 * 1024.0))
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_as_redis_cli_finds_them() {
        let info = "# Stats\r\ntotal_commands_processed:42\r\nconnected_clients:3\r\n# Keyspace\r\ndb0:keys=5,expires=0\r\ndb2:keys=1,expires=0\r\n";
        assert_eq!(field(info, "total_commands_processed"), 42);
        assert_eq!(field(info, "db0:keys"), 5);
        assert_eq!(field(info, "blocked_clients"), MISSING);
        let (line, requests) = stat_line(info, 40);
        assert_eq!(requests, 42);
        assert!(line.starts_with("6          "), "{line:?}");
        assert!(line.contains("42 (+2)"), "{line:?}");
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(100), "100B");
        assert_eq!(bytes_to_human(4096), "4.00K");
        assert_eq!(bytes_to_human(1_069_548), "1.02M");
        assert_eq!(bytes_to_human(-2048), "-2.00K");
    }
}
