//! `--bigkeys` and `--memkeys`: SCAN the keyspace, ask each key's type and size (a pipelined round per
//! batch), report each new biggest key per type as it is found, then redis-cli's summary:
//!
//! ```text
//! [00.00%] Biggest string found so far '"k"' with 5 bytes
//!
//! -------- summary -------
//!
//! Sampled 3 keys in the keyspace!
//! Total key length in bytes is 11 (avg len 3.67)
//!
//! Biggest string found '"k"' has 5 bytes
//!
//! 0 lists with 0 items (00.00% of keys, avg size 0.00)
//! ...
//! ```
//!
//! Sizes come from `STRLEN`/`LLEN`/`SCARD`/`HLEN`/`ZCARD`/`XLEN` (`--bigkeys`) or `MEMORY USAGE`
//! (`--memkeys`); a size command that fails prints redis-cli's warning and counts the key as size 0.

use std::process::ExitCode;

use tinykv_proto::Reply;

use super::{dbsize, out, quoted, scan_batch, Fail, Options};
use crate::client::Connection;

/// What is known about one key type.
struct TypeInfo {
    name: String,
    /// The command giving a key's element count; `None` for types redis-cli does not know (module types).
    size_command: Option<&'static str>,
    unit: &'static str,
    biggest: u64,
    count: u64,
    total: u64,
    /// The biggest key so far, already quoted.
    biggest_key: Option<String>,
}

impl TypeInfo {
    fn new(name: &str, size_command: Option<&'static str>, unit: &'static str) -> TypeInfo {
        TypeInfo { name: name.to_owned(), size_command, unit, biggest: 0, count: 0, total: 0, biggest_key: None }
    }
}

/// The types redis-cli knows, in the order its summary lists them (its hash table's order, which is fixed).
fn known_types() -> Vec<TypeInfo> {
    vec![
        TypeInfo::new("list", Some("LLEN"), "items"),
        TypeInfo::new("hash", Some("HLEN"), "fields"),
        TypeInfo::new("string", Some("STRLEN"), "bytes"),
        TypeInfo::new("stream", Some("XLEN"), "entries"),
        TypeInfo::new("set", Some("SCARD"), "members"),
        TypeInfo::new("zset", Some("ZCARD"), "members"),
    ]
}

