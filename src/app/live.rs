//! Live stock in the browser: one context every count on the page reads, fed
//! by one subscription to the server.

use crate::shared::lines::{LineAsk, LineState, LineStatus, LineView};
use crate::shared::stock::{stock_phrase, Absorbed, StockSnapshot};
use crate::shared::ShopError;
use leptos::prelude::*;

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
            Connection::Polling => "polling",
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
    /// The newest catalog version the page has shown or heard of.
    catalog_seen: StoredValue<u64>,
    /// Bumped whenever a newer catalog is heard of, so pages fetch again.
    catalog_changes: RwSignal<u32>,
    /// While the page is live over its WebSocket: where an ask for a line
    /// goes out on it (the socket's own cookie says whose place).
    /// (Sync storage: the server renders the page on any of its threads,
    /// and a thread-bound value dropped on another one panics.)
    socket_asks: StoredValue<Option<futures::channel::mpsc::UnboundedSender<String>>>,
    /// The newest line the socket answered an ask with.
    line_answer: RwSignal<Option<LineView>>,
}

impl LiveStock {
    pub fn provide() -> LiveStock {
        let live = LiveStock {
            snapshot: RwSignal::new(None),
            connection: RwSignal::new(Connection::Idle),
            catalog_seen: StoredValue::new(0),
            catalog_changes: RwSignal::new(0),
            socket_asks: StoredValue::new(None),
            line_answer: RwSignal::new(None),
        };
        provide_context(live);
        live
    }

    pub fn expect() -> LiveStock {
        expect_context::<LiveStock>()
    }

    /// Takes a message if it is newer than what the page holds and follows
    /// on from it (a whole snapshot, or a change since a version the page
    /// has); an older one never replaces a newer one, whichever transport it
    /// came by. `Gap` means the page must ask again from its own version.
    pub fn offer(&self, snapshot: StockSnapshot) -> Absorbed {
        let catalog_version = snapshot.catalog_version;
        let mut absorbed = Absorbed::Stale;
        self.snapshot.maybe_update(|current| {
            absorbed = match current {
                Some(current) => current.absorb(snapshot),
                // Nothing to follow on from (a page that shows no count):
                // what comes first is where the page starts.
                None => {
                    *current = Some(StockSnapshot {
                        since: None,
                        ..snapshot
                    });
                    Absorbed::Applied
                }
            };
            absorbed == Absorbed::Applied
        });
        if absorbed == Absorbed::Applied && catalog_version > self.catalog_seen.get_value() {
            self.catalog_seen.set_value(catalog_version);
            self.catalog_changes.update(|n| *n += 1);
        }
        absorbed
    }

    /// The page was rendered at `version`: its counts are as of it, so the
    /// live stock starts there and takes only what changed after it.
    pub fn rendered_at(&self, version: u64) {
        if version == 0 {
            return;
        }
        self.snapshot.update(|current| {
            if current.is_none() {
                *current = Some(StockSnapshot {
                    version,
                    ..StockSnapshot::default()
                });
            }
        });
    }

    /// A page shows the catalog as of `catalog_version`; only a newer one
    /// makes it fetch again.
    pub fn rendered_catalog(&self, catalog_version: u64) {
        if catalog_version > self.catalog_seen.get_value() {
            self.catalog_seen.set_value(catalog_version);
        }
    }

    /// Changes each time a newer catalog (titles, prices, books) is heard of.
    pub fn catalog_changes(&self) -> u32 {
        self.catalog_changes.get()
    }

    /// The version the page has heard of, if any.
    pub fn version_untracked(&self) -> Option<u64> {
        self.snapshot
            .with_untracked(|s| s.as_ref().map(|s| s.version))
    }

    /// `book`'s live count, if the page has heard of a version newer than
    /// `since` (the version the page was rendered with). Islands read it
    /// through `HeardStock`.
    fn available_after(&self, book: &str, since: u64) -> Option<u32> {
        self.snapshot.with(|s| {
            s.as_ref()
                .filter(|s| s.version > since)
                .and_then(|s| s.available(book))
        })
    }

