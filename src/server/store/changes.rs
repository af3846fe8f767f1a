//! Writes to the stock, inside one transaction: many changes, one commit
//! (and one fsync).

use sqlx::{Any, Row, Transaction};

use super::{count, read_book, read_held, read_stock, version, NewBook, StoreError};
use crate::stock::{Order, OrderLine, StockSnapshot};

pub struct StockTransaction {
    tx: Transaction<'static, Any>,
}

impl StockTransaction {
    pub(super) fn new(tx: Transaction<'static, Any>) -> StockTransaction {
        StockTransaction { tx }
    }

    pub async fn has_books(&mut self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM books").fetch_one(&mut *self.tx).await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn book_exists(&mut self, book: &str) -> Result<bool, StoreError> {
        Ok(read_book(&mut *self.tx, book).await?.is_some())
    }

    pub async fn held_copies(&mut self, shopper: &str, book: &str) -> Result<u32, StoreError> {
        read_held(&mut *self.tx, shopper, book).await
    }

    /// Takes `n` copies off the shelf if at least `n` are available.
    pub async fn take_copies(&mut self, book: &str, n: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE books SET available = available - $2 WHERE id = $1 AND available >= $2")
            .bind(book)
            .bind(i64::from(n))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts `n` copies back on the shelf.
    pub async fn put_back_copies(&mut self, book: &str, n: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available + $2 WHERE id = $1 AND available + sold + $2 <= total",
        )
        .bind(book)
        .bind(i64::from(n))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds one copy to what the shopper holds, unless they already hold
    /// `limit`; renews the hold's deadline. Returns the copies now held.
    pub async fn hold_one_more(
        &mut self,
        shopper: &str,
        book: &str,
        limit: u32,
        expires_at_ms: i64,
    ) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query(
            "INSERT INTO reservations (shopper, book_id, copies, expires_at) \
             VALUES ($1, $2, 1, $4) \
             ON CONFLICT (shopper, book_id) DO UPDATE \
             SET copies = reservations.copies + 1, expires_at = excluded.expires_at \
             WHERE reservations.copies < $3 \
             RETURNING copies",
        )
        .bind(shopper)
        .bind(book)
        .bind(i64::from(limit))
        .bind(expires_at_ms)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(|row| count(&row, "copies")).transpose()
    }

