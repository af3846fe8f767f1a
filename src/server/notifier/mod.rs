//! The notifier: the newest version of the stock, what each version
//! changed, and every book's count, for every subscriber (pages, sockets,
//! long polls, Burt's protocol).
//!
//! Latest-value semantics, and a cost per change that does not grow with
//! the catalog: each version's change (only the books that moved) is
//! serialized once, and every subscriber that holds the version before it
//! shares that one buffer. A subscriber that fell behind (or resumes from an
//! older version) gets a catch-up computed for it from the counts held here,
//! through an index of the books by the version they last changed at.
//! Nothing is queued per subscriber: what it needs is one version number.
//!
//! Quiet changes are paced. A change that only moves how many wait in a
//! line (a burst of joins before a launch: hundreds a second, each its own
//! version) tells no page anything it must act on, yet each would wake every
//! subscriber. Such a change is published at once when nothing was published
//! in the last [`QUIET_PACE`], else merged into the next publication, which
//! comes at most that much later (or with the next change that matters,
//! whichever is first). Counts, turns, offers and openings are never held.

mod featured;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use featured::FeaturedCount;

use crate::shared::lines::{LineState, LineStatus};
use crate::shared::stock::StockSnapshot;

/// At most one publication of quiet changes per this long: four a second,
/// so a page's "312 waiting" still moves while it watches.
pub const QUIET_PACE: Duration = Duration::from_millis(250);

/// A node with many pages open publishes quiet changes less often: each
/// publication is a send to every page, and at 16,000 pages four a second
/// would be 64,000 sends a second that tell nobody anything to act on (on
/// this machine's server core, six such nodes could then take only a few
/// joins a second). The pace is stretched so quiet publications cost at
/// most this many sends a second, and never beyond [`QUIET_PACE_MOST`].
const QUIET_SENDS_PER_SECOND: u32 = 5_000;
const QUIET_PACE_MOST: Duration = Duration::from_secs(5);

/// The pace of quiet publications for a node with `subscribers` open.
pub fn quiet_pace(subscribers: usize) -> Duration {
    let subscribers = u32::try_from(subscribers).unwrap_or(u32::MAX);
    (Duration::from_secs(1) * subscribers / QUIET_SENDS_PER_SECOND)
        .clamp(QUIET_PACE, QUIET_PACE_MOST)
}

/// One version of the stock: what it changed, ready to send.
#[derive(Debug)]
pub struct Published {
    /// The books whose counts moved at this version, `since` the one before
    /// (the first version held is whole: `since` unset).
    pub change: StockSnapshot,
    /// `change` as JSON, serialized once for every subscriber.
    pub json: Utf8Bytes,
    /// The same as one Server-Sent Event: `id: <version>` and the JSON.
    pub sse_event: Bytes,
    /// The featured book as Burt's protocol reports it, worked
    /// out once per version like the rest.
    pub featured: FeaturedCount,
}

impl Published {
    pub fn version(&self) -> u64 {
        self.change.version
    }
}

/// What one subscriber is sent next. Every transport sends these, each in
/// its own framing, so each message is serialized here and only here.
pub enum Message {
    /// The newest version's change, shared by everyone who follows on.
    Shared(Arc<Published>),
    /// Everything a subscriber that fell behind has missed, made for it.
    CatchUp(StockSnapshot, Utf8Bytes),
    /// The whole stock at a version, for a subscriber that names none.
    Whole(u64, Utf8Bytes),
}

impl Message {
    pub fn version(&self) -> u64 {
        match self {
            Message::Shared(published) => published.version(),
            Message::CatchUp(snapshot, _) => snapshot.version,
            Message::Whole(version, _) => *version,
        }
    }

    pub fn json(&self) -> Utf8Bytes {
        match self {
            Message::Shared(published) => published.json.clone(),
            Message::CatchUp(_, json) | Message::Whole(_, json) => json.clone(),
        }
    }

    /// The message as one Server-Sent Event.
    pub fn sse_event(&self) -> Bytes {
        match self {
            Message::Shared(published) => published.sse_event.clone(),
            Message::CatchUp(_, json) | Message::Whole(_, json) => sse_event(self.version(), json),
        }
    }
}

