//! Plans: for every (agent, tool, action) a call can reach, one object holding everything that
//! depends only on those four keys, resolved at compile time.
//!
//! Tenant defaults, agent-wide rules, tool selectors, action selectors and overrides are all known
//! before any call arrives, so the compiler merges them here. The library then does one lookup
//! (`tenants[t].agents[a].plans[tool][action]`, falling back to `[tool]["*"]`) and checks the
//! common condition ops inline, grouped by op; the evaluator never scans rules that cannot apply.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::{AgentOut, TenantOut};
use crate::model::ActionClass;

/// Ops the library checks inline from a plan's per-op lists; every other op (and every `[*]` path)
/// goes through the generic `holds` path.
const FAST_OPS: &[(&str, &str)] = &[
    ("max", "max"),
    ("min", "min"),
    ("equals", "equals"),
    ("matches", "matches"),
    ("in", "one_of"),
    ("not_in", "not_in"),
];

/// Length conditions: checked by the full path through `generic`, and also by the fast forms
/// (`len` / `rlen`, see [`fast_lists`]), so a plan whose other conditions are fast stays simple.
/// Paths that conditions require to be present, by path: the path, and the rules requiring it.
type Present = BTreeMap<String, (Value, BTreeSet<String>)>;

const LENGTH_OPS: &[(&str, &str)] = &[("min_length", "min_len"), ("max_length", "max_len")];

/// Records that rule `id` requires condition `c`'s path to be present, unless the condition is
/// optional (`absent_ok`); returns whether it was recorded.
fn require_path(present: &mut Present, c: &Value, id: &str) -> bool {
    if c["absent_ok"].as_bool().unwrap_or(false) {
        return false;
    }
    present
        .entry(c["path"].to_string())
        .or_insert_with(|| (c["path"].clone(), BTreeSet::new()))
        .1
        .insert(id.to_string());
    true
}

/// The fast-form list a length condition goes to (`min_len`, `max_len`); `None` for other
/// conditions and for `[*]` paths.
fn fast_length_key(c: &Value) -> Option<&'static str> {
    if c["wild"].as_bool().unwrap_or(false) {
        return None;
    }
    let op = c["op"].as_str()?;
    LENGTH_OPS.iter().find(|(o, _)| *o == op).map(|(_, k)| *k)
}

/// What the fast forms check: the inline lists, plus the length conditions the full path reads
/// from `generic`, and the paths they all require. `None` when a length condition is optional.
fn fast_lists<'a>(
    lists: &BTreeMap<&'a str, Vec<Value>>,
    present: &Present,
) -> Option<(BTreeMap<&'a str, Vec<Value>>, Present)> {
    let mut out: BTreeMap<&str, Vec<Value>> = lists
        .iter()
        .filter(|(k, _)| **k != "generic")
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let mut present = present.clone();
    for c in lists.get("generic").into_iter().flatten() {
        let key = fast_length_key(c)?;
        let rule = c["rule"].as_str()?;
        if !require_path(&mut present, c, rule) {
            return None;
        }
        let entry = json!({"path": c["path"], "value": c["value"], "rule": rule});
        out.entry(key).or_default().push(entry);
    }
    Some((out, present))
}

fn sel_matches(sel: &Value, v: &str) -> bool {
    match sel {
        Value::Object(m) => m.contains_key(v),
        _ => true,
    }
}

/// Whether a rule/limit/override with `tools`/`actions` selectors covers (tool, action); for the
/// `*` plan (actions not otherwise planned) only rules without an action selector apply.
fn selects(x: &Value, tool: &str, action: &str) -> bool {
    let actions = x.get("actions").unwrap_or(&Value::Null);
    sel_matches(x.get("tools").unwrap_or(&Value::Null), tool)
        && if action == "*" {
            actions.is_null()
        } else {
            sel_matches(actions, action)
        }
}

fn nested_get<'a>(
    m: &'a BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    tool: &str,
    action: &str,
) -> impl Iterator<Item = &'a Value> {
    m.get(tool)
        .and_then(|a| a.get(action))
        .into_iter()
        .flat_map(|r| r.values())
}

