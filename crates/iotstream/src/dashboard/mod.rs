//! The live dashboard and its API, served with axum on `--http ADDR`: the page (a U.S. map, a table,
//! totals and charts, updated by server-sent events), JSON endpoints, and Prometheus metrics.
//!
//! | route | what |
//! |---|---|
//! | `/` | the dashboard page |
//! | `/assets/{name}` | its scripts, styles and map, embedded in the binary |
//! | `/api/events` | server-sent events: `window` (one per result, the jsonl schema), `stats` (every second) and `alert` (each alert notification) |
//! | `/api/alerts` | `{"active": [...], "recent": [...]}`: alerts firing now, and the latest transitions (`--rules`) |
//! | `/api/windows?limit=N` | the latest N results, oldest first (at most 500) |
//! | `/api/status` | the latest stats record |
//! | `/api/stats?limit=N` | the latest N stats records, one a second, oldest first (at most 300) |
//! | `/api/info` | what this run reads and how it cuts windows |
//! | `/api/sensors/{guid}` | a sensor's last reading |
//! | `/api/history?from=&to=&state=` | stored results over a time range, downsampled (with `--store`) |
//! | `/metrics` | Prometheus text |
//! | `/healthz` | liveness, never behind the token |
//!
//! The server runs on its own thread and runtime, so a busy engine never delays a page, and the
//! engine never waits for a browser (see [`hub`]).

mod api;
mod assets;
mod guard;
mod history;
pub mod hub;
pub mod sink;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt as _};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

pub use guard::Guard;
pub use hub::{Hub, RunInfo};

use api::{json, AppState};

use crate::instruments;

/// Browsers watching at once; more are turned away (503) so that streams cannot exhaust the server.
pub const MAX_STREAMS: usize = 64;
/// Largest request body accepted (every route is a GET).
const MAX_BODY: usize = 1024;
/// Results `/api/windows` returns when no limit is given.
const DEFAULT_WINDOWS: usize = 50;

/// How a server is set up.
pub struct ServerConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Bearer token, required on every route but `/healthz`.
    pub token: Option<String>,
    /// Requests per second admitted (bursts of twice that).
    pub rate_limit: u32,
}

/// Why the dashboard cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reachable from other machines, without a token.
    #[error(
        "--http {0} is reachable from other machines: set --http-token (or IOTSTREAM_HTTP_TOKEN), or listen on 127.0.0.1"
    )]
    Exposed(SocketAddr),
    /// A token too short to be safe.
    #[error("--http-token must be at least 16 characters")]
    ShortToken,
    /// A token a header or cookie cannot carry.
    #[error("--http-token must not contain spaces, control characters or ';'")]
    BadToken,
    /// The metrics recorder could not be set up.
    #[error("{0}")]
    Metrics(&'static str, #[source] metrics_exporter_prometheus::BuildError),
    /// The address cannot be listened on.
    #[error("cannot listen on {0} for --http")]
    Listen(SocketAddr, #[source] std::io::Error),
    /// The server's thread could not be started.
    #[error("cannot start the dashboard thread")]
    Thread(#[source] std::io::Error),
}

impl ServerConfig {
    /// Refuses what is unsafe: listening beyond this machine without a token, or a guessable one.
    pub fn check(&self) -> Result<(), Error> {
        match &self.token {
            None if !self.addr.ip().is_loopback() => Err(Error::Exposed(self.addr)),
            Some(token) if token.len() < 16 => Err(Error::ShortToken),
            Some(token) if token.chars().any(|c| c.is_whitespace() || c.is_control() || c == ';') => {
                Err(Error::BadToken)
            }
            _ => Ok(()),
        }
    }
}

/// Refuses `--http` settings that are unsafe (see [`ServerConfig::check`]), before anything starts.
pub fn check(addr: SocketAddr, token: Option<&str>) -> Result<(), Error> {
    ServerConfig { addr, token: token.map(str::to_owned), rate_limit: 1 }.check()
}

/// A running server.
pub struct Server {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
}

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn metrics() -> Result<PrometheusHandle, Error> {
    // A lock rather than a `OnceLock`: installing can fail, and two servers may start at once (tests).
    static HANDLE: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);
    let mut installed = HANDLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = &*installed {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(instruments::EMIT_LATENCY.into()),
            instruments::EMIT_LATENCY_BUCKETS,
        )
        .map_err(|e| Error::Metrics("histogram buckets", e))?
        .set_buckets_for_metric(
            Matcher::Full(instruments::STORE_WRITE.into()),
            instruments::STORE_WRITE_BUCKETS,
        )
        .map_err(|e| Error::Metrics("histogram buckets", e))?
        .install_recorder()
        .map_err(|e| Error::Metrics("cannot install the metrics recorder", e))?;
    instruments::describe();
    *installed = Some(handle.clone());
    Ok(handle)
}

/// Binds `config.addr` (failing now, before anything connects, if it cannot) and serves the
/// dashboard from its own thread until the process ends.
pub fn start(config: &ServerConfig, hub: Arc<Hub>) -> Result<Server, Error> {
    config.check()?;
    let metrics = metrics()?;
    let cannot_listen = |e| Error::Listen(config.addr, e);
    let listener = std::net::TcpListener::bind(config.addr).map_err(cannot_listen)?;
    listener.set_nonblocking(true).map_err(cannot_listen)?;
    let addr = listener.local_addr().map_err(cannot_listen)?;
    let app = router(hub, metrics, Guard::new(config.token.clone(), config.rate_limit));
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            let serve = async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, app).await
            };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Err(error) = runtime.and_then(|runtime| runtime.block_on(serve)) {
                tracing::error!(%error, "the dashboard server stopped");
            }
        })
        .map_err(Error::Thread)?;
    let secured = if config.token.is_some() { " (bearer token required)" } else { "" };
    tracing::info!("dashboard on http://{addr}/{secured}");
    Ok(Server { addr })
}

