//! Lines: while a book has one, every copy of it goes to the next place in
//! it, never to whoever clicks first.
//!
//! A launch's line is scheduled by staff for an opening: everyone who joins
//! before it is put in a random order at the opening (the draw, from the
//! operating system's cryptographic generator, stored place by place), so
//! joining early or having a fast clock is worth nothing; later arrivals go
//! to the back in order. "Tell me when it's back" starts a line on a
//! sold-out book. A copy on the shelf of a book in line (a launch's copies,
//! a return, a lapsed hold, a restock) is offered to the first place still
//! waiting: a hold for that shopper that ends at the offer's deadline. When
//! it lapses or is given back, the copy goes on down the line.
//!
//! Every decision is made inside the writer's transaction with the book's
//! row locked, so on many nodes one transaction at a time decides a line:
//! each place number is given once and each copy offered once.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::changes::{Change, DirectChange, Outcome};
use super::shopper::Shopper;
use super::{BookId, Rules};
use crate::server::clock::now_ms;
use crate::server::store::{LineRecord, PlaceLeaving, StockTransaction, Store, StoreError};
use crate::server::writer::WeakWriter;
use crate::shared::lines::LineStatus;
use crate::shared::ShopError;

/// A change to a line.
#[derive(Debug)]
pub enum LineChange {
    /// The shopper takes a place in the book's line (starting one on a
    /// sold-out book). `address` is the address group the cap counts by.
    Join {
        shopper: Shopper,
        book: BookId,
        address: String,
    },
    /// The shopper gives up their place, or the copy offered to them.
    Leave { shopper: Shopper, book: BookId },
    /// Staff schedule a launch: `copies` more copies, all for the line,
    /// which opens at `opens_at` (Unix ms).
    Launch {
        book: BookId,
        copies: u32,
        opens_at: i64,
    },
    /// Staff end the book's line: its copies are on sale first come again.
    End { book: BookId },
    /// The clock: every scheduled line whose opening has come is drawn.
    OpenDue,
}

/// Which places a line is kept in: `waiting` and `offered` hold a place.
const HOLDS_A_PLACE: [&str; 2] = ["waiting", "offered"];

/// Applies one line change; the books whose line may move are added to
/// `lines` (the group ends by moving them, `advance`).
pub(super) async fn apply(
    tx: &mut StockTransaction,
    rules: &Rules,
    change: &LineChange,
    now: i64,
    lines: &mut BTreeSet<String>,
) -> Result<Result<Outcome, ShopError>, StoreError> {
    let done = match change {
        LineChange::Join {
            shopper,
            book,
            address,
        } => join(tx, rules, shopper, book, address, now).await?,
        LineChange::Leave { shopper, book } => leave(tx, shopper, book).await?,
        LineChange::Launch {
            book,
            copies,
            opens_at,
        } => launch(tx, book, *copies, *opens_at, now).await?,
        LineChange::End { book } => end(tx, book).await?,
        LineChange::OpenDue => {
            lines.extend(tx.lines_due(now).await?);
            return Ok(Ok(Outcome::LineChanged));
        }
    };
    if done.is_ok() {
        if let Some(book) = change.book() {
            lines.insert(book.as_str().to_string());
        }
    }
    Ok(done)
}

impl LineChange {
    /// The one book this change is about, if it is about one.
    pub(super) fn book(&self) -> Option<&BookId> {
        match self {
            LineChange::Join { book, .. }
            | LineChange::Leave { book, .. }
            | LineChange::Launch { book, .. }
            | LineChange::End { book } => Some(book),
            LineChange::OpenDue => None,
        }
    }
}

