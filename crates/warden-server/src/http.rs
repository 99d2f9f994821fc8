//! The HTTP APIs (axum), thin adapters over [`DecisionService`]:
//! `POST /v1/decide`, OPA's Data API (`POST|GET /v1/data/{path}`), `GET /health`,
//! `GET /v1/status` and `GET /metrics`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::{bind, AuthConfig, AuthError};
use crate::service::{DecideError, DecisionService};

/// What the handlers share.
pub struct App {
    /// The decision service.
    pub svc: Arc<DecisionService>,
    /// Caller authentication (open when nothing is configured).
    pub auth: Arc<AuthConfig>,
    /// The decision log; every decision is recorded before it is returned.
    pub audit: Option<crate::audit::Auditor>,
    /// Human approvals for `approval_needed` decisions; without them such decisions are
    /// returned as they are (the caller handles them).
    pub approvals: Option<Arc<crate::approvals::Approvals>>,
}

/// Header carrying a one-time override token on a retried `POST /v1/decide`.
pub const TOKEN_HEADER: &str = "warden-approval-token";

/// Builds the router; `body_limit` bytes per request body (larger gets 413).
pub fn router(
    service: Arc<DecisionService>,
    body_limit: usize,
    auth: Arc<AuthConfig>,
    audit: Option<crate::audit::Auditor>,
) -> Router {
    router_for(
        App {
            svc: service,
            auth,
            audit,
            approvals: None,
        },
        body_limit,
    )
}

/// Builds the router over `app`. With approvals, `approval_needed` decisions create approval
/// requests and `GET /v1/approvals/{id}/wait` lets the requesting agent long-poll for the
/// decision (and its override token).
pub fn router_for(app: App, body_limit: usize) -> Router {
    let operations = operations_router(app.svc.clone());
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/approvals/{id}/wait", get(wait_approval))
        .route("/v1/data/{*path}", post(data_post).get(data_get))
        .route("/v1/data", post(data_post).get(data_get))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(Arc::new(app))
        .merge(operations)
}

/// What operators poll on every Warden endpoint (the gateway server and the MCP gateway's HTTP
/// endpoint alike): `GET /health` (OPA's: 200 while serving; with `?bundles`, 500 until every
/// configured bundle is active), `GET /v1/status` (each bundle's revision, activations and last
/// error) and `GET /metrics` (Prometheus text, see `crate::metrics`).
pub fn operations_router(svc: Arc<DecisionService>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(svc)
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

/// The request body, or the JSON error for one that could not be read (over the body limit:
/// 413 `body_too_large`).
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "invalid_body"
        };
        ApiError {
            status,
            code: code.into(),
            message: r.body_text(),
        }
    })
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

/// The caller's identity when authentication is on; `Ok(None)` when it is off.
fn caller(app: &App, headers: &HeaderMap) -> Result<Option<crate::auth::Identity>, ApiError> {
    if !app.auth.enabled() {
        return Ok(None);
    }
    app.auth.authenticate(headers).map(Some).map_err(|e| {
        let code = match e {
            AuthError::Missing => "unauthenticated",
            AuthError::Invalid(_) => "invalid_credential",
        };
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: code.into(),
            message: e.to_string(),
        }
    })
}

/// Binds the caller's identity into an input; refuses another tenant.
fn bound(id: &Option<crate::auth::Identity>, input: &mut Value) -> Result<(), ApiError> {
    match id {
        Some(_) if !input.is_object() => Err(bad_request(
            "invalid_input",
            "the input must be a JSON object: the caller's tenant and agent are bound into it"
                .into(),
        )),
        Some(id) => bind(input, id).map_err(|message| ApiError {
            status: StatusCode::FORBIDDEN,
            code: "tenant_mismatch".into(),
            message,
        }),
        None => Ok(()),
    }
}

