package agents.email

cfg := data.email

all_recipients := array.concat(array.concat(object.get(input.email, "to", []), object.get(input.email, "cc", [])), object.get(input.email, "bcc", []))

# "Display Name <user@host>" or bare "user@host".
address(r) := lower(trim_space(m[1])) if {
	m := regex.find_all_string_submatch_n(`<([^>]+)>\s*$`, r, 1)[0]
} else := lower(trim_space(r))

addresses := [address(r) | some r in all_recipients; is_string(r)]

domain(a) := split(a, "@")[1]

local(a) := split(a, "@")[0]

is_internal(a) if domain(a) in cfg.internal_domains

is_internal(a) if {
	some d in cfg.internal_domains
	endswith(domain(a), concat("", [".", d]))
}

partner(a) if domain(a) in cfg.partner_domains

external := sort([a | some a in addresses; not is_internal(a)])

malformed := [a | some a in addresses; not regex.match(`^[^@\s]+@[^@\s]+\.[^@\s]+$`, a)]

subject := regex.replace(trim_space(object.get(input.email, "subject", "")), `[\r\n]+`, " ")

reasons contains sprintf("malformed address %s", [a]) if some a in malformed

reasons contains sprintf("recipient %s is not internal or a partner", [a]) if {
	some a in external
	not partner(a)
}

reasons contains sprintf("%d external recipients exceed %d", [count(external), cfg.max_external]) if count(external) > cfg.max_external

reasons contains sprintf("distribution list %s", [a]) if {
	some a in addresses
	local(a) in cfg.blocked_locals
}

reasons contains "non-string recipient" if {
	some r in all_recipients
	not is_string(r)
}

reasons contains "subject is required" if subject == ""

reasons contains "subject looks like a forwarded chain" if regex.match(`^(?i)((re|fwd?):\s*){3,}`, subject)

default allow := false

allow if count(reasons) == 0

decision := {
	"allow": allow,
	"reasons": reasons,
	"addresses": addresses,
	"external": external,
	"domains": sort({d | some a in addresses; d := domain(a)}),
	"subject": subject,
	"summary": sprintf("%d recipient(s), %d external: %s", [count(addresses), count(external), concat(", ", external)]),
}
