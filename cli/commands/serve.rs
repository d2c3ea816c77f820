//! `casework serve`: the warehouse in a browser (pipeline/serve).

use std::time::Duration;

use casework::Error;
use casework::serve::{self, Config};

use crate::args::*;
use crate::session::Session;

pub(crate) async fn serve_command(args: ServeArgs) -> Result<i32, Error> {
    let token = match &args.token_file {
        Some(path) => {
            // A private file, as the pseudonymisation key is (mode 600).
            let bytes = casework::ingest::read_secret(path, "token")?;
            let token = String::from_utf8_lossy(&bytes).trim().to_string();
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
        period: None,
        date_field: None,
        organisation: None,
        region: None,
        source: None,
        decision: None,
        service: None,
        stage: None,
        format: OutFormat::Table,
        memory_limit: args.memory_limit,
        engine: EngineArg::Local,
        scheduler: None,
    })?;
    let listen = resolve_listen(&args.listen)?;
    serve::serve(Config {
        warehouse: s.warehouse,
        codes: s.codes,
        thresholds: s.thresholds,
        study: s.study,
        as_of: s.as_of,
        memory_limit: s.memory_limit,
        engine: s.engine,
        listen,
        publish: args.publish,
        token,
        max_queries: args.max_queries,
        timeout: Duration::from_secs(args.timeout.max(1)),
        max_connections: args.max_connections,
        allowed_hosts: args.allow_host,
    })
    .await?;
    Ok(0)
}

/// `--listen HOST:PORT`: an address, or a name (`localhost:8080`) resolved to its first
/// address, loopback preferred.
fn resolve_listen(text: &str) -> Result<std::net::SocketAddr, Error> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = text.parse::<std::net::SocketAddr>() {
        return Ok(a);
    }
    let addrs: Vec<std::net::SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| Error::Usage(format!("--listen {text:?}: not an address HOST:PORT ({e})")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.ip().is_loopback() && a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| Error::Usage(format!("--listen {text:?}: the name has no address")))
}
