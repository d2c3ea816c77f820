//! Charts: every chart renders as a PNG that is not blank and an SVG that parses.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::common::*;

/// (width, height, distinct colours) of a PNG, decoded with the png crate.
fn png_facts(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = info.color_type.samples();
    let colours: HashSet<&[u8]> = buf[..info.buffer_size()].chunks(bytes).collect();
    (info.width, info.height, colours.len())
}

#[test]
fn every_chart_renders_as_png_and_svg() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let charts: &[(&str, Option<&str>)] = &[
        ("prevalence", None),
        ("cooccurrence", None),
        ("delays", None),
        ("funnel", Some("unfollowed_alert")),
        ("stage", None),
        ("service", None),
        ("compliance", None),
    ];
    for (name, theme) in charts {
        let stem = format!("figs/{name}");
        let mut args = vec!["chart", name, "--out", stem.as_str()];
        if let Some(t) = theme {
            args.extend(["--theme", t]);
        }
        fs::create_dir_all(tmp.path().join("figs")).unwrap();
        let out = casework(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let (w, h, colours) = png_facts(&tmp.path().join(format!("figs/{name}.png")));
        // A4 width; the height grows with what is drawn (rows of a heat map, a key).
        assert_eq!(w, 960, "{name}");
        assert!((300..=2000).contains(&h), "{name}: {h} pixels high");
        // White, the NHS blue and dark blue of the title, greys of axes and text, and
        // anti-aliased edges: a drawn chart has many colours, a blank one has one.
        assert!(colours >= 8, "{name}: only {colours} colours");
        let svg = fs::read_to_string(tmp.path().join(format!("figs/{name}.svg"))).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}.svg: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(
            svg.contains("Source: casework warehouse v000001"),
            "{name}: source line"
        );
        assert!(
            svg.contains("#005EB8") || svg.contains("#005eb8") || svg.contains("rgb(0,94,184)"),
            "{name}: NHS blue"
        );
    }
    let out = casework(tmp.path(), &["chart", "pie"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown chart \"pie\"; the charts are: prevalence, "));
}

/// The SPC chart, on data dense enough for one (the example's months hold 0 or 1 case of
/// a theme: too sparse, refused with the reason).
#[test]
fn the_spc_chart_renders_where_the_data_supports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    example_warehouse(d);
    let out = casework(d, &["chart", "spc", "--theme", "delay", "--out", "sparse"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("too sparse"), "{}", stderr(&out));
    let out = casework(
        d,
        &["generate", "--cases", "3000", "--seed", "2", "--out", "g"],
    );
    assert_eq!(out.status.code(), Some(0));
    let out = casework(d, &["ingest", "g", "--warehouse", "wg", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = casework(
        d,
        &[
            "chart",
            "spc",
            "--theme",
            "delay",
            "--warehouse",
            "wg",
            "--out",
            "spc",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (w, h, colours) = png_facts(&d.join("spc.png"));
    assert_eq!((w, h), (960, 560));
    assert!(colours >= 8, "only {colours} colours");
    let svg = fs::read_to_string(d.join("spc.svg")).unwrap();
    assert!(roxmltree::Document::parse(&svg).is_ok());
}

/// Charts fit their data: on a generated warehouse, every strip of the delays chart is
/// labelled (15 strips, where a fixed height labelled every other one), and the
/// prevalence axis ends at the first round share holding the longest interval with room
/// for its label (worked out here from the measure's intervals), not always at 100%.
#[test]
fn charts_fit_their_data() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    generated_warehouse(d, 3000, 8);
    fs::create_dir_all(d.join("figs")).unwrap();
    for name in ["delays", "prevalence"] {
        let stem = format!("figs/{name}");
        let out = casework(d, &["chart", name, "--out", &stem]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    }
    let texts = |name: &str| -> Vec<String> {
        let svg = fs::read_to_string(d.join(format!("figs/{name}.svg"))).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect()
    };
    let delays = measure_json(d, &["delay_intervals"]);
    let strips: Vec<String> = delays["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["episodes"].as_u64().unwrap_or(0) > 0)
        .map(|r| {
            format!(
                "{} → {} ({})",
                r["from_event"].as_str().unwrap().replace('_', " "),
                r["to_event"].as_str().unwrap().replace('_', " "),
                r["urgency"].as_str().unwrap()
            )
        })
        .collect();
    assert!(strips.len() >= 10, "{strips:?}");
    let drawn = texts("delays");
    for s in &strips {
        assert!(drawn.contains(s), "strip {s:?} is not labelled: {drawn:?}");
    }
    let prevalence = measure_json(d, &["theme_prevalence"]);
    let top = prevalence["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["ci95_high"].as_f64())
        .fold(0.0, f64::max)
        * 100.0;
    let end = [10.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 75.0]
        .into_iter()
        .find(|e| top * 1.1 + 4.0 <= *e)
        .unwrap_or(100.0);
    let ticks = texts("prevalence");
    assert!(ticks.contains(&format!("{end:.0}%")), "{end}: {ticks:?}");
    assert!(end < 100.0, "the planted shares are small: {top}");
    assert!(!ticks.contains(&"100%".to_string()), "{ticks:?}");
}
