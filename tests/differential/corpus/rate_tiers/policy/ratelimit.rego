package agents.ratelimit

cfg := data.ratelimit

default tier := "free"

tier := "enterprise" if {
	input.org.plan == "enterprise"
} else := "team" if {
	input.org.plan in {"team", "business"}
} else := "free" if {
	input.org.seats > 0
}

limits := cfg.tiers[tier]

weight := cfg.tool_weights[input.tool]

default weight_or_one := 1

weight_or_one := weight

used := to_number(input.headers["x-requests-last-minute"])

cost := used * weight_or_one

max_rpm := limits.rpm * limits.burst

# Per-tool budget (partial object).
budget[tool] := round(max_rpm / w) if some tool, w in cfg.tool_weights

utilisation := round((cost / max_rpm) * 10000) / 100

window_slot := used % 60 if used == floor(used)

default throttle := "none"

throttle := "block" if {
	cost > max_rpm
} else := "slow" if {
	cost > limits.rpm
} else := "warn" if {
	cost >= limits.rpm * 0.8
}

reasons contains sprintf("rate %v exceeds %v for tier %s", [cost, max_rpm, tier]) if throttle == "block"

reasons contains "missing request counter" if not used

reasons contains sprintf("unknown tool %v", [input.tool]) if not weight

default allow := false

allow if {
	count(reasons) == 0
	throttle != "block"
}

default util := null

util := utilisation

default slot := null

slot := window_slot

decision := {
	"allow": allow,
	"tier": tier,
	"throttle": throttle,
	"reasons": reasons,
	"budget": budget,
	"utilisation_pct": util,
	"slot": slot,
}
