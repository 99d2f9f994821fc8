//! Structural sharing of a data document: every repeated string, array and object is kept once.
//!
//! Compiled policy data repeats itself: each agent's plan carries the same argument paths, rule
//! outcomes, violation templates and whole action plans as its neighbours. regorus values are
//! immutable and reference-counted, so equal subtrees can be one allocation without changing
//! what any query sees. regorus interns object keys while parsing but not values or subtrees;
//! [`Sharer`] reads JSON straight into hash-consed values (bottom up: a finished array or object
//! is looked up by the identities of its already-shared children). Children wait on a scratch
//! stack, so a composite seen before is found without allocating anything for it: reading the
//! 10,000-agent bundle's 36 MB `data.json` took 390–420 ms when each was built (in a `BTreeMap`)
//! and then looked up, 276–295 ms this way (`examples/loadtime.rs` in warden-server, 3 runs
//! each). Measured with `bench/reload.sh` (10,000 agents): see docs/performance.md for resident
//! memory.

use std::hash::{BuildHasher, Hash, Hasher};

use regorus::{Rc, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Hash-conses values: equal subtrees passed through one `Sharer` come back as one allocation.
#[derive(Default)]
pub struct Sharer {
    strings: hashbrown::HashSet<Rc<str>>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Composite values, hashed on the identities of their children (see [`array_hash`]).
    composites: hashbrown::HashTable<(u64, Value)>,
    /// Called every [`PAUSE_EVERY`] values read (see [`Sharer::with_pause_point`]).
    pause_point: Option<fn()>,
    values: u32,
    /// Elements of the arrays being read, innermost last: a finished array's elements are the
    /// tail, looked up before anything is allocated for it (most subtrees of policy data are
    /// repeats, so most are never allocated at all).
    items: Vec<Value>,
    /// Entries of the objects being read, the same way.
    entries: Vec<(Value, Value)>,
}

/// How many strings and composites are read between two calls of a pause point: tens of µs of
/// work, so a pause point that checks a clock costs nothing measurable.
const PAUSE_EVERY: u32 = 64;

/// What identifies a child once it has been shared: its allocation for strings and composites
/// (equal ⇔ same pointer after sharing), its bits for scalars.
#[derive(Hash, PartialEq, Eq)]
enum Identity {
    Null,
    Bool(bool),
    /// Numbers by value as regorus prints them (`Float(5000.0)` and `UInt(5000)` both print
    /// `5000`; `-0.0` prints `-0` and is kept apart from `0`).
    UInt(u64),
    Int(i64),
    Float(u64),
    /// Integers beyond 64 bits, by their decimal text (rare).
    Big(String),
    Pointer(usize),
    Undefined,
}

fn identity(v: &Value) -> Identity {
    match v {
        Value::Null => Identity::Null,
        Value::Bool(b) => Identity::Bool(*b),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f == 0.0 && f.is_sign_negative() {
                Identity::Float(f.to_bits())
            } else if let Some(u) = n.as_u64() {
                Identity::UInt(u)
            } else if let Some(i) = n.as_i64() {
                Identity::Int(i)
            } else if n.is_integer() {
                Identity::Big(format!("{n:?}"))
            } else {
                Identity::Float(f.to_bits())
            }
        }
        Value::String(s) => Identity::Pointer(Rc::as_ptr(s) as *const u8 as usize),
        Value::Array(a) => Identity::Pointer(Rc::as_ptr(a) as usize),
        Value::Set(s) => Identity::Pointer(Rc::as_ptr(s) as usize),
        Value::Object(o) => Identity::Pointer(Rc::as_ptr(o) as usize),
        Value::Undefined => Identity::Undefined,
    }
}

/// A composite's hash: its kind and its children's identities (children are shared first).
/// This one is an array's.
fn array_hash(hasher: &impl BuildHasher, items: &[Value]) -> u64 {
    let mut h = hasher.build_hasher();
    0u8.hash(&mut h);
    items.iter().for_each(|x| identity(x).hash(&mut h));
    h.finish()
}

/// The hash of an object with these entries, in key order (see [`array_hash`]).
fn object_hash<'a>(
    hasher: &impl BuildHasher,
    entries: impl Iterator<Item = (&'a Value, &'a Value)>,
) -> u64 {
    let mut h = hasher.build_hasher();
    1u8.hash(&mut h);
    entries.for_each(|(k, x)| {
        identity(k).hash(&mut h);
        identity(x).hash(&mut h);
    });
    h.finish()
}

/// Whether `v` is an array of exactly these (already shared) elements.
fn array_is(v: &Value, items: &[Value]) -> bool {
    matches!(v, Value::Array(a) if a.len() == items.len()
        && a.iter().zip(items).all(|(p, q)| identity(p) == identity(q)))
}

