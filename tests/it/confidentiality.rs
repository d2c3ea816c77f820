//! Confidentiality audit: every command that writes outputs is run (with `--publish`
//! where it has it) on a bundle whose `patient_ref`, `note` and `narrative` values are
//! recognisable,
//! including rejected rows; then every byte of every output, console text and rejects
//! file is searched for them. `patient_ref` must not be in the warehouse either, unless
//! as a keyed hash.

use std::fs;
use std::path::Path;

use crate::common::*;

const PATIENT: &str = "SECRETPATIENT";
const NOTE: &str = "SECRETNOTE";
const NARRATIVE: &str = "SECRETNARRATIVE";

/// The example bundle with every patient_ref and note made recognisable, plus a
/// rejected case (bad date) and a rejected finding (unknown code) carrying them too.
fn seeded_bundle(dir: &Path) -> std::path::PathBuf {
    let b = copy_example(dir, "seeded");
    // A narrative for every case: the marker among words, so that `casework suggest`
    // has text to learn from (and its outputs are searched too).
    let cases = fs::read_to_string(b.join("cases.csv")).unwrap();
    let mut lines = cases.lines();
    let mut out = format!("{},narrative\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        out.push_str(&format!(
            "{line},\"{NARRATIVE}-{i:03} the scan was missed, then \"\"reported\"\" late\"\n"
        ));
    }
    fs::write(b.join("cases.csv"), out).unwrap();
    for (file, column, marker) in [
        ("cases.csv", "patient_ref", PATIENT),
        ("findings.csv", "note", NOTE),
    ] {
        let mut reader = csv::Reader::from_path(b.join(file)).unwrap();
        let header = reader.headers().unwrap().clone();
        let index = header.iter().position(|h| h == column).unwrap();
        let mut out = csv::Writer::from_path(b.join(format!("{file}.new"))).unwrap();
        out.write_record(&header).unwrap();
        for (i, r) in reader.records().enumerate() {
            let r = r.unwrap();
            let fields: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(j, f)| {
                    if j == index {
                        format!("{marker}-{i:03} with, commas and \"quotes\"")
                    } else {
                        f.to_string()
                    }
                })
                .collect();
            out.write_record(&fields).unwrap();
        }
        let last: Vec<String> = match file {
            "cases.csv" => header
                .iter()
                .map(|h| match h {
                    "case_id" => "bad-case".into(),
                    "source" => "ombudsman_complaint".into(),
                    "organisation_code" => "ORG-X".into(),
                    "opened_date" => "31/02/2020".into(),
                    "patient_ref" => format!("{PATIENT}-rejected"),
                    "narrative" => format!("{NARRATIVE}-rejected"),
                    _ => String::new(),
                })
                .collect(),
            _ => header
                .iter()
                .map(|h| match h {
                    "case_id" => "phso-01".into(),
                    "code" => "NOPE".into(),
                    "note" => format!("{NOTE}-rejected"),
                    _ => String::new(),
                })
                .collect(),
        };
        out.write_record(&last).unwrap();
        out.flush().unwrap();
        fs::rename(b.join(format!("{file}.new")), b.join(file)).unwrap();
    }
    b
}

