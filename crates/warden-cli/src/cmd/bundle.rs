//! `warden bundle build | sign | verify` and `warden keygen`: OPA-format bundles.

use std::path::{Path, PathBuf};

use warden_bundle::signing::{algorithm, SigningKey, SIGNATURES_FILE};
use warden_bundle::{
    read_archive, sign, verify, write_archive, Manifest, ManifestMetadata, PublicKey,
    VerificationConfig, Verified,
};

use crate::project::{self, Project};
use crate::CliError;

/// `warden bundle` subcommands.
#[derive(clap::Subcommand)]
pub enum BundleCmd {
    /// Pack compiled policies (or a raw Rego directory) into an OPA bundle `.tar.gz`.
    Build(BuildArgs),
    /// Add or replace `.signatures.json` in a bundle.
    Sign {
        /// The bundle `.tar.gz`.
        bundle: PathBuf,
        #[command(flatten)]
        key: SignArgs,
        /// Write the signed bundle here (default: in place).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a bundle's signature and every file's digest, as OPA does.
    Verify {
        /// The bundle `.tar.gz`.
        bundle: PathBuf,
        #[command(flatten)]
        key: VerifyArgs,
        /// Files to leave out of verification (Go filepath.Match globs).
        #[arg(long)]
        exclude: Vec<String>,
    },
}

/// Verification options shared by `bundle verify` and `serve`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// PEM public key (or HMAC secret file) that bundles must be signed with.
    #[arg(long)]
    pub verification_key: Option<PathBuf>,
    /// Algorithm of the key: RS256, ES256, EdDSA (or HS256 with a secret file). Default: the
    /// public key's type (an EC key is ES256, RSA RS256, Ed25519 EdDSA); RS256, OPA's default,
    /// for anything else.
    #[arg(long)]
    pub alg: Option<String>,
    /// The key's id, as OPA's `keyid`: the key given verifies the bundle whatever `kid` its
    /// token names (it is not compared with it).
    #[arg(long, default_value = "")]
    pub key_id: String,
    /// Required signing scope.
    #[arg(long, default_value = "")]
    pub scope: String,
}

impl VerifyArgs {
    /// The verification configuration, when a key is given.
    pub fn config(&self) -> Result<Option<VerificationConfig>, CliError> {
        let Some(path) = &self.verification_key else {
            return Ok(None);
        };
        let key = std::fs::read_to_string(path).map_err(io(path))?;
        let alg = match &self.alg {
            Some(a) => a.to_ascii_uppercase().replace("EDDSA", "EdDSA"),
            None => warden_bundle::signing::public_key_algorithm(&key)
                .unwrap_or("RS256")
                .to_string(),
        };
        let id = if self.key_id.is_empty() {
            "default".to_string()
        } else {
            self.key_id.clone()
        };
        let mut cfg = VerificationConfig {
            keyid: id.clone(),
            scope: self.scope.clone(),
            ..Default::default()
        };
        cfg.keys.insert(
            id,
            PublicKey {
                algorithm: Some(alg),
                key,
                scope: None,
            },
        );
        Ok(Some(cfg))
    }
}

/// Signing options shared by `build` and `sign`.
#[derive(clap::Args)]
pub struct SignArgs {
    /// PEM private key (PKCS#8, or PKCS#1/SEC1), e.g. from `warden keygen`.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// JWS algorithm: ES256 or RS256 (both verified by OPA) or EdDSA. Default: the key's type
    /// (a P-256 key signs ES256, RSA RS256, Ed25519 EdDSA).
    #[arg(long)]
    signing_alg: Option<String>,
    /// Key id written to the token (`kid`).
    #[arg(long)]
    key_id: Option<String>,
    /// Scope claim.
    #[arg(long)]
    scope: Option<String>,
}

/// Arguments of `warden bundle build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Policy project directory (compiled first).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Pack this raw Rego directory (.rego and data.json files) instead of a project.
    #[arg(long)]
    rego_dir: Option<PathBuf>,
    /// Pack only this tenant's compiled data (roots `warden/tenants/<ID>`), to serve beside a
    /// `--library` bundle and the other tenants' bundles, each reloaded on its own.
    #[arg(long, value_name = "ID", conflicts_with_all = ["rego_dir", "library"])]
    tenant: Option<String>,
    /// Pack only the shared Rego library (roots `warden/main`), for per-tenant bundles.
    #[arg(long, conflicts_with = "rego_dir")]
    library: bool,
    /// Output file.
    #[arg(short, long, default_value = "bundle.tar.gz")]
    output: PathBuf,
    /// Revision of a --rego-dir bundle (project bundles are named by their compiled content hash,
    /// which every decision reports as `bundle_revision`).
    #[arg(long)]
    revision: Option<String>,
    /// Author of the change, recorded in the manifest.
    #[arg(long, env = "WARDEN_AUTHOR")]
    author: Option<String>,
    /// Why the policies changed, recorded in the manifest.
    #[arg(long)]
    change_reason: Option<String>,
    /// Source commit, recorded in the manifest.
    #[arg(long, env = "WARDEN_SOURCE_COMMIT")]
    source_commit: Option<String>,
    #[command(flatten)]
    key: SignArgs,
}

