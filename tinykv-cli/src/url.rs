//! `-u redis://[user:password@]host[:port][/db]`, read as redis-cli reads it (`parseRedisUri`).
//!
//! ```text
//! redis://127.0.0.1:4040/3          host, port, database 3
//! redis://:s3cret@localhost         password only (AUTH s3cret)
//! redis://alice:p%40ss@db.local     user and a percent-encoded password (AUTH alice p@ss)
//! ```
//!
//! Any part left out keeps its default (or the flag given for it). `rediss://` (TLS) is refused: TinyKV
//! does not speak TLS.

use anyhow::bail;

/// The parts a URL names; `None` where it names nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// The ACL user, before the `:` of the user info.
    pub user: Option<String>,
    /// The password, after the `:` (or all of the user info when it has no `:`).
    pub password: Option<String>,
    /// The host.
    pub host: Option<String>,
    /// The port.
    pub port: Option<u16>,
    /// The database, from the path.
    pub db: Option<i64>,
}

/// Splits `url` into its parts; a scheme other than `redis://`, or a port or database that is not a
/// number, is an error (redis-cli would quietly read such a port as 0).
pub fn parse(url: &str) -> anyhow::Result<Parts> {
    const SCHEME: &str = "redis://";
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("rediss://") {
        bail!("rediss:// is only supported when tinykv-cli is compiled with OpenSSL");
    }
    if !lower.starts_with(SCHEME) {
        bail!("Invalid URI scheme");
    }
    let mut rest = &url[SCHEME.len()..];
    let mut parts = Parts::default();
    if let Some(at) = rest.find('@') {
        let userinfo = &rest[..at];
        match userinfo.split_once(':') {
            Some((user, password)) => {
                parts.user = Some(percent_decode(user)).filter(|user| !user.is_empty());
                parts.password = Some(percent_decode(password));
            }
            None => parts.password = Some(percent_decode(userinfo)),
        }
        rest = &rest[at + 1..];
    }
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if !host.is_empty() {
        parts.host = Some(host.to_owned());
    }
    if let Some(port) = port {
        match port.parse() {
            Ok(port) => parts.port = Some(port),
            Err(_) => bail!("Invalid port in URI: {port}"),
        }
    }
    if let Some(db) = path.filter(|path| !path.is_empty()) {
        match db.parse() {
            Ok(db) => parts.db = Some(db),
            Err(_) => bail!("Invalid database number in URI: {db}"),
        }
    }
    Ok(parts)
}

/// `%40` → `@`; a `%` not followed by two hex digits stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part() {
        let parts = parse("redis://alice:p%40ss@db.local:6380/3").unwrap();
        assert_eq!(
            parts,
            Parts {
                user: Some("alice".into()),
                password: Some("p@ss".into()),
                host: Some("db.local".into()),
                port: Some(6380),
                db: Some(3),
            }
        );
    }

    #[test]
    fn parts_left_out_stay_unset() {
        assert_eq!(parse("redis://").unwrap(), Parts::default());
        assert_eq!(parse("REDIS://h").unwrap().host.as_deref(), Some("h"));
        let password_only = parse("redis://:secret@localhost").unwrap();
        assert_eq!((password_only.user, password_only.password.as_deref()), (None, Some("secret")));
        assert_eq!(parse("redis://localhost/").unwrap().db, None);
        assert_eq!(parse("redis:///5").unwrap().db, Some(5));
    }

    #[test]
    fn bad_urls_are_errors() {
        assert_eq!(parse("http://x").unwrap_err().to_string(), "Invalid URI scheme");
        assert!(parse("rediss://x").unwrap_err().to_string().starts_with("rediss:// is only supported"));
        assert!(parse("redis://h:port").is_err());
        assert!(parse("redis://h/db").is_err());
    }
}
