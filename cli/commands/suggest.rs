//! `casework suggest`: assisted coding (docs/suggest.md).

use std::path::Path;

use casework::Error;
use casework::engine;
use casework::suggest::calibrate::Rule;
use casework::suggest::model::{Header, Model};
use casework::suggest::store::{self, Coding, MODEL_CODER};
use casework::suggest::text::{CHAR_NGRAMS, Vocabulary, WORD_NGRAMS};
use casework::suggest::{self, Level, Options};
use serde_json::{Map, Value, json};

use crate::args::{ClassWeightArg, EngineArg, LevelArg, OutFormat, SuggestArgs};
use crate::session::Session;

/// Uncoded cases scored at a time (their TF-IDF rows are built a batch at a time).
const BATCH: usize = 10_000;

fn rule(text: &str) -> Result<Rule, Error> {
    if text == "f1" {
        return Ok(Rule::F1);
    }
    match text.strip_prefix("precision:").map(str::parse::<f64>) {
        Some(Ok(p)) if p > 0.0 && p <= 1.0 => Ok(Rule::Precision(p)),
        _ => Err(Error::Usage(format!(
            "--threshold {text:?}: give f1, or precision:SHARE with SHARE above 0 and at most 1 (e.g. precision:0.9)"
        ))),
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Writes a table through casework's CSV writer (a text cell a spreadsheet would take for
/// a formula is neutralised); the columns numbered in `numbers` hold numbers.
fn write_table(
    path: &Path,
    columns: &[&str],
    rows: &[Vec<String>],
    numbers: &[usize],
) -> Result<(), Error> {
    let numeric: Vec<Vec<bool>> = rows
        .iter()
        .map(|r| (0..r.len()).map(|j| numbers.contains(&j)).collect())
        .collect();
    let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    write(
        path,
        casework::measures::table_csv(&columns, rows, Some(&numeric)),
    )
}

pub(crate) async fn suggest_command(args: SuggestArgs) -> Result<i32, Error> {
    if args.session.as_of.is_some() {
        return Err(Error::Usage(
            "--as-of has no effect on suggest (it dates overdue recommendations): leave it out"
                .into(),
        ));
    }
    if args.session.stage.is_some() {
        return Err(Error::Usage(
            "--stage has no place in suggest: a case is coded by its findings at every \
             stage (with a stage, a coded case would look uncoded and its other codes be \
             lost to training): leave it out"
                .into(),
        ));
    }
    if args.session.engine != EngineArg::Local {
        return Err(Error::Usage(
            "suggest runs on the local engine only: leave out --engine".into(),
        ));
    }
    let level = match args.level {
        LevelArg::Code => Level::Code,
        LevelArg::Theme => Level::Theme,
    };
    if args.write && level == Level::Theme {
        return Err(Error::Usage(
            "--write adds codes to `codings`, which holds codes, not themes: leave out --level theme".into(),
        ));
    }
    if args.folds < 2 {
        return Err(Error::Usage("--folds must be at least 2".into()));
    }
    if !(args.c > 0.0 && args.c.is_finite()) {
        return Err(Error::Usage("--c must be a positive number".into()));
    }
    // What only training uses: with --model, given otherwise than by default, an error.
    let trained_only = [
        (args.session.config.study.is_some(), "--study"),
        (args.threshold != "f1", "--threshold"),
        (args.folds != 5, "--folds"),
        (args.seed != 1, "--seed"),
        (args.c != 1.0, "--c"),
        (
            args.class_weight != ClassWeightArg::Balanced,
            "--class-weight",
        ),
        (args.level != LevelArg::Code, "--level"),
    ];
    if args.model.is_some()
        && let Some((_, flag)) = trained_only.iter().find(|(given, _)| *given)
    {
        return Err(Error::Usage(format!(
            "{flag} has no effect with --model: a saved model keeps the code list, options and thresholds it was trained with"
        )));
    }
    let options = Options {
        level,
        folds: args.folds,
        seed: args.seed,
        rule: rule(&args.threshold)?,
        fit: suggest::logistic::Fit {
            c: args.c,
            balanced: args.class_weight == ClassWeightArg::Balanced,
            ..Default::default()
        },
        ..Default::default()
    };
    let s = Session::from_args(&args.session)?;
    let ctx = engine::session(&s.inputs()).await?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let version = s.warehouse.committed()?.version;
    let corpus = store::corpus(&ctx, &s.codes, level).await?;
    if args.simulate {
        return simulate(&args, &options, &corpus, &s);
    }

    // The model: trained and cross-validated here, or read from --model.
    let (model, name, model_path, oof) = match &args.model {
        Some(path) => {
            let (model, name) = Model::read(path)?;
            if model.header.code_list_sha256 != s.codes.source.sha256 {
                return Err(Error::Usage(format!(
                    "{}: trained with another code list (SHA-256 {}) than the warehouse's ({})",
                    path.display(),
                    model.header.code_list_sha256,
                    s.codes.source.sha256
                )));
            }
            (model, name, path.clone(), None)
        }
        None => {
            let minimum = 2 * args.folds;
            if corpus.texts.len() < minimum {
                return Err(Error::Usage(format!(
                    "only {} coded cases have text (a narrative): {} folds need at least {minimum}. Ingest cases with a `narrative` column, coded in `findings`",
                    corpus.texts.len(),
                    args.folds
                )));
            }
            eprintln!(
                "casework suggest: {} coded cases with text, {} {}s; {}-fold cross-validation (seed {})",
                corpus.texts.len(),
                corpus.names.len(),
                level.name(),
                args.folds,
                args.seed
            );
            let data = corpus.labelled();
            let v = suggest::cross_validate(&data, &options);
            let vocabulary = Vocabulary::fit(data.texts.iter().copied(), options.features);
            let x = vocabulary.transform(data.texts.iter().copied());
            let y = data.label_columns();
            let rows: Vec<usize> = (0..x.rows()).collect();
            let binaries = suggest::fit_all(&x, &y, &rows, options.fit);
            let header = Header {
                level: level.name().into(),
                labels: corpus.names.clone(),
                code_list_sha256: s.codes.source.sha256.clone(),
                warehouse_version: version.clone(),
                training_cases: corpus.texts.len() as u64,
                seed: args.seed,
                folds: args.folds,
                threshold_rule: options.rule.describe(),
                c: options.fit.c,
                class_weight_balanced: options.fit.balanced,
                max_iter: options.fit.max_iter,
                min_df: options.features.min_df,
                max_features: options.features.max_features,
                word_ngrams: WORD_NGRAMS,
                char_ngrams: CHAR_NGRAMS,
                platt: v.platt.iter().map(|p| (p.a, p.b)).collect(),
                thresholds: v.thresholds.clone(),
                macro_f1: v.macro_f1,
                top1_macro_f1: v.top1_macro_f1,
                features: vocabulary.len(),
            };
            let model = Model::new(header, vocabulary, &binaries);
            let bytes = model.to_bytes();
            let name = Model::name_of(&bytes);
            let path = args.out.join(format!("model-{name}.cwm"));
            write(&path, &bytes)?;
            write(
                &args.out.join("validation.csv"),
                casework::measures::rows_csv(&suggest::validation_rows(&v)),
            )?;
            write(
                &args.out.join("calibration.csv"),
                casework::measures::rows_csv(&suggest::calibration_rows(&v, &corpus.names, &data)),
            )?;
            let folds: Vec<Vec<String>> = corpus
                .case_ids
                .iter()
                .zip(&v.fold)
                .map(|(id, f)| vec![id.clone(), f.to_string()])
                .collect();
            write_table(
                &args.out.join("folds.csv"),
                &["case_id", "fold"],
                &folds,
                &[1],
            )?;
            (model, name, path, Some(v))
        }
    };
    let coder = format!("{MODEL_CODER}{name}");
    if args.write && store::has_coder(&ctx, &coder).await? {
        return Err(Error::Usage(format!(
            "the warehouse's codings already hold {coder}'s codes (this model, written before): nothing to add"
        )));
    }

    // Suggestions for the uncoded cases, and the queue.
    let single = model.header.labels.len() > 1 && suggest::single_label(&corpus.labels);
    let mut suggestions: Vec<Vec<String>> = Vec::new();
    let mut queue: Vec<(f64, String, String)> = Vec::new();
    let mut codings: Vec<Coding> = Vec::new();
    let mut uncoded = 0u64;
    store::each_uncoded(&ctx, BATCH, |batch| {
        let x = model
            .vocabulary
            .transform(batch.iter().map(|(_, _, t)| t.as_str()));
        let p = model.probabilities(&x);
        for ((id, key, _), p) in batch.iter().zip(&p) {
            uncoded += 1;
            let mut given = Vec::new();
            for (l, (&pl, &t)) in p.iter().zip(&model.header.thresholds).enumerate() {
                if pl >= t {
                    given.push(l);
                    suggestions.push(vec![
                        id.clone(),
                        model.header.labels[l].clone(),
                        format!("{pl:.4}"),
                    ]);
                }
            }
            let best = p
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(l, v)| format!("{} ({v:.2})", model.header.labels[l]))
                .unwrap_or_default();
            queue.push((
                suggest::uncertainty(p, &model.header.thresholds, single),
                id.clone(),
                best,
            ));
            if args.write {
                push_codings(&mut codings, id, *key, &given, &model.header.labels);
            }
        }
        Ok(())
    })
    .await?;
    // Least certain first; ties by case_id, so the queue is the same run to run.
    queue.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let queue: Vec<Vec<String>> = queue
        .into_iter()
        .enumerate()
        .map(|(rank, (u, id, best))| vec![(rank + 1).to_string(), id, format!("{u:.4}"), best])
        .collect();
    write_table(
        &args.out.join("suggestions.csv"),
        &["case_id", "label", "probability"],
        &suggestions,
        &[2],
    )?;
    write_table(
        &args.out.join("queue.csv"),
        &["rank", "case_id", "uncertainty_margin", "most_probable"],
        &queue,
        &[0, 2],
    )?;

    let mut written = None;
    if args.write {
        if let Some(v) = &oof {
            // The coded cases: each one's out-of-fold suggestion, from a model that did
            // not see it, at the final thresholds.
            for (i, p) in v.probability.iter().enumerate() {
                let given: Vec<usize> = (0..p.len())
                    .filter(|&l| p[l] >= model.header.thresholds[l])
                    .collect();
                push_codings(
                    &mut codings,
                    &corpus.case_ids[i],
                    corpus.case_keys[i],
                    &given,
                    &model.header.labels,
                );
            }
        }
        let version = store::write_codings(
            &s.warehouse,
            &s.codes,
            &coder,
            &codings,
            &model_path,
            &model.describe(&name),
        )?;
        written = Some(version);
    }
    report(
        &args,
        &model,
        &name,
        &model_path,
        oof.as_ref(),
        uncoded,
        written.as_deref(),
    );
    Ok(0)
}

/// `--simulate`: the queue's learning curves against random sampling.
fn simulate(
    args: &SuggestArgs,
    options: &Options,
    corpus: &store::Corpus,
    s: &Session,
) -> Result<i32, Error> {
    if corpus.texts.len() < 4 * args.batch {
        return Err(Error::Usage(format!(
            "only {} coded cases have text: --simulate needs at least four times --batch ({})",
            corpus.texts.len(),
            args.batch
        )));
    }
    let settings = suggest::simulate::Settings {
        seed_cases: args.batch,
        batch: args.batch,
        budget: args.budget,
        repeats: args.repeats,
    };
    let data = corpus.labelled();
    let single = data.single_label();
    let curves = suggest::simulate::simulate(&data, options, settings);
    let score = if single {
        "Top-1 macro-F1 on held-out cases"
    } else {
        "Macro-F1 on held-out cases (probability 0.5)"
    };
    let rows: Vec<Vec<String>> = curves
        .points
        .iter()
        .map(|p| {
            vec![
                p.labelled.to_string(),
                format!("{:.4}", p.random),
                format!("{:.4}", p.queue),
            ]
        })
        .collect();
    write_table(
        &args.out.join("learning_curves.csv"),
        &["labelled", "random_f1", "queue_f1"],
        &rows,
        &[0, 1, 2],
    )?;
    let points: Vec<_> = curves
        .points
        .iter()
        .map(|p| (p.labelled as f64, p.random, p.queue))
        .collect();
    let frame = casework::report::chart::Frame {
        title: "What to code next: the queue against random sampling".into(),
        subtitle: format!(
            "{} coded {} with text, a quarter held out; {} to start, {} a round; mean of {} repeats",
            casework::spec::thousands(corpus.texts.len() as i64),
            s.study.cases(),
            args.batch,
            args.batch,
            args.repeats.max(1)
        ),
        source: format!(
            "casework suggest --simulate, {}",
            s.warehouse.root.display()
        ),
        cases: casework::report::chart::capitalised(&s.study.cases()),
    };
    casework::report::chart::learning_curves(
        &args.out.join("learning_curves"),
        &points,
        score,
        &frame,
    )?;
    let last = curves.points.last().map_or(0, |p| p.labelled);
    println!(
        "random sampling reaches {:.3} with {last} cases coded; the queue {}",
        curves.target,
        match (curves.queue_reaches_at, curves.saving) {
            (Some(at), Some(saving)) =>
                format!("reaches it with {at} ({:.0}% fewer)", saving * 100.0),
            _ => "does not reach it within the budget".into(),
        }
    );
    println!(
        "curves: {} and learning_curves.svg/.png",
        args.out.join("learning_curves.csv").display()
    );
    Ok(0)
}

fn push_codings(out: &mut Vec<Coding>, id: &str, key: i64, given: &[usize], labels: &[String]) {
    if given.is_empty() {
        out.push(Coding {
            case_id: id.to_string(),
            case_key: key,
            code: None,
        });
    }
    for &l in given {
        out.push(Coding {
            case_id: id.to_string(),
            case_key: key,
            code: Some(labels[l].clone()),
        });
    }
}

fn report(
    args: &SuggestArgs,
    model: &Model,
    name: &str,
    path: &Path,
    v: Option<&suggest::Validation>,
    uncoded: u64,
    written: Option<&str>,
) {
    match args.session.format {
        OutFormat::Json => {
            let mut o = Map::new();
            o.insert("model".into(), json!(format!("{MODEL_CODER}{name}")));
            o.insert("file".into(), json!(path.display().to_string()));
            o.insert(
                "header".into(),
                serde_json::to_value(&model.header).unwrap_or(Value::Null),
            );
            if let Some(v) = v {
                o.insert(
                    "validation".into(),
                    Value::Array(
                        suggest::validation_rows(v)
                            .into_iter()
                            .map(Value::Object)
                            .collect(),
                    ),
                );
            }
            o.insert("uncoded_cases_scored".into(), json!(uncoded));
            o.insert("version_written".into(), json!(written));
            println!(
                "{}",
                serde_json::to_string_pretty(&Value::Object(o)).unwrap_or_default()
            );
        }
        OutFormat::Csv => {
            if let Some(v) = v {
                print!(
                    "{}",
                    casework::measures::rows_csv(&suggest::validation_rows(v))
                );
            }
        }
        OutFormat::Table => {
            println!("model {MODEL_CODER}{name} ({})", path.display());
            if let Some(v) = v {
                println!(
                    "cross-validated over {} coded cases, {} folds: macro-F1 {:.3}{}",
                    model.header.training_cases,
                    model.header.folds,
                    v.macro_f1,
                    v.top1_macro_f1
                        .map(|t| format!(", top-1 macro-F1 {t:.3} (one label a case)"))
                        .unwrap_or_default()
                );
                println!(
                    "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    "level and label",
                    "positives",
                    "threshold",
                    "precision",
                    "recall",
                    "F1",
                    "kappa",
                    "AUROC"
                );
                for r in &v.rows {
                    let threshold = if r.threshold.is_nan() {
                        "any code".to_string()
                    } else {
                        format!("{:.3}", r.threshold.min(1.0))
                    };
                    println!(
                        "{:<28} {:>9} {:>9} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9}",
                        format!("{} {}", r.level, r.label),
                        r.positives,
                        threshold,
                        r.precision,
                        r.recall,
                        r.f1,
                        r.kappa,
                        r.auroc.map_or("-".into(), |a| format!("{a:.3}"))
                    );
                }
            }
            println!(
                "{uncoded} uncoded cases with text scored: suggestions.csv, and queue.csv (what to code next, least certain first) in {}",
                args.out.display()
            );
            if let Some(version) = written {
                println!(
                    "committed {version}: the model's codes are in `codings` as {MODEL_CODER}{name}; `casework agreement` measures it against the coders"
                );
            }
        }
    }
}
