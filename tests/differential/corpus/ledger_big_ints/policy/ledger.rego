package agents.ledger

entries := [e | some e in input.entries; is_number(e.amount)]

amounts := [e.amount | some e in entries]

balance := input.account.balance

total := sum(amounts)

new_balance := balance + total

fee := total * 0.0025

checks := {
	"total": total,
	"new_balance": new_balance,
	"fee": fee,
	"fee_rounded": round(fee),
	"fee_ceil": ceil(fee),
	"fee_floor": floor(fee),
	"abs_total": abs(total),
	"max": max(amounts),
	"min": min(amounts),
	"sorted": sort(amounts),
	"count": count(amounts),
	"gt_2_53": total > 9007199254740992,
	"gt_2_64": total > 18446744073709551616,
	"eq_float": total == 0.3,
	"eq_int_float": total == 3.0,
	"half": new_balance / 2,
	"third": new_balance / 3,
	"times_big": total * 1000000007,
	"minus": balance - total,
	"neg_mod": (0 - 7) % 3,
}

integral_checks := {
	"mod_100": new_balance % 100,
	"mod_neg": new_balance % -7,
	"hex": format_int(new_balance, 16),
	"as_string_number": to_number(format_int(new_balance, 10)),
	"range_tail": numbers.range(new_balance, new_balance + 2),
} if new_balance == floor(new_balance)

parsed := to_number(input.account.limit)

reasons contains sprintf("balance would go negative: %v", [new_balance]) if new_balance < 0

reasons contains sprintf("above account limit %v", [parsed]) if new_balance > parsed

reasons contains "no numeric entries" if count(amounts) == 0

reasons contains "entry of exactly zero" if {
	some a in amounts
	a == 0
}

default allow := false

allow if count(reasons) == 0

default cs := null

cs := checks

default ic := null

ic := integral_checks

decision := {"allow": allow, "reasons": reasons, "checks": cs, "integral": ic}
