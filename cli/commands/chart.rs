//! `casework chart`: one chart as SVG and PNG.

use std::path::PathBuf;

use casework::Error;
use casework::engine;

use crate::args::*;
use crate::session::Session;

pub(crate) async fn chart_command(args: ChartArgs) -> Result<i32, Error> {
    let mut s = Session::from_args(&args.session)?;
    let publishing = s.publishing_if(args.publish).await?;
    let ctx = engine::session(&s.inputs()).await?;
    let context = s.context(None);
    let figures = casework::report::figures::Figures::new(
        &ctx,
        &context,
        casework::report::figures::source_line(&s.warehouse.committed()?, &s.codes),
        publishing,
        &s.study,
    );
    let stem = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name))
        .with_extension("");
    if let Some(parent) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    figures
        .draw(&args.name, args.theme.as_deref(), &stem)
        .await?;
    println!(
        "{}\n{}",
        stem.with_extension("svg").display(),
        stem.with_extension("png").display()
    );
    Ok(0)
}
