//! The notifier: holds the newest stock snapshot and hands it to every
//! subscriber (pages, sockets, long polls).
//!
//! Latest-value semantics: each version is serialized once, and subscribers
//! share that one buffer by reference. A slow subscriber simply sees the
//! newest version when it next looks; nothing is queued per subscriber.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::book_protocol::FeaturedCount;
use crate::shared::stock::StockSnapshot;

/// One version of the stock, ready to send.
#[derive(Debug)]
pub struct Published {
    pub snapshot: StockSnapshot,
    /// `{"version":…,"stock":{…}}`, serialized once for every subscriber.
    pub json: Utf8Bytes,
    /// The same as one Server-Sent Event: `id: <version>` and the JSON.
    pub sse_event: Bytes,
    /// The featured book as the Tornado book's protocol reports it, worked
    /// out once per version like the rest.
    pub featured: FeaturedCount,
}

impl Published {
    pub fn version(&self) -> u64 {
        self.snapshot.version
    }

    pub fn json_bytes(&self) -> Bytes {
        Bytes::from(self.json.clone())
    }
}

#[derive(Clone, Debug)]
pub struct Notifier {
    latest: Arc<watch::Sender<Arc<Published>>>,
    featured_book: Arc<str>,
}

impl Notifier {
    pub fn new(first: StockSnapshot, featured_book: &str) -> Notifier {
        let published = publish(first, featured_book, None);
        let (latest, _) = watch::channel(Arc::new(published));
        Notifier {
            latest: Arc::new(latest),
            featured_book: Arc::from(featured_book),
        }
    }

    pub fn latest(&self) -> Arc<Published> {
        self.latest.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.latest.subscribe()
    }

    /// Waits until the newest version satisfies `wanted`, at most `wait`.
    /// Returns None when the wait runs out or the server shuts down.
    pub async fn wait_for(
        &self,
        mut wanted: impl FnMut(&Published) -> bool,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Option<Arc<Published>> {
        let mut updates = self.subscribe();
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            let latest = updates.borrow_and_update().clone();
            if wanted(&latest) {
                return Some(latest);
            }
            tokio::select! {
                changed = updates.changed() => changed.ok()?,
                _ = &mut deadline => return None,
                _ = shutdown.cancelled() => return None,
            }
        }
    }

    /// Makes `snapshot` the newest version, unless a newer one is already out
    /// (versions never go backwards). Returns whether it was published.
    pub fn publish(&self, snapshot: StockSnapshot) -> bool {
        let featured_book = &self.featured_book;
        let mut snapshot = Some(snapshot);
        self.latest.send_if_modified(|current| {
            let Some(next) = snapshot.take() else {
                return false;
            };
            if next.version <= current.version() {
                return false;
            }
            *current = Arc::new(publish(next, featured_book, Some(&current.featured)));
            true
        })
    }
}

impl Notifier {
    /// Makes a commit's change the newest version. `change` carries the new
    /// version and only the books whose counts moved since `after` (the
    /// version it was read against); every other count carries over from
    /// the version this notifier holds, which must be `after`. Returns false
    /// (and publishes nothing) when it holds another version: the caller
    /// then reads what changed since the version it does hold.
    pub fn apply_change(&self, after: u64, change: StockSnapshot) -> bool {
        let featured_book = &self.featured_book;
        let mut change = Some(change);
        self.latest.send_if_modified(|current| {
            if current.version() != after {
                return false;
            }
            let Some(change) = change.take() else {
                return false;
            };
            if change.version <= current.version() {
                return false;
            }
            let mut stock = current.snapshot.stock.clone();
            stock.extend(change.stock);
            let snapshot = StockSnapshot {
                version: change.version,
                catalog_version: change.catalog_version,
                stock,
            };
            *current = Arc::new(publish(snapshot, featured_book, Some(&current.featured)));
            true
        })
    }
}

