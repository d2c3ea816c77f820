//! The explorer's case index (`casework serve`'s pages for views never seen before)
//! against the SQL measures (`casework measure`'s code path: a DataFusion session over
//! the warehouse and the measure's SQL) on the same scopes: 200 random combinations of
//! dates, periods, date fields, single values, several values and exclusions (of the
//! cases' groupings, the service among them, and of the findings' stage), over a
//! generated bundle made messy (rows shuffled, regions missing and mixed within an
//! organisation, names varying, dates known only to the month or the year), every row
//! of `theme_prevalence`, `organisation_profile`, `monthly_series` and
//! `theme_cooccurrence` equal.

use std::path::Path;

use casework::engine::{self, Choice, DateField, Engine, Grouping, Scope};
use casework::measures::{self, Context};
use casework::serve::{CaseIndex, Want};
use casework::spec::grid::Period;
use casework::spec::study::StudyFile;
use casework::warehouse::Warehouse;
use chrono::NaiveDate;

use crate::common::{casework, generated_warehouse_with, stderr};

/// A small deterministic generator (xorshift64*), so that a failing combination is
/// printed and found again.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a>(&mut self, list: &'a [String]) -> &'a String {
        &list[self.below(list.len())]
    }
}

/// The generated bundle made messy, line by line (the header kept).
fn mess(cases_csv: &Path) {
    let text = std::fs::read_to_string(cases_csv).unwrap();
    let mut lines = text.lines();
    let mut header = lines.next().unwrap().to_string();
    // The generator writes no service column: one is added, with four services (one
    // with a space) and some cases without one.
    let add_service = !header.split(',').any(|c| c == "service");
    if add_service {
        header.push_str(",service");
    }
    let columns: Vec<&str> = header.split(',').collect();
    let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    let (region, name, opened, closed, decision) = (
        at("region"),
        at("organisation_name"),
        at("opened_date"),
        at("closed_date"),
        at("decision"),
    );
    let service = at("service");
    let mut rows: Vec<Vec<String>> = lines
        .map(|l| {
            let mut r: Vec<String> = l.split(',').map(str::to_string).collect();
            if add_service {
                r.push(String::new());
            }
            r
        })
        .collect();
    for (i, r) in rows.iter_mut().enumerate() {
        assert_eq!(
            r.len(),
            columns.len(),
            "a generated line has a comma in a value"
        );
        if i % 7 == 0 {
            r[region].clear();
        }
        if i % 31 == 0 {
            r[region] = "North East".into();
        }
        if i % 17 == 0 {
            r[name].clear();
        }
        if i % 29 == 0 {
            r[name] = "A Renamed Trust".into();
        }
        // Many spellings of some organisations' names (an organisation of many names and
        // regions: many cells of one organisation in the cube).
        if i % 23 == 0 {
            r[name] = format!("Spelling {}", i % 41);
        }
        if i % 11 == 0 {
            // Known only to the year; a closing date then given to the year too (a
            // closing dated to the day might fall before the year's first day).
            r[opened].truncate(4);
            if !r[closed].is_empty() {
                r[closed].truncate(4);
            }
        } else if i % 13 == 0 {
            r[opened].truncate(7);
            if !r[closed].is_empty() {
                r[closed].truncate(7);
            }
        }
        r[service] =
            ["radiology", "emergency medicine", "", "urology", "oncology"][i * 7 % 5].into();
        if i % 19 == 0 && r[decision] != "open" {
            r[closed].clear();
            r[decision] = "open".into();
        }
    }
    // Rows in no particular order.
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    for i in (1..rows.len()).rev() {
        rows.swap(i, dice.below(i + 1));
    }
    let mut out = header;
    out.push('\n');
    for r in rows {
        out.push_str(&r.join(","));
        out.push('\n');
    }
    std::fs::write(cases_csv, out).unwrap();
}

