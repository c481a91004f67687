//! Timestamps in the reference's two formats.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

/// `2026-11-23T20:25:48+00:00`: UTC, seconds precision (state files).
pub fn utc_now() -> String {
    format_seconds(OffsetDateTime::now_utc())
}

/// `t` in the state files' format (`2026-11-23T20:25:48+00:00`).
pub fn format_seconds(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]+00:00");
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_default()
}

/// `2026-11-23T20:26:57.683834Z`: UTC, microseconds (telemetry lines).
pub fn utc_now_micros() -> String {
    format_micros_utc(OffsetDateTime::now_utc())
}

/// [`utc_now_micros`]'s format for a moment recorded earlier (the MCP proxy stamps a call when
/// the request arrives and writes the line later). A time before 1970 counts as 1970-01-01; one
/// past the year 9999 gives an empty string.
pub fn format_system_time_micros(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let Ok(secs) = i64::try_from(since.as_secs()) else { return String::new() };
    match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(at) => format_micros_utc(at + Duration::from_nanos(u64::from(since.subsec_nanos()))),
        Err(_) => String::new(),
    }
}

fn format_micros_utc(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.to_offset(time::UtcOffset::UTC).format(&fmt).unwrap_or_default()
}

/// `20261123T202548Z`: the time part of generated run ids.
pub fn compact_utc_now() -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    OffsetDateTime::now_utc().format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_reference() {
        let t = time::macros::datetime!(2026-11-23 20:25:48.123456 UTC);
        assert_eq!(format_seconds(t), "2026-11-23T20:25:48+00:00");
        assert_eq!(utc_now().len(), 25);
        assert!(utc_now_micros().ends_with('Z'));
        assert_eq!(compact_utc_now().len(), 16);
    }

    #[test]
    fn system_times_format_like_python() {
        let at = |secs: u64, micros: u64| UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros);
        // Expected values from Python's datetime.fromtimestamp(t, timezone.utc).
        for (t, expected) in [
            (at(0, 0), "1970-01-01T00:00:00.000000Z"),
            (at(951_782_400, 1), "2000-02-29T00:00:00.000001Z"),
            (at(1_709_164_799, 999_999), "2024-02-28T23:59:59.999999Z"),
            (at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z"),
            (at(253_402_300_799, 123_456), "9999-12-31T23:59:59.123456Z"),
        ] {
            assert_eq!(format_system_time_micros(t), expected);
        }
        assert_eq!(format_system_time_micros(UNIX_EPOCH - Duration::from_secs(5)), "1970-01-01T00:00:00.000000Z");
    }
}
