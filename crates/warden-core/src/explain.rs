//! Plain-English Markdown summaries of policies, for compliance officers who do not read Rego.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::compile::LoadedFile;
use crate::model::{ActionPolicy, Condition, Limit, Mode, Rule, ViolationOutcome, WorkflowLimits};

fn val(v: &Value) -> String {
    v.as_str()
        .map(|s| format!("`{s}`"))
        .unwrap_or_else(|| format!("`{v}`"))
}

fn list(vs: &[Value]) -> String {
    vs.iter().map(val).collect::<Vec<_>>().join(", ")
}

fn strs(vs: &[String]) -> String {
    vs.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One condition in words, e.g. "`args.amount` is at most 5000".
pub fn condition_text(path: &str, c: &Condition) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &c.equals {
        parts.push(format!("is {}", val(v)));
    }
    if let Some(v) = &c.not_equals {
        parts.push(format!("is not {}", val(v)));
    }
    if let Some(l) = &c.one_of {
        parts.push(format!("is one of {}", list(l)));
    }
    if let Some(l) = &c.not_in {
        parts.push(format!("is none of {}", list(l)));
    }
    if let Some([lo, hi]) = &c.range {
        parts.push(format!("is between {lo} and {hi}"));
    }
    if let Some(v) = &c.min {
        parts.push(format!("is at least {v}"));
    }
    if let Some(v) = &c.max {
        parts.push(format!("is at most {v}"));
    }
    if let Some(r) = &c.matches {
        parts.push(format!("matches the pattern `{r}`"));
    }
    if let Some(r) = &c.not_matches {
        parts.push(format!("does not match the pattern `{r}`"));
    }
    if let Some(n) = c.min_length {
        parts.push(format!("is at least {n} long"));
    }
    if let Some(n) = c.max_length {
        parts.push(format!("is at most {n} long"));
    }
    if let Some(d) = &c.domains {
        parts.push(format!("points to {} (or a subdomain)", strs(d)));
    }
    if let Some(p) = &c.path_prefixes {
        parts.push(format!("is a path under {}", strs(p)));
    }
    if let Some(p) = &c.deny_path_prefixes {
        parts.push(format!("is not a path under {}", strs(p)));
    }
    if let Some(v) = &c.contains {
        parts.push(format!("contains {}", val(v)));
    }
    if let Some(l) = &c.subset_of {
        parts.push(format!("only holds {}", list(l)));
    }
    if let Some(p) = &c.subset_of_path {
        parts.push(format!("only holds values found in `{p}`"));
    }
    if let Some(t) = c.value_type {
        parts.push(format!("is of type {}", format!("{t:?}").to_lowercase()));
    }
    if let Some(w) = &c.within {
        let days = w
            .days
            .as_ref()
            .map(|d| d.join(", "))
            .unwrap_or_else(|| "any day".into());
        let hours = w.hours.clone().unwrap_or_else(|| "any time".into());
        parts.push(format!(
            "falls on {days}, {hours} ({})",
            w.timezone.as_deref().unwrap_or("UTC")
        ));
    }
    let optional = if c.optional { " (when present)" } else { "" };
    format!("`{path}` {}{optional}", parts.join(" and "))
}

fn rule_text(r: &Rule) -> String {
    let shadow = if r.mode == Some(Mode::Shadow) {
        " *(shadow: reported, not enforced)*"
    } else {
        ""
    };
    let when = if r.when.is_empty() {
        String::new()
    } else {
        format!(
            "When {}: ",
            r.when
                .iter()
                .map(|(p, c)| condition_text(p, c))
                .collect::<Vec<_>>()
                .join(" and ")
        )
    };
    if let Some(red) = &r.redact {
        let pats: Vec<String> = red
            .patterns
            .iter()
            .map(|p| match p {
                crate::model::PatternRef::Builtin(n) => n.clone(),
                crate::model::PatternRef::Custom(c) => c.name.clone(),
            })
            .collect();
        let what = if pats.is_empty() {
            "the whole field".to_string()
        } else {
            pats.join(", ")
        };
        return format!(
            "{when}**Redacts** {what} in {} before the call goes out (`{}`).{shadow}",
            strs(&red.paths),
            r.reason
        );
    }
    let req = r
        .require
        .iter()
        .map(|(p, c)| condition_text(p, c))
        .collect::<Vec<_>>()
        .join(", and ");
    let consequence = match r.on_violation.unwrap_or_default() {
        ViolationOutcome::Deny => "otherwise the call is **denied**",
        ViolationOutcome::ApprovalNeeded => "otherwise a person must **approve** the call",
    };
    let msg = r
        .message
        .as_ref()
        .map(|m| format!(" — {}", m.trim_end_matches('.')))
        .unwrap_or_default();
    format!(
        "{when}Requires that {req}; {consequence} (`{}`){msg}.{shadow}",
        r.reason
    )
}

fn limit_text(l: &Limit) -> String {
    let per = match l.per.unwrap_or_default() {
        crate::model::LimitScope::Agent => "per agent",
        crate::model::LimitScope::AgentTool => "per agent and tool",
        crate::model::LimitScope::Tenant => "for the whole tenant",
    };
    match &l.budget {
        None => format!(
            "At most {} calls every {} {per}; further calls are **rate limited**.",
            l.max, l.window
        ),
        Some(p) => format!(
            "At most a total of {} in `{p}` every {} {per}; further calls are **rate limited**.",
            l.max, l.window
        ),
    }
}

