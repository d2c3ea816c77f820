//! Funnel plots of proportions, by FunnelPlotR's method (Spiegelhalter 2005; see
//! `overdispersion`): the centre is Σx/Σn; the limits at denominator n are on the
//! arcsine square-root scale, with the between-unit variance τ² added when the units are
//! overdispersed (φ > 1) unless unadjusted limits are asked for; a limit that folds back
//! at a small denominator is 0 or 1 (`overdispersion::unfolded`); a unit is flagged when
//! its proportion is outside its limits (on a limit it is within). Both sets of flags are
//! counted, whichever is drawn.

use serde::Serialize;

use super::overdispersion::{Dispersion, Flag, Kind, Limits, TRIM, dispersion, flag, unfolded};

/// Points of the limit curves, spread evenly over the data's denominators.
pub const CURVE_POINTS: usize = 101;

/// A unit's place against the funnel, checked in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Significance {
    #[serde(rename = "low (0.001)")]
    Low0001,
    #[serde(rename = "low (0.025)")]
    Low0025,
    #[serde(rename = "high (0.001)")]
    High0001,
    #[serde(rename = "high (0.025)")]
    High0025,
    #[serde(rename = "not significant")]
    NotSignificant,
    /// Fewer cases than the study's minimum denominator: drawn, never judged.
    #[serde(rename = "not judged (small denominator)")]
    NotJudged,
}

