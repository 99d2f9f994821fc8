# Warden shared policy library (Rego v1). Hand-written, versioned, shared by every compiled policy.
#
# Compiled YAML policies are data under data.warden (see docs/policy-language.md, "Compiled form").
# Entry point: data.warden.main.decision.
#
# The compiler resolves everything that depends only on (tenant, agent, tool, action) into one
# plan per action, so a call costs one keyed lookup, and the common condition ops (presence, min,
# max, equals, matches, in, not_in) are checked inline from per-op lists. Other ops and `[*]`
# paths go through the generic `holds` path. Written for OPA and regorus' RVM alike: no `with`,
# no partial object rules with constant keys, no `walk` generators, only strings are sorted.
package warden.main

library_version := "1.4.0"

builtin_priority := 1000000000

# ---------------------------------------------------------------- lookups

tenant_id := input.tenant

agent_id := input.agent.id

tool := input.action.tool

act := input.action.type

tenant := data.warden.tenants[tenant_id]

agent := tenant.agents[agent_id]

tenant_known if tenant

agent_known if agent

# `is_object` tests every looked-up value explicitly: a plan must be an object, and regorus' RVM
# as published does not fail a body on an undefined assignment that nothing tests afterwards
# (S7 in docs/opa-compatibility.md; fixed in Warden's regorus).
plan := p if {
	p := agent.plans[tool][act]
	is_object(p)
}

# `act` is tested first: with `action.type` missing, OPA leaves `not agent.plans[tool][act]`
# undefined (it hoists the undefined operand out of the negation, S1 in opa-compatibility.md)
# while regorus makes it true; this way neither falls back to the "*" plan.
plan := p if {
	is_string(act)
	not agent.plans[tool][act]
	p := agent.plans[tool]["*"]
	is_object(p)
}

granted if plan

scope_plan := tenant.scopes[input.agent.scope]

default action_class := "write"

action_class := plan.class

default fail_mode := "closed"

fail_mode := "open" if plan.fail_open

# ---------------------------------------------------------------- failing rules
#
# failed: ids of rules (in the plan or the agent's scope) with a `require` condition that fails.

failed contains id if {
	some c in plan.present
	object.get(input, c.path, null) == null
	some id in c.rules
}

failed contains c.rule if {
	some c in plan.max
	v := object.get(input, c.path, null)
	is_number(v)
	v > c.value
}

failed contains c.rule if {
	some c in plan.max
	v := object.get(input, c.path, null)
	v != null
	not is_number(v)
}

failed contains c.rule if {
	some c in plan.min
	v := object.get(input, c.path, null)
	is_number(v)
	v < c.value
}

failed contains c.rule if {
	some c in plan.min
	v := object.get(input, c.path, null)
	v != null
	not is_number(v)
}

failed contains c.rule if {
	some c in plan.equals
	v := object.get(input, c.path, null)
	v != null
	v != c.value
}

failed contains c.rule if {
	some c in plan.matches
	v := object.get(input, c.path, null)
	is_string(v)
	not regex.match(c.value, v)
}

failed contains c.rule if {
	some c in plan.matches
	v := object.get(input, c.path, null)
	v != null
	not is_string(v)
}

failed contains c.rule if {
	some c in plan.one_of
	v := object.get(input, c.path, null)
	is_string(v)
	not c.value.strings[v]
}

failed contains c.rule if {
	some c in plan.one_of
	v := object.get(input, c.path, null)
	v != null
	not is_string(v)
	not member_of(v, c.value.others)
}

failed contains c.rule if {
	some c in plan.not_in
	v := object.get(input, c.path, null)
	is_string(v)
	c.value.strings[v]
}

failed contains c.rule if {
	some c in plan.not_in
	v := object.get(input, c.path, null)
	v != null
	not is_string(v)
	member_of(v, c.value.others)
}

failed contains c.rule if {
	some c in plan.generic
	not holds(c)
}

failed contains c.rule if {
	some c in scope_plan.generic
	not holds(c)
}

# Rules whose `when` conditions do not all hold do not apply.
inapplicable contains id if {
	some id, conds in plan.when
	some c in conds
	not when_applies(c)
}

