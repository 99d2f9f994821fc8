//! File digests as OPA computes them for bundle signatures: structured files (`data.json`,
//! `data.yaml`, `.manifest`, `.signatures.json`) over their canonical JSON, everything else over the
//! raw bytes.

use sha2::Digest;

use crate::canonical::canonical_json;

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

    fn digest(self, bytes: &[u8]) -> String {
        match self {
            Self::Md5 => hex::encode(md5::Md5::digest(bytes)),
            Self::Sha1 => hex::encode(sha1::Sha1::digest(bytes)),
            Self::Sha224 => hex::encode(sha2::Sha224::digest(bytes)),
            Self::Sha256 => hex::encode(sha2::Sha256::digest(bytes)),
            Self::Sha384 => hex::encode(sha2::Sha384::digest(bytes)),
            Self::Sha512 => hex::encode(sha2::Sha512::digest(bytes)),
            Self::Sha512_224 => hex::encode(sha2::Sha512_224::digest(bytes)),
            Self::Sha512_256 => hex::encode(sha2::Sha512_256::digest(bytes)),
        }
    }
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
    if !is_structured(name) {
        return Ok(alg.digest(bytes));
    }
    if name.ends_with(".yaml") {
        return Err("data.yaml is not supported in signed bundles; use data.json".into());
    }
    let text = canonical_json(bytes).map_err(|e| e.to_string())?;
    Ok(alg.digest(text.as_bytes()))
}
