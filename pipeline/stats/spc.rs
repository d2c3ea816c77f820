//! Statistical process control as NHS England's Making Data Count does it, following
//! NHSRplotthedots: an XmR chart with process limits mean ± 2.66 × mean moving range,
//! optional screening of moving ranges, and four rules for special-cause variation.
//!
//! Conventions (each from the Making Data Count guidance unless said otherwise):
//! - moving range i = |x(i) − x(i−1)| within a segment; the mean moving range is their
//!   mean. Screening (off by default): moving ranges ≥ 3.267 × the mean moving range are
//!   dropped and the mean recomputed once.
//! - Rule 1, astronomical: a point above the upper or below the lower process limit.
//! - Rule 2, trend: seven or more consecutive points each strictly above (or below) the
//!   one before; a tie breaks the run. Every point of the run is flagged.
//! - Rule 3, two of three: in any three consecutive points, two or more beyond the
//!   2-sigma line (mean ± 2/3 × 2.66 = 1.77333… × mean moving range, two-thirds of the way to the
//!   limits) on the same side of the mean; those points are flagged. Points beyond the
//!   limits count as beyond the 2-sigma line (casework's reading of the rule).
//! - Rule 4, shift: seven or more consecutive points on one side of the mean; a point on
//!   the mean breaks the run. Every point of the run is flagged.
//! - A rebase starts a new segment with its own mean and limits; runs do not cross it.
//!   Rebases are never made automatically; [`suggest_rebase`] only names a sustained shift
//!   for an analyst to confirm.
//! - A baseline (`fix_after`, 12 to 20 points in the Making Data Count tool): a segment's
//!   mean and limits are computed from its first N points, and the later points are
//!   judged against them.
//! - Runs (trend and shift) are 7 points long by default, or 6 (`run_length`).
//! - The summary icons (NHSRplotthedots `ptd_get_icons`,
//!   `ptd_calculate_assurance_type`): variation from the latest point (common cause,
//!   special cause of concern or improvement, high or low, or neither); assurance from the
//!   latest segment's limits against a target: the target beyond the upper limit is a
//!   consistent fail when higher is better (a pass when lower is), beyond the lower limit
//!   the reverse, and between them hit and miss; none without a target or a better
//!   direction. The latest segment's limits, so that a rebased chart judges its current
//!   process (NHSRplotthedots issue #172).
//! - A flagged point is "special cause concern" when any of its flags points in the
//!   direction of concern (above the mean, or a rising trend, when a rise is concern),
//!   else "special cause improvement"; unflagged points are "common cause".

use serde::{Deserialize, Serialize};

pub const LIMIT_FACTOR: f64 = 2.66;
pub const TWO_SIGMA_FACTOR: f64 = 2.66 * 2.0 / 3.0;
pub const SCREEN_FACTOR: f64 = 3.267;
/// The default length of a trend or a shift (Making Data Count; 6 is the other choice).
pub const RUN_LENGTH: usize = 7;
pub const MIN_POINTS: usize = 12;

/// Which way is better for the measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Increase,
    Decrease,
    /// Neither direction is better (a neutral theme): special causes are "neither".
    Neither,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Variation {
    #[serde(rename = "common cause")]
    CommonCause,
    #[serde(rename = "special cause concern")]
    SpecialCauseConcern,
    #[serde(rename = "special cause improvement")]
    SpecialCauseImprovement,
    /// A special cause where neither direction is better (Making Data Count's purple).
    #[serde(rename = "special cause neither")]
    SpecialCauseNeither,
}

#[derive(Debug, Clone)]
pub struct SpcOptions {
    /// Screen out large moving ranges before computing the limits.
    pub screen: bool,
    /// The direction of improvement (a failing, where lower is better: `Decrease`).
    pub improvement: Direction,
    /// Indexes where a new segment starts (rebase points).
    pub rebase: Vec<usize>,
    /// Each segment's mean and limits from its first N points only (a baseline).
    pub fix_after: Option<usize>,
    /// Points in a trend or a shift (7, or 6).
    pub run_length: usize,
}

