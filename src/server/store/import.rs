//! A catalog brought in whole: many books upserted by id in one transaction,
//! written in chunks of a few hundred rows a statement. A file is imported
//! whole or not at all, and its books are one new stock version.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::stock_day::record_hour;
use super::transaction::{marks, Arg, Batch};
use super::{count, version_bump, NewBook, Store, StoreError};

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
    /// Upserts `books` by id in one transaction: new ids go on sale
    /// (after every book there) with `copies` copies; known ids take the
    /// line's title, author, ISBN and price, and `copies` as their new total.
    /// A total below the copies held and sold refuses the whole file, naming
    /// the line. `progress` is told how many books are written so far.
    /// Each book's count is recorded for the hour `now_ms` falls in.
    pub async fn import_books(
        &self,
        books: &[ImportLine],
        now_ms: i64,
        progress: impl FnMut(usize),
    ) -> Result<Imported, ImportError> {
        let mut stock = self.begin().await?;
        let tx = stock.conn().await?;
        let (version, last_position) = take_next_version(tx).await?;
        let taken = copies_taken(tx, books).await?;
        refuse_totals_below_taken(books, &taken)?;
        write_books(tx, books, version, last_position, progress).await?;
        // The books this import wrote are those changed at its version.
        let changed = "(SELECT id, available FROM books WHERE changed_at = ?)";
        Batch::one(
            record_hour(self.backend, changed, now_ms),
            vec![Arg::Int(version)],
        )
        .fetch(tx)
        .await?;
        stock.notify_version().await?;
        stock.commit().await?;
        let updated = books
            .iter()
            .filter(|b| taken.contains_key(&b.book.id))
            .count();
        Ok(Imported {
            added: books.len() - updated,
            updated,
            version: u64::try_from(version).unwrap_or(0),
        })
    }
}

/// Takes the import's stock version, and reads it with the shelf's last
/// position. The version goes first: it takes the write lock (SQLite) or the
/// stock_state row (PostgreSQL), so nothing changes the books between the
/// checks and the writes that follow.
async fn take_next_version(tx: &mut AnyConnection) -> Result<(i64, i64), StoreError> {
    Batch::one(version_bump(true).into(), Vec::new())
        .fetch(tx)
        .await?;
    let row = sqlx::query("SELECT version FROM stock_state WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let version: i64 = row.try_get("version")?;
    let row = sqlx::query("SELECT COALESCE(MAX(position), 0) AS last FROM books")
        .fetch_one(&mut *tx)
        .await?;
    let last_position: i64 = row.try_get("last")?;
    Ok((version, last_position))
}

/// Held and sold copies of each of `books` that exists already, by id: a
/// new total may not go below them. An id missing here is a new book.
async fn copies_taken(
    tx: &mut AnyConnection,
    books: &[ImportLine],
) -> Result<HashMap<String, u32>, StoreError> {
    let mut taken = HashMap::new();
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
            taken.insert(row.try_get("id")?, count(row, "taken")?);
        }
    }
    Ok(taken)
}

/// The first line whose total is below its book's copies held or sold, if
/// any, refuses the whole file before anything is written.
fn refuse_totals_below_taken(
    books: &[ImportLine],
    taken: &HashMap<String, u32>,
) -> Result<(), ImportError> {
    for line in books {
        if let Some(taken) = taken.get(&line.book.id) {
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
    Ok(())
}

/// Upserts `books` a chunk a statement, telling `progress` after each. Each
/// line gets the next position after `last_position` (in file order), which
/// only a new book keeps: the upsert leaves a known book where it is.
async fn write_books(
    tx: &mut AnyConnection,
    books: &[ImportLine],
    version: i64,
    mut position: i64,
    mut progress: impl FnMut(usize),
) -> Result<(), StoreError> {
    let mut written = 0;
    for chunk in books.chunks(CHUNK) {
        let mut args = Vec::with_capacity(chunk.len() * 9);
        for line in chunk {
            position += 1;
            args.extend(book_args(&line.book, position, version));
        }
        upsert_books(chunk.len(), args).fetch(tx).await?;
        written += chunk.len();
        progress(written);
    }
    Ok(())
}

/// One book's arguments, in the order of `upsert_books`' columns: a new
/// book has all its copies available.
fn book_args(book: &NewBook, position: i64, version: i64) -> [Arg; 9] {
    [
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
    ]
}

/// Upserts `rows` books (9 arguments each). A known id keeps its position
/// and featured flag; its available copies move by as much as its total, so
/// copies held and sold stay taken.
fn upsert_books(rows: usize, args: Vec<Arg>) -> Batch {
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"; rows].join(", ");
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
}
