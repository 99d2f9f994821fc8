//! `.signatures.json`: one JWS over the list of a bundle's files and their digests, written and
//! verified exactly as OPA does (`v1/bundle/sign.go`, `verify.go`; rules summarized in
//! `tests/opa-vectors/README.md`).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::hash::{file_digest, file_digest_with, HashAlgorithm};

/// The name of the signatures file.
pub const SIGNATURES_FILE: &str = ".signatures.json";

/// One file in the signed payload. Field order matters: it is Go's struct order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path without a leading `/`.
    pub name: String,
    /// Lowercase hex digest.
    pub hash: String,
    /// Hash algorithm name, e.g. `SHA-256`.
    #[serde(default)]
    pub algorithm: Option<String>,
}

/// The JWS payload. Fields in sorted order, as Go's `json.Marshal` of a map writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// Every signed file.
    pub files: Vec<FileEntry>,
    /// Issued-at (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Issuer (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Deprecated key id claim (written when no claims are given, like `opa sign`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// Scope the bundle is signed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Why a bundle failed verification; `kind` matches the vector kinds in `tests/opa-vectors`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct VerifyError {
    /// Stable kind, e.g. `digest_mismatch`.
    pub kind: &'static str,
    /// OPA-style message.
    pub message: String,
}

fn fail(kind: &'static str, message: impl Into<String>) -> VerifyError {
    VerifyError {
        kind,
        message: message.into(),
    }
}

/// Parses a JWS algorithm name (`RS256`, `ES256`, `EdDSA`, `HS256`, …).
pub fn algorithm(name: &str) -> Option<Algorithm> {
    name.parse().ok()
}

/// The algorithms a key's type is guessed as, in order (P-256, P-384, RSA, Ed25519).
pub const SIGNING_ALGORITHMS: [&str; 4] = ["ES256", "ES384", "RS256", "EdDSA"];

/// The signing algorithm a PEM private key is for (P-256: ES256, P-384: ES384, RSA: RS256,
/// Ed25519: EdDSA), if it is a private key of one of those types. The key must sign a probe
/// under the algorithm: an EC key reads as either curve, only its own signs.
pub fn private_key_algorithm(pem: &[u8]) -> Option<&'static str> {
    SIGNING_ALGORITHMS.into_iter().find(|name| {
        algorithm(name)
            .is_some_and(|a| SigningKey::from_pem(a, pem, None).is_ok_and(|k| k.probe().is_ok()))
    })
}

/// The algorithm a PEM public key verifies (EC P-256: ES256, P-384: ES384, RSA: RS256,
/// Ed25519: EdDSA), if it is a public key of one of those types. An EC key's curve is read from
/// its named-curve identifier (no crate here exposes it from the PEM).
pub fn public_key_algorithm(pem: &str) -> Option<&'static str> {
    const P384: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]; // OID 1.3.132.0.34
    let name = ["ES256", "RS256", "EdDSA"]
        .into_iter()
        .find(|name| algorithm(name).is_some_and(|a| decoding_key(a, pem).is_ok()))?;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .unwrap_or_default();
    Some(match name {
        "ES256" if der.windows(P384.len()).any(|w| w == P384) => "ES384",
        n => n,
    })
}

/// A key that signs bundles.
pub struct SigningKey {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Key material.
    pub key: EncodingKey,
    /// Key id written to the header (`kid`) and, without claims, the payload (`keyid`).
    pub key_id: Option<String>,
}

