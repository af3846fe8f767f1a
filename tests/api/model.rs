//! The inventory against a plain model: random sequences of reserve,
//! return, expire, checkout, restock and set-total, and of lines (join,
//! leave, a launch, its opening, an offer that lapses or is declined), run
//! by the real inventory on a real SQLite file, each step compared with
//! what a few maps say it should do. After every step the invariants of
//! ARCHITECTURE.md hold on disk: available never below 0; available = total
//! − held − sold; the version strictly increases with each change; a refused
//! step changes nothing at all; every place of a line is in the state the
//! model says, and copies are offered in place order.

use std::collections::BTreeMap as Map;
use std::time::Duration;

use livecart::server::inventory::shopper::{BurtsSession, Shopper, ShopperId};
use livecart::server::inventory::{BookId, Rules};
use livecart::shared::stock::FEATURED_BOOK;
use livecart::shared::ShopError;
use proptest::prelude::*;
use sqlx::Connection;

use crate::helpers::InventoryOnDisk;

const BOOKS: [&str; 3] = [
    FEATURED_BOOK,
    "structure-and-interpretation-of-computer-programs",
    "the-pragmatic-programmer",
];

#[derive(Clone, Debug)]
enum Step {
    Reserve(usize, usize),
    Return(usize, usize),
    /// Every hold of the shopper passes its deadline.
    Expire(usize),
    Checkout(usize),
    Restock(usize, u32),
    SetTotal(usize, u32),
    Join(usize, usize),
    Leave(usize, usize),
    /// Staff schedule a launch of the book, with this many more copies.
    Launch(usize, u32),
    /// Every scheduled launch's opening comes.
    Open,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..4, 0usize..3).prop_map(|(w, b)| Step::Reserve(w, b)),
        3 => (0usize..4, 0usize..3).prop_map(|(w, b)| Step::Return(w, b)),
        1 => (0usize..4).prop_map(Step::Expire),
        2 => (0usize..4).prop_map(Step::Checkout),
        1 => (0usize..3, 1u32..3).prop_map(|(b, n)| Step::Restock(b, n)),
        2 => (0usize..3, 0u32..5).prop_map(|(b, n)| Step::SetTotal(b, n)),
        4 => (0usize..4, 0usize..3).prop_map(|(w, b)| Step::Join(w, b)),
        2 => (0usize..4, 0usize..3).prop_map(|(w, b)| Step::Leave(w, b)),
        1 => (0usize..3, 0u32..3).prop_map(|(b, n)| Step::Launch(b, n)),
        1 => Just(Step::Open),
    ]
}

/// What the shop should hold, kept in plain maps.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    total: Map<usize, u32>,
    sold: Map<usize, u32>,
    held: Map<(usize, usize), u32>,
    /// Each book's line, while it has one.
    lines: Map<usize, Line>,
    /// Orders placed, and holds the clock ended: the staff desk's figures.
    orders: u64,
    lapsed: u64,
}

/// A line as the model keeps it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Line {
    launch: bool,
    scheduled: bool,
    /// Who joined before the draw, in order of arrival.
    undrawn: Vec<usize>,
    /// (who, state) in place order once drawn.
    places: Vec<(usize, &'static str)>,
}

impl Line {
    fn state_of(&self, who: usize) -> Option<&'static str> {
        if self.undrawn.contains(&who) {
            return Some("waiting");
        }
        self.places
            .iter()
            .rev()
            .find(|(w, _)| *w == who)
            .map(|(_, s)| *s)
    }

    fn set(&mut self, who: usize, to: &'static str) {
        if let Some(place) = self.places.iter_mut().rev().find(|(w, _)| *w == who) {
            place.1 = to;
        }
    }
}

impl Model {
    fn held_of(&self, book: usize) -> u32 {
        self.held
            .iter()
            .filter(|((_, b), _)| *b == book)
            .map(|(_, n)| n)
            .sum()
    }

    fn available(&self, book: usize) -> u32 {
        self.total[&book] - self.held_of(book) - self.sold[&book]
    }

