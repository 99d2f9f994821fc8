//! Finding and reading a policy project: `warden.yaml`, `policies/` (YAML and Rego), `tests/`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use warden_core::{Compiled, Diagnostic, LoadedFile, RegoModule};

use crate::CliError;

/// `warden.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// Project name (shown by `warden explain`).
    #[serde(default)]
    pub name: Option<String>,
    /// Policy version reported in every decision.
    #[serde(default)]
    pub version: Option<String>,
    /// Directory of policy files (default `policies`).
    #[serde(default)]
    pub policies: Option<String>,
    /// Directory of test files (default `tests`).
    #[serde(default)]
    pub tests: Option<String>,
}

/// Reads `warden.yaml`: every key is optional (an empty file is all defaults); an error names its
/// line and column, as a policy file's do.
fn read_manifest(manifest: &Path) -> Result<ProjectFile, CliError> {
    let text = read(manifest)?;
    let name = display(manifest);
    let at = |s: warden_core::diag::Span| format!("{name}:{}:{}", s.line, s.column);
    let doc = warden_core::source::Document::parse(&name, &text).map_err(|d| {
        let e = CliError::usage(format!("{}: {}", at(d.span), d.message));
        match d.hint {
            Some(h) => e.hint(h),
            None => e,
        }
    })?;
    let keys = "name, version, policies and tests";
    match &doc.value {
        serde_json::Value::Null => return Ok(ProjectFile::default()),
        serde_json::Value::Object(_) => {}
        _ => {
            return Err(CliError::usage(format!(
                "{}: warden.yaml must be a mapping of keys ({keys})",
                at(doc.span_at(""))
            )))
        }
    }
    serde_path_to_error::deserialize::<_, ProjectFile>(doc.value.clone()).map_err(|e| {
        let pointer: String = e.path().iter().map(crate::pointer_segment).collect();
        let found = doc.value.pointer(&pointer);
        let message = format!("{}: {}", at(doc.span_at(&pointer)), e.inner());
        match found {
            Some(v) if v.is_number() => CliError::usage(message).hint(format!(
                "quote it (`{}: \"…\"`): YAML reads an unquoted {v} as a number",
                pointer.trim_start_matches('/')
            )),
            _ => CliError::usage(message).hint(format!("warden.yaml takes {keys}, each a string")),
        }
    })
}

/// A policy project read from disk.
pub struct Project {
    /// Project name.
    pub name: String,
    /// Policy version.
    pub version: String,
    /// (display name, text) of each YAML policy file, sorted by name.
    pub policies: Vec<(String, String)>,
    /// Custom Rego modules.
    pub rego: Vec<RegoModule>,
    /// (display name, text) of each test file.
    pub tests: Vec<(String, String)>,
    /// Where the tests are looked for (a project directory's `tests`, or its `warden.yaml`'s).
    pub tests_dir: Option<String>,
}

