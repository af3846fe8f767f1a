//! Checkout inside the writer's transaction: a shopper's live holds become
//! one order, or nothing does.

use futures::stream::{BoxStream, StreamExt};
use sqlx::Row;

use super::transaction::StockTransaction;
use super::{count, Store, StoreError};
use crate::shared::stock::{total_cents, Order, OrderLine};
use crate::shared::ShopError;

impl StockTransaction {
    /// Turns every live hold of the shopper into an order: the copies are
    /// sold, and no deadline can put them back. Refused, with nothing
    /// changed, when nothing is held or the total would not fit.
    pub async fn place_order(
        &mut self,
        shopper: &str,
        order_id: &str,
        now_ms: i64,
    ) -> Result<Result<Order, ShopError>, StoreError> {
        // The total first, read-only: a refusal leaves the group's other
        // changes and this shopper's holds as they were.
        let total_cents = match self.total_held(shopper, now_ms).await? {
            Ok(total) => total,
            Err(refused) => return Ok(Err(refused)),
        };
        let lines = self.sell_holds(shopper, now_ms).await?;
        self.record_order(order_id, shopper, now_ms, total_cents, &lines)
            .await?;
        Ok(Ok(Order {
            id: order_id.to_string(),
            placed_at_ms: now_ms,
            lines,
            total_cents,
        }))
    }

    /// What the shopper's live holds cost, or why they cannot be ordered.
    async fn total_held(
        &mut self,
        shopper: &str,
        now_ms: i64,
    ) -> Result<Result<u64, ShopError>, StoreError> {
        let priced = sqlx::query(
            "SELECT b.price_cents, r.copies FROM reservations r JOIN books b ON b.id = r.book_id \
             WHERE r.shopper = $1 AND r.expires_at > $2",
        )
        .bind(shopper)
        .bind(now_ms)
        .fetch_all(self.conn().await?)
        .await?;
        let mut prices = Vec::with_capacity(priced.len());
        for row in &priced {
            prices.push((count(row, "price_cents")?, count(row, "copies")?));
        }
        if prices.is_empty() {
            return Ok(Err(ShopError::EmptyCart));
        }
        Ok(total_cents(prices).ok_or(ShopError::TotalTooLarge))
    }

    /// Ends the shopper's live holds and counts their copies sold; the
    /// order's lines, by title.
    async fn sell_holds(
        &mut self,
        shopper: &str,
        now_ms: i64,
    ) -> Result<Vec<OrderLine>, StoreError> {
        let held = sqlx::query(
            "DELETE FROM reservations WHERE shopper = $1 AND expires_at > $2 RETURNING book_id, copies",
        )
        .bind(shopper)
        .bind(now_ms)
        .fetch_all(self.conn().await?)
        .await?;
        let mut lines = Vec::with_capacity(held.len());
        for row in &held {
            let book_id: String = row.try_get("book_id")?;
            let copies = count(row, "copies")?;
            let book = sqlx::query(
                "UPDATE books SET sold = sold + $2 WHERE id = $1 RETURNING title, price_cents",
            )
            .bind(&book_id)
            .bind(i64::from(copies))
            .fetch_one(self.conn().await?)
            .await?;
            lines.push(OrderLine {
                book_id,
                title: book.try_get("title")?,
                price_cents: count(&book, "price_cents")?,
                copies,
            });
        }
        lines.sort_by(|a, b| a.title.cmp(&b.title));
        Ok(lines)
    }

    async fn record_order(
        &mut self,
        order_id: &str,
        shopper: &str,
        now_ms: i64,
        total_cents: u64,
        lines: &[OrderLine],
    ) -> Result<(), StoreError> {
        let total = i64::try_from(total_cents)
            .map_err(|_| StoreError::Corrupt(format!("order total {total_cents}")))?;
        sqlx::query(
            "INSERT INTO orders (id, shopper, placed_at, total_cents) VALUES ($1, $2, $3, $4)",
        )
        .bind(order_id)
        .bind(shopper)
        .bind(now_ms)
        .bind(total)
        .execute(self.conn().await?)
        .await?;
        for line in lines {
            sqlx::query(
                "INSERT INTO order_lines (order_id, book_id, title, price_cents, copies) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(order_id)
            .bind(&line.book_id)
            .bind(&line.title)
            .bind(i64::from(line.price_cents))
            .bind(i64::from(line.copies))
            .execute(self.conn().await?)
            .await?;
        }
        Ok(())
    }
}

/// One book of one order, as the export writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoldLine {
    pub order_id: String,
    pub placed_at_ms: i64,
    pub order_total_cents: u64,
    pub book_id: String,
    pub title: String,
    pub price_cents: u32,
    pub copies: u32,
}

