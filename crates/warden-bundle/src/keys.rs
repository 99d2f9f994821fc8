//! Key pairs for signing bundles (`warden keygen`): PKCS#8 private keys and SPKI public keys in PEM,
//! the formats OPA's `keys` configuration and `opa sign` read.

use rand_core::OsRng;

/// A key algorithm Warden can generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519 (JWS `EdDSA`); verified by Warden, not a documented OPA bundle algorithm.
    Ed25519,
    /// P-256 (JWS `ES256`); verified by OPA.
    Es256,
    /// RSA-2048 (JWS `RS256`); OPA's default.
    Rs256,
}

impl KeyKind {
    /// The JWS algorithm name.
    pub fn jws(self) -> &'static str {
        match self {
            KeyKind::Ed25519 => "EdDSA",
            KeyKind::Es256 => "ES256",
            KeyKind::Rs256 => "RS256",
        }
    }
}

/// A new key pair as (private PEM, public PEM).
pub fn generate(kind: KeyKind) -> Result<(String, String), String> {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let le = p256::pkcs8::LineEnding::LF;
    match kind {
        KeyKind::Ed25519 => {
            let sk = ed25519_dalek::SigningKey::generate(&mut OsRng);
            let private = sk.to_pkcs8_pem(le).map_err(|e| e.to_string())?.to_string();
            let public = sk
                .verifying_key()
                .to_public_key_pem(le)
                .map_err(|e| e.to_string())?;
            Ok((private, public))
        }
        KeyKind::Es256 => {
            let sk = p256::SecretKey::random(&mut OsRng);
            let private = sk.to_pkcs8_pem(le).map_err(|e| e.to_string())?.to_string();
            let public = sk
                .public_key()
                .to_public_key_pem(le)
                .map_err(|e| e.to_string())?;
            Ok((private, public))
        }
        KeyKind::Rs256 => {
            let sk = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(|e| e.to_string())?;
            let private = sk.to_pkcs8_pem(le).map_err(|e| e.to_string())?.to_string();
            let public = sk
                .to_public_key()
                .to_public_key_pem(le)
                .map_err(|e| e.to_string())?;
            Ok((private, public))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{sign, verify, PublicKey, SigningKey, VerificationConfig, Verified};

    #[test]
    fn generated_keys_sign_and_verify_bundles() {
        let files = vec![("data.json".to_string(), b"{\"x\":1}".to_vec())];
        for kind in [KeyKind::Ed25519, KeyKind::Es256, KeyKind::Rs256] {
            let (private, public) = generate(kind).unwrap();
            let alg = crate::signing::algorithm(kind.jws()).unwrap();
            let key = SigningKey::from_pem(alg, private.as_bytes(), Some("k".into())).unwrap();
            let mut signed = files.clone();
            signed.push((
                ".signatures.json".into(),
                sign(&files, &key, None).unwrap().into_bytes(),
            ));
            let mut cfg = VerificationConfig::default();
            cfg.keys.insert(
                "k".into(),
                PublicKey {
                    algorithm: Some(kind.jws().into()),
                    key: public.clone(),
                    scope: None,
                },
            );
            assert_eq!(
                verify(&signed, Some(&cfg)).unwrap(),
                Verified::Signed { key_id: "k".into() },
                "{kind:?}"
            );
            let (_, other) = generate(kind).unwrap();
            cfg.keys.insert(
                "k".into(),
                PublicKey {
                    algorithm: Some(kind.jws().into()),
                    key: other,
                    scope: None,
                },
            );
            assert_eq!(
                verify(&signed, Some(&cfg)).unwrap_err().kind,
                "signature_invalid",
                "{kind:?} wrong key"
            );
        }
    }
}
