//! Filtering list answers: `tools/list` hides the tools an agent may never call, and
//! `prompts/list` and `resources/list` the prompts and resources the policy names but does not
//! grant it.

use serde_json::Value;

use super::{Gate, Session, Unlisted};

/// The list methods whose answers are filtered ([`Gate::filter_list`]): the method, where its
/// answer keeps its entries, the field that names each, and the policy's action prefix for them.
const LISTS: [(&str, &str, &str, &str); 3] = [
    ("tools/list", "tools", "name", ""),
    ("prompts/list", "prompts", "name", "prompt:"),
    ("resources/list", "resources", "uri", "resource:"),
];

/// The list method `method` is, if its answer is filtered ([`Gate::filter_list`]).
pub fn listed(method: &str) -> Option<&'static str> {
    LISTS.iter().find(|l| l.0 == method).map(|l| l.0)
}

/// Where a list answer keeps its entries and what names each: `(key, field, action prefix)`
/// (see [`LISTS`]).
pub(crate) fn list_shape(method: &str) -> Option<(&'static str, &'static str, &'static str)> {
    LISTS
        .iter()
        .find(|l| l.0 == method)
        .map(|l| (l.1, l.2, l.3))
}

impl Gate {
    /// Whether `tools/list` should show `tool` to the session's agent.
    pub fn visible(&self, session: &Session, tool: &str) -> bool {
        self.unlisted == Unlisted::Show
            || self
                .svc
                .granted(&session.tenant, &session.agent, &self.server, tool)
                .unwrap_or(true)
    }

    /// Removes tools the session's agent may never call from a `tools/list` result.
    pub fn filter_tools(&self, session: &Session, result: &mut Value) {
        self.filter_list("tools/list", session, result);
    }

    /// Whether the policy names `action` of this server for the session's tenant (some agent
    /// has a plan for it).
    pub(super) fn named(&self, session: &Session, action: &str) -> bool {
        self.svc
            .named(&session.tenant, &self.server, action)
            .unwrap_or(false)
    }

    /// Filters the answer to a list request: `tools/list` hides tools the agent may never call;
    /// `prompts/list` and `resources/list` hide prompts (`prompt:NAME`) and resources
    /// (`resource:URI`) that the policy names but does not grant this agent. Prompts and
    /// resources the policy does not name pass unchanged.
    pub fn filter_list(&self, method: &str, session: &Session, result: &mut Value) {
        let Some((key, field, prefix)) = list_shape(method) else {
            return;
        };
        if let Some(items) = result.get_mut(key).and_then(Value::as_array_mut) {
            items.retain(|t| {
                let Some(n) = t.get(field).and_then(Value::as_str) else {
                    return false;
                };
                if prefix.is_empty() {
                    return self.visible(session, n);
                }
                let action = format!("{prefix}{n}");
                !self.named(session, &action) || self.visible(session, &action)
            });
        }
    }
}
