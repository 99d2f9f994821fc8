//! OPA's canonical form of structured bundle files (`data.json`, `.manifest`), which is what OPA
//! hashes for `.signatures.json`: objects with keys sorted bytewise, no whitespace, numbers exactly
//! as written, strings escaped like Go's `encoding/json` with HTML escaping off.
//!
//! Hand-written because the hash covers number *literals* (`1e2` ≠ `100`): serde_json keeps them
//! only with its `arbitrary_precision` feature, which would change number handling for the whole
//! workspace (regorus included).
//!
//! The text is written as the document is read, with no tree in between: an object whose keys
//! come in order (as every file `warden bundle build` writes) is copied member by member; one that
//! does not is put in order from the text already written for its members. Signing or verifying
//! the 10,000-agent bundle (36 MB `data.json`) took 0.64 s of CPU and 274 MB when a tree was
//! built first (`/usr/bin/time warden bundle verify`), 0.15–0.18 s and 94 MB this way.

use std::fmt::Write as _;

/// Why a file is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid JSON at byte {at}: {what}")]
pub struct JsonError {
    /// Byte offset.
    pub at: usize,
    /// What was expected.
    pub what: &'static str,
}

/// Deepest nesting read; deeper documents are rejected rather than overflowing the stack.
const MAX_DEPTH: usize = 512;

/// The canonical text of a JSON document (a leading UTF-8 BOM is ignored).
pub fn canonical_json(bytes: &[u8]) -> Result<String, JsonError> {
    canonical_json_with(bytes, || {})
}

/// Values read between two calls of a pause point (tens of µs of work).
const PAUSE_EVERY: u32 = 256;

/// [`canonical_json`], calling `pause_point` every few tens of µs of work (a server's loader
/// gives up the CPU there; see `warden_server::pace`).
pub fn canonical_json_with(bytes: &[u8], pause_point: fn()) -> Result<String, JsonError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut p = Parser {
        b: bytes,
        i: 0,
        scratch: String::new(),
        pause_point,
        values: 0,
    };
    let mut out = String::with_capacity(bytes.len());
    p.ws();
    p.value(0, &mut out)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(p.err("end of document"));
    }
    Ok(out)
}

