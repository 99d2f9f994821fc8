//! The one place decisions are made: every enforcement point (HTTP API, Data API, later MCP and
//! Envoy) calls [`DecisionService`], which owns the engine, the active bundle's status and the
//! metrics.

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

use crate::bundle::Loaded;

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
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevisionLabels {
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
            "The active bundle revision (value 1)",
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

/// The decision service shared by every API.
pub struct DecisionService {
    /// The bundle's name (fixed for the service's life).
    name: String,
    /// Starts with an empty policy set; `ready` says whether a bundle was activated.
    engine: Engine,
    ready: AtomicBool,
    status: Mutex<BundleStatus>,
    metrics: Metrics,
}

impl DecisionService {
    /// A service with no bundle yet.
    pub fn new(name: &str, source: &str) -> Arc<Self> {
        // An empty policy set until the first bundle is activated (`ready` guards its use).
        let engine = Engine::new(Prepared::empty());
        Arc::new(DecisionService {
            name: name.into(),
            engine,
            ready: AtomicBool::new(false),
            status: Mutex::new(BundleStatus {
                name: name.into(),
                source: source.into(),
                ..Default::default()
            }),
            metrics: Metrics::new(),
        })
    }

    /// Activates a loaded bundle atomically: calls in flight finish on the old one.
    pub fn activate(&self, loaded: Loaded) {
        let revision = loaded.revision.clone();
        self.engine.swap(loaded.prepared);
        self.ready.store(true, Ordering::Release);
        let t = warden_engine::now_rfc3339();
        if let Ok(mut s) = self.status.lock() {
            if let Some(old) = s.active_revision.replace(revision.clone()) {
                self.metrics
                    .revision
                    .get_or_create(&RevisionLabels { revision: old })
                    .set(0);
            }
            s.last_successful_download = Some(t.clone());
            s.last_successful_activation = Some(t);
            s.last_error = None;
            s.activations += 1;
        }
        self.metrics
            .revision
            .get_or_create(&RevisionLabels { revision })
            .set(1);
        self.metrics
            .loads
            .get_or_create(&LoadLabels {
                result: "activated".into(),
            })
            .inc();
    }

    /// Records a failed load; the active bundle keeps serving.
    pub fn load_failed(&self, why: &str) {
        tracing::warn!(
            error = why,
            "bundle rejected; the last good bundle keeps serving"
        );
        if let Ok(mut s) = self.status.lock() {
            s.last_error = Some(format!("{}: {why}", warden_engine::now_rfc3339()));
            s.failures += 1;
        }
        self.metrics
            .loads
            .get_or_create(&LoadLabels {
                result: "failed".into(),
            })
            .inc();
    }

    /// The bundle's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a bundle is active.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The bundle status.
    pub fn status(&self) -> BundleStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The active policy set.
    pub fn current(&self) -> Option<Arc<Prepared>> {
        self.ready().then(|| self.engine.current())
    }

    /// Decides one call.
    pub fn decide(&self, input: &serde_json::Value) -> Result<Decision, DecideError> {
        if !self.ready() {
            return Err(DecideError::NoBundle);
        }
        let engine = &self.engine;
        let start = Instant::now();
        let d = engine.decide(input).map_err(|e| match e {
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
        Ok(d)
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
