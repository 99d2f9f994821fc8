//! Walking policy files: grants, rules, limits, workflow limits, data classes and overrides are
//! merged into per-tenant data with stable ids.

mod limits;
mod overrides;
mod redact;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::cond::{compile_conditions, ArgDecls, Sink};
use super::{is_open, LoadedFile, Origin, TenantOut};
use crate::diag::Diagnostic;
use crate::model::{ActionPolicy, ArgType, Limit, Mode, Rule, ViolationOutcome};
use crate::source::pointer_token;

/// Everything merged so far.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub tenants: BTreeMap<String, TenantOut>,
    /// Stable id → where it was first declared.
    pub ids: BTreeMap<String, Origin>,
    /// Rules as written, for cross-rule checks.
    pub infos: Vec<RuleInfo>,
    /// Every reason code and rule id a violation can carry, per tenant.
    pub waivable: BTreeMap<String, Vec<String>>,
    /// Override waivers to check once everything is known: (tenant, name, origin, the
    /// override's priority).
    pub waivers: Vec<(String, String, Origin, i64)>,
    /// The agents overrides name (not `*`), to check once every agent is known:
    /// (tenant, agent, origin).
    pub override_agents: Vec<(String, String, Origin)>,
}

/// A rule as written, with where it applies.
#[derive(Debug, Clone)]
pub(crate) struct RuleInfo {
    pub tenant: String,
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub action: Option<String>,
    pub rule: Rule,
    pub id: String,
    pub mode: Mode,
    pub origin: Origin,
}

