//! A policy set parsed and compiled once: Rego modules plus data, with RVM bytecode per query.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::Program;
use regorus::Value;

use crate::EngineError;

/// One Rego module.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path used in error messages.
    pub path: String,
    /// Rego text.
    pub text: String,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Which regorus evaluator a policy set uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluator {
    /// RVM bytecode where the query compiles, else the interpreter. Used for Warden's own
    /// library, whose RVM results are tested against the interpreter and against OPA.
    Rvm,
    /// Always the tree-walking interpreter: slower, but closer to OPA on arbitrary Rego (the RVM
    /// has known divergences; see docs/opa-compatibility.md). The default for raw bundles.
    Interpreter,
}

/// Result of compiling one query to RVM bytecode.
#[derive(Clone)]
enum Compiled {
    Rvm(Arc<Program>),
    /// The RVM compiler could not take this query; the interpreter evaluates it.
    Interpreter(String),
}

/// Modules and data, parsed and checked once, shared by every evaluation.
pub struct Prepared {
    generation: u64,
    engine: regorus::Engine,
    data: Value,
    programs: RwLock<HashMap<String, Compiled>>,
    revision: String,
    evaluator: Evaluator,
    bundles: std::collections::BTreeMap<String, String>,
    /// References to the data document's root held by this set itself (see [`Prepared::in_use`]).
    own_refs: usize,
}

/// Reference count of a value's root allocation (1 for scalars).
fn root_refs(v: &Value) -> usize {
    match v {
        Value::Object(o) => regorus::Rc::strong_count(o),
        Value::Array(a) => regorus::Rc::strong_count(a),
        _ => 1,
    }
}

impl Prepared {
    /// Parses `modules`, loads `data` and compiles each of `queries` to RVM bytecode up front.
    pub fn new(
        modules: &[Source],
        data: Value,
        queries: &[&str],
        revision: &str,
    ) -> Result<Self, EngineError> {
        Self::with_evaluator(modules, data, queries, revision, Evaluator::Rvm)
    }

    /// Like [`Prepared::new`], choosing the evaluator.
    pub fn with_evaluator(
        modules: &[Source],
        data: Value,
        queries: &[&str],
        revision: &str,
        evaluator: Evaluator,
    ) -> Result<Self, EngineError> {
        // A root of its own (its members stay shared with the bundle parts it came from), so
        // that the references counted here are this set's alone.
        let data = match &data {
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<regorus::value::Object>()
                .into_value(),
            _ => data,
        };
        let mut engine = regorus::Engine::new();
        crate::builtins::register(&mut engine).map_err(|e| EngineError::Load(e.to_string()))?;
        for m in modules {
            engine
                .add_policy(m.path.clone(), m.text.clone())
                .map_err(|e| EngineError::Load(e.to_string()))?;
        }
        engine
            .add_data(data.clone())
            .map_err(|e| EngineError::Load(e.to_string()))?;
        let own_refs = root_refs(&data);
        let prepared = Prepared {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            engine,
            own_refs,
            data,
            programs: RwLock::new(HashMap::new()),
            revision: revision.to_string(),
            evaluator,
            bundles: Default::default(),
        };
        for q in queries {
            prepared.compile(q);
        }
        Ok(prepared)
    }

    /// A policy set with no modules and no data (a placeholder until a bundle is loaded).
    pub fn empty() -> Self {
        Prepared {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            engine: regorus::Engine::new(),
            data: Value::new_object(),
            programs: RwLock::new(HashMap::new()),
            revision: String::new(),
            evaluator: Evaluator::Interpreter,
            bundles: Default::default(),
            own_refs: 1,
        }
    }

    /// Prepares Warden's compiled output for `data.warden.main.decision`.
    pub fn from_compiled(c: &warden_core::Compiled) -> Result<Self, EngineError> {
        let modules: Vec<Source> = c
            .modules
            .iter()
            .map(|(p, t)| Source {
                path: p.clone(),
                text: t.clone(),
            })
            .collect();
        // One allocation per distinct subtree: the data is most of a big set's memory.
        let data = crate::share::Sharer::new()
            .read(&c.data)
            .map_err(|e| EngineError::Load(e.to_string()))?;
        Self::new(&modules, data, &[warden_core::DECISION_QUERY], &c.revision)
    }