async fn decide(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let id = match caller(&app, &headers) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let mut input = match body_of(body).and_then(|b| parse(&b)) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = bound(&id, &mut input) {
        return r.into_response();
    }
    let svc = &app.svc;
    let start = std::time::Instant::now();
    // Decisions are CPU-bound and take microseconds: run them inline on the runtime's worker.
    let crate::service::Decided {
        decision,
        set,
        candidate,
    } = match svc.decide_with_set(&input) {
        Ok(d) => d,
        Err(e) => return decide_error(e),
    };
    let latency_us = start.elapsed().as_micros() as u64;
    let decision_id = uuid::Uuid::new_v4().to_string();
    // An approval_needed decision becomes an approval request (or, with a valid override
    // token, the one use of an approved one); the answer says which.
    let approved = match (&app.approvals, decision.outcome.as_str()) {
        (Some(ap), "approval_needed") => {
            Some(approval_step(ap, &headers, &input, &decision, &decision_id))
        }
        _ => None,
    };
    let answer = match &approved {
        Some(v) => Json(v).into_response(),
        None => Json(&decision).into_response(),
    };
    if let Some(audit) = &app.audit {
        let result =
            approved.unwrap_or_else(|| serde_json::to_value(&decision).unwrap_or(Value::Null));
        let mut entry = audit.entry(crate::audit::Call {
            decision_id: &decision_id,
            input,
            result,
            set: &set,
            latency_us,
            trace_id: trace_of(&headers),
            path: None,
        });
        entry.candidate = candidate.and_then(|c| serde_json::to_value(c).ok());
        match recorded(audit, entry, decision.fail_mode != "open").await {
            Ok(true) => {}
            Ok(false) => return audit_failed(answer),
            Err(r) => return r,
        }
    }
    with_decision_id(answer, &decision_id)
}

/// The approval step of an `approval_needed` decision on `POST /v1/decide`: with a valid
/// `Warden-Approval-Token` for exactly this call the answer becomes `allow` (once); otherwise an
/// approval is requested (or the identical pending one joined) and the answer carries
/// `approval: {approval_id, state, expires, wait}`; a token that does not fit is a `deny`.
fn approval_step(
    ap: &crate::approvals::Approvals,
    headers: &HeaderMap,
    input: &Value,
    decision: &warden_core::contract::Decision,
    decision_id: &str,
) -> Value {
    use crate::approvals::{call_of, Step, TOKEN_REJECTED_REMEDIATION};
    let call = call_of(input);
    let token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    let requester = json!({"decision_id": decision_id, "api": "/v1/decide", "trace_id": trace_of(headers),
                           "conversation_id": input.pointer("/context/conversation_id")});
    let mut v = serde_json::to_value(decision).unwrap_or(Value::Null);
    match ap.step(call, decision, token, requester) {
        Step::Granted(note) => {
            let outcome = crate::approvals::granted_outcome(decision);
            v["allow"] = json!(true);
            v["outcome"] = json!(outcome);
            // Waiting for an approver is done; what is left is the redactions' remediation.
            v["remediation"] = json!(decision
                .violations
                .iter()
                .filter(|x| x.outcome.as_str() == outcome)
                .find_map(|x| x.remediation.clone()));
            if outcome == "allow" {
                v["metadata"]["appeal_path"] = Value::Null;
            }
            v["approval"] = note;
        }
        Step::Pending(mut note) => {
            if let Some(id) = note.get("approval_id").and_then(Value::as_str) {
                note["wait"] = json!(format!("/v1/approvals/{id}/wait"));
            }
            note["token_header"] = json!(TOKEN_HEADER);
            v["approval"] = note;
        }
        Step::Refused(why) => {
            v["allow"] = json!(false);
            v["outcome"] = json!("deny");
            v["reasons"] = json!(["approval_token_rejected"]);
            v["remediation"] = json!(TOKEN_REJECTED_REMEDIATION);
            v["approval"] = json!({"error": why});
        }
    }
    v
}

/// `GET /v1/approvals/{id}/wait?timeout_seconds=N` (default 30, at most 60): the requesting
/// agent long-polls its approval. Answers as soon as a person decides (approved: with the
/// one-time override token to retry the call with), when it can no longer be used, or when the
/// time is up (`state: pending`, ask again).
async fn wait_approval(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    use crate::approvals::Waited;
    let who = match caller(&app, &headers) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let Some(ap) = &app.approvals else {
        return error(
            StatusCode::NOT_FOUND,
            "not_configured",
            "approvals are not configured on this gateway",
        );
    };
    let a = match ap.store.get(&id, warden_engine::now_unix()) {
        Ok(a) => a,
        Err(warden_approvals::ApprovalError::NotFound(_)) => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no approval `{id}`"),
            )
        }
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            )
        }
    };
    if let Some(w) = &who {
        if (w.tenant.as_str(), w.agent.as_str()) != (a.call.tenant.as_str(), a.call.agent.as_str())
        {
            return error(
                StatusCode::FORBIDDEN,
                "not_requester",
                "only the agent that asked may wait on an approval",
            );
        }
    }
    let secs = q
        .get("timeout_seconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(30)
        .min(60);
    let waited = ap
        .wait(&id, std::time::Duration::from_secs(secs), |_| {})
        .await;
    let mut body = json!({"approval_id": id});
    match waited {
        Waited::Approved(token) => {
            body["state"] = json!("approved");
            body["token"] = json!(token);
            body["token_header"] = json!(TOKEN_HEADER);
        }
        Waited::Denied(a) => {
            body["state"] = json!("denied");
            body["decided_by"] = json!(a.decided_by);
            body["note"] = json!(a.note);
        }
        Waited::Pending => body["state"] = json!("pending"),
        Waited::Ended(why) => {
            body["state"] = json!("ended");
            body["message"] = json!(why);
        }
    }
    Json(body).into_response()
}