fn publish(
    snapshot: StockSnapshot,
    featured_book: &str,
    previous: Option<&FeaturedCount>,
) -> Published {
    // Serializing a map of strings to integers cannot fail.
    let json = serde_json::to_string(&snapshot).unwrap_or_else(|_| String::from("{}"));
    let featured = FeaturedCount::of(&snapshot, featured_book, previous);
    let sse_event = Bytes::from(format!("id: {}\ndata: {json}\n\n", snapshot.version));
    Published {
        snapshot,
        json: Utf8Bytes::from(json),
        sse_event,
        featured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn snapshot(version: u64, featured: u32, other: u32) -> StockSnapshot {
        let mut stock = BTreeMap::new();
        stock.insert("featured".to_string(), featured);
        stock.insert("other".to_string(), other);
        StockSnapshot {
            version,
            catalog_version: 1,
            stock,
        }
    }

    #[test]
    fn serializes_once_in_the_public_shape() {
        let notifier = Notifier::new(snapshot(7, 10, 3), "featured");
        let latest = notifier.latest();
        assert_eq!(
            latest.json.as_str(),
            r#"{"version":7,"catalog_version":1,"stock":{"featured":10,"other":3}}"#
        );
        assert_eq!(latest.featured.json.as_str(), r#"{"inventoryCount":"10"}"#);
        assert_eq!(
            &latest.sse_event[..],
            b"id: 7\ndata: {\"version\":7,\"catalog_version\":1,\"stock\":{\"featured\":10,\"other\":3}}\n\n"
        );
    }

    #[test]
    fn never_goes_back_to_an_older_version() {
        let notifier = Notifier::new(snapshot(7, 10, 3), "featured");
        assert!(notifier.publish(snapshot(9, 9, 3)));
        assert!(!notifier.publish(snapshot(8, 10, 3)));
        assert!(!notifier.publish(snapshot(9, 10, 3)));
        assert_eq!(notifier.latest().version(), 9);
        assert_eq!(notifier.latest().featured.count, 9);
    }

    #[test]
    fn the_featured_count_changes_only_when_its_book_does() {
        let notifier = Notifier::new(snapshot(1, 10, 3), "featured");
        notifier.publish(snapshot(2, 10, 2));
        assert_eq!(notifier.latest().featured.changed_at, 1);
        notifier.publish(snapshot(3, 9, 2));
        assert_eq!(notifier.latest().featured.changed_at, 3);
    }

    #[test]
    fn a_change_carries_only_what_moved_and_the_rest_carries_over() {
        let notifier = Notifier::new(snapshot(7, 10, 3), "featured");
        let mut moved = BTreeMap::new();
        moved.insert("other".to_string(), 2);
        let change = StockSnapshot {
            version: 8,
            catalog_version: 1,
            stock: moved,
        };
        assert!(
            !notifier.apply_change(6, change.clone()),
            "read against another version"
        );
        assert_eq!(notifier.latest().version(), 7);
        assert!(notifier.apply_change(7, change));
        assert_eq!(notifier.latest().snapshot, snapshot(8, 10, 2));
        assert_eq!(
            notifier.latest().featured.changed_at,
            7,
            "the featured count did not move"
        );
    }

    #[tokio::test]
    async fn waiting_ends_at_the_wanted_version_or_the_deadline() {
        let notifier = Notifier::new(snapshot(1, 10, 3), "featured");
        let shutdown = CancellationToken::new();
        let now = notifier
            .wait_for(|p| p.version() > 0, Duration::from_secs(5), &shutdown)
            .await;
        assert_eq!(now.map(|p| p.version()), Some(1));
        let none = notifier
            .wait_for(|p| p.version() > 1, Duration::from_millis(50), &shutdown)
            .await;
        assert!(none.is_none());
        let later = {
            let notifier = notifier.clone();
            tokio::spawn(async move {
                let shutdown = CancellationToken::new();
                notifier
                    .wait_for(|p| p.version() > 1, Duration::from_secs(5), &shutdown)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        notifier.publish(snapshot(2, 9, 3));
        assert_eq!(later.await.unwrap().map(|p| p.version()), Some(2));
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips_to_the_newest() {
        let notifier = Notifier::new(snapshot(1, 10, 3), "featured");
        let mut rx = notifier.subscribe();
        rx.borrow_and_update();
        for v in 2..=50 {
            notifier.publish(snapshot(v, 10, 3));
        }
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().version(), 50);
        assert!(!rx.has_changed().unwrap());
    }
}