    /// `book`'s line as the page last heard of it, if it heard of a version
    /// newer than `since` that carried it: Some(None) once it ended.
    /// Islands read it through `HeardStock`.
    fn line_after(&self, book: &str, since: u64) -> Option<Option<LineState>> {
        self.snapshot.with(|s| {
            let line = s.as_ref().filter(|s| s.version > since)?.line(book)?;
            Some((line.state != LineStatus::Ended).then_some(*line))
        })
    }

    /// Asks for `book`'s line as this shopper sees it over the page's
    /// WebSocket, answered by `line_answer`; false when the page has no
    /// socket open (it asks over HTTP then). At a launch's opening every
    /// page asks at once: a frame on a socket that is open already costs
    /// the server far less than a request each.
    pub fn ask_line(&self, book: &str) -> bool {
        let Ok(ask) = serde_json::to_string(&LineAsk {
            line: book.to_string(),
        }) else {
            return false;
        };
        self.socket_asks.with_value(|asks| {
            asks.as_ref()
                .is_some_and(|asks| asks.unbounded_send(ask).is_ok())
        })
    }

    /// The newest line the page's socket answered an ask with.
    pub fn line_answer(&self) -> Option<LineView> {
        self.line_answer.get()
    }

    pub fn connection(&self) -> Connection {
        self.connection.get()
    }

    pub fn connection_untracked(&self) -> Connection {
        self.connection.get_untracked()
    }

    pub fn set_connection(&self, connection: Connection) {
        self.connection.set(connection);
    }
}

/// The live stock as one island reads it: nothing heard until the island
/// has hydrated (`lazy::hydration_done`), so that it hydrates over what the
/// server rendered; then what the page has heard of. Every live count and
/// line an island shows is read through one.
#[derive(Clone, Copy)]
pub struct HeardStock {
    live: LiveStock,
    hydrated: ReadSignal<bool>,
}

impl HeardStock {
    /// For the island being built.
    pub fn new() -> HeardStock {
        HeardStock {
            live: LiveStock::expect(),
            hydrated: super::lazy::hydration_done(),
        }
    }

    /// `book`'s live count once hydrated, if the page has heard of a
    /// version newer than `since`.
    pub fn available_after(&self, book: &str, since: u64) -> Option<u32> {
        if !self.hydrated.get() {
            return None;
        }
        self.live.available_after(book, since)
    }

    /// `book`'s line once hydrated, as `LiveStock::line_after`.
    pub fn line_after(&self, book: &str, since: u64) -> Option<Option<LineState>> {
        if !self.hydrated.get() {
            return None;
        }
        self.live.line_after(book, since)
    }
}

/// `book`'s count, following the live stock once it is newer than the
/// `version` the page was rendered with.
pub fn live_count(heard: HeardStock, book: String, available: u32, version: u64) -> Memo<u32> {
    Memo::new(move |_| heard.available_after(&book, version).unwrap_or(available))
}

/// What an island shows of the catalog (titles, prices, books): the view
/// the server rendered it with, fetched again by `fetch` each time a newer
/// catalog is heard of after the island hydrated. Effects run only in the
/// browser.
pub fn follow_catalog<V, Fut>(
    view: V,
    catalog_version: fn(&V) -> u64,
    fetch: impl Fn() -> Fut + 'static,
) -> RwSignal<V>
where
    V: Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<V, ShopError>> + 'static,
{
    let live = LiveStock::expect();
    live.rendered_catalog(catalog_version(&view));
    let shown = RwSignal::new(view);
    Effect::new(move |seen: Option<u32>| {
        let changes = live.catalog_changes();
        if seen.is_some_and(|seen| seen != changes) {
            let fetching = fetch();
            leptos::task::spawn_local(async move {
                if let Ok(view) = fetching.await {
                    live.rendered_catalog(catalog_version(&view));
                    shown.set(view);
                }
            });
        }
        changes
    });
    shown
}

