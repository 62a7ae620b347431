//! Password checks for `AUTH` and `HELLO ... AUTH`.

use tinykv_proto::Reply;

use crate::shared::Shared;

/// Checks `AUTH password` (the one-argument form) against `requirepass` (as it is now: `CONFIG SET`
/// may have changed it) in constant time (for equal lengths), so response timing tells an attacker
/// nothing about how much of a guess was right.
pub fn check(shared: &Shared, password: &[u8]) -> Result<(), Reply> {
    let Some(expected) = shared.settings.requirepass() else {
        return Err(Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    };
    if constant_time_eq(&expected, password) {
        Ok(())
    } else {
        Err(wrong_password())
    }
}

/// The one user TinyKV knows, as Redis's ACL calls the user of `requirepass`.
pub const DEFAULT_USER: &[u8] = b"default";

/// Checks `AUTH username password` and `HELLO ... AUTH username password` as Redis 7 does with no ACL
/// file: only the `default` user exists; without a password configured it takes any password.
pub fn check_user(shared: &Shared, username: &[u8], password: &[u8]) -> Result<(), Reply> {
    let user_ok = username == DEFAULT_USER;
    let password_ok = match shared.settings.requirepass() {
        None => true,
        Some(expected) => constant_time_eq(&expected, password),
    };
    if user_ok && password_ok {
        Ok(())
    } else {
        Err(wrong_password())
    }
}

fn wrong_password() -> Reply {
    Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (i, &byte) in a.iter().enumerate() {
        diff |= byte ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_equal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secre"));
        assert!(!constant_time_eq(b"secret", b""));
        assert!(constant_time_eq(b"", b""));
    }
}
