//! Caller authentication: who is asking for a decision.
//!
//! An agent presents an API key (`X-API-Key`, or `Authorization: Bearer <key>`) or a signed JWT
//! (`Authorization: Bearer <jwt>`, HS256/RS256/ES256/EdDSA, issuer and audience checked). The
//! authenticated identity replaces whatever `tenant` and `agent.id` the request body claims, and a
//! body that names another tenant is refused.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Tenant the caller belongs to.
    pub tenant: String,
    /// Agent id.
    pub agent: String,
}

/// JWT settings.
pub struct JwtConfig {
    /// Accepted algorithm.
    pub algorithm: Algorithm,
    /// Verification key (HMAC secret or public key).
    pub key: DecodingKey,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// Claim holding the tenant (default `tenant`).
    pub tenant_claim: String,
    /// Claim holding the agent id (default `sub`).
    pub agent_claim: String,
}

/// How callers are authenticated. With neither keys nor JWT configured, the server is open.
#[derive(Default)]
pub struct AuthConfig {
    /// SHA-256 (hex) of each API key → identity. Keys themselves are never stored.
    pub api_keys: BTreeMap<String, Identity>,
    /// JWT verification.
    pub jwt: Option<JwtConfig>,
}

/// Why a caller was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential.
    #[error("authentication required: send `Authorization: Bearer <token>` or `X-API-Key`")]
    Missing,
    /// A credential that does not check out.
    #[error("invalid credential: {0}")]
    Invalid(String),
}

/// One entry of an API key file.
#[derive(Debug, Deserialize)]
pub struct ApiKeyEntry {
    /// SHA-256 (hex) of the key.
    pub key_sha256: String,
    /// Its tenant.
    pub tenant: String,
    /// Its agent.
    pub agent: String,
}

/// SHA-256 hex of an API key, as stored in the key file.
pub fn key_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The credential a request presents.
pub enum Credential<'a> {
    /// `X-API-Key: <key>`.
    ApiKey(&'a str),
    /// `Authorization: Bearer <token>` (an API key or a JWT).
    Bearer(&'a str),
}

impl<'a> Credential<'a> {
    /// The key or token itself.
    pub fn value(&self) -> &'a str {
        match self {
            Credential::ApiKey(v) | Credential::Bearer(v) => v,
        }
    }
}

/// The request's credential: `X-API-Key` if present, else an `Authorization: Bearer` token.
pub fn presented(headers: &HeaderMap) -> Option<Credential<'_>> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(key) = header("x-api-key") {
        return Some(Credential::ApiKey(key));
    }
    header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Credential::Bearer(t.trim()))
}

impl AuthConfig {
    /// Whether any authentication is configured.
    pub fn enabled(&self) -> bool {
        !self.api_keys.is_empty() || self.jwt.is_some()
    }

    /// Authenticates a request from its headers.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthError> {
        let token = match presented(headers).ok_or(AuthError::Missing)? {
            Credential::ApiKey(key) => return self.api_key(key),
            Credential::Bearer(token) => token,
        };
        if token.split('.').count() == 3 {
            if let Some(jwt) = &self.jwt {
                return jwt.verify(token);
            }
        }
        self.api_key(token)
    }

    fn api_key(&self, key: &str) -> Result<Identity, AuthError> {
        // Looked up by digest: the comparison never touches the key itself.
        self.api_keys
            .get(&key_digest(key))
            .cloned()
            .ok_or_else(|| AuthError::Invalid("unknown API key".into()))
    }
}

impl JwtConfig {
    fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let mut v = Validation::new(self.algorithm);
        v.validate_exp = true;
        // A token not yet valid is refused too (same leeway as `exp`).
        v.validate_nbf = true;
        // A configured issuer or audience must be in the token: jsonwebtoken checks them only
        // when present unless they are required claims.
        let mut required = vec!["exp"];
        match &self.issuer {
            Some(i) => {
                v.set_issuer(&[i]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.audience {
            Some(a) => {
                v.set_audience(&[a]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &v)
            .map_err(|e| AuthError::Invalid(format!("JWT rejected: {e}")))?;
        let claim = |name: &str| {
            data.claims
                .get(name)
                .and_then(|c| c.as_str())
                .map(str::to_string)
        };
        let tenant = claim(&self.tenant_claim).ok_or_else(|| {
            AuthError::Invalid(format!("JWT has no `{}` claim", self.tenant_claim))
        })?;
        let agent = claim(&self.agent_claim).ok_or_else(|| {
            AuthError::Invalid(format!("JWT has no `{}` claim", self.agent_claim))
        })?;
        Ok(Identity { tenant, agent })
    }
}

/// Applies an identity to a decision input: the body may not name another tenant; the identity's
/// tenant and agent replace whatever the body says.
pub fn bind(input: &mut serde_json::Value, id: &Identity) -> Result<(), String> {
    let Some(obj) = input.as_object_mut() else {
        return Ok(());
    };
    if let Some(t) = obj.get("tenant").and_then(|t| t.as_str()) {
        if t != id.tenant {
            return Err(format!(
                "caller belongs to tenant `{}` and may not ask for tenant `{t}`",
                id.tenant
            ));
        }
    }
    obj.insert(
        "tenant".into(),
        serde_json::Value::String(id.tenant.clone()),
    );
    let agent = obj.entry("agent").or_insert_with(|| serde_json::json!({}));
    if let Some(a) = agent.as_object_mut() {
        a.insert("id".into(), serde_json::Value::String(id.agent.clone()));
    }
    Ok(())
}
