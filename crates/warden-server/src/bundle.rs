//! Reading, verifying and preparing bundles from a `.tar.gz` file or an OPA bundle directory.

use std::path::{Path, PathBuf};

use warden_bundle::{read_archive, verify, VerificationConfig};
use warden_engine::Source as Module;

use crate::policy_set::Part;

/// Where a bundle comes from.
#[derive(Debug, Clone)]
pub enum BundleSource {
    /// A `.tar.gz` bundle file.
    File(PathBuf),
    /// A bundle directory (`.rego` files, `data.json` files, optional `.manifest`).
    Dir(PathBuf),
    /// An OPA bundle service: `GET url` with `If-None-Match`, `304 Not Modified` when unchanged.
    Http(String),
}

impl BundleSource {
    /// A file or directory, by what is on disk.
    pub fn from_path(p: &Path) -> Self {
        let text = p.to_string_lossy();
        if text.starts_with("http://") || text.starts_with("https://") {
            return BundleSource::Http(text.into_owned());
        }
        if p.is_dir() {
            BundleSource::Dir(p.to_path_buf())
        } else {
            BundleSource::File(p.to_path_buf())
        }
    }

    /// For status reports.
    pub fn describe(&self) -> String {
        match self {
            BundleSource::File(p) => format!("file:{}", p.display()),
            BundleSource::Dir(p) => format!("dir:{}", p.display()),
            BundleSource::Http(u) => u.clone(),
        }
    }

    /// The bundle's files (archive order; names without a leading `/`) and a fingerprint of them.
    pub fn read(&self) -> Result<(warden_bundle::Files, u64), String> {
        let files = match self {
            BundleSource::File(p) => {
                let bytes =
                    std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                read_archive(&bytes).map_err(|e| e.to_string())?
            }
            BundleSource::Dir(d) => {
                let mut out = Vec::new();
                walk(d, d, &mut out)?;
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
            BundleSource::Http(u) => return Err(format!("{u} is fetched asynchronously")),
        };
        let fp = fingerprint(&files);
        Ok((files, fp))
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') && name != ".manifest" && name != ".signatures.json" {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out)?;
        } else if p.is_file() {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((
                rel,
                std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            ));
        }
    }
    Ok(())
}

/// Verifies (when a configuration is given) and reads a bundle's files into a [`Part`] of the
/// policy set; the service merges it with the other active bundles.
pub fn load(
    files: &[(String, Vec<u8>)],
    verification: Option<&VerificationConfig>,
) -> Result<Part, String> {
    let signed = files.iter().any(|(n, _)| n == ".signatures.json");
    if let Some(cfg) = verification {
        // Stricter than OPA, which lets an unsigned bundle through when no key id is configured:
        // a server with a verification key only serves signed bundles.
        if !signed {
            return Err(
                "bundle verification failed [unsigned]: bundle missing .signatures.json file"
                    .into(),
            );
        }
        verify(files, Some(cfg))
            .map_err(|e| format!("bundle verification failed [{}]: {}", e.kind, e.message))?;
    } else if signed {
        // OPA rejects a signed bundle when no key is configured; so do we.
        return Err("bundle is signed but no verification key is configured".into());
    }
    let c = warden_bundle::contents(files)?;
    let (mut revision, roots) = match c.manifest {
        Some(m) => (m.revision, m.roots),
        None => (String::new(), vec![String::new()]),
    };
    let modules: Vec<Module> = c
        .modules
        .into_iter()
        .map(|(path, text)| Module { path, text })
        .collect();
    if modules.is_empty() && c.data.as_object().is_none_or(|m| m.is_empty()) {
        return Err("bundle has neither Rego modules nor data".into());
    }
    if revision.is_empty() {
        // No manifest: name the content.
        revision = format!("{:016x}", fingerprint(files));
    }
    Ok(Part {
        revision,
        roots: if roots.is_empty() {
            vec![String::new()]
        } else {
            roots
        },
        modules,
        data: c.data,
    })
}

/// What a bundle service answered.
pub enum Fetched {
    /// `304 Not Modified`: the active bundle is current.
    NotModified,
    /// A bundle, with its `ETag` if the service sent one.
    Bundle {
        /// Its files.
        files: warden_bundle::Files,
        /// Its fingerprint.
        fingerprint: u64,
        /// The service's `ETag`.
        etag: Option<String>,
    },
}

/// Fetches from an OPA bundle service, sending the last activated ETag as `If-None-Match`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    etag: Option<&str>,
) -> Result<Fetched, String> {
    let mut req = client.get(url);
    if let Some(e) = etag {
        req = req.header("If-None-Match", e);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("bundle service {url} unreachable: {}", chain(&e)))?;
    match resp.status().as_u16() {
        304 => Ok(Fetched::NotModified),
        200 => {
            let etag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| format!("bundle service {url}: {e}"))?;
            let files = read_archive(&bytes).map_err(|e| e.to_string())?;
            let fingerprint = fingerprint(&files);
            Ok(Fetched::Bundle {
                files,
                fingerprint,
                etag,
            })
        }
        code => Err(format!("bundle service {url} answered HTTP {code}")),
    }
}

/// An error with its causes (reqwest's own message omits e.g. why a certificate was rejected).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// A change detector over names and bytes (not a security hash: verification is).
pub fn fingerprint(files: &[(String, Vec<u8>)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    files.hash(&mut h);
    h.finish()
}
