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

use std::fmt;

/// Why a line could not be split; nothing is sent for such a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// A quote was opened and never closed.
    UnbalancedQuotes,
    /// A closing quote was followed by something other than whitespace (`"a"b`).
    TextAfterQuote,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitError::UnbalancedQuotes => f.write_str("Invalid argument(s): unbalanced quotes"),
            SplitError::TextAfterQuote => {
                f.write_str("Invalid argument(s): a closing quote must be followed by a space")
            }
        }
    }
}

impl std::error::Error for SplitError {}

/// Splits `line` into arguments. Blank input gives an empty list.
pub fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while line.get(pos).is_some_and(u8::is_ascii_whitespace) {
            pos += 1;
        }
        if pos >= line.len() {
            return Ok(args);
        }
        let (word, end) = word(line, pos)?;
        args.push(word);
        pos = end;
    }
}

/// Reads one word starting at `pos` (not whitespace); returns it and the position after it.
fn word(line: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), SplitError> {
    let mut word = Vec::new();
    while let Some(&byte) = line.get(pos) {
        match byte {
            b'"' => pos = double_quoted(line, pos + 1, &mut word)?,
            b'\'' => pos = single_quoted(line, pos + 1, &mut word)?,
            byte if byte.is_ascii_whitespace() => break,
            byte => {
                word.push(byte);
                pos += 1;
            }
        }
    }
    Ok((word, pos))
}

/// Appends the inside of a double-quoted part that starts at `pos`; returns the position after the closing quote.
fn double_quoted(line: &[u8], mut pos: usize, word: &mut Vec<u8>) -> Result<usize, SplitError> {
    loop {
        match line.get(pos) {
            None => return Err(SplitError::UnbalancedQuotes),
            Some(b'\\') if line.get(pos + 1) == Some(&b'x') => {
                match (line.get(pos + 2).and_then(hex_value), line.get(pos + 3).and_then(hex_value)) {
                    (Some(high), Some(low)) => {
                        word.push(high << 4 | low);
                        pos += 4;
                    }
                    // Not a valid `\xHH`: keep the `x` literally, as redis-cli does.
                    _ => {
                        word.push(b'x');
                        pos += 2;
                    }
                }
            }
            Some(b'\\') if pos + 1 < line.len() => {
                word.push(match line[pos + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
                pos += 2;
            }
            Some(b'"') => return after_closing_quote(line, pos + 1),
            Some(&byte) => {
                word.push(byte);
                pos += 1;
            }
        }
    }
}

/// Appends the inside of a single-quoted part that starts at `pos`; returns the position after the closing quote.
fn single_quoted(line: &[u8], mut pos: usize, word: &mut Vec<u8>) -> Result<usize, SplitError> {
    loop {
        match line.get(pos) {
            None => return Err(SplitError::UnbalancedQuotes),
            Some(b'\\') if line.get(pos + 1) == Some(&b'\'') => {
                word.push(b'\'');
                pos += 2;
            }
            Some(b'\'') => return after_closing_quote(line, pos + 1),
            Some(&byte) => {
                word.push(byte);
                pos += 1;
            }
        }
    }
}

/// A closing quote ends the word: what follows must be whitespace or the end of the line.
fn after_closing_quote(line: &[u8], pos: usize) -> Result<usize, SplitError> {
    match line.get(pos) {
        None => Ok(pos),
        Some(byte) if byte.is_ascii_whitespace() => Ok(pos),
        Some(_) => Err(SplitError::TextAfterQuote),
    }
}

fn hex_value(digit: &u8) -> Option<u8> {
    (*digit as char).to_digit(16).map(|value| value as u8)
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
    fn non_utf8_bytes_pass_through() {
        assert_eq!(words("set k \u{e9}"), [b"set".to_vec(), b"k".to_vec(), "\u{e9}".as_bytes().to_vec()]);
        assert_eq!(split(b"get \xff\xfe").unwrap(), [b"get".to_vec(), vec![0xff, 0xfe]]);
    }
}
