//! The explorer's case index: what every page's filters and counts need of each case,
//! read once per warehouse version, so that a view never seen before is answered by
//! arithmetic over memory instead of a report's worth of queries.
//!
//! One compact row per case (40 bytes: its groupings as numbers into sorted lists of
//! their values, its months, and its themes as bits; beside it its date and its *theme
//! set*, a number into the list of the distinct sets of themes the cases have), kept in
//! the order of each date so that a period reads only its slice. A scope is one pass
//! over its rows; the counts of a view are the four measures the explorer's pages rest
//! on: `theme_prevalence`, `organisation_profile`, `monthly_series` and
//! `theme_cooccurrence`, produced as their
//! SQL's rows and read through the measures' own row types ([`measures::typed`]), so that
//! the intervals, the funnels, the SPC charts, the scorecard and disclosure control
//! downstream are the report's. `tests/it/explorer.rs` compares them with the SQL
//! measures over random scopes.
//!
//! Beside the cases, per date, a small cube ([`Cube`]): the cases' counts by calendar
//! month and by organisation (with its name and region), each cell holding its cases and
//! its cases per theme. A view filtered on organisation and region alone (or on nothing)
//! reads the cells of the months its dates cover whole, and the cases of the months they
//! cut: some 40,000 cells and a few thousand cases at a million cases, in place of a
//! million cases. A full cube by day, organisation, source, decision, service, stage
//! and theme set would have about a cell per case at national scale, so the views that
//! filter on those read the cases; so do those that count theme sets (a full report's
//! co-occurrence) or a code list past 64 themes.
//!
//! The measures that need a case's events, recommendations or codings (delays, remedies,
//! reliability) stay on DataFusion: serve's full report of a view (`/report`).

use std::collections::HashMap;
use std::sync::OnceLock;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::engine::{Grouping, Scope};
use crate::error::{Error, Result};
use crate::measures::rows::{Count, MonthTheme, OrganisationTheme, Table};
use crate::measures::{self, Context, Output};
use crate::spec::grid::Level;

/// No value (a missing grouping, a case with no date).
const NONE: u32 = u32::MAX;
/// The groupings a case has (`Grouping::ALL`, in its order, but the last: a stage is a
/// finding's, kept in the theme sets).
const GROUPINGS: usize = Grouping::ALL.len() - 1;
const _: () = assert!(matches!(Grouping::ALL[GROUPINGS], Grouping::Stage));
const NO_DATE: i32 = i32::MIN;
const NO_MONTH: u32 = u32::MAX;
/// Flags: the date is known only to its year.
const OPENED_YEAR_ONLY: u8 = 1;
const CLOSED_YEAR_ONLY: u8 = 2;

/// One case as read (kept while the index is built).
#[derive(Debug, Clone, Copy)]
struct Row {
    groupings: [u32; GROUPINGS],
    name: u32,
    /// Days since 1970-01-01.
    opened: i32,
    closed: i32,
    /// The date's month (an offset from the index's first month), when it is known to
    /// the month; NO_MONTH when not.
    opened_month: u32,
    closed_month: u32,
    flags: u8,
    set: u32,
    /// The set's themes as bits (theme n at bit n; the first 64 themes): counting by
    /// bits reads no other memory. A code list of more themes counts through `sets`.
    bits: u64,
    /// Its organisation, name and region together ([`CaseIndex::entities`]).
    entity: u32,
}

/// The cases as the pages need them, as columns, one vector per field: a pass reads only
/// the fields its view needs (a million cases' theme bits are 8 MB, where whole cases were
/// 40 MB), so the pages' passes, which wait on memory, read less of it. Each case's date
/// (to find a period's slice) and theme set (for more than 64 themes) are kept beside
/// them ([`Ordered`]).
#[derive(Debug, Default)]
struct Cases {
    /// Its themes as bits (theme n at bit n; the first 64 themes).
    bits: Vec<u64>,
    org: Vec<u32>,
    name: Vec<u32>,
    region: Vec<u32>,
    source: Vec<u16>,
    decision: Vec<u16>,
    /// Free text, so as wide as a region.
    service: Vec<u32>,
    /// By the opened and by the closed date: offsets from the index's first month;
    /// NO_MONTH when the date is not known to the month. (Not narrower: a placeholder
    /// date such as 9999-12-31 among real ones makes a span of a hundred thousand
    /// months.)
    month: [Vec<u32>; 2],
    flags: Vec<u8>,
}