fn io(p: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::usage(format!("cannot access `{}`: {e}", p.display()))
}

fn created_at() -> String {
    // SOURCE_DATE_EPOCH makes builds reproducible.
    match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(secs) => warden_engine::rfc3339_utc(secs),
        None => warden_engine::now_rfc3339(),
    }
}

fn signing_key(args: &SignArgs) -> Result<Option<SigningKey>, CliError> {
    let Some(path) = &args.signing_key else {
        if args.signing_alg.is_some() || args.key_id.is_some() || args.scope.is_some() {
            return Err(CliError::usage(
                "--signing-alg, --key-id and --scope sign the bundle, but no --signing-key was given",
            )
            .hint("add --signing-key KEY.key.pem (from `warden keygen`), or leave them out to build an unsigned bundle"));
        }
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(io(path))?;
    let detected = warden_bundle::signing::private_key_algorithm(&pem);
    // What to do when the file is not a key Warden can use: a public key is named as such; any
    // other PEM may be a private key in a form the signer does not read.
    let not_usable = || {
        if String::from_utf8_lossy(&pem).contains("PUBLIC KEY-----") {
            "pass the private key (`warden keygen` writes NAME.key.pem), not the public one"
        } else {
            "give a PKCS#8 PEM private key (P-256, P-384, RSA or Ed25519), e.g. from `warden keygen`, or convert one with `openssl pkcs8 -topk8 -nocrypt`"
        }
    };
    let name = match (&args.signing_alg, detected) {
        (Some(a), _) => match a.to_ascii_uppercase().replace("EDDSA", "EdDSA") {
            n if n.starts_with("HS") => {
                return Err(CliError::usage(format!(
                    "Warden does not sign bundles with {a}: every verifier would need the secret that signs"
                ))
                .hint("sign with ES256 or RS256 (OPA verifies both) or EdDSA"))
            }
            n if algorithm(&n).is_some() => n,
            _ => {
                return Err(CliError::usage(format!("unknown signing algorithm `{a}`"))
                    .hint("use ES256, RS256 or EdDSA (or ES384, RS384, RS512, PS256, …), or leave --signing-alg out to use the key's"))
            }
        },
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            return Err(CliError::usage(format!(
                "`{}` is not a PEM private key Warden signs with",
                path.display()
            ))
            .hint(not_usable()))
        }
    };
    let alg =
        algorithm(&name).ok_or_else(|| CliError::usage(format!("unknown algorithm {name}")))?;
    // A key that parses may still not sign under the algorithm (a P-384 key with ES256).
    let key = SigningKey::from_pem(alg, &pem, args.key_id.clone())
        .map_err(|e| format!("`{}` is not a {name} private key ({e})", path.display()))
        .and_then(|k| {
            k.probe()
                .map(|()| k)
                .map_err(|e| format!("`{}` cannot sign {name} ({e})", path.display()))
        })
        .map_err(|why| {
            let hint = match detected {
                Some(d) => format!("this is a {d} key: pass --signing-alg {d}, or leave it out"),
                None => not_usable().to_string(),
            };
            CliError::usage(why).hint(hint)
        })?;
    Ok(Some(key))
}

