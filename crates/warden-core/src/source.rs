//! Reading YAML sources into JSON values while remembering where every node came from.
//!
//! The YAML is parsed with `saphyr` (YAML 1.2, duplicate keys rejected, alias expansion budgeted)
//! into a tree with spans, then converted to `serde_json::Value` plus a map from JSON pointer to
//! span. Validation works on the JSON, and reports at the span of the pointer.

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

use crate::diag::{Diagnostic, Span};

/// Deepest nesting accepted in a policy file.
pub const MAX_DEPTH: usize = 64;
/// Largest policy file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Largest a policy file may grow to once its aliases are expanded, in bytes.
pub const MAX_EXPANDED_BYTES: u64 = 16 * 1024 * 1024;

/// A parsed YAML document: its JSON value and the spans of its nodes.
#[derive(Debug, Clone)]
pub struct Document {
    /// File name as given.
    pub file: String,
    /// The source text.
    pub text: String,
    /// The document as JSON.
    pub value: Value,
    /// JSON pointer → spans of the node (value) and, for mapping members, of the key.
    pub spans: BTreeMap<String, NodeSpans>,
}

/// Where a node is.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeSpans {
    /// The value.
    pub value: Span,
    /// The key, for mapping members.
    pub key: Option<Span>,
}

impl Document {
    /// Parses `text` (named `file`) as a single YAML document.
    pub fn parse(file: &str, text: &str) -> Result<Document, Box<Diagnostic>> {
        if text.len() > MAX_FILE_BYTES {
            return Err(Box::new(
                Diagnostic::error(
                    "file-too-large",
                    file,
                    Span {
                        line: 1,
                        column: 1,
                        ..Span::default()
                    },
                    format!(
                        "file is {} bytes; the limit is {MAX_FILE_BYTES}",
                        text.len()
                    ),
                )
                .with_hint("split the policy into several files"),
            ));
        }
        let index = CharIndex::new(text);
        if let Some((at, size)) = expands_past_limit(text) {
            return Err(Box::new(
                Diagnostic::error(
                    "yaml-alias-too-large",
                    file,
                    index.span(at, at + 1),
                    format!(
                        "with its aliases expanded this file holds over {size} bytes; the limit \
                         is {MAX_EXPANDED_BYTES}"
                    ),
                )
                .with_hint("write the repeated value out where it is used, or use fewer aliases"),
            ));
        }
        let mut docs = MarkedYaml::load_from_str(text).map_err(|e| {
            let m = e.marker();
            let hint = match e.info().contains("duplicated key") {
                true => "a key may appear once in a mapping: merge the two entries",
                false => "fix the YAML syntax at this position (indentation, quotes, colons)",
            };
            Box::new(
                Diagnostic::error(
                    "yaml-syntax",
                    file,
                    index.span(m.index(), m.index() + 1),
                    format!("invalid YAML: {}", e.info()),
                )
                .with_hint(hint),
            )
        })?;
        // A trailing `---` (which generators often write) starts an empty document: not a second
        // policy.
        while docs.len() > 1
            && docs
                .last()
                .is_some_and(|d| matches!(d.data, YamlData::Value(Scalar::Null)))
        {
            docs.pop();
        }
        let mut doc = Document {
            file: file.to_string(),
            text: text.to_string(),
            value: Value::Null,
            spans: BTreeMap::new(),
        };
        match docs.len() {
            0 => return Ok(doc),
            1 => {}
            _ => {
                return Err(Box::new(
                    Diagnostic::error(
                        "yaml-multiple-documents",
                        file,
                        index.span_of(&docs[1]),
                        "a policy file must hold exactly one YAML document",
                    )
                    .with_hint("move each document after `---` into its own file"),
                ))
            }
        }
        let mut conv = Converter {
            file,
            index: &index,
            spans: &mut doc.spans,
        };
        doc.value = conv.convert(&docs[0], String::new(), None, 0)?;
        Ok(doc)
    }

