//! Input paths as policies write them (`args.amount`, `args.recipients[*].email`,
//! `args["odd.key"]`) and their compiled forms (OPA path arrays and JSON pointers).

use serde_json::{json, Value};

use crate::source::pointer_token;

/// Top-level input fields a path may start with. `args` is short for `action.args`.
pub const ROOTS: &[&str] = &[
    "args",
    "action",
    "agent",
    "user",
    "context",
    "environment",
    "tenant",
    "result",
];

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object key.
    Key(String),
    /// An array index.
    Index(u64),
    /// Every element of an array.
    Wild,
}

/// A parsed input path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPath {
    /// The path as written.
    pub text: String,
    /// Steps from the input root (`args` already expanded to `action`, `args`).
    pub segs: Vec<Seg>,
}

/// Why a path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl InputPath {
    /// Parses a path such as `args.payload.body` or `args.recipients[*]`.
    pub fn parse(text: &str) -> Result<InputPath, PathError> {
        let err = |m: String| PathError {
            message: m,
            hint: None,
        };
        let mut segs = Vec::new();
        let mut chars = text.chars().peekable();
        let mut cur = String::new();
        let flush = |cur: &mut String, segs: &mut Vec<Seg>| -> Result<(), PathError> {
            if cur.is_empty() {
                return Err(err(format!("empty step in path `{text}`")));
            }
            segs.push(Seg::Key(std::mem::take(cur)));
            Ok(())
        };
        while let Some(c) = chars.next() {
            match c {
                '.' => flush(&mut cur, &mut segs)?,
                '[' => {
                    if !cur.is_empty() {
                        flush(&mut cur, &mut segs)?;
                    }
                    let mut inner = String::new();
                    let mut quoted = false;
                    loop {
                        match chars.next() {
                            None => return Err(err(format!("unclosed `[` in path `{text}`"))),
                            Some('"') => quoted = !quoted,
                            Some(']') if !quoted => break,
                            Some(ch) => inner.push(ch),
                        }
                    }
                    segs.push(if inner == "*" {
                        Seg::Wild
                    } else if let Ok(i) = inner.parse::<u64>() {
                        Seg::Index(i)
                    } else if !inner.is_empty() {
                        Seg::Key(inner)
                    } else {
                        return Err(err(format!("empty `[]` in path `{text}`")));
                    });
                    if chars.peek() == Some(&'.') {
                        chars.next();
                        if chars.peek().is_none() {
                            return Err(err(format!("path `{text}` ends with `.`")));
                        }
                    }
                }
                _ => cur.push(c),
            }
        }
        if !cur.is_empty() {
            segs.push(Seg::Key(cur));
        } else if text.ends_with('.') || text.is_empty() {
            return Err(err(format!("path `{text}` is empty or ends with `.`")));
        }
        let root = match segs.first() {
            Some(Seg::Key(k)) => k.clone(),
            _ => return Err(err(format!("path `{text}` must start with an input field"))),
        };
        if !ROOTS.contains(&root.as_str()) {
            let hint = crate::diag::did_you_mean(&root, ROOTS.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("paths start with one of: {}", ROOTS.join(", ")));
            return Err(PathError {
                message: format!("path `{text}` starts with unknown input field `{root}`"),
                hint: Some(hint),
            });
        }
        if root == "args" {
            segs.splice(0..1, [Seg::Key("action".into()), Seg::Key("args".into())]);
        }
        if segs.iter().filter(|s| **s == Seg::Wild).count() > 1 {
            return Err(PathError {
                message: format!("path `{text}` has more than one `[*]`"),
                hint: Some(
                    "use one `[*]` per path; split nested checks into separate rules".into(),
                ),
            });
        }
        Ok(InputPath {
            text: text.to_string(),
            segs,
        })
    }

    /// The argument name when the path is under `action.args`.
    pub fn arg_name(&self) -> Option<&str> {
        match self.segs.as_slice() {
            [Seg::Key(a), Seg::Key(b), Seg::Key(name), ..] if a == "action" && b == "args" => {
                Some(name)
            }
            _ => None,
        }
    }

    /// Whether the path stops at the argument itself (`args.amount`, `args.items[*]`).
    pub fn is_whole_arg(&self) -> bool {
        self.arg_name().is_some()
            && (self.segs.len() == 3 || (self.segs.len() == 4 && self.segs[3] == Seg::Wild))
    }

    /// Whether the path is under `result`: the tool's result, present only when an enforcement
    /// point decides on what a call returned (the MCP gateway's result redaction).
    pub fn is_result(&self) -> bool {
        self.segs.first() == Some(&Seg::Key("result".into()))
    }

    /// Whether the path iterates an array.
    pub fn is_wild(&self) -> bool {
        self.segs.contains(&Seg::Wild)
    }

    /// The compiled location: `{"wild": false, "path": [...]}` or
    /// `{"wild": true, "prefix": [...], "suffix": [...]}` plus JSON pointers for reports.
    pub fn compiled(&self) -> Value {
        match self.segs.iter().position(|s| *s == Seg::Wild) {
            None => json!({
                "wild": false,
                "path": opa_path(&self.segs),
                "pointer": pointer(&self.segs),
            }),
            Some(i) => json!({
                "wild": true,
                "prefix": opa_path(&self.segs[..i]),
                "suffix": opa_path(&self.segs[i + 1..]),
                "pointer_prefix": pointer(&self.segs[..i]),
                "pointer_suffix": pointer(&self.segs[i + 1..]),
            }),
        }
    }

    /// The OPA path array of a path without `[*]`.
    pub fn opa_path(&self) -> Value {
        opa_path(&self.segs)
    }
}

fn opa_path(segs: &[Seg]) -> Value {
    Value::Array(
        segs.iter()
            .map(|s| match s {
                Seg::Key(k) => Value::String(k.clone()),
                Seg::Index(i) => json!(i),
                Seg::Wild => Value::String("*".into()),
            })
            .collect(),
    )
}

fn pointer(segs: &[Seg]) -> String {
    segs.iter()
        .map(|s| match s {
            Seg::Key(k) => format!("/{}", pointer_token(k)),
            Seg::Index(i) => format!("/{i}"),
            Seg::Wild => "/*".into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_args_wildcards_and_quoted_keys() {
        let p = InputPath::parse("args.recipients[*].email").unwrap();
        assert_eq!(p.arg_name(), Some("recipients"));
        assert_eq!(
            p.compiled(),
            json!({"wild": true, "prefix": ["action", "args", "recipients"], "suffix": ["email"],
                   "pointer_prefix": "/action/args/recipients", "pointer_suffix": "/email"})
        );
        let q = InputPath::parse("args[\"odd.key\"].x").unwrap();
        assert_eq!(q.opa_path(), json!(["action", "args", "odd.key", "x"]));
        assert!(InputPath::parse("context.turn_count")
            .unwrap()
            .arg_name()
            .is_none());
    }

    #[test]
    fn rejects_bad_paths_with_hints() {
        let e = InputPath::parse("argz.amount").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `args`?"));
        assert!(InputPath::parse("args..x").is_err());
        assert!(InputPath::parse("args.a[*].b[*]").is_err());
        assert!(InputPath::parse("args.a[").is_err());
        assert!(InputPath::parse("").is_err());
    }
}
