//! Keeping a subscriber's WebSocket healthy: buffers sized for many idle
//! sockets, a ping so dead peers are noticed, and a 1001 "going away" close
//! when the server shuts down. A socket that stops draining is dropped by
//! its connection's send deadline (`web/connections.rs`), which every
//! transport shares: one owner, so one test shows it hold.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::watch;
use tokio::time::{interval_at, timeout, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// The timings of socket upkeep, the server's shutdown, and where sockets
/// are served.
#[derive(Clone, Debug)]
pub struct Upkeep {
    /// How often an idle socket is pinged; a peer that has not answered one
    /// ping by the next is gone.
    pub ping_every: Duration,
    /// Cancelled when the server shuts down: sockets close with 1001.
    pub shutdown: CancellationToken,
    /// The runtime every WebSocket's task runs on (see [`start_fan_out`]).
    pub fan_out: tokio::runtime::Handle,
}

/// Starts a thread of its own for the WebSockets' tasks. A publication is one send
/// per open socket, about 15 µs of kernel time each: to 10,000 pages, a
/// burst of 150 ms of one core. On the runtime that answers requests, every
/// request that arrived meanwhile waited for the whole burst (a launch's
/// joins: p50 17 ms, p99 246 ms). On a thread of its own, the OS shares the
/// cores between the burst and the requests, so an answer waits a time
/// slice at most, and what the burst costs is unchanged. The sockets' I/O
/// stays registered with the main runtime's reactor, which wakes them here.
///
/// The thread runs until `shutdown` is cancelled and then two seconds more,
/// so every socket can send its 1001 close (which it gives up on after one
/// second) before the runtime goes.
pub fn start_fan_out(shutdown: CancellationToken) -> std::io::Result<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("fan-out".into())
        .spawn(move || {
            runtime.block_on(async {
                shutdown.cancelled().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            })
        })?;
    Ok(handle)
}

/// What a socket's client may ask over it, answered on the same socket (a
/// page asks for its place in a line: at a launch's opening every page asks
/// at once, and a frame on a socket already open costs the node far less
/// than a request of its own). The answer is boxed, so an idle socket's
/// task is no larger for it.
pub type Answer =
    Arc<dyn Fn(Utf8Bytes) -> Pin<Box<dyn Future<Output = Utf8Bytes> + Send>> + Send + Sync>;

/// Close code for "the server is going away".
const GOING_AWAY: u16 = 1001;

/// Sizes the socket for a server holding tens of thousands of them: clients
/// send control frames and, rarely, a short ask; each update is a few
/// hundred bytes. The read buffer is allocated for every socket and kept
/// while it is open, so it is 32 bytes (a pong is 6): a longer frame is
/// read in pieces, up to the 4 KiB limit.
fn configure(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(32)
        .write_buffer_size(0)
        // Only a client that asks without a version gets the whole stock:
        // with a large catalog that one message is larger than the changes.
        // (tungstenite keeps its write buffer's capacity after a message
        // has left, so such a socket holds that much until it closes.)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(4 * 1024)
        .max_frame_size(4 * 1024)
}

/// Answers the upgrade; the socket's task, on the fan-out thread, is
/// `push_updates` itself, not a future wrapping it: each layer of async
/// block would keep its own copy of what it hands down, for as long as the
/// socket is open.
pub fn serve<T, F>(
    upgrade: WebSocketUpgrade,
    updates: watch::Receiver<Arc<T>>,
    first: Option<Utf8Bytes>,
    pick: F,
    answer: Option<Answer>,
    upkeep: Arc<Upkeep>,
) -> Response
where
    T: Send + Sync + 'static,
    F: FnMut(&Arc<T>) -> Option<Utf8Bytes> + Send + 'static,
{
    configure(upgrade).on_upgrade(move |ws| {
        let fan_out = upkeep.fan_out.clone();
        fan_out.spawn(push_updates(ws, updates, first, pick, answer, upkeep));
        std::future::ready(())
    })
}

/// Sends `first` (if any), then whatever `pick` makes of every newer value
/// (the stock's versions; the desk's readings),
/// and `answer`'s reply to each text the client sends, until the peer
/// leaves, stops answering, or the server shuts down.
async fn push_updates<T, F>(
    mut socket: WebSocket,
    mut updates: watch::Receiver<Arc<T>>,
    first: Option<Utf8Bytes>,
    mut pick: F,
    answer: Option<Answer>,
    upkeep: Arc<Upkeep>,
) where
    F: FnMut(&Arc<T>) -> Option<Utf8Bytes>,
{
    if let Some(first) = first {
        if !send(&mut socket, Message::Text(first)).await {
            return;
        }
    }
    let mut ping = interval_at(Instant::now() + upkeep.ping_every, upkeep.ping_every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    break;
                }
                let latest = updates.borrow_and_update().clone();
                if let Some(message) = pick(&latest) {
                    if !send(&mut socket, Message::Text(message)).await {
                        return;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                // One ask at a time: a client that sends many waits for
                // each answer in turn, and the stock it is sent meanwhile
                // is the newest when the answer has gone.
                Some(Ok(Message::Text(ask))) => {
                    if let Some(answer) = &answer {
                        let reply = answer(ask).await;
                        if !send(&mut socket, Message::Text(reply)).await {
                            return;
                        }
                    }
                }
                // Tungstenite answers pings; binary frames mean nothing here.
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    return;
                }
                awaiting_pong = true;
                if !send(&mut socket, Message::Ping(Default::default())).await {
                    return;
                }
            }
            _ = upkeep.shutdown.cancelled() => {
                let close = CloseFrame { code: GOING_AWAY, reason: Utf8Bytes::from_static("server restarting") };
                let _ = timeout(Duration::from_secs(1), socket.send(Message::Close(Some(close)))).await;
                return;
            }
        }
    }
}

/// Sends one message. A peer that takes none of it within the send deadline
/// fails the write underneath (the connection's), and with it this send.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    socket.send(message).await.is_ok()
}