/// Every (tool, action) key the agent may need a plan for.
fn plan_keys(t: &TenantOut, aid: &str, a: &AgentOut) -> BTreeSet<(String, String)> {
    let mut keys = BTreeSet::new();
    let mut add_all = |m: &BTreeMap<String, BTreeSet<String>>| {
        for (tool, acts) in m {
            for act in acts {
                keys.insert((tool.clone(), act.clone()));
            }
        }
    };
    add_all(&t.grants);
    add_all(&t.forbid);
    add_all(&a.grants);
    add_all(&a.forbid);
    // A `*` grant reaches every declared action and every action a rule names.
    let star_tools: BTreeSet<String> = keys
        .iter()
        .filter(|(_, act)| act == "*")
        .map(|(tool, _)| tool.clone())
        .collect();
    for tool in star_tools {
        if let Some(acts) = t.catalog.get(&tool) {
            for act in acts.keys() {
                keys.insert((tool.clone(), act.clone()));
            }
        }
        for m in [&t.tool_rules, &a.tool_rules, &t.tool_limits, &a.tool_limits] {
            if let Some(acts) = m.get(&tool) {
                for act in acts.keys() {
                    keys.insert((tool.clone(), act.clone()));
                }
            }
        }
        let overrides = [aid, "*"]
            .into_iter()
            .filter_map(|w| t.overrides.get(w))
            .flat_map(|m| m.values());
        for r in t
            .rules
            .values()
            .chain(a.rules.values())
            .chain(t.limits.values())
            .chain(a.limits.values())
            .chain(overrides)
        {
            if let Some(Value::Object(acts)) = r.get("actions") {
                for act in acts.keys() {
                    keys.insert((tool.clone(), act.clone()));
                }
            }
        }
    }
    keys
}

/// Whether a tool → actions map names `tool`'s `action`, or all its actions (`*`).
fn covers(m: &BTreeMap<String, BTreeSet<String>>, tool: &str, action: &str) -> bool {
    m.get(tool)
        .is_some_and(|s| s.contains(action) || s.contains("*"))
}

fn granted(t: &TenantOut, a: &AgentOut, tool: &str, action: &str) -> bool {
    covers(&t.grants, tool, action) || covers(&a.grants, tool, action)
}

/// Whether a `forbid` of the tenant's or the agent's cancels `tool`'s `action`.
pub(crate) fn forbidden(t: &TenantOut, a: &AgentOut, tool: &str, action: &str) -> bool {
    covers(&t.forbid, tool, action) || covers(&a.forbid, tool, action)
}

type ByAction = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

/// The rules (or limits) that reach (tool, action): those declared on the action, on the tool's
/// `*` action, and the tenant- and agent-wide ones whose selectors cover the call.
fn applicable<'a>(
    on_actions: [&'a ByAction; 2],
    wide: [&'a Map<String, Value>; 2],
    tool: &str,
    action: &str,
) -> Vec<&'a Value> {
    let mut out: Vec<&Value> = on_actions
        .iter()
        .flat_map(|m| nested_get(m, tool, action))
        .collect();
    if action != "*" {
        out.extend(on_actions.iter().flat_map(|m| nested_get(m, tool, "*")));
    }
    out.extend(
        wide.iter()
            .flat_map(|m| m.values())
            .filter(|r| selects(r, tool, action)),
    );
    out
}