fn audit_failed(mut r: Response) -> Response {
    r.headers_mut()
        .insert("warden-audit", header::HeaderValue::from_static("failed"));
    r
}

/// The trace id of the request's W3C `traceparent` header.
fn trace_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::audit::trace_id)
}

fn with_decision_id(mut r: Response, decision_id: &str) -> Response {
    if let Ok(v) = header::HeaderValue::from_str(decision_id) {
        r.headers_mut().insert("x-warden-decision-id", v);
    }
    r
}

/// Writes the record. When it cannot be written, a fail-closed call gets 503 and a fail-open one
/// is answered with the header `warden-audit: failed` (`Ok(false)`).
async fn recorded(
    audit: &crate::audit::Auditor,
    entry: warden_audit::Entry,
    closed: bool,
) -> Result<bool, Response> {
    match audit.record(entry).await {
        Ok(_) => Ok(true),
        Err(e) if closed => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"code": "audit_unavailable", "message": format!("the decision could not be recorded: {e}")}, "fail_mode": "closed"})),
        )
            .into_response()),
        Err(e) => {
            tracing::error!(error = e, "decision answered without an audit record (fail open)");
            Ok(false)
        }
    }
}

/// The data path of a Data API URL, one segment per element (none: the whole document).
fn path_of(path: &str) -> Result<Vec<String>, ApiError> {
    let parts: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if parts.iter().any(|p| {
        !p.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(bad_request(
            "invalid_path",
            format!("`{path}` is not a data path"),
        ));
    }
    Ok(parts)
}

/// With authentication on, a caller reads only its own tenant's policies: a path that holds
/// every tenant's (the whole document, `warden`, `warden/tenants`) or leads into another
/// tenant's is refused. (OPA has no tenants; its Data API would serve any path.)
fn tenant_scoped(id: &Option<crate::auth::Identity>, parts: &[String]) -> Result<(), ApiError> {
    let Some(id) = id else { return Ok(()) };
    let refused = match parts {
        [] => true,
        [w] | [w, _] if w == "warden" => parts.len() == 1 || parts[1] == "tenants",
        [w, t, tenant, ..] if w == "warden" && t == "tenants" => *tenant != id.tenant,
        // Custom Rego reads all of `data.warden.tenants`: its rules are not the caller's to
        // browse; a decision reaches them through `warden/main/decision`.
        [w, c, ..] if w == "warden" && (c == "custom" || c == "custom_all") => true,
        _ => false,
    };
    if refused {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "tenant_mismatch".into(),
            message: format!(
                "caller belongs to tenant `{}` and may read only data/warden/tenants/{} of the \
                 policies' data",
                id.tenant, id.tenant
            ),
        });
    }
    Ok(())
}

/// OPA's Data API query parameters Warden honours: `input` (GET: the input document as JSON)
/// and `pretty`. Others (`metrics`, `provenance`, `explain`, ...) are accepted and ignored.
struct DataParams {
    input: Option<String>,
    pretty: bool,
    /// A `POST` without `input` (OPA warns: the query may have needed one).
    warn_no_input: bool,
}

impl DataParams {
    fn of(q: &std::collections::HashMap<String, String>) -> Self {
        DataParams {
            input: q.get("input").cloned(),
            pretty: q
                .get("pretty")
                .is_some_and(|v| !v.eq_ignore_ascii_case("false")),
            warn_no_input: false,
        }
    }
}

