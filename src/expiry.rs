//! When an addon expires: `--expires-in DUR` and `--expires-at TIME` of `provision`, the
//! `DUR|TIME|never` argument of `addons expire`, and `expires_in` of an apply file, each
//! read into milliseconds since the epoch (UTC), which is how the state keeps times.
//!
//! - A duration is what `parse_duration` reads (`30m`, `12h`, `7d`, `2w`, `1h 30m`):
//!   at least 1s and at most 366 days, so a typo can't make an addon live for centuries.
//! - A time is an RFC 3339 date-time with its UTC offset (`2026-12-01T18:00:00Z`,
//!   `2026-12-01T19:00:00+01:00`, fractions of a second allowed), converted to UTC. One
//!   without an offset is refused, since which zone was meant is a guess.
//! - A time more than 366 days ahead is refused, as a duration that long is.
//! - An expiry at or before `now` is refused: an addon would be reaped by the next tick,
//!   which is what `deprovision` is for. `now` is passed in, so every rule is testable.
//! - `now` is the state's clock (a PostgreSQL server's, shared by every host), not this
//!   host's, which may be off: the `check_*` functions read the form alone, so bad input
//!   is refused before the state is opened, and the time is worked out once it is.

use std::time::Duration;

use toml::value::{Datetime, Offset};

use crate::error::usage;
use crate::names::shown;

/// When an addon expires, as `addons expire` sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// At this time (ms since the epoch, UTC).
    At(i64),
    /// Never: any expiry is removed.
    Never,
}

/// Reads an expiry duration; `Err` is the reason, for the caller to put after the flag
/// or the file line it came from.
pub fn check_duration(text: &str) -> Result<Duration, String> {
    let duration =
        parse_duration(text).map_err(|why| why.replace("write e.g. 30s, 5m or 1h", "write e.g. 7d, 12h or 30m"))?;
    // Times are kept in ms, and an expiry must lie after now.
    if duration < Duration::from_secs(1) {
        return Err(format!("duration {} is too short for an expiry: give at least 1s", shown(text)));
    }
    Ok(duration)
}

/// The time `duration` after `now` (ms since the epoch), saturating rather than
/// overflowing.
pub fn after(now_ms: i64, duration: Duration) -> i64 {
    now_ms.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

/// The renewal rule of a re-run that asks for an expiry `duration` ahead (an apply file's
/// `expires_in`, `provision --ensure --expires-in`): the new expiry when the one `live`
/// (`None`: never) has less than half of `duration` left or more than all of it, `None`
/// to keep it. So a run repeated soon after changes nothing, and one every few days keeps
/// an active branch's addon alive.
pub fn renewal(duration: Duration, live: Option<i64>, now_ms: i64) -> Option<i64> {
    if let Some(at) = live {
        let full = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let left = at.saturating_sub(now_ms);
        if left >= full / 2 && left <= full {
            return None;
        }
    }
    Some(after(now_ms, duration))
}

/// Reads `--expires-in DUR` into the time it names.
pub fn parse_expires_in(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let duration = check_duration(text).map_err(|why| usage(format!("--expires-in: {why}")))?;
    Ok(after(now_ms, duration))
}

/// Reads `--expires-at TIME`.
pub fn parse_expires_at(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    check_time(text, now_ms).map_err(|why| usage(format!("--expires-at: {why}")))
}

/// Checks the form of `--expires-in DUR`, whatever the time.
pub fn check_expires_in(text: &str) -> anyhow::Result<()> {
    check_duration(text).map(drop).map_err(|why| usage(format!("--expires-in: {why}")))
}

/// Checks the form of `--expires-at TIME`, whatever the time.
pub fn check_expires_at(text: &str) -> anyhow::Result<()> {
    read_time(text).map(drop).map_err(|why| usage(format!("--expires-at: {why}")))
}

/// Checks the form of the argument of `addons expire`, whatever the time.
pub fn check_expire(text: &str) -> anyhow::Result<()> {
    let text = text.trim();
    let checked = match text {
        "never" => Ok(()),
        _ if looks_like_time(text) => read_time(text).map(drop),
        _ => check_duration(text).map(drop),
    };
    checked.map_err(|why| usage(format!("expire: {why}; or write never to remove the expiry")))
}

/// Whether an argument of `addons expire` is read as a time: it has a `:` or begins
/// like a date (`2026-`); no duration has either.
fn looks_like_time(text: &str) -> bool {
    text.contains(':')
        || (text.len() >= 5 && text.as_bytes()[..4].iter().all(u8::is_ascii_digit) && text.as_bytes()[4] == b'-')
}

/// Reads the argument of `addons expire <addon> DUR|TIME|never`. Anything with a `:` or
/// that begins like a date (`2026-`) is read as a time, everything else as a duration:
/// no duration contains either, so each mistake gets the message of the form it resembles.
pub fn parse_expire(text: &str, now_ms: i64) -> anyhow::Result<Expiry> {
    let text = text.trim();
    if text == "never" {
        return Ok(Expiry::Never);
    }
    let result = if looks_like_time(text) {
        check_time(text, now_ms).map(Expiry::At)
    } else {
        check_duration(text).map(|duration| Expiry::At(after(now_ms, duration)))
    };
    result.map_err(|why| usage(format!("expire: {why}; or write never to remove the expiry")))
}

/// Reads an RFC 3339 time with its offset, as ms since the epoch (UTC), and checks that it
/// lies after `now_ms`.
pub fn check_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let ms = read_time(text)?;
    if ms <= now_ms {
        return Err(format!(
            "{} is in the past (it is now {}); give a later time",
            shown(text),
            crate::clock::rfc3339(now_ms)
        ));
    }
    if ms - now_ms > MAX_AHEAD_MS {
        return Err(format!(
            "{} is more than 366 days away; give a time within a year, or leave the expiry out",
            shown(text)
        ));
    }
    Ok(ms)
}