/// Every book's count, and when it last changed.
struct Counts {
    version: u64,
    catalog_version: u64,
    /// Book → (available, version at which it last changed).
    books: BTreeMap<String, (u32, u64)>,
    /// (version, book), so "changed after V" is a range.
    by_change: BTreeSet<(u64, String)>,
    /// Each book's line, as of the version its count last changed at (a line
    /// changes only in a commit that touches its book). Ended lines stay,
    /// so a catch-up tells a page that held one that it is over.
    lines: BTreeMap<String, LineState>,
    /// The whole stock as JSON, made on demand once per version.
    whole: Option<(u64, Utf8Bytes)>,
    /// The version subscribers were last woken for; below `version` while
    /// quiet changes wait to be published.
    published: u64,
    /// When subscribers were last woken.
    published_at: Instant,
    /// Whether a task will publish the quiet changes held back.
    flush_due: bool,
}

impl Counts {
    fn catch_up(&self, since: u64) -> StockSnapshot {
        let stock = self
            .by_change
            .range((since.saturating_add(1), String::new())..)
            .filter_map(|(_, book)| Some((book.clone(), self.books.get(book)?.0)))
            .collect::<BTreeMap<_, _>>();
        let lines = stock
            .keys()
            .filter_map(|book| Some((book.clone(), *self.lines.get(book)?)))
            .collect();
        StockSnapshot {
            version: self.version,
            since: Some(since.min(self.version)),
            catalog_version: self.catalog_version,
            stock,
            lines,
        }
    }

    /// Whether `book` at `count` with `line` differs from what is held
    /// only in how many wait in its line (which no page acts on).
    fn only_waiting_moved(&self, book: &str, count: u32, line: Option<&LineState>) -> bool {
        let (Some((held, _)), Some(held_line), Some(line)) =
            (self.books.get(book), self.lines.get(book), line)
        else {
            return false;
        };
        *held == count
            && LineState {
                waiting: line.waiting,
                ..*held_line
            } == *line
    }

    fn whole(&self) -> StockSnapshot {
        StockSnapshot {
            version: self.version,
            since: None,
            catalog_version: self.catalog_version,
            stock: self
                .books
                .iter()
                .map(|(book, (count, _))| (book.clone(), *count))
                .collect(),
            lines: self.live_lines(self.lines.keys()),
        }
    }

    /// The lines of `books` that are not over.
    fn live_lines<'a>(
        &self,
        books: impl IntoIterator<Item = &'a String>,
    ) -> BTreeMap<String, LineState> {
        books
            .into_iter()
            .filter_map(|book| Some((book.clone(), *self.lines.get(book)?)))
            .filter(|(_, line)| line.state != LineStatus::Ended)
            .collect()
    }
}

#[derive(Clone)]
pub struct Notifier {
    latest: Arc<watch::Sender<Arc<Published>>>,
    counts: Arc<Mutex<Counts>>,
    featured_book: Arc<str>,
}

impl Notifier {
    /// Starts from the whole stock as it stands.
    pub fn new(mut first: StockSnapshot, featured_book: &str) -> Notifier {
        let version = first.version;
        let books: BTreeMap<String, (u32, u64)> = first
            .stock
            .iter()
            .map(|(book, count)| (book.clone(), (*count, version)))
            .collect();
        let counts = Counts {
            version,
            catalog_version: first.catalog_version,
            by_change: books.keys().map(|b| (version, b.clone())).collect(),
            books,
            lines: first.lines.clone(),
            whole: None,
            published: version,
            published_at: Instant::now(),
            flush_due: false,
        };
        first
            .lines
            .retain(|_, line| line.state != LineStatus::Ended);
        let featured = FeaturedCount::of(&first, featured_book, None);
        let published = published(first, featured);
        let (latest, _) = watch::channel(Arc::new(published));
        Notifier {
            latest: Arc::new(latest),
            counts: Arc::new(Mutex::new(counts)),
            featured_book: Arc::from(featured_book),
        }
    }

