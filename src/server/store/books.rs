//! The catalog's writes inside the writer's transaction: new books, totals,
//! restocks and prices. Each says whether the book was there to change.

use sqlx::Row;

use super::transaction::StockTransaction;
use super::{read_book, NewBook, StoreError};

impl StockTransaction {
    pub async fn has_books(&mut self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM books")
            .fetch_one(self.conn().await?)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn book_exists(&mut self, book: &str) -> Result<bool, StoreError> {
        Ok(read_book(self.conn().await?, book).await?.is_some())
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
        .execute(self.conn().await?)
        .await?;
        Ok(true)
    }

    /// Sets how many copies the shop owns (sold ones included); the
    /// difference goes on or off sale. False when the book is unknown or
    /// the new total is below the copies held and sold.
    pub async fn set_total(&mut self, book: &str, total: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET available = available + ($2 - total), total = $2 \
             WHERE id = $1 AND available + ($2 - total) >= 0",
        )
        .bind(book)
        .bind(i64::from(total))
        .execute(self.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds `copies` new copies for sale. False when the book is unknown.
    pub async fn restock(&mut self, book: &str, copies: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE books SET total = total + $2, available = available + $2 WHERE id = $1",
        )
        .bind(book)
        .bind(i64::from(copies))
        .execute(self.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// False when the book is unknown.
    pub async fn set_price(&mut self, book: &str, price_cents: u32) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE books SET price_cents = $2 WHERE id = $1")
            .bind(book)
            .bind(i64::from(price_cents))
            .execute(self.conn().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
