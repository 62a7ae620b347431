//! TinyKV's server as a library, so tests and embedders can run it on a listener of their own.
//!
//! [`server::run`] serves a bound listener until a cancellation token fires. Everything else is
//! the path of one request: [`connection`] reads and batches, `tinykv_proto` parses,
//! [`execute`] runs a command against the [`db`], and the reply goes back the same way.

pub mod access;
pub mod aof;
// --- arena ---
pub mod arena;
pub mod auth;
// --- lists ---
pub mod blocking;
pub mod clients;
pub mod clock;
pub mod collections;
pub mod config;
pub mod connection;
pub mod db;
pub mod entry;
pub mod evict;
pub mod execute;
pub mod glob;
pub mod info;
pub mod isolation;
pub mod keyspace_events;
pub mod lazyfree;
pub mod output_limits;
pub mod pubsub;
pub mod rdb;
// --- scripting ---
pub mod replication;
pub mod scripting;
pub mod server;
pub mod settings;
pub mod shared;
pub mod slowlog;
pub mod stats;
// --- threads ---
pub mod workers;
// --- sorted sets ---
pub mod zset;

pub use config::Config;
pub use server::run;
pub use shared::{ServerError, Shared};