async fn join(
    tx: &mut StockTransaction,
    rules: &Rules,
    shopper: &Shopper,
    book: &BookId,
    address: &str,
    now: i64,
) -> Result<Result<Outcome, ShopError>, StoreError> {
    let Some((shelf, line)) = tx.lock_line(book.as_str()).await? else {
        return Ok(Err(ShopError::UnknownBook));
    };
    let line = match line.filter(|l| l.state != LineStatus::Ended) {
        Some(line) => line,
        // Copies on the shelf and no line: a shopper reserves one.
        None if shelf > 0 => return Ok(Err(ShopError::OnTheShelf)),
        // "Tell me when it's back": the first to ask starts the line.
        None => tx.start_line(book.as_str(), "notify", now, 0, now).await?,
    };
    let key = shopper.key();
    if let Some(place) = tx.place_in(line.id, &key).await? {
        if HOLDS_A_PLACE.contains(&place.state.as_str()) {
            // One place per shopper per book: joining again changes nothing.
            return Ok(Ok(Outcome::LineChanged));
        }
    }
    let cap = rules.line_places_per_address;
    if cap > 0 && tx.places_from(line.id, address).await? >= cap {
        return Ok(Err(ShopError::PlacesPerAddress(cap)));
    }
    // Before the draw nobody has a number; after it, arrivals go to the back.
    let place = if line.state == LineStatus::Scheduled {
        None
    } else {
        Some(tx.take_place(line.id).await?)
    };
    tx.add_place(line.id, &key, address, place, now).await?;
    Ok(Ok(Outcome::LineChanged))
}

async fn leave(
    tx: &mut StockTransaction,
    shopper: &Shopper,
    book: &BookId,
) -> Result<Result<Outcome, ShopError>, StoreError> {
    let Some((_, line)) = tx.lock_line(book.as_str()).await? else {
        return Ok(Err(ShopError::UnknownBook));
    };
    let Some(line) = line.filter(|l| l.state != LineStatus::Ended) else {
        return Ok(Err(ShopError::NotInLine));
    };
    let key = shopper.key();
    let state = match tx.place_in(line.id, &key).await? {
        Some(place) => place.state,
        None => return Ok(Err(ShopError::NotInLine)),
    };
    match state.as_str() {
        "waiting" => tx.leave_place(line.id, &key, PlaceLeaving::Waiting).await?,
        "offered" => {
            // Declined: the copy goes on to the next place.
            tx.give_back_offer(book.as_str(), &key).await?;
            tx.leave_place(line.id, &key, PlaceLeaving::Offered).await?;
        }
        _ => return Ok(Err(ShopError::NotInLine)),
    }
    Ok(Ok(Outcome::LineChanged))
}

async fn launch(
    tx: &mut StockTransaction,
    book: &BookId,
    copies: u32,
    opens_at: i64,
    now: i64,
) -> Result<Result<Outcome, ShopError>, StoreError> {
    let Some((_, line)) = tx.lock_line(book.as_str()).await? else {
        return Ok(Err(ShopError::UnknownBook));
    };
    if line.is_some_and(|l| l.state != LineStatus::Ended) {
        return Ok(Err(ShopError::BadInput(
            "that book already has a line; end it first".into(),
        )));
    }
    if copies > 0 && !tx.restock(book.as_str(), copies).await? {
        return Ok(Err(ShopError::UnknownBook));
    }
    tx.start_line(book.as_str(), "launch", opens_at, copies, now)
        .await?;
    Ok(Ok(Outcome::LineChanged))
}

async fn end(
    tx: &mut StockTransaction,
    book: &BookId,
) -> Result<Result<Outcome, ShopError>, StoreError> {
    let Some((_, line)) = tx.lock_line(book.as_str()).await? else {
        return Ok(Err(ShopError::UnknownBook));
    };
    let Some(mut line) = line.filter(|l| l.state != LineStatus::Ended) else {
        return Ok(Err(ShopError::NotInLine));
    };
    // Copies already offered stay held until their offer ends; the rest are
    // on sale again, first come.
    line.state = LineStatus::Ended;
    tx.save_line(&line).await?;
    Ok(Ok(Outcome::LineChanged))
}

