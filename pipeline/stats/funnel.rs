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
}

impl Significance {
    pub fn label(self) -> &'static str {
        match self {
            Significance::Low0001 => "low (0.001)",
            Significance::Low0025 => "low (0.025)",
            Significance::High0001 => "high (0.001)",
            Significance::High0025 => "high (0.025)",
            Significance::NotSignificant => "not significant",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FunnelPoint {
    pub label: String,
    pub numerator: u64,
    pub denominator: u64,
    pub proportion: f64,
    /// Limits at this unit's denominator, capped to [0, 1].
    pub lower95: f64,
    pub upper95: f64,
    pub lower998: f64,
    pub upper998: f64,
    pub significance: Significance,
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

/// The funnel of units given as (label, numerator, denominator). Units with a zero
/// denominator are left out; `None` when none is left or nothing was counted.
pub fn funnel(units: &[(String, u64, u64)], choice: Choice) -> Option<FunnelResult> {
    let units: Vec<&(String, u64, u64)> = units.iter().filter(|u| u.2 > 0).collect();
    let total_n: u64 = units.iter().map(|u| u.2).sum();
    if total_n == 0 {
        return None;
    }
    let pairs: Vec<(f64, f64)> = units.iter().map(|u| (u.1 as f64, u.2 as f64)).collect();
    let d = dispersion(&pairs, Kind::Proportion, TRIM)?;
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
        for ((x, n), l) in pairs.iter().zip(ls) {
            match flag(x / n, l) {
                Flag::High998 => c.0 += 1,
                Flag::Low998 => c.1 += 1,
                _ => {}
            }
        }
        c
    };
    let (flagged_adjusted, flagged_unadjusted) = (count(&with), count(&without));
    let chosen = if adjusted { &with } else { &without };
    let points = units
        .iter()
        .zip(chosen)
        .map(|((label, x, n), l)| {
            let p = *x as f64 / *n as f64;
            FunnelPoint {
                label: label.clone(),
                numerator: *x,
                denominator: *n,
                proportion: p,
                lower95: l.lower95,
                upper95: l.upper95,
                lower998: l.lower998,
                upper998: l.upper998,
                significance: significance(flag(p, l)),
            }
        })
        .collect();
    let lo = units.iter().map(|u| u.2).min().unwrap_or(1).max(1) as f64;
    let hi = units.iter().map(|u| u.2).max().unwrap_or(1) as f64;
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
}
