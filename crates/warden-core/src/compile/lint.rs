//! Checks across rules: rules that conflict (no call can satisfy both), duplicated rules,
//! overrides that waive nothing, and grants of tools no catalog declares.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::rules::{RuleInfo, State};
use super::LoadedFile;
use crate::diag::Diagnostic;
use crate::model::{Condition, Mode};

/// Runs every cross-rule check.
pub(crate) fn lint(state: &State, files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    conflicts_and_duplicates(state, files, diags);
    waivers(state, files, diags);
    unknown_override_agents(state, files, diags);
    agents_without_grants(files, state, diags);
    forbidden_grants(files, state, diags);
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

/// What the pairwise checks need of a rule, worked out once per rule (not once per pair).
struct Lintable<'a> {
    info: &'a RuleInfo,
    /// The tools (actions) the rule can meet: its place, narrowed by its selector; None = any.
    tools: Option<BTreeSet<String>>,
    actions: Option<BTreeSet<String>>,
}

impl<'a> Lintable<'a> {
    fn new(info: &'a RuleInfo) -> Self {
        let reach = |place: Option<String>, sel: &Option<Vec<String>>| match (place, sel) {
            (Some(p), _) => Some([p].into()),
            (None, Some(list)) => Some(list.iter().cloned().collect()),
            (None, None) => None,
        };
        Lintable {
            info,
            tools: reach(info.tool.clone(), &info.rule.tools),
            actions: reach(info.action.clone().filter(|a| a != "*"), &info.rule.actions),
        }
    }

