//! The wall clock, as the shop stores time: Unix milliseconds. Holds' and
//! sessions' deadlines are compared with it in SQL, so every part of the
//! server reads time the same way.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX / 2)
}