    /// Takes one copy out of what the shopper holds. Returns the copies left
    /// in their hands, or None when they held none.
    pub async fn release_one(&mut self, shopper: &str, book: &str) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query(
            "UPDATE reservations SET copies = copies - 1 \
             WHERE shopper = $1 AND book_id = $2 AND copies > 1 RETURNING copies",
        )
        .bind(shopper)
        .bind(book)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some(row) = row {
            return count(&row, "copies").map(Some);
        }
        let gone = sqlx::query("DELETE FROM reservations WHERE shopper = $1 AND book_id = $2")
            .bind(shopper)
            .bind(book)
            .execute(&mut *self.tx)
            .await?;
        Ok((gone.rows_affected() == 1).then_some(0))
    }

    /// Moves the deadline of every hold the shopper has to `expires_at_ms`.
    /// Returns how many holds that was.
    pub async fn renew_holds(&mut self, shopper: &str, expires_at_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE reservations SET expires_at = $2 WHERE shopper = $1")
            .bind(shopper)
            .bind(expires_at_ms)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    /// Ends every hold whose deadline has passed and puts its copies back.
    /// Returns the copies freed.
    pub async fn release_expired(&mut self, now_ms: i64) -> Result<u32, StoreError> {
        let rows = sqlx::query("DELETE FROM reservations WHERE expires_at <= $1 RETURNING book_id, copies")
            .bind(now_ms)
            .fetch_all(&mut *self.tx)
            .await?;
        let mut freed = 0;
        for row in &rows {
            let book: String = row.try_get("book_id")?;
            let copies = count(row, "copies")?;
            if !self.put_back_copies(&book, copies).await? {
                return Err(StoreError::Corrupt(format!("{book} would hold more copies than it owns")));
            }
            freed += copies;
        }
        Ok(freed)
    }

    /// Turns every live hold of the shopper into an order: the copies are
    /// sold, and no deadline can put them back. None when nothing is held.
    pub async fn place_order(&mut self, shopper: &str, order_id: &str, now_ms: i64) -> Result<Option<Order>, StoreError> {
        let held = sqlx::query(
            "DELETE FROM reservations WHERE shopper = $1 AND expires_at > $2 RETURNING book_id, copies",
        )
        .bind(shopper)
        .bind(now_ms)
        .fetch_all(&mut *self.tx)
        .await?;
        if held.is_empty() {
            return Ok(None);
        }
        let mut lines = Vec::with_capacity(held.len());
        for row in &held {
            let book_id: String = row.try_get("book_id")?;
            let copies = count(row, "copies")?;
            let book = sqlx::query("UPDATE books SET sold = sold + $2 WHERE id = $1 RETURNING title, price_cents")
                .bind(&book_id)
                .bind(i64::from(copies))
                .fetch_one(&mut *self.tx)
                .await?;
            lines.push(OrderLine {
                book_id,
                title: book.try_get("title")?,
                price_cents: count(&book, "price_cents")?,
                copies,
            });
        }
        lines.sort_by(|a, b| a.title.cmp(&b.title));
        let total_cents: u32 = lines.iter().map(|l| l.price_cents * l.copies).sum();
        sqlx::query("INSERT INTO orders (id, shopper, placed_at, total_cents) VALUES ($1, $2, $3, $4)")
            .bind(order_id)
            .bind(shopper)
            .bind(now_ms)
            .bind(i64::from(total_cents))
            .execute(&mut *self.tx)
            .await?;
        for line in &lines {
            sqlx::query(
                "INSERT INTO order_lines (order_id, book_id, title, price_cents, copies) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(order_id)
            .bind(&line.book_id)
            .bind(&line.title)
            .bind(i64::from(line.price_cents))
            .bind(i64::from(line.copies))
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(Some(Order { id: order_id.to_string(), placed_at_ms: now_ms, lines, total_cents }))
    }

    /// Puts a new book at the end of the shelf. False if the id is taken.
    pub async fn add_book(&mut self, book: &NewBook) -> Result<bool, StoreError> {
        if self.book_exists(&book.id).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO books (id, title, author, isbn, price_cents, total, available, featured, position) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7, (SELECT COALESCE(MAX(position), 0) + 1 FROM books))",
        )
        .bind(&book.id)
        .bind(&book.title)
        .bind(&book.author)
        .bind(book.isbn.as_deref())
        .bind(i64::from(book.price_cents))
        .bind(i64::from(book.copies))
        .bind(i64::from(book.featured))
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    /// Sets how many copies the shop owns (sold ones included); the
    /// difference goes on or off the shelf. False when the book is unknown or
    /// the new total is below the copies held and sold.
    pub async fn set_total(&mut self, book: &str, total: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available + ($2 - total), total = $2 \
             WHERE id = $1 AND available + ($2 - total) >= 0",
        )
        .bind(book)
        .bind(i64::from(total))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds `copies` new copies to the shelf. False when the book is unknown.
    pub async fn restock(&mut self, book: &str, copies: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE books SET total = total + $2, available = available + $2 WHERE id = $1")
            .bind(book)
            .bind(i64::from(copies))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// False when the book is unknown.
    pub async fn set_price(&mut self, book: &str, price_cents: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE books SET price_cents = $2 WHERE id = $1")
            .bind(book)
            .bind(i64::from(price_cents))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the stock a new version, greater than every one before it; when
    /// the catalog changed too, it takes that version as well.
    pub async fn bump_version(&mut self, catalog_changed: bool) -> Result<u64, StoreError> {
        let sql = if catalog_changed {
            "UPDATE stock_state SET version = version + 1, catalog_version = version + 1 WHERE id = 1 RETURNING version"
        } else {
            "UPDATE stock_state SET version = version + 1 WHERE id = 1 RETURNING version"
        };
        let row = sqlx::query(sql).fetch_one(&mut *self.tx).await?;
        version(&row, "version")
    }

    /// The stock as this transaction sees it.
    pub async fn stock(&mut self) -> Result<StockSnapshot, StoreError> {
        read_stock(&mut *self.tx).await
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}