# A rule's `when` lets the rule apply unless its condition provably fails. For
# `deny_path_prefixes` a path that cannot be checked (not normalized, or relative beside absolute
# prefixes) counts as outside the prefixes, so the rule applies (fail closed), where `require`
# counts it as failing.
when_applies(c) if holds(c)

when_applies(c) if {
	c.op == "deny_path_prefixes"
	not c.wild
	v := object.get(input, c.path, null)
	is_string(v)
	unchecked_path(c.value, v)
}

unchecked_path(_, v) if not safe_path(v)

unchecked_path(ps, v) if relative_beside_absolute(ps, v)

rule_info(id) := r if r := plan.rules[id]

rule_info(id) := r if {
	not plan.rules[id]
	r := scope_plan.rules[id]
}

# ---------------------------------------------------------------- conditions

# holds(c): condition c holds for the current input. Null counts as missing.
holds(c) if {
	not c.wild
	object.get(input, c.path, null) == null
	c.absent_ok
}

holds(c) if {
	not c.wild
	v := object.get(input, c.path, null)
	v != null
	check(c, v)
}

holds(c) if {
	c.wild
	object.get(input, c.prefix, null) == null
	c.absent_ok
}

holds(c) if {
	c.wild
	arr := object.get(input, c.prefix, null)
	is_array(arr)
	every x in arr {
		elem_holds(c, x)
	}
}

elem_holds(c, x) if {
	sub(x, c.suffix) == null
	c.absent_ok
}

elem_holds(c, x) if {
	v := sub(x, c.suffix)
	v != null
	check(c, v)
}

sub(x, s) := x if count(s) == 0

sub(x, s) := object.get(x, s, null) if {
	count(s) > 0
	is_object(x)
}

sub(x, s) := null if {
	count(s) > 0
	not is_object(x)
}

check(c, v) if {
	c.op == "equals"
	v == c.value
}

check(c, v) if {
	c.op == "not_equals"
	v != c.value
}

check(c, v) if {
	c.op == "in"
	is_string(v)
	c.value.strings[v]
}

check(c, v) if {
	c.op == "in"
	not is_string(v)
	some x in c.value.others
	x == v
}

check(c, v) if {
	c.op == "not_in"
	is_string(v)
	not c.value.strings[v]
}

check(c, v) if {
	c.op == "not_in"
	not is_string(v)
	not member_of(v, c.value.others)
}

check(c, v) if {
	c.op == "min"
	is_number(v)
	v >= c.value
}

check(c, v) if {
	c.op == "max"
	is_number(v)
	v <= c.value
}

check(c, v) if {
	c.op == "matches"
	is_string(v)
	regex.match(c.value, v)
}

check(c, v) if {
	c.op == "not_matches"
	not text_matches(c.value, v)
}

check(c, v) if {
	c.op == "min_length"
	sized(v)
	count(v) >= c.value
}

check(c, v) if {
	c.op == "max_length"
	sized(v)
	count(v) <= c.value
}

check(c, v) if {
	c.op == "domains"
	host_allowed(c.value, v)
}

check(c, v) if {
	c.op == "path_prefixes"
	safe_path(v)
	some p in c.value
	startswith(v, p)
}

check(c, v) if {
	c.op == "deny_path_prefixes"
	safe_path(v)
	not prefixed(c.value, v)
	not relative_beside_absolute(c.value, v)
}

check(c, v) if {
	c.op == "contains"
	is_array(v)
	member_of(c.value, v)
}

check(c, v) if {
	c.op == "subset_of"
	is_array(v)
	every x in v {
		member_of(x, c.value)
	}
}

check(c, v) if {
	c.op == "subset_of_path"
	is_array(v)
	other := object.get(input, c.value, [])
	is_array(other)
	every x in v {
		member_of(x, other)
	}
}

check(c, v) if {
	c.op == "type"
	type_ok(c.value, v)
}

check(c, v) if {
	c.op == "within"
	is_string(v)
	in_window(c.value, v)
}

member_of(x, arr) if {
	some y in arr
	y == x
}

sized(v) if is_string(v)

sized(v) if is_array(v)

# A denied prefix `/a/b/` covers the directory `/a/b` itself too.
prefixed(ps, v) if {
	some p in ps
	startswith(v, p)
}

prefixed(ps, v) if {
	some p in ps
	endswith(p, "/")
	v == trim_suffix(p, "/")
}

