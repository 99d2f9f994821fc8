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

/// Longest string argument shown whole: a longer one is cut, so that one padded value cannot
/// push the others (a payment's recipient, say) out of the message the approver reads.
const SHOWN_VALUE_CHARS: usize = 300;

fn shorten(v: &Value) -> Value {
    match v {
        Value::String(s) if s.chars().count() > SHOWN_VALUE_CHARS => {
            let head: String = s.chars().take(SHOWN_VALUE_CHARS).collect();
            Value::String(format!("{head}… ({} characters)", s.chars().count()))
        }
        Value::Array(a) => Value::Array(a.iter().map(shorten).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shorten(v))).collect()),
        other => other.clone(),
    }
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` escaped as Slack requires, so text the agent chose
/// (its arguments) cannot become a mention (`<!channel>`) or a link (`<https://…|Open>`).
fn slack_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for a Teams TextBlock (a Markdown subset): brackets, parentheses and emphasis marks
/// escaped, so an argument cannot become a link (`[Approve](https://…)`) or formatting.
fn teams_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '[' | ']' | '(' | ')' | '*' | '_' | '`' | '<' | '>' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The call's arguments as the approver reads them, escaped by `escape` for the channel and
/// then cut to fit a message (Slack sections hold at most 3,000 characters): cut after
/// escaping, so the escapes cannot push it past the limit, and never inside an escape.
fn arguments(a: &Approval, escape: fn(&str) -> String) -> String {
    let text =
        escape(&serde_json::to_string_pretty(&shorten(&a.call.arguments)).unwrap_or_default());
    let mut cut: String = text.chars().take(2_800).collect();
    if cut.len() == text.len() {
        return cut;
    }
    // An escape cut in two (`&am`, a lone `\`) is dropped whole.
    if let Some(amp) = cut.rfind('&').filter(|i| !cut[*i..].contains(';')) {
        cut.truncate(amp);
    }
    if cut.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
        cut.pop();
    }
    format!("{cut}\n… (cut: the full call is on the approval's page)")
}

/// The Slack message for a pending approval (post it to an incoming webhook). `link` is the
/// approval's page, if the gateway serves one.
pub fn slack_message(a: &Approval, link: Option<&str>) -> Value {
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_text(&summary(a))}}),
        // Inside the code block the agent's text cannot close it either.
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "```{}```", arguments(a, slack_text).replace("```", "'''"))}}),
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
                {"type": "TextBlock", "wrap": true, "fontType": "Monospace", "text": arguments(a, teams_text)},
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
    /// Who pressed it: `slack:<user id>` (Slack's member id, e.g. `slack:U012AB3CD`), as
    /// approvers are configured. Not the username: a Slack user can change theirs, and take one
    /// another member gave up; the member id never changes.
    pub approver: String,
    /// The Slack workspace (team id) the press came from, when the payload says.
    pub team: Option<String>,
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
        .pointer("/user/id")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| "no user id in the payload".to_string())?;
    let team = v
        .pointer("/team/id")
        .or_else(|| v.pointer("/user/team_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(SlackAction {
        approval_id,
        approve,
        approver: format!("slack:{user}"),
        team,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;

    fn approval(arguments: Value) -> Approval {
        crate::test_approval(arguments, State::Pending)
    }

    /// What the agent wrote cannot become a mention, a link, or hide another argument.
    #[test]
    fn agent_text_is_escaped_and_cannot_push_arguments_out() {
        let a = approval(json!({
            "description": format!("```\n<!channel> <https://evil.example/|Open in Warden> [Approve](https://evil.example) {}", " ".repeat(3000)),
            "recipient": "acct_ATTACKER",
        }));
        let slack = slack_message(&a, None).to_string();
        assert!(
            !slack.contains("<!channel>") && !slack.contains("<https://evil"),
            "{slack}"
        );
        assert!(slack.contains("&lt;!channel&gt;"), "{slack}");
        assert!(
            slack.contains("acct_ATTACKER"),
            "a padded argument cannot hide the recipient"
        );
        let msg = slack_message(&a, None);
        let code = msg["blocks"][1]["text"]["text"].as_str().unwrap();
        assert_eq!(
            code.matches("```").count(),
            2,
            "the code block is not closed early: {code}"
        );
        let teams = teams_card(&a, None).to_string();
        assert!(teams.contains(r"acct\\_ATTACKER"), "{teams}");
        assert!(!teams.contains("[Approve](https"), "{teams}");
    }
}
