//! Checks across rules: rules that conflict (no call can satisfy both), duplicated rules,
//! overrides that waive nothing, and grants of tools no catalog declares.

use std::collections::BTreeSet;

use serde_json::Value;

use super::rules::{RuleInfo, State};
use super::LoadedFile;
use crate::diag::Diagnostic;
use crate::model::{Condition, Mode};

/// Runs every cross-rule check.
pub(crate) fn lint(state: &State, files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    conflicts_and_duplicates(state, files, diags);
    waivers(state, files, diags);
    undeclared_tools(files, state, diags);
    unusual_agent_ids(files, diags);
}

/// Agent ids are matched exactly against what callers (and their credentials) present, so an
/// id with characters that look like others (a Cyrillic `і` in `fіnance-agent`) or that other
/// tools treat specially (`/`, `|`, spaces) is easy to mistake: a warning names the first one.
fn unusual_agent_ids(files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@');
    for f in files {
        for aid in f.policy.agents.keys() {
            let Some((at, c)) = aid.chars().enumerate().find(|(_, c)| !plain(*c)) else {
                continue;
            };
            let ptr = format!("/agents/{}", crate::source::pointer_token(aid));
            diags.push(
                Diagnostic::warning(
                    "unusual-id",
                    &f.doc.file,
                    f.doc.key_span_at(&ptr),
                    format!(
                        "agent id `{aid}` has {c:?} (U+{:04X}) at character {}: only ASCII \
                         letters, digits, `_`, `-`, `.`, `:` and `@` are expected",
                        c as u32,
                        at + 1
                    ),
                )
                .with_hint(
                    "an id that looks like another can be mistaken for it; rename the agent",
                ),
            );
        }
    }
}

fn at(files: &[LoadedFile], info: &RuleInfo, code: &'static str, msg: String) -> Diagnostic {
    let f = &files[info.origin.file];
    Diagnostic::error(
        code,
        &f.doc.file,
        f.doc.key_span_at(&format!("{}/id", info.origin.pointer)),
        msg,
    )
}

/// Two rules can meet on one call when tenant and tool/action scopes overlap and, for agent rules,
/// the agent is the same or one of them is tenant-wide.
fn overlap(a: &RuleInfo, b: &RuleInfo) -> bool {
    let same = |x: &Option<String>, y: &Option<String>| x.is_none() || y.is_none() || x == y;
    let action = |x: &RuleInfo| x.action.clone().filter(|a| a != "*");
    // The tools (actions) a rule can meet: its place, narrowed by its selector; None = any.
    let reach = |place: Option<String>, sel: &Option<Vec<String>>| -> Option<BTreeSet<String>> {
        match (place, sel) {
            (Some(p), _) => Some([p].into()),
            (None, Some(list)) => Some(list.iter().cloned().collect()),
            (None, None) => None,
        }
    };
    let meet = |x: Option<BTreeSet<String>>, y: Option<BTreeSet<String>>| match (x, y) {
        (Some(x), Some(y)) => !x.is_disjoint(&y),
        _ => true,
    };
    a.tenant == b.tenant
        && same(&a.agent, &b.agent)
        && meet(
            reach(a.tool.clone(), &a.rule.tools),
            reach(b.tool.clone(), &b.rule.tools),
        )
        && meet(
            reach(action(a), &a.rule.actions),
            reach(action(b), &b.rule.actions),
        )
}

/// The values a condition admits, when that is a finite set.
fn admitted(c: &Condition) -> Option<BTreeSet<String>> {
    match (&c.equals, &c.one_of) {
        (Some(v), _) => Some([v.to_string()].into()),
        (None, Some(list)) => Some(list.iter().map(Value::to_string).collect()),
        _ => None,
    }
}

fn bounds(c: &Condition) -> (Option<f64>, Option<f64>) {
    let lo = c
        .min
        .as_ref()
        .or(c.range.as_ref().map(|r| &r[0]))
        .and_then(|n| n.as_f64());
    let hi = c
        .max
        .as_ref()
        .or(c.range.as_ref().map(|r| &r[1]))
        .and_then(|n| n.as_f64());
    (lo, hi)
}

