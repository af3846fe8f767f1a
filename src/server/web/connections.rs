//! Accepting connections, with the limits `axum::serve` does not have.
//!
//! livecart holds tens of thousands of sockets open by design, so running
//! out of them is its first way to fall over. Every connection is served by
//! hyper-util's connection builder with a timer, and:
//!
//! - a request's head must arrive within `header_read_timeout`. hyper runs
//!   that timer from when a connection opens *and* from when it goes idle
//!   after an answer, so the same limit closes idle keep-alive connections
//!   (a slow-header client cannot hold a socket, nor can an idle one);
//! - at most `max_connections` are open at once, kept below the process's
//!   open-file limit: past it the connection gets a 503 and is closed,
//!   instead of accept() failing for everyone once the files run out;
//! - at most `max_connections_per_address` come from one address (IPv6: one
//!   /64), WebSockets included; trusted proxies are exempt, since every
//!   shopper behind them shares their address;
//! - a write that the peer has not taken for `send_deadline` fails, which
//!   closes the connection: a client that stops reading (an SSE stream, a
//!   WebSocket, a slow download) is dropped instead of buffered for. The
//!   timer is armed only while a write waits, so idle sockets cost none.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep_until, timeout, Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::client_address::TrustedProxies;
use crate::server::metrics::{Metrics, Refused};
use crate::server::network::address_group;

/// Open files kept free for everything that is not a client connection:
/// the database and its journal, the pool's and listener's connections,
/// refusals being written, the runtime's own descriptors.
pub const FILE_HEADROOM: usize = 512;
/// Refusals written at once; past it a connection over the limits is closed
/// without an answer (writing one would need the file it has no room for).
const REFUSING_AT_ONCE: usize = 256;
/// How long a refusal may take to leave.
const REFUSAL_WRITE: Duration = Duration::from_secs(2);

/// The limits every connection is served under.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub max_open: usize,
    /// 0: no cap per address.
    pub per_address: usize,
    pub header_read_timeout: Duration,
    pub send_deadline: Duration,
    /// SO_SNDBUF for each connection; None leaves the kernel's autotuning.
    pub send_buffer: Option<usize>,
    pub trusted_proxies: Arc<TrustedProxies>,
}

/// Raises this process's soft open-file limit to its hard limit and returns
/// it: every open page is a file, so the shop takes all it may.
pub fn open_file_limit() -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write the one struct given.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                if limit.rlim_cur < limit.rlim_max {
                    let raised = libc::rlimit {
                        rlim_cur: limit.rlim_max,
                        rlim_max: limit.rlim_max,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                        limit = raised;
                    }
                }
                return usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
            }
        }
    }
    1024
}

/// The default ceiling: the open-file limit less the headroom.
pub fn default_max_connections(file_limit: usize) -> usize {
    file_limit.saturating_sub(FILE_HEADROOM).max(16)
}

/// Why a connection was turned away, and what it is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Full,
    TooManyFromAddress,
}

impl Refusal {
    fn answer(self) -> Vec<u8> {
        let (status, body) = match self {
            Refusal::Full => (
                "503 Service Unavailable",
                "The shop has all the connections it can hold; try again soon.\n",
            ),
            Refusal::TooManyFromAddress => (
                "429 Too Many Requests",
                "Too many connections are open from your address.\n",
            ),
        };
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 5\r\n\
             Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// The connections open now, overall and per address group.
struct OpenConnections {
    limits: ConnectionLimits,
    open: AtomicUsize,
    refusing: AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    metrics: Metrics,
    /// Told when the last connection closes. Sockets that became WebSockets
    /// run in tasks of their own, outside the connection tasks the shutdown
    /// waits for; their slots are how it knows they have sent their 1001.
    all_closed: tokio::sync::Notify,
}

/// One admitted connection; uncounted when dropped (with its socket, which
/// outlives the HTTP connection when it becomes a WebSocket).
struct Slot {
    connections: Arc<OpenConnections>,
    group: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let c = &self.connections;
        if c.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            c.all_closed.notify_waiters();
        }
        c.metrics.connections_open.dec();
        if let Some(group) = self.group {
            let mut by_address = c.lock_addresses();
            if let Some(n) = by_address.get_mut(&group) {
                *n -= 1;
                if *n == 0 {
                    by_address.remove(&group);
                }
            }
        }
    }
}

