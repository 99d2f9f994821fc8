//! The one place decisions are made: every enforcement point (HTTP API, Data API, later MCP and
//! Envoy) calls [`DecisionService`], which owns the engine, the active bundle's status and the
//! metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Serialize;
use warden_core::contract::Decision;
use warden_engine::{Engine, EngineError, Prepared};

use crate::policy_set::{self, Part};

/// Why a request got no decision.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// No bundle has been activated yet.
    #[error("no policy bundle is loaded yet")]
    NoBundle,
    /// The input does not follow the contract.
    #[error("{0}")]
    Input(String),
    /// Evaluation failed (a bug or a policy error): the caller applies its fail mode.
    #[error("evaluation failed: {0}")]
    Eval(String),
}

/// Status of the bundle, like OPA's status API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BundleStatus {
    /// Bundle name.
    pub name: String,
    /// Where it is loaded from.
    pub source: String,
    /// Revision serving now.
    pub active_revision: Option<String>,
    /// Last time the source was read successfully (RFC 3339).
    pub last_successful_download: Option<String>,
    /// Last time a bundle was activated (RFC 3339).
    pub last_successful_activation: Option<String>,
    /// Last failed attempt, if it is newer than the last activation.
    pub last_error: Option<String>,
    /// Bundles activated since start.
    pub activations: u64,
    /// Bundle loads that failed since start.
    pub failures: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoadLabels {
    bundle: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevisionLabels {
    bundle: String,
    revision: String,
}

struct Metrics {
    registry: Registry,
    decisions: Family<OutcomeLabels, Counter>,
    reasons: Family<ReasonLabels, Counter>,
    would_deny: Counter,
    latency: Histogram,
    loads: Family<LoadLabels, Counter>,
    revision: Family<RevisionLabels, Gauge>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let decisions = Family::<OutcomeLabels, Counter>::default();
        let reasons = Family::<ReasonLabels, Counter>::default();
        let would_deny = Counter::default();
        let latency = Histogram::new(exponential_buckets(0.000_002, 2.0, 20));
        let loads = Family::<LoadLabels, Counter>::default();
        let revision = Family::<RevisionLabels, Gauge>::default();
        registry.register("decisions", "Decisions by outcome", decisions.clone());
        registry.register(
            "decision_reasons",
            "Reason codes of decisions in force",
            reasons.clone(),
        );
        registry.register(
            "would_deny",
            "Calls shadow rules would have blocked",
            would_deny.clone(),
        );
        registry.register(
            "decision_duration_seconds",
            "Time to decide one call",
            latency.clone(),
        );
        registry.register(
            "bundle_loads",
            "Bundle load attempts by result",
            loads.clone(),
        );
        registry.register(
            "bundle_info",
            "Active revision of each bundle (value 1)",
            revision.clone(),
        );
        Metrics {
            registry,
            decisions,
            reasons,
            would_deny,
            latency,
            loads,
            revision,
        }
    }
}

/// One configured bundle: its status and, once activated, its verified contents.
struct Slot {
    status: BundleStatus,
    part: Option<Part>,
}

/// The decision service shared by every API.
pub struct DecisionService {
    /// The merged policy set of every active bundle; `ready` says whether one was activated.
    engine: Engine,
    ready: AtomicBool,
    /// Configured bundles by name (fixed for the service's life).
    slots: Mutex<BTreeMap<String, Slot>>,
    metrics: Metrics,
}

impl DecisionService {
    /// A service with one configured bundle and nothing loaded yet.
    pub fn new(name: &str, source: &str) -> Arc<Self> {
        Self::with_bundles(&[(name.to_string(), source.to_string())])
    }

    /// A service with several configured bundles (name, source description), nothing loaded yet.
    pub fn with_bundles(bundles: &[(String, String)]) -> Arc<Self> {
        let slots = bundles
            .iter()
            .map(|(name, source)| {
                let status = BundleStatus {
                    name: name.clone(),
                    source: source.clone(),
                    ..Default::default()
                };
                (name.clone(), Slot { status, part: None })
            })
            .collect();
        Arc::new(DecisionService {
            // An empty policy set until the first bundle is activated (`ready` guards its use).
            engine: Engine::new(Prepared::empty()),
            ready: AtomicBool::new(false),
            slots: Mutex::new(slots),
            metrics: Metrics::new(),
        })
    }

