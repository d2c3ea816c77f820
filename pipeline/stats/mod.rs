//! Statistics as pure functions: no I/O, no DataFusion. Each follows a published method,
//! named at the function, and is tested against that method's test vectors.

pub mod agreement;
mod disclosure;
mod funnel;
pub mod overdispersion;
pub mod random;
mod spc;
pub mod suppression;

pub use disclosure::Published;
pub use funnel::{
    Choice, CurvePoint, FunnelPoint, FunnelResult, Significance, funnel, ratio_funnel,
};
pub use overdispersion::Kind;
pub use spc::{
    Assurance, Direction, RUN_LENGTH, SpcOptions, SpcPoint, SpcResult, Variation, VariationIcon,
    assurance, spc, suggest_rebase,
};

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

/// The standard normal quantile: z such that P(Z ≤ z) = `p`.
pub fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The Wilson score interval for `x` successes in `n` trials, without continuity
/// correction, at two-sided confidence `level` (0.95, 0.998): z is the normal quantile of
/// 1 − (1 − level)/2. This is PHEindicatormethods' `phe_proportion` (Wilson, 1927;
/// Newcombe, 1998, method 3). `None` when n = 0.
pub fn wilson(x: u64, n: u64, level: f64) -> Option<Interval> {
    if n == 0 || x > n {
        return None;
    }
    let z = normal_quantile(1.0 - (1.0 - level) / 2.0);
    let (x, n) = (x as f64, n as f64);
    let z2 = z * z;
    let root = z * (z2 + 4.0 * x * (1.0 - x / n)).sqrt();
    let denominator = 2.0 * (n + z2);
    Some(Interval {
        low: ((2.0 * x + z2 - root) / denominator).max(0.0),
        high: ((2.0 * x + z2 + root) / denominator).min(1.0),
    })
}

/// Newcombe's hybrid score interval for the difference of two proportions, p1 − p2
/// (Newcombe 1998, method 10), built on the Wilson intervals of each:
/// lower = d − √((p1 − l1)² + (u2 − p2)²), upper = d + √((u1 − p1)² + (p2 − l2)²).
/// `None` when either denominator is 0.
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64, level: f64) -> Option<Interval> {
    let a = wilson(x1, n1, level)?;
    let b = wilson(x2, n2, level)?;
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let d = p1 - p2;
    Some(Interval {
        low: d - ((p1 - a.low).powi(2) + (b.high - p2).powi(2)).sqrt(),
        high: d + ((a.high - p1).powi(2) + (p2 - b.low).powi(2)).sqrt(),
    })
}

/// Fractions the plain-English phrase can use, in ONS style (hyphenated).
const FRACTIONS: &[(f64, &str)] = &[
    (0.1, "a tenth"),
    (0.2, "a fifth"),
    (0.25, "a quarter"),
    (1.0 / 3.0, "a third"),
    (0.5, "half"),
    (2.0 / 3.0, "two-thirds"),
    (0.75, "three-quarters"),
    (0.8, "four-fifths"),
    (0.9, "nine-tenths"),
];

/// Within this distance of a fraction, a proportion is called by the fraction's name.
pub const PHRASE_TOLERANCE: f64 = 0.01;

/// Farther than this share of the fraction from the nearest one, no phrase is true
/// enough to print ("nearly a tenth" for 5.8% is not): the percentage stands alone.
pub const PHRASE_REACH: f64 = 0.15;

