//! What a bundle holds, read the way OPA reads it: every `data.json` mounted at its directory's
//! path under `data` (and merged), every `.rego` file a module, the `.manifest` if there is one.

use serde_json::Value;

use crate::manifest::Manifest;

/// A bundle's modules, data and manifest.
#[derive(Debug, Clone)]
pub struct Contents {
    /// (path, Rego text) of every module.
    pub modules: Vec<(String, String)>,
    /// The merged data document.
    pub data: Value,
    /// The manifest, when the bundle has one.
    pub manifest: Option<Manifest>,
}

/// Reads `files` (names without a leading `/`). Errors name the file.
pub fn contents(files: &[(String, Vec<u8>)]) -> Result<Contents, String> {
    read(files, true)
}

/// Like [`contents`] but leaves `data` empty, for callers that parse the data files themselves
/// (see [`data_files`]) into another representation.
pub fn contents_without_data(files: &[(String, Vec<u8>)]) -> Result<Contents, String> {
    read(files, false)
}

/// Every `data.json` file with the directory path it mounts at (OPA's layout), in bundle order.
pub fn data_files(files: &[(String, Vec<u8>)]) -> Vec<(&str, Vec<&str>, &[u8])> {
    files
        .iter()
        .filter(|(name, _)| name.rsplit('/').next() == Some("data.json"))
        .map(|(name, bytes)| {
            let dirs: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
            let mount = dirs[..dirs.len().saturating_sub(1)].to_vec();
            (name.as_str(), mount, bytes.as_slice())
        })
        .collect()
}

fn read(files: &[(String, Vec<u8>)], with_data: bool) -> Result<Contents, String> {
    let mut out = Contents {
        modules: Vec::new(),
        data: Value::Object(Default::default()),
        manifest: None,
    };
    for (name, bytes) in files {
        let base = name.rsplit('/').next().unwrap_or(name);
        if name == ".manifest" {
            out.manifest =
                Some(serde_json::from_slice(bytes).map_err(|e| format!(".manifest: {e}"))?);
        } else if base == "data.json" && with_data {
            let mut doc: Value = serde_json::from_slice(bytes)
                .map_err(|e| format!("{name}: not valid JSON: {e}"))?;
            let dirs: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
            for part in dirs[..dirs.len().saturating_sub(1)].iter().rev() {
                doc = serde_json::json!({ *part: doc });
            }
            merge(&mut out.data, doc);
        } else if base.ends_with(".rego") {
            let text =
                String::from_utf8(bytes.clone()).map_err(|_| format!("{name}: not UTF-8"))?;
            out.modules.push((name.clone(), text));
        }
    }
    Ok(out)
}

/// Deep-merges `over` into `base`: objects key by key, anything else (null included) replaces.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

#[cfg(test)]
mod tests {
    use super::contents;
    use serde_json::json;

    #[test]
    fn data_files_mount_at_their_directory_and_nulls_are_kept() {
        let c = contents(&[
            (
                "data.json".into(),
                br#"{"a": {"x": 1}, "n": null}"#.to_vec(),
            ),
            ("a/data.json".into(), br#"{"y": 2}"#.to_vec()),
            ("p/q.rego".into(), b"package p".to_vec()),
        ])
        .unwrap();
        assert_eq!(c.data, json!({"a": {"x": 1, "y": 2}, "n": null}));
        assert_eq!(
            c.modules,
            vec![("p/q.rego".to_string(), "package p".to_string())]
        );
        assert!(c.manifest.is_none());
        assert!(contents(&[("a/data.json".into(), b"{".to_vec())])
            .unwrap_err()
            .contains("a/data.json"));
    }
}