impl Cases {
    fn with_capacity(n: usize) -> Cases {
        Cases {
            bits: Vec::with_capacity(n),
            org: Vec::with_capacity(n),
            name: Vec::with_capacity(n),
            region: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            decision: Vec::with_capacity(n),
            service: Vec::with_capacity(n),
            month: [Vec::with_capacity(n), Vec::with_capacity(n)],
            flags: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, r: &Row) -> Result<()> {
        let narrow = |v: u32, what: &str| -> Result<u16> {
            if v == NONE {
                Ok(u16::MAX)
            } else if v < u32::from(u16::MAX) {
                Ok(v as u16)
            } else {
                Err(Error::Usage(format!(
                    "casework serve: more than {} {what} values; the explorer's index holds fewer",
                    u16::MAX - 1
                )))
            }
        };
        self.source.push(narrow(r.groupings[2], "source")?);
        self.decision.push(narrow(r.groupings[3], "decision")?);
        self.bits.push(r.bits);
        self.org.push(r.groupings[0]);
        self.name.push(r.name);
        self.region.push(r.groupings[1]);
        self.service.push(r.groupings[4]);
        self.month[0].push(r.opened_month);
        self.month[1].push(r.closed_month);
        self.flags.push(r.flags);
        Ok(())
    }

    fn len(&self) -> usize {
        self.bits.len()
    }

    fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// Case i's value of grouping `k` (0 organisation, 1 region, 2 source, 3 decision, 4
    /// service: the order of `Grouping::ALL`).
    #[inline(always)]
    fn grouping(&self, k: usize, i: usize) -> u32 {
        let wide = |v: u16| if v == u16::MAX { NONE } else { u32::from(v) };
        match k {
            0 => self.org[i],
            1 => self.region[i],
            2 => wide(self.source[i]),
            3 => wide(self.decision[i]),
            _ => self.service[i],
        }
    }
}

/// The cases in the order of one of their dates (those with no date first), with each
/// one's date and theme set beside it: a view of a period reads only its slice.
#[derive(Debug, Default)]
struct Ordered {
    cases: Cases,
    dates: Vec<i32>,
    sets: Vec<u32>,
    /// Per grouping, each value's cases, built at the first view that filters on the
    /// grouping: a view of an organisation or a region visits its own cases instead of
    /// testing every case of its slice.
    lists: [OnceLock<Lists>; GROUPINGS],
    /// The cases' counts summed by month and organisation; `None` where that would not
    /// be much smaller than the cases (or past 64 themes).
    cube: Option<Cube>,
}

/// One organisation, name and region that cases have together: what a cube's cell is
/// kept by (most organisations have one; the filters on organisation and region, and an
/// organisation's name and region, are read from it).
#[derive(Debug, Clone, Copy)]
struct Entity {
    org: u32,
    name: u32,
    region: u32,
}

/// The cases of an [`Ordered`] summed by *block*, the cases of one calendar month of its
/// date (contiguous in the order; the cases with no date one block), and within a block
/// by *cell*, the cases of one [`Entity`] whose date is or is not known only to its year.
/// A view whose filters are on organisation and region only reads the cells of the
/// months its dates cover whole, and the cases of the (at most two) months they cut: at a
/// million cases some 40,000 cells in place of a million cases. A view of a month,
/// quarter, year or financial year cuts none.
#[derive(Debug, Default)]
struct Cube {
    /// Block b: the cases `bounds[b]..bounds[b + 1]` of the order, the cells
    /// `firsts[b]..firsts[b + 1]`.
    bounds: Vec<u32>,
    firsts: Vec<u32>,
    cells: Vec<Cell>,
    /// Per cell, its cases with each theme (the code list's themes, in order).
    themes: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    entity: u32,
    /// The month of its cases (an offset, as [`Cases::month`]; NO_MONTH: no date, or a
    /// date known only to its year).
    month: u32,
    year_only: bool,
    cases: u32,
}

impl Cube {
    /// The cube of the cases of an order (of the date `field`: 0 opened, 1 closed),
    /// read from its columns in order with each case's entity beside them, or `None`
    /// when it would take more than `bytes_per_case` bytes a case (0: any size) or its
    /// themes are past bits.
    fn of(
        o: &Ordered,
        entity: &[u32],
        field: usize,
        themes: usize,
        entities: usize,
        bytes_per_case: usize,
    ) -> Option<Cube> {
        if themes > 64 {
            return None;
        }
        let flag = [OPENED_YEAR_ONLY, CLOSED_YEAR_ONLY][field];
        let c = &o.cases;
        let n = c.len();
        let mut cube = Cube::default();
        // A cell's bytes: itself and a count per theme.
        let cell_bytes = std::mem::size_of::<Cell>() + 4 * themes;
        // The current block's cell per entity and year-only flag (u32::MAX: none yet).
        let mut slot = vec![u32::MAX; entities * 2];
        let mut touched: Vec<usize> = Vec::new();
        let (mut block, mut last_date) = (None, None);
        for (i, (&date, &e)) in o.dates.iter().zip(entity).enumerate() {
            if last_date != Some(date) {
                last_date = Some(date);
                let key = if date == NO_DATE {
                    i32::MIN
                } else {
                    month_of(date)
                };
                if block != Some(key) {
                    block = Some(key);
                    for s in touched.drain(..) {
                        slot[s] = u32::MAX;
                    }
                    cube.bounds.push(i as u32);
                    cube.firsts.push(cube.cells.len() as u32);
                }
            }
            let year_only = c.flags[i] & flag != 0;
            let month = c.month[field][i];
            let s = e as usize * 2 + usize::from(year_only);
            if slot[s] == u32::MAX {
                if bytes_per_case > 0 && (cube.cells.len() + 1) * cell_bytes > n * bytes_per_case {
                    return None;
                }
                slot[s] = cube.cells.len() as u32;
                touched.push(s);
                cube.cells.push(Cell {
                    entity: e,
                    month,
                    year_only,
                    cases: 0,
                });
                cube.themes.extend(std::iter::repeat_n(0, themes));
            }
            let k = slot[s] as usize;
            let cell = &mut cube.cells[k];
            // One month per cell: a block is a calendar month, and a date known only to
            // its year has none. (Were it not so, the cases are read instead.)
            if cell.month != month {
                return None;
            }
            cell.cases += 1;
            let counts = &mut cube.themes[k * themes..(k + 1) * themes];
            let mut b = c.bits[i];
            while b != 0 {
                counts[b.trailing_zeros() as usize] += 1;
                b &= b - 1;
            }
        }
        cube.bounds.push(n as u32);
        cube.firsts.push(cube.cells.len() as u32);
        Some(cube)
    }

    /// The blocks a slice of the order covers whole (`b0..b1`), when it covers one.
    fn whole(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let b0 = self.bounds.partition_point(|b| (*b as usize) < start);
        let b1 = self
            .bounds
            .partition_point(|b| (*b as usize) <= end)
            .checked_sub(1)?;
        (b0 < b1).then_some((b0, b1))
    }
}

/// The positions (in [`Ordered::cases`], ascending) of the cases of each value of one
/// grouping: value v's at `positions[starts[v]..starts[v + 1]]`, the cases with no value
/// last (slot `values`).
#[derive(Debug, Default)]
struct Lists {
    starts: Vec<u32>,
    positions: Vec<u32>,
}

impl Lists {
    /// A counting sort of the cases by their value of grouping `k` (of `values` values).
    fn of(cases: &Cases, k: usize, values: usize) -> Lists {
        let slot = |i: usize| match cases.grouping(k, i) {
            NONE => values,
            v => v as usize,
        };
        let mut starts = vec![0u32; values + 2];
        for i in 0..cases.len() {
            starts[slot(i) + 1] += 1;
        }
        for v in 1..starts.len() {
            starts[v] += starts[v - 1];
        }
        let mut next = starts.clone();
        let mut positions = vec![0u32; cases.len()];
        for i in 0..cases.len() {
            let s = slot(i);
            positions[next[s] as usize] = i as u32;
            next[s] += 1;
        }
        Lists { starts, positions }
    }

    /// The positions of slot `s`'s cases within `start..end`.
    fn within(&self, s: usize, start: usize, end: usize) -> &[u32] {
        let all = &self.positions[self.starts[s] as usize..self.starts[s + 1] as usize];
        let a = all.partition_point(|p| (*p as usize) < start);
        let b = all.partition_point(|p| (*p as usize) < end);
        &all[a..b]
    }
}

impl Ordered {
    fn lists(&self, k: usize, values: usize) -> &Lists {
        self.lists[k].get_or_init(|| Lists::of(&self.cases, k, values))
    }

    /// The cases in the order of the date `field` (0 opened, 1 closed), with their cube
    /// (see [`Cube::of`]).
    fn of(
        rows: &[Row],
        field: usize,
        themes: usize,
        entities: usize,
        bytes_per_case: usize,
    ) -> Result<Ordered> {
        let date = |r: &Row| if field == 0 { r.opened } else { r.closed };
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        order.sort_by_key(|i| date(&rows[*i as usize]));
        let mut o = Ordered {
            cases: Cases::with_capacity(rows.len()),
            dates: Vec::with_capacity(rows.len()),
            sets: Vec::with_capacity(rows.len()),
            lists: Default::default(),
            cube: None,
        };
        let mut entity = Vec::with_capacity(rows.len());
        for i in order {
            let r = &rows[i as usize];
            o.cases.push(r)?;
            o.dates.push(date(r));
            o.sets.push(r.set);
            entity.push(r.entity);
        }
        o.cube = Cube::of(&o, &entity, field, themes, entities, bytes_per_case);
        Ok(o)
    }
}

/// The values of a text column, sorted (bytewise, as DataFusion compares text), each
/// case holding its value's position.
#[derive(Debug, Default)]
struct Values {
    sorted: Vec<String>,
    position: HashMap<String, u32>,
}

impl Values {
    fn get(&self, v: &str) -> Option<u32> {
        self.position.get(v).copied()
    }
}

/// Builds a sorted [`Values`] while reading: values get provisional numbers, renumbered
/// in sorted order at the end.
#[derive(Default)]
struct Collecting {
    seen: HashMap<String, u32>,
    order: Vec<String>,
}

impl Collecting {
    fn id(&mut self, v: Option<&str>) -> u32 {
        let Some(v) = v else { return NONE };
        if let Some(&i) = self.seen.get(v) {
            return i;
        }
        let i = self.order.len() as u32;
        self.seen.insert(v.to_string(), i);
        self.order.push(v.to_string());
        i
    }