/// Whether `v` is an object of exactly these (already shared) entries, in key order.
fn object_is(v: &Value, entries: &[(Value, Value)]) -> bool {
    matches!(v, Value::Object(o) if o.len() == entries.len()
    && o.iter_sorted().zip(entries).all(|((k1, v1), (k2, v2))| {
        identity(k1) == identity(k2) && identity(v1) == identity(v2)
    }))
}

impl Sharer {
    /// A sharer with nothing seen yet.
    pub fn new() -> Sharer {
        Sharer::default()
    }

    /// Calls `pause_point` regularly while reading (every few tens of µs of work): a loader on a
    /// background thread uses it to give up the CPU now and then, since a long parse otherwise
    /// holds a core for whole scheduler ticks while decisions wait (see `warden_server::pace`).
    pub fn with_pause_point(mut self, pause_point: fn()) -> Sharer {
        self.pause_point = Some(pause_point);
        self
    }

    /// Counts one value read and calls the pause point every [`PAUSE_EVERY`] values.
    fn progress(&mut self) {
        self.values = self.values.wrapping_add(1);
        if self.values.is_multiple_of(PAUSE_EVERY) {
            if let Some(pause) = self.pause_point {
                pause();
            }
        }
    }

    /// Reads one JSON document (text, or a `serde_json::Value`) straight into shared engine
    /// values: the unshared tree never exists, so loading needs no more memory than the result.
    /// Values are exactly what `regorus::Value::from_json_str` makes (tested).
    pub fn read<'de, D: Deserializer<'de>>(&mut self, d: D) -> Result<Value, D::Error> {
        // A read that failed may have left partial composites behind.
        self.items.clear();
        self.entries.clear();
        Seed(self).deserialize(d)
    }

    /// [`Sharer::read`] of JSON text.
    pub fn read_json(&mut self, text: &str) -> Result<Value, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = self.read(&mut de)?;
        de.end()?;
        Ok(v)
    }

    fn string(&mut self, s: &str) -> Value {
        self.progress();
        if let Some(existing) = self.strings.get(s) {
            return Value::String(existing.clone());
        }
        let rc: Rc<str> = s.into();
        self.strings.insert(rc.clone());
        Value::String(rc)
    }

    /// The array of `self.items[from..]` (which it takes off the stack): the one already seen
    /// if any, else a new one.
    fn array(&mut self, from: usize) -> Value {
        self.progress();
        let hash = array_hash(&self.hasher, &self.items[from..]);
        if let Some(v) = self.seen(hash, |e| array_is(e, &self.items[from..])) {
            self.items.truncate(from);
            return v;
        }
        let v = Value::from(self.items.split_off(from));
        self.remember(hash, v)
    }

    /// The object of `self.entries[from..]` (which it takes off the stack), the same way. JSON
    /// objects usually come in key order; one that does not (or repeats a key: the last one
    /// wins, as in regorus's own reader) is put in order first.
    fn object(&mut self, from: usize) -> Value {
        self.progress();
        let in_order = self.entries[from..].windows(2).all(|w| w[0].0 < w[1].0);
        if !in_order {
            let mut tail = self.entries.split_off(from);
            tail.sort_by(|a, b| a.0.cmp(&b.0)); // stable: equal keys keep their order
            for (k, v) in tail {
                let open = self.entries.len() > from;
                match self.entries.last_mut() {
                    Some(last) if open && last.0 == k => last.1 = v,
                    _ => self.entries.push((k, v)),
                }
            }
        }
        let hash = object_hash(
            &self.hasher,
            self.entries[from..].iter().map(|(k, v)| (k, v)),
        );
        if let Some(v) = self.seen(hash, |e| object_is(e, &self.entries[from..])) {
            self.entries.truncate(from);
            return v;
        }
        let v = regorus::value::Object::from_entries(self.entries.split_off(from)).into_value();
        self.remember(hash, v)
    }

    /// The composite read before with this hash that `is` accepts, if any.
    fn seen(&self, hash: u64, is: impl Fn(&Value) -> bool) -> Option<Value> {
        self.composites
            .find(hash, |(h, e)| *h == hash && is(e))
            .map(|(_, v)| v.clone())
    }

    /// Keeps `v`, a composite not seen before, for later reads; returns it.
    fn remember(&mut self, hash: u64, v: Value) -> Value {
        self.composites
            .insert_unique(hash, (hash, v.clone()), |(h, _)| *h);
        v
    }
}