/// All routes, behind the guard. Public so that tests can drive it without a port.
pub fn router(hub: Arc<Hub>, metrics: PrometheusHandle, guard: Guard) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/api/events", get(events))
        .route("/api/windows", get(windows))
        .route("/api/status", get(status))
        .route("/api/alerts", get(alerts))
        .route("/api/stats", get(stats_history))
        .route("/api/info", get(info))
        .route("/api/sensors/{guid}", get(sensor))
        .route("/api/history", get(history::history))
        .route("/metrics", get(prometheus))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(AppState { hub, metrics })
        .layer(axum::middleware::from_fn(limit_body))
        .layer(axum::middleware::from_fn_with_state(Arc::new(guard), guard::check))
}

/// Refuses a request whose body is over [`MAX_BODY`] (413), reading at most that much of it. No
/// handler reads a body (every route is a GET), so a limit on body extractors would never apply.
async fn limit_body(request: Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(_) => (StatusCode::PAYLOAD_TOO_LARGE, "request body over 1 KiB\n").into_response(),
    }
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], assets::INDEX)
        .into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match assets::find(&name) {
        Some(asset) => (
            [(header::CONTENT_TYPE, asset.content_type), (header::CACHE_CONTROL, "max-age=3600")],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

#[derive(Deserialize)]
struct WindowsQuery {
    limit: Option<usize>,
}

async fn windows(State(state): State<AppState>, Query(query): Query<WindowsQuery>) -> Response {
    let limit = query.limit.unwrap_or(DEFAULT_WINDOWS).min(hub::RECENT_RESULTS);
    json_array(&state.hub.recent(limit))
}

async fn stats_history(State(state): State<AppState>, Query(query): Query<WindowsQuery>) -> Response {
    let limit = query.limit.unwrap_or(hub::RECENT_STATUS).min(hub::RECENT_STATUS);
    json_array(&state.hub.recent_status(limit))
}

/// A JSON array of JSON documents, joined without re-encoding them.
fn json_array(recent: &[Arc<str>]) -> Response {
    let mut body = String::with_capacity(2 + recent.iter().map(|r| r.len() + 1).sum::<usize>());
    body.push('[');
    for (i, result) in recent.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(result);
    }
    body.push(']');
    json(body)
}

async fn alerts(State(state): State<AppState>) -> Response {
    let (active, recent) = state.hub.alerts();
    let join = |items: &[Arc<str>]| items.iter().map(|i| i.as_ref()).collect::<Vec<_>>().join(",");
    json(format!("{{\"active\":[{}],\"recent\":[{}]}}", join(&active), join(&recent)))
}

async fn status(State(state): State<AppState>) -> Response {
    json(state.hub.status().as_deref().unwrap_or("null").to_owned())
}

async fn info(State(state): State<AppState>) -> Response {
    json(state.hub.info().to_string())
}

async fn sensor(State(state): State<AppState>, Path(guid): Path<String>) -> Response {
    if guid.len() > 256 {
        return (StatusCode::BAD_REQUEST, "guid too long\n").into_response();
    }
    match state.hub.lookup(&guid).await {
        Ok(Some(last)) => match serde_json::to_string(&last) {
            Ok(body) => json(body),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(None) => (StatusCode::NOT_FOUND, "no reading from this sensor yet\n").into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response(),
    }
}

async fn prometheus(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// The event stream: the latest status first (so a new page is not blank), then every event.
async fn events(State(state): State<AppState>) -> Response {
    if state.hub.subscribers() >= MAX_STREAMS {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many open dashboards\n").into_response();
    }
    Sse::new(event_stream(&state.hub))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn event_stream(hub: &Arc<Hub>) -> impl Stream<Item = Result<SseEvent, std::convert::Infallible>> {
    let (receiver, subscription) = hub.subscribe();
    let first = hub.status().map(|data| SseEvent::default().event("stats").data(data.as_ref()));
    let live = BroadcastStream::new(receiver).map(move |item| {
        // The subscription lives as long as the stream: dropping both uncounts the browser.
        let _counted = &subscription;
        Ok(match item {
            Ok(event) => SseEvent::default().event(event.kind).data(event.data.as_ref()),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                SseEvent::default().comment(format!("skipped {n} events"))
            }
        })
    });
    stream::iter(first.map(Ok)).chain(live)
}
