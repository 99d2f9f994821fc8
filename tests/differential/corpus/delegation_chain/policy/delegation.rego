package agents.delegation

cfg := data.delegation

# Hops found anywhere in the nested request: every object with an "agent" key under an "on_behalf_of" path.
hops := [{"depth": count(path), "agent": node.agent, "scope": object.get(node, "scope", "read")} |
	walk(input.request, [path, node])
	is_object(node)
	node.agent
]

agents := [h.agent | some h in hops]

ordered := sort([[h.depth, h.agent] | some h in hops])

chain := [a | some [_, a] in ordered]

reachable := graph.reachable(cfg.may_delegate_to, [chain[0]])

untrusted contains a if {
	some a in agents
	not a in cfg.trusted
}

cycle if count({a | some a in agents}) != count(agents)

illegal_step contains [chain[i], chain[i + 1]] if {
	some i in numbers.range(0, count(chain) - 2)
	not chain[i + 1] in cfg.may_delegate_to[chain[i]]
}

scope_ok(h) if "*" in cfg.scopes[h.agent]

scope_ok(h) if h.scope in cfg.scopes[h.agent]

all_scopes_ok if {
	every h in hops {
		scope_ok(h)
	}
}

reasons contains "no agents in the delegation chain" if count(hops) == 0

reasons contains sprintf("chain has %d hops, more than %d", [count(hops), cfg.max_hops]) if count(hops) > cfg.max_hops

reasons contains sprintf("untrusted agent %v", [a]) if some a in untrusted

reasons contains "delegation cycle" if cycle

reasons contains sprintf("%v may not delegate to %v", [a, b]) if some [a, b] in illegal_step

reasons contains "a hop passes on a scope it does not hold" if not all_scopes_ok

default reachable_from_root := []

reachable_from_root := reachable

default allow := false

allow if count(reasons) == 0

decision := {
	"allow": allow,
	"reasons": reasons,
	"chain": chain,
	"depths": [h.depth | some h in hops],
	"reachable_from_root": reachable_from_root,
}
