//! A tiny query server on 127.0.0.1 that counts its open connections, its client, and the way
//! old tutorials fail fast over spawned tasks. Shared by `examples/orphans.rs` and
//! `tests/orphans.rs` through `#[path]`; cargo does not build this file as an example.
//!
//! Protocol: the client sends one line, `slow NAME` or `fail NAME`, and reads one reply line,
//! `ok ROWS` or `err REASON`. The server counts a connection open from its accept until it reads
//! end-of-file, so the count is the server's own view of which clients are still there.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

/// What a query asks the server to do.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Answers after [`SLOW_REPLY`], or never if the client goes away first.
    Slow,
    /// Answers with an error as soon as the whole batch has arrived.
    Fail,
}

/// Three queries, the middle one failing: the batch both the example and the test run.
pub const BATCH: [(&str, Kind); 3] = [
    ("orders", Kind::Slow),
    ("audit", Kind::Fail),
    ("users", Kind::Slow),
];

/// Far longer than any run, so a slow query still waits on its reply when its sibling fails.
pub const SLOW_REPLY: Duration = Duration::from_secs(60);

/// How long [`Server::wait_until`] waits before it gives up.
const PATIENCE: Duration = Duration::from_secs(5);

/// The server's view of its clients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Connections accepted whose client has not closed yet.
    pub open: usize,
    /// Queries received since the server started.
    pub arrived: usize,
}

/// A running server; dropping it stops it and every connection it serves.
pub struct Server {
    addr: SocketAddr,
    counts: watch::Receiver<Counts>,
    accept: JoinHandle<()>,
}

impl Server {
    /// Starts a server on an ephemeral port. It holds back a failing query's reply until `batch`
    /// queries have arrived, so every sibling is in flight when the error reaches the client.
    pub async fn start(batch: usize) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (counts, receiver) = watch::channel(Counts::default());
        let accept = tokio::spawn(accept_loop(listener, Arc::new(counts), batch));
        Ok(Server {
            addr,
            counts: receiver,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counts(&self) -> Counts {
        *self.counts.borrow()
    }

    /// Waits, at most a few seconds, until the counts satisfy `ready`; panics if they never do.
    /// This is how callers synchronise with the server: on its state, never on a sleep.
    pub async fn wait_until(&self, ready: impl FnMut(&Counts) -> bool) -> Counts {
        let mut counts = self.counts.clone();
        let seen = match tokio::time::timeout(PATIENCE, counts.wait_for(ready)).await {
            Ok(Ok(seen)) => *seen,
            Ok(Err(_)) => panic!("the server stopped"),
            Err(_) => panic!("server counts stuck at {:?}", self.counts()),
        };
        seen
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, counts: Arc<watch::Sender<Counts>>, batch: usize) {
    // A `JoinSet` aborts the connections when the accept task is aborted: no orphans here.
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        counts.send_modify(|c| c.open += 1);
        connections.spawn(serve(stream, Arc::clone(&counts), batch));
        while connections.try_join_next().is_some() {}
    }
}

async fn serve(stream: TcpStream, counts: Arc<watch::Sender<Counts>>, batch: usize) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    if read.read_line(&mut line).await.is_ok_and(|n| n > 0) {
        counts.send_modify(|c| c.arrived += 1);
        let reply = async {
            match line.trim_end().split_once(' ') {
                Some(("slow", name)) => {
                    tokio::time::sleep(SLOW_REPLY).await;
                    format!("ok rows of {name}\n")
                }
                Some(("fail", _)) => {
                    let mut arrived = counts.subscribe();
                    let _ = arrived.wait_for(|c| c.arrived >= batch).await;
                    "err table locked\n".to_owned()
                }
                _ => "err bad query\n".to_owned(),
            }
        };
        // Watch for the client leaving while the reply is pending: that is what it looks like,
        // from the server, when a query is cancelled.
        tokio::select! {
            reply = reply => {
                let _ = write.write_all(reply.as_bytes()).await;
            }
            () = closed(&mut read) => {}
        }
    }
    closed(&mut read).await;
    counts.send_modify(|c| c.open -= 1);
}

/// Returns once the peer has closed its side (or the connection broke).
async fn closed(read: &mut (impl AsyncRead + Unpin)) {
    let mut buf = [0; 64];
    while read.read(&mut buf).await.is_ok_and(|n| n > 0) {}
}

/// A failed query, named.
#[derive(Debug)]
pub struct QueryError {
    pub query: &'static str,
    pub reason: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query `{}` failed: {}", self.query, self.reason)
    }
}

impl std::error::Error for QueryError {}

/// Connects, sends the query, and reads the reply; the connection closes when this returns or
/// is dropped.
pub async fn query(addr: SocketAddr, name: &'static str, kind: Kind) -> Result<String, QueryError> {
    let failed = |reason: String| QueryError {
        query: name,
        reason,
    };
    let verb = match kind {
        Kind::Slow => "slow",
        Kind::Fail => "fail",
    };
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| failed(e.to_string()))?;
    stream
        .write_all(format!("{verb} {name}\n").as_bytes())
        .await
        .map_err(|e| failed(e.to_string()))?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .await
        .map_err(|e| failed(e.to_string()))?;
    match reply.trim_end().split_once(' ') {
        Some(("ok", rows)) => Ok(rows.to_owned()),
        Some(("err", reason)) => Err(failed(reason.to_owned())),
        _ => Err(failed(format!("unexpected reply {reply:?}"))),
    }
}

/// The batch the way many tutorials run it: spawn each query, then fail fast over the
/// `JoinHandle`s. Returns the result and the abort handles of the tasks, which the caller needs
/// for cleanup: dropping a `JoinHandle` detaches its task, it does not stop it.
pub async fn spawn_and_try_join_all(
    addr: SocketAddr,
) -> (Result<Vec<String>, QueryError>, Vec<AbortHandle>) {
    let handles: Vec<_> = BATCH
        .iter()
        .map(|&(name, kind)| tokio::spawn(query(addr, name, kind)))
        .collect();
    let tasks = handles.iter().map(JoinHandle::abort_handle).collect();
    let joined = try_join_all(
        handles
            .into_iter()
            .map(|handle| async move { handle.await.expect("query task panicked") }),
    )
    .await;
    (joined, tasks)
}
