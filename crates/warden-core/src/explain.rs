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

fn selector_text(tools: &Option<Vec<String>>, actions: &Option<Vec<String>>) -> String {
    match (tools, actions) {
        (None, None) => "For all its calls".into(),
        (Some(t), None) => format!("For calls to {}", strs(t)),
        (None, Some(a)) => format!("For actions {}", strs(a)),
        (Some(t), Some(a)) => format!("For calls to {} actions {}", strs(t), strs(a)),
    }
}

/// Every rule a policy file declares: tenant defaults and agents, at every level.
fn tenant_rules(p: &crate::model::PolicyFile) -> Vec<&crate::model::Rule> {
    fn tools(t: &BTreeMap<String, BTreeMap<String, ActionPolicy>>) -> Vec<&crate::model::Rule> {
        t.values()
            .flat_map(|a| a.values())
            .flat_map(|ap| &ap.rules)
            .collect()
    }
    let mut out = Vec::new();
    if let Some(d) = &p.defaults {
        out.extend(&d.rules);
        out.extend(tools(&d.tools));
    }
    for a in p.agents.values() {
        out.extend(&a.rules);
        out.extend(tools(&a.tools));
    }
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One granted (or forbidden) action; `tool_forbidden`: the tool's `"*"` is forbidden, which
/// cancels every action of it.
fn action_block(
    out: &mut String,
    tool: &str,
    action: &str,
    aps: &[&ActionPolicy],
    tool_forbidden: bool,
) {
    let what = if action == "*" {
        format!("any action of `{tool}`")
    } else {
        format!("`{tool}` → `{action}`")
    };
    if tool_forbidden && action != "*" {
        let _ = writeln!(
            out,
            "- **Forbidden:** {what} (granted, but every action of `{tool}` is forbidden)."
        );
        return;
    }
    if aps.iter().any(|ap| ap.forbid) {
        let _ = writeln!(out, "- **Forbidden:** {what}.");
        return;
    }
    let _ = writeln!(out, "- **May call** {what}.");
    for ap in aps {
        for r in &ap.rules {
            let _ = writeln!(out, "  - {}", rule_text(r));
        }
        for l in &ap.limits {
            let _ = writeln!(out, "  - {}", limit_text(l));
        }
    }
}

type Grants<'a> = BTreeMap<(&'a str, &'a str), Vec<&'a ActionPolicy>>;

/// Whether `tool`'s `"*"` is forbidden among these grants.
fn forbids_all(g: &Grants<'_>, tool: &str) -> bool {
    g.get(&(tool, "*"))
        .is_some_and(|aps| aps.iter().any(|ap| ap.forbid))
}

fn grants<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<String, BTreeMap<String, ActionPolicy>>>,
) -> Grants<'a> {
    let mut out: Grants<'a> = BTreeMap::new();
    for m in maps {
        for (tool, acts) in m {
            for (a, ap) in acts {
                out.entry((tool.as_str(), a.as_str())).or_default().push(ap);
            }
        }
    }
    out
}

