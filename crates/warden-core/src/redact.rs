//! Applying a decision's redactions to a call before it is forwarded.
//!
//! Each redaction names a JSON pointer into the decision input and either a regex (replace every
//! match in every string at or below the pointer) or none (replace the whole value).

use serde_json::Value;

use crate::contract::Redaction;

/// RE2's reading of `\d \w \s \b` (ASCII), shared with the engine's regex builtins: one file,
/// compiled into both crates, so a redaction masks exactly what the decision matched.
#[path = "../../../vendor/regorus/src/builtins/re2_classes.rs"]
pub(crate) mod re2;

/// Why a redaction could not be applied. Enforcement points must fail closed on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// The regex does not compile (policies are validated, so this means a tampered decision).
    #[error("redaction pattern `{0}` is not a valid regex")]
    BadPattern(String),
}

/// Applies `redactions` to `input` (a decision input), in order. Pointers that no longer exist are
/// skipped: the value they named is absent, so there is nothing left to leak.
pub fn apply(input: &mut Value, redactions: &[Redaction]) -> Result<usize, RedactError> {
    let mut changed = 0;
    for r in redactions {
        let Some(target) = input.pointer_mut(&r.path) else {
            continue;
        };
        match &r.pattern {
            None => {
                *target = Value::String(r.replacement.clone());
                changed += 1;
            }
            Some(p) => {
                let re = regex::Regex::new(&re2::ascii_classes(p))
                    .map_err(|_| RedactError::BadPattern(p.clone()))?;
                changed += replace_strings(target, &re, &r.replacement, 0);
            }
        }
    }
    Ok(changed)
}

/// Replaces matches in every string at or below `v`; returns how many strings changed.
fn replace_strings(v: &mut Value, re: &regex::Regex, with: &str, depth: usize) -> usize {
    if depth > 128 {
        // Deeper than any JSON we accept; replace rather than leak.
        *v = Value::String(with.to_string());
        return 1;
    }
    match v {
        Value::String(s) => {
            let out = re.replace_all(s, regex::NoExpand(with));
            if out != *s {
                *s = out.into_owned();
                1
            } else {
                0
            }
        }
        Value::Array(a) => a
            .iter_mut()
            .map(|x| replace_strings(x, re, with, depth + 1))
            .sum(),
        // Keys are text a serialized body carries too: they are masked like values. A masked
        // key that another key already has gets `#2`, `#3`… so no value is lost.
        Value::Object(m) if m.keys().any(|k| re.is_match(k)) => {
            let taken = std::mem::take(m);
            let kept: std::collections::HashSet<String> =
                taken.keys().filter(|k| !re.is_match(k)).cloned().collect();
            let mut changed = 0;
            for (k, mut x) in taken {
                changed += replace_strings(&mut x, re, with, depth + 1);
                if kept.contains(&k) {
                    m.insert(k, x);
                    continue;
                }
                changed += 1;
                let base = re.replace_all(&k, regex::NoExpand(with)).into_owned();
                let mut key = base.clone();
                let mut n = 1;
                while m.contains_key(&key) || kept.contains(&key) {
                    n += 1;
                    key = format!("{base}#{n}");
                }
                m.insert(key, x);
            }
            changed
        }
        Value::Object(o) => o
            .values_mut()
            .map(|x| replace_strings(x, re, with, depth + 1))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn red(path: &str, pattern: Option<&str>, replacement: &str) -> Redaction {
        Redaction {
            path: path.into(),
            name: "x".into(),
            pattern: pattern.map(str::to_string),
            replacement: replacement.into(),
            rule: "r".into(),
        }
    }

    #[test]
    fn replaces_matches_and_whole_fields() {
        let mut input = json!({"action": {"args": {"body": "SSN 123-45-6789 and 987-65-4321", "meta": {"n": ["a 111-22-3333"]}, "secret": {"k": 1}}}});
        let n = apply(
            &mut input,
            &[
                red(
                    "/action/args/body",
                    Some(r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b"),
                    "[SSN]",
                ),
                red(
                    "/action/args/meta",
                    Some(r"[0-9]{3}-[0-9]{2}-[0-9]{4}"),
                    "$1[SSN]",
                ),
                red("/action/args/secret", None, "[REDACTED]"),
                red("/action/args/missing", None, "[REDACTED]"),
            ],
        )
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(input["action"]["args"]["body"], "SSN [SSN] and [SSN]");
        assert_eq!(
            input["action"]["args"]["meta"]["n"][0], "a $1[SSN]",
            "replacement is literal"
        );
        assert_eq!(input["action"]["args"]["secret"], "[REDACTED]");
    }

    /// Keys carry text as values do; `\b` and `\d` read as RE2 (OPA) reads them, so a letter
    /// outside ASCII beside the number does not hide it.
    #[test]
    fn keys_are_masked_and_classes_read_as_re2() {
        let ssn = r"\b\d{3}-\d{2}-\d{4}\b";
        let mut input = json!({"body": {"SSN 123-45-6789": true, "SSN 987-65-4321": {"x": "é111-22-3333"}, "SSN [SSN]": 0, "ok": "١٢٣-٤٥-٦٧٨٩"}});
        let n = apply(&mut input, &[red("/body", Some(ssn), "[SSN]")]).unwrap();
        assert_eq!(n, 3, "{input}");
        let body = input["body"].as_object().unwrap();
        let keys: Vec<&str> = body.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{input}");
        assert!(
            keys.contains(&"SSN [SSN]#2") && keys.contains(&"SSN [SSN]#3"),
            "{input}"
        );
        assert_eq!(body["SSN [SSN]"], 0, "a key already masked keeps its value");
        assert!(!input.to_string().contains("111-22-3333"), "{input}");
        assert_eq!(
            body["ok"], "١٢٣-٤٥-٦٧٨٩",
            "not ASCII digits: not an SSN to RE2"
        );
    }

    #[test]
    fn bad_patterns_fail() {
        let mut input = json!({"a": "x"});
        assert!(apply(&mut input, &[red("/a", Some("("), "y")]).is_err());
    }
}
