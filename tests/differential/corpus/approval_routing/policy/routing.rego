package agents.routing

cfg := data.routing

req := input.request

# else chain whose first body binds a value that may be undefined (S7)
approver := a if {
	a := cfg.approvers[req.team]
} else := cfg.default_approver

# else chain after a loop over a collection that may be empty or match nothing
escalation := "escalated" if {
	some f in req.flags
	f in cfg.escalate_flags
} else := "none"

# functions with else: the first body's value may be undefined
tier(amount) := t.name if {
	t := [c | some c in cfg.tiers; amount >= c.min][0]
} else := "bronze" if {
	is_number(amount)
} else := "invalid"

label(x) := y if {
	y := x.label
} else := "unlabelled"

# `every` over a collection read through a rule (may be empty), then another statement (S8)
sigs := object.get(req, "signatures", [])

independently_signed if {
	every s in sigs {
		s.by != req.requester
	}
	is_string(req.requester)
}

# one body: two comprehensions with `not`, the first list often empty (S9)
needs := object.get(cfg.required, req.kind, {"ids": [], "text": []})

has(f) if req.fields[f]

missing := {f | some f in needs.ids; not has(f)} | {f | some f in needs.text; not has(f)}

# elements, members and entries that may be undefined (S6, S3)
amounts := [x.amount | some x in req.items]

numeric_amounts := [a | some a in amounts; is_number(a)]

item_labels := {label(x) | some x in req.items}

by_item := {sprintf("%d:%s", [i, x.sku]): x.amount | some i, x in req.items}

skus contains x.sku if some x in req.items

# assignment of a value that may be undefined (S7)
owner_ok if {
	o := req.owner
	o != ""
}

total := sum(numeric_amounts)

reasons contains sprintf("missing fields: %v", [sort(missing)]) if count(missing) > 0

reasons contains "signatures are not independent" if not independently_signed

reasons contains "no owner" if not owner_ok

reasons contains sprintf("escalated by %s to %s", [escalation, approver]) if escalation != "none"

decision := {
	"allow": count(reasons) == 0,
	"approver": approver,
	"escalation": escalation,
	"tier": tier(total),
	"tier_first": tier(object.get(req, "first_amount", null)),
	"missing": sort(missing),
	"amounts": amounts,
	"labels": sort(item_labels),
	"by_item": by_item,
	"skus": sort(skus),
	"reasons": sort(reasons),
}
