//! The cross-node family: livecart nodes on one PostgreSQL. Every run gets a
//! database of its own on the server named by `--postgres`, dropped after.
//!
//! - delivery: two nodes, `--subscribers` WebSockets on each; changes made
//!   through node A at a fixed rate (open loop: each is sent on schedule,
//!   whether or not the previous ones were answered). For every change, the
//!   delay from its acknowledgement to its receipt, on A's subscribers and on
//!   B's; how long the change itself took (schedule to answer); and whether
//!   any subscriber ends behind.
//! - reserve/return on PostgreSQL with one node and with two.
//!
//! A change is recognised on arrival by the featured count: every change
//! takes one more copy (a fresh session each), so the count only falls, and
//! a subscriber that shows a count at or below the one a change was answered
//! with has received that change.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::cases::{
    latency, reserve_return_on, stock_version, Latency, Operations, Via, FEATURED_BOOK,
};
use crate::net::{open_socket, Http};
use crate::server::{add_staff, Binaries, Running};

/// Copies enough for every change of the longest run.
const COPIES: u32 = 100_000;
/// Every how many subscribers one records its arrivals (all of them read and
/// parse every message; recording all would cost the load generator more
/// than the nodes).
const MEASURE_EVERY: usize = 10;

/// A throwaway database on the benchmark's PostgreSQL.
pub struct Database {
    admin: String,
    name: String,
    pub url: String,
}

impl Database {
    pub fn create(admin: &str) -> io::Result<Database> {
        let name = format!(
            "livecart_bench_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(io::Error::other)?
                .as_nanos()
        );
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Ok(Database {
            admin: admin.to_string(),
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) -> io::Result<()> {
    query(url, sql).map(drop)
}

/// What `sql` selects on `url`, as psql prints it unaligned (`a|b` rows).
pub fn query(url: &str, sql: &str) -> io::Result<String> {
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "psql: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub rate_per_second: u32,
    pub notify: bool,
    pub subscribers_per_node: usize,
    pub changes: usize,
    pub refused: usize,
    /// From the moment a change was due to its answer.
    pub change: Latency,
    /// From a change's acknowledgement to its receipt, on A's subscribers.
    pub on_a: Latency,
    /// The same on B's (none when B is not told: notify off).
    pub on_b: Option<Latency>,
    /// Subscribers not on the final count 5 s after the last change.
    pub behind_a: usize,
    pub behind_b: usize,
    pub cpu_us_per_change_a: f64,
    pub cpu_us_per_change_b: f64,
}

/// One subscriber: the count it last showed, and (if measured) when it
/// showed each.
struct Subscriber {
    last: AtomicU32,
    arrivals: Option<Mutex<Vec<(Instant, u32)>>>,
}

async fn subscribe(node: &Running, n: usize) -> io::Result<Vec<Arc<Subscriber>>> {
    let since = stock_version(node).await?;
    let mut subscribers = Vec::with_capacity(n);
    for i in 0..n {
        let mut socket = open_socket(node.addr, &format!("/api/stock/ws?since={since}")).await?;
        let subscriber = Arc::new(Subscriber {
            last: AtomicU32::new(u32::MAX),
            arrivals: (i % MEASURE_EVERY == 0).then(|| Mutex::new(Vec::new())),
        });
        let mine = subscriber.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Some(count) = featured_count(text.as_bytes()) else {
                    continue;
                };
                let at = Instant::now();
                mine.last.store(count, Ordering::Relaxed);
                if let Some(arrivals) = &mine.arrivals {
                    arrivals
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((at, count));
                }
            }
        });
        subscribers.push(subscriber);
    }
    Ok(subscribers)
}

fn featured_count(json: &[u8]) -> Option<u32> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    value["stock"][FEATURED_BOOK]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
}

/// The delays from each change's acknowledgement to its arrival, over the
/// measured subscribers. `changes` holds (count answered, acknowledged at).
fn delays(subscribers: &[Arc<Subscriber>], changes: &[(u32, Instant)]) -> Vec<Duration> {
    // Highest count first: the order the counts fall in.
    let mut changes = changes.to_vec();
    changes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::new();
    for subscriber in subscribers {
        let Some(arrivals) = &subscriber.arrivals else {
            continue;
        };
        let arrivals = arrivals.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = 0;
        for (count, acknowledged) in &changes {
            while next < arrivals.len() && arrivals[next].1 > *count {
                next += 1;
            }
            // Never heard: counted as "behind" instead.
            if let Some((at, _)) = arrivals.get(next) {
                out.push(at.saturating_duration_since(*acknowledged));
            }
        }
    }
    out
}

