//! Splitting compiled output into bundles that can be served side by side: one bundle with the
//! shared library (roots `warden/main`) and one per tenant (roots `warden/tenants/<id>`), each
//! with its own revision, reloaded on its own.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Compiled, LIBRARY};

/// One bundle's worth of compiled output.
#[derive(Debug, Clone)]
pub struct BundlePart {
    /// The manifest roots the bundle owns.
    pub roots: Vec<String>,
    /// Its files: `data.json` (when it has data), then modules.
    pub files: Vec<(String, Vec<u8>)>,
    /// Its revision.
    pub revision: String,
}

impl Compiled {
    /// The shared library alone, named by its version.
    pub fn library_part() -> BundlePart {
        BundlePart {
            roots: vec!["warden/main".into()],
            files: vec![("warden/main.rego".into(), LIBRARY.as_bytes().to_vec())],
            revision: format!("library-{}", super::LIBRARY_VERSION),
        }
    }

    /// Tenant `id`'s compiled data alone, carrying its own `meta` (policy version, revision).
    /// Custom Rego cannot be split per tenant: its packages are shared, so it is an error.
    pub fn tenant_part(&self, id: &str) -> Result<BundlePart, String> {
        if self.modules.iter().any(|(p, _)| p != "warden/main.rego") {
            return Err("this project has custom Rego modules; a per-tenant bundle carries data only (bundle the project whole instead)".into());
        }
        let tenants = &self.data["warden"]["tenants"];
        let Some(mut tenant) = tenants.get(id).cloned() else {
            let known: Vec<&String> = tenants
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            return Err(format!(
                "no tenant `{id}` in this project (tenants: {known:?})"
            ));
        };
        let meta = self.data["warden"]["meta"].clone();
        if let Value::Object(t) = &mut tenant {
            t.insert("meta".into(), meta);
        }
        // Its own revision, from its own content: the project's revision (in its meta and in
        // every precomputed allow decision) changes with any tenant, which would make every
        // tenant's bundle change, and reload, whenever one tenant's policy does.
        rewrite_strings(&mut tenant, &self.revision, "");
        let mut hasher = Sha256::new();
        hasher.update(id.as_bytes());
        hasher.update([0]);
        hasher.update(serde_json::to_vec(&tenant).unwrap_or_default());
        let revision = hex::encode(&hasher.finalize()[..8]);
        rewrite_revisions(&mut tenant, &revision);
        let data = json!({"warden": {"tenants": {id: tenant}}});
        let text = serde_json::to_string(&data).unwrap_or_default();
        Ok(BundlePart {
            roots: vec![format!("warden/tenants/{id}")],
            files: vec![("data.json".into(), text.into_bytes())],
            revision,
        })
    }
}

/// Replaces every string equal to `from` in `v` with `to`.
fn rewrite_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s == from => *s = to.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_strings(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| rewrite_strings(x, from, to)),
        _ => {}
    }
}

/// Sets the revision where the compiler put the project's: `meta.revision` and each
/// precomputed decision's `metadata.bundle_revision` (emptied by [`rewrite_strings`]).
fn rewrite_revisions(v: &mut Value, revision: &str) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match (k.as_str(), &*x) {
                    ("revision" | "bundle_revision", Value::String(s)) if s.is_empty() => {
                        *x = Value::String(revision.to_string());
                    }
                    _ => rewrite_revisions(x, revision),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_revisions(x, revision)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::{compile, load};

    fn project(acme_cap: u32, globex_cap: u32) -> crate::Compiled {
        let file = |tenant: &str, cap: u32| {
            let yaml = format!("warden: 1\ntenant: {tenant}\nagents:\n  a:\n    tools:\n      pay:\n        go:\n          rules:\n            - {{ id: cap, require: {{ args.amount: {{ max: {cap} }} }}, reason: too_much }}\n");
            load(&format!("{tenant}.yaml"), &yaml).unwrap()
        };
        compile(
            &[file("acme", acme_cap), file("globex", globex_cap)],
            &[],
            "1",
        )
        .unwrap()
    }

    /// A tenant's bundle changes only when its own policy does: its revision and its data do not
    /// carry the whole project's revision, and every place that names a revision names its own.
    #[test]
    fn a_tenant_bundle_has_its_own_revision_and_changes_only_with_its_policy() {
        let before = project(100, 200);
        let after = project(100, 300); // only globex changed
        assert_ne!(before.revision, after.revision);
        let (a0, a1) = (
            before.tenant_part("acme").unwrap(),
            after.tenant_part("acme").unwrap(),
        );
        assert_eq!(a0.revision, a1.revision);
        assert_eq!(
            a0.files, a1.files,
            "acme's bundle is byte for byte the same"
        );
        let g0 = before.tenant_part("globex").unwrap();
        let g1 = after.tenant_part("globex").unwrap();
        assert_ne!(g0.revision, g1.revision);
        assert_ne!(a0.revision, g0.revision);
        let text = String::from_utf8(a0.files[0].1.clone()).unwrap();
        assert!(!text.contains(&before.revision), "{text}");
        assert!(
            text.contains(&format!("\"revision\":\"{}\"", a0.revision)),
            "{text}"
        );
        assert!(
            text.contains(&format!("\"bundle_revision\":\"{}\"", a0.revision)),
            "{text}"
        );
    }
}
