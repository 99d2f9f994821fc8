//! Reading, verifying and preparing bundles from a `.tar.gz` file or an OPA bundle directory.

use std::path::{Path, PathBuf};

use warden_bundle::{read_archive_with, verify_with, VerificationConfig};
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

    /// The bundle as stored: a file's archive bytes (not unpacked yet) or a directory's files.
    pub fn read_raw(&self) -> Result<Raw, String> {
        match self {
            BundleSource::File(p) => {
                let max = warden_bundle::archive::MAX_ARCHIVE_BYTES;
                let len = std::fs::metadata(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))?
                    .len();
                if len > max {
                    return Err(format!(
                        "{} is {len} bytes; a bundle archive may have at most {max}",
                        p.display()
                    ));
                }
                std::fs::read(p)
                    .map(Raw::Archive)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))
            }
            BundleSource::Dir(d) => {
                let mut out = Vec::new();
                walk(d, d, &mut out)?;
                out.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Raw::Files(out))
            }
            BundleSource::Http(u) => Err(format!("{u} is fetched asynchronously")),
        }
    }

    /// The bundle's files (archive order; names without a leading `/`) and its fingerprint.
    pub fn read(&self) -> Result<(warden_bundle::Files, u64), String> {
        let raw = self.read_raw()?;
        let fp = raw.fingerprint();
        Ok((raw.unpack()?.0, fp))
    }
}

/// A bundle as read, before unpacking: polls compare fingerprints of this, so an unchanged
/// bundle is never unpacked or parsed again.
pub enum Raw {
    /// A `.tar.gz` archive's bytes.
    Archive(Vec<u8>),
    /// A directory's files.
    Files(warden_bundle::Files),
}

impl Raw {
    /// A change detector over the stored form (not a security hash: verification is).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        match self {
            Raw::Archive(b) => b.hash(&mut h),
            Raw::Files(f) => f.hash(&mut h),
        }
        h.finish()
    }

    /// The files, and the archive bytes when there were some (persisted as they are).
    pub fn unpack(self) -> Result<(warden_bundle::Files, Option<Vec<u8>>), String> {
        match self {
            Raw::Archive(bytes) => {
                // A loader thread paces its decompression (see `crate::pace`).
                let files =
                    read_archive_with(&bytes, crate::pace::point).map_err(|e| e.to_string())?;
                Ok((files, Some(bytes)))
            }
            Raw::Files(f) => Ok((f, None)),
        }
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
        verify_with(files, Some(cfg), crate::pace::point)
            .map_err(|e| format!("bundle verification failed [{}]: {}", e.kind, e.message))?;
    } else if signed {
        // OPA rejects a signed bundle when no key is configured; so do we.
        return Err("bundle is signed but no verification key is configured".into());
    }
    let c = warden_bundle::contents_without_data(files)?;
    let data = data_document(files)?;
    let (mut revision, roots) = match c.manifest {
        Some(m) => (m.revision, m.roots),
        None => (String::new(), vec![String::new()]),
    };
    let modules: Vec<Module> = c
        .modules
        .into_iter()
        .map(|(path, text)| Module { path, text })
        .collect();
    if modules.is_empty() && data.as_object().is_ok_and(|m| m.is_empty()) {
        return Err("bundle has neither Rego modules nor data".into());
    }
    if revision.is_empty() {
        revision =
            compiled_revision(&data).unwrap_or_else(|| format!("{:016x}", fingerprint(files)));
    }
    Ok(Part {
        revision,
        roots: if roots.is_empty() {
            vec![String::new()]
        } else {
            roots
        },
        modules,
        data,
    })
}