/// Go's `encoding/json` string encoding with `SetEscapeHTML(false)` (Go ≥ 1.22 short escapes).
fn go_string(s: &str, out: &mut String) {
    out.push('"');
    let mut rest = s;
    // Copy runs that need no escape in one go; escape the character that ends each run.
    while let Some(at) =
        rest.find(|c: char| matches!(c, '"' | '\\' | '\u{2028}' | '\u{2029}') || (c as u32) < 0x20)
    {
        out.push_str(&rest[..at]);
        let c = rest[at..].chars().next().unwrap_or('\u{FFFD}');
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => {
                let _ = write!(out, "\\u00{:02x}", c as u32);
            }
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
    out.push('"');
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    /// Reused for each string value read.
    scratch: String,
    pause_point: fn(),
    values: u32,
}

/// One member of an object being put in order: its key and where its value's canonical text
/// sits in the output.
struct Member {
    key: String,
    value: std::ops::Range<usize>,
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

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), JsonError> {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn lit(&mut self, word: &'static str, out: &mut String) -> Result<(), JsonError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            out.push_str(word);
            Ok(())
        } else {
            Err(self.err("a value"))
        }
    }

    /// Reads one value and writes its canonical text to `out`.
    fn value(&mut self, depth: usize, out: &mut String) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("less nesting"));
        }
        self.values = self.values.wrapping_add(1);
        if self.values.is_multiple_of(PAUSE_EVERY) {
            (self.pause_point)();
        }
        match self.b.get(self.i) {
            Some(b'n') => self.lit("null", out),
            Some(b't') => self.lit("true", out),
            Some(b'f') => self.lit("false", out),
            Some(b'"') => {
                let mut s = std::mem::take(&mut self.scratch);
                s.clear();
                let read = self.string(&mut s);
                if read.is_ok() {
                    go_string(&s, out);
                }
                self.scratch = s;
                read
            }
            Some(b'[') => self.array(depth, out),
            Some(b'{') => self.object(depth, out),
            Some(b'-' | b'0'..=b'9') => self.number(out),
            _ => Err(self.err("a value")),
        }
    }

    fn array(&mut self, depth: usize, out: &mut String) -> Result<(), JsonError> {
        self.i += 1;
        out.push('[');
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            out.push(']');
            return Ok(());
        }
        loop {
            self.ws();
            self.value(depth + 1, out)?;
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    out.push(',');
                }
                Some(b']') => {
                    self.i += 1;
                    out.push(']');
                    return Ok(());
                }
                _ => return Err(self.err("`,` or `]`")),
            }
        }
    }

    /// Reads a member's key (into a new string) and the `:` after it.
    fn key(&mut self) -> Result<String, JsonError> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return Err(self.err("a string key"));
        }
        let mut k = String::new();
        self.string(&mut k)?;
        self.ws();
        self.expect(b':', "`:`")?;
        self.ws();
        Ok(k)
    }

    /// An object. Members are written as read while their keys increase; at the first key that
    /// does not (out of order, or repeated: the last value wins, as in Go's decoder) the members
    /// so far are taken back out of `out` and the object is finished in [`Parser::sorted`].
    fn object(&mut self, depth: usize, out: &mut String) -> Result<(), JsonError> {
        self.i += 1;
        let start = out.len();
        out.push('{');
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            out.push('}');
            return Ok(());
        }
        let mut members: Vec<Member> = Vec::new();
        loop {
            let key = self.key()?;
            if members
                .last()
                .is_some_and(|m| key.as_bytes() <= m.key.as_bytes())
            {
                return self.sorted(depth, out, start, members, key);
            }
            if !members.is_empty() {
                out.push(',');
            }
            go_string(&key, out);
            out.push(':');
            members.push(self.member(depth, out, key)?);
            if self.member_end()? {
                out.push('}');
                return Ok(());
            }
        }
    }

    /// Writes the value of the member `key` to `out` and returns the member.
    fn member(&mut self, depth: usize, out: &mut String, key: String) -> Result<Member, JsonError> {
        let from = out.len();
        self.value(depth + 1, out)?;
        Ok(Member {
            key,
            value: from..out.len(),
        })
    }

    /// After a member: `,` (false) or the object's `}` (true).
    fn member_end(&mut self) -> Result<bool, JsonError> {
        self.ws();
        match self.b.get(self.i) {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(b'}') => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(self.err("`,` or `}`")),
        }
    }

    /// Finishes an object whose keys are not in order: the remaining values are written after
    /// the ones already in `out[start..]`, then the members are put in key order (the last of
    /// equal keys kept) and the object's text replaces everything from `start`.
    fn sorted(
        &mut self,
        depth: usize,
        out: &mut String,
        start: usize,
        mut members: Vec<Member>,
        mut key: String,
    ) -> Result<(), JsonError> {
        loop {
            members.push(self.member(depth, out, key)?);
            if self.member_end()? {
                break;
            }
            key = self.key()?;
        }
        // Stable: equal keys stay in input order, so the last of each run is the one kept.
        members.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
        let mut text = String::with_capacity(out.len() - start);
        text.push('{');
        let mut first = true;
        for (i, m) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.key == m.key) {
                continue;
            }
            if !first {
                text.push(',');
            }
            first = false;
            go_string(&m.key, &mut text);
            text.push(':');
            text.push_str(&out[m.value.clone()]);
        }
        text.push('}');
        out.truncate(start);
        out.push_str(&text);
        Ok(())
    }

    fn number(&mut self, out: &mut String) -> Result<(), JsonError> {
        let end = number_end(self.b, self.i)?;
        // The grammar admits ASCII only.
        out.push_str(&String::from_utf8_lossy(&self.b[self.i..end]));
        self.i = end;
        Ok(())
    }

    /// A string, appended to `s` unescaped; invalid UTF-8 bytes and lone surrogates become
    /// U+FFFD, as in Go.
    fn string(&mut self, s: &mut String) -> Result<(), JsonError> {
        self.i += 1;
        loop {
            // A run of bytes that are neither quote, backslash nor control characters is
            // copied whole when it is valid UTF-8 (the usual case).
            let run = self.b[self.i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(self.b.len() - self.i);
            if run > 0 {
                match std::str::from_utf8(&self.b[self.i..self.i + run]) {
                    Ok(text) => {
                        s.push_str(text);
                        self.i += run;
                    }
                    Err(_) => self.char_at_a_time(s, self.i + run),
                }
            }
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("closing `\"`"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => self.escape(s)?,
                _ => return Err(self.err("no control characters in strings")),
            }
        }
    }

    /// Copies `self.b[self.i..end]`, which is not valid UTF-8, a character at a time.
    fn char_at_a_time(&mut self, s: &mut String, end: usize) {
        while self.i < end {
            let rest = &self.b[self.i..end];
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

    fn escape(&mut self, s: &mut String) -> Result<(), JsonError> {
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
                if (0xD800..0xDC00).contains(&hi) && self.b[self.i..].starts_with(b"\\u") {
                    let save = self.i;
                    self.i += 2;
                    let lo = self.hex4()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        s.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        return Ok(());
                    }
                    self.i = save;
                }
                s.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
            }
            _ => return Err(self.err("a valid escape")),
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let v = hex4_at(self.b, self.i)?;
        self.i += 4;
        Ok(v)
    }
}