impl SigningKey {
    /// Signs a probe message: a key that parses may still not sign under its algorithm (an EC
    /// key of another curve than the algorithm's).
    pub fn probe(&self) -> Result<(), String> {
        jsonwebtoken::crypto::sign(b"probe", &self.key, self.algorithm)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// A key from PEM text (or an HMAC secret for HS*).
    pub fn from_pem(
        algorithm: Algorithm,
        pem: &[u8],
        key_id: Option<String>,
    ) -> Result<Self, String> {
        use Algorithm::*;
        let key = match algorithm {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => EncodingKey::from_rsa_pem(pem),
            ES256 | ES384 => EncodingKey::from_ec_pem(pem),
            EdDSA => EncodingKey::from_ed_pem(pem),
            HS256 | HS384 | HS512 => Ok(EncodingKey::from_secret(pem)),
            other => return Err(format!("unsupported signing algorithm {other:?}")),
        }
        .map_err(|e| format!("cannot read the {algorithm:?} signing key: {e}"))?;
        Ok(SigningKey {
            algorithm,
            key,
            key_id,
        })
    }
}

/// A verification key from configuration (OPA's `keys.<id>`).
#[derive(Debug, Clone, Default)]
pub struct PublicKey {
    /// Algorithm name; OPA's default is `RS256`.
    pub algorithm: Option<String>,
    /// PEM public key, or the HMAC secret.
    pub key: String,
    /// Scope bound to this key.
    pub scope: Option<String>,
}

/// OPA's bundle verification configuration.
#[derive(Debug, Clone, Default)]
pub struct VerificationConfig {
    /// Keys by id.
    pub keys: BTreeMap<String, PublicKey>,
    /// Key id to use (wins over the token's).
    pub keyid: String,
    /// Required scope (wins over the key's).
    pub scope: String,
    /// Glob patterns (Go `filepath.Match`) of files left out of verification.
    pub exclude_files: Vec<String>,
}

/// Signs `files` (name without leading `/`, content) and returns the `.signatures.json` text,
/// laid out as `opa sign` writes it.
pub fn sign(
    files: &[(String, Vec<u8>)],
    key: &SigningKey,
    scope: Option<&str>,
) -> Result<String, String> {
    let mut entries = Vec::new();
    for (name, bytes) in files
        .iter()
        .filter(|(n, _)| n.rsplit('/').next() != Some(SIGNATURES_FILE))
    {
        let hash = file_digest(name, bytes, HashAlgorithm::Sha256)?;
        entries.push(FileEntry {
            name: name.clone(),
            hash,
            algorithm: Some("SHA-256".into()),
        });
    }
    let payload = Payload {
        files: entries,
        iat: None,
        iss: None,
        // `opa sign` writes the deprecated keyid claim only when no other claims are given.
        keyid: if scope.is_none() {
            key.key_id.clone()
        } else {
            None
        },
        scope: scope.map(str::to_string),
    };
    let header = match &key.key_id {
        Some(kid) => serde_json::json!({"alg": alg_name(key.algorithm), "kid": kid}),
        None => serde_json::json!({"alg": alg_name(key.algorithm)}),
    };
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key.key, key.algorithm)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{{\n \"signatures\": [\n  \"{message}.{signature}\"\n ]\n}}"
    ))
}

fn alg_name(a: Algorithm) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// What verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Signature and every file checked.
    Signed {
        /// Key id used.
        key_id: String,
    },
    /// No signature and none required.
    Unsigned,
}

#[derive(Deserialize)]
struct SignaturesFile {
    signatures: Vec<String>,
    #[serde(default)]
    plugin: Option<String>,
}

#[derive(Deserialize, Default)]
struct Header {
    #[serde(default)]
    kid: Option<String>,
}

/// Verifies a bundle's files (in archive order; names without a leading `/`) against `config`,
/// following OPA: one token; key id from config, header `kid`, then payload `keyid`; algorithm
/// from the configured key; scope equal; the signed file set equal to the bundle's; every digest
/// matching.
pub fn verify(
    files: &[(String, Vec<u8>)],
    config: Option<&VerificationConfig>,
) -> Result<Verified, VerifyError> {
    verify_with(files, config, || {})
}

/// [`verify`], calling `pause_point` every few tens of µs of hashing (a server's loader gives
/// up the CPU there; see `warden_server::pace`).
pub fn verify_with(
    files: &[(String, Vec<u8>)],
    config: Option<&VerificationConfig>,
    pause_point: fn(),
) -> Result<Verified, VerifyError> {
    let sig = files
        .iter()
        .find(|(n, _)| n.rsplit('/').next() == Some(SIGNATURES_FILE));
    let (sig, config) = match (sig, config) {
        (None, None) => return Ok(Verified::Unsigned),
        (None, Some(c)) if c.keyid.is_empty() => return Ok(Verified::Unsigned),
        (None, Some(_)) => return Err(fail("unsigned", "bundle missing .signatures.json file")),
        (Some(_), None) => {
            return Err(fail(
                "signed_but_no_key_configured",
                "verification key not provided",
            ))
        }
        (Some((_, s)), Some(c)) => (s, c),
    };
    let (payload, key_id) = verify_token(sig, config)?;
    // Excluded paths are ignored on both sides: in the bundle and in the signed list.
    let mut signed: BTreeMap<&str, &FileEntry> = payload
        .files
        .iter()
        .filter(|f| !config.exclude_files.iter().any(|g| glob(g, &f.name)))
        .map(|f| (f.name.as_str(), f))
        .collect();
    for (name, bytes) in files {
        if name.rsplit('/').next() == Some(SIGNATURES_FILE)
            || config.exclude_files.iter().any(|g| glob(g, name))
        {
            continue;
        }
        let entry = signed.remove(name.as_str()).ok_or_else(|| {
            fail(
                "file_not_in_signature",
                format!("file {name} not included in bundle signature"),
            )
        })?;
        let alg = entry
            .algorithm
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                fail(
                    "no_hash_algorithm",
                    format!("no hashing algorithm provided for file {name}"),
                )
            })?;
        let alg = HashAlgorithm::from_name(alg).ok_or_else(|| {
            fail(
                "no_hash_algorithm",
                format!("unsupported hashing algorithm {alg} for file {name}"),
            )
        })?;
        let got = file_digest_with(name, bytes, alg, pause_point)
            .map_err(|e| fail("digest_mismatch", format!("{name}: {e}")))?;
        if got != entry.hash {
            return Err(fail(
                "digest_mismatch",
                format!("{name}: digest mismatch (want: {}, got: {got})", entry.hash),
            ));
        }
    }
    if !signed.is_empty() {
        let names: Vec<&str> = signed.keys().copied().collect();
        return Err(fail("signed_file_missing", format!("file(s) {names:?} specified in bundle signatures but not found in the target bundle")));
    }
    Ok(Verified::Signed { key_id })
}

