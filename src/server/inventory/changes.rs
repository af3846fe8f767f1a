//! The inventory's changes, and how a group of them applies inside the
//! writer's transaction: reserves and returns in a row are decided together
//! in memory (`decide`), every other change is applied on its own in SQL.
//! The writer (beneath) groups, commits and publishes; what each change does
//! is decided here.

use std::collections::BTreeSet;
use std::future::Future;

use super::decide::RunStock;
use super::lines::{self, LineChange};
use super::shopper::Shopper;
use super::{BookId, Holding, Rules};
use crate::server::store::{HoldTimes, HoldWrites, NewBook, StockTransaction, StoreError};
use crate::server::writer::{Applied, Changes, Moved};
use crate::shared::stock::Order;
use crate::shared::ShopError;

/// A change someone asked for.
#[derive(Debug)]
pub enum Change {
    /// A reserve or a return: decided in memory, in runs.
    Hold(HoldChange),
    /// Every other change, applied one at a time in SQL.
    Direct(DirectChange),
}

/// A change applied on its own, in SQL.
#[derive(Debug)]
pub enum DirectChange {
    Checkout { shopper: Shopper },
    Renew { shopper: Shopper },
    ReleaseLapsed,
    Restock { book: BookId, copies: u32 },
    SetTotal { book: BookId, total: u32 },
    SetPrice { book: BookId, price_cents: u32 },
    AddBook(NewBook),
    Line(LineChange),
}

#[derive(Debug)]
pub enum HoldChange {
    Reserve { shopper: Shopper, book: BookId },
    ReturnCopy { shopper: Shopper, book: BookId },
}

impl DirectChange {
    /// The one book this change is about, if it is about one.
    fn book(&self) -> Option<&str> {
        match self {
            DirectChange::Restock { book, .. }
            | DirectChange::SetTotal { book, .. }
            | DirectChange::SetPrice { book, .. } => Some(book.as_str()),
            DirectChange::AddBook(book) => Some(&book.id),
            _ => None,
        }
    }
}

impl HoldChange {
    fn parts(&self) -> (&Shopper, &BookId) {
        match self {
            HoldChange::Reserve { shopper, book } | HoldChange::ReturnCopy { shopper, book } => {
                (shopper, book)
            }
        }
    }
}

/// What a change did.
#[derive(Debug)]
pub enum Outcome {
    Held(Holding),
    Ordered(Order),
    /// Saved, with no count or catalog change (renewed holds).
    Saved,
    /// Holds that lapsed were ended, and their copies went back on sale.
    LapsedReleased {
        holds: u32,
        copies: u32,
    },
    BookChanged,
    /// A line changed (a place taken or given up, a launch scheduled or ended).
    LineChanged,
}

/// The inventory's rules are how the writer applies its changes.
impl Changes for Rules {
    type Change = Change;
    type Outcome = Outcome;

    fn apply<'a>(
        &'a self,
        tx: &'a mut StockTransaction,
        group: &'a [&'a Change],
        now_ms: i64,
    ) -> impl Future<Output = Result<Applied<Outcome>, StoreError>> + Send + 'a {
        apply_group(self, tx, group, now_ms)
    }
}

async fn apply_group(
    rules: &Rules,
    tx: &mut StockTransaction,
    group: &[&Change],
    now_ms: i64,
) -> Result<Applied<Outcome>, StoreError> {
    let times = HoldTimes {
        now_ms,
        expires_at_ms: now_ms + ttl_ms(rules),
        max_age_ms: max_age_ms(rules),
    };
    let mut applied = Applied {
        outcomes: Vec::with_capacity(group.len()),
        moved: Moved::Nothing,
        touched: BTreeSet::new(),
        holds_released: 0,
    };
    // Books whose line may move: the group ends by moving them, in order.
    let mut lines = BTreeSet::new();
    let mut next = 0;
    while next < group.len() {
        match group[next] {
            // Reserves and returns in a row are decided together in memory.
            Change::Hold(_) => {
                let run: Vec<&HoldChange> = group[next..]
                    .iter()
                    .map_while(|change| match change {
                        Change::Hold(change) => Some(change),
                        Change::Direct(_) => None,
                    })
                    .collect();
                let decided =
                    decide_run(tx, rules, &run, times, &mut applied.touched, &mut lines).await?;
                if decided.iter().any(Result::is_ok) {
                    applied.moved = applied.moved.max(Moved::Stock);
                }
                applied.outcomes.extend(decided);
                next += run.len();
            }
            Change::Direct(change) => {
                let (outcome, moved) =
                    apply(tx, rules, change, times, &mut applied.touched, &mut lines).await?;
                if let Ok(done) = &outcome {
                    applied.moved = applied.moved.max(moved);
                    if let Outcome::LapsedReleased { holds, .. } = done {
                        applied.holds_released += holds;
                    }
                }
                applied.outcomes.push(outcome);
                next += 1;
            }
        }
    }
    if !lines.is_empty() {
        let candidates: Vec<&str> = lines.iter().map(String::as_str).collect();
        for book in tx.books_in_line(&candidates).await? {
            if lines::advance(tx, rules, &book, now_ms).await? {
                applied.moved = applied.moved.max(Moved::Stock);
                applied.touched.insert(book);
            }
        }
    }
    Ok(applied)
}

