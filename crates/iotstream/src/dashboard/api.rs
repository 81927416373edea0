//! What every handler shares: the server's state, and how a JSON answer is sent.

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;

use super::hub::Hub;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// Results, status and alerts.
    pub hub: Arc<Hub>,
    /// Prometheus text.
    pub metrics: PrometheusHandle,
}

/// A JSON answer that no cache keeps.
pub fn json(body: impl Into<axum::body::Body>) -> Response {
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body.into())
        .into_response()
}
