//! What each session of Burt's protocol was last told, for clients that
//! keep no cookie (see the folder's notes on `livecart_featured_seen`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;

use crate::server::inventory::shopper::BurtsSession;

/// How long a silent session's last answered version is kept.
pub const FORGET_AFTER: Duration = Duration::from_secs(300);

/// Per session of Burt's protocol, the featured count's version it was
/// last told, for a bounded number of sessions, each forgotten after a while.
/// Only answered polls are recorded (a page view sets the cookie instead),
/// and the silent are swept at most once per `forget_after / 5`: when the
/// memory is full in between, a new session is simply not remembered, so a
/// flood of sessions never makes each request walk the whole memory.
pub struct AnsweredVersions {
    sessions: Mutex<Sessions>,
    /// Sessions remembered at most (about 150 bytes each).
    capacity: usize,
    /// A session silent this long is forgotten: its next poll is a first one.
    forget_after: Duration,
    /// How many sessions are remembered, for `/metrics`.
    remembered: Gauge,
}

struct Sessions {
    by_session: HashMap<BurtsSession, (u64, Instant)>,
    last_sweep: Instant,
    sweeps: u64,
}

impl AnsweredVersions {
    pub fn new(remembered: Gauge) -> AnsweredVersions {
        AnsweredVersions::with_limits(100_000, FORGET_AFTER, remembered)
    }

    pub fn with_limits(
        capacity: usize,
        forget_after: Duration,
        remembered: Gauge,
    ) -> AnsweredVersions {
        AnsweredVersions {
            sessions: Mutex::new(Sessions {
                by_session: HashMap::new(),
                last_sweep: Instant::now(),
                sweeps: 0,
            }),
            capacity,
            forget_after,
            remembered,
        }
    }

    /// Sessions remembered at most, and how long a silent one is kept.
    pub fn limits(&self) -> (usize, Duration) {
        (self.capacity, self.forget_after)
    }

    pub fn last(&self, session: &BurtsSession) -> Option<u64> {
        let sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sessions
            .by_session
            .get(session)
            .filter(|(_, at)| at.elapsed() < self.forget_after)
            .map(|(version, _)| *version)
    }

    pub fn record(&self, session: BurtsSession, version: u64) {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if now.duration_since(sessions.last_sweep) > self.forget_after / 5 {
            let forget_after = self.forget_after;
            sessions
                .by_session
                .retain(|_, (_, at)| now.duration_since(*at) < forget_after);
            sessions.last_sweep = now;
            sessions.sweeps += 1;
        }
        // Full of live sessions: this one gets Burt's plain behaviour.
        if sessions.by_session.len() < self.capacity || sessions.by_session.contains_key(&session) {
            sessions.by_session.insert(session, (version, now));
        }
        self.remembered
            .set(i64::try_from(sessions.by_session.len()).unwrap_or(i64::MAX));
    }
}

impl Default for AnsweredVersions {
    fn default() -> Self {
        AnsweredVersions::new(Gauge::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str) -> BurtsSession {
        BurtsSession::parse(name).unwrap()
    }

    #[test]
    fn remembers_the_last_answered_version_per_session() {
        let answered = AnsweredVersions::default();
        assert_eq!(answered.last(&session("a")), None);
        answered.record(session("a"), 4);
        answered.record(session("a"), 7);
        answered.record(session("b"), 5);
        assert_eq!(answered.last(&session("a")), Some(7));
        assert_eq!(answered.last(&session("b")), Some(5));
    }

    #[test]
    fn forgets_silent_sessions_and_stays_bounded() {
        let answered =
            AnsweredVersions::with_limits(2, Duration::from_millis(30), Gauge::default());
        answered.record(session("a"), 1);
        answered.record(session("b"), 1);
        answered.record(session("c"), 1);
        assert_eq!(answered.last(&session("c")), None, "full: not remembered");
        assert_eq!(answered.last(&session("a")), Some(1), "the remembered stay");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            answered.last(&session("a")),
            None,
            "forgotten after a while"
        );
        answered.record(session("c"), 2);
        assert_eq!(
            answered.last(&session("c")),
            Some(2),
            "room again once the silent are swept"
        );
        assert_eq!(answered.sessions.lock().unwrap().by_session.len(), 1);
    }

    #[test]
    fn a_full_memory_is_swept_at_most_once_per_interval() {
        let answered =
            AnsweredVersions::with_limits(100, Duration::from_secs(60), Gauge::default());
        for i in 0..10_000 {
            answered.record(session(&format!("s{i}")), 1);
        }
        let sessions = answered.sessions.lock().unwrap();
        assert_eq!(sessions.by_session.len(), 100, "bounded");
        assert_eq!(
            sessions.sweeps, 0,
            "no sweep before its interval, full or not"
        );
    }
}