/// The Markdown summary of every tenant, agent and tool in `files`, plus the custom Rego modules.
pub fn markdown(files: &[LoadedFile], custom: &[String], project: &str, version: &str) -> String {
    let mut tenants: BTreeMap<&str, Vec<&LoadedFile>> = BTreeMap::new();
    for f in files {
        tenants.entry(f.policy.tenant.as_str()).or_default().push(f);
    }
    let mut out = format!("# What the `{project}` agent policies allow\n\nPolicy version {version}. Anything not listed here is **denied**: unknown tenants, unknown agents, and tools or actions not granted to an agent.\n");
    for (tenant, fs) in tenants {
        let _ = writeln!(out, "\n## Tenant `{tenant}`\n");
        for f in fs.iter().filter(|f| f.policy.mode == Mode::Shadow) {
            let _ = writeln!(
                out,
                "*`{}` is in shadow mode: its rules are reported, not enforced.*\n",
                f.doc.file
            );
        }
        let defaults: Vec<&crate::model::Defaults> = fs
            .iter()
            .filter_map(|f| f.policy.defaults.as_ref())
            .collect();
        if defaults
            .iter()
            .any(|d| !d.tools.is_empty() || !d.rules.is_empty() || !d.limits.is_empty())
        {
            let _ = writeln!(out, "### Every agent of the tenant\n");
            let g = grants(defaults.iter().map(|d| &d.tools));
            for ((tool, a), aps) in &g {
                action_block(&mut out, tool, a, aps, forbids_all(&g, tool));
            }
            for d in &defaults {
                for r in &d.rules {
                    let _ = writeln!(
                        out,
                        "- {}: {}",
                        selector_text(&r.tools, &r.actions),
                        rule_text(r)
                    );
                }
                for l in &d.limits {
                    let _ = writeln!(out, "- {}", limit_text(l));
                }
            }
            out.push('\n');
        }
        let mut agents: BTreeMap<&str, Vec<&crate::model::AgentPolicy>> = BTreeMap::new();
        for f in &fs {
            for (a, p) in &f.policy.agents {
                agents.entry(a.as_str()).or_default().push(p);
            }
        }
        for (agent, parts) in agents {
            let team = parts
                .iter()
                .find_map(|p| p.owner_team.clone())
                .map(|t| format!(" (team `{t}`)"))
                .unwrap_or_default();
            let _ = writeln!(out, "### Agent `{agent}`{team}\n");
            let g = grants(parts.iter().map(|p| &p.tools));
            if g.is_empty() {
                let _ = writeln!(
                    out,
                    "- No tools of its own (only what every agent of the tenant may call)."
                );
            }
            for ((tool, a), aps) in &g {
                action_block(&mut out, tool, a, aps, forbids_all(&g, tool));
            }
            for p in &parts {
                for r in &p.rules {
                    let _ = writeln!(
                        out,
                        "- {}: {}",
                        selector_text(&r.tools, &r.actions),
                        rule_text(r)
                    );
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
        let scopes: Vec<_> = fs.iter().flat_map(|f| &f.policy.scopes).collect();
        let classes: Vec<_> = fs.iter().flat_map(|f| &f.policy.data_classes).collect();
        if !scopes.is_empty() || !classes.is_empty() {
            let _ = writeln!(out, "### Data and workflow rules for every agent\n");
            for (scope, w) in scopes {
                let _ = writeln!(
                    out,
                    "- Agents in scope `{scope}`: {}; beyond that calls are **denied**.",
                    workflow_text(w).join(", ")
                );
            }
            for (class, dc) in classes {
                let mut where_ = Vec::new();
                if let Some(r) = &dc.regions {
                    where_.push(format!("only in regions {}", strs(r)));
                }
                if let Some(t) = &dc.tools {
                    where_.push(format!("only to tools {}", strs(t)));
                }
                if let Some(m) = &dc.models {
                    where_.push(format!(
                        "only to models {} (when a call names one)",
                        strs(m)
                    ));
                }
                let sep = if where_.is_empty() { "" } else { ", " };
                let _ = writeln!(
                    out,
                    "- Data class `{class}` may be used only by users authorized for it{sep}{}.",
                    where_.join(", ")
                );
            }
            out.push('\n');
        }
        let overrides: Vec<_> = fs.iter().flat_map(|f| &f.policy.overrides).collect();
        if !overrides.is_empty() {
            let _ = writeln!(out, "### Exceptions\n");
            let rules: Vec<&crate::model::Rule> =
                fs.iter().flat_map(|f| tenant_rules(&f.policy)).collect();
            for o in overrides {
                let scope = selector_text(&o.tools, &o.actions)
                    .replacen("For", "for", 1)
                    .replace("all its calls", "all calls");
                let when = if o.when.is_empty() {
                    String::new()
                } else {
                    let c: Vec<String> = o.when.iter().map(|(p, c)| condition_text(p, c)).collect();
                    format!(" when {}", c.join(" and "))
                };
                let until = o
                    .expires
                    .as_ref()
                    .map(|e| format!(" (until {e})"))
                    .unwrap_or_default();
                let priority = o.priority.unwrap_or(10);
                // Waived entries (rule ids or reason codes) whose rules it cannot reach.
                let out_of_reach: Vec<String> = o
                    .waive
                    .iter()
                    .filter_map(|w| {
                        let top = rules
                            .iter()
                            .filter(|r| {
                                r.id == *w || r.reason == *w || w.ends_with(&format!("/{}", r.id))
                            })
                            .map(|r| r.priority.unwrap_or(0))
                            .max()?;
                        (top >= priority).then(|| format!("`{w}` (priority {top})"))
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "- **`{}`** for {}, {scope}{when}: waives {} of priority below {priority}{until}. Why: {}",
                    o.id,
                    strs(&o.agents),
                    strs(&o.waive),
                    one_line(&o.justification)
                );
                if !out_of_reach.is_empty() {
                    let _ = writeln!(
                        out,
                        "  - **Waives nothing of** {}: those rules' priority is not below the override's {priority}.",
                        out_of_reach.join(", ")
                    );
                }
            }
            out.push('\n');
        }
    }
    if !custom.is_empty() {
        let _ = writeln!(out, "\n## Custom Rego\n\nThese modules can add denials or approvals to any call; read them for details: {}.", strs(custom));
    }
    out
}