/// A proportion in the words the founding report uses ("half", "nearly half", "more than
/// half", "nearly a third", "a quarter", "two-thirds"). The convention:
///
/// - 0 is "none" and 1 is "all"; below 0.05 "fewer than one in twenty"; above 0.95
///   "nearly all";
/// - otherwise the nearest of a tenth, a fifth, a quarter, a third, half, two-thirds,
///   three-quarters, four-fifths, nine-tenths; within 0.01 of it, its name alone;
///   below it "nearly …", above it "more than …";
/// - but no phrase at all (`None`: the percentage stands alone) when the nearest
///   fraction is farther than 15% of itself away ([`PHRASE_REACH`]): 5.8% is not "nearly
///   a tenth", and 15% is neither "nearly a fifth" nor "more than a tenth".
///
/// So 6 of 14 (0.43) is "nearly half", 8 of 25 (0.32) "nearly a third", 13 of 25 (0.52)
/// "more than half" and 1 of 4 "a quarter".
pub fn phrase(p: f64) -> Option<String> {
    if p <= 0.0 {
        return Some("none".into());
    }
    if p >= 1.0 {
        return Some("all".into());
    }
    if p < 0.05 {
        return Some("fewer than one in twenty".into());
    }
    if p > 0.95 {
        return Some("nearly all".into());
    }
    let (f, name) = FRACTIONS
        .iter()
        .copied()
        .min_by(|a, b| (a.0 - p).abs().total_cmp(&(b.0 - p).abs()))
        .expect("fractions are listed");
    Some(if (p - f).abs() <= PHRASE_TOLERANCE {
        name.to_string()
    } else if (p - f).abs() > PHRASE_REACH * f {
        return None;
    } else if p < f {
        format!("nearly {name}")
    } else {
        format!("more than {name}")
    })
}

/// A rate with three significant figures (12.3, 1.23, 0.123), or 0.
pub fn rate_text(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let places = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{v:.places$}")
}

/// A proportion as a percentage with one decimal: "9.1%" (for narrow intervals).
pub fn percent_1dp(p: f64) -> String {
    format!("{:.1}%", (p * 1000.0).round() / 10.0)
}

/// An interval's two ends as percentages with at least `min_decimals` decimals and as
/// many more (up to three) as it takes for them to differ: "21% to 67%", but "30.0% to
/// 30.5%" and "30.01% to 30.05%" where whole numbers would read "30% to 30%". Each end
/// rounded half away from zero.
pub fn percent_interval(low: f64, high: f64, min_decimals: usize) -> (String, String) {
    let at = |p: f64, d: usize| {
        let scale = 10f64.powi(d as i32);
        format!("{:.d$}%", (p * 100.0 * scale).round() / scale)
    };
    let mut d = min_decimals.min(3);
    while d < 3 && at(low, d) == at(high, d) {
        d += 1;
    }
    (at(low, d), at(high, d))
}

