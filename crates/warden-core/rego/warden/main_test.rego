# Unit tests of the shared library (opa test style). Run by `cargo test` (regorus) and by the
# differential suite (real OPA).
package warden.main_test

import data.warden.main

path_rule := {"key": "0|t/a/fs/read/p|bad_path", "x": {
	"vio": {"rule": "t/a/fs/read/p", "reason": "bad_path", "outcome": "deny", "message": "m", "remediation": null},
	"mode": "enforce", "priority": 0,
}}

domain_rule := {"key": "0|t/a/mail/send/d|bad_domain", "x": {
	"vio": {"rule": "t/a/mail/send/d", "reason": "bad_domain", "outcome": "deny", "message": "m", "remediation": null},
	"mode": "shadow", "priority": 0,
}}

rate_limit := {
	"id": "t/a/*/*/l", "kind": "rate", "per": "agent", "max": 2, "window_seconds": 60, "path": null, "label": null,
	"key": "1|t/a/*/*/l|rate_limit_exceeded", "shadow": false,
	"x": {"vio": {"rule": "t/a/*/*/l", "reason": "rate_limit_exceeded", "outcome": "rate_limited", "message": "m", "remediation": "wait"}, "mode": "enforce", "priority": 0},
}

tenants := {"t": {
	"appeal_path": "https://appeal",
	"scopes": {},
	"data_classes": {"phi": {"regions": {"us": true}, "tools": null, "models": null}},
	"agents": {"a": {"plans": {
		"fs": {"read": {
			"class": "read", "fail_open": true,
			"rules": {"t/a/fs/read/p": path_rule},
			"matched": ["t/a/fs/read/p"],
			"generic": [{"rule": "t/a/fs/read/p", "wild": false, "path": ["action", "args", "path"], "op": "path_prefixes", "value": ["/srv/"], "absent_ok": false, "label": "args.path"}],
		}},
		"mail": {"send": {
			"class": "write",
			"rules": {"t/a/mail/send/d": domain_rule},
			"matched": ["t/a/*/*/l", "t/a/mail/send/d"],
			"generic": [{"rule": "t/a/mail/send/d", "wild": true, "prefix": ["action", "args", "to"], "suffix": [], "op": "domains", "value": {"ok.com": true}, "absent_ok": false, "label": "args.to[*]"}],
			"limits": [rate_limit],
		}},
		"search": {"*": {"forbidden": true}},
	}}},
}}

call(tool, type, args) := {"tenant": "t", "agent": {"id": "a"}, "action": {"tool": tool, "type": type, "args": args}, "environment": {"time": "2026-11-23T10:00:00Z", "region": "us"}}

test_unknown_tenant_is_denied if {
	d := main.decision with input as {"tenant": "x", "agent": {"id": "a"}, "action": {"tool": "fs", "type": "read"}} with data.warden.tenants as tenants
	d.outcome == "deny"
	d.reasons == ["unknown_tenant"]
}

test_missing_agent_id_is_denied if {
	d := main.decision with input as {"tenant": "t", "action": {"tool": "fs", "type": "read"}} with data.warden.tenants as tenants
	d.reasons == ["unknown_agent"]
}

test_path_prefix_allows_and_denies if {
	ok := main.decision with input as call("fs", "read", {"path": "/srv/a.txt"}) with data.warden.tenants as tenants
	ok.outcome == "allow"
	ok.fail_mode == "open"
	bad := main.decision with input as call("fs", "read", {"path": "/srv/../etc/passwd"}) with data.warden.tenants as tenants
	bad.reasons == ["bad_path"]
	missing := main.decision with input as call("fs", "read", {}) with data.warden.tenants as tenants
	missing.outcome == "deny"
}

test_forbid_narrows_tenant_grant if {
	d := main.decision with input as call("search", "query", {}) with data.warden.tenants as tenants
	d.reasons == ["tool_forbidden"]
}

test_shadow_rule_reports_would_deny if {
	d := main.decision with input as call("mail", "send", {"to": ["x@ok.com", "https://evil.com/"]}) with data.warden.tenants as tenants
	d.outcome == "allow"
	d.would_deny == true
	d.shadow_violations[0].reason == "bad_domain"
}