/// Built-in redaction patterns. `[0-9]` rather than `\d`: RE2 and Rust disagree on `\d` outside ASCII.
pub const BUILTIN_PATTERNS: &[(&str, &str)] = &[
    ("ssn", r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"),
    ("mrn", r"\bMRN[-: ]?[0-9]{6,10}\b"),
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("phone", r"\b[0-9]{3}[-. ][0-9]{3}[-. ][0-9]{4}\b"),
    ("credit_card", r"\b(?:[0-9][ -]?){13,16}\b"),
    ("iban", r"\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b"),
    ("aws_access_key", r"\bAKIA[0-9A-Z]{16}\b"),
];

const MAX_PRIORITY: i64 = 999_999_999;

struct Walk<'a, 'b> {
    state: &'a mut State,
    sink: Sink<'b>,
    /// Every file, to say where an earlier declaration is.
    files: &'b [LoadedFile],
    file: usize,
    tenant: String,
    mode: Mode,
}

/// Merges one file's tool catalog (done for every file before rules, so any file may declare tools).
pub(crate) fn add_catalog(
    state: &mut State,
    files: &[LoadedFile],
    file: usize,
    f: &LoadedFile,
    diags: &mut Vec<Diagnostic>,
) {
    let t = state.tenants.entry(f.policy.tenant.clone()).or_default();
    for (tool, decl) in &f.policy.tools {
        for (action, a) in &decl.actions {
            let pointer = format!(
                "/tools/{}/actions/{}",
                pointer_token(tool),
                pointer_token(action)
            );
            let slot = t.catalog.entry(tool.clone()).or_default();
            match slot.get(action) {
                Some((prev, first)) if prev.class != a.class || prev.args != a.args => {
                    let what = match prev.class != a.class {
                        true => {
                            format!("class {:?} here, {:?}", a.class, prev.class).to_lowercase()
                        }
                        false => "its `args` differ from those".into(),
                    };
                    let d = Diagnostic::error(
                        "conflicting-declaration",
                        &f.doc.file,
                        f.doc.key_span_at(&pointer),
                        format!(
                            "`{tool}` action `{action}` is declared twice, differently: {what} at {}",
                            first.place(files)
                        ),
                    )
                    .with_hint("declare each tool action once, or make the declarations identical");
                    diags.push(d);
                }
                Some(_) => {}
                None => {
                    slot.insert(action.clone(), (a.clone(), Origin { file, pointer }));
                }
            }
        }
    }
}

/// Merges one file's grants, rules, limits, scopes, data classes and overrides.
pub(crate) fn add_file(
    state: &mut State,
    files: &[LoadedFile],
    file: usize,
    diags: &mut Vec<Diagnostic>,
) {
    let f = &files[file];
    let p = &f.policy;
    let mut w = Walk {
        state,
        sink: Sink { doc: &f.doc, diags },
        files,
        file,
        tenant: p.tenant.clone(),
        mode: p.mode,
    };
    if p.tenant.trim().is_empty() {
        w.sink.error(
            "invalid-tenant",
            "/tenant",
            "the tenant id is empty: no call can name it".into(),
            Some("name the tenant the callers send, e.g. `tenant: acme`".into()),
        );
    }
    if let Some(d) = &p.defaults {
        w.tenant_settings(d);
        for (tool, acts) in &d.tools {
            for (action, ap) in acts {
                let ptr = format!(
                    "/defaults/tools/{}/{}",
                    pointer_token(tool),
                    pointer_token(action)
                );
                w.action_policy(None, tool, action, ap, &ptr);
            }
        }
        for (i, r) in d.rules.iter().enumerate() {
            w.wide_rule(None, r, &format!("/defaults/rules/{i}"));
        }
        for (i, l) in d.limits.iter().enumerate() {
            w.wide_limit(None, l, &format!("/defaults/limits/{i}"));
        }
    }
    for (aid, a) in &p.agents {
        let base = format!("/agents/{}", pointer_token(aid));
        w.tenant().agents.entry(aid.clone()).or_default();
        for (tool, acts) in &a.tools {
            for (action, ap) in acts {
                let ptr = format!(
                    "{base}/tools/{}/{}",
                    pointer_token(tool),
                    pointer_token(action)
                );
                w.action_policy(Some(aid), tool, action, ap, &ptr);
            }
        }
        for (i, r) in a.rules.iter().enumerate() {
            w.wide_rule(Some(aid), r, &format!("{base}/rules/{i}"));
        }
        for (i, l) in a.limits.iter().enumerate() {
            w.wide_limit(Some(aid), l, &format!("{base}/limits/{i}"));
        }
        if let Some(wl) = &a.workflow {
            let id_base = format!("{}/{aid}/*/*/workflow", w.tenant);
            for (id, rule) in w.workflow_rules(wl, &id_base, &format!("{base}/workflow")) {
                w.tenant()
                    .agents
                    .entry(aid.clone())
                    .or_default()
                    .rules
                    .insert(id, rule);
            }
        }
    }
    for (scope, wl) in &p.scopes {
        let id_base = format!("{}/scope:{scope}", w.tenant);
        let ptr = format!("/scopes/{}", pointer_token(scope));
        for (id, rule) in w.workflow_rules(wl, &id_base, &ptr) {
            w.tenant()
                .scopes
                .entry(scope.clone())
                .or_default()
                .insert(id, rule);
        }
    }
    for (name, dc) in &p.data_classes {
        // A tool the catalog does not have: every call of this class is refused as going to a
        // tool it may not, though the author meant to allow one.
        let catalog: Vec<String> = w.tenant().catalog.keys().cloned().collect();
        for (i, tool) in dc.tools.iter().flatten().enumerate() {
            if !catalog.is_empty() && !catalog.contains(tool) {
                let hint = crate::diag::did_you_mean(tool, catalog.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"));
                w.sink.warn(
                    "unknown-tool",
                    &format!("/data_classes/{}/tools/{i}", pointer_token(name)),
                    format!("tool `{tool}` is not in any tool catalog"),
                    hint,
                );
            }
        }
        let set = |l: &Option<Vec<String>>| -> Value {
            l.as_ref().map_or(Value::Null, |v| {
                Value::Object(v.iter().map(|s| (s.clone(), json!(true))).collect())
            })
        };
        let v = json!({"regions": set(&dc.regions), "tools": set(&dc.tools), "models": set(&dc.models)});
        let ptr = format!("/data_classes/{}", pointer_token(name));
        let origin = Origin {
            file,
            pointer: ptr.clone(),
        };
        match w.tenant().data_classes.get(name).cloned() {
            Some((prev, first)) if prev != v => w.sink.error(
                "conflicting-declaration",
                &ptr,
                format!(
                    "data class `{name}` is declared twice with different restrictions (first at {})",
                    first.place(w.files)
                ),
                Some("declare each data class once, in the compliance policy".into()),
            ),
            Some(_) => {}
            None => {
                w.tenant().data_classes.insert(name.clone(), (v, origin));
            }
        }
    }
    for (i, o) in p.overrides.iter().enumerate() {
        w.override_(o, i, p.category);
    }
}

impl Walk<'_, '_> {
    fn tenant(&mut self) -> &mut TenantOut {
        self.state.tenants.entry(self.tenant.clone()).or_default()
    }

    fn origin(&self, pointer: &str) -> Origin {
        Origin {
            file: self.file,
            pointer: pointer.to_string(),
        }
    }

    /// Registers a stable id; reports a duplicate at its second declaration.
    fn claim(&mut self, id: &str, ptr: &str) -> bool {
        if let Some(prev) = self.state.ids.get(id) {
            self.sink.error(
                "duplicate-id",
                &format!("{ptr}/id"),
                format!(
                    "`{id}` is declared twice (first at {})",
                    prev.place(self.files)
                ),
                Some("give each rule and limit a unique id within its scope".into()),
            );
            return false;
        }
        self.state.ids.insert(id.to_string(), self.origin(ptr));
        true
    }

    fn tenant_settings(&mut self, d: &crate::model::Defaults) {
        if let Some(path) = &d.appeal_path {
            let origin = self.origin("/defaults/appeal_path");
            match self.tenant().appeal_path.clone() {
                Some((prev, first)) if prev != *path => self.sink.error(
                    "conflicting-declaration",
                    "/defaults/appeal_path",
                    format!(
                        "the tenant's appeal_path is `{path}` here and `{prev}` at {}",
                        first.place(self.files)
                    ),
                    Some("set `defaults.appeal_path` once per tenant".into()),
                ),
                _ => self.tenant().appeal_path = Some((path.clone(), origin)),
            }
        }
        if let Some(fm) = &d.fail_mode {
            if is_open(fm.write) {
                self.sink.error(
                    "write-fail-open",
                    "/defaults/fail_mode/write",
                    "writes always fail closed".into(),
                    Some("remove `write: open`; only reads may be declared fail-open".into()),
                );
            }
            let origin = self.origin("/defaults/fail_mode");
            match self.tenant().fail_open_reads.clone() {
                Some((prev, first)) if prev != is_open(fm.read) => self.sink.error(
                    "conflicting-declaration",
                    "/defaults/fail_mode/read",
                    format!(
                        "the tenant's fail mode for reads is set differently at {}",
                        first.place(self.files)
                    ),
                    Some("declare `defaults.fail_mode` once per tenant".into()),
                ),
                _ => self.tenant().fail_open_reads = Some((is_open(fm.read), origin)),
            }
        }
    }

    /// The argument declarations for (tool, action); action `*` means every declared action.
    fn decls(&self, tool: &str, action: Option<&str>) -> Vec<BTreeMap<String, ArgType>> {
        let Some(t) = self.state.tenants.get(&self.tenant) else {
            return vec![];
        };
        let Some(acts) = t.catalog.get(tool) else {
            return vec![];
        };
        acts.iter()
            .filter(|(a, _)| action.is_none_or(|x| x == "*" || x == a.as_str()))
            .filter_map(|(_, (d, _))| d.args.clone())
            .collect()
    }

    fn check_action_exists(&mut self, tool: &str, action: &str, ptr: &str) {
        let Some(acts) = self
            .state
            .tenants
            .get(&self.tenant)
            .and_then(|t| t.catalog.get(tool))
        else {
            return;
        };
        if action != "*" && !acts.contains_key(action) {
            let names: Vec<&str> = acts.keys().map(String::as_str).collect();
            let hint = crate::diag::did_you_mean(action, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("`{tool}` exposes: {}", names.join(", ")));
            self.sink.error(
                "never-matches",
                ptr,
                format!("tool `{tool}` exposes no action `{action}`: this can never match"),
                Some(hint),
            );
        }
    }

    fn action_policy(
        &mut self,
        agent: Option<&String>,
        tool: &str,
        action: &str,
        ap: &ActionPolicy,
        ptr: &str,
    ) {
        self.check_action_exists(tool, action, ptr);
        let who = agent.map_or("*", String::as_str).to_string();
        {
            let t = self.tenant();
            match agent {
                None => {
                    let target = if ap.forbid {
                        &mut t.forbid
                    } else {
                        &mut t.grants
                    };
                    target.entry(tool.into()).or_default().insert(action.into());
                }
                Some(a) => {
                    let ag = t.agents.entry(a.clone()).or_default();
                    let target = if ap.forbid {
                        &mut ag.forbid
                    } else {
                        &mut ag.grants
                    };
                    target.entry(tool.into()).or_default().insert(action.into());
                }
            }
        }
        let decls = self.decls(tool, Some(action));
        for (i, r) in ap.rules.iter().enumerate() {
            let rptr = format!("{ptr}/rules/{i}");
            for key in ["tools", "actions"] {
                let set = if key == "tools" {
                    r.tools.is_some()
                } else {
                    r.actions.is_some()
                };
                if set {
                    self.sink.error(
                        "misplaced-key",
                        &format!("{rptr}/{key}"),
                        format!(
                            "`{key}` selects calls only in `defaults.rules` and agent-wide `rules`"
                        ),
                        Some("this rule already applies to one tool action; remove the key".into()),
                    );
                }
            }
            let id = format!("{}/{who}/{tool}/{action}/{}", self.tenant, r.id);
            if let Some(rule) = self.rule(r, &id, &rptr, &decls.iter().collect()) {
                let t = self.tenant();
                let slot = match agent {
                    None => t.tool_rules.entry(tool.into()).or_default(),
                    Some(a) => t
                        .agents
                        .entry(a.clone())
                        .or_default()
                        .tool_rules
                        .entry(tool.into())
                        .or_default(),
                };
                slot.entry(action.into())
                    .or_default()
                    .insert(id.clone(), rule);
                self.record(agent, Some(tool), Some(action), r, id, &rptr);
            }
        }
        for (i, l) in ap.limits.iter().enumerate() {
            let lptr = format!("{ptr}/limits/{i}");
            let id = format!("{}/{who}/{tool}/{action}/{}", self.tenant, l.id);
            if let Some(limit) = self.limit(l, &id, &lptr, &decls.iter().collect(), false) {
                let t = self.tenant();
                let slot = match agent {
                    None => t.tool_limits.entry(tool.into()).or_default(),
                    Some(a) => t
                        .agents
                        .entry(a.clone())
                        .or_default()
                        .tool_limits
                        .entry(tool.into())
                        .or_default(),
                };
                slot.entry(action.into()).or_default().insert(id, limit);
            }
        }
    }

    fn selector_decls(
        &mut self,
        tools: &Option<Vec<String>>,
        actions: &Option<Vec<String>>,
        ptr: &str,
    ) -> Vec<BTreeMap<String, ArgType>> {
        let catalog: Vec<String> = self
            .state
            .tenants
            .get(&self.tenant)
            .map(|t| t.catalog.keys().cloned().collect())
            .unwrap_or_default();
        let mut decls = Vec::new();
        if let Some(ts) = tools {
            {
                for (i, tool) in ts.iter().enumerate() {
                    if !catalog.is_empty() && !catalog.contains(tool) {
                        let hint =
                            crate::diag::did_you_mean(tool, catalog.iter().map(String::as_str))
                                .map(|s| format!("did you mean `{s}`?"));
                        self.sink.warn(
                            "unknown-tool",
                            &format!("{ptr}/tools/{i}"),
                            format!("tool `{tool}` is not in any tool catalog"),
                            hint,
                        );
                    }
                    if let (Some(acts), 1) = (actions, ts.len()) {
                        for (j, a) in acts.iter().enumerate() {
                            self.check_action_exists(tool, a, &format!("{ptr}/actions/{j}"));
                        }
                    }
                    match actions {
                        Some(acts) => acts
                            .iter()
                            .for_each(|a| decls.extend(self.decls(tool, Some(a)))),
                        None => decls.extend(self.decls(tool, None)),
                    }
                }
            }
        }
        decls
    }

    fn wide_rule(&mut self, agent: Option<&String>, r: &Rule, ptr: &str) {
        let who = agent.map_or("*", String::as_str);
        let id = format!("{}/{who}/*/*/{}", self.tenant, r.id);
        let decls = self.selector_decls(&r.tools, &r.actions, ptr);
        // Without a tool selector the rule covers every tool: its args cannot be checked.
        let decls: ArgDecls<'_> = if r.tools.is_some() {
            decls.iter().collect()
        } else {
            vec![]
        };
        if let Some(rule) = self.rule(r, &id, ptr, &decls) {
            let t = self.tenant();
            match agent {
                None => t.rules.insert(id.clone(), rule),
                Some(a) => t
                    .agents
                    .entry(a.clone())
                    .or_default()
                    .rules
                    .insert(id.clone(), rule),
            };
            self.record(agent, None, None, r, id, ptr);
        }
    }

    fn wide_limit(&mut self, agent: Option<&String>, l: &Limit, ptr: &str) {
        let who = agent.map_or("*", String::as_str);
        let id = format!("{}/{who}/*/*/{}", self.tenant, l.id);
        let decls = self.selector_decls(&l.tools, &None, ptr);
        let decls: ArgDecls<'_> = if l.tools.is_some() {
            decls.iter().collect()
        } else {
            vec![]
        };
        if let Some(limit) = self.limit(l, &id, ptr, &decls, true) {
            let t = self.tenant();
            match agent {
                None => t.limits.insert(id, limit),
                Some(a) => t
                    .agents
                    .entry(a.clone())
                    .or_default()
                    .limits
                    .insert(id, limit),
            };
        }
    }

    fn record(
        &mut self,
        agent: Option<&String>,
        tool: Option<&str>,
        action: Option<&str>,
        r: &Rule,
        id: String,
        ptr: &str,
    ) {
        let info = RuleInfo {
            tenant: self.tenant.clone(),
            agent: agent.cloned(),
            tool: tool.map(str::to_string),
            action: action.map(str::to_string),
            rule: r.clone(),
            id: id.clone(),
            mode: r.mode.unwrap_or(self.mode),
            origin: self.origin(ptr),
        };
        self.state.infos.push(info);
        let w = self.state.waivable.entry(self.tenant.clone()).or_default();
        w.push(id);
        w.push(r.reason.clone());
    }

    fn check_codes(&mut self, id: &str, reason: &str, ptr: &str) -> bool {
        let mut ok = true;
        let valid_id = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !valid_id {
            ok = false;
            self.sink.error_at_value(
                "invalid-id",
                &format!("{ptr}/id"),
                format!("id `{id}` may only use letters, digits, `_`, `-` and `.`"),
                None,
            );
        }
        let valid_reason = reason.starts_with(|c: char| c.is_ascii_lowercase())
            && reason
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_reason {
            ok = false;
            let suggestion: String = reason
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            self.sink.error_at_value(
                "invalid-reason",
                &format!("{ptr}/reason"),
                format!("reason `{reason}` is not a snake_case code"),
                Some(format!(
                    "reason codes are stable identifiers, e.g. `{suggestion}`"
                )),
            );
        }
        ok
    }

    fn rule(&mut self, r: &Rule, id: &str, ptr: &str, decls: &ArgDecls<'_>) -> Option<Value> {
        let codes_ok = self.check_codes(&r.id, &r.reason, ptr);
        let claimed = self.claim(id, ptr);
        let (when, _) = compile_conditions(&mut self.sink, &r.when, &format!("{ptr}/when"), decls);
        let (require, phrases) =
            compile_conditions(&mut self.sink, &r.require, &format!("{ptr}/require"), decls);
        let priority = r.priority.unwrap_or(0);
        if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
            self.sink.error_at_value(
                "invalid-priority",
                &format!("{ptr}/priority"),
                format!("priority must be within ±{MAX_PRIORITY}"),
                None,
            );
        }
        let (kind, outcome, redact, default_message) = match (&r.redact, r.require.is_empty()) {
            (Some(_), false) => {
                self.sink.error(
                    "conflicting-keys",
                    &format!("{ptr}/redact"),
                    "a rule either `require`s or `redact`s, not both".into(),
                    Some("split it into two rules".into()),
                );
                return None;
            }
            (None, true) => {
                self.sink.error(
                    "empty-rule",
                    &format!("{ptr}/id"),
                    format!(
                        "rule `{}` has neither `require` nor `redact`: it checks nothing",
                        r.id
                    ),
                    Some("add `require:` conditions or a `redact:` block".into()),
                );
                return None;
            }
            (Some(red), true) => {
                if r.on_violation.is_some() {
                    self.sink.error(
                        "conflicting-keys",
                        &format!("{ptr}/on_violation"),
                        "redact rules always sanitize; `on_violation` does not apply".into(),
                        None,
                    );
                }
                let compiled = self.redact(red, &format!("{ptr}/redact"), decls)?;
                let what = red.paths.join(", ");
                (
                    "redact",
                    "sanitize",
                    compiled,
                    format!("sensitive content in {what} is redacted"),
                )
            }
            (None, false) => {
                let o = match r.on_violation.unwrap_or_default() {
                    ViolationOutcome::Deny => "deny",
                    ViolationOutcome::ApprovalNeeded => "approval_needed",
                };
                ("check", o, Value::Null, phrases.join("; "))
            }
        };
        if !(codes_ok && claimed) {
            return None;
        }
        let rank = match outcome {
            "deny" => "0",
            "approval_needed" => "2",
            _ => "3",
        };
        let mode = r.mode.unwrap_or(self.mode);
        Some(json!({
            "id": id,
            "kind": kind,
            "key": format!("{rank}|{id}|{}", r.reason),
            "vio": {
                "rule": id,
                "reason": r.reason,
                "outcome": outcome,
                "message": r.message.clone().unwrap_or(default_message),
                "remediation": r.remediation,
            },
            "mode": mode_name(mode),
            "priority": priority,
            "tools": selector(&r.tools),
            "actions": selector(&r.actions),
            "when": when,
            "require": require,
            "redact": redact,
        }))
    }
}

fn selector(list: &Option<Vec<String>>) -> Value {
    list.as_ref().map_or(Value::Null, |l| {
        Value::Object(l.iter().map(|s| (s.clone(), json!(true))).collect())
    })
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Enforce => "enforce",
        Mode::Shadow => "shadow",
    }
}
