//! File digests as OPA computes them for bundle signatures: structured files (`data.json`,
//! `data.yaml`, `.manifest`, `.signatures.json`) over their canonical JSON, everything else over the
//! raw bytes.

use sha2::Digest;

use crate::canonical::canonical_json_with;

/// The hash algorithms OPA names in `.signatures.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `MD5`
    Md5,
    /// `SHA-1`
    Sha1,
    /// `SHA-224`
    Sha224,
    /// `SHA-256`
    Sha256,
    /// `SHA-384`
    Sha384,
    /// `SHA-512`
    Sha512,
    /// `SHA-512-224`
    Sha512_224,
    /// `SHA-512-256`
    Sha512_256,
}

impl HashAlgorithm {
    /// The algorithm with OPA's exact name (case-sensitive; `sha256` and `SHA256` are not names).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "MD5" => Self::Md5,
            "SHA-1" => Self::Sha1,
            "SHA-224" => Self::Sha224,
            "SHA-256" => Self::Sha256,
            "SHA-384" => Self::Sha384,
            "SHA-512" => Self::Sha512,
            "SHA-512-224" => Self::Sha512_224,
            "SHA-512-256" => Self::Sha512_256,
            _ => return None,
        })
    }

    fn digest(self, bytes: &[u8], pause_point: fn()) -> String {
        match self {
            Self::Md5 => chunked::<md5::Md5>(bytes, pause_point),
            Self::Sha1 => chunked::<sha1::Sha1>(bytes, pause_point),
            Self::Sha224 => chunked::<sha2::Sha224>(bytes, pause_point),
            Self::Sha256 => chunked::<sha2::Sha256>(bytes, pause_point),
            Self::Sha384 => chunked::<sha2::Sha384>(bytes, pause_point),
            Self::Sha512 => chunked::<sha2::Sha512>(bytes, pause_point),
            Self::Sha512_224 => chunked::<sha2::Sha512_224>(bytes, pause_point),
            Self::Sha512_256 => chunked::<sha2::Sha512_256>(bytes, pause_point),
        }
    }
}

/// Bytes hashed between two calls of a pause point (~0.1 ms of SHA-256).
const HASH_CHUNK: usize = 64 * 1024;

/// The hex digest of `bytes`, fed to the hasher a chunk at a time with a pause point between.
fn chunked<D: Digest>(bytes: &[u8], pause_point: fn()) -> String {
    let mut d = D::new();
    for chunk in bytes.chunks(HASH_CHUNK) {
        d.update(chunk);
        pause_point();
    }
    hex::encode(d.finalize())
}

/// Whether OPA hashes this file over its canonical JSON.
pub fn is_structured(name: &str) -> bool {
    matches!(
        name.rsplit('/').next(),
        Some("data.json" | "data.yaml" | ".manifest" | ".signatures.json")
    )
}

/// The digest of one bundle file.
pub fn file_digest(name: &str, bytes: &[u8], alg: HashAlgorithm) -> Result<String, String> {
    file_digest_with(name, bytes, alg, || {})
}

/// [`file_digest`], calling `pause_point` every few tens of µs of work.
pub fn file_digest_with(
    name: &str,
    bytes: &[u8],
    alg: HashAlgorithm,
    pause_point: fn(),
) -> Result<String, String> {
    if !is_structured(name) {
        return Ok(alg.digest(bytes, pause_point));
    }
    if name.ends_with(".yaml") {
        return Err("data.yaml is not supported in signed bundles; use data.json".into());
    }
    let text = canonical_json_with(bytes, pause_point).map_err(|e| e.to_string())?;
    Ok(alg.digest(text.as_bytes(), pause_point))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static PAUSES: AtomicUsize = AtomicUsize::new(0);
    fn count() {
        PAUSES.fetch_add(1, Relaxed);
    }

    /// Hashing a large file reaches a pause point regularly and gives the same digest.
    #[test]
    fn digests_pause_in_proportion_to_the_work() {
        let items: Vec<String> = (0..10_000).map(|i| format!("{{\"k\":{i}}}")).collect();
        let data = format!("[{}]", items.join(",")).into_bytes();
        let plain = vec![7u8; 1 << 20];
        for (name, bytes, at_least) in [
            ("data.json", &data, 20_000 / 256),
            ("policy.rego", &plain, (1 << 20) / HASH_CHUNK),
        ] {
            PAUSES.store(0, Relaxed);
            let paced = file_digest_with(name, bytes, HashAlgorithm::Sha256, count);
            assert_eq!(paced, file_digest(name, bytes, HashAlgorithm::Sha256));
            assert!(PAUSES.load(Relaxed) >= at_least, "{name}");
        }
    }
}