pub async fn run(mut conn: Connection, options: &Options, memkeys: bool) -> Result<ExitCode, Fail> {
    let total_keys = dbsize(&mut conn).await?;
    let mut types = known_types();
    out("\n# Scanning the entire keyspace to find biggest keys as well as\n\
         # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
         # per 100 SCAN commands (not usually needed).\n\n")?;

    let (mut sampled, mut total_len, mut loops) = (0u64, 0u64, 0u64);
    let mut cursor = b"0".to_vec();
    loop {
        let pct = 100.0 * sampled as f64 / total_keys as f64;
        let (next, keys) = scan_batch(&mut conn, &cursor, options, false).await?;
        loops += 1;

        // Types, then sizes, each in one round trip.
        let type_commands: Vec<Vec<Vec<u8>>> = keys.iter().map(|key| vec![b"TYPE".to_vec(), key.clone()]).collect();
        let mut key_types: Vec<Option<usize>> = Vec::with_capacity(keys.len());
        for reply in conn.execute_all(&type_commands).await? {
            let name = match reply {
                Reply::Status(name) => name.into_owned(),
                Reply::Error(text) => return Err(Fail(format!("TYPE returned an error: {text}"))),
                _ => return Err(Fail("Invalid reply type for TYPE!".to_owned())),
            };
            // A key deleted since SCAN is `none`: skipped. A type redis-cli does not know gets its own row.
            key_types.push(match types.iter().position(|info| info.name == name) {
                Some(index) => Some(index),
                None if name == "none" => None,
                None => {
                    types.push(TypeInfo::new(&name, None, "?"));
                    Some(types.len() - 1)
                }
            });
        }
        let size_command = |index: usize| -> Option<Vec<Vec<u8>>> {
            if memkeys {
                let mut args = vec![b"MEMORY".to_vec(), b"USAGE".to_vec()];
                if let Some(samples) = options.memkeys_samples.filter(|&n| n > 0) {
                    args.extend([b"SAMPLES".to_vec(), samples.to_string().into_bytes()]);
                }
                Some(args)
            } else {
                types[index].size_command.map(|command| vec![command.as_bytes().to_vec()])
            }
        };
        let mut size_commands = Vec::new();
        let mut asked = Vec::new();
        for (key, index) in keys.iter().zip(&key_types) {
            if let Some(mut args) = index.and_then(size_command) {
                // The key goes after MEMORY USAGE, before SAMPLES.
                let at = if memkeys { 2 } else { 1 };
                args.insert(at, key.clone());
                size_commands.push(args);
                asked.push(true);
            } else {
                asked.push(false);
            }
        }
        let mut sizes_replies = conn.execute_all(&size_commands).await?.into_iter();
        let mut sizes = Vec::with_capacity(keys.len());
        for ((key, index), asked) in keys.iter().zip(&key_types).zip(asked) {
            if !asked {
                sizes.push(0);
                continue;
            }
            match sizes_replies.next() {
                Some(Reply::Integer(size)) => sizes.push(size.max(0) as u64),
                _ => {
                    let command =
                        if memkeys { "MEMORY USAGE" } else { index.and_then(|i| types[i].size_command).unwrap_or("?") };
                    eprintln!(
                        "Warning:  {command} on '{}' failed (may have changed type)",
                        String::from_utf8_lossy(key)
                    );
                    sizes.push(0);
                }
            }
        }

        for ((key, index), size) in keys.iter().zip(&key_types).zip(sizes) {
            let Some(index) = *index else { continue };
            let info = &mut types[index];
            info.total += size;
            info.count += 1;
            total_len += key.len() as u64;
            sampled += 1;
            if info.biggest < size {
                let name = quoted(key);
                let unit = if memkeys { "bytes" } else { info.unit };
                out(format!("[{pct:05.2}%] Biggest {:<6} found so far '{name}' with {size} {unit}\n", info.name))?;
                info.biggest_key = Some(name);
                info.biggest = size;
            }
            if sampled % 1_000_000 == 0 {
                out(format!("[{pct:05.2}%] Sampled {sampled} keys so far\n"))?;
            }
        }
        if let (Some(interval), 0) = (options.interval, loops % 100) {
            tokio::time::sleep(interval).await;
        }
        if next == b"0" {
            break;
        }
        cursor = next;
    }

    let mut text = String::from("\n-------- summary -------\n\n");
    let avg_len = if total_len > 0 { total_len as f64 / sampled as f64 } else { 0.0 };
    text.push_str(&format!("Sampled {sampled} keys in the keyspace!\n"));
    text.push_str(&format!("Total key length in bytes is {total_len} (avg len {avg_len:.2})\n\n"));
    for info in &types {
        if let Some(key) = &info.biggest_key {
            let unit = if memkeys { "bytes" } else { info.unit };
            text.push_str(&format!("Biggest {:>6} found '{key}' has {} {unit}\n", info.name, info.biggest));
        }
    }
    text.push('\n');
    for info in &types {
        let unit = if memkeys { "bytes" } else { info.unit };
        let share = if sampled > 0 { 100.0 * info.count as f64 / sampled as f64 } else { 0.0 };
        let avg = if info.count > 0 { info.total as f64 / info.count as f64 } else { 0.0 };
        text.push_str(&format!(
            "{} {}s with {} {unit} ({share:05.2}% of keys, avg size {avg:.2})\n",
            info.count, info.name, info.total
        ));
    }
    out(text)?;
    Ok(ExitCode::SUCCESS)
}