/// A count on a page that is otherwise static (the staff's ledger).
#[cfg_attr(feature = "split", island(lazy))]
#[cfg_attr(not(feature = "split"), island)]
pub fn LiveStockLine(book: String, available: u32, version: u64) -> impl IntoView {
    let count = live_count(HeardStock::new(), book, available, version);
    view! { <StockLine count attr:data-hydrated=super::lazy::hydrated()/> }
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

/// A small badge: live, reconnecting or polling. Every page has one, once,
/// so its island is where the page's subscription starts: from
/// `rendered_at`, the version the server rendered the page at.
#[island]
pub fn ConnectionBadge(rendered_at: u64) -> impl IntoView {
    let live = LiveStock::expect();
    #[cfg(feature = "hydrate")]
    {
        live.rendered_at(rendered_at);
        subscribe(live);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = rendered_at;
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
pub(super) mod transport {
    //! WebSocket first; long polling `/api/stock/poll` when sockets cannot
    //! get through (remembered for the tab). Retries back off exponentially
    //! with jitter, resume from the newest version seen, and are cut short
    //! when the browser comes back online or the tab comes back into view.

    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
    use futures::future::{select, Either};
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};
    use gloo_timers::future::sleep;
    use wasm_bindgen::prelude::*;

    use leptos::prelude::{Set, SetValue};

    use super::{Connection, LiveStock};
    use crate::shared::lines::LineAnswer;
    use crate::shared::stock::{Absorbed, StockSnapshot};

    /// Socket attempts that fail in a row before the page checks whether
    /// plain HTTP gets through and, if it does, switches to long polling.
    const SOCKET_FAILURES_BEFORE_POLLING: u32 = 3;
    /// A socket that delivers nothing for this long after opening is not
    /// getting through (the server sends the snapshot at once).
    const FIRST_MESSAGE_WITHIN: Duration = Duration::from_secs(5);
    /// A socket that dies younger than this counts as failing.
    const HEALTHY_AFTER_MS: f64 = 10_000.0;
    /// A tab hidden longer than this reconnects when it is shown again (its
    /// socket may have died while the laptop slept).
    const HIDDEN_LONG_MS: f64 = 15_000.0;
    const POLL_SECS: u64 = 25;
    const TRANSPORT_KEY: &str = "livecart.transport";

    /// Exponential backoff with jitter: the first retry comes within a
    /// second, later ones up to about ten seconds apart, spread so that a
    /// restarted server is not hit by every page at once.
    fn backoff(failures: u32) -> Duration {
        let base_ms = (500.0 * 2f64.powi(failures.saturating_sub(1).min(5) as i32)).min(10_000.0);
        let jittered = base_ms / 2.0 + js_sys::Math::random() * base_ms / 2.0;
        Duration::from_millis(jittered as u64)
    }

    /// The page's own origin as a WebSocket address of `path` (wss over
    /// HTTPS).
    pub(in crate::app) fn socket_url(path: &str) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}{path}", location.host().ok()?))
    }

    fn polling_remembered() -> bool {
        session_storage()
            .and_then(|s| s.get_item(TRANSPORT_KEY).ok().flatten())
            .is_some_and(|v| v == "polling")
    }

    fn remember_polling() {
        if let Some(storage) = session_storage() {
            let _ = storage.set_item(TRANSPORT_KEY, "polling");
        }
    }

    fn session_storage() -> Option<web_sys::Storage> {
        web_sys::window()?.session_storage().ok().flatten()
    }

    /// Sends a wake-up when the browser comes back online or the tab is
    /// shown again after a long while hidden.
    fn listen_for_wakeups(wake: UnboundedSender<()>) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let on_online = {
            let wake = wake.clone();
            Closure::<dyn Fn()>::new(move || {
                let _ = wake.unbounded_send(());
            })
        };
        let _ =
            window.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
        on_online.forget();

        let Some(document) = window.document() else {
            return;
        };
        let hidden_since = Rc::new(Cell::new(None::<f64>));
        let on_visibility = {
            let document = document.clone();
            Closure::<dyn Fn()>::new(move || {
                let now = js_sys::Date::now();
                if document.visibility_state() == web_sys::VisibilityState::Hidden {
                    hidden_since.set(Some(now));
                } else if let Some(since) = hidden_since.take() {
                    if now - since > HIDDEN_LONG_MS {
                        let _ = wake.unbounded_send(());
                    }
                }
            })
        };
        let _ = document.add_event_listener_with_callback(
            "visibilitychange",
            on_visibility.as_ref().unchecked_ref(),
        );
        on_visibility.forget();
    }

    /// Sleeps `wait`, or less if a wake-up comes.
    async fn sleep_or_wake(wait: Duration, wake: &mut UnboundedReceiver<()>) {
        let _ = select(Box::pin(sleep(wait)), wake.next()).await;
    }

    enum SocketEnd {
        /// The socket never delivered a snapshot, or died young.
        Failed,
        /// The socket served a good while, then closed.
        Closed,
        /// A wake-up asked for a fresh connection.
        Woken,
    }

    async fn follow_socket(live: LiveStock, wake: &mut UnboundedReceiver<()>) -> SocketEnd {
        // From the version the page holds: only what changed since comes.
        let path = match live.version_untracked() {
            Some(version) => format!("/api/stock/ws?since={version}"),
            None => "/api/stock/ws".to_string(),
        };
        let Some(url) = socket_url(&path) else {
            return SocketEnd::Failed;
        };
        let Ok(socket) = WebSocket::open(&url) else {
            return SocketEnd::Failed;
        };
        let opened_at = js_sys::Date::now();
        let (sink, mut stream) = socket.split();
        // Asks go out through a channel the page holds while the socket is
        // live; it ends, and with it this task, when the socket does.
        let (asks, outgoing) = unbounded::<String>();
        leptos::task::spawn_local(async move {
            let _ = outgoing
                .map(|ask| Ok(Message::Text(ask)))
                .forward(sink)
                .await;
        });
        let mut asks = Some(asks);
        let end = read_socket(live, wake, &mut stream, &mut asks).await;
        live.socket_asks.set_value(None);
        match end {
            Some(end) => end,
            None if js_sys::Date::now() - opened_at > HEALTHY_AFTER_MS => SocketEnd::Closed,
            None => SocketEnd::Failed,
        }
    }

    /// Reads the socket until it ends (None once it delivered, or
    /// Failed if it never did), or a wake-up or a gap asks for a new one.
    async fn read_socket(
        live: LiveStock,
        wake: &mut UnboundedReceiver<()>,
        stream: &mut futures::stream::SplitStream<WebSocket>,
        asks: &mut Option<UnboundedSender<String>>,
    ) -> Option<SocketEnd> {
        let mut delivered = false;
        loop {
            let next = if delivered {
                match select(stream.next(), wake.next()).await {
                    Either::Left((message, _)) => message,
                    Either::Right(_) => return Some(SocketEnd::Woken),
                }
            } else {
                match select(stream.next(), Box::pin(sleep(FIRST_MESSAGE_WITHIN))).await {
                    Either::Left((message, _)) => message,
                    Either::Right(_) => return Some(SocketEnd::Failed),
                }
            };
            match next {
                Some(Ok(Message::Text(text))) if text.starts_with(LineAnswer::PREFIX) => {
                    if let Ok(LineAnswer {
                        view: Some(view), ..
                    }) = serde_json::from_str(&text)
                    {
                        live.line_answer.set(Some(view));
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    // from_slice, as the long poll's answer is read: one
                    // decoder of the snapshot in the wasm, not two.
                    if let Ok(snapshot) = serde_json::from_slice::<StockSnapshot>(text.as_bytes()) {
                        // A change that skips versions the page lacks is
                        // never applied: ask again from the page's version.
                        if live.offer(snapshot) == Absorbed::Gap {
                            return Some(SocketEnd::Woken);
                        }
                        live.set_connection(Connection::Live);
                        delivered = true;
                        // Live: the page's asks may go over this socket.
                        if let Some(asks) = asks.take() {
                            live.socket_asks.set_value(Some(asks));
                        }
                    }
                }
                Some(Ok(Message::Bytes(_))) => {}
                Some(Err(_)) | None => break,
            }
        }
        if delivered {
            None
        } else {
            Some(SocketEnd::Failed)
        }
    }

    enum PollEnd {
        Answered,
        Failed,
        Woken,
    }

    /// One long poll: what changed after `since`, or None when `wait_secs`
    /// ran out first (204).
    async fn poll_stock(since: u64, wait_secs: u64) -> Result<Option<StockSnapshot>, ()> {
        let url = format!("/api/stock/poll?since={since}&timeout={wait_secs}");
        let response = gloo_net::http::Request::get(&url)
            .send()
            .await
            .map_err(|_| ())?;
        match response.status() {
            204 => Ok(None),
            200 => {
                let body = response.binary().await.map_err(|_| ())?;
                serde_json::from_slice(&body).map(Some).map_err(|_| ())
            }
            _ => Err(()),
        }
    }

    async fn poll(live: LiveStock, wait_secs: u64, wake: &mut UnboundedReceiver<()>) -> PollEnd {
        let since = live.version_untracked().unwrap_or(0);
        match select(Box::pin(poll_stock(since, wait_secs)), wake.next()).await {
            Either::Left((Ok(answer), _)) => {
                if let Some(snapshot) = answer {
                    live.offer(snapshot);
                }
                PollEnd::Answered
            }
            Either::Left((Err(_), _)) => PollEnd::Failed,
            Either::Right(_) => PollEnd::Woken,
        }
    }

    pub async fn run(live: LiveStock) {
        let (wake_tx, mut wake) = unbounded();
        listen_for_wakeups(wake_tx);
        let mut polling = polling_remembered();
        let mut failures: u32 = 0;
        let mut socket_failures: u32 = 0;
        loop {
            if polling {
                if failures > 0 {
                    live.set_connection(Connection::Reconnecting);
                }
                // Until a poll has come back, one that answers at once shows
                // whether polling gets through (a page that is current would
                // otherwise wait for the next change to find out).
                let confirmed = live.connection_untracked() == Connection::Polling;
                let wait = if confirmed { POLL_SECS } else { 0 };
                match poll(live, wait, &mut wake).await {
                    PollEnd::Answered => {
                        failures = 0;
                        live.set_connection(Connection::Polling);
                    }
                    PollEnd::Woken => failures = 0,
                    PollEnd::Failed => {
                        failures = failures.saturating_add(1);
                        live.set_connection(Connection::Reconnecting);
                        sleep_or_wake(backoff(failures), &mut wake).await;
                    }
                }
                continue;
            }

            live.set_connection(if failures == 0 {
                Connection::Connecting
            } else {
                Connection::Reconnecting
            });
            match follow_socket(live, &mut wake).await {
                SocketEnd::Woken => {
                    failures = 0;
                    continue;
                }
                SocketEnd::Closed => {
                    socket_failures = 0;
                    failures = 1;
                }
                SocketEnd::Failed => {
                    socket_failures += 1;
                    failures = failures.saturating_add(1);
                    // Sockets keep failing: if plain HTTP gets through, a proxy
                    // is blocking them, and polling will work where they do not.
                    if socket_failures >= SOCKET_FAILURES_BEFORE_POLLING
                        && matches!(poll(live, 0, &mut wake).await, PollEnd::Answered)
                    {
                        polling = true;
                        remember_polling();
                        failures = 0;
                        live.set_connection(Connection::Polling);
                        continue;
                    }
                }
            }
            live.set_connection(Connection::Reconnecting);
            sleep_or_wake(backoff(failures), &mut wake).await;
        }
    }
}
