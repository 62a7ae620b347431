//! The replication commands (`PSYNC`, `SYNC`, `REPLCONF`, `REPLICAOF`/`SLAVEOF`, `ROLE`, `WAIT`),
//! the replica's gates (`-READONLY`, `-LOADING`, `-MASTERDOWN`), the primary's (`-NOREPLICAS`), and
//! what a write records in the replication stream.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tinykv_proto::command::ClientType;
use tinykv_proto::table::{CommandSpec, Flag};
use tinykv_proto::{CommandError, Reply, Request};

use super::Session;
use crate::access;
use crate::aof::{record_effect, Aof, Effect, Sink};
use crate::replication::primary::{Handover, WaitFor};
use crate::shared::Shared;

/// How a write is recorded in the replication stream (see `Replication::whole_keys`).
pub(super) enum Recording {
    /// No replicas: nothing to record.
    Off,
    /// As the append-only file records it: collection commands record partial effects as they run.
    Partial,
    /// Each key the command names, read back whole after it ran: a full sync's walk is running.
    Whole,
}

/// The replication stream as a sink while replicas are fed, for records made outside a command's
/// own [`Recording`]: a library change, a blocked client served after the command.
pub(super) fn live_feed(shared: &Shared) -> Option<&dyn Sink> {
    shared.replication.feeding().then_some(&shared.replication as &dyn Sink)
}

impl Recording {
    /// Decided before the command runs.
    pub(super) fn start(shared: &Shared) -> Recording {
        let replication = &shared.replication;
        if !replication.feeding() {
            Recording::Off
        } else if replication.whole_keys() {
            Recording::Whole
        } else {
            Recording::Partial
        }
    }

    /// Where the command's own (partial) records go. While a walk runs they go too: a blocked
    /// client a push serves moves an element to a key the command does not name, which only its
    /// record carries (the keys it names are then read back whole after it, which supersedes theirs).
    pub(super) fn partial<'a>(&self, shared: &'a Shared) -> Option<&'a dyn Sink> {
        match self {
            Recording::Off => None,
            Recording::Partial | Recording::Whole => Some(&shared.replication),
        }
    }

    /// After a write that did not fail: the records read back from the keys. A command that began
    /// before a full sync's walk and ends during it adds whole-key records, so no change that
    /// reaches the new replica's feed is only partial.
    pub(super) fn finish(self, shared: &Shared, spec: &CommandSpec, request: &Request, db: usize) {
        let replication = &shared.replication;
        let whole_now = || replication.feeding() && replication.whole_keys();
        let effect = match self {
            Recording::Whole => Aof::whole_key_effect_of(spec, request, db),
            Recording::Partial | Recording::Off if whole_now() => Aof::whole_key_effect_of(spec, request, db),
            Recording::Partial => Aof::effect_of(spec, request, db),
            Recording::Off => None,
        };
        if let Some(effect) = effect {
            access::untouched(|| record_effect(replication, &shared.dbs, &effect));
            // A swap whose record joins a feed whose walk may already have seen it swapped would
            // be applied twice: those replicas sync again.
            if matches!(effect, Effect::Swap(..)) && replication.whole_keys() {
                replication.drop_syncing_feeds();
            }
        }
    }
}

/// The replication refusals, after the others of `gate`: a write on a replica (`-READONLY`),
/// anything but a few commands while a replica loads its primary's RDB (`-LOADING`) or while its
/// link is down with `--replica-serve-stale-data no` (`-MASTERDOWN`), and writes without enough
/// good replicas (`-NOREPLICAS`).
pub(super) fn gate(spec: &CommandSpec, shared: &Shared, session: &Session) -> Option<Reply> {
    let replication = &shared.replication;
    if replication.is_replica() {
        if replication.link.is_loading() && !spec.has(Flag::Loading) {
            return Some(Reply::error("LOADING Redis is loading the dataset in memory"));
        }
        if session.client.kind() == ClientType::Master {
            return None;
        }
        if spec.has(Flag::Write) {
            return Some(Reply::error("READONLY You can't write against a read only replica."));
        }
        if !shared.config.replica_serve_stale_data && !spec.has(Flag::Stale) && !replication.link.is_up() {
            return Some(Reply::error(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ));
        }
        return None;
    }
    let wanted = shared.config.min_replicas_to_write;
    if wanted > 0
        && spec.has(Flag::Write)
        && (replication.good_replicas(shared.config.min_replicas_max_lag) as u64) < wanted
    {
        return Some(Reply::error("NOREPLICAS Not enough good replicas to write."));
    }
    None
}

/// `PSYNC replid offset`: hands the connection over to the primary side (which answers).
pub(super) fn psync(shared: &Shared, session: &mut Session, replid: &Bytes, offset: &Bytes) -> Reply {
    if let Some(refusal) = sync_refusal(shared) {
        return refusal;
    }
    let replid = String::from_utf8_lossy(replid).into_owned();
    let offset = std::str::from_utf8(offset).ok().and_then(|o| o.parse::<i64>().ok()).unwrap_or(-1);
    session.handover = Some(Handover::Psync { replid, offset });
    Reply::ok()
}

/// `SYNC`: a full sync without `+FULLRESYNC`.
pub(super) fn sync(shared: &Shared, session: &mut Session) -> Reply {
    if let Some(refusal) = sync_refusal(shared) {
        return refusal;
    }
    session.handover = Some(Handover::Sync);
    Reply::ok()
}

