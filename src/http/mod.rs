//! The HTTP API (README.md, "HTTP API") on actix-web: `POST /predict`, `GET /health`, `GET /metrics`,
//! the probes `GET /livez` and `GET /readyz`, and `POST /admin/reload` when an admin token
//! is set. Handlers convert wire types and delegate to the current model's
//! [`Recommender`](crate::pipeline::Recommender); only a reload reads files, through the
//! bundle owner. Every error is a JSON body with its status and code; nothing a client
//! sends can panic a worker.

pub mod api;
pub mod error;
pub mod live;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod redis_store;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};

use self::api::{PredictRequest, PredictResponse, ValidRequest};
use self::error::{ApiError, ErrorBody, from_serde};
use self::metrics::Metrics;
pub use self::model::{ModelInfo, ModelSlot, Served};

/// Default limit of a request body: a 500-event session is ~25 KB of JSON.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// Connection and request limits of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests handled at once; more get 503 `overloaded`.
    pub max_in_flight: usize,
    /// Connections per worker.
    pub max_connections: usize,
    /// Time to receive a request's head.
    pub client_timeout_ms: u64,
    /// Idle keep-alive timeout; 0 turns keep-alive off.
    pub keep_alive_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 1_024,
            max_connections: 25_000,
            client_timeout_ms: 5_000,
            keep_alive_secs: 5,
        }
    }
}

/// State shared by all workers.
pub struct AppState {
    pub model: ModelSlot,
    pub metrics: Metrics,
    pub body_limit: usize,
    /// `POST /admin/reload` needs `Authorization: Bearer <token>`; off when `None`.
    pub admin_token: Option<String>,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub draining: AtomicBool,
    pub limits: Limits,
    /// The live sessions' store and the bounds of `POST /events`.
    pub live: live::Live,
    in_flight: AtomicUsize,
}

impl AppState {
    pub fn new(served: Served, model_dir: PathBuf, body_limit: usize) -> Self {
        AppState {
            model: ModelSlot::new(served, model_dir),
            metrics: Metrics::default(),
            body_limit,
            admin_token: None,
            draining: AtomicBool::new(false),
            limits: Limits::default(),
            live: live::Live::in_memory(crate::live::StoreLimits::default()),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Reloads the model (from `dir`, or the current directory) on a blocking thread,
    /// counting and logging the outcome.
    async fn reload(self: Arc<Self>, dir: Option<PathBuf>) -> Result<ModelInfo, ApiError> {
        let state = self.clone();
        let outcome = web::block(move || state.model.reload(dir))
            .await
            .map_err(|e| ApiError::Reload {
                code: "server_error",
                message: e.to_string(),
            })?;
        self.metrics.reload(outcome.is_ok());
        match outcome {
            Ok(served) => {
                log::info!(
                    "model reloaded: {} version {}",
                    served.info.model_dir,
                    served.info.version
                );
                Ok(served.info.clone())
            }
            Err(e) => {
                log::error!("model reload failed, the previous model keeps serving: {e}");
                Err(ApiError::Reload {
                    code: e.code(),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// The response header naming the model version that answered.
pub const MODEL_VERSION_HEADER: &str = "X-Model-Version";

/// Recommendations for one session.
#[utoipa::path(post, path = "/predict", tag = "recommendations", request_body = PredictRequest,
    responses(
        (status = 200, description = "Items best first, with scores", body = PredictResponse,
            headers(("X-Model-Version" = String, description = "The model version that answered"))),
        (status = 400, description = "`malformed_json`", body = ErrorBody),
        (status = 405, description = "`method_not_allowed`: /predict takes POST only", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`length_mismatch`, `empty_session`, `too_many_events`, `invalid_aid`, `invalid_timestamp`, `invalid_event_type`, `invalid_type`, `invalid_k`, `invalid_field`", body = ErrorBody),
        (status = 503, description = "`overloaded`", body = ErrorBody),
    ))]
async fn predict(state: web::Data<AppState>, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let served = state.model.current();
    let bytes = read_body(&state, body).await?;
    let request: PredictRequest = serde_json::from_slice(&bytes).map_err(from_serde)?;
    let mut valid = ValidRequest::try_from(&request)?;
    let mut session_events = None;
    let mut session_store = None;
    if let Some(id) = &request.session {
        let id = live::session_id(id, "session")?;
        match state.live.store.get(&id, live::now()) {
            Ok(stored) => {
                let stored = stored.unwrap_or_default();
                session_events = Some(stored.len());
                valid.session = crate::live::merge(&stored, valid.session);
            }
            // The store is down: the body's events still get an answer, marked as such.
            Err(e) => {
                log::warn!(
                    "predict for session {:?} without its stored events: {e}",
                    id.as_str()
                );
                session_store = Some("unavailable");
            }
        }
    }
    let started = Instant::now();
    let (rec, timings) =
        served
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
    let (aids, _, event_types) = request.lists();
    Ok(HttpResponse::Ok()
        .insert_header((MODEL_VERSION_HEADER, served.info.version.as_str()))
        .json(PredictResponse {
            status: "success",
            objective: valid.objective.name(),
            recommendation: &rec.aids,
            scores: &rec.scores,
            aids,
            event_types,
            session: request.session.as_deref(),
            session_events,
            session_store,
        }))
}

/// A request's body, up to the body limit.
async fn read_body(state: &AppState, body: web::Payload) -> Result<web::Bytes, ApiError> {
    match body.to_bytes_limited(state.body_limit).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ApiError::Malformed(format!("could not read the body: {e}"))),
        Err(_) => Err(ApiError::TooLarge(state.body_limit)),
    }
}

/// The body of `/health`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct HealthBody<'a> {
    /// "ok".
    status: &'static str,
    /// otto-rec's version.
    version: &'static str,
    model: &'a ModelInfo,
}

/// The server and the model it serves.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = HealthBody,
        headers(("X-Model-Version" = String, description = "The model version")))))]
