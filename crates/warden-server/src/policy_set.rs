//! Several bundles active at once, as in OPA: each bundle owns the data paths and packages under
//! its manifest `roots`, roots of different bundles may not overlap, and the policy set that
//! decides is the union of every active bundle's modules and data. A bundle whose roots collide
//! with another's, or whose data or packages stray outside its roots, is rejected and the set
//! that was serving keeps serving.
//!
//! Pure functions (no I/O), so the rules can be tested alone.

use std::collections::BTreeMap;

use regorus::Value;
use warden_engine::{Evaluator, Prepared, Source as Module};

/// One verified bundle, ready to be merged.
#[derive(Debug, Clone)]
pub struct Part {
    /// Its revision (`.manifest`, or a content fingerprint).
    pub revision: String,
    /// Its roots (`""` owns everything).
    pub roots: Vec<String>,
    /// Its Rego modules (paths as in the bundle).
    pub modules: Vec<Module>,
    /// Its data document (engine values: merging shares subtrees instead of copying them).
    pub data: Value,
}

fn segments(path: &str) -> Vec<&str> {
    path.split(['/', '.']).filter(|s| !s.is_empty()).collect()
}

/// Whether one of the two paths is a prefix of the other (segment-wise).
fn overlaps(a: &[&str], b: &[&str]) -> bool {
    a.iter().zip(b.iter()).all(|(x, y)| x == y)
}

fn under(path: &[&str], roots: &[Vec<&str>]) -> bool {
    roots
        .iter()
        .any(|r| r.len() <= path.len() && r.iter().zip(path).all(|(x, y)| x == y))
}

/// The package a module declares, as path segments (`package a.b` → `["a", "b"]`).
fn package(text: &str) -> Option<Vec<&str>> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("package "))?;
    let name = line["package ".len()..].split('#').next()?.trim();
    Some(name.split('.').filter(|s| !s.is_empty()).collect())
}

/// Checks one bundle's data and packages against its own roots.
fn check_within(name: &str, part: &Part) -> Result<(), String> {
    let roots: Vec<Vec<&str>> = part.roots.iter().map(|r| segments(r)).collect();
    for m in &part.modules {
        let pkg = package(&m.text).unwrap_or_default();
        if !under(&pkg, &roots) {
            return Err(format!(
                "bundle {name}: module {} declares package {} outside the bundle's roots {:?}",
                m.path,
                pkg.join("."),
                part.roots
            ));
        }
    }
    fn walk<'a>(
        name: &str,
        v: &'a Value,
        path: &mut Vec<&'a str>,
        roots: &[Vec<&str>],
        all: &[String],
    ) -> Result<(), String> {
        if under(path, roots) {
            return Ok(());
        }
        match v {
            Value::Object(m) if roots.iter().any(|r| overlaps(r, path)) => {
                for (k, child) in m.iter() {
                    let Value::String(k) = k else {
                        return Err(format!("bundle {name}: data has a non-string key"));
                    };
                    path.push(k);
                    walk(name, child, path, roots, all)?;
                    path.pop();
                }
                Ok(())
            }
            _ => Err(format!(
                "bundle {name}: data at /{} is outside the bundle's roots {all:?}",
                path.join("/")
            )),
        }
    }
    walk(name, &part.data, &mut Vec::new(), &roots, &part.roots)
}