/// Why a `PSYNC`/`SYNC` is refused: a replica whose own link is down has nothing current to give
/// (this also stops a server asked to replicate itself from syncing from itself).
fn sync_refusal(shared: &Shared) -> Option<Reply> {
    let replication = &shared.replication;
    if replication.is_replica() && !replication.link.is_up() {
        return Some(Reply::error("NOMASTERLINK Can't SYNC while not connected with my master"));
    }
    None
}

/// `REPLCONF option value ...`: what a replica says about itself before `PSYNC`.
pub(super) fn replconf(session: &mut Session, pairs: &[(Bytes, Bytes)]) -> Reply {
    for (option, value) in pairs {
        let option_text = String::from_utf8_lossy(option).to_ascii_lowercase();
        match option_text.as_str() {
            "listening-port" => match std::str::from_utf8(value).ok().and_then(|v| v.parse::<u16>().ok()) {
                Some(port) => session.replconf.listening_port = port,
                None => return CommandError::NotInteger.into(),
            },
            "ip-address" => session.replconf.ip = Some(String::from_utf8_lossy(value).into_owned()),
            "capa" => {
                if value.eq_ignore_ascii_case(b"eof") {
                    session.replconf.capa_eof = true;
                } else if value.eq_ignore_ascii_case(b"psync2") {
                    session.replconf.capa_psync2 = true;
                }
            }
            // Sent by replicas on their primary link, which the primary side reads itself.
            "ack" | "getack" | "fack" => {}
            "rdb-only" | "rdb-filter-only" => {}
            _ => {
                return Reply::error(format!("ERR Unrecognized REPLCONF option: {}", String::from_utf8_lossy(option)));
            }
        }
    }
    Reply::ok()
}

/// `REPLICAOF host port` / `REPLICAOF NO ONE`.
pub(super) fn replicaof(shared: &Shared, target: Option<(Bytes, Bytes)>) -> Reply {
    let replication = &shared.replication;
    let Some((host, port)) = target else {
        if replication.link.set_target(None) || replication.is_replica() {
            replication.become_primary();
            shared.counters.set_replica(false);
            tracing::info!("REPLICAOF NO ONE: this server is a primary now");
        }
        return Reply::ok();
    };
    let port = match std::str::from_utf8(&port).ok().and_then(|p| p.parse::<i64>().ok()) {
        Some(port) if (0..=65535).contains(&port) => port as u16,
        Some(_) => return Reply::error("ERR Invalid master port"),
        None => return CommandError::NotInteger.into(),
    };
    let host = String::from_utf8_lossy(&host).into_owned();
    if replication.link.target() == Some((host.clone(), port)) {
        return Reply::status("OK Already connected to specified master");
    }
    replication.become_replica();
    shared.counters.set_replica(true);
    // Our replicas follow us to the new primary's data: they sync again.
    replication.drop_feeds();
    replication.link.set_target(Some((host.clone(), port)));
    tracing::info!(primary = %format!("{host}:{port}"), "REPLICAOF: this server is a replica now");
    Reply::ok()
}

/// `ROLE`: `master offset [[ip port offset] ...]` or `slave host port state offset`.
pub(super) fn role(shared: &Shared) -> Reply {
    let replication = &shared.replication;
    let offset = replication.offset() as i64;
    match replication.link.status() {
        Some(link) => Reply::Array(vec![
            Reply::bulk("slave"),
            Reply::Bulk(Bytes::from(link.host)),
            Reply::Integer(i64::from(link.port)),
            Reply::bulk(link.state.name()),
            Reply::Integer(if link.state == crate::replication::replica::LinkState::Connected { offset } else { -1 }),
        ]),
        None => {
            let replicas = replication
                .feeds()
                .iter()
                .filter(|feed| feed.state() == crate::replication::FeedState::Online)
                .map(|feed| {
                    Reply::Array(vec![
                        Reply::Bulk(Bytes::from(feed.ip.clone())),
                        Reply::Bulk(Bytes::from(feed.port.load(Ordering::Relaxed).to_string())),
                        Reply::Bulk(Bytes::from(feed.ack.load(Ordering::Relaxed).to_string())),
                    ])
                })
                .collect();
            Reply::Array(vec![Reply::bulk("master"), Reply::Integer(offset), Reply::Array(replicas)])
        }
    }
}

/// `WAIT numreplicas timeout`: answered at once when enough replicas acknowledged the stream as it
/// is now (or inside `MULTI`); otherwise asks them for ACKs and leaves the connection to wait.
pub(super) fn wait(shared: &Shared, session: &mut Session, numreplicas: i64, timeout: i64) -> Reply {
    let replication = &shared.replication;
    if replication.is_replica() {
        return Reply::error(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        );
    }
    let offset = replication.offset();
    let acked = replication.acked(offset);
    if session.in_exec || numreplicas <= 0 || acked as i64 >= numreplicas {
        return Reply::Integer(acked as i64);
    }
    replication.append_command(&[b"REPLCONF", b"GETACK", b"*"]);
    let timeout = (timeout > 0).then(|| Duration::from_millis(timeout as u64));
    session.wait = Some(WaitFor { replicas: numreplicas as usize, offset, timeout });
    session.would_block = true;
    Reply::Integer(acked as i64)
}
