//! Fisher's exact test on a 2×2 table, two-sided, as SciPy's `fisher_exact`.

use statrs::function::factorial::ln_binomial;

/// Hypergeometric pmf of the top-left cell: `rows` = the row totals, `column` = the first
/// column's total.
struct Hypergeometric {
    rows: [u64; 2],
    column: u64,
}

impl Hypergeometric {
    fn pmf(&self, x: u64) -> f64 {
        let [r1, r2] = self.rows;
        if x > r1 || x > self.column || self.column - x > r2 {
            return 0.0;
        }
        (ln_binomial(r1, x) + ln_binomial(r2, self.column - x) - ln_binomial(r1 + r2, self.column)).exp()
    }

    /// P(X ≤ x).
    fn cdf(&self, x: u64) -> f64 {
        (0..=x).map(|k| self.pmf(k)).sum()
    }

    /// P(X > x).
    fn sf(&self, x: u64) -> f64 {
        self.at_least(x + 1)
    }

    /// P(X ≥ x).
    fn at_least(&self, x: u64) -> f64 {
        (x..=self.column).map(|k| self.pmf(k)).sum()
    }
}

/// SciPy's `_binary_search_for_binom_tst`: in `lo..=hi`, where `f` ascends, the `i` with
/// `f(i) ≤ target < f(i + 1)`.
fn binary_search(f: impl Fn(u64) -> f64, target: f64, mut lo: i64, mut hi: i64) -> i64 {
    let at = |i: i64| f(u64::try_from(i).unwrap_or(0));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let value = at(mid);
        if value < target {
            lo = mid + 1;
        } else if value > target {
            hi = mid - 1;
        } else {
            return mid;
        }
    }
    if at(lo) <= target { lo } else { lo - 1 }
}

/// The two-sided p value of Fisher's exact test on `[[a, b], [c, d]]`, as
/// `scipy.stats.fisher_exact(table)` (1 when a row or a column is all zero). The sum of the
/// probabilities of every table with the same margins that is no more likely than this one
/// (relative tolerance 1e-14, as SciPy).
pub fn fisher_exact(table: [[u64; 2]; 2]) -> f64 {
    // Rows in a fixed order, so that swapping the arms gives the same p to the last bit.
    let [[a, b], [c, d]] = if table[0] <= table[1] { table } else { [table[1], table[0]] };
    if a + b == 0 || c + d == 0 || a + c == 0 || b + d == 0 {
        return 1.0;
    }
    let (n1, n2, n) = (a + b, c + d, a + c);
    let h = Hypergeometric { rows: [n1, n2], column: n };
    let mode = ((n + 1) as f64 * (n1 + 1) as f64 / (n1 + n2 + 2) as f64) as u64;
    let pexact = h.pmf(a);
    let pmode = h.pmf(mode);
    let epsilon = 1e-14;
    let gamma = 1.0 + epsilon;
    if (pexact - pmode).abs() / pexact.max(pmode) <= epsilon {
        return 1.0;
    }
    let p = if a < mode {
        let plower = h.cdf(a);
        if h.pmf(n) > pexact * gamma {
            return plower.min(1.0);
        }
        let guess = binary_search(|x| -h.pmf(x), -pexact * gamma, mode as i64, n as i64);
        plower + h.sf(u64::try_from(guess).unwrap_or(0))
    } else {
        let pupper = h.at_least(a);
        if h.pmf(0) > pexact * gamma {
            return pupper.min(1.0);
        }
        let guess = binary_search(|x| h.pmf(x), pexact * gamma, 0, mode as i64);
        pupper + if guess < 0 { 0.0 } else { h.cdf(guess as u64) }
    };
    p.min(1.0)
}