/// Brings the book's line up to date after a group's changes: settles the
/// offers that ended, draws a launch whose opening has come, offers every
/// copy on the shelf to the next places in order, and counts what is left.
/// False when the book has no line to move.
pub(super) async fn advance(
    tx: &mut StockTransaction,
    rules: &Rules,
    book: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some((mut shelf, Some(mut line))) = tx.lock_line(book).await? else {
        return Ok(false);
    };
    if line.state == LineStatus::Ended {
        return Ok(false);
    }
    tx.settle_offers(line.id, book, now).await?;
    if line.state == LineStatus::Scheduled && now >= line.opens_at {
        let joined = tx.undrawn(line.id).await?;
        let drawn = draw(
            joined,
            line.next_place,
            &mut rand::rngs::StdRng::from_os_rng(),
        );
        tx.set_places(line.id, &drawn).await?;
        line.next_place += u32::try_from(drawn.len()).unwrap_or(u32::MAX);
        line.drawn_at = Some(now);
        line.state = LineStatus::Open;
    }
    if line.state != LineStatus::Scheduled && shelf > 0 {
        let until = now.saturating_add(millis(rules.line_offer_ttl));
        let wanted = u32::try_from(shelf).unwrap_or(u32::MAX);
        for (shopper, place) in tx.next_in_line(line.id, wanted).await? {
            tx.offer_copy(line.id, book, &shopper, now, until).await?;
            shelf -= 1;
            line.serving = line.serving.max(place);
        }
    }
    let (waiting, offers_open) = tx.line_counts(line.id).await?;
    line.waiting = waiting;
    line.offers_open = offers_open;
    line.copies_left = u32::try_from(shelf).unwrap_or(0) + offers_open;
    line.state = next_state(&line);
    tx.save_line(&line).await?;
    Ok(true)
}

/// A line's state once its counts are known. Before the opening it stays
/// scheduled. "Tell me when it's back" ends once nobody waits and no offer
/// is open (the book is sold first come again); a launch stays until staff
/// end it. Otherwise it is open while any copy is left for the line.
fn next_state(line: &LineRecord) -> LineStatus {
    if line.state == LineStatus::Scheduled {
        LineStatus::Scheduled
    } else if line.kind == "notify" && line.waiting == 0 && line.offers_open == 0 {
        LineStatus::Ended
    } else if line.copies_left > 0 {
        LineStatus::Open
    } else {
        LineStatus::Closed
    }
}

/// The draw: everyone who joined before the opening, in a uniformly random
/// order, numbered from `first`.
pub fn draw(mut joined: Vec<String>, first: u32, rng: &mut impl Rng) -> Vec<(String, u32)> {
    joined.shuffle(rng);
    joined.into_iter().zip(first..).collect()
}

