//! How fast one address may take new holds. Fresh cookies are free, so a
//! cap per cart alone does not stop one client from holding a book's every
//! copy with many carts; a token bucket per address (IPv6: per /64) does:
//! a burst of `per_minute`, then `per_minute` a minute. A refused reserve is
//! answered 429 before the inventory is asked, so it changes nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::server::network::address_group;
use crate::shared::ShopError;

/// Addresses remembered at most; a full table first forgets the buckets
/// that have refilled (they would start full anyway).
const TRACKED: usize = 100_000;

pub struct HoldRate {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl HoldRate {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32) -> HoldRate {
        HoldRate {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    /// Takes one new hold's token for `from` now, or refuses with 429.
    pub fn take(&self, from: IpAddr) -> Result<(), ShopError> {
        if self.admit(from, Instant::now()) {
            Ok(())
        } else {
            Err(ShopError::ReservingTooFast)
        }
    }

    /// Takes one new hold's token for `from`, or refuses.
    pub fn admit(&self, from: IpAddr, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let capacity = f64::from(self.per_minute);
        let refill = |b: &Bucket| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            (b.tokens + elapsed * capacity / 60.0).min(capacity)
        };
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let group = address_group(from);
        if buckets.len() >= TRACKED && !buckets.contains_key(&group) {
            buckets.retain(|_, b| refill(b) < capacity);
            if buckets.len() >= TRACKED / 2 {
                // Every bucket is in use: start over rather than sweep the
                // table on each new address (what an attacker would want).
                buckets.clear();
            }
        }
        let bucket = buckets.entry(group).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let tokens = refill(bucket);
        if tokens < 1.0 {
            bucket.tokens = tokens;
            bucket.at = now;
            return false;
        }
        bucket.tokens = tokens - 1.0;
        bucket.at = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_address_gets_its_burst_then_its_rate() {
        let rate = HoldRate::new(6);
        let now = Instant::now();
        let a: IpAddr = "203.0.113.5".parse().unwrap();
        for _ in 0..6 {
            assert!(rate.admit(a, now));
        }
        assert!(!rate.admit(a, now), "the burst is spent");
        assert!(
            rate.admit("203.0.113.6".parse().unwrap(), now),
            "others are not"
        );
        // Six a minute: one every ten seconds.
        assert!(!rate.admit(a, now + Duration::from_secs(9)));
        assert!(rate.admit(a, now + Duration::from_secs(11)));
        assert!(!rate.admit(a, now + Duration::from_secs(12)));
        assert!(HoldRate::new(0).admit(a, now), "0 is off");
    }

    fn address(i: usize) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32))
    }

    fn tracked(rate: &HoldRate) -> usize {
        rate.buckets.lock().unwrap().len()
    }

    #[test]
    fn a_table_that_is_not_full_keeps_every_bucket() {
        // A sweep on every new address is what an attacker would want.
        let rate = HoldRate::new(6);
        let now = Instant::now();
        for i in 0..10 {
            assert!(rate.admit(address(i), now));
        }
        let later = now + Duration::from_secs(60);
        assert!(rate.admit(address(10), later));
        assert_eq!(
            tracked(&rate),
            11,
            "refilled buckets stay until the table is full"
        );
    }

    #[test]
    fn a_full_table_forgets_refilled_buckets_and_keeps_spent_ones() {
        let rate = HoldRate::new(6);
        let now = Instant::now();
        for i in 0..TRACKED - 1 {
            assert!(rate.admit(address(i), now));
        }
        // A minute on, those have refilled; one address spends its burst.
        let later = now + Duration::from_secs(60);
        let busy: IpAddr = "203.0.113.5".parse().unwrap();
        for _ in 0..6 {
            assert!(rate.admit(busy, later));
        }
        assert_eq!(tracked(&rate), TRACKED);
        // A newcomer finds the table full: the refilled are forgotten, the
        // spent bucket is kept, so its owner is still refused.
        assert!(rate.admit("198.51.100.7".parse().unwrap(), later));
        assert_eq!(tracked(&rate), 2);
        assert!(
            !rate.admit(busy, later),
            "a spent bucket survives the sweep"
        );
    }
}
