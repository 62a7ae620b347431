//! The pub/sub registry: who listens to which channel, pattern and shard channel, and each
//! subscriber's mailbox of messages not yet written to it.
//!
//! ```text
//! PUBLISH ch msg  ->  channels[ch]: every mailbox        (one read lock, one hash lookup)
//!                 ->  patterns matching ch: every mailbox (skipped without a lock when none exist)
//! mailbox         ->  the subscriber's connection, woken by a Notify, encodes in its own protocol
//! ```
//!
//! A publisher never writes to a socket and never waits for a subscriber: it appends a message
//! (shared, reference-counted bytes) to each mailbox and wakes its connection. A subscriber that
//! does not read lets its mailbox grow only up to the `pubsub` class of `client-output-buffer-limit`
//! (`--client-output-buffer-limit-pubsub`, or `CONFIG SET` while running): past the hard limit (or the soft one for long enough) it is killed, its mailbox emptied, and counted in
//! `INFO stats` (`client_output_buffer_limit_disconnections`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tinykv_proto::command::SubscriptionKind;
use tinykv_proto::{Protocol, Reply};
use tokio::sync::Notify;

use crate::clients::ClientInfo;
use crate::config::OutputLimit;
use crate::glob;
use crate::output_limits::{ClientClass, OutputLimits};

/// What a queued message costs beyond its bytes (its place in the queue, the frame's headers), for
/// the output limit: roughly what Redis's reply list spends per message.
const MESSAGE_OVERHEAD: usize = 64;

/// Subscribers of one channel (or pattern), by client id.
type Subscribers = HashMap<u64, Arc<Mailbox>>;

/// One message waiting in a mailbox.
#[derive(Debug, Clone)]
struct Message {
    kind: SubscriptionKind,
    /// The pattern that matched, for a `pmessage`.
    pattern: Option<Bytes>,
    channel: Bytes,
    payload: Bytes,
}

/// What waits in a mailbox: a pub/sub message, or a `MONITOR` line (already on the wire's form).
#[derive(Debug, Clone)]
enum Mail {
    Message(Message),
    Line(Bytes),
}

impl Mail {
    fn size(&self) -> usize {
        match self {
            Mail::Message(message) => message.size(),
            Mail::Line(line) => line.len() + MESSAGE_OVERHEAD,
        }
    }

    fn encode(self, protocol: Protocol, dst: &mut bytes::BytesMut) {
        match self {
            Mail::Message(message) => message.reply().encode(protocol, dst),
            Mail::Line(line) => dst.extend_from_slice(&line),
        }
    }
}

impl Message {
    fn size(&self) -> usize {
        self.channel.len() + self.payload.len() + self.pattern.as_ref().map_or(0, Bytes::len) + MESSAGE_OVERHEAD
    }

    /// The frame Redis sends: `message ch payload`, `pmessage pattern ch payload`, `smessage ch payload`.
    fn reply(self) -> Reply {
        let mut items = Vec::with_capacity(4);
        match (self.kind, self.pattern) {
            (SubscriptionKind::Pattern, Some(pattern)) => {
                items.push(Reply::Bulk(Bytes::from_static(b"pmessage")));
                items.push(Reply::Bulk(pattern));
            }
            (SubscriptionKind::Shard, _) => items.push(Reply::Bulk(Bytes::from_static(b"smessage"))),
            _ => items.push(Reply::Bulk(Bytes::from_static(b"message"))),
        }
        items.push(Reply::Bulk(self.channel));
        items.push(Reply::Bulk(self.payload));
        Reply::Push(items)
    }
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<Mail>,
    /// Bytes of `messages` (with [`MESSAGE_OVERHEAD`] each).
    bytes: usize,
    /// Since when the soft limit has been exceeded without a break.
    over_soft_since: Option<Instant>,
    /// Killed for its backlog: nothing more is queued.
    closed: bool,
}