test_subdomains_pass_lookalikes_fail if {
	main.host_allowed({"ok.com": true}, "https://api.ok.com/v1")
	main.host_allowed({"ok.com": true}, "ok.com")
	not main.host_allowed({"ok.com": true}, "https://ok.com.evil.com/")
	not main.host_allowed({"ok.com": true}, "https://notok.com/")
	not main.host_allowed({"ok.com": true}, "https://ok.com@evil.com/")
	not main.host_allowed({"ok.com": true}, "https://ok.com\\@evil.com/")
}

test_rate_limit_counts_state if {
	inp := object.union(call("mail", "send", {"to": ["x@ok.com"]}), {"state": {"usage": {"t/a/*/*/l|a": 1}}})
	ok := main.decision with input as inp with data.warden.tenants as tenants
	ok.outcome == "allow"
	ok.metadata.rate_limit_remaining == 0
	ok.consume[0].key == "t/a/*/*/l|a"
	full := main.decision with input as object.union(inp, {"state": {"usage": {"t/a/*/*/l|a": 2}}}) with data.warden.tenants as tenants
	full.outcome == "rate_limited"
}

test_data_class_needs_authorized_user_and_region if {
	inp := object.union(call("fs", "read", {"path": "/srv/x"}), {"action": {"data_classes_referenced": ["phi"]}})
	d := main.decision with input as inp with data.warden.tenants as tenants
	d.reasons == ["data_class_unauthorized_for_user"]
	ok := main.decision with input as object.union(inp, {"user": {"data_classifications_authorized": ["phi"]}}) with data.warden.tenants as tenants
	ok.outcome == "allow"
	eu := main.decision with input as object.union(inp, {"user": {"data_classifications_authorized": ["phi"]}, "environment": {"region": "eu"}}) with data.warden.tenants as tenants
	eu.reasons == ["data_class_region_not_allowed"]
}

test_time_windows if {
	w := {"days": {"Monday": true}, "start": 540, "end": 1080, "tz": "America/New_York"}
	main.in_window(w, "2026-11-23T14:00:00Z")
	not main.in_window(w, "2026-11-23T13:59:00Z")
	not main.in_window(w, "2026-11-23T23:00:00Z")
	not main.in_window(w, "2026-11-24T15:00:00Z")
	overnight := {"days": null, "start": 1320, "end": 360, "tz": "UTC"}
	main.in_window(overnight, "2026-11-24T23:30:00Z")
	main.in_window(overnight, "2026-11-24T05:59:00Z")
	not main.in_window(overnight, "2026-11-24T12:00:00Z")
}

test_text_matches_nested_and_too_deep if {
	main.text_matches("[0-9]{3}-[0-9]{2}", {"a": [{"b": "ssn 123-45-6789"}]})
	not main.text_matches("[0-9]{3}-[0-9]{2}", {"a": [{"b": "clean"}]})
	main.text_matches("never", [[[[[["deep"]]]]]])
}

test_tenant_bundle_meta_names_the_version if {
	t := object.union(tenants, {"t": object.union(tenants.t, {"meta": {"policy_version": "9.9", "revision": "tenant-rev"}})})
	d := main.decision with input as call("search", "query", {}) with data.warden.tenants as t with data.warden.meta as null
	d.metadata.policy_version == "9.9"
	d.metadata.bundle_revision == "tenant-rev"
}

# No input at all is covered by the server's Data API test (the differential harness always
# evaluates this file with an input).
test_no_input_object_is_denied if {
	arr := main.decision with input as ["t", {"id": "a"}, {}, {"tool": "fs", "type": "read"}] with data.warden.tenants as tenants
	arr.outcome == "deny"
	arr.reasons == ["invalid_input"]
	not main.allow with input as "t" with data.warden.tenants as tenants
}

# A denied prefix covers its directory; relative paths do not slip past absolute prefixes.
test_deny_prefix_covers_the_directory_and_refuses_relative_paths if {
	c := {"op": "deny_path_prefixes", "value": ["/srv/secrets/"]}
	main.check(c, "/srv/data/a")
	not main.check(c, "/srv/secrets")
	not main.check(c, "/srv/secrets/k")
	not main.check(c, "srv/secrets/k")
	rel := {"op": "deny_path_prefixes", "value": ["tmp/"]}
	main.check(rel, "data/x")
}

