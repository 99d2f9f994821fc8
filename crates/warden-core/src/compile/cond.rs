//! Compiling conditions (`path: {max: 5000, in: [...]}`) into data-driven checks, validating each.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde_json::{json, Map, Number, Value};

use crate::diag::{did_you_mean, Diagnostic};
use crate::model::{ArgType, Condition, TimeWindow};
use crate::paths::{InputPath, Seg};
use crate::source::{pointer_token, Document};

/// Argument declarations that a condition's `args.*` path is checked against: one map per declared
/// action the rule covers. Empty when nothing is declared (nothing to check against).
pub(crate) type ArgDecls<'a> = Vec<&'a BTreeMap<String, ArgType>>;

/// Where diagnostics go while compiling one document.
pub(crate) struct Sink<'a> {
    pub doc: &'a Document,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl Sink<'_> {
    pub fn error(&mut self, code: &'static str, pointer: &str, msg: String, hint: Option<String>) {
        let mut d = Diagnostic::error(code, &self.doc.file, self.doc.key_span_at(pointer), msg);
        d.hint = hint;
        self.diags.push(d);
    }

    pub fn warn(&mut self, code: &'static str, pointer: &str, msg: String, hint: Option<String>) {
        let mut d = Diagnostic::warning(code, &self.doc.file, self.doc.key_span_at(pointer), msg);
        d.hint = hint;
        self.diags.push(d);
    }

    pub fn error_at_value(
        &mut self,
        code: &'static str,
        pointer: &str,
        msg: String,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::error(code, &self.doc.file, self.doc.span_at(pointer), msg);
        d.hint = hint;
        self.diags.push(d);
    }
}

/// Ops for which a missing value satisfies the condition.
const NEGATIVE: &[&str] = &["not_equals", "not_in", "not_matches", "deny_path_prefixes"];

