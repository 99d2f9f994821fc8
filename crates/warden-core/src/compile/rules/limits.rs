//! Rate limits, budgets and workflow limits (turns, tokens, session length) per scope.

use serde_json::{json, Value};

use super::{mode_name, selector, Walk};
use crate::compile::cond::{parse_window, ArgDecls};
use crate::model::{Limit, LimitScope, WorkflowLimits};
use crate::paths::InputPath;

impl Walk<'_, '_> {
    pub(super) fn limit(
        &mut self,
        l: &Limit,
        id: &str,
        ptr: &str,
        decls: &ArgDecls<'_>,
        selectors: bool,
    ) -> Option<Value> {
        let reason = l.reason.clone().unwrap_or_else(|| {
            if l.budget.is_some() {
                "budget_exceeded"
            } else {
                "rate_limit_exceeded"
            }
            .into()
        });
        let codes_ok = self.check_codes(&l.id, &reason, ptr);
        let claimed = self.claim(id, ptr);
        if !selectors && l.tools.is_some() {
            self.sink.error(
                "misplaced-key",
                &format!("{ptr}/tools"),
                "`tools` selects calls only in `defaults.limits` and agent-wide `limits`".into(),
                None,
            );
        }
        let window = parse_window(&l.window);
        if window.is_none() {
            self.sink.error_at_value(
                "invalid-window",
                &format!("{ptr}/window"),
                format!("`{}` is not a window length", l.window),
                Some("write a number and a unit: `30s`, `15m`, `1h`, `1d`, `1w`".into()),
            );
        }
        if l.max.as_f64().is_none_or(|m| m < 0.0) {
            self.sink.error_at_value(
                "invalid-limit",
                &format!("{ptr}/max"),
                "`max` must be zero or more".into(),
                None,
            );
        }
        let (kind, path, label) = match &l.budget {
            None => ("rate", Value::Null, Value::Null),
            Some(p) => match InputPath::parse(p) {
                Ok(ip) if !ip.is_wild() => {
                    if let Some(name) = ip.arg_name() {
                        if !decls.is_empty() && !decls.iter().any(|d| d.contains_key(name)) {
                            self.sink.error_at_value(
                                "never-matches",
                                &format!("{ptr}/budget"),
                                format!("the tool action declares no argument `{name}` to sum"),
                                None,
                            );
                        }
                    }
                    ("budget", ip.opa_path(), json!(p))
                }
                Ok(_) => {
                    self.sink.error_at_value(
                        "invalid-path",
                        &format!("{ptr}/budget"),
                        "a budget sums one value; `[*]` is not allowed".into(),
                        None,
                    );
                    return None;
                }
                Err(e) => {
                    self.sink.error_at_value(
                        "invalid-path",
                        &format!("{ptr}/budget"),
                        e.message,
                        e.hint,
                    );
                    return None;
                }
            },
        };
        let per = match l.per.unwrap_or_default() {
            LimitScope::Agent => "agent",
            LimitScope::AgentTool => "agent_tool",
            LimitScope::Tenant => "tenant",
        };
        let window = window?;
        if !(codes_ok && claimed) {
            return None;
        }
        let what = if kind == "rate" {
            format!("{} calls", l.max)
        } else {
            format!(
                "a total of {} in {}",
                l.max,
                l.budget.clone().unwrap_or_default()
            )
        };
        let w = self.state.waivable.entry(self.tenant.clone()).or_default();
        w.push(id.to_string());
        w.push(reason.clone());
        Some(json!({
            "id": id,
            "kind": kind,
            "per": per,
            "max": l.max,
            "window_seconds": window,
            "path": path,
            "label": label,
            "key": format!("1|{id}|{reason}"),
            "vio": {
                "rule": id,
                "reason": reason,
                "outcome": "rate_limited",
                "message": format!("limit `{}` allows {what} per {}", l.id, l.window),
                "remediation": l.remediation.clone().unwrap_or_else(|| format!("Wait for the {} window to roll over, or ask for a higher limit.", l.window)),
            },
            "mode": mode_name(l.mode.unwrap_or(self.mode)),
            "priority": 0,
            "tools": selector(&l.tools),
            "actions": Value::Null,
        }))
    }

    pub(super) fn workflow_rules(
        &mut self,
        wl: &WorkflowLimits,
        id_base: &str,
        ptr: &str,
    ) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let mode = mode_name(wl.mode.unwrap_or(self.mode));
        for (key, path, reason, max) in [
            (
                "max_turns",
                "context.turn_count",
                "turn_limit_exceeded",
                wl.max_turns,
            ),
            (
                "max_tokens",
                "context.cumulative_tokens",
                "token_limit_exceeded",
                wl.max_tokens,
            ),
            (
                "max_session_age_seconds",
                "context.session_age_seconds",
                "session_age_exceeded",
                wl.max_session_age_seconds,
            ),
        ] {
            let Some(max) = max else { continue };
            let id = format!("{id_base}/{key}");
            if !self.claim(&id, &format!("{ptr}/{key}")) {
                continue;
            }
            let loc = match InputPath::parse(path) {
                Ok(p) => p.compiled(),
                Err(_) => continue,
            };
            let mut check = loc.as_object().cloned().unwrap_or_default();
            check.insert("op".into(), json!("max"));
            check.insert("value".into(), json!(max));
            check.insert("absent_ok".into(), json!(true));
            check.insert("label".into(), json!(path));
            out.push((
                id.clone(),
                json!({
                    "id": id,
                    "kind": "check",
                    "key": format!("0|{id}|{reason}"),
                    "vio": {
                        "rule": id,
                        "reason": reason,
                        "outcome": "deny",
                        "message": format!("{path} must be at most {max}"),
                        "remediation": "Start a new session or hand the task to a person.",
                    },
                    "mode": mode,
                    "priority": 0,
                    "tools": Value::Null,
                    "actions": Value::Null,
                    "when": [],
                    "require": [Value::Object(check)],
                    "redact": Value::Null,
                }),
            ));
            let w = self.state.waivable.entry(self.tenant.clone()).or_default();
            w.push(id);
            w.push(reason.to_string());
        }
        out
    }
}
