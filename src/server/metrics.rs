//! What an operator watches on `/metrics` (Prometheus text format): open
//! subscriptions by transport, committed changes and refusals, commit time,
//! and the stock version. Each server has its own registry.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

/// How a subscriber is listening.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Transport {
    /// `/api/stock/ws`
    Websocket,
    /// `/api/stock/events`
    Sse,
    /// `/api/stock/poll`, while it waits
    LongPoll,
    /// Burt's WebSocket on `/cart/status`
    BurtsWebsocket,
    /// Burt's long poll on `/cart/status`, while it waits
    BurtsLongPoll,
}

impl Transport {
    /// Every transport, in the order staff read them.
    pub const ALL: [Transport; 5] = [
        Transport::Websocket,
        Transport::Sse,
        Transport::LongPoll,
        Transport::BurtsWebsocket,
        Transport::BurtsLongPoll,
    ];

    /// Its name where people read it (`/metrics` labels are the enum's).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::Sse => "sse",
            Transport::LongPoll => "long_poll",
            Transport::BurtsWebsocket => "burts_websocket",
            Transport::BurtsLongPoll => "burts_long_poll",
        }
    }
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
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
    /// Sessions of Burt's protocol whose last answer this node keeps.
    pub burts_sessions: Gauge,
    /// Client connections open now (WebSockets included).
    pub connections_open: Gauge,
    /// Pages that asked for their place in a line, and the reads of the
    /// database that answered them (many asks each, at an opening).
    pub line_asks: Counter,
    pub line_reads: Counter,
    refused: Family<RefusedLabel, Counter>,
    limits: Family<LimitLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::counting_line_reads(Counter::default(), Counter::default())
    }

    /// A registry that shows the store's own counts of line asks and reads
    /// (the store counts them where they happen, below this module).
    pub fn counting_line_reads(asks: Counter, reads: Counter) -> Metrics {
        let mut r = Registering(Registry::with_prefix("livecart"));
        // Registered in the order written, which is the order /metrics lists
        // them in; each field's type says which kind of metric it is.
        let metrics = Metrics {
            subscribers: r.add_new(
                "subscribers",
                "Open subscriptions to the live stock, by transport",
            ),
            changes: r.add_new("changes", "Stock changes committed"),
            refusals: r.add_new("refusals", "Requested changes the inventory refused"),
            commits: r.add_new(
                "commits",
                "Transactions committed (each carries a group of changes)",
            ),
            commit_seconds: r.add(
                "commit_seconds",
                "Time to apply and commit one group of changes",
                Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            ),
            stock_version: r.add_new("stock_version", "Version of the newest stock snapshot"),
            listener_up: r.add_new(
                "listener_up",
                "1 while the PostgreSQL stock listener is connected (0 on SQLite)",
            ),
            resyncs: r.add_new(
                "resyncs",
                "Reads of the stock's changes made elsewhere (other nodes, imports)",
            ),
            last_resync_seconds: r.add_new(
                "last_resync_unix_seconds",
                "When the stock's changes made elsewhere were last read",
            ),
            holds_released: r.add_new(
                "holds_released",
                "Lapsed holds this node's expiry clock ended and put back on the shelf",
            ),
            burts_sessions: r.add_new(
                "burts_sessions",
                "Sessions of Burt's long poll whose last answered version this node keeps",
            ),
            connections_open: r.add_new(
                "connections_open",
                "Client connections open now, WebSockets included",
            ),
            line_asks: r.add(
                "line_asks",
                "Asks for a shopper's place in a line (each page's, at an opening)",
                asks,
            ),
            line_reads: r.add(
                "line_reads",
                "Reads of the database that answered those asks (gathered: many asks each)",
                reads,
            ),
            refused: r.add_new(
                "connections_refused",
                "Connections turned away at accept, by reason",
            ),
            limits: r.add_new(
                "limit",
                "The limits this node runs with, as set or by default (each in the unit its name ends with)",
            ),
            registry: Arc::new(r.0),
        };
        metrics.create_every_labelled_series();
        metrics
    }

    /// Every series of the labelled families from the start, so a dashboard
    /// sees zeros, not gaps.
    fn create_every_labelled_series(&self) {
        for transport in Transport::ALL {
            let _ = self
                .subscribers
                .get_or_create(&TransportLabel { transport });
        }
        for reason in [Refused::Full, Refused::PerAddress] {
            let _ = self.refused.get_or_create(&RefusedLabel { reason });
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

    /// Shows one limit the node runs with (a setting, or its default).
    pub fn set_limit(&self, limit: &str, value: u64) {
        self.limits
            .get_or_create(&LimitLabel {
                limit: limit.to_string(),
            })
            .set(i64::try_from(value).unwrap_or(i64::MAX));
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

/// The registry a `Metrics` is made in. Each metric added is registered
/// under its name, in the order added (the order /metrics lists them in),
/// and handed back: its clones share its value, so what the shop updates
/// through the handle is what /metrics shows.
struct Registering(Registry);

impl Registering {
    fn add<M: Metric + Clone>(&mut self, name: &str, help: &str, metric: M) -> M {
        self.0.register(name, help, metric.clone());
        metric
    }

    /// A new metric of type `M` (the field's), added.
    fn add_new<M: Metric + Clone + Default>(&mut self, name: &str, help: &str) -> M {
        self.add(name, help, M::default())
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
                "burts_sessions gauge",
                "connections_open gauge",
                "line_asks counter",
                "line_reads counter",
                "connections_refused counter",
                "limit gauge",
            ]
        );
        for series in [
            "livecart_subscribers{transport=\"Websocket\"} 0",
            "livecart_subscribers{transport=\"Sse\"} 0",
            "livecart_subscribers{transport=\"LongPoll\"} 0",
            "livecart_subscribers{transport=\"BurtsWebsocket\"} 0",
            "livecart_subscribers{transport=\"BurtsLongPoll\"} 0",
            "livecart_connections_refused_total{reason=\"Full\"} 0",
            "livecart_connections_refused_total{reason=\"PerAddress\"} 0",
        ] {
            assert!(text.contains(series), "{series} is missing");
        }
    }
}
