//! One connection to a TinyKV (or Redis) server: connect, skip the greeting, send commands, read replies.
//!
//! A TinyKV server may say `+TinyKV ready` before its first reply: on connect under `--greeting always`, or
//! under the default `--greeting auto` when a connection stays silent for 100 ms (a REPL opened and left
//! waiting). Redis and `--greeting never` say nothing until spoken to. The client never waits for a
//! greeting: it sends at once, and if the very first reply on a connection is exactly that status line, it
//! is dropped and the next reply is the answer. No command answers `+TinyKV ready`, so the rule can't eat a
//! real reply, and it costs nothing against a silent server.

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use tinykv_proto::codec::encode_request;
use tinykv_proto::{ClientCodec, ProtocolError, Reply};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

/// How much encoded pipeline traffic is gathered before one write.
const PIPELINE_CHUNK: usize = 64 * 1024;

/// Where to connect, and how to log in once connected.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Host name or address, as the user wrote it (it is also the prompt).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// ACL user name, sent as `AUTH user password` (redis-cli's `--user`, or the user of a `-u` URL).
    pub user: Option<String>,
    /// Sent with `AUTH` right after connecting, when given.
    pub password: Option<String>,
    /// The database selected right after connecting (`-n`, a URL's `/db`, or the last `SELECT`); 0 sends nothing.
    pub db: i64,
    /// Whether to ask for RESP3 with `HELLO 3` on connect.
    pub resp3: Resp3,
}

/// Whether a connection asks for RESP3, as redis-cli's `-3` and `--json` do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Resp3 {
    /// Stay on RESP2 (`-2`, or no flag).
    #[default]
    Off,
    /// `-3`: a refused `HELLO 3` is a failed connection.
    Required,
    /// `--json`: RESP3 if the server has it (maps become objects); a refusal is reported and the session goes on.
    Preferred,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What can go wrong on the connection itself (error replies are not errors here: they are replies).