    fn locked(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest version subscribers were woken for.
    pub fn latest(&self) -> Arc<Published> {
        self.latest.borrow().clone()
    }

    /// The newest version applied here: what reads (counts, catch-ups) are
    /// at, and what the next change must follow on from. It runs ahead of
    /// `latest()` while quiet changes wait to be published.
    pub fn version(&self) -> u64 {
        self.locked().version
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.latest.subscribe()
    }

    /// The whole stock at the newest version.
    pub fn whole(&self) -> StockSnapshot {
        self.locked().whole()
    }

    /// The whole stock at the newest version as JSON (for tools and clients
    /// that ask without a version), serialized once per version.
    pub fn whole_json(&self) -> Utf8Bytes {
        self.whole_at().1
    }

    /// The newest version and the whole stock at it, read under one lock.
    fn whole_at(&self) -> (u64, Utf8Bytes) {
        let mut counts = self.locked();
        let json = match &counts.whole {
            Some((version, json)) if *version == counts.version => json.clone(),
            _ => {
                let json = Utf8Bytes::from(to_json(&counts.whole()));
                counts.whole = Some((counts.version, json.clone()));
                json
            }
        };
        (counts.version, json)
    }

    /// The books that changed after `since`, at the newest version.
    pub fn catch_up(&self, since: u64) -> StockSnapshot {
        self.locked().catch_up(since)
    }

    /// What a new subscriber is sent first: what changed after the version
    /// it holds, or without one the whole stock.
    pub fn opening(&self, since: Option<u64>) -> Message {
        match since {
            Some(since) => catch_up_message(self.catch_up(since)),
            None => {
                let (version, json) = self.whole_at();
                Message::Whole(version, json)
            }
        }
    }

    /// The counts of `books` (those that exist) at the newest version.
    pub fn counts<'a>(&self, books: impl IntoIterator<Item = &'a str>) -> StockSnapshot {
        let counts = self.locked();
        let stock: BTreeMap<String, u32> = books
            .into_iter()
            .filter_map(|book| Some((book.to_string(), counts.books.get(book)?.0)))
            .collect();
        StockSnapshot {
            version: counts.version,
            since: None,
            catalog_version: counts.catalog_version,
            lines: counts.live_lines(stock.keys()),
            stock,
        }
    }

    /// Whether any line has a copy offered now (else no shopper can hold one).
    pub fn any_offer_open(&self) -> bool {
        self.locked()
            .lines
            .values()
            .any(|line| line.offers_open > 0)
    }

    /// One book's line at the newest version, while it has one.
    pub fn line(&self, book: &str) -> Option<LineState> {
        let counts = self.locked();
        counts
            .lines
            .get(book)
            .filter(|line| line.state != LineStatus::Ended)
            .copied()
    }

    /// One book's count, with the version and catalog version it is at.
    pub fn count(&self, book: &str) -> (u64, u64, Option<u32>) {
        let counts = self.locked();
        (
            counts.version,
            counts.catalog_version,
            counts.books.get(book).map(|(count, _)| *count),
        )
    }

    /// What a subscriber that holds version `mine` is sent, now that
    /// `latest` is out: the shared change when it follows on from `mine`,
    /// a catch-up of its own when it fell behind, nothing when it is current.
    pub fn next_for(&self, mine: u64, latest: &Arc<Published>) -> Option<Message> {
        if latest.version() <= mine {
            return None;
        }
        if latest.change.since == Some(mine) {
            return Some(Message::Shared(latest.clone()));
        }
        Some(catch_up_message(self.catch_up(mine)))
    }

