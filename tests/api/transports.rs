//! Every transport, and no change ever missed: long polling, Server-Sent
//! Events, WebSocket upkeep, and the book's long poll without its hole.

use std::time::{Duration, Instant};

use futures::StreamExt;
use livecart::shared::stock::StockSnapshot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn poll(app: &TestApp, query: &str) -> reqwest::Response {
    reqwest::get(app.url(&format!("/api/stock/poll?{query}")))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_poll_behind_the_stock_is_answered_at_once() {
    let app = spawn_app().await;
    let now = stock(&app).await;
    let started = Instant::now();
    let response = poll(&app, &format!("since={}", now.version - 1)).await;
    assert_eq!(response.status(), 200);
    // What changed after the client's version, and only that.
    let change = response.json::<StockSnapshot>().await.unwrap();
    assert_eq!(
        (change.version, change.since),
        (now.version, Some(now.version - 1))
    );
    assert!(!change.stock.is_empty());
    for (book, count) in &change.stock {
        assert_eq!(now.available(book), Some(*count), "{book}");
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_poll_at_the_current_version_waits_for_the_next() {
    let app = spawn_app().await;
    let now = stock(&app).await;
    let waiting = tokio::spawn(reqwest::get(
        app.url(&format!("/api/stock/poll?since={}", now.version)),
    ));
    assert_eq!(
        gauge_reaches(&app, LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    assert!(!waiting.is_finished(), "held, not answered");
    burts_cart(&app, "buyer", "add").await;
    let response = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let next: StockSnapshot = response.json().await.unwrap();
    assert!(next.version > now.version);
    assert_eq!(next.available(FEATURED), Some(9));
}

#[tokio::test]
async fn a_poll_that_times_out_answers_204_with_no_body() {
    let app = spawn_app().await;
    let now = stock(&app).await;
    let started = Instant::now();
    let response = tokio::time::timeout(
        Duration::from_secs(3),
        poll(&app, &format!("since={}&timeout=1", now.version)),
    )
    .await
    .expect("answered when its timeout runs out");
    let waited = started.elapsed();
    assert_eq!(response.status(), 204);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(1500),
        "held about a second, not {waited:?}"
    );
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_poll_queries_are_refused() {
    let app = spawn_app().await;
    for query in [
        "",
        "since=abc",
        "since=-1",
        "since=1&timeout=61",
        "since=1&timeout=soon",
    ] {
        let response = poll(&app, query).await;
        assert_eq!(response.status(), 400, "{query:?}");
    }
}

#[tokio::test]
async fn a_thousand_long_polls_dropped_leave_no_waiter_behind() {
    // All from one address: past the default cap per address.
    let app = spawn_app_with(|s| s.max_connections_per_address = 0).await;
    let version = stock(&app).await.version;
    let mut clients = Vec::new();
    for i in 0..1000 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let path = if i % 2 == 0 {
            format!("/api/stock/poll?since={version}&timeout=60")
        } else {
            format!("/cart/status?session=dropped-{i}")
        };
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes())
            .await
            .unwrap();
        clients.push(stream);
    }
    let (api, book) = (LONG_POLLS, BURTS_LONG_POLLS);
    assert_eq!(
        gauge_reaches(&app, api, 500, Duration::from_secs(10)).await,
        500
    );
    assert_eq!(
        gauge_reaches(&app, book, 500, Duration::from_secs(10)).await,
        500
    );
    drop(clients);
    assert_eq!(
        gauge_reaches(&app, api, 0, Duration::from_secs(10)).await,
        0
    );
    assert_eq!(
        gauge_reaches(&app, book, 0, Duration::from_secs(10)).await,
        0
    );
}

/// Reads Server-Sent Events: (id, data) pairs, skipping comments.
struct EventReader {
    stream: TcpStream,
    buffer: String,
    everything: String,
}

impl EventReader {
    async fn open(app: &TestApp, last_event_id: Option<u64>) -> EventReader {
        EventReader::open_at(app, "/api/stock/events", last_event_id).await
    }

    /// The stream at `path` (with its query), resuming from `last_event_id`.
    async fn open_at(app: &TestApp, path: &str, last_event_id: Option<u64>) -> EventReader {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n{resume}\r\n",
                    app.addr
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        EventReader {
            stream,
            buffer: String::new(),
            everything: String::new(),
        }
    }

    /// The next event with an id, within `wait`.
    async fn next_event(&mut self, wait: Duration) -> Option<(u64, StockSnapshot)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(at) = self.buffer.find("\ndata: ") {
                if let Some(end) = self.buffer[at..].find("}\n") {
                    let start = self.buffer[..at].rfind("id: ")?;
                    let id = self.buffer[start + 4..at].trim().parse().ok()?;
                    let data = self.buffer[at + 7..at + end + 1].to_string();
                    self.buffer.drain(..at + end + 2);
                    return Some((id, serde_json::from_str(&data).unwrap()));
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            let text = String::from_utf8_lossy(&chunk[..n]);
            self.buffer.push_str(&text);
            self.everything.push_str(&text);
        }
    }

    fn saw(&self, text: &str) -> bool {
        self.everything.contains(text)
    }
}

#[tokio::test]
async fn server_sent_events_carry_versions_and_resume_from_last_event_id() {
    let app = spawn_app().await;
    let now = stock(&app).await;

    let mut fresh = EventReader::open(&app, None).await;
    let (id, snapshot) = fresh
        .next_event(Duration::from_secs(5))
        .await
        .expect("the current snapshot at once");
    assert_eq!((id, &snapshot), (now.version, &now));
    assert!(fresh.saw("retry: "), "a retry interval is set");

    // A reconnect that is behind gets the current snapshot at once.
    let mut behind = EventReader::open(&app, Some(now.version - 1)).await;
    assert_eq!(
        behind.next_event(Duration::from_secs(5)).await.map(|e| e.0),
        Some(now.version)
    );

    // A reconnect that is current waits for the next change.
    let mut current = EventReader::open(&app, Some(now.version)).await;
    assert!(current
        .next_event(Duration::from_millis(400))
        .await
        .is_none());
    burts_cart(&app, "buyer", "add").await;
    let (id, snapshot) = current
        .next_event(Duration::from_secs(5))
        .await
        .expect("the next change");
    assert!(id > now.version);
    assert_eq!(snapshot.available(FEATURED), Some(9));
    assert_eq!(
        fresh.next_event(Duration::from_secs(5)).await.map(|e| e.0),
        Some(id)
    );

    let bad = reqwest::Client::new()
        .get(app.url("/api/stock/events"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

/// A first connection (EventSource cannot set Last-Event-ID) names the
/// version it holds in `?since=`: it is sent only what changed after it, a
/// current one waits, and a reconnect's Last-Event-ID wins over it.
#[tokio::test]
async fn server_sent_events_start_from_since_on_a_first_connection() {
    let app = spawn_app().await;
    let before = stock(&app).await;
    burts_cart(&app, "buyer", "add").await;
    let events = |since: u64| format!("/api/stock/events?since={since}");

    let mut behind = EventReader::open_at(&app, &events(before.version), None).await;
    let (id, change) = behind
        .next_event(Duration::from_secs(5))
        .await
        .expect("what changed since, at once");
    assert!(id > before.version);
    assert_eq!(change.since, Some(before.version));
    assert_eq!(
        change.stock.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![FEATURED],
        "only the book that changed"
    );
    assert_eq!(change.available(FEATURED), Some(9));

    let mut current = EventReader::open_at(&app, &events(id), None).await;
    assert!(current
        .next_event(Duration::from_millis(400))
        .await
        .is_none());
    burts_cart(&app, "buyer", "remove").await;
    let (next, change) = current
        .next_event(Duration::from_secs(5))
        .await
        .expect("the next change");
    assert!(next > id);
    assert_eq!(change.available(FEATURED), Some(10));

    // A reconnect names its version in Last-Event-ID; ?since= is its first.
    let mut reconnect = EventReader::open_at(&app, &events(before.version), Some(next)).await;
    assert!(reconnect
        .next_event(Duration::from_millis(400))
        .await
        .is_none());

    let bad = reqwest::get(app.url("/api/stock/events?since=yesterday"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_never_go_backwards_on_any_transport() {
    const CHANGES: u64 = 40;
    let app = spawn_app().await;
    let first = stock(&app).await;
    let mut socket = open_socket(&app, "/api/stock/ws").await;
    let mut events = EventReader::open(&app, None).await;

    // One session alternating add and return: every request is a real change.
    let changes = tokio::spawn({
        let base = app.url("");
        async move {
            let client = reqwest::Client::new();
            let mut counts = Vec::new();
            for i in 0..CHANGES {
                let action = if i % 2 == 0 { "add" } else { "remove" };
                let response = client
                    .post(format!("{base}/cart"))
                    .form(&[("session", "flipper"), ("action", action)])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                counts.push(response.text().await.unwrap());
            }
            counts
        }
    });

    // A long poller that resumes from each answer it gets.
    let poller = tokio::spawn({
        let base = app.url("");
        async move {
            let mut since = 0;
            let mut seen = Vec::new();
            for _ in 0..200 {
                let response =
                    reqwest::get(format!("{base}/api/stock/poll?since={since}&timeout=1"))
                        .await
                        .unwrap();
                if response.status() == 204 {
                    break;
                }
                let snapshot: StockSnapshot = response.json().await.unwrap();
                assert!(
                    snapshot.version > since,
                    "a poll answers only with a newer version"
                );
                since = snapshot.version;
                seen.push(snapshot);
            }
            seen
        }
    });
    let counts = changes.await.unwrap();
    let last = stock(&app).await;
    assert_eq!(
        last.version,
        first.version + CHANGES,
        "every request made one new version"
    );
    assert_eq!(
        counts.first().map(String::as_str),
        Some(r#"{"inventoryCount":"9"}"#)
    );
    assert_eq!(
        counts.last().map(String::as_str),
        Some(r#"{"inventoryCount":"10"}"#)
    );

    let mut from_socket = Vec::new();
    while let Some(text) = next_text(&mut socket, Duration::from_millis(500)).await {
        from_socket.push(serde_json::from_str::<StockSnapshot>(&text).unwrap());
    }
    let mut from_events = Vec::new();
    while let Some((id, snapshot)) = events.next_event(Duration::from_millis(500)).await {
        assert_eq!(id, snapshot.version);
        from_events.push(snapshot);
    }
    let from_poll = poller.await.unwrap();
    for (name, seen) in [
        ("websocket", &from_socket),
        ("sse", &from_events),
        ("long poll", &from_poll),
    ] {
        assert!(
            seen.windows(2).all(|w| w[1].version > w[0].version),
            "{name}: versions only grow"
        );
        // The first is whole (or everything since 0), each next one follows
        // on from the one before: merged, they end on the true count.
        assert_eq!(
            merged(seen.iter().cloned()),
            last,
            "{name}: ends on the true count"
        );
    }
}

#[tokio::test]
async fn a_burts_client_that_re_polls_slowly_still_ends_on_the_right_count() {
    let app = spawn_app().await;
    let url = app.url("/cart/status?session=slow-reader");
    let first = tokio::spawn(reqwest::get(url.clone()));
    assert_eq!(
        gauge_reaches(&app, BURTS_LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    burts_cart(&app, "a", "add").await;
    let answer = first.await.unwrap().unwrap().text().await.unwrap();
    assert_eq!(answer, r#"{"inventoryCount":"9"}"#);

    // Two more copies go while the client is not polling (the book's hole).
    burts_cart(&app, "b", "add").await;
    burts_cart(&app, "c", "add").await;
    let started = Instant::now();
    let answer = reqwest::get(url.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        answer, r#"{"inventoryCount":"7"}"#,
        "told at once, not left on 9"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // Up to date again: the next poll waits for the next change.
    let next = tokio::spawn(reqwest::get(url));
    assert_eq!(
        gauge_reaches(&app, BURTS_LONG_POLLS, 1, Duration::from_secs(5)).await,
        1
    );
    assert!(!next.is_finished(), "held until the next change");
    burts_cart(&app, "a", "remove").await;
    let answer = next.await.unwrap().unwrap().text().await.unwrap();
    assert_eq!(answer, r#"{"inventoryCount":"8"}"#);
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_dropped() {
    let app = spawn_app_with(|s| s.ws_ping_interval = Duration::from_secs(1)).await;
    let series = WEBSOCKETS;
    // A client that never reads never answers a ping.
    let (_silent, _) =
        tokio_tungstenite::connect_async(app.url("/api/stock/ws").replacen("http", "ws", 1))
            .await
            .unwrap();
    let mut healthy = open_socket(&app, "/api/stock/ws").await;
    assert_eq!(
        gauge_reaches(&app, series, 2, Duration::from_secs(5)).await,
        2
    );

    // The healthy one answers pings while it reads (next_text pongs).
    let reader = tokio::spawn(async move {
        let mut texts = 0;
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            if next_text(&mut healthy, Duration::from_millis(200))
                .await
                .is_some()
            {
                texts += 1;
            }
        }
        (healthy, texts)
    });
    // Pinged at 1 s, unanswered by the next ping at 2 s: gone then (and
    // half a second for scheduling).
    assert_eq!(
        gauge_reaches(&app, series, 1, Duration::from_millis(2_500)).await,
        1,
        "the silent one is gone after two pings"
    );
    let (mut healthy, _) = reader.await.unwrap();
    burts_cart(&app, "buyer", "add").await;
    let pushed = next_text(&mut healthy, Duration::from_secs(5)).await;
    assert!(pushed.is_some_and(|t| t.contains(&format!("\"{FEATURED}\":9"))));
    let _ = healthy.close(None).await;
    let _ = healthy.next().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_is_dropped_within_the_send_timeout() {
    const SEND_TIMEOUT: Duration = Duration::from_secs(1);
    // Small kernel buffers on both sides (the server's through its
    // `socket_send_buffer` setting): a few hundred pushes back them up.
    const PUSHES: usize = 600;
    let app = spawn_app_with(|s| {
        s.ws_send_timeout = SEND_TIMEOUT;
        s.socket_send_buffer = Some(4096);
    })
    .await;
    // A client that reads nothing, with a small receive window, so the
    // server's sends back up after a few dozen pushes.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(app.addr).await.unwrap();
    let url = app.ws_url("/api/stock/ws");
    let (_stalled, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(
        gauge_reaches(&app, WEBSOCKETS, 1, Duration::from_secs(5)).await,
        1
    );

    // Enough changes that the pushes back up past every buffer between the
    // two (each is one book's change, about a hundred bytes).
    let client = reqwest::Client::new();
    for i in 0..PUSHES {
        let action = if i % 2 == 0 { "add" } else { "remove" };
        let response = client
            .post(app.url("/cart"))
            .form(&[("session", "filler"), ("action", action)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // From the last push on, the send timeout alone must end it.
    assert_eq!(
        gauge_reaches(
            &app,
            WEBSOCKETS,
            0,
            SEND_TIMEOUT + Duration::from_millis(500)
        )
        .await,
        0,
        "a socket that cannot take a message is dropped within the send timeout"
    );
}

/// Each socket reads into a 32-byte buffer (idle sockets stay small), yet
/// reads any frame a client may send up to the 4 KiB limit: a 1,000-byte
/// message is read through, and a ping after it, with a payload longer than
/// the buffer, gets its pong back intact.
#[tokio::test]
async fn a_socket_reads_client_frames_longer_than_its_read_buffer() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app().await;
    for path in ["/api/stock/ws", "/cart/status"] {
        let mut socket = open_socket(&app, path).await;
        socket
            .send(Message::Text("x".repeat(1_000).into()))
            .await
            .unwrap();
        let payload: Vec<u8> = (0..100).collect();
        socket
            .send(Message::Ping(payload.clone().into()))
            .await
            .unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = socket.next().await {
                match message {
                    Ok(Message::Pong(got)) => return Some(got),
                    Ok(Message::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        assert_eq!(pong.as_deref(), Some(&payload[..]), "{path}");
        let _ = socket.close(None).await;
    }
}
