package agents.budget

cfg := data.budget

steps := [s | some s in input.steps; is_object(s)]

tokens := [t | some s in steps; t := to_number(s.tokens)]

total_tokens := sum(tokens)

price := cfg.price_per_1k[input.model]

cost := (total_tokens / 1000) * price

remaining := cfg.max_tokens - total_tokens

stats := {
	"total": total_tokens,
	"max": max(tokens),
	"min": min(tokens),
	"count": count(tokens),
	"sorted_top3": array.slice(sort(tokens), count(tokens) - 3, count(tokens)),
	"abs_remaining": abs(remaining),
	"neg": 0 - total_tokens,
	"product": total_tokens * total_tokens,
	"half": total_tokens / 2,
}

averages := {
	"mean": total_tokens / count(tokens),
	"mean_rounded": round(total_tokens / count(tokens)),
	"mean_ceil": ceil(total_tokens / count(tokens)),
	"mean_floor": floor(total_tokens / count(tokens)),
} if count(tokens) > 0

integral := {
	"remainder_per_bucket": total_tokens % cfg.bucket_size,
	"buckets": numbers.range(0, max([min([floor(total_tokens / cfg.bucket_size), 5]), -3])),
	"hex_total": format_int(total_tokens, 16),
	"oct_total": format_int(total_tokens, 8),
	"bin_steps": format_int(count(tokens), 2),
} if total_tokens == floor(total_tokens)

costs := {"cost_usd": cost, "cost_cents": round(cost * 100), "cost_ceil_cents": ceil(cost * 100)}

reasons contains sprintf("token budget exceeded by %d", [abs(remaining)]) if remaining < 0

reasons contains sprintf("cost %v exceeds %v", [cost, cfg.max_cost_usd]) if cost > cfg.max_cost_usd

reasons contains "unknown model" if not price

reasons contains "negative token counts" if min(tokens) < 0

reasons contains "fractional token counts" if {
	some t in tokens
	t != floor(t)
}

default allow := false

allow if count(reasons) == 0

# Partial object: a section is present only when all its values are defined.
sections["stats"] := stats

sections["averages"] := averages

sections["integral"] := integral

sections["costs"] := costs

summary := object.union_n([v | some v in sections])

decision := {"allow": allow, "reasons": reasons, "stats": summary}
