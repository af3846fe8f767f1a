//! The rules of reserving and returning, decided in memory.
//!
//! A run of reserves and returns loads the books and holds it touches (inside
//! the write transaction, the books' rows locked on PostgreSQL), decides each
//! change here in order, and writes the result back in a few statements. The
//! database's CHECKs stay the last line: a wrong decision could never commit
//! an oversell.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::shopper::Shopper;
use super::{BookId, Rules};
use crate::server::store::HoldWrites;
use crate::shared::ShopError;

/// The part of the stock one run needs.
#[derive(Debug, Default)]
pub struct RunStock {
    /// Copies available now, and as loaded; books not here do not exist.
    available: HashMap<String, (i64, i64)>,
    /// Copies held now, as loaded, and whether a reserve renewed the hold.
    held: BTreeMap<(String, String), Hold>,
    /// Web shoppers who touched their cart: all their holds start again.
    renewed: BTreeSet<String>,
    /// Books that have a line: no copy of them is taken outside it.
    in_line: BTreeSet<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Hold {
    now: u32,
    loaded: u32,
    renewed: bool,
}

impl RunStock {
    pub fn new(available: Vec<(String, i64)>, held: Vec<(String, String, u32)>) -> RunStock {
        RunStock {
            available: available
                .into_iter()
                .map(|(book, n)| (book, (n, n)))
                .collect(),
            held: held
                .into_iter()
                .map(|(shopper, book, copies)| {
                    (
                        (shopper, book),
                        Hold {
                            now: copies,
                            loaded: copies,
                            renewed: false,
                        },
                    )
                })
                .collect(),
            renewed: BTreeSet::new(),
            in_line: BTreeSet::new(),
        }
    }

    /// The same, knowing which of its books have a line.
    pub fn with_lines(mut self, in_line: impl IntoIterator<Item = String>) -> RunStock {
        self.in_line.extend(in_line);
        self
    }

    /// The books with a line that this run gave copies back to: their next
    /// places are offered them.
    pub fn freed_in_line(&self) -> Vec<String> {
        self.available
            .iter()
            .filter(|(book, (now, loaded))| now > loaded && self.in_line.contains(*book))
            .map(|(book, _)| book.clone())
            .collect()
    }

    /// One more copy of `book` into the shopper's hands: refused when the
    /// book has a line (its copies go to the line's places, in order), when
    /// they already hold as many as they may, when none is left, or when
    /// there is no such book. Returns the copies they hold now.
    pub fn reserve(
        &mut self,
        rules: &Rules,
        shopper: &Shopper,
        book: &BookId,
    ) -> Result<u32, ShopError> {
        if self.in_line.contains(book.as_str()) {
            return Err(ShopError::InLine);
        }
        let key = (shopper.key(), book.as_str().to_string());
        let limit = rules.copies_allowed(shopper);
        let hold = self.held.get(&key).copied().unwrap_or_default();
        if hold.now >= limit {
            return Err(ShopError::LimitReached(limit));
        }
        // A new book in a cart already as full as a cart may be: hoarding
        // many titles with one cookie is refused, one more copy of a book
        // already held is not.
        if hold.now == 0 && self.books_held(&key.0) >= rules.max_books_per_cart {
            return Err(ShopError::CartFull(rules.max_books_per_cart));
        }
        let Some((available, _)) = self.available.get_mut(book.as_str()) else {
            return Err(ShopError::UnknownBook);
        };
        if *available <= 0 {
            return Err(ShopError::SoldOut);
        }
        *available -= 1;
        let hold = self.held.entry(key).or_default();
        hold.now += 1;
        hold.renewed = true;
        let now = hold.now;
        self.touched(shopper);
        Ok(now)
    }

    /// How many different books the shopper holds now.
    fn books_held(&self, shopper: &str) -> u32 {
        let from = (shopper.to_string(), String::new());
        let held = self
            .held
            .range(from..)
            .take_while(|((who, _), _)| who == shopper)
            .filter(|(_, hold)| hold.now > 0)
            .count();
        u32::try_from(held).unwrap_or(u32::MAX)
    }

