// Warden patch: Go's RE2 (OPA's regex engine) reads the Perl classes `\d \w \s` and the word
// boundaries `\b \B` as ASCII; Rust's `regex` crate reads them as Unicode. So `\d` matched `١`
// (Arabic-Indic one) here but not in OPA, and `\b` saw no boundary between `é` and a digit, so
// a redaction pattern such as `\b\d{3}-\d{2}-\d{4}\b` missed `é123-45-6789` that OPA masks.
// `ascii_classes` rewrites a pattern so the Rust engine reads those escapes as RE2 does; the
// rest of the pattern is left as it is. This file has no dependencies: Warden's core crate
// includes it too (`#[path]`), for the redactions it applies after a decision, so the two
// cannot drift apart. No crate offers this translation (regex-syntax can only turn Unicode off
// for the whole pattern, which makes `.` match bytes and is refused for text).

extern crate alloc;

use alloc::borrow::Cow;
use alloc::string::String;

/// RE2's `\d`, `\w`, `\s` as class items, and their complements as classes.
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0C\r ";

/// `pattern` with `\d \D \w \W \s \S \b \B` meaning what they mean in Go's RE2 (ASCII), inside
/// character classes as well; borrowed unchanged when it has none of them.
pub fn ascii_classes(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains('\\') {
        return Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut changed = false;
    // Depth of character classes (Rust's regex nests them); `start` marks the position right
    // after an opening `[` or `[^`, where `]` is a literal.
    let mut depth = 0usize;
    let mut start = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let at_start = core::mem::replace(&mut start, false);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let (inside, class, negated) = match e {
                    'd' => (DIGIT, true, false),
                    'D' => (DIGIT, true, true),
                    'w' => (WORD, true, false),
                    'W' => (WORD, true, true),
                    's' => (SPACE, true, false),
                    'S' => (SPACE, true, true),
                    'b' | 'B' if depth == 0 => {
                        out.push_str(if e == 'b' { r"(?-u:\b)" } else { r"(?-u:\B)" });
                        changed = true;
                        continue;
                    }
                    _ => ("", false, false),
                };
                if !class {
                    out.push('\\');
                    out.push(e);
                    continue;
                }
                changed = true;
                match (depth > 0, negated) {
                    (true, false) => out.push_str(inside),
                    (_, true) => {
                        out.push_str("[^");
                        out.push_str(inside);
                        out.push(']');
                    }
                    (false, false) => {
                        out.push('[');
                        out.push_str(inside);
                        out.push(']');
                    }
                }
            }
            '[' => {
                out.push('[');
                if depth > 0 && chars.peek() == Some(&':') {
                    // A POSIX class (`[:alpha:]`): copied to its closing `:]`.
                    for p in chars.by_ref() {
                        out.push(p);
                        if p == ']' && out.ends_with(":]") {
                            break;
                        }
                    }
                    continue;
                }
                depth += 1;
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                start = true;
            }
            ']' if depth > 0 && !at_start => {
                depth -= 1;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::ascii_classes;

    #[test]
    fn perl_classes_become_ascii() {
        assert_eq!(ascii_classes(r"^\d{3}$"), r"^[0-9]{3}$");
        assert_eq!(ascii_classes(r"\bx\B"), r"(?-u:\b)x(?-u:\B)");
        assert_eq!(ascii_classes(r"[\w.-]+"), r"[0-9A-Za-z_.-]+");
        assert_eq!(ascii_classes(r"[^\s]"), r"[^\t\n\x0C\r ]");
        assert_eq!(ascii_classes(r"[a\D]"), r"[a[^0-9]]");
        assert_eq!(ascii_classes(r"\S+"), r"[^\t\n\x0C\r ]+");
        assert_eq!(ascii_classes(r"[]\d]"), r"[]0-9]");
        assert_eq!(ascii_classes(r"[[:alpha:]\d]"), r"[[:alpha:]0-9]");
        assert_eq!(ascii_classes(r"\\d\.\p{L}"), r"\\d\.\p{L}");
        assert_eq!(ascii_classes("plain"), "plain");
    }

    #[test]
    fn translated_patterns_match_as_re2_does() {
        let m = |p: &str, s: &str| regex::Regex::new(&ascii_classes(p)).unwrap().is_match(s);
        assert!(!m(r"^\d+$", "١٢٣"));
        assert!(m(r"^\d+$", "123"));
        assert!(m(r"\b\d{3}-\d{2}-\d{4}\b", "SSN é123-45-6789"));
        assert!(m(r"\b\d{3}-\d{2}-\d{4}\b", "x 123-45-6789ä"));
        assert!(!m(r"^\s*select", "\u{a0}select"));
        assert!(m(r"(?i)\bdrop\b", "select 1;дdrop table x"));
        assert!(m(r"(?i)^select\b", "selectá"));
        assert!(!m(r"^\w+$", "héllo"));
    }
}
