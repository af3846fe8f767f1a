//! What an operator watches on `/metrics` (Prometheus text format): open
//! subscriptions by transport, committed changes and refusals, commit time,
//! and the stock version. Each server has its own registry.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// How a subscriber is listening.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Transport {
    /// `/api/stock/ws`
    Websocket,
    /// `/api/stock/events`
    Sse,
    /// `/api/stock/poll`, while it waits
    LongPoll,
    /// The book's WebSocket on `/cart/status`
    BookWebsocket,
    /// The book's long poll on `/cart/status`, while it waits
    BookLongPoll,
}

/// Why a connection was turned away at accept.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Refused {
    /// The process holds `max_connections` already.
    Full,
    /// Its address holds `max_connections_per_address` already.
    PerAddress,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabel {
    reason: Refused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: Transport,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    subscribers: Family<TransportLabel, Gauge>,
    pub changes: Counter,
    pub refusals: Counter,
    pub commits: Counter,
    pub commit_seconds: Histogram,
    pub stock_version: Gauge,
    /// 1 while the PostgreSQL stock listener is connected and listening.
    pub listener_up: Gauge,
    /// Reads of what changed elsewhere (start, notifications, reconnects).
    pub resyncs: Counter,
    /// Unix time (seconds) of the last such read.
    pub last_resync_seconds: Gauge,
    /// Lapsed holds this node's clock ended (each hold is ended by one node).
    pub holds_released: Counter,
    /// Sessions of the book's protocol whose last answer this node keeps.
    pub book_sessions: Gauge,
    /// Client connections open now (WebSockets included).
    pub connections_open: Gauge,
    refused: Family<RefusedLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("livecart");
        let subscribers = Family::<TransportLabel, Gauge>::default();
        registry.register(
            "subscribers",
            "Open subscriptions to the live stock, by transport",
            subscribers.clone(),
        );
        // Every series from the start, so a dashboard sees zeros, not gaps.
        for transport in [
            Transport::Websocket,
            Transport::Sse,
            Transport::LongPoll,
            Transport::BookWebsocket,
            Transport::BookLongPoll,
        ] {
            let _ = subscribers.get_or_create(&TransportLabel { transport });
        }
        let changes = Counter::default();
        registry.register("changes", "Stock changes committed", changes.clone());
        let refusals = Counter::default();
        registry.register(
            "refusals",
            "Requested changes the inventory refused",
            refusals.clone(),
        );
        let commits = Counter::default();
        registry.register(
            "commits",
            "Transactions committed (each carries a group of changes)",
            commits.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "commit_seconds",
            "Time to apply and commit one group of changes",
            commit_seconds.clone(),
        );
        let stock_version = Gauge::default();
        registry.register(
            "stock_version",
            "Version of the newest stock snapshot",
            stock_version.clone(),
        );
        let listener_up = Gauge::default();
        registry.register(
            "listener_up",
            "1 while the PostgreSQL stock listener is connected (0 on SQLite)",
            listener_up.clone(),
        );
        let resyncs = Counter::default();
        registry.register(
            "resyncs",
            "Reads of the stock's changes made elsewhere (other nodes, imports)",
            resyncs.clone(),
        );
        let last_resync_seconds = Gauge::default();
        registry.register(
            "last_resync_unix_seconds",
            "When the stock's changes made elsewhere were last read",
            last_resync_seconds.clone(),
        );
        let holds_released = Counter::default();
        registry.register(
            "holds_released",
            "Lapsed holds this node's expiry clock ended and put back on the shelf",
            holds_released.clone(),
        );
        let book_sessions = Gauge::default();
        registry.register(
            "book_sessions",
            "Sessions of the book's long poll whose last answered version this node keeps",
            book_sessions.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open now, WebSockets included",
            connections_open.clone(),
        );
        let refused = Family::<RefusedLabel, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections turned away at accept, by reason",
            refused.clone(),
        );
        for reason in [Refused::Full, Refused::PerAddress] {
            let _ = refused.get_or_create(&RefusedLabel { reason });
        }
        Metrics {
            registry: Arc::new(registry),
            connections_open,
            refused,
            holds_released,
            book_sessions,
            listener_up,
            resyncs,
            last_resync_seconds,
            subscribers,
            changes,
            refusals,
            commits,
            commit_seconds,
            stock_version,
        }
    }

    /// Counts one subscriber of `transport` until the guard is dropped, so a
    /// client that goes away is uncounted however its handler ends.
    pub fn subscribe(&self, transport: Transport) -> Subscribed {
        let gauge = self
            .subscribers
            .get_or_create(&TransportLabel { transport })
            .clone();
        gauge.inc();
        Subscribed(gauge)
    }

    pub fn connections_refused(&self, reason: Refused) {
        self.refused.get_or_create(&RefusedLabel { reason }).inc();
    }

    pub fn subscribers(&self, transport: Transport) -> i64 {
        self.subscribers
            .get_or_create(&TransportLabel { transport })
            .get()
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// One counted subscriber; uncounted on drop.
pub struct Subscribed(Gauge);

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_is_counted_while_its_guard_lives() {
        let metrics = Metrics::new();
        let guard = metrics.subscribe(Transport::LongPoll);
        assert_eq!(metrics.subscribers(Transport::LongPoll), 1);
        assert!(metrics
            .render()
            .contains("livecart_subscribers{transport=\"LongPoll\"} 1"));
        drop(guard);
        assert_eq!(metrics.subscribers(Transport::LongPoll), 0);
    }

    #[test]
    fn every_metric_and_labelled_series_is_listed_from_the_start_in_order() {
        let text = Metrics::new().render();
        let kinds: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE livecart_"))
            .collect();
        assert_eq!(
            kinds,
            [
                "subscribers gauge",
                "changes counter",
                "refusals counter",
                "commits counter",
                "commit_seconds histogram",
                "stock_version gauge",
                "listener_up gauge",
                "resyncs counter",
                "last_resync_unix_seconds gauge",
                "holds_released counter",
                "book_sessions gauge",
                "connections_open gauge",
                "connections_refused counter",
            ]
        );
        for series in [
            "livecart_subscribers{transport=\"Websocket\"} 0",
            "livecart_subscribers{transport=\"Sse\"} 0",
            "livecart_subscribers{transport=\"LongPoll\"} 0",
            "livecart_subscribers{transport=\"BookWebsocket\"} 0",
            "livecart_subscribers{transport=\"BookLongPoll\"} 0",
            "livecart_connections_refused_total{reason=\"Full\"} 0",
            "livecart_connections_refused_total{reason=\"PerAddress\"} 0",
        ] {
            assert!(text.contains(series), "{series} is missing");
        }
    }
}
