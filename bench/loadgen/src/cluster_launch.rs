//! `loadgen cluster-launch`: launch day on a cluster. `--nodes` livecart
//! nodes on one PostgreSQL (a database of its own, dropped after), pinned to
//! the server core; `--pages` waiting pages spread evenly over them, one
//! load-generating process per node (`loadgen launch-pages`, on the load
//! core; a process may open 20,000 files here, so one holds one node's
//! share). The pages connect straight to their node: nginx would need a
//! worker per 10,000 pages (a client socket and an upstream socket each,
//! against 20,000 files per process), ten or more on two cores.
//!
//! Every page holds its live stock open (nine in ten a WebSocket, one in
//! ten the long poll), joins the launch's line before the opening, asks its
//! node for its number once the broadcast shows the line open (as the
//! pages' client does: over its WebSocket, `{"line":"<book>"}`; a long-poll
//! page over HTTP, `GET /api/lines/<book>`), and watches for its turn. A page whose turn comes checks out after 1–20 s, or (one
//! in ten) lets the offer lapse, so the copy goes on down the line. The
//! offer is held 25 s in this case.
//!
//! With `--kill-node-after S`, the last node is killed (SIGKILL) S seconds
//! after the opening. Its pages do what the pages' client does when its
//! socket drops: they connect again, here to a node the page picks among
//! the others (there is no balancer in front), ask for their place again if
//! the answer was lost, and check out there; they stay in every figure.
//!
//! Measured: from the opening to each page knowing its place; from each
//! copy offered (its time as stored) to its page showing the turn; from the
//! last copy sold to each page showing "closed"; server memory per waiting
//! page on each node; the nodes' CPU per broadcast per 1,000 pages;
//! PostgreSQL's commits per second (each commit of a node NOTIFYs the
//! others) and its CPU; and afterwards, from the database, copies sold,
//! offers in draw order, and every page's place and end against its row.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::process::Stdio;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::cases::{latency, Latency, FEATURED_BOOK};
use crate::cluster::{query, Database};
use crate::launch::{join_line, line_view, pseudo_random, unix_ms};
use crate::net::{open_socket_as, Http};
use crate::server::{
    add_staff, cpu_ticks, ended_children_cpu_ticks, post_staff_form, staff_cookie, Binaries,
    Running,
};

/// How long an offer is held in this case: longer than the slowest buyer
/// (20 s), so only the one in ten who walks away lets it lapse.
const OFFER_TTL_S: i64 = 25;
/// Asks for a place over HTTP in flight at once from one process (the
/// long-poll pages, each asking once; 64 connections carry them).
const ASKING_CONNECTIONS: usize = 64;

/// The shopper cookie of page `i` (the same in every process).
fn cookie(i: usize) -> String {
    format!("{:032x}", (i as u128 + 1) * 0x9e37_79b9_7f4a_7c15)
}

// ---------------------------------------------------------------- pages --

/// What one page saw and did, as its process reports it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PageEnd {
    pub index: usize,
    pub place: Option<u32>,
    /// Unix ms: when it knew its place, saw its turn, saw "closed".
    pub placed_ms: Option<i64>,
    pub turn_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    /// When its copy was offered, by the server's clock (the offer's end
    /// less the offer's time).
    pub offered_ms: Option<i64>,
    pub bought_ms: Option<i64>,
    pub walked_away: bool,
    /// Its checkout came after the offer had lapsed (refused).
    pub checkout_refused: bool,
    pub long_poll: bool,
    /// Its stream ended and it could not connect again.
    pub dropped: bool,
    /// Its node was killed and it carried on on another.
    pub moved: bool,
    /// Times its stream ended and it connected again (to its own node or,
    /// killed, another): on a node that was not killed this is a fault.
    pub reconnects: u32,
}

#[derive(Default)]
struct Page {
    end: PageEnd,
    asked: bool,
    opened: bool,
    serving: u32,
    /// A WebSocket page's ask is due: its socket's task sends it.
    ask_over_socket: bool,
    /// The node it is on now: an index into the crowd's `nodes`.
    node: usize,
}

/// The featured book's line, as far as a page needs it.
#[derive(Clone, Copy, Debug, Deserialize)]
struct LineSeen {
    state: LineState,
    serving: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LineState {
    Scheduled,
    Open,
    Closed,
    Ended,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u64,
    #[serde(default)]
    lines: HashMap<String, LineSeen>,
}

/// One process's pages, on one node (the first of `nodes`; the others are
/// where its pages go if it dies).
struct Crowd {
    nodes: Vec<SocketAddr>,
    pages: Vec<RefCell<Page>>,
    asks: RefCell<VecDeque<usize>>,
    ask_ready: tokio::sync::Notify,
    /// The last message text and what it said: every page on a node is
    /// sent the same buffer, so most messages are parsed once.
    parsed: RefCell<HashMap<String, Option<(u64, Option<LineSeen>)>>>,
}

impl Crowd {
    /// The node page `i` is on now.
    fn node_of(&self, i: usize) -> SocketAddr {
        self.nodes[self.pages[i].borrow().node]
    }

