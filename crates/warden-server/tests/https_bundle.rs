//! Bundles from an HTTPS bundle service with a private CA and a bearer token (OPA's
//! `services.credentials.bearer`): trusted and authorized → activated; the wrong CA or the wrong
//! token → rejected with a reason, nothing activated. The service is Python's TLS server with a
//! certificate chain made by the `openssl` command line.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use warden_server::{BundleHttp, BundleSource, ServerConfig};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=warden test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn bundle(path: &Path) -> String {
    let f = warden_core::load(
        "p.yaml",
        "warden: 1\ntenant: acme\nagents:\n  a:\n    tools:\n      t:\n        read: {}\n",
    )
    .unwrap();
    let c = warden_core::compile(&[f], &[], "1").unwrap();
    let mut files = vec![(
        ".manifest".to_string(),
        format!("{{\"revision\":\"{}\",\"roots\":[\"warden\"]}}", c.revision).into_bytes(),
    )];
    files.extend(c.files());
    std::fs::write(path, warden_bundle::write_archive(&files).unwrap()).unwrap();
    c.revision
}

struct Service(std::process::Child, u16);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn service(dir: &Path) -> Service {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/https_bundle_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["srv.pem", "srv.key", "bundle.tar.gz", "s3cret"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("port");
    Service(child, port)
}

async fn last_error(cfg: &ServerConfig) -> (bool, String) {
    let (svc, _) = warden_server::start(cfg).await;
    let s = svc.status("main").unwrap();
    (svc.ready(), s.last_error.unwrap_or_default())
}

#[tokio::test]
async fn https_bundle_service_with_private_ca_and_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let revision = bundle(&dir.path().join("bundle.tar.gz"));
    let svc = service(dir.path());
    let url = format!("https://127.0.0.1:{}/bundles/acme.tar.gz", svc.1);
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let mut cfg = ServerConfig::single(
        "127.0.0.1:0".parse().unwrap(),
        "main",
        BundleSource::Http(url),
    );

    cfg.bundle_http = BundleHttp {
        ca_pem: Some(ca.clone()),
        bearer_token: Some("s3cret".into()),
        long_poll: None,
    };
    let (svc_ok, _) = warden_server::start(&cfg).await;
    assert_eq!(
        svc_ok.status("main").unwrap().active_revision,
        Some(revision),
        "{:?}",
        svc_ok.status("main")
    );

    cfg.bundle_http = BundleHttp {
        ca_pem: None,
        bearer_token: Some("s3cret".into()),
        long_poll: None,
    };
    let (ready, err) = last_error(&cfg).await;
    assert!(!ready, "an untrusted certificate is not accepted");
    assert!(
        err.contains("unreachable") && err.contains("certificate"),
        "{err}"
    );

    cfg.bundle_http = BundleHttp {
        ca_pem: Some(ca),
        bearer_token: Some("wrong".into()),
        long_poll: None,
    };
    let (ready, err) = last_error(&cfg).await;
    assert!(!ready);
    assert!(err.contains("HTTP 401"), "{err}");
}