fn conflicts_and_duplicates(state: &State, files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    let hard: Vec<&RuleInfo> = state
        .infos
        .iter()
        .filter(|i| i.rule.redact.is_none() && i.rule.when.is_empty() && i.mode == Mode::Enforce)
        .collect();
    for (n, a) in hard.iter().enumerate() {
        for b in &hard[n + 1..] {
            if !overlap(a, b) {
                continue;
            }
            if a.rule.require == b.rule.require
                && a.rule.on_violation.unwrap_or_default()
                    == b.rule.on_violation.unwrap_or_default()
                && a.tool == b.tool
                && a.action == b.action
                && a.rule.tools == b.rule.tools
                && a.rule.actions == b.rule.actions
            {
                diags.push(
                    Diagnostic {
                        severity: crate::diag::Severity::Warning,
                        ..at(
                            files,
                            b,
                            "duplicate-rule",
                            format!("rule `{}` repeats rule `{}`", b.id, a.id),
                        )
                    }
                    .with_hint("remove one of them, or merge their reasons"),
                );
                continue;
            }
            let same_outcome =
                a.rule.on_violation.unwrap_or_default() == b.rule.on_violation.unwrap_or_default();
            if !same_outcome {
                continue;
            }
            for (path, ca) in &a.rule.require {
                let Some(cb) = b.rule.require.get(path) else {
                    continue;
                };
                if ca.optional || cb.optional {
                    continue;
                }
                let disjoint_sets =
                    matches!((admitted(ca), admitted(cb)), (Some(x), Some(y)) if x.is_disjoint(&y));
                let (alo, ahi) = bounds(ca);
                let (blo, bhi) = bounds(cb);
                let disjoint_range = matches!((alo, bhi), (Some(l), Some(h)) if l > h)
                    || matches!((blo, ahi), (Some(l), Some(h)) if l > h);
                if disjoint_sets || disjoint_range {
                    diags.push(
                        at(files, b, "conflicting-rules", format!("rules `{}` and `{}` conflict: no value of `{path}` satisfies both, so every such call is blocked", a.id, b.id))
                            .with_hint("loosen one of them, or scope them to different agents or actions"),
                    );
                }
            }
        }
    }
}

fn waivers(state: &State, files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    const BUILTIN: &[&str] = &[
        "data_class_region_not_allowed",
        "data_class_tool_not_allowed",
        "data_class_model_not_allowed",
        "data_class_unauthorized_for_user",
        "budget_argument_invalid",
    ];
    for (tenant, name, origin) in &state.waivers {
        let known = state
            .waivable
            .get(tenant)
            .is_some_and(|w| w.iter().any(|x| x == name));
        if !known {
            let f = &files[origin.file];
            let mut d = Diagnostic::warning(
                "waives-nothing",
                &f.doc.file,
                f.doc.span_at(&origin.pointer),
                format!(
                    "no rule of tenant `{tenant}` has id or reason `{name}`: this waives nothing"
                ),
            );
            if BUILTIN.contains(&name.as_str()) {
                d = d.with_hint(
                    "built-in compliance checks have the highest priority and cannot be waived",
                );
            } else if let Some(s) = state
                .waivable
                .get(tenant)
                .and_then(|w| crate::diag::did_you_mean(name, w.iter().map(String::as_str)))
            {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
}

fn undeclared_tools(files: &[LoadedFile], state: &State, diags: &mut Vec<Diagnostic>) {
    for f in files {
        let Some(t) = state.tenants.get(&f.policy.tenant) else {
            continue;
        };
        if t.catalog.is_empty() {
            continue;
        }
        let mut granted: Vec<(String, String)> = Vec::new();
        if let Some(d) = &f.policy.defaults {
            granted.extend(d.tools.keys().map(|tool| {
                (
                    tool.clone(),
                    format!("/defaults/tools/{}", crate::source::pointer_token(tool)),
                )
            }));
        }
        for (aid, a) in &f.policy.agents {
            granted.extend(a.tools.keys().map(|tool| {
                (
                    tool.clone(),
                    format!(
                        "/agents/{}/tools/{}",
                        crate::source::pointer_token(aid),
                        crate::source::pointer_token(tool)
                    ),
                )
            }));
        }
        for (tool, ptr) in granted {
            if !t.catalog.contains_key(&tool) {
                let hint = crate::diag::did_you_mean(&tool, t.catalog.keys().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        "declare it under `tools:` so its actions and arguments can be checked"
                            .into()
                    });
                diags.push(
                    Diagnostic::warning(
                        "unknown-tool",
                        &f.doc.file,
                        f.doc.key_span_at(&ptr),
                        format!(
                            "tool `{tool}` is not declared in any tool catalog of tenant `{}`",
                            f.policy.tenant
                        ),
                    )
                    .with_hint(hint),
                );
            }
        }
    }
}