impl OpenConnections {
    fn new(limits: ConnectionLimits, metrics: Metrics) -> Arc<OpenConnections> {
        Arc::new(OpenConnections {
            limits,
            open: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
            by_address: Mutex::default(),
            metrics,
            all_closed: tokio::sync::Notify::new(),
        })
    }

    fn lock_addresses(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refusal> {
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.metrics.connections_open.inc();
        let mut slot = Slot {
            connections: self.clone(),
            group: None,
        };
        if open > self.limits.max_open {
            return Err(Refusal::Full);
        }
        if self.limits.per_address > 0 && !self.limits.trusted_proxies.trusts(peer) {
            let group = address_group(peer);
            let mut by_address = self.lock_addresses();
            let n = by_address.entry(group).or_insert(0);
            if *n >= self.limits.per_address {
                return Err(Refusal::TooManyFromAddress);
            }
            *n += 1;
            slot.group = Some(group);
        }
        Ok(slot)
    }

    /// Answers a connection over the limits and closes it, without reading
    /// its request; a bounded number at once, each for a bounded time.
    fn refuse(self: &Arc<Self>, mut tcp: TcpStream, refusal: Refusal) {
        self.metrics.connections_refused(match refusal {
            Refusal::Full => Refused::Full,
            Refusal::TooManyFromAddress => Refused::PerAddress,
        });
        if self.refusing.fetch_add(1, Ordering::SeqCst) >= REFUSING_AT_ONCE {
            self.refusing.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let connections = self.clone();
        tokio::spawn(async move {
            let _ = timeout(REFUSAL_WRITE, async {
                tcp.write_all(&refusal.answer()).await?;
                tcp.shutdown().await?;
                // Read what the client sent until it closes, so closing does
                // not reset the connection before it has read the answer.
                let mut sink = [0u8; 1024];
                while tcp.read(&mut sink).await? > 0 {}
                Ok::<_, io::Error>(())
            })
            .await;
            connections.refusing.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Serves `router` on `listener` until `stop` resolves; then stops
/// accepting, cancels `shutdown` (sockets close with 1001, long polls
/// answer), lets requests in flight finish and returns — after `deadline`
/// at most.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Metrics,
    stop: impl Future<Output = ()>,
    shutdown: CancellationToken,
    deadline: Duration,
) {
    let builder = connection_builder(limits.header_read_timeout);
    let connections = OpenConnections::new(limits, metrics);
    let tasks = TaskTracker::new();
    let mut stop = std::pin::pin!(stop);
    while let Some((tcp, peer)) = next_connection(&listener, &mut stop).await {
        let slot = match connections.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                connections.refuse(tcp, refusal);
                continue;
            }
        };
        let limits = &connections.limits;
        tune_socket(&tcp, limits.send_buffer);
        let io = TokioIo::new(Connection::new(tcp, slot, limits.send_deadline));
        tasks.spawn(serve_connection(
            builder.clone(),
            io,
            router.clone(),
            peer,
            shutdown.clone(),
        ));
    }
    drop(listener);
    shutdown.cancel();
    tasks.close();
    if timeout(deadline, everything_closed(&connections, &tasks))
        .await
        .is_err()
    {
        tracing::warn!(
            ?deadline,
            "connections still open at the shutdown deadline; closing them"
        );
    }
}

/// The builder every connection is served with. Both protocols get a timer:
/// HTTP/1's header_read_timeout needs one to run at all. HTTP/2 allows
/// extended CONNECT, which WebSockets over HTTP/2 open with.
fn connection_builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    builder
}

/// The next connection, or None once `stop` has resolved.
async fn next_connection(
    listener: &TcpListener,
    stop: &mut Pin<&mut impl Future<Output = ()>>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(e) => {
                    // Out of files (EMFILE) or a connection reset before it
                    // was taken: wait a little so the loop does not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = stop.as_mut() => return None,
        }
    }
}

/// Sets an admitted socket's options; one that cannot be set is logged and
/// the connection served anyway.
fn tune_socket(tcp: &TcpStream, send_buffer: Option<usize>) {
    // Answers and pushes go out as written: with Nagle's algorithm a
    // streamed page's second chunk waited for the client's delayed ACK
    // (40 ms a page; see the README's page figures).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    if let Some(bytes) = send_buffer {
        if let Err(e) = socket2::SockRef::from(tcp).set_send_buffer_size(bytes) {
            tracing::debug!(error = %e, "cannot set the socket's send buffer");
        }
    }
}

