//! Staff accounts: argon2id password hashes, sign-in with rate limits,
//! signed-in sessions carried by an HttpOnly, SameSite=Strict cookie, and
//! what each role may do (`StaffRole::may`).
//!
//! Verifying a password costs tens of milliseconds of CPU, so it runs on
//! tokio's blocking pool behind a semaphore (`sign_in_concurrency`, by
//! default the cores less one, left to the event loop): a burst of sign-ins queues there and
//! never holds up a live update.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::server::clock::now_ms;
use crate::server::network::address_group;
use crate::server::store::{Store, StoreError};
use crate::server::writer::{SessionChange, SessionWriter};
use crate::shared::ShopError;

/// How long a staff session lasts.
pub const SESSION_HOURS: i64 = 12;
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("a staff name is 1 to 64 lowercase letters, digits and . _ -")]
    BadName,
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("a staff role is owner or clerk")]
    BadRole,
    #[error("wrong name or password")]
    WrongPassword,
    #[error("too many failed sign-ins; try again later")]
    TooManyAttempts,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the session could not be saved: {0}")]
    Session(#[from] ShopError),
}

/// A staff member's name, as they sign in with it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StaffName(String);

impl StaffName {
    pub fn parse(raw: &str) -> Result<StaffName, StaffError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(StaffName(raw.to_string()))
        } else {
            Err(StaffError::BadName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a staff account may do. An owner: everything. A clerk: the stock
/// (restock, set a total) and the staff pages, but no prices, no new books,
/// no orders and no lines (a launch is the owner's call: it decides who gets the
/// copies). New staff accounts are made on the command line, by whoever
/// runs the shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StaffRole {
    Owner,
    Clerk,
}

/// The staff pages' changes, each allowed to a role or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffAction {
    Restock,
    SetTotal,
    SetPrice,
    AddBook,
    Launch,
    EndLine,
    /// Read the orders (`/admin/orders`, `/admin/orders.csv`): their
    /// totals and what each bought.
    SeeOrders,
}

impl StaffRole {
    pub fn parse(raw: &str) -> Result<StaffRole, StaffError> {
        match raw {
            "owner" => Ok(StaffRole::Owner),
            "clerk" => Ok(StaffRole::Clerk),
            _ => Err(StaffError::BadRole),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Owner => "owner",
            StaffRole::Clerk => "clerk",
        }
    }

    /// Whether this role may make `action`: the one place it is decided.
    pub fn may(self, action: StaffAction) -> bool {
        match self {
            StaffRole::Owner => true,
            StaffRole::Clerk => matches!(action, StaffAction::Restock | StaffAction::SetTotal),
        }
    }
}

/// A signed-in staff member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffMember {
    pub name: StaffName,
    pub role: StaffRole,
}