# A relative path cannot be checked against absolute prefixes: it resolves against a working
# directory the policy does not know (`etc/passwd` from `/` is `/etc/passwd`).
relative_beside_absolute(ps, v) if {
	not startswith(v, "/")
	some p in ps
	startswith(p, "/")
}

# text_matches(re, v): v is a string matching re, or a collection with a string matching re within
# five levels. Collections nested deeper count as matching (fail closed): they cannot be scanned.
text_matches(re, v) if {
	is_string(v)
	regex.match(re, v)
}

text_matches(re, v) if {
	coll(v)
	some s in nested_strings(v)
	regex.match(re, s)
}

text_matches(_, v) if {
	coll(v)
	too_deep(v)
}

coll(x) if is_object(x)

coll(x) if is_array(x)

# The strings in a collection's first five levels: values, and objects' keys (a serialized
# body sends a key as text, so a key can carry what a value can).
# Each level is one comprehension over values and one over keys (not a `union` of per-object
# sets, which regorus builds by copying the growing result: quadratic on large bodies).
nested_strings(v) := (((l1 | l2) | l3) | l4) | l5 if {
	l1 := {x | some x in v; is_string(x)} | {k | is_object(v); some k, _ in v}
	l2 := {x | some a in v; coll(a); some x in a; is_string(x)} | {k | some a in v; is_object(a); some k, _ in a}
	l3 := {x | some a in v; coll(a); some b in a; coll(b); some x in b; is_string(x)} | {k | some a in v; coll(a); some b in a; is_object(b); some k, _ in b}
	l4 := {x | some a in v; coll(a); some b in a; coll(b); some c in b; coll(c); some x in c; is_string(x)} | {k | some a in v; coll(a); some b in a; coll(b); some c in b; is_object(c); some k, _ in c}
	l5 := {x | some a in v; coll(a); some b in a; coll(b); some c in b; coll(c); some d in c; coll(d); some x in d; is_string(x)} | {k | some a in v; coll(a); some b in a; coll(b); some c in b; coll(c); some d in c; is_object(d); some k, _ in d}
}

too_deep(v) if {
	some a in v
	coll(a)
	some b in a
	coll(b)
	some c in b
	coll(c)
	some d in c
	coll(d)
	some e in d
	coll(e)
}

type_ok(t, _) if t == "any"

type_ok(t, v) if {
	t == "string"
	is_string(v)
}

type_ok(t, v) if {
	t == "number"
	is_number(v)
}

type_ok(t, v) if {
	t == "integer"
	is_number(v)
	v == round(v)
}

type_ok(t, v) if {
	t == "boolean"
	is_boolean(v)
}

type_ok(t, v) if {
	t == "object"
	is_object(v)
}

type_ok(t, v) if {
	t == "array"
	is_array(v)
}

# A normalized file path: no NUL, no `.` or `..` segment, no empty segment (`//`), no backslash.
safe_path(v) if {
	is_string(v)
	not contains(v, "\u0000")
	not contains(v, "\\")
	not contains(v, "//")
	not regex.match(`(^|/)\.\.?(/|$)`, v)
}

# host_allowed(ds, v): v is a URL or a host whose host is a key of ds or lies under one.
host_allowed(ds, v) if {
	h := host_of(v)
	h != ""
	labels := split(h, ".")
	n := count(labels)
	some i in numbers.range(0, n - 1)
	ds[concat(".", array.slice(labels, i, n))]
}

host_of(v) := lower(trim_right(m[0][1], ".")) if {
	is_string(v)
	not regex.match(`[\s\\]`, v)
	m := regex.find_all_string_submatch_n(`^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//(?:[^@/?#]*@)?([^:/?#\[\]]*)`, v, 1)
	count(m) == 1
	# A URL's host holds what a bare host may: letters, digits, `.` and `-` (no NUL, `%`, `／`).
	regex.match(`^[A-Za-z0-9.\-]*$`, m[0][1])
}

host_of(v) := lower(trim_right(v, ".")) if {
	is_string(v)
	regex.match(`^[A-Za-z0-9.\-]+$`, v)
}

# An e-mail address: the host is the domain after its only `@`.
host_of(v) := lower(trim_right(m[0][1], ".")) if {
	is_string(v)
	m := regex.find_all_string_submatch_n(`^[^@\s/\\:]+@([A-Za-z0-9.\-]+)$`, v, 1)
	count(m) == 1
}

