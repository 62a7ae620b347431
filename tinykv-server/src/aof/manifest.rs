//! The manifest of a multi-part append-only file, in Redis 7.0's format, so an operator who knows
//! `appendonlydir/` recognizes TinyKV's and a directory Redis wrote can be read:
//!
//! ```text
//! file appendonly.aof.2.base.aof seq 2 type b     the base: the keyspace as of a rewrite (at most one)
//! file appendonly.aof.1.incr.aof seq 1 type h     history: replaced by a rewrite, to be deleted
//! file appendonly.aof.2.incr.aof seq 2 type i     increments, replayed after the base in this order
//! ```
//!
//! Lines starting with `#` are comments. Keys may come in any order and unknown key/value pairs are
//! ignored, as Redis does for forward compatibility. The file is read from disk and may have been
//! written by anyone, so every line and name is capped before it is trusted.

use thiserror::Error;

/// The manifest's name in the directory (Redis: `<appendfilename>.manifest`).
pub const MANIFEST_NAME: &str = "appendonly.aof.manifest";
/// The prefix of every file of the layout (Redis's default `appendfilename`).
pub const FILE_PREFIX: &str = "appendonly.aof";
/// Redis's limit on a manifest line (`MANIFEST_MAX_LINE`); a longer one is an error, not truncated.
pub const MAX_LINE: usize = 1024;
/// A manifest larger than this is not one anyone wrote (a few dozen bytes per file): refused
/// before it is read whole.
pub const MAX_BYTES: usize = 1 << 20;

/// Why a manifest could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    /// The manifest has no line at all.
    #[error("the manifest is empty")]
    Empty,
    /// A line is longer than [`MAX_LINE`] bytes.
    #[error("line {line}: longer than {MAX_LINE} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
    },
    /// More than [`MAX_BYTES`] bytes.
    #[error("larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// A line is not `file NAME seq N type T`.
    #[error("line {line}: {what}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// What a listed file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// The keyspace as written by a rewrite; replayed first.
    Base,
    /// Writes after the base; replayed in order after it.
    Incr,
    /// Replaced by a rewrite; not replayed, deleted once the new manifest is safe.
    History,
}

impl FileType {
    fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::Incr => 'i',
            FileType::History => 'h',
        }
    }
}

/// One file of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Its name in the directory (never a path).
    pub name: String,
    /// Its sequence number; increments are replayed in increasing order.
    pub seq: u64,
    /// What it is.
    pub kind: FileType,
}

/// The files of a multi-part append-only file, in the order they load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base, if a rewrite (or a migrated single file) made one.
    pub base: Option<FileInfo>,
    /// Increments in replay order; the last one is the file being appended to.
    pub incrs: Vec<FileInfo>,
    /// Files a rewrite replaced, still to be deleted.
    pub history: Vec<FileInfo>,
}

