//! The replication backlog: the last `--repl-backlog-size` bytes of the replication stream, so a
//! replica whose link dropped can ask for what it missed (`PSYNC <replid> <offset>`) and get only
//! that (`+CONTINUE`), not a whole new copy.
//!
//! ```text
//! stream offsets   1 ............ first ................... end (= master_repl_offset)
//! held                            [first, end]  (histlen = end - first + 1 bytes)
//! PSYNC id N       N in [first, end + 1]  ->  +CONTINUE, then bytes N..=end
//! ```

use std::collections::VecDeque;

/// A byte ring of fixed capacity over the replication stream.
#[derive(Debug)]
pub struct Backlog {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// Stream offset of the last byte held (Redis's `master_repl_offset`): bytes ever appended.
    end: u64,
}

impl Backlog {
    /// An empty backlog of `capacity` bytes whose stream has reached `end`.
    pub fn new(capacity: usize, end: u64) -> Backlog {
        Backlog { bytes: VecDeque::new(), capacity: capacity.max(1), end }
    }

    /// Appends bytes of the stream, dropping the oldest beyond the capacity.
    pub fn push(&mut self, data: &[u8]) {
        self.end += data.len() as u64;
        let data = &data[data.len().saturating_sub(self.capacity)..];
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(data);
    }

    /// The stream offset of the last byte appended.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Stream offset of the first byte held (Redis's `repl_backlog_first_byte_offset`).
    pub fn first(&self) -> u64 {
        self.end + 1 - self.bytes.len() as u64
    }

    /// Bytes held (Redis's `repl_backlog_histlen`).
    pub fn histlen(&self) -> usize {
        self.bytes.len()
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes from stream offset `from` (the first byte a replica wants) to the end, or `None`
    /// when they are no longer (or not yet) held.
    pub fn since(&self, from: u64) -> Option<Vec<u8>> {
        if from < self.first() || from > self.end + 1 {
            return None;
        }
        let skip = (from - self.first()) as usize;
        Some(self.bytes.iter().skip(skip).copied().collect())
    }

    /// Changes the capacity (`CONFIG SET repl-backlog-size`), keeping the newest bytes.
    pub fn resize(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        let overflow = self.bytes.len().saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_and_answers_by_offset() {
        let mut backlog = Backlog::new(10, 0);
        assert_eq!(backlog.since(1), Some(vec![]));
        backlog.push(b"abcdef");
        assert_eq!((backlog.first(), backlog.end(), backlog.histlen()), (1, 6, 6));
        assert_eq!(backlog.since(3).as_deref(), Some(&b"cdef"[..]));
        backlog.push(b"ghijkl");
        assert_eq!((backlog.first(), backlog.end()), (3, 12));
        assert_eq!(backlog.since(2), None);
        assert_eq!(backlog.since(3).as_deref(), Some(&b"cdefghijkl"[..]));
        assert_eq!(backlog.since(13).as_deref(), Some(&b""[..]));
        assert_eq!(backlog.since(14), None);
        backlog.push(&[b'x'; 25]);
        assert_eq!((backlog.first(), backlog.end(), backlog.histlen()), (28, 37, 10));
        backlog.resize(4);
        assert_eq!(backlog.since(34).as_deref(), Some(&b"xxxx"[..]));
    }

    #[test]
    fn a_backlog_created_late_starts_at_the_offset_reached() {
        let backlog = Backlog::new(100, 500);
        assert_eq!(backlog.first(), 501);
        assert_eq!(backlog.since(501), Some(vec![]));
        assert_eq!(backlog.since(500), None);
    }
}