/// Builds one plan.
fn plan(t: &TenantOut, aid: &str, a: &AgentOut, tool: &str, action: &str) -> Value {
    if forbidden(t, a, tool, action) {
        return json!({"forbidden": true});
    }
    let class = t
        .catalog
        .get(tool)
        .and_then(|m| m.get(action))
        .map(|(d, _)| d.class)
        .unwrap_or_default();
    let rules = applicable(
        [&t.tool_rules, &a.tool_rules],
        [&t.rules, &a.rules],
        tool,
        action,
    );
    let mut limits = applicable(
        [&t.tool_limits, &a.tool_limits],
        [&t.limits, &a.limits],
        tool,
        action,
    );
    limits.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));

    let mut out = Map::new();
    out.insert(
        "class".into(),
        json!(if class == ActionClass::Read {
            "read"
        } else {
            "write"
        }),
    );
    if class == ActionClass::Read && t.fail_open_reads.as_ref().is_some_and(|(b, _)| *b) {
        out.insert("fail_open".into(), json!(true));
    }
    let mut info = Map::new();
    let mut when = Map::new();
    let mut lists: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut present: Present = BTreeMap::new();
    let mut redact = Vec::new();
    let mut matched = BTreeSet::new();
    // The fast forms assume every fast-op condition is required; an optional one disables them.
    let mut optional_fast = false;
    for r in &rules {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        matched.insert(id.clone());
        info.insert(id.clone(), rule_info(r));
        if r["when"].as_array().is_some_and(|w| !w.is_empty()) {
            when.insert(id.clone(), r["when"].clone());
        }
        if r["kind"] == "redact" {
            let mut rd = r["redact"].clone();
            rd["rule"] = json!(id);
            redact.push(rd);
            continue;
        }
        for c in r["require"].as_array().into_iter().flatten() {
            let mut c = c.clone();
            c["rule"] = json!(id);
            let op = c["op"].as_str().unwrap_or_default().to_string();
            let fast = FAST_OPS.iter().find(|(o, _)| *o == op).map(|(_, key)| *key);
            match (fast, c["wild"].as_bool().unwrap_or(false)) {
                (Some(key), false) => {
                    optional_fast |= !require_path(&mut present, &c, &id);
                    let mut entry = json!({"path": c["path"], "value": c["value"], "rule": id});
                    if key == "one_of" || key == "not_in" {
                        entry["value"] = c["value"].clone();
                    }
                    lists.entry(key).or_default().push(entry);
                }
                _ => lists.entry("generic").or_default().push(c),
            }
        }
    }
    for l in &limits {
        matched.insert(l["id"].as_str().unwrap_or_default().to_string());
    }
    let fast = if !optional_fast && when.is_empty() && redact.is_empty() && limits.is_empty() {
        fast_lists(&lists, &present).and_then(|(lists, present)| {
            fast_constraints(&lists, &present)
                .and_then(|merged| per_rule_fast(merged, &rules, &lists, &present, t))
        })
    } else {
        None
    };
    out.insert("rules".into(), Value::Object(info));
    out.insert("matched".into(), json!(matched));
    if !when.is_empty() {
        out.insert("when".into(), Value::Object(when));
    }
    if !present.is_empty() {
        let p: Vec<Value> = present
            .into_values()
            .map(|(path, rs)| json!({"path": path, "rules": rs}))
            .collect();
        out.insert("present".into(), json!(p));
    }
    for (k, v) in lists {
        out.insert(k.into(), json!(v));
    }
    if !redact.is_empty() {
        out.insert("redact".into(), json!(redact));
    }
    if !limits.is_empty() {
        let ls: Vec<Value> = limits.iter().map(|l| limit_entry(l)).collect();
        out.insert("limits".into(), json!(ls));
    }
    let mut overrides = Map::new();
    for who in [aid, "*"] {
        for (oid, o) in t.overrides.get(who).into_iter().flatten() {
            if selects(o, tool, action) {
                overrides.insert(oid.clone(), o.clone());
            }
        }
    }
    match fast {
        Some(f) if overrides.is_empty() && t.scopes.is_empty() => {
            out.insert("fast".into(), f);
        }
        _ => {}
    }
    if !overrides.is_empty() {
        out.insert("overrides".into(), Value::Object(overrides));
    }
    Value::Object(out)
}