    /// The answer the step must get, and the model after it.
    fn apply(&mut self, step: &Step, rules: &Rules, shoppers: &[Shopper]) -> Result<(), ShopError> {
        match *step {
            Step::Reserve(who, book) if self.lines.contains_key(&book) => {
                let _ = who;
                Err(ShopError::InLine)
            }
            Step::Reserve(who, book) => {
                let mine = self.held.get(&(who, book)).copied().unwrap_or(0);
                let allowed = rules.copies_allowed(&shoppers[who]);
                let books = self.held.keys().filter(|(w, _)| *w == who).count() as u32;
                if mine >= allowed {
                    Err(ShopError::LimitReached(allowed))
                } else if mine == 0 && books >= rules.max_books_per_cart {
                    Err(ShopError::CartFull(rules.max_books_per_cart))
                } else if self.available(book) == 0 {
                    Err(ShopError::SoldOut)
                } else {
                    self.held.insert((who, book), mine + 1);
                    Ok(())
                }
            }
            Step::Return(who, book) => match self.held.get(&(who, book)).copied() {
                None => Err(ShopError::NotHeld),
                Some(1) => {
                    self.held.remove(&(who, book));
                    self.hold_ended(who, book, "declined");
                    Ok(())
                }
                Some(n) => {
                    self.held.insert((who, book), n - 1);
                    Ok(())
                }
            },
            Step::Expire(who) => {
                let books: Vec<usize> = self
                    .held
                    .keys()
                    .filter(|(w, _)| *w == who)
                    .map(|(_, b)| *b)
                    .collect();
                self.held.retain(|(w, _), _| *w != who);
                self.lapsed += books.len() as u64;
                for book in books {
                    self.hold_ended(who, book, "lapsed");
                }
                Ok(())
            }
            Step::Checkout(who) => {
                let lines: Vec<_> = self
                    .held
                    .iter()
                    .filter(|((w, _), _)| *w == who)
                    .map(|((_, b), n)| (*b, *n))
                    .collect();
                if lines.is_empty() {
                    return Err(ShopError::EmptyCart);
                }
                self.orders += 1;
                for (book, n) in lines {
                    *self.sold.get_mut(&book).unwrap() += n;
                    self.held.remove(&(who, book));
                    self.hold_ended(who, book, "bought");
                }
                Ok(())
            }
            Step::Restock(book, n) => {
                *self.total.get_mut(&book).unwrap() += n;
                Ok(())
            }
            Step::SetTotal(book, n) => {
                if n < self.held_of(book) + self.sold[&book] {
                    Err(ShopError::BelowHeldAndSold)
                } else {
                    self.total.insert(book, n);
                    Ok(())
                }
            }
            Step::Join(who, book) => {
                if !self.lines.contains_key(&book) {
                    if self.available(book) > 0 {
                        return Err(ShopError::OnTheShelf);
                    }
                    self.lines.insert(book, Line::default());
                }
                let line = self.lines.get_mut(&book).unwrap();
                match line.state_of(who) {
                    Some("waiting" | "offered") => {}
                    _ if line.scheduled => line.undrawn.push(who),
                    _ => line.places.push((who, "waiting")),
                }
                Ok(())
            }
            Step::Leave(who, book) => {
                let Some(line) = self.lines.get_mut(&book) else {
                    return Err(ShopError::NotInLine);
                };
                match line.state_of(who) {
                    Some("waiting") if line.undrawn.contains(&who) => {
                        line.undrawn.retain(|w| *w != who);
                    }
                    Some("waiting") => line.set(who, "left"),
                    Some("offered") => {
                        line.set(who, "declined");
                        self.held.remove(&(who, book));
                    }
                    _ => return Err(ShopError::NotInLine),
                }
                Ok(())
            }
            Step::Launch(book, n) => {
                if self.lines.contains_key(&book) {
                    return Err(ShopError::BadInput(
                        "that book already has a line; end it first".into(),
                    ));
                }
                *self.total.get_mut(&book).unwrap() += n;
                self.lines.insert(
                    book,
                    Line {
                        launch: true,
                        scheduled: true,
                        ..Line::default()
                    },
                );
                Ok(())
            }
            // The draw is random: the run applies it from what was stored.
            Step::Open => Ok(()),
        }
    }