fn with_signature(
    mut files: Vec<(String, Vec<u8>)>,
    key: Option<SigningKey>,
    scope: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>, CliError> {
    files.retain(|(n, _)| n != SIGNATURES_FILE);
    if let Some(key) = key {
        let sig = sign(&files, &key, scope).map_err(CliError::failure)?;
        files.insert(0, (SIGNATURES_FILE.to_string(), sig.into_bytes()));
    }
    Ok(files)
}

/// Runs `warden bundle …`.
pub fn run(cmd: &BundleCmd) -> Result<(), CliError> {
    match cmd {
        BundleCmd::Build(a) => build(a),
        BundleCmd::Sign {
            bundle,
            key,
            output,
        } => {
            let bytes = std::fs::read(bundle).map_err(io(bundle))?;
            let files = read_archive(&bytes).map_err(|e| CliError::usage(e.to_string()))?;
            let k =
                signing_key(key)?.ok_or_else(|| CliError::usage("--signing-key is required"))?;
            let files = with_signature(files, Some(k), key.scope.as_deref())?;
            let out = output.as_ref().unwrap_or(bundle);
            std::fs::write(out, write_archive(&files).map_err(io(out))?).map_err(io(out))?;
            println!("signed {} ({} files)", out.display(), files.len() - 1);
            Ok(())
        }
        BundleCmd::Verify {
            bundle,
            key,
            exclude,
        } => {
            let bytes = std::fs::read(bundle).map_err(io(bundle))?;
            let files = read_archive(&bytes).map_err(|e| CliError::usage(e.to_string()))?;
            let mut cfg = key
                .config()?
                .ok_or_else(|| CliError::usage("--verification-key is required"))?;
            cfg.exclude_files = exclude.clone();
            match verify(&files, Some(&cfg)) {
                Ok(Verified::Signed { .. }) => {
                    println!(
                        "ok: {} verified ({} files)",
                        bundle.display(),
                        files.len() - 1
                    );
                    Ok(())
                }
                Ok(Verified::Unsigned) => Err(CliError::failure(format!(
                    "{} is not signed",
                    bundle.display()
                ))),
                Err(e) => {
                    let failed = CliError::failure(format!(
                        "{} failed verification [{}]: {}",
                        bundle.display(),
                        e.kind,
                        e.message
                    ));
                    Err(match e.kind {
                        "key_invalid" => failed.hint(
                            "pass the public key (`warden keygen` writes NAME.pub.pem), and --alg if it is not the key's type",
                        ),
                        _ => failed,
                    })
                }
            }
        }
    }
}

fn build(a: &BuildArgs) -> Result<(), CliError> {
    let (mut files, revision, roots, version) = match &a.rego_dir {
        Some(dir) => {
            let files = project::rego_and_data(dir)?;
            let rev = a.revision.clone().unwrap_or_else(|| {
                use sha2::Digest;
                let mut h = sha2::Sha256::new();
                for (n, b) in &files {
                    h.update(n.as_bytes());
                    h.update(b);
                }
                hex::encode(&h.finalize()[..8])
            });
            (files, rev, vec![String::new()], None)
        }
        None => {
            if a.revision.is_some() {
                return Err(CliError::usage("--revision applies to --rego-dir bundles").hint("a project bundle's revision is its compiled content hash, the value decisions report"));
            }
            if a.library {
                let p = warden_core::Compiled::library_part();
                (p.files, p.revision, p.roots, None)
            } else {
                let project = Project::open(&a.path)?;
                let (compiled, _) = super::compile_project(&project)?;
                match &a.tenant {
                    Some(t) => {
                        let p = compiled.tenant_part(t).map_err(|e| {
                            CliError::usage(e)
                                .hint("list the project's tenants with `warden explain`")
                        })?;
                        (p.files, p.revision, p.roots, Some(project.version.clone()))
                    }
                    None => (
                        compiled.bundle_files(),
                        compiled.revision.clone(),
                        vec!["warden".to_string()],
                        Some(project.version.clone()),
                    ),
                }
            }
        }
    };
    let manifest = Manifest {
        revision: revision.clone(),
        roots,
        rego_version: 1,
        metadata: ManifestMetadata {
            author: a.author.clone(),
            change_reason: a.change_reason.clone(),
            source_commit: a.source_commit.clone(),
            created_at: Some(created_at()),
            policy_version: version,
        },
    };
    files.insert(0, (".manifest".to_string(), manifest.to_bytes()));
    let signed = a.key.signing_key.is_some();
    let files = with_signature(files, signing_key(&a.key)?, a.key.scope.as_deref())?;
    let out = &a.output;
    std::fs::write(out, write_archive(&files).map_err(io(out))?).map_err(io(out))?;
    println!(
        "built {} (revision {revision}, {} files{})",
        out.display(),
        files.len(),
        if signed { ", signed" } else { "" }
    );
    Ok(())
}

/// Key kinds for `warden keygen`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KeyAlg {
    /// Ed25519 (JWS EdDSA).
    Ed25519,
    /// P-256 (JWS ES256).
    Es256,
    /// RSA-2048 (JWS RS256).
    Rs256,
}

/// Runs `warden keygen`.
pub fn keygen(alg: KeyAlg, prefix: &Path) -> Result<(), CliError> {
    use warden_bundle::keys::{generate, KeyKind};
    let kind = match alg {
        KeyAlg::Ed25519 => KeyKind::Ed25519,
        KeyAlg::Es256 => KeyKind::Es256,
        KeyAlg::Rs256 => KeyKind::Rs256,
    };
    let (private, public) = generate(kind).map_err(CliError::failure)?;
    let (kp, pp) = (
        PathBuf::from(format!("{}.key.pem", prefix.display())),
        PathBuf::from(format!("{}.pub.pem", prefix.display())),
    );
    if kp.exists() {
        return Err(CliError::usage(format!(
            "`{}` exists; refusing to overwrite a private key",
            kp.display()
        )));
    }
    std::fs::write(&kp, private).map_err(io(&kp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&kp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::write(&pp, public).map_err(io(&pp))?;
    println!(
        "wrote {} (private, keep it secret) and {} (public; JWS algorithm {})",
        kp.display(),
        pp.display(),
        kind.jws()
    );
    Ok(())
}