/// Hashes a new password with argon2id (the crate's default parameters).
pub fn hash_password(password: &str) -> Result<String, StaffError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StaffError::WeakPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| StaffError::Hashing(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Lowers this (blocking-pool) thread's scheduling priority, once: when every
/// core is busy hashing, the event loop still gets the CPU at once and live
/// updates go out on time (seen on one core: see the benchmark's sign-in case).
fn yield_to_live_updates() {
    thread_local! {
        static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if LOWERED.get() {
        return;
    }
    LOWERED.set(true);
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; on Linux,
    // PRIO_PROCESS with 0 names the calling thread alone.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// A hash of nothing anyone knows, verified against for unknown names so a
/// wrong name costs as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no staff member has this password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Adds a staff member, or sets a new password (and, if given, a new role)
/// for one. A new account without a role is an owner.
pub async fn put_staff(
    store: &Store,
    name: &StaffName,
    password: &str,
    role: Option<StaffRole>,
) -> Result<(), StaffError> {
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StaffError::Hashing(e.to_string()))??;
    store
        .put_staff(name.as_str(), &hash, role.map(StaffRole::as_str), now_ms())
        .await?;
    Ok(())
}

/// A staff session's secret, as the cookie carries it.
pub struct SessionToken(String);

impl SessionToken {
    fn new() -> SessionToken {
        SessionToken(format!("{:032x}", rand::random::<u128>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn stored_hash(token: &str) -> String {
        format!("{:x}", Sha256::digest(token.as_bytes()))
    }
}

/// Signing staff in and recognising them afterwards.
#[derive(Clone)]
pub struct StaffDesk {
    store: Store,
    /// Session writes go through the database's one writer.
    sessions: SessionWriter,
    verifying: Arc<Semaphore>,
    /// Sign-ins waiting for a verification slot.
    waiting: Arc<AtomicUsize>,
    failures: Arc<Mutex<FailedSignIns>>,
}

impl StaffDesk {
    /// `concurrency`: verifications run at once (the setting
    /// `sign_in_concurrency`; by default one core is left to the event loop).
    pub fn new(store: Store, sessions: SessionWriter, concurrency: usize) -> StaffDesk {
        StaffDesk {
            store,
            sessions,
            verifying: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: Arc::default(),
            failures: Arc::new(Mutex::new(FailedSignIns::default())),
        }
    }

    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        from: IpAddr,
    ) -> Result<SessionToken, StaffError> {
        let name = StaffName::parse(name).map_err(|_| StaffError::WrongPassword)?;
        // The attempt counts as a failure from the moment it is let in, so
        // guesses sent all at once are held to the same limit as guesses
        // sent one by one; a right password takes its count back.
        if !self.lock_failures().admit(&name, from, Instant::now()) {
            return Err(StaffError::TooManyAttempts);
        }
        let verified = self.verify(&name, password).await;
        match verified {
            Ok(true) => self.lock_failures().forgive(&name, from),
            Ok(false) => {
                // The wait before the next try runs from this answer, not
                // from when the guess came in (a verification takes time).
                self.lock_failures().answered(&name, from, Instant::now());
                return Err(StaffError::WrongPassword);
            }
            Err(e) => {
                // Not verified at all (too many waiting): not a guess.
                self.lock_failures().forgive(&name, from);
                return Err(e);
            }
        }
        let token = SessionToken::new();
        let expires = now_ms() + SESSION_HOURS * 3_600_000;
        self.sessions
            .write(SessionChange::Open {
                token_hash: SessionToken::stored_hash(token.as_str()),
                staff: name.as_str().to_string(),
                expires_at: expires,
            })
            .await?;
        Ok(token)
    }

    /// Whether `password` is the account's (a decoy hash is verified for an
    /// unknown name, so both take the same time). At most `concurrency`
    /// verifications run; past `MAX_WAITING` more waiting, an attempt is
    /// refused at once instead of queueing without bound.
    async fn verify(&self, name: &StaffName, password: &str) -> Result<bool, StaffError> {
        const MAX_WAITING: usize = 32;
        let hash = self.store.staff_password_hash(name.as_str()).await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| decoy_hash().to_string());
        let password = password.to_string();
        /// Uncounts a waiting sign-in however its wait ends (the client
        /// may go away while it waits).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let waiting = Waiting(&self.waiting);
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            return Err(StaffError::TooManyAttempts);
        }
        let permit = self.verifying.acquire().await;
        drop(waiting);
        let permit = permit.map_err(|e| StaffError::Hashing(e.to_string()))?;
        let matches = tokio::task::spawn_blocking(move || {
            yield_to_live_updates();
            verify_password(&password, &hash)
        })
        .await
        .map_err(|e| StaffError::Hashing(e.to_string()))?;
        drop(permit);
        Ok(known && matches)
    }

    /// The staff member signed in with this token, if the session is live.
    pub async fn who(&self, token: &str) -> Result<Option<StaffMember>, StaffError> {
        let found = self
            .store
            .staff_of_session(&SessionToken::stored_hash(token), now_ms())
            .await?;
        found
            .map(|(name, role)| {
                // The table's CHECK allows only the two roles; anything else
                // is a damaged row, refused rather than read as a clerk.
                let role = StaffRole::parse(&role)
                    .map_err(|_| StoreError::Corrupt(format!("staff role {role:?}")))?;
                Ok(StaffMember {
                    name: StaffName(name),
                    role,
                })
            })
            .transpose()
    }

    pub async fn sign_out(&self, token: &str) -> Result<(), StaffError> {
        Ok(self
            .sessions
            .write(SessionChange::Close {
                token_hash: SessionToken::stored_hash(token),
            })
            .await?)
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, FailedSignIns> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Recent failed sign-ins, per (account, address) and per address, in a
/// sliding window. Past the free tries an attempt is not refused for good:
/// it must wait a delay that doubles with each further failure (1 s, 2 s,
/// 4 s … at most `MAX_WAIT`). Counting per (account, address) means nobody
/// can lock staff out from elsewhere: guesses from one address slow only
/// that address down. Addresses are counted as the limits count them (an
/// IPv6 /64; behind a trusted proxy, the client it forwards for).
#[derive(Default)]
struct FailedSignIns {
    by_pair: HashMap<(StaffName, IpAddr), VecDeque<Instant>>,
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
}

impl FailedSignIns {
    const WINDOW: Duration = Duration::from_secs(15 * 60);
    /// Failures of one account from one address before attempts slow down.
    const PER_PAIR: usize = 5;
    /// Failures from one address, over all accounts, before they slow down.
    const PER_ADDRESS: usize = 20;
    /// The longest wait between two attempts once slowed down.
    const MAX_WAIT: Duration = Duration::from_secs(5 * 60);
    /// Keys tracked at most in each table; beyond it the oldest go.
    const TRACKED: usize = 10_000;

    fn refuses(&mut self, name: &StaffName, from: IpAddr, now: Instant) -> bool {
        let from = address_group(from);
        let pair = (name.clone(), from);
        slowed(self.by_pair.get_mut(&pair), Self::PER_PAIR, now)
            || slowed(self.by_address.get_mut(&from), Self::PER_ADDRESS, now)
    }

    /// Lets an attempt in and counts it, or refuses it: one step under the
    /// lock, so attempts in flight are counted before any is verified.
    fn admit(&mut self, name: &StaffName, from: IpAddr, now: Instant) -> bool {
        if self.refuses(name, from, now) {
            return false;
        }
        self.record(name, from, now);
        true
    }

    fn record(&mut self, name: &StaffName, from: IpAddr, now: Instant) {
        let from = address_group(from);
        let pair = (name.clone(), from);
        make_room(&mut self.by_pair, &pair, now);
        make_room(&mut self.by_address, &from, now);
        self.by_pair.entry(pair).or_default().push_back(now);
        self.by_address.entry(from).or_default().push_back(now);
    }

    /// A wrong password was answered: its failure counts from now.
    fn answered(&mut self, name: &StaffName, from: IpAddr, now: Instant) {
        let from = address_group(from);
        for last in [
            self.by_pair.get_mut(&(name.clone(), from)),
            self.by_address.get_mut(&from),
        ]
        .into_iter()
        .flatten()
        .filter_map(|times| times.back_mut())
        {
            *last = (*last).max(now);
        }
    }

    /// A right password: this address's failures on the account are
    /// forgotten, and the address gets back the count of this attempt.
    fn forgive(&mut self, name: &StaffName, from: IpAddr) {
        let from = address_group(from);
        self.by_pair.remove(&(name.clone(), from));
        if let Some(times) = self.by_address.get_mut(&from) {
            times.pop_back();
        }
    }
}

/// Whether the next attempt must still wait: after `free` recent failures,
/// the k-th further one waits 2^k seconds (at most `MAX_WAIT`) after the
/// last.
fn slowed(times: Option<&mut VecDeque<Instant>>, free: usize, now: Instant) -> bool {
    let Some(times) = times else { return false };
    let count = recent(Some(times), now);
    if count < free {
        return false;
    }
    let Some(last) = times.back() else {
        return false;
    };
    let doublings = u32::try_from(count - free).unwrap_or(u32::MAX).min(16);
    let wait = Duration::from_secs(1u64 << doublings).min(FailedSignIns::MAX_WAIT);
    now.saturating_duration_since(*last) < wait
}

/// Keeps a table of failures within `TRACKED` keys: when a new key would
/// not fit, the ones with nothing recent go, and if it is still full, the
/// one whose last failure is oldest. A full table never stops counting.
fn make_room<K: std::hash::Hash + Eq + Clone>(
    table: &mut HashMap<K, VecDeque<Instant>>,
    key: &K,
    now: Instant,
) {
    if table.len() < FailedSignIns::TRACKED || table.contains_key(key) {
        return;
    }
    table.retain(|_, times| recent(Some(times), now) > 0);
    if table.len() >= FailedSignIns::TRACKED {
        let oldest = table
            .iter()
            .min_by_key(|(_, times)| times.back().copied())
            .map(|(k, _)| k.clone());
        if let Some(oldest) = oldest {
            table.remove(&oldest);
        }
    }
}

/// Failures still inside the window (older ones are dropped).
fn recent(times: Option<&mut VecDeque<Instant>>, now: Instant) -> usize {
    let Some(times) = times else { return 0 };
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= FailedSignIns::WINDOW)
    {
        times.pop_front();
    }
    times.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(matches!(
            hash_password("short"),
            Err(StaffError::WeakPassword)
        ));
    }

    /// The whole table of who may do what: an owner everything, a clerk the
    /// stock alone.
    #[test]
    fn a_clerk_may_change_the_stock_and_nothing_else() {
        use StaffAction::*;
        let clerk_may = [Restock, SetTotal];
        for action in [
            Restock, SetTotal, SetPrice, AddBook, Launch, EndLine, SeeOrders,
        ] {
            assert!(StaffRole::Owner.may(action), "an owner may {action:?}");
            assert_eq!(
                StaffRole::Clerk.may(action),
                clerk_may.contains(&action),
                "a clerk and {action:?}"
            );
        }
        for role in [StaffRole::Owner, StaffRole::Clerk] {
            assert_eq!(StaffRole::parse(role.as_str()).unwrap(), role);
        }
        for bad in ["", "Owner", "admin", "clerk "] {
            assert!(
                matches!(StaffRole::parse(bad), Err(StaffError::BadRole)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn staff_names_are_checked() {
        assert!(StaffName::parse("burt").is_ok());
        assert!(StaffName::parse("").is_err());
        assert!(StaffName::parse("Burt").is_err());
        assert!(StaffName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn failures_slow_one_address_down_and_lock_nobody_out() {
        let mut failures = FailedSignIns::default();
        let burt = StaffName::parse("burt").unwrap();
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        let office: IpAddr = "198.51.100.4".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FailedSignIns::PER_PAIR {
            assert!(failures.admit(&burt, attacker, now));
        }
        assert!(failures.refuses(&burt, attacker, now), "slowed down");
        assert!(
            !failures.refuses(&burt, office, now),
            "the account is not locked for anyone else"
        );
        // The first wait is a second, then it doubles.
        let t1 = now + Duration::from_millis(1001);
        assert!(failures.admit(&burt, attacker, t1));
        assert!(failures.refuses(&burt, attacker, t1 + Duration::from_millis(1500)));
        let t2 = t1 + Duration::from_millis(2001);
        assert!(failures.admit(&burt, attacker, t2));
        assert!(failures.refuses(&burt, attacker, t2 + Duration::from_millis(3500)));
        assert!(!failures.refuses(&burt, attacker, t2 + Duration::from_millis(4001)));
        // Never more than MAX_WAIT, however many failures.
        let mut t = t2;
        for _ in 0..30 {
            t += FailedSignIns::MAX_WAIT;
            assert!(failures.admit(&burt, attacker, t), "at most MAX_WAIT apart");
        }
        let later = t + FailedSignIns::WINDOW;
        assert!(
            !failures.refuses(&burt, attacker, later),
            "the window passes"
        );

        // One address guessing many accounts is slowed as well.
        let elsewhere: IpAddr = "10.0.0.9".parse().unwrap();
        for i in 0..FailedSignIns::PER_ADDRESS {
            let name = StaffName::parse(&format!("guess{i}")).unwrap();
            failures.record(&name, elsewhere, now);
        }
        let fresh = StaffName::parse("fresh").unwrap();
        assert!(
            failures.refuses(&fresh, elsewhere, now),
            "the address is slowed"
        );
        assert!(!failures.refuses(&fresh, office, now));
        // An IPv6 client is one /64, whichever address of it it uses.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        for i in 0..FailedSignIns::PER_PAIR {
            let from = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 2]);
            assert!(failures.admit(&burt, from, now));
        }
        assert!(failures.refuses(&burt, v6a, now));
    }

    /// The README's figures, written out rather than read from the
    /// constants: failures count for 15 minutes, and however many there
    /// are, the next try waits at most 5 minutes. Time is passed in, so
    /// the test moves the clock.
    #[test]
    fn failures_age_out_after_fifteen_minutes_and_waits_stop_at_five() {
        let burt = StaffName::parse("burt").unwrap();
        let from: IpAddr = "203.0.113.9".parse().unwrap();
        let secs = |s: f64| Duration::from_secs_f64(s);
        // The five free tries, all failed at `at`.
        let five_failures_at = |at: Instant| {
            let mut failures = FailedSignIns::default();
            for _ in 0..5 {
                assert!(failures.admit(&burt, from, at));
            }
            failures
        };

        // Five failures at t0, a sixth just before they age out: its wait
        // is 2 s, and t0's five still count half a second before 15 min.
        let t0 = Instant::now();
        let mut failures = five_failures_at(t0);
        assert!(failures.admit(&burt, from, t0 + secs(898.0)));
        assert!(
            failures.refuses(&burt, from, t0 + secs(899.5)),
            "six failures within 15 minutes: the next waits 2 s"
        );
        // The same, the sixth a second later: at 900.5 s t0's five are gone,
        // one failure is left, and the next try goes through.
        let mut failures = five_failures_at(t0);
        assert!(failures.admit(&burt, from, t0 + secs(899.0)));
        assert!(
            !failures.refuses(&burt, from, t0 + secs(900.5)),
            "failures older than 15 minutes no longer count"
        );

        // Waits of 1, 2, 4 … 256 s, all inside the window: the next would
        // be 512 s, and is 5 minutes.
        let mut failures = five_failures_at(t0);
        let mut last = t0;
        for doubling in 0..9 {
            last += secs(f64::from(1u32 << doubling));
            assert!(
                failures.admit(&burt, from, last),
                "after {doubling} doublings"
            );
        }
        assert!(failures.refuses(&burt, from, last + secs(299.5)));
        assert!(
            !failures.refuses(&burt, from, last + secs(300.0)),
            "at most 5 minutes between two tries"
        );
    }

    #[test]
    fn a_full_table_still_counts_new_accounts() {
        let mut failures = FailedSignIns::default();
        let now = Instant::now();
        for i in 0..FailedSignIns::TRACKED {
            let name = StaffName::parse(&format!("filler{i}")).unwrap();
            let from = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            failures.record(&name, from, now);
        }
        let burt = StaffName::parse("burt").unwrap();
        let home: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FailedSignIns::PER_PAIR {
            assert!(failures.admit(&burt, home, now + Duration::from_secs(1)));
        }
        assert!(
            failures.refuses(&burt, home, now + Duration::from_secs(1)),
            "counted although the table was full"
        );
        assert!(failures.by_pair.len() <= FailedSignIns::TRACKED);
    }
}
