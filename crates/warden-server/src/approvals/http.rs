//! Reaching people about approvals: posting the Slack and Teams messages when an approval is
//! requested, the endpoint that receives Slack's button presses (`POST /slack/interactions`,
//! signature checked, approver authorized like on the CLI), the approver API
//! (`/v1/approvals…`) and the approvals web page (`/approvals`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use warden_approvals::{notify, Approval, Approvers, Store};

/// Where approval requests are announced.
pub struct Notifier {
    client: reqwest::Client,
    /// Slack incoming webhook URL.
    pub slack_webhook: Option<String>,
    /// Teams (incoming or Workflows) webhook URL.
    pub teams_webhook: Option<String>,
    /// Base URL of the approvals page, for links (`<base>/approvals/<id>`).
    pub link_base: Option<String>,
}

impl Notifier {
    /// A notifier posting to the given webhooks.
    pub fn new(
        slack_webhook: Option<String>,
        teams_webhook: Option<String>,
        link_base: Option<String>,
    ) -> Self {
        Notifier {
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            slack_webhook,
            teams_webhook,
            link_base,
        }
    }

    /// Posts the messages for a new approval in the background; each post is recorded as a
    /// `notified` step (with the outcome) in `store`. Failures are logged: the approval stays
    /// pending and can be decided on the page, the API or the CLI.
    pub fn requested(&self, a: &Approval, store: &Arc<Store>) {
        let link = self
            .link_base
            .as_ref()
            .map(|b| format!("{}/approvals/{}", b.trim_end_matches('/'), a.id));
        let posts = [
            (
                self.slack_webhook.clone(),
                notify::slack_message(a, link.as_deref()),
            ),
            (
                self.teams_webhook.clone(),
                notify::teams_card(a, link.as_deref()),
            ),
        ];
        for (channel, (url, body)) in ["slack", "teams"].into_iter().zip(posts) {
            let Some(url) = url else { continue };
            let client = self.client.clone();
            let id = a.id.clone();
            let store = store.clone();
            tokio::spawn(async move {
                let req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.to_string());
                let detail = match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        tracing::info!(approval = id, url, "approval request posted");
                        json!({"ok": true, "status": r.status().as_u16()})
                    }
                    Ok(r) => {
                        tracing::warn!(approval = id, url, status = %r.status(), "approval webhook refused the message");
                        json!({"ok": false, "status": r.status().as_u16()})
                    }
                    Err(e) => {
                        tracing::warn!(approval = id, url, error = %e, "approval webhook unreachable");
                        json!({"ok": false, "error": e.to_string()})
                    }
                };
                if let Err(e) = store.notified(&id, channel, &detail, warden_engine::now_unix()) {
                    tracing::warn!(approval = id, error = %e, "notification not recorded");
                }
            });
        }
    }
}

/// What the callback endpoint needs.
pub struct Callbacks {
    /// The approval records.
    pub store: Arc<Store>,
    /// Who may decide (Slack users as `slack:<member id>`).
    pub approvers: Approvers,
    /// Slack's signing secret.
    pub slack_signing_secret: Option<String>,
    /// The Slack workspace (team id, `T…`) whose members may decide; a press from another
    /// workspace (an app installed in several) is refused. `None`: any workspace the app is in.
    pub slack_team_id: Option<String>,
    /// Approver API keys for the HTTP API: SHA-256 (hex) of the key → approver identity.
    pub approver_keys: std::collections::BTreeMap<String, String>,
    /// Mints override tokens for approved calls (the HTTP API returns one on approval).
    pub tokens: Option<(warden_approvals::Tokens, u64)>,
}

/// The router: `POST /slack/interactions`, and the approver API: `GET /v1/approvals`,
/// `GET /v1/approvals/{id}`, `POST /v1/approvals/{id}/approve|deny` (approver API key as
/// `Authorization: Bearer` or `X-API-Key`; the key names the approver).
pub fn router(c: Arc<Callbacks>) -> Router {
    Router::new()
        .merge(super::web::router())
        .route("/slack/interactions", post(slack))
        .route("/v1/approvals", axum::routing::get(list))
        .route("/v1/approvals/{id}", axum::routing::get(show))
        .route("/v1/approvals/{id}/{decision}", post(decide))
        .with_state(c)
}

/// The approver a request's API key names.
fn approver(c: &Callbacks, headers: &HeaderMap) -> Result<String, &'static str> {
    let key = crate::auth::presented(headers)
        .map(|k| k.value())
        .ok_or("an approver API key is required")?;
    c.approver_keys
        .get(&crate::auth::key_digest(key))
        .cloned()
        .ok_or("unknown approver key")
}

