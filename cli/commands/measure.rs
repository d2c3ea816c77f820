//! `casework measure`: the measures (and funnel and SPC) over the warehouse.

use casework::Error;
use casework::engine;
use casework::measures;
use casework::oversight;

use crate::args::*;
use crate::output::{Printed, csv_text, json, print_table};
use crate::session::Session;

pub(crate) async fn measure_command(args: MeasureArgs) -> Result<i32, Error> {
    if args.list {
        for m in measures::MEASURES {
            println!("{}", m.name);
        }
        println!("funnel (with --theme)\nspc (with --theme)");
        return Ok(0);
    }
    let names: Vec<String> = if args.names.is_empty() {
        measures::MEASURES
            .iter()
            .map(|m| m.name.to_string())
            .collect()
    } else {
        args.names.clone()
    };
    for n in &names {
        if n != "funnel" && n != "spc" {
            measures::find(n)?;
        }
    }
    let spc_only = !args.rebase.is_empty()
        || !args.rebase_reason.is_empty()
        || args.fix_after.is_some()
        || args.run_length != casework::stats::RUN_LENGTH as u64
        || args.target.is_some()
        || args.screen;
    if spc_only && !names.iter().any(|n| n == "spc") {
        return Err(Error::Usage(
            "--rebase, --rebase-reason, --fix-after, --run-length, --target and --screen are for the SPC chart: casework measure spc --theme THEME …".into(),
        ));
    }
    if args.limits != LimitsArg::Auto && !names.iter().any(|n| n == "funnel") {
        return Err(Error::Usage(
            "--limits is for the funnel: casework measure funnel --theme THEME --limits …".into(),
        ));
    }
    let mut s = Session::from_args(&args.session)?;
    if args.publish && args.queries.is_some() {
        return Err(Error::Usage(
            "--queries with --publish: the publication is the fixed set the built-in measures make; edited queries are for the analyst's own work".into(),
        ));
    }
    let publishing = s.publishing_if(args.publish).await?;
    let rule = publishing.as_ref().map(|p| p as &dyn measures::Rule);
    let ctx = engine::session(&s.inputs()).await?;
    let context = s.context(args.queries.as_deref());
    let theme = || {
        args.theme
            .as_deref()
            .ok_or_else(|| Error::Usage("funnel and spc need --theme THEME".into()))
    };
    let mut outputs = Vec::new();
    for name in &names {
        let out = match name.as_str() {
            "funnel" => {
                let by = match args.by {
                    ByArg::Organisation => oversight::By::Organisation,
                    ByArg::Region => oversight::By::Region,
                };
                let choice = match args.limits {
                    LimitsArg::Auto => casework::stats::Choice::Auto,
                    LimitsArg::Adjusted => casework::stats::Choice::Adjusted,
                    LimitsArg::Unadjusted => casework::stats::Choice::Unadjusted,
                };
                Printed::of(
                    &oversight::funnel(
                        &ctx,
                        &context,
                        theme()?,
                        by,
                        choice,
                        s.study.exposure.as_ref(),
                        s.study.min_denominator,
                        rule,
                    )
                    .await?
                    .output,
                )
            }
            "spc" => {
                let period = match args.per {
                    PeriodArg::Month => oversight::Period::Month,
                    PeriodArg::Quarter => oversight::Period::Quarter,
                };
                let plotted = match args.value {
                    ValueArg::Count => oversight::Plotted::Count,
                    ValueArg::Proportion => oversight::Plotted::Proportion,
                    ValueArg::Rate => oversight::Plotted::Rate,
                };
                let options = casework::stats::SpcOptions {
                    screen: args.screen,
                    improvement: oversight::improvement(&s.study, theme()?),
                    fix_after: args.fix_after,
                    run_length: args.run_length as usize,
                    ..Default::default()
                };
                if !args.rebase_reason.is_empty() && args.rebase_reason.len() != args.rebase.len() {
                    return Err(Error::Usage(
                        "give one --rebase-reason per --rebase, in their order".into(),
                    ));
                }
                let given: Vec<(chrono::NaiveDate, String)> = args
                    .rebase
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        (
                            *d,
                            args.rebase_reason
                                .get(i)
                                .cloned()
                                .unwrap_or_else(|| "given on the command line".into()),
                        )
                    })
                    .collect();
                let mut plan = oversight::Plan::for_theme(&s.study, theme()?, &given);
                if let Some(t) = args.target {
                    match args.value {
                        ValueArg::Count => {
                            return Err(Error::Usage(
                                "--target is a share of cases (--value proportion) or a rate per exposure (--value rate); a chart of counts has no target".into(),
                            ));
                        }
                        ValueArg::Proportion if !(0.0..=1.0).contains(&t) => {
                            return Err(Error::Usage(
                                "--target is a share of cases, from 0 to 1".into(),
                            ));
                        }
                        ValueArg::Rate if !(t.is_finite() && t >= 0.0) => {
                            return Err(Error::Usage("--target is a rate of 0 or more".into()));
                        }
                        _ => {}
                    }
                    plan.target = Some((t, None));
                }
                Printed::of(
                    &oversight::spc(
                        &ctx,
                        &context,
                        theme()?,
                        period,
                        plotted,
                        &options,
                        &plan,
                        rule,
                    )
                    .await?,
                )
            }
            other => {
                let out = measures::run(&ctx, measures::find(other)?, &context).await?;
                match rule {
                    Some(r) => Printed::of(&out.publish(r)),
                    None => Printed::of(&out),
                }
            }
        };
        outputs.push(out);
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for o in &outputs {
            let path = dir.join(format!("{}.csv", o.measure));
            std::fs::write(&path, csv_text(&o.rows)).map_err(|e| Error::io(&path, e))?;
        }
    }
    match args.session.format {
        OutFormat::Json if outputs.len() == 1 => println!("{}", json(&outputs[0].json)),
        OutFormat::Json => {
            let all: Vec<&serde_json::Value> = outputs.iter().map(|o| &o.json).collect();
            println!("{}", json(&all));
        }
        OutFormat::Csv => {
            for o in &outputs {
                if outputs.len() > 1 {
                    println!("# {}", o.measure);
                }
                print!("{}", csv_text(&o.rows));
            }
        }
        OutFormat::Table => {
            for o in &outputs {
                print_table(o);
            }
        }
    }
    Ok(0)
}