fn workflow_text(w: &WorkflowLimits) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(n) = w.max_turns {
        v.push(format!("at most {n} conversation turns"));
    }
    if let Some(n) = w.max_tokens {
        v.push(format!("at most {n} tokens"));
    }
    if let Some(n) = w.max_session_age_seconds {
        v.push(format!("sessions no older than {n} seconds"));
    }
    v
}

fn action_block(out: &mut String, tool: &str, action: &str, ap: &ActionPolicy) {
    let what = if action == "*" {
        format!("any action of `{tool}`")
    } else {
        format!("`{tool}` → `{action}`")
    };
    if ap.forbid {
        let _ = writeln!(out, "- **Forbidden:** {what}.");
        return;
    }
    let _ = writeln!(out, "- **May call** {what}.");
    for r in &ap.rules {
        let _ = writeln!(out, "  - {}", rule_text(r));
    }
    for l in &ap.limits {
        let _ = writeln!(out, "  - {}", limit_text(l));
    }
}

/// The Markdown summary of every tenant, agent and tool in `files`.
pub fn markdown(files: &[LoadedFile], project: &str, version: &str) -> String {
    let mut tenants: BTreeMap<&str, Vec<&LoadedFile>> = BTreeMap::new();
    for f in files {
        tenants.entry(f.policy.tenant.as_str()).or_default().push(f);
    }
    let mut out = format!("# What the `{project}` agent policies allow\n\nPolicy version {version}. Anything not listed here is **denied**: unknown tenants, unknown agents and tools or actions not granted to an agent.\n");
    for (tenant, fs) in tenants {
        let _ = writeln!(out, "\n## Tenant `{tenant}`\n");
        for f in &fs {
            if f.policy.mode == Mode::Shadow {
                let _ = writeln!(
                    out,
                    "*`{}` is in shadow mode: its rules are reported, not enforced.*\n",
                    f.doc.file
                );
            }
        }
        for f in &fs {
            let Some(d) = &f.policy.defaults else {
                continue;
            };
            if !d.tools.is_empty() || !d.rules.is_empty() || !d.limits.is_empty() {
                let _ = writeln!(out, "### Every agent ({})\n", f.doc.file);
                for (tool, acts) in &d.tools {
                    for (a, ap) in acts {
                        action_block(&mut out, tool, a, ap);
                    }
                }
                for r in &d.rules {
                    let _ = writeln!(out, "- {}", rule_text(r));
                }
                for l in &d.limits {
                    let _ = writeln!(out, "- {}", limit_text(l));
                }
                out.push('\n');
            }
        }
        let mut agents: BTreeMap<&str, Vec<(&LoadedFile, &crate::model::AgentPolicy)>> =
            BTreeMap::new();
        for f in &fs {
            for (a, p) in &f.policy.agents {
                agents.entry(a.as_str()).or_default().push((f, p));
            }
        }
        for (agent, parts) in agents {
            let team = parts
                .iter()
                .find_map(|(_, p)| p.owner_team.clone())
                .map(|t| format!(" (team `{t}`)"))
                .unwrap_or_default();
            let _ = writeln!(out, "### Agent `{agent}`{team}\n");
            for (_, p) in &parts {
                for (tool, acts) in &p.tools {
                    for (a, ap) in acts {
                        action_block(&mut out, tool, a, ap);
                    }
                }
                for r in &p.rules {
                    let _ = writeln!(out, "- For all its calls: {}", rule_text(r));
                }
                for l in &p.limits {
                    let _ = writeln!(out, "- {}", limit_text(l));
                }
                if let Some(w) = &p.workflow {
                    let _ = writeln!(out, "- Workflow limits: {}.", workflow_text(w).join(", "));
                }
            }
            out.push('\n');
        }
        for f in &fs {
            for (scope, w) in &f.policy.scopes {
                let _ = writeln!(
                    out,
                    "- Agents in scope `{scope}`: {}; beyond that calls are **denied**.",
                    workflow_text(w).join(", ")
                );
            }
            for (class, dc) in &f.policy.data_classes {
                let mut where_ = Vec::new();
                if let Some(r) = &dc.regions {
                    where_.push(format!("only in regions {}", strs(r)));
                }
                if let Some(t) = &dc.tools {
                    where_.push(format!("only to tools {}", strs(t)));
                }
                if let Some(m) = &dc.models {
                    where_.push(format!("only to models {}", strs(m)));
                }
                let _ = writeln!(
                    out,
                    "- Data class `{class}` may be used only by users authorized for it{}{}.",
                    if where_.is_empty() { "" } else { ", " },
                    where_.join(", ")
                );
            }
            for o in &f.policy.overrides {
                let _ = writeln!(
                    out,
                    "- **Exception `{}`** for {}: waives {} — {}{}.",
                    o.id,
                    strs(&o.agents),
                    strs(&o.waive),
                    o.justification,
                    o.expires
                        .as_ref()
                        .map(|e| format!(" (until {e})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    out
}