#[derive(Debug)]
pub enum ClientError {
    /// The TCP connection could not be made.
    Connect {
        /// `host:port`, as the message names it.
        target: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The server closed the connection before answering.
    Closed,
    /// The socket failed, or the server sent something that is not RESP.
    Broken(String),
    /// Setting the connection up failed (`SELECT 3 failed: ERR DB index is out of range`): the text is
    /// redis-cli's message, and nothing the user asked for was sent.
    Setup(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { target, source } => {
                write!(f, "Could not connect to {target}: {}", io_reason(source))
            }
            ClientError::Closed => f.write_str("Error: Server closed the connection"),
            ClientError::Broken(why) => write!(f, "Error: {why}"),
            ClientError::Setup(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => {
                ClientError::Closed
            }
            _ => ClientError::Broken(io_reason(&err)),
        }
    }
}

impl From<ProtocolError> for ClientError {
    fn from(err: ProtocolError) -> Self {
        match err {
            // The codec turns socket errors into text; a reset peer is still just a closed connection.
            ProtocolError::Io(text) if text.contains("reset") || text.contains("Broken pipe") => ClientError::Closed,
            ProtocolError::Io(text) => ClientError::Broken(text),
            other => ClientError::Broken(format!("Protocol error: {other}")),
        }
    }
}

/// An OS error as a person reads it: `Connection refused`, without Rust's ` (os error 111)`.
fn io_reason(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// Replies as they arrive, with the greeting taken out.
pub struct Replies {
    frames: FramedRead<OwnedReadHalf, ClientCodec>,
    /// True until the first reply has been read: only the first can be the greeting.
    maybe_greeting: bool,
}

impl Replies {
    /// The next frame the server sent, push frames included (in subscribed mode, the next message).
    pub async fn next_frame(&mut self) -> Result<Reply, ClientError> {
        loop {
            let reply = self.frames.next().await.ok_or(ClientError::Closed)??;
            if !self.take_greeting(&reply) {
                return Ok(reply);
            }
        }
    }

    /// The next reply that answers a request; RESP3 push frames that arrive before it (client tracking
    /// invalidations) go to `on_push` in order and are never taken for the reply.
    pub async fn next_with_pushes(&mut self, mut on_push: impl FnMut(Reply)) -> Result<Reply, ClientError> {
        loop {
            match self.next_frame().await? {
                push @ Reply::Push(_) => on_push(push),
                reply => return Ok(reply),
            }
        }
    }

    /// The next reply that answers a request; push frames before it are dropped (the tools' rounds).
    pub async fn next(&mut self) -> Result<Reply, ClientError> {
        self.next_with_pushes(drop).await
    }

    /// Whether `reply` is the greeting (and so is to be dropped).
    fn take_greeting(&mut self, reply: &Reply) -> bool {
        let first = std::mem::replace(&mut self.maybe_greeting, false);
        first && reply.is_greeting()
    }
}

/// What a pipeline hands back: a command's outcome, in order, or a push frame the server sent unasked.
pub enum Incoming<E> {
    /// The reply to the next command (or the local error that stood in its place).
    Reply(Result<Reply, E>),
    /// A RESP3 push frame (a client tracking invalidation), not an answer to anything.
    Push(Reply),
}

/// One open connection.
pub struct Connection {
    replies: Replies,
    writer: OwnedWriteHalf,
    buf: BytesMut,
}

impl Connection {
    /// Connects to `target`, logs in if it has a password, selects its database and switches to RESP3 if
    /// asked, in redis-cli's order. A refused `AUTH` is reported on stderr but leaves the connection open: the
    /// server will say `NOAUTH` to what follows. A refused `SELECT` (or `HELLO 3` under `-3`) fails the
    /// connection with redis-cli's message, so a command meant for database 3 never runs in database 0.
    pub async fn open(target: &Target) -> Result<Connection, ClientError> {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|source| ClientError::Connect { target: target.to_string(), source })?;
        // Interactive round trips must not wait for Nagle.
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        let replies = Replies { frames: FramedRead::new(read, ClientCodec::default()), maybe_greeting: true };
        let mut conn = Connection { replies, writer, buf: BytesMut::new() };
        if let Some(password) = &target.password {
            let mut auth = vec![b"AUTH".to_vec()];
            if let Some(user) = &target.user {
                auth.push(user.clone().into_bytes());
            }
            auth.push(password.clone().into_bytes());
            if let Reply::Error(text) = conn.execute(&auth).await? {
                eprintln!("AUTH failed: {text}");
            }
        }
        if target.db != 0 {
            let db = target.db.to_string();
            if let Reply::Error(text) = conn.execute(&["SELECT", db.as_str()]).await? {
                return Err(ClientError::Setup(format!("SELECT {db} failed: {text}")));
            }
        }
        if target.resp3 != Resp3::Off {
            if let Reply::Error(text) = conn.execute(&["HELLO", "3"]).await? {
                let message = format!("HELLO 3 failed: {text}");
                if target.resp3 == Resp3::Required {
                    return Err(ClientError::Setup(message));
                }
                eprintln!("{message}");
            }
        }
        Ok(conn)
    }

    /// Sends one command without waiting for its reply (subscribe and monitor modes read on with
    /// [`Connection::read`]; the tools pipeline their own requests).
    pub async fn send<T: AsRef<[u8]>>(&mut self, args: &[T]) -> Result<(), ClientError> {
        self.buf.clear();
        encode_request(args, &mut self.buf);
        self.writer.write_all(&self.buf).await?;
        Ok(())
    }

    /// Sends every command in one write, then reads their replies in order: the tools' pipelined
    /// `TYPE`/`STRLEN` rounds, one round trip per SCAN batch instead of one per key.
    pub async fn execute_all(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, ClientError> {
        self.buf.clear();
        for args in commands {
            encode_request(args, &mut self.buf);
        }
        self.writer.write_all(&self.buf).await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(self.replies.next().await?);
        }
        Ok(replies)
    }

    /// Reads the next reply or pushed message.
    pub async fn read(&mut self) -> Result<Reply, ClientError> {
        self.replies.next_frame().await
    }

    /// The two halves, for `--pipe`, which writes stdin's bytes as they are while it counts replies.
    pub fn into_parts(self) -> (Replies, OwnedWriteHalf) {
        (self.replies, self.writer)
    }

    /// Sends one command and waits for its reply (push frames before it are dropped).
    pub async fn execute<T: AsRef<[u8]>>(&mut self, args: &[T]) -> Result<Reply, ClientError> {
        self.execute_with_pushes(args, drop).await
    }

    /// Sends one command and waits for its reply; push frames that arrive first go to `on_push`.
    pub async fn execute_with_pushes<T: AsRef<[u8]>>(
        &mut self,
        args: &[T],
        on_push: impl FnMut(Reply),
    ) -> Result<Reply, ClientError> {
        self.send(args).await?;
        self.replies.next_with_pushes(on_push).await
    }

    /// Sends every command that arrives on `commands` without waiting for replies, while reading the
    /// replies concurrently; `on_reply` gets each outcome in the order the commands came (and every push
    /// frame where it arrived, as [`Incoming::Push`]), and whether more are already due (so output can be
    /// flushed only once it has caught up), and returns whether to go on (no point reading replies nobody
    /// can see). An `Err` item is not sent: it is handed back in its place in the order, so local errors
    /// interleave correctly.
    ///
    /// Writing and reading at once is what keeps a long pipeline from deadlocking: the server stops reading
    /// from a client that does not read its replies.
    pub async fn pipeline<E>(
        &mut self,
        mut commands: mpsc::Receiver<Result<Vec<Vec<u8>>, E>>,
        mut on_reply: impl FnMut(Incoming<E>, bool) -> bool,
    ) -> Result<(), ClientError> {
        // One slot per command in order: `None` waits for a reply, `Some(err)` is a local error.
        let (order_tx, mut order_rx) = mpsc::unbounded_channel::<Option<E>>();
        let Connection { replies, writer, buf } = self;
        let send = async move {
            while let Some(first) = commands.recv().await {
                buf.clear();
                let mut next = Some(first);
                // Gather whatever is already waiting, so one write carries many commands.
                while let Some(item) = next.take() {
                    match item {
                        Ok(args) => {
                            encode_request(&args, buf);
                            let _ = order_tx.send(None);
                        }
                        Err(err) => {
                            let _ = order_tx.send(Some(err));
                        }
                    }
                    if buf.len() < PIPELINE_CHUNK {
                        next = commands.try_recv().ok();
                    }
                }
                writer.write_all(buf).await?;
            }
            Ok::<(), ClientError>(())
        };
        let receive = async {
            while let Some(slot) = order_rx.recv().await {
                let outcome = match slot {
                    Some(err) => Err(err),
                    None => loop {
                        match replies.next_frame().await? {
                            push @ Reply::Push(_) => {
                                if !on_reply(Incoming::Push(push), true) {
                                    return Ok(());
                                }
                            }
                            reply => break Ok(reply),
                        }
                    },
                };
                if !on_reply(Incoming::Reply(outcome), !order_rx.is_empty()) {
                    break;
                }
            }
            Ok::<(), ClientError>(())
        };
        // Receiving ends last (once every command sent has its reply) unless told to stop. If sending
        // fails (the server hung up), the replies that did arrive, such as the error it hung up with,
        // are still shown before the failure is reported.
        tokio::pin!(receive);
        tokio::select! {
            result = &mut receive => result,
            Err(err) = send => {
                let _ = receive.await;
                Err(err)
            }
        }
    }

    /// Checks, without blocking for more than a moment, whether the server has closed the connection.
    /// Anything the server sent unasked (the greeting, or an error such as `max number of clients reached`
    /// before it hangs up) is consumed; replies other than the greeting are returned so they can be shown.
    pub async fn probe(&mut self) -> Result<Vec<Reply>, (ClientError, Vec<Reply>)> {
        // A short timer, not zero: the runtime then polls the socket's readiness before giving up.
        const PROBE: Duration = Duration::from_millis(1);
        // A server that keeps talking unasked must not keep the prompt away for ever.
        const MOST_UNASKED: usize = 64;
        let mut unasked = Vec::new();
        while unasked.len() < MOST_UNASKED {
            match tokio::time::timeout(PROBE, self.replies.frames.next()).await {
                Err(_elapsed) => return Ok(unasked),
                Ok(None) => return Err((ClientError::Closed, unasked)),
                Ok(Some(Err(err))) => return Err((err.into(), unasked)),
                Ok(Some(Ok(reply))) => {
                    if !self.replies.take_greeting(&reply) {
                        unasked.push(reply);
                    }
                }
            }
        }
        Ok(unasked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_read_like_redis_cli() {
        let err =
            ClientError::Connect { target: "127.0.0.1:4040".to_owned(), source: io::Error::from_raw_os_error(111) };
        assert_eq!(err.to_string(), "Could not connect to 127.0.0.1:4040: Connection refused");
    }

    #[test]
    fn only_the_first_reply_can_be_the_greeting() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                socket.write_all(tinykv_proto::GREETING).await.unwrap();
                let mut buf = [0; 1024];
                use tokio::io::AsyncReadExt;
                // Each request is one small write from the client; answer each with the greeting text.
                for _ in 0..2 {
                    let _ = socket.read(&mut buf).await.unwrap();
                    socket.write_all(tinykv_proto::GREETING).await.unwrap();
                }
            });
            let target = Target { host: "127.0.0.1".to_owned(), port, ..Target::default() };
            let mut conn = Connection::open(&target).await.unwrap();
            assert_eq!(conn.execute(&["PING"]).await.unwrap(), Reply::status(tinykv_proto::GREETING_TEXT));
            assert_eq!(conn.execute(&["PING"]).await.unwrap(), Reply::status(tinykv_proto::GREETING_TEXT));
            server.await.unwrap();
        });
    }
}