/// Deep-merges `from` into `into`: objects key by key, anything else replaces. Subtrees are
/// shared (reference-counted), not copied; only the objects on merged paths are rebuilt.
pub fn merge_value(into: &mut Value, from: Value) {
    match (into, from) {
        (a @ Value::Object(_), Value::Object(b)) => {
            let Ok(a) = a.as_object_mut() else { return };
            for (k, v) in b.iter() {
                match a.get_mut(k) {
                    Some(existing) if matches!(existing, Value::Object(_)) => {
                        merge_value(existing, v.clone())
                    }
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (a, b) => *a = b,
    }
}

/// Checks the bundles against each other and merges them into one policy set.
///
/// Module paths are prefixed with their bundle's name (as OPA does), so two bundles may both hold
/// e.g. `policy.rego`. A set containing Warden's library (`package warden.main`) compiles its
/// decision query to RVM bytecode; any other set runs on the interpreter.
pub fn merge(parts: &BTreeMap<String, Part>) -> Result<Prepared, String> {
    for (name, part) in parts {
        check_within(name, part)?;
    }
    let names: Vec<&String> = parts.keys().collect();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            for ra in &parts[*a].roots {
                for rb in &parts[*b].roots {
                    if overlaps(&segments(ra), &segments(rb)) {
                        return Err(format!(
                            "bundles {a} and {b} have overlapping roots (`{ra}` and `{rb}`): each data path and package must belong to one bundle"
                        ));
                    }
                }
            }
        }
    }
    // One bundle: its data as it is (no copy). Several: merged, sharing every subtree.
    let mut data = match parts.values().next() {
        Some(p) if parts.len() == 1 => p.data.clone(),
        _ => Value::new_object(),
    };
    let mut modules = Vec::new();
    let mut warden = false;
    for (name, part) in parts {
        if parts.len() > 1 {
            merge_value(&mut data, part.data.clone());
        }
        for m in &part.modules {
            warden |= package(&m.text) == Some(vec!["warden", "main"]);
            modules.push(Module {
                path: format!("{name}/{}", m.path),
                text: m.text.clone(),
            });
        }
    }
    if modules.is_empty() {
        return Err("no active bundle has Rego modules".into());
    }
    let (queries, evaluator) = if warden {
        (vec![warden_core::DECISION_QUERY], Evaluator::Rvm)
    } else {
        (vec![], Evaluator::Interpreter)
    };
    let revisions: BTreeMap<String, String> = parts
        .iter()
        .map(|(n, p)| (n.clone(), p.revision.clone()))
        .collect();
    let revision = if revisions.len() == 1 {
        revisions.values().next().cloned().unwrap_or_default()
    } else {
        revisions
            .iter()
            .map(|(n, r)| format!("{n}={r}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let set = Prepared::with_evaluator(&modules, data, &queries, &revision, evaluator)
        .map_err(|e| e.to_string())?;
    // A VM per worker thread, loaded here (on the loader's thread) rather than by the first call
    // on each worker after the swap.
    for q in &queries {
        set.warm(q, crate::workers::count())
            .map_err(|e| e.to_string())?;
    }
    Ok(set.with_bundles(revisions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn part(roots: &[&str], pkg: &str, data: serde_json::Value) -> Part {
        let data = warden_engine::to_value(&data).unwrap();
        Part {
            revision: "r".into(),
            roots: roots.iter().map(|s| s.to_string()).collect(),
            modules: vec![Module {
                path: "p.rego".into(),
                text: format!("package {pkg}\nx := 1\n"),
            }],
            data,
        }
    }

    #[test]
    fn disjoint_bundles_merge() {
        let mut parts = BTreeMap::new();
        parts.insert("a".into(), part(&["a"], "a.p", json!({"a": {"v": 1}})));
        parts.insert(
            "b".into(),
            part(&["b/c"], "b.c", json!({"b": {"c": {"v": 2}}})),
        );
        let p = merge(&parts).unwrap();
        assert_eq!(p.bundles().len(), 2);
        assert_eq!(p.revision(), "a=r,b=r");
    }

    #[test]
    fn overlapping_roots_are_rejected() {
        let mut parts = BTreeMap::new();
        parts.insert("a".into(), part(&["x"], "x.p", json!({})));
        parts.insert("b".into(), part(&["x/y"], "x.y", json!({})));
        let e = merge(&parts).err().unwrap();
        assert!(e.contains("overlapping roots"), "{e}");
        // An empty root owns everything.
        parts.insert("b".into(), part(&[""], "z", json!({})));
        assert!(merge(&parts).is_err());
    }

    #[test]
    fn data_and_packages_must_stay_under_roots() {
        let mut parts = BTreeMap::new();
        parts.insert("a".into(), part(&["a"], "a.p", json!({"b": 1})));
        let e = merge(&parts).err().unwrap();
        assert!(e.contains("data at /b is outside"), "{e}");
        parts.insert("a".into(), part(&["a"], "b.p", json!({})));
        let e = merge(&parts).err().unwrap();
        assert!(e.contains("package b.p outside"), "{e}");
        // Sibling keys under a root's parent are fine when they are roots themselves.
        parts.insert(
            "a".into(),
            part(&["w/a", "w/b"], "w.a", json!({"w": {"a": 1, "b": 2}})),
        );
        assert!(merge(&parts).is_ok());
    }
}