    /// The sorted values and the map from provisional numbers to sorted ones.
    fn finish(self) -> (Values, Vec<u32>) {
        let mut sorted = self.order.clone();
        sorted.sort();
        let position: HashMap<String, u32> = sorted
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u32))
            .collect();
        let renumber = self.order.iter().map(|v| position[v]).collect();
        (Values { sorted, position }, renumber)
    }
}

/// Every case of one warehouse version, as the explorer's pages need it.
#[derive(Debug)]
pub struct CaseIndex {
    /// The warehouse version read.
    pub version: String,
    themes: Vec<String>,
    groupings: [Values; GROUPINGS],
    names: Values,
    /// The cases in the order of their opened dates, and again in the order of their
    /// closed dates.
    by_opened: Ordered,
    by_closed: Ordered,
    /// Each staged set's themes by the stage of the findings that give them: stage << 16
    /// | theme, the stage a position in `stages` plus one (0: a finding with no stage).
    /// A case holds the number of its staged set.
    staged: Vec<Vec<u32>>,
    /// The theme sets the staged sets make with every finding counted.
    plain: StagedView,
    /// The stages the findings have.
    stages: Values,
    /// By the opened and by the closed date: the first month any case has, year × 12 +
    /// month − 1 (cases' months are kept as offsets from it), and the months from it to
    /// the last.
    first_month: [i32; 2],
    months: [usize; 2],
    /// The last month with a case by the opened and by the closed date.
    last: [Option<NaiveDate>; 2],
    /// Per organisation (by position; the last: no code), its name and region when all
    /// its cases give the same (most do): then a scope's name and region for it need no
    /// comparison per case.
    fixed: Vec<Option<(u32, u32)>>,
    /// Per organisation (by position), its least name.
    least_names: Vec<u32>,
    /// The organisation, name and region combinations the cases have (a cube's cells').
    entities: Vec<Entity>,
    /// Every view that can read a cube reads it (the tests).
    always_cube: bool,
}

/// The rows read for the index: every case's groupings, dates and themes, each theme
/// with the stage of the findings that give it (`staged`: stage × 65,536 + theme_order,
/// the stage numbered from 1 in the bundle's order, 0 for none; repeats are removed as
/// it is read). A finding whose code is in no theme gives theme 0: its stage is one the
/// filter offers, its theme none.
fn index_sql() -> String {
    let stages: String = crate::spec::STAGES
        .iter()
        .enumerate()
        .map(|(i, s)| format!(" WHEN '{s}' THEN {}", i + 1))
        .collect();
    format!(
        "SELECT CAST(k.organisation_code AS VARCHAR) AS organisation, \
                CAST(k.region AS VARCHAR) AS region, \
                CAST(k.source AS VARCHAR) AS source, \
                CAST(k.decision AS VARCHAR) AS decision, \
                CAST(k.service AS VARCHAR) AS service, \
                CAST(k.organisation_name AS VARCHAR) AS name, \
                k.opened_date AS opened, \
                COALESCE(CAST(k.opened_date_precision AS VARCHAR), 'day') = 'year' AS opened_year_only, \
                k.closed_date AS closed, \
                COALESCE(CAST(k.closed_date_precision AS VARCHAR), 'day') = 'year' AS closed_year_only, \
                s.staged \
         FROM ( \
             SELECT f.case_key, \
                    array_agg(CAST(COALESCE(CASE CAST(f.stage AS VARCHAR){stages} END, 0) AS BIGINT) * 65536 \
                              + COALESCE(c.theme_order, 0)) AS staged \
             FROM codes c RIGHT JOIN findings f ON c.code = CAST(f.code AS VARCHAR) \
             GROUP BY f.case_key) s RIGHT JOIN cases k ON s.case_key = k.case_key"
    )
}

fn month_of(days: i32) -> i32 {
    let d = NaiveDate::from_num_days_from_ce_opt(days + EPOCH_CE).unwrap_or_default();
    d.year() * 12 + d.month0() as i32
}

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const EPOCH_CE: i32 = 719_163;

fn days_of(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - EPOCH_CE
}

