package agents.payments

tz := "Europe/Berlin"

cfg := data.payments

transfer := object.get(input, "transfer", {})

tier := object.get(input, ["agent", "tier"], "basic")

limits := cfg.tiers[tier]

ns := time.parse_rfc3339_ns(input.request.time)

local_day := time.weekday([ns, tz])

local_hour := time.clock([ns, tz])[0]

weekend if local_day in {"Saturday", "Sunday"}

after_hours if local_hour < 7

after_hours if local_hour >= 20

amount_valid if {
	is_number(transfer.amount)
	transfer.amount > 0
}

# Amount already spent today plus this transfer.
projected := object.get(input, ["usage", "today"], 0) + transfer.amount

reasons contains "unknown agent tier" if not limits

reasons contains "amount must be a positive number" if not amount_valid

reasons contains sprintf("amount %.2f exceeds the per-transfer limit %v", [transfer.amount, limits.per_transfer]) if {
	amount_valid
	transfer.amount > limits.per_transfer
}

reasons contains sprintf("daily total %v would exceed %v", [projected, limits.daily]) if {
	amount_valid
	projected > limits.daily
}

reasons contains sprintf("currency %v is not supported", [transfer.currency]) if {
	not transfer.currency in cfg.currencies
}

reasons contains sprintf("destination country %s is blocked", [upper(transfer.country)]) if {
	is_string(transfer.country)
	upper(transfer.country) in cfg.blocked_countries
}

reasons contains "no transfers on weekends (Europe/Berlin)" if {
	weekend
	not tier in cfg.weekend_exempt_tiers
}

reasons contains sprintf("outside business hours: %02d:00 in %s", [local_hour, tz]) if after_hours

default allow := false

allow if count(reasons) == 0

risk := "high" if {
	amount_valid
	transfer.amount >= 10000
} else := "medium" if {
	weekend
} else := "low"

decision := {
	"allow": allow,
	"reasons": reasons,
	"risk": risk,
	"local_day": local_day,
	"local_hour": local_hour,
}