    /// Waits until the newest version satisfies `wanted`, at most `wait`.
    /// Returns None when the wait runs out or the server shuts down.
    pub async fn wait_for(
        &self,
        mut wanted: impl FnMut(&Published) -> bool,
        wait: Duration,
        shutdown: &CancellationToken,
    ) -> Option<Arc<Published>> {
        let mut updates = self.subscribe();
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            let latest = updates.borrow_and_update().clone();
            if wanted(&latest) {
                return Some(latest);
            }
            tokio::select! {
                changed = updates.changed() => changed.ok()?,
                _ = &mut deadline => return None,
                _ = shutdown.cancelled() => return None,
            }
        }
    }

    /// Makes a commit's change the newest version. `change` carries the new
    /// version and only the books whose counts moved since `after`, the
    /// version this notifier must hold; every other count carries over.
    /// Returns false (and publishes nothing) when it holds another version:
    /// the caller then reads what changed since the version it does hold.
    pub fn apply_change(&self, after: u64, mut change: StockSnapshot) -> bool {
        let mut counts = self.locked();
        if counts.version != after || change.version <= after {
            return false;
        }
        let version = change.version;
        let quiet = change.catalog_version <= counts.catalog_version
            && change.stock.iter().all(|(book, count)| {
                counts.only_waiting_moved(book, *count, change.lines.get(book))
            });
        change.since = Some(after);
        for (book, count) in &change.stock {
            if let Some((_, changed_at)) = counts.books.get(book) {
                let key = (*changed_at, book.clone());
                counts.by_change.remove(&key);
            }
            counts.books.insert(book.clone(), (*count, version));
            counts.by_change.insert((version, book.clone()));
            match change.lines.get(book) {
                Some(line) => counts.lines.insert(book.clone(), *line),
                None => counts.lines.remove(book),
            };
        }
        counts.version = version;
        counts.catalog_version = counts.catalog_version.max(change.catalog_version);
        let pace = quiet_pace(self.latest.receiver_count());
        let paced = quiet && counts.published_at.elapsed() < pace;
        if !paced {
            self.publish(&mut counts, change);
            return true;
        }
        if !counts.flush_due {
            // Without a runtime (a unit test) there is nothing to wait on.
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.publish(&mut counts, change);
                return true;
            };
            counts.flush_due = true;
            let at = tokio::time::Instant::from_std(counts.published_at + pace);
            let notifier = self.clone();
            runtime.spawn(async move {
                tokio::time::sleep_until(at).await;
                notifier.flush();
            });
        }
        true
    }

    /// Publishes the quiet changes held back, if a louder one has not.
    fn flush(&self) {
        let mut counts = self.locked();
        counts.flush_due = false;
        if counts.published < counts.version {
            let change = counts.catch_up(counts.published);
            self.publish(&mut counts, change);
        }
    }

    /// Wakes every subscriber for `change` (the newest version's), merged
    /// with the quiet changes held back since the last publication.
    fn publish(&self, counts: &mut Counts, mut change: StockSnapshot) {
        if change.since != Some(counts.published) {
            change = counts.catch_up(counts.published);
        }
        change.catalog_version = counts.catalog_version;
        let featured = FeaturedCount::of(
            &change,
            &self.featured_book,
            Some(&self.latest.borrow().featured),
        );
        counts.published = change.version;
        counts.published_at = Instant::now();
        // Sent while the counts are held, so a catch-up read meanwhile is
        // never behind the version subscribers are woken for.
        self.latest
            .send_replace(Arc::new(published(change, featured)));
    }
}

fn to_json(snapshot: &StockSnapshot) -> String {
    // Serializing a map of strings to integers cannot fail.
    serde_json::to_string(snapshot).unwrap_or_else(|_| String::from("{}"))
}

fn catch_up_message(catch_up: StockSnapshot) -> Message {
    let json = Utf8Bytes::from(to_json(&catch_up));
    Message::CatchUp(catch_up, json)
}

/// The one place a Server-Sent Event is framed: `id:` is the version.
fn sse_event(version: u64, json: &str) -> Bytes {
    Bytes::from(format!("id: {version}\ndata: {json}\n\n"))
}

