//! How numbers read in a report: the same in Markdown and HTML.

/// What a report says for a figure its files do not hold.
pub const NOT_RECORDED: &str = "not recorded";

/// Four significant digits, no exponent, trailing zeros of a fraction dropped (`12`, `0.07318`,
/// `1234`, `15.5`); `—` for none.
pub fn num(x: Option<f64>) -> String {
    let Some(x) = x.filter(|x| x.is_finite()) else { return "—".to_owned() };
    let digits = if x == 0.0 { 0 } else { (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize };
    let s = format!("{x:.digits$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    if s == "-0" { "0".to_owned() } else { s.replacen('-', "−", 1) }
}

/// Seconds as `0.07 s`, `12.3 s`, `4 m 05 s`, `1 h 02 m`; `—` for none.
pub fn secs(x: Option<f64>) -> String {
    let Some(x) = x.filter(|x| x.is_finite() && *x >= 0.0) else { return "—".to_owned() };
    if x < 10.0 {
        format!("{x:.2} s")
    } else if x < 60.0 {
        format!("{x:.1} s")
    } else if x < 3600.0 {
        let s = x.round() as u64;
        format!("{} m {:02} s", s / 60, s % 60)
    } else {
        let m = (x / 60.0).round() as u64;
        format!("{} h {:02} m", m / 60, m % 60)
    }
}

/// A signed percentage with a real minus sign: `−18.9%`, `+4.0%`.
pub fn percent(fraction: f64) -> String {
    format!("{:+.1}%", fraction * 100.0).replacen('-', "−", 1)
}

/// `p = 0.004`, `p < 0.001`, `—`.
pub fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => "< 0.001".to_owned(),
        Some(p) => format!("{p:.3}"),
        None => "—".to_owned(),
    }
}

/// US dollars, `—` for unknown.
pub fn usd(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite()).map_or_else(|| "—".to_owned(), |x| format!("${x:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_short_and_signed_with_a_real_minus() {
        assert_eq!(num(Some(12.0)), "12");
        assert_eq!(num(Some(15.5)), "15.5");
        assert_eq!(num(Some(0.073178141)), "0.07318");
        assert_eq!(num(Some(1234.6)), "1235");
        assert_eq!(num(Some(-3.25)), "−3.25");
        assert_eq!(num(Some(0.0)), "0");
        assert_eq!(num(None), "—");
        assert_eq!(num(Some(f64::NAN)), "—");
    }

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(secs(Some(0.0731)), "0.07 s");
        assert_eq!(secs(Some(12.34)), "12.3 s");
        assert_eq!(secs(Some(245.0)), "4 m 05 s");
        assert_eq!(secs(Some(3720.0)), "1 h 02 m");
        assert_eq!(secs(None), "—");
        assert_eq!(percent(-0.1889), "−18.9%");
        assert_eq!(p_value(Some(0.0004)), "< 0.001");
        assert_eq!(p_value(Some(0.0112)), "0.011");
        assert_eq!(usd(Some(1.5)), "$1.50");
    }
}
