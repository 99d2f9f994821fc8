//! Diagnostics: problems found in policy sources, each placed at file:line:column.

use std::fmt;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The policies cannot be compiled.
    Error,
    /// The policies compile but probably do not do what was meant.
    Warning,
}

/// A location in a source file. Lines and columns are 1-based; offsets are byte offsets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte offset of the start.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
}

/// One problem, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case code, e.g. `unknown-key`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// File name as given.
    pub file: String,
    /// Where.
    pub span: Span,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A new error.
    pub fn error(code: &'static str, file: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: file.to_string(),
            span,
            hint: None,
        }
    }

    /// A new warning.
    pub fn warning(code: &'static str, file: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, span, message)
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic rustc-style with the offending line of `source`.
    pub fn render(&self, source: Option<&str>) -> String {
        let mut out = format!("{self}\n");
        let line_no = self.span.line.max(1);
        if let Some(text) = source.and_then(|s| s.lines().nth(line_no - 1)) {
            let gutter = line_no.to_string().len();
            let pad = " ".repeat(gutter);
            let col = self.span.column.max(1);
            let width = source
                .and_then(|s| s.get(self.span.offset..self.span.offset + self.span.len))
                .map(|s| s.lines().next().unwrap_or("").chars().count())
                .unwrap_or(1)
                .max(1);
            let (shown, col) = window(text, col);
            out.push_str(&format!("{pad} |\n{line_no} | {shown}\n{pad} | "));
            out.push_str(&" ".repeat(col - 1));
            out.push_str(&"^".repeat(width.min(SHOWN_CHARS)));
            out.push('\n');
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("  = hint: {hint}\n"));
        }
        out
    }
}

/// Most characters of a source line shown under a diagnostic.
const SHOWN_CHARS: usize = 120;

/// The part of `line` shown around 1-based column `col` (all of it when short; else
/// [`SHOWN_CHARS`] around the column, cut ends marked `…`), and the column within it.
fn window(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= SHOWN_CHARS {
        return (line.to_string(), col);
    }
    let start = (col - 1)
        .saturating_sub(SHOWN_CHARS / 2)
        .min(chars.len() - SHOWN_CHARS);
    let end = start + SHOWN_CHARS;
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    (shown, col - start + usize::from(start > 0))
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{level}[{}]: {}\n  --> {}:{}:{}",
            self.code, self.message, self.file, self.span.line, self.span.column
        )
    }
}

/// Suggests the candidate closest to `word`, if any is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_shown_around_the_column_with_the_caret_under_it() {
        let line = format!("{}X{}", "a".repeat(5000), "b".repeat(5000));
        let src = format!("first\n{line}\n");
        let span = Span {
            offset: 6 + 5000,
            len: 1,
            line: 2,
            column: 5001,
        };
        let d = Diagnostic::error("bad", "p.yaml", span, "here");
        let out = d.render(Some(&src));
        assert!(out.len() < 600, "{} bytes", out.len());
        let lines: Vec<&str> = out.lines().collect();
        let shown = lines.iter().find(|l| l.starts_with("2 | ")).unwrap();
        let caret = lines.iter().find(|l| l.trim_end().ends_with('^')).unwrap();
        let at = caret.find('^').unwrap();
        assert_eq!(shown.chars().nth(at), Some('X'), "{out}");
        let one = Span {
            offset: 3,
            len: 1,
            line: 1,
            column: 4,
        };
        let short = Diagnostic::error("bad", "p.yaml", one, "here").render(Some("k: v\n"));
        assert!(short.contains("1 | k: v\n  |    ^\n"), "{short}");
    }
}
