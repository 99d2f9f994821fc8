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
    Ok(())
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
        assert!(intersects(n("10.0.0.0/8"), n("::ffff:10.0.0.0/104")), "IPv4-mapped IPv6 is IPv4, as in OPA");
        assert!(!intersects(n("10.0.0.0/8"), n("2001:db8::/32")));
        assert!(cidr(&Value::from("10.0.0.0/33")).is_err());
        assert!(cidr(&Value::from("")).is_err());
    }
}
