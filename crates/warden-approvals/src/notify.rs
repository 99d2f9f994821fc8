//! Getting a person to decide: the Slack message (Block Kit, with Approve and Deny buttons), the
//! Microsoft Teams message (an Adaptive Card linking to the approval), and the checks on Slack's
//! interaction callback (its request signature and its payload). Pure functions: sending is the
//! enforcement point's job.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::Approval;

/// `action_id` of the Slack Approve button.
pub const SLACK_APPROVE: &str = "warden_approve";
/// `action_id` of the Slack Deny button.
pub const SLACK_DENY: &str = "warden_deny";
/// Oldest accepted Slack request, in seconds (Slack's own guidance: five minutes).
pub const SLACK_MAX_AGE: u64 = 300;

fn summary(a: &Approval) -> String {
    format!(
        "*{}* (tenant {}) wants to call *{}/{}* and policy requires a person's approval ({}).",
        a.call.agent,
        a.call.tenant,
        a.call.tool,
        a.call.action,
        a.reasons.join(", ")
    )
}

fn arguments(a: &Approval) -> String {
    let text = serde_json::to_string_pretty(&a.call.arguments).unwrap_or_default();
    // Slack sections hold at most 3,000 characters.
    let cut: String = text.chars().take(2_800).collect();
    if cut.len() < text.len() {
        format!("{cut}\n…")
    } else {
        cut
    }
}

/// The Slack message for a pending approval (post it to an incoming webhook). `link` is the
/// approval's page, if the gateway serves one.
pub fn slack_message(a: &Approval, link: Option<&str>) -> Value {
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": summary(a)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("```{}```", arguments(a))}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
            "Rule `{}` · policy {} · approval `{}` · expires <!date^{}^{{date_short_pretty}} {{time}}|at {}>",
            a.rule, a.policy_version, a.id, a.expires, a.expires)}]}),
        json!({"type": "actions", "block_id": format!("warden:{}", a.id), "elements": [
            {"type": "button", "action_id": SLACK_APPROVE, "style": "primary", "value": a.id,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": SLACK_DENY, "style": "danger", "value": a.id,
             "text": {"type": "plain_text", "text": "Deny"}},
        ]}),
    ];
    if let Some(l) = link {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{l}|Open in Warden>")}]}));
    }
    json!({"text": format!("Approval needed: {}/{} for {}", a.call.tool, a.call.action, a.call.agent), "blocks": blocks})
}

/// The Teams message for a pending approval: an Adaptive Card (post it to an incoming webhook or
/// a Workflows webhook).
pub fn teams_card(a: &Approval, link: Option<&str>) -> Value {
    let mut actions = vec![];
    if let Some(l) = link {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Review and decide", "url": l}));
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": "Approval needed"},
                {"type": "TextBlock", "wrap": true, "text": summary(a).replace('*', "**")},
                {"type": "FactSet", "facts": [
                    {"title": "Agent", "value": a.call.agent},
                    {"title": "Call", "value": format!("{}/{}", a.call.tool, a.call.action)},
                    {"title": "Rule", "value": a.rule},
                    {"title": "Reasons", "value": a.reasons.join(", ")},
                    {"title": "Approval", "value": a.id},
                ]},
                {"type": "TextBlock", "wrap": true, "fontType": "Monospace", "text": arguments(a)},
            ],
            "actions": actions,
        }
    }]})
}

/// Checks a Slack request: `X-Slack-Signature` must be `v0=` + hex HMAC-SHA256 of
/// `v0:<X-Slack-Request-Timestamp>:<raw body>` under the signing secret, and the timestamp at
/// most five minutes from `now` (replays are refused).
pub fn verify_slack(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: u64,
) -> Result<(), String> {
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| "X-Slack-Request-Timestamp is not a number".to_string())?;
    if now.abs_diff(ts) > SLACK_MAX_AGE {
        return Err("the request is more than five minutes old (or from the future)".into());
    }
    let sig = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| "X-Slack-Signature is not `v0=<hex>`".to_string())?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .map_err(|_| "bad signing secret".to_string())?;
    m.update(format!("v0:{ts}:").as_bytes());
    m.update(body);
    m.verify_slice(&sig)
        .map_err(|_| "the signature does not match the signing secret".to_string())
}

/// A button press from Slack's interaction callback (`payload=<JSON>`, form-encoded).
#[derive(Debug, Clone, PartialEq)]
pub struct SlackAction {
    /// The approval id (the button's value).
    pub approval_id: String,
    /// Approve or deny.
    pub approve: bool,
    /// Who pressed it: `slack:<username>` (or `slack:<user id>`), as approvers are configured.
    pub approver: String,
}

/// Reads the button press out of an interaction callback body.
pub fn slack_action(body: &[u8]) -> Result<SlackAction, String> {
    let payload = form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| "no `payload` field".to_string())?;
    let v: Value =
        serde_json::from_str(&payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    let action = v
        .pointer("/actions/0")
        .ok_or_else(|| "no action in the payload".to_string())?;
    let approve = match action.get("action_id").and_then(Value::as_str) {
        Some(SLACK_APPROVE) => true,
        Some(SLACK_DENY) => false,
        other => return Err(format!("unknown action {other:?}")),
    };
    let approval_id = action
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| "the button has no approval id".to_string())?
        .to_string();
    let user = v
        .pointer("/user/username")
        .or_else(|| v.pointer("/user/id"))
        .and_then(Value::as_str)
        .ok_or_else(|| "no user in the payload".to_string())?;
    Ok(SlackAction {
        approval_id,
        approve,
        approver: format!("slack:{user}"),
    })
}
