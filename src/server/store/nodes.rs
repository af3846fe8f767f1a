//! The shop's nodes as each records itself (`server::nodes`).

use sqlx::Row;

use super::{Store, StoreError};

/// One node's row: who, where, which build, since when, its last beat (Unix
/// ms), and its open subscribers by transport (JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub id: String,
    pub address: String,
    pub version: String,
    pub started_at: i64,
    pub last_beat: i64,
    pub connections: String,
}

impl Store {
    /// Records a node's beat: its row, new or replaced.
    pub async fn record_node(&self, node: &NodeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO nodes (id, address, version, started_at, last_beat, connections) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
             version = excluded.version, started_at = excluded.started_at, \
             last_beat = excluded.last_beat, connections = excluded.connections",
        )
        .bind(&node.id)
        .bind(&node.address)
        .bind(&node.version)
        .bind(node.started_at)
        .bind(node.last_beat)
        .bind(&node.connections)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets nodes silent since before `before_ms` (long gone: a
    /// restarted node comes back under a new id).
    pub async fn forget_nodes_silent_since(&self, before_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM nodes WHERE last_beat < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every node on record, the most recently started first.
    pub async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, address, version, started_at, last_beat, connections FROM nodes \
             ORDER BY started_at DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NodeRecord {
                    id: r.try_get("id")?,
                    address: r.try_get("address")?,
                    version: r.try_get("version")?,
                    started_at: r.try_get("started_at")?,
                    last_beat: r.try_get("last_beat")?,
                    connections: r.try_get("connections")?,
                })
            })
            .collect()
    }
}