    /// One of the shopper's copies of `book` back on sale. Returns the
    /// copies they still hold.
    pub fn return_copy(&mut self, shopper: &Shopper, book: &BookId) -> Result<u32, ShopError> {
        let key = (shopper.key(), book.as_str().to_string());
        let Some((available, _)) = self.available.get_mut(book.as_str()) else {
            return Err(ShopError::UnknownBook);
        };
        let Some(hold) = self.held.get_mut(&key).filter(|h| h.now > 0) else {
            return Err(ShopError::NotHeld);
        };
        hold.now -= 1;
        *available += 1;
        let left = hold.now;
        self.touched(shopper);
        Ok(left)
    }

    /// Touching the cart renews every hold in it. Burt's protocol holds
    /// one book per session, so its sessions have nothing else to renew.
    fn touched(&mut self, shopper: &Shopper) {
        if let Shopper::Web(_) = shopper {
            self.renewed.insert(shopper.key());
        }
    }

    /// What to write so the database matches this run's stock.
    pub fn writes(&self) -> HoldWrites {
        let mut writes = HoldWrites::default();
        for ((shopper, book), hold) in &self.held {
            if hold.now > 0 && (hold.now != hold.loaded || hold.renewed) {
                writes.holds.push((shopper.clone(), book.clone(), hold.now));
            } else if hold.now == 0 && hold.loaded > 0 {
                writes.ended.push((shopper.clone(), book.clone()));
            }
        }
        let mut available: Vec<(String, i64)> = self
            .available
            .iter()
            .filter(|(_, (now, loaded))| now != loaded)
            .map(|(book, (now, loaded))| (book.clone(), now - loaded))
            .collect();
        available.sort();
        writes.available = available;
        writes.renewed = self.renewed.iter().cloned().collect();
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::inventory::shopper::{BurtsSession, ShopperId};
    use std::time::Duration;

    fn rules(limit: u32) -> Rules {
        Rules {
            max_copies_per_shopper: limit,
            max_books_per_cart: 3,
            reservation_ttl: Duration::from_secs(60),
            max_hold_age: Duration::from_secs(3600),
            line_offer_ttl: Duration::from_secs(600),
            line_places_per_address: 4,
        }
    }

    #[test]
    fn a_cart_holds_at_most_the_limit_of_books_but_more_copies_of_one_held() {
        let web = Shopper::Web(ShopperId::new_random());
        let other = Shopper::Web(ShopperId::new_random());
        let books = ["a", "b", "c", "d"];
        let mut stock = RunStock::new(books.iter().map(|b| (b.to_string(), 5)).collect(), vec![]);
        for b in &books[..3] {
            assert_eq!(stock.reserve(&rules(2), &web, &book(b)), Ok(1));
        }
        assert_eq!(
            stock.reserve(&rules(2), &web, &book("d")),
            Err(ShopError::CartFull(3))
        );
        assert_eq!(
            stock.reserve(&rules(2), &web, &book("a")),
            Ok(2),
            "more of one held"
        );
        assert_eq!(
            stock.reserve(&rules(2), &other, &book("d")),
            Ok(1),
            "another cart"
        );
        // A book given back makes room.
        assert_eq!(stock.return_copy(&web, &book("b")), Ok(0));
        assert_eq!(stock.reserve(&rules(2), &web, &book("d")), Ok(1));
        assert_eq!(
            stock
                .writes()
                .available
                .iter()
                .find(|(b, _)| b == "d")
                .map(|(_, n)| *n),
            Some(-2)
        );
    }

    fn book(id: &str) -> BookId {
        BookId::parse(id).unwrap()
    }

    fn session(id: &str) -> Shopper {
        Shopper::Burts(BurtsSession::parse(id).unwrap())
    }

    #[test]
    fn a_book_with_a_line_is_not_reserved_outside_it_and_its_returns_go_to_the_line() {
        let mut stock = RunStock::new(
            vec![("lined".into(), 3), ("free".into(), 3)],
            vec![("book:s".into(), "lined".into(), 1)],
        )
        .with_lines(["lined".to_string()]);
        assert_eq!(
            stock.reserve(&rules(2), &session("t"), &book("lined")),
            Err(ShopError::InLine)
        );
        assert_eq!(
            stock.reserve(&rules(2), &session("t"), &book("free")),
            Ok(1)
        );
        assert!(stock.freed_in_line().is_empty(), "nothing given back yet");
        assert_eq!(stock.return_copy(&session("s"), &book("lined")), Ok(0));
        assert_eq!(stock.freed_in_line(), vec!["lined".to_string()]);
    }

    #[test]
    fn copies_go_until_none_is_left() {
        let mut stock = RunStock::new(vec![("b".into(), 2)], vec![]);
        assert_eq!(stock.reserve(&rules(1), &session("x"), &book("b")), Ok(1));
        assert_eq!(stock.reserve(&rules(1), &session("y"), &book("b")), Ok(1));
        assert_eq!(
            stock.reserve(&rules(1), &session("z"), &book("b")),
            Err(ShopError::SoldOut)
        );
        assert_eq!(stock.writes().available, vec![("b".to_string(), -2)]);
    }

    #[test]
    fn a_shopper_holds_at_most_the_limit_and_a_burts_session_one() {
        let web = Shopper::Web(ShopperId::new_random());
        let mut stock = RunStock::new(vec![("b".into(), 10)], vec![]);
        assert_eq!(stock.reserve(&rules(2), &web, &book("b")), Ok(1));
        assert_eq!(stock.reserve(&rules(2), &web, &book("b")), Ok(2));
        assert_eq!(
            stock.reserve(&rules(2), &web, &book("b")),
            Err(ShopError::LimitReached(2))
        );
        assert_eq!(stock.reserve(&rules(2), &session("s"), &book("b")), Ok(1));
        assert_eq!(
            stock.reserve(&rules(2), &session("s"), &book("b")),
            Err(ShopError::LimitReached(1))
        );
    }

    #[test]
    fn a_shopper_at_the_limit_is_told_so_even_when_none_is_left() {
        let mut stock = RunStock::new(
            vec![("b".into(), 0)],
            vec![("book:s".into(), "b".into(), 1)],
        );
        assert_eq!(
            stock.reserve(&rules(1), &session("s"), &book("b")),
            Err(ShopError::LimitReached(1))
        );
        assert_eq!(
            stock.reserve(&rules(1), &session("t"), &book("b")),
            Err(ShopError::SoldOut)
        );
    }

    #[test]
    fn returns_need_a_held_copy_of_a_known_book() {
        let mut stock = RunStock::new(
            vec![("b".into(), 0)],
            vec![("book:s".into(), "b".into(), 1)],
        );
        assert_eq!(
            stock.return_copy(&session("t"), &book("b")),
            Err(ShopError::NotHeld)
        );
        assert_eq!(
            stock.return_copy(&session("s"), &book("nope")),
            Err(ShopError::UnknownBook)
        );
        assert_eq!(
            stock.reserve(&rules(1), &session("t"), &book("nope")),
            Err(ShopError::UnknownBook)
        );
        assert_eq!(stock.return_copy(&session("s"), &book("b")), Ok(0));
        assert_eq!(
            stock.return_copy(&session("s"), &book("b")),
            Err(ShopError::NotHeld)
        );
        let writes = stock.writes();
        assert_eq!(writes.ended, vec![("book:s".to_string(), "b".to_string())]);
        assert_eq!(writes.available, vec![("b".to_string(), 1)]);
    }

    #[test]
    fn a_run_writes_only_what_changed() {
        let mut stock = RunStock::new(
            vec![("b".into(), 5)],
            vec![("book:s".into(), "b".into(), 1)],
        );
        stock.return_copy(&session("s"), &book("b")).unwrap();
        stock.reserve(&rules(1), &session("s"), &book("b")).unwrap();
        let writes = stock.writes();
        assert!(writes.available.is_empty(), "back where it started");
        assert_eq!(
            writes.holds,
            vec![("book:s".to_string(), "b".to_string(), 1)],
            "renewed by the reserve"
        );
        assert!(
            writes.renewed.is_empty(),
            "book sessions renew only the hold they touch"
        );
    }

    proptest::proptest! {
        /// Random runs of reserves and returns by a few shoppers (web and
        /// Burt's sessions) on a few books, against a plain model: each
        /// step gives the model's answer, a refused step changes nothing,
        /// available never drops below 0, and available + held is what the
        /// stock started with; the writes, applied to what was loaded, give
        /// the model's final state.
        #[test]
        fn reserves_and_returns_follow_the_model(
            start in proptest::collection::vec(0i64..4, 3),
            steps in proptest::collection::vec((0usize..4, 0usize..3, proptest::bool::ANY), 1..80),
            limit in 1u32..3,
            max_books in 1u32..3,
        ) {
            use std::collections::BTreeMap as Map;
            let rules = Rules { max_books_per_cart: max_books, ..rules(limit) };
            let shoppers = [
                Shopper::Web(ShopperId::new_random()),
                Shopper::Web(ShopperId::new_random()),
                session("s1"),
                session("s2"),
            ];
            let books = ["b0", "b1", "b2"];
            let mut stock = RunStock::new(
                books.iter().zip(&start).map(|(b, n)| (b.to_string(), *n)).collect(),
                vec![],
            );
            let mut available: Map<usize, i64> = start.iter().copied().enumerate().collect();
            let mut held: Map<(usize, usize), u32> = Map::new();
            for (who, which, reserve) in steps {
                let shopper = &shoppers[who];
                let book = book(books[which]);
                let mine = held.get(&(who, which)).copied().unwrap_or(0);
                let books_held = held.iter().filter(|((w, _), n)| *w == who && **n > 0).count() as u32;
                let (expected, got) = if reserve {
                    let expected = if mine >= rules.copies_allowed(shopper) {
                        Err(ShopError::LimitReached(rules.copies_allowed(shopper)))
                    } else if mine == 0 && books_held >= rules.max_books_per_cart {
                        Err(ShopError::CartFull(rules.max_books_per_cart))
                    } else if available[&which] <= 0 {
                        Err(ShopError::SoldOut)
                    } else {
                        Ok(mine + 1)
                    };
                    (expected, stock.reserve(&rules, shopper, &book))
                } else {
                    let expected = if mine == 0 { Err(ShopError::NotHeld) } else { Ok(mine - 1) };
                    (expected, stock.return_copy(shopper, &book))
                };
                proptest::prop_assert_eq!(&got, &expected);
                if let Ok(now) = got {
                    let delta = i64::from(now) - i64::from(mine);
                    *available.get_mut(&which).unwrap() -= delta;
                    held.insert((who, which), now);
                }
                for (which, n) in &available {
                    proptest::prop_assert!(*n >= 0);
                    let holding: u32 = held.iter().filter(|((_, b), _)| b == which).map(|(_, n)| *n).sum();
                    proptest::prop_assert_eq!(*n + i64::from(holding), start[*which]);
                }
            }
            // What would be written back takes the loaded stock to the model's.
            let writes = stock.writes();
            for (which, name) in books.iter().enumerate() {
                let delta = writes.available.iter().find(|(b, _)| b == name).map_or(0, |(_, d)| *d);
                proptest::prop_assert_eq!(start[which] + delta, available[&which]);
            }
            for ((who, which), n) in &held {
                let key = (shoppers[*who].key(), books[*which].to_string());
                let written = writes.holds.iter().find(|(s, b, _)| (s, b) == (&key.0, &key.1)).map(|(_, _, c)| *c);
                let ended = writes.ended.contains(&key);
                if *n > 0 {
                    proptest::prop_assert_eq!(written, Some(*n));
                } else {
                    proptest::prop_assert!(written.is_none() && !ended, "never held before this run");
                }
            }
        }
    }
}
