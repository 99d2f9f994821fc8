//! RFC 8785 (JCS) serialization of `serde_json::Value`, written directly.
//!
//! Why not `serde_jcs` on the hot path: it buffers every object member in a `BTreeMap` keyed by a
//! UTF-16 copy of the key (re-parsed from JSON) and every value in a `Vec<u8>` of its own. For an
//! audit record that was about a quarter of the gateway's CPU under load (profiled with `perf`
//! against `bench/load.sh`). A `serde_json::Map` is already sorted by UTF-8 bytes, which equals
//! RFC 8785's UTF-16 order unless a key holds a character at or above U+E000; only those objects
//! are re-sorted here. Numbers go through `ryu-js` (ECMAScript `Number.toString`), as in
//! `serde_jcs`; strings through `serde_json`'s escaping, which is RFC 8785's. The tests check the
//! output equals `serde_jcs` byte for byte, and `verify` still re-serializes with `serde_jcs`.

use serde_json::{Number, Value};

/// The canonical text of `v`.
pub fn to_string(v: &Value) -> String {
    let mut out = Vec::with_capacity(512);
    write(&mut out, v);
    // Only valid UTF-8 is ever written: `str`s, ASCII punctuation and digits.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the canonical text of `v` to `out`.
pub fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => write_array(out, items, write),
        Value::Object(map) => write_object(out, map.iter()),
    }
}

/// Appends an array, each item written by `item`.
pub fn write_array<T>(out: &mut Vec<u8>, items: &[T], item: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, v);
    }
    out.push(b']');
}

/// Appends an object from its members (unique keys), sorting them unless they are already in
/// RFC 8785 order.
pub fn write_object<'a>(out: &mut Vec<u8>, members: impl Iterator<Item = (&'a String, &'a Value)>) {
    write_members(out, members, write);
}

/// Appends an object whose values are all strings (unique keys), in RFC 8785 key order.
pub fn write_string_map<'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a String, &'a String)>,
) {
    write_members(out, members, |out, s| write_str(out, s));
}

fn write_members<'a, V: 'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a String, &'a V)>,
    value: impl Fn(&mut Vec<u8>, &V),
) {
    let mut members: Vec<(&String, &V)> = members.collect();
    if !members
        .windows(2)
        .all(|w| utf16_cmp(w[0].0, w[1].0).is_lt())
    {
        members.sort_by(|a, b| utf16_cmp(a.0, b.0));
    }
    out.push(b'{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        value(out, v);
    }
    out.push(b'}');
}

/// RFC 8785 orders keys by their UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    // Byte order is code point order; the two orders differ only past U+E000 (first byte 0xEE+).
    if a.bytes().chain(b.bytes()).all(|c| c < 0xEE) {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Appends a string, escaped as RFC 8785 requires.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // serde_json escapes exactly what RFC 8785 does (", \, control characters; \b \f \n \r \t
        // short, others \u00xx lowercase), the same escaping serde_jcs uses. Writing a `str` into
        // a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// The largest integer an IEEE double holds exactly.
const EXACT: u64 = 1 << 53;

/// Appends an unsigned integer as RFC 8785 writes it (past 2^53, as the nearest double).
pub fn write_u64(out: &mut Vec<u8>, u: u64) {
    write_number(out, &Number::from(u));
}

fn write_number(out: &mut Vec<u8>, n: &Number) {
    // RFC 8785 numbers are ECMAScript's `Number.toString` of the double. Integers that a double
    // holds exactly print as their digits; all others go through ryu-js like serde_jcs does.
    use std::io::Write;
    // Writing into a Vec cannot fail.
    if let Some(u) = n.as_u64().filter(|u| *u <= EXACT) {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= EXACT) {
        let _ = write!(out, "{i}");
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        let mut buf = ryu_js::Buffer::new();
        out.extend_from_slice(buf.format_finite(f).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    fn same(v: &Value) {
        let expected = serde_jcs::to_string(v).expect("serde_jcs");
        assert_eq!(super::to_string(v), expected, "for {v}");
    }

    #[test]
    fn matches_serde_jcs_on_edge_cases() {
        for v in [
            json!(null),
            json!([
                true,
                false,
                0,
                -0.0,
                1,
                -1,
                9007199254740992u64,
                9007199254740993u64
            ]),
            json!([
                u64::MAX,
                i64::MIN,
                1e21,
                1e-7,
                123.456,
                -2.5e-300,
                0.1,
                1e300,
                5e-324
            ]),
            json!({"b": 1, "a": [1, {"z": null, "y": "x"}], "": "empty"}),
            json!({"\u{e000}": 1, "\u{10000}": 2, "\u{ffff}": 3, "a": 4, "\u{7f}": 5}),
            json!({"q\"uote": "back\\slash", "ctl": "\u{0}\u{1f}\u{8}\u{c}\n\r\t\u{7f}/"}),
            json!("emoji 😀 and \u{2028}\u{2029}"),
            json!({"nested": {"deeper": {"deepest": [[], {}, [{}]]}}}),
        ] {
            same(&v);
        }
    }

    /// A small deterministic generator (no extra dependency): random documents of every kind.
    #[test]
    fn matches_serde_jcs_on_random_documents() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        fn text(next: &mut dyn FnMut() -> u64) -> String {
            let alphabet = [
                'a', 'Z', '0', '"', '\\', '\n', '\u{1}', 'é', '\u{e801}', '😀', ' ',
            ];
            (0..next() % 6)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        }
        fn gen(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            let kind = if depth == 0 { next() % 5 } else { next() % 7 };
            match kind {
                0 => Value::Bool(next().is_multiple_of(2)),
                1 => json!((next() as i64) >> (next() % 64)),
                2 => json!(next() >> (next() % 64)),
                3 => {
                    let f = f64::from_bits(next());
                    json!(if f.is_finite() { f } else { 1.5 })
                }
                4 => Value::String(text(next)),
                5 => Value::Array((0..next() % 4).map(|_| gen(next, depth - 1)).collect()),
                _ => {
                    let mut map = serde_json::Map::new();
                    for _ in 0..next() % 5 {
                        let k = text(next);
                        map.insert(k, gen(next, depth - 1));
                    }
                    Value::Object(map)
                }
            }
        }
        for _ in 0..3000 {
            same(&gen(&mut next, 4));
        }
    }
}