fn assert_clean(what: &str, bytes: &[u8]) {
    for marker in [PATIENT, NOTE, NARRATIVE] {
        assert!(!contains(bytes, marker.as_bytes()), "{what} holds {marker}");
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_patient_ref_or_note_reaches_any_output() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = seeded_bundle(d);
    let bundle = b.to_str().unwrap();
    let key = d.join("key");
    fs::write(&key, b"an audit key of at least thirty-two bytes long").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let runs: Vec<(Vec<&str>, Option<i32>)> = vec![
        (
            vec!["validate", bundle, "--rejects", "rej-validate.csv"],
            Some(2),
        ),
        (
            vec![
                "validate",
                bundle,
                "--format",
                "json",
                "--rejects",
                "rej-validate2.csv",
            ],
            Some(2),
        ),
        (
            vec!["ingest", bundle, "--rejects", "rej-strict.csv"],
            Some(2),
        ),
        (
            vec![
                "ingest",
                bundle,
                "--accept-partial",
                "--rejects",
                "rej-partial.csv",
                "--format",
                "json",
            ],
            Some(0),
        ),
        (
            vec![
                "ingest",
                bundle,
                "--accept-partial",
                "--warehouse",
                "keyed",
                "--key-file",
                "key",
                "--rejects",
                "rej-keyed.csv",
            ],
            Some(0),
        ),
        (vec!["measure", "--publish"], Some(0)),
        (vec!["measure", "--publish", "--format", "json"], Some(0)),
        (vec!["measure", "--publish", "--out", "measures"], Some(0)),
        (
            vec![
                "measure",
                "funnel",
                "--theme",
                "delay",
                "--publish",
                "--format",
                "json",
            ],
            Some(0),
        ),
        (
            vec![
                "measure",
                "spc",
                "--theme",
                "delay",
                "--publish",
                "--format",
                "json",
            ],
            // Months of this bundle hold 1 to 7 cases: the chart is not published, and
            // the refusal (exit code 1) names no confidential value either.
            Some(1),
        ),
        (
            vec![
                "chart",
                "prevalence",
                "--publish",
                "--out",
                "charts/prevalence.svg",
            ],
            Some(0),
        ),
        (
            vec!["chart", "stage", "--publish", "--out", "charts/stage.svg"],
            Some(0),
        ),
        (
            vec!["suggest", "--out", "suggested", "--folds", "2", "--write"],
            Some(0),
        ),
        (vec!["agreement", "--format", "json"], Some(0)),
        (vec!["report", "--publish", "--out", "report"], Some(0)),
        (vec!["report", "--out", "report-unpublished"], Some(0)),
        (
            vec![
                "run",
                bundle,
                "--warehouse",
                "run-wh",
                "--out",
                "run-report",
            ],
            Some(2),
        ),
    ];
    for (args, code) in &runs {
        let out = casework(d, args);
        assert_eq!(out.status.code(), *code, "{args:?}: {}", stderr(&out));
        assert_clean(&format!("stdout of {args:?}"), &out.stdout);
        assert_clean(&format!("stderr of {args:?}"), &out.stderr);
    }
    // Every file written outside the warehouses: rejects files, measures, charts, reports.
    let mut checked = 0;
    let mut workbooks = 0;
    for f in all_files(d) {
        let rel = f.strip_prefix(d).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .to_string();
        if ["seeded", "key", "warehouse", "keyed", "run-wh"].contains(&top.as_str()) {
            continue;
        }
        assert_clean(&rel.display().to_string(), &fs::read(&f).unwrap());
        // A workbook is a zip: its cells are read back, not its compressed bytes.
        if f.extension().is_some_and(|e| e == "xlsx") {
            use calamine::{Reader, Xlsx, open_workbook};
            let mut wb: Xlsx<_> = open_workbook(&f).unwrap();
            for name in wb.sheet_names().to_vec() {
                let range = wb.worksheet_range(&name).unwrap();
                for row in range.rows() {
                    for cell in row {
                        assert_clean(
                            &format!("{} sheet {name}", rel.display()),
                            cell.to_string().as_bytes(),
                        );
                    }
                }
            }
            workbooks += 1;
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} output files were checked");
    assert!(workbooks >= 2, "only {workbooks} workbooks were read back");
    // casework serve's pages, with and without --publish: the overview, the full report,
    // a table, and (without --publish) a case's page of codes beside its coders'.
    for args in [&[][..], &["--publish"][..]] {
        let server = crate::serve::Server::start(d, args);
        let mut pages = vec!["/", "/report", "/table/theme_prevalence.csv"];
        if args.is_empty() {
            pages.push("/case/phso-01");
        }
        for page in pages {
            let (status, _, body) = server.get(page, &[]);
            assert_eq!(
                status,
                200,
                "serve {args:?} {page}: {}",
                String::from_utf8_lossy(&body)
            );
            assert_clean(&format!("serve {args:?} {page}"), &body);
        }
    }
    assert!(d.join("rej-partial.csv").is_file() && d.join("report/index.html").is_file());
    // Control: the markers are really in the warehouse, and the search finds them where
    // they are printed on purpose (query is the analyst's tool inside the warehouse).
    let out = casework(d, &["query", "SELECT note FROM findings"]);
    assert!(contains(&out.stdout, NOTE.as_bytes()), "{}", stdout(&out));
    let out = casework(d, &["query", "SELECT narrative FROM cases"]);
    assert!(
        contains(&out.stdout, NARRATIVE.as_bytes()),
        "{}",
        stdout(&out)
    );
    // The model was written and scored: its outputs were among the files searched.
    assert!(
        d.join("suggested/validation.csv").is_file() && d.join("suggested/queue.csv").is_file()
    );
    // The warehouses keep notes (they never leave it) but no patient_ref in clear.
    for wh in ["warehouse", "keyed"] {
        for f in all_files(&d.join(wh)) {
            assert!(
                !contains(&fs::read(&f).unwrap(), PATIENT.as_bytes()),
                "{} holds a patient_ref",
                f.display()
            );
        }
    }
}
