//! `casework serve`: the warehouse in a browser (pipeline/serve).

use std::time::Duration;

use casework::Error;
use casework::serve::{self, Config};

use crate::args::*;
use crate::session::Session;

pub(crate) async fn serve_command(args: ServeArgs) -> Result<i32, Error> {
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let token = text.trim().to_string();
            if token.len() < 16 {
                return Err(Error::Usage(format!(
                    "{}: the token must be at least 16 characters (for example the output of `openssl rand -hex 32`)",
                    path.display()
                )));
            }
            Some(token)
        }
        None => None,
    };
    // The session's warehouse, code list, thresholds and study; the scope comes from
    // each page's URL.
    let s = Session::from_args(&SessionArgs {
        warehouse: args.warehouse,
        config: args.config,
        as_of: args.as_of,
        from: None,
        to: None,
        date_field: DateFieldArg::OpenedDate,
        organisation: None,
        region: None,
        source: None,
        decision: None,
        format: OutFormat::Table,
        memory_limit: args.memory_limit,
        engine: EngineArg::Local,
        scheduler: None,
    })?;
    serve::serve(Config {
        warehouse: s.warehouse,
        codes: s.codes,
        thresholds: s.thresholds,
        study: s.study,
        as_of: s.as_of,
        memory_limit: s.memory_limit,
        engine: s.engine,
        listen: args.listen,
        publish: args.publish,
        token,
        max_queries: args.max_queries,
        timeout: Duration::from_secs(args.timeout.max(1)),
    })
    .await?;
    Ok(0)
}