    /// Page `i` lost its node: it goes on to another, the one its index
    /// picks among the others (so the pages spread evenly over them), and
    /// from there to the next if that one fails too. An ask whose answer
    /// was lost with the node is asked again.
    fn move_on(&self, i: usize) {
        let mut page = self.pages[i].borrow_mut();
        let others = self.nodes.len() - 1;
        if others == 0 {
            return;
        }
        page.node = if page.node == 0 {
            1 + page.end.index % others
        } else {
            1 + page.node % others
        };
        page.end.moved = true;
        if page.end.place.is_none() {
            page.asked = false;
        }
    }

    /// The pause before page `i` connects again: 0.1–1 s, spread over the
    /// pages (as pages' clients back off), so a node's pages do not all
    /// arrive at once.
    async fn back_off(&self, i: usize, failures: u64) {
        let index = self.pages[i].borrow().end.index;
        let pause = 100 + pseudo_random(index as u64 * 31 + failures) % 900;
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }

    fn parse(&self, text: &str) -> Option<(u64, Option<LineSeen>)> {
        if let Some(known) = self.parsed.borrow().get(text) {
            return *known;
        }
        let parsed = serde_json::from_str::<Snapshot>(text)
            .ok()
            .map(|s| (s.version, s.lines.get(FEATURED_BOOK).copied()));
        let mut cache = self.parsed.borrow_mut();
        if cache.len() > 64 {
            cache.clear();
        }
        cache.insert(text.to_string(), parsed);
        parsed
    }

    /// A page read its line in a message.
    fn seen(self: &Rc<Self>, i: usize, line: LineSeen) {
        let now = unix_ms();
        let mut page = self.pages[i].borrow_mut();
        page.opened = line.state != LineState::Scheduled;
        page.serving = line.serving;
        if line.state == LineState::Closed {
            page.end.closed_ms.get_or_insert(now);
        } else {
            page.end.closed_ms = None;
        }
        if page.opened && !page.asked {
            page.asked = true;
            if !page.end.long_poll {
                page.ask_over_socket = true;
                return;
            }
            drop(page);
            self.asks.borrow_mut().push_back(i);
            self.ask_ready.notify_one();
            return;
        }
        drop(page);
        self.check_turn(i);
    }