# in_window(w, ts): RFC 3339 time ts falls in weekly window w {days, start, end, tz}.
# Warden rejects malformed times before evaluation; the shape check keeps OPA and regorus alike.
# A window that wraps past midnight (22:00-06:00) belongs to the day it opens: its early hours
# are checked against the day before (`days: [fri]` is Friday 22:00 to Saturday 06:00).
in_window(w, ts) if {
	rfc3339(ts)
	ns := time.parse_rfc3339_ns(ts)
	clock := time.clock([ns, w.tz])
	m := (clock[0] * 60) + clock[1]
	minute_ok(w, m)
	day_ok(w.days, window_day(w, time.weekday([ns, w.tz]), m))
}

window_day(w, d, m) := d if not after_midnight(w, m)

window_day(w, d, m) := day_before[d] if after_midnight(w, m)

after_midnight(w, m) if {
	w.start > w.end
	m < w.end
}

day_before := {
	"Monday": "Sunday", "Tuesday": "Monday", "Wednesday": "Tuesday", "Thursday": "Wednesday",
	"Friday": "Thursday", "Saturday": "Friday", "Sunday": "Saturday",
}

# RFC 3339 as OPA's time builtins parse it: upper-case `T` and `Z`, no leap second.
rfc3339(ts) if regex.match(`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`, ts)

day_ok(days, _) if days == null

day_ok(days, d) if days[d]

minute_ok(w, m) if {
	w.start <= w.end
	m >= w.start
	m < w.end
}

minute_ok(w, m) if {
	w.start > w.end
	m >= w.start
}

minute_ok(w, m) if {
	w.start > w.end
	m < w.end
}

# ---------------------------------------------------------------- violations
#
# raw[key] := {"vio", "mode", "priority"}. The key sorts violations most severe first:
# "<rank>|<rule>|<reason>", rank 0 deny, 1 rate_limited, 2 approval_needed, 3 sanitize.

raw[k] := r.x if {
	some id in failed
	not inapplicable[id]
	r := rule_info(id)
	k := r.key
}

raw[k] := r.x if {
	some id in redacting_rules
	r := plan.rules[id]
	k := r.key
}

# Asked without an input object (OPA's Data API with no `input`, or an array): nothing to decide
# on, so denied. Without this rule no violation would hold and the call would be allowed.
raw[k] := x if {
	not is_object(input)
	k := "0|warden/invalid_input|invalid_input"
	x := builtin(
		"warden/invalid_input", "invalid_input",
		"the decision input is missing or not a JSON object",
		"Send the call as a JSON object with tenant, agent and action (see docs/policy-language.md).",
	)
}

raw[k] := x if {
	is_object(input)
	not tenant_known
	k := "0|warden/unknown_tenant|unknown_tenant"
	x := builtin(
		"warden/unknown_tenant", "unknown_tenant",
		concat("", ["tenant '", tenant_label, "' has no policies"]),
		"Check the tenant id, or add a policy file for this tenant.",
	)
}

raw[k] := x if {
	tenant_known
	not agent_known
	k := "0|warden/unknown_agent|unknown_agent"
	x := builtin(
		"warden/unknown_agent", "unknown_agent",
		concat("", ["agent '", agent_label, "' is not known to tenant '", tenant_id, "'"]),
		"Register the agent in a policy file before it calls tools.",
	)
}

raw[k] := x if {
	agent_known
	not granted
	k := "0|warden/tool_not_allowed|tool_not_allowed"
	x := builtin(
		"warden/tool_not_allowed", "tool_not_allowed",
		concat("", ["agent '", agent_id, "' may not call '", tool_label, "' action '", action_label, "'"]),
		"Ask the policy owners to grant this tool and action to the agent.",
	)
}

raw[k] := x if {
	plan.forbidden
	k := "0|warden/tool_not_allowed|tool_forbidden"
	x := builtin(
		"warden/tool_not_allowed", "tool_forbidden",
		concat("", ["agent '", agent_id, "' is forbidden to call '", tool, "' action '", act, "'"]),
		"This action is explicitly forbidden for this agent.",
	)
}

