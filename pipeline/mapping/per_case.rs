//! `per_case` fields: a case field taken over all the export rows of its case (the
//! worst by a stated order, first, last, max, min, any, count), not only its first row.

use super::{Mapping, Target};
use crate::input::RawRow;

/// How a case field is taken over the export rows of its case.
#[derive(Debug)]
pub(super) enum PerCase {
    /// The value listed first in `order` (values as written in the export, worst first).
    Worst(Vec<String>, u64),
    First,
    Last,
    /// Of the stored values (ISO dates and numbers compare as such).
    Max,
    Min,
    /// `true` when any row gives a value other than `false`, else `false`.
    Any,
    /// How many of the case's rows give a value.
    Count,
}

/// A case being gathered over its export rows: its row (first row's values) and, per
/// `per_case` field, the value chosen so far (as written, as stored) and rows counted.
pub(super) struct Gathered {
    pub(super) row: RawRow,
    pub(super) chosen: Vec<(Option<(String, String)>, u64)>,
}

impl Mapping {
    /// Folds one export row's values of the `per_case` fields into its case.
    pub(super) fn gather(
        &self,
        target: &Target,
        g: &mut Gathered,
        raw: &[(Option<String>, Option<String>)],
    ) -> std::result::Result<(), (usize, String)> {
        let fields = target.fields.iter().filter(|f| f.per_case.is_some());
        for ((f, (chosen, n)), (written, stored)) in fields.zip(g.chosen.iter_mut()).zip(raw) {
            let (Some(written), Some(stored)) = (written, stored) else {
                continue;
            };
            let value = || Some((written.clone(), stored.clone()));
            let take = match (&f.per_case, chosen.as_ref()) {
                (Some(PerCase::Any), _) => {
                    if stored != "false" && chosen.is_none() {
                        *chosen = value();
                    }
                    continue;
                }
                (Some(PerCase::Count), _) => {
                    *n += 1;
                    continue;
                }
                (Some(PerCase::Worst(order, line)), c) => {
                    let rank = |w: &str| order.iter().position(|o| o == w);
                    let Some(r) = rank(written) else {
                        return Err((
                            f.target,
                            format!(
                                "value {written:?} is not in the order of per_case = \"worst\" ({} line {}): list it there",
                                self.path.display(),
                                line
                            ),
                        ));
                    };
                    c.is_none_or(|c| rank(&c.0).is_some_and(|x| r < x))
                }
                (_, None) => true,
                (Some(PerCase::First), Some(_)) => false,
                (Some(PerCase::Last), Some(_)) => true,
                (Some(PerCase::Max), Some(c)) => compare(stored, &c.1).is_gt(),
                (Some(PerCase::Min), Some(c)) => compare(stored, &c.1).is_lt(),
                (None, Some(_)) => false,
            };
            if take {
                *chosen = value();
            }
        }
        Ok(())
    }
}

/// Orders two stored values: as numbers when both are, else as text (ISO dates and
/// date-times order correctly as text).
fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}