/// Reads one value through a [`Sharer`] (serde's stateful-deserialization hook).
struct Seed<'a>(&'a mut Sharer);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Mirrors regorus's own JSON visitor (scalars, non-finite floats refused, the last of
/// duplicate keys wins), sharing each finished string, array and object.
impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        if !v.is_finite() {
            return Err(E::custom(format!("invalid non-finite number: {v}")));
        }
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(self.0.string(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let from = self.0.items.len();
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            self.0.items.push(v);
        }
        Ok(self.0.array(from))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let from = self.0.entries.len();
        while let Some(k) = map.next_key_seed(Seed(self.0))? {
            let v = map.next_value_seed(Seed(self.0))?;
            self.0.entries.push((k, v));
        }
        Ok(self.0.object(from))
    }
}

/// Frees `value` a node at a time from the top, calling `pause_point` every [`PAUSE_EVERY`]
/// nodes: dropping a 10,000-agent data document in one go holds a core for ~30 ms of
/// uninterrupted `free`s. A subtree that something else still holds only loses a reference.
pub fn drop_in_pieces(value: Value, pause_point: fn()) {
    let mut stack = vec![value];
    let mut freed = 0u32;
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => {
                if let Ok(a) = Rc::try_unwrap(a) {
                    stack.extend(a);
                }
            }
            Value::Set(s) => {
                if let Ok(s) = Rc::try_unwrap(s) {
                    stack.extend(s);
                }
            }
            Value::Object(o) => {
                if let Ok(o) = Rc::try_unwrap(o) {
                    for (k, v) in o {
                        stack.push(k);
                        stack.push(v);
                    }
                }
            }
            _ => {}
        }
        freed = freed.wrapping_add(1);
        if freed.is_multiple_of(PAUSE_EVERY) {
            pause_point();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(v: &Value) -> usize {
        match identity(v) {
            Identity::Pointer(p) => p,
            _ => 0,
        }
    }

    #[test]
    fn equal_subtrees_become_one_allocation_and_the_document_is_unchanged() {
        let text = r#"{"a": {"path": ["action", "args", "amount"], "n": 1, "f": 1.5},
                       "b": {"path": ["action", "args", "amount"], "n": 1, "f": 1.5},
                       "c": {"path": ["action", "args", "currency"], "n": 1, "f": 1.5},
                       "d": {"path": ["action", "args", "amount"], "n": 2, "f": 1.5},
                       "e": [[], {}, [], {}, null, true, "x", "x", 1e300, -7, 18446744073709551615],
                       "dup": {"k": 1, "k": 2},
                       "z1": [-0.0], "z2": [0], "f1": [5000.0], "f2": [5000], "g": [0.1, 0.1],
                       "u": [{"b": 1, "a": {"y": [2], "x": 1}, "b": 3, "a": {"x": 1, "y": [2]}},
                             {"a": {"x": 1, "y": [2]}, "b": 3}, {"b": 3, "a": {"x": 1, "y": [2]}}]}"#;
        let reference = Value::from_json_str(text).unwrap();
        let shared = Sharer::new().read_json(text).unwrap();
        assert_eq!(shared, reference);
        assert_eq!(
            serde_json::to_string(&shared).unwrap(),
            serde_json::to_string(&reference).unwrap()
        );
        let at = |k: &str| &shared[&Value::from(k)];
        assert_eq!(ptr(at("a")), ptr(at("b")), "identical objects are shared");
        assert_ne!(ptr(at("a")), ptr(at("c")), "a different path is not");
        assert_ne!(ptr(at("a")), ptr(at("d")), "nor does a different number");
        let path = Value::from("path");
        assert_eq!(ptr(&at("a")[&path]), ptr(&at("d")[&path]));
        let e = at("e").as_array().unwrap();
        assert_eq!(ptr(&e[0]), ptr(&e[2]));
        assert_eq!(ptr(&e[1]), ptr(&e[3]));
        assert_eq!(ptr(&e[6]), ptr(&e[7]), "equal strings are one allocation");
        assert_ne!(ptr(&e[0]), ptr(&e[1]), "[] and {{}} stay apart");
        // Keys out of order and repeated (the last wins) read as the same object as in order.
        let u = at("u").as_array().unwrap();
        assert_eq!(ptr(&u[0]), ptr(&u[1]));
        assert_eq!(ptr(&u[1]), ptr(&u[2]));
    }

    /// Random documents (repeated subtrees, keys out of order and repeated, nesting) read the
    /// same through one `Sharer` as through regorus's own reader.
    #[test]
    fn random_documents_read_as_regorus_reads_them() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        fn doc(next: &mut impl FnMut(u64) -> u64, depth: u32) -> String {
            let keys = ["a", "b", "c", "path", "x"];
            match if depth == 0 { next(4) } else { next(6) } {
                0 => ["null", "true", "-0.0", "5000", "5000.0", "1e3", "0.1"][next(7) as usize]
                    .into(),
                1 => format!("\"{}\"", keys[next(5) as usize]),
                2 => format!("{}", next(3)),
                3 => "[]".into(),
                4 => {
                    let items: Vec<String> = (0..next(4)).map(|_| doc(next, depth - 1)).collect();
                    format!("[{}]", items.join(","))
                }
                _ => {
                    let entries: Vec<String> = (0..next(5))
                        .map(|_| format!("\"{}\":{}", keys[next(5) as usize], doc(next, depth - 1)))
                        .collect();
                    format!("{{{}}}", entries.join(","))
                }
            }
        }
        let mut sharer = Sharer::new();
        for _ in 0..2000 {
            let text = doc(&mut next, 4);
            let shared = sharer.read_json(&text).unwrap();
            assert_eq!(shared, Value::from_json_str(&text).unwrap(), "{text}");
        }
    }

    /// A read that fails half-way leaves nothing behind that changes the next read.
    #[test]
    fn a_failed_read_does_not_disturb_the_next() {
        let mut sharer = Sharer::new();
        assert!(sharer.read_json(r#"{"a": [1, {"b": [2, 3"#).is_err());
        let text = r#"{"a": [1, {"b": [2, 3]}], "c": {"b": [2, 3]}}"#;
        let v = sharer.read_json(text).unwrap();
        assert_eq!(v, Value::from_json_str(text).unwrap());
    }

    #[test]
    fn reads_a_serde_json_value_and_refuses_what_regorus_refuses() {
        let doc = serde_json::json!({"x": [1, 2.5, "s", {"y": null}], "z": {"x": [1, 2.5, "s", {"y": null}]}});
        let shared = Sharer::new().read(&doc).unwrap();
        assert_eq!(shared, Value::from(doc));
        assert!(Sharer::new().read_json("{\"a\": [1, }").is_err());
        assert!(Sharer::new().read_json("[1] trailing").is_err());
        assert!(Sharer::new().read_json("1e999").is_err());
        assert!(Value::from_json_str("1e999").is_err());
    }

    #[test]
    fn dropping_in_pieces_frees_what_only_it_held_and_keeps_what_others_hold() {
        static POINTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        fn count() {
            POINTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let text = r#"{"a": [{"x": [1, 2, {"y": "z"}]}, {"s": []}], "b": {"c": {"d": [true]}}}"#;
        let doc = Value::from_json_str(text).unwrap();
        let kept = doc[&Value::from("b")].clone();
        let Value::Object(held) = &kept else {
            panic!("an object")
        };
        let weak = Rc::downgrade(held);
        let copies: Vec<Value> = (0..100).map(|_| doc.clone()).collect();
        drop(copies);
        drop_in_pieces(doc, count);
        assert_eq!(weak.strong_count(), 1, "a subtree held elsewhere survives");
        assert_eq!(
            kept,
            Value::from_json_str(r#"{"c": {"d": [true]}}"#).unwrap()
        );
        // A document big enough to reach pause points is freed completely.
        let big: Vec<serde_json::Value> = (0..1000).map(|i| serde_json::json!({"i": i})).collect();
        let big = Value::from(serde_json::Value::from(big));
        let Value::Array(root) = &big else {
            panic!("an array")
        };
        let (root, first) = (Rc::downgrade(root), big[0].clone());
        let Value::Object(first_rc) = &first else {
            panic!("an object")
        };
        let first_weak = Rc::downgrade(first_rc);
        drop(first);
        drop_in_pieces(big, count);
        assert_eq!((root.strong_count(), first_weak.strong_count()), (0, 0));
        assert!(POINTS.load(std::sync::atomic::Ordering::Relaxed) >= 3000 / 64 - 1);
    }

    static PAUSES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn the_pause_point_is_called_in_proportion_to_the_values_read() {
        use std::sync::atomic::Ordering::Relaxed;
        fn count() {
            PAUSES.fetch_add(1, Relaxed);
        }
        let doc: Vec<String> = (0..1000).map(|i| format!("s{i}")).collect();
        let text = serde_json::to_string(&doc).unwrap();
        let plain = Sharer::new().read_json(&text).unwrap();
        let paced = Sharer::new()
            .with_pause_point(count)
            .read_json(&text)
            .unwrap();
        assert_eq!(plain, paced);
        // 1,000 strings and one array: a pause point every 64 values.
        assert_eq!(PAUSES.load(Relaxed), 1001 / 64);
    }
}
