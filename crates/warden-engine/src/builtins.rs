//! Host builtins that regorus lacks and OPA has, registered on every policy set so raw OPA
//! bundles that use them load and agree with OPA.

use std::net::IpAddr;

use regorus::Value;

/// Registers every extension on `engine` (before any policy is added).
pub fn register(engine: &mut regorus::Engine) -> anyhow::Result<()> {
    engine.add_extension(
        "net.cidr_intersects".to_string(),
        2,
        Box::new(|params: Vec<Value>| {
            let a = cidr(&params[0])?;
            let b = cidr(&params[1])?;
            Ok(Value::from(intersects(a, b)))
        }),
    )?;
    engine.add_extension(
        "net.cidr_merge".to_string(),
        1,
        Box::new(|params: Vec<Value>| {
            let mut nets = Vec::new();
            for v in collection(&params[0])? {
                nets.push(cidr(&v)?);
            }
            Ok(Value::from(
                merge(nets)
                    .into_iter()
                    .map(|n| Value::from(render(n)))
                    .collect::<std::collections::BTreeSet<Value>>(),
            ))
        }),
    )?;
    engine.add_extension(
        "net.cidr_contains_matches".to_string(),
        2,
        Box::new(|params: Vec<Value>| {
            let outer = keyed(&params[0])?;
            let inner = keyed(&params[1])?;
            let mut out = std::collections::BTreeSet::new();
            for (ki, a) in &outer {
                for (kj, b) in &inner {
                    if contains(*a, *b) {
                        out.insert(Value::from(vec![ki.clone(), kj.clone()]));
                    }
                }
            }
            Ok(Value::from(out))
        }),
    )?;
    Ok(())
}

/// The elements of an array or set.
fn collection(v: &Value) -> anyhow::Result<Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a.iter().cloned().collect()),
        Value::Set(s) => Ok(s.iter().cloned().collect()),
        _ => anyhow::bail!("operand must be an array or a set"),
    }
}

/// `net.cidr_contains_matches` operands: a CIDR string (key: the string), an array or set of
/// CIDRs or `[cidr, ...]` tuples (key: index or element), or an object of them (key: object key).
fn keyed(v: &Value) -> anyhow::Result<Vec<(Value, Net)>> {
    let net_of = |x: &Value| -> anyhow::Result<Net> {
        match x {
            Value::Array(t) if !t.is_empty() => cidr(&t[0]),
            other => cidr(other),
        }
    };
    match v {
        Value::String(_) => Ok(vec![(v.clone(), cidr(v)?)]),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| Ok((Value::from(i as u64), net_of(x)?)))
            .collect(),
        Value::Set(s) => s.iter().map(|x| Ok((x.clone(), net_of(x)?))).collect(),
        Value::Object(o) => o.iter().map(|(k, x)| Ok((k.clone(), net_of(x)?))).collect(),
        _ => anyhow::bail!("operand must be a string, array, set or object of CIDRs"),
    }
}

fn contains(outer: Net, inner: Net) -> bool {
    outer.0 == inner.0 && outer.2 <= inner.2 && intersects(outer, inner)
}

fn mask(bits: u32, len: u32) -> u128 {
    let shift = bits - len;
    if shift >= bits {
        0
    } else {
        (u128::MAX >> (128 - bits)) >> shift << shift
    }
}

/// Merges networks into the fewest covering CIDRs (drops covered ones, joins siblings), as
/// OPA's net.cidr_merge does.
fn merge(nets: Vec<Net>) -> Vec<Net> {
    let mut v: Vec<Net> = nets
        .into_iter()
        .map(|(b, n, l)| (b, n & mask(b, l), l))
        .collect();
    v.sort_unstable();
    v.dedup();
    loop {
        let mut out: Vec<Net> = Vec::with_capacity(v.len());
        let mut changed = false;
        for n in v {
            if out.iter().any(|o| contains(*o, n)) {
                changed = true;
                continue;
            }
            out.retain(|o| !contains(n, *o));
            if let Some(last) = out.last_mut() {
                let (b, a, l) = *last;
                let sibling = l > 0
                    && b == n.0
                    && l == n.2
                    && (a ^ n.1) == 1u128 << (b - l)
                    && a & (1u128 << (b - l)) == 0;
                if sibling {
                    *last = (b, a, l - 1);
                    changed = true;
                    continue;
                }
            }
            out.push(n);
        }
        out.sort_unstable();
        if !changed {
            return out;
        }
        v = out;
    }
}