fn published(change: StockSnapshot, featured: FeaturedCount) -> Published {
    let json = to_json(&change);
    Published {
        sse_event: sse_event(change.version, &json),
        json: Utf8Bytes::from(json),
        change,
        featured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(version: u64, featured: u32, other: u32) -> StockSnapshot {
        StockSnapshot {
            lines: Default::default(),
            version,
            since: None,
            catalog_version: 1,
            stock: BTreeMap::from([("featured".into(), featured), ("other".into(), other)]),
        }
    }

    fn change(version: u64, book: &str, count: u32) -> StockSnapshot {
        StockSnapshot {
            lines: Default::default(),
            version,
            since: None,
            catalog_version: 1,
            stock: BTreeMap::from([(book.to_string(), count)]),
        }
    }

    #[test]
    fn each_change_is_serialized_once_in_the_public_shape() {
        let notifier = Notifier::new(whole(7, 10, 3), "featured");
        assert_eq!(
            notifier.whole_json().as_str(),
            r#"{"version":7,"catalog_version":1,"stock":{"featured":10,"other":3}}"#
        );
        assert!(notifier.apply_change(7, change(8, "other", 2)));
        let latest = notifier.latest();
        assert_eq!(
            latest.json.as_str(),
            r#"{"version":8,"since":7,"catalog_version":1,"stock":{"other":2}}"#
        );
        assert_eq!(
            &latest.sse_event[..],
            b"id: 8\ndata: {\"version\":8,\"since\":7,\"catalog_version\":1,\"stock\":{\"other\":2}}\n\n"
        );
        assert_eq!(notifier.whole(), {
            let mut w = whole(8, 10, 2);
            w.since = None;
            w
        });
    }

    #[test]
    fn a_change_applies_only_on_the_version_it_was_read_against() {
        let notifier = Notifier::new(whole(7, 10, 3), "featured");
        assert!(!notifier.apply_change(6, change(8, "other", 2)));
        assert!(
            !notifier.apply_change(7, change(7, "other", 2)),
            "not newer"
        );
        assert_eq!(notifier.version(), 7);
        assert!(notifier.apply_change(7, change(9, "other", 2)));
        assert_eq!(notifier.version(), 9);
    }

    #[test]
    fn the_featured_count_changes_only_when_its_book_does() {
        let notifier = Notifier::new(whole(1, 10, 3), "featured");
        notifier.apply_change(1, change(2, "other", 2));
        assert_eq!(notifier.latest().featured.changed_at, 1);
        assert_eq!(notifier.latest().featured.count, 10);
        notifier.apply_change(2, change(3, "featured", 9));
        assert_eq!(notifier.latest().featured.changed_at, 3);
        assert_eq!(
            notifier.latest().featured.json.as_str(),
            r#"{"inventoryCount":"9"}"#
        );
    }

    #[test]
    fn a_subscriber_is_sent_the_shared_change_or_a_catch_up_of_its_own() {
        let notifier = Notifier::new(whole(1, 10, 3), "featured");
        notifier.apply_change(1, change(2, "other", 2));
        notifier.apply_change(2, change(3, "featured", 9));
        notifier.apply_change(3, change(4, "other", 1));
        let latest = notifier.latest();
        assert!(notifier.next_for(4, &latest).is_none(), "current");
        assert!(matches!(
            notifier.next_for(3, &latest),
            Some(Message::Shared(_))
        ));
        let Some(Message::CatchUp(caught_up, json)) = notifier.next_for(2, &latest) else {
            panic!("a catch-up");
        };
        assert_eq!(caught_up.since, Some(2));
        assert_eq!(
            caught_up.stock,
            BTreeMap::from([("featured".into(), 9), ("other".into(), 1)])
        );
        assert_eq!(
            json.as_str(),
            r#"{"version":4,"since":2,"catalog_version":1,"stock":{"featured":9,"other":1}}"#
        );
        assert_eq!(
            notifier.catch_up(3).stock,
            BTreeMap::from([("other".into(), 1)])
        );
        assert!(notifier.catch_up(4).stock.is_empty());
        assert_eq!(notifier.catch_up(9).since, Some(4), "never past the newest");
    }

    proptest::proptest! {
        /// Random changes to a catalog, and subscribers that look only now
        /// and then (skipping random versions): whatever each is sent, in
        /// order, merges into exactly the notifier's stock.
        #[test]
        fn subscribers_that_skip_versions_end_on_the_true_stock(
            changes in proptest::collection::vec(
                proptest::collection::btree_map(0u8..40, 0u32..20, 1..6), 1..60),
            looks in proptest::collection::vec(proptest::collection::vec(proptest::bool::ANY, 60), 1..6),
        ) {
            let first = StockSnapshot {
                lines: Default::default(),
                version: 10,
                since: None,
                catalog_version: 1,
                stock: (0u8..40).map(|b| (format!("b{b}"), 5)).collect(),
            };
            let notifier = Notifier::new(first.clone(), "b0");
            // Each subscriber starts from the first version and holds what it was sent.
            let mut held: Vec<StockSnapshot> = looks.iter().map(|_| first.clone()).collect();
            for (step, moved) in changes.iter().enumerate() {
                let after = notifier.version();
                let change = StockSnapshot {
                    lines: Default::default(),
                    version: after + 1 + (step as u64 % 3),
                    since: None,
                    catalog_version: 1,
                    stock: moved.iter().map(|(b, n)| (format!("b{b}"), *n)).collect(),
                };
                proptest::prop_assert!(notifier.apply_change(after, change));
                let latest = notifier.latest();
                for (subscriber, state) in held.iter_mut().enumerate() {
                    if !looks[subscriber][step] {
                        continue;
                    }
                    if let Some(message) = notifier.next_for(state.version, &latest) {
                        let sent: StockSnapshot = serde_json::from_str(message.json().as_str()).unwrap();
                        proptest::prop_assert_eq!(state.absorb(sent), crate::shared::stock::Absorbed::Applied);
                    }
                }
            }
            // A last look each, then every one holds the notifier's stock.
            let latest = notifier.latest();
            for state in &mut held {
                if let Some(message) = notifier.next_for(state.version, &latest) {
                    let sent: StockSnapshot = serde_json::from_str(message.json().as_str()).unwrap();
                    proptest::prop_assert_eq!(state.absorb(sent), crate::shared::stock::Absorbed::Applied);
                }
                proptest::prop_assert_eq!(&*state, &notifier.whole());
            }
        }
    }

    #[tokio::test]
    async fn waiting_ends_at_the_wanted_version_or_the_deadline() {
        let notifier = Notifier::new(whole(1, 10, 3), "featured");
        let shutdown = CancellationToken::new();
        let now = notifier
            .wait_for(|p| p.version() > 0, Duration::from_secs(5), &shutdown)
            .await;
        assert_eq!(now.map(|p| p.version()), Some(1));
        let none = notifier
            .wait_for(|p| p.version() > 1, Duration::from_millis(50), &shutdown)
            .await;
        assert!(none.is_none());
        let later = {
            let notifier = notifier.clone();
            tokio::spawn(async move {
                let shutdown = CancellationToken::new();
                notifier
                    .wait_for(|p| p.version() > 1, Duration::from_secs(5), &shutdown)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        notifier.apply_change(1, change(2, "featured", 9));
        assert_eq!(later.await.unwrap().map(|p| p.version()), Some(2));
    }

    fn in_line(version: u64, count: u32, serving: u32, waiting: u32) -> StockSnapshot {
        let line = LineState {
            state: LineStatus::Open,
            opens_at: 0,
            serving,
            waiting,
            copies_left: 5,
            offers_open: 1,
        };
        StockSnapshot {
            lines: BTreeMap::from([("b".to_string(), line)]),
            ..change(version, "b", count)
        }
    }

    #[tokio::test]
    async fn joins_in_a_burst_are_published_a_few_times_a_second_and_turns_at_once() {
        let notifier = Notifier::new(in_line(1, 0, 3, 10), "b");
        let mut updates = notifier.subscribe();
        updates.borrow_and_update();
        // Two joins just after the last publication: held back, merged.
        assert!(notifier.apply_change(1, in_line(2, 0, 3, 11)));
        assert!(notifier.apply_change(2, in_line(3, 0, 3, 12)));
        assert_eq!((notifier.latest().version(), notifier.version()), (1, 3));
        assert_eq!(
            notifier.counts(["b"]).lines["b"].waiting,
            12,
            "reads are current"
        );
        tokio::time::timeout(QUIET_PACE * 2, updates.changed())
            .await
            .expect("published within the pace")
            .unwrap();
        let merged = updates.borrow_and_update().clone();
        assert_eq!((merged.version(), merged.change.since), (3, Some(1)));
        assert_eq!(merged.change.lines["b"].waiting, 12);
        // A join right after, then a turn: the turn goes out at once, with
        // the join in it.
        assert!(notifier.apply_change(3, in_line(4, 0, 3, 13)));
        assert_eq!(notifier.latest().version(), 3);
        assert!(notifier.apply_change(4, in_line(5, 0, 4, 12)));
        let turn = notifier.latest();
        assert_eq!((turn.version(), turn.change.since), (5, Some(3)));
        assert_eq!(turn.change.lines["b"].serving, 4);
        assert!(matches!(
            notifier.next_for(3, &turn),
            Some(Message::Shared(_))
        ));
        // A count that moves is never held either.
        assert!(notifier.apply_change(5, in_line(6, 1, 4, 12)));
        assert_eq!(notifier.latest().version(), 6);
        // After a quiet spell, a lone join goes out at once.
        tokio::time::sleep(QUIET_PACE + Duration::from_millis(20)).await;
        assert!(notifier.apply_change(6, in_line(7, 1, 4, 13)));
        assert_eq!(notifier.latest().version(), 7);
    }

    #[test]
    fn the_quiet_pace_stretches_with_the_pages_open() {
        assert_eq!(quiet_pace(0), QUIET_PACE);
        assert_eq!(quiet_pace(1_250), QUIET_PACE);
        assert_eq!(quiet_pace(2_500), Duration::from_millis(500));
        assert_eq!(quiet_pace(16_000), Duration::from_millis(3_200));
        assert_eq!(quiet_pace(25_000), QUIET_PACE_MOST);
        assert_eq!(quiet_pace(usize::MAX), QUIET_PACE_MOST);
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips_to_the_newest() {
        let notifier = Notifier::new(whole(1, 10, 3), "featured");
        let mut rx = notifier.subscribe();
        rx.borrow_and_update();
        for v in 2..=50 {
            notifier.apply_change(v - 1, change(v, "other", (v % 7) as u32));
        }
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow_and_update().version(), 50);
        assert!(!rx.has_changed().unwrap());
    }
}
