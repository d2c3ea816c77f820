//! One source of truth: the docs name exactly the measures and the options the code has.
//!
//! - The README's list of measures is the measure registry (`casework::measures::MEASURES`),
//!   with the right count in words; `docs/measures.md` covers every measure; every
//!   `casework measure NAME` in the docs names a measure casework runs.
//! - Every table of keys in the docs (`### [table]` followed by `| key | meaning |`) lists
//!   exactly the keys casework accepts there. What casework accepts is read from casework
//!   itself, as a user would meet it: a file with an unknown key is refused with the list
//!   of the keys expected, and that list is compared with the docs' table.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn doc(name: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join(name)).unwrap()
}

/// The backticked names in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The keys of the table under the heading `### {heading}` in `text`: the first column of
/// a `| key | meaning |` table, each written in backticks.
fn keys_under(text: &str, heading: &str, file: &str) -> BTreeSet<String> {
    let start = text
        .lines()
        .position(|l| l.trim_end() == format!("### {heading}"))
        .unwrap_or_else(|| panic!("{file}: no heading \"### {heading}\""));
    let lines: Vec<&str> = text.lines().skip(start + 1).collect();
    let header = lines
        .iter()
        .take_while(|l| !l.starts_with('#'))
        .position(|l| l.trim() == "| key | meaning |")
        .unwrap_or_else(|| panic!("{file}: no \"| key | meaning |\" table under {heading}"));
    lines[header + 2..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cell = l.split('|').nth(1).unwrap().trim();
            let key = cell.trim_matches('`');
            assert!(
                cell.starts_with('`') && cell.ends_with('`') && !key.contains('`'),
                "{file}, {heading}: a key cell that is not one backticked key: {cell:?}"
            );
            key.to_string()
        })
        .collect()
}