pub async fn delivery(
    bins: &Binaries,
    postgres: &str,
    rate: u32,
    notify: bool,
    subscribers_per_node: usize,
    seconds: f64,
    core_b: Option<usize>,
) -> io::Result<Delivery> {
    let database = Database::create(postgres)?;
    add_staff(bins, &database.url).await?;
    let notify_env = [("LIVECART_PG_NOTIFY", if notify { "true" } else { "false" })];
    let a = Running::start_node(bins, &database.url, &notify_env).await?;
    a.set_featured_total(COPIES).await?;
    // B starts after the total is set, so it reads it even without NOTIFY.
    let b_bins = Binaries {
        core: core_b.or(bins.core),
        ..bins.clone()
    };
    let b = Running::start_node(&b_bins, &database.url, &notify_env).await?;
    let on_a = subscribe(&a, subscribers_per_node).await?;
    let on_b = subscribe(&b, subscribers_per_node).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Open loop: change k is due at k / rate; a pool of connections sends
    // them, so a slow answer delays only its own connection.
    const CONNECTIONS: usize = 32;
    let total = (f64::from(rate) * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let (jobs_tx, jobs_rx) = async_channel(total);
    let answers = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut http = Http::open(a.addr).await?;
        let jobs = jobs_rx.clone();
        let answers = answers.clone();
        workers.push(tokio::spawn(async move {
            while let Some((k, due)) = jobs.recv().await {
                let body = format!("session=x-{k}&action=add");
                let answer = http.post_form("/cart", &body, &[]).await;
                let acknowledged = Instant::now();
                let count = answer.ok().filter(|r| r.status == 200).and_then(|r| {
                    let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
                    v["inventoryCount"].as_str()?.parse::<u32>().ok()
                });
                answers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((count, due, acknowledged));
            }
        }));
    }
    drop(jobs_rx);
    let cpu_a = a.cpu();
    let cpu_b = b.cpu();
    let started = Instant::now();
    for k in 0..total {
        let due = started + interval * k as u32;
        tokio::time::sleep_until(due.into()).await;
        jobs_tx.send((k, due));
    }
    jobs_tx.close();
    for worker in workers {
        let _ = worker.await;
    }
    let answers = std::mem::take(&mut *answers.lock().unwrap_or_else(|p| p.into_inner()));
    let truth = answers
        .iter()
        .filter_map(|(c, _, _)| *c)
        .min()
        .unwrap_or(COPIES);
    let settle = Instant::now() + Duration::from_secs(5);
    let behind = |subs: &[Arc<Subscriber>]| {
        subs.iter()
            .filter(|s| s.last.load(Ordering::Relaxed) != truth)
            .count()
    };
    while (behind(&on_a) > 0 || (notify && behind(&on_b) > 0)) && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu_a = a.cpu().saturating_sub(cpu_a);
    let cpu_b = b.cpu().saturating_sub(cpu_b);
    let changes: Vec<(u32, Instant)> = answers
        .iter()
        .filter_map(|(c, _, at)| c.map(|c| (c, *at)))
        .collect();
    let mut change: Vec<Duration> = answers
        .iter()
        .map(|(_, due, at)| at.saturating_duration_since(*due))
        .collect();
    let done = changes.len().max(1) as f64;
    let result = Delivery {
        rate_per_second: rate,
        notify,
        subscribers_per_node,
        changes: changes.len(),
        refused: answers.len() - changes.len(),
        change: latency(&mut change),
        on_a: latency(&mut delays(&on_a, &changes)),
        on_b: notify.then(|| latency(&mut delays(&on_b, &changes))),
        behind_a: behind(&on_a),
        behind_b: behind(&on_b),
        cpu_us_per_change_a: cpu_a.as_secs_f64() * 1e6 / done,
        cpu_us_per_change_b: cpu_b.as_secs_f64() * 1e6 / done,
    };
    a.stop().await;
    b.stop().await;
    drop(database);
    Ok(result)
}

/// Reserve/return on PostgreSQL through `nodes` nodes (with NOTIFY off, the
/// cost of NOTIFY's commit-time lock shows against the same run with it on).
pub async fn reserve_return(
    bins: &Binaries,
    postgres: &str,
    nodes: usize,
    notify: bool,
    connections: usize,
    seconds: f64,
) -> io::Result<Operations> {
    let database = Database::create(postgres)?;
    add_staff(bins, &database.url).await?;
    let env = [("LIVECART_PG_NOTIFY", if notify { "true" } else { "false" })];
    let first = Running::start_node(bins, &database.url, &env).await?;
    first.set_featured_total(100_000).await?;
    let mut running = vec![first];
    for _ in 1..nodes {
        running.push(Running::start_node(bins, &database.url, &env).await?);
    }
    let refs: Vec<&Running> = running.iter().collect();
    let result = reserve_return_on(&refs, Via::BookProtocol, connections, seconds).await;
    for node in running {
        node.stop().await;
    }
    drop(database);
    result
}

/// A small multi-consumer queue of due changes (the load generator runs on
/// one thread, so a mutex and a notify suffice).
fn async_channel(capacity: usize) -> (Jobs, Jobs) {
    let jobs = Jobs(Arc::new(JobsInner {
        queue: Mutex::new((std::collections::VecDeque::with_capacity(capacity), false)),
        ready: tokio::sync::Notify::new(),
    }));
    (jobs.clone(), jobs)
}

#[derive(Clone)]
struct Jobs(Arc<JobsInner>);

struct JobsInner {
    queue: Mutex<(std::collections::VecDeque<(usize, Instant)>, bool)>,
    ready: tokio::sync::Notify,
}

impl Jobs {
    fn send(&self, job: (usize, Instant)) {
        self.0
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .push_back(job);
        self.0.ready.notify_one();
    }

    fn close(&self) {
        self.0.queue.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.0.ready.notify_waiters();
    }

    async fn recv(&self) -> Option<(usize, Instant)> {
        loop {
            let notified = self.0.ready.notified();
            {
                let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(job) = queue.0.pop_front() {
                    return Some(job);
                }
                if queue.1 {
                    return None;
                }
            }
            notified.await;
        }
    }
}
