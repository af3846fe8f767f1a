//! Client sockets: bound to source addresses 127.0.0.2–127.0.0.17 in turn so
//! ports never run out, a small keep-alive HTTP/1.1 client (cheap enough that
//! the load generator is rarely the slower side), and WebSocket clients.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

static NEXT_SOURCE: AtomicUsize = AtomicUsize::new(0);
const SOURCES: usize = 16;

/// A TCP connection from the next of 16 loopback source addresses.
pub async fn connect(server: SocketAddr) -> io::Result<TcpStream> {
    let i = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % SOURCES;
    let source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)), 0);
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(source)?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Http {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Http {
    pub async fn open(server: SocketAddr) -> io::Result<Http> {
        Ok(Http {
            stream: connect(server).await?,
            host: server.to_string(),
            buf: Vec::with_capacity(1024),
        })
    }

    /// Sends a request without waiting for the answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.write_all(&request).await
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.send(method, path, headers, body).await?;
        self.read_response().await
    }

    pub async fn post_form(
        &mut self,
        path: &str,
        form: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, form.as_bytes()).await
    }

    pub async fn read_response(&mut self) -> io::Result<Response> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) =
                parsed.parse(&self.buf).map_err(io::Error::other)?
            {
                let status = parsed.code.unwrap_or(0);
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).to_string(),
                        )
                    })
                    .collect();
                let find = |name: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                let chunked = find("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                let body = if chunked {
                    self.read_chunked(head_len).await?
                } else {
                    let length = if status == 204 || status == 304 {
                        0
                    } else {
                        find("content-length")
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0)
                    };
                    self.fill(head_len + length).await?;
                    let body = self.buf[head_len..head_len + length].to_vec();
                    self.buf.drain(..head_len + length);
                    body
                };
                return Ok(Response {
                    status,
                    headers,
                    body,
                });
            }
            self.read_more().await?;
        }
    }

    async fn read_chunked(&mut self, head_len: usize) -> io::Result<Vec<u8>> {
        self.buf.drain(..head_len);
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                self.read_more().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
                .map_err(io::Error::other)?;
            self.fill(line_end + 2 + size + 2).await?;
            body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
            self.buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    async fn fill(&mut self, want: usize) -> io::Result<()> {
        while self.buf.len() < want {
            self.read_more().await?;
        }
        Ok(())
    }

    async fn read_more(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

pub type Socket = WebSocketStream<TcpStream>;

/// A WebSocket client with small buffers, so 19,000 of them fit easily.
pub async fn open_socket(server: SocketAddr, path: &str) -> io::Result<Socket> {
    open_socket_as(server, path, None).await
}

/// The same, sending `cookie` (`name=value`) as a browser sends its own.
pub async fn open_socket_as(
    server: SocketAddr,
    path: &str,
    cookie: Option<&str>,
) -> io::Result<Socket> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stream = connect(server).await?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let mut request = format!("ws://{server}{path}")
        .into_client_request()
        .map_err(io::Error::other)?;
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().map_err(io::Error::other)?);
    }
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(io::Error::other)?;
    Ok(socket)
}
