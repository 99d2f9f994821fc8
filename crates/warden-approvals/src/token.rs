//! One-time override tokens: `base64url(claims).base64url(HMAC-SHA256(key, claims))`. The
//! claims bind the token to one approval and one action digest and give it an expiry; single
//! use is the store's job ([`crate::Store::consume`]). HMAC is enough: the gateway that mints a
//! token is the one that checks it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{Approval, ApprovalError};

/// What a token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The approval it uses.
    pub aid: String,
    /// The action digest of the one call it authorizes.
    pub dig: String,
    /// Not valid at or after this time (Unix seconds).
    pub exp: u64,
}

/// Mints and checks tokens with one secret key.
#[derive(Clone)]
pub struct Tokens {
    key: Vec<u8>,
}

impl Tokens {
    /// Tokens signed with `key` (at least 32 bytes).
    pub fn new(key: Vec<u8>) -> Result<Tokens, ApprovalError> {
        if key.len() < 32 {
            return Err(ApprovalError::Store(
                "the token key needs at least 32 bytes".into(),
            ));
        }
        Ok(Tokens { key })
    }

    /// Reads the key at `path`, creating a random one (mode 0600) when there is none.
    pub fn load_or_create(path: &std::path::Path) -> Result<Tokens, ApprovalError> {
        let err = |e: std::io::Error| ApprovalError::Store(format!("{}: {e}", path.display()));
        if !path.exists() {
            let mut key = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            std::fs::write(path, hex::encode(key)).map_err(err)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(err)?;
            }
        }
        let text = std::fs::read_to_string(path).map_err(err)?;
        let key = hex::decode(text.trim())
            .map_err(|_| ApprovalError::Store(format!("{}: not a hex key", path.display())))?;
        Tokens::new(key)
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }

    /// The token for approved call `a`, valid until [`Approval::use_by`]`(ttl_seconds)`: minted
    /// again later (an agent asking again), it expires at the same time, so asking cannot
    /// stretch an approval's use past the window that follows the decision.
    pub fn mint(&self, a: &Approval, ttl_seconds: u64) -> String {
        let claims = Claims {
            aid: a.id.clone(),
            dig: a.digest.clone(),
            exp: a.use_by(ttl_seconds),
        };
        let body = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let sig = B64.encode(self.mac(body.as_bytes()));
        format!("{body}.{sig}")
    }

    /// Checks the signature, the expiry and that the token is for the call with `digest`.
    pub fn check(&self, token: &str, digest: &str, now: u64) -> Result<Claims, ApprovalError> {
        let bad = |m: &str| ApprovalError::BadToken(m.into());
        let (body, sig) = token
            .trim()
            .split_once('.')
            .ok_or_else(|| bad("malformed"))?;
        let sig = B64.decode(sig).map_err(|_| bad("malformed signature"))?;
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(body.as_bytes());
        m.verify_slice(&sig)
            .map_err(|_| bad("the signature does not match (forged or from another gateway)"))?;
        let claims: Claims =
            serde_json::from_slice(&B64.decode(body).map_err(|_| bad("malformed claims"))?)
                .map_err(|_| bad("malformed claims"))?;
        if now >= claims.exp {
            return Err(bad("it has expired"));
        }
        if claims.dig != digest {
            return Err(bad(
                "it was issued for a different call (agent, tool or arguments differ)",
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::State;
    use serde_json::json;

    fn approval() -> Approval {
        crate::test_approval(json!({"amount": 9000}), State::Approved)
    }

    #[test]
    fn tokens_are_bound_to_the_call_expire_and_cannot_be_forged() {
        let t = Tokens::new(vec![7; 32]).unwrap();
        let a = approval();
        let tok = t.mint(&a, 60);
        assert_eq!(t.check(&tok, &a.digest, 20).unwrap().aid, "apr_1");
        // Minted again later, it still ends 60 s after the decision (at 5).
        assert_eq!(t.mint(&a, 60), tok, "minting again does not extend it");
        let mut other = a.call.clone();
        other.arguments = json!({"amount": 9001});
        assert!(
            t.check(&tok, &crate::digest(&other), 20).is_err(),
            "different arguments"
        );
        assert!(t.check(&tok, &a.digest, 65).is_err(), "expired");
        let forged = Tokens::new(vec![8; 32]).unwrap().mint(&a, 60);
        assert!(t.check(&forged, &a.digest, 20).is_err(), "another key");
        let (body, _) = tok.split_once('.').unwrap();
        assert!(t.check(&format!("{body}.AAAA"), &a.digest, 20).is_err());
        // The digest is over canonical JSON: key order does not matter.
        let mut reordered = a.call.clone();
        reordered.arguments = serde_json::from_str(r#"{"amount": 9000}"#).unwrap();
        assert_eq!(crate::digest(&reordered), a.digest);
    }
}