    /// A hold of a book with a line ended: an offer it was is settled.
    fn hold_ended(&mut self, who: usize, book: usize, how: &'static str) {
        if let Some(line) = self.lines.get_mut(&book) {
            if line.state_of(who) == Some("offered") {
                line.set(who, how);
            }
        }
    }

    /// Every line after a step: copies on the shelf go to the first places
    /// waiting; a "tell me" line nobody waits in, with no offer open, ends.
    fn advance(&mut self) {
        let books: Vec<usize> = self.lines.keys().copied().collect();
        for book in books {
            let mut available = self.available(book);
            let line = self.lines.get_mut(&book).unwrap();
            if !line.scheduled {
                for (who, state) in line.places.iter_mut() {
                    if available == 0 {
                        break;
                    }
                    if *state == "waiting" {
                        *state = "offered";
                        *self.held.entry((*who, book)).or_default() += 1;
                        available -= 1;
                    }
                }
            }
            let open = line
                .places
                .iter()
                .any(|(_, s)| matches!(*s, "waiting" | "offered"))
                || !line.undrawn.is_empty();
            if !line.launch && !open {
                self.lines.remove(&book);
            }
        }
    }
}

/// The staff desk's figures as the model has them.
#[derive(Debug, Default)]
struct DeskModel {
    copies_held: u64,
    sold_today: u64,
    orders_today: u64,
    lapsed_today: u64,
    /// (book id, copies held), most first, then by id; five at most.
    most_held: Vec<(String, u64)>,
    line_waiting: u64,
    line_offered: u64,
    line_sold: u64,
}

impl Model {
    fn desk(&self) -> DeskModel {
        let mut most_held: Vec<(String, u64)> = (0..BOOKS.len())
            .map(|b| (BOOKS[b].to_string(), u64::from(self.held_of(b))))
            .filter(|(_, n)| *n > 0)
            .collect();
        most_held.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        most_held.truncate(5);
        let in_lines = |state: &str| -> u64 {
            self.lines
                .values()
                .map(|l| {
                    // A shopper has one place a line: joining again after
                    // buying makes their place new (as `state_of` reads it).
                    let placed = (0..4)
                        .filter(|who| !l.undrawn.contains(who) && l.state_of(*who) == Some(state));
                    let undrawn = if state == "waiting" {
                        l.undrawn.len()
                    } else {
                        0
                    };
                    (placed.count() + undrawn) as u64
                })
                .sum()
        };
        DeskModel {
            copies_held: self.held.values().map(|n| u64::from(*n)).sum(),
            sold_today: self.sold.values().map(|n| u64::from(*n)).sum(),
            orders_today: self.orders,
            lapsed_today: self.lapsed,
            most_held,
            line_waiting: in_lines("waiting"),
            line_offered: in_lines("offered"),
            line_sold: in_lines("bought"),
        }
    }
}

/// The shop's state as the database holds it: per book (available, total,
/// held, sold), the holds, and the stock version.
type OnDisk = (Vec<(i64, i64, i64, i64)>, Vec<(String, String, i64)>, i64);

async fn on_disk(db: &mut sqlx::SqliteConnection) -> OnDisk {
    let mut books = Vec::new();
    for id in BOOKS {
        let row: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT available, total, \
             (SELECT COALESCE(SUM(copies), 0) FROM reservations WHERE book_id = ?1), sold \
             FROM books WHERE id = ?1",
        )
        .bind(id)
        .fetch_one(&mut *db)
        .await
        .unwrap();
        books.push(row);
    }
    let holds = sqlx::query_as(
        "SELECT shopper, book_id, copies FROM reservations ORDER BY shopper, book_id",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap();
    let (version,): (i64,) = sqlx::query_as("SELECT version FROM stock_state WHERE id = 1")
        .fetch_one(&mut *db)
        .await
        .unwrap();
    (books, holds, version)
}