impl Default for SpcOptions {
    fn default() -> SpcOptions {
        SpcOptions {
            screen: false,
            improvement: Direction::Decrease,
            rebase: Vec::new(),
            fix_after: None,
            run_length: RUN_LENGTH,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SpcPoint {
    pub value: f64,
    pub segment: usize,
    pub mean: f64,
    pub lower_limit: f64,
    pub upper_limit: f64,
    pub lower_two_sigma: f64,
    pub upper_two_sigma: f64,
    pub outside_limits: bool,
    pub trend: bool,
    pub two_of_three: bool,
    pub shift: bool,
    pub variation: Variation,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpcResult {
    pub improvement: Direction,
    pub screened: bool,
    pub points: Vec<SpcPoint>,
}

/// Segment statistics: (mean, mean moving range).
pub fn segment_stats(values: &[f64], screen: bool) -> (f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let ranges: Vec<f64> = values.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if ranges.is_empty() {
        return (mean, 0.0);
    }
    let mut amr = ranges.iter().sum::<f64>() / ranges.len() as f64;
    if screen {
        let kept: Vec<f64> = ranges
            .iter()
            .copied()
            .filter(|r| *r < SCREEN_FACTOR * amr)
            .collect();
        if !kept.is_empty() {
            amr = kept.iter().sum::<f64>() / kept.len() as f64;
        }
    }
    (mean, amr)
}

/// The XmR chart of `values`. Errors when there are fewer than 12 points (in all, or in
/// a segment after a rebase).
pub fn spc(values: &[f64], options: &SpcOptions) -> Result<SpcResult, String> {
    if values.len() < MIN_POINTS {
        return Err(format!(
            "an SPC chart needs at least {MIN_POINTS} points; this series has {}",
            values.len()
        ));
    }
    let mut starts: Vec<usize> = vec![0];
    let mut rebase = options.rebase.clone();
    rebase.sort_unstable();
    for r in rebase {
        if r > 0 && r < values.len() && !starts.contains(&r) {
            starts.push(r);
        }
    }
    if let Some(n) = options.fix_after
        && !(MIN_POINTS..=values.len()).contains(&n)
    {
        return Err(format!(
            "a baseline needs at least {MIN_POINTS} points and at most the series' {}; {n} were asked",
            values.len()
        ));
    }
    let mut points = Vec::with_capacity(values.len());
    for (segment, w) in starts.iter().enumerate() {
        let end = starts.get(segment + 1).copied().unwrap_or(values.len());
        let seg = &values[*w..end];
        if seg.len() < MIN_POINTS {
            return Err(format!(
                "segment {} (from point {}) has {} points; each segment of an SPC chart needs at least {MIN_POINTS}",
                segment + 1,
                w + 1,
                seg.len()
            ));
        }
        points.extend(segment_points(seg, segment, options));
    }
    Ok(SpcResult {
        improvement: options.improvement,
        screened: options.screen,
        points,
    })
}

fn segment_points(seg: &[f64], segment: usize, options: &SpcOptions) -> Vec<SpcPoint> {
    let base = options
        .fix_after
        .map_or(seg.len(), |n| n.clamp(2, seg.len()));
    let (mean, amr) = segment_stats(&seg[..base], options.screen);
    let run = options.run_length.clamp(6, 7);
    let (lpl, upl) = (mean - LIMIT_FACTOR * amr, mean + LIMIT_FACTOR * amr);
    let (l2, u2) = (mean - TWO_SIGMA_FACTOR * amr, mean + TWO_SIGMA_FACTOR * amr);
    let n = seg.len();
    // Per point: the directions (+1 high/rising, −1 low/falling) of the rules it breaks.
    let mut hits: Vec<Vec<i8>> = vec![Vec::new(); n];
    let side = |v: f64| {
        if v > mean {
            1i8
        } else if v < mean {
            -1
        } else {
            0
        }
    };
    let mut outside = vec![false; n];
    for (i, &v) in seg.iter().enumerate() {
        if v > upl || v < lpl {
            outside[i] = true;
            hits[i].push(side(v));
        }
    }
    // Trend: runs of strictly rising (or falling) points.
    let mut trend = vec![false; n];
    for dir in [1i8, -1] {
        let mut start = 0;
        for i in 1..=n {
            let continues = i < n
                && match dir {
                    1 => seg[i] > seg[i - 1],
                    _ => seg[i] < seg[i - 1],
                };
            if !continues {
                if i - start >= run {
                    for j in start..i {
                        trend[j] = true;
                        hits[j].push(dir);
                    }
                }
                start = i;
            }
        }
    }
    // Two of three beyond the 2-sigma line on the same side.
    let mut two = vec![false; n];
    let beyond = |v: f64| {
        if v > u2 {
            1i8
        } else if v < l2 {
            -1
        } else {
            0
        }
    };
    for start in 0..n.saturating_sub(2) {
        for dir in [1i8, -1] {
            let members: Vec<usize> = (start..start + 3)
                .filter(|&j| beyond(seg[j]) == dir)
                .collect();
            if members.len() >= 2 {
                for j in members {
                    if !two[j] {
                        two[j] = true;
                        hits[j].push(dir);
                    }
                }
            }
        }
    }
    // Shift: runs on one side of the mean; a point on the mean breaks them.
    let mut shift = vec![false; n];
    let mut start = 0;
    for i in 1..=n {
        if i == n || side(seg[i]) != side(seg[start]) || side(seg[i]) == 0 {
            let s = side(seg[start]);
            if s != 0 && i - start >= run {
                for j in start..i {
                    shift[j] = true;
                    hits[j].push(s);
                }
            }
            start = i;
        }
    }
    let concern: i8 = match options.improvement {
        Direction::Decrease => 1,
        Direction::Increase => -1,
        Direction::Neither => 0,
    };
    seg.iter()
        .enumerate()
        .map(|(i, &value)| SpcPoint {
            value,
            segment,
            mean,
            lower_limit: lpl,
            upper_limit: upl,
            lower_two_sigma: l2,
            upper_two_sigma: u2,
            outside_limits: outside[i],
            trend: trend[i],
            two_of_three: two[i],
            shift: shift[i],
            variation: if hits[i].is_empty() {
                Variation::CommonCause
            } else if concern == 0 {
                Variation::SpecialCauseNeither
            } else if hits[i].contains(&concern) {
                Variation::SpecialCauseConcern
            } else {
                Variation::SpecialCauseImprovement
            },
        })
        .collect()
}

/// The summary icon of variation (Making Data Count): the latest point's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariationIcon {
    CommonCause,
    ConcernHigh,
    ConcernLow,
    ImprovementHigh,
    ImprovementLow,
    NeitherHigh,
    NeitherLow,
}

impl VariationIcon {
    /// The icon in words (its text equivalent).
    pub fn words(self) -> &'static str {
        match self {
            VariationIcon::CommonCause => "common cause variation",
            VariationIcon::ConcernHigh => "special cause of concern, high",
            VariationIcon::ConcernLow => "special cause of concern, low",
            VariationIcon::ImprovementHigh => "special cause of improvement, high",
            VariationIcon::ImprovementLow => "special cause of improvement, low",
            VariationIcon::NeitherHigh => "special cause, high (neither better nor worse)",
            VariationIcon::NeitherLow => "special cause, low (neither better nor worse)",
        }
    }
}

/// The summary icon of assurance against a target (Making Data Count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    /// The process will consistently meet the target.
    Pass,
    /// It will consistently miss it.
    Fail,
    /// It will sometimes meet it and sometimes not.
    HitAndMiss,
}

impl Assurance {
    pub fn words(self) -> &'static str {
        match self {
            Assurance::Pass => "consistently meets the target",
            Assurance::Fail => "consistently misses the target",
            Assurance::HitAndMiss => "hit and miss against the target",
        }
    }
}

