//! Pub/sub: `(P|S)SUBSCRIBE`, `(P|S)UNSUBSCRIBE`, `PUBLISH`, `SPUBLISH`, `PUBSUB`, with Redis 7's
//! reply shapes.
//!
//! A subscription confirmation is a push frame (`>` in RESP3, an array in RESP2), one per channel, with
//! the client's count after it: channels plus patterns for `(P)SUBSCRIBE`, shard channels for
//! `SSUBSCRIBE`, as Redis counts. Messages reach the client through its [`Mailbox`], which the
//! connection drains; the session only records what the client subscribes to, so it can leave
//! nothing behind when it unsubscribes, resets or disconnects.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use tinykv_proto::command::{PubSubCommand, SubscriptionKind};
use tinykv_proto::Reply;

use super::server::help_reply;
use super::Session;
use crate::pubsub::Mailbox;
use crate::shared::Shared;

/// What one client subscribes to, and its mailbox (kept once made: a client that subscribed once
/// is likely to again, and an idle mailbox costs a few words).
#[derive(Debug)]
pub struct Subscriptions {
    mailbox: Arc<Mailbox>,
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
    /// In `MONITOR` mode.
    monitoring: bool,
}

impl Subscriptions {
    fn set(&mut self, kind: SubscriptionKind) -> &mut HashSet<Bytes> {
        match kind {
            SubscriptionKind::Channel => &mut self.channels,
            SubscriptionKind::Pattern => &mut self.patterns,
            SubscriptionKind::Shard => &mut self.shard,
        }
    }

    /// The count a confirmation carries, as Redis's: shard subscriptions are counted apart.
    fn count(&self, kind: SubscriptionKind) -> usize {
        match kind {
            SubscriptionKind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// Whether the client is in pub/sub mode (any subscription at all).
    fn any(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    /// The mailbox messages for this client arrive in.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }
}

impl Session {
    /// Whether the client subscribes to anything: in RESP2 it may then only run the pub/sub
    /// commands, `PING`, `QUIT` and `RESET`.
    pub fn subscribed(&self) -> bool {
        self.subscriptions.as_ref().is_some_and(|subs| subs.any())
    }

    /// The mailbox of a client that has subscribed at some point: the connection waits on it beside
    /// the socket. `None` for every other client, whose loop stays as it was.
    pub fn mailbox(&self) -> Option<&Arc<Mailbox>> {
        self.subscriptions.as_ref().map(|subs| &subs.mailbox)
    }

    fn note_subscriptions(&self) {
        if let Some(subs) = &self.subscriptions {
            self.client.set_subscriptions(subs.channels.len(), subs.patterns.len(), subs.shard.len(), subs.any());
        }
    }
}

fn frame(name: &'static str, channel: Option<Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::Bulk(Bytes::from_static(name.as_bytes())),
        channel.map_or(Reply::Null, Reply::Bulk),
        Reply::Integer(count as i64),
    ])
}

/// One frame alone, or several one after another.
fn frames(mut replies: Vec<Reply>) -> Reply {
    if replies.len() == 1 {
        replies.pop().unwrap_or(Reply::Null)
    } else {
        Reply::Frames(replies)
    }
}

/// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`: one confirmation per name, a name already subscribed to
/// confirmed again (as Redis does) without a second subscription.
pub(super) fn subscribe(shared: &Shared, session: &mut Session, kind: SubscriptionKind, names: Vec<Bytes>) -> Reply {
    let client = session.client.id;
    let subs = subscriptions(session);
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        if !subs.set(kind).contains(&name) {
            shared.pubsub.subscribe(kind, &name, client, &subs.mailbox);
            subs.set(kind).insert(name.clone());
        }
        replies.push(frame(kind.subscribe_name(), Some(name), subs.count(kind)));
    }
    session.note_subscriptions();
    frames(replies)
}

/// The client's subscriptions, made (with its mailbox) on first use.
fn subscriptions(session: &mut Session) -> &mut Subscriptions {
    session.subscriptions.get_or_insert_with(|| {
        Box::new(Subscriptions {
            mailbox: Arc::new(Mailbox::new(Arc::clone(&session.client))),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard: HashSet::new(),
            monitoring: false,
        })
    })
}

/// `MONITOR`: from now on, every command another client runs arrives in this client's mailbox as a
/// line (see [`feed_monitors`]).
pub(super) fn monitor(shared: &Shared, session: &mut Session) -> Reply {
    let client = session.client.id;
    let subs = subscriptions(session);
    subs.monitoring = true;
    shared.pubsub.monitor(client, Some(&subs.mailbox));
    Reply::ok()
}