# Data classes: the user must be authorized for every class the call carries, and each class may be
# restricted to regions, tools and (when the call names one in args.model) models.
raw[k] := x if {
	agent_known
	some dc in input.action.data_classes_referenced
	not member_of(dc, object.get(input, ["user", "data_classifications_authorized"], []))
	k := concat("", ["0|warden/data_class|data_class_unauthorized_for_user|", to_text(dc)])
	x := builtin(
		"warden/data_class", "data_class_unauthorized_for_user",
		concat("", ["the user is not authorized for data class '", to_text(dc), "'"]),
		"Request elevated data access for this data class.",
	)
}

raw[k] := x if {
	agent_known
	some dc in input.action.data_classes_referenced
	allowed := tenant.data_classes[dc].regions
	allowed != null
	not allowed[object.get(input, ["environment", "region"], "")]
	k := concat("", ["0|warden/data_class|data_class_region_not_allowed|", dc])
	x := builtin(
		"warden/data_class", "data_class_region_not_allowed",
		concat("", ["data class '", dc, "' may not be processed in region '", to_text(object.get(input, ["environment", "region"], "")), "'"]),
		"Route the call to a region approved for this data class.",
	)
}

raw[k] := x if {
	agent_known
	some dc in input.action.data_classes_referenced
	allowed := tenant.data_classes[dc].tools
	allowed != null
	is_string(tool) # S1, as for `plan`
	not allowed[tool]
	k := concat("", ["0|warden/data_class|data_class_tool_not_allowed|", dc])
	x := builtin(
		"warden/data_class", "data_class_tool_not_allowed",
		concat("", ["data class '", dc, "' may not be sent to tool '", tool_label, "'"]),
		"Use a tool approved for this data class.",
	)
}

raw[k] := x if {
	agent_known
	some dc in input.action.data_classes_referenced
	allowed := tenant.data_classes[dc].models
	allowed != null
	model := object.get(input, ["action", "args", "model"], null)
	model != null
	not allowed[model]
	k := concat("", ["0|warden/data_class|data_class_model_not_allowed|", dc])
	x := builtin(
		"warden/data_class", "data_class_model_not_allowed",
		concat("", ["data class '", dc, "' may not be sent to model '", to_text(model), "'"]),
		"Use a model approved for this data class.",
	)
}

# Stateful limits: over the limit with this call's cost.
raw[k] := l.x if {
	some l in plan.limits
	used(l) + cost(l) > l.max
	k := l.key
}

raw[k] := x if {
	some l in plan.limits
	l.kind == "budget"
	not valid_amount(object.get(input, l.path, null))
	k := concat("", ["0|", l.id, "|budget_argument_invalid"])
	x := builtin(
		l.id, "budget_argument_invalid",
		concat("", ["budget '", l.id, "' needs a non-negative number at ", l.label]),
		"Pass the amount as a non-negative number.",
	)
}

# Bring-your-own Rego: packages under data.warden.custom contribute `violations`, gathered by the
# generated data.warden.custom_all. A violation with an unknown outcome or no reason still denies.
raw[k] := x if {
	agent_known
	some cv in data.warden.custom_all.violations
	outcome := custom_outcome(cv)
	reason := custom_reason(cv)
	message := to_text(object.get(cv, "message", reason))
	k := concat("", [rank[outcome], "|", cv.rule, "|", reason, "|", message, "|", to_text(object.get(cv, "remediation", null))])
	x := {
		"vio": {
			"rule": cv.rule,
			"reason": reason,
			"outcome": outcome,
			"message": message,
			"remediation": object.get(cv, "remediation", null),
		},
		"mode": "enforce",
		"priority": 0,
	}
}

# `else` rather than `default`: regorus' RVM ignores `default` on functions.
custom_outcome(cv) := cv.outcome if {
	cv.outcome in {"deny", "approval_needed"}
} else := "deny"

custom_reason(cv) := cv.reason if {
	is_string(cv.reason)
} else := "custom_violation"

rank := {"deny": "0", "rate_limited": "1", "approval_needed": "2", "sanitize": "3"}

builtin(rule, reason, message, remediation) := {
	"vio": {"rule": rule, "reason": reason, "outcome": "deny", "message": message, "remediation": remediation},
	"mode": "enforce",
	"priority": builtin_priority,
}

