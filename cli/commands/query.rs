//! `casework query`: any SQL over the warehouse tables.

use std::path::PathBuf;

use casework::Error;
use casework::engine;
use casework::measures::{self, QueryOutput};
use datafusion::scalar::ScalarValue;

use crate::args::*;
use crate::output::{Printed, csv_text, json, print_table};
use crate::session::Session;

pub(crate) async fn query_command(args: QueryArgs) -> Result<i32, Error> {
    let (sql, file) = match (&args.sql, &args.file) {
        (_, Some(path)) => (
            std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?,
            path.clone(),
        ),
        (Some(sql), None) => (sql.clone(), PathBuf::from("query")),
        (None, None) => return Err(Error::Usage("give SQL or -f FILE.sql".into())),
    };
    let mut params = Vec::new();
    for p in &args.params {
        let Some((name, value)) = p.split_once('=') else {
            return Err(Error::Usage(format!(
                "--param {p:?}: write it as NAME=VALUE"
            )));
        };
        params.push((
            name.trim_start_matches('$').to_string(),
            ScalarValue::Utf8(Some(value.to_string())),
        ));
    }
    let s = Session::from_args(&args.session)?;
    let ctx = engine::session(&s.inputs()).await?;
    let batches = measures::sql_batches(&ctx, &sql, &file, params).await?;
    let rows = measures::to_rows(&batches)?;
    let output = QueryOutput {
        measure: file.display().to_string(),
        scope: s.scope.clone(),
        code_list: s.codes.source.name.clone(),
        rows,
    };
    match args.session.format {
        OutFormat::Json => println!("{}", json(&output)),
        OutFormat::Csv => print!("{}", csv_text(&output.rows)),
        OutFormat::Table => print_table(&Printed::of_query(&output)),
    }
    Ok(0)
}
