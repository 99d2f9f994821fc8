//! Matching a URI against an RFC 6570 URI template, as MCP resource templates are
//! (`resources/templates/list`): the aggregated endpoint uses it to send a `resources/read` of
//! a URI made from a template to the server that listed the template.
//!
//! Written here because the crates for URI templates expand them (values → URI) and none
//! matches a URI back against one. A template becomes an anchored regular expression: literal
//! text matches itself, and each expression matches what its operator can expand to: `{x}`
//! one value without `/`, `?` or `#` (simple expansion percent-encodes them), `{+x}` and `{#x}`
//! anything (reserved expansion keeps `/`), `{/x}`, `{.x}` and `{;x}` zero or more prefixed
//! segments, `{?x}` and `{&x}` a query part.

use regex::Regex;

/// A compiled resource template.
#[derive(Debug, Clone)]
pub struct UriTemplate {
    re: Regex,
}

impl UriTemplate {
    /// Compiles `template`; `None` when it is not a well-formed template (an unclosed `{`, a
    /// nested or stray brace), which then matches nothing.
    pub fn new(template: &str) -> Option<Self> {
        let mut pattern = String::from("^");
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return None;
            }
            pattern.push_str(&regex::escape(&rest[..open]));
            let after = &rest[open + 1..];
            let close = after.find('}')?;
            let expr = &after[..close];
            if expr.contains('{') || expr.is_empty() {
                return None;
            }
            pattern.push_str(match expr.as_bytes()[0] {
                b'+' | b'#' => ".*",
                b'/' => "(?:/[^/?#]*)*",
                b'.' => r"(?:\.[^/?#.]*)*",
                b';' => "(?:;[^/?#;]*)*",
                b'?' => r"(?:\?[^#]*)?",
                b'&' => "(?:&[^#]*)?",
                _ => "[^/?#]*",
            });
            rest = &after[close + 1..];
        }
        pattern.push_str(&regex::escape(rest));
        pattern.push('$');
        Regex::new(&pattern).ok().map(|re| UriTemplate { re })
    }

    /// Whether `uri` is one this template can expand to.
    pub fn matches(&self, uri: &str) -> bool {
        self.re.is_match(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::UriTemplate;

    fn m(t: &str, uri: &str) -> bool {
        UriTemplate::new(t).is_some_and(|t| t.matches(uri))
    }

    #[test]
    fn simple_expressions_match_one_segment() {
        assert!(m("file:///srv/logs/{name}", "file:///srv/logs/app.log"));
        assert!(!m(
            "file:///srv/logs/{name}",
            "file:///srv/logs/a/../../etc/passwd"
        ));
        assert!(!m("file:///srv/logs/{name}", "file:///srv/other/app.log"));
        assert!(m("users://{id}/profile", "users://42/profile"));
        assert!(!m("users://{id}/profile", "users://42/profile/extra"));
        // Literal text is literal, not a pattern.
        assert!(!m("a.b/{x}", "aXb/1"));
    }

    #[test]
    fn operators_match_what_they_expand_to() {
        assert!(m("file:///{+path}", "file:///etc/hosts"));
        assert!(m("repo://x{/segs}", "repo://x/a/b"));
        assert!(m("repo://x{/segs}", "repo://x"));
        assert!(m("search://q{?term,page}", "search://q?term=a&page=2"));
        assert!(m("search://q{?term}", "search://q"));
        assert!(!m("search://q{?term}", "search://qx"));
    }

    #[test]
    fn malformed_templates_match_nothing() {
        for t in ["file:///{name", "file:///name}", "a{b{c}}", "x{}"] {
            assert!(UriTemplate::new(t).is_none(), "{t}");
        }
    }
}