/// `approver` for handlers: a missing or unknown key is 401.
fn approver_or_401(c: &Callbacks, headers: &HeaderMap) -> Result<String, Box<Response>> {
    approver(c, headers).map_err(|m| Box::new(api_error(StatusCode::UNAUTHORIZED, m)))
}

fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": {"message": message.into()}}))).into_response()
}

fn approval_error(e: warden_approvals::ApprovalError) -> Response {
    use warden_approvals::ApprovalError as E;
    let status = match &e {
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::WrongState(..) => StatusCode::CONFLICT,
        E::SelfApproval(_) | E::NotAuthorized(..) => StatusCode::FORBIDDEN,
        E::TooManyPending(..) | E::BadToken(_) => StatusCode::BAD_REQUEST,
        E::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    api_error(status, e.to_string())
}

async fn list(State(c): State<Arc<Callbacks>>, headers: HeaderMap) -> Response {
    let who = match approver_or_401(&c, &headers) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    // Each approver sees only what it may decide (no other tenant's calls).
    match c.store.list(
        None,
        Some(warden_approvals::State::Pending),
        warden_engine::now_unix(),
    ) {
        Ok(l) => {
            let mine: Vec<_> = l
                .into_iter()
                .filter(|a| c.approvers.allows(&who, a))
                .collect();
            Json(json!({"approver": who, "approvals": mine})).into_response()
        }
        Err(e) => approval_error(e),
    }
}

async fn show(
    State(c): State<Arc<Callbacks>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let who = match approver_or_401(&c, &headers) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    match c.store.get(&id, warden_engine::now_unix()) {
        Ok(a) if c.approvers.allows(&who, &a) => {
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            v["history"] = json!(c.store.history(&id).unwrap_or_default());
            Json(v).into_response()
        }
        Ok(_) => api_error(
            StatusCode::FORBIDDEN,
            format!("`{who}` may not see this approval"),
        ),
        Err(e) => approval_error(e),
    }
}

async fn decide(
    State(c): State<Arc<Callbacks>>,
    headers: HeaderMap,
    axum::extract::Path((id, decision)): axum::extract::Path<(String, String)>,
    body: Bytes,
) -> Response {
    let who = match approver_or_401(&c, &headers) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let approve = match decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return api_error(StatusCode::NOT_FOUND, "use /approve or /deny"),
    };
    let note: Option<String> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("note").and_then(|n| n.as_str()).map(str::to_string));
    match c.store.decide(
        &id,
        &who,
        approve,
        note.as_deref(),
        &c.approvers,
        warden_engine::now_unix(),
    ) {
        Ok(a) => {
            let mut v = serde_json::to_value(&a).unwrap_or_default();
            if let (true, Some((t, ttl))) = (approve, &c.tokens) {
                v["token"] = json!(t.mint(&a, *ttl));
            }
            Json(v).into_response()
        }
        Err(e) => approval_error(e),
    }
}

async fn slack(State(c): State<Arc<Callbacks>>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(secret) = &c.slack_signing_secret else {
        return (StatusCode::NOT_FOUND, "Slack is not configured").into_response();
    };
    if let Err(e) = notify::verify_slack(
        secret,
        h("x-slack-request-timestamp"),
        &body,
        h("x-slack-signature"),
        warden_engine::now_unix(),
    ) {
        tracing::warn!(error = e, "Slack callback rejected");
        return (StatusCode::UNAUTHORIZED, e).into_response();
    }
    let action = match notify::slack_action(&body) {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    if let Some(want) = &c.slack_team_id {
        if action.team.as_deref() != Some(want) {
            let from = action.team.as_deref().unwrap_or("no workspace");
            tracing::warn!(team = from, "Slack callback from another workspace refused");
            let why =
                format!("Not recorded: this Slack workspace ({from}) may not decide approvals");
            return Json(
                json!({"response_type": "ephemeral", "replace_original": false, "text": why}),
            )
            .into_response();
        }
    }
    // Slack shows the text to the person who pressed the button.
    let text = match c.store.decide(
        &action.approval_id,
        &action.approver,
        action.approve,
        Some("via Slack"),
        &c.approvers,
        warden_engine::now_unix(),
    ) {
        Ok(a) => format!("{} {} by {}", a.id, a.state.as_str(), action.approver),
        Err(e) => format!("Not recorded: {e}"),
    };
    Json(json!({"response_type": "ephemeral", "replace_original": false, "text": text}))
        .into_response()
}