/// Checks the `.signatures.json` token alone (count, key choice, algorithm, signature, scope) and
/// returns its payload and the key id used.
pub fn verify_token(
    sig: &[u8],
    config: &VerificationConfig,
) -> Result<(Payload, String), VerifyError> {
    let parsed: SignaturesFile = serde_json::from_slice(sig)
        .map_err(|e| fail("malformed_jws", format!("invalid .signatures.json: {e}")))?;
    if parsed.plugin.is_some() {
        return Err(fail(
            "unknown_algorithm",
            "signature plugins are not supported",
        ));
    }
    let token = match parsed.signatures.as_slice() {
        [] => {
            return Err(fail(
                "signatures_count",
                ".signatures.json: missing JWT (expected exactly one)",
            ))
        }
        [t] => t,
        _ => {
            return Err(fail(
                "signatures_count",
                ".signatures.json: multiple JWTs not supported (expected exactly one)",
            ))
        }
    };
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(fail(
            "malformed_jws",
            "failed to parse JWT: not three parts",
        ));
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| fail("malformed_jws", "failed to parse JWT header"))?;
    let payload: Payload = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| fail("malformed_payload", "failed to parse JWT payload"))?;
    let key_id = [
        Some(config.keyid.clone()),
        header.kid.clone(),
        payload.keyid.clone(),
    ]
    .into_iter()
    .flatten()
    .find(|k| !k.is_empty())
    .ok_or_else(|| fail("no_key_id", "verification key ID is empty"))?;
    let key = config.keys.get(&key_id).ok_or_else(|| {
        fail(
            "unknown_key_id",
            format!("verification key corresponding to ID {key_id} not found"),
        )
    })?;
    let alg_name = key.algorithm.clone().unwrap_or_else(|| "RS256".into());
    let alg = algorithm(&alg_name).ok_or_else(|| {
        fail(
            "unknown_algorithm",
            format!("unknown signature algorithm: {alg_name}"),
        )
    })?;
    let decoding = decoding_key(alg, &key.key).map_err(|e| fail("key_invalid", e))?;
    let message = format!("{h}.{p}");
    match jsonwebtoken::crypto::verify(s, message.as_bytes(), &decoding, alg) {
        Ok(true) => {}
        _ => return Err(fail("signature_invalid", "failed to verify JWT signature")),
    }
    let want_scope = if config.scope.is_empty() {
        key.scope.clone().unwrap_or_default()
    } else {
        config.scope.clone()
    };
    if payload.scope.clone().unwrap_or_default() != want_scope {
        return Err(fail("scope_mismatch", "scope mismatch"));
    }
    Ok((payload, key_id))
}

/// A verification key for `alg` from PEM text (or an HMAC secret).
pub fn decoding_key(alg: Algorithm, key: &str) -> Result<DecodingKey, String> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => DecodingKey::from_rsa_pem(key.as_bytes()),
        ES256 | ES384 => DecodingKey::from_ec_pem(key.as_bytes()),
        EdDSA => DecodingKey::from_ed_pem(key.as_bytes()),
        HS256 | HS384 | HS512 => Ok(DecodingKey::from_secret(key.as_bytes())),
        other => return Err(format!("unsupported algorithm {other:?}")),
    }
    .map_err(|e| format!("failed to parse PEM block containing the key: {e}"))
}

/// Go's `filepath.Match` for the patterns OPA's `exclude_files` use: `*` (not crossing `/`), `?`
/// and literal characters.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| go(&p[1..], &n[i..])),
            Some('?') => n.first().is_some_and(|c| *c != '/') && go(&p[1..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_do_not_cross_slashes() {
        assert!(glob("*.json", "data.json"));
        assert!(!glob("*.json", "a/data.json"));
        assert!(glob("a/*/data.json", "a/b/data.json"));
        assert!(glob("?.rego", "x.rego"));
    }
}
