//! The one place decisions are made: every enforcement point (HTTP API, Data API, later MCP and
//! Envoy) calls [`DecisionService`], which owns the engine, the active bundle's status and the
//! metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use warden_core::contract::Decision;
use warden_engine::{Engine, EngineError, Prepared};

use crate::metrics::{LoadLabels, Metrics, RevisionLabels};
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

/// One configured bundle: its status and, once activated, its verified contents.
struct Slot {
    status: BundleStatus,
    part: Option<Part>,
}

/// A candidate bundle evaluated in shadow beside the active policy set: the same set with one
/// bundle replaced by the candidate. Its decisions are recorded and counted, never enforced.
struct Candidate {
    /// The configured bundle the candidate stands in for.
    replaces: String,
    engine: Engine,
    ready: AtomicBool,
    slot: Mutex<Slot>,
}

/// What the candidate decided for a call (recorded beside the enforced decision).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct CandidateResult {
    /// The bundle the candidate stands in for.
    pub bundle: String,
    /// The candidate's revision.
    pub revision: String,
    /// Its outcome (`error` when it could not decide).
    pub outcome: String,
    /// Its reason codes (or the error).
    pub reasons: Vec<String>,
}

/// A decision with the policy set that made it and, when a candidate runs in shadow, what the
/// candidate would have decided.
pub struct Decided {
    /// The enforced decision.
    pub decision: Decision,
    /// The policy set that decided (its bundles and revisions).
    pub set: Arc<Prepared>,
    /// The candidate's decision, if a candidate is active.
    pub candidate: Option<CandidateResult>,
}

/// The active bundles' contents with bundle `name`'s replaced by (or set to) `part`.
fn with_part(slots: &BTreeMap<String, Slot>, name: &str, part: &Part) -> BTreeMap<String, Part> {
    let mut parts: BTreeMap<String, Part> = slots
        .iter()
        .filter(|(n, _)| n.as_str() != name)
        .filter_map(|(n, s)| s.part.clone().map(|p| (n.clone(), p)))
        .collect();
    parts.insert(name.to_string(), part.clone());
    parts
}

static MEMORY_RELEASE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what returns freed memory to the operating system after a replaced policy set is freed
/// (the binary knows its allocator: mimalloc's `mi_collect`). Run on the background thread that
/// freed the set, so the page unmapping does not land on whichever request thread allocates
/// next, which otherwise stalled decisions for ~5 ms per reload (`bench/reload.sh`).
pub fn set_memory_release(release: fn()) {
    let _ = MEMORY_RELEASE.set(release);
}

/// Runs the hook given to [`set_memory_release`], if any.
pub(crate) fn release_memory() {
    if let Some(release) = MEMORY_RELEASE.get() {
        release();
    }
}