/// When a launch opens, as staff write it: RFC 3339 in UTC
/// (`2026-12-24T10:00:00Z`, or `2026-12-24T10:00` as a browser's date and
/// time field sends it), or a wait from `now_ms` (`+30s`, `+2h`). Unix ms.
pub fn parse_opening(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    let refused = || format!("{text:?} is not a time like 2026-12-24T10:00:00Z or +30s");
    if let Some(wait) = text.strip_prefix('+') {
        let wait = humantime::parse_duration(wait).map_err(|_| refused())?;
        return Ok(now_ms.saturating_add(millis(wait)));
    }
    let full = match text.len() {
        16 => format!("{text}:00Z"),
        19 => format!("{text}Z"),
        _ => text.to_string(),
    };
    let at = humantime::parse_rfc3339(&full).map_err(|_| refused())?;
    let since_epoch = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| refused())?;
    Ok(millis(since_epoch))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The clock that opens launches: it sleeps until the next opening (looking
/// again at least every second, for launches scheduled meanwhile, on this
/// node or another) and asks the writer to draw every line that is due. On
/// several nodes each runs it; the first transaction to lock a line draws
/// it, and the others find it open.
pub(super) async fn open_due_lines(store: Store, writer: WeakWriter<Rules>) {
    const LOOK_EVERY: Duration = Duration::from_secs(1);
    loop {
        let wait = match store.next_opening().await {
            Ok(Some(opens_at)) => {
                Duration::from_millis(u64::try_from(opens_at - now_ms()).unwrap_or(0))
            }
            Ok(None) => LOOK_EVERY,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read line openings");
                LOOK_EVERY
            }
        };
        if wait > Duration::ZERO {
            tokio::time::sleep(wait.min(LOOK_EVERY)).await;
            continue;
        }
        match writer
            .ask(Change::Direct(DirectChange::Line(LineChange::OpenDue)))
            .await
        {
            None => return,
            Some(Ok(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "lines could not be opened");
                tokio::time::sleep(LOOK_EVERY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over many draws of five shoppers, each lands in each place about as
    /// often as any other: Pearson's chi-square over the 5 × 5 table of
    /// (shopper, place) counts stays below the 0.1 % critical value for its
    /// 16 degrees of freedom. The seed is fixed, so this cannot flake.
    #[test]
    fn the_draw_is_uniform() {
        const DRAWS: u32 = 20_000;
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let mut counts = [[0u32; 5]; 5];
        for _ in 0..DRAWS {
            let joined: Vec<String> = (0..5).map(|i| i.to_string()).collect();
            for (who, place) in draw(joined, 1, &mut rng) {
                let who: usize = who.parse().unwrap();
                counts[who][place as usize - 1] += 1;
            }
        }
        let expected = f64::from(DRAWS) / 5.0;
        let chi_square: f64 = counts
            .iter()
            .flatten()
            .map(|&n| (f64::from(n) - expected).powi(2) / expected)
            .sum();
        assert!(chi_square < 39.25, "chi-square {chi_square:.1}: {counts:?}");
    }

    #[test]
    fn openings_are_utc_times_or_waits() {
        assert_eq!(parse_opening("+30s", 1_000), Ok(31_000));
        assert_eq!(parse_opening(" +2m ", 0), Ok(120_000));
        assert_eq!(parse_opening("1970-01-01T00:01:00Z", 5), Ok(60_000));
        assert_eq!(
            parse_opening("1970-01-01T00:01", 5),
            Ok(60_000),
            "a browser's field"
        );
        assert_eq!(parse_opening("1970-01-01T00:01:02", 5), Ok(62_000));
        for bad in ["", "soon", "+", "+x", "2026-13-01T00:00:00Z", "10:00"] {
            assert!(parse_opening(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_draw_numbers_everyone_once_from_the_first_free_place() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let joined: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
        let drawn = draw(joined.clone(), 7, &mut rng);
        let mut places: Vec<u32> = drawn.iter().map(|(_, p)| *p).collect();
        places.sort_unstable();
        assert_eq!(places, (7..57).collect::<Vec<_>>());
        let mut who: Vec<String> = drawn.into_iter().map(|(s, _)| s).collect();
        assert_ne!(who, joined, "not in order of arrival");
        who.sort();
        let mut all = joined;
        all.sort();
        assert_eq!(who, all);
    }

    fn line(kind: &str, state: LineStatus, waiting: u32, offers: u32, left: u32) -> LineRecord {
        LineRecord {
            id: 1,
            book_id: "b".into(),
            kind: kind.into(),
            state,
            opens_at: 0,
            copies: 0,
            serving: 0,
            waiting,
            offers_open: offers,
            copies_left: left,
            next_place: 1,
            drawn_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_line_is_open_while_a_copy_is_left_and_tell_me_ends_when_nobody_waits() {
        use LineStatus::*;
        assert_eq!(next_state(&line("launch", Scheduled, 9, 0, 5)), Scheduled);
        assert_eq!(next_state(&line("launch", Open, 9, 0, 5)), Open);
        assert_eq!(
            next_state(&line("launch", Open, 9, 2, 2)),
            Open,
            "offers out"
        );
        assert_eq!(next_state(&line("launch", Open, 9, 0, 0)), Closed);
        assert_eq!(next_state(&line("launch", Closed, 0, 0, 3)), Open, "back");
        assert_eq!(
            next_state(&line("launch", Open, 0, 0, 0)),
            Closed,
            "launches stay"
        );
        assert_eq!(next_state(&line("notify", Open, 0, 0, 2)), Ended);
        assert_eq!(next_state(&line("notify", Closed, 3, 0, 0)), Closed);
        assert_eq!(next_state(&line("notify", Open, 0, 1, 1)), Open);
    }
}
