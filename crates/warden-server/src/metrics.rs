//! The gateway's Prometheus metrics: decisions by outcome, tenant and policy revision, reason
//! codes, would-deny counts and the shadow reasons behind them, the candidate bundle's outcomes
//! and reasons, decision latency, bundle loads and active revisions; for the MCP gateway, calls
//! forwarded to each MCP server and the ones it failed.
//!
//! Label values come from the policy, never from what a caller may write freely: a tenant the
//! policy does not know is counted as `unknown`, and the series of revisions no longer served
//! are removed when a new set is activated, so the number of series stays bounded by the policy
//! however long the server runs and however often it reloads.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use warden_core::contract::Decision;

/// The `tenant` label of a decision for a tenant the policy does not define.
pub const UNKNOWN_TENANT: &str = "unknown";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: String,
    tenant: String,
    revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CandidateReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    server: String,
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CandidateLabels {
    active: String,
    candidate: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LoadLabels {
    pub bundle: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RevisionLabels {
    pub bundle: String,
    pub revision: String,
}

/// Every metric the decision service keeps, registered under the `warden_` prefix.
pub(crate) struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    /// The label sets of `decisions` made so far, so that those of revisions no longer served
    /// can be removed (a `Family` cannot list its own).
    decision_series: Mutex<Vec<DecisionLabels>>,
    reasons: Family<ReasonLabels, Counter>,
    would_deny: Family<TenantLabels, Counter>,
    would_deny_reasons: Family<ReasonLabels, Counter>,
    candidate_reasons: Family<CandidateReasonLabels, Counter>,
    latency: Histogram,
    pub loads: Family<LoadLabels, Counter>,
    pub revision: Family<RevisionLabels, Gauge>,
    candidate: Family<CandidateLabels, Counter>,
    mcp_forwarded: Family<ServerLabels, Counter>,
    mcp_upstream_errors: Family<UpstreamErrorLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("warden"),
            decisions: Family::default(),
            decision_series: Mutex::new(Vec::new()),
            reasons: Family::default(),
            would_deny: Family::default(),
            would_deny_reasons: Family::default(),
            candidate_reasons: Family::default(),
            latency: Histogram::new(exponential_buckets(0.000_002, 2.0, 20)),
            loads: Family::default(),
            revision: Family::default(),
            candidate: Family::default(),
            mcp_forwarded: Family::default(),
            mcp_upstream_errors: Family::default(),
        };
        m.registry.register(
            "candidate_decisions",
            "Shadow decisions of the candidate bundle, by active and candidate outcome",
            m.candidate.clone(),
        );
        m.registry.register(
            "decisions",
            "Decisions by outcome, tenant and policy revision",
            m.decisions.clone(),
        );
        m.registry.register(
            "decision_reasons",
            "Reason codes of decisions in force, by tenant",
            m.reasons.clone(),
        );
        m.registry.register(
            "would_deny",
            "Calls shadow rules would have blocked, by tenant",
            m.would_deny.clone(),
        );
        m.registry.register(
            "would_deny_reasons",
            "Reason codes of the shadow rules that would have blocked calls, by tenant",
            m.would_deny_reasons.clone(),
        );
        m.registry.register(
            "candidate_reasons",
            "Reason codes the candidate bundle's decisions carried (what it would enforce)",
            m.candidate_reasons.clone(),
        );
        m.registry.register(
            "decision_duration_seconds",
            "Time to decide one call",
            m.latency.clone(),
        );
        m.registry.register(
            "bundle_loads",
            "Bundle load attempts by result",
            m.loads.clone(),
        );
        m.registry.register(
            "bundle_info",
            "Active revision of each bundle (value 1; a replaced revision's series is removed)",
            m.revision.clone(),
        );
        m.registry.register(
            "mcp_forwarded_calls",
            "MCP gateway: tools/call requests forwarded to each MCP server (allowed or sanitized)",
            m.mcp_forwarded.clone(),
        );
        m.registry.register(
            "mcp_upstream_errors",
            "MCP gateway: calls an MCP server did not answer in time (`timeout`) or answered with \
             something that is not JSON-RPC, or not at all (`failed`)",
            m.mcp_upstream_errors.clone(),
        );
        m
    }

    /// Counts one call the MCP gateway forwarded to `server` (a configured name).
    pub fn mcp_forwarded(&self, server: &str) {
        self.mcp_forwarded
            .get_or_create(&ServerLabels {
                server: server.into(),
            })
            .inc();
    }

    /// Counts one call `server` failed: it did not answer in time, or answered badly or not at
    /// all.
    pub fn mcp_upstream_error(&self, server: &str, timed_out: bool) {
        self.mcp_upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                server: server.into(),
                error: if timed_out { "timeout" } else { "failed" }.into(),
            })
            .inc();
    }

    /// Counts one decision made by the policy set of `revision` for the input's `tenant`.
    pub fn decided(&self, d: &Decision, tenant: Option<&str>, revision: &str, seconds: f64) {
        self.latency.observe(seconds);
        let tenant = match tenant {
            Some(t) if !d.reasons.iter().any(|r| r == "unknown_tenant") => t,
            _ => UNKNOWN_TENANT,
        };
        let labels = DecisionLabels {
            outcome: d.outcome.as_str().into(),
            tenant: tenant.into(),
            revision: revision.into(),
        };
        match self.decisions.get(&labels) {
            Some(c) => {
                c.inc();
            }
            None => {
                // A new series (rare): remember it for `keep_revisions`.
                if let Ok(mut series) = self.decision_series.lock() {
                    if !series.contains(&labels) {
                        series.push(labels.clone());
                    }
                }
                self.decisions.get_or_create(&labels).inc();
            }
        }
        for r in &d.reasons {
            self.reasons
                .get_or_create(&ReasonLabels {
                    reason: r.clone(),
                    tenant: tenant.into(),
                })
                .inc();
        }
        if d.would_deny {
            self.would_deny
                .get_or_create(&TenantLabels {
                    tenant: tenant.into(),
                })
                .inc();
        }
        for v in &d.shadow_violations {
            self.would_deny_reasons
                .get_or_create(&ReasonLabels {
                    reason: v.reason.clone(),
                    tenant: tenant.into(),
                })
                .inc();
        }
    }

    /// Counts one decision of the candidate bundle (shadow), with its reason codes.
    pub fn candidate_decided(&self, active: &str, candidate: &str, reasons: &[String]) {
        self.candidate
            .get_or_create(&CandidateLabels {
                active: active.into(),
                candidate: candidate.into(),
            })
            .inc();
        for r in reasons {
            self.candidate_reasons
                .get_or_create(&CandidateReasonLabels { reason: r.clone() })
                .inc();
        }
    }

    /// Removes the decision series of every revision but `keep` (the set now active and the one
    /// it replaced, whose last calls may still be finishing).
    pub fn keep_revisions(&self, keep: &[&str]) {
        let Ok(mut series) = self.decision_series.lock() else {
            return;
        };
        series.retain(|labels| {
            let kept = keep.contains(&labels.revision.as_str());
            if !kept {
                self.decisions.remove(labels);
            }
            kept
        });
    }

    /// Prometheus text exposition.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(v: serde_json::Value) -> Decision {
        let mut d = serde_json::json!({
            "allow": true, "outcome": "allow", "reasons": [], "remediation": null,
            "violations": [], "waived": [], "redactions": [], "consume": [],
            "would_deny": false, "shadow_violations": [], "fail_mode": "closed",
            "metadata": {"policy_version": "1", "bundle_revision": "r1", "library_version": "1",
                         "matched_rules": [], "rate_limit_remaining": null,
                         "audit_required": false, "appeal_path": null}
        });
        if let (Some(d), Some(v)) = (d.as_object_mut(), v.as_object()) {
            d.extend(v.clone());
        }
        serde_json::from_value(d).unwrap()
    }

    #[test]
    fn shadow_reasons_and_unknown_tenants_are_counted_by_policy_labels_only() {
        let m = Metrics::new();
        let vio = |reason: &str| {
            serde_json::json!({"rule": "r", "reason": reason, "outcome": "deny",
                               "message": "m", "remediation": null})
        };
        let shadowed = decision(serde_json::json!({
            "would_deny": true, "shadow_violations": [vio("pii_in_prompt"), vio("after_hours")]
        }));
        m.decided(&shadowed, Some("acme"), "r1", 0.0);
        m.decided(&shadowed, Some("acme"), "r1", 0.0);
        let unknown = decision(serde_json::json!({
            "allow": false, "outcome": "deny", "reasons": ["unknown_tenant"]
        }));
        m.decided(&unknown, Some("made-up-by-a-caller"), "r1", 0.0);
        let text = m.text();
        for line in [
            "warden_would_deny_total{tenant=\"acme\"} 2",
            "warden_would_deny_reasons_total{reason=\"pii_in_prompt\",tenant=\"acme\"} 2",
            "warden_would_deny_reasons_total{reason=\"after_hours\",tenant=\"acme\"} 2",
            "warden_decisions_total{outcome=\"allow\",tenant=\"acme\",revision=\"r1\"} 2",
            "warden_decisions_total{outcome=\"deny\",tenant=\"unknown\",revision=\"r1\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("made-up-by-a-caller"), "{text}");
        m.keep_revisions(&["r2"]);
        assert!(!m.text().contains("revision=\"r1\""), "{}", m.text());
    }
}