    /// The span of the node at `pointer`, or of its nearest ancestor that has one.
    pub fn span_at(&self, pointer: &str) -> Span {
        let mut p = pointer.to_string();
        loop {
            if let Some(s) = self.spans.get(&p) {
                return s.value;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => {
                    return Span {
                        line: 1,
                        column: 1,
                        offset: 0,
                        len: 0,
                    }
                }
            }
        }
    }

    /// The span of the key of the mapping member at `pointer`, else of its value.
    pub fn key_span_at(&self, pointer: &str) -> Span {
        match self.spans.get(pointer) {
            Some(NodeSpans { key: Some(k), .. }) => *k,
            _ => self.span_at(pointer),
        }
    }
}

/// Escapes one JSON pointer token (RFC 6901).
pub fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

struct Converter<'a> {
    file: &'a str,
    index: &'a CharIndex,
    spans: &'a mut BTreeMap<String, NodeSpans>,
}

impl Converter<'_> {
    fn convert(
        &mut self,
        node: &MarkedYaml<'_>,
        pointer: String,
        key: Option<Span>,
        depth: usize,
    ) -> Result<Value, Box<Diagnostic>> {
        let span = self.index.span_of(node);
        if depth > MAX_DEPTH {
            return Err(Box::new(Diagnostic::error(
                "too-deep",
                self.file,
                span,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            )));
        }
        self.spans
            .insert(pointer.clone(), NodeSpans { value: span, key });
        let value = match &node.data {
            YamlData::Value(s) => scalar(s),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.convert(item, format!("{pointer}/{i}"), None, depth + 1)?);
                }
                Value::Array(out)
            }
            YamlData::Mapping(map) => {
                let mut out = Map::new();
                for (k, v) in map.iter() {
                    let kspan = self.index.span_of(k);
                    let name = match &k.data {
                        YamlData::Value(Scalar::String(s)) => s.to_string(),
                        YamlData::Value(s) => match scalar(s) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        },
                        _ => {
                            return Err(Box::new(Diagnostic::error(
                                "yaml-complex-key",
                                self.file,
                                kspan,
                                "mapping keys must be plain strings",
                            )))
                        }
                    };
                    let child = format!("{pointer}/{}", pointer_token(&name));
                    let value = self.convert(v, child, Some(kspan), depth + 1)?;
                    out.insert(name, value);
                }
                Value::Object(out)
            }
            YamlData::Tagged(_, inner) => return self.convert(inner, pointer, key, depth),
            YamlData::Representation(s, _, _) => Value::String(s.to_string()),
            YamlData::Alias(_) | YamlData::BadValue => {
                return Err(Box::new(Diagnostic::error(
                    "yaml-bad-value",
                    self.file,
                    span,
                    "this value cannot be read (bad alias or tag)",
                )))
            }
        };
        Ok(value)
    }
}

/// Whether `text`, with its aliases expanded, would hold more than [`MAX_EXPANDED_BYTES`]: then
/// the character index where it passes the limit, and the size reached. saphyr's own guard
/// counts nodes, so one large string aliased a thousand times got past it and the loader copied
/// it a thousand times; this counts bytes, from the parser's events, without expanding anything.
/// A text that does not parse is left to the loader, which reports where. Without an `&` there
/// is no anchor, so nothing to expand: most policy files skip this second parse.
fn expands_past_limit(text: &str) -> Option<(usize, u64)> {
    use saphyr_parser::{Event, Parser};
    if !text.contains('&') {
        return None;
    }
    let mut sizes: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    // One frame per open collection: its anchor id (0: none) and its expanded size so far.
    let mut frames: Vec<(usize, u64)> = vec![(0, 0)];
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let add = match event {
            Event::Scalar(v, _, anchor, _) => {
                let n = v.len() as u64 + 1;
                if anchor > 0 {
                    sizes.insert(anchor, n);
                }
                n
            }
            Event::Alias(id) => sizes.get(&id).copied().unwrap_or(1),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                frames.push((anchor, 1));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (anchor, n) = frames.pop()?;
                if anchor > 0 {
                    sizes.insert(anchor, n);
                }
                n
            }
            _ => continue,
        };
        let top = frames.last_mut()?;
        top.1 = top.1.saturating_add(add);
        if top.1 > MAX_EXPANDED_BYTES {
            return Some((span.start.index(), top.1));
        }
    }
    None
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(f.to_string())),
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