/// Compiles `path: condition` pairs into checks; `base` is the JSON pointer of the map.
pub(crate) fn compile_conditions(
    sink: &mut Sink<'_>,
    conds: &BTreeMap<String, Condition>,
    base: &str,
    decls: &ArgDecls<'_>,
) -> (Vec<Value>, Vec<String>) {
    let mut checks = Vec::new();
    let mut phrases = Vec::new();
    for (path_text, cond) in conds {
        let ptr = format!("{base}/{}", pointer_token(path_text));
        let path = match InputPath::parse(path_text) {
            Ok(p) if p.is_result() => {
                sink.error(
                    "invalid-path",
                    &ptr,
                    format!("`{path_text}`: conditions cannot test the tool's result, which does not exist when the call is decided"),
                    Some("to mask what a tool returns, use `redact` with `result.…` paths".into()),
                );
                continue;
            }
            Ok(p) => p,
            Err(e) => {
                sink.error("invalid-path", &ptr, e.message, e.hint);
                continue;
            }
        };
        let declared =
            check_declared(sink, &path, &ptr, decls).or_else(|| contract_field(sink, &path, &ptr));
        empty_lists(sink, cond, path_text, &ptr);
        for (op, value, phrase) in ops(sink, cond, &ptr) {
            if let Some(t) = declared {
                check_type_fit(sink, &path, t, op, &ptr);
                check_value_fit(sink, &path, t, op, cond, &ptr);
            }
            let mut check = match path.compiled() {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            check.insert("op".into(), json!(op));
            check.insert("value".into(), value);
            check.insert(
                "absent_ok".into(),
                json!(cond.optional || NEGATIVE.contains(&op)),
            );
            check.insert("label".into(), json!(path_text));
            checks.push(Value::Object(check));
            phrases.push(format!("{path_text} {phrase}"));
        }
        if ops_count(cond) == 0 {
            sink.error(
                "empty-condition",
                &ptr,
                format!("condition on `{path_text}` checks nothing"),
                Some("add a check such as `max:`, `in:` or `matches:`".into()),
            );
        }
    }
    (checks, phrases)
}

fn ops_count(c: &Condition) -> usize {
    let mut probe = c.clone();
    probe.optional = false;
    usize::from(probe != Condition::default())
}

/// Checks `args.x` against the declared arguments; returns the declared type when known.
fn check_declared(
    sink: &mut Sink<'_>,
    path: &InputPath,
    ptr: &str,
    decls: &ArgDecls<'_>,
) -> Option<ArgType> {
    let name = path.arg_name()?;
    if decls.is_empty() {
        return None;
    }
    let found: Vec<ArgType> = decls.iter().filter_map(|d| d.get(name).copied()).collect();
    if found.is_empty() {
        let all: Vec<&str> = decls
            .iter()
            .flat_map(|d| d.keys().map(String::as_str))
            .collect();
        let hint = did_you_mean(name, all.iter().copied())
            .map(|s| format!("did you mean `args.{s}`?"))
            .or_else(|| Some(format!("declared arguments: {}", all.join(", "))));
        sink.error(
            "never-matches",
            ptr,
            format!("rule can never match: the tool action declares no argument `{name}`"),
            hint,
        );
        return None;
    }
    if let [t] = found[..] {
        let scalar = matches!(
            t,
            ArgType::String | ArgType::Number | ArgType::Integer | ArgType::Boolean
        );
        if scalar && (!path.is_whole_arg() || path.is_wild()) {
            let how = if path.is_wild() {
                "`[*]` on"
            } else {
                "a path into"
            };
            sink.error(
                "never-matches",
                ptr,
                format!("rule can never match: {how} `args.{name}`, declared as {t:?}")
                    .to_lowercase(),
                Some(format!(
                    "test `args.{name}` itself, or declare it as an object or array"
                )),
            );
            return None;
        }
    }
    if path.is_whole_arg() && !path.is_wild() && found.len() == 1 {
        Some(found[0])
    } else {
        None
    }
}

/// The fields of the decision input's fixed part `root` (`agent`, `user`, `context`,
/// `environment`, `action`) with their types, read from the input contract's JSON schema
/// (`warden schema --kind input`, generated from `contract.rs`), so they cannot drift apart.
/// `None` for a root without fixed fields (`args`, `tenant`, `result`).
fn contract_fields(root: &str) -> Option<Vec<(String, ArgType)>> {
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(crate::schema::input_schema);
    let name = schema["properties"][root]["$ref"]
        .as_str()?
        .strip_prefix("#/$defs/")?;
    let props = schema["$defs"][name]["properties"].as_object()?;
    let type_of = |p: &Value| {
        let types: Vec<&str> = match &p["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        match types.iter().find(|t| **t != "null") {
            Some(&"string") => ArgType::String,
            Some(&"integer") => ArgType::Integer,
            Some(&"number") => ArgType::Number,
            Some(&"boolean") => ArgType::Boolean,
            Some(&"array") => ArgType::Array,
            Some(&"object") => ArgType::Object,
            _ => ArgType::Any,
        }
    };
    Some(props.iter().map(|(f, p)| (f.clone(), type_of(p))).collect())
}

/// A path into the input contract's fixed fields (`context.turn_count`): its type when it names
/// one exactly; a `unknown-input-field` warning (with a did-you-mean) when it names none.
fn contract_field(sink: &mut Sink<'_>, path: &InputPath, ptr: &str) -> Option<ArgType> {
    let (Some(Seg::Key(root)), Some(Seg::Key(field))) = (path.segs.first(), path.segs.get(1))
    else {
        return None;
    };
    let fields = contract_fields(root)?;
    match fields.iter().find(|(f, _)| f == field) {
        Some((_, t)) => (path.segs.len() == 2).then_some(*t),
        None => {
            let names = || fields.iter().map(|(f, _)| f.as_str());
            let hint = did_you_mean(field, names())
                .map(|s| format!("did you mean `{root}.{s}`?"))
                .or_else(|| {
                    Some(format!(
                        "`{root}` carries: {}",
                        names().collect::<Vec<_>>().join(", ")
                    ))
                });
            sink.warn(
                "unknown-input-field",
                ptr,
                format!("`{}`: the decision input has no field `{field}` in `{root}` (unless your callers send one)", path.text),
                hint,
            );
            None
        }
    }
}

/// A list that can never admit anything (`in: []`, `domains: []`, `path_prefixes: []`), or
/// that excludes nothing (`not_in: []`, `deny_path_prefixes: []`).
fn empty_lists(sink: &mut Sink<'_>, c: &Condition, path: &str, ptr: &str) {
    let never = [
        ("in", c.one_of.as_ref().map(Vec::len)),
        ("domains", c.domains.as_ref().map(Vec::len)),
        ("path_prefixes", c.path_prefixes.as_ref().map(Vec::len)),
    ];
    for (op, n) in never {
        if n == Some(0) {
            sink.error_at_value(
                "never-matches",
                &format!("{ptr}/{op}"),
                format!("`{op}: []` on `{path}` admits no value: every call fails it"),
                Some("list the values that are allowed".into()),
            );
        }
    }
    for (op, n) in [
        ("not_in", c.not_in.as_ref().map(Vec::len)),
        (
            "deny_path_prefixes",
            c.deny_path_prefixes.as_ref().map(Vec::len),
        ),
    ] {
        if n == Some(0) {
            sink.warn(
                "checks-nothing",
                &format!("{ptr}/{op}"),
                format!("`{op}: []` on `{path}` excludes nothing"),
                Some("list the values to refuse, or remove the check".into()),
            );
        }
    }
}

/// Conditions whose values cannot meet the declared type: `equals: "5000"` or `in: ["10000"]`
/// on a number, `type: number` on a string, `contains`/`subset_of` on a scalar.
fn check_value_fit(
    sink: &mut Sink<'_>,
    path: &InputPath,
    t: ArgType,
    op: &str,
    c: &Condition,
    ptr: &str,
) {
    let fits = |v: &Value| match t {
        ArgType::Any => true,
        ArgType::String => v.is_string(),
        ArgType::Number => v.is_number(),
        ArgType::Integer => v.as_f64().is_some_and(|n| n.fract() == 0.0),
        ArgType::Boolean => v.is_boolean(),
        ArgType::Object => v.is_object(),
        ArgType::Array => v.is_array(),
    };
    let what = match op {
        "equals" => c
            .equals
            .as_ref()
            .filter(|v| !fits(v))
            .map(|v| format!("`equals: {v}`")),
        "in" => c
            .one_of
            .as_ref()
            .filter(|l| !l.is_empty() && !l.iter().any(fits))
            .map(|_| "`in`, whose values are all of another type,".to_string()),
        "type" => c
            .value_type
            .filter(|want| {
                t != *want
                    && !matches!(
                        (t, want),
                        (ArgType::Any, _)
                            | (_, ArgType::Any)
                            | (ArgType::Number, ArgType::Integer)
                            | (ArgType::Integer, ArgType::Number)
                    )
            })
            .map(|want| format!("`type: {}`", format!("{want:?}").to_lowercase())),
        "contains" | "subset_of" | "subset_of_path" => {
            (!matches!(t, ArgType::Array | ArgType::Any)).then(|| format!("`{op}`"))
        }
        _ => None,
    };
    if let Some(what) = what {
        let t = format!("{t:?}").to_lowercase();
        sink.error(
            "never-matches",
            ptr,
            format!("{what} can never hold for `{}`, declared as {t}", path.text),
            Some("check the value against the argument's declared type in the tool catalog".into()),
        );
    }
}

fn check_type_fit(sink: &mut Sink<'_>, path: &InputPath, t: ArgType, op: &str, ptr: &str) {
    let numeric = matches!(op, "min" | "max");
    let textual = matches!(
        op,
        "matches" | "domains" | "path_prefixes" | "deny_path_prefixes" | "within"
    );
    let sized = matches!(op, "min_length" | "max_length");
    let bad = match t {
        ArgType::Any | ArgType::Object => false,
        ArgType::Number | ArgType::Integer => textual || sized,
        ArgType::String => numeric,
        ArgType::Boolean => numeric || textual || sized,
        ArgType::Array => numeric || textual,
    };
    if bad {
        sink.error(
            "never-matches",
            ptr,
            format!(
                "`{op}` can never hold for `{}`, declared as {t:?}",
                path.text
            )
            .to_lowercase(),
            Some("check the argument's declared type in the tool catalog".into()),
        );
    }
}

/// The (op, compiled value, phrase) triples of a condition, validating values as it goes.
fn ops(sink: &mut Sink<'_>, c: &Condition, ptr: &str) -> Vec<(&'static str, Value, String)> {
    let mut out: Vec<(&'static str, Value, String)> = Vec::new();
    if let Some(v) = &c.equals {
        out.push(("equals", v.clone(), format!("must equal {v}")));
    }
    if let Some(v) = &c.not_equals {
        out.push(("not_equals", v.clone(), format!("must not equal {v}")));
    }
    if let Some(list) = &c.one_of {
        out.push((
            "in",
            member_set(list),
            format!("must be one of {}", list_text(list)),
        ));
    }
    if let Some(list) = &c.not_in {
        out.push((
            "not_in",
            member_set(list),
            format!("must not be any of {}", list_text(list)),
        ));
    }
    let (mut min, mut max) = (c.min.clone(), c.max.clone());
    if let Some([lo, hi]) = &c.range {
        if min.is_some() || max.is_some() {
            sink.error(
                "conflicting-keys",
                &format!("{ptr}/range"),
                "`range` cannot be combined with `min`/`max`".into(),
                None,
            );
        }
        min = Some(lo.clone());
        max = Some(hi.clone());
    }
    if let (Some(lo), Some(hi)) = (&min, &max) {
        if num(lo) > num(hi) {
            let at = if c.range.is_some() { "range" } else { "min" };
            sink.error_at_value(
                "min-above-max",
                &format!("{ptr}/{at}"),
                format!("minimum {lo} is above maximum {hi}: no value can satisfy this"),
                Some("swap the bounds".into()),
            );
        }
    }
    if let Some(v) = min {
        out.push(("min", json!(v), format!("must be at least {v}")));
    }
    if let Some(v) = max {
        out.push(("max", json!(v), format!("must be at most {v}")));
    }
    if let Some(re) = &c.matches {
        check_regex(sink, re, &format!("{ptr}/matches"));
        out.push(("matches", json!(re), format!("must match /{re}/")));
    }
    if let Some(re) = &c.not_matches {
        check_regex(sink, re, &format!("{ptr}/not_matches"));
        out.push(("not_matches", json!(re), format!("must not match /{re}/")));
    }
    if let (Some(lo), Some(hi)) = (c.min_length, c.max_length) {
        if lo > hi {
            sink.error_at_value(
                "min-above-max",
                &format!("{ptr}/min_length"),
                format!("min_length {lo} is above max_length {hi}"),
                None,
            );
        }
    }
    if let Some(n) = c.min_length {
        out.push(("min_length", json!(n), format!("must be at least {n} long")));
    }
    if let Some(n) = c.max_length {
        out.push(("max_length", json!(n), format!("must be at most {n} long")));
    }
    if let Some(ds) = &c.domains {
        let mut set = Map::new();
        for (i, d) in ds.iter().enumerate() {
            let norm = d.trim().trim_end_matches('.').to_ascii_lowercase();
            let valid = !norm.is_empty()
                && norm
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.')
                && !norm.starts_with('.');
            if !valid {
                sink.error_at_value(
                    "invalid-domain",
                    &format!("{ptr}/domains/{i}"),
                    format!("`{d}` is not a domain name"),
                    Some("write bare domains such as `example.com` (no scheme, path or wildcard); subdomains are included".into()),
                );
            }
            set.insert(norm, json!(true));
        }
        out.push((
            "domains",
            Value::Object(set),
            format!("must be a host in or under {}", ds.join(", ")),
        ));
    }
    for (key, op, list) in [
        ("path_prefixes", "path_prefixes", &c.path_prefixes),
        (
            "deny_path_prefixes",
            "deny_path_prefixes",
            &c.deny_path_prefixes,
        ),
    ] {
        if let Some(ps) = list {
            for (i, p) in ps.iter().enumerate() {
                if !p.ends_with('/') {
                    sink.warn(
                        "prefix-without-slash",
                        &format!("{ptr}/{key}/{i}"),
                        format!("prefix `{p}` also covers `{p}-other` and `{p}.bak`"),
                        Some(format!(
                            "end the prefix with `/` (`{p}/`) to cover only that directory"
                        )),
                    );
                }
            }
            let phrase = if op == "path_prefixes" {
                "must start with"
            } else {
                "must not start with"
            };
            out.push((op, json!(ps), format!("{phrase} {}", ps.join(", "))));
        }
    }
    if let Some(v) = &c.contains {
        out.push(("contains", v.clone(), format!("must contain {v}")));
    }
    if let Some(list) = &c.subset_of {
        out.push((
            "subset_of",
            json!(list),
            format!("must only hold {}", list_text(list)),
        ));
    }
    if let Some(p) = &c.subset_of_path {
        match InputPath::parse(p) {
            Ok(ip) if !ip.is_wild() => out.push((
                "subset_of_path",
                ip.opa_path(),
                format!("must only hold values in {p}"),
            )),
            Ok(_) => sink.error(
                "invalid-path",
                &format!("{ptr}/subset_of_path"),
                "`subset_of_path` cannot use `[*]`".into(),
                None,
            ),
            Err(e) => sink.error(
                "invalid-path",
                &format!("{ptr}/subset_of_path"),
                e.message,
                e.hint,
            ),
        }
    }
    if let Some(t) = c.value_type {
        let name = format!("{t:?}").to_lowercase();
        out.push(("type", json!(name), format!("must be of type {name}")));
    }
    if let Some(w) = &c.within {
        if let Some(v) = time_window(sink, w, &format!("{ptr}/within")) {
            out.push((
                "within",
                v,
                "must fall within the allowed time window".to_string(),
            ));
        }
    }
    out
}

fn num(n: &Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

fn member_set(list: &[Value]) -> Value {
    let mut strings = Map::new();
    let mut others = Vec::new();
    for v in list {
        match v {
            Value::String(s) => {
                strings.insert(s.clone(), json!(true));
            }
            other => others.push(other.clone()),
        }
    }
    json!({"strings": strings, "others": others})
}

fn list_text(list: &[Value]) -> String {
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Validates a regular expression (RE2 syntax, which both OPA and Warden use).
pub(crate) fn check_regex(sink: &mut Sink<'_>, re: &str, ptr: &str) {
    let translated = crate::redact::re2::ascii_classes(re);
    if let Err(e) = regex::RegexBuilder::new(&translated)
        .size_limit(1 << 20)
        .build()
    {
        let detail = e
            .to_string()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string();
        sink.error_at_value(
            "invalid-regex",
            ptr,
            format!("invalid regular expression `{re}`: {detail}"),
            Some("regexes use RE2 syntax: no look-around or back-references".into()),
        );
    }
}

const DAYS: &[(&str, &str)] = &[
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

fn time_window(sink: &mut Sink<'_>, w: &TimeWindow, ptr: &str) -> Option<Value> {
    let mut ok = true;
    let tz = w.timezone.clone().unwrap_or_else(|| "UTC".into());
    if chrono_tz::Tz::from_str(&tz).is_err() {
        ok = false;
        let hint = did_you_mean(&tz, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| "use an IANA time zone such as `America/New_York`".into());
        sink.error_at_value(
            "invalid-timezone",
            &format!("{ptr}/timezone"),
            format!("unknown time zone `{tz}`"),
            Some(hint),
        );
    }
    let days = match &w.days {
        None => Value::Null,
        Some(list) => {
            let mut set = Map::new();
            for (i, d) in list.iter().enumerate() {
                let key = d.to_ascii_lowercase();
                match DAYS
                    .iter()
                    .find(|(short, long)| key == *short || key == long.to_ascii_lowercase())
                {
                    Some((_, long)) => {
                        set.insert((*long).to_string(), json!(true));
                    }
                    None => {
                        ok = false;
                        let hint = did_you_mean(&key, DAYS.iter().map(|(s, _)| *s))
                            .map(|s| format!("did you mean `{s}`?"));
                        sink.error_at_value(
                            "invalid-day",
                            &format!("{ptr}/days/{i}"),
                            format!("`{d}` is not a day of the week"),
                            hint.or(Some("use mon, tue, wed, thu, fri, sat, sun".into())),
                        );
                    }
                }
            }
            Value::Object(set)
        }
    };
    let (start, end) = match &w.hours {
        None => (0, 1440),
        Some(h) => match parse_hours(h) {
            Some((s, e)) if s != e => (s, e),
            Some(_) => {
                ok = false;
                sink.error_at_value(
                    "invalid-hours",
                    &format!("{ptr}/hours"),
                    format!("`{h}` is an empty window"),
                    Some("start and end must differ".into()),
                );
                (0, 0)
            }
            None => {
                ok = false;
                sink.error_at_value("invalid-hours", &format!("{ptr}/hours"), format!("`{h}` is not a range of hours"), Some("write `HH:MM-HH:MM`, e.g. `09:00-18:00` (end exclusive; may wrap past midnight)".into()));
                (0, 0)
            }
        },
    };
    ok.then(|| json!({"days": days, "start": start, "end": end, "tz": tz}))
}

fn parse_hours(h: &str) -> Option<(u32, u32)> {
    let (a, b) = h.split_once('-')?;
    let minutes = |t: &str| -> Option<u32> {
        let (hh, mm) = t.trim().split_once(':')?;
        let (hh, mm): (u32, u32) = (hh.parse().ok()?, mm.parse().ok()?);
        (mm < 60 && (hh < 24 || (hh == 24 && mm == 0))).then_some(hh * 60 + mm)
    };
    Some((minutes(a)?, minutes(b)?))
}

/// Parses a window length such as `30s`, `15m`, `1h`, `1d`, `1w` into seconds.
pub(crate) fn parse_window(w: &str) -> Option<u64> {
    let w = w.trim();
    let split = w.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = w.split_at(split);
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_hours_parse() {
        assert_eq!(parse_window("15m"), Some(900));
        assert_eq!(parse_window("1d"), Some(86_400));
        assert_eq!(parse_window("0d"), None);
        assert_eq!(parse_window("5 years"), None);
        assert_eq!(parse_hours("09:00-18:00"), Some((540, 1080)));
        assert_eq!(parse_hours("22:00-06:30"), Some((1320, 390)));
        assert_eq!(parse_hours("25:00-26:00"), None);
    }
}
