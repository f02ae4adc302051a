//! `serve`: loads a bundle and serves the HTTP API until SIGTERM or SIGINT.

use std::io::Write;
use std::net::TcpListener;
use std::time::Instant;

use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::http::{AppState, Limits, Served, WORKERS_PER_CORE, start};

pub fn run(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    let served = Served::load(&args.model_dir)?;
    let workers = args.workers.unwrap_or_else(|| {
        WORKERS_PER_CORE * std::thread::available_parallelism().map_or(1, |n| n.get())
    });
    let listener = TcpListener::bind((args.host.as_str(), args.port)).map_err(Error::Server)?;
    let addr = listener.local_addr().map_err(Error::Server)?;
    let version = served.info.version.clone();
    let mut state = AppState::new(served, args.model_dir.clone(), args.body_limit);
    state.limits = Limits {
        max_in_flight: args.max_in_flight.max(1),
        max_connections: args.max_connections.max(1),
        client_timeout_ms: args.client_timeout_ms,
        keep_alive_secs: args.keep_alive_secs,
    };
    state.admin_token = std::env::var("OTTO_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let load_seconds = started.elapsed().as_secs_f64();
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "otto-rec serve: listening on http://{addr} ({} version {version} loaded in {load_seconds:.2} s, {workers} workers{})",
            args.model_dir.display(),
            if state.admin_token.is_some() {
                ", admin routes on"
            } else {
                ""
            }
        );
        let _ = stdout.flush();
    }
    actix_web::rt::System::new()
        .block_on(async move { start(state, listener, workers)?.await })
        .map_err(Error::Server)?;
    log::info!("server stopped");
    Ok(())
}
