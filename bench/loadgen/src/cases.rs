//! The measurements. Each takes a freshly started server and returns plain
//! numbers; the server's CPU time comes from /proc, so the figures stay
//! meaningful when the load generator is the slower side.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{open_socket, Http};
use crate::server::Running;

/// Sockets opened at once; more would overflow listen backlogs.
const OPENING_AT_ONCE: usize = 256;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn latency(samples: &mut [Duration]) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    Latency {
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

/// When a subscriber heard something.
struct Arrivals(Mutex<Vec<Instant>>);

impl Arrivals {
    fn record(&self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
    }

    fn take(&self) -> Vec<Instant> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// `n` WebSocket subscribers on `path`, each recording when a message comes.
struct Subscribers {
    arrivals: Arc<Arrivals>,
    /// Text bytes received since the sockets opened.
    bytes: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    opened: usize,
}

impl Subscribers {
    async fn open(server: &Running, path: &str, n: usize) -> io::Result<Subscribers> {
        let arrivals = Arc::new(Arrivals(Mutex::new(Vec::with_capacity(n * 4))));
        let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
        let opened = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let counted = bytes.clone();
            let (arrivals, gate, opened, addr, path) = (
                arrivals.clone(),
                gate.clone(),
                opened.clone(),
                server.addr,
                path.to_string(),
            );
            tasks.push(tokio::spawn(async move {
                let socket = {
                    let _permit = gate.acquire().await;
                    let mut tries = 0;
                    loop {
                        match open_socket(addr, &path).await {
                            Ok(socket) => break socket,
                            Err(_) if tries < 5 => {
                                tries += 1;
                                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                            }
                            Err(_) => return,
                        }
                    }
                };
                opened.fetch_add(1, Ordering::SeqCst);
                let mut socket = socket;
                // Reading also answers the server's pings.
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        counted.fetch_add(text.len(), Ordering::Relaxed);
                        arrivals.record();
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while opened.load(Ordering::SeqCst) < n && Instant::now() < deadline {
            if tasks.iter().all(|t| t.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the server finish its side of the last handshakes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        arrivals.take();
        bytes.store(0, Ordering::SeqCst);
        Ok(Subscribers {
            arrivals,
            bytes,
            tasks,
            opened: opened.load(Ordering::SeqCst),
        })
    }

    fn close(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Adds or removes the featured book for one session: one change of its count.
async fn change(http: &mut Http, add: bool) -> io::Result<u16> {
    let action = if add { "add" } else { "remove" };
    Ok(http
        .post_form(
            "/cart",
            &format!("session=bench-changer&action={action}"),
            &[],
        )
        .await?
        .status)
}

#[derive(Clone, Debug, Serialize)]
pub struct Idle {
    pub connections: usize,
    pub opened: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub bytes_per_connection: f64,
    /// After measuring, one change: how many of the sockets heard it.
    pub delivered: usize,
}

pub async fn idle_sockets(server: &Running, path: &str, n: usize) -> io::Result<Idle> {
    // Warm up: the first socket and request allocate what every later one shares.
    let warm = Subscribers::open(server, path, 8).await?;
    let mut http = Http::open(server.addr).await?;
    change(&mut http, true).await?;
    change(&mut http, false).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    warm.close();
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.settle_memory().await?;
    let rss_before_kib = server.rss_kib();
    let subscribers = Subscribers::open(server, path, n).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.settle_memory().await?;
    let rss_after_kib = server.rss_kib();
    change(&mut http, true).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while subscribers.arrivals.len() < subscribers.opened && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = subscribers.arrivals.len();
    let opened = subscribers.opened;
    subscribers.close();
    Ok(Idle {
        connections: n,
        opened,
        rss_before_kib,
        rss_after_kib,
        bytes_per_connection: (rss_after_kib.saturating_sub(rss_before_kib) * 1024) as f64
            / opened.max(1) as f64,
        delivered,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct FanOut {
    pub subscribers: usize,
    pub changes: usize,
    pub expected: usize,
    pub delivered: usize,
    pub latency: Latency,
    pub server_cpu_ms: f64,
    pub cpu_us_per_message: f64,
    /// Bytes of text each pushed message carried, on average.
    pub bytes_per_message: f64,
}

/// The server's stock version (livecart's `/api/stock`).
pub async fn stock_version(server: &Running) -> io::Result<u64> {
    let mut http = Http::open(server.addr).await?;
    let answer = http.request("GET", "/api/stock", &[], b"").await?;
    let body: serde_json::Value = serde_json::from_slice(&answer.body).map_err(io::Error::other)?;
    body["version"]
        .as_u64()
        .ok_or_else(|| io::Error::other("no version in /api/stock"))
}

pub async fn fan_out(server: &Running, path: &str, n: usize, changes: usize) -> io::Result<FanOut> {
    let subscribers = Subscribers::open(server, path, n).await?;
    let mut http = Http::open(server.addr).await?;
    let mut samples = Vec::with_capacity(subscribers.opened * changes);
    let mut delivered = 0;
    let cpu_before = server.cpu();
    for k in 0..changes {
        let sent = Instant::now();
        change(&mut http, k % 2 == 0).await?;
        let deadline = sent + Duration::from_secs(5);
        while subscribers.arrivals.len() < subscribers.opened && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let heard = subscribers.arrivals.take();
        delivered += heard.len();
        samples.extend(
            heard
                .into_iter()
                .map(|at| at.saturating_duration_since(sent)),
        );
    }
    let cpu = server.cpu().saturating_sub(cpu_before);
    let bytes = subscribers.bytes.swap(0, Ordering::SeqCst);
    subscribers.close();
    Ok(FanOut {
        subscribers: n,
        changes,
        expected: n * changes,
        delivered,
        latency: latency(&mut samples),
        server_cpu_ms: cpu.as_secs_f64() * 1000.0,
        cpu_us_per_message: cpu.as_secs_f64() * 1e6 / delivered.max(1) as f64,
        bytes_per_message: bytes as f64 / delivered.max(1) as f64,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct LongPollWake {
    pub waiting: usize,
    pub answered: usize,
    pub missed: usize,
    pub latency: Latency,
    pub server_cpu_ms: f64,
    pub cpu_us_per_answer: f64,
}

/// `n` long polls, one a connection, each on the path `path(i)` gives. A
/// poll's connection is kept after its answer, as a client that polls
/// again would, so what is measured is the waiting and the answering, not
/// connections closing. Answers with status 200 are recorded.
struct Polls {
    answers: Arc<Arrivals>,
    sent: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Polls {
    /// Sends them, at most `OPENING_AT_ONCE` connections opening at a time,
    /// and returns once all are sent (or after 60 s).
    async fn send(server: &Running, n: usize, path: impl Fn(usize) -> String) -> Polls {
        let answers = Arc::new(Arrivals(Mutex::new(Vec::with_capacity(n))));
        let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
        let sent = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let (answers, gate, sent, addr, path) = (
                answers.clone(),
                gate.clone(),
                sent.clone(),
                server.addr,
                path(i),
            );
            tasks.push(tokio::spawn(async move {
                let mut http = {
                    let _permit = gate.acquire().await;
                    let Ok(mut http) = Http::open(addr).await else {
                        return;
                    };
                    if http.send("GET", &path, &[], b"").await.is_err() {
                        return;
                    }
                    http
                };
                sent.fetch_add(1, Ordering::SeqCst);
                if let Ok(response) = http.read_response().await {
                    if response.status == 200 {
                        answers.record();
                    }
                }
                std::future::pending::<()>().await;
                drop(http);
            }));
        }
        let polls = Polls {
            answers,
            sent,
            tasks,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while polls.sent() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        polls
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Waits until `count` answers are recorded, at most `wait`, checking
    /// every `every`.
    async fn answered(&self, count: usize, wait: Duration, every: Duration) -> usize {
        let deadline = Instant::now() + wait;
        while self.answers.len() < count && Instant::now() < deadline {
            tokio::time::sleep(every).await;
        }
        self.answers.len()
    }

    fn close(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

pub async fn long_poll_wake(server: &Running, n: usize) -> io::Result<LongPollWake> {
    let polls = Polls::send(server, n, |i| format!("/cart/status?session=poll-{i}")).await;
    // Every poll is held by the server before the change.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let early = polls.answers.take().len();

    let mut http = Http::open(server.addr).await?;
    let cpu_before = server.cpu();
    let changed = Instant::now();
    change(&mut http, true).await?;
    polls
        .answered(n - early, Duration::from_secs(10), Duration::from_millis(2))
        .await;
    let cpu = server.cpu().saturating_sub(cpu_before);
    let heard = polls.answers.take();
    polls.close();
    let answered = heard.len();
    let mut samples: Vec<Duration> = heard
        .into_iter()
        .map(|at| at.saturating_duration_since(changed))
        .collect();
    Ok(LongPollWake {
        waiting: n,
        answered,
        missed: n - answered,
        latency: latency(&mut samples),
        server_cpu_ms: cpu.as_secs_f64() * 1000.0,
        cpu_us_per_answer: cpu.as_secs_f64() * 1e6 / answered.max(1) as f64,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct HeldPolls {
    pub polls: usize,
    pub held: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub bytes_per_poll: f64,
    /// After measuring, one change: how many of the polls were answered.
    pub answered: usize,
}

/// `n` long polls held by the server: its memory before and after, as
/// `idle_sockets` measures WebSockets. `api`: the pages' poll, else Burt's.
pub async fn held_polls(server: &Running, api: bool, n: usize) -> io::Result<HeldPolls> {
    let since = if api { stock_version(server).await? } else { 0 };
    let path = move |i: usize| {
        if api {
            format!("/api/stock/poll?since={since}&timeout=60")
        } else {
            format!("/cart/status?session=held-{i}")
        }
    };
    // Warm up, as `idle_sockets` does: the first requests allocate what
    // every later one shares.
    for i in 0..8 {
        let mut http = Http::open(server.addr).await?;
        http.send("GET", &path(n + i), &[], b"").await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.settle_memory().await?;
    let rss_before_kib = server.rss_kib();

    let polls = Polls::send(server, n, path).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.settle_memory().await?;
    let rss_after_kib = server.rss_kib();
    let held = polls.sent() - polls.answers.len();

    let mut http = Http::open(server.addr).await?;
    change(&mut http, true).await?;
    let answered = polls
        .answered(held, Duration::from_secs(10), Duration::from_millis(20))
        .await;
    polls.close();
    Ok(HeldPolls {
        polls: n,
        held,
        rss_before_kib,
        rss_after_kib,
        bytes_per_poll: (rss_after_kib.saturating_sub(rss_before_kib) * 1024) as f64
            / held.max(1) as f64,
        answered,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Operations {
    pub connections: usize,
    pub seconds: f64,
    pub done: usize,
    pub refused: usize,
    pub per_second: f64,
    pub latency: Latency,
    pub server_cpu_ms: f64,
    pub cpu_us_per_operation: f64,
}

/// Add-and-return rounds each connection makes before the measurement.
const WARM_UP_ROUNDS: usize = 5;

/// Which door a reservation comes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Burt's protocol: `POST /cart` with a session and an action (every
    /// server here speaks it).
    BookProtocol,
    /// The pages' server functions, as a hydrated page calls them:
    /// `POST /api/cart/reserve` and `/api/cart/return` with the shopper's
    /// cookie (livecart only).
    ServerFunctions,
}

/// One connection's request to add (or return) its copy, made once before
/// the loop so the load generator formats nothing per request.
struct CartRequest {
    path: &'static str,
    body: String,
    cookie: Option<String>,
}

impl CartRequest {
    async fn send(&self, http: &mut Http) -> io::Result<crate::net::Response> {
        match &self.cookie {
            Some(cookie) => {
                http.post_form(self.path, &self.body, &[("cookie", cookie)])
                    .await
            }
            None => http.post_form(self.path, &self.body, &[]).await,
        }
    }
}

impl Via {
    /// Connection `i`'s two requests: add its copy, then return it.
    fn requests(self, i: usize) -> [CartRequest; 2] {
        [self.request(i, true), self.request(i, false)]
    }

    fn request(self, i: usize, add: bool) -> CartRequest {
        match self {
            Via::BookProtocol => {
                let action = if add { "add" } else { "remove" };
                CartRequest {
                    path: "/cart",
                    body: format!("session=ops-{i}&action={action}"),
                    cookie: None,
                }
            }
            Via::ServerFunctions => {
                let path = if add {
                    "/api/cart/reserve"
                } else {
                    "/api/cart/return"
                };
                // One shopper per connection, named as the shop names them
                // (32 hex digits).
                CartRequest {
                    path,
                    body: format!("book={FEATURED_BOOK}"),
                    cookie: Some(format!("livecart_shopper={i:032x}")),
                }
            }
        }
    }
}

/// The book every case reserves: the featured one, as the shop opens.
pub const FEATURED_BOOK: &str = "definitive-guide-to-the-internet";

/// Reserve and return in a loop on `connections` keep-alive connections.
pub async fn reserve_return(
    server: &Running,
    via: Via,
    connections: usize,
    seconds: f64,
) -> io::Result<Operations> {
    reserve_return_on(&[server], via, connections, seconds).await
}

/// The same, with the connections spread over several nodes of one shop
/// (connection i on node i mod n); the CPU is every node's.
pub async fn reserve_return_on(
    nodes: &[&Running],
    via: Via,
    connections: usize,
    seconds: f64,
) -> io::Result<Operations> {
    let mut clients = Vec::with_capacity(connections);
    for i in 0..connections {
        clients.push(Http::open(nodes[i % nodes.len()].addr).await?);
    }
    let cpu_of_all = || nodes.iter().map(|n| n.cpu()).sum::<Duration>();
    // The same warm-up for every server: each connection adds and returns
    // its copy a few times before anything is measured.
    let requests: Vec<[CartRequest; 2]> = (0..connections).map(|i| via.requests(i)).collect();
    for (http, pair) in clients.iter_mut().zip(&requests) {
        for _ in 0..WARM_UP_ROUNDS {
            for request in pair {
                let answer = request.send(http).await?;
                if answer.status != 200 {
                    return Err(io::Error::other(format!(
                        "warm-up {}: answered {}",
                        request.path, answer.status
                    )));
                }
            }
        }
    }
    let cpu_before = cpu_of_all();
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(requests)
        .map(|(mut http, pair)| {
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let (mut done, mut refused) = (0usize, 0usize);
                // Add, return, add, …
                for request in pair.iter().cycle() {
                    if Instant::now() >= until {
                        break;
                    }
                    let asked = Instant::now();
                    match request.send(&mut http).await {
                        Ok(r) if r.status == 200 => done += 1,
                        Ok(_) => refused += 1,
                        Err(_) => break,
                    }
                    samples.push(asked.elapsed());
                }
                (samples, done, refused)
            })
        })
        .collect();
    let mut samples = Vec::new();
    let (mut done, mut refused) = (0, 0);
    for task in tasks {
        if let Ok((s, d, r)) = task.await {
            samples.extend(s);
            done += d;
            refused += r;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_of_all().saturating_sub(cpu_before);
    Ok(Operations {
        connections,
        seconds: elapsed,
        done,
        refused,
        per_second: done as f64 / elapsed,
        latency: latency(&mut samples),
        server_cpu_ms: cpu.as_secs_f64() * 1000.0,
        cpu_us_per_operation: cpu.as_secs_f64() * 1e6 / (done + refused).max(1) as f64,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Race {
    pub buyers: usize,
    pub copies: usize,
    pub succeeded: usize,
    pub refused_409: usize,
    pub other: usize,
    /// The lowest count any accepted buyer was told (never below 0).
    pub lowest_count_told: i64,
    pub millis: f64,
}

/// `buyers` clients add the featured book at the same moment.
pub async fn race(server: &Running, buyers: usize, copies: usize) -> io::Result<Race> {
    let mut clients = Vec::with_capacity(buyers);
    for _ in 0..buyers {
        clients.push(Http::open(server.addr).await?);
    }
    let start = Arc::new(tokio::sync::Barrier::new(buyers));
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut http)| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                match http
                    .post_form("/cart", &format!("session=buyer-{i}&action=add"), &[])
                    .await
                {
                    Ok(r) => (r.status, told_count(&r.body)),
                    Err(_) => (0, None),
                }
            })
        })
        .collect();
    let mut statuses = Vec::new();
    let mut lowest_count_told = i64::MAX;
    for task in tasks {
        let (status, count) = task.await.unwrap_or((0, None));
        if status == 200 {
            lowest_count_told = lowest_count_told.min(count.unwrap_or(i64::MIN));
        }
        statuses.push(status);
    }
    Ok(Race {
        buyers,
        copies,
        succeeded: statuses.iter().filter(|s| **s == 200).count(),
        refused_409: statuses.iter().filter(|s| **s == 409).count(),
        other: statuses.iter().filter(|s| **s != 200 && **s != 409).count(),
        lowest_count_told,
        millis: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// N from `{"inventoryCount":"N"}`.
fn told_count(body: &[u8]) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("inventoryCount")?.as_str()?.parse().ok()
}

#[derive(Clone, Debug, Serialize)]
pub struct SignInBurst {
    pub sign_ins: usize,
    pub signed_in: usize,
    pub changes: usize,
    pub pushes: usize,
    /// The longest wait between two pushes while the sign-ins ran, for
    /// changes made every `interval_ms`.
    pub interval_ms: f64,
    pub largest_gap_ms: f64,
}

/// A change every 50 ms, pushed to a WebSocket, while `n` staff sign in at
/// once (each an argon2id verification): how long the live updates stall.
pub async fn sign_in_burst(server: &Running, n: usize) -> io::Result<SignInBurst> {
    const INTERVAL: Duration = Duration::from_millis(50);
    const CHANGES: usize = 60;
    let mut socket = open_socket(server.addr, "/api/stock/ws").await?;
    let _first = socket.next().await;
    let addr = server.addr;
    let changer = tokio::spawn(async move {
        let mut http = Http::open(addr).await?;
        for k in 0..CHANGES {
            change(&mut http, k % 2 == 0).await?;
            tokio::time::sleep(INTERVAL).await;
        }
        Ok::<_, io::Error>(())
    });
    let burst = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let form = format!(
            "name={}&password={}",
            crate::server::STAFF,
            crate::server::STAFF_PASSWORD.replace(' ', "+")
        );
        let attempts = (0..n).map(|_| {
            let form = form.clone();
            async move {
                let mut http = Http::open(addr).await.ok()?;
                http.post_form("/api/admin/sign-in", &form, &[])
                    .await
                    .ok()
                    .map(|r| r.status)
            }
        });
        futures_util::future::join_all(attempts).await
    });
    let mut last = Instant::now();
    let mut largest = Duration::ZERO;
    let mut pushes = 0;
    while pushes < CHANGES {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => {
                largest = largest.max(last.elapsed());
                last = Instant::now();
                pushes += 1;
            }
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    changer.await.map_err(io::Error::other)??;
    let statuses = burst.await.map_err(io::Error::other)?;
    Ok(SignInBurst {
        sign_ins: n,
        signed_in: statuses.iter().filter(|s| **s == Some(200)).count(),
        changes: CHANGES,
        pushes,
        interval_ms: INTERVAL.as_secs_f64() * 1000.0,
        largest_gap_ms: largest.as_secs_f64() * 1000.0,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct PageLoad {
    pub path: String,
    pub pages: usize,
    /// The page's HTML, as sent.
    pub bytes: usize,
    pub latency: Latency,
    pub per_second: f64,
    pub server_cpu_ms: f64,
    pub cpu_us_per_page: f64,
}

/// What a drawn cover costs: `n` asks for `/covers/{book}.svg` answered in
/// full (HTTP, the book's row, the drawing, the body), then `n` asks with
/// its ETag answered 304 (HTTP, the same row, its tag; no drawing, no body),
/// on one keep-alive connection, uncompressed. The difference is what
/// drawing and sending the SVG cost.
#[derive(Clone, Debug, Serialize)]
pub struct CoverCost {
    pub covers: usize,
    pub bytes: usize,
    pub per_second: f64,
    pub cpu_us_per_cover: f64,
    pub cpu_us_per_not_modified: f64,
    pub cpu_us_drawing: f64,
}

pub async fn cover_cost(server: &Running, book: &str, n: usize) -> io::Result<CoverCost> {
    let path = format!("/covers/{book}.svg");
    let mut http = Http::open(server.addr).await?;
    let first = http.request("GET", &path, &[], b"").await?;
    let etag = first
        .header("etag")
        .ok_or_else(|| io::Error::other(format!("{path} has no ETag")))?
        .to_string();
    let mut cpu_per_ask = Vec::new();
    let mut per_second = 0.0;
    for (headers, want) in [(vec![], 200), (vec![("if-none-match", etag.as_str())], 304)] {
        let cpu_before = server.cpu();
        let started = Instant::now();
        for _ in 0..n {
            let answer = http.request("GET", &path, &headers, b"").await?;
            if answer.status != want {
                return Err(io::Error::other(format!(
                    "{path} answered {}, not {want}",
                    answer.status
                )));
            }
        }
        if want == 200 {
            per_second = n as f64 / started.elapsed().as_secs_f64();
        }
        let cpu = server.cpu().saturating_sub(cpu_before);
        cpu_per_ask.push(cpu.as_secs_f64() * 1e6 / n.max(1) as f64);
    }
    Ok(CoverCost {
        covers: n,
        bytes: first.body.len(),
        per_second,
        cpu_us_per_cover: cpu_per_ask[0],
        cpu_us_per_not_modified: cpu_per_ask[1],
        cpu_us_drawing: cpu_per_ask[0] - cpu_per_ask[1],
    })
}

/// `n` renders of `path` one after the other on one keep-alive connection:
/// what a page costs the server, and how large it is.
pub async fn page_load(server: &Running, path: &str, n: usize) -> io::Result<PageLoad> {
    let mut http = Http::open(server.addr).await?;
    // The first render warms what every later one shares.
    http.request("GET", path, &[], b"").await?;
    let mut samples = Vec::with_capacity(n);
    let mut bytes = 0;
    let cpu_before = server.cpu();
    let started = Instant::now();
    for _ in 0..n {
        let asked = Instant::now();
        let page = http.request("GET", path, &[], b"").await?;
        if page.status != 200 {
            return Err(io::Error::other(format!("{path} answered {}", page.status)));
        }
        samples.push(asked.elapsed());
        bytes = page.body.len();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = server.cpu().saturating_sub(cpu_before);
    Ok(PageLoad {
        path: path.to_string(),
        pages: n,
        bytes,
        latency: latency(&mut samples),
        per_second: n as f64 / elapsed,
        server_cpu_ms: cpu.as_secs_f64() * 1000.0,
        cpu_us_per_page: cpu.as_secs_f64() * 1e6 / n.max(1) as f64,
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Storm {
    pub sockets: usize,
    /// Sockets open again when the case ended.
    pub reconnected: usize,
    /// Of those, how many had heard the change made while they were away.
    pub on_true_count: usize,
    /// From the drop until every socket was back and on the true count.
    pub recover_ms: f64,
    /// Connection attempts refused or failed during the storm (each was
    /// retried with the page's backoff).
    pub failed_attempts: usize,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    /// Memory with every socket back, over memory before the drop.
    pub memory_after_vs_before: f64,
    /// Server CPU spent from the drop until everyone was back.
    pub server_cpu_ms: f64,
    /// The busiest 100 ms of the storm, in percent of one core.
    pub peak_cpu_percent: f64,
}

/// The page client's backoff (src/app/live.rs): 0.5 s doubling to 10 s,
/// each jittered down to half.
fn page_backoff(failures: u32) -> Duration {
    let base_ms = (500.0 * 2f64.powi(failures.saturating_sub(1).min(5) as i32)).min(10_000.0);
    Duration::from_millis((base_ms / 2.0 + rand::random::<f64>() * base_ms / 2.0) as u64)
}

/// `n` pages subscribed to `/api/stock/ws` lose their sockets all at once (a
/// network blip, a balancer restart) and come back as the page's client
/// does: after its backoff, resuming from the newest version each has seen.
/// A change is made while they are away; the case ends when every page is
/// back and has heard it.
pub async fn reconnect_storm(server: &Running, n: usize) -> io::Result<Storm> {
    let version = stock_version(server).await?;
    let (drop_all, dropped) = tokio::sync::watch::channel(false);
    let connected = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let newest: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new(
        (0..n)
            .map(|_| std::sync::atomic::AtomicU64::new(version))
            .collect(),
    );
    let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (connected, failed, newest, gate, addr) = (
            connected.clone(),
            failed.clone(),
            newest.clone(),
            gate.clone(),
            server.addr,
        );
        let mut dropped = dropped.clone();
        tasks.push(tokio::spawn(async move {
            let mut first = true;
            loop {
                let mut failures = 0;
                let mut socket = loop {
                    let since = newest[i].load(Ordering::SeqCst);
                    let path = format!("/api/stock/ws?since={since}");
                    // Only the first opening is paced (a page load); the
                    // storm's reconnects are not.
                    let permit = if first {
                        Some(gate.acquire().await)
                    } else {
                        None
                    };
                    let opened = open_socket(addr, &path).await;
                    drop(permit);
                    match opened {
                        Ok(socket) => break socket,
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            failures += 1;
                            tokio::time::sleep(page_backoff(failures + 1)).await;
                        }
                    }
                };
                first = false;
                connected.fetch_add(1, Ordering::SeqCst);
                loop {
                    tokio::select! {
                        message = socket.next() => match message {
                            Some(Ok(Message::Text(text))) => {
                                let v = serde_json::from_str::<serde_json::Value>(&text)
                                    .ok()
                                    .and_then(|m| m["version"].as_u64());
                                if let Some(v) = v {
                                    newest[i].fetch_max(v, Ordering::SeqCst);
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                        _ = dropped.changed() => break,
                    }
                }
                connected.fetch_sub(1, Ordering::SeqCst);
                // Gone at once, as a dropped network leaves it.
                drop(socket);
                tokio::time::sleep(page_backoff(1)).await;
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while connected.load(Ordering::SeqCst) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.settle_memory().await?;
    let rss_before_kib = server.rss_kib();

    let cpu_start = server.cpu();
    let started = Instant::now();
    let _ = drop_all.send(true);
    // The change they must all hear, made while they are away.
    let mut http = Http::open(server.addr).await?;
    change(&mut http, true).await?;
    let target = stock_version(server).await?;
    let mut rss_peak_kib = rss_before_kib;
    let mut peak_cpu = 0.0f64;
    let mut last = (Instant::now(), server.cpu());
    let on_true = |newest: &[std::sync::atomic::AtomicU64]| {
        newest
            .iter()
            .filter(|v| v.load(Ordering::SeqCst) >= target)
            .count()
    };
    let limit = Instant::now() + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_peak_kib = rss_peak_kib.max(server.rss_kib());
        let now = (Instant::now(), server.cpu());
        let busy = (now.1 - last.1).as_secs_f64() / (now.0 - last.0).as_secs_f64();
        peak_cpu = peak_cpu.max(busy * 100.0);
        last = now;
        if (connected.load(Ordering::SeqCst) == n && on_true(&newest) == n)
            || Instant::now() > limit
        {
            break;
        }
    }
    let recover = started.elapsed();
    let server_cpu = server.cpu() - cpu_start;
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.settle_memory().await?;
    let rss_after_kib = server.rss_kib();
    let result = Storm {
        sockets: n,
        reconnected: connected.load(Ordering::SeqCst),
        on_true_count: on_true(&newest),
        recover_ms: recover.as_secs_f64() * 1000.0,
        failed_attempts: failed.load(Ordering::Relaxed),
        rss_before_kib,
        rss_peak_kib,
        rss_after_kib,
        memory_after_vs_before: rss_after_kib as f64 / rss_before_kib.max(1) as f64,
        server_cpu_ms: server_cpu.as_secs_f64() * 1000.0,
        peak_cpu_percent: peak_cpu,
    };
    for task in tasks {
        task.abort();
    }
    Ok(result)
}

#[derive(Clone, Debug, Serialize)]
pub struct FirstVisit {
    /// Every file the page names under /pkg, with the bytes its body took
    /// on the wire and how it was encoded.
    pub files: Vec<(String, usize, String)>,
    pub html_bytes: usize,
    pub wasm_bytes: usize,
    /// Every book cover the page shows (all of them, as if all were in
    /// view), as sent.
    pub cover_bytes: usize,
    /// The page and everything it names, bodies as sent (headers not counted).
    pub total_bytes: usize,
}

/// What a browser's first visit to `/` transfers: the page, then every
/// file under /pkg it names (the JS loader, the wasm, the CSS, and the wasm
/// chunks of any split island it shows, which it preloads), the chunk
/// loader the JS imports, and every cover it shows, each asked
/// for with `Accept-Encoding: br, gzip` as browsers ask.
pub async fn first_visit(server: &Running) -> io::Result<FirstVisit> {
    let accept = [("accept-encoding", "br, gzip, deflate")];
    let mut http = Http::open(server.addr).await?;
    let page = http.request("GET", "/", &accept, b"").await?;
    if page.status != 200 {
        return Err(io::Error::other(format!("/ answered {}", page.status)));
    }
    let html = String::from_utf8_lossy(&page.body).to_string();
    let mut named: Vec<String> = Vec::new();
    // The site's files, then the covers (whose addresses carry `?v=`).
    for (prefix, also) in [("/pkg/", ""), ("/covers/", "?=")] {
        for (at, _) in html.match_indices(prefix) {
            let name: String = html[at..]
                .chars()
                .take_while(|c| {
                    c.is_ascii_alphanumeric() || "/._-".contains(*c) || also.contains(*c)
                })
                .collect();
            if !named.contains(&name) {
                named.push(name);
            }
        }
    }
    // The JS loader imports the split build's chunk loader (a script the
    // HTML does not name); the chunks themselves are named by the page
    // (preloads of its islands' chunks), so only the script is looked for.
    let scripts: Vec<String> = named
        .iter()
        .filter(|n| n.ends_with(".js"))
        .cloned()
        .collect();
    for script in scripts {
        let plain = http
            .request("GET", &script, &[("accept-encoding", "identity")], b"")
            .await?;
        let text = String::from_utf8_lossy(&plain.body).to_string();
        for (at, _) in text.match_indices("./__wasm_split.") {
            let name: String = text[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                .collect();
            let path = format!("/pkg/{name}");
            if !named.contains(&path) {
                named.push(path);
            }
        }
    }
    let mut cover_bytes = 0;
    let mut files = Vec::new();
    let mut wasm_bytes = 0;
    for path in named {
        let file = http.request("GET", &path, &accept, b"").await?;
        if file.status != 200 {
            return Err(io::Error::other(format!("{path} answered {}", file.status)));
        }
        let encoding = file
            .header("content-encoding")
            .unwrap_or("identity")
            .to_string();
        if path.ends_with(".wasm") {
            wasm_bytes += file.body.len();
        }
        if path.starts_with("/covers/") {
            cover_bytes += file.body.len();
        }
        files.push((path, file.body.len(), encoding));
    }
    let total_bytes = page.body.len() + files.iter().map(|f| f.1).sum::<usize>();
    Ok(FirstVisit {
        files,
        html_bytes: page.body.len(),
        wasm_bytes,
        cover_bytes,
        total_bytes,
    })
}

/// Reserve/return with one staff desk open (`/api/admin/desk/ws`, signed
/// in): what the desk's live figures cost the shop, side by side with
/// `reserve_return` alone. `desk_readings` is how many readings the desk
/// was sent meanwhile (at most four a second).
#[derive(Clone, Debug, Serialize)]
pub struct WithDesk {
    #[serde(flatten)]
    pub operations: Operations,
    pub desk_readings: usize,
}

pub async fn reserve_return_with_desk(
    server: &Running,
    via: Via,
    connections: usize,
    seconds: f64,
) -> io::Result<WithDesk> {
    let cookie = crate::server::staff_cookie(server.addr).await?;
    let mut desk =
        crate::net::open_socket_as(server.addr, "/api/admin/desk/ws", Some(&cookie)).await?;
    let readings = Arc::new(AtomicUsize::new(0));
    let counted = readings.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = desk.next().await {
            if let Message::Text(_) = message {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let operations = reserve_return(server, via, connections, seconds).await;
    reader.abort();
    Ok(WithDesk {
        operations: operations?,
        desk_readings: readings.load(Ordering::Relaxed),
    })
}
