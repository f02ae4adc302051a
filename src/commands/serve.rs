//! `serve`: loads a bundle and serves the HTTP API until SIGTERM or SIGINT.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use crate::bundle::Bundle;
use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::http::{AppState, ModelInfo, metrics::Metrics, start};
use crate::index::TableKind;

pub fn run(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    let recommender = Bundle::open(&args.model_dir)?.into_recommender();
    let index = recommender.index();
    let pairs: serde_json::Map<String, serde_json::Value> = TableKind::ALL
        .iter()
        .map(|&k| (k.name().to_string(), index.table(k).num_pairs().into()))
        .collect();
    let model = ModelInfo {
        model_dir: args.model_dir.display().to_string(),
        items: index.stats.aid_bound(),
        pairs: pairs.into(),
        rankers: recommender.has_rankers(),
    };
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let listener = TcpListener::bind((args.host.as_str(), args.port)).map_err(Error::Server)?;
    let addr = listener.local_addr().map_err(Error::Server)?;
    let state = AppState {
        recommender: Arc::new(recommender),
        metrics: Metrics::default(),
        model,
        body_limit: args.body_limit,
    };
    let load_seconds = started.elapsed().as_secs_f64();
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "otto-rec serve: listening on http://{addr} ({} loaded in {load_seconds:.2} s, {workers} workers)",
            args.model_dir.display()
        );
        let _ = stdout.flush();
    }
    actix_web::rt::System::new()
        .block_on(async move { start(state, listener, workers)?.await })
        .map_err(Error::Server)?;
    log::info!("server stopped");
    Ok(())
}