/// Reads an RFC 3339 time with its offset, as ms since the epoch (UTC).
fn read_time(text: &str) -> Result<i64, String> {
    const EXAMPLE: &str = "write e.g. 2026-12-01T18:00:00Z or 2026-12-01T19:00:00+01:00";
    let trimmed = text.trim();
    let parsed: Option<Datetime> = trimmed.parse().ok();
    let Some(Datetime { date: Some(date), time, offset }) = parsed else {
        return Err(format!("{} is not an RFC 3339 time; {EXAMPLE}", shown(text)));
    };
    let Some(time) = time else {
        return Err(format!("{} has no time of day; {EXAMPLE}", shown(text)));
    };
    let Some(offset) = offset else {
        return Err(format!("{} has no UTC offset (Z or +HH:MM); {EXAMPLE}", shown(text)));
    };
    let offset_minutes = match offset {
        Offset::Z => 0,
        Offset::Custom { minutes } => i64::from(minutes),
    };
    let days = days_from_civil(i64::from(date.year), i64::from(date.month), i64::from(date.day));
    let seconds = days * 86_400 + i64::from(time.hour) * 3600 + i64::from(time.minute) * 60 + i64::from(time.second)
        - offset_minutes * 60;
    Ok(seconds * 1000 + i64::from(time.nanosecond / 1_000_000))
}