impl Store {
    /// Every book of every order placed at or after `since_ms`, oldest
    /// order first, read as the caller takes them (a year of orders never
    /// sits in memory).
    pub fn sold_lines_since(&self, since_ms: i64) -> BoxStream<'_, Result<SoldLine, StoreError>> {
        sqlx::query(
            "SELECT o.id, o.placed_at, o.total_cents, l.book_id, l.title, l.price_cents, l.copies \
             FROM orders o JOIN order_lines l ON l.order_id = o.id \
             WHERE o.placed_at >= $1 ORDER BY o.placed_at, o.id, l.book_id",
        )
        .bind(since_ms)
        .fetch(&self.pool)
        .map(|row| {
            let row = row?;
            Ok(SoldLine {
                order_id: row.try_get("id")?,
                placed_at_ms: row.try_get("placed_at")?,
                order_total_cents: u64::try_from(row.try_get::<i64, _>("total_cents")?)
                    .map_err(|_| StoreError::Corrupt("a negative order total".into()))?,
                book_id: row.try_get("book_id")?,
                title: row.try_get("title")?,
                price_cents: count(&row, "price_cents")?,
                copies: count(&row, "copies")?,
            })
        })
        .boxed()
    }
}

impl Store {
    /// Orders newest first, `per_page` of them from `offset`, and whether
    /// more follow; with `book`, only orders holding a book whose id is
    /// `book` or whose title contains it (any case).
    pub async fn orders_page(
        &self,
        book: Option<&str>,
        offset: u32,
        per_page: u32,
    ) -> Result<(Vec<Order>, bool), StoreError> {
        let book = book.unwrap_or("");
        // LIKE's own characters in what was typed match themselves.
        let escaped = book
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let rows = sqlx::query(
            "SELECT o.id, o.placed_at, o.total_cents FROM orders o \
             WHERE $1 = '' OR EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id \
             AND (l.book_id = $1 OR lower(l.title) LIKE $2 ESCAPE '\\')) \
             ORDER BY o.placed_at DESC, o.id DESC LIMIT $3 OFFSET $4",
        )
        .bind(book)
        .bind(format!("%{escaped}%"))
        .bind(i64::from(per_page) + 1)
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        let has_next = rows.len() > per_page as usize;
        let mut orders = Vec::with_capacity(rows.len().min(per_page as usize));
        for row in rows.iter().take(per_page as usize) {
            orders.push(Order {
                id: row.try_get("id")?,
                placed_at_ms: row.try_get("placed_at")?,
                lines: Vec::new(),
                total_cents: u64::try_from(row.try_get::<i64, _>("total_cents")?)
                    .map_err(|_| StoreError::Corrupt("a negative order total".into()))?,
            });
        }
        if orders.is_empty() {
            return Ok((orders, has_next));
        }
        // The page's lines in one read: at most `per_page` orders' worth.
        let listed: Vec<String> = (1..=orders.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT order_id, book_id, title, price_cents, copies FROM order_lines \
             WHERE order_id IN ({}) ORDER BY title, book_id",
            listed.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for order in &orders {
            query = query.bind(order.id.clone());
        }
        let lines = query.fetch_all(&self.pool).await?;
        let mut by_order: std::collections::HashMap<String, Vec<OrderLine>> =
            std::collections::HashMap::new();
        for row in &lines {
            by_order
                .entry(row.try_get("order_id")?)
                .or_default()
                .push(OrderLine {
                    book_id: row.try_get("book_id")?,
                    title: row.try_get("title")?,
                    price_cents: count(row, "price_cents")?,
                    copies: count(row, "copies")?,
                });
        }
        for order in &mut orders {
            order.lines = by_order.remove(&order.id).unwrap_or_default();
        }
        Ok((orders, has_next))
    }
}