async fn data_answer(
    app: &App,
    headers: &HeaderMap,
    parts: &[String],
    input: Option<Value>,
    params: &DataParams,
) -> Response {
    let query = std::iter::once("data")
        .chain(parts.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(".");
    let decision_id = uuid::Uuid::new_v4().to_string();
    let start = std::time::Instant::now();
    let (value, set) = match app.svc.query(&query, input.as_ref()) {
        Ok(v) => v,
        Err(DecideError::Eval(m)) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", m)
        }
        Err(e) => return decide_error(e),
    };
    let result = match value {
        regorus::Value::Undefined => None,
        v => match serde_json::to_value(&v) {
            Ok(r) => Some(r),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    e.to_string(),
                )
            }
        },
    };
    let body = data_body(result.as_ref(), &decision_id, params);
    // Like OPA's decision logs, every Data API query is recorded (one without an input with a
    // null input); a decision query's fail mode applies when the record cannot be written,
    // anything else fails closed.
    if let Some(audit) = &app.audit {
        let closed = result
            .as_ref()
            .and_then(|r| r.get("fail_mode"))
            .and_then(Value::as_str)
            != Some("open");
        let entry = audit.entry(crate::audit::Call {
            decision_id: &decision_id,
            input: input.unwrap_or(Value::Null),
            result: result.unwrap_or(Value::Null),
            set: &set,
            latency_us: start.elapsed().as_micros() as u64,
            trace_id: trace_of(headers),
            path: Some(parts.join("/")),
        });
        return match recorded(audit, entry, closed).await {
            Ok(true) => with_decision_id(body, &decision_id),
            Ok(false) => audit_failed(body),
            Err(r) => r,
        };
    }
    with_decision_id(body, &decision_id)
}

/// OPA's answer: `{"result", "decision_id"}`, without `result` when it is undefined, and, as
/// OPA's `POST` does, a warning when the body had no `input`.
fn data_body(result: Option<&Value>, decision_id: &str, params: &DataParams) -> Response {
    let mut body = match result {
        Some(r) => json!({"result": r, "decision_id": decision_id}),
        None => json!({"decision_id": decision_id}),
    };
    if params.warn_no_input {
        body["warning"] =
            json!({"code": "api_usage_warning", "message": "'input' key missing from the request"});
    }
    if !params.pretty {
        return Json(body).into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    )
        .into_response()
}

async fn data_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Option<Path<String>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = async {
        let id = caller(&app, &headers)?;
        let parts = path_of(path.as_deref().map_or("", String::as_str))?;
        tenant_scoped(&id, &parts)?;
        let body = body_of(body)?;
        let mut input = if body.is_empty() {
            None
        } else {
            parse(&body)?.get("input").cloned()
        };
        if let Some(i) = input.as_mut() {
            bound(&id, i)?;
        }
        Ok::<_, ApiError>((parts, input))
    };
    match answer.await {
        Ok((parts, input)) => {
            let params = DataParams {
                warn_no_input: input.is_none(),
                ..DataParams::of(&q)
            };
            data_answer(&app, &headers, &parts, input, &params).await
        }
        Err(e) => e.into_response(),
    }
}

async fn data_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    path: Option<Path<String>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let params = DataParams::of(&q);
    let answer = || {
        let id = caller(&app, &headers)?;
        let parts = path_of(path.as_deref().map_or("", String::as_str))?;
        tenant_scoped(&id, &parts)?;
        let mut input = match &params.input {
            None => None,
            Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|e| {
                bad_request(
                    "invalid_input",
                    format!("the `input` query parameter is not valid JSON: {e}"),
                )
            })?),
        };
        if let Some(i) = input.as_mut() {
            bound(&id, i)?;
        }
        Ok::<_, ApiError>((parts, input))
    };
    match answer() {
        Ok((parts, input)) => data_answer(&app, &headers, &parts, input, &params).await,
        Err(e) => e.into_response(),
    }
}

async fn health(
    State(svc): State<Arc<DecisionService>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // Like OPA: the server is healthy when it serves; `?bundles` also requires the bundle active.
    if q.contains_key("bundles") && !svc.all_active() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "bundle not activated"})),
        )
            .into_response();
    }
    Json(json!({})).into_response()
}

async fn status(State(svc): State<Arc<DecisionService>>) -> Response {
    let bundles: serde_json::Map<String, Value> = svc
        .statuses()
        .into_iter()
        .map(|s| {
            (
                s.name.clone(),
                serde_json::to_value(&s).unwrap_or(Value::Null),
            )
        })
        .collect();
    let mut body = json!({"bundles": bundles});
    if let Some(c) = svc.candidate_status() {
        body["candidate"] = serde_json::to_value(c).unwrap_or(Value::Null);
    }
    Json(body).into_response()
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