fn first_of_month(month: i32) -> String {
    format!(
        "{:04}-{:02}-01",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

impl CaseIndex {
    /// Reads the index from a session over the whole warehouse (no scope).
    pub async fn load(ctx: &SessionContext, version: &str, themes: Vec<String>) -> Result<Self> {
        Self::load_with(ctx, version, themes, Self::CUBE_BYTES_PER_CASE).await
    }

    /// A cube is kept only where it takes this many bytes a case or fewer (the index's
    /// cases take 96): its memory is outside the queries' pool, and a cube of almost a
    /// cell per case (many organisations, few cases each) reads little less than the
    /// cases. At 30 themes a cell takes 136 bytes, so a cube is kept with a cell per 8.5
    /// cases or fewer: 40,000 cells at a million cases of 600 organisations over six
    /// years, a cell per 25 cases.
    pub const CUBE_BYTES_PER_CASE: usize = 16;

    /// [`CaseIndex::load`], with the cubes kept where they take `bytes_per_case` bytes a
    /// case or fewer. 0: always kept, and read by every view that can read them, even
    /// where the cases are fewer (the tests' small bundles).
    pub async fn load_with(
        ctx: &SessionContext,
        version: &str,
        themes: Vec<String>,
        bytes_per_case: usize,
    ) -> Result<Self> {
        let sql = index_sql();
        // The joins as written, the side held in memory on the left: the code list (met
        // by every finding), then the findings' lists per case (met by each case, read as
        // a stream). DataFusion would otherwise hold the cases, whose text columns at ten
        // million cases were more than the default 1 GiB pool (a hash join's build side
        // does not spill in DataFusion 55).
        let mut state = ctx.state();
        state.config_mut().options_mut().optimizer.join_reordering = false;
        let ctx = SessionContext::new_with_state(state);
        let df = ctx.sql(&sql).await.map_err(|source| Error::Query {
            file: "(serve: the case index)".into(),
            source,
        })?;
        let mut stream = df.execute_stream().await.map_err(|source| Error::Query {
            file: "(serve: the case index)".into(),
            source,
        })?;
        let mut groupings: [Collecting; GROUPINGS] = Default::default();
        let mut names = Collecting::default();
        let mut sets: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut staged_list: Vec<Vec<u32>> = Vec::new();
        let mut staged: Vec<u32> = Vec::new();
        let mut cases: Vec<Row> = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|source| Error::Query {
                file: "(serve: the case index)".into(),
                source,
            })?;
            let text = |i: usize| -> Result<arrow::array::StringArray> {
                let a = arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
                Ok(a.as_string::<i32>().clone())
            };
            let columns: Vec<_> = (0..GROUPINGS).map(text).collect::<Result<_>>()?;
            let name = text(5)?;
            let opened = batch.column(6).as_primitive::<Date32Type>();
            let opened_year = batch.column(7).as_boolean();
            let closed = batch.column(8).as_primitive::<Date32Type>();
            let closed_year = batch.column(9).as_boolean();
            let lists = batch.column(10).as_list::<i32>();
            for r in 0..batch.num_rows() {
                fn value(a: &arrow::array::StringArray, r: usize) -> Option<&str> {
                    a.is_valid(r).then(|| a.value(r))
                }
                let mut g = [NONE; GROUPINGS];
                for (k, c) in columns.iter().enumerate() {
                    g[k] = groupings[k].id(value(c, r));
                }
                let date = |a: &arrow::array::Date32Array| {
                    if a.is_valid(r) { a.value(r) } else { NO_DATE }
                };
                let (o, c) = (date(opened), date(closed));
                let year_only = |a: &arrow::array::BooleanArray| a.is_valid(r) && a.value(r);
                let mut flags = 0;
                if year_only(opened_year) {
                    flags |= OPENED_YEAR_ONLY;
                }
                if year_only(closed_year) {
                    flags |= CLOSED_YEAR_ONLY;
                }
                // The absolute month for now (made an offset once the first is known).
                let month = |d: i32, year_only: bool| {
                    if d == NO_DATE || year_only {
                        NO_MONTH
                    } else {
                        month_of(d) as u32
                    }
                };
                staged.clear();
                if lists.is_valid(r) {
                    let v = lists.value(r);
                    staged.extend(
                        v.as_primitive::<Int64Type>()
                            .iter()
                            .flatten()
                            .map(|x| x as u32),
                    );
                    staged.sort_unstable();
                    staged.dedup();
                }
                let set = match sets.get(staged.as_slice()) {
                    Some(&s) => s,
                    None => {
                        let s = staged_list.len() as u32;
                        staged_list.push(staged.clone());
                        sets.insert(staged.clone(), s);
                        s
                    }
                };
                cases.push(Row {
                    groupings: g,
                    name: names.id(value(&name, r)),
                    opened: o,
                    closed: c,
                    opened_month: month(o, flags & OPENED_YEAR_ONLY != 0),
                    closed_month: month(c, flags & CLOSED_YEAR_ONLY != 0),
                    flags,
                    set,
                    bits: 0,
                    entity: 0,
                });
            }
        }
        drop(sets);
        // The stages found, sorted; each set's stages renumbered to their positions.
        let mut stage_names = Collecting::default();
        for list in &staged_list {
            for x in list {
                let spec = (x >> 16) as usize;
                if spec > 0 {
                    stage_names.id(crate::spec::STAGES.get(spec - 1).copied());
                }
            }
        }
        let (stages, _) = stage_names.finish();
        let n = themes.len() as u32;
        for list in &mut staged_list {
            // Themes past the code list's (a set's themes are the list's) cannot occur.
            list.retain(|x| (1..=n).contains(&(x & 0xFFFF)));
            for x in list.iter_mut() {
                let spec = (*x >> 16) as usize;
                let stage = match spec.checked_sub(1).and_then(|i| crate::spec::STAGES.get(i)) {
                    Some(name) => stages.get(name).map_or(0, |p| p + 1),
                    None => 0,
                };
                *x = (stage << 16) | ((*x & 0xFFFF) - 1);
            }
            list.sort_unstable();
            list.dedup();
        }
        // The theme sets with every finding counted: each case's bits come from its own.
        let plain = view_of(&staged_list, |_| true);
        let (first, months, last) = months_as_offsets(&mut cases);
        let mut finished: Vec<(Values, Vec<u32>)> =
            groupings.into_iter().map(Collecting::finish).collect();
        let (names, name_map) = names.finish();
        for case in &mut cases {
            for (k, (_, map)) in finished.iter().enumerate() {
                if case.groupings[k] != NONE {
                    case.groupings[k] = map[case.groupings[k] as usize];
                }
            }
            if case.name != NONE {
                case.name = name_map[case.name as usize];
            }
        }
        if themes.len() <= 64 {
            for c in &mut cases {
                c.bits = plain.bits[plain.map[c.set as usize] as usize];
            }
        }
        let (fixed, least_names) = fixed_names(&cases, finished[0].0.sorted.len() + 1);
        // The entities: each organisation, name and region the cases give together.
        let mut entities: Vec<Entity> = Vec::new();
        let mut ids: HashMap<(u32, u32, u32), u32, ahash::RandomState> = HashMap::default();
        for c in &mut cases {
            let key = (c.groupings[0], c.name, c.groupings[1]);
            c.entity = *ids.entry(key).or_insert_with(|| {
                entities.push(Entity {
                    org: key.0,
                    name: key.1,
                    region: key.2,
                });
                entities.len() as u32 - 1
            });
        }
        drop(ids);
        let n = themes.len();
        let by_opened = Ordered::of(&cases, 0, n, entities.len(), bytes_per_case)?;
        let by_closed = Ordered::of(&cases, 1, n, entities.len(), bytes_per_case)?;
        drop(cases);
        let mut values = finished.drain(..).map(|(v, _)| v);
        let groupings: [Values; GROUPINGS] =
            std::array::from_fn(|_| values.next().unwrap_or_default());
        Ok(CaseIndex {
            version: version.to_string(),
            themes,
            groupings,
            names,
            by_opened,
            by_closed,
            plain,
            staged: staged_list,
            stages,
            first_month: first.map(|f| if f == u32::MAX { 0 } else { f as i32 }),
            months,
            last,
            fixed,
            least_names,
            entities,
            always_cube: bytes_per_case == 0,
        })
    }

    /// The cases indexed.
    pub fn len(&self) -> usize {
        self.by_opened.cases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_opened.cases.is_empty()
    }

    /// The values a grouping takes, sorted.
    pub fn values(&self, g: Grouping) -> &[String] {
        if g == Grouping::Stage {
            &self.stages.sorted
        } else {
            &self.groupings[g as usize].sorted
        }
    }

    /// The organisations with a code, each with its least name ("" when none), in code
    /// order: the filter form's list.
    pub fn organisations(&self) -> Vec<(String, String)> {
        self.groupings[0]
            .sorted
            .iter()
            .zip(&self.least_names)
            .map(|(code, n)| {
                let name = if *n == NONE {
                    String::new()
                } else {
                    self.names.sorted[*n as usize].clone()
                };
                (code.clone(), name)
            })
            .collect()
    }

    /// The latest month with a case, by the date field (year × 12 + month − 1).
    pub fn last_month(&self, closed: bool) -> Option<NaiveDate> {
        self.last[usize::from(closed)]
    }

    /// The filter that allows the fewest of the slice's cases, when it allows few enough
    /// (a quarter or less) that visiting them by their value's positions beats testing
    /// every case of the slice: how many cases it allows there, and their positions, a
    /// run per value it allows (and the missing value's).
    fn few<'a>(
        ordered: &'a Ordered,
        test: &Test,
        start: usize,
        end: usize,
        groupings: &[Values; GROUPINGS],
    ) -> Option<(usize, Vec<&'a [u32]>)> {
        let mut best: Option<(usize, Vec<&'a [u32]>)> = None;
        for (k, ok, missing) in &test.active {
            let values = groupings[*k].sorted.len();
            let lists = ordered.lists(*k, values);
            let runs: Vec<&[u32]> = (0..values)
                .filter(|v| ok[*v])
                .chain(missing.then_some(values))
                .map(|s| lists.within(s, start, end))
                .collect();
            let n: usize = runs.iter().map(|r| r.len()).sum();
            if best.as_ref().is_none_or(|(m, _)| n < *m) {
                best = Some((n, runs));
            }
        }
        best.filter(|(n, _)| n * 4 <= end - start)
    }

    /// The counts of a scope: one pass over its cases (only the slice of its dates, for
    /// a view of a period), counting the parts `want` asks for. The pass reads whichever
    /// is least: every case of the slice; the cases of the values a filter allows (see
    /// [`CaseIndex::few`]); or, for a view filtered on organisation and region alone,
    /// the cube's cells of the months the slice covers whole and the cases of the months
    /// it cuts ([`Cube`]). The counts are sums, the same whichever is read.
    pub fn count(&self, scope: &Scope, want: Want) -> Counts {
        let test = Test::of(self, scope);
        let staged = test
            .stages
            .as_deref()
            .map(|ok| view_of(&self.staged, |stage| ok[stage]));
        let view = staged.as_ref().unwrap_or(&self.plain);
        let themes = self.themes.len();
        let orgs = self.groupings[0].sorted.len() + 1;
        let field = usize::from(test.closed);
        let sized = |on: bool, n: usize| if on { n } else { 0 };
        let wide = themes > 64;
        let by_set = wide || want.sets;
        let mut counts = Counts {
            cases: 0,
            visited: 0,
            cells: 0,
            // Cases per theme set: asked for, or where the themes are not bits (more
            // than 64).
            per_set: vec![0; sized(by_set, view.members.len())],
            theme_totals: vec![0; themes],
            organisations: vec![OrgCounts::default(); sized(want.organisations, orgs)],
            org_themes: vec![0; sized(want.organisations, orgs * themes)],
            month_cases: vec![0; sized(want.months, self.months[field])],
            month_themes: vec![0; sized(want.months, self.months[field] * themes)],
            field,
            themes,
            want,
            members: None,
        };
        let ordered = if test.closed {
            &self.by_closed
        } else {
            &self.by_opened
        };
        let (start, end) = if test.dated {
            let start = ordered.dates.partition_point(|d| *d < test.low);
            let end = ordered
                .dates
                .partition_point(|d| *d <= test.high)
                .max(start);
            (start, end)
        } else {
            (0, ordered.cases.len())
        };
        let pass = Pass {
            index: self,
            ordered,
            view,
            staged: staged.is_some(),
            test: &test,
            wide,
            by_set,
            orgs,
        };
        let few = Self::few(ordered, &test, start, end, &self.groupings);
        let listed = few.as_ref().map_or(end - start, |(n, _)| *n);
        // The cube, for the whole months of the slice: where the filters are on
        // organisation and region only, and it reads less than the cases would.
        let cube = ordered
            .cube
            .as_ref()
            .filter(|_| !by_set && staged.is_none())
            .filter(|_| test.active.iter().all(|(k, _, _)| *k <= 1))
            .and_then(|cube| Some((cube, cube.whole(start, end)?)))
            .filter(|(cube, (b0, b1))| {
                let cells = (cube.firsts[*b1] - cube.firsts[*b0]) as usize;
                let whole = (cube.bounds[*b1] - cube.bounds[*b0]) as usize;
                self.always_cube || cells + (end - start - whole) < listed
            });
        if let Some((cube, (b0, b1))) = cube {
            let (a, b) = (cube.bounds[b0] as usize, cube.bounds[b1] as usize);
            counts.visited = (a - start + end - b) as u64;
            pass.cases(&mut counts, (start..a).chain(b..end));
            pass.cells(&mut counts, cube, b0, b1);
        } else if let Some((n, runs)) = few {
            counts.visited = n as u64;
            pass.cases(
                &mut counts,
                runs.iter().flat_map(|r| r.iter().map(|i| *i as usize)),
            );
        } else {
            counts.visited = (end - start) as u64;
            pass.cases(&mut counts, start..end);
        }
        if want.organisations && !wide {
            for row in counts.org_themes.chunks(themes.max(1)) {
                for (t, n) in row.iter().enumerate() {
                    counts.theme_totals[t] += n;
                }
            }
        }
        if want.organisations {
            for (org, fixed) in counts.organisations.iter_mut().zip(&self.fixed) {
                if let (Some((name, region)), true) = (fixed, org.cases > 0) {
                    org.name = *name;
                    org.region_low = *region;
                    org.region_high = *region;
                }
            }
        }
        counts.members = staged.map(|v| v.members);
        counts
    }

    /// A measure the index answers, as the SQL measure would for the same scope; `None`
    /// for one it does not.
    pub fn measure(&self, name: &str, counts: &Counts, c: &Context<'_>) -> Result<Option<Output>> {
        let rows = match name {
            // Through the measure's own row reading (its intervals and phrase added).
            "theme_prevalence" => measures::typed(
                name,
                self.prevalence_rows(counts),
                std::path::Path::new("queries/theme_prevalence.sql"),
                c.codes,
            )?,
            "theme_cooccurrence" if counts.want.sets => measures::typed(
                name,
                self.cooccurrence_rows(counts),
                std::path::Path::new("queries/theme_cooccurrence.sql"),
                c.codes,
            )?,
            // Built as the rows directly: thousands of them at national scale.
            "organisation_profile" if counts.want.organisations => {
                Table::OrganisationProfile(self.profile_rows(counts, None))
            }
            "monthly_series" if counts.want.months => {
                Table::MonthlySeries(self.monthly_rows(counts))
            }
            "organisation_profile" | "monthly_series" | "theme_cooccurrence" => {
                return Err(Error::Usage(format!(
                    "{name}: the view's counts were made without it"
                )));
            }
            _ => return Ok(None),
        };
        let measure = measures::find(name)?;
        let mut out = Output::new(name, c, rows);
        out.thresholds = measure
            .uses_thresholds
            .then(|| c.thresholds.intervals.clone());
        out.as_of = measure.uses_as_of.then(|| c.as_of.to_string());
        Ok(Some(out))
    }

    /// The measures the index answers.
    pub const MEASURES: [&'static str; 4] = [
        "theme_prevalence",
        "organisation_profile",
        "monthly_series",
        "theme_cooccurrence",
    ];

    /// `theme_cooccurrence`'s rows: each theme set the scope's cases have, named by its
    /// themes in code-list order ("none" for cases with no theme), by how many themes,
    /// then cases (most first), then name, as the SQL orders them.
    fn cooccurrence_rows(&self, counts: &Counts) -> Vec<Map<String, Value>> {
        let mut rows: Vec<(usize, u64, String)> = counts
            .per_set
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| {
                let members = &counts.members.as_ref().unwrap_or(&self.plain.members)[s];
                let name = if members.is_empty() {
                    "none".to_string()
                } else {
                    members
                        .iter()
                        .map(|t| self.themes[*t as usize].as_str())
                        .collect::<Vec<_>>()
                        .join(" + ")
                };
                (members.len(), *n, name)
            })
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        rows.into_iter()
            .map(|(themes, cases, combination)| {
                row([
                    ("combination", Value::from(combination)),
                    ("themes", Value::from(themes as u64)),
                    ("cases", Value::from(cases)),
                ])
            })
            .collect()
    }

    fn prevalence_rows(&self, counts: &Counts) -> Vec<Map<String, Value>> {
        let mut with = vec![0u64; self.themes.len()];
        if self.themes.len() <= 64 {
            with.clone_from(&counts.theme_totals);
        } else {
            let sets = counts.members.as_ref().unwrap_or(&self.plain.members);
            for (s, n) in counts.per_set.iter().enumerate() {
                for t in &sets[s] {
                    with[*t as usize] += n;
                }
            }
        }
        self.themes
            .iter()
            .zip(with)
            .map(|(theme, w)| {
                row([
                    ("theme", Value::from(theme.as_str())),
                    ("cases", Value::from(counts.cases)),
                    ("cases_with_theme", Value::from(w)),
                ])
            })
            .collect()
    }

    /// `organisation_profile`'s rows of one theme (its position in the code list's
    /// themes): what that theme's funnel reads.
    pub fn profile_of(
        &self,
        theme: &str,
        counts: &Counts,
        c: &Context<'_>,
    ) -> Result<Option<Output>> {
        let Some(t) = self.themes.iter().position(|x| x == theme) else {
            return Ok(None);
        };
        if !counts.want.organisations {
            return Err(Error::Usage(
                "organisation_profile: the view's counts were made without it".into(),
            ));
        }
        let rows = Table::OrganisationProfile(self.profile_rows(counts, Some(t)));
        Ok(Some(Output::new("organisation_profile", c, rows)))
    }

    fn profile_rows(&self, counts: &Counts, only: Option<usize>) -> Vec<OrganisationTheme> {
        let orgs = &self.groupings[0].sorted;
        let regions = &self.groupings[1].sorted;
        let text = |v: u32, list: &[String]| (v != NONE).then(|| list[v as usize].clone());
        let with_cases = counts.organisations.iter().filter(|o| o.cases > 0).count();
        let mut rows = Vec::with_capacity(with_cases * only.map_or(self.themes.len(), |_| 1));
        // Codes in order (the SQL's), the cases with no code last (its NULLS LAST).
        for (o, org) in counts.organisations.iter().enumerate() {
            if org.cases == 0 {
                continue;
            }
            let code = (o < orgs.len()).then(|| orgs[o].clone());
            let region = if org.region_low != NONE && org.region_low == org.region_high {
                text(org.region_high, regions)
            } else if org.region_high != NONE {
                Some("(several)".to_string())
            } else {
                None
            };
            let name = text(org.name, &self.names.sorted);
            let row = |t: usize, code, name, region| OrganisationTheme {
                organisation_code: code,
                organisation_name: name,
                region,
                theme: self.themes[t].clone(),
                cases: Count(org.cases),
                cases_with_theme: Count(counts.org_themes[o * counts.themes + t]),
            };
            match only {
                // One theme: the organisation's text moved into its one row.
                Some(t) => rows.push(row(t, code, name, region)),
                None => {
                    for t in 0..self.themes.len() {
                        rows.push(row(t, code.clone(), name.clone(), region.clone()));
                    }
                }
            }
        }
        rows
    }

    /// Every month from the scope's first month with a case to its last, a month
    /// without cases given zeros (as `casework measure monthly_series` fills them).
    fn monthly_rows(&self, counts: &Counts) -> Vec<MonthTheme> {
        let with: Vec<usize> = (0..self.months[counts.field])
            .filter(|m| counts.month_cases[*m] > 0)
            .collect();
        let (Some(&first), Some(&last)) = (with.first(), with.last()) else {
            return Vec::new();
        };
        let mut rows = Vec::with_capacity((last - first + 1) * self.themes.len());
        for m in first..=last {
            let month = first_of_month(self.first_month[counts.field] + m as i32);
            for (t, theme) in self.themes.iter().enumerate() {
                rows.push(MonthTheme {
                    month: month.clone(),
                    theme: theme.clone(),
                    cases: Count(counts.month_cases[m]),
                    cases_with_theme: Count(counts.month_themes[m * counts.themes + t]),
                });
            }
        }
        rows
    }
}

