//! Golden vectors from OPA's own tests and from real OPA (`tests/opa-vectors`, a copy of the
//! developers' `shared/opa-vectors` so that a clone anywhere has them): canonical hashing, file
//! digests, JWS verification, whole-bundle verification, and byte-for-byte reproduction of an
//! RS256 signature that real OPA produced.

use std::path::{Path, PathBuf};

use serde_json::Value;
use warden_bundle::canonical::canonical_json;
use warden_bundle::hash::{file_digest, is_structured, HashAlgorithm};
use warden_bundle::signing::{verify_token, SigningKey};
use warden_bundle::{sign, verify, PublicKey, VerificationConfig};

fn vectors() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/opa-vectors");
    assert!(
        p.join("README.md").is_file(),
        "the vectors are missing: {}",
        p.display()
    );
    p
}

/// Every file below `dir`, as paths relative to it, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Where the developers' `shared/opa-vectors` sits beside the checkout (it does for CI), the
/// copy in the repository must be the same, file for file and byte for byte.
#[test]
fn the_copy_matches_shared_opa_vectors() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/opa-vectors");
    if !shared.join("README.md").is_file() {
        eprintln!("no shared/opa-vectors beside the checkout; nothing to compare");
        return;
    }
    let copy = vectors();
    let names = files_below(&shared);
    assert_eq!(names, files_below(&copy), "file sets differ");
    for n in names {
        assert!(
            std::fs::read(shared.join(&n)).unwrap() == std::fs::read(copy.join(&n)).unwrap(),
            "{} differs from shared/opa-vectors",
            n.display()
        );
    }
}

