//! The shop's nodes, as each records itself: every `BEAT_EVERY` a node
//! writes its row (id, address, version, start, open subscribers by
//! transport, and the beat's time) to the shared database, so the staff
//! desk on any node, and `livecart nodes` on the machine, list every node
//! and which are gone (silent for more than `GONE_AFTER`).
//!
//! The beat writes straight to the pool, not through the stock's writer:
//! one small row every few seconds costs the writer nothing it would notice
//! (SQLite's busy wait covers the rare overlap), and a stalled writer must
//! not make a live node look gone.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::server::clock::now_ms;
use crate::server::metrics::{Metrics, Transport};
use crate::server::store::{NodeRecord, Store, StoreError};
use crate::shared::views::NodeView;

/// How often a node records itself.
pub const BEAT_EVERY: Duration = Duration::from_secs(2);
/// A node silent longer than this is gone.
pub const GONE_AFTER: Duration = Duration::from_secs(10);
/// A node silent longer than this is forgotten when a node starts (a
/// restart comes back under a new id, so restarts are what grow the list).
const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// This node, as it records itself.
#[derive(Clone, Debug)]
pub struct ThisNode {
    pub id: String,
    pub address: String,
    pub started_at: i64,
}

impl ThisNode {
    /// Named after its host and process, so an operator can find it.
    pub fn new(address: String) -> ThisNode {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".to_string());
        ThisNode {
            id: format!("{host}-{}", std::process::id()),
            address,
            started_at: now_ms(),
        }
    }

    fn record(&self, metrics: &Metrics, now: i64) -> NodeRecord {
        let connections: BTreeMap<&str, i64> = Transport::ALL
            .iter()
            .map(|t| (t.as_str(), metrics.subscribers(*t)))
            .collect();
        NodeRecord {
            id: self.id.clone(),
            address: self.address.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: self.started_at,
            last_beat: now,
            // A map of strings to numbers always serializes.
            connections: serde_json::to_string(&connections).unwrap_or_default(),
        }
    }
}

/// Forgets long-gone nodes, then records this node every `BEAT_EVERY` until
/// `shutdown`; a beat that fails (the database away for a moment) is logged
/// and the next one tries again.
pub async fn beat(store: Store, metrics: Metrics, node: ThisNode, shutdown: CancellationToken) {
    let forget_before = now_ms() - millis(FORGET_AFTER);
    if let Err(e) = store.forget_nodes_silent_since(forget_before).await {
        tracing::warn!(error = %e, "long-gone nodes were not forgotten");
    }
    let mut every = tokio::time::interval(BEAT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = store.record_node(&node.record(&metrics, now_ms())).await {
            tracing::warn!(error = %e, "this node's beat was not recorded");
        }
    }
}

/// The shop's nodes as the desk and `livecart nodes` read them.
#[derive(Clone, Debug)]
pub struct NodeList {
    store: Store,
}

impl NodeList {
    pub fn new(store: Store) -> NodeList {
        NodeList { store }
    }

    /// Every node on record, `now` deciding which are gone.
    pub async fn read(&self, now: i64) -> Result<Vec<NodeView>, StoreError> {
        Ok(self
            .store
            .nodes()
            .await?
            .into_iter()
            .map(|node| view(node, now))
            .collect())
    }
}

fn view(node: NodeRecord, now: i64) -> NodeView {
    let connections: BTreeMap<String, i64> =
        serde_json::from_str(&node.connections).unwrap_or_default();
    NodeView {
        up: now - node.last_beat <= millis(GONE_AFTER),
        id: node.id,
        address: node.address,
        version: node.version,
        started_at: node.started_at,
        last_beat: node.last_beat,
        connections: connections.into_iter().collect(),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(last_beat: i64) -> NodeRecord {
        NodeRecord {
            id: "shop-1".into(),
            address: "10.0.0.1:3000".into(),
            version: "0.1.0".into(),
            started_at: 1_000,
            last_beat,
            connections: r#"{"websocket":3,"sse":1}"#.into(),
        }
    }

    /// Up through ten seconds of silence, gone after: the edge is the
    /// issue's "silent for more than 10 s".
    #[test]
    fn a_node_silent_for_more_than_ten_seconds_is_gone() {
        let beat = 1_000_000;
        assert!(view(record(beat), beat).up);
        assert!(view(record(beat), beat + 10_000).up);
        assert!(!view(record(beat), beat + 10_001).up);
        let seen = view(record(beat), beat);
        assert_eq!(
            seen.connections,
            vec![("sse".to_string(), 1), ("websocket".to_string(), 3)]
        );
    }

    /// Its own subscribers, every transport named even at zero.
    #[test]
    fn a_beat_counts_this_nodes_subscribers_by_transport() {
        let metrics = Metrics::new();
        let _a = metrics.subscribe(Transport::Websocket);
        let _b = metrics.subscribe(Transport::Websocket);
        let _c = metrics.subscribe(Transport::BurtsLongPoll);
        let node = ThisNode::new("127.0.0.1:3000".into());
        let record = node.record(&metrics, 5);
        assert_eq!(record.last_beat, 5);
        assert_eq!(
            record.connections,
            r#"{"burts_long_poll":1,"burts_websocket":0,"long_poll":0,"sse":0,"websocket":2}"#
        );
        assert!(record.id.ends_with(&format!("-{}", std::process::id())));
    }
}
