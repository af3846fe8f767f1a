//! Live stock in the browser: one context every count on the page reads, fed
//! by one subscription to the server.

use leptos::prelude::*;

use crate::stock::{stock_phrase, StockSnapshot};

/// How the page is getting its live counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Rendered by the server and not (yet) subscribed: no JavaScript, or
    /// before hydration.
    Idle,
    Connecting,
    Live,
    Reconnecting,
    Polling,
}

impl Connection {
    pub fn label(self) -> &'static str {
        match self {
            Connection::Idle => "",
            Connection::Connecting => "connecting…",
            Connection::Live => "live",
            Connection::Reconnecting => "reconnecting…",
            Connection::Polling => "live (polling)",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Connection::Idle => "badge idle",
            Connection::Connecting | Connection::Reconnecting => "badge reconnecting",
            Connection::Live => "badge live",
            Connection::Polling => "badge polling",
        }
    }
}

/// The newest stock the page has heard of, and how it hears.
#[derive(Clone, Copy)]
pub struct LiveStock {
    snapshot: RwSignal<Option<StockSnapshot>>,
    connection: RwSignal<Connection>,
}

impl LiveStock {
    pub fn provide() -> LiveStock {
        let live = LiveStock {
            snapshot: RwSignal::new(None),
            connection: RwSignal::new(Connection::Idle),
        };
        provide_context(live);
        live
    }

    pub fn expect() -> LiveStock {
        expect_context::<LiveStock>()
    }

    /// Takes `snapshot` if it is newer than what the page holds; an older one
    /// never replaces a newer one, whichever transport it came by.
    pub fn offer(&self, snapshot: StockSnapshot) {
        self.snapshot.maybe_update(|current| {
            let newer = current.as_ref().is_none_or(|c| snapshot.is_newer_than(c));
            if newer {
                *current = Some(snapshot);
            }
            newer
        });
    }

    /// The version the page has heard of, if any.
    pub fn version_untracked(&self) -> Option<u64> {
        self.snapshot.with_untracked(|s| s.as_ref().map(|s| s.version))
    }

    /// `book`'s live count, if the page has heard of a version newer than
    /// `since` (the version the page was rendered with).
    pub fn available_after(&self, book: &str, since: u64) -> Option<u32> {
        self.snapshot
            .with(|s| s.as_ref().filter(|s| s.version > since).and_then(|s| s.available(book)))
    }

    pub fn connection(&self) -> Connection {
        self.connection.get()
    }

    pub fn set_connection(&self, connection: Connection) {
        self.connection.set(connection);
    }
}

/// `book`'s count, following the live stock once it is newer than the
/// `version` the page was rendered with.
pub fn live_count(book: String, available: u32, version: u64) -> Memo<u32> {
    let live = LiveStock::expect();
    Memo::new(move |_| live.available_after(&book, version).unwrap_or(available))
}

/// A book's count as the shopper reads it ("Only 7 left"), in a polite live
/// region so screen readers hear it change.
#[component]
pub fn StockLine(count: Memo<u32>) -> impl IntoView {
    view! {
        <p class="stock" class:sold-out=move || count.get() == 0 aria-live="polite" data-count=move || count.get()>
            {move || stock_phrase(count.get())}
        </p>
    }
}

/// A small badge: live, reconnecting or polling.
#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let live = LiveStock::expect();
    view! {
        <span class=move || live.connection().class() role="status" data-connection=move || live.connection().label()>
            {move || live.connection().label()}
        </span>
    }
}

/// Subscribes the page to the server's stock; browser only.
#[cfg(feature = "hydrate")]
pub fn subscribe(live: LiveStock) {
    leptos::task::spawn_local(transport::run(live));
}

#[cfg(feature = "hydrate")]
mod transport {
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    use gloo_timers::future::sleep;
    use std::time::Duration;

    use super::{Connection, LiveStock};
    use crate::stock::StockSnapshot;

    /// Exponential backoff with jitter: the first retry comes within a
    /// second, later ones up to about ten seconds apart, spread so that a
    /// restarted server is not hit by every page at once.
    pub fn backoff(failures: u32) -> Duration {
        let base_ms = (500.0 * 2f64.powi(failures.saturating_sub(1).min(5) as i32)).min(10_000.0);
        let jittered = base_ms / 2.0 + js_sys::Math::random() * base_ms / 2.0;
        Duration::from_millis(jittered as u64)
    }

    fn socket_url(path: &str) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" { "wss" } else { "ws" };
        Some(format!("{scheme}://{}{path}", location.host().ok()?))
    }

    pub async fn run(live: LiveStock) {
        let mut failures: u32 = 0;
        loop {
            live.set_connection(if failures == 0 { Connection::Connecting } else { Connection::Reconnecting });
            if let Some(url) = socket_url("/api/stock/ws") {
                if let Ok(socket) = WebSocket::open(&url) {
                    let (_sink, mut stream) = socket.split();
                    while let Some(message) = stream.next().await {
                        let text = match message {
                            Ok(Message::Text(text)) => text,
                            Ok(Message::Bytes(_)) => continue,
                            Err(_) => break,
                        };
                        if let Ok(snapshot) = serde_json::from_str::<StockSnapshot>(&text) {
                            live.offer(snapshot);
                            live.set_connection(Connection::Live);
                            failures = 0;
                        }
                    }
                }
            }
            failures = failures.saturating_add(1);
            live.set_connection(Connection::Reconnecting);
            sleep(backoff(failures)).await;
        }
    }
}