fn json(path: PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn config(v: &Value) -> Option<VerificationConfig> {
    if v.is_null() {
        return None;
    }
    let mut c = VerificationConfig {
        keyid: v["keyid"].as_str().unwrap_or("").into(),
        scope: v["scope"].as_str().unwrap_or("").into(),
        exclude_files: v["exclude_files"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    for (id, k) in v["keys"].as_object().into_iter().flatten() {
        let key = match (k["key_file"].as_str(), k["key"].as_str()) {
            (Some(f), _) => std::fs::read_to_string(vectors().join(f)).unwrap(),
            (None, Some(inline)) => inline.to_string(),
            _ => String::new(),
        };
        c.keys.insert(
            id.clone(),
            PublicKey {
                algorithm: k["algorithm"].as_str().map(String::from),
                key,
                scope: k["scope"].as_str().map(String::from),
            },
        );
    }
    Some(c)
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn canonical_json_matches_opa() {
    let cases = json(vectors().join("hashing/canonical-json.json"));
    let mut n = 0;
    for c in cases["cases"].as_array().unwrap() {
        let bytes = hex_bytes(c["file_bytes_hex"].as_str().unwrap());
        let got = canonical_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", c["id"]));
        assert_eq!(got, c["canonical_text"].as_str().unwrap(), "{}", c["id"]);
        assert_eq!(
            file_digest("data.json", &bytes, HashAlgorithm::Sha256).unwrap(),
            c["sha256"].as_str().unwrap(),
            "{}",
            c["id"]
        );
        n += 1;
    }
    assert!(n >= 10, "only {n} canonical cases");
}

#[test]
fn file_digests_match_opa() {
    let d = json(vectors().join("hashing/file-digests.json"));
    for c in d["digests"].as_array().unwrap() {
        let path = c["path"].as_str().unwrap().trim_start_matches('/');
        let alg = HashAlgorithm::from_name(c["algorithm"].as_str().unwrap()).unwrap();
        assert_eq!(
            is_structured(path),
            c["structured"].as_bool().unwrap(),
            "{}",
            c["id"]
        );
        if path.ends_with(".yaml") {
            // Warden never writes data.yaml; verifying a bundle that has one fails with this message.
            let e = file_digest(path, c["content"].as_str().unwrap().as_bytes(), alg).unwrap_err();
            assert!(e.contains("data.yaml is not supported"), "{e}");
            continue;
        }
        let got = file_digest(path, c["content"].as_str().unwrap().as_bytes(), alg).unwrap();
        assert_eq!(got, c["digest"].as_str().unwrap(), "{}", c["id"]);
    }
    assert!(
        HashAlgorithm::from_name("sha256").is_none()
            && HashAlgorithm::from_name("SHA256").is_none()
    );
}

#[test]
fn jws_cases_verify_like_opa() {
    let cases = json(vectors().join("jws/cases.json"));
    for c in cases["cases"].as_array().unwrap() {
        let sig = serde_json::to_vec(&serde_json::json!({"signatures": c["signatures"]})).unwrap();
        let cfg = config(&c["verification"]).unwrap_or_default();
        let got = verify_token(&sig, &cfg);
        let id = c["id"].as_str().unwrap();
        if c["expect"]["ok"].as_bool().unwrap() {
            let (payload, _) = got.unwrap_or_else(|e| panic!("{id}: {e:?}"));
            if id == "vbs/valid_token_and_scope" {
                assert_eq!(payload.files.len(), 2);
            }
        } else {
            let e = got
                .err()
                .unwrap_or_else(|| panic!("{id}: verified but must fail"));
            assert_eq!(
                e.kind,
                c["expect"]["kind"].as_str().unwrap(),
                "{id}: {}",
                e.message
            );
        }
    }
}

fn bundle_files(dir: &Path, case: &Value) -> Vec<(String, Vec<u8>)> {
    let base = case["load"]["base_dir"]
        .as_str()
        .unwrap_or("")
        .trim_matches('/');
    case["tar_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let n = n.as_str().unwrap();
            let name = if base.is_empty() {
                n.to_string()
            } else {
                format!("{base}/{n}")
            };
            (
                name,
                std::fs::read(dir.join(case["bundle_dir"].as_str().unwrap()).join(n)).unwrap(),
            )
        })
        .collect()
}

#[test]
fn bundles_verify_like_opa() {
    let root = vectors().join("bundles");
    let mut n = 0;
    for e in std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("case.json").is_file())
    {
        let case = json(e.path().join("case.json"));
        let id = case["id"].as_str().unwrap().to_string();
        let files = bundle_files(&e.path(), &case);
        let result = if case["skip_verification"].as_bool().unwrap_or(false) {
            Ok(warden_bundle::Verified::Unsigned)
        } else {
            verify(&files, config(&case["verification"]).as_ref())
        };
        if case["expect"]["ok"].as_bool().unwrap() {
            result.unwrap_or_else(|e| panic!("{id}: {e:?}"));
        } else {
            let err = result
                .err()
                .unwrap_or_else(|| panic!("{id}: verified but must fail"));
            let want = case["expect"]["kind"].as_str().unwrap();
            let ok = match want {
                // A key of the wrong type for the configured algorithm: OPA fails at the key or at the signature.
                "signature_invalid_or_key_type" => {
                    matches!(err.kind, "key_invalid" | "signature_invalid")
                }
                w => err.kind == w,
            };
            assert!(
                ok,
                "{id}: expected {want}, got {} ({})",
                err.kind, err.message
            );
        }
        // Every case also round-trips through Warden's archive format unchanged.
        let tgz = warden_bundle::write_archive(&files).unwrap();
        assert_eq!(warden_bundle::read_archive(&tgz).unwrap(), files, "{id}");
        n += 1;
    }
    assert!(n >= 20, "only {n} bundle cases");
}

#[test]
fn rs256_signature_reproduces_opa_byte_for_byte() {
    let dir = vectors().join("bundles/derived-rs256-valid");
    let case = json(dir.join("case.json"));
    let files: Vec<(String, Vec<u8>)> = bundle_files(&dir, &case)
        .into_iter()
        .filter(|(n, _)| n != ".signatures.json")
        .collect();
    let pem = std::fs::read(vectors().join("keys/rsa2048-a.key.pem")).unwrap();
    let key =
        SigningKey::from_pem(jsonwebtoken::Algorithm::RS256, &pem, Some("foo".into())).unwrap();
    let ours = sign(&files, &key, Some("write")).unwrap();
    let theirs = std::fs::read_to_string(dir.join("bundle/.signatures.json")).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn es256_signatures_verify_and_tampering_is_caught() {
    let files = vec![
        (
            ".manifest".to_string(),
            b"{\"revision\":\"r1\",\"roots\":[\"warden\"]}".to_vec(),
        ),
        ("data.json".to_string(), b"{\"a\": 1}".to_vec()),
    ];
    let ec_priv = std::fs::read(vectors().join("keys/ec-p256-f.pkcs8.key.pem")).unwrap();
    let ec_pub = std::fs::read_to_string(vectors().join("keys/ec-p256-f.pub.pem")).unwrap();
    let key =
        SigningKey::from_pem(jsonwebtoken::Algorithm::ES256, &ec_priv, Some("ec".into())).unwrap();
    let sig = sign(&files, &key, None).unwrap();
    let mut signed = files.clone();
    signed.push((".signatures.json".into(), sig.into_bytes()));
    let mut cfg = VerificationConfig::default();
    cfg.keys.insert(
        "ec".into(),
        PublicKey {
            algorithm: Some("ES256".into()),
            key: ec_pub,
            scope: None,
        },
    );
    assert_eq!(
        verify(&signed, Some(&cfg)).unwrap(),
        warden_bundle::Verified::Signed {
            key_id: "ec".into()
        }
    );
    let mut tampered = signed.clone();
    tampered[1].1 = b"{\"a\": 2}".to_vec();
    assert_eq!(
        verify(&tampered, Some(&cfg)).unwrap_err().kind,
        "digest_mismatch"
    );
    let mut extra = signed.clone();
    extra.push(("x.rego".into(), b"package x".to_vec()));
    assert_eq!(
        verify(&extra, Some(&cfg)).unwrap_err().kind,
        "file_not_in_signature"
    );
    assert_eq!(
        verify(
            &files,
            Some(&VerificationConfig {
                keyid: "ec".into(),
                ..cfg.clone()
            })
        )
        .unwrap_err()
        .kind,
        "unsigned"
    );
    let mut wrong_scope = cfg.clone();
    wrong_scope.scope = "prod".into();
    assert_eq!(
        verify(&signed, Some(&wrong_scope)).unwrap_err().kind,
        "scope_mismatch"
    );
}
