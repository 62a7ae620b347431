//! Shell-like splitting of a typed line into command arguments.
//!
//! The rules are redis-cli's (`sdssplitargs`), so what works there works here:
//!
//! ```text
//! set greeting "hello world"   -> [set] [greeting] [hello world]
//! set k 'it''s'                -> error: a closing quote must end the word
//! set k "a\x00\n"              -> [set] [k] [a NUL LF]
//! set k 'don\'t'               -> [set] [k] [don't]
//! ```
//!
//! Inside double quotes `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a`, `\"` and `\\` are escapes; inside single quotes
//! only `\'` is. An unquoted word may switch into quotes midway (`a"b c"` is `ab c`), as in a shell.
//!
//! The splitting itself is [`tinykv_proto::split_args`], the one the server uses for inline requests, so
//! the CLI and the server cannot drift apart; the server's own rule for unquoted inline `SET` values does not
//! apply to typed lines (redis-cli has no such rule either).

use bytes::Bytes;
pub use tinykv_proto::SplitError;

/// Splits `line` into arguments. Blank input gives an empty list.
pub fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
    let words = tinykv_proto::split_args(&Bytes::copy_from_slice(line))?;
    Ok(words.into_iter().map(Vec::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<u8>> {
        split(line.as_bytes()).unwrap()
    }

    fn strs(line: &str) -> Vec<String> {
        words(line).into_iter().map(|w| String::from_utf8(w).unwrap()).collect()
    }

    #[test]
    fn plain_words_split_on_any_whitespace() {
        assert_eq!(strs("set foo bar"), ["set", "foo", "bar"]);
        assert_eq!(strs("  get \t foo  "), ["get", "foo"]);
        assert!(words("").is_empty());
        assert!(words("   \t ").is_empty());
    }

    #[test]
    fn double_quotes_keep_spaces() {
        assert_eq!(strs(r#"set greeting "hello world""#), ["set", "greeting", "hello world"]);
        assert_eq!(strs(r#"set k """#), ["set", "k", ""]);
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(words(r#""\x00\n\r\t\b\a\"\\\q""#), [b"\x00\n\r\t\x08\x07\"\\q".to_vec()]);
        assert_eq!(words(r#""\xff\xAb""#), [vec![0xff, 0xab]]);
        // A broken hex escape keeps the x.
        assert_eq!(strs(r#""\xg1""#), ["xg1"]);
    }

    #[test]
    fn single_quotes_are_literal_but_for_escaped_quote() {
        assert_eq!(strs(r#"set k 'a "b" \n'"#), ["set", "k", r#"a "b" \n"#]);
        assert_eq!(strs(r"'don\'t'"), ["don't"]);
    }

    #[test]
    fn quotes_may_start_midword() {
        assert_eq!(strs(r#"a"b c" d"#), ["ab c", "d"]);
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        assert_eq!(split(br#"set k "open"#), Err(SplitError::UnbalancedQuotes));
        assert_eq!(split(b"set k 'open"), Err(SplitError::UnbalancedQuotes));
        assert_eq!(split(br#"set k "ends in backslash\"#), Err(SplitError::UnbalancedQuotes));
        assert_eq!(split(br#"set k "a"b"#), Err(SplitError::TextAfterQuote));
    }

    #[test]
    fn an_unquoted_set_is_split_like_any_line() {
        // The server's inline rule keeps `hello world` as one value; a typed line is split as redis-cli splits it.
        assert_eq!(strs("set greeting hello world"), ["set", "greeting", "hello", "world"]);
    }

    #[test]
    fn vertical_tab_separates_but_does_not_end_a_word() {
        // C's isspace skips it between words; inside a word it is kept, as in sdssplitargs.
        assert_eq!(words("a\x0bb \x0bc"), [b"a\x0bb".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        assert_eq!(words("set k \u{e9}"), [b"set".to_vec(), b"k".to_vec(), "\u{e9}".as_bytes().to_vec()]);
        assert_eq!(split(b"get \xff\xfe").unwrap(), [b"get".to_vec(), vec![0xff, 0xfe]]);
    }
}