    /// The page knows its place and the broadcast has reached it: its turn.
    fn check_turn(self: &Rc<Self>, i: usize) {
        let mut page = self.pages[i].borrow_mut();
        let Some(place) = page.end.place else { return };
        if page.end.turn_ms.is_some() || !page.opened || page.serving < place {
            return;
        }
        page.end.turn_ms = Some(unix_ms());
        drop(page);
        let crowd = self.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = crowd.take_turn(i).await {
                eprintln!("  page {i}: {e}");
            }
        });
    }

    /// Asks for the copy held, then buys it after 1–20 s, or walks away.
    async fn take_turn(self: Rc<Self>, i: usize) -> io::Result<()> {
        let index = self.pages[i].borrow().end.index;
        let cookie = format!("livecart_shopper={}", cookie(index));
        let view = self
            .with_retry(i, |mut http| {
                let cookie = cookie.clone();
                async move { answered(line_view(&mut http, &cookie).await?) }
            })
            .await?;
        let Some(until) = view["you"]["offer_until"].as_i64() else {
            return Ok(());
        };
        self.pages[i].borrow_mut().end.offered_ms = Some(until - OFFER_TTL_S * 1000);
        if pseudo_random(index as u64) % 10 == 0 {
            self.pages[i].borrow_mut().end.walked_away = true;
            return Ok(());
        }
        let wait = 1.0 + (pseudo_random(index as u64 * 7 + 1) % 1900) as f64 / 100.0;
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        // A connection idle past the header timeout (10 s) is closed by
        // the node, as a browser's would be: the checkout opens its own.
        let answer = self
            .with_retry(i, |mut http| {
                let cookie = cookie.clone();
                async move {
                    http.post_form("/api/cart/checkout", "", &[("cookie", &cookie)])
                        .await
                }
            })
            .await?;
        let mut page = self.pages[i].borrow_mut();
        if answer.status == 200 {
            page.end.bought_ms = Some(unix_ms());
        } else {
            // Too late: the offer lapsed before the checkout reached it.
            page.end.checkout_refused = true;
        }
        Ok(())
    }

    /// A request of page `i`'s on a connection of its own to its node; if
    /// the node does not answer (killed), the page moves on and asks there.
    async fn with_retry<T, F, Fut>(&self, i: usize, request: F) -> io::Result<T>
    where
        F: Fn(Http) -> Fut,
        Fut: std::future::Future<Output = io::Result<T>>,
    {
        let mut tries = 0;
        loop {
            let node = self.node_of(i);
            // A node that refuses the connection is gone: the page moves
            // on. One that fails the request is asked again.
            let result = match Http::open(node).await {
                Ok(http) => request(http).await,
                Err(e) => {
                    if self.node_of(i) == node {
                        self.move_on(i);
                    }
                    Err(e)
                }
            };
            match result {
                Ok(answer) => return Ok(answer),
                Err(e) if tries >= 5 => return Err(e),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// One of the connections pages ask their place over (to the node of
    /// the page asking: after a node is killed, its pages ask elsewhere).
    async fn answer_asks(self: Rc<Self>) -> io::Result<()> {
        let mut on = self.nodes[0];
        let mut http = Some(Http::open(on).await?);
        loop {
            let next = self.asks.borrow_mut().pop_front();
            let Some(i) = next else {
                self.ask_ready.notified().await;
                continue;
            };
            let index = self.pages[i].borrow().end.index;
            let cookie = format!("livecart_shopper={}", cookie(index));
            if self.node_of(i) != on || http.is_none() {
                on = self.node_of(i);
                http = Http::open(on).await.ok();
            }
            let mut view = match http.as_mut() {
                Some(http) => line_view(http, &cookie).await.and_then(answered).ok(),
                None => None,
            };
            // The connection may have been closed while idle (the node's
            // header timeout), or the node is gone: a new connection, and
            // if the node refuses it, the page moves on and asks there.
            if view.is_none() {
                http = Http::open(on).await.ok();
                view = match http.as_mut() {
                    Some(http) => line_view(http, &cookie).await.and_then(answered).ok(),
                    None => {
                        self.move_on(i);
                        None
                    }
                };
            }
            match view {
                Some(view) => self.placed(i, &view),
                None => {
                    http = None;
                    self.asks.borrow_mut().push_back(i);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// A page was told its line as its shopper sees it.
    fn placed(self: &Rc<Self>, i: usize, view: &serde_json::Value) {
        {
            let mut page = self.pages[i].borrow_mut();
            page.end.place = view["you"]["place"].as_u64().map(|p| p as u32);
            page.end.placed_ms = Some(unix_ms());
        }
        self.check_turn(i);
    }
}

/// A line view that is one: a node that answered something else (a 503 while
/// it was busy, say) is asked again, not taken to mean "no place".
fn answered(view: serde_json::Value) -> io::Result<serde_json::Value> {
    if view.is_object() {
        Ok(view)
    } else {
        Err(io::Error::other("the node did not answer with the line"))
    }
}

/// A page's WebSocket, from its first socket to the end of the run: when
/// the socket ends, the page connects again after a moment (spread over a
/// second, as pages' clients back off); if its node refuses (killed), to
/// another. Its first message there is the whole stock, lines included.
async fn read_socket(crowd: Rc<Crowd>, i: usize, socket: crate::net::Socket) {
    let mut socket = Some(socket);
    let mut failures = 0;
    loop {
        if let Some(open) = socket.take() {
            follow_socket(&crowd, i, open).await;
            failures = 0;
            // Whatever it asked on that socket is asked again.
            let mut page = crowd.pages[i].borrow_mut();
            page.end.reconnects += 1;
            if page.end.place.is_none() {
                page.asked = false;
            }
        } else {
            failures += 1;
            if failures > 20 {
                break;
            }
        }
        crowd.back_off(i, failures).await;
        let index = crowd.pages[i].borrow().end.index;
        let cookie = format!("livecart_shopper={}", cookie(index));
        match open_socket_as(crowd.node_of(i), "/api/stock/ws", Some(&cookie)).await {
            Ok(open) => socket = Some(open),
            Err(_) => crowd.move_on(i),
        }
    }
    crowd.pages[i].borrow_mut().end.dropped = true;
}

/// Reads one socket of page `i`'s until it ends.
async fn follow_socket(crowd: &Rc<Crowd>, i: usize, mut socket: crate::net::Socket) {
    use futures_util::SinkExt;
    let ask = format!(r#"{{"line":"{FEATURED_BOOK}"}}"#);
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if text.starts_with(r#"{"line":"#) {
            if let Ok(answer) = serde_json::from_str::<serde_json::Value>(&text) {
                crowd.placed(i, &answer["view"]);
            }
            continue;
        }
        if let Some((_, Some(line))) = crowd.parse(&text) {
            crowd.seen(i, line);
        }
        let due = std::mem::take(&mut crowd.pages[i].borrow_mut().ask_over_socket);
        if due
            && socket
                .send(Message::Text(ask.clone().into()))
                .await
                .is_err()
        {
            break;
        }
    }
}

async fn long_poll(crowd: Rc<Crowd>, i: usize) {
    let Ok(mut http) = Http::open(crowd.node_of(i)).await else {
        crowd.pages[i].borrow_mut().end.dropped = true;
        return;
    };
    let mut since = 0u64;
    let mut failures = 0u64;
    loop {
        let answer = http
            .request(
                "GET",
                &format!("/api/stock/poll?since={since}&timeout=50"),
                &[],
                b"",
            )
            .await;
        let Ok(answer) = answer else {
            // The connection ended: the page polls again, on another node
            // if its own refuses (the version it has is the cluster's, so
            // `since` still holds there).
            failures += 1;
            if failures > 20 {
                break;
            }
            crowd.pages[i].borrow_mut().end.reconnects += 1;
            crowd.back_off(i, failures).await;
            let fresh = match Http::open(crowd.node_of(i)).await {
                Ok(fresh) => Ok(fresh),
                Err(_) => {
                    crowd.move_on(i);
                    Http::open(crowd.node_of(i)).await
                }
            };
            if let Ok(fresh) = fresh {
                http = fresh;
            }
            continue;
        };
        failures = 0;
        if answer.status == 204 {
            continue;
        }
        if answer.status != 200 {
            break;
        }
        let text = String::from_utf8_lossy(&answer.body);
        let Some((version, line)) = crowd.parse(&text) else {
            break;
        };
        since = version;
        if let Some(line) = line {
            crowd.seen(i, line);
        }
    }
    crowd.pages[i].borrow_mut().end.dropped = true;
}

/// `loadgen launch-pages --node ADDR --first I --count N --join-rate R`:
/// one process's pages. Prints `open` once every page holds its stream,
/// joins on `join` (read from stdin), prints `joined`, and on `finish`
/// prints every page's end as one JSON line.
pub async fn pages(nodes: Vec<SocketAddr>, first: usize, count: usize, join_rate: f64) {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            if let Err(e) = run_pages(nodes, first, count, join_rate).await {
                eprintln!("launch-pages: {e}");
                std::process::exit(1);
            }
        })
        .await;
}

async fn run_pages(
    nodes: Vec<SocketAddr>,
    first: usize,
    count: usize,
    join_rate: f64,
) -> io::Result<()> {
    let node = nodes[0];
    // One page in this many holds the long poll (LONG_POLL_EVERY, default
    // 10; 0: none), to see what each transport costs the nodes.
    let every: usize = std::env::var("LONG_POLL_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let crowd = Rc::new(Crowd {
        nodes,
        pages: (first..first + count)
            .map(|index| {
                RefCell::new(Page {
                    end: PageEnd {
                        index,
                        long_poll: every > 0 && index % every == every - 1,
                        ..PageEnd::default()
                    },
                    ..Page::default()
                })
            })
            .collect(),
        asks: RefCell::default(),
        ask_ready: tokio::sync::Notify::new(),
        parsed: RefCell::default(),
    });
    for i in 0..count {
        if crowd.pages[i].borrow().end.long_poll {
            tokio::task::spawn_local(long_poll(crowd.clone(), i));
        } else {
            let index = crowd.pages[i].borrow().end.index;
            let cookie = format!("livecart_shopper={}", cookie(index));
            let socket = open_socket_as(node, "/api/stock/ws", Some(&cookie)).await?;
            tokio::task::spawn_local(read_socket(crowd.clone(), i, socket));
        }
    }
    for _ in 0..ASKING_CONNECTIONS {
        let crowd = crowd.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = crowd.answer_asks().await {
                eprintln!("  asking: {e}");
            }
        });
    }
    println!("open");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let order = stdin.next_line().await?.unwrap_or_default();
    if order != "join" {
        return Err(io::Error::other(format!("expected join, read {order:?}")));
    }
    join(node, first, count, join_rate).await?;
    println!("joined {}", RETRIED_JOINS.with(|n| n.get()));
    let order = stdin.next_line().await?.unwrap_or_default();
    if order != "finish" {
        return Err(io::Error::other(format!("expected finish, read {order:?}")));
    }
    let ends: Vec<PageEnd> = crowd.pages.iter().map(|p| p.borrow().end.clone()).collect();
    println!(
        "{}",
        serde_json::to_string(&ends).map_err(io::Error::other)?
    );
    Ok(())
}

thread_local! {
    /// Joins answered with an error and asked again, in this process.
    static RETRIED_JOINS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Joins every page's shopper, paced at `rate` a second over 16 connections.
async fn join(node: SocketAddr, first: usize, count: usize, rate: f64) -> io::Result<()> {
    const CONNECTIONS: usize = 16;
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..CONNECTIONS {
        workers.push(tokio::task::spawn_local(async move {
            let mut http = Http::open(node).await?;
            for k in (worker..count).step_by(CONNECTIONS) {
                let due = started + Duration::from_secs_f64(k as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let cookie = format!("livecart_shopper={}", cookie(first + k));
                // A 503 is "try again" (the node's group deadline passed
                // while it was busy): the page asks again, as a person
                // would click again, and the retry is counted.
                let mut tries = 0;
                while let Err(e) = join_line(&mut http, &cookie).await {
                    tries += 1;
                    if tries > 5 {
                        return Err(e);
                    }
                    RETRIED_JOINS.with(|n| n.set(n.get() + 1));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    http = Http::open(node).await?;
                }
            }
            Ok::<_, io::Error>(())
        }));
    }
    for worker in workers {
        worker.await.map_err(io::Error::other)??;
    }
    Ok(())
}

// ------------------------------------------------------------ conductor --

#[derive(Debug, Serialize)]
pub struct ClusterLaunch {
    pub nodes: usize,
    pub pages: usize,
    pub copies: u32,
    pub long_poll_pages: usize,
    pub joins_per_s: f64,
    pub retried_joins: usize,
    pub joined_after_opening: usize,
    pub place_after_opening: Latency,
    pub pages_placed: usize,
    pub turn_after_offer: Latency,
    pub turns: usize,
    pub closed_after_last_sale: Latency,
    pub pages_told_closed: usize,
    pub rss_per_waiting_page_bytes: Vec<f64>,
    pub cpu_us_per_broadcast_per_1000_pages: f64,
    pub broadcasts: u64,
    pub postgres_commits_per_s_peak: f64,
    pub postgres_cpu_s: f64,
    pub postgres_commits: u64,
    pub line_asks: u64,
    pub line_reads: u64,
    pub sold: u64,
    pub oversold: i64,
    pub offers_in_draw_order: bool,
    pub wrong_pages: usize,
    pub dropped_pages: usize,
    /// The node killed mid-launch (`--kill-node-after`), when, and the
    /// pages that carried on on the other nodes.
    pub killed_node: Option<usize>,
    pub killed_after_opening_s: Option<f64>,
    pub moved_pages: usize,
    /// Pages on nodes that were not killed whose stream ended and came back.
    pub reconnected_on_live_nodes: usize,
    /// Pages whose checkout came after their offer had lapsed.
    pub checkouts_too_late: usize,
    pub seconds_opening_to_closed: f64,
    pub scripts_against_people: ScriptsAgainstPeople,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    out: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Worker {
    async fn expect(&mut self, word: &str) -> io::Result<String> {
        let line = self.out.next_line().await?.unwrap_or_default();
        if !word.is_empty() && line != word {
            return Err(io::Error::other(format!("a page process said {line:?}")));
        }
        Ok(line)
    }

    async fn say(&mut self, word: &str) -> io::Result<()> {
        self.stdin.write_all(format!("{word}\n").as_bytes()).await
    }
}

/// CPU seconds every PostgreSQL process has used so far (from /proc), with
/// what the ones that have ended used (their parent's cutime and cstime,
/// fields 16 and 17): a node killed mid-run takes its backends with it.
fn postgres_cpu_s() -> f64 {
    let mut ticks = 0u64;
    let Ok(all) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for entry in all.flatten() {
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if comm.trim() != "postgres" {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        ticks += cpu_ticks(&stat) + ended_children_cpu_ticks(&stat);
    }
    ticks as f64 / 100.0
}

/// The nodes' CPU for one broadcast to every page: 20 changes to another
/// book (staff set its total), 200 ms apart, against the same time with
/// none (the nodes' own upkeep: pings, clocks, heartbeats).
async fn cpu_per_broadcast(nodes: &[Running], staff: &str) -> io::Result<(Duration, u64)> {
    const CHANGES: u32 = 20;
    const APART: Duration = Duration::from_millis(200);
    let cpu = || nodes.iter().map(Running::cpu).sum::<Duration>();
    let quiet_from = cpu();
    tokio::time::sleep(APART * CHANGES).await;
    let quiet = cpu() - quiet_from;
    let version_before = crate::cases::stock_version(&nodes[0]).await?;
    let busy_from = cpu();
    let mut http = Http::open(nodes[0].addr).await?;
    for i in 0..CHANGES {
        let started = Instant::now();
        let form = format!(
            "book=structure-and-interpretation-of-computer-programs&total={}",
            20 + i % 2
        );
        post_staff_form(&mut http, staff, "/api/admin/total", &form).await?;
        tokio::time::sleep(APART.saturating_sub(started.elapsed())).await;
    }
    let busy = cpu() - busy_from;
    let broadcasts = crate::cases::stock_version(&nodes[0]).await? - version_before;
    Ok((busy.saturating_sub(quiet), broadcasts))
}

async fn metric(node: &Running, series: &str) -> io::Result<u64> {
    let mut http = Http::open(node.addr).await?;
    let answer = http.request("GET", "/metrics", &[], b"").await?;
    let text = String::from_utf8_lossy(&answer.body);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

pub async fn cluster_launch(
    bins: &Binaries,
    postgres: &str,
    nodes: usize,
    pages: usize,
    copies: u32,
    join_rate: f64,
    load_core: usize,
    kill_node_after: Option<f64>,
) -> io::Result<ClusterLaunch> {
    if kill_node_after.is_some() && nodes < 2 {
        return Err(io::Error::other(
            "--kill-node-after needs two nodes at least: the pages need one to go to",
        ));
    }
    let database = Database::create(postgres)?;
    add_staff(bins, &database.url).await?;
    let env = [("LIVECART_LINE_OFFER_TTL", "25s")];
    let mut running = vec![Running::start_node(bins, &database.url, &env).await?];
    for _ in 1..nodes {
        running.push(Running::start_node(bins, &database.url, &env).await?);
    }
    running[0].set_featured_total(0).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before: Vec<u64> = running.iter().map(Running::rss_kib).collect();

    // One process of pages per node, on the load core.
    let exe = std::env::current_exe()?;
    let share = pages.div_ceil(nodes);
    let mut workers = Vec::new();
    for (n, node) in running.iter().enumerate() {
        let first = n * share;
        let count = share.min(pages - first);
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg(load_core.to_string())
            .arg(&exe)
            .args(["launch-pages", "--node", &node.addr.to_string()])
            .args(["--first", &first.to_string(), "--count", &count.to_string()])
            .args(["--join-rate", &(join_rate / nodes as f64).to_string()])
            // Where its pages go if their node dies: the others, in turn.
            .arg("--others")
            .arg(
                (1..nodes)
                    .map(|k| running[(n + k) % nodes].addr.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("stdout"))?;
        workers.push(Worker {
            child,
            stdin,
            out: BufReader::new(stdout).lines(),
        });
    }
    for worker in &mut workers {
        worker.expect("open").await?;
    }
    eprintln!("  {pages} pages open on {nodes} nodes");

    // Scheduled an hour ahead; once every page has joined, the opening is
    // brought to 5 s from then (in the database, as the clock would reach
    // it), so every page is in the draw however fast the joins went.
    let staff = staff_cookie(running[0].addr).await?;
    let mut http = Http::open(running[0].addr).await?;
    let form = format!("book={FEATURED_BOOK}&copies={copies}&opens_at=%2B1h");
    post_staff_form(&mut http, &staff, "/api/admin/launch", &form).await?;
    let line_id = query(
        &database.url,
        &format!("SELECT line_id FROM books WHERE id = '{FEATURED_BOOK}'"),
    )?;
    let joins_started = Instant::now();
    for worker in &mut workers {
        worker.say("join").await?;
    }
    let mut retried_joins = 0;
    for worker in &mut workers {
        let said = worker.expect("").await?;
        retried_joins += said
            .strip_prefix("joined ")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| io::Error::other(format!("a page process said {said:?}")))?;
    }
    let joins_per_s = pages as f64 / joins_started.elapsed().as_secs_f64();
    let opens_at = unix_ms() + 5_000;
    query(
        &database.url,
        &format!("UPDATE lines SET opens_at = {opens_at} WHERE id = {line_id}"),
    )?;
    let joined_after_opening = query(
        &database.url,
        &format!(
            "SELECT COUNT(*) FROM line_places WHERE line_id = {line_id} AND joined_at >= {opens_at}"
        ),
    )?
    .parse()
    .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_during: Vec<u64> = running.iter().map(Running::rss_kib).collect();
    let rss_per_page: Vec<f64> = rss_during
        .iter()
        .zip(&rss_before)
        .map(|(after, before)| after.saturating_sub(*before) as f64 * 1024.0 / share as f64)
        .collect();
    eprintln!("  nodes' memory before the pages {rss_before:?} KiB, with them {rss_during:?} KiB");
    eprintln!(
        "  joined at {joins_per_s:.0}/s; server memory per waiting page {:?} B",
        rss_per_page.iter().map(|b| b.round()).collect::<Vec<_>>()
    );

    // From the opening until the line closes: PostgreSQL's commits each
    // second, and the nodes' CPU over the broadcasts.
    let wait = opens_at - unix_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let pg_cpu_before = postgres_cpu_s();
    let commits = |db: &str| -> u64 {
        query(
            db,
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        )
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
    };
    let commits_before = commits(&database.url);
    let mut last = (Instant::now(), commits_before);
    let mut peak = 0.0f64;
    let deadline = Instant::now() + Duration::from_secs(900);
    let opened = Instant::now();
    let mut killed = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(after) = kill_node_after {
            if killed.is_none() && opened.elapsed().as_secs_f64() >= after {
                let last = running.len() - 1;
                running[last].kill_now().await;
                killed = Some((last, opened.elapsed().as_secs_f64()));
                eprintln!("  node {last} killed (SIGKILL) {:.1} s after the opening (asked: {after:.0} s)", opened.elapsed().as_secs_f64());
            }
        }
        let now = commits(&database.url);
        let rate = (now.saturating_sub(last.1)) as f64 / last.0.elapsed().as_secs_f64();
        peak = peak.max(rate);
        last = (Instant::now(), now);
        let state = query(
            &database.url,
            &format!("SELECT state FROM lines WHERE id = {line_id}"),
        )?;
        if state == "closed" {
            break;
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(
                "the launch did not close within 15 minutes",
            ));
        }
    }
    if kill_node_after.is_some() && killed.is_none() {
        eprintln!("  the line closed before the node was due to be killed: none was");
    }
    let seconds_opening_to_closed = (unix_ms() - opens_at) as f64 / 1000.0;
    let postgres_cpu_s = postgres_cpu_s() - pg_cpu_before;
    let postgres_commits = commits(&database.url) - commits_before;
    // The last pages see "closed" (and the nodes go quiet) before the
    // figures are read.
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A killed node's figures end with it: the rest are the survivors'.
    let killed_node = killed.map(|(n, _)| n);
    let dead = killed_node.map(|n| running.remove(n));
    let (cpu, broadcasts) = cpu_per_broadcast(&running, &staff).await?;
    let (mut line_asks, mut line_reads) = (0, 0);
    for node in &running {
        line_asks += metric(node, "livecart_line_asks_total").await?;
        line_reads += metric(node, "livecart_line_reads_total").await?;
    }

    let mut ends: Vec<PageEnd> = Vec::with_capacity(pages);
    for worker in &mut workers {
        worker.say("finish").await?;
        let line = worker.expect("").await?;
        let mine: Vec<PageEnd> = serde_json::from_str(&line).map_err(io::Error::other)?;
        ends.extend(mine);
    }
    for mut worker in workers {
        let _ = worker.child.wait().await;
    }

    // The database's account, place by place.
    let serving: u32 = query(
        &database.url,
        &format!("SELECT serving FROM lines WHERE id = {line_id}"),
    )?
    .parse()
    .map_err(io::Error::other)?;
    let rows = query(
        &database.url,
        &format!(
            "SELECT shopper, COALESCE(place, 0), state FROM line_places WHERE line_id = {line_id}"
        ),
    )?;
    let stored: HashMap<String, (u32, String)> = rows
        .lines()
        .filter_map(|row| {
            let mut cols = row.split('|');
            let shopper = cols.next()?.to_string();
            let place = cols.next()?.parse().ok()?;
            let state = cols.next()?.to_string();
            Some((shopper, (place, state)))
        })
        .collect();
    let sold = stored.values().filter(|(_, s)| s == "bought").count() as u64;
    let offers_in_draw_order = stored
        .values()
        .all(|(place, state)| matches!(state.as_str(), "waiting") == (*place > serving));
    let mut wrong_pages = 0;
    for end in &ends {
        let Some((place, state)) = stored.get(&format!("web:{}", cookie(end.index))) else {
            wrong_pages += 1;
            continue;
        };
        let served = *place <= serving;
        let let_lapse = end.walked_away || end.checkout_refused;
        let expected = match (served, end.bought_ms.is_some(), let_lapse) {
            (false, _, _) => "waiting",
            (true, true, _) => "bought",
            (true, false, true) => "lapsed",
            (true, false, false) => "offered",
        };
        let right = end.place == Some(*place)
            && end.turn_ms.is_some() == served
            && end.closed_ms.is_some()
            && state == expected;
        if !right {
            if wrong_pages < 5 {
                eprintln!(
                    "  page {} ended wrong: {end:?} against {place} {state}",
                    end.index
                );
            }
            wrong_pages += 1;
        }
    }

    let mut placed: Vec<Duration> = ends
        .iter()
        .filter_map(|e| e.placed_ms)
        .map(|at| Duration::from_millis((at - opens_at).max(0) as u64))
        .collect();
    let mut turns: Vec<Duration> = ends
        .iter()
        .filter_map(|e| Some((e.turn_ms?, e.offered_ms?)))
        .map(|(seen, offered)| Duration::from_millis((seen - offered).max(0) as u64))
        .collect();
    let last_sale = ends.iter().filter_map(|e| e.bought_ms).max().unwrap_or(0);
    let mut closed: Vec<Duration> = ends
        .iter()
        .filter_map(|e| e.closed_ms)
        .map(|at| Duration::from_millis((at - last_sale).max(0) as u64))
        .collect();
    for node in running.into_iter().chain(dead) {
        node.stop().await;
    }
    eprintln!("  scripts against people: 10,000 people and 20 scripts of 200 cookies, 100 copies");
    let scripts_against_people = scripts_against_people(bins, &database).await?;
    Ok(ClusterLaunch {
        nodes,
        pages,
        copies,
        long_poll_pages: ends.iter().filter(|e| e.long_poll).count(),
        joins_per_s,
        retried_joins,
        joined_after_opening,
        pages_placed: placed.len(),
        place_after_opening: latency(&mut placed),
        turns: turns.len(),
        turn_after_offer: latency(&mut turns),
        pages_told_closed: closed.len(),
        closed_after_last_sale: latency(&mut closed),
        rss_per_waiting_page_bytes: rss_per_page,
        cpu_us_per_broadcast_per_1000_pages: cpu.as_secs_f64() * 1e6
            / broadcasts.max(1) as f64
            / (pages as f64 / 1000.0),
        broadcasts,
        postgres_commits_per_s_peak: peak,
        postgres_cpu_s,
        postgres_commits,
        line_asks,
        line_reads,
        sold,
        oversold: sold as i64 - i64::from(copies),
        offers_in_draw_order,
        wrong_pages,
        dropped_pages: ends.iter().filter(|e| e.dropped).count(),
        killed_node,
        killed_after_opening_s: killed.map(|(_, s)| s),
        moved_pages: ends.iter().filter(|e| e.moved).count(),
        reconnected_on_live_nodes: ends.iter().filter(|e| e.reconnects > 0 && !e.moved).count(),
        checkouts_too_late: ends.iter().filter(|e| e.checkout_refused).count(),
        seconds_opening_to_closed,
        scripts_against_people,
    })
}

// ---------------------------------------------------- scripts vs people --

/// The book the scripts-against-people launch is of.
const CONTESTED_BOOK: &str = "designing-data-intensive-applications";

#[derive(Debug, Serialize)]
pub struct ScriptsAgainstPeople {
    pub people: usize,
    pub scripts: usize,
    pub cookies_per_script: usize,
    pub copies: u32,
    pub people_placed: usize,
    pub script_places: usize,
    /// The most places any one script address holds.
    pub most_places_per_script_address: usize,
    pub script_share_of_places: f64,
    /// Copies offered to the scripts' places (every offered place may buy).
    pub script_copies: usize,
    pub script_share_of_copies: f64,
    /// The chance that places drawn at random give the scripts at least as
    /// many copies (hypergeometric): small means the draw favoured them.
    pub chance_of_at_least_as_many: f64,
}

/// The scripts-against-people case alone, on a database of its own.
pub async fn scripts_only(bins: &Binaries, postgres: &str) -> io::Result<ScriptsAgainstPeople> {
    let database = Database::create(postgres)?;
    add_staff(bins, &database.url).await?;
    scripts_against_people(bins, &database).await
}

/// 10,000 people (an address each) and 20 scripts (an address each, 200
/// cookies each) join a launch of 100 copies on one node that believes
/// loopback's X-Forwarded-For, with the shop's cap of 4 places per
/// address. Then the opening is brought to now and the database says who
/// was offered the copies.
pub async fn scripts_against_people(
    bins: &Binaries,
    database: &Database,
) -> io::Result<ScriptsAgainstPeople> {
    const PEOPLE: usize = 10_000;
    const SCRIPTS: usize = 20;
    const COOKIES: usize = 200;
    const COPIES: u32 = 100;
    let env = [
        ("LIVECART_LINE_PLACES_PER_ADDRESS", "4"),
        ("LIVECART_TRUSTED_PROXIES", "127.0.0.0/8"),
    ];
    let node = Running::start_node(bins, &database.url, &env).await?;
    let staff = staff_cookie(node.addr).await?;
    let mut http = Http::open(node.addr).await?;
    for (path, form) in [
        ("/api/admin/total", format!("book={CONTESTED_BOOK}&total=0")),
        (
            "/api/admin/launch",
            format!("book={CONTESTED_BOOK}&copies={COPIES}&opens_at=%2B1h"),
        ),
    ] {
        post_staff_form(&mut http, &staff, path, &form).await?;
    }
    // (cookie, address, a script's?) for everyone, scripts among people.
    let mut joiners: Vec<(String, String, bool)> = (0..PEOPLE)
        .map(|i| {
            let n = i + 1;
            (
                cookie(1_000_000 + i),
                format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255),
                false,
            )
        })
        .collect();
    for script in 0..SCRIPTS {
        for k in 0..COOKIES {
            joiners.push((
                cookie(2_000_000 + script * COOKIES + k),
                format!("203.0.113.{}", script + 1),
                true,
            ));
        }
    }
    joiners.sort_by_key(|(c, _, _)| pseudo_random(u64::from_str_radix(&c[..16], 16).unwrap_or(0)));
    let joiners = Rc::new(joiners);
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let mut workers = Vec::new();
            for worker in 0..16 {
                let joiners = joiners.clone();
                let addr = node.addr;
                workers.push(tokio::task::spawn_local(async move {
                    let mut http = Http::open(addr).await?;
                    for (cookie, address, _) in joiners.iter().skip(worker).step_by(16) {
                        let answer = http
                            .post_form(
                                "/api/lines/join",
                                &format!("book={CONTESTED_BOOK}"),
                                &[
                                    ("cookie", &format!("livecart_shopper={cookie}")),
                                    ("x-forwarded-for", address),
                                ],
                            )
                            .await?;
                        // 429: past the cap of places per address (a script's).
                        match answer.status {
                            200 | 429 => {}
                            other => {
                                return Err(io::Error::other(format!("join answered {other}")))
                            }
                        }
                    }
                    Ok::<_, io::Error>(())
                }));
            }
            for worker in workers {
                worker.await.map_err(io::Error::other)??;
            }
            Ok::<_, io::Error>(())
        })
        .await?;
    let line_id = query(
        &database.url,
        &format!("SELECT line_id FROM books WHERE id = '{CONTESTED_BOOK}'"),
    )?;
    query(
        &database.url,
        &format!(
            "UPDATE lines SET opens_at = {} WHERE id = {line_id}",
            unix_ms()
        ),
    )?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while query(
        &database.url,
        &format!("SELECT state FROM lines WHERE id = {line_id}"),
    )? != "open"
    {
        if Instant::now() > deadline {
            return Err(io::Error::other("the contested launch did not open"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = query(
        &database.url,
        &format!(
            "SELECT shopper, address, place, state FROM line_places WHERE line_id = {line_id}"
        ),
    )?;
    node.stop().await;
    let scripts: std::collections::HashSet<String> = joiners
        .iter()
        .filter(|(_, _, script)| *script)
        .map(|(c, _, _)| format!("web:{c}"))
        .collect();
    let (mut people_placed, mut script_places, mut script_copies) = (0, 0, 0);
    let mut per_address: HashMap<String, usize> = HashMap::new();
    for row in rows.lines() {
        let cols: Vec<&str> = row.split('|').collect();
        let [shopper, address, _place, state] = cols[..] else {
            continue;
        };
        let offered = state == "offered";
        if scripts.contains(shopper) {
            script_places += 1;
            *per_address.entry(address.to_string()).or_default() += 1;
            script_copies += usize::from(offered);
        } else {
            people_placed += 1;
        }
    }
    let places = people_placed + script_places;
    Ok(ScriptsAgainstPeople {
        people: PEOPLE,
        scripts: SCRIPTS,
        cookies_per_script: COOKIES,
        copies: COPIES,
        people_placed,
        script_places,
        most_places_per_script_address: per_address.values().copied().max().unwrap_or(0),
        script_share_of_places: script_places as f64 / places.max(1) as f64,
        script_copies,
        script_share_of_copies: script_copies as f64 / f64::from(COPIES),
        chance_of_at_least_as_many: at_least(places, script_places, COPIES as usize, script_copies),
    })
}

/// P(X ≥ k) for X hypergeometric: `n` drawn from `total`, of which `marked`.
fn at_least(total: usize, marked: usize, n: usize, k: usize) -> f64 {
    let ln_choose = |a: usize, b: usize| -> f64 {
        if b > a {
            return f64::NEG_INFINITY;
        }
        let ln_fact = |m: usize| (1..=m).map(|x| (x as f64).ln()).sum::<f64>();
        ln_fact(a) - ln_fact(b) - ln_fact(a - b)
    };
    let all = ln_choose(total, n);
    (k..=n.min(marked))
        .map(|x| (ln_choose(marked, x) + ln_choose(total - marked, n - x) - all).exp())
        .sum()
}