fn render((bits, n, len): Net) -> String {
    let addr = if bits == 32 {
        IpAddr::from(std::net::Ipv4Addr::from(n as u32))
    } else {
        IpAddr::from(std::net::Ipv6Addr::from(n))
    };
    format!("{addr}/{len}")
}

/// A network as (family width in bits, address as u128, prefix length).
type Net = (u32, u128, u32);

/// Parses `a.b.c.d/n`, `x::y/n` or a bare address, as Go's net.ParseCIDR does for OPA.
fn cidr(v: &Value) -> anyhow::Result<Net> {
    let s = v
        .as_string()
        .map_err(|_| anyhow::anyhow!("operand must be a string"))?;
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s.as_ref(), None),
    };
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid CIDR address: {s}"))?;
    let (bits, n) = match addr {
        IpAddr::V4(a) => (32, u128::from(u32::from(a))),
        IpAddr::V6(a) => (128, u128::from(a)),
    };
    let len = match len {
        None => bits,
        Some(l) if !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()) => l
            .parse::<u32>()
            .ok()
            .filter(|l| *l <= bits)
            .ok_or_else(|| anyhow::anyhow!("invalid CIDR address: {s}"))?,
        Some(_) => anyhow::bail!("invalid CIDR address: {s}"),
    };
    // Like Go (and so OPA), an IPv4-mapped IPv6 network (::ffff:a.b.c.d/n, n >= 96) is IPv4.
    if bits == 128 && n >> 32 == 0xffff && len >= 96 {
        return Ok((32, n & 0xffff_ffff, len - 96));
    }
    Ok((bits, n, len))
}

fn intersects(a: Net, b: Net) -> bool {
    if a.0 != b.0 {
        return false;
    }
    let len = a.2.min(b.2);
    let shift = a.0 - len;
    let mask = if shift >= a.0 {
        0
    } else {
        (u128::MAX >> (128 - a.0)) >> shift << shift
    };
    (a.1 & mask) == (b.1 & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Net {
        cidr(&Value::from(s)).unwrap()
    }

    #[test]
    fn intersections_follow_prefixes_and_families() {
        assert!(intersects(n("10.0.0.0/8"), n("10.1.0.0/16")));
        assert!(!intersects(n("10.0.0.0/16"), n("10.1.0.0/16")));
        assert!(intersects(n("0.0.0.0/0"), n("192.0.2.1")));
        assert!(intersects(n("2001:db8::/32"), n("2001:db8:100::/48")));
        assert!(
            intersects(n("10.0.0.0/8"), n("::ffff:10.0.0.0/104")),
            "IPv4-mapped IPv6 is IPv4, as in OPA"
        );
        assert!(!intersects(n("10.0.0.0/8"), n("2001:db8::/32")));
        assert!(cidr(&Value::from("10.0.0.0/33")).is_err());
        let merged: Vec<String> = merge(vec![
            n("10.0.0.0/25"),
            n("10.0.0.128/25"),
            n("10.0.1.0/24"),
            n("10.0.0.7"),
            n("192.0.2.1"),
        ])
        .into_iter()
        .map(render)
        .collect();
        assert_eq!(merged, ["10.0.0.0/23", "192.0.2.1/32"]);
        assert!(contains(n("10.0.0.0/8"), n("10.1.2.3")));
        assert!(!contains(n("10.1.0.0/16"), n("10.0.0.0/8")));
        assert!(cidr(&Value::from("")).is_err());
    }
}
