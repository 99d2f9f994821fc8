//! Redaction rules: which argument or result paths are masked, with which patterns.

use serde_json::{json, Value};

use super::{Walk, BUILTIN_PATTERNS};
use crate::compile::cond::{check_regex, ArgDecls};
use crate::model::PatternRef;
use crate::paths::InputPath;

impl Walk<'_, '_> {
    pub(super) fn redact(
        &mut self,
        red: &crate::model::Redact,
        ptr: &str,
        decls: &ArgDecls<'_>,
    ) -> Option<Value> {
        let mut targets = Vec::new();
        for (i, p) in red.paths.iter().enumerate() {
            let pptr = format!("{ptr}/paths/{i}");
            match InputPath::parse(p) {
                Ok(ip) => {
                    if let Some(name) = ip.arg_name() {
                        if !decls.is_empty() && !decls.iter().any(|d| d.contains_key(name)) {
                            self.sink.error_at_value("never-matches", &pptr, format!("the tool action declares no argument `{name}`: nothing to redact"), None);
                        }
                    }
                    targets.push(ip.compiled());
                }
                Err(e) => self
                    .sink
                    .error_at_value("invalid-path", &pptr, e.message, e.hint),
            }
        }
        if red.paths.is_empty() {
            self.sink.error(
                "empty-redact",
                ptr,
                "`redact` needs at least one path".into(),
                None,
            );
            return None;
        }
        let template = red
            .replacement
            .clone()
            .unwrap_or_else(|| "[REDACTED:{name}]".into());
        let mut patterns = Vec::new();
        for (i, p) in red.patterns.iter().enumerate() {
            let pptr = format!("{ptr}/patterns/{i}");
            let (name, regex) = match p {
                PatternRef::Builtin(n) => match BUILTIN_PATTERNS.iter().find(|(b, _)| b == n) {
                    Some((b, re)) => (b.to_string(), re.to_string()),
                    None => {
                        let hint =
                            crate::diag::did_you_mean(n, BUILTIN_PATTERNS.iter().map(|(b, _)| *b))
                                .map(|s| format!("did you mean `{s}`?"))
                                .unwrap_or_else(|| {
                                    "use a built-in name or `{name: ..., regex: ...}`".into()
                                });
                        self.sink.error_at_value(
                            "unknown-pattern",
                            &pptr,
                            format!("`{n}` is not a built-in pattern"),
                            Some(hint),
                        );
                        continue;
                    }
                },
                PatternRef::Custom(c) => {
                    check_regex(&mut self.sink, &c.regex, &format!("{pptr}/regex"));
                    (c.name.clone(), c.regex.clone())
                }
            };
            patterns.push(json!({
                "name": name,
                "regex": regex,
                "applied": if red.whole_field { Value::Null } else { json!(regex) },
                "replacement": template.replace("{name}", &name),
            }));
        }
        Some(json!({
            "targets": targets,
            "patterns": patterns,
            "field_replacement": template.replace("{name}", "field"),
        }))
    }
}
