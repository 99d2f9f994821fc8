//! The HTTP APIs (axum), thin adapters over [`DecisionService`]:
//! `POST /v1/decide`, OPA's Data API (`POST|GET /v1/data/{path}`), `GET /health`,
//! `GET /v1/status` and `GET /metrics`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::service::{DecideError, DecisionService};

/// Builds the router; `body_limit` bytes per request body (larger gets 413).
pub fn router(service: Arc<DecisionService>, body_limit: usize) -> Router {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/data/{*path}", post(data_post).get(data_get))
        .route("/v1/data", post(data_root).get(data_root))
        .route("/health", get(health))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(service)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    ApiError {
        status,
        code: code.to_string(),
        message: message.into(),
    }
    .into_response()
}

/// A JSON error answer: `{"error": {"code", "message"}}`.
struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

fn bad_request(code: &str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: code.into(),
        message,
    }
}

/// Parses a JSON body with a message that says where it broke.
fn parse(body: &Bytes) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| bad_request("invalid_body", format!("body is not UTF-8: {e}")))?;
    serde_json::from_str(text)
        .map_err(|e| bad_request("invalid_json", format!("body is not valid JSON: {e}")))
}

fn decide_error(e: DecideError) -> Response {
    match e {
        DecideError::NoBundle => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"code": "no_bundle", "message": "no policy bundle is loaded yet"}, "fail_mode": "closed"})),
        )
            .into_response(),
        DecideError::Input(m) => error(StatusCode::BAD_REQUEST, "invalid_input", m),
        DecideError::Eval(m) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"code": "evaluation_failed", "message": m}, "fail_mode": "closed"})),
        )
            .into_response(),
    }
}

async fn decide(State(svc): State<Arc<DecisionService>>, body: Bytes) -> Response {
    let input = match parse(&body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    // Decisions are CPU-bound and take microseconds: run them inline on the runtime's worker.
    match svc.decide(&input) {
        Ok(d) => Json(d).into_response(),
        Err(e) => decide_error(e),
    }
}

fn query_of(path: &str) -> Result<String, ApiError> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| {
        !p.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(bad_request(
            "invalid_path",
            format!("`{path}` is not a data path"),
        ));
    }
    Ok(std::iter::once("data")
        .chain(parts)
        .collect::<Vec<_>>()
        .join("."))
}

fn data_answer(svc: &DecisionService, query: &str, input: Option<&Value>) -> Response {
    let decision_id = uuid::Uuid::new_v4().to_string();
    match svc.query(query, input) {
        Ok(regorus::Value::Undefined) => Json(json!({"decision_id": decision_id})).into_response(),
        Ok(v) => match serde_json::to_value(&v) {
            Ok(result) => {
                Json(json!({"result": result, "decision_id": decision_id})).into_response()
            }
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            ),
        },
        Err(DecideError::Eval(m)) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", m),
        Err(e) => decide_error(e),
    }
}

async fn data_post(
    State(svc): State<Arc<DecisionService>>,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    let query = match query_of(&path) {
        Ok(q) => q,
        Err(r) => return r.into_response(),
    };
    let input = if body.is_empty() {
        None
    } else {
        match parse(&body) {
            Ok(v) => v.get("input").cloned(),
            Err(r) => return r.into_response(),
        }
    };
    data_answer(&svc, &query, input.as_ref())
}

async fn data_get(State(svc): State<Arc<DecisionService>>, Path(path): Path<String>) -> Response {
    match query_of(&path) {
        Ok(q) => data_answer(&svc, &q, None),
        Err(r) => r.into_response(),
    }
}

async fn data_root() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_path",
        "query a path under /v1/data/, e.g. /v1/data/warden/main/decision",
    )
}

async fn health(
    State(svc): State<Arc<DecisionService>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // Like OPA: the server is healthy when it serves; `?bundles` also requires the bundle active.
    if q.contains_key("bundles") && !svc.ready() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "bundle not activated"})),
        )
            .into_response();
    }
    Json(json!({})).into_response()
}

async fn status(State(svc): State<Arc<DecisionService>>) -> Response {
    let s = svc.status();
    Json(json!({"bundles": {s.name.clone(): s}})).into_response()
}

async fn metrics(State(svc): State<Arc<DecisionService>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        svc.metrics_text(),
    )
        .into_response()
}