impl SpcResult {
    /// The variation icon: the latest point's (none for an empty chart).
    pub fn variation_icon(&self) -> Option<VariationIcon> {
        let p = self.points.last()?;
        let high = p.value > p.mean;
        Some(match (p.variation, self.improvement, high) {
            (Variation::CommonCause, _, _) => VariationIcon::CommonCause,
            (Variation::SpecialCauseNeither, _, true) => VariationIcon::NeitherHigh,
            (Variation::SpecialCauseNeither, _, false) => VariationIcon::NeitherLow,
            (Variation::SpecialCauseConcern, Direction::Increase, _) => VariationIcon::ConcernLow,
            (Variation::SpecialCauseConcern, _, _) => VariationIcon::ConcernHigh,
            (Variation::SpecialCauseImprovement, Direction::Increase, _) => {
                VariationIcon::ImprovementHigh
            }
            (Variation::SpecialCauseImprovement, _, _) => VariationIcon::ImprovementLow,
        })
    }

    /// The assurance icon against `target`: by the latest point's segment's limits.
    pub fn assurance(&self, target: f64) -> Option<Assurance> {
        let p = self.points.last()?;
        assurance(p.lower_limit, p.upper_limit, target, self.improvement)
    }
}

/// Assurance of a process with these limits against `target` (NHSRplotthedots'
/// `ptd_calculate_assurance_type`).
pub fn assurance(lower: f64, upper: f64, target: f64, improvement: Direction) -> Option<Assurance> {
    let increasing = match improvement {
        Direction::Increase => true,
        Direction::Decrease => false,
        Direction::Neither => return None,
    };
    Some(if target > upper {
        if increasing {
            Assurance::Fail
        } else {
            Assurance::Pass
        }
    } else if target < lower {
        if increasing {
            Assurance::Pass
        } else {
            Assurance::Fail
        }
    } else {
        Assurance::HitAndMiss
    })
}

