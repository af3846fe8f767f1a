//! The floor peer of livecart's benchmark: Burt's protocol (the Tornado book's)
//! (`POST /cart`, long poll and WebSocket on `/cart/status`) on bare tokio and
//! tungstenite, with small buffers, no framework and the stock in memory. It
//! shows what the kernel and the WebSocket framing alone cost.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

struct Shop {
    total: i64,
    carts: Mutex<HashSet<String>>,
    /// The newest count message, shared by every socket.
    count: watch::Sender<Utf8Bytes>,
}

impl Shop {
    fn message(count: i64) -> Utf8Bytes {
        Utf8Bytes::from(format!("{{\"inventoryCount\":\"{count}\"}}"))
    }

    /// Returns the status and the body.
    fn cart(&self, session: &str, action: &str) -> (u16, Utf8Bytes) {
        if session.is_empty() {
            return (400, Utf8Bytes::from_static("session is required"));
        }
        let mut carts = self.carts.lock().unwrap();
        let changed = match action {
            "add" if carts.contains(session) => false,
            "add" if self.total - carts.len() as i64 <= 0 => {
                return (409, Utf8Bytes::from_static("no copies left"))
            }
            "add" => carts.insert(session.to_string()),
            "remove" => carts.remove(session),
            _ => return (400, Utf8Bytes::from_static("unknown action")),
        };
        let message = Shop::message(self.total - carts.len() as i64);
        drop(carts);
        if changed {
            self.count.send_replace(message.clone());
        }
        (200, message)
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::var("PEER_ADDR").unwrap_or_else(|_| "127.0.0.1:3200".into());
    let total = std::env::var("TOTAL_COPIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let (count, _) = watch::channel(Shop::message(total));
    let shop = Arc::new(Shop {
        total,
        carts: Mutex::new(HashSet::new()),
        count,
    });
    let listener = TcpListener::bind(&addr).await.expect("bind");
    println!("tokio floor peer listening on http://{addr}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shop = shop.clone();
        tokio::spawn(async move {
            let _ = serve(stream, shop).await;
        });
    }
}

/// Peeks at the request head to tell a WebSocket from plain HTTP, then
/// hands the connection on. The head is on the heap and freed before the
/// connection's long life starts, and each kind of connection's future is
/// boxed on its own: an idle socket keeps only what `push` needs, so the
/// idle-memory floor is a floor.
async fn serve(stream: TcpStream, shop: Arc<Shop>) -> std::io::Result<()> {
    let websocket = {
        let mut head = vec![0u8; 2048];
        let n = stream.peek(&mut head).await?;
        String::from_utf8_lossy(&head[..n])
            .to_ascii_lowercase()
            .contains("upgrade: websocket")
    };
    if websocket {
        Box::pin(push(stream, shop)).await
    } else {
        Box::pin(answer(stream, shop)).await
    }
}

async fn answer(mut stream: TcpStream, shop: Arc<Shop>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        // Read one request: headers, then the body its Content-Length names.
        let (method, path, body_start, length) = loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(len)) = req.parse(&buf) {
                let length = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| {
                        std::str::from_utf8(h.value)
                            .ok()?
                            .trim()
                            .parse::<usize>()
                            .ok()
                    })
                    .unwrap_or(0);
                break (
                    req.method.unwrap_or("").to_string(),
                    req.path.unwrap_or("").to_string(),
                    len,
                    length,
                );
            }
        };
        while buf.len() < body_start + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[body_start..body_start + length]).to_string();
        buf.drain(..body_start + length);
        let (status, answer) = match (method.as_str(), path.split('?').next().unwrap_or("")) {
            ("POST", "/cart") => {
                let field = |name: &str| {
                    body.split('&')
                        .filter_map(|pair| pair.split_once('='))
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default()
                };
                shop.cart(&field("session"), &field("action"))
            }
            ("GET", "/cart/status") => {
                let mut rx = shop.count.subscribe();
                rx.borrow_and_update();
                if rx.changed().await.is_err() {
                    return Ok(());
                }
                let message = rx.borrow().clone();
                (200, message)
            }
            _ => (404, Utf8Bytes::from_static("")),
        };
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            409 => "Conflict",
            _ => "Not Found",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            answer.len(),
            answer.as_str()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}

async fn push(stream: TcpStream, shop: Arc<Shop>) -> std::io::Result<()> {
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(4096))
        .max_frame_size(Some(4096));
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config))
        .await
        .map_err(std::io::Error::other)?;
    let mut rx = shop.count.subscribe();
    rx.borrow_and_update();
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() { return Ok(()); }
                let message = rx.borrow_and_update().clone();
                if ws.send(Message::Text(message)).await.is_err() { return Ok(()); }
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(()),
                _ => {}
            },
        }
    }
}
