//! Duration strings (`45m`, `1h30m`, `90`) and per-iteration schedules (`5s,2m`).

/// Why a duration or schedule string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The duration is empty.
    #[error("timeout cannot be empty")]
    Empty,
    /// The duration is zero or negative.
    #[error("timeout must be positive")]
    NotPositive,
    /// The duration is not `<digits>[s|m|h|d]…` (the text as given).
    #[error("invalid timeout duration: '{0}'")]
    Invalid(String),
    /// The schedule has no entry.
    #[error("attempt timeout schedule cannot be empty")]
    EmptySchedule,
}

/// Parses a duration into whole seconds: digits alone are seconds; otherwise a run of
/// `<digits><unit>` segments with unit `s`, `m`, `h`, `d` or none (seconds), summed.
pub fn parse_timeout(input: &str) -> Result<u64, DurationError> {
    let text = input.trim().to_ascii_lowercase();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = text.parse().map_err(|_| DurationError::Invalid(input.to_owned()))?;
        return if n == 0 { Err(DurationError::NotPositive) } else { Ok(n) };
    }
    let invalid = || DurationError::Invalid(input.to_owned());
    let bytes = text.as_bytes();
    let mut total: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let n: u64 = text[start..i].parse().map_err(|_| invalid())?;
        let unit = match bytes.get(i) {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86_400,
            Some(b) if b.is_ascii_digit() => 1,
            None => 1,
            Some(_) => return Err(invalid()),
        };
        if matches!(bytes.get(i), Some(b's' | b'm' | b'h' | b'd')) {
            i += 1;
        }
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(invalid)?;
    }
    if total == 0 { Err(invalid()) } else { Ok(total) }
}

/// Parses a numeric timeout (JSON number): truncated to whole seconds, must be > 0.
pub fn timeout_from_number(n: f64) -> Result<u64, DurationError> {
    let t = n.trunc();
    if !t.is_finite() || t <= 0.0 { Err(DurationError::NotPositive) } else { Ok(t as u64) }
}

/// Parses `--attempt-timeouts`: comma-separated durations, empty pieces dropped.
pub fn parse_schedule(input: &str) -> Result<Vec<u64>, DurationError> {
    let pieces: Vec<&str> = input.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    if pieces.is_empty() {
        return Err(DurationError::EmptySchedule);
    }
    pieces.into_iter().map(parse_timeout).collect()
}

/// The timeout of iteration `i` (1-based): the schedule's entry, the last one repeating.
pub fn scheduled_timeout(schedule: &[u64], iteration: u32, default: u64) -> u64 {
    match schedule.len() {
        0 => default,
        n => schedule[(iteration.saturating_sub(1) as usize).min(n - 1)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepted_durations_parse_to_seconds() {
        assert_eq!(parse_timeout("45m"), Ok(2700));
        assert_eq!(parse_timeout("1h30m"), Ok(5400));
        assert_eq!(parse_timeout("2m10s"), Ok(130));
        assert_eq!(parse_timeout("90"), Ok(90));
        assert_eq!(timeout_from_number(5.0), Ok(5));
    }

    #[test]
    fn rejected_durations_are_errors() {
        assert_eq!(parse_timeout(""), Err(DurationError::Empty));
        for bad in ["abc", "1x", "1m 2s"] {
            assert_eq!(parse_timeout(bad), Err(DurationError::Invalid(bad.into())), "{bad}");
        }
        assert_eq!(parse_timeout("0"), Err(DurationError::NotPositive));
        assert!(parse_timeout("-1").is_err());
        assert_eq!(timeout_from_number(0.0), Err(DurationError::NotPositive));
        assert_eq!(timeout_from_number(-1.0), Err(DurationError::NotPositive));
        assert_eq!(timeout_from_number(0.5), Err(DurationError::NotPositive));
    }

    #[test]
    fn probed_durations_parse_as_the_reference_does() {
        assert_eq!(parse_timeout("1h30"), Ok(3630));
        assert_eq!(parse_timeout("0m5s"), Ok(5));
        assert_eq!(parse_timeout(" 45M "), Ok(2700));
        assert_eq!(parse_timeout("1d"), Ok(86_400));
        assert_eq!(parse_timeout("1h30m0s"), Ok(5400));
        assert_eq!(parse_timeout("007"), Ok(7));
        for bad in ["1.5h", "0m", "m", "1m-", "-5"] {
            assert_eq!(parse_timeout(bad), Err(DurationError::Invalid(bad.into())), "{bad}");
        }
        assert_eq!(parse_timeout("00"), Err(DurationError::NotPositive));
        assert_eq!(DurationError::Invalid("1x".into()).to_string(), "invalid timeout duration: '1x'");
    }

    #[test]
    fn schedule_repeats_last_entry() {
        let s = parse_schedule("5s,2m").unwrap();
        assert_eq!([1, 2, 3].map(|i| scheduled_timeout(&s, i, 99)), [5, 120, 120]);
        assert_eq!(scheduled_timeout(&[], 4, 99), 99);
    }

    #[test]
    fn blank_schedule_is_an_error() {
        assert_eq!(parse_schedule(" , "), Err(DurationError::EmptySchedule));
        assert_eq!(DurationError::EmptySchedule.to_string(), "attempt timeout schedule cannot be empty");
    }

    proptest! {
        #[test]
        fn segments_sum(h in 0u64..50, m in 0u64..100, s in 1u64..100) {
            prop_assert_eq!(parse_timeout(&format!("{h}h{m}m{s}s")), Ok(h * 3600 + m * 60 + s));
        }

        #[test]
        fn never_panics(s in ".{0,24}") {
            let _ = parse_timeout(&s);
            let _ = parse_schedule(&s);
        }

        /// Near-valid durations (digits, units, huge numbers that overflow, commas, unicode
        /// whose lowercase changes length) and arbitrary bytes: a positive value or a clear
        /// error; any JSON number goes through `timeout_from_number` the same way.
        #[test]
        fn near_valid_durations_are_a_value_or_a_clear_error(
            s in "[0-9hmsdHMSD ,.+\u{130}\u{212a}-]{0,40}",
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            n in any::<f64>(),
        ) {
            for text in [s, String::from_utf8_lossy(&bytes).into_owned()] {
                match parse_timeout(&text) {
                    Ok(secs) => prop_assert!(secs > 0),
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
                match parse_schedule(&text) {
                    Ok(list) => prop_assert!(!list.is_empty() && list.iter().all(|&s| s > 0)),
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }
            match timeout_from_number(n) {
                Ok(secs) => prop_assert!(secs > 0),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
