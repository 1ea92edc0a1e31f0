//! Time as the state keeps it: milliseconds since the Unix epoch (UTC). This host's
//! clock, and the state's clock (a PostgreSQL server's, shared by every host; this
//! host's for a file) read once and carried forward on this host's monotonic clock, so
//! that what a tick writes comes from the state's clock even where this host's is off.

use std::time::{Duration, Instant};

/// Milliseconds since the Unix epoch on this host's clock.
///
/// With the `failpoints` feature, `ADDONS_CLOCK_OFFSET_MS` (a signed number of
/// milliseconds) is added to it: a test runs one process with its clock a day behind
/// or ahead, as a host whose clock is off would be.
pub fn host_ms() -> i64 {
    let system = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    system.saturating_add(offset_ms())
}

#[cfg(feature = "failpoints")]
fn offset_ms() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| std::env::var("ADDONS_CLOCK_OFFSET_MS").ok().and_then(|ms| ms.parse().ok()).unwrap_or(0))
}

#[cfg(not(feature = "failpoints"))]
fn offset_ms() -> i64 {
    0
}

/// The state's clock as read at one moment, run forward from there on this host's
/// monotonic clock (which a host's wrong or stepped wall clock does not move).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    read_ms: i64,
    read_at: Instant,
}

impl Clock {
    /// The clock that says `now_ms` at this moment.
    pub fn starting_at(now_ms: i64) -> Clock {
        Clock { read_ms: now_ms, read_at: Instant::now() }
    }

    /// This host's clock, for work that has not read the state's yet.
    pub fn host() -> Clock {
        Clock::starting_at(host_ms())
    }

    /// Milliseconds since the Unix epoch now.
    pub fn now_ms(&self) -> i64 {
        self.read_ms.saturating_add(self.read_at.elapsed().as_millis() as i64)
    }

    /// The time `wait` from now, in milliseconds since the Unix epoch.
    pub fn after(&self, wait: Duration) -> i64 {
        self.now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Formats a time (ms since the epoch) as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_runs_forward_from_where_it_was_read() {
        let day_behind = host_ms() - 86_400_000;
        let clock = Clock::starting_at(day_behind);
        std::thread::sleep(Duration::from_millis(20));
        let now = clock.now_ms();
        assert!((day_behind + 20..day_behind + 5_000).contains(&now), "{now} vs {day_behind}");
        let later = clock.after(Duration::from_secs(60));
        assert!(later >= now + 60_000 && later < now + 65_000, "{later} vs {now}");
        assert_eq!(Clock::starting_at(i64::MAX - 1).after(Duration::from_secs(1)), i64::MAX);
    }
}
