//! What the MCP benchmarks (`mcp_bench`, stdio; `mcp_http_bench`, HTTP) share: how latencies
//! are reported.

/// The `p` quantile of sorted latencies.
pub fn q(l: &[u64], p: f64) -> u64 {
    l[((l.len() as f64 * p) as usize).min(l.len() - 1)]
}

/// Prints p50 and p99 of the direct and the gateway latencies (sorted, µs) and their difference.
pub fn report(direct: &[u64], gateway: &[u64], rate: f64) {
    println!(
        "direct:  p50 {} µs, p99 {} µs ({} calls at {rate}/s)",
        q(direct, 0.5),
        q(direct, 0.99),
        direct.len()
    );
    println!(
        "gateway: p50 {} µs, p99 {} µs",
        q(gateway, 0.5),
        q(gateway, 0.99)
    );
    println!(
        "added:   p50 {} µs, p99 {} µs",
        q(gateway, 0.5) as i64 - q(direct, 0.5) as i64,
        q(gateway, 0.99) as i64 - q(direct, 0.99) as i64
    );
}