async fn run(steps: Vec<Step>, limit: u32, max_books: u32) -> Result<(), TestCaseError> {
    let shop = InventoryOnDisk::start(limit, max_books).await;
    let (inventory, notifier, rules, url) =
        (&shop.inventory, &shop.notifier, &shop.rules, &shop.url);
    let mut db = sqlx::SqliteConnection::connect(url).await.unwrap();
    let store = livecart::server::store::Store::open(url).await.unwrap();
    let shoppers = [
        Shopper::Web(ShopperId::new_random()),
        Shopper::Web(ShopperId::new_random()),
        Shopper::Burts(BurtsSession::parse("model-a").unwrap()),
        Shopper::Burts(BurtsSession::parse("model-b").unwrap()),
    ];
    let books: Vec<BookId> = BOOKS.iter().map(|b| BookId::parse(b).unwrap()).collect();
    // Small shelves, so copies run out.
    let mut model = Model::default();
    for (i, book) in books.iter().enumerate() {
        inventory.set_total(book, 2).await.unwrap();
        model.total.insert(i, 2);
        model.sold.insert(i, 0);
    }
    // Each book's lowest count today, as recorded so far (the opening
    // books came in today); from here the model's counts lower it.
    let today = |ms: i64| ms.div_euclid(86_400_000);
    let started = livecart::server::clock::now_ms();
    let counts = |model: &Model| -> Vec<(&'static str, u32)> {
        BOOKS
            .iter()
            .enumerate()
            .map(|(i, b)| (*b, model.available(i)))
            .collect()
    };
    let opening = store
        .stock_over_day(&counts(&model), started)
        .await
        .unwrap();
    let mut lows: Vec<u32> = BOOKS.iter().map(|b| opening[*b].low).collect();

    for step in &steps {
        let before = on_disk(&mut db).await;
        let published_before = notifier.version();
        let expected = model.clone().apply(step, rules, &shoppers);
        let got = match *step {
            Step::Reserve(who, book) => inventory
                .reserve(&shoppers[who], &books[book])
                .await
                .map(|_| ()),
            Step::Return(who, book) => inventory
                .return_copy(&shoppers[who], &books[book])
                .await
                .map(|_| ()),
            Step::Checkout(who) => inventory.checkout(&shoppers[who]).await.map(|_| ()),
            Step::Restock(book, n) => inventory.restock(&books[book], n).await,
            Step::SetTotal(book, n) => inventory.set_total(&books[book], n).await,
            Step::Join(who, book) => {
                inventory
                    .join_line(&shoppers[who], &books[book], "model".into())
                    .await
            }
            Step::Leave(who, book) => inventory.leave_line(&shoppers[who], &books[book]).await,
            Step::Launch(book, n) => {
                let in_an_hour = livecart::server::clock::now_ms() + 3_600_000;
                inventory.launch(&books[book], n, in_an_hour).await
            }
            Step::Open => {
                // The openings come (as the clock would see them), then the
                // inventory's own clock draws each line.
                sqlx::query("UPDATE lines SET opens_at = 0 WHERE state = 'scheduled'")
                    .execute(&mut db)
                    .await
                    .unwrap();
                let mut waited = Duration::ZERO;
                loop {
                    let (count,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM lines WHERE state = 'scheduled'")
                            .fetch_one(&mut db)
                            .await
                            .unwrap();
                    if count == 0 {
                        break;
                    }
                    prop_assert!(
                        waited < Duration::from_secs(3),
                        "the clock did not open the line"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    waited += Duration::from_millis(20);
                }
                Ok(())
            }
            Step::Expire(who) => {
                // Its deadlines pass (as the clock would see them), then the
                // inventory's own clock ends the holds.
                let key = shoppers[who].key();
                sqlx::query("UPDATE reservations SET expires_at = 0 WHERE shopper = ?")
                    .bind(&key)
                    .execute(&mut db)
                    .await
                    .unwrap();
                // An offer's hold ends when the offer does.
                sqlx::query(
                    "UPDATE line_places SET offer_until = 0 WHERE shopper = ? AND state = 'offered'",
                )
                .bind(&key)
                .execute(&mut db)
                .await
                .unwrap();
                let mut waited = Duration::ZERO;
                loop {
                    // Only the holds whose time ran out: a line may offer
                    // the freed copy straight back to this shopper.
                    let (count,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM reservations WHERE shopper = ? AND expires_at = 0",
                    )
                    .bind(&key)
                    .fetch_one(&mut db)
                    .await
                    .unwrap();
                    if count == 0 {
                        break;
                    }
                    prop_assert!(
                        waited < Duration::from_secs(3),
                        "the clock did not end lapsed holds"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    waited += Duration::from_millis(20);
                }
                Ok(())
            }
        };
        prop_assert_eq!(&got, &expected, "{:?}", step);
        let after = on_disk(&mut db).await;
        if got.is_err() {
            prop_assert_eq!(&after, &before, "a refused {:?} changed nothing", step);
        } else {
            model.apply(step, rules, &shoppers).unwrap();
            if let Step::Open = step {
                // The draw as stored: who joined before the opening, in the
                // order drawn, each numbered once after every place given.
                for (book, line) in model.lines.iter_mut().filter(|(_, l)| l.scheduled) {
                    let drawn = places_on_disk(&mut db, BOOKS[*book], &shoppers).await;
                    let mut order: Vec<(i64, usize)> = drawn
                        .iter()
                        .filter(|(who, _, _)| line.undrawn.contains(who))
                        .map(|(who, place, _)| (place.expect("drawn"), *who))
                        .collect();
                    order.sort_unstable();
                    let mut expected = line.undrawn.clone();
                    let mut got: Vec<usize> = order.iter().map(|(_, who)| *who).collect();
                    expected.sort_unstable();
                    got.sort_unstable();
                    prop_assert_eq!(got, expected, "everyone who joined is drawn, once");
                    line.places
                        .extend(order.iter().map(|(_, who)| (*who, "waiting")));
                    line.undrawn.clear();
                    line.scheduled = false;
                }
            }
            model.advance();
            let changed = after.0 != before.0
                || after.1.len() != before.1.len()
                || after
                    .1
                    .iter()
                    .zip(&before.1)
                    .any(|(a, b)| (&a.0, &a.1, a.2) != (&b.0, &b.1, b.2));
            if changed {
                prop_assert!(
                    after.2 > before.2,
                    "a change took the version from {} to {}",
                    before.2,
                    after.2
                );
            }
        }
        for (i, (available, total, held, sold)) in after.0.iter().enumerate() {
            prop_assert!(*available >= 0);
            prop_assert_eq!(*available, total - held - sold, "book {}", i);
            prop_assert_eq!(
                *available,
                i64::from(model.available(i)),
                "book {} after {:?}",
                i,
                step
            );
            prop_assert_eq!(*total, i64::from(model.total[&i]));
            prop_assert_eq!(*sold, i64::from(model.sold[&i]));
        }
        prop_assert!(
            notifier.version() >= published_before,
            "the published version never goes back"
        );
        // Every commit that moves a count records it for the hour: each
        // book's newest record closes at its count, and the day's lowest
        // is the lowest the model has been.
        let now = livecart::server::clock::now_ms();
        let day = store.stock_over_day(&counts(&model), now).await.unwrap();
        for (i, book) in BOOKS.iter().enumerate() {
            let (closed,): (i64,) = sqlx::query_as(
                "SELECT closed FROM stock_by_hour WHERE book_id = ? ORDER BY hour DESC LIMIT 1",
            )
            .bind(book)
            .fetch_one(&mut db)
            .await
            .unwrap();
            prop_assert_eq!(
                closed,
                i64::from(model.available(i)),
                "book {}'s record after {:?}",
                i,
                step
            );
            lows[i] = lows[i].min(model.available(i));
            if today(now) == today(started) {
                prop_assert_eq!(day[*book].low, lows[i], "book {}'s low after {:?}", i, step);
            }
        }
        // The staff desk's figures are the tables' and the model's.
        let desk = store
            .desk_figures(livecart::server::clock::now_ms())
            .await
            .unwrap();
        let expected = model.desk();
        prop_assert_eq!(
            (
                desk.copies_held,
                desk.sold_today,
                desk.orders_today,
                desk.lapsed_today,
                desk.orders_last_hour(),
            ),
            (
                expected.copies_held,
                expected.sold_today,
                expected.orders_today,
                expected.lapsed_today,
                expected.orders_today,
            ),
            "the desk after {:?}",
            step
        );
        let most_held: Vec<(String, u64)> = desk
            .most_held
            .iter()
            .map(|(id, _, n)| (id.clone(), *n))
            .collect();
        prop_assert_eq!(most_held, expected.most_held, "most held after {:?}", step);
        prop_assert_eq!(
            (desk.line_waiting, desk.line_offered, desk.line_sold),
            (
                expected.line_waiting,
                expected.line_offered,
                expected.line_sold
            ),
            "the desk's lines after {:?}",
            step
        );
        // Each line's places are in the states the model says, and copies
        // went in place order: every place ever offered is ahead of every
        // place still waiting.
        for (i, book) in BOOKS.iter().enumerate() {
            let places = places_on_disk(&mut db, book, &shoppers).await;
            let line = model.lines.get(&i);
            for who in 0..shoppers.len() {
                let on_disk = places
                    .iter()
                    .find(|(w, _, _)| *w == who)
                    .map(|(_, _, s)| s.as_str());
                let modelled = line.and_then(|l| l.state_of(who));
                let left_before_the_draw = modelled.is_none() && on_disk == Some("left");
                prop_assert!(
                    line.is_none() || modelled == on_disk || left_before_the_draw,
                    "book {} shopper {}: {:?} on disk, {:?} in the model, after {:?}",
                    i,
                    who,
                    on_disk,
                    modelled,
                    step
                );
            }
            // The line's counts, kept by delta with each change, are the
            // places' own.
            let counts: Option<(i64, i64)> = sqlx::query_as(
                "SELECT l.waiting, l.offers_open FROM books b JOIN lines l ON l.id = b.line_id \
                 WHERE b.id = ? AND l.state <> 'ended'",
            )
            .bind(book)
            .fetch_optional(&mut db)
            .await
            .unwrap();
            if let Some((waiting, offers_open)) = counts {
                let in_state =
                    |state: &str| places.iter().filter(|(_, _, s)| s == state).count() as i64;
                prop_assert_eq!(
                    (waiting, offers_open),
                    (in_state("waiting"), in_state("offered")),
                    "book {}: the line's counts after {:?}",
                    i,
                    step
                );
            }
            let offered = places
                .iter()
                .filter(|(_, _, s)| {
                    matches!(s.as_str(), "offered" | "bought" | "lapsed" | "declined")
                })
                .filter_map(|(_, p, _)| *p)
                .max();
            let waiting = places
                .iter()
                .filter(|(_, _, s)| s == "waiting")
                .filter_map(|(_, p, _)| *p)
                .min();
            if let (Some(offered), Some(waiting)) = (offered, waiting) {
                prop_assert!(
                    offered < waiting,
                    "book {}: place {} offered before {}",
                    i,
                    waiting,
                    offered
                );
            }
        }
    }
    Ok(())
}

/// The places of the book's current line that is not over: (who, place, state).
async fn places_on_disk(
    db: &mut sqlx::SqliteConnection,
    book: &str,
    shoppers: &[Shopper],
) -> Vec<(usize, Option<i64>, String)> {
    let rows: Vec<(String, Option<i64>, String)> = sqlx::query_as(
        "SELECT p.shopper, p.place, p.state FROM books b JOIN lines l ON l.id = b.line_id \
         JOIN line_places p ON p.line_id = l.id WHERE b.id = ? AND l.state <> 'ended'",
    )
    .bind(book)
    .fetch_all(&mut *db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(key, place, state)| {
            let who = shoppers
                .iter()
                .position(|s| s.key() == key)
                .expect("a shopper of the model");
            (who, place, state)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn the_inventory_follows_a_plain_model(
        steps in proptest::collection::vec(step(), 1..40),
        limit in 1u32..3,
        max_books in 1u32..3,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(steps, limit, max_books))?;
    }
}