    /// Whether a thread's VM still holds this set's data (it lets go at its next evaluation).
    /// A replaced set is best freed once nothing else holds it, off the request threads: the
    /// last holder frees the whole data tree.
    pub fn in_use(&self) -> bool {
        root_refs(&self.data) > self.own_refs
    }

    /// Unique, increasing id of this set; VMs reload when it changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Revision of the policies (bundle revision or content hash).
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The bundles this set was merged from: name → revision (empty when not built from bundles).
    pub fn bundles(&self) -> &std::collections::BTreeMap<String, String> {
        &self.bundles
    }

    /// Records the bundles this set was merged from.
    pub fn with_bundles(mut self, bundles: std::collections::BTreeMap<String, String>) -> Self {
        self.bundles = bundles;
        self
    }

    /// The data document.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// Frees everything but the data document and hands that back, so that a caller can free
    /// it in pieces (see [`crate::share::drop_in_pieces`]).
    pub fn into_data(self) -> Value {
        self.data
    }

    /// Why `query` runs on the interpreter instead of the RVM, if it does.
    pub fn rvm_unavailable(&self, query: &str) -> Option<String> {
        match self.compile(query) {
            Compiled::Rvm(_) => None,
            Compiled::Interpreter(why) => Some(why),
        }
    }

    /// The RVM program for `query`, compiled on first use; `None` means use the interpreter.
    pub fn program(&self, query: &str) -> Option<Arc<Program>> {
        match self.compile(query) {
            Compiled::Rvm(p) => Some(p),
            Compiled::Interpreter(_) => None,
        }
    }

    fn compile(&self, query: &str) -> Compiled {
        if self.evaluator == Evaluator::Interpreter {
            return Compiled::Interpreter("the interpreter was chosen for this policy set".into());
        }
        if let Some(c) = self
            .programs
            .read()
            .ok()
            .and_then(|m| m.get(query).cloned())
        {
            return c;
        }
        let compiled = self
            .compile_rvm(query)
            .map_or_else(Compiled::Interpreter, Compiled::Rvm);
        if let Ok(mut m) = self.programs.write() {
            m.insert(query.to_string(), compiled.clone());
        }
        compiled
    }

    fn compile_rvm(&self, query: &str) -> Result<Arc<Program>, String> {
        let mut engine = self.engine.clone();
        let policy = engine
            .compile_with_entrypoint(&query.into())
            .map_err(|e| e.to_string())?;
        let program =
            Compiler::compile_from_policy(&policy, &[query]).map_err(|e| e.to_string())?;
        // Make sure the data fits the program before it is used for real.
        let mut vm = regorus::rvm::vm::RegoVM::new();
        vm.load_program(program.clone());
        vm.set_data(self.data.clone()).map_err(|e| e.to_string())?;
        Ok(program)
    }

    /// Evaluates `query` with the interpreter: any query OPA accepts, including packages and data.
    pub fn interpret(&self, query: &str, input: Value) -> Result<Value, EngineError> {
        let mut engine = self.engine.clone();
        engine.set_input(input);
        // A rule path evaluates fastest with eval_rule; anything else (packages, data, expressions)
        // goes through eval_query.
        if let Some(rule) = query.strip_prefix("data.") {
            if !rule.is_empty()
                && rule
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
            {
                match engine.eval_rule(query.to_string()) {
                    Ok(v) => return Ok(v),
                    Err(e) if !e.to_string().contains("not a valid rule path") => {
                        return Err(EngineError::Eval(e.to_string()))
                    }
                    Err(_) => {}
                }
            }
        }
        let results = engine
            .eval_query(query.to_string(), false)
            .map_err(|e| EngineError::Eval(e.to_string()))?;
        Ok(results
            .result
            .into_iter()
            .next()
            .and_then(|r| r.expressions.into_iter().next())
            .map_or(Value::Undefined, |e| e.value))
    }
}