/// One subscribed connection's messages not yet written to it. The connection takes them out when
/// it is woken and writes them in its own protocol, so a publisher costs each subscriber one
/// push and one wake-up, whatever the subscriber's protocol.
#[derive(Debug)]
pub struct Mailbox {
    client: Arc<ClientInfo>,
    queue: Mutex<Queue>,
    notify: Notify,
    /// Bytes written into the connection's write buffer and not yet sent: they count toward the
    /// output limit as much as queued ones.
    unsent: AtomicUsize,
}

impl Mailbox {
    /// The mailbox of `client`, which killing (for its backlog) closes.
    pub fn new(client: Arc<ClientInfo>) -> Mailbox {
        Mailbox { client, queue: Mutex::new(Queue::default()), notify: Notify::new(), unsent: AtomicUsize::new(0) }
    }

    /// Resolves once a message arrived since the last time it resolved (or since the last drain).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Whether messages are waiting.
    pub fn has_mail(&self) -> bool {
        !self.queue.lock().messages.is_empty()
    }

    /// Notes how many bytes wait unsent in the connection's write buffer.
    pub fn set_unsent(&self, bytes: usize) {
        self.unsent.store(bytes, Ordering::Relaxed);
    }

    /// Encodes waiting messages into `dst` in `protocol`, until `dst` holds `high_water` bytes.
    /// Returns whether messages are left.
    pub fn drain_into(&self, protocol: Protocol, dst: &mut bytes::BytesMut, high_water: usize) -> bool {
        let mut queue = self.queue.lock();
        while dst.len() < high_water {
            let Some(message) = queue.messages.pop_front() else { break };
            queue.bytes -= message.size();
            message.encode(protocol, dst);
        }
        self.unsent.store(dst.len(), Ordering::Relaxed);
        !queue.messages.is_empty()
    }

    /// Queues a message unless the subscriber is over its limit, in which case it is killed (once)
    /// and `true` is returned so the disconnection is counted.
    fn deliver(&self, message: Mail, limit: OutputLimit) -> bool {
        let mut queue = self.queue.lock();
        if queue.closed {
            return false;
        }
        let size = message.size();
        let total = (queue.bytes + size + self.unsent.load(Ordering::Relaxed)) as u64;
        if limit.exceeded(total, &mut queue.over_soft_since) {
            queue.closed = true;
            queue.messages = VecDeque::new();
            queue.bytes = 0;
            drop(queue);
            tracing::info!(client = self.client.id, addr = %self.client.addr, bytes = total,
                "subscriber closed: past its output buffer limit");
            self.client.kill();
            return true;
        }
        queue.bytes += size;
        queue.messages.push_back(message);
        drop(queue);
        self.notify.notify_one();
        false
    }
}

/// Every subscription on the server.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    shard_channels: RwLock<HashMap<Bytes, Subscribers>>,
    /// Clients in `MONITOR` mode, and how many: commands are formatted for them only when some are.
    monitors: RwLock<Subscribers>,
    monitor_count: AtomicUsize,
    /// How many patterns have subscribers: `PUBLISH` takes the patterns' lock only when some do.
    pattern_count: AtomicUsize,
    /// `client-output-buffer-limit`: its `pubsub` class holds a subscriber's backlog, read live.
    limits: OutputLimits,
    /// Subscribers disconnected for their backlog, for `INFO stats`.
    disconnections: AtomicU64,
}

impl PubSub {
    /// An empty registry holding subscribers to `limit` (until `CONFIG SET` changes it).
    pub fn new(pubsub: OutputLimit, normal: OutputLimit) -> PubSub {
        PubSub { limits: OutputLimits::new(pubsub, normal), ..PubSub::default() }
    }

    /// Every class's `client-output-buffer-limit`, for `CONFIG GET|SET`; the `pubsub` one applies here.
    pub fn output_limits(&self) -> &OutputLimits {
        &self.limits
    }

    /// The limit a subscriber's (or monitor's) backlog is held to now.
    fn limit(&self) -> OutputLimit {
        self.limits.get(ClientClass::Pubsub)
    }