async fn health(state: web::Data<AppState>) -> HttpResponse {
    let served = state.model.current();
    HttpResponse::Ok()
        .insert_header((MODEL_VERSION_HEADER, served.info.version.as_str()))
        .json(HealthBody {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            model: &served.info,
        })
}

/// The body of `/livez`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct LiveBody {
    /// "ok".
    status: &'static str,
}

/// Liveness: the process is up and its workers answer.
#[utoipa::path(get, path = "/livez", tag = "operations", responses((status = 200, body = LiveBody)))]
async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(LiveBody { status: "ok" })
}

/// The body of `/readyz`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct ReadyBody<'a> {
    /// "ready".
    status: &'static str,
    model_version: &'a str,
    session_store: StoreState,
}

/// The live sessions' store as `/readyz` reports it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct StoreState {
    /// "memory" or "redis".
    kind: &'static str,
    /// Whether it answers now. A replica whose store is down still answers stateless
    /// requests (and by session, from the body's events), so it stays ready.
    available: bool,
}

/// Readiness: a model is loaded (always, once listening) and the server is not draining.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = ReadyBody, headers(("X-Model-Version" = String, description = "The model version"))),
    (status = 503, description = "`draining`: the server is shutting down", body = ErrorBody)))]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(ApiError::Draining);
    }
    let served = state.model.current();
    Ok(HttpResponse::Ok()
        .insert_header((MODEL_VERSION_HEADER, served.info.version.as_str()))
        .json(ReadyBody {
            status: "ready",
            model_version: &served.info.version,
            session_store: StoreState {
                kind: state.live.store.kind(),
                available: state.live.store.check().is_ok(),
            },
        }))
}

/// The body of `POST /admin/reload` (optional).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {
    /// The bundle to load; the current directory when missing.
    #[schema(value_type = Option<String>)]
    model_dir: Option<PathBuf>,
}

/// The body of a successful reload.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct ReloadBody<'a> {
    /// "ok".
    status: &'static str,
    model: &'a ModelInfo,
}

