//! Timestamps in the reference's two formats.

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
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    OffsetDateTime::now_utc().format(&fmt).unwrap_or_default()
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
}