    /// Two rules can meet on one call when tenant and tool/action scopes overlap and, for agent
    /// rules, the agent is the same or one of them is tenant-wide.
    fn overlaps(&self, b: &Lintable<'_>) -> bool {
        let same = |x: &Option<String>, y: &Option<String>| x.is_none() || y.is_none() || x == y;
        let meet = |x: &Option<BTreeSet<String>>, y: &Option<BTreeSet<String>>| match (x, y) {
            (Some(x), Some(y)) => !x.is_disjoint(y),
            _ => true,
        };
        self.info.tenant == b.info.tenant
            && same(&self.info.agent, &b.info.agent)
            && meet(&self.tools, &b.tools)
            && meet(&self.actions, &b.actions)
    }
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

/// Most rules compared pairwise on one path for conflicts; past it the check is skipped with a
/// warning, so a file with tens of thousands of rules on one action cannot stall validation.
const MAX_PAIRWISE: usize = 4096;

/// `duplicate-rule` (same conditions, outcome and place) and `conflicting-rules` (the same
/// outcome, and no value of a path satisfies both). Duplicates are found by grouping on what
/// makes rules equal; conflicts only among rules that bound or enumerate the same path, and
/// ranges only when some lower bound lies above some upper bound.
fn conflicts_and_duplicates(state: &State, files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    let hard: Vec<Lintable<'_>> = state
        .infos
        .iter()
        .filter(|i| i.rule.redact.is_none() && i.rule.when.is_empty() && i.mode == Mode::Enforce)
        .map(Lintable::new)
        .collect();
    let outcome = |l: &Lintable<'_>| l.info.rule.on_violation.unwrap_or_default();
    // Duplicates: rules equal in all of this, in declaration order.
    let mut same: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (n, l) in hard.iter().enumerate() {
        let r = &l.info.rule;
        let key = serde_json::json!([
            l.info.tenant,
            l.info.tool,
            l.info.action,
            r.tools,
            r.actions,
            outcome(l),
            r.require
        ])
        .to_string();
        same.entry(key).or_default().push(n);
    }
    for group in same.values().filter(|g| g.len() > 1) {
        for (k, &b) in group.iter().enumerate() {
            if let Some(&a) = group[..k].iter().find(|&&a| hard[a].overlaps(&hard[b])) {
                diags.push(
                    Diagnostic {
                        severity: crate::diag::Severity::Warning,
                        ..at(
                            files,
                            hard[b].info,
                            "duplicate-rule",
                            format!(
                                "rule `{}` repeats rule `{}`",
                                hard[b].info.id, hard[a].info.id
                            ),
                        )
                    }
                    .with_hint("remove one of them, or merge their reasons"),
                );
            }
        }
    }
    // Conflicts: per (tenant, outcome, path), the rules with a finite set or a bound on it.
    type Bounded<'a> = (usize, Option<BTreeSet<String>>, Option<f64>, Option<f64>);
    let mut on_path: BTreeMap<(&str, String, &str), Vec<Bounded<'_>>> = BTreeMap::new();
    // A rule that repeats another still meets rules the other does not (a tenant default that
    // repeats agent x's rule also binds agent y), so duplicates take part.
    for (n, l) in hard.iter().enumerate() {
        for (path, c) in l.info.rule.require.iter().filter(|(_, c)| !c.optional) {
            let (set, (lo, hi)) = (admitted(c), bounds(c));
            if set.is_some() || lo.is_some() || hi.is_some() {
                let key = (
                    l.info.tenant.as_str(),
                    format!("{:?}", outcome(l)),
                    path.as_str(),
                );
                on_path.entry(key).or_default().push((n, set, lo, hi));
            }
        }
    }
    for ((_, _, path), rules) in &on_path {
        let max_lo = rules
            .iter()
            .filter_map(|r| r.2)
            .fold(f64::NEG_INFINITY, f64::max);
        let min_hi = rules
            .iter()
            .filter_map(|r| r.3)
            .fold(f64::INFINITY, f64::min);
        let sets = rules.iter().filter(|r| r.1.is_some()).count();
        if max_lo <= min_hi && sets < 2 {
            continue; // no two ranges can be disjoint, and no two sets
        }
        if rules.len() > MAX_PAIRWISE {
            let first = hard[rules[0].0].info;
            diags.push(
                Diagnostic {
                    severity: crate::diag::Severity::Warning,
                    ..at(
                        files,
                        first,
                        "lint-skipped",
                        format!(
                            "{} rules bound `{path}`; over {MAX_PAIRWISE}, they are not checked \
                             against each other for conflicts",
                            rules.len()
                        ),
                    )
                }
                .with_hint("merge rules on the same value, or split them across actions"),
            );
            continue;
        }
        for (k, (b, bset, blo, bhi)) in rules.iter().enumerate() {
            for (a, aset, alo, ahi) in &rules[..k] {
                let disjoint_sets = matches!((aset, bset), (Some(x), Some(y)) if x.is_disjoint(y));
                let disjoint_range = matches!((alo, bhi), (Some(l), Some(h)) if l > h)
                    || matches!((blo, ahi), (Some(l), Some(h)) if l > h);
                // Each pair is met once per path: a rule bounds a path once.
                if !(disjoint_sets || disjoint_range) || !hard[*a].overlaps(&hard[*b]) {
                    continue;
                }
                let (a, b) = (hard[*a].info, hard[*b].info);
                diags.push(
                    at(files, b, "conflicting-rules", format!("rules `{}` and `{}` conflict: no value of `{path}` satisfies both, so every such call is blocked", a.id, b.id))
                        .with_hint("loosen one of them, or scope them to different agents or actions"),
                );
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
    for (tenant, name, origin, priority) in &state.waivers {
        // Named rules all at or above the override's priority: it can never waive them.
        let named: Vec<&RuleInfo> = state
            .infos
            .iter()
            .filter(|i| &i.tenant == tenant && (i.id == *name || i.rule.reason == *name))
            .collect();
        let lowest = named.iter().map(|i| i.rule.priority.unwrap_or(0)).min();
        if let Some(lowest) = lowest.filter(|l| l >= priority) {
            let f = &files[origin.file];
            diags.push(
                Diagnostic::warning(
                    "waives-nothing",
                    &f.doc.file,
                    f.doc.span_at(&origin.pointer),
                    format!(
                        "`{name}` is raised by rules of priority {lowest} or more; this override's priority {priority} waives only lower ones"
                    ),
                )
                .with_hint(format!("give the override a priority above {lowest}")),
            );
            continue;
        }
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

/// An override naming an agent the tenant does not have (a typo) waives nothing for anyone.
fn unknown_override_agents(state: &State, files: &[LoadedFile], diags: &mut Vec<Diagnostic>) {
    for (tenant, who, origin) in &state.override_agents {
        let Some(t) = state.tenants.get(tenant) else {
            continue;
        };
        if t.has_granted_agent(who) || !t.grants.is_empty() && t.agents.contains_key(who) {
            continue;
        }
        let f = &files[origin.file];
        let hint = crate::diag::did_you_mean(who, t.granted_agents())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| "name an agent that has grants, or `*`".into());
        diags.push(
            Diagnostic::warning(
                "unknown-agent",
                &f.doc.file,
                f.doc.span_at(&origin.pointer),
                format!("tenant `{tenant}` has no agent `{who}` with grants: this override never applies to it"),
            )
            .with_hint(hint),
        );
    }
}

/// An agent with rules or limits but no grant (its own or the tenant's) can call nothing: most
/// likely its name is a typo of an agent that has grants, which then runs without those rules.
fn agents_without_grants(files: &[LoadedFile], state: &State, diags: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    for f in files {
        let Some(t) = state.tenants.get(&f.policy.tenant) else {
            continue;
        };
        if !t.grants.is_empty() {
            continue;
        }
        for aid in f.policy.agents.keys() {
            if t.has_granted_agent(aid) || !seen.insert((f.policy.tenant.clone(), aid.clone())) {
                continue;
            }
            let hint = crate::diag::did_you_mean(aid, t.granted_agents())
                .map(|s| {
                    format!("did you mean `{s}`? Its rules and limits do not apply to `{aid}`")
                })
                .unwrap_or_else(|| "grant it tools under `agents.<id>.tools`, or remove it".into());
            diags.push(
                Diagnostic::warning(
                    "agent-without-grants",
                    &f.doc.file,
                    f.doc.key_span_at(&format!("/agents/{}", crate::source::pointer_token(aid))),
                    format!("agent `{aid}` has no grants in any file: every call it makes is denied, and its rules apply to no call"),
                )
                .with_hint(hint),
            );
        }
    }
}

/// An agent's own grant that a `forbid` (its own or the tenant's) always cancels: every call of
/// it is denied `tool_forbidden`, though the grant reads as if the agent may call it.
fn forbidden_grants(files: &[LoadedFile], state: &State, diags: &mut Vec<Diagnostic>) {
    for f in files {
        let Some(t) = state.tenants.get(&f.policy.tenant) else {
            continue;
        };
        for (aid, a) in &f.policy.agents {
            let Some(out) = t.agents.get(aid) else {
                continue;
            };
            for (tool, actions) in &a.tools {
                for (action, _) in actions.iter().filter(|(_, ap)| !ap.forbid) {
                    if !super::plan::forbidden(t, out, tool, action) {
                        continue;
                    }
                    let ptr = format!(
                        "/agents/{}/tools/{}/{}",
                        crate::source::pointer_token(aid),
                        crate::source::pointer_token(tool),
                        crate::source::pointer_token(action)
                    );
                    diags.push(
                        Diagnostic::warning(
                            "grant-forbidden",
                            &f.doc.file,
                            f.doc.key_span_at(&ptr),
                            format!("`{aid}` is granted `{tool}/{action}`, but a `forbid` cancels it: every such call is denied (tool_forbidden)"),
                        )
                        .with_hint("remove the grant or the forbid"),
                    );
                }
            }
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