/// What one count reads with: the index, the order of the view's date, its theme sets
/// and its test.
struct Pass<'a> {
    index: &'a CaseIndex,
    ordered: &'a Ordered,
    view: &'a StagedView,
    /// A stage chose the findings (the theme sets are the view's, not the cases' own).
    staged: bool,
    test: &'a Test,
    /// More than 64 themes: counted through the sets' members, not bits.
    wide: bool,
    /// Cases counted per theme set.
    by_set: bool,
    /// The organisations counted (the last: cases with no organisation code).
    orgs: usize,
}

impl Pass<'_> {
    /// Counts the cases at `positions` that pass the test.
    fn cases(&self, counts: &mut Counts, positions: impl Iterator<Item = usize>) {
        let (want, themes, field) = (counts.want, counts.themes, counts.field);
        let (wide, orgs) = (self.wide, self.orgs);
        let mapped = self.by_set || self.staged;
        let sets: &[Vec<u16>] = &self.view.members;
        let c = &self.ordered.cases;
        for i in positions {
            if !self.test.passes(c, i) {
                continue;
            }
            // The case's theme set: its own bits unless a stage chose its findings; the
            // set's number and themes only where they are counted or needed.
            let (set, bits) = if mapped {
                let set = self.view.map[self.ordered.sets[i] as usize];
                let bits = if self.staged {
                    self.view.bits[set as usize]
                } else {
                    c.bits[i]
                };
                (set, bits)
            } else {
                (0, c.bits[i])
            };
            let members: &[u16] = if wide { &sets[set as usize] } else { &[] };
            counts.cases += 1;
            if self.by_set {
                counts.per_set[set as usize] += 1;
            }
            let org = if want.organisations {
                let o = match c.org[i] {
                    NONE => orgs - 1,
                    o => o as usize,
                };
                let org = &mut counts.organisations[o];
                org.cases += 1;
                if self.index.fixed[o].is_none() {
                    org.widen(c.name[i], c.region[i]);
                }
                Some(o)
            } else {
                None
            };
            let month = if want.months {
                let m = c.month[field][i];
                (m != NO_MONTH).then(|| {
                    counts.month_cases[m as usize] += 1;
                    m as usize
                })
            } else {
                None
            };
            // Each theme once, into every count that wants it (one loop: its exit is the
            // branch the processor guesses worst). With organisations counted, the
            // totals are their sum (after the pass).
            let (org_themes, month_themes, totals) = (
                &mut counts.org_themes,
                &mut counts.month_themes,
                &mut counts.theme_totals,
            );
            match (org, month) {
                (Some(o), Some(m)) => each_theme(wide, bits, members, |t| {
                    org_themes[o * themes + t] += 1;
                    month_themes[m * themes + t] += 1;
                }),
                (Some(o), None) => {
                    each_theme(wide, bits, members, |t| org_themes[o * themes + t] += 1)
                }
                (None, Some(m)) => each_theme(wide, bits, members, |t| {
                    if !wide {
                        totals[t] += 1;
                    }
                    month_themes[m * themes + t] += 1;
                }),
                (None, None) if !wide => each_theme(wide, bits, members, |t| totals[t] += 1),
                (None, None) => {}
            }
        }
    }

    /// Counts the cells of the cube's blocks `b0..b1` that pass the test (the cases'
    /// counts as [`Pass::cases`] makes them, a cell at a time; at most 64 themes, no
    /// stage, no theme sets counted, filters on organisation and region only).
    fn cells(&self, counts: &mut Counts, cube: &Cube, b0: usize, b1: usize) {
        let (want, themes) = (counts.want, counts.themes);
        let entities = &self.index.entities;
        // Which entities the filters allow (organisation and region are an entity's).
        let allowed: Option<Vec<bool>> = (!self.test.active.is_empty()).then(|| {
            entities
                .iter()
                .map(|e| {
                    self.test.active.iter().all(|(k, ok, missing)| {
                        allows(ok, *missing, if *k == 0 { e.org } else { e.region })
                    })
                })
                .collect()
        });
        let add = |to: &mut [u64], from: &[u32]| {
            for (a, b) in to.iter_mut().zip(from) {
                *a += u64::from(*b);
            }
        };
        let (first, last) = (cube.firsts[b0] as usize, cube.firsts[b1] as usize);
        for (k, cell) in cube.cells[first..last].iter().enumerate() {
            if (self.test.not_year_only && cell.year_only)
                || allowed.as_ref().is_some_and(|a| !a[cell.entity as usize])
            {
                continue;
            }
            let c = first + k;
            let per_theme = &cube.themes[c * themes..(c + 1) * themes];
            let n = u64::from(cell.cases);
            counts.cases += n;
            counts.cells += 1;
            if want.organisations {
                let e = entities[cell.entity as usize];
                let o = match e.org {
                    NONE => self.orgs - 1,
                    o => o as usize,
                };
                let org = &mut counts.organisations[o];
                org.cases += n;
                if self.index.fixed[o].is_none() {
                    org.widen(e.name, e.region);
                }
                add(
                    &mut counts.org_themes[o * themes..(o + 1) * themes],
                    per_theme,
                );
            } else {
                add(&mut counts.theme_totals, per_theme);
            }
            if want.months && cell.month != NO_MONTH {
                let m = cell.month as usize;
                counts.month_cases[m] += n;
                add(
                    &mut counts.month_themes[m * themes..(m + 1) * themes],
                    per_theme,
                );
            }
        }
    }
}

