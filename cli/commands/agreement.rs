//! `casework agreement`: coding reliability per code and theme, and the disagreements.

use casework::Error;
use casework::engine;
use casework::oversight::agreement;

use crate::args::*;
use crate::output::{Printed, csv_text, json, print_table};
use crate::session::Session;

/// The columns of the terminal table (the JSON and CSV have them all).
const TABLE_COLUMNS: &[&str] = &[
    "level",
    "item",
    "cases",
    "cases_split",
    "observed",
    "kappa",
    "kappa_low",
    "kappa_high",
    "kappa_band",
    "alpha",
    "alpha_band",
    "ac1",
    "note",
];

pub(crate) async fn agreement_command(args: AgreementArgs) -> Result<i32, Error> {
    if args.publish && args.disagreements.is_some() {
        return Err(Error::Usage(
            "--disagreements names cases and is never published: leave out --publish to write it, or --disagreements to publish the table".into(),
        ));
    }
    let mut s = Session::from_args(&args.session)?;
    let publishing = s.publishing_if(args.publish).await?;
    let ctx = engine::session(&s.inputs()).await?;
    if !args.coder.is_empty() {
        if args.coder.len() < 2 {
            return Err(Error::Usage(
                "--coder: name two coders or more to compare (repeat --coder)".into(),
            ));
        }
        agreement::only_coders(&ctx, &args.coder).await?;
    }
    let context = s.context(None);
    let rule = publishing
        .as_ref()
        .map(|p| p as &dyn casework::measures::Rule);
    let mut r = agreement::agreement(&ctx, &context, rule).await?;
    if !r.present() {
        eprintln!(
            "casework: no case in scope was coded by two or more coders (the bundle's codings): there is no agreement to measure"
        );
    }
    if let Some(level) = args.level {
        let keep = match level {
            LevelArg::Code => "code",
            LevelArg::Theme => "theme",
        };
        if let casework::measures::Table::Agreement(rows) = &mut r.output.rows {
            rows.retain(|row| row.level == keep);
        }
        if let casework::measures::Table::Agreement(rows) = &mut r.published.rows {
            rows.retain(|row| row.level == keep);
        }
    }
    if let Some(path) = &args.disagreements {
        std::fs::write(path, r.disagreements.csv()).map_err(|e| Error::io(path, e))?;
        eprintln!(
            "casework: {} disagreements written to {}",
            r.disagreements.rows.len(),
            path.display()
        );
    }
    let mut printed = if args.publish {
        Printed::of(&r.published)
    } else {
        Printed::of(&r.output)
    };
    match args.session.format {
        OutFormat::Json => println!("{}", json(&printed.json)),
        OutFormat::Csv => print!("{}", csv_text(&printed.rows)),
        OutFormat::Table => {
            println!(
                "{} cases coded by {} coders; kappa: Cohen's for two coders (95% interval, Fleiss, Cohen and Everitt 1969), Fleiss' for more",
                r.sample_text(args.publish),
                r.coders
            );
            for row in &mut printed.rows {
                row.retain(|k, _| TABLE_COLUMNS.contains(&k.as_str()));
            }
            print_table(&printed);
        }
    }
    Ok(0)
}