/// Loads what a run of reserves and returns touches, decides each in order,
/// and writes the outcome back.
async fn decide_run(
    tx: &mut StockTransaction,
    rules: &Rules,
    run: &[&HoldChange],
    times: HoldTimes,
    touched: &mut BTreeSet<String>,
    lines: &mut BTreeSet<String>,
) -> Result<Vec<Result<Outcome, ShopError>>, StoreError> {
    let mut books = BTreeSet::new();
    let mut shoppers = BTreeSet::new();
    for change in run {
        let (shopper, book) = change.parts();
        books.insert(book.as_str());
        shoppers.insert(shopper.key());
    }
    let books: Vec<&str> = books.into_iter().collect();
    let shopper_keys: Vec<&str> = shoppers.iter().map(String::as_str).collect();
    let loaded = tx.load_holds(&books, &shopper_keys).await?;
    let mut stock = RunStock::new(loaded.available, loaded.held).with_lines(loaded.in_line);
    let decided = run
        .iter()
        .map(|change| {
            let copies = match change {
                HoldChange::Reserve { shopper, book } => stock.reserve(rules, shopper, book),
                HoldChange::ReturnCopy { shopper, book } => stock.return_copy(shopper, book),
            };
            copies.map(|copies| {
                Outcome::Held(Holding {
                    book: change.parts().1.clone(),
                    copies,
                })
            })
        })
        .collect();
    let writes = stock.writes();
    touched.extend(writes.available.iter().map(|(book, _)| book.clone()));
    lines.extend(stock.freed_in_line());
    tx.write_holds(&writes, times).await?;
    Ok(decided)
}

type AppliedOne = (Result<Outcome, ShopError>, Moved);

/// Applies one change other than a reserve or a return, adding the books
/// whose count or catalog fields it changed to `touched`.
async fn apply(
    tx: &mut StockTransaction,
    rules: &Rules,
    change: &DirectChange,
    times: HoldTimes,
    touched: &mut BTreeSet<String>,
    lines: &mut BTreeSet<String>,
) -> Result<AppliedOne, StoreError> {
    let now = times.now_ms;
    let applied = match change {
        DirectChange::Checkout { shopper } => {
            let order = tx.place_order(&shopper.key(), &new_order_id(), now).await?;
            if let Ok(order) = &order {
                // A copy a line offered is bought: its line counts it.
                lines.extend(order.lines.iter().map(|line| line.book_id.clone()));
            }
            (order.map(Outcome::Ordered), Moved::Stock)
        }
        DirectChange::Renew { shopper } => {
            let renewal = HoldWrites {
                renewed: vec![shopper.key()],
                ..HoldWrites::default()
            };
            tx.write_holds(&renewal, times).await?;
            (Ok(Outcome::Saved), Moved::Nothing)
        }
        DirectChange::ReleaseLapsed => {
            let released = tx.release_lapsed(now).await?;
            let effect = if released.copies > 0 {
                Moved::Stock
            } else {
                Moved::Nothing
            };
            let done = Outcome::LapsedReleased {
                holds: released.holds,
                copies: released.copies,
            };
            lines.extend(released.books.iter().cloned());
            touched.extend(released.books);
            (Ok(done), effect)
        }
        DirectChange::Restock { book, copies } => {
            let done = tx.restock(book.as_str(), *copies).await?;
            (book_changed(done, ShopError::UnknownBook), Moved::Stock)
        }
        DirectChange::SetTotal { book, total } => {
            let result = if tx.set_total(book.as_str(), *total).await? {
                Ok(Outcome::BookChanged)
            } else if tx.book_exists(book.as_str()).await? {
                Err(ShopError::BelowHeldAndSold)
            } else {
                Err(ShopError::UnknownBook)
            };
            (result, Moved::Stock)
        }
        DirectChange::SetPrice { book, price_cents } => {
            let done = tx.set_price(book.as_str(), *price_cents).await?;
            (book_changed(done, ShopError::UnknownBook), Moved::Catalog)
        }
        DirectChange::AddBook(book) => {
            let done = tx.add_book(book).await?;
            (book_changed(done, ShopError::BookExists), Moved::Catalog)
        }
        DirectChange::Line(change) => {
            let outcome = lines::apply(tx, rules, change, now, lines).await?;
            // Published even when the line has nothing left to move (a line
            // staff ended): its pages learn of it in the same delta.
            let moved = match (&outcome, change.book()) {
                (Ok(_), Some(book)) => {
                    touched.insert(book.as_str().to_string());
                    Moved::Stock
                }
                _ => Moved::Nothing,
            };
            (outcome, moved)
        }
    };
    // Copies a restock or a new total put on the shelf go to the book's line.
    if let (Ok(Outcome::BookChanged), Some(book)) = (&applied.0, change.book()) {
        lines.insert(book.to_string());
    }
    if let (Ok(Outcome::BookChanged), Some(book)) = (&applied.0, change.book()) {
        touched.insert(book.to_string());
    }
    Ok(applied)
}

/// A catalog write's outcome: the book changed, or why it could not.
fn book_changed(done: bool, otherwise: ShopError) -> Result<Outcome, ShopError> {
    done.then_some(Outcome::BookChanged).ok_or(otherwise)
}

fn new_order_id() -> String {
    format!("{:024x}", rand::random::<u128>() >> 32)
}

fn max_age_ms(rules: &Rules) -> i64 {
    i64::try_from(rules.max_hold_age.as_millis()).unwrap_or(i64::MAX / 2)
}

fn ttl_ms(rules: &Rules) -> i64 {
    i64::try_from(rules.reservation_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}