/// Calls `f` with each theme of a case (its position): from its bits, or past 64 themes
/// from its set's members.
#[inline(always)]
fn each_theme(wide: bool, bits: u64, members: &[u16], mut f: impl FnMut(usize)) {
    if !wide {
        let mut b = bits;
        while b != 0 {
            f(b.trailing_zeros() as usize);
            b &= b - 1;
        }
    } else {
        for t in members {
            f(*t as usize);
        }
    }
}

/// Theme sets as the findings at the stages `ok` allows make them: each staged set's
/// theme set (staged sets that make the same, one), and the theme sets' themes and bits.
fn view_of(staged: &[Vec<u32>], ok: impl Fn(usize) -> bool) -> StagedView {
    let mut ids: HashMap<Vec<u16>, u32> = HashMap::new();
    let mut view = StagedView {
        map: Vec::with_capacity(staged.len()),
        members: Vec::new(),
        bits: Vec::new(),
    };
    for list in staged {
        let mut members: Vec<u16> = list
            .iter()
            .filter(|x| ok((*x >> 16) as usize))
            .map(|x| (x & 0xFFFF) as u16)
            .collect();
        members.sort_unstable();
        members.dedup();
        let next = view.members.len() as u32;
        let id = *ids.entry(members.clone()).or_insert_with(|| {
            view.bits.push(
                members
                    .iter()
                    .filter(|t| **t < 64)
                    .fold(0u64, |b, t| b | (1u64 << t)),
            );
            view.members.push(members);
            next
        });
        view.map.push(id);
    }
    view
}