    fn map(&self, kind: SubscriptionKind) -> &RwLock<HashMap<Bytes, Subscribers>> {
        match kind {
            SubscriptionKind::Channel => &self.channels,
            SubscriptionKind::Pattern => &self.patterns,
            SubscriptionKind::Shard => &self.shard_channels,
        }
    }

    /// Adds `mailbox` as a subscriber of `name` (the caller knows it was not one).
    pub fn subscribe(&self, kind: SubscriptionKind, name: &Bytes, client: u64, mailbox: &Arc<Mailbox>) {
        let mut map = self.map(kind).write();
        let subscribers = map.entry(name.clone()).or_default();
        if subscribers.is_empty() && kind == SubscriptionKind::Pattern {
            self.pattern_count.fetch_add(1, Ordering::Relaxed);
        }
        subscribers.insert(client, Arc::clone(mailbox));
    }

    /// Removes `client` from `name`'s subscribers; a channel left with none is forgotten.
    pub fn unsubscribe(&self, kind: SubscriptionKind, name: &[u8], client: u64) {
        let mut map = self.map(kind).write();
        if let Some(subscribers) = map.get_mut(name) {
            subscribers.remove(&client);
            if subscribers.is_empty() {
                map.remove(name);
                if kind == SubscriptionKind::Pattern {
                    self.pattern_count.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Delivers `payload` to the subscribers of `channel` (and, for a plain channel, of every pattern
    /// matching it); returns how many deliveries were made, as `PUBLISH` answers.
    pub fn publish(&self, kind: SubscriptionKind, channel: &Bytes, payload: &Bytes) -> usize {
        let mut receivers = 0;
        let mut closed = 0;
        let limit = self.limit();
        {
            let map = self.map(kind).read();
            if let Some(subscribers) = map.get(channel) {
                for mailbox in subscribers.values() {
                    let message = Message { kind, pattern: None, channel: channel.clone(), payload: payload.clone() };
                    closed += u64::from(mailbox.deliver(Mail::Message(message), limit));
                    receivers += 1;
                }
            }
        }
        if kind == SubscriptionKind::Channel && self.pattern_count.load(Ordering::Relaxed) > 0 {
            let patterns = self.patterns.read();
            for (pattern, subscribers) in patterns.iter() {
                if !glob::matches(pattern, channel) {
                    continue;
                }
                for mailbox in subscribers.values() {
                    let message = Message {
                        kind: SubscriptionKind::Pattern,
                        pattern: Some(pattern.clone()),
                        channel: channel.clone(),
                        payload: payload.clone(),
                    };
                    closed += u64::from(mailbox.deliver(Mail::Message(message), limit));
                    receivers += 1;
                }
            }
        }
        if closed > 0 {
            self.disconnections.fetch_add(closed, Ordering::Relaxed);
        }
        receivers
    }

    /// The channels (or shard channels) with subscribers, those matching `pattern` if given.
    pub fn channels(&self, kind: SubscriptionKind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = self.map(kind).read();
        map.keys().filter(|name| pattern.is_none_or(|pattern| glob::matches(pattern, name))).cloned().collect()
    }

    /// How many clients subscribe to `channel`.
    pub fn numsub(&self, kind: SubscriptionKind, channel: &[u8]) -> usize {
        self.map(kind).read().get(channel).map_or(0, HashMap::len)
    }

    /// How many distinct patterns have subscribers (`PUBSUB NUMPAT`).
    pub fn numpat(&self) -> usize {
        self.pattern_count.load(Ordering::Relaxed)
    }

    /// Adds (or, with `on` false, removes) a `MONITOR` client.
    pub fn monitor(&self, client: u64, mailbox: Option<&Arc<Mailbox>>) {
        let mut monitors = self.monitors.write();
        match mailbox {
            Some(mailbox) => {
                monitors.insert(client, Arc::clone(mailbox));
            }
            None => {
                monitors.remove(&client);
            }
        }
        self.monitor_count.store(monitors.len(), Ordering::Relaxed);
    }

    /// Whether any client is in `MONITOR` mode (one relaxed load).
    pub fn monitored(&self) -> bool {
        self.monitor_count.load(Ordering::Relaxed) > 0
    }

    /// Gives `line` (a status line, `+...\r\n`) to every `MONITOR` client.
    pub fn feed_monitors(&self, line: Bytes) {
        let mut closed = 0;
        let limit = self.limit();
        for mailbox in self.monitors.read().values() {
            closed += u64::from(mailbox.deliver(Mail::Line(line.clone()), limit));
        }
        if closed > 0 {
            self.disconnections.fetch_add(closed, Ordering::Relaxed);
        }
    }

    /// Counts a client disconnected for its output buffer outside pub/sub (a big reply it did not read).
    pub fn count_disconnection(&self) {
        self.disconnections.fetch_add(1, Ordering::Relaxed);
    }

    /// Clients disconnected for their output buffer limits since start (`client_output_buffer_limit_disconnections`).
    pub fn disconnections(&self) -> u64 {
        self.disconnections.load(Ordering::Relaxed)
    }

    /// Channels with subscribers, for `INFO stats`' `pubsub_channels`.
    pub fn channel_count(&self) -> usize {
        self.channels.read().len()
    }

    /// Shard channels with subscribers, for `INFO stats`' `pubsubshard_channels`.
    pub fn shard_channel_count(&self) -> usize {
        self.shard_channels.read().len()
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    fn mailbox(id: u64) -> Arc<Mailbox> {
        Arc::new(Mailbox::new(Arc::new(ClientInfo::new(id, None, None, -1))))
    }

    #[test]
    fn publish_reaches_channel_then_pattern_subscribers_and_counts_them() {
        let pubsub = PubSub::new(OutputLimit::default(), OutputLimit::default());
        let (a, b) = (mailbox(1), mailbox(2));
        let channel = Bytes::from_static(b"news.1");
        pubsub.subscribe(SubscriptionKind::Channel, &channel, 1, &a);
        pubsub.subscribe(SubscriptionKind::Pattern, &Bytes::from_static(b"news.*"), 2, &b);
        pubsub.subscribe(SubscriptionKind::Pattern, &Bytes::from_static(b"other.*"), 2, &b);
        assert_eq!(pubsub.publish(SubscriptionKind::Channel, &channel, &Bytes::from_static(b"hi")), 2);
        assert_eq!(pubsub.publish(SubscriptionKind::Shard, &channel, &Bytes::from_static(b"hi")), 0);
        let mut out = BytesMut::new();
        assert!(!b.drain_into(Protocol::Resp3, &mut out, usize::MAX));
        assert_eq!(&out[..], b">4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$6\r\nnews.1\r\n$2\r\nhi\r\n");
        assert_eq!(pubsub.numpat(), 2);
        pubsub.unsubscribe(SubscriptionKind::Pattern, b"news.*", 2);
        pubsub.unsubscribe(SubscriptionKind::Channel, b"news.1", 1);
        assert_eq!((pubsub.numpat(), pubsub.channel_count()), (1, 0));
    }

    #[test]
    fn a_subscriber_past_the_hard_limit_is_killed_and_others_still_receive() {
        let pubsub = PubSub::new(OutputLimit { hard: 1000, soft: 0, soft_seconds: 0 }, OutputLimit::default());
        let (slow, fast) = (mailbox(1), mailbox(2));
        let channel = Bytes::from_static(b"c");
        pubsub.subscribe(SubscriptionKind::Channel, &channel, 1, &slow);
        pubsub.subscribe(SubscriptionKind::Channel, &channel, 2, &fast);
        let payload = Bytes::from(vec![b'x'; 300]);
        for _ in 0..10 {
            pubsub.publish(SubscriptionKind::Channel, &channel, &payload);
            let mut out = BytesMut::new();
            fast.drain_into(Protocol::Resp2, &mut out, usize::MAX);
            fast.set_unsent(0);
        }
        assert!(slow.client.is_killed() && !fast.client.is_killed());
        assert_eq!(pubsub.disconnections(), 1);
        assert!(!slow.has_mail());
    }
}
