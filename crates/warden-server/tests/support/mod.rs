//! What several server tests share.

/// Compiles the policy file `yaml` (tenant and agents) and writes the compiled bundle's files
/// (`data.json`, the library) under `dir`.
pub fn write_policy(dir: &std::path::Path, yaml: &str) {
    let c = warden_core::compile(&[warden_core::load("p.yaml", yaml).unwrap()], &[], "t").unwrap();
    for (p, bytes) in c.files() {
        std::fs::create_dir_all(dir.join(&p).parent().unwrap()).unwrap();
        std::fs::write(dir.join(p), bytes).unwrap();
    }
}
