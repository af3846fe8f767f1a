//! A catalog brought in whole: many books upserted by id in one transaction,
//! written in chunks of a few hundred rows a statement. A file is imported
//! whole or not at all, and its books are one new stock version.

use std::collections::HashMap;

use sqlx::Row;

use super::transaction::{marks, Arg, Batch};
use super::{count, NewBook, Store, StoreError};

/// Rows a statement carries.
const CHUNK: usize = 500;

/// A book to import and the line of the file it came from.
pub struct ImportLine {
    pub line: u64,
    pub book: NewBook,
}

/// What an import did.
#[derive(Debug, PartialEq, Eq)]
pub struct Imported {
    pub added: usize,
    pub updated: usize,
    /// The stock version the import made.
    pub version: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {reason}")]
    Line { line: u64, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Upserts `books` by id in one transaction: new ids go on the shelf
    /// (after every book there) with `copies` copies; known ids take the
    /// line's title, author, ISBN and price, and `copies` as their new total.
    /// A total below the copies held and sold refuses the whole file, naming
    /// the line. `progress` is told how many books are written so far.
    pub async fn import_books(
        &self,
        books: &[ImportLine],
        mut progress: impl FnMut(usize),
    ) -> Result<Imported, ImportError> {
        let mut stock = self.begin().await?;
        let tx = stock.conn().await?;
        // The version first: it takes the write lock (SQLite) or the
        // stock_state row (PostgreSQL), so nothing changes the books between
        // the checks below and the writes.
        Batch::one(
            "UPDATE stock_state SET version = version + 1, catalog_version = version + 1 WHERE id = 1"
                .into(),
            Vec::new(),
        )
        .fetch(tx)
        .await?;
        let row = sqlx::query("SELECT version FROM stock_state WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let version: i64 = row.try_get("version").map_err(StoreError::from)?;
        let row = sqlx::query("SELECT COALESCE(MAX(position), 0) AS last FROM books")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let mut position: i64 = row.try_get("last").map_err(StoreError::from)?;

        // Held and sold copies of the books that exist: a new total may not
        // go below them.
        let mut existing: HashMap<String, u32> = HashMap::new();
        for chunk in books.chunks(CHUNK) {
            let args = chunk.iter().map(|b| Arg::Text(b.book.id.clone())).collect();
            let rows = Batch::one(
                format!(
                    "SELECT id, total - available AS taken FROM books WHERE id IN ({})",
                    marks(chunk.len())
                ),
                args,
            )
            .fetch(tx)
            .await?;
            for row in &rows {
                existing.insert(
                    row.try_get("id").map_err(StoreError::from)?,
                    count(row, "taken")?,
                );
            }
        }
        for line in books {
            if let Some(taken) = existing.get(&line.book.id) {
                if line.book.copies < *taken {
                    return Err(ImportError::Line {
                        line: line.line,
                        reason: format!(
                            "{} has {taken} copies held or sold: copies cannot be {}",
                            line.book.id, line.book.copies
                        ),
                    });
                }
            }
        }

        let mut written = 0;
        for chunk in books.chunks(CHUNK) {
            let rows = vec!["(?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"; chunk.len()].join(", ");
            let mut args = Vec::with_capacity(chunk.len() * 9);
            for line in chunk {
                let book = &line.book;
                position += 1;
                args.extend([
                    Arg::Text(book.id.clone()),
                    Arg::Text(book.title.clone()),
                    Arg::Text(book.author.clone()),
                    match &book.isbn {
                        Some(isbn) => Arg::Text(isbn.clone()),
                        None => Arg::Null,
                    },
                    Arg::Int(i64::from(book.price_cents)),
                    Arg::Int(i64::from(book.copies)),
                    Arg::Int(i64::from(book.copies)),
                    Arg::Int(position),
                    Arg::Int(version),
                ]);
            }
            Batch::one(
                format!(
                    "INSERT INTO books (id, title, author, isbn, price_cents, total, available, featured, position, changed_at) \
                     VALUES {rows} ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
                     author = excluded.author, isbn = excluded.isbn, price_cents = excluded.price_cents, \
                     available = books.available + (excluded.total - books.total), \
                     total = excluded.total, changed_at = excluded.changed_at"
                ),
                args,
            )
            .fetch(tx)
            .await?;
            written += chunk.len();
            progress(written);
        }
        stock.notify_version().await?;
        stock.commit().await?;
        let updated = books
            .iter()
            .filter(|b| existing.contains_key(&b.book.id))
            .count();
        Ok(Imported {
            added: books.len() - updated,
            updated,
            version: u64::try_from(version).unwrap_or(0),
        })
    }
}
