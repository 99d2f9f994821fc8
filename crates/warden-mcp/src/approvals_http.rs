//! Reaching people about approvals: posting the Slack and Teams messages when an approval is
//! requested, and the HTTP endpoint that receives Slack's button presses
//! (`POST /slack/interactions`, signature checked, approver authorized like on the CLI).

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

    /// Posts the messages for a new approval in the background; failures are logged (the
    /// approval stays pending and can be decided on the CLI).
    pub fn requested(&self, a: &Approval) {
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
        for (url, body) in posts {
            let Some(url) = url else { continue };
            let client = self.client.clone();
            let id = a.id.clone();
            tokio::spawn(async move {
                let req = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.to_string());
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        tracing::info!(approval = id, url, "approval request posted")
                    }
                    Ok(r) => {
                        tracing::warn!(approval = id, url, status = %r.status(), "approval webhook refused the message")
                    }
                    Err(e) => {
                        tracing::warn!(approval = id, url, error = %e, "approval webhook unreachable")
                    }
                }
            });
        }
    }
}

/// What the callback endpoint needs.
pub struct Callbacks {
    /// The approval records.
    pub store: Arc<Store>,
    /// Who may decide (Slack users as `slack:<username>`).
    pub approvers: Approvers,
    /// Slack's signing secret.
    pub slack_signing_secret: Option<String>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The router: `POST /slack/interactions`.
pub fn router(c: Arc<Callbacks>) -> Router {
    Router::new()
        .route("/slack/interactions", post(slack))
        .with_state(c)
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
        now(),
    ) {
        tracing::warn!(error = e, "Slack callback rejected");
        return (StatusCode::UNAUTHORIZED, e).into_response();
    }
    let action = match notify::slack_action(&body) {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    // Slack shows the text to the person who pressed the button.
    let text = match c.store.decide(
        &action.approval_id,
        &action.approver,
        action.approve,
        Some("via Slack"),
        &c.approvers,
        now(),
    ) {
        Ok(a) => format!("{} {} by {}", a.id, a.state.as_str(), action.approver),
        Err(e) => format!("Not recorded: {e}"),
    };
    Json(json!({"response_type": "ephemeral", "replace_original": false, "text": text}))
        .into_response()
}
