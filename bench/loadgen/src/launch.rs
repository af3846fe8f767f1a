//! `loadgen launch`: a launch on one node. `pages` pages wait on the book's
//! page (a WebSocket on the live stock each, and a shopper cookie each),
//! all join the line at 2,000 joins a second before the opening, and at the
//! opening `copies` copies go down the line. A page learns its number as a
//! real one does (one GET after the draw, spread over half a second) and
//! sees its turn in the broadcast. Offered pages buy after 1 to 20 s, or
//! decline, or let the offer lapse. Measured: joins per second and their
//! latency; from a copy freed (declined, or lapsed) to the next page seeing
//! its turn (from the offer's time as the server stored it: it offers the
//! copy in the transaction that frees it); from the last copy sold to
//! every page seeing "closed"; the server's memory per waiting page; copies
//! sold against copies launched; and whether turns came in place order.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::cases::{latency, Latency, FEATURED_BOOK};
use crate::net::{open_socket, Http};
use crate::server::{post_staff_form, staff_cookie, Binaries, Kind, Running};

/// How long an offer is held in this case (the shop's default is 10 min).
pub const OFFER_TTL_S: u64 = 15;

#[derive(Debug, Serialize)]
pub struct Launch {
    pub pages: usize,
    pub copies: u32,
    pub joins_per_s: f64,
    pub join: Latency,
    pub turn_after_freed: Latency,
    pub freed: usize,
    pub closed_after_last_sale: Latency,
    pub pages_told_closed: usize,
    pub rss_per_waiting_page_bytes: f64,
    /// Stock versions committed while the pages joined (the pages are sent
    /// them merged, at most four publications a second).
    pub versions_during_joins: u64,
    pub sold: usize,
    pub oversold: i64,
    pub offers_in_place_order: bool,
}

/// What one page saw.
#[derive(Default)]
struct Seen {
    place: Option<u32>,
    /// The line as the last broadcast showed it: past the opening, and
    /// the place now serving.
    opened: bool,
    serving: u32,
    turn_at: Option<Instant>,
    /// The same moment by the wall clock (Unix ms), to set against the
    /// offer's time as the server stored it.
    turn_unix_ms: Option<i64>,
    closed_at: Option<Instant>,
}

impl Seen {
    /// A page sees its turn when it knows its place and the broadcast has
    /// served it, whichever it learns last (a real page does the same: the
    /// first copies are offered by the very broadcast that opens the line,
    /// before any page has asked for its number).
    fn check_turn(&mut self, now: Instant) {
        if let Some(place) = self.place {
            if self.turn_at.is_none() && self.opened && self.serving >= place {
                self.turn_at = Some(now);
                self.turn_unix_ms = Some(unix_ms());
            }
        }
    }
}