/// Gives the command just run to the `MONITOR` clients, in Redis's format:
/// `+<unix seconds>.<micros> [<db> <addr>] "name" "arg" ...`, each argument quoted and escaped as
/// Redis's `sdscatrepr`, `AUTH`'s arguments and `HELLO`'s credentials redacted.
pub(super) fn feed_monitors(shared: &Shared, session: &Session, args: &[Bytes]) {
    use std::fmt::Write;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut line = String::with_capacity(64 + args.iter().map(Bytes::len).sum::<usize>());
    let _ = write!(line, "+{}.{:06} [{} {}]", now.as_secs(), now.subsec_micros(), session.db, session.client.addr);
    let name = args.first().map(|name| name.to_ascii_uppercase());
    let redacted = |i: usize| match name.as_deref() {
        Some(b"AUTH") => i > 0,
        Some(b"HELLO") => {
            args.iter().position(|arg| arg.eq_ignore_ascii_case(b"AUTH")).is_some_and(|at| i == at + 1 || i == at + 2)
        }
        _ => false,
    };
    for (i, arg) in args.iter().enumerate() {
        line.push(' ');
        if redacted(i) {
            line.push_str("\"(redacted)\"");
        } else {
            repr(arg, &mut line);
        }
    }
    line.push_str("\r\n");
    shared.pubsub.feed_monitors(Bytes::from(line));
}

/// Redis's `sdscatrepr`: a quoted string with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b` escaped and
/// other unprintable bytes as `\xHH`.
fn repr(bytes: &[u8], out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b' '..=b'~' => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push('"');
}

/// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE`: the names given, or every one of that kind; with
/// none to leave, one confirmation with a null name.
pub(super) fn unsubscribe(shared: &Shared, session: &mut Session, kind: SubscriptionKind, names: Vec<Bytes>) -> Reply {
    let client = session.client.id;
    let Some(subs) = session.subscriptions.as_mut() else {
        if names.is_empty() {
            return frame(kind.unsubscribe_name(), None, 0);
        }
        return frames(names.into_iter().map(|name| frame(kind.unsubscribe_name(), Some(name), 0)).collect());
    };
    let names = if names.is_empty() { subs.set(kind).iter().cloned().collect() } else { names };
    if names.is_empty() {
        return frame(kind.unsubscribe_name(), None, subs.count(kind));
    }
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        if subs.set(kind).remove(&name) {
            shared.pubsub.unsubscribe(kind, &name, client);
        }
        replies.push(frame(kind.unsubscribe_name(), Some(name), subs.count(kind)));
    }
    session.note_subscriptions();
    frames(replies)
}

/// Leaves every subscription (and `MONITOR` mode) without a word: at `RESET` and when the
/// connection ends.
pub fn unsubscribe_all(shared: &Shared, session: &mut Session) {
    let client = session.client.id;
    let Some(subs) = session.subscriptions.as_mut() else { return };
    if std::mem::take(&mut subs.monitoring) {
        shared.pubsub.monitor(client, None);
    }
    for kind in [SubscriptionKind::Channel, SubscriptionKind::Pattern, SubscriptionKind::Shard] {
        for name in subs.set(kind).drain() {
            shared.pubsub.unsubscribe(kind, &name, client);
        }
    }
    session.note_subscriptions();
}

/// `PUBLISH`, `SPUBLISH`: how many subscribers (pattern matches included) the message was given to.
pub(super) fn publish(shared: &Shared, kind: SubscriptionKind, channel: &Bytes, message: &Bytes) -> Reply {
    Reply::Integer(shared.pubsub.publish(kind, channel, message) as i64)
}

/// `PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB|HELP`.
pub(super) fn pubsub(shared: &Shared, sub: PubSubCommand) -> Reply {
    match sub {
        PubSubCommand::Channels { kind, pattern } => {
            Reply::Array(shared.pubsub.channels(kind, pattern.as_deref()).into_iter().map(Reply::Bulk).collect())
        }
        PubSubCommand::NumSub { kind, channels } => {
            let mut pairs = Vec::with_capacity(channels.len() * 2);
            for channel in channels {
                let count = shared.pubsub.numsub(kind, &channel);
                pairs.push(Reply::Bulk(channel));
                pairs.push(Reply::Integer(count as i64));
            }
            Reply::Array(pairs)
        }
        PubSubCommand::NumPat => Reply::Integer(shared.pubsub.numpat() as i64),
        PubSubCommand::Help => help_reply(
            "PUBSUB",
            &[
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
            ],
        ),
    }
}