/// The generator puts every finding at one stage: four stages instead, and some
/// findings with none, so that a case's themes differ by stage.
fn stages(findings_csv: &Path) {
    let text = std::fs::read_to_string(findings_csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let at = header.split(',').position(|c| c == "stage").unwrap();
    let mut out = format!("{header}\n");
    for (i, l) in lines.enumerate() {
        let mut r: Vec<&str> = l.split(',').collect();
        r[at] = ["reporting", "review", "", "communication", "action"][i * 3 % 5];
        out.push_str(&r.join(","));
        out.push('\n');
    }
    std::fs::write(findings_csv, out).unwrap();
}

/// A random scope over the index's values.
fn scope(dice: &mut Dice, index: &CaseIndex) -> Scope {
    let mut s = Scope {
        date_field: if dice.chance(3) {
            DateField::ClosedDate
        } else {
            DateField::OpenedDate
        },
        ..Scope::default()
    };
    let day = |dice: &mut Dice| {
        NaiveDate::from_ymd_opt(2019, 1, 1).unwrap() + chrono::Days::new(dice.below(6 * 365) as u64)
    };
    match dice.below(4) {
        0 => {}
        1 => {
            let (a, b) = (day(dice), day(dice));
            s.from = Some(a.min(b));
            s.to = Some(a.max(b));
        }
        2 => {
            if dice.chance(2) {
                s.from = Some(day(dice));
            } else {
                s.to = Some(day(dice));
            }
        }
        _ => {
            let year = 2019 + dice.below(6) as i32;
            let code = match dice.below(4) {
                0 => format!("{year}"),
                1 => format!("FY{year}-{:02}", (year + 1) % 100),
                2 => format!("{year}-Q{}", 1 + dice.below(4)),
                _ => format!("{year}-{:02}", 1 + dice.below(12)),
            };
            s.period = Some(Period::parse(&code).unwrap());
        }
    }
    for g in Grouping::ALL {
        let values = index.values(g).to_vec();
        if values.is_empty() || !dice.chance(3) {
            continue;
        }
        match dice.below(4) {
            0 => {
                let v = dice.pick(&values).clone();
                match g {
                    Grouping::Organisation => s.organisation = Some(v),
                    Grouping::Region => s.region = Some(v),
                    Grouping::Source => s.source = Some(v),
                    Grouping::Decision => s.decision = Some(v),
                    Grouping::Service => s.service = Some(v),
                    Grouping::Stage => s.stage = Some(v),
                }
            }
            k => {
                let n = 1 + dice.below(3);
                let mut chosen: Vec<String> = (0..n).map(|_| dice.pick(&values).clone()).collect();
                if dice.chance(5) {
                    chosen.push("NOT-A-VALUE".into());
                }
                s.choices.push(Choice {
                    grouping: g,
                    values: chosen,
                    exclude: k == 3,
                });
            }
        }
    }
    s
}

#[test]
fn the_case_index_gives_the_measures_answers_for_200_random_scopes() {
    index_equals_sql(3000, 9, 200);
}

/// More themes than the bits of one integer (the SQL's `case_theme_bits` holds 62, the
/// index's 64): both count the rest another way.
#[test]
fn the_case_index_agrees_past_64_themes() {
    index_equals_sql(1200, 70, 40);
}

fn index_equals_sql(cases: u64, themes: u64, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (cases_text, themes_text) = (cases.to_string(), themes.to_string());
    let out = casework(
        dir.path(),
        &[
            "generate",
            "--cases",
            &cases_text,
            "--seed",
            "7",
            "--themes",
            &themes_text,
            "--organisations",
            "40",
            "--years",
            "6",
            "--out",
            "g",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    mess(&dir.path().join("g").join("cases.csv"));
    stages(&dir.path().join("g").join("findings.csv"));
    let out = casework(dir.path(), &["ingest", "g", "--study", "g", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rejects = dir.path().join("warehouse").join("rejects.csv");
    assert!(
        !rejects.exists(),
        "the messy bundle is valid: {}",
        std::fs::read_to_string(&rejects).unwrap_or_default()
    );

    let warehouse = Warehouse::locate(&dir.path().join("warehouse")).unwrap();
    let (codes, thresholds) = warehouse.stored_config().unwrap();
    let (codes, thresholds) = (codes.unwrap(), thresholds.unwrap());
    let study = warehouse
        .stored_study(&codes)
        .unwrap()
        .unwrap_or_else(|| StudyFile::for_code_list(&codes));
    let as_of = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let all = Scope::default();
        let base = engine::Inputs {
            warehouse: &warehouse,
            codes: &codes,
            thresholds: &thresholds,
            scope: &all,
            as_of,
            memory_limit: engine::DEFAULT_MEMORY_LIMIT,
            pool: None,
            engine: &Engine::Local,
            study: &study,
        };
        let ctx = engine::session(&base).await.unwrap();
        let version = warehouse.committed().unwrap().version;
        // With the cubes kept whatever their size (a bundle of thousands of cases has
        // about a cell per case): the views that can read them do.
        let index = CaseIndex::load_with(&ctx, &version, codes.themes(), 0)
            .await
            .unwrap();
        assert_eq!(index.len() as u64, cases);
        let mut dice = Dice(20261207);
        let (mut empty, mut with_choices, mut periods, mut few) = (0, 0, 0, 0);
        // Views whose parts were counted from a cube, and of those, from a cube and the
        // cases of the months their dates cut.
        let (mut cubed, mut cut) = (0, 0);
        for round in 0..rounds {
            let scope = if round == 0 {
                Scope::default()
            } else {
                scope(&mut dice, &index)
            };
            let ctx = engine::session(&engine::Inputs {
                scope: &scope,
                ..base.clone()
            })
            .await
            .unwrap();
            let c = Context {
                scope: &scope,
                codes: &codes,
                thresholds: &thresholds,
                as_of,
                queries: None,
            };
            let counts = index.count(&scope, Want::ALL);
            if counts.cases == 0 {
                empty += 1;
            }
            // A view of every date that reads a quarter of the cases or fewer read only
            // the cases of the values its filters allow (a few organisations, a region).
            let undated = scope.from.is_none() && scope.to.is_none() && scope.period.is_none();
            few += usize::from(undated && counts.visited * 4 <= index.len() as u64);
            with_choices += usize::from(!scope.choices.is_empty());
            periods += usize::from(scope.period.is_some());
            // Counts of fewer parts (the pages that need no more) give the same answers
            // for what they have. Those (no theme sets) are counted from the cube where
            // the filters allow, the view of every part (with theme sets) from the cases.
            assert_eq!(counts.cells, 0);
            let read = std::cell::Cell::new((0, 0));
            let json = |name: &str, w: Want| {
                let part = index.count(&scope, w);
                assert_eq!(part.cases, counts.cases);
                if part.cells > 0 {
                    let (n, m) = read.get();
                    read.set((n + 1, m + usize::from(part.visited > 0)));
                }
                serde_json::to_value(&index.measure(name, &part, &c).unwrap().unwrap().rows)
                    .unwrap()
            };
            let all = |name: &str| {
                serde_json::to_value(&index.measure(name, &counts, &c).unwrap().unwrap().rows)
                    .unwrap()
            };
            let (by_org, by_month) = (
                Want {
                    organisations: true,
                    ..Want::TOTALS
                },
                Want {
                    months: true,
                    ..Want::TOTALS
                },
            );
            for w in [Want::TOTALS, by_org, by_month] {
                assert_eq!(
                    json("theme_prevalence", w),
                    all("theme_prevalence"),
                    "{w:?}"
                );
            }
            assert_eq!(
                json("organisation_profile", by_org),
                all("organisation_profile")
            );
            assert_eq!(json("monthly_series", by_month), all("monthly_series"));
            let (n, m) = read.get();
            cubed += usize::from(n > 0);
            cut += usize::from(m > 0);
            for name in CaseIndex::MEASURES {
                let sql = measures::run(&ctx, measures::find(name).unwrap(), &c)
                    .await
                    .unwrap();
                let fast = index.measure(name, &counts, &c).unwrap().unwrap();
                let (a, b) = (
                    serde_json::to_value(&sql.rows).unwrap(),
                    serde_json::to_value(&fast.rows).unwrap(),
                );
                assert!(
                    a == b,
                    "round {round}, {name}, scope {scope:?}:\nSQL   {}\nindex {}",
                    &a.to_string()[..a.to_string().len().min(3000)],
                    &b.to_string()[..b.to_string().len().min(3000)]
                );
            }
        }
        // The sample reached what it is for: empty views, choices, periods.
        assert!(empty >= rounds / 60, "empty views {empty}");
        assert!(
            with_choices >= rounds / 5,
            "views with choices {with_choices}"
        );
        assert!(periods >= rounds / 7, "views of periods {periods}");
        assert!(
            few >= rounds / 20,
            "views that read only their values' cases {few}"
        );
        // Past 64 themes there is no cube.
        if themes <= 64 {
            assert!(cubed >= rounds / 8, "views read from the cube {cubed}");
            assert!(cut >= rounds / 20, "views of the cube and cut months {cut}");
        } else {
            assert_eq!(cubed, 0);
        }
    });
}

/// The index's query holds each case's list of findings in memory and reads the cases as
/// a stream. Holding the cases instead (their text columns) took more than the default
/// 1 GiB pool at ten million cases. Here 30,000 cases in a 4 MiB pool: the cases held in
/// memory overflow it (the query before the change failed so), the lists do not.
#[test]
fn the_case_index_streams_the_cases_within_a_small_pool() {
    let dir = tempfile::tempdir().unwrap();
    generated_warehouse_with(dir.path(), 30000, 3, &["--organisations", "40"]);
    let warehouse = Warehouse::locate(&dir.path().join("warehouse")).unwrap();
    let (codes, thresholds) = warehouse.stored_config().unwrap();
    let (codes, thresholds) = (codes.unwrap(), thresholds.unwrap());
    let study = StudyFile::for_code_list(&codes);
    let all = Scope::default();
    let inputs = engine::Inputs {
        warehouse: &warehouse,
        codes: &codes,
        thresholds: &thresholds,
        scope: &all,
        as_of: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
        memory_limit: 4 << 20,
        pool: None,
        engine: &Engine::Local,
        study: &study,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ctx = engine::session(&inputs).await.unwrap();
        let version = warehouse.committed().unwrap().version;
        let index = CaseIndex::load(&ctx, &version, codes.themes())
            .await
            .unwrap();
        assert_eq!(index.len(), 30_000);
        assert_eq!(index.count(&all, Want::ALL).cases, 30_000);
        // At its default the index keeps a cube here (40 organisations over the years
        // have fewer cells than a quarter of the cases), and a view of months reads it.
        let months = Want {
            months: true,
            ..Want::TOTALS
        };
        let counted = index.count(&all, months);
        assert_eq!(counted.cases, 30_000);
        assert!(
            counted.cells > 0 && counted.visited == 0,
            "{}",
            counted.cells
        );
    });
}