tenant_label := to_text(object.get(input, "tenant", null)) if is_object(input)

agent_label := to_text(object.get(input, ["agent", "id"], null)) if is_object(input)

tool_label := to_text(object.get(input, ["action", "tool"], null)) if is_object(input)

action_label := to_text(object.get(input, ["action", "type"], null)) if is_object(input)

to_text(x) := x if is_string(x)

to_text(x) := json.marshal(x) if not is_string(x)

# ---------------------------------------------------------------- overrides

overrides[oid] := o if {
	some oid, o in plan.overrides
	not expired(o)
	every c in o.when {
		when_holds(c)
	}
}

# when_holds(c): an override's condition holds on a value that is there. A waiver needs
# evidence: a missing value, an empty `[*]` list, or a value of another type than a negative
# condition compares with (`not_in: [IR, KP]` against `["KP"]`) does not waive anything (a
# rule's `when` with a negative condition applies on a missing value, which fails closed).
when_holds(c) if {
	not c.wild
	v := object.get(input, c.path, null)
	v != null
	comparable(c, v)
	check(c, v)
}

when_holds(c) if {
	c.wild
	arr := object.get(input, c.prefix, null)
	is_array(arr)
	count(arr) > 0
	every x in arr {
		v := sub(x, c.suffix)
		v != null
		comparable(c, v)
		check(c, v)
	}
}

comparable(c, _) if not negative_ops[c.op]

comparable(c, v) if {
	c.op == "not_equals"
	type_name(v) == type_name(c.value)
}

comparable(c, v) if {
	c.op == "not_in"
	is_string(v)
	count(c.value.strings) > 0
}

comparable(c, v) if {
	c.op == "not_in"
	not is_string(v)
	some x in c.value.others
	type_name(x) == type_name(v)
}

comparable(c, v) if {
	c.op == "not_matches"
	is_string(v)
}

comparable(c, v) if {
	c.op == "not_matches"
	coll(v)
}

comparable(c, v) if {
	c.op == "deny_path_prefixes"
	is_string(v)
}

negative_ops := {"not_equals", "not_in", "not_matches", "deny_path_prefixes"}

expired(o) if {
	o.expires_ns != null
	rfc3339(input.environment.time)
	time.parse_rfc3339_ns(input.environment.time) >= o.expires_ns
}

expired(o) if {
	o.expires_ns != null
	not rfc3339(object.get(input, ["environment", "time"], ""))
}

# waivers[k]: ids of the overrides that waive violation k, sorted.
waivers[k] := ws if {
	plan.overrides
	some k, x in raw
	x.mode == "enforce"
	ws := [oid |
		some oid in sort(object.keys(overrides))
		o := overrides[oid]
		o.priority > x.priority
		waives(o, x.vio)
	]
	count(ws) > 0
}

waives(o, v) if o.waive[v.reason]

waives(o, v) if o.waive[v.rule]

# ---------------------------------------------------------------- limits

limit_key(l) := concat("|", [l.id, agent_id]) if l.per == "agent"

limit_key(l) := concat("|", [l.id, agent_id, tool]) if l.per == "agent_tool"

limit_key(l) := l.id if l.per == "tenant"

used(l) := object.get(input, ["state", "usage", limit_key(l)], 0)

cost(l) := 1 if l.kind == "rate"

cost(l) := c if {
	l.kind == "budget"
	c := object.get(input, l.path, null)
	valid_amount(c)
}

cost(l) := 0 if {
	l.kind == "budget"
	not valid_amount(object.get(input, l.path, null))
}

valid_amount(c) if {
	is_number(c)
	c >= 0
}

default consume := []

consume := [entry |
	some l in plan.limits
	entry := {
		"key": limit_key(l),
		"limit": l.id,
		"kind": l.kind,
		"cost": cost(l),
		"max": l.max,
		"window_seconds": l.window_seconds,
		"used": used(l),
		"shadow": l.shadow,
	}
]

# Room left in call-count limits (budgets are in their own units and are reported in `consume`).
remaining := [r |
	some e in consume
	e.kind == "rate"
	not e.shadow
	r := max([0, (e.max - e.used) - e.cost])
]

default rate_limit_remaining := null

rate_limit_remaining := min(remaining) if count(remaining) > 0

# ---------------------------------------------------------------- redactions

