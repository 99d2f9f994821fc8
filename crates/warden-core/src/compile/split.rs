//! Splitting compiled output into bundles that can be served side by side: one bundle with the
//! shared library (roots `warden/main`) and one per tenant (roots `warden/tenants/<id>`), each
//! with its own revision, reloaded on its own.

use serde_json::{json, Value};

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
        let data = json!({"warden": {"tenants": {id: tenant}}});
        let text = serde_json::to_string(&data).unwrap_or_default();
        Ok(BundlePart {
            roots: vec![format!("warden/tenants/{id}")],
            files: vec![("data.json".into(), text.into_bytes())],
            revision: self.revision.clone(),
        })
    }
}
