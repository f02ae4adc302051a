//! The HTTP API (design.md §5) on actix-web: `POST /predict`, `GET /health`, `GET /metrics`.
//! Handlers convert wire types and delegate to the shared [`Recommender`]; they never touch
//! files. Every error is a JSON body with a 4xx status; nothing a client sends can panic a
//! worker.

pub mod api;
pub mod error;
pub mod metrics;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use self::api::{PredictRequest, PredictResponse, ValidRequest};
use self::error::{ApiError, from_serde};
use self::metrics::Metrics;
use crate::pipeline::Recommender;

/// Default limit of a request body: a 500-event session is ~25 KB of JSON.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// What `/health` reports about the loaded model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelInfo {
    pub model_dir: String,
    pub items: usize,
    pub pairs: serde_json::Value,
    pub rankers: bool,
}

/// State shared by all workers.
pub struct AppState {
    pub recommender: Arc<Recommender>,
    pub metrics: Metrics,
    pub model: ModelInfo,
    pub body_limit: usize,
}

async fn predict(state: web::Data<AppState>, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let bytes = match body.to_bytes_limited(state.body_limit).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(ApiError::Malformed(format!("could not read the body: {e}"))),
        Err(_) => return Err(ApiError::TooLarge(state.body_limit)),
    };
    let request: PredictRequest = serde_json::from_slice(&bytes).map_err(from_serde)?;
    let valid = ValidRequest::try_from(&request)?;
    let started = Instant::now();
    let (rec, timings) =
        state
            .recommender
            .recommend_timed(valid.session.view(), valid.objective, valid.k);
    state.metrics.session_scored();
    log::debug!(
        "predict: {} events, type {}, k {}: candidates {:?}, features {:?}, scoring {:?}, total {:?}",
        valid.session.aids.len(),
        valid.objective.name(),
        valid.k,
        timings.candidates,
        timings.features,
        timings.scoring,
        started.elapsed()
    );
    Ok(HttpResponse::Ok().json(PredictResponse {
        status: "success",
        objective: valid.objective.name(),
        recommendation: &rec.aids,
        scores: &rec.scores,
        aids: &request.aids,
        event_types: &request.event_types,
    }))
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "model": state.model,
    }))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(req.path().to_string()))
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(req.method().to_string()))
}

/// Records metrics and logs one line per request.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    let path = req.path().to_string();
    let res = next.call(req).await?;
    let seconds = started.elapsed().as_secs_f64();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    if let Some(state) = state {
        state.metrics.record(&route, status, seconds);
    }
    log::info!("{method} {path} {status} {:.3} ms", seconds * 1000.0);
    Ok(res)
}

/// Configures the routes on an app (also used by in-process tests).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/predict")
            .route(web::post().to(predict))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/health")
            .route(web::get().to(health))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting and lets in-flight
/// requests finish (actix's own handler treats SIGINT as a forced stop).
async fn stop_signal() {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            std::future::poll_fn(|cx| {
                if terminate.poll_recv(cx).is_ready() || interrupt.poll_recv(cx).is_ready() {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            log::info!("stop signal received: finishing in-flight requests");
        }
        _ => {
            log::warn!("could not install signal handlers; stop the server with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

/// Starts the server on `listener` with `workers` workers. It stops gracefully (in-flight
/// requests finish) on SIGINT or SIGTERM.
pub fn start(state: AppState, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(observe))
            .configure(configure)
    })
    .workers(workers.max(1))
    .shutdown_signal(stop_signal())
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}