/// Frees a replaced policy set on a thread of its own, once the requests still evaluating on it
/// are done (a set keeps its own VMs, so nothing else holds it then). If a request thread
/// dropped the last reference it would free the whole data tree (tens of ms for a 10,000-agent
/// bundle) while a caller waits. A request still holding it after a minute is not waited for.
fn retire(old: Arc<Prepared>) {
    let spawned = std::thread::Builder::new()
        .name("warden-retire".into())
        .spawn(move || {
            crate::background_priority();
            let since = std::time::Instant::now();
            while Arc::strong_count(&old) > 1
                && since.elapsed() < std::time::Duration::from_secs(60)
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // Freed a piece at a time between pause points (see `crate::pace`).
            match Arc::try_unwrap(old) {
                Ok(set) => {
                    warden_engine::share::drop_in_pieces(set.into_data(), crate::pace::point)
                }
                Err(old) => drop(old),
            }
            release_memory();
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start a thread to free the old policy set");
    }
}

/// The decision service shared by every API.
pub struct DecisionService {
    /// The merged policy set of every active bundle; `ready` says whether one was activated.
    engine: Engine,
    ready: AtomicBool,
    /// Configured bundles by name (fixed for the service's life).
    slots: Mutex<BTreeMap<String, Slot>>,
    candidate: Option<Candidate>,
    metrics: Metrics,
}

impl DecisionService {
    /// A service with one configured bundle and nothing loaded yet.
    pub fn new(name: &str, source: &str) -> Arc<Self> {
        Self::with_bundles(&[(name.to_string(), source.to_string())])
    }

    /// A service with several configured bundles (name, source description), nothing loaded yet.
    pub fn with_bundles(bundles: &[(String, String)]) -> Arc<Self> {
        Self::with_candidate(bundles, None)
    }

    /// Like [`DecisionService::with_bundles`], with a candidate `(replaces, source)` evaluated in
    /// shadow: the active set with bundle `replaces` swapped for the candidate.
    pub fn with_candidate(
        bundles: &[(String, String)],
        candidate: Option<(String, String)>,
    ) -> Arc<Self> {
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
            candidate: candidate.map(|(replaces, source)| Candidate {
                slot: Mutex::new(Slot {
                    status: BundleStatus {
                        name: format!("candidate:{replaces}"),
                        source,
                        ..Default::default()
                    },
                    part: None,
                }),
                replaces,
                engine: Engine::new(Prepared::empty()),
                ready: AtomicBool::new(false),
            }),
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
        let prepared = match policy_set::merge(&with_part(&slots, name, &part)) {
            Ok(p) => p,
            Err(e) => {
                drop(slots);
                self.load_failed(name, &e);
                return Err(e);
            }
        };
        let new_set = prepared.revision().to_string();
        let old = self.engine.swap(prepared);
        self.metrics.keep_revisions(&[&new_set, old.revision()]);
        retire(old);
        self.ready.store(true, Ordering::Release);
        let t = warden_engine::now_rfc3339();
        if let Some(slot) = slots.get_mut(name) {
            slot.part = Some(part);
            let s = &mut slot.status;
            if let Some(old) = s.active_revision.replace(revision.clone()) {
                self.metrics.revision.remove(&RevisionLabels {
                    bundle: name.into(),
                    revision: old,
                });
            }
            s.last_successful_download = Some(t.clone());
            s.last_successful_activation = Some(t);
            s.last_error = None;
            s.activations += 1;
        }
        if let Some(c) = &self.candidate {
            // The candidate shadows the new active set, not the old one.
            if let Err(e) = self.rebuild_candidate(c, &slots, None) {
                tracing::warn!(
                    error = e,
                    "candidate no longer merges with the active bundles"
                );
            }
        }
        self.metrics
            .revision
            .get_or_create(&RevisionLabels {
                bundle: name.into(),
                revision,
            })
            .set(1);
        self.count_load(name, "activated");
        Ok(())
    }

    /// Counts a load of bundle `bundle` in `warden_bundle_loads_total` (`result`: `activated`
    /// or `failed`); the candidate counts as `candidate:<the bundle it stands in for>`.
    fn count_load(&self, bundle: &str, result: &str) {
        self.metrics
            .loads
            .get_or_create(&LoadLabels {
                bundle: bundle.into(),
                result: result.into(),
            })
            .inc();
    }

    fn candidate_label(&self) -> String {
        let replaces = self.candidate.as_ref().map_or("", |c| c.replaces.as_str());
        format!("candidate:{replaces}")
    }

    /// Activates a new version of the candidate bundle (shadow only).
    pub fn activate_candidate(&self, part: Part) -> Result<(), String> {
        let Some(c) = &self.candidate else {
            return Err("no candidate bundle is configured".into());
        };
        let Ok(slots) = self.slots.lock() else {
            return Err("internal error: bundle table poisoned".into());
        };
        let r = self.rebuild_candidate(c, &slots, Some(part));
        let result = if r.is_ok() { "activated" } else { "failed" };
        self.count_load(&self.candidate_label(), result);
        r
    }

    /// Rebuilds the candidate set from the active bundles, with `part` (or the candidate's current
    /// contents) in place of the bundle it replaces. Callers hold the bundle table.
    fn rebuild_candidate(
        &self,
        c: &Candidate,
        slots: &BTreeMap<String, Slot>,
        part: Option<Part>,
    ) -> Result<(), String> {
        let Ok(mut slot) = c.slot.lock() else {
            return Err("internal error: candidate poisoned".into());
        };
        let fresh = part.is_some();
        let Some(part) = part.or_else(|| slot.part.clone()) else {
            return Ok(());
        };
        let t = warden_engine::now_rfc3339();
        match policy_set::merge(&with_part(slots, &c.replaces, &part)) {
            Ok(prepared) => {
                retire(c.engine.swap(prepared));
                c.ready.store(true, Ordering::Release);
                if fresh {
                    slot.status.active_revision = Some(part.revision.clone());
                    slot.status.last_successful_activation = Some(t);
                    slot.status.activations += 1;
                    slot.status.last_error = None;
                    slot.part = Some(part);
                }
                Ok(())
            }
            Err(e) => {
                slot.status.last_error = Some(format!("{t}: {e}"));
                slot.status.failures += 1;
                Err(e)
            }
        }
    }

    /// The candidate's status, if one is configured.
    pub fn candidate_status(&self) -> Option<BundleStatus> {
        let c = self.candidate.as_ref()?;
        c.slot.lock().ok().map(|s| s.status.clone())
    }

    /// Records a failed load of the candidate.
    pub fn candidate_failed(&self, why: &str) {
        tracing::warn!(error = why, "candidate bundle rejected");
        if let Some(Ok(mut slot)) = self.candidate.as_ref().map(|c| c.slot.lock()) {
            slot.status.last_error = Some(format!("{}: {why}", warden_engine::now_rfc3339()));
            slot.status.failures += 1;
        }
        self.count_load(&self.candidate_label(), "failed");
    }

    /// Records a failed load of bundle `name`; the active policy set, if any, keeps serving. The
    /// log says which: a last good revision of this bundle, the other bundles without it, or
    /// nothing at all (at startup, with no good bundle yet, decisions answer 503).
    pub fn load_failed(&self, name: &str, why: &str) {
        let loaded = self
            .status(name)
            .is_some_and(|s| s.active_revision.is_some());
        let serving = if loaded {
            "bundle rejected; the last good bundle keeps serving"
        } else if self.ready() {
            "bundle rejected; no revision of this bundle is loaded: the other bundles keep serving without it"
        } else {
            "bundle rejected; no bundle is loaded: decisions answer 503 until a good one arrives"
        };
        tracing::warn!(bundle = name, error = why, "{serving}");
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(slot) = slots.get_mut(name) {
                slot.status.last_error = Some(format!("{}: {why}", warden_engine::now_rfc3339()));
                slot.status.failures += 1;
            }
        }
        self.count_load(name, "failed");
    }

    /// Bundle `name`'s persisted copy was rejected at start-up after its source had failed with
    /// `earlier` (its `last_error` then): the status keeps both reasons, so neither hides the
    /// other.
    pub fn persisted_rejected_after(&self, name: &str, earlier: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(slot) = slots.get_mut(name) {
                let last = slot.status.last_error.take().unwrap_or_default();
                slot.status.last_error = Some(format!(
                    "{earlier}; the persisted last good bundle was rejected too: {last}"
                ));
            }
        }
    }

    /// Bundle `name` was activated from its persisted copy at start-up, not downloaded: its
    /// status shows no download time (nothing has been fetched from its source yet).
    pub fn restored(&self, name: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(slot) = slots.get_mut(name) {
                slot.status.last_successful_download = None;
            }
        }
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

    /// Whether the active policy set grants `agent` of `tenant` the action `action` of `tool` at
    /// all (some call could be allowed): Warden's compiled plans exist for it, or for the tool's
    /// `*`. `None` when the set is not Warden's compiled form (raw Rego), where only a decision can
    /// tell. Used to hide tools an agent may never call.
    pub fn granted(&self, tenant: &str, agent: &str, tool: &str, action: &str) -> Option<bool> {
        self.with_tenants(|tenants| {
            let plans = &tenants[tenant]["agents"][agent]["plans"][tool];
            plans[action] != regorus::Value::Undefined || plans["*"] != regorus::Value::Undefined
        })
    }

    /// `f` of the active set's compiled `data.warden.tenants`; `None` without a set, or when the
    /// set is not Warden's compiled form (raw Rego).
    fn with_tenants<T>(&self, f: impl FnOnce(&regorus::Value) -> T) -> Option<T> {
        let set = self.current()?;
        let tenants = &set.data()["warden"]["tenants"];
        (*tenants != regorus::Value::Undefined).then(|| f(tenants))
    }

    /// Whether any agent of `tenant` has a plan for `action` of `tool`: the policy names it.
    /// `None` when the set is not Warden's compiled form. The MCP gateway decides a server's
    /// prompts and resources only when the policy names them (`prompt:NAME`, `resource:URI`).
    pub fn named(&self, tenant: &str, tool: &str, action: &str) -> Option<bool> {
        self.with_tenants(|tenants| {
            // Matched, not `as_object()`: regorus's `as_*` build an `anyhow` error when the
            // type differs, which captures a backtrace when RUST_BACKTRACE is set.
            match &tenants[tenant]["agents"] {
                regorus::Value::Object(agents) => agents
                    .values()
                    .any(|a| a["plans"][tool][action] != regorus::Value::Undefined),
                _ => false,
            }
        })
    }

    /// Whether the policy for this action has `redact` rules on the tool's result (`result.…`
    /// paths), so an enforcement point must decide on what the call returned. True when the set
    /// is not Warden's compiled form (only a decision can tell).
    pub fn redacts_results(&self, tenant: &str, agent: &str, tool: &str, action: &str) -> bool {
        use regorus::Value;
        // Matched, not `as_array()`/`as_string()` (see `named`): this runs on every MCP tool
        // result, and with RUST_BACKTRACE set each mismatch captured a backtrace (~20 µs).
        let on_result = |t: &Value| {
            ["pointer", "pointer_prefix"].iter().any(|k| match &t[*k] {
                Value::String(p) => p.as_ref() == "/result" || p.starts_with("/result/"),
                _ => false,
            })
        };
        self.with_tenants(|tenants| {
            let plans = &tenants[tenant]["agents"][agent]["plans"][tool];
            let plan = match &plans[action] {
                Value::Undefined => &plans["*"],
                p => p,
            };
            match &plan["redact"] {
                Value::Array(rules) => rules.iter().any(|r| match &r["targets"] {
                    Value::Array(ts) => ts.iter().any(on_result),
                    _ => false,
                }),
                _ => false,
            }
        })
        .unwrap_or(true)
    }

    /// The active policy set.
    pub fn current(&self) -> Option<Arc<Prepared>> {
        self.ready().then(|| self.engine.current())
    }

    /// Decides one call.
    pub fn decide(&self, input: &serde_json::Value) -> Result<Decision, DecideError> {
        self.decide_with_set(input).map(|d| d.decision)
    }

    /// Decides one call, returning the policy set that decided and the candidate's shadow
    /// decision (evaluated on the same input after the enforced one; it never changes it).
    pub fn decide_with_set(&self, input: &serde_json::Value) -> Result<Decided, DecideError> {
        let start = Instant::now();
        let mut decided = self.decide_uncounted(input)?;
        self.count(input, &mut decided, start);
        Ok(decided)
    }

    /// [`DecisionService::decide_with_set`] without counting the decision in the metrics or
    /// running the candidate: for a caller that decides one call more than once (the MCP gate
    /// decides again with fresh limit counters, and once more on a tool's result) and counts
    /// only the decision it acts on, with [`DecisionService::count`].
    pub fn decide_uncounted(&self, input: &serde_json::Value) -> Result<Decided, DecideError> {
        if !self.ready() {
            return Err(DecideError::NoBundle);
        }
        let (d, set) = self.engine.decide_with_set(input).map_err(|e| match e {
            EngineError::Input(m) => DecideError::Input(m),
            other => DecideError::Eval(other.to_string()),
        })?;
        Ok(Decided {
            decision: d,
            set,
            candidate: None,
        })
    }

    /// Counts a decision made on `input` (metrics: outcome, reasons, the latency since
    /// `started`) and runs the candidate beside it.
    pub fn count(&self, input: &serde_json::Value, decided: &mut Decided, started: Instant) {
        let tenant = input.get("tenant").and_then(|t| t.as_str());
        let d = &decided.decision;
        self.metrics.decided(
            d,
            tenant,
            decided.set.revision(),
            started.elapsed().as_secs_f64(),
        );
        decided.candidate = self.shadow(input, d);
    }

    fn shadow(&self, input: &serde_json::Value, active: &Decision) -> Option<CandidateResult> {
        let c = self.candidate.as_ref()?;
        if !c.ready.load(Ordering::Acquire) {
            return None;
        }
        let (outcome, reasons, set) = match c.engine.decide_with_set(input) {
            Ok((d, set)) => {
                let outcome = d.outcome.as_str();
                self.metrics
                    .candidate_decided(active.outcome.as_str(), outcome, &d.reasons);
                (outcome.to_string(), d.reasons, Some(set))
            }
            Err(e) => {
                // The error's text is recorded, not made a label.
                self.metrics
                    .candidate_decided(active.outcome.as_str(), "error", &[]);
                ("error".to_string(), vec![e.to_string()], None)
            }
        };
        let revision = set
            .and_then(|s| s.bundles().get(&c.replaces).cloned())
            .unwrap_or_default();
        Some(CandidateResult {
            bundle: c.replaces.clone(),
            revision,
            outcome,
            reasons,
        })
    }

    /// Evaluates any query (OPA's Data API); `Undefined` when the document is undefined. Also
    /// returns the policy set that answered.
    pub fn query(
        &self,
        query: &str,
        input: Option<&serde_json::Value>,
    ) -> Result<(regorus::Value, Arc<Prepared>), DecideError> {
        if !self.ready() {
            return Err(DecideError::NoBundle);
        }
        let tenant = input.and_then(|i| i.get("tenant")).and_then(|t| t.as_str());
        let input = match input {
            Some(v) => warden_engine::to_value(v).map_err(|e| DecideError::Input(e.to_string()))?,
            None => regorus::Value::Undefined,
        };
        let set = self.engine.current();
        let start = Instant::now();
        let v = self
            .engine
            .eval_on(&set, query, input)
            .map_err(|e| DecideError::Eval(e.to_string()))?;
        // Warden's decision asked through OPA's Data API is counted like one from /v1/decide.
        if query == warden_core::DECISION_QUERY {
            if let Ok(d) = warden_engine::decision_from_value(&v) {
                let seconds = start.elapsed().as_secs_f64();
                self.metrics.decided(&d, tenant, set.revision(), seconds);
            }
        }
        Ok((v, set))
    }

    /// Counts a call the MCP gateway forwarded to MCP server `server` (its configured name).
    pub fn count_forwarded(&self, server: &str) {
        self.metrics.mcp_forwarded(server);
    }

    /// Counts a call MCP server `server` failed: no answer in time (`timed_out`), or a bad or
    /// missing one.
    pub fn count_upstream_error(&self, server: &str, timed_out: bool) {
        self.metrics.mcp_upstream_error(server, timed_out);
    }

    /// Prometheus text exposition.
    pub fn metrics_text(&self) -> String {
        self.metrics.text()
    }
}
