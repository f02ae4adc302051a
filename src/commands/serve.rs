//! `serve`: loads a bundle and serves the HTTP API until SIGTERM or SIGINT.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::cli::ServeArgs;
use crate::error::{Error, Result};
use crate::http::live::Live;
use crate::http::redis_store::RedisStore;
use crate::http::{AppState, Limits, Served, WORKERS_PER_CORE, start};
use crate::live::{MemoryStore, SessionStore, StoreLimits, snapshot};

pub fn run(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    let limits = StoreLimits {
        events_per_session: args.session_events,
        ttl_secs: args.session_ttl,
        max_sessions: args.max_sessions,
    }
    .validate()
    .map_err(|e| Error::Argument {
        flag: "--session-events/--session-ttl/--max-sessions",
        problem: e.to_string(),
    })?;
    if args.max_batch_events == 0 {
        return Err(Error::Argument {
            flag: "--max-batch-events",
            problem: "must be at least 1".into(),
        });
    }
    let (store, memory): (Arc<dyn SessionStore>, Option<Arc<MemoryStore>>) =
        if args.session_store == "memory" {
            let memory = Arc::new(MemoryStore::new(limits));
            if let Some(path) = &args.session_snapshot {
                read_snapshot(path, &memory)?;
            }
            (memory.clone(), Some(memory))
        } else if args.session_store.starts_with("redis://") {
            if args.session_snapshot.is_some() {
                return Err(Error::Argument {
                    flag: "--session-snapshot",
                    problem: "applies to the embedded store only; Redis keeps the sessions itself"
                        .into(),
                });
            }
            let redis = RedisStore::new(&args.session_store, &args.session_prefix, limits)
                .map_err(|problem| Error::Argument {
                    flag: "--session-store",
                    problem,
                })?;
            if let Err(e) = redis.check() {
                log::warn!("{e}: serving; live sessions answer 503 until it is reachable");
            }
            (Arc::new(redis), None)
        } else {
            return Err(Error::Argument {
                flag: "--session-store",
                problem: format!(
                    "{:?} is neither `memory` nor a redis://HOST:PORT URL",
                    args.session_store
                ),
            });
        };
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
    state.live = Live {
        store,
        max_batch: args.max_batch_events,
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
    if let (Some(path), Some(memory)) = (&args.session_snapshot, &memory) {
        let mut written = 0;
        crate::data::atomic::write_atomic(path, |out| {
            written = snapshot::write(memory, out).map_err(|e| Error::io(path, e))?;
            Ok(())
        })?;
        log::info!("{written} live sessions written to {}", path.display());
    }
    Ok(())
}

/// Fills `store` from the snapshot at `path` when there is one. A snapshot that cannot be
/// read stops the server before it listens, and is left as it is.
fn read_snapshot(path: &Path, store: &MemoryStore) -> Result<()> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::info!(
                "no session snapshot at {} yet: starting with no live sessions",
                path.display()
            );
            return Ok(());
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let read = snapshot::read(std::io::BufReader::with_capacity(1 << 20, file), store).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{e}; the session snapshot is left as it is: move it aside to start without it"
                ),
            ),
        )
    })?;
    log::info!("{read} live sessions read from {}", path.display());
    Ok(())
}