/// A proportion as a whole percentage, ONS style: "43%" (no space), rounded half away
/// from zero.
pub fn percent(p: f64) -> String {
    format!("{}%", (p * 100.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand: whole numbers where they differ, a decimal more each time they do not.
    #[test]
    fn an_interval_has_the_decimals_that_make_its_ends_differ() {
        let p = |lo, hi, d| percent_interval(lo, hi, d);
        assert_eq!(p(0.2138, 0.6741, 0), ("21%".into(), "67%".into()));
        assert_eq!(p(0.3001, 0.3049, 0), ("30.0%".into(), "30.5%".into()));
        assert_eq!(p(0.30012, 0.30049, 0), ("30.01%".into(), "30.05%".into()));
        assert_eq!(p(0.2138, 0.6741, 1), ("21.4%".into(), "67.4%".into()));
        assert_eq!(
            p(0.300001, 0.300002, 0),
            ("30.000%".into(), "30.000%".into())
        );
    }

    #[test]
    fn normal_quantiles_are_the_phe_z_values() {
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-12);
        assert!((normal_quantile(0.999) - 3.090232306167813).abs() < 1e-12);
    }

    /// Expected values from statsmodels 0.14 (`proportion_confint(x, n, alpha,
    /// method="wilson")`, alpha 0.05 and 0.002), computed outside casework:
    /// (x, n, 95% low, 95% high, 99.8% low, 99.8% high).
    #[rustfmt::skip]
    const WILSON_VECTORS: &[(u64, u64, f64, f64, f64, f64)] = &[
    (1, 100, 0.001767432064140647, 0.05448619617870533, 0.0008730656972999878, 0.10455445283705651),
    (5, 100, 0.021543679154367966, 0.11175046923191914, 0.01386532072599736, 0.1645885228259627),
    (20, 100, 0.1333669333310325, 0.2888291655931589, 0.10519162066711504, 0.3471109417008583),
    (65, 100, 0.5525444329688796, 0.7363575175690247, 0.4954946574070448, 0.7783540614089687),
    (9856, 12345, 0.7912101752909068, 0.805364007361491, 0.7869924108419063, 0.8093061412589625),
    (222, 3215, 0.0607916903636366, 0.07833956681383633, 0.0564710196462426, 0.08418414185270115),
    (999, 3456, 0.27418951080009873, 0.3044038966281806, 0.2658399576807498, 0.31344754492799826),
    (1045, 5000, 0.19795549880013297, 0.2204913037318903, 0.19179381799015255, 0.22731562902525793),
    (0, 10, 0.0, 0.27753279986288926, 2.7755575615628914e-17, 0.4884789004534622),
    (10, 10, 0.7224672001371106, 1.0, 0.5115210995465377, 0.9999999999999999),
    ];

    #[test]
    fn wilson_matches_statsmodels_to_1e_9() {
        for &(x, n, l95, h95, l998, h998) in WILSON_VECTORS {
            let a = wilson(x, n, 0.95).unwrap();
            let b = wilson(x, n, 0.998).unwrap();
            for (got, want) in [(a.low, l95), (a.high, h95), (b.low, l998), (b.high, h998)] {
                assert!((got - want).abs() < 1e-9, "{x}/{n}: {got} vs {want}");
            }
        }
        assert_eq!(wilson(1, 0, 0.95), None);
    }

    /// From statsmodels 0.14, `confint_proportions_2indep(x1, n1, x2, n2,
    /// method="newcomb", compare="diff", alpha=0.05)`, computed outside casework.
    #[test]
    fn newcombe_matches_statsmodels_to_1e_9() {
        #[rustfmt::skip]
        let vectors = [
            (13, 25, 8, 25, -0.06945545550027332, 0.4327576160553437),
            (0, 10, 10, 10, -1.0, -0.6075093504305241),
            (52, 100, 31, 100, 0.07346076941345042, 0.33589604882405544),
            (6, 14, 3, 14, -0.12418340353094723, 0.49621349049778596),
        ];
        for (x1, n1, x2, n2, low, high) in vectors {
            let ci = newcombe(x1, n1, x2, n2, 0.95).unwrap();
            assert!(
                (ci.low - low).abs() < 1e-9,
                "{x1}/{n1} - {x2}/{n2}: {}",
                ci.low
            );
            assert!(
                (ci.high - high).abs() < 1e-9,
                "{x1}/{n1} - {x2}/{n2}: {}",
                ci.high
            );
        }
        assert_eq!(newcombe(1, 0, 1, 2, 0.95), None);
    }

    #[test]
    fn phrases_follow_the_founding_report() {
        let cases = [
            (6.0 / 14.0, "nearly half"),
            (8.0 / 25.0, "nearly a third"),
            (11.0 / 25.0, "nearly half"),
            (13.0 / 25.0, "more than half"),
            (0.5, "half"),
            (0.25, "a quarter"),
            (2.0 / 3.0, "two-thirds"),
            (0.0, "none"),
            (1.0, "all"),
            (0.03, "fewer than one in twenty"),
            (0.97, "nearly all"),
            (0.36, "more than a third"),
        ];
        for (p, want) in cases {
            assert_eq!(phrase(p).as_deref(), Some(want), "{p}");
        }
        // Not true enough to say: 5.8% (nearest a tenth), 15% (between a tenth and a
        // fifth), 58% (more than half by 8 points).
        for p in [0.058, 0.15, 0.58] {
            assert_eq!(phrase(p), None, "{p}");
        }
        assert_eq!(percent(6.0 / 14.0), "43%");
        assert_eq!(percent(0.125), "13%");
    }
}
