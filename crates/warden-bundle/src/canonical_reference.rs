//! The tree-building canonicalizer that `canonical_json` replaced (2026-12-05), kept for tests
//! only: the streaming writer must produce exactly what it produced.

use super::{go_string, hex4_at, number_end, utf8_len, JsonError, MAX_DEPTH};

/// A JSON value that keeps number literals as written.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    /// Members in input order; duplicate keys keep the last value, as Go's decoder does.
    Obj(Vec<(String, J)>),
}

/// The canonical text of a JSON document (a leading UTF-8 BOM is ignored).
pub(super) fn canonical_json(bytes: &[u8]) -> Result<String, JsonError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut p = Parser { b: bytes, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(JsonError {
            at: p.i,
            what: "end of document",
        });
    }
    let mut out = String::with_capacity(bytes.len());
    write(&v, &mut out);
    Ok(out)
}

fn write(v: &J, out: &mut String) {
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => go_string(s, out),
        J::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        J::Obj(members) => {
            // Last value wins for duplicate keys; then sort bytewise.
            let mut m: Vec<(&String, &J)> = Vec::with_capacity(members.len());
            for (k, x) in members {
                match m.iter_mut().find(|(mk, _)| *mk == k) {
                    Some(slot) => slot.1 = x,
                    None => m.push((k, x)),
                }
            }
            m.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                write(x, out);
            }
            out.push('}');
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError { at: self.i, what }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], v: J) -> Result<J, JsonError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("a value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<J, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("less nesting"));
        }
        match self.b.get(self.i) {
            Some(b'n') => self.lit(b"null", J::Null),
            Some(b't') => self.lit(b"true", J::Bool(true)),
            Some(b'f') => self.lit(b"false", J::Bool(false)),
            Some(b'"') => self.string().map(J::Str),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(J::Arr(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(J::Arr(items));
                        }
                        _ => return Err(self.err("`,` or `]`")),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(J::Obj(members));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.err("a string key"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.err("`:`"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(J::Obj(members));
                        }
                        _ => return Err(self.err("`,` or `}`")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("a value")),
        }
    }

    fn number(&mut self) -> Result<J, JsonError> {
        let end = number_end(self.b, self.i)?;
        let text = String::from_utf8_lossy(&self.b[self.i..end]).into_owned();
        self.i = end;
        Ok(J::Num(text))
    }

    /// A string; invalid UTF-8 bytes and lone surrogates become U+FFFD, as in Go.
    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1;
        let mut s = String::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("closing `\"`"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(s);
                }
                b'\\' => {
                    self.i += 1;
                    let e = *self.b.get(self.i).ok_or_else(|| self.err("an escape"))?;
                    self.i += 1;
                    match e {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.b[self.i..].starts_with(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    s.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                    continue;
                                }
                                self.i = save;
                            }
                            s.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("a valid escape")),
                    }
                }
                c if c < 0x20 => return Err(self.err("no control characters in strings")),
                _ => {
                    let rest = &self.b[self.i..];
                    let len = utf8_len(rest);
                    match std::str::from_utf8(&rest[..len.max(1).min(rest.len())]) {
                        Ok(ch) if len > 0 => {
                            s.push_str(ch);
                            self.i += len;
                        }
                        _ => {
                            s.push('\u{FFFD}');
                            self.i += 1;
                        }
                    }
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let v = hex4_at(self.b, self.i)?;
        self.i += 4;
        Ok(v)
    }
}