/// Merged constraints for the fast path: when a call satisfies them, no rule of the plan fails,
/// so the decision is the plan's precomputed allow decision. `None` when the plan has a
/// condition the fast path cannot express (the full path then decides every call).
fn fast_constraints(lists: &BTreeMap<&str, Vec<Value>>, present: &Present) -> Option<Value> {
    let mut num: BTreeMap<String, (Value, f64, f64)> = BTreeMap::new();
    // Lengths (of strings, or arrays: what `sized` accepts), merged per path like numbers.
    let mut lens: BTreeMap<String, (Value, f64, f64)> = BTreeMap::new();
    let mut strs: BTreeMap<String, (Value, BTreeSet<String>)> = BTreeMap::new();
    let mut res = Vec::new();
    for (op, conds) in lists {
        for c in conds {
            let key = c["path"].to_string();
            if !present.contains_key(&key) {
                return None; // optional condition: not expressible as a required fast check
            }
            match *op {
                "max" | "min" => {
                    let v = c["value"].as_f64()?;
                    let e = num
                        .entry(key)
                        .or_insert((c["path"].clone(), f64::MIN, f64::MAX));
                    if *op == "max" {
                        e.2 = e.2.min(v);
                    } else {
                        e.1 = e.1.max(v);
                    }
                }
                "min_len" | "max_len" => {
                    let v = c["value"].as_f64()?;
                    let e = lens
                        .entry(key)
                        .or_insert((c["path"].clone(), 0.0, f64::MAX));
                    if *op == "max_len" {
                        e.2 = e.2.min(v);
                    } else {
                        e.1 = e.1.max(v);
                    }
                }
                "one_of" | "equals" => {
                    let allowed: BTreeSet<String> = if *op == "equals" {
                        [c["value"].as_str()?.to_string()].into()
                    } else {
                        if c["value"]["others"]
                            .as_array()
                            .is_some_and(|o| !o.is_empty())
                        {
                            return None;
                        }
                        c["value"]["strings"].as_object()?.keys().cloned().collect()
                    };
                    let e = strs
                        .entry(key)
                        .or_insert_with(|| (c["path"].clone(), allowed.clone()));
                    e.1 = e.1.intersection(&allowed).cloned().collect();
                }
                "matches" => res.push(json!({"path": c["path"], "re": c["value"]})),
                _ => return None,
            }
        }
    }
    // A required path with only presence checks (none here) would need its own list; every present
    // entry comes from one of the ops above, so nothing is lost.
    let num: Vec<Value> = num
        .into_values()
        .map(|(p, lo, hi)| json!({"path": p, "lo": lo, "hi": hi}))
        .collect();
    let strs: Vec<Value> = strs
        .into_values()
        .map(|(p, allowed)| json!({"path": p, "allowed": allowed.into_iter().map(|a| (a, json!(true))).collect::<Map<_, _>>()}))
        .collect();
    let lens: Vec<Value> = lens
        .into_values()
        .map(|(p, lo, hi)| json!({"path": p, "lo": lo, "hi": hi}))
        .collect();
    Some(json!({"num": num, "len": lens, "in": strs, "re": res}))
}

/// The simple-plan form: the plan's merged constraints (`num`, `len`, `in`, `re`: pass them and
/// no rule fails), and each rule's constraints flattened into per-kind lists tagged with the
/// rule's sort key (`rnum`: numbers within [lo, hi]; `rlen`: strings or arrays whose length is
/// within [lo, hi]; `rin`: strings in a set; `rre`: strings matching a regex), its violation by
/// key, and which keys are shadow rules. The library computes the set of failing keys with a few
/// comprehensions: empty means the precomputed allow decision.
fn per_rule_fast(
    merged: Value,
    rules: &[&Value],
    lists: &BTreeMap<&str, Vec<Value>>,
    present: &Present,
    t: &TenantOut,
) -> Option<Value> {
    let (mut rnum, mut rlen, mut rin, mut rre) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut vio = Map::new();
    let mut shadow = Map::new();
    // Each rule's own conditions, grouped once (not searched for once per rule: a plan with
    // thousands of rules made that quadratic).
    let mut by_rule: BTreeMap<&str, BTreeMap<&str, Vec<Value>>> = BTreeMap::new();
    for (op, cs) in lists {
        for c in cs {
            let rule = c["rule"].as_str().unwrap_or_default();
            by_rule
                .entry(rule)
                .or_default()
                .entry(*op)
                .or_default()
                .push(c.clone());
        }
    }
    for r in rules {
        let id = r["id"].as_str()?;
        let key = r["key"].as_str()?.to_string();
        let own = by_rule.remove(id).unwrap_or_default();
        let c = fast_constraints(&own, present)?;
        for mut e in c["num"].as_array().cloned().unwrap_or_default() {
            e["key"] = json!(key);
            rnum.push(e);
        }
        for mut e in c["len"].as_array().cloned().unwrap_or_default() {
            e["key"] = json!(key);
            rlen.push(e);
        }
        for mut e in c["in"].as_array().cloned().unwrap_or_default() {
            e["key"] = json!(key);
            rin.push(e);
        }
        for mut e in c["re"].as_array().cloned().unwrap_or_default() {
            e["key"] = json!(key);
            rre.push(e);
        }
        if r["mode"] == "shadow" {
            shadow.insert(key.clone(), json!(true));
        }
        vio.insert(key, r["vio"].clone());
    }
    Some(json!({
        "num": merged["num"],
        "len": merged["len"],
        "in": merged["in"],
        "re": merged["re"],
        "rnum": rnum,
        "rlen": rlen,
        "rin": rin,
        "rre": rre,
        "vio": vio,
        "shadow": shadow,
        "appeal_path": t.appeal_path.as_ref().map_or(Value::Null, |(p, _)| json!(p)),
    }))
}