/// The revision a bundle without a `.manifest` gets when it is Warden's compiled output (`warden
/// compile`): the compiled content hash in `data.warden.meta.revision`, which is what its
/// decisions report as `metadata.bundle_revision` and what `warden bundle build` writes into a
/// manifest. Naming the directory by a fingerprint of its files instead made `/v1/status`,
/// `/metrics` and the audit record's `bundles` disagree with the decisions. `None` for other
/// bundles (raw Rego), which are named by their fingerprint.
fn compiled_revision(data: &regorus::Value) -> Option<String> {
    match &data["warden"]["meta"]["revision"] {
        regorus::Value::String(r) if !r.is_empty() => Some(r.to_string()),
        _ => None,
    }
}

/// The bundle's data document as engine values: each `data.json` parsed straight into shared
/// regorus values (every repeated string and subtree stored once, see `warden_engine::share`)
/// and mounted at its directory, as OPA does.
fn data_document(files: &[(String, Vec<u8>)]) -> Result<regorus::Value, String> {
    let mut data = regorus::Value::new_object();
    let mut sharer = warden_engine::share::Sharer::new().with_pause_point(crate::pace::point);
    for (name, mount, bytes) in warden_bundle::data_files(files) {
        let text = std::str::from_utf8(bytes).map_err(|_| format!("{name}: not UTF-8"))?;
        let mut doc = sharer
            .read_json(text)
            .map_err(|e| format!("{name}: not valid JSON: {e}"))?;
        for dir in mount.iter().rev() {
            let mut obj = regorus::Value::new_object();
            obj.as_object_mut()
                .map_err(|e| e.to_string())?
                .insert(regorus::Value::from(*dir), doc);
            doc = obj;
        }
        crate::policy_set::merge_value(&mut data, doc);
    }
    Ok(data)
}

/// What a bundle service answered.
pub enum Fetched {
    /// `304 Not Modified`: the active bundle is current.
    NotModified,
    /// A bundle, with its `ETag` if the service sent one.
    Bundle {
        /// Its archive, not unpacked yet.
        raw: Raw,
        /// The service's `ETag`.
        etag: Option<String>,
    },
}

/// The content type with which a bundle service says it long-polls (OPA's protocol).
pub const LONG_POLL_CONTENT_TYPE: &str = "application/vnd.openpolicyagent.bundles";

/// Fetches from an OPA bundle service, sending the last activated ETag as `If-None-Match` and,
/// with `long_poll`, OPA's `Prefer: wait=<seconds>` (a service that supports it holds the request
/// until the bundle changes). Also returns whether the service answered as a long-polling one.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    etag: Option<&str>,
    long_poll: Option<std::time::Duration>,
) -> Result<(Fetched, bool), String> {
    let mut req = client.get(url);
    if let Some(e) = etag {
        req = req.header("If-None-Match", e);
    }
    if let Some(w) = long_poll {
        req = req
            .header("Prefer", format!("wait={}", w.as_secs().max(1)))
            .timeout(w + std::time::Duration::from_secs(10));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("bundle service {url} unreachable: {}", chain(&e)))?;
    let long_polling = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(LONG_POLL_CONTENT_TYPE));
    fetched(url, resp).await.map(|f| (f, long_polling))
}

async fn fetched(url: &str, resp: reqwest::Response) -> Result<Fetched, String> {
    match resp.status().as_u16() {
        304 => Ok(Fetched::NotModified),
        200 => {
            let etag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // Read in chunks against a cap, so a service (or whoever sits between) cannot
            // make the gateway buffer an endless body before the archive is even checked.
            let max = warden_bundle::archive::MAX_ARCHIVE_BYTES;
            let too_big = || format!("bundle service {url}: the bundle is over {max} bytes");
            if resp.content_length().is_some_and(|n| n > max) {
                return Err(too_big());
            }
            let mut resp = resp;
            let mut bytes = Vec::new();
            while let Some(c) = resp
                .chunk()
                .await
                .map_err(|e| format!("bundle service {url}: {}", chain(&e)))?
            {
                if bytes.len() as u64 + c.len() as u64 > max {
                    return Err(too_big());
                }
                bytes.extend_from_slice(&c);
            }
            Ok(Fetched::Bundle {
                raw: Raw::Archive(bytes),
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
