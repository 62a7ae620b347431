//! TinyKV's wire protocol, shared by the server and the CLI.
//!
//! Requests arrive either as inline text lines (the original TinyKV protocol, for telnet and netcat)
//! or as RESP arrays of bulk strings (what every Redis client sends). Replies are RESP2, or RESP3 for a
//! connection that asked for it with `HELLO 3`.
//!
//! - [`request`]: incremental parsing of both request forms, with every length capped before it is trusted.
//! - [`reply`]: the [`Reply`] type and its encoding for either protocol version.
//! - [`codec`]: [`ServerCodec`] and [`ClientCodec`], tokio-util codecs built from the two above.
//! - [`table`]: the one table of every command, used for arity checks, `COMMAND`, completion and help.
//! - [`error`]: [`ProtocolError`] (the stream can't be trusted: close) and [`CommandError`] (reply and go on).

pub mod codec;
pub mod command;
pub mod error;
mod parse;
// --- sorted sets ---
mod parse_zset;
// --- sort ---
mod parse_sort;
pub mod reply;
pub mod request;
pub mod score;
pub mod syntax;
pub mod table;

pub use codec::{ClientCodec, ServerCodec};
pub use command::{ArgList, Command};
pub use error::{CommandError, ProtocolError};
pub use reply::{Protocol, Reply, ReplyStream, GREETING, GREETING_TEXT};
pub use request::{split_args, Limits, Request, RequestDecoder, SplitError};
pub use table::{CommandSpec, COMMANDS};