    /// Activates bundle `name`'s new contents: merges them with the other active bundles and
    /// swaps the policy set atomically (calls in flight finish on the old one). When the merge
    /// fails (overlapping roots, a Rego error) nothing changes and the error is recorded.
    pub fn activate(&self, name: &str, part: Part) -> Result<(), String> {
        let Ok(mut slots) = self.slots.lock() else {
            return Err("internal error: bundle table poisoned".into());
        };
        if !slots.contains_key(name) {
            return Err(format!("bundle {name} is not configured"));
        }
        let revision = part.revision.clone();
        let mut parts: BTreeMap<String, Part> = slots
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .filter_map(|(n, s)| s.part.clone().map(|p| (n.clone(), p)))
            .collect();
        parts.insert(name.to_string(), part.clone());
        let prepared = match policy_set::merge(&parts) {
            Ok(p) => p,
            Err(e) => {
                drop(slots);
                self.load_failed(name, &e);
                return Err(e);
            }
        };
        self.engine.swap(prepared);
        self.ready.store(true, Ordering::Release);
        let t = warden_engine::now_rfc3339();
        if let Some(slot) = slots.get_mut(name) {
            slot.part = Some(part);
            let s = &mut slot.status;
            if let Some(old) = s.active_revision.replace(revision.clone()) {
                self.metrics
                    .revision
                    .get_or_create(&RevisionLabels {
                        bundle: name.into(),
                        revision: old,
                    })
                    .set(0);
            }
            s.last_successful_download = Some(t.clone());
            s.last_successful_activation = Some(t);
            s.last_error = None;
            s.activations += 1;
        }
        self.metrics
            .revision
            .get_or_create(&RevisionLabels {
                bundle: name.into(),
                revision,
            })
            .set(1);
        self.metrics
            .loads
            .get_or_create(&LoadLabels {
                bundle: name.into(),
                result: "activated".into(),
            })
            .inc();
        Ok(())
    }

    /// Records a failed load of bundle `name`; the active policy set keeps serving.
    pub fn load_failed(&self, name: &str, why: &str) {
        tracing::warn!(
            bundle = name,
            error = why,
            "bundle rejected; the last good bundle keeps serving"
        );
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(slot) = slots.get_mut(name) {
                slot.status.last_error = Some(format!("{}: {why}", warden_engine::now_rfc3339()));
                slot.status.failures += 1;
            }
        }
        self.metrics
            .loads
            .get_or_create(&LoadLabels {
                bundle: name.into(),
                result: "failed".into(),
            })
            .inc();
    }

    /// Whether a policy set is active (at least one bundle activated).
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether every configured bundle is active (OPA's `/health?bundles`).
    pub fn all_active(&self) -> bool {
        self.slots
            .lock()
            .map(|s| s.values().all(|slot| slot.part.is_some()))
            .unwrap_or(false)
    }

    /// Every configured bundle's status, by name.
    pub fn statuses(&self) -> Vec<BundleStatus> {
        self.slots
            .lock()
            .map(|s| s.values().map(|slot| slot.status.clone()).collect())
            .unwrap_or_default()
    }

    /// One bundle's status.
    pub fn status(&self, name: &str) -> Option<BundleStatus> {
        self.slots
            .lock()
            .ok()
            .and_then(|s| s.get(name).map(|slot| slot.status.clone()))
    }

    /// The active policy set.
    pub fn current(&self) -> Option<Arc<Prepared>> {
        self.ready().then(|| self.engine.current())
    }

    /// Decides one call.
    pub fn decide(&self, input: &serde_json::Value) -> Result<Decision, DecideError> {
        self.decide_with_set(input).map(|(d, _)| d)
    }

    /// Decides one call and returns the policy set that decided (its bundles and revisions).
    pub fn decide_with_set(
        &self,
        input: &serde_json::Value,
    ) -> Result<(Decision, Arc<Prepared>), DecideError> {
        if !self.ready() {
            return Err(DecideError::NoBundle);
        }
        let engine = &self.engine;
        let start = Instant::now();
        let (d, set) = engine.decide_with_set(input).map_err(|e| match e {
            EngineError::Input(m) => DecideError::Input(m),
            other => DecideError::Eval(other.to_string()),
        })?;
        self.metrics.latency.observe(start.elapsed().as_secs_f64());
        self.metrics
            .decisions
            .get_or_create(&OutcomeLabels {
                outcome: d.outcome.as_str().into(),
            })
            .inc();
        for r in &d.reasons {
            self.metrics
                .reasons
                .get_or_create(&ReasonLabels { reason: r.clone() })
                .inc();
        }
        if d.would_deny {
            self.metrics.would_deny.inc();
        }
        Ok((d, set))
    }

    /// Evaluates any query (OPA's Data API); `Undefined` when the document is undefined.
    pub fn query(
        &self,
        query: &str,
        input: Option<&serde_json::Value>,
    ) -> Result<regorus::Value, DecideError> {
        if !self.ready() {
            return Err(DecideError::NoBundle);
        }
        let engine = &self.engine;
        let input = match input {
            Some(v) => warden_engine::to_value(v).map_err(|e| DecideError::Input(e.to_string()))?,
            None => regorus::Value::Undefined,
        };
        engine
            .eval(query, input)
            .map_err(|e| DecideError::Eval(e.to_string()))
    }

    /// Prometheus text exposition.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.metrics.registry);
        out
    }
}
