//! The bundle `.manifest`: revision, roots, Rego version, and who changed what and why.

use serde::{Deserialize, Serialize};

/// OPA's `.manifest`, with Warden's governance fields under `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Bundle revision (Warden: the compiled content hash, or one given at build time).
    #[serde(default)]
    pub revision: String,
    /// Paths under `data` this bundle owns (OPA's default `[""]`: everything).
    #[serde(default = "all_roots")]
    pub roots: Vec<String>,
    /// 0 or 1; Warden writes Rego v1 (OPA's default for bundles without it).
    #[serde(default = "rego_v1")]
    pub rego_version: u8,
    /// Free-form metadata; OPA exposes it under `data.system`.
    #[serde(default)]
    pub metadata: ManifestMetadata,
}

/// Who built the bundle, why, from what.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestMetadata {
    /// Author of the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Why the policies changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_reason: Option<String>,
    /// Source commit the policies came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_commit: Option<String>,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Policy version (`warden.yaml` version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

fn all_roots() -> Vec<String> {
    vec![String::new()]
}

fn rego_v1() -> u8 {
    1
}

impl Manifest {
    /// The manifest as written into a bundle (pretty JSON, sorted keys, trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(&serde_json::to_value(self).unwrap_or_default())
            .unwrap_or_default();
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::Manifest;

    #[test]
    fn minimal_manifests_get_opas_defaults() {
        let m: Manifest = serde_json::from_str(r#"{"revision": "r1"}"#).unwrap();
        assert_eq!((m.roots, m.rego_version), (vec![String::new()], 1));
        assert!(serde_json::from_str::<Manifest>("{}").is_ok());
    }
}