# scan: [rule id, JSON pointer, value] for every present value a redact rule looks at.
scan contains [rd.rule, t.pointer, v] if {
	some rd in plan.redact
	not inapplicable[rd.rule]
	some t in rd.targets
	not t.wild
	v := object.get(input, t.path, null)
	v != null
}

scan contains [rd.rule, ptr, v] if {
	some rd in plan.redact
	not inapplicable[rd.rule]
	some t in rd.targets
	t.wild
	arr := object.get(input, t.prefix, null)
	is_array(arr)
	some i, x in arr
	v := sub(x, t.suffix)
	v != null
	ptr := concat("", [t.pointer_prefix, "/", format_int(i, 10), t.pointer_suffix])
}

redact_spec[rd.rule] := rd if some rd in plan.redact

found[k] := red if {
	some [id, ptr, v] in scan
	some p in redact_spec[id].patterns
	text_matches(p.regex, v)
	k := concat("|", [ptr, p.name, id])
	red := {"path": ptr, "name": p.name, "pattern": p.applied, "replacement": p.replacement, "rule": id}
}

found[k] := red if {
	some [id, ptr, _] in scan
	rd := redact_spec[id]
	count(rd.patterns) == 0
	k := concat("|", [ptr, "field", id])
	red := {"path": ptr, "name": "field", "pattern": null, "replacement": rd.field_replacement, "rule": id}
}

redacting_rules contains red.rule if some _, red in found

# ---------------------------------------------------------------- the decision

raw_keys := sort(object.keys(raw))

enforced_keys := [k |
	some k in raw_keys
	raw[k].mode == "enforce"
	not waivers[k]
]

violations := [raw[k].vio | some k in enforced_keys]

shadow_violations := [raw[k].vio |
	some k in raw_keys
	raw[k].mode == "shadow"
]

waived := [{"rule": raw[k].vio.rule, "reason": raw[k].vio.reason, "by": ws[0]} |
	some k in sort(object.keys(waivers))
	ws := waivers[k]
]

enforced_rules := {v.rule | some v in violations}

redactions := [found[k] |
	some k in sort(object.keys(found))
	enforced_rules[found[k].rule]
]

default outcome := "allow"

outcome := violations[0].outcome if count(violations) > 0

allow := outcome in {"allow", "sanitize"}

reasons := sort({v.reason | some v in violations})

remediations := [t |
	some v in violations
	t := v.remediation
	t != null
]

default remediation := null

remediation := remediations[0] if count(remediations) > 0

default would_deny := false

would_deny if {
	some v in shadow_violations
	v.outcome != "sanitize"
}

default matched_rules := []

matched_rules := plan.matched if {
	not plan.when
	not scope_plan
}

matched_rules := sort([id |
	some id in array.concat(object.get(plan, "matched", []), [s | some s, _ in scope_plan.rules])
	not inapplicable[id]
]) if {
	plan
	scope_plan
}

matched_rules := sort([id |
	some id in plan.matched
	not inapplicable[id]
]) if {
	plan.when
	not scope_plan
}

default audit_required := false

audit_required if outcome != "allow"

audit_required if action_class == "write"

audit_required if would_deny

default appeal_path := null

appeal_path := tenant.appeal_path if outcome != "allow"

default meta := {}

# A tenant served from its own bundle (`warden bundle build --tenant`) carries its own meta.
meta := object.get(object.get(data.warden.tenants, input.tenant, {}), "meta", data.warden.meta) if {
	is_object(data.warden.meta)
} else := data.warden.tenants[input.tenant].meta

# Simple plans (only presence, min/max, min_length/max_length, in/equals and matches conditions;
# no limits, redaction, overrides or `when`) carry `fast`: every rule's constraints in flat lists
# keyed by the rule's sort key, plus the precomputed allow decision. A few comprehensions
# (`failing_rules`) find the failing rules; none failing means the precomputed decision (the fast
# path), otherwise the decision is built from the failing rules alone (the medium path). Every
# other call takes the full path. All give the same answer (tested on every example input, and
# against OPA).
decision := simple_decision(simple_plan)

decision := full_decision if not simple_plan

simple_plan := f if {
	f := data.warden.tenants[input.tenant].agents[input.agent.id].plans[input.action.tool][input.action.type].fast
	is_object(f)
	count(object.get(input.action, "data_classes_referenced", [])) == 0
}

