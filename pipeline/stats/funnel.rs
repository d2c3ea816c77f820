//! Funnel plots of proportions, by PHEindicatormethods' method: the average is Σx / Σn;
//! the limits at denominator n are av ± z·√(av(1 − av)/n) with z = 1.959964 (95%) and
//! 3.090232 (99.8%), capped to [0, 1] for display; significance compares each
//! proportion strictly with the uncapped limits. Those two z values are the rounded
//! normal quantiles of 0.975 and 0.999; like PHEindicatormethods (`qnorm`), casework uses
//! the quantiles at full precision (the published test vector agrees to 1e-9 only so).

use serde::Serialize;

/// z of the 95% limits: the normal quantile of 0.975 (1.959964 rounded).
pub fn z95() -> f64 {
    super::normal_quantile(0.975)
}

/// z of the 99.8% limits: the normal quantile of 0.999 (3.090232 rounded).
pub fn z998() -> f64 {
    super::normal_quantile(0.999)
}
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

/// Limits at one denominator: (95% low, 95% high, 99.8% low, 99.8% high), uncapped.
pub fn limits(average: f64, n: f64) -> [f64; 4] {
    let se = (average * (1.0 - average) / n).sqrt();
    let (z95, z998) = (z95(), z998());
    [
        average - z95 * se,
        average + z95 * se,
        average - z998 * se,
        average + z998 * se,
    ]
}

fn cap(v: f64) -> f64 {
    v.clamp(0.0, 1.0)
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

#[derive(Debug, Clone, Serialize)]
pub struct FunnelResult {
    pub average: f64,
    pub points: Vec<FunnelPoint>,
    pub curve: Vec<CurvePoint>,
}

/// The funnel of units given as (label, numerator, denominator). Units with a zero
/// denominator are left out; `None` when none is left or nothing was counted.
pub fn funnel(units: &[(String, u64, u64)]) -> Option<FunnelResult> {
    let units: Vec<&(String, u64, u64)> = units.iter().filter(|u| u.2 > 0).collect();
    let total_x: u64 = units.iter().map(|u| u.1).sum();
    let total_n: u64 = units.iter().map(|u| u.2).sum();
    if total_n == 0 {
        return None;
    }
    let av = total_x as f64 / total_n as f64;
    let points = units
        .iter()
        .map(|(label, x, n)| {
            let p = *x as f64 / *n as f64;
            let [l95, u95, l998, u998] = limits(av, *n as f64);
            let significance = if p < l998 {
                Significance::Low0001
            } else if p < l95 {
                Significance::Low0025
            } else if p > u998 {
                Significance::High0001
            } else if p > u95 {
                Significance::High0025
            } else {
                Significance::NotSignificant
            };
            FunnelPoint {
                label: label.clone(),
                numerator: *x,
                denominator: *n,
                proportion: p,
                lower95: cap(l95),
                upper95: cap(u95),
                lower998: cap(l998),
                upper998: cap(u998),
                significance,
            }
        })
        .collect();
    let lo = units.iter().map(|u| u.2).min().unwrap_or(1).max(1) as f64;
    let hi = units.iter().map(|u| u.2).max().unwrap_or(1) as f64;
    let curve = (0..CURVE_POINTS)
        .map(|i| {
            let n = lo + (hi - lo) * i as f64 / (CURVE_POINTS - 1) as f64;
            let [l95, u95, l998, u998] = limits(av, n);
            CurvePoint {
                denominator: n,
                lower95: cap(l95),
                upper95: cap(u95),
                lower998: cap(l998),
                upper998: cap(u998),
            }
        })
        .collect();
    Some(FunnelResult {
        average: av,
        points,
        curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_vector() {
        let units: Vec<(String, u64, u64)> = [(30, 100), (45, 120), (12, 60), (80, 200), (5, 40)]
            .iter()
            .enumerate()
            .map(|(i, (x, n))| (format!("u{i}"), *x, *n))
            .collect();
        let f = funnel(&units).unwrap();
        assert!((f.average - 0.330769230769231).abs() < 1e-12);
        let labels: Vec<&str> = f.points.iter().map(|p| p.significance.label()).collect();
        assert_eq!(
            labels,
            [
                "not significant",
                "not significant",
                "low (0.025)",
                "high (0.025)",
                "low (0.025)"
            ]
        );
        let p = &f.points[4];
        for (got, want) in [
            (p.lower95, 0.184965513273),
            (p.upper95, 0.476572948266),
            (p.lower998, 0.100883701381),
            (p.upper998, 0.560654760157),
        ] {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        assert_eq!(f.curve.len(), CURVE_POINTS);
        assert_eq!(f.curve[0].denominator, 40.0);
        assert_eq!(f.curve[CURVE_POINTS - 1].denominator, 200.0);
    }

    #[test]
    fn limits_are_capped_for_display_but_not_for_significance() {
        // av = 0.05; at n = 5 the 95% lower limit is below zero and shows as 0.
        let units = vec![("a".to_string(), 0, 5), ("b".to_string(), 50, 995)];
        let f = funnel(&units).unwrap();
        assert_eq!(f.points[0].lower95, 0.0);
        assert_eq!(f.points[0].significance, Significance::NotSignificant);
        assert!(funnel(&[("z".to_string(), 0, 0)]).is_none());
    }
}