/// Adds each fast plan's precomputed allow decision (it needs the final revision), or removes the
/// fast path everywhere when custom Rego may add violations the compiler cannot see.
pub(crate) fn add_allow_decisions(tenants: &mut Value, meta: &Value, enabled: bool) {
    let Some(ts) = tenants.as_object_mut() else {
        return;
    };
    for t in ts.values_mut() {
        let Some(agents) = t.get_mut("agents").and_then(Value::as_object_mut) else {
            continue;
        };
        for a in agents.values_mut() {
            let Some(plans) = a.get_mut("plans").and_then(Value::as_object_mut) else {
                continue;
            };
            for acts in plans.values_mut() {
                let Some(acts) = acts.as_object_mut() else {
                    continue;
                };
                for p in acts.values_mut() {
                    if !enabled {
                        if let Some(o) = p.as_object_mut() {
                            o.remove("fast");
                        }
                        continue;
                    }
                    if p.get("fast").is_none() {
                        continue;
                    }
                    let write = p["class"] != "read";
                    let d = json!({
                        "allow": true,
                        "outcome": "allow",
                        "reasons": [],
                        "remediation": null,
                        "violations": [],
                        "waived": [],
                        "redactions": [],
                        "consume": [],
                        "would_deny": false,
                        "shadow_violations": [],
                        "fail_mode": if p.get("fail_open").is_some() { "open" } else { "closed" },
                        "metadata": {
                            "policy_version": meta["policy_version"],
                            "bundle_revision": meta["revision"],
                            "library_version": meta["library_version"],
                            "matched_rules": p["matched"],
                            "rate_limit_remaining": null,
                            "audit_required": write,
                            "appeal_path": null,
                        },
                    });
                    p["fast"]["allow"] = d;
                }
            }
        }
    }
}

/// What a plan keeps of a rule: its sort key and its violation.
fn rule_info(r: &Value) -> Value {
    json!({"key": r["key"], "x": {"vio": r["vio"], "mode": r["mode"], "priority": r["priority"]}})
}

fn limit_entry(l: &Value) -> Value {
    json!({
        "id": l["id"], "kind": l["kind"], "per": l["per"], "max": l["max"],
        "window_seconds": l["window_seconds"], "path": l["path"], "label": l["label"],
        "key": l["key"], "shadow": l["mode"] == "shadow",
        "x": {"vio": l["vio"], "mode": l["mode"], "priority": l["priority"]},
    })
}

/// A scope's workflow rules, checked through the generic path.
fn scope_plan(rules: &Map<String, Value>) -> Value {
    let mut info = Map::new();
    let mut generic = Vec::new();
    for (id, r) in rules {
        info.insert(id.clone(), rule_info(r));
        for c in r["require"].as_array().into_iter().flatten() {
            let mut c = c.clone();
            c["rule"] = json!(id);
            generic.push(c);
        }
    }
    json!({"rules": info, "generic": generic})
}

/// The tenant's compiled data: plans per agent, scopes, data classes, settings.
pub(crate) fn tenant_json(t: &TenantOut) -> Value {
    let mut agents = Map::new();
    for (aid, a) in &t.agents {
        let mut plans: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for (tool, action) in plan_keys(t, aid, a) {
            if !granted(t, a, &tool, &action) && !forbidden(t, a, &tool, &action) {
                continue;
            }
            plans
                .entry(tool.clone())
                .or_default()
                .insert(action.clone(), plan(t, aid, a, &tool, &action));
        }
        let plans: Map<String, Value> = plans
            .into_iter()
            .map(|(k, v)| (k, Value::Object(v)))
            .collect();
        agents.insert(aid.clone(), json!({"plans": plans}));
    }
    let scopes: Map<String, Value> = t
        .scopes
        .iter()
        .map(|(k, v)| (k.clone(), scope_plan(v)))
        .collect();
    json!({
        "appeal_path": t.appeal_path.as_ref().map(|(p, _)| p.clone()),
        "data_classes": t.data_classes.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect::<Map<_, _>>(),
        "scopes": scopes,
        "agents": agents,
    })
}