# The fast path: the merged constraints hold, so no rule fails.
simple_decision(f) := f.allow if {
	passes(f)
} else := d if {
	keys := sort(failing_rules(f))
	vs := [f.vio[k] | some k in keys; not f.shadow[k]]
	svs := [f.vio[k] | some k in keys; f.shadow[k]]
	out := array.concat(vs, [{"outcome": "allow"}])[0].outcome
	would := count(svs) > 0
	allowed := count([1 | out == "allow"])
	d := {
		"allow": out == "allow",
		"outcome": out,
		"reasons": sort({v.reason | some v in vs}),
		"remediation": array.concat([v.remediation | some v in vs; v.remediation != null], [null])[0],
		"violations": vs,
		"waived": [],
		"redactions": [],
		"consume": [],
		"would_deny": would,
		"shadow_violations": svs,
		"fail_mode": f.allow.fail_mode,
		"metadata": {
			"policy_version": f.allow.metadata.policy_version,
			"bundle_revision": f.allow.metadata.bundle_revision,
			"library_version": f.allow.metadata.library_version,
			"matched_rules": f.allow.metadata.matched_rules,
			"rate_limit_remaining": null,
			"audit_required": true in [out != "allow", f.allow.metadata.audit_required, would],
			"appeal_path": [f.appeal_path, null][allowed],
		},
	}
}

# passes(f): the input satisfies the merged constraints of simple plan f. The `every`s are
# written out in one body: a function call per check costs the fast path ~2k VM instructions per
# decision. (Until Warden patched regorus, the RVM mis-evaluated a statement after an `every` over
# an empty collection, S8 in docs/opa-compatibility.md, so each `every` had a function of its own.)
passes(f) if {
	every c in f.num {
		v := object.get(input, c.path, null)
		is_number(v)
		v >= c.lo
		v <= c.hi
	}
	every c in object.get(f, "len", []) {
		v := object.get(input, c.path, null)
		sized(v)
		count(v) >= c.lo
		count(v) <= c.hi
	}
	every c in f["in"] {
		c.allowed[object.get(input, c.path, null)]
	}
	every c in f.re {
		v := object.get(input, c.path, null)
		is_string(v)
		regex.match(c.re, v)
	}
}

# failing_rules(f): sort keys of the rules of simple plan f whose own constraints fail, in one
# body (a function call per comprehension costs the medium path ~2k VM instructions each). Until
# Warden patched regorus, a comprehension over an empty list here (e.g. no numeric constraints)
# corrupted the `not` of the next one on the RVM (S9 in docs/opa-compatibility.md), so each had
# a function of its own.
failing_rules(f) := {c.key | some c in f.rnum; not is_number(object.get(input, c.path, null))} | {c.key |
	some c in f.rnum
	v := object.get(input, c.path, null)
	is_number(v)
	v < c.lo
} | {c.key |
	some c in f.rnum
	v := object.get(input, c.path, null)
	is_number(v)
	v > c.hi
} | {c.key | some c in f.rin; not c.allowed[object.get(input, c.path, null)]} | {c.key | some c in f.rre; not is_string(object.get(input, c.path, null))} | {c.key |
	some c in f.rre
	v := object.get(input, c.path, null)
	is_string(v)
	not regex.match(c.re, v)
} | {c.key | some c in object.get(f, "rlen", []); not length_within(c, object.get(input, c.path, null))}

length_within(c, v) if {
	sized(v)
	count(v) >= c.lo
	count(v) <= c.hi
}

full_decision := {
	"allow": allow,
	"outcome": outcome,
	"reasons": reasons,
	"remediation": remediation,
	"violations": violations,
	"waived": waived,
	"redactions": redactions,
	"consume": consume,
	"would_deny": would_deny,
	"shadow_violations": shadow_violations,
	"fail_mode": fail_mode,
	"metadata": {
		"policy_version": object.get(meta, "policy_version", "unversioned"),
		"bundle_revision": object.get(meta, "revision", ""),
		"library_version": library_version,
		"matched_rules": matched_rules,
		"rate_limit_remaining": rate_limit_remaining,
		"audit_required": audit_required,
		"appeal_path": appeal_path,
	},
}