/// Where the number literal starting at `i` ends (JSON's grammar; shared with the test oracle).
fn number_end(b: &[u8], mut i: usize) -> Result<usize, JsonError> {
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let err = |at: usize, what: &'static str| JsonError { at, what };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return Err(err(i, "a digit")),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return Err(err(i, "a digit after `.`"));
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return Err(err(i, "an exponent"));
        }
    }
    Ok(i)
}

/// The four hex digits at `i` (shared with the test oracle).
fn hex4_at(b: &[u8], i: usize) -> Result<u32, JsonError> {
    b.get(i..i + 4)
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or(JsonError {
            at: i,
            what: "4 hex digits",
        })
}

/// Length of the UTF-8 sequence starting `b`, or 0 when it is not one.
fn utf8_len(b: &[u8]) -> usize {
    let n = match b.first() {
        Some(0x00..=0x7F) => 1,
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => return 0,
    };
    if b.len() >= n && std::str::from_utf8(&b[..n]).is_ok() {
        n
    } else {
        0
    }
}

#[cfg(test)]
#[path = "canonical_reference.rs"]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    /// Random documents (keys out of order and repeated, escapes, non-ASCII and invalid UTF-8,
    /// number literals, nesting) come out exactly as the tree-building canonicalizer wrote them.
    #[test]
    fn streaming_text_is_what_the_tree_gave() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        fn doc(next: &mut impl FnMut(u64) -> u64, depth: u32, out: &mut Vec<u8>) {
            let strings: [&[u8]; 9] = [
                b"\"a\"",
                b"\"b\"",
                b"\"\\u00e9t\\u00e9\"",
                b"\"\xc3\xa9\"",
                b"\"x\\ny\"",
                b"\"\xff\xfe\"",
                b"\"\\ud83d\\ude00\"",
                b"\"\\ud800\"",
                b"\"\xe2\x80\xa8<>&\"",
            ];
            let numbers: [&[u8]; 6] = [b"0", b"-0", b"1e2", b"100", b"1.50", b"-12.5E-3"];
            match if depth == 0 { next(4) } else { next(6) } {
                0 => out.extend_from_slice([&b"null"[..], b"true", b"false"][next(3) as usize]),
                1 => out.extend_from_slice(strings[next(9) as usize]),
                2 => out.extend_from_slice(numbers[next(6) as usize]),
                3 => out.extend_from_slice(b" [ ] "),
                4 => {
                    out.push(b'[');
                    for i in 0..next(4) {
                        if i > 0 {
                            out.extend_from_slice(b" ,");
                        }
                        doc(next, depth - 1, out);
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    for i in 0..next(6) {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(strings[next(9) as usize]);
                        out.extend_from_slice(b" : ");
                        doc(next, depth - 1, out);
                    }
                    out.push(b'}');
                }
            }
        }
        for _ in 0..5000 {
            let mut text = Vec::new();
            doc(&mut next, 5, &mut text);
            let expected = reference::canonical_json(&text);
            assert_eq!(
                canonical_json(&text),
                expected,
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    #[test]
    fn errors_name_the_same_byte() {
        for bad in [
            &b"{\"a\": 1,}"[..],
            b"[1, 2",
            b"{\"a\" 1}",
            b"{\"b\": 1, \"a\": [1, }",
            b"\"\\x\"",
            b"01",
            b"1.",
            b"\"a\nb\"",
            b"[] x",
        ] {
            let got = canonical_json(bad).unwrap_err();
            assert_eq!(Err(got), reference::canonical_json(bad), "{bad:?}");
        }
        let deep = "[".repeat(MAX_DEPTH + 2);
        assert_eq!(
            canonical_json(deep.as_bytes()).unwrap_err().what,
            "less nesting"
        );
    }

    #[test]
    fn keys_are_sorted_and_the_last_repeat_wins() {
        let text = br#"{"b": {"y": 1, "x": [2, {"d": 0, "c": 1}]}, "a": 1, "b": {"z": 3, "z": 4}}"#;
        assert_eq!(canonical_json(text).unwrap(), r#"{"a":1,"b":{"z":4}}"#);
    }
}