/// A scope's theme sets: each staged set's theme set, and the theme sets' themes and
/// bits.
#[derive(Debug)]
struct StagedView {
    map: Vec<u32>,
    members: Vec<Vec<u16>>,
    bits: Vec<u64>,
}

/// Each date's months made offsets from its own first month (a placeholder closing date
/// far in the future widens the closed date's span, not the opened date's): the first
/// months, the spans and the last months (as dates), by the opened and the closed date.
fn months_as_offsets(cases: &mut [Row]) -> ([u32; 2], [usize; 2], [Option<NaiveDate>; 2]) {
    let mut span = [(u32::MAX, 0u32); 2];
    for c in cases.iter() {
        for (k, m) in [c.opened_month, c.closed_month].into_iter().enumerate() {
            if m != NO_MONTH {
                span[k] = (span[k].0.min(m), span[k].1.max(m));
            }
        }
    }
    let first = span.map(|(lo, _)| lo);
    let months = span.map(|(lo, hi)| {
        if lo == u32::MAX {
            0
        } else {
            (hi - lo + 1) as usize
        }
    });
    let mut last = [None, None];
    for c in cases.iter_mut() {
        for (k, m) in [&mut c.opened_month, &mut c.closed_month]
            .into_iter()
            .enumerate()
        {
            if *m != NO_MONTH {
                let abs = *m as i32;
                if last[k].is_none_or(|l: i32| abs > l) {
                    last[k] = Some(abs);
                }
                *m -= first[k];
            }
        }
    }
    let last = last.map(|m| {
        m.and_then(|m| NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1))
    });
    (first, months, last)
}

/// Per organisation (by position; the last: cases with no code), its name and region
/// when all its cases give the same.
/// Also each organisation's least name (the filter form's: SQL's MIN, none ignored).
fn fixed_names(cases: &[Row], orgs: usize) -> (Vec<Option<(u32, u32)>>, Vec<u32>) {
    let mut fixed: Vec<Option<Option<(u32, u32)>>> = vec![None; orgs];
    let mut least = vec![NONE; orgs];
    for c in cases.iter() {
        let o = if c.groupings[0] == NONE {
            orgs - 1
        } else {
            c.groupings[0] as usize
        };
        if c.name != NONE && (least[o] == NONE || c.name < least[o]) {
            least[o] = c.name;
        }
        let this = (c.name, c.groupings[1]);
        fixed[o] = match fixed[o] {
            None => Some(Some(this)),
            Some(Some(f)) if f == this => Some(Some(f)),
            _ => Some(None),
        };
    }
    (fixed.into_iter().map(Option::flatten).collect(), least)
}

fn row<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One organisation's part of a scope's counts.
#[derive(Debug, Clone, Copy)]
pub struct OrgCounts {
    cases: u64,
    /// The greatest name and the least and greatest region of its cases (the SQL's MAX
    /// and MIN), as positions in the sorted values.
    name: u32,
    region_low: u32,
    region_high: u32,
}