/// Compares two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Loads a bundle and swaps it in; the old model serves until then, and on any failure.
/// Exists only when `OTTO_ADMIN_TOKEN` is set.
#[utoipa::path(post, path = "/admin/reload", tag = "operations", request_body(content = Option<ReloadRequest>),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new model", body = ReloadBody,
            headers(("X-Model-Version" = String, description = "The new model version"))),
        (status = 400, description = "`malformed_json`: the body is neither empty, `null` nor a JSON object of the document's fields", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`: no OTTO_ADMIN_TOKEN", body = ErrorBody),
        (status = 422, description = "`invalid_field` (an unknown field, or `model_dir` not a string), or the bundle's error code (e.g. `bundle_not_found`, `manifest_missing`, `checksum_mismatch`, `smoke_test_failed`); the old model keeps serving", body = ErrorBody),
    ))]
async fn admin_reload(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::NotFound(req.path().to_string()));
    };
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), token.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    // No body, or JSON `null` (what the document's optional body allows), reloads the
    // same directory.
    let request: ReloadRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadRequest::default()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body).map_err(from_serde)? {
            serde_json::Value::Null => ReloadRequest::default(),
            object @ serde_json::Value::Object(_) => {
                serde_json::from_value(object).map_err(from_serde)?
            }
            _ => {
                return Err(ApiError::Malformed(
                    "the body must be a JSON object, null or empty".into(),
                ));
            }
        }
    };
    let info = state.into_inner().reload(request.model_dir).await?;
    Ok(HttpResponse::Ok()
        .insert_header((MODEL_VERSION_HEADER, info.version.as_str()))
        .json(ReloadBody {
            status: "ok",
            model: &info,
        }))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut body = state.metrics.render();
    live::render_metrics(state.live.store.as_ref(), &mut body);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(req.path().to_string()))
}

/// The answer of a route to a method other than `allow`: 405 with an `Allow` header.
fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move |req: HttpRequest| async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow,
        })
    })
}

/// One request being handled; leaving (or being dropped on a cancelled request) frees
/// its slot.
struct InFlight(web::Data<AppState>);

impl InFlight {
    /// A slot, or `None` when `max_in_flight` requests are being handled.
    fn enter(state: &web::Data<AppState>) -> Option<InFlight> {
        let before = state.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= state.limits.max_in_flight {
            state.in_flight.fetch_sub(1, Ordering::AcqRel);
            None
        } else {
            Some(InFlight(state.clone()))
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Records metrics and logs the request (failures at info or warn, the rest at debug);
/// refuses a request beyond the in-flight limit with 503.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Probes and metrics answer even when the server is saturated.
    let counted = !matches!(req.path(), "/livez" | "/readyz" | "/health" | "/metrics");
    let _slot = match (&state, counted) {
        (Some(state), true) => match InFlight::enter(state) {
            Some(slot) => Some(slot),
            None => {
                let error = ApiError::Overloaded(state.limits.max_in_flight);
                log::warn!("{} {} 503: {error}", req.method(), req.path());
                let response = req.into_response(error.error_response());
                state.metrics.record("overloaded", 503, started.elapsed());
                return Ok(response.map_into_right_body());
            }
        },
        _ => None,
    };
    let res = next.call(req).await?.map_into_left_body();
    let elapsed = started.elapsed();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    if let Some(state) = state {
        state.metrics.record(&route, status, elapsed);
    }
    // One line per request that failed; every request at debug (a line per request costs
    // a write to the log at full load, and the metrics count them all).
    let level = match status {
        500.. => log::Level::Warn,
        400.. => log::Level::Info,
        _ => log::Level::Debug,
    };
    log::log!(
        level,
        "{} {} {status} {:.3} ms",
        res.request().method(),
        res.request().path(),
        elapsed.as_secs_f64() * 1000.0
    );
    Ok(res)
}

/// Configures the routes on an app (also used by in-process tests).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/predict")
            .route(web::post().to(predict))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/events")
            .route(web::post().to(live::post_events))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/sessions/{id}")
            // A path whose id does not decode (bytes that are not UTF-8) names no session.
            .app_data(web::PathConfig::default().error_handler(|e, req| {
                ApiError::UnknownSession(format!("{} ({e})", req.path())).into()
            }))
            .route(web::get().to(live::get_session))
            .route(web::delete().to(live::delete_session))
            .default_service(method_not_allowed("GET, DELETE")),
    )
    .service(
        web::resource("/health")
            .route(web::get().to(health))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/livez")
            .route(web::get().to(livez))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/admin/reload")
            .route(web::post().to(admin_reload))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi::document))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/docs")
            .route(web::get().to(openapi::docs_redirect))
            .default_service(method_not_allowed("GET")),
    )
    .service(openapi::docs())
    .default_service(web::to(not_found));
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting and lets in-flight
/// requests finish (actix's own handler treats SIGINT as a forced stop).
async fn stop_signal(state: web::Data<AppState>) {
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
            state.draining.store(true, Ordering::Relaxed);
            log::info!("stop signal received: finishing in-flight requests");
        }
        _ => {
            log::warn!("could not install signal handlers; stop the server with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

/// Reloads the model from its current directory on every SIGHUP.
async fn reload_on_hangup(state: Arc<AppState>) {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        log::warn!("could not install the SIGHUP handler; reload with POST /admin/reload");
        return;
    };
    while hangup.recv().await.is_some() {
        log::info!("SIGHUP: reloading the model");
        // The outcome is logged and counted by `reload`.
        let _ = state.clone().reload(None).await;
    }
}

/// Workers per core by default. A worker answers its connections' requests one after
/// another on its own thread, and a request is mostly computation: with one worker per core,
/// a request waits behind the others of its worker even when another core is free (at
/// saturation, p99 ≈ 4 ms in BENCHMARKS.md's serve test). With several per core, the
/// kernel's scheduler shares every core among all waiting requests (p99 ≈ 1.5–2 ms).
pub const WORKERS_PER_CORE: usize = 4;

/// Starts the server on `listener` with `workers` workers. It stops gracefully (in-flight
/// requests finish) on SIGINT or SIGTERM and reloads its model on SIGHUP. Call it inside
/// an actix system.
pub fn start(state: AppState, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    actix_web::rt::spawn(reload_on_hangup(state.clone().into_inner()));
    let ttl = state.live.store.limits().ttl_secs;
    actix_web::rt::spawn(live::sweep(state.live.store.clone(), ttl.clamp(1, 60)));
    let stopping = state.clone();
    let limits = state.limits;
    let keep_alive = match limits.keep_alive_secs {
        0 => actix_web::http::KeepAlive::Disabled,
        s => actix_web::http::KeepAlive::Timeout(std::time::Duration::from_secs(s)),
    };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(observe))
            .configure(configure)
    })
    .workers(workers.max(1))
    .max_connections(limits.max_connections.max(1))
    .client_request_timeout(std::time::Duration::from_millis(limits.client_timeout_ms))
    .keep_alive(keep_alive)
    .shutdown_signal(stop_signal(stopping))
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}