/// The furthest ahead an expiry may lie, as for durations: 366 days.
const MAX_AHEAD_MS: i64 = 366 * 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses a duration such as `30s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|_| format!("invalid duration {}: write e.g. 30s, 5m or 1h", crate::names::shown(text)))?;
    if duration.is_zero() || duration > Duration::from_secs(366 * 24 * 3600) {
        return Err(format!(
            "duration {} is out of range: use more than 0s and at most a year",
            crate::names::shown(text)
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-29T04:00:00Z.
    const NOW: i64 = 1_795_924_800_000;
    const DAY: i64 = 86_400_000;

    #[test]
    fn the_fixed_now_is_what_it_says() {
        assert_eq!(crate::clock::rfc3339(NOW), "2026-11-29T04:00:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_expires_in("7d", NOW).unwrap(), NOW + 7 * DAY);
        assert_eq!(parse_expires_in("30m", NOW).unwrap(), NOW + 30 * 60_000);
        assert_eq!(parse_expires_in("1h 30m", NOW).unwrap(), NOW + 90 * 60_000);
        assert_eq!(parse_expires_in("2w", NOW).unwrap(), NOW + 14 * DAY);
        assert_eq!(parse_expires_in("366d", NOW).unwrap(), NOW + 366 * DAY);
        assert_eq!(parse_expires_in("1s", NOW).unwrap(), NOW + 1000);
        for (bad, expected) in [
            ("0s", "out of range"),
            ("1ns", "too short for an expiry: give at least 1s"),
            ("999ms", "too short"),
            ("367d", "out of range"),
            ("100y", "out of range"),
            ("7", "write e.g. 7d, 12h or 30m"),
            ("-1d", "write e.g. 7d"),
            ("", "write e.g. 7d"),
            ("7 days ago", "write e.g. 7d"),
            ("7d\n", "7d"),
            ("\u{0}7d", "invalid duration"),
        ] {
            match parse_expires_in(bad, NOW) {
                Ok(at) if bad == "7d\n" => assert_eq!(at, NOW + 7 * DAY),
                Ok(at) => panic!("{bad:?} gave {at}"),
                Err(err) => {
                    let message = format!("{err:#}");
                    assert!(message.starts_with("--expires-in: ") && message.contains(expected), "{bad:?}: {message}");
                    assert_eq!(crate::error::exit_of(&err), crate::error::Exit::Usage);
                }
            }
        }
        assert_eq!(after(i64::MAX - 5, Duration::from_secs(1)), i64::MAX);
    }

    #[test]
    fn times_with_offsets_become_utc() {
        for (text, expected) in [
            ("2026-12-01T18:00:00Z", NOW + 2 * DAY + 14 * 3_600_000),
            ("2026-12-01T19:00:00+01:00", NOW + 2 * DAY + 14 * 3_600_000),
            ("2026-12-01T12:30:00-05:30", NOW + 2 * DAY + 14 * 3_600_000),
            ("2026-12-01t18:00:00z", NOW + 2 * DAY + 14 * 3_600_000),
            ("2026-12-01 18:00:00Z", NOW + 2 * DAY + 14 * 3_600_000),
            ("2026-12-01T18:00:00.250Z", NOW + 2 * DAY + 14 * 3_600_000 + 250),
            ("2027-11-30T04:00:00Z", NOW + 366 * DAY),
            ("2027-02-28T23:59:59.999+00:00", 1_803_859_199_999),
        ] {
            assert_eq!(parse_expires_at(text, NOW).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn bad_times() {
        for (text, expected) in [
            ("2026-11-29T04:00:00Z", "is in the past (it is now 2026-11-29T04:00:00Z)"),
            ("2026-11-29T04:59:59+01:00", "in the past"),
            ("1970-01-01T00:00:00Z", "in the past"),
            ("2027-11-30T04:00:00.001Z", "more than 366 days away"),
            ("2126-11-29T04:00:00Z", "more than 366 days away; give a time within a year, or leave the expiry out"),
            ("9999-12-31T23:59:59Z", "more than 366 days away"),
            ("2026-12-01T18:00:00", "has no UTC offset"),
            ("2026-12-01", "has no time of day"),
            ("18:00:00", "not an RFC 3339 time"),
            ("2026-02-30T00:00:00Z", "not an RFC 3339 time"),
            ("2026-13-01T00:00:00Z", "not an RFC 3339 time"),
            ("2026-12-01T25:00:00Z", "not an RFC 3339 time"),
            ("2026-12-01T18:00:00+25:00", "not an RFC 3339 time"),
            ("tomorrow", "not an RFC 3339 time"),
            ("", "not an RFC 3339 time"),
            ("2026-12-01T18:00:00Z\nrm -rf /", "not an RFC 3339 time"),
            ("2026-12-01T18:00:00Z\0", "not an RFC 3339 time"),
        ] {
            let err = parse_expires_at(text, NOW).unwrap_err();
            let message = format!("{err:#}");
            assert!(message.starts_with("--expires-at: ") && message.contains(expected), "{text:?}: {message}");
            assert!(!message.contains('\n') && !message.contains('\0'), "{message}");
            assert_eq!(crate::error::exit_of(&err), crate::error::Exit::Usage);
        }
        let long = format!("{:#}", parse_expires_at(&"9".repeat(100_000), NOW).unwrap_err());
        assert!(long.len() < 300, "{long}");
    }

    #[test]
    fn expire_arguments() {
        assert_eq!(parse_expire("never", NOW).unwrap(), Expiry::Never);
        assert_eq!(parse_expire("7d", NOW).unwrap(), Expiry::At(NOW + 7 * DAY));
        assert_eq!(parse_expire("2026-12-01T18:00:00Z", NOW).unwrap(), Expiry::At(NOW + 2 * DAY + 14 * 3_600_000));
        for (text, expected) in [
            ("Never", "write e.g. 7d"),
            ("0s", "out of range"),
            ("2026-12-01", "has no time of day"),
            ("2020-01-01T00:00:00Z", "in the past"),
            ("12:00", "not an RFC 3339 time"),
            ("", "write e.g. 7d"),
        ] {
            let message = format!("{:#}", parse_expire(text, NOW).unwrap_err());
            assert!(message.starts_with("expire: ") && message.contains(expected), "{text:?}: {message}");
            assert!(message.ends_with("or write never to remove the expiry"), "{message}");
        }
    }

    /// The form is checked before the state's clock is known: a time in the past or
    /// too far ahead passes (the state's clock decides), a malformed one does not.
    #[test]
    fn forms_are_checked_whatever_the_time() {
        for good in ["1970-01-01T00:00:00Z", "2026-11-29T04:00:00Z", "9999-12-31T23:59:59Z"] {
            check_expires_at(good).unwrap();
            check_expire(good).unwrap();
        }
        check_expires_in("366d").unwrap();
        check_expire("never").unwrap();
        for (check, text, expected) in [
            (check_expires_in as fn(&str) -> anyhow::Result<()>, "0s", "--expires-in: "),
            (check_expires_in, "367d", "--expires-in: "),
            (check_expires_at, "2026-12-01T18:00:00", "--expires-at: "),
            (check_expires_at, "tomorrow", "--expires-at: "),
            (check_expire, "Never", "expire: "),
            (check_expire, "12:00", "expire: "),
        ] {
            let err = check(text).unwrap_err();
            assert!(format!("{err:#}").starts_with(expected), "{text:?}: {err:#}");
            assert_eq!(crate::error::exit_of(&err), crate::error::Exit::Usage);
        }
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        assert_eq!(days_from_civil(2028, 2, 29), 1_835_395_200 / 86_400);
        assert_eq!(days_from_civil(2100, 1, 1), 4_102_444_800 / 86_400);
        assert_eq!(days_from_civil(9999, 12, 31), 253_402_300_799 / 86_400);
    }
}
