//! A serde `Deserializer` over a regorus [`Value`], so typed results (the [`Decision`]) are read
//! straight from what the VM returned.
//!
//! regorus values implement `Serialize` but not `Deserializer`; the alternative, serializing to
//! a `serde_json::Value` tree and deserializing that, allocated every key and string twice and
//! formatted every number as decimal text (regorus serializes numbers through
//! `format_decimal`), ~22k instructions per decision. Written here because no crate bridges
//! the two; it is the standard shape of a self-describing value deserializer (like
//! `serde_json::Value`'s): `deserialize_any` plus `Option` and enum handling.
//!
//! [`Decision`]: warden_core::contract::Decision

use regorus::Value;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Why a value could not be read as the target type.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Deserializes a `T` from `v`.
pub fn from_value<'de, T: de::Deserialize<'de>>(v: &'de Value) -> Result<T, Error> {
    T::deserialize(ValueDe(v))
}

/// The deserializer over one value.
#[derive(Clone, Copy)]
struct ValueDe<'de>(&'de Value);

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null | Value::Undefined => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(f) = n.as_f64() {
                    visitor.visit_f64(f)
                } else {
                    Err(de::Error::custom("a number beyond the f64 range"))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visitor.visit_seq(Seq(a.iter())),
            Value::Set(s) => visitor.visit_seq(Seq(s.iter())),
            Value::Object(o) => visitor.visit_map(Map {
                iter: o.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null | Value::Undefined => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // Unit variants, as strings (all Warden's enums on the wire are).
        match self.0 {
            Value::String(s) => {
                let d = BorrowedStrDeserializer::<'de, Error>::new(s);
                de::Deserializer::deserialize_enum(d, name, variants, visitor)
            }
            other => Err(de::Error::custom(format!(
                "expected a string naming a variant of {name}, got {other}"
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

struct Seq<I>(I);

impl<'de, I: Iterator<Item = &'de Value>> SeqAccess<'de> for Seq<I> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(ValueDe(v)))
            .transpose()
    }
}

/// Object entries; `value` is the entry whose key was read last.
struct Map<'de, I> {
    iter: I,
    value: Option<&'de Value>,
}

impl<'de, I: Iterator<Item = (&'de Value, &'de Value)>> MapAccess<'de> for Map<'de, I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(ValueDe(k)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(ValueDe(v)),
            None => Err(de::Error::custom("a map value without its key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::from_value;
    use regorus::Value;
    use warden_core::contract::Decision;

    /// The old route: through a `serde_json::Value` tree.
    fn via_json(v: &Value) -> Result<Decision, serde_json::Error> {
        serde_json::from_value(serde_json::to_value(v)?)
    }

    const DECISION: &str = r#"{
        "allow": false, "outcome": "rate_limited", "reasons": ["b", "a"],
        "remediation": null,
        "violations": [{"rule": "r1", "reason": "too_many", "outcome": "rate_limited",
                        "message": "m\u00e9", "remediation": "wait"}],
        "waived": [{"rule": "w", "reason": "x", "by": "ovr"}],
        "redactions": [{"path": "args.x", "name": "ssn", "pattern": null, "replacement": "***", "rule": "r2"}],
        "consume": [{"key": "k", "limit": "l", "kind": "rate", "cost": 1, "max": 100.5,
                     "window_seconds": 3600, "used": 99, "shadow": false}],
        "would_deny": true, "shadow_violations": [], "fail_mode": "closed",
        "metadata": {"policy_version": "1.0.0", "bundle_revision": "abc", "library_version": "1.3.1",
                     "matched_rules": ["r1"], "rate_limit_remaining": 0, "audit_required": true,
                     "appeal_path": null, "extra": {"ignored": [1, 2]}}
    }"#;

    #[test]
    fn reads_a_decision_as_the_json_route_does() {
        let v = Value::from_json_str(DECISION).unwrap();
        let d: Decision = from_value(&v).unwrap();
        assert_eq!(d, via_json(&v).unwrap());
        assert_eq!(d.consume[0].window_seconds, 3600);
        assert_eq!(d.metadata.rate_limit_remaining, Some(0.0));
        assert_eq!(d.violations[0].message, "mé");
    }

    #[test]
    fn bad_decisions_are_errors_naming_the_problem() {
        let bad_outcome = DECISION.replace(
            r#""outcome": "rate_limited", "reasons""#,
            r#""outcome": "maybe", "reasons""#,
        );
        let e = from_value::<Decision>(&Value::from_json_str(&bad_outcome).unwrap()).unwrap_err();
        assert!(e.to_string().contains("maybe"), "{e}");
        let missing = DECISION.replace(r#""would_deny": true, "#, "");
        let e = from_value::<Decision>(&Value::from_json_str(&missing).unwrap()).unwrap_err();
        assert!(e.to_string().contains("would_deny"), "{e}");
        let wrong_type =
            DECISION.replace(r#""window_seconds": 3600"#, r#""window_seconds": "soon""#);
        assert!(from_value::<Decision>(&Value::from_json_str(&wrong_type).unwrap()).is_err());
        assert!(from_value::<Decision>(&Value::from_json_str("[1]").unwrap()).is_err());
    }
}
