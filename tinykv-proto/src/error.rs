//! The two kinds of error the protocol distinguishes.
//!
//! A [`ProtocolError`] means the byte stream can no longer be trusted: the server sends one
//! `-ERR Protocol error: ...` and closes. A [`CommandError`] is an ordinary error reply: the
//! connection goes on.

use thiserror::Error;

/// A malformed or oversize request: the connection is answered once and then closed.
///
/// The `Display` text is what follows `-ERR Protocol error: ` on the wire, worded as Redis words it
/// where Redis has the same case.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline line grew past the inline limit without a newline.
    #[error("too big inline request")]
    InlineTooBig,
    /// A `*` or `$` header line grew past the limit without a newline.
    #[error("too big mbulk count string")]
    HeaderTooBig,
    /// The element count of a RESP array is not a number or is over the limit.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk length is not a number, negative, or over the configured limit.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// An element of a request array did not start with `$`.
    #[error("expected '$', got '{}'", *.0 as char)]
    ExpectedBulk(u8),
    /// A bulk string was not followed by `\r\n`.
    #[error("bulk string not terminated by CRLF")]
    MissingCrlf,
    /// An inline request whose quote is never closed, or whose closing quote is followed by something
    /// other than a space (`"a"b`). Redis words both this way, and closes.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An HTTP request (`POST` or `Host:`) reached the port: closed without an answer, as Redis does,
    /// so that a web page cannot drive the server through a browser.
    #[error("cross-protocol request (HTTP) refused")]
    CrossProtocol,
    /// A reply the client could not parse (client side only).
    #[error("invalid reply: {0}")]
    InvalidReply(&'static str),
    /// The socket failed underneath the codec.
    #[error("i/o error: {0}")]
    Io(String),
}

impl From<std::io::Error> for ProtocolError {
    fn from(err: std::io::Error) -> Self {
        ProtocolError::Io(err.to_string())
    }
}

impl ProtocolError {
    /// Whether the peer should get an error reply before the close. The HTTP defence closes silently.
    pub fn deserves_reply(&self) -> bool {
        !matches!(self, ProtocolError::CrossProtocol | ProtocolError::Io(_))
    }
}

/// An error that becomes one error reply; the connection carries on.
///
/// The `Display` text is the whole reply line without the leading `-`, so it starts with the error
/// code (`ERR`, `WRONGTYPE`, `NOAUTH`, ...) exactly as Redis sends it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The command name is not in the table. Holds the name and up to a few arguments, as typed.
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    /// The subcommand of a container command (`CLIENT`, `CONFIG`, `COMMAND`) is not known.
    #[error("ERR unknown subcommand '{sub}'. Try {command} HELP.")]
    UnknownSubcommand { command: String, sub: String },
    /// The argument count does not match the table's arity. Holds the lower-case command name.
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// An option the command does not take, or options that contradict each other.
    #[error("ERR syntax error")]
    Syntax,
    /// An argument that must be an integer is not one (or is out of range).
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// The client must `AUTH` first.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// `AUTH` or `HELLO ... AUTH` with a wrong password or user.
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    /// A command that may grow memory, refused over `--maxmemory` (with `noeviction`, or nothing left to evict).
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    /// `EXEC` of a transaction in which a command was refused as it was queued.
    #[error("EXECABORT Transaction discarded because of previous errors.")]
    ExecAbort,
    /// A command used on a key that holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// A write refused because the append-only file cannot be written; holds what the OS said.
    #[error("MISCONF Errors writing to the AOF file: {0}")]
    Misconf(String),
    /// A time to live that is not positive or that overflows; holds the lower-case command name.
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(String),
    /// An argument that must be a float is not one.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// A bit offset that is not a non-negative integer, or that reaches past `--proto-max-bulk-len` bytes
    /// (`SETBIT`, `GETBIT`, `BITFIELD`).
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffset,
    /// A `SETBIT` value other than 0 or 1.
    #[error("ERR bit is not an integer or out of range")]
    BitValue,
    /// A write that would make a string longer than `--proto-max-bulk-len` (`APPEND`, `SETRANGE`).
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// A numeric argument outside the range the command accepts; holds Redis's whole text.
    #[error("ERR {0}")]
    OutOfRange(&'static str),
    /// A key a command needs does not exist (`RENAME`).
    #[error("ERR no such key")]
    NoSuchKey,
    /// A database index past `--databases`.
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    /// Any other error, with its full text (code included).
    #[error("{0}")]
    Other(String),
}

impl CommandError {
    /// Builds the unknown-command error as Redis words it: each of the first arguments quoted and
    /// followed by a space, the whole preview capped so a huge request can't make a huge error.
    pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> Self {
        const PREVIEW: usize = 128;
        let mut preview = String::new();
        for arg in args {
            if preview.len() >= PREVIEW {
                break;
            }
            let text = String::from_utf8_lossy(arg);
            let room = PREVIEW - preview.len();
            let cut: String = text.chars().take(room).collect();
            preview.push('\'');
            preview.push_str(&cut);
            preview.push_str("' ");
        }
        let name = String::from_utf8_lossy(&name[..name.len().min(PREVIEW)]).into_owned();
        CommandError::UnknownCommand { name, args: preview }
    }
}