# `days: [fri], hours: 22:00-06:00` is Friday night: Friday 23:00 and Saturday 02:00, not
# Friday 02:00 (that is Thursday night).
test_overnight_window_belongs_to_the_day_it_opens if {
	w := {"days": {"Friday": true}, "start": 1320, "end": 360, "tz": "UTC"}
	main.in_window(w, "2026-11-27T23:00:00Z")
	main.in_window(w, "2026-11-28T02:00:00Z")
	not main.in_window(w, "2026-11-27T02:00:00Z")
	not main.in_window(w, "2026-11-26T23:00:00Z")
	not main.in_window(w, "2026-11-27T12:00:00Z")
}

test_times_are_read_as_opa_reads_them if {
	not main.rfc3339("2026-11-23T08:59:60Z")
	not main.rfc3339("2026-11-23t08:59:00Z")
	not main.rfc3339("2026-11-23T08:59:00z")
	main.rfc3339("2026-11-23T08:59:00.5+05:30")
}

# A URL's host may hold only what a bare host may.
test_url_hosts_are_letters_digits_dots_and_dashes if {
	main.host_allowed({"ok.com": true}, "https://api.ok.com:8443/x")
	not main.host_allowed({"ok.com": true}, "https://evil.com\u0000.ok.com/x")
	not main.host_allowed({"ok.com": true}, "https://evil.com\uff0f.ok.com/x")
	not main.host_allowed({"ok.com": true}, "https://evil.com%2f.ok.com/x")
}

# Object keys are scanned like values; `\d` and `\b` are ASCII in both engines; lengths count
# code points.
test_keys_are_scanned_and_text_is_read_as_opa_reads_it if {
	main.text_matches(`\d{3}-\d{2}`, {"a": {"ssn 123-45-6789": true}})
	main.text_matches(`\b\d{3}-\d{2}-\d{4}\b`, "SSN é123-45-6789")
	not main.text_matches(`^\d+$`, "١٢٣")
	main.check({"op": "max_length", "value": 3}, "𝔘𝔫𝔦")
	not main.check({"op": "min_length", "value": 2}, "😀")
}

# An override's condition needs the value there, and of the type a negative condition
# compares with: a missing or mistyped value waives nothing.
test_override_conditions_need_evidence if {
	c := {"wild": false, "path": ["action", "args", "country"], "op": "not_in", "value": {"strings": {"KP": true}, "others": []}, "absent_ok": true}
	main.when_holds(c) with input as {"action": {"args": {"country": "FR"}}}
	not main.when_holds(c) with input as {"action": {"args": {"country": "KP"}}}
	not main.when_holds(c) with input as {"action": {"args": {}}}
	not main.when_holds(c) with input as {"action": {"args": {"country": ["KP"]}}}
	main.holds(c) with input as {"action": {"args": {}}}
	w := {"wild": true, "prefix": ["action", "args", "to"], "suffix": [], "op": "not_in", "value": {"strings": {"x": true}, "others": []}, "absent_ok": true}
	not main.when_holds(w) with input as {"action": {"args": {"to": []}}}
	main.when_holds(w) with input as {"action": {"args": {"to": ["y"]}}}
}

# A call without `action.type` takes no "*" plan, in OPA and in regorus alike (S1).
test_missing_action_type_takes_no_wildcard_plan if {
	d := main.decision with input as {"tenant": "t", "agent": {"id": "a"}, "action": {"tool": "search"}, "environment": {"time": "2026-11-23T10:00:00Z"}} with data.warden.tenants as tenants
	d.reasons == ["tool_not_allowed"]
}

# In a rule's `when`, a path that cannot be checked against `deny_path_prefixes` (relative, or
# not normalized) makes the rule apply: "outside /srv/public/ a ticket is required" still asks
# for one.
test_when_with_deny_prefix_applies_to_paths_it_cannot_check if {
	c := {"wild": false, "path": ["action", "args", "path"], "op": "deny_path_prefixes", "value": ["/srv/public/"], "absent_ok": true}
	main.when_applies(c) with input as {"action": {"args": {"path": "private/x"}}}
	main.when_applies(c) with input as {"action": {"args": {"path": "/srv/public/../etc/x"}}}
	main.when_applies(c) with input as {"action": {"args": {"path": "/srv/private/x"}}}
	not main.when_applies(c) with input as {"action": {"args": {"path": "/srv/public/a"}}}
	n := {"wild": false, "path": ["action", "args", "body"], "op": "not_matches", "value": "secret", "absent_ok": true}
	main.when_holds(n) with input as {"action": {"args": {"body": {"a": ["clean"]}}}}
	not main.when_holds(n) with input as {"action": {"args": {"body": {"a": ["secret"]}}}}
}