pub async fn launch(bins: &Binaries, pages: usize, copies: u32) -> io::Result<Launch> {
    let server = Running::start(Kind::Livecart, bins, 0).await?;
    let addr = server.addr;
    let staff = staff_cookie(addr).await?;
    let cookies: Vec<String> = (0..pages)
        .map(|i| {
            format!(
                "livecart_shopper={:032x}",
                (i as u128 + 1) * 0x9e37_79b9_7f4a_7c15
            )
        })
        .collect();

    // The waiting pages: a socket each, read all along.
    let before = server.rss_kib();
    let started = Instant::now();
    let seen: Vec<Arc<Mutex<Seen>>> = (0..pages).map(|_| Arc::default()).collect();
    let mut readers = Vec::with_capacity(pages);
    for page in &seen {
        let socket = open_socket(addr, "/api/stock/ws").await?;
        let page = page.clone();
        readers.push(tokio::spawn(read_page(socket, page)));
    }

    // The launch opens once every page could have joined at 2,000 a second.
    let join_rate = 2000.0;
    let opens_in = Duration::from_secs_f64(pages as f64 / join_rate + 5.0);
    let mut http = Http::open(addr).await?;
    let form = format!(
        "book={FEATURED_BOOK}&copies={copies}&opens_at=%2B{}s",
        opens_in.as_secs()
    );
    post_staff_form(&mut http, &staff, "/api/admin/launch", &form).await?;
    let opening = Instant::now() + opens_in;

    // Joins, paced at 2,000 a second over 64 connections.
    let version_before = crate::cases::stock_version(&server).await?;
    let (join_times, joins_per_s) = join_all(addr, &cookies, join_rate).await?;
    let versions_during_joins = crate::cases::stock_version(&server).await? - version_before;
    server.settle_memory().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = server.rss_kib();
    let rss_per_page = (during.saturating_sub(before) as f64 * 1024.0) / pages as f64;
    eprintln!(
        "  {pages} pages waiting and joined in {:.1} s; {:.0} B of server memory each",
        started.elapsed().as_secs_f64(),
        rss_per_page
    );

    // At the opening each page asks for its number, spread over 0.5 s.
    tokio::time::sleep_until((opening + Duration::from_millis(200)).into()).await;
    let numbers = futures_util::stream::iter(cookies.iter().enumerate())
        .map(|(i, cookie)| {
            let page = seen[i].clone();
            async move {
                let mut http = Http::open(addr).await?;
                let view = line_view(&mut http, cookie).await?;
                let place = view["you"]["place"].as_u64().map(|p| p as u32);
                let mut seen = page.lock().unwrap();
                seen.place = place;
                seen.check_turn(Instant::now());
                drop(seen);
                Ok::<_, io::Error>((i, place, view["you"]["offer_until"].as_i64()))
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let mut placed: Vec<(u32, usize)> = numbers
        .into_iter()
        .filter_map(|r| r.ok())
        .filter_map(|(i, place, _)| Some((place?, i)))
        .collect();
    placed.sort_unstable();

    // Buyers: each page whose turn comes buys after 1..20 s, declines
    // after 1..5 s (one in ten), or lets the offer lapse (what a buyer
    // slower than the offer's 15 s does).
    let turn_delays: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let sold = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let mut served = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut buyers = Vec::new();
    loop {
        let mut all_closed = true;
        for (place, i) in &placed {
            let state = seen[*i].lock().unwrap();
            if state.turn_at.is_some() && served.insert(*place) {
                let (cookie, sold) = (cookies[*i].clone(), sold.clone());
                // A later place's turn comes from a copy freed after the
                // opening: measured from the moment the server offered it
                // (in the transaction that freed it), as stored.
                let turn_seen = (*place > copies).then_some(state.turn_unix_ms).flatten();
                let turn_delays = turn_delays.clone();
                let choice = pseudo_random(*place as u64) % 100;
                let wait = 1.0 + (pseudo_random(*place as u64 * 7 + 1) % 1900) as f64 / 100.0;
                buyers.push(tokio::spawn(async move {
                    let mut http = Http::open(addr).await?;
                    // When the offer ends, by the server's clock (Unix ms).
                    let view = line_view(&mut http, &cookie).await?;
                    let Some(until_ms) = view["you"]["offer_until"].as_i64() else {
                        // No copy held: the turn came from a broadcast the
                        // page read late, and the offer is gone already.
                        // Nothing to buy, and nothing freed by this page.
                        return Ok(());
                    };
                    if let Some(seen_ms) = turn_seen {
                        let offered_ms = until_ms - OFFER_TTL_S as i64 * 1000;
                        let delay = u64::try_from(seen_ms - offered_ms).unwrap_or(0);
                        turn_delays
                            .lock()
                            .unwrap()
                            .push(Duration::from_millis(delay));
                    }
                    if choice < 10 {
                        let wait = 1.0 + wait % 4.0;
                        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                        http.post_form(
                            "/api/lines/leave",
                            &format!("book={FEATURED_BOOK}"),
                            &[("cookie", &cookie)],
                        )
                        .await?;
                    } else if wait < OFFER_TTL_S as f64 {
                        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                        let answer = http
                            .post_form("/api/cart/checkout", "", &[("cookie", &cookie)])
                            .await?;
                        if answer.status == 200 {
                            sold.lock().unwrap().push(Instant::now());
                        }
                    }
                    // Else the offer lapses at its deadline, and the
                    // server's clock passes the copy on.
                    Ok::<_, io::Error>(())
                }));
            }
            if state.closed_at.is_none() {
                all_closed = false;
            }
        }
        let done = sold.lock().unwrap().len() >= copies as usize;
        if done && all_closed {
            break;
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(
                "the launch did not close within 10 minutes",
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for buyer in buyers {
        let _ = buyer.await;
    }

    let mut turn_samples = turn_delays.lock().unwrap().clone();
    let in_order = {
        let last = served.iter().next_back().copied().unwrap_or(0);
        placed
            .iter()
            .all(|(place, i)| seen[*i].lock().unwrap().turn_at.is_some() == (*place <= last))
    };
    let last_sale = sold
        .lock()
        .unwrap()
        .iter()
        .max()
        .copied()
        .unwrap_or_else(Instant::now);
    let mut closed_samples: Vec<Duration> = seen
        .iter()
        .filter_map(|page| page.lock().unwrap().closed_at)
        .map(|at| at.saturating_duration_since(last_sale))
        .collect();
    let told = closed_samples.len();
    let sold_count = sold.lock().unwrap().len();
    for reader in readers {
        reader.abort();
    }
    server.stop().await;
    Ok(Launch {
        pages,
        copies,
        joins_per_s,
        join: latency(&mut join_times.clone()),
        freed: turn_samples.len(),
        turn_after_freed: latency(&mut turn_samples),
        closed_after_last_sale: latency(&mut closed_samples),
        pages_told_closed: told,
        rss_per_waiting_page_bytes: rss_per_page,
        versions_during_joins,
        sold: sold_count,
        oversold: sold_count as i64 - i64::from(copies),
        offers_in_place_order: in_order,
    })
}

/// Reads a page's live stock: when its turn shows (the broadcast's
/// `serving` reaches its number), and when the line shows closed.
async fn read_page(mut socket: crate::net::Socket, page: Arc<Mutex<Seen>>) {
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(snapshot) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let line = &snapshot["lines"][FEATURED_BOOK];
        if line.is_null() {
            continue;
        }
        let now = Instant::now();
        let mut seen = page.lock().unwrap();
        seen.serving = line["serving"].as_u64().unwrap_or(0) as u32;
        seen.opened = line["state"] != "scheduled";
        seen.check_turn(now);
        if line["state"] == "closed" && seen.closed_at.is_none() {
            seen.closed_at = Some(now);
        } else if line["state"] != "closed" {
            seen.closed_at = None;
        }
    }
}

async fn join_all(
    addr: std::net::SocketAddr,
    cookies: &[String],
    rate: f64,
) -> io::Result<(Vec<Duration>, f64)> {
    const CONNECTIONS: usize = 64;
    let started = Instant::now();
    let times = Arc::new(Mutex::new(Vec::with_capacity(cookies.len())));
    let mut workers = Vec::new();
    for worker in 0..CONNECTIONS {
        let mine: Vec<(usize, String)> = cookies
            .iter()
            .enumerate()
            .skip(worker)
            .step_by(CONNECTIONS)
            .map(|(i, c)| (i, c.clone()))
            .collect();
        let times = times.clone();
        workers.push(tokio::spawn(async move {
            let mut http = Http::open(addr).await?;
            for (i, cookie) in mine {
                // Open loop: each join goes at its time, however the others fare.
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let sent = Instant::now();
                join_line(&mut http, &cookie).await?;
                times.lock().unwrap().push(sent.elapsed());
            }
            Ok::<_, io::Error>(())
        }));
    }
    for worker in workers {
        worker.await.map_err(io::Error::other)??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let times = times.lock().unwrap().clone();
    Ok((times, cookies.len() as f64 / elapsed))
}

/// The featured book's line as the shopper with `cookie` sees it
/// (`GET /api/lines/<book>`), or null.
pub async fn line_view(http: &mut Http, cookie: &str) -> io::Result<Value> {
    let answer = http
        .request(
            "GET",
            &format!("/api/lines/{FEATURED_BOOK}"),
            &[("cookie", cookie)],
            b"",
        )
        .await?;
    Ok(serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
}

/// The shopper with `cookie` joins the featured book's line (200 expected).
pub async fn join_line(http: &mut Http, cookie: &str) -> io::Result<()> {
    let answer = http
        .post_form(
            "/api/lines/join",
            &format!("book={FEATURED_BOOK}"),
            &[("cookie", cookie)],
        )
        .await?;
    if answer.status != 200 {
        return Err(io::Error::other(format!("join answered {}", answer.status)));
    }
    Ok(())
}

pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A fixed spread of choices, so runs are alike.
pub fn pseudo_random(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}