/// A rebase worth considering: the first point of a run of `run_length` or more points
/// on one side of the mean that reaches the end of the chart and is long enough to carry
/// limits of its own (12 points). Only ever a suggestion, for the analyst to confirm.
pub fn suggest_rebase(r: &SpcResult) -> Option<usize> {
    let n = r.points.len();
    let last = r.points.last()?;
    if !last.shift {
        return None;
    }
    let high = last.value > last.mean;
    let mut start = n - 1;
    while start > 0 {
        let p = &r.points[start - 1];
        if p.segment != last.segment || !p.shift || (p.value > p.mean) != high {
            break;
        }
        start -= 1;
    }
    (n - start >= MIN_POINTS && start > 0 && r.points[start].segment == last.segment)
        .then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NHSRplotthedots' tests of `ptd_calculate_assurance_type`
    /// (tests/testthat/test-ptd_calculate_assurance_type.R): limits (1, 3), (5, 7), (1, 5)
    /// against a target of 4.
    #[test]
    fn assurance_as_nhsrplotthedots() {
        let limits = [(1.0, 3.0), (5.0, 7.0), (1.0, 5.0)];
        let of = |d: Direction| -> Vec<Option<Assurance>> {
            limits
                .iter()
                .map(|&(l, u)| assurance(l, u, 4.0, d))
                .collect()
        };
        use Assurance::*;
        assert_eq!(
            of(Direction::Increase),
            vec![Some(Fail), Some(Pass), Some(HitAndMiss)]
        );
        assert_eq!(
            of(Direction::Decrease),
            vec![Some(Pass), Some(Fail), Some(HitAndMiss)]
        );
        assert_eq!(of(Direction::Neither), vec![None, None, None]);
    }

    /// Its rebase test: the assurance is the latest row's (after the rows are put in
    /// another order, the last one's limits decide), and NHSRplotthedots issue #172: 20
    /// points failing a target of 90% (higher better), then a rebased process whose
    /// limits straddle it: hit and miss, not fail.
    #[test]
    fn assurance_is_the_latest_segments() {
        let mut values: Vec<f64> = (0..20).map(|i| 0.55 + 0.01 * (i % 7) as f64).collect();
        values.extend((0..14).map(|i| 0.86 + 0.02 * (i % 5) as f64));
        let before = spc(
            &values,
            &SpcOptions {
                improvement: Direction::Increase,
                ..SpcOptions::default()
            },
        )
        .unwrap();
        let rebased = spc(
            &values,
            &SpcOptions {
                improvement: Direction::Increase,
                rebase: vec![20],
                ..SpcOptions::default()
            },
        )
        .unwrap();
        let first = &rebased.points[0];
        let last = rebased.points.last().unwrap();
        assert!(
            first.upper_limit < 0.9,
            "the first process fails: {}",
            first.upper_limit
        );
        assert!(last.lower_limit < 0.9 && last.upper_limit > 0.9);
        assert_eq!(rebased.assurance(0.9), Some(Assurance::HitAndMiss));
        // Unrebased, the whole series' limits decide.
        assert_eq!(
            before.assurance(0.9),
            assurance(
                before.points[0].lower_limit,
                before.points[0].upper_limit,
                0.9,
                Direction::Increase
            )
        );
        // Target above, inside and below the latest limits, higher better.
        assert_eq!(
            rebased.assurance(last.upper_limit + 0.01),
            Some(Assurance::Fail)
        );
        assert_eq!(
            rebased.assurance(last.lower_limit - 0.01),
            Some(Assurance::Pass)
        );
        assert_eq!(rebased.assurance(last.mean), Some(Assurance::HitAndMiss));
    }

    /// The variation icon follows the latest point and the direction of improvement
    /// (NHSRplotthedots `ptd_get_icons`: concern is high when lower is better).
    #[test]
    fn variation_icons() {
        let mut values = vec![5.0; 20];
        for (i, v) in values.iter_mut().enumerate() {
            *v += (i % 3) as f64 * 0.1;
        }
        let mut high = values.clone();
        high.push(9.0);
        let r = |v: &[f64], d: Direction| {
            spc(
                v,
                &SpcOptions {
                    improvement: d,
                    ..SpcOptions::default()
                },
            )
            .unwrap()
        };
        assert_eq!(
            r(&values, Direction::Decrease).variation_icon(),
            Some(VariationIcon::CommonCause)
        );
        assert_eq!(
            r(&high, Direction::Decrease).variation_icon(),
            Some(VariationIcon::ConcernHigh)
        );
        assert_eq!(
            r(&high, Direction::Increase).variation_icon(),
            Some(VariationIcon::ImprovementHigh)
        );
        assert_eq!(
            r(&high, Direction::Neither).variation_icon(),
            Some(VariationIcon::NeitherHigh)
        );
        let mut low = values.clone();
        low.push(1.0);
        assert_eq!(
            r(&low, Direction::Decrease).variation_icon(),
            Some(VariationIcon::ImprovementLow)
        );
        assert_eq!(
            r(&low, Direction::Increase).variation_icon(),
            Some(VariationIcon::ConcernLow)
        );
    }

    /// A baseline: limits from the first 12 points; a run of 6 is a shift only when asked;
    /// a sustained shift at the end is suggested as a rebase, never made.
    #[test]
    fn baseline_run_length_and_suggested_rebase() {
        let mut v: Vec<f64> = (0..12).map(|i| 10.0 + ((i + 1) % 2) as f64).collect();
        v.extend((0..14).map(|i| 14.0 + (i % 2) as f64 * 0.5));
        let fixed = spc(
            &v,
            &SpcOptions {
                fix_after: Some(12),
                ..SpcOptions::default()
            },
        )
        .unwrap();
        let whole = spc(&v, &SpcOptions::default()).unwrap();
        assert!((fixed.points[25].mean - 10.5).abs() < 1e-12);
        assert!(fixed.points[25].mean < whole.points[25].mean);
        assert!(
            spc(
                &v,
                &SpcOptions {
                    fix_after: Some(5),
                    ..SpcOptions::default()
                }
            )
            .is_err()
        );
        assert_eq!(suggest_rebase(&fixed), Some(12));
        let six = [
            1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 1.0, 2.0,
        ];
        let seven = spc(&six, &SpcOptions::default()).unwrap();
        let run6 = spc(
            &six,
            &SpcOptions {
                run_length: 6,
                ..SpcOptions::default()
            },
        )
        .unwrap();
        assert!(!seven.points[8].shift);
        assert!(run6.points[8].shift);
    }

    const SERIES: [f64; 18] = [
        1., 2., 1., 2., 10., 1., 2., 1., 2., 1., 2., 1., 2., 1., 2., 1., 2., 1.,
    ];

    fn flags(r: &SpcResult, f: fn(&SpcPoint) -> bool) -> Vec<usize> {
        r.points
            .iter()
            .enumerate()
            .filter(|(_, p)| f(p))
            .map(|(i, _)| i + 1)
            .collect()
    }

    #[test]
    fn the_issue_vector_unscreened_and_screened() {
        let r = spc(&SERIES, &SpcOptions::default()).unwrap();
        let p = &r.points[0];
        assert!((p.mean - 1.944444).abs() < 1e-6);
        assert!(
            (p.lower_limit - -3.062614).abs() < 1e-6,
            "{}",
            p.lower_limit
        );
        assert!((p.upper_limit - 6.951503).abs() < 1e-6, "{}", p.upper_limit);
        assert_eq!(flags(&r, |p| p.outside_limits), [5]);
        assert_eq!(r.points[4].variation, Variation::SpecialCauseConcern);
        assert_eq!(r.points[3].variation, Variation::CommonCause);
        let s = spc(
            &SERIES,
            &SpcOptions {
                screen: true,
                ..SpcOptions::default()
            },
        )
        .unwrap();
        assert!((s.points[0].lower_limit - -0.715556).abs() < 1e-6);
        assert!((s.points[0].upper_limit - 4.604444).abs() < 1e-6);
        assert_eq!(flags(&s, |p| p.outside_limits), [5]);
    }

    #[test]
    fn fewer_than_twelve_points_is_an_error() {
        let e = spc(&SERIES[..11], &SpcOptions::default()).unwrap_err();
        assert_eq!(
            e,
            "an SPC chart needs at least 12 points; this series has 11"
        );
    }

    #[test]
    fn trend_of_seven_and_a_tie_breaks_it() {
        // Points 3..=9 rise strictly (seven points): a trend. Mean 5.5, so no shift.
        let v = [5., 6., 1., 2., 3., 4., 5., 6., 7., 6., 9., 11.];
        let r = spc(&v, &SpcOptions::default()).unwrap();
        assert_eq!(flags(&r, |p| p.trend), [3, 4, 5, 6, 7, 8, 9]);
        // The same with a tie at points 5 and 6: two runs of 3 and 4, no trend.
        let v = [5., 6., 1., 2., 3., 3., 5., 6., 7., 6., 9., 11.];
        let r = spc(&v, &SpcOptions::default()).unwrap();
        assert!(flags(&r, |p| p.trend).is_empty());
        // Six rising points are not a trend.
        let v = [5., 6., 1., 2., 3., 4., 5., 6., 5., 6., 9., 11.];
        let r = spc(&v, &SpcOptions::default()).unwrap();
        assert!(flags(&r, |p| p.trend).is_empty());
    }

    #[test]
    fn shift_of_seven_and_a_point_on_the_mean_breaks_it() {
        // Mean of the series is 5: points 1..=7 below (4), then above (6): two shifts.
        let v = [4., 4., 4., 4., 4., 4., 4., 6., 6., 6., 6., 6., 6., 6.];
        let r = spc(&v, &SpcOptions::default()).unwrap();
        assert_eq!(flags(&r, |p| p.shift), (1..=14).collect::<Vec<_>>());
        assert_eq!(r.points[0].variation, Variation::SpecialCauseImprovement);
        assert_eq!(r.points[13].variation, Variation::SpecialCauseConcern);
        // Mean 5: a point on the mean at position 4 breaks the first run into 3 + 3.
        let v = [4., 4., 4., 5., 4., 4., 4., 6., 6., 6., 6., 6., 6., 6., 4.];
        let r = spc(&v, &SpcOptions::default()).unwrap();
        assert_eq!(flags(&r, |p| p.shift), [8, 9, 10, 11, 12, 13, 14]);
    }

    #[test]
    fn two_of_three_beyond_two_sigma_on_one_side() {
        // Mean 10.25, mean moving range 14/11: the 2-sigma line is at 12.507 and the
        // upper limit at 13.635. Points 6 and 8 (13) are between them, in one window.
        let v = [10., 10., 10., 10., 10., 13., 10., 13., 10., 10., 9., 8.];
        let (mean, amr) = segment_stats(&v, false);
        let u2 = mean + TWO_SIGMA_FACTOR * amr;
        let upl = mean + LIMIT_FACTOR * amr;
        assert!(
            13.0 > u2 && 13.0 < upl,
            "13 is between the lines: {u2} {upl}"
        );
        let r = spc(&v, &SpcOptions::default()).unwrap();
        assert_eq!(flags(&r, |p| p.two_of_three), [6, 8]);
        assert!(flags(&r, |p| p.outside_limits).is_empty());
        // Two high points three apart are not two of three.
        let v = [10., 10., 10., 10., 10., 13., 10., 10., 13., 10., 9., 8.];
        let r = spc(&v, &SpcOptions::default()).unwrap();
        assert!(flags(&r, |p| p.two_of_three).is_empty());
    }

    #[test]
    fn rebase_gives_each_segment_its_own_limits() {
        let mut v: Vec<f64> = (0..12).map(|i| 10.0 + (i % 2) as f64).collect();
        v.extend((0..12).map(|i| 20.0 + (i % 2) as f64));
        let whole = spc(&v, &SpcOptions::default()).unwrap();
        assert!(whole.points.iter().any(|p| p.shift));
        let r = spc(
            &v,
            &SpcOptions {
                rebase: vec![12],
                ..SpcOptions::default()
            },
        )
        .unwrap();
        assert_eq!(r.points[0].mean, 10.5);
        assert_eq!(r.points[12].mean, 20.5);
        assert!(
            r.points
                .iter()
                .all(|p| p.variation == Variation::CommonCause)
        );
        let e = spc(
            &v,
            &SpcOptions {
                rebase: vec![5],
                ..SpcOptions::default()
            },
        )
        .unwrap_err();
        assert!(e.contains("needs at least 12"), "{e}");
    }
}
