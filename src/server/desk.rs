//! The staff desk's live figures: copies held, sold and lapsed today, orders
//! a minute over the last hour, the books most held, and the lines. They are
//! read from the database (`store::desk`), so on many nodes every desk shows
//! the same numbers, and pushed to every open desk over its socket
//! (`web::desk`).
//!
//! One read serves every desk of a node: the newest figures sit in a watch
//! channel, serialized once, as the stock does. The read follows the stock:
//! every committed change (here or, through the notifier, on another node)
//! makes a new version, and a new version makes a read, at most one per
//! [`READ_AT_MOST_EVERY`]. A sale moves the desk within about half a second,
//! and a launch's thousand changes a second cost four reads a second. With
//! no desk open nothing is read at all. The clock also reads once every
//! [`READ_AT_LEAST_EVERY`]: the chart moves on as minutes pass, and a sale
//! that moves no count (held copies bought) is published to pages at the
//! notifier's quiet pace, which on a node with 20,000 pages open is seconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::server::clock::now_ms;
use crate::server::nodes::NodeList;
use crate::server::notifier::Notifier;
use crate::server::store::{Store, StoreError};
use crate::shared::views::{DeskFigures, StockDay};

/// The most often figures are read while desks are open.
pub const READ_AT_MOST_EVERY: Duration = Duration::from_millis(250);
/// The least often: the chart's minutes move on without a sale.
pub const READ_AT_LEAST_EVERY: Duration = Duration::from_secs(2);

/// One reading of the figures, and the same as JSON for every desk.
#[derive(Debug)]
pub struct DeskReading {
    pub figures: DeskFigures,
    pub json: Utf8Bytes,
}

impl DeskReading {
    /// The figures, serialized once for every desk.
    pub fn of(figures: DeskFigures) -> DeskReading {
        // Numbers and strings only: serializing cannot fail.
        let json = serde_json::to_string(&figures).unwrap_or_default();
        DeskReading {
            figures,
            json: Utf8Bytes::from(json),
        }
    }
}

/// The desk's figures for every open desk of this node.
#[derive(Clone)]
pub struct DeskFeed {
    store: Store,
    nodes: NodeList,
    latest: Arc<watch::Sender<Arc<DeskReading>>>,
    /// Woken when a desk opens, so the figures are read for it at once.
    opened: Arc<Notify>,
}

impl DeskFeed {
    /// The feed, and its reader running until `shutdown`.
    pub fn start(
        store: Store,
        nodes: NodeList,
        notifier: Notifier,
        shutdown: CancellationToken,
    ) -> DeskFeed {
        let (latest, _) = watch::channel(Arc::new(DeskReading::of(DeskFigures::default())));
        let feed = DeskFeed {
            store,
            nodes,
            latest: Arc::new(latest),
            opened: Arc::new(Notify::new()),
        };
        tokio::spawn(feed.clone().follow(notifier, shutdown));
        feed
    }

    /// The figures as they stand, read now (a page's first render, a
    /// desk's first message).
    pub async fn now(&self) -> Result<DeskFigures, StoreError> {
        let now = now_ms();
        let mut figures = self.store.desk_figures(now).await?;
        figures.nodes = self.nodes.read(now).await?;
        Ok(figures)
    }

    /// Each of `books` (its id and its count now) over today: the ledger's
    /// sparklines. Read with the page; they do not move live.
    pub async fn stock_over_day(
        &self,
        books: &[(&str, u32)],
        now_ms: i64,
    ) -> Result<BTreeMap<String, StockDay>, StoreError> {
        self.store.stock_over_day(books, now_ms).await
    }

    /// Every newer reading, from now on; the first comes at once.
    pub fn subscribe(&self) -> watch::Receiver<Arc<DeskReading>> {
        let readings = self.latest.subscribe();
        self.opened.notify_one();
        readings
    }

    /// Reads after every new stock version (at most four times a second)
    /// and every two seconds, while any desk is open, and sends a reading
    /// only when a figure moved.
    async fn follow(self, notifier: Notifier, shutdown: CancellationToken) {
        let mut versions = notifier.subscribe();
        let mut next_read = Instant::now();
        loop {
            tokio::select! {
                changed = versions.changed() => if changed.is_err() { return },
                () = self.opened.notified() => {}
                () = tokio::time::sleep(READ_AT_LEAST_EVERY) => {}
                () = shutdown.cancelled() => return,
            }
            if self.latest.receiver_count() == 0 {
                continue;
            }
            tokio::time::sleep_until(next_read).await;
            // Versions made before the read are in it.
            versions.borrow_and_update();
            next_read = Instant::now() + READ_AT_MOST_EVERY;
            match self.now().await {
                Ok(figures) => {
                    self.latest.send_if_modified(|held| {
                        let moved = !same_figures(&held.figures, &figures);
                        if moved {
                            *held = Arc::new(DeskReading::of(figures));
                        }
                        moved
                    });
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the desk's figures"),
            }
        }
    }
}

/// Equal but for when they were read and when each node last beat: a
/// beat every 2 s is not news, a node turning gone (or its connections
/// moving) is. So an idle shop sends its desks nothing.
fn same_figures(a: &DeskFigures, b: &DeskFigures) -> bool {
    let plain = |f: &DeskFigures| {
        let mut f = f.clone();
        f.at = 0;
        for node in &mut f.nodes {
            node.last_beat = 0;
        }
        f
    };
    plain(a) == plain(b)
}