/// Serves one connection's requests with `router` (each carrying the peer's
/// address as axum's `ConnectInfo`) until it ends; once `shutdown` is
/// cancelled, finishes the request in flight and closes.
async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    io: TokioIo<Connection>,
    router: Router,
    peer: SocketAddr,
    shutdown: CancellationToken,
) {
    let service = router.map_request(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let service = TowerToHyperService::new(service);
    let mut conn = std::pin::pin!(builder.serve_connection_with_upgrades(io, service));
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::trace!(error = %e, "connection ended");
            }
            return;
        }
        () = shutdown.cancelled() => {}
    }
    // Finish the request in flight, then close.
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::trace!(error = %e, "connection ended");
    }
}

/// Resolves when the connection tasks have ended and every socket is closed:
/// sockets that became WebSockets outlive their connection task, and only
/// their slots tell when they have sent their 1001.
async fn everything_closed(connections: &OpenConnections, tasks: &TaskTracker) {
    tasks.wait().await;
    loop {
        // Registered before the count is read, so a close in between
        // still wakes it.
        let closed = connections.all_closed.notified();
        if connections.open.load(Ordering::SeqCst) == 0 {
            break;
        }
        closed.await;
    }
}

/// A client's socket: counted while it is open, and with a deadline on
/// writes the peer does not take.
struct Connection {
    tcp: TcpStream,
    _slot: Slot,
    send_deadline: Duration,
    /// Set while a write waits for the peer; the timer is kept for reuse.
    stalled: bool,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Connection {
    fn new(tcp: TcpStream, slot: Slot, send_deadline: Duration) -> Connection {
        Connection {
            tcp,
            _slot: slot,
            send_deadline,
            stalled: false,
            timer: None,
        }
    }

    /// A write is waiting: starts the deadline if it is not running, and
    /// fails once it has passed.
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.stalled {
            self.stalled = true;
            let at = Instant::now() + self.send_deadline;
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(at),
                None => self.timer = Some(Box::pin(sleep_until(at))),
            }
        }
        match self.timer.as_mut().map(|t| t.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the peer took nothing within the send deadline",
            )),
            _ => Poll::Pending,
        }
    }

    fn written<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                self.stalled = false;
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_stalled(cx).map(Err),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.tcp).poll_write(cx, buf);
        this.written(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        this.written(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    /// A TCP flush is always done at once, so it says nothing about whether
    /// the peer takes bytes: only a write ends a stall.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connections(max_open: usize, per_address: usize, trusted: &str) -> Arc<OpenConnections> {
        let trusted = if trusted.is_empty() {
            TrustedProxies::default()
        } else {
            TrustedProxies::new(vec![
                crate::server::network::Network::parse(trusted).unwrap()
            ])
        };
        OpenConnections::new(
            ConnectionLimits {
                max_open,
                per_address,
                header_read_timeout: Duration::from_secs(10),
                send_deadline: Duration::from_secs(10),
                send_buffer: None,
                trusted_proxies: Arc::new(trusted),
            },
            Metrics::new(),
        )
    }

    #[test]
    fn each_address_group_gets_its_cap_and_slots_come_back() {
        let c = connections(100, 2, "");
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let first = c.admit(a).unwrap();
        let _second = c.admit(same_64).unwrap();
        assert_eq!(c.admit(a).err(), Some(Refusal::TooManyFromAddress));
        assert!(c.admit(other).is_ok(), "another /64 still gets in");
        drop(first);
        assert!(c.admit(a).is_ok(), "a closed connection frees its slot");
    }

    #[test]
    fn the_ceiling_counts_every_connection_and_proxies_skip_the_address_cap() {
        let c = connections(3, 1, "127.0.0.1");
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| c.admit(proxy).unwrap()).collect();
        assert_eq!(
            c.admit("10.0.0.1".parse().unwrap()).err(),
            Some(Refusal::Full)
        );
        assert_eq!(c.open.load(Ordering::SeqCst), 3, "a refusal is uncounted");
        drop(held);
        assert_eq!(c.open.load(Ordering::SeqCst), 0);
        assert!(c.lock_addresses().is_empty());
    }
}