/// Maps saphyr's character indexes to byte offsets and line/column.
struct CharIndex {
    /// Byte offset of every character, plus one past the end.
    bytes: Vec<usize>,
    /// (line, column) of every character, 1-based.
    pos: Vec<(usize, usize)>,
}

impl CharIndex {
    fn new(text: &str) -> Self {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        let mut pos = Vec::with_capacity(text.len() + 1);
        let (mut line, mut col) = (1, 1);
        for (b, ch) in text.char_indices() {
            bytes.push(b);
            pos.push((line, col));
            if ch == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        bytes.push(text.len());
        pos.push((line, col));
        CharIndex { bytes, pos }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        let last = self.bytes.len() - 1;
        let (s, e) = (start.min(last), end.min(last).max(start.min(last)));
        let (line, column) = self.pos[s];
        Span {
            line,
            column,
            offset: self.bytes[s],
            len: self.bytes[e] - self.bytes[s],
        }
    }

    fn span_of(&self, node: &MarkedYaml<'_>) -> Span {
        self.span(node.span.start.index(), node.span.end.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "warden: 1\nagents:\n  finance-agent:\n    alow: true\n";
        let doc = Document::parse("p.yaml", text).expect("parses");
        let key = doc.key_span_at("/agents/finance-agent/alow");
        assert_eq!((key.line, key.column), (4, 5));
        assert_eq!(&text[key.offset..key.offset + key.len], "alow");
        assert_eq!(
            doc.value["agents"]["finance-agent"]["alow"],
            Value::Bool(true)
        );
    }

    #[test]
    fn duplicate_keys_and_bad_syntax_are_errors_with_positions() {
        let dup = Document::parse("d.yaml", "a: 1\na: 2\n").unwrap_err();
        assert_eq!(dup.code, "yaml-syntax");
        assert_eq!(dup.span.line, 2);
        let bad = Document::parse("b.yaml", "a: [1, 2\n").unwrap_err();
        assert_eq!(bad.code, "yaml-syntax");
    }

    #[test]
    fn yaml_scalars_follow_the_core_schema() {
        let doc = Document::parse("s.yaml", "a: 5000\nb: 1.5\nc: 'USD'\nd: ~\ne: yes\n").unwrap();
        assert_eq!(doc.value["a"], serde_json::json!(5000));
        assert_eq!(doc.value["b"], serde_json::json!(1.5));
        assert_eq!(doc.value["d"], Value::Null);
        assert_eq!(doc.value["e"], serde_json::json!("yes"));
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_rejected() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h'] {
            bomb.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = name;
        }
        assert!(Document::parse("bomb.yaml", &bomb).is_err());
        // One large string aliased many times: few nodes, many bytes.
        let big = format!(
            "a: &a \"{}\"\nb: [{}]\n",
            "x".repeat(1 << 20),
            vec!["*a"; 100].join(", ")
        );
        let e = Document::parse("big.yaml", &big).unwrap_err();
        assert_eq!(e.code, "yaml-alias-too-large");
        assert_eq!(e.span.line, 2);
        let fine = "a: &a [x, y]\nb: *a\n";
        assert!(Document::parse("fine.yaml", fine).is_ok());
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            Document::parse("deep.yaml", &deep).unwrap_err().code,
            "too-deep"
        );
    }
}