impl Significance {
    pub fn label(self) -> &'static str {
        match self {
            Significance::Low0001 => "low (0.001)",
            Significance::Low0025 => "low (0.025)",
            Significance::High0001 => "high (0.001)",
            Significance::High0025 => "high (0.025)",
            Significance::NotSignificant => "not significant",
            Significance::NotJudged => "not judged (small denominator)",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelPoint {
    pub label: String,
    /// O: cases with the theme.
    pub numerator: f64,
    /// N (cases) for proportions, E (expected cases) for standardised ratios.
    pub denominator: f64,
    /// The plotted value: O/N, or O/E.
    pub value: f64,
    /// Limits at this unit's denominator (proportions' capped to [0, 1]).
    pub lower95: f64,
    pub upper95: f64,
    pub lower998: f64,
    pub upper998: f64,
    pub significance: Significance,
    /// Beyond the 99.8% limits with the adjusted and with the unadjusted limits: 1 above,
    /// -1 below, 0 within (what the counts of flagged units count).
    #[serde(skip)]
    pub beyond998: (i8, i8),
}

#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    pub denominator: f64,
    pub lower95: f64,
    pub upper95: f64,
    pub lower998: f64,
    pub upper998: f64,
}

/// Which limits a funnel judges by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// Adjusted for overdispersion when φ > 1, else unadjusted (the default).
    #[default]
    Auto,
    Adjusted,
    Unadjusted,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelResult {
    pub average: f64,
    pub points: Vec<FunnelPoint>,
    pub curve: Vec<CurvePoint>,
    /// φ, τ² and the method.
    pub dispersion: Dispersion,
    /// Whether the limits drawn and judged by are adjusted.
    pub adjusted: bool,
    /// Units outside the 99.8% limits, (high, low), with the adjusted limits and with the
    /// unadjusted ones.
    pub flagged_adjusted: (usize, usize),
    pub flagged_unadjusted: (usize, usize),
    /// A convention casework applied beyond FunnelPlotR's, in words.
    pub note: Option<String>,
}

fn significance(f: Flag) -> Significance {
    match f {
        Flag::Low998 => Significance::Low0001,
        Flag::Low95 => Significance::Low0025,
        Flag::High998 => Significance::High0001,
        Flag::High95 => Significance::High0025,
        Flag::Within => Significance::NotSignificant,
    }
}

/// The funnel of proportions of units given as (label, numerator, denominator). Units
/// with a zero denominator are left out; `None` when none is left or nothing was
/// counted.
pub fn funnel<S: AsRef<str>>(units: &[(S, u64, u64)], choice: Choice) -> Option<FunnelResult> {
    let units: Vec<(&str, f64, f64)> = units
        .iter()
        .map(|(l, x, n)| (l.as_ref(), *x as f64, *n as f64))
        .collect();
    funnel_of(&units, Kind::Proportion, choice)
}

/// The funnel of indirectly standardised ratios of units given as (label, observed,
/// expected), by the SHMI or the CQC method (`kind`): centre 1, limits around it at each
/// unit's expected count (exact Poisson when unadjusted). Units expected to have none
/// are left out. As FunnelPlotR does for the SHMI method, the expected counts are
/// rounded to two decimal places for φ, τ² and the limits, and each ratio is O over the
/// unrounded E.
pub fn ratio_funnel<S: AsRef<str>>(
    units: &[(S, u64, f64)],
    kind: Kind,
    choice: Choice,
) -> Option<FunnelResult> {
    let units: Vec<(&str, f64, f64)> = units
        .iter()
        .map(|(l, o, e)| (l.as_ref(), *o as f64, *e))
        .collect();
    let f = funnel_of(&units, kind, choice)?;
    if kind == Kind::RatioShmi && !f.dispersion.phi.is_finite() {
        // log(0/E): with more units observed at 0 than the truncation removes, SHMI's
        // φ is infinite (FunnelPlotR returns Inf). CQC's square root places them.
        let zeros = units.iter().filter(|u| u.1 == 0.0 && u.2 > 0.0).count();
        let mut g = funnel_of(&units, Kind::RatioCqc, choice)?;
        g.note = Some(format!(
            "the SHMI log method cannot place a unit with no case (log 0): with {zeros} such units, more than its 10% truncation removes, its overdispersion is infinite, so CQC's square-root method was used"
        ));
        return Some(g);
    }
    Some(f)
}

impl FunnelResult {
    /// Leaves the units `unjudged` picks out of the judgement (a convention of casework's,
    /// not FunnelPlotR's: the study's minimum denominator): they keep their place in the
    /// average, φ, τ² and limits, their significance becomes `NotJudged`, and they leave
    /// both counts of flagged units. Returns how many were left out.
    pub fn leave_unjudged(&mut self, unjudged: impl Fn(usize, &FunnelPoint) -> bool) -> usize {
        let mut n = 0;
        for (_, p) in self
            .points
            .iter_mut()
            .enumerate()
            .filter(|(i, p)| unjudged(*i, p))
        {
            n += 1;
            p.significance = Significance::NotJudged;
            for (b, c) in [
                (p.beyond998.0, &mut self.flagged_adjusted),
                (p.beyond998.1, &mut self.flagged_unadjusted),
            ] {
                match b {
                    1 => c.0 -= 1,
                    -1 => c.1 -= 1,
                    _ => {}
                }
            }
            p.beyond998 = (0, 0);
        }
        n
    }
}

fn funnel_of(units: &[(&str, f64, f64)], kind: Kind, choice: Choice) -> Option<FunnelResult> {
    let units: Vec<&(&str, f64, f64)> = units.iter().filter(|u| u.2 > 0.0).collect();
    let total_n: f64 = units.iter().map(|u| u.2).sum();
    if total_n <= 0.0 {
        return None;
    }
    // FunnelPlotR rounds SHMI's denominators (`round(x, 2)`) before all but the ratio.
    let at = |e: f64| {
        if kind == Kind::RatioShmi {
            (e * 100.0).round() / 100.0
        } else {
            e
        }
    };
    let pairs: Vec<(f64, f64)> = units.iter().map(|u| (u.1, at(u.2))).collect();
    let d = dispersion(&pairs, kind, TRIM)?;
    let adjusted = match choice {
        Choice::Auto => d.phi > 1.0,
        Choice::Adjusted => true,
        Choice::Unadjusted => false,
    };
    let denominators: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let with = unfolded(&d, &denominators, true);
    let without = unfolded(&d, &denominators, false);
    let count = |ls: &[Limits]| {
        let mut c = (0, 0);
        for (u, l) in units.iter().zip(ls) {
            match flag(u.1 / u.2, l) {
                Flag::High998 => c.0 += 1,
                Flag::Low998 => c.1 += 1,
                _ => {}
            }
        }
        c
    };
    let (flagged_adjusted, flagged_unadjusted) = (count(&with), count(&without));
    let chosen = if adjusted { &with } else { &without };
    let beyond = |v: f64, l: &Limits| match flag(v, l) {
        Flag::High998 => 1i8,
        Flag::Low998 => -1,
        _ => 0,
    };
    let points = units
        .iter()
        .zip(chosen)
        .zip(with.iter().zip(&without))
        .map(|(((label, x, n), l), (a, u))| {
            let v = x / n;
            FunnelPoint {
                beyond998: (beyond(v, a), beyond(v, u)),
                label: label.to_string(),
                numerator: *x,
                denominator: *n,
                value: v,
                lower95: l.lower95,
                upper95: l.upper95,
                lower998: l.lower998,
                upper998: l.upper998,
                significance: significance(flag(v, l)),
            }
        })
        .collect();
    let lo = pairs.iter().map(|u| u.1).fold(f64::INFINITY, f64::min);
    let lo = if kind == Kind::Proportion {
        lo.max(1.0)
    } else {
        lo
    };
    let hi = pairs.iter().map(|u| u.1).fold(lo, f64::max);
    let curve = super::overdispersion::curve(&d, lo, hi, CURVE_POINTS, adjusted)
        .into_iter()
        .map(|(n, l)| CurvePoint {
            denominator: n,
            lower95: l.lower95,
            upper95: l.upper95,
            lower998: l.lower998,
            upper998: l.upper998,
        })
        .collect();
    Some(FunnelResult {
        average: d.target,
        points,
        curve,
        dispersion: d,
        adjusted,
        flagged_adjusted,
        flagged_unadjusted,
        note: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five units, spread far wider than binomial (φ > 1): the adjusted limits are
    /// used, wider than the unadjusted ones, and both sets of flags are counted.
    #[test]
    fn overdispersed_units_are_judged_by_adjusted_limits() {
        let units: Vec<(String, u64, u64)> = [
            (30, 100),
            (90, 120),
            (2, 60),
            (160, 200),
            (5, 40),
            (50, 150),
        ]
        .iter()
        .enumerate()
        .map(|(i, (x, n))| (format!("u{i}"), *x, *n))
        .collect();
        let f = funnel(&units, Choice::Auto).unwrap();
        assert!(f.dispersion.phi > 1.0, "{}", f.dispersion.phi);
        assert!(f.adjusted);
        let unadjusted = funnel(&units, Choice::Unadjusted).unwrap();
        assert!(!unadjusted.adjusted);
        for (a, u) in f.points.iter().zip(&unadjusted.points) {
            assert!(a.upper998 >= u.upper998 && a.lower998 <= u.lower998);
        }
        assert_eq!(f.flagged_unadjusted, unadjusted.flagged_unadjusted);
        let shown = |r: &FunnelResult| {
            let h = r
                .points
                .iter()
                .filter(|p| p.significance == Significance::High0001)
                .count();
            let l = r
                .points
                .iter()
                .filter(|p| p.significance == Significance::Low0001)
                .count();
            (h, l)
        };
        assert_eq!(shown(&f), f.flagged_adjusted);
        assert_eq!(shown(&unadjusted), f.flagged_unadjusted);
        assert!(
            f.flagged_unadjusted.0 + f.flagged_unadjusted.1
                >= f.flagged_adjusted.0 + f.flagged_adjusted.1
        );
        assert_eq!(f.curve.len(), CURVE_POINTS);
        assert!(funnel(&[("z".to_string(), 0, 0)], Choice::Auto).is_none());
    }

    /// Units observed at 0 beyond SHMI's truncation make its φ infinite (log 0); the
    /// funnel then uses CQC's method and says so. With few zeros SHMI stays.
    #[test]
    fn shmi_falls_back_to_cqc_on_many_zeros() {
        let mut units: Vec<(String, u64, f64)> = (0..20)
            .map(|i| (format!("u{i:02}"), 10 + i as u64, 12.0 + i as f64 / 2.0))
            .collect();
        let f = ratio_funnel(&units, Kind::RatioShmi, Choice::Auto).unwrap();
        assert_eq!(f.dispersion.kind, Kind::RatioShmi);
        assert!(f.dispersion.phi.is_finite() && f.note.is_none());
        for u in units.iter_mut().take(5) {
            u.1 = 0;
        }
        let f = ratio_funnel(&units, Kind::RatioShmi, Choice::Auto).unwrap();
        assert_eq!(f.dispersion.kind, Kind::RatioCqc);
        assert!(f.dispersion.phi.is_finite());
        assert!(f.note.as_deref().unwrap().contains("5 such units"));
        // Five units at 0 among twenty near 1: overdispersed, the limits adjusted.
        assert!(f.dispersion.phi > 1.0 && f.adjusted);
    }

    /// Standardised ratios against FunnelPlotR's own output (tests/data/funnel/sr-*.json,
    /// produced as its README says): φ and τ² to 1e-9, each unit's limits to 1e-9 and the
    /// same units flagged at 99.8%, adjusted and unadjusted, by both methods.
    #[test]
    fn ratio_funnels_equal_funnelplotr() {
        for (text, kind) in [
            (
                include_str!("../../tests/data/funnel/sr-shmi.json"),
                Kind::RatioShmi,
            ),
            (
                include_str!("../../tests/data/funnel/sr-cqc.json"),
                Kind::RatioCqc,
            ),
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let units: Vec<(String, u64, f64)> = v["units"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| {
                    let e = u
                        .get("denominator_input")
                        .unwrap_or(&u["denominator"])
                        .as_f64()
                        .unwrap();
                    (
                        u["group"].as_str().unwrap().to_string(),
                        u["numerator"].as_u64().unwrap(),
                        e,
                    )
                })
                .collect();
            for (choice, key, limit) in [
                (Choice::Adjusted, "adjusted_99.8", "od_ll998"),
                (Choice::Unadjusted, "unadjusted_99.8", "ll998"),
            ] {
                let f = ratio_funnel(&units, kind, choice).unwrap();
                assert!((f.dispersion.phi - v["phi"].as_f64().unwrap()).abs() < 1e-9);
                assert!((f.dispersion.tau2 - v["tau2"].as_f64().unwrap()).abs() < 1e-9);
                let upper = limit.replace("ll", "ul");
                for (p, u) in f.points.iter().zip(v["units"].as_array().unwrap()) {
                    assert_eq!(p.label, u["group"].as_str().unwrap());
                    let lo = u["limits"][limit].as_f64().unwrap();
                    let hi = u["limits"][upper.as_str()].as_f64().unwrap();
                    assert!((p.lower998 - lo).abs() < 1e-9, "{} {key}", p.label);
                    assert!((p.upper998 - hi).abs() < 1e-9, "{} {key}", p.label);
                }
                let names = |side: &str| -> Vec<String> {
                    v["flagged"][key][side]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_string())
                        .collect()
                };
                let ours = |s: Significance| -> Vec<String> {
                    f.points
                        .iter()
                        .filter(|p| p.significance == s)
                        .map(|p| p.label.clone())
                        .collect()
                };
                assert_eq!(ours(Significance::High0001), names("high"), "{key}");
                assert_eq!(ours(Significance::Low0001), names("low"), "{key}");
                let shown = if choice == Choice::Adjusted {
                    f.flagged_adjusted
                } else {
                    f.flagged_unadjusted
                };
                assert_eq!(shown, (names("high").len(), names("low").len()));
            }
        }
    }
}