impl Manifest {
    /// Parses a manifest's text, with Redis 7.0's rules: at most one base, increments in strictly
    /// increasing sequence, names without a `/`.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        if text.len() > MAX_BYTES {
            return Err(ManifestError::TooLarge);
        }
        let mut manifest = Manifest::default();
        let mut lines = 0;
        for (index, raw) in text.split_inclusive(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            lines = line;
            // Capped before anything else is done with it: Redis reads at most this much per line,
            // newline included.
            if raw.len() > MAX_LINE {
                return Err(ManifestError::LineTooLong { line });
            }
            if raw.first() == Some(&b'#') {
                continue;
            }
            let invalid = |what| ManifestError::Invalid { line, what };
            let text = std::str::from_utf8(raw).map_err(|_| invalid("not UTF-8"))?;
            let words: Vec<&str> = text.split_ascii_whitespace().collect();
            if words.is_empty() {
                return Err(invalid("empty line"));
            }
            if words.len() < 6 || words.len() % 2 != 0 {
                return Err(invalid("expected 'file NAME seq N type T'"));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks_exact(2) {
                let value = pair[1];
                match pair[0].to_ascii_lowercase().as_str() {
                    "file" => {
                        if value.starts_with('"') || value.starts_with('\'') {
                            return Err(invalid("quoted file names are not supported"));
                        }
                        if value.contains('/') || value == "." || value == ".." {
                            return Err(invalid("file can't be a path, just a filename"));
                        }
                        name = Some(value.to_owned());
                    }
                    "seq" => {
                        seq = Some(value.parse::<u64>().ok().filter(|&n| n > 0).ok_or(invalid("bad sequence number"))?)
                    }
                    "type" => {
                        kind = Some(match value {
                            "b" => FileType::Base,
                            "i" => FileType::Incr,
                            "h" => FileType::History,
                            _ => return Err(invalid("unknown file type")),
                        })
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(invalid("missing file, seq or type"));
            };
            let info = FileInfo { name, seq, kind };
            match kind {
                FileType::Base if manifest.base.is_some() => return Err(invalid("a second base file")),
                FileType::Base => manifest.base = Some(info),
                FileType::Incr => {
                    if manifest.incrs.last().is_some_and(|last| last.seq >= seq) {
                        return Err(invalid("a non-monotonic sequence number"));
                    }
                    manifest.incrs.push(info);
                }
                FileType::History => manifest.history.push(info),
            }
        }
        if lines == 0 {
            return Err(ManifestError::Empty);
        }
        Ok(manifest)
    }

    /// The manifest's text: base, history, then increments, as Redis writes it.
    pub fn format(&self) -> String {
        let mut text = String::new();
        for info in self.base.iter().chain(&self.history).chain(&self.incrs) {
            text.push_str(&format!("file {} seq {} type {}\n", info.name, info.seq, info.kind.letter()));
        }
        text
    }

    /// The files to replay, in order: the base, then every increment.
    pub fn replay_order(&self) -> impl Iterator<Item = &FileInfo> {
        self.base.iter().chain(&self.incrs)
    }

    /// A new increment, after the last one: where writes go from the start of a rewrite on.
    pub fn next_incr(&self) -> FileInfo {
        let seq = self.incrs.last().map_or(1, |last| last.seq + 1);
        FileInfo { name: format!("{FILE_PREFIX}.{seq}.incr.aof"), seq, kind: FileType::Incr }
    }

    /// A new base, after the current one: what a rewrite writes.
    pub fn next_base(&self) -> FileInfo {
        let seq = self.base.as_ref().map_or(1, |base| base.seq + 1);
        FileInfo { name: format!("{FILE_PREFIX}.{seq}.base.aof"), seq, kind: FileType::Base }
    }

    /// The next base when it is a snapshot (`aof-use-rdb-preamble yes`): named `.base.rdb`, as Redis names it.
    pub fn next_rdb_base(&self) -> FileInfo {
        let base = self.next_base();
        FileInfo { name: format!("{FILE_PREFIX}.{}.base.rdb", base.seq), ..base }
    }

    /// The manifest once a rewrite that started increment `first_incr` is done: `base` is the new
    /// base, increments from `first_incr` on stay, and the rest become history.
    pub fn rewritten(&self, base: FileInfo, first_incr: u64) -> Manifest {
        let mut history = self.history.clone();
        let (kept, replaced): (Vec<_>, Vec<_>) = self.incrs.iter().cloned().partition(|info| info.seq >= first_incr);
        history
            .extend(self.base.iter().cloned().chain(replaced).map(|info| FileInfo { kind: FileType::History, ..info }));
        Manifest { base: Some(base), incrs: kept, history }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, seq: u64, kind: FileType) -> FileInfo {
        FileInfo { name: name.to_owned(), seq, kind }
    }

    #[test]
    fn reads_what_redis_writes_and_writes_it_back() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.4.incr.aof seq 4 type i\n\
                    file appendonly.aof.5.incr.aof seq 5 type i\n";
        let manifest = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(manifest.base, Some(info("appendonly.aof.2.base.rdb", 2, FileType::Base)));
        assert_eq!(manifest.history, vec![info("appendonly.aof.1.incr.aof", 1, FileType::History)]);
        assert_eq!(manifest.incrs.len(), 2);
        assert_eq!(manifest.format(), text);
        let order: Vec<_> = manifest.replay_order().map(|i| i.seq).collect();
        assert_eq!(order, vec![2, 4, 5]);
        assert_eq!(manifest.next_incr(), info("appendonly.aof.6.incr.aof", 6, FileType::Incr));
        assert_eq!(manifest.next_base(), info("appendonly.aof.3.base.aof", 3, FileType::Base));
    }

    #[test]
    fn comments_any_key_order_and_unknown_keys_are_accepted() {
        let text = "# written by hand\r\ntype i seq 1 file a.incr.aof extra 7\nfile b seq 3 type b\n";
        let manifest = Manifest::parse(text.as_bytes()).unwrap();
        assert_eq!(manifest.incrs, vec![info("a.incr.aof", 1, FileType::Incr)]);
        assert_eq!(manifest.base, Some(info("b", 3, FileType::Base)));
        // No trailing newline on the last line is fine.
        assert!(Manifest::parse(b"file a seq 1 type i").is_ok());
    }

    #[test]
    fn bad_manifests_are_refused_with_the_line() {
        let invalid = |text: &str| Manifest::parse(text.as_bytes()).unwrap_err();
        assert_eq!(invalid(""), ManifestError::Empty);
        assert!(matches!(invalid("\n"), ManifestError::Invalid { line: 1, .. }));
        assert!(matches!(invalid("file a seq 1\n"), ManifestError::Invalid { line: 1, .. }));
        assert!(matches!(invalid("file a seq 1 type\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("file a seq 0 type i\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("file a seq -1 type i\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("file a seq 99999999999999999999 type i\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("file a seq 1 type x\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("file ../etc/passwd seq 1 type i\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("file .. seq 1 type i\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("file \"a b\" seq 1 type i\n"), ManifestError::Invalid { .. }));
        assert!(matches!(invalid("seq 1 type i other 2\n"), ManifestError::Invalid { .. }));
        assert!(matches!(
            invalid("file a seq 1 type b\nfile b seq 2 type b\n"),
            ManifestError::Invalid { line: 2, what: "a second base file" }
        ));
        assert!(matches!(
            invalid("file a seq 2 type i\nfile b seq 2 type i\n"),
            ManifestError::Invalid { line: 2, what: "a non-monotonic sequence number" }
        ));
        assert!(matches!(Manifest::parse(b"file \xff seq 1 type i\n"), Err(ManifestError::Invalid { .. })));
    }

    #[test]
    fn lines_and_counts_are_capped_before_they_are_trusted() {
        let long = format!("file {} seq 1 type i\n", "a".repeat(MAX_LINE));
        assert_eq!(Manifest::parse(long.as_bytes()), Err(ManifestError::LineTooLong { line: 1 }));
        // A line of exactly the limit (newline included) is fine, as in Redis.
        let name = "a".repeat(MAX_LINE - "file  seq 1 type i\n".len());
        assert!(Manifest::parse(format!("file {name} seq 1 type i\n").as_bytes()).is_ok());
        // A huge file without a newline is refused at the first line.
        let endless = vec![b'a'; 10 * MAX_LINE];
        assert_eq!(Manifest::parse(&endless), Err(ManifestError::LineTooLong { line: 1 }));
        let many: String = (1..=40_000u64).map(|seq| format!("file a{seq} seq {seq} type i\n")).collect();
        assert_eq!(Manifest::parse(many.as_bytes()), Err(ManifestError::TooLarge));
    }

    #[test]
    fn a_rewrite_turns_the_old_files_into_history() {
        let manifest = Manifest {
            base: Some(info("appendonly.aof.1.base.aof", 1, FileType::Base)),
            incrs: vec![
                info("appendonly.aof.1.incr.aof", 1, FileType::Incr),
                info("appendonly.aof.2.incr.aof", 2, FileType::Incr),
            ],
            history: vec![],
        };
        let next = manifest.rewritten(manifest.next_base(), 2);
        assert_eq!(next.base, Some(info("appendonly.aof.2.base.aof", 2, FileType::Base)));
        assert_eq!(next.incrs, vec![info("appendonly.aof.2.incr.aof", 2, FileType::Incr)]);
        assert_eq!(
            next.history,
            vec![
                info("appendonly.aof.1.base.aof", 1, FileType::History),
                info("appendonly.aof.1.incr.aof", 1, FileType::History)
            ]
        );
        assert_eq!(Manifest::parse(next.format().as_bytes()).unwrap(), next);
    }
}