/// The keys a refusal lists after "expected one of": serde's "`a`, `b`" or casework's
/// mapping loader's "a, b".
fn expected_keys(message: &str) -> BTreeSet<String> {
    let at = message
        .find("expected ")
        .unwrap_or_else(|| panic!("no list of expected keys in: {message}"));
    let list = message[at + "expected ".len()..].lines().next().unwrap();
    let list = list.strip_prefix("one of").unwrap_or(list);
    // serde: "`a`, `b`" or "`a` or `b`" or "`a`"; the mapping loader: "a, b".
    list.split(',')
        .flat_map(|k| k.split(" or "))
        .map(|k| k.trim().trim_matches('`').trim_end_matches('.').to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

/// Runs `args` in `dir`, which must be refused (exit code 1): its stderr.
fn refusal(dir: &Path, args: &[&str]) -> String {
    let out = casework(dir, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} was not refused: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

#[test]
fn the_docs_list_exactly_the_measures_of_the_registry() {
    let registry: Vec<&str> = casework::measures::MEASURES
        .iter()
        .map(|m| m.name)
        .collect();
    let words = [
        "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen",
    ];
    let readme = doc("README.md");
    let intro = format!("The {} measures (", words[registry.len()]);
    let at = readme.find(&intro).unwrap_or_else(|| {
        panic!(
            "README.md: no \"{intro}\" (the registry has {} measures)",
            registry.len()
        )
    });
    let paragraph = &readme[at..];
    let paragraph = &paragraph[..paragraph.find("Every measure's JSON").unwrap()];
    let listed: Vec<String> = backticked(paragraph)
        .into_iter()
        .filter(|n| !n.contains('/') && !n.contains('*') && !n.contains('.'))
        .collect();
    assert_eq!(
        listed, registry,
        "README.md's list of measures is not the registry's, in its order"
    );
    // docs/measures.md describes every measure.
    let measures_doc = doc("docs/measures.md");
    let named: BTreeSet<String> = backticked(&measures_doc).into_iter().collect();
    for m in &registry {
        assert!(named.contains(*m), "docs/measures.md never names `{m}`");
    }
    // Every `casework measure NAME` in the docs runs: a registry measure, or one of the
    // oversight outputs the measure command also draws (refused otherwise as unknown).
    let tmp = tempfile::tempdir().unwrap();
    for file in [
        "README.md",
        "docs/measures.md",
        "docs/oversight.md",
        "docs/studies.md",
        "docs/serve.md",
        "docs/scaling.md",
        "docs/bring-your-own-export.md",
    ] {
        let text = doc(file);
        for (i, _) in text.match_indices("casework measure ") {
            let name: String = text[i + "casework measure ".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name.is_empty() || registry.contains(&name.as_str()) {
                continue;
            }
            let out = casework(tmp.path(), &["measure", &name, "--warehouse", "none"]);
            assert!(
                !stderr(&out).contains("unknown measure"),
                "{file} names `casework measure {name}`, which casework refuses: {}",
                stderr(&out)
            );
        }
    }
}

/// A study folder with `study.toml` = `text` (its code list beside it).
fn study(dir: &Path, text: &str) {
    let s = dir.join("s");
    fs::create_dir_all(&s).unwrap();
    fs::copy(
        Path::new(ROOT).join("data/codes/imaging-themes.csv"),
        s.join("codes.csv"),
    )
    .unwrap();
    fs::write(
        s.join("study.toml"),
        format!("title = \"T\"\ncodes = \"codes.csv\"\n{text}"),
    )
    .unwrap();
}

#[test]
fn every_study_file_option_is_documented_once_and_every_documented_one_exists() {
    let text = doc("docs/studies.md");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let theme = "[[theme]]\ntheme = \"a\"\nlabel = \"A\"\n";
    let cases: [(&str, String); 7] = [
        ("Top level", "bogus = 1\n".into()),
        ("[[stage]]", "[[stage]]\nstage = \"a\"\nlabel = \"A\"\nbogus = 1\n".into()),
        ("[[theme]]", format!("{theme}bogus = 1\n")),
        (
            "[[theme.rebase]]",
            format!("{theme}[[theme.rebase]]\nfrom = \"2024-01\"\nreason = \"r\"\nbogus = 1\n"),
        ),
        ("[exposure]", "[exposure]\nunit = \"u\"\nbogus = 1\n".into()),
        (
            "[[exposure.values]]",
            "[exposure]\nunit = \"u\"\n[[exposure.values]]\norganisation_code = \"A\"\nexposure = 1\nbogus = 1\n".into(),
        ),
        ("[publication]", "[publication]\nbogus = 1\n".into()),
    ];
    for (heading, toml) in cases {
        study(d, &toml);
        let message = refusal(d, &["validate", EXAMPLE, "--study", "s"]);
        assert!(message.contains("study.toml"), "{message}");
        assert_eq!(
            keys_under(&text, heading, "docs/studies.md"),
            expected_keys(&message),
            "docs/studies.md, {heading}: the documented keys (left) are not those casework accepts (right)"
        );
    }
    // The delay thresholds file (docs/data-dictionary.md).
    fs::write(
        d.join("t.toml"),
        "[[interval]]\nfrom = \"requested\"\nto = \"performed\"\nurgency = [\"any\"]\ndays = 1\nbogus = 1\n",
    )
    .unwrap();
    let message = refusal(d, &["validate", EXAMPLE, "--thresholds", "t.toml"]);
    assert!(message.contains("t.toml"), "{message}");
    assert_eq!(
        keys_under(
            &doc("docs/data-dictionary.md"),
            "[[interval]]",
            "docs/data-dictionary.md"
        ),
        expected_keys(&message)
    );
}

#[test]
fn every_mapping_option_is_documented_once_and_every_documented_one_exists() {
    let text = doc("docs/bring-your-own-export.md");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("export.csv"), "a,b\n1,2\n").unwrap();
    let cases = cases_header();
    let mappings = [
        ("Top level", format!("bogus = 1\n{cases}")),
        ("[export]", format!("[export]\nbogus = 1\n{cases}")),
        (
            "[[export.skip_if]]",
            format!(
                "[export]\nskip_if = [{{ column = \"a\", values = [\"x\"], bogus = 1 }}]\n{cases}"
            ),
        ),
        (
            "[lookups.NAME]",
            format!("[lookups.x]\nfile = \"f.csv\"\nkey = \"k\"\non = \"a\"\nbogus = 1\n{cases}"),
        ),
        (
            "[exposure]",
            format!("[exposure]\nfile = \"f.csv\"\nbogus = 1\n{cases}"),
        ),
        (
            "[TYPE.FIELD]",
            "[cases]\ncase_id = { column = \"a\", bogus = 1 }\n".into(),
        ),
        (
            "[[TYPE.FIELD.else]]",
            "[cases]\ncase_id = { column = \"a\", else = [{ column = \"b\", bogus = 1 }] }\n"
                .into(),
        ),
    ];
    for (heading, mapping) in mappings {
        fs::write(d.join("m.toml"), mapping).unwrap();
        let message = refusal(d, &["validate", "--mapping", "m.toml", "export.csv"]);
        assert!(message.contains("m.toml"), "{message}");
        assert_eq!(
            keys_under(&text, heading, "docs/bring-your-own-export.md"),
            expected_keys(&message),
            "docs/bring-your-own-export.md, {heading}: the documented keys (left) are not those casework accepts (right)"
        );
    }
}

fn cases_header() -> String {
    "[cases]\ncase_id = \"a\"\n".into()
}
