//! A policy set parsed and compiled once: Rego modules plus data, with RVM bytecode per query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::RegoVM;
use regorus::rvm::Program;
use regorus::Value;

use crate::{EngineError, MAX_INSTRUCTIONS};

/// One Rego module.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path used in error messages.
    pub path: String,
    /// Rego text.
    pub text: String,
}

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
    Rvm(Arc<Rvm>),
    /// The RVM compiler could not take this query; the interpreter evaluates it.
    Interpreter(String),
}

/// A query's RVM program and the VMs that run it: loaded with this set's program and data, kept
/// here between evaluations (not per thread), so a replaced set is held by nothing but the
/// evaluations still running on it. With one VM per thread instead, a thread that went idle
/// kept a replaced 10,000-agent set alive (~60 MB) until its next call, and then freed the whole
/// tree on that call.
struct Rvm {
    program: Arc<Program>,
    /// VMs not evaluating right now. Taken for one evaluation and put back: an uncontended lock
    /// each way, against a decision of thousands of instructions. Boxed so that taking and
    /// putting back moves a pointer, not the 712-byte VM.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<RegoVM>>>,
}

/// How many idle VMs a query keeps: about the threads that evaluate at once (more are dropped
/// when they come back, so a burst on many threads does not keep their VMs).
const MAX_IDLE_VMS: usize = 64;
/// How many distinct queries a set keeps compiled (Warden's own use a handful).
const MAX_PROGRAMS: usize = 256;

impl Rvm {
    /// A VM loaded with this program and `data` (an error when the data does not fit it).
    fn vm(&self, data: &Value) -> Result<Box<RegoVM>, String> {
        let mut vm = Box::new(RegoVM::new());
        vm.load_program(self.program.clone());
        vm.set_max_instructions(MAX_INSTRUCTIONS);
        vm.set_data(data.clone()).map_err(|e| e.to_string())?;
        Ok(vm)
    }

    fn take(&self, data: &Value) -> Result<Box<RegoVM>, EngineError> {
        match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(vm) => Ok(vm),
            None => self.vm(data).map_err(EngineError::Load),
        }
    }

    fn put_back(&self, vm: Box<RegoVM>) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_VMS {
                idle.push(vm);
            }
        }
    }

    fn run(&self, data: &Value, query: &str, input: Value) -> Result<Value, EngineError> {
        let mut vm = self.take(data)?;
        vm.set_input(input);
        let out = vm
            .execute()
            .map_err(|e| EngineError::Eval(format!("{query}: {e}")));
        // Do not keep the input alive between calls.
        vm.set_input(Value::Null);
        self.put_back(vm);
        out
    }
}

/// Modules and data, parsed and checked once, shared by every evaluation.
pub struct Prepared {
    engine: regorus::Engine,
    data: Value,
    programs: RwLock<HashMap<String, Compiled>>,
    revision: String,
    evaluator: Evaluator,
    bundles: std::collections::BTreeMap<String, String>,
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
        let prepared = Prepared {
            engine,
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
            engine: regorus::Engine::new(),
            data: Value::new_object(),
            programs: RwLock::new(HashMap::new()),
            revision: String::new(),
            evaluator: Evaluator::Interpreter,
            bundles: Default::default(),
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

    /// Frees everything but the data document (its VMs too) and hands that back, so that a
    /// caller can free it in pieces (see [`crate::share::drop_in_pieces`]).
    pub fn into_data(self) -> Value {
        self.data
    }

    /// Readies VMs for `query` (compiled first if need be) until `vms` are idle, so that the
    /// first calls after this set is activated do not each load one. Run where the set was
    /// built, off the request threads.
    pub fn warm(&self, query: &str, vms: usize) -> Result<(), EngineError> {
        let Compiled::Rvm(rvm) = self.compile(query) else {
            return Ok(());
        };
        let idle = rvm.idle.lock().map_or(0, |idle| idle.len());
        let ready = (idle..vms.min(MAX_IDLE_VMS))
            .map(|_| rvm.vm(&self.data))
            .collect::<Result<Vec<_>, _>>()
            .map_err(EngineError::Load)?;
        if let Ok(mut idle) = rvm.idle.lock() {
            idle.extend(ready);
        }
        Ok(())
    }

    /// Evaluates `query` against `input` on this set: on one of its VMs when the query compiled
    /// to RVM bytecode, else with the interpreter. Returns `Value::Undefined` when undefined.
    pub fn eval(&self, query: &str, input: Value) -> Result<Value, EngineError> {
        match self.compile(query) {
            Compiled::Rvm(rvm) => rvm.run(&self.data, query, input),
            Compiled::Interpreter(_) => self.interpret(query, input),
        }
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
            Compiled::Rvm(rvm) => Some(rvm.program.clone()),
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
            .map_or_else(Compiled::Interpreter, |rvm| Compiled::Rvm(Arc::new(rvm)));
        if let Ok(mut m) = self.programs.write() {
            // Queries come from callers (OPA's Data API takes any path): past the bound, a new
            // one is compiled for each call instead of kept, so they cannot grow the set.
            if m.len() < MAX_PROGRAMS {
                m.insert(query.to_string(), compiled.clone());
            }
        }
        compiled
    }

    /// `query` compiled to RVM bytecode, with one idle VM loaded with it and this set's data
    /// (loading it checks that the data fits the program before it is used for real).
    fn compile_rvm(&self, query: &str) -> Result<Rvm, String> {
        let mut engine = self.engine.clone();
        let policy = engine
            .compile_with_entrypoint(&query.into())
            .map_err(|e| e.to_string())?;
        let program =
            Compiler::compile_from_policy(&policy, &[query]).map_err(|e| e.to_string())?;
        let rvm = Rvm {
            program,
            idle: Mutex::new(Vec::new()),
        };
        rvm.put_back(rvm.vm(&self.data)?);
        Ok(rvm)
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