impl OrgCounts {
    /// The greatest name and the least and greatest region, with this case's.
    #[inline]
    fn widen(&mut self, name: u32, region: u32) {
        if name != NONE && (self.name == NONE || name > self.name) {
            self.name = name;
        }
        if region != NONE {
            if self.region_high == NONE || region > self.region_high {
                self.region_high = region;
            }
            if self.region_low == NONE || region < self.region_low {
                self.region_low = region;
            }
        }
    }
}

impl Default for OrgCounts {
    fn default() -> Self {
        OrgCounts {
            cases: 0,
            name: NONE,
            region_low: NONE,
            region_high: NONE,
        }
    }
}

/// A scope's counts: what the index's measures are made of.
#[derive(Debug)]
pub struct Counts {
    pub cases: u64,
    /// The cases the pass read: its slice of the dates, or (with a filter that allows
    /// few) only the cases of the values the filter allows, or (read from the cube) the
    /// cases of the months the slice cuts.
    pub visited: u64,
    /// The cube's cells counted (the cases of the months the slice covers whole).
    pub cells: u64,
    per_set: Vec<u64>,
    /// Cases per theme (up to 64 themes; past that from `per_set`).
    theme_totals: Vec<u64>,
    /// By organisation (its position; the last: cases with no organisation code).
    organisations: Vec<OrgCounts>,
    org_themes: Vec<u64>,
    /// By month (offsets from the index's first month).
    month_cases: Vec<u64>,
    month_themes: Vec<u64>,
    /// The date field counted by month (0 opened, 1 closed).
    field: usize,
    themes: usize,
    want: Want,
    /// With a stage: the theme sets as the findings at the stages make them (`per_set`
    /// counts these); `None`: the index's own sets.
    members: Option<Vec<Vec<u16>>>,
}

impl Counts {
    /// Whether these counts have the parts `want` asks for.
    pub fn covers(&self, want: Want) -> bool {
        (self.want.organisations || !want.organisations)
            && (self.want.months || !want.months)
            && (self.want.sets || !want.sets)
    }
}

/// Which parts of a scope's counts to make: the cases and theme sets always; by
/// organisation (`organisation_profile`) and by month (`monthly_series`) when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Want {
    pub organisations: bool,
    pub months: bool,
    /// Cases per theme set (`theme_cooccurrence`).
    pub sets: bool,
}

impl Want {
    pub const ALL: Want = Want {
        organisations: true,
        months: true,
        sets: true,
    };
    pub const TOTALS: Want = Want {
        organisations: false,
        months: false,
        sets: false,
    };

    /// What the index's measures among `names` need.
    pub fn of(names: &[&str]) -> Want {
        Want {
            organisations: names.contains(&"organisation_profile"),
            months: names.contains(&"monthly_series"),
            sets: names.contains(&"theme_cooccurrence"),
        }
    }
}

/// A scope as a test of one case: the same rules as `Scope::filters` (engine).
struct Test {
    closed: bool,
    low: i32,
    high: i32,
    /// A date known only to its year is in no month, quarter or financial year.
    not_year_only: bool,
    dated: bool,
    /// Per grouping, the values allowed (by position) and whether a missing value is;
    /// `None`: no filter.
    active: Vec<(usize, Vec<bool>, bool)>,
    /// The stages whose findings count (by position in `stages` plus one; 0: findings
    /// with no stage); `None`: every finding.
    stages: Option<Vec<bool>>,
}

impl Test {
    fn of(index: &CaseIndex, scope: &Scope) -> Test {
        let closed = scope.date_field == crate::spec::grid::DateField::ClosedDate;
        let (mut low, mut high) = (i32::MIN + 1, i32::MAX);
        let mut dated = false;
        let mut not_year_only = false;
        if let Some(f) = scope.from {
            low = low.max(days_of(f));
            dated = true;
        }
        if let Some(t) = scope.to {
            high = high.min(days_of(t));
            dated = true;
        }
        if let Some(p) = scope.period
            && let Some((first, last)) = p.days()
        {
            low = low.max(days_of(first));
            high = high.min(days_of(last));
            dated = true;
            not_year_only = p.level() != Level::Year;
        }
        // A stage: the findings kept (a finding with no stage is kept by an exclusion
        // and left out by an inclusion, as a case with no value is).
        let mut stages: Option<Vec<bool>> = None;
        let given = scope
            .singles()
            .filter(|(g, _)| *g == Grouping::Stage)
            .map(|(_, v)| (vec![v.to_string()], false))
            .chain(
                scope
                    .choices
                    .iter()
                    .filter(|c| c.grouping == Grouping::Stage)
                    .map(|c| (c.values.clone(), c.exclude)),
            );
        for (values, exclude) in given {
            let mut ok = vec![exclude; index.stages.sorted.len() + 1];
            for v in &values {
                if let Some(i) = index.stages.get(v) {
                    ok[i as usize + 1] = !exclude;
                }
            }
            stages = Some(match stages {
                None => ok,
                Some(prev) => prev.iter().zip(&ok).map(|(a, b)| *a && *b).collect(),
            });
        }
        let mut allowed: [Option<(Vec<bool>, bool)>; GROUPINGS] = Default::default();
        let mut restrict = |g: Grouping, values: &[String], exclude: bool| {
            if g == Grouping::Stage {
                return;
            }
            let list = &index.groupings[g as usize];
            let mut ok = vec![exclude; list.sorted.len()];
            for v in values {
                if let Some(i) = list.get(v) {
                    ok[i as usize] = !exclude;
                }
            }
            let slot = &mut allowed[g as usize];
            *slot = Some(match slot.take() {
                None => (ok, exclude),
                Some((prev, missing)) => (
                    prev.iter().zip(&ok).map(|(a, b)| *a && *b).collect(),
                    missing && exclude,
                ),
            });
        };
        for (g, v) in scope.singles() {
            restrict(g, &[v.to_string()], false);
        }
        for c in &scope.choices {
            restrict(c.grouping, &c.values, c.exclude);
        }
        Test {
            closed,
            low,
            high,
            not_year_only,
            dated,
            active: allowed
                .into_iter()
                .enumerate()
                .filter_map(|(k, a)| a.map(|(ok, missing)| (k, ok, missing)))
                .collect(),
            stages,
        }
    }

    /// Whether a case of the slice read passes: its dates are within the scope's
    /// already (the slice of the sorted cases), so only a date known to the year alone
    /// and the groupings are tested here.
    #[inline]
    fn passes(&self, c: &Cases, i: usize) -> bool {
        if self.not_year_only {
            let flag = if self.closed {
                CLOSED_YEAR_ONLY
            } else {
                OPENED_YEAR_ONLY
            };
            if c.flags[i] & flag != 0 {
                return false;
            }
        }
        self.active
            .iter()
            .all(|(k, ok, missing)| allows(ok, *missing, c.grouping(*k, i)))
    }
}

/// Whether a grouping's filter (`ok` per value, `missing` for no value) allows value `v`.
#[inline]
fn allows(ok: &[bool], missing: bool, v: u32) -> bool {
    if v == NONE { missing } else { ok[v as usize] }
}
