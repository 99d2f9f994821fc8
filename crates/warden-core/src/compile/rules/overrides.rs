//! Overrides: reviewed exceptions (only in `category: override` files) that waive named rules or
//! reasons for some agents, under conditions, until they expire.

use serde_json::{json, Map, Value};

use super::{selector, Walk, MAX_PRIORITY};
use crate::compile::cond::compile_conditions;
use crate::compile::may_override;

impl Walk<'_, '_> {
    pub(super) fn override_(
        &mut self,
        o: &crate::model::Override,
        i: usize,
        category: crate::model::Category,
    ) {
        let ptr = format!("/overrides/{i}");
        if !may_override(category) {
            self.sink.error(
                "override-outside-category",
                &ptr,
                "overrides may only appear in files with `category: override`".into(),
                Some("move this exception into a small, reviewed override file".into()),
            );
            return;
        }
        let id = format!("{}/override/{}", self.tenant, o.id);
        if !self.claim(&id, &ptr) {
            return;
        }
        let priority = o.priority.unwrap_or(10);
        if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
            self.sink.error_at_value(
                "invalid-priority",
                &format!("{ptr}/priority"),
                format!(
                    "priority must be within ±{MAX_PRIORITY}; built-in checks cannot be waived"
                ),
                None,
            );
            return;
        }
        // Selectors are checked as a rule's are (unknown tools, actions a tool does not have),
        // and with a tool selected, `when` conditions against its declared arguments.
        let decls = self.selector_decls(&o.tools, &o.actions, &ptr);
        let decls: crate::compile::cond::ArgDecls<'_> = match o.tools {
            Some(_) => decls.iter().collect(),
            None => vec![],
        };
        let (when, _) = compile_conditions(&mut self.sink, &o.when, &format!("{ptr}/when"), &decls);
        for (j, who) in o.agents.iter().enumerate().filter(|(_, w)| *w != "*") {
            let origin = self.origin(&format!("{ptr}/agents/{j}"));
            self.state
                .override_agents
                .push((self.tenant.clone(), who.clone(), origin));
        }
        let expires_ns = match &o.expires {
            None => Value::Null,
            Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
                Ok(dt) if dt < chrono::Utc::now() => {
                    self.sink.warn(
                        "override-expired",
                        &format!("{ptr}/expires"),
                        format!(
                            "override `{}` expired at {t}: it no longer waives anything",
                            o.id
                        ),
                        Some("remove it, or renew it with a new review and `expires`".into()),
                    );
                    dt.timestamp_nanos_opt().map_or(Value::Null, |n| json!(n))
                }
                Ok(dt) => dt.timestamp_nanos_opt().map_or(Value::Null, |n| json!(n)),
                Err(e) => {
                    self.sink.error_at_value(
                        "invalid-time",
                        &format!("{ptr}/expires"),
                        format!("`{t}` is not an RFC 3339 time: {e}"),
                        Some("write e.g. `2026-12-31T23:59:59Z`".into()),
                    );
                    return;
                }
            },
        };
        for (j, name) in o.waive.iter().enumerate() {
            self.state.waivers.push((
                self.tenant.clone(),
                name.clone(),
                self.origin(&format!("{ptr}/waive/{j}")),
                priority,
            ));
        }
        let value = json!({
            "id": id,
            "priority": priority,
            "tools": selector(&o.tools),
            "actions": selector(&o.actions),
            "waive": o.waive.iter().map(|w| (w.clone(), json!(true))).collect::<Map<_, _>>(),
            "when": when,
            "expires_ns": expires_ns,
            "justification": o.justification,
        });
        for who in &o.agents {
            self.tenant()
                .overrides
                .entry(who.clone())
                .or_default()
                .insert(id.clone(), value.clone());
        }
    }
}