impl Project {
    /// Opens a project directory (with or without `warden.yaml`) or a single policy file.
    pub fn open(path: &Path) -> Result<Project, CliError> {
        if path.is_file() {
            let text = read(path)?;
            return Ok(Project {
                name: display(path),
                version: "unversioned".into(),
                policies: vec![(display(path), text)],
                rego: vec![],
                tests: vec![],
                tests_dir: None,
            });
        }
        if !path.exists() {
            return Err(
                CliError::usage(format!("`{}` does not exist", path.display()))
                    .hint("give a policy project directory (with policies/) or a policy file"),
            );
        }
        if !path.is_dir() {
            return Err(CliError::usage(format!(
                "`{}` is neither a policy project directory nor a policy file",
                path.display()
            )));
        }
        let manifest = path.join("warden.yaml");
        let pf: ProjectFile = if manifest.is_file() {
            read_manifest(&manifest)?
        } else {
            ProjectFile::default()
        };
        let pdir = match &pf.policies {
            Some(p) => path.join(p),
            None if path.join("policies").is_dir() => path.join("policies"),
            None => path.to_path_buf(),
        };
        let tdir = path.join(pf.tests.as_deref().unwrap_or("tests"));
        let mut policies = Vec::new();
        let mut rego = Vec::new();
        for f in files(&pdir)? {
            if pdir == path && f.starts_with(&tdir) {
                continue;
            }
            match f.extension().and_then(|e| e.to_str()) {
                Some("yaml" | "yml") if f.file_name().is_some_and(|n| n != "warden.yaml") => {
                    policies.push((display(&f), read(&f)?))
                }
                Some("rego") => rego.push(RegoModule {
                    file: display(&f),
                    text: read(&f)?,
                }),
                _ => {}
            }
        }
        let tests = if tdir.is_dir() {
            files(&tdir)?
                .into_iter()
                .filter(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .map(|f| Ok((display(&f), read(&f)?)))
                .collect::<Result<_, CliError>>()?
        } else {
            vec![]
        };
        if policies.is_empty() {
            return Err(CliError::usage(format!(
                "no policy files (*.yaml) in `{}`",
                pdir.display()
            ))
            .hint("run `warden init DIR` to start a project"));
        }
        let name = pf.name.clone().unwrap_or_else(|| display(path));
        Ok(Project {
            name,
            version: pf.version.unwrap_or_else(|| "unversioned".into()),
            policies,
            rego,
            tests,
            tests_dir: Some(display(&tdir)),
        })
    }

    /// Loads and validates every policy file; all problems are returned together.
    pub fn load(&self) -> Result<(Vec<LoadedFile>, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut loaded = Vec::new();
        let mut diags = Vec::new();
        for (name, text) in &self.policies {
            match warden_core::load(name, text) {
                Ok(f) => loaded.push(f),
                Err(d) => diags.extend(d),
            }
        }
        if diags.iter().any(Diagnostic::is_error) {
            Err(diags)
        } else {
            Ok((loaded, diags))
        }
    }

    /// Loads and compiles; on failure, every diagnostic.
    pub fn compile(&self) -> Result<(Compiled, Vec<LoadedFile>), Vec<Diagnostic>> {
        let (loaded, _) = self.load()?;
        let compiled = warden_core::compile(&loaded, &self.rego, &self.version)?;
        Ok((compiled, loaded))
    }

    /// The source text of a file, for rendering diagnostics.
    pub fn source_of(&self, file: &str) -> Option<&str> {
        self.policies
            .iter()
            .chain(self.tests.iter())
            .find(|(n, _)| n == file)
            .map(|(_, t)| t.as_str())
    }
}

/// Reads a whole file as UTF-8, with an error that names it.
pub fn read(path: &Path) -> Result<String, CliError> {
    let bytes = fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", path.display())))?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("`{}` is not UTF-8 text", path.display())))
}

/// A raw Rego bundle directory's `.rego` and `data.json` files, named relative to `dir` with `/`.
pub fn rego_and_data(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, CliError> {
    let mut out = Vec::new();
    for f in files(dir)? {
        let rel = f
            .strip_prefix(dir)
            .unwrap_or(&f)
            .to_string_lossy()
            .replace('\\', "/");
        if rel.ends_with(".rego") || rel.ends_with("data.json") {
            let bytes = std::fs::read(&f)
                .map_err(|e| CliError::usage(format!("cannot read `{}`: {e}", f.display())))?;
            out.push((rel, bytes));
        }
    }
    Ok(out)
}

/// Regular files below `dir`, recursively, sorted. Symbolic links are followed, except a link
/// to a directory the walk is already inside (a loop back up the tree); two links to one
/// directory are both read, as they name different paths. A policy, Rego or data file that is a
/// link to nothing is an error: it must not go missing unnoticed.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    // Each directory to read, with the real paths of the directories it lies in.
    let mut stack = vec![(dir.to_path_buf(), Vec::new())];
    while let Some((d, mut above)) = stack.pop() {
        if let Ok(real) = fs::canonicalize(&d) {
            if above.contains(&real) {
                continue;
            }
            above.push(real);
        }
        let entries = fs::read_dir(&d).map_err(|e| {
            CliError::usage(format!("cannot read directory `{}`: {e}", d.display()))
        })?;
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') && name != ".manifest" {
                continue;
            }
            if p.is_dir() {
                stack.push((p, above.clone()));
            } else if p.is_file() {
                out.push(p);
            } else if p.is_symlink() && !p.exists() && is_policy_file(name) {
                return Err(CliError::usage(format!(
                    "`{}` is a symbolic link to something that does not exist",
                    p.display()
                ))
                .hint("restore its target, or remove the link"));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Files a project or bundle is made of (policies, Rego, data).
fn is_policy_file(name: &str) -> bool {
    [".yaml", ".yml", ".rego", ".json"]
        .iter()
        .any(|x| name.ends_with(x))
}

/// A path as shown to users: relative paths stay relative.
pub fn display(p: &Path) -> String {
    let s = p.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}
